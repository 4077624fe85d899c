/**
 * The file backend under crashes: a log cut anywhere in its last batch opens as the
 * state before that batch, never less; damage before the last batch is refused;
 * compaction leaves the old log or the new one; one process at a time.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { hex } from "../src/bytes.js";
import { FileBackend } from "../src/node/fileBackend.js";
import type { Change, StorageBackend } from "../src/storage/backend.js";

const b = (...xs: number[]) => Uint8Array.from(xs);
const put = (table: string, key: Uint8Array, value: Uint8Array): Change => ({ op: "put", table, key, value });
const del = (table: string, key: Uint8Array): Change => ({ op: "delete", table, key });

async function dump(backend: StorageBackend): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of (await backend.tables()).sort()) {
    for (const [k, v] of await backend.scan(table)) out[`${table}/${hex(k)}`] = hex(v);
  }
  return out;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hearth-file-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function twoBatches(path: string): Promise<{ before: Uint8Array; after: Uint8Array; a: Record<string, string>; b: Record<string, string> }> {
  const backend = await FileBackend.open(path);
  await backend.write([put("t", b(1), b(1, 1, 1)), put("t", b(2), b(2, 2)), put("u", b(9), b(9))]);
  const a = await dump(backend);
  const before = await readFile(path);
  await backend.write([put("t", b(1), b(7, 7, 7, 7)), del("t", b(2)), put("t", b(3), new Uint8Array(40).fill(3)), del("u", b(9))]);
  const bState = await dump(backend);
  await backend.close();
  return { before, after: await readFile(path), a, b: bState };
}

describe("the file backend", () => {
  it("opens a log torn anywhere in its last batch as the state before that batch", async () => {
    const path = join(dir, "s.hkv");
    const { before, after, a, b: full } = await twoBatches(path);
    expect(after.length).toBeGreaterThan(before.length);
    const cut = join(dir, "cut.hkv");
    for (let n = before.length; n < after.length; n++) {
      await writeFile(cut, after.subarray(0, n));
      const backend = await FileBackend.open(cut);
      expect(await dump(backend), `cut at ${n}`).toEqual(a);
      // The torn tail is gone, so the next batch is not stranded behind it.
      expect((await stat(cut)).size).toBe(before.length);
      await backend.write([put("t", b(5), b(5))]);
      await backend.close();
      const again = await FileBackend.open(cut);
      expect(await dump(again)).toEqual({ ...a, "t/05": "05" });
      await again.close();
    }
    await writeFile(cut, after);
    const whole = await FileBackend.open(cut);
    expect(await dump(whole)).toEqual(full);
    await whole.close();
  });

  it("treats a last batch whose bytes are wrong (a torn write filled with zeros) as torn", async () => {
    const path = join(dir, "s.hkv");
    const { before, after, a } = await twoBatches(path);
    const zeroed = Uint8Array.from(after);
    zeroed.fill(0, before.length + 20);
    await writeFile(path, zeroed);
    const backend = await FileBackend.open(path);
    expect(await dump(backend)).toEqual(a);
    await backend.close();
  });

  it("refuses damage before the last batch (store.corrupt) rather than drop what follows", async () => {
    const path = join(dir, "s.hkv");
    const { after } = await twoBatches(path);
    const damaged = Uint8Array.from(after);
    damaged[30] = damaged[30]! ^ 0x40; // inside the first batch
    await writeFile(path, damaged);
    await expect(FileBackend.open(path)).rejects.toMatchObject({ code: "store.corrupt" });
    expect(await readFile(path)).toEqual(Buffer.from(damaged)); // nothing cut off
  });

  it("refuses a file that is not a store (store.corrupt) and a later layout (store.version)", async () => {
    const path = join(dir, "s.hkv");
    await writeFile(path, "SQLite format 3\x00 and more");
    await expect(FileBackend.open(path)).rejects.toMatchObject({ code: "store.corrupt" });
    const { after } = await twoBatches(join(dir, "t.hkv"));
    const later = Uint8Array.from(after);
    later[11] = 2;
    await writeFile(path, later);
    await expect(FileBackend.open(path)).rejects.toMatchObject({ code: "store.version" });
  });

  it("creates the file private to its owner", async () => {
    const path = join(dir, "s.hkv");
    const backend = await FileBackend.open(path);
    await backend.write([put("t", b(1), b(1))]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await backend.close();
  });

  it("compacts a log that is mostly overwritten rows, keeping every live row", async () => {
    const path = join(dir, "s.hkv");
    const backend = await FileBackend.open(path, { compactAt: 4096 });
    const secret = new Uint8Array(64).fill(0xab);
    await backend.write([put("t", b(0), secret)]);
    await backend.write([del("t", b(0))]);
    for (let i = 0; i < 200; i++) await backend.write([put("t", b(1), new Uint8Array(100).fill(i)), put("t", b(2, i), b(i))]);
    const state = await dump(backend);
    expect(backend.size).toBeLessThan(4096 * 2);
    const onDisk = await readFile(path);
    expect(Buffer.from(onDisk).includes(Buffer.from(secret))).toBe(false); // the deleted row is gone from the file
    await backend.compact();
    await backend.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await FileBackend.open(path);
    expect(await dump(again)).toEqual(state);
    await again.close();
  });

  it("opens the old log when a compaction was cut short", async () => {
    const path = join(dir, "s.hkv");
    const { b: full } = await twoBatches(path);
    await writeFile(join(dir, ".s.hkv.compact"), "half a compaction");
    const backend = await FileBackend.open(path);
    expect(await dump(backend)).toEqual(full);
    await backend.close();
  });

  it("lets one process at a time append to a log", async () => {
    const path = join(dir, "s.hkv");
    const first = await FileBackend.open(path);
    await expect(FileBackend.open(path)).rejects.toMatchObject({ code: "store.io" });
    await first.close();
    // A live process holds the lock: refused. A process that is gone: taken over.
    await writeFile(path + ".lock", String(process.ppid));
    await expect(FileBackend.open(path)).rejects.toMatchObject({ code: "store.io" });
    const gone = Number(execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }));
    await writeFile(path + ".lock", String(gone));
    const second = await FileBackend.open(path);
    await second.close();
  });
});
