/**
 * The three backends, made alike for tests that run one suite over each: memory,
 * IndexedDB (`fake-indexeddb`, a fresh factory per harness) and a file under Node.
 *
 * `reopen` gives a backend on the same data after the last one was closed;
 * `raw` is what a thief copying the device gets: every byte the backend keeps
 * (the file and its lock; every key and value of the IndexedDB database; every
 * row of the memory backend).
 */

import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IDBFactory, IDBKeyRange } from "fake-indexeddb";

import { concat, utf8 } from "../src/bytes.js";
import { FileBackend } from "../src/node/fileBackend.js";
import type { StorageBackend } from "../src/storage/backend.js";
import { IndexedDBBackend } from "../src/storage/indexeddb.js";
import { MemoryBackend } from "../src/storage/memory.js";

export interface Harness {
  open(): Promise<StorageBackend>;
  raw(): Promise<Uint8Array>;
  cleanup(): Promise<void>;
}

/** A memory backend that survives `close`, standing in for a reopened one. */
class KeptMemory extends MemoryBackend {
  override async close(): Promise<void> {}
}

async function memoryHarness(): Promise<Harness> {
  const memory = new KeptMemory();
  return {
    open: async () => memory,
    raw: async () => {
      const parts: Uint8Array[] = [];
      for (const table of await memory.tables()) {
        for (const [k, v] of await memory.scan(table)) parts.push(utf8(table), k, v);
      }
      return concat(...parts);
    },
    cleanup: async () => {},
  };
}

async function indexedDBHarness(): Promise<Harness> {
  const factory = new IDBFactory();
  const name = "hearth-test";
  return {
    open: () => IndexedDBBackend.open(name, { factory, keyRange: IDBKeyRange }),
    raw: async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = factory.open(name);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const parts: Uint8Array[] = [];
      await new Promise<void>((resolve, reject) => {
        for (const storeName of Array.from(db.objectStoreNames)) {
          const request = db.transaction(storeName).objectStore(storeName).openCursor();
          request.onerror = () => reject(request.error);
          request.onsuccess = () => {
            const c = request.result;
            if (c === null) return resolve();
            const [table, key] = c.key as [string, ArrayBuffer];
            parts.push(utf8(table), new Uint8Array(key), c.value as Uint8Array);
            c.continue();
          };
        }
      });
      db.close();
      return concat(...parts);
    },
    cleanup: async () => {},
  };
}

async function fileHarness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "hearth-store-"));
  const path = join(dir, "store.hkv");
  return {
    open: () => FileBackend.open(path),
    raw: async () => {
      const parts: Uint8Array[] = [];
      for (const f of await readdir(dir)) parts.push(await readFile(join(dir, f)));
      return concat(...parts);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export const HARNESSES: readonly [string, () => Promise<Harness>][] = [
  ["memory", memoryHarness],
  ["indexeddb", indexedDBHarness],
  ["file", fileHarness],
];
