/**
 * A backend in memory: for tests, for a session that must leave no trace on the
 * device, and as the index the Node file backend keeps of its log.
 *
 * Each table is an array of rows sorted by key, searched by bisection. Values are
 * copied in and out, so a caller mutating a buffer never changes what is stored.
 * A batch is checked whole before any change is applied, so it is atomic here too.
 */

import { compareBytes } from "../bytes.js";
import {
  type Change,
  checkKey,
  ownBytes,
  type Row,
  type ScanOptions,
  scanRange,
  type StorageBackend,
  StoreError,
} from "./backend.js";

interface Entry {
  key: Uint8Array;
  value: Uint8Array;
}

/** The index of the first entry whose key is `>= key`. */
function lowerBound(rows: readonly Entry[], key: Uint8Array): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(rows[mid]!.key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryBackend implements StorageBackend {
  readonly #tables = new Map<string, Entry[]>();
  #closed = false;

  #check(): void {
    if (this.#closed) throw new StoreError("the store is closed", "store.io");
  }

  #find(table: string, key: Uint8Array): Entry | undefined {
    const rows = this.#tables.get(table);
    if (rows === undefined) return undefined;
    const i = lowerBound(rows, key);
    const e = rows[i];
    return e !== undefined && compareBytes(e.key, key) === 0 ? e : undefined;
  }

  async get(table: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.getSync(table, key);
  }

  async getMany(table: string, keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#check();
    return keys.map((k) => this.getSync(table, k));
  }

  async scan(table: string, options: ScanOptions = {}): Promise<Row[]> {
    return this.scanSync(table, options);
  }

  async write(changes: readonly Change[]): Promise<void> {
    this.applySync(changes);
  }

  async tables(): Promise<string[]> {
    this.#check();
    return [...this.#tables.entries()].filter(([, rows]) => rows.length > 0).map(([name]) => name);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** @internal `get` without the promise, for backends built on this one. */
  getSync(table: string, key: Uint8Array): Uint8Array | undefined {
    this.#check();
    checkKey(key);
    const e = this.#find(table, key);
    return e === undefined ? undefined : ownBytes(e.value);
  }

  /** @internal `scan` without the promise. */
  scanSync(table: string, options: ScanOptions = {}): Row[] {
    this.#check();
    const rows = this.#tables.get(table) ?? [];
    const { lower, upper } = scanRange(options);
    const start = lower === null ? 0 : lowerBound(rows, lower);
    const end = upper === null ? rows.length : lowerBound(rows, upper);
    const limit = options.limit ?? Infinity;
    const out: Row[] = [];
    const step = options.reverse === true ? -1 : 1;
    for (let i = step > 0 ? start : end - 1; step > 0 ? i < end : i >= start; i += step) {
      if (out.length >= limit) break;
      const e = rows[i]!;
      if (options.where !== undefined && !options.where(e.key, e.value)) continue;
      out.push([ownBytes(e.key), ownBytes(e.value)]);
    }
    return out;
  }

  /** @internal `write` without the promise: validates the whole batch, then applies it. */
  applySync(changes: readonly Change[]): void {
    this.#check();
    for (const c of changes) {
      checkKey(c.key);
      if (c.op === "put" && !(c.value instanceof Uint8Array)) throw new StoreError("a stored value is bytes", "store.io");
    }
    for (const c of changes) {
      let rows = this.#tables.get(c.table);
      if (rows === undefined) {
        if (c.op === "delete") continue;
        rows = [];
        this.#tables.set(c.table, rows);
      }
      const i = lowerBound(rows, c.key);
      const hit = i < rows.length && compareBytes(rows[i]!.key, c.key) === 0;
      if (c.op === "put") {
        const entry = { key: ownBytes(c.key), value: ownBytes(c.value) };
        if (hit) rows[i] = entry;
        else rows.splice(i, 0, entry);
      } else if (hit) {
        rows.splice(i, 1);
      }
    }
  }

  /** @internal Every row of every table, in order (the file backend's compaction). */
  *entries(): Generator<[string, Uint8Array, Uint8Array]> {
    for (const [table, rows] of this.#tables) for (const e of rows) yield [table, e.key, e.value];
  }
}
