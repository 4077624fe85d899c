/**
 * A person's devices (mirrors `protocol/personal.py`, protocol.md 15): link codes, and
 * the encrypted personal store they share.
 *
 * Linking. An existing device draws a 22-byte secret S and shows it as a *link code*:
 * `HL2-` then S and a 3-byte checksum in Crockford base32 (40 characters in groups of
 * 4). From S, keyed BLAKE2b derives three *rendezvous ids* under which the relay files
 * one sealed box each, claimed once, and the key that seals the first two. The relay
 * sees the ids and the ciphertexts, never S or a key. The existing device files a
 * *hello* (its ephemeral X25519 key); the new device claims it and files an *answer*
 * (its own); both show a six-digit *short code* from S and the two keys; only when the
 * person confirms that both screens agree does the existing device file the *root
 * box*, sealed under a key from S and the two keys' Diffie-Hellman, which only the
 * device that made the answer can open.
 *
 * Personal store. From the root seed come an Ed25519 key that authenticates to the
 * relay as the store's *owner* (nothing links it to a room key without the root), the
 * key that encrypts documents, and the key that turns a document's name into the
 * opaque id the relay sees. Documents are padded to a power of two and sealed with the
 * owner, the id and the version as associated data, so the relay can neither move a
 * document nor serve an old one under a newer version. `merge` is three-way against
 * the last version both sides shared; under the `keep` rule no edit is ever lost.
 */

import * as base32 from "./base32.js";
import { ascii, b64url, compareBytes, compareStrings, concat, equalBytes, hex, u64be, utf8 } from "./bytes.js";
import {
  AD_LINK,
  AD_PERSONAL,
  AEAD_NONCE_BYTES,
  aeadDecrypt,
  aeadEncrypt,
  blake2b,
  BoxPrivateKey,
  boxShared,
  kdf,
  PERSON_LINK_ID,
  PERSON_LINK_KEY,
  PERSON_LINK_SAS,
  PERSON_LINK_SUM,
  PERSON_PERSONAL_DATA,
  PERSON_PERSONAL_NAME,
  PERSON_PERSONAL_SIGN,
  randomBytes,
  type Rng,
  sign,
  SigningKey,
} from "./crypto.js";
import { CryptoError, DecodeError, EnvelopeError, ForkDetected, LinkError } from "./errors.js";
import { type MemberId, memberIdFromKey } from "./ids.js";
import { pad, unpad } from "./padding.js";
import { canonical, decodeMsgpack } from "./wire/codec.js";
import type { Document, Entry, LinkAnswer, LinkHello, LinkPayload, LinkRefusal, Tag, VerifiedHead } from "./wire/schema.gen.js";

export type { Document, Entry, LinkAnswer, LinkHello, LinkPayload, LinkRefusal, LinkRoom, VerifiedHead } from "./wire/schema.gen.js";

/**
 * Version prefix of a link code (Hearth link, format 2). Format 1 (`HL1`) offers
 * carried bare room ids, unpadded; a code of another format is refused
 * (`link.version`), never read as this one.
 */
export const LINK_PREFIX = "HL2";
/**
 * A link offer's plaintext is padded to at least this many bytes, so its size tells
 * nothing of the room count below ~90 rooms.
 */
export const LINK_PAD_FLOOR = 8192;
export const DOC_ID_BYTES = 16;

const LINK_SECRET = 22; // 176 bits
const LINK_SUM = 3;
const LINK_CHARS = ((LINK_SECRET + LINK_SUM) * 8) / 5; // 40
const MIN_DOC = 256;
const SHORT_CODE_DIGITS = 6;

// -- link codes ---------------------------------------------------------------

/** The one-time secret an existing device shows to link a new one. Never printed. */
export class LinkCode {
  readonly #secret: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.length !== LINK_SECRET) throw new RangeError(`a link secret is ${LINK_SECRET} bytes`);
    this.#secret = Uint8Array.from(secret);
  }

  /** The 22 secret bytes. */
  get secret(): Uint8Array {
    return this.#secret;
  }

  toString(): string {
    return "LinkCode(<secret>)";
  }

  toJSON(): string {
    return "LinkCode(<secret>)";
  }

  /** A fresh code (176 random bits). */
  static generate(rng: Rng = randomBytes): LinkCode {
    return new LinkCode(rng(LINK_SECRET));
  }

  static #checksum(secret: Uint8Array): Uint8Array {
    return blake2b(secret, PERSON_LINK_SUM).slice(0, LINK_SUM);
  }

  /** `HL2-` and 10 groups of 4 characters: what the QR code or the screen shows. */
  get text(): string {
    const body = base32.encode(concat(this.#secret, LinkCode.#checksum(this.#secret)));
    const groups = [LINK_PREFIX];
    for (let i = 0; i < body.length; i += 4) groups.push(body.slice(i, i + 4));
    return groups.join("-");
  }

  /**
   * Read a code as typed or scanned: case, spaces and hyphens are ignored.
   * Throws `LinkError`: `link.bad_code` (length, character or checksum) or
   * `link.version` (a code of another format, named in the message).
   */
  static parse(text: string): LinkCode {
    if (typeof text !== "string" || !/^[\x00-\x7f]*$/.test(text)) throw new LinkError("a link code is plain ASCII", "link.bad_code");
    let chars = base32.normalize(text);
    if (chars.slice(0, 2) === "HL" && /^[0-9]$/.test(chars.slice(2, 3)) && !chars.startsWith(LINK_PREFIX)) {
      throw new LinkError(
        `this is a link code of format ${chars[2]}; this SDK reads format ${LINK_PREFIX.slice(2)} only: update the other device`,
        "link.version",
      );
    }
    if (!chars.startsWith(LINK_PREFIX)) throw new LinkError(`a link code starts with ${LINK_PREFIX}-`, "link.bad_code");
    chars = chars.slice(LINK_PREFIX.length);
    if (chars.length !== LINK_CHARS) {
      throw new LinkError(`a link code has ${LINK_CHARS} characters after ${LINK_PREFIX}-, this one ${chars.length}`, "link.bad_code");
    }
    let data: Uint8Array;
    try {
      data = base32.decode(chars, LINK_SECRET + LINK_SUM);
    } catch (exc) {
      if (exc instanceof base32.BadCharacter) throw new LinkError(`${JSON.stringify(exc.char)} is not in the code's alphabet`, "link.bad_code");
      throw exc;
    }
    const secret = data.subarray(0, LINK_SECRET);
    if (!equalBytes(LinkCode.#checksum(secret), data.subarray(LINK_SECRET))) {
      throw new LinkError("the link code has a typo: its checksum fails", "link.bad_code");
    }
    return new LinkCode(secret);
  }

  /** Where the relay files the hello: 16 bytes, base64url (22 characters). */
  get rendezvous(): string {
    return this.#id("id");
  }

  /** Where the relay files the new device's answer. */
  get answerRendezvous(): string {
    return this.#id("answer");
  }

  /** Where the relay files the root box (or the refusal). */
  get rootRendezvous(): string {
    return this.#id("root");
  }

  #id(label: string): string {
    return b64url(kdf(this.#secret, ascii(label), PERSON_LINK_ID, 16));
  }

  /** The key that seals the hello and the answer. */
  key(): Uint8Array {
    return kdf(this.#secret, ascii("key"), PERSON_LINK_KEY);
  }
}

function seal(key: Uint8Array, linkId: string, data: Uint8Array, floor: number, rng: Rng): Uint8Array {
  const nonce = rng(AEAD_NONCE_BYTES);
  return concat(nonce, aeadEncrypt(key, nonce, pad(data, floor), concat(AD_LINK, utf8(linkId))));
}

const LINK_VALUES: Readonly<Record<string, string>> = {
  "link.hello": "LinkHello",
  "link.answer": "LinkAnswer",
  "link.root": "LinkPayload",
  "link.refused": "LinkRefusal",
};

/** Decode one of the tagged link values `kinds` (struct names), as a msgspec union would. */
function decodeTagged<T>(data: Uint8Array, kinds: readonly string[]): T {
  if (kinds.length === 1) return decodeMsgpack<T>(kinds[0]!, data);
  const tag = decodeMsgpack<Tag>("Tag", data).type;
  const name = Object.hasOwn(LINK_VALUES, tag) ? LINK_VALUES[tag] : undefined;
  if (name === undefined || !kinds.includes(name)) throw new DecodeError(`Invalid value '${tag}' - at \`$.type\``);
  return decodeMsgpack<T>(name, data);
}

function open<T>(key: Uint8Array, linkId: string, box: Uint8Array, kinds: readonly string[]): T {
  const nonce = box.subarray(0, AEAD_NONCE_BYTES);
  const body = box.subarray(AEAD_NONCE_BYTES);
  try {
    const plain = aeadDecrypt(key, nonce, body, concat(AD_LINK, utf8(linkId)));
    return decodeTagged<T>(unpad(plain), kinds);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof DecodeError || exc instanceof EnvelopeError) {
      throw new LinkError("the link box does not open under this code", "link.bad_box");
    }
    throw exc;
  }
}

/** `nonce || XChaCha20-Poly1305(code.key(), pad(canonical(hello)), AD_LINK || id)`. */
export function sealHello(code: LinkCode, hello: LinkHello, rng: Rng = randomBytes): Uint8Array {
  return seal(code.key(), code.rendezvous, canonical("LinkHello", hello), 256, rng);
}

/** Open a hello. Throws `LinkError` (`link.bad_box`). */
export function openHello(code: LinkCode, box: Uint8Array): LinkHello {
  return open<LinkHello>(code.key(), code.rendezvous, box, ["LinkHello"]);
}

/** As `sealHello`, at the answer id. */
export function sealAnswer(code: LinkCode, answer: LinkAnswer, rng: Rng = randomBytes): Uint8Array {
  return seal(code.key(), code.answerRendezvous, canonical("LinkAnswer", answer), 256, rng);
}

/** Open an answer. Throws `LinkError` (`link.bad_box`). */
export function openAnswer(code: LinkCode, box: Uint8Array): LinkAnswer {
  return open<LinkAnswer>(code.key(), code.answerRendezvous, box, ["LinkAnswer"]);
}

/**
 * The six digits both screens show: `BLAKE2b("sas" || hello || answer; key=S)` as a
 * big-endian number modulo 10^6, written `123 456`. The existing device confirms only
 * if the new device's screen shows the same digits.
 */
export function shortCode(code: LinkCode, helloKey: Uint8Array, answerKey: Uint8Array): string {
  const digest = kdf(code.secret, concat(ascii("sas"), helloKey, answerKey), PERSON_LINK_SAS, 8);
  let n = 0n;
  for (const b of digest) n = (n << 8n) | BigInt(b);
  const text = String(n % 10n ** BigInt(SHORT_CODE_DIGITS)).padStart(SHORT_CODE_DIGITS, "0");
  return `${text.slice(0, 3)} ${text.slice(3)}`;
}

function rootKey(code: LinkCode, shared: Uint8Array, helloKey: Uint8Array, answerKey: Uint8Array): Uint8Array {
  return kdf(code.secret, concat(ascii("root"), shared, helloKey, answerKey), PERSON_LINK_KEY);
}

/**
 * The root box: `payload` sealed for the device that made `answerKey`.
 *
 * The key is `BLAKE2b("root" || X25519(hello, answer) || hello pub || answer pub;
 * key=S, person=hearth-link-key)`: only the holder of the answer's private key (and
 * of S) opens it, and only the holder of the hello's private key made it. The
 * plaintext is padded to at least `LINK_PAD_FLOOR` bytes. Throws `CryptoError`
 * (`crypto.bad_key`) if `answerKey` is not a usable key.
 */
export function sealLink(
  code: LinkCode,
  payload: LinkPayload | LinkRefusal,
  options: { hello: BoxPrivateKey; answerKey: Uint8Array; rng?: Rng },
): Uint8Array {
  const helloKey = options.hello.publicKey;
  const key = rootKey(code, boxShared(options.hello, options.answerKey), helloKey, options.answerKey);
  const name = payload.type === "link.root" ? "LinkPayload" : "LinkRefusal";
  return seal(key, code.rootRendezvous, canonical(name, payload), LINK_PAD_FLOOR, options.rng ?? randomBytes);
}

/**
 * Open the root box sealed by `sealLink` for `answer`.
 * Throws `LinkError`: `link.bad_box` if it does not authenticate or decode,
 * `link.refused` if the person refused this answer.
 */
export function openLink(code: LinkCode, box: Uint8Array, options: { answer: BoxPrivateKey; helloKey: Uint8Array }): LinkPayload {
  const answerKey = options.answer.publicKey;
  let shared: Uint8Array;
  try {
    shared = boxShared(options.answer, options.helloKey);
  } catch (exc) {
    if (exc instanceof CryptoError) throw new LinkError("the hello's key is not usable", "link.bad_box");
    throw exc;
  }
  const key = rootKey(code, shared, options.helloKey, answerKey);
  const got = open<LinkPayload | LinkRefusal>(key, code.rootRendezvous, box, ["LinkPayload", "LinkRefusal"]);
  if (got.type === "link.refused") throw new LinkError("the other device refused: its short code did not match", "link.refused");
  return got;
}

/** What `checkVerifiedHead` reads of a verified room log (the room log satisfies it). */
export interface VerifiedLogView {
  /** Index of the newest operation, -1 for an empty log. */
  readonly index: number;
  /** `op_hash` of the operation at `index`. */
  hashAt(index: number): Uint8Array;
}

/**
 * Require `log` (verified) to hold the operation `verified` names, at its index.
 * Throws `ForkDetected`: `log.behind_verified_head` if the log ends before that index
 * (the relay serves a prefix), `log.fork` if another operation stands at that index.
 */
export function checkVerifiedHead(log: VerifiedLogView, verified: VerifiedHead): void {
  if (log.index < verified.index) {
    throw new ForkDetected(
      `the relay serves the log up to index ${log.index}, but this person had verified it up to index ${verified.index}`,
      "log.behind_verified_head",
    );
  }
  if (!equalBytes(log.hashAt(verified.index), verified.head)) {
    throw new ForkDetected(`the operation at index ${verified.index} is not the one this person verified`, "log.fork");
  }
}

// -- the personal store's keys -------------------------------------------------

/** The personal store's keys, derived from the root seed. */
export class PersonalKeys {
  readonly member: MemberId;

  constructor(
    readonly signing: SigningKey,
    readonly dataKey: Uint8Array,
    readonly nameKey: Uint8Array,
  ) {
    this.member = memberIdFromKey(signing.publicKey);
  }

  toString(): string {
    return `PersonalKeys(member=${this.member})`;
  }

  /** Keyed BLAKE2b under the root (32 bytes), one personalisation per key. */
  static derive(root: Uint8Array): PersonalKeys {
    return new PersonalKeys(
      new SigningKey(kdf(root, ascii("owner"), PERSON_PERSONAL_SIGN)),
      kdf(root, ascii("data"), PERSON_PERSONAL_DATA),
      kdf(root, ascii("name"), PERSON_PERSONAL_NAME),
    );
  }

  /** Sign `context || payload` (the relay's auth challenge). */
  sign(context: Uint8Array, payload: Uint8Array): Uint8Array {
    return sign(this.signing, context, payload);
  }

  /** The opaque id of a document name: 16 bytes of keyed BLAKE2b, base64url. */
  documentId(name: string): string {
    return b64url(kdf(this.nameKey, utf8(name), PERSON_PERSONAL_NAME, DOC_ID_BYTES));
  }
}

// -- documents ----------------------------------------------------------------

/** `lww`: the later of two concurrent changes wins; `keep`: no edit is lost. */
export type MergeRule = "lww" | "keep";

function sameValue(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null ? a === b : equalBytes(a, b);
}

function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return sameValue(a.value, b.value) && a.at === b.at && equalBytes(a.device, b.device);
}

function later(a: Entry, b: Entry): [Entry, Entry] {
  const order = a.at !== b.at ? (a.at > b.at ? 1 : -1) : compareBytes(a.device, b.device);
  return order >= 0 ? [a, b] : [b, a];
}

function entriesOf(d: Document): Record<string, Entry> {
  return d.entries ?? {};
}

function get(entries: Record<string, Entry>, key: string): Entry | undefined {
  return Object.hasOwn(entries, key) ? entries[key] : undefined;
}

/**
 * Three-way merge of `local` and `remote`, which both started from `base`.
 *
 * For each key: the same on both sides, or present on one side only: taken; changed
 * on one side only (the other still equals `base`): that side's; changed on both: the
 * later by (`at`, `device`). Under `keep`, an edit beats a concurrent removal, and of
 * two concurrent edits the earlier is kept as well, under `<key>~<device hex>~<at>`.
 * Entries come out in Python's order: keys sorted by code point.
 */
export function merge(base: Document, local: Document, remote: Document, rule: MergeRule): Document {
  const mineAll = entriesOf(local);
  const theirsAll = entriesOf(remote);
  const baseAll = entriesOf(base);
  const keys = [...new Set([...Object.keys(mineAll), ...Object.keys(theirsAll)])].sort(compareStrings);
  const out: Record<string, Entry> = {};
  for (const key of keys) {
    const mine = get(mineAll, key);
    const theirs = get(theirsAll, key);
    if (mine === undefined || theirs === undefined || sameEntry(mine, theirs)) {
      if (!Object.hasOwn(out, key)) out[key] = (mine ?? theirs)!;
      continue;
    }
    const was = get(baseAll, key);
    if (sameEntry(mine, was)) {
      out[key] = theirs;
      continue;
    }
    if (sameEntry(theirs, was)) {
      out[key] = mine;
      continue;
    }
    let [winner, loser] = later(mine, theirs);
    if (rule === "keep" && loser.value !== null) {
      if (winner.value === null) {
        [winner, loser] = [loser, winner]; // an edit beats a concurrent removal
      } else if (!sameValue(winner.value, loser.value)) {
        const copy = `${key}~${hex(loser.device)}~${loser.at}`;
        if (!Object.hasOwn(mineAll, copy) && !Object.hasOwn(theirsAll, copy)) out[copy] = loser;
      }
    }
    out[key] = winner;
  }
  return { entries: out };
}

/** Pad to the next power of two (at least 256 bytes): `0x80` then zeros. */
export function padDocument(data: Uint8Array): Uint8Array {
  let size = MIN_DOC;
  while (size < data.length + 1) size *= 2;
  const out = new Uint8Array(size);
  out.set(data);
  out[data.length] = 0x80;
  return out;
}

/** Inverse of `padDocument`; throws `CryptoError` (`crypto.bad_padding`). */
export function unpadDocument(data: Uint8Array): Uint8Array {
  const n = data.length;
  if (n < MIN_DOC || (n & (n - 1)) !== 0) throw new CryptoError("a personal document's length is not a padded size", "crypto.bad_padding");
  let end = n;
  while (end > 0 && data[end - 1] === 0) end--;
  if (end === 0 || data[end - 1] !== 0x80) throw new CryptoError("a personal document's padding is damaged", "crypto.bad_padding");
  return data.slice(0, end - 1);
}

function docAd(owner: MemberId, docId: string, version: number): Uint8Array {
  return concat(AD_PERSONAL, utf8(`${owner}\x00${docId}\x00`), u64be(version));
}

/** Encrypt `document` as version `version` of `docId`. */
export function sealDocument(keys: PersonalKeys, docId: string, version: number, document: Document, rng: Rng = randomBytes): Uint8Array {
  const nonce = rng(AEAD_NONCE_BYTES);
  const plain = padDocument(canonical("Document", document));
  return concat(nonce, aeadEncrypt(keys.dataKey, nonce, plain, docAd(keys.member, docId, version)));
}

/**
 * Decrypt version `version` of `docId`. Throws `CryptoError`: `crypto.decrypt_failed`
 * (wrong key, another document or version, tampering) or `crypto.bad_padding`.
 */
export function openDocument(keys: PersonalKeys, docId: string, version: number, box: Uint8Array): Document {
  const nonce = box.subarray(0, AEAD_NONCE_BYTES);
  const body = box.subarray(AEAD_NONCE_BYTES);
  const plain = aeadDecrypt(keys.dataKey, nonce, body, docAd(keys.member, docId, version));
  try {
    return decodeMsgpack<Document>("Document", unpadDocument(plain));
  } catch (exc) {
    if (exc instanceof DecodeError) throw new CryptoError("a personal document does not decode", "crypto.decrypt_failed");
    throw exc;
  }
}
