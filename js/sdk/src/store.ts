/**
 * The local store, encrypted at rest: `client_sdk/_store.py`'s API and guarantees on
 * any `StorageBackend` (IndexedDB in a browser, memory, a file under Node).
 *
 * One piece past 600 lines because, like the Python store, it is one class over one
 * backend: each method is one atomic batch over the tables below, and the
 * encryption at rest every one of them applies is the same few helpers.
 *
 * What is kept (format 1 of this SDK's layout; the Python store's SQLite file is
 * its own format, and neither SDK reads the other's store):
 *
 * | table | key | value |
 * |---|---|---|
 * | `meta` | `format`, `check`, `device`, `setting:<name>` | format in clear; the rest sealed |
 * | `rooms` | rk | created (clear), id and snapshot sealed |
 * | `ops` | rk ‖ index | the verified log operation, sealed |
 * | `secrets` | rk ‖ epoch | the epoch secret, sealed |
 * | `messages` | rk ‖ seq ‖ mk | sk ‖ the message (id, sender, everything written), sealed |
 * | `message_ids` | rk ‖ mk | seq ‖ ts ‖ sk |
 * | `messages_by_ts` | rk ‖ ts ‖ seq ‖ mk | (empty) |
 * | `outbox` | n ‖ mk | rk, mk, plaintext and envelope sealed, failure code (clear) |
 * | `outbox_ids` | mk | n ‖ mk (the `outbox` key) |
 * | `personal` | `doc:<name>` | version and dirty (clear), base and local sealed |
 *
 * rk, mk and sk are 16-byte keyed BLAKE2b of a room, message or member id
 * (`PERSON_LOCAL_INDEX`, under a key derived from the store key), so no room id,
 * member id, message id or log operation is in the backend in clear; numbers are
 * big-endian u64 so that key order is numeric order. In clear, as in the Python
 * store: row counts, log indices, epoch numbers, each message's relay sequence
 * number and receive time `ts` (so pages are ordered and retention purges without
 * decrypting anything), personal document names.
 *
 * The store key is `BLAKE2b("store"; key=root, person="hearth-local")`
 * (`Identity.storeKey()`); every sealed value is XChaCha20-Poly1305 with its table
 * and row as associated data, so a value moved to another row does not open
 * (`store.corrupt`). Opening with another identity's key is `store.wrong_identity`;
 * a store of another format is `store.version`, refused before anything is written.
 * Each method is one atomic backend batch, and the store runs its methods one at
 * a time, so a read-then-write (which message ids are new) never interleaves.
 */

import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";

import { ascii, concat, fromUtf8, hex, utf8, u64be } from "./bytes.js";
import { AEAD_NONCE_BYTES, aeadDecrypt, aeadEncrypt, cryptoReady, KEY_BYTES, kdf, PERSON_LOCAL_INDEX, randomBytes } from "./crypto.js";
import { HearthError } from "./errors.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { Change, StorageBackend } from "./storage/backend.js";
import { StoreError } from "./storage/backend.js";
import { canonical, decodeMsgpack } from "./wire/codec.js";
import type { SignedOp } from "./wire/schema.gen.js";

export { StoreError } from "./storage/backend.js";

/** This SDK's store layout. A store of any other format is refused (`store.version`). */
export const FORMAT = 1;
const AD_PREFIX = ascii("hearth/v2/local-store\x00");
const CHECK = ascii("hearth local store v2");
const INDEX_BYTES = 16;
const DEVICE_BYTES = 16;
const SLASH = ascii("/");

const T = {
  meta: "meta",
  rooms: "rooms",
  ops: "ops",
  secrets: "secrets",
  messages: "messages",
  messageIds: "message_ids",
  messagesByTs: "messages_by_ts",
  outbox: "outbox",
  outboxIds: "outbox_ids",
  personal: "personal",
} as const;

/** A verified text message as the store keeps it (`client_sdk._store.StoredMessage`). */
export interface StoredMessage {
  readonly room: RoomId;
  readonly id: MessageId;
  readonly seq: number;
  readonly sender: MemberId;
  readonly text: string;
  readonly contentWarning: string | null;
  readonly replyTo: MessageId | null;
  readonly sentAt: number;
  readonly ts: number;
  readonly edited: boolean;
  readonly mine: boolean;
  /** `seq` of the edit that set `text` (an older edit never overwrites a newer one). */
  readonly editedSeq: number;
  /** The person opened its content warning on this device. */
  readonly revealed: boolean;
  /** (emoji, member) pairs, sorted. */
  readonly reactions: readonly (readonly [string, MemberId])[];
  /**
   * This copy changes a stored message (edit, reaction): it replaces the stored one.
   * A copy without it (the original arriving again through history) never overwrites
   * what is stored. Never set on what the store returns.
   */
  readonly update?: boolean;
}

/** The fields of a `StoredMessage` that have defaults. */
type MessageDefaults = "editedSeq" | "revealed" | "reactions" | "update";

/** A `StoredMessage` with Python's defaults filled in (`editedSeq` 0, not revealed, no reactions). */
export function storedMessage(
  fields: Omit<StoredMessage, MessageDefaults> & Partial<Pick<StoredMessage, MessageDefaults>>,
): StoredMessage {
  return { editedSeq: 0, revealed: false, reactions: [], ...fields };
}

/** A sealed message waiting for the relay's acknowledgement. */
export interface OutboxEntry {
  readonly room: RoomId;
  readonly id: MessageId;
  readonly plaintext: Uint8Array;
  readonly envelope: Uint8Array;
  /** The relay's error code if it refused the message for good (it is not retried). */
  readonly failed: string | null;
}

/** What `saveRoom` puts in the outbox (the room is `saveRoom`'s). */
export type OutboxAdd = Pick<OutboxEntry, "id" | "plaintext" | "envelope"> & { readonly room?: RoomId; readonly failed?: null };

/** Everything `saveRoom` writes with a room's snapshot, in the same atomic batch. */
export interface RoomBatch {
  /** Verified log operations by index; an index already stored is kept as it is. */
  readonly ops?: Iterable<readonly [number, SignedOp]>;
  /** Epoch secrets by epoch (a `Map` will do); an epoch already stored is kept. */
  readonly secrets?: Iterable<readonly [number, Uint8Array]>;
  /** New messages, or updated copies (`update: true`) of stored ones. */
  readonly messages?: Iterable<StoredMessage>;
  /** Messages to remove (verified deletions). */
  readonly deleted?: Iterable<MessageId>;
  readonly outboxAdd?: OutboxAdd | null;
  /** Outbox entries the relay acknowledged. */
  readonly outboxDone?: Iterable<MessageId>;
  /** Time (ms) recorded for a room stored for the first time: rooms list oldest first. */
  readonly now?: number;
}

/** A room as `loadRoom` reads it back. */
export interface StoredRoom {
  /** The verified log, by index. */
  readonly ops: SignedOp[];
  readonly secrets: Map<number, Uint8Array>;
  /** The core's persisted room state, as `saveRoom` was given it. */
  readonly snapshot: Uint8Array;
}

/** A personal document as last read from the relay (`base` at `version`) and as this device has it. */
export interface PersonalDocument {
  readonly version: number;
  readonly base: Uint8Array;
  readonly local: Uint8Array;
  /** `local` waits to be pushed to the relay. */
  readonly dirty: boolean;
}

function ad(table: string, row: Uint8Array): Uint8Array {
  return concat(AD_PREFIX, ascii(table), new Uint8Array(1), row);
}

function encrypt(key: Uint8Array, table: string, row: Uint8Array, data: Uint8Array): Uint8Array {
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  return concat(nonce, aeadEncrypt(key, nonce, data, ad(table, row)));
}

function decrypt(key: Uint8Array, table: string, row: Uint8Array, data: Uint8Array): Uint8Array {
  try {
    return aeadDecrypt(key, data.subarray(0, AEAD_NONCE_BYTES), data.subarray(AEAD_NONCE_BYTES), ad(table, row));
  } catch {
    throw new StoreError("a stored value does not decrypt", "store.corrupt");
  }
}

function corrupt(what: string): StoreError {
  return new StoreError(`${what} does not decode`, "store.corrupt");
}

function readU64(data: Uint8Array, offset: number): number {
  if (data.length < offset + 8) throw corrupt("a stored key");
  const n = new DataView(data.buffer, data.byteOffset + offset, 8).getBigUint64(0);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt("a stored number");
  return Number(n);
}

/** A msgpack array of `n` to `m` items (the layout of a row's value), or `store.corrupt`. */
function unpack(data: Uint8Array, what: string, n: number, m: number = n): unknown[] {
  let value: unknown;
  try {
    value = msgpackDecode(data);
  } catch {
    throw corrupt(what);
  }
  if (!Array.isArray(value) || value.length < n || value.length > m) throw corrupt(what);
  return value;
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v);
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function optString(v: unknown): v is string | null {
  return v === null || typeof v === "string";
}

/** The message body's layout, as Python's `_Body` (array-like, defaults at the end). */
function packBody(m: StoredMessage): Uint8Array {
  return msgpackEncode([
    m.id,
    m.sender,
    m.text,
    m.contentWarning,
    m.replyTo,
    m.sentAt,
    m.ts,
    m.edited,
    m.mine,
    m.editedSeq ?? 0,
    m.revealed ?? false,
    (m.reactions ?? []).map(([emoji, who]) => [emoji, who]),
  ]);
}

function unpackBody(room: RoomId, seq: number, plain: Uint8Array): StoredMessage {
  const b = unpack(plain, "a stored message", 9, 12);
  const [id, sender, text, cw, replyTo, sentAt, ts, edited, mine] = b;
  const editedSeq = b[9] ?? 0;
  const revealed = b[10] ?? false;
  const reactions = b[11] ?? [];
  const ok =
    typeof id === "string" &&
    typeof sender === "string" &&
    typeof text === "string" &&
    optString(cw) &&
    optString(replyTo) &&
    isInt(sentAt) &&
    isInt(ts) &&
    typeof edited === "boolean" &&
    typeof mine === "boolean" &&
    isInt(editedSeq) &&
    typeof revealed === "boolean" &&
    Array.isArray(reactions) &&
    reactions.every((r) => Array.isArray(r) && r.length === 2 && typeof r[0] === "string" && typeof r[1] === "string");
  if (!ok) throw corrupt("a stored message");
  return {
    room,
    id,
    seq,
    sender,
    text,
    contentWarning: cw,
    replyTo: replyTo ? replyTo : null,
    sentAt,
    ts,
    edited,
    mine,
    editedSeq,
    revealed,
    reactions: (reactions as [string, string][]).map(([e, who]) => [e, who] as const),
  };
}

/** Where a stored message is: its sequence number, the relay's time and its sender's key. */
interface Placed {
  seq: number;
  ts: number;
  sk: Uint8Array;
}

function placedFrom(value: Uint8Array): Placed {
  if (value.length !== 16 + INDEX_BYTES) throw corrupt("a message index");
  return { seq: readU64(value, 0), ts: readU64(value, 8), sk: value.subarray(16) };
}

/** The encrypted store of one identity on one device. Open with `Store.open`. */
export class Store {
  readonly #backend: StorageBackend;
  readonly #key: Uint8Array;
  readonly #indexKey: Uint8Array;
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * This device's random secret: its id in each room derives from it
   * (`PERSON_ROOM_DEVICE`); it never leaves the device.
   */
  readonly device: Uint8Array;

  private constructor(backend: StorageBackend, key: Uint8Array, device: Uint8Array) {
    this.#backend = backend;
    this.#key = Uint8Array.from(key);
    this.#indexKey = kdf(key, ascii("index"), PERSON_LOCAL_INDEX);
    this.device = device;
  }

  /**
   * Open or create the store on `backend` for the identity whose store key is `key`
   * (`Identity.storeKey()`). The store owns the backend from then on: `close` closes it.
   *
   * Throws `StoreError`: `store.wrong_identity` if another identity created it,
   * `store.version` if it is of another format, `store.io` if the backend fails.
   */
  static async open(backend: StorageBackend, key: Uint8Array): Promise<Store> {
    await cryptoReady();
    if (key.length !== KEY_BYTES) throw new RangeError("a store key is 32 bytes");
    try {
      return await Store.#init(backend, key);
    } catch (exc) {
      await backend.close().catch(() => undefined);
      throw exc;
    }
  }

  static #init(backend: StorageBackend, key: Uint8Array): Promise<Store> {
    return translated("open", async () => {
      const [format, check, sealed] = await backend.getMany(T.meta, [ascii("format"), ascii("check"), ascii("device")]);
      if (format !== undefined || check !== undefined) {
        const found = format === undefined ? "unknown" : new TextDecoder().decode(format);
        if (found !== String(FORMAT)) {
          throw new StoreError(
            `this local store is format ${found}; this SDK reads format ${FORMAT} only.` +
              " Move the person to a new store: restore from the recovery phrase (or link" +
              " this device again) into a new store",
            "store.version",
          );
        }
      }
      if (check === undefined) {
        const device = randomBytes(DEVICE_BYTES);
        await backend.write([
          { op: "put", table: T.meta, key: ascii("format"), value: ascii(String(FORMAT)) },
          { op: "put", table: T.meta, key: ascii("check"), value: encrypt(key, T.meta, ascii("check"), CHECK) },
          { op: "put", table: T.meta, key: ascii("device"), value: encrypt(key, T.meta, ascii("device"), device) },
        ]);
        return new Store(backend, key, device);
      }
      let ok = false;
      try {
        ok = hex(decrypt(key, T.meta, ascii("check"), check)) === hex(CHECK);
      } catch {
        ok = false;
      }
      if (!ok) throw new StoreError("this store belongs to another identity", "store.wrong_identity");
      const device = decrypt(key, T.meta, ascii("device"), sealed ?? new Uint8Array(0));
      return new Store(backend, key, device);
    });
  }

  /** Close the store and its backend. */
  close(): Promise<void> {
    return this.#run("close", () => this.#backend.close());
  }

  /** Run `fn` after every earlier call, translating foreign failures to `store.io`. */
  #run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(() => translated(action, fn));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  // -- encryption at rest ------------------------------------------------------

  #seal(table: string, row: Uint8Array, data: Uint8Array): Uint8Array {
    return encrypt(this.#key, table, row, data);
  }

  #open(table: string, row: Uint8Array, data: Uint8Array): Uint8Array {
    return decrypt(this.#key, table, row, data);
  }

  /** The row key of a room, message or member id: keyed BLAKE2b, 16 bytes. */
  #index(kind: string, value: string): Uint8Array {
    return kdf(this.#indexKey, concat(ascii(kind), new Uint8Array(1), utf8(value)), PERSON_LOCAL_INDEX, INDEX_BYTES);
  }

  #rk(room: RoomId): Uint8Array {
    return this.#index("room", room);
  }

  #mk(message: MessageId): Uint8Array {
    return this.#index("message", message);
  }

  #sk(member: MemberId): Uint8Array {
    return this.#index("member", member);
  }

  // -- rooms -------------------------------------------------------------------

  /** Every room in the store, oldest first. */
  roomIds(): Promise<RoomId[]> {
    return this.#run("list rooms", async () => {
      const rows = (await this.#backend.scan(T.rooms)).map(([rk, value]) => {
        const [created, name] = unpack(value, "a stored room", 3);
        if (!isInt(created) || !isBytes(name)) throw corrupt("a stored room");
        return { rk, created, name };
      });
      rows.sort((a, b) => a.created - b.created || compareHex(a.rk, b.rk));
      return rows.map((r) => fromUtf8(this.#open(T.rooms, concat(r.rk, ascii("/name")), r.name)));
    });
  }

  /** A room's stored log, epoch secrets and snapshot. */
  loadRoom(room: RoomId): Promise<StoredRoom> {
    return this.#run("load a room", async () => {
      const r = this.#rk(room);
      const row = await this.#backend.get(T.rooms, r);
      if (row === undefined) throw new StoreError(`no room ${room} in the store`, "store.corrupt");
      const ops = (await this.#backend.scan(T.ops, { prefix: r })).map(([key, sealed]) => {
        const index = readU64(key, INDEX_BYTES);
        const plain = this.#open(T.ops, concat(r, SLASH, ascii(String(index))), sealed);
        try {
          return decodeMsgpack<SignedOp>("SignedOp", plain);
        } catch (exc) {
          if (exc instanceof HearthError) throw new StoreError("a stored room does not decode", "store.corrupt");
          throw exc;
        }
      });
      const secrets = new Map<number, Uint8Array>();
      for (const [key, sealed] of await this.#backend.scan(T.secrets, { prefix: r })) {
        const epoch = readU64(key, INDEX_BYTES);
        secrets.set(epoch, this.#open(T.secrets, concat(r, SLASH, ascii(String(epoch))), sealed));
      }
      const [, , snapshot] = unpack(row, "a stored room", 3);
      if (!isBytes(snapshot)) throw corrupt("a stored room");
      return { ops, secrets, snapshot: this.#open(T.rooms, r, snapshot) };
    });
  }

  /**
   * Write one batch for `room` atomically; return the ids of new messages.
   *
   * A message whose id is already stored is replaced only if the new copy is an
   * update (`update: true`); it does not count as new. Within the batch, inserts
   * come first, then updates, then `deleted`, then the outbox's addition and then
   * its acknowledgements, as in the Python store's transaction.
   */
  saveRoom(room: RoomId, snapshot: Uint8Array, batch: RoomBatch = {}): Promise<MessageId[]> {
    return this.#run("save a room", async () => {
      const b = this.#backend;
      const r = this.#rk(room);
      const changes: Change[] = [];
      const put = (table: string, key: Uint8Array, value: Uint8Array) => changes.push({ op: "put", table, key, value });
      const del = (table: string, key: Uint8Array) => changes.push({ op: "delete", table, key });

      const existing = await b.get(T.rooms, r);
      if (existing === undefined) {
        const name = this.#seal(T.rooms, concat(r, ascii("/name")), utf8(room));
        put(T.rooms, r, msgpackEncode([batch.now ?? 0, name, this.#seal(T.rooms, r, snapshot)]));
      } else {
        const [created, name] = unpack(existing, "a stored room", 3);
        put(T.rooms, r, msgpackEncode([created, name, this.#seal(T.rooms, r, snapshot)]));
      }

      // Log operations and epoch secrets: insert, or ignore an index already there.
      for (const [table, items, encode] of [
        [T.ops, batch.ops, (op: unknown) => canonical("SignedOp", op)],
        [T.secrets, batch.secrets, (s: unknown) => s as Uint8Array],
      ] as const) {
        const wanted = new Map<number, unknown>();
        for (const [n, item] of items ?? []) if (!wanted.has(n)) wanted.set(n, item);
        const keys = [...wanted.keys()].map((n) => concat(r, u64be(n)));
        const stored = await b.getMany(table, keys);
        [...wanted].forEach(([n, item], i) => {
          if (stored[i] !== undefined) return;
          put(table, keys[i]!, this.#seal(table, concat(r, SLASH, ascii(String(n))), encode(item)));
        });
      }

      // Messages: what is stored (or inserted by this batch) lives in `placed`.
      const messages = [...(batch.messages ?? [])];
      const deleted = [...(batch.deleted ?? [])];
      const placed = await this.#placed(r, [...messages.map((m) => m.id), ...deleted]);
      const bodies = new Map<MessageId, Uint8Array>();
      const inserted: MessageId[] = [];
      const updated: MessageId[] = [];
      for (const m of messages) {
        const sealed = this.#sealMessage(r, this.#mk(m.id), m);
        if (placed.has(m.id)) {
          if (m.update === true) {
            bodies.set(m.id, sealed);
            updated.push(m.id);
          }
          continue;
        }
        placed.set(m.id, { seq: m.seq, ts: m.ts, sk: this.#sk(m.sender) });
        bodies.set(m.id, sealed);
        inserted.push(m.id);
      }
      const fresh = new Set(inserted);
      for (const id of new Set([...inserted, ...updated])) {
        const mk = this.#mk(id);
        const p = placed.get(id)!;
        if (fresh.has(id)) {
          put(T.messageIds, concat(r, mk), concat(u64be(p.seq), u64be(p.ts), p.sk));
          put(T.messagesByTs, concat(r, u64be(p.ts), u64be(p.seq), mk), new Uint8Array(0));
        }
        put(T.messages, concat(r, u64be(p.seq), mk), concat(p.sk, bodies.get(id)!));
      }
      for (const id of deleted) {
        const p = placed.get(id);
        if (p === undefined) continue;
        const mk = this.#mk(id);
        del(T.messages, concat(r, u64be(p.seq), mk));
        del(T.messageIds, concat(r, mk));
        del(T.messagesByTs, concat(r, u64be(p.ts), u64be(p.seq), mk));
        placed.delete(id);
      }

      // The outbox: one entry added, acknowledged ones removed.
      const done = [...(batch.outboxDone ?? [])];
      const numbers = new Map<MessageId, Uint8Array | undefined>();
      const known = await b.getMany(T.outboxIds, done.map((id) => this.#mk(id)));
      done.forEach((id, i) => numbers.set(id, known[i]));
      const add = batch.outboxAdd;
      if (add !== undefined && add !== null) {
        const mk = this.#mk(add.id);
        if ((await b.get(T.outboxIds, mk)) !== undefined) {
          throw new StoreError(`message ${add.id} is already in the outbox`, "store.io");
        }
        const last = await b.scan(T.outbox, { reverse: true, limit: 1 });
        // n orders the outbox; mk after it keeps two entries given one n (two
        // tabs on one IndexedDB, each with its own Store) from overwriting each other.
        const n = concat(u64be(last.length === 0 ? 1 : readU64(last[0]![0], 0) + 1), mk);
        const queued = msgpackEncode([room, add.id, add.plaintext]);
        put(
          T.outbox,
          n,
          msgpackEncode([r, mk, this.#seal(T.outbox, mk, queued), this.#seal(T.outbox, concat(mk, ascii("/envelope")), add.envelope), null]),
        );
        put(T.outboxIds, mk, n);
        if (numbers.has(add.id)) numbers.set(add.id, n);
      }
      for (const id of done) {
        const n = numbers.get(id);
        if (n === undefined) continue;
        del(T.outbox, n);
        del(T.outboxIds, this.#mk(id));
      }
      await b.write(changes);
      return inserted;
    });
  }

  /** Where each of `ids` is stored in room `r`, for those that are. */
  async #placed(r: Uint8Array, ids: readonly MessageId[]): Promise<Map<MessageId, Placed>> {
    const unique = [...new Set(ids)];
    const values = await this.#backend.getMany(T.messageIds, unique.map((id) => concat(r, this.#mk(id))));
    const out = new Map<MessageId, Placed>();
    unique.forEach((id, i) => {
      const v = values[i];
      if (v !== undefined) out.set(id, placedFrom(v));
    });
    return out;
  }

  // -- messages ----------------------------------------------------------------

  #sealMessage(r: Uint8Array, mk: Uint8Array, m: StoredMessage): Uint8Array {
    return this.#seal(T.messages, concat(r, SLASH, mk), packBody(m));
  }

  #message(room: RoomId, r: Uint8Array, key: Uint8Array, value: Uint8Array): StoredMessage {
    if (key.length !== 2 * INDEX_BYTES + 8 || value.length < INDEX_BYTES) throw corrupt("a stored message");
    const seq = readU64(key, INDEX_BYTES);
    const mk = key.subarray(INDEX_BYTES + 8);
    const plain = this.#open(T.messages, concat(r, SLASH, mk), value.subarray(INDEX_BYTES));
    return unpackBody(room, seq, plain);
  }

  /** Replace a stored message's encrypted body (a reveal); a missing one stays missing. */
  updateMessage(message: StoredMessage): Promise<void> {
    return this.#run("update a message", async () => {
      const r = this.#rk(message.room);
      const mk = this.#mk(message.id);
      const p = (await this.#placed(r, [message.id])).get(message.id);
      if (p === undefined) return;
      const value = concat(p.sk, this.#sealMessage(r, mk, message));
      await this.#backend.write([{ op: "put", table: T.messages, key: concat(r, u64be(p.seq), mk), value }]);
    });
  }

  /**
   * Delete the messages the relay stored before `beforeTs` (its receive time, ms,
   * kept in clear for this); return their ids, by sequence number.
   */
  purgeMessages(room: RoomId, options: { readonly beforeTs: number }): Promise<MessageId[]> {
    return this.#run("purge messages", async () => {
      const before = Math.ceil(options.beforeTs); // ts < 2.5 is ts < 3: times are whole ms
      if (before <= 0) return [];
      const r = this.#rk(room);
      const lt = before > Number.MAX_SAFE_INTEGER ? undefined : concat(r, u64be(before));
      const marks = await this.#backend.scan(T.messagesByTs, { prefix: r, ...(lt === undefined ? {} : { lt }) });
      const found = marks.map(([key]) => ({
        ts: readU64(key, INDEX_BYTES),
        seq: readU64(key, INDEX_BYTES + 8),
        mk: key.subarray(INDEX_BYTES + 16),
        mark: key,
      }));
      found.sort((a, b) => a.seq - b.seq);
      const keys = found.map((f) => concat(r, u64be(f.seq), f.mk));
      const values = await this.#backend.getMany(T.messages, keys);
      const ids: MessageId[] = [];
      const changes: Change[] = [];
      found.forEach((f, i) => {
        const value = values[i];
        if (value === undefined) throw new StoreError("a message's index names no message", "store.corrupt");
        ids.push(this.#message(room, r, keys[i]!, value).id);
        changes.push(
          { op: "delete", table: T.messages, key: keys[i]! },
          { op: "delete", table: T.messageIds, key: concat(r, f.mk) },
          { op: "delete", table: T.messagesByTs, key: f.mark },
        );
      });
      if (changes.length > 0) await this.#backend.write(changes);
      return ids;
    });
  }

  /** One stored message, if we have it. */
  message(room: RoomId, messageId: MessageId): Promise<StoredMessage | null> {
    return this.#run("read a message", async () => {
      const r = this.#rk(room);
      const mk = this.#mk(messageId);
      const p = (await this.#placed(r, [messageId])).get(messageId);
      if (p === undefined) return null;
      const key = concat(r, u64be(p.seq), mk);
      const value = await this.#backend.get(T.messages, key);
      if (value === undefined) throw new StoreError("a message's index names no message", "store.corrupt");
      return this.#message(room, r, key, value);
    });
  }

  /**
   * The newest `limit` messages with `seq < beforeSeq`, oldest first.
   *
   * Messages from the senders in `without` (blocked) are skipped, so the page still
   * holds `limit` messages if the store has them.
   */
  messages(
    room: RoomId,
    options: { readonly limit: number; readonly beforeSeq?: number | null; readonly without?: Iterable<MemberId> },
  ): Promise<StoredMessage[]> {
    return this.#run("read messages", async () => {
      const { limit } = options;
      const beforeSeq = options.beforeSeq == null ? null : Math.ceil(options.beforeSeq);
      const r = this.#rk(room);
      if (limit === 0 || (beforeSeq != null && beforeSeq <= 0)) return [];
      const skip = new Set([...(options.without ?? [])].map((m) => hex(this.#sk(m))));
      const bounded = beforeSeq != null && beforeSeq <= Number.MAX_SAFE_INTEGER;
      const rows = await this.#backend.scan(T.messages, {
        prefix: r,
        ...(bounded ? { lt: concat(r, u64be(beforeSeq)) } : {}),
        reverse: true,
        ...(limit > 0 ? { limit } : {}), // a negative limit is no limit, as in SQLite
        ...(skip.size > 0 ? { where: (_k: Uint8Array, v: Uint8Array) => !skip.has(hex(v.subarray(0, INDEX_BYTES))) } : {}),
      });
      return rows.reverse().map(([key, value]) => this.#message(room, r, key, value));
    });
  }

  // -- personal documents ---------------------------------------------------------

  /** A personal document's stored state, or null if never stored. */
  personalLoad(name: string): Promise<PersonalDocument | null> {
    return this.#run("read a personal document", async () => {
      const row = await this.#backend.get(T.personal, utf8("doc:" + name));
      if (row === undefined) return null;
      const [version, base, local, dirty] = unpack(row, "a personal document", 4);
      if (!isInt(version) || !isBytes(base) || !isBytes(local) || typeof dirty !== "boolean") {
        throw corrupt("a personal document");
      }
      const n = utf8(name);
      return {
        version,
        base: this.#open(T.personal, concat(n, ascii("/base")), base),
        local: this.#open(T.personal, concat(n, ascii("/local")), local),
        dirty,
      };
    });
  }

  /** Store a personal document's state atomically. */
  personalSave(name: string, doc: PersonalDocument): Promise<void> {
    return this.#run("save a personal document", async () => {
      if (!isInt(doc.version)) throw new RangeError("a document version is an integer");
      const n = utf8(name);
      const value = msgpackEncode([
        doc.version,
        this.#seal(T.personal, concat(n, ascii("/base")), doc.base),
        this.#seal(T.personal, concat(n, ascii("/local")), doc.local),
        doc.dirty,
      ]);
      await this.#backend.write([{ op: "put", table: T.personal, key: utf8("doc:" + name), value }]);
    });
  }

  // -- settings of this device alone ------------------------------------------------

  /** A setting kept on this device only (encrypted in `meta`), if set. */
  deviceSetting(name: string): Promise<Uint8Array | null> {
    return this.#run("read a setting", async () => {
      const key = utf8("setting:" + name);
      const value = await this.#backend.get(T.meta, key);
      return value === undefined ? null : this.#open(T.meta, key, value);
    });
  }

  /** Set a setting kept on this device only, encrypted. */
  putDeviceSetting(name: string, value: Uint8Array): Promise<void> {
    return this.#run("write a setting", async () => {
      const key = utf8("setting:" + name);
      await this.#backend.write([{ op: "put", table: T.meta, key, value: this.#seal(T.meta, key, value) }]);
    });
  }

  // -- outbox ------------------------------------------------------------------

  /** Messages not yet acknowledged (in `room`, or in every room), in the order they were sent. */
  outbox(room: RoomId | null = null): Promise<OutboxEntry[]> {
    return this.#run("read the outbox", async () => {
      const only = room === null ? null : hex(this.#rk(room));
      const entries: OutboxEntry[] = [];
      for (const [, value] of await this.#backend.scan(T.outbox)) {
        const [rk, mk, plaintext, envelope, failed] = unpack(value, "an outbox entry", 5);
        if (!isBytes(rk) || !isBytes(mk) || !isBytes(plaintext) || !isBytes(envelope) || !optString(failed)) {
          throw corrupt("an outbox entry");
        }
        if (only !== null && hex(rk) !== only) continue;
        const [qRoom, qId, qPlain] = unpack(this.#open(T.outbox, mk, plaintext), "an outbox entry", 3);
        if (typeof qRoom !== "string" || typeof qId !== "string" || !isBytes(qPlain)) throw corrupt("an outbox entry");
        entries.push({
          room: qRoom,
          id: qId,
          plaintext: qPlain,
          envelope: this.#open(T.outbox, concat(mk, ascii("/envelope")), envelope),
          failed,
        });
      }
      return entries;
    });
  }

  /** Store a re-sealed envelope under the same message id. */
  outboxReplace(messageId: MessageId, envelope: Uint8Array): Promise<void> {
    return this.#run("update the outbox", () =>
      this.#outboxChange(messageId, (row, mk) => {
        row[3] = this.#seal(T.outbox, concat(mk, ascii("/envelope")), envelope);
      }),
    );
  }

  /** Mark an entry the relay refused for good; it is not retried. */
  outboxFail(messageId: MessageId, code: string): Promise<void> {
    return this.#run("update the outbox", () =>
      this.#outboxChange(messageId, (row) => {
        row[4] = code;
      }),
    );
  }

  async #outboxChange(messageId: MessageId, change: (row: unknown[], mk: Uint8Array) => void): Promise<void> {
    const mk = this.#mk(messageId);
    const n = await this.#backend.get(T.outboxIds, mk);
    if (n === undefined) return;
    const value = await this.#backend.get(T.outbox, n);
    if (value === undefined) throw new StoreError("an outbox index names no entry", "store.corrupt");
    const row = unpack(value, "an outbox entry", 5);
    change(row, mk);
    await this.#backend.write([{ op: "put", table: T.outbox, key: n, value: msgpackEncode(row) }]);
  }
}

function compareHex(a: Uint8Array, b: Uint8Array): number {
  const x = hex(a);
  const y = hex(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Run `fn`; a failure that is not already a Hearth error becomes `store.io` naming `action`. */
async function translated<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (exc) {
    if (exc instanceof HearthError) throw exc;
    const what = exc instanceof Error ? exc.message : String(exc);
    throw new StoreError(`local store failed to ${action}: ${what}`, "store.io");
  }
}
