/**
 * Epochs (mirrors `protocol/epochs.py`): a room's group key and how a commit hands
 * it to every member.
 *
 * A commit carries 32 fresh random bytes (the commit secret) sealed to each member's
 * X25519 key. Every member derives the same epoch secret from it:
 *
 *     epoch_secret = BLAKE2b(key=commit_secret, data=room || u64be(epoch) || prev,
 *                            person="hearth-epoch")
 *
 * where `prev` is the hash of the log operation before the commit, so members agree
 * on a key only if they agree on the log. The commit also publishes
 * `confirm = BLAKE2b(key=epoch_secret, person="hearth-confirm")`: a member whose
 * unsealed secret gives another tag was handed a different key, and refuses it.
 */


import { ascii, concat, equalBytes, u64be } from "./bytes.js";
import {
  AEAD_NONCE_BYTES,
  aeadDecrypt,
  aeadEncrypt,
  kdf,
  KEY_BYTES,
  PERSON_CONFIRM,
  PERSON_EPOCH,
  PERSON_HISTORY,
  PERSON_MSG_KEY,
  randomBytes,
  type Rng,
  seal,
  unseal,
  type BoxPrivateKey,
} from "./crypto.js";
import { CryptoError, LogError } from "./errors.js";
import type { MemberId, RoomId } from "./ids.js";
import { readMsgpack } from "./wire/msgpack.js";
import type { Commit, Share } from "./wire/schema.gen.js";

const EMPTY = new Uint8Array(0);

/** The epoch secret members derive from an unsealed commit secret (protocol.md 7.1). */
export function deriveEpochSecret(commitSecret: Uint8Array, room: RoomId, epoch: number, prev: Uint8Array): Uint8Array {
  return kdf(commitSecret, concat(ascii(room), u64be(epoch), prev), PERSON_EPOCH);
}

/** The public key-confirmation tag of an epoch secret. */
export function confirmTag(epochSecret: Uint8Array): Uint8Array {
  return kdf(epochSecret, EMPTY, PERSON_CONFIRM);
}

/** The XChaCha20-Poly1305 key for messages of an epoch. */
export function messageKey(epochSecret: Uint8Array): Uint8Array {
  return kdf(epochSecret, EMPTY, PERSON_MSG_KEY);
}

/** The key that encrypts the earlier epoch secrets a commit passes on (protocol.md 7.5). */
export function historyKey(epochSecret: Uint8Array): Uint8Array {
  return kdf(epochSecret, EMPTY, PERSON_HISTORY);
}

function historyAd(room: RoomId, epoch: number): Uint8Array {
  return concat(ascii(room), u64be(epoch));
}

/** Map-like inputs: a `Map` or a plain record. */
type Keyed<K extends string | number, V> = ReadonlyMap<K, V> | Readonly<Record<K, V>>;

function entriesOf<V>(value: Keyed<string, V> | Keyed<number, V>): [string | number, V][] {
  return value instanceof Map ? [...(value as ReadonlyMap<string | number, V>).entries()] : Object.entries(value);
}

/** canonical([[epoch, secret], ...]): an array of 2-element arrays, shortest ints, `bin` secrets. */
function encodeHistory(entries: readonly (readonly [number, Uint8Array])[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const n = entries.length;
  parts.push(n < 16 ? Uint8Array.of(0x90 | n) : n < 65536 ? Uint8Array.of(0xdc, n >> 8, n & 0xff) : concat(Uint8Array.of(0xdd), u32(n)));
  for (const [epoch, secret] of entries) {
    parts.push(Uint8Array.of(0x92), msgpackUint(epoch), binHeader(secret.length), secret);
  }
  return concat(...parts);
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function msgpackUint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not an epoch: ${n}`);
  if (n < 128) return Uint8Array.of(n);
  if (n < 256) return Uint8Array.of(0xcc, n);
  if (n < 65536) return Uint8Array.of(0xcd, n >> 8, n & 0xff);
  if (n < 2 ** 32) return concat(Uint8Array.of(0xce), u32(n));
  return concat(Uint8Array.of(0xcf), u64be(n));
}

function binHeader(n: number): Uint8Array {
  if (n < 256) return Uint8Array.of(0xc4, n);
  if (n < 65536) return Uint8Array.of(0xc5, n >> 8, n & 0xff);
  return concat(Uint8Array.of(0xc6), u32(n));
}

/** A new commit and the epoch secret it starts. */
export interface MadeCommit {
  readonly commit: Commit;
  readonly epochSecret: Uint8Array;
}

/**
 * Build the commit for `epoch` and return it with the new epoch secret (protocol.md 7.3).
 *
 * `recipients` are every member after the operation, with the X25519 key the verified
 * log holds for them: never take these keys from anywhere else. `history` holds
 * earlier epoch secrets to pass on (only in rooms whose policy shares history).
 * `rng` draws the commit secret first and the history nonce second.
 *
 * Throws `CryptoError` (`crypto.bad_key`) naming the member whose key nothing can be
 * sealed to (the log refuses such keys; this guards keys from elsewhere).
 */
export function makeCommit(args: {
  readonly room: RoomId;
  readonly epoch: number;
  readonly prev: Uint8Array;
  readonly recipients: Keyed<MemberId, Uint8Array>;
  readonly history?: Keyed<number, Uint8Array> | null;
  readonly rng?: Rng;
}): MadeCommit {
  const { room, epoch, prev } = args;
  const rng = args.rng ?? randomBytes;
  const commitSecret = rng(KEY_BYTES);
  const epochSecret = deriveEpochSecret(commitSecret, room, epoch, prev);
  const recipients = entriesOf(args.recipients) as [MemberId, Uint8Array][];
  recipients.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const shares: Share[] = recipients.map(([member, key]) => {
    try {
      return { member, sealed: seal(key, commitSecret) };
    } catch (exc) {
      // Say whose key it is: the app (and whoever reads the log) can act on it.
      if (exc instanceof CryptoError) {
        throw new CryptoError(`cannot seal the commit to ${member}: their X25519 key is not usable`, "crypto.bad_key");
      }
      throw exc;
    }
  });
  let sealedHistory: Uint8Array | null = null;
  const earlier = args.history == null ? [] : entriesOf(args.history).map(([e, s]) => [Number(e), s] as const);
  if (earlier.length > 0) {
    earlier.sort(([a], [b]) => a - b);
    const nonce = rng(AEAD_NONCE_BYTES);
    const plain = encodeHistory(earlier);
    sealedHistory = concat(nonce, aeadEncrypt(historyKey(epochSecret), nonce, plain, historyAd(room, epoch)));
  }
  const commit: Commit = { epoch, shares, confirm: confirmTag(epochSecret), history: sealedHistory };
  return { commit, epochSecret };
}

/** What opens a commit: a member's room keys (`RoomKeys` has this shape). */
export interface CommitOpener {
  readonly room: RoomId;
  readonly member: MemberId;
  readonly box: BoxPrivateKey;
}

/**
 * Unseal this member's share and return the epoch secret, after key confirmation.
 *
 * Throws `LogError`: `log.not_recipient` if the commit has no share for this member,
 * `log.bad_commit` if the share does not open or the confirmation tag does not match
 * (the committer handed out different keys, or we derived from another `prev`).
 */
export function openCommit(commit: Commit, args: { readonly prev: Uint8Array; readonly keys: CommitOpener }): Uint8Array {
  const { prev, keys } = args;
  const share = commit.shares.find((s) => s.member === keys.member);
  if (share === undefined) throw new LogError("this commit has no share for us", "log.not_recipient");
  let commitSecret: Uint8Array;
  try {
    commitSecret = unseal(keys.box, share.sealed);
  } catch (exc) {
    if (exc instanceof CryptoError) throw new LogError("our share of the commit does not open", "log.bad_commit");
    throw exc;
  }
  const secret = deriveEpochSecret(commitSecret, keys.room, commit.epoch, prev);
  if (!equalBytes(confirmTag(secret), commit.confirm)) {
    throw new LogError("the epoch key does not match its confirmation", "log.bad_commit");
  }
  return secret;
}

/** Decode `[[epoch, secret], ...]` as msgspec decodes `list[_HistoryEntry]` (array-like). */
function decodeHistory(plain: Uint8Array): [number | bigint, Uint8Array][] {
  const value: unknown = readMsgpack(plain);
  if (!Array.isArray(value)) throw new TypeError("history is not an array");
  return value.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length < 2) throw new TypeError("a history entry is [epoch, secret]");
    const [epoch, secret] = entry as unknown[];
    const isInt = typeof epoch === "bigint" || (typeof epoch === "number" && Number.isInteger(epoch));
    if (!isInt || !(secret instanceof Uint8Array)) throw new TypeError("a history entry is [int, bytes]");
    return [epoch as number | bigint, secret];
  });
}

/**
 * The earlier epoch secrets a commit passes on (empty if it carries none).
 *
 * `confirms` are the confirmation tags of earlier commits, from the verified log
 * (`RoomLog.confirms`): every secret passed on must match its epoch's tag, so a
 * committer cannot hand a newcomer a false history unnoticed.
 *
 * Throws `LogError` (`log.bad_commit`) if the history does not open or a secret does
 * not match its epoch's confirmation tag.
 */
export function openHistory(
  commit: Commit,
  args: { readonly room: RoomId; readonly epochSecret: Uint8Array; readonly confirms: ReadonlyMap<number, Uint8Array> },
): Map<number, Uint8Array> {
  const history = commit.history;
  if (history == null) return new Map();
  const nonce = history.subarray(0, AEAD_NONCE_BYTES);
  const body = history.subarray(AEAD_NONCE_BYTES);
  let plain: Uint8Array;
  try {
    plain = aeadDecrypt(historyKey(args.epochSecret), nonce, body, historyAd(args.room, commit.epoch));
  } catch (exc) {
    if (exc instanceof CryptoError) throw new LogError("the shared history does not open", "log.bad_commit");
    throw exc;
  }
  let entries: [number | bigint, Uint8Array][];
  try {
    entries = decodeHistory(plain);
  } catch {
    // Authentic but not [[epoch, secret], ...]: only its committer could have written it.
    throw new LogError("the shared history does not decode", "log.bad_commit");
  }
  const out = new Map<number, Uint8Array>();
  for (const [epoch, secret] of entries) {
    const e = typeof epoch === "bigint" ? null : epoch;
    const expected = e === null ? undefined : args.confirms.get(e);
    if (e === null || e >= commit.epoch || expected === undefined || !equalBytes(confirmTag(secret), expected)) {
      throw new LogError(`the shared secret of epoch ${String(epoch)} does not match its commit`, "log.bad_commit");
    }
    out.set(e, secret);
  }
  return out;
}
