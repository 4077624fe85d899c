/**
 * The browser keystore: the identity kept in IndexedDB (here `fake-indexeddb`, a
 * fresh factory per test) only as `Identity.save`'s sealed bytes, opened only with
 * the passphrase, and readable by the Python SDK as its own keystore file.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { IDBFactory, IDBKeyRange } from "fake-indexeddb";
import { beforeAll, describe, expect, it } from "vitest";

import { hex, utf8 } from "../src/bytes.js";
import { cryptoReady } from "../src/crypto.js";
import { Identity } from "../src/identity.js";
import { Keystore, KEYSTORE_DATABASE } from "../src/keystore.js";
import { IndexedDBBackend } from "../src/storage/indexeddb.js";
import { REPO } from "./vectors.js";

beforeAll(() => cryptoReady());

const PYTHON = join(REPO, ".venv", "bin", "python");

function fresh(): { factory: IDBFactory; keyRange: typeof IDBKeyRange } {
  return { factory: new IDBFactory(), keyRange: IDBKeyRange };
}

/** Every key and value byte the keystore's database holds, as a thief copying it reads them. */
async function raw(options: ReturnType<typeof fresh>): Promise<Uint8Array[]> {
  const backend = await IndexedDBBackend.open(KEYSTORE_DATABASE, options);
  try {
    const parts: Uint8Array[] = [];
    for (const table of await backend.tables()) for (const [k, v] of await backend.scan(table)) parts.push(utf8(table), k, v);
    return parts;
  } finally {
    await backend.close();
  }
}

describe("Keystore on IndexedDB", () => {
  it("opens only with the passphrase, across reopening", async () => {
    const options = fresh();
    const me = Identity.generate();
    const keystore = await Keystore.open(KEYSTORE_DATABASE, options);
    expect(await keystore.exists()).toBe(false);
    await expect(keystore.load("anything")).rejects.toMatchObject({ code: "keystore.io" });
    await keystore.save(me, "a long passphrase", "interactive");
    await keystore.close();

    const again = await Keystore.open(KEYSTORE_DATABASE, options);
    expect(await again.exists()).toBe(true);
    await expect(again.load("a wrong passphrase")).rejects.toMatchObject({ code: "keystore.wrong_passphrase" });
    expect((await again.load("a long passphrase")).equals(me)).toBe(true);
    await again.close();
  });

  it("keeps no root seed, phrase or passphrase in the clear", async () => {
    const options = fresh();
    const me = Identity.generate();
    const keystore = await Keystore.open(KEYSTORE_DATABASE, options);
    await keystore.save(me, "passphrase words here", "interactive");
    await keystore.close();
    const seed = hex(me.storeKey()); // a derived key must not be there either
    const everything = (await raw(options)).map((part) => hex(part)).join("|");
    const text = (await raw(options)).map((part) => new TextDecoder().decode(part)).join("|");
    expect(everything).not.toContain(seed);
    expect(text).not.toContain(me.recoveryPhrase);
    expect(text).not.toContain("passphrase words here");
    expect(text).toContain("hearth-keystore"); // the sealed record is the keystore file
  });

  it("replaces on save and forgets on forget", async () => {
    const options = fresh();
    const keystore = await Keystore.open(KEYSTORE_DATABASE, options);
    const first = Identity.generate();
    const second = Identity.generate();
    await keystore.save(first, "one", "interactive");
    await keystore.save(second, "two", "interactive");
    await expect(keystore.load("one")).rejects.toMatchObject({ code: "keystore.wrong_passphrase" });
    expect((await keystore.load("two")).equals(second)).toBe(true);
    await keystore.forget();
    expect(await keystore.exists()).toBe(false);
    await expect(keystore.save(first, "")).rejects.toMatchObject({ code: "keystore.passphrase" });
    await keystore.close();
  });

  it.skipIf(!existsSync(PYTHON))("holds the Python SDK's keystore file", async () => {
    const options = fresh();
    const me = Identity.generate();
    const keystore = await Keystore.open(KEYSTORE_DATABASE, options);
    await keystore.save(me, "shared passphrase", "interactive");
    const file = (await keystore.exportFile())!;
    await keystore.close();
    const dir = await mkdtemp(join(tmpdir(), "hearth-keystore-"));
    try {
      const path = join(dir, "key");
      await writeFile(path, file);
      const phrase = execFileSync(
        PYTHON,
        ["-c", "import sys\nfrom client_sdk import Identity\nprint(Identity.load(sys.argv[1], sys.argv[2]).recovery_phrase)", path, "shared passphrase"],
        { cwd: REPO, encoding: "utf8" },
      ).trim();
      expect(phrase).toBe(me.recoveryPhrase);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
