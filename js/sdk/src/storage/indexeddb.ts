/**
 * A backend on IndexedDB, for browsers: one database per store, one object store.
 *
 * Every row of every table lives in the object store `rows` under the compound
 * key `[table, key bytes]`: IndexedDB orders arrays element by element and binary
 * keys byte by byte, so one table's rows are one contiguous, ordered key range and
 * a new table needs no schema upgrade. A batch is one `readwrite` transaction with
 * `durability: "strict"` (what `synchronous=FULL` is to the Python store's SQLite):
 * it commits whole or aborts whole. Values are stored as `Uint8Array`s that own
 * their bytes: structured cloning a view would store its entire buffer.
 *
 * Only DOM APIs here: this module is what a browser bundle loads.
 */

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

const OBJECT_STORE = "rows";
const DB_VERSION = 1;

/** Where to find IndexedDB; the defaults are the globals (a browser's, or a polyfill's). */
export interface IndexedDBOptions {
  readonly factory?: IDBFactory;
  /** `IDBKeyRange` of the same implementation as `factory`. */
  readonly keyRange?: typeof IDBKeyRange;
}

function ioError(action: string, cause: unknown): StoreError {
  const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return new StoreError(`local store failed to ${action}: ${what}`, "store.io");
}

function requestDone<T>(request: IDBRequest<T>, action: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(ioError(action, request.error));
  });
}

function transactionDone(tx: IDBTransaction, action: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(ioError(action, tx.error));
    tx.onabort = () => reject(ioError(action, tx.error ?? "the transaction was aborted"));
  });
}

/** A row's key in the object store (binary keys: TypeScript's DOM types want an ArrayBuffer view). */
function idbKey(table: string, key: Uint8Array): IDBValidKey {
  return [table, key as Uint8Array<ArrayBuffer>];
}

function toBytes(key: unknown): Uint8Array {
  if (key instanceof ArrayBuffer) return new Uint8Array(key);
  if (ArrayBuffer.isView(key)) return new Uint8Array(key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength));
  throw new StoreError("a stored key is not binary", "store.corrupt");
}

function toValue(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new StoreError("a stored value is not bytes", "store.corrupt");
}

export class IndexedDBBackend implements StorageBackend {
  #db: IDBDatabase | null;
  readonly #range: typeof IDBKeyRange;

  private constructor(db: IDBDatabase, range: typeof IDBKeyRange) {
    this.#db = db;
    this.#range = range;
    // Another tab deleting or upgrading the database must not wait for us forever.
    db.onversionchange = () => {
      db.close();
      this.#db = null;
    };
  }

  /** Open (or create) the database `name`. */
  static async open(name: string, options: IndexedDBOptions = {}): Promise<IndexedDBBackend> {
    const factory = options.factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    const range = options.keyRange ?? (globalThis as { IDBKeyRange?: typeof IDBKeyRange }).IDBKeyRange;
    if (factory === undefined || range === undefined) throw new StoreError("IndexedDB is not available here", "store.io");
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, DB_VERSION);
    } catch (exc) {
      throw ioError("open", exc);
    }
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(OBJECT_STORE)) db.createObjectStore(OBJECT_STORE);
    };
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      let refused = false;
      request.onsuccess = () => {
        if (refused) request.result.close(); // opened after all, too late: let it go
        else resolve(request.result);
      };
      request.onerror = () => reject(ioError("open", request.error));
      request.onblocked = () => {
        refused = true;
        reject(new StoreError("local store is held open by an older version in another tab", "store.io"));
      };
    });
    return new IndexedDBBackend(db, range);
  }

  #open(): IDBDatabase {
    if (this.#db === null) throw new StoreError("the store is closed", "store.io");
    return this.#db;
  }

  #tx(mode: IDBTransactionMode, action: string): IDBObjectStore {
    try {
      const tx =
        mode === "readwrite"
          ? this.#open().transaction(OBJECT_STORE, mode, { durability: "strict" })
          : this.#open().transaction(OBJECT_STORE, mode);
      return tx.objectStore(OBJECT_STORE);
    } catch (exc) {
      if (exc instanceof StoreError) throw exc;
      throw ioError(action, exc);
    }
  }

  async get(table: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.getMany(table, [key]))[0];
  }

  async getMany(table: string, keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    keys.forEach(checkKey);
    if (keys.length === 0) return [];
    const store = this.#tx("readonly", "read");
    try {
      const results = await Promise.all(keys.map((k) => requestDone(store.get(idbKey(table, k)), "read")));
      return results.map((v) => (v === undefined ? undefined : toValue(v)));
    } catch (exc) {
      if (exc instanceof StoreError) throw exc;
      throw ioError("read", exc);
    }
  }

  async scan(table: string, options: ScanOptions = {}): Promise<Row[]> {
    const { lower, upper } = scanRange(options);
    // [table] sorts before every [table, bytes]; [table, []] after all of them.
    const range = this.#range.bound(
      lower === null ? [table] : idbKey(table, lower),
      upper === null ? [table, []] : idbKey(table, upper),
      false,
      true,
    );
    const limit = options.limit ?? Infinity;
    const out: Row[] = [];
    if (limit <= 0) return out;
    const store = this.#tx("readonly", "scan");
    await new Promise<void>((resolve, reject) => {
      let request: IDBRequest<IDBCursorWithValue | null>;
      try {
        request = store.openCursor(range, options.reverse === true ? "prev" : "next");
      } catch (exc) {
        reject(ioError("scan", exc));
        return;
      }
      request.onerror = () => reject(ioError("scan", request.error));
      request.onsuccess = () => {
        const cursor = request.result;
        if (cursor === null) return resolve();
        try {
          const key = toBytes((cursor.key as unknown[])[1]);
          const value = toValue(cursor.value);
          if (options.where === undefined || options.where(key, value)) out.push([key, value]);
        } catch (exc) {
          return reject(exc);
        }
        if (out.length >= limit) return resolve();
        cursor.continue();
      };
    });
    return out;
  }

  async write(changes: readonly Change[]): Promise<void> {
    for (const c of changes) checkKey(c.key);
    if (changes.length === 0) return;
    const store = this.#tx("readwrite", "write");
    const done = transactionDone(store.transaction, "write");
    try {
      for (const c of changes) {
        if (c.op === "put") store.put(ownBytes(c.value), idbKey(c.table, c.key));
        else store.delete(idbKey(c.table, c.key));
      }
    } catch (exc) {
      try {
        store.transaction.abort();
      } catch {
        // already finished: nothing was committed by it, since a request threw
      }
      done.catch(() => undefined);
      throw ioError("write", exc);
    }
    await done;
  }

  async tables(): Promise<string[]> {
    const store = this.#tx("readonly", "list tables");
    const names: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const request = store.openKeyCursor();
      request.onerror = () => reject(ioError("list tables", request.error));
      request.onsuccess = () => {
        const cursor = request.result;
        if (cursor === null) return resolve();
        const table = (cursor.key as unknown[])[0] as string;
        names.push(table);
        cursor.continue([table, []]); // past every row of this table
      };
    });
    return names;
  }

  async close(): Promise<void> {
    this.#db?.close();
    this.#db = null;
  }
}
