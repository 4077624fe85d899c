import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { hex } from "../src/bytes.js";
import { type Change, prefixEnd, type StorageBackend, StoreError } from "../src/storage/backend.js";
import { HARNESSES, type Harness } from "./backends.js";

const b = (...xs: number[]) => Uint8Array.from(xs);
const put = (table: string, key: Uint8Array, value: Uint8Array): Change => ({ op: "put", table, key, value });
const del = (table: string, key: Uint8Array): Change => ({ op: "delete", table, key });
const keys = (rows: readonly (readonly [Uint8Array, Uint8Array])[]) => rows.map(([k]) => hex(k));

describe("prefixEnd", () => {
  it("is the first key past every key with the prefix", () => {
    expect(prefixEnd(b(1, 2))).toEqual(b(1, 3));
    expect(prefixEnd(b(1, 0xff))).toEqual(b(2));
    expect(prefixEnd(b(0xff, 0xff))).toBeNull();
  });
});

describe.each(HARNESSES)("the %s backend", (_name, make) => {
  let harness: Harness;
  let backend: StorageBackend;

  beforeEach(async () => {
    harness = await make();
    backend = await harness.open();
  });
  afterEach(async () => {
    await backend.close();
    await harness.cleanup();
  });

  it("keeps rows per table, byte-ordered, and reads them back", async () => {
    await backend.write([
      put("t", b(2), b(20)),
      put("t", b(1, 0xff), b(19)),
      put("t", b(0xff), b(255)),
      put("t", b(1), b(10)),
      put("u", b(1), b(99)),
    ]);
    expect(await backend.get("t", b(1))).toEqual(b(10));
    expect(await backend.get("t", b(3))).toBeUndefined();
    expect(await backend.get("v", b(1))).toBeUndefined();
    expect(await backend.getMany("t", [b(2), b(3), b(1)])).toEqual([b(20), undefined, b(10)]);
    expect(keys(await backend.scan("t"))).toEqual(["01", "01ff", "02", "ff"]);
    expect(keys(await backend.scan("t", { reverse: true }))).toEqual(["ff", "02", "01ff", "01"]);
    expect(keys(await backend.scan("u"))).toEqual(["01"]);
    expect((await backend.tables()).sort()).toEqual(["t", "u"]);
  });

  it("scans by prefix, bounds, limit and a filter", async () => {
    const rows: Change[] = [];
    for (let i = 0; i < 6; i++) for (let j = 0; j < 3; j++) rows.push(put("t", b(i, j), b(i * 10 + j)));
    rows.push(put("t", b(0xff, 0xff), b(1)), put("t", b(0xff, 0xff, 0), b(2)));
    await backend.write(rows);
    expect(keys(await backend.scan("t", { prefix: b(2) }))).toEqual(["0200", "0201", "0202"]);
    expect(keys(await backend.scan("t", { prefix: b(2), reverse: true, limit: 2 }))).toEqual(["0202", "0201"]);
    expect(keys(await backend.scan("t", { gte: b(1, 2), lt: b(2, 1) }))).toEqual(["0102", "0200"]);
    expect(keys(await backend.scan("t", { prefix: b(3), lt: b(3, 2), reverse: true }))).toEqual(["0301", "0300"]);
    expect(keys(await backend.scan("t", { prefix: b(0xff, 0xff) }))).toEqual(["ffff", "ffff00"]);
    const odd = (_k: Uint8Array, v: Uint8Array) => v[0]! % 2 === 1;
    expect(keys(await backend.scan("t", { prefix: b(4), where: odd }))).toEqual(["0401"]);
    expect(keys(await backend.scan("t", { reverse: true, limit: 3, where: (k) => k.length === 2 && k[0]! < 5 }))).toEqual([
      "0402",
      "0401",
      "0400",
    ]);
    expect(await backend.scan("t", { prefix: b(9) })).toEqual([]);
    expect(await backend.scan("t", { limit: 0 })).toEqual([]);
  });

  it("applies a batch in order: a put then a delete of one key leaves nothing", async () => {
    await backend.write([put("t", b(1), b(1)), put("t", b(1), b(2)), put("t", b(2), b(2)), del("t", b(2)), del("t", b(9))]);
    expect(await backend.scan("t")).toEqual([[b(1), b(2)]]);
    await backend.write([del("t", b(1)), put("t", b(1), b(3))]);
    expect(await backend.get("t", b(1))).toEqual(b(3));
  });

  it("refuses a batch with an empty key whole, with store.io", async () => {
    await backend.write([put("t", b(1), b(1))]);
    const bad = backend.write([put("t", b(2), b(2)), put("t", new Uint8Array(0), b(0))]);
    await expect(bad).rejects.toBeInstanceOf(StoreError);
    await expect(bad).rejects.toMatchObject({ code: "store.io" });
    expect(keys(await backend.scan("t"))).toEqual(["01"]);
  });

  it("copies values in and out, and stores a view's bytes only", async () => {
    const buffer = Uint8Array.from([7, 7, 1, 2, 3, 7, 7]);
    const view = buffer.subarray(2, 5);
    await backend.write([put("t", b(1), view)]);
    buffer.fill(0);
    const got = (await backend.get("t", b(1)))!;
    expect(got).toEqual(b(1, 2, 3));
    expect(got.buffer.byteLength).toBe(3);
    got[0] = 42;
    expect(await backend.get("t", b(1))).toEqual(b(1, 2, 3));
  });

  it("keeps what was written across a close and reopen", async () => {
    await backend.write([put("t", b(1), b(1)), put("t", b(2), b(2))]);
    await backend.write([del("t", b(1))]);
    await backend.close();
    backend = await harness.open();
    expect(await backend.scan("t")).toEqual([[b(2), b(2)]]);
  });

  it("is unusable once closed (store.io)", async () => {
    if (_name === "memory") return; // the test harness keeps memory open to stand in for a reopen
    await backend.close();
    await expect(backend.get("t", b(1))).rejects.toMatchObject({ code: "store.io" });
    backend = await harness.open();
  });
});
