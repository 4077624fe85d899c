/**
 * A backend in one file under Node: an append-only log of batches, compacted by
 * rewriting it whole.
 *
 * The file is a 12-byte header (`hearth-kv\0` and a u16 layout version) and then
 * records, one per batch: u32 payload length, the first 8 bytes of
 * SHA-256(length ‖ payload), the payload (each change: op, table, key, value).
 * A batch is one record appended and flushed (`fsync`) before `write` returns and
 * before the in-memory index sees it, so it is atomic and durable. Crash safety:
 * only the last record can be torn (every earlier one was flushed before it was
 * begun), so on open a last record that is short or fails its checksum is cut off
 * and the state before that batch is what opens; a bad record *followed* by more
 * data is damage, not a crash, and is refused (`store.corrupt`). Compaction writes
 * every live row to a temporary file, flushes it and renames it over the log
 * (then flushes the directory), so a crash leaves the old log or the new one.
 *
 * Every row is held in memory (a `MemoryBackend`): reads never touch the disk. The
 * log is compacted when it is past `compactAt` bytes and more than half of it is
 * rows since overwritten or deleted, and on demand (`compact`). A deleted row's
 * ciphertext stays in the log until then; compaction replaces the file, it does
 * not overwrite the old one's blocks in place (unlike SQLite's `secure_delete`).
 *
 * A lock file beside the log (`<file>.lock`, holding the process id) keeps a
 * second process (or a second open in this one) from appending to the same log;
 * a lock left by a process that is gone is taken over.
 */

import { createHash } from "node:crypto";
import { open, readFile, rename, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

import { ascii, concat, equalBytes } from "../bytes.js";
import {
  type Change,
  checkKey,
  type Row,
  type ScanOptions,
  type StorageBackend,
  StoreError,
} from "../storage/backend.js";
import { MemoryBackend } from "../storage/memory.js";
import { fsyncDir, writeFileAtomic } from "./atomic.js";

const MAGIC = ascii("hearth-kv\x00");
const LAYOUT = 1;
const HEADER_BYTES = MAGIC.length + 2;
const RECORD_HEAD = 4 + 8;
const PUT = 1;
const DELETE = 2;
const COMPACT_CHUNK = 1 << 20;
const MAX_RECORD = 0xffff_ffff;

const OPEN = new Set<string>();

export interface FileBackendOptions {
  /** Compact automatically once the log is this large (bytes) and mostly garbage. Default 1 MiB. */
  readonly compactAt?: number;
}

function ioError(action: string, exc: unknown): StoreError {
  const e = exc as NodeJS.ErrnoException;
  return new StoreError(`local store failed to ${action}: ${e?.code ?? ""} ${e?.message ?? String(exc)}`.trim(), "store.io");
}

function header(): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  h.set(MAGIC);
  new DataView(h.buffer).setUint16(MAGIC.length, LAYOUT);
  return h;
}

function checksum(length: Uint8Array, payload: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(length).update(payload).digest().subarray(0, 8));
}

/** The bytes one change takes in a record. */
function changeBytes(table: string, key: Uint8Array, value: Uint8Array | null): number {
  return 2 + Buffer.byteLength(table) + 4 + key.length + (value === null ? 0 : 4 + value.length);
}

function encodeChanges(changes: Iterable<Change>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const c of changes) {
    const table = new TextEncoder().encode(c.table);
    if (table.length === 0 || table.length > 255) throw new StoreError("a table name is 1 to 255 bytes", "store.io");
    const value = c.op === "put" ? c.value : null;
    const head = new Uint8Array(2 + table.length + 4);
    const view = new DataView(head.buffer);
    head[0] = c.op === "put" ? PUT : DELETE;
    head[1] = table.length;
    head.set(table, 2);
    view.setUint32(2 + table.length, c.key.length);
    parts.push(head, c.key);
    if (value !== null) {
      const n = new Uint8Array(4);
      new DataView(n.buffer).setUint32(0, value.length);
      parts.push(n, value);
    }
  }
  return concat(...parts);
}

function record(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_RECORD) throw new StoreError("a batch is too large for one record", "store.io");
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, payload.length);
  return concat(length, checksum(length, payload), payload);
}

/** The changes of one record's payload, or null if it does not parse. */
function decodeChanges(payload: Uint8Array): Change[] | null {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: Change[] = [];
  let o = 0;
  /** The next `n` bytes, or null past the end. */
  const take = (n: number): Uint8Array | null => {
    if (o + n > payload.length) return null;
    o += n;
    return payload.subarray(o - n, o);
  };
  /** The next length-prefixed (u32) bytes, or null. */
  const sized = (): Uint8Array | null => {
    const n = take(4);
    return n === null ? null : take(view.getUint32(o - 4));
  };
  while (o < payload.length) {
    const head = take(2);
    if (head === null || (head[0] !== PUT && head[0] !== DELETE)) return null;
    const table = take(head[1]!);
    const key = sized();
    if (table === null || table.length === 0 || key === null || key.length === 0) return null;
    const name = new TextDecoder().decode(table);
    if (head[0] === DELETE) {
      out.push({ op: "delete", table: name, key });
      continue;
    }
    const value = sized();
    if (value === null) return null;
    out.push({ op: "put", table: name, key, value });
  }
  return out;
}

export class FileBackend implements StorageBackend {
  readonly path: string;
  readonly #lock: string;
  readonly #memory: MemoryBackend;
  readonly #compactAt: number;
  #handle: FileHandle | null;
  #size: number;
  #live: number;
  #queue: Promise<unknown> = Promise.resolve();
  #broken: StoreError | null = null;

  private constructor(path: string, lock: string, handle: FileHandle, memory: MemoryBackend, size: number, live: number, compactAt: number) {
    this.path = path;
    this.#lock = lock;
    this.#handle = handle;
    this.#memory = memory;
    this.#size = size;
    this.#live = live;
    this.#compactAt = compactAt;
  }

  /**
   * Open the store file at `path`, creating it if it does not exist.
   *
   * Throws `StoreError`: `store.io` (unreadable, or in use by another process),
   * `store.corrupt` (not a store file, or damaged before its last record),
   * `store.version` (a later layout of this file).
   */
  static async open(path: string, options: FileBackendOptions = {}): Promise<FileBackend> {
    const full = resolve(path);
    if (OPEN.has(full)) throw new StoreError(`local store ${path} is already open in this process`, "store.io");
    const lock = full + ".lock";
    await acquireLock(lock, path);
    OPEN.add(full);
    try {
      return await FileBackend.#load(full, lock, options);
    } catch (exc) {
      OPEN.delete(full);
      await unlink(lock).catch(() => undefined);
      throw exc;
    }
  }

  static async #load(full: string, lock: string, options: FileBackendOptions): Promise<FileBackend> {
    await unlink(compactTmp(full)).catch(() => undefined); // a compaction cut short by a crash
    let data: Uint8Array;
    try {
      data = await readFile(full);
    } catch (exc) {
      if ((exc as NodeJS.ErrnoException).code !== "ENOENT") throw ioError("open", exc);
      try {
        await writeFileAtomic(full, header(), 0o600, basename(compactTmp(full)));
      } catch (e) {
        throw ioError("create", e);
      }
      data = header();
    }
    if (data.length < HEADER_BYTES || !equalBytes(data.subarray(0, MAGIC.length), MAGIC)) {
      throw new StoreError(`${full} is not a Hearth store file`, "store.corrupt");
    }
    const layout = new DataView(data.buffer, data.byteOffset + MAGIC.length, 2).getUint16(0);
    if (layout !== LAYOUT) {
      throw new StoreError(`this store file is of layout ${layout}; this SDK reads layout ${LAYOUT} only`, "store.version");
    }
    const memory = new MemoryBackend();
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let o = HEADER_BYTES;
    while (o < data.length) {
      if (data.length - o < RECORD_HEAD) break; // torn in its header
      const length = view.getUint32(o);
      const end = o + RECORD_HEAD + length;
      if (end > data.length) break; // torn in its payload
      const payload = data.subarray(o + RECORD_HEAD, end);
      const changes = equalBytes(checksum(data.subarray(o, o + 4), payload), data.subarray(o + 4, o + 12))
        ? decodeChanges(payload)
        : null;
      if (changes === null) {
        if (end === data.length) break; // the last record, torn: its batch never happened
        throw new StoreError(`${full} is damaged at byte ${o}, before its last record`, "store.corrupt");
      }
      memory.applySync(changes);
      o = end;
    }
    let handle: FileHandle;
    try {
      handle = await open(full, "r+");
      if (o < data.length) {
        await handle.truncate(o);
        await handle.sync();
      }
    } catch (exc) {
      throw ioError("open", exc);
    }
    let live = 0;
    for (const [table, key, value] of memory.entries()) live += changeBytes(table, key, value);
    return new FileBackend(full, lock, handle, memory, o, live, options.compactAt ?? 1 << 20);
  }

  /** The log's size in bytes (what compaction shrinks). */
  get size(): number {
    return this.#size;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #ready(): FileHandle {
    if (this.#broken !== null) throw this.#broken;
    if (this.#handle === null) throw new StoreError("the store is closed", "store.io");
    return this.#handle;
  }

  async get(table: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#ready();
    return this.#memory.getSync(table, key);
  }

  async getMany(table: string, keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#ready();
    return keys.map((k) => this.#memory.getSync(table, k));
  }

  async scan(table: string, options: ScanOptions = {}): Promise<Row[]> {
    this.#ready();
    return this.#memory.scanSync(table, options);
  }

  async tables(): Promise<string[]> {
    this.#ready();
    return this.#memory.tables();
  }

  write(changes: readonly Change[]): Promise<void> {
    return this.#serial(async () => {
      const handle = this.#ready();
      for (const c of changes) {
        checkKey(c.key);
        if (c.op === "put" && !(c.value instanceof Uint8Array)) throw new StoreError("a stored value is bytes", "store.io");
      }
      if (changes.length === 0) return;
      const bytes = record(encodeChanges(changes));
      const before = this.#size;
      try {
        await handle.write(bytes, 0, bytes.length, before);
        await handle.sync();
      } catch (exc) {
        // Cut the partial record off, or the next batch would land behind garbage.
        try {
          await handle.truncate(before);
          await handle.sync();
        } catch {
          this.#broken = ioError("write (and the log could not be restored; reopen it)", exc);
        }
        throw ioError("write", exc);
      }
      this.#size += bytes.length;
      this.#live += this.#liveDelta(changes);
      this.#memory.applySync(changes);
      if (this.#size > this.#compactAt && this.#size > 2 * this.#live) {
        // The batch is durable already; a failed compaction leaves the log as it was.
        await this.#compact().catch(() => undefined);
      }
    });
  }

  /** How many bytes of live rows `changes` add (or, negative, remove). */
  #liveDelta(changes: readonly Change[]): number {
    const sizes = new Map<string, number>();
    let delta = 0;
    for (const c of changes) {
      const id = c.table + "\x00" + Buffer.from(c.key).toString("hex");
      let old = sizes.get(id);
      if (old === undefined && !sizes.has(id)) {
        const v = this.#memory.getSync(c.table, c.key);
        old = v === undefined ? 0 : changeBytes(c.table, c.key, v);
      }
      const now = c.op === "put" ? changeBytes(c.table, c.key, c.value) : 0;
      delta += now - (old ?? 0);
      sizes.set(id, now);
    }
    return delta;
  }

  /** Rewrite the log with the live rows only (atomically: the old log or the new one). */
  compact(): Promise<void> {
    return this.#serial(async () => {
      this.#ready();
      try {
        await this.#compact();
      } catch (exc) {
        throw ioError("compact", exc);
      }
    });
  }

  async #compact(): Promise<void> {
    const tmp = compactTmp(this.path);
    const out = await open(tmp, "w", 0o600);
    let size = 0;
    try {
      const write = async (bytes: Uint8Array) => {
        await out.write(bytes, 0, bytes.length, size);
        size += bytes.length;
      };
      await write(header());
      let chunk: Change[] = [];
      let chunkBytes = 0;
      for (const [table, key, value] of this.#memory.entries()) {
        chunk.push({ op: "put", table, key, value });
        chunkBytes += changeBytes(table, key, value);
        if (chunkBytes >= COMPACT_CHUNK) {
          await write(record(encodeChanges(chunk)));
          chunk = [];
          chunkBytes = 0;
        }
      }
      if (chunk.length > 0) await write(record(encodeChanges(chunk)));
      await out.sync();
    } catch (exc) {
      await out.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw exc;
    }
    await out.close();
    await rename(tmp, this.path);
    await fsyncDir(dirname(this.path));
    const old = this.#handle;
    this.#handle = null;
    await old?.close().catch(() => undefined);
    try {
      this.#handle = await open(this.path, "r+");
    } catch (exc) {
      this.#broken = ioError("reopen after compaction", exc);
      throw exc;
    }
    this.#size = size;
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      const handle = this.#handle;
      if (handle === null && this.#broken === null) return;
      this.#handle = null;
      this.#broken = null;
      await this.#memory.close();
      try {
        await handle?.close();
      } finally {
        OPEN.delete(this.path);
        await unlink(this.#lock).catch(() => undefined);
      }
    });
  }
}

function compactTmp(full: string): string {
  return join(dirname(full), `.${basename(full)}.compact`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (exc) {
    return (exc as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Take `<file>.lock`, or throw `store.io` if a live process (this one included) holds it. */
async function acquireLock(lock: string, shown: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: "wx", mode: 0o600 });
      return;
    } catch (exc) {
      if ((exc as NodeJS.ErrnoException).code !== "EEXIST") throw ioError("lock", exc);
    }
    let holder = NaN;
    try {
      holder = Number((await readFile(lock, "utf8")).trim());
    } catch {
      // gone meanwhile, or unreadable: try again
    }
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new StoreError(
        `local store ${shown} is in use by process ${holder} (if that process is not Hearth, remove ${lock})`,
        "store.io",
      );
    }
    await unlink(lock).catch(() => undefined); // left by a process that is gone (or by us, unclosed)
  }
  throw new StoreError(`cannot lock local store ${shown}`, "store.io");
}
