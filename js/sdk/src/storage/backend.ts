/**
 * The key-value contract the encrypted local store runs on, and what every backend shares.
 *
 * The store (`store.ts`) keeps its tables as rows of opaque bytes under byte keys;
 * a backend only has to keep them, in key order, and apply a batch of changes
 * atomically: after a crash, either every change of a `write` is there or none is.
 * That is all `client_sdk/_store.py` asks of SQLite (one transaction per method),
 * so the same guarantees hold on IndexedDB in a browser (`indexeddb.ts`), in memory
 * (`memory.ts`) and in a file under Node (`node/fileBackend.ts`).
 *
 * A backend never sees a plaintext: the store hands it keyed hashes, counters and
 * ciphertext only. Keys are compared byte-wise, unsigned, as IndexedDB compares
 * binary keys, and must not be empty (IndexedDB treats an empty buffer as a
 * detached one). A backend's own failures are `StoreError` with `store.io`; no
 * foreign exception (a DOMException, a Node `SystemError`) leaves it.
 */

import { compareBytes } from "../bytes.js";
import { StoreError } from "../sdkErrors.js";

// The one StoreError class of the SDK (`sdkErrors.ts`), re-exported so that
// `instanceof` holds whichever module an app imports it from.
export { StoreError };

/** One row: its key and its value. */
export type Row = readonly [key: Uint8Array, value: Uint8Array];

/** One change of an atomic batch; a batch applies its changes in order. */
export type Change =
  | { readonly op: "put"; readonly table: string; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: "delete"; readonly table: string; readonly key: Uint8Array };

/**
 * Which rows of one table a scan returns, in key order (or reversed).
 *
 * A row is returned if its key starts with `prefix`, is `>= gte` and `< lt` (each
 * bound optional) and `where` (a synchronous test, applied before `limit` counts)
 * accepts it.
 */
export interface ScanOptions {
  readonly prefix?: Uint8Array;
  readonly gte?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
  readonly where?: (key: Uint8Array, value: Uint8Array) => boolean;
}

/** A place to keep the store's tables. Every method may throw `StoreError` (`store.io`). */
export interface StorageBackend {
  /** The value under `key` in `table`, if any. */
  get(table: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  /** The values under `keys`, in their order, read at one point in time. */
  getMany(table: string, keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /** The rows a scan selects (see `ScanOptions`). */
  scan(table: string, options?: ScanOptions): Promise<Row[]>;
  /** Apply every change, in order, atomically and durably, or none (and throw). */
  write(changes: readonly Change[]): Promise<void>;
  /** The names of the tables that hold at least one row. */
  tables(): Promise<string[]>;
  /** Release the backend; it is unusable afterwards. */
  close(): Promise<void>;
}

/** The smallest key greater than every key starting with `prefix`, or null if there is none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return null;
}

/** A scan's bounds as one half-open range: lower (inclusive, or null) and upper (exclusive, or null). */
export function scanRange(options: ScanOptions): { lower: Uint8Array | null; upper: Uint8Array | null } {
  let lower: Uint8Array | null = options.gte ?? null;
  let upper: Uint8Array | null = options.lt ?? null;
  if (options.prefix !== undefined && options.prefix.length > 0) {
    if (lower === null || compareBytes(options.prefix, lower) > 0) lower = options.prefix;
    const end = prefixEnd(options.prefix);
    if (end !== null && (upper === null || compareBytes(end, upper) < 0)) upper = end;
  }
  return { lower, upper };
}

/** Refuse a key no backend can hold the same way (see the module's comment). */
export function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length === 0) throw new StoreError("a store key is non-empty bytes", "store.io");
}

/**
 * A plain `Uint8Array` copy that owns exactly its bytes: a view would drag its whole
 * buffer along, and `slice` of a Node `Buffer` is a `Buffer`.
 */
export function ownBytes(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  out.set(data);
  return out;
}
