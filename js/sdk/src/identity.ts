/**
 * A person's identity: one root seed, shown as a recovery phrase, kept encrypted at
 * rest (mirrors `client_sdk/identity.py` and `client_sdk/_keystore.py`).
 *
 * Everything else derives from the root: the pseudonymous key pairs of every room
 * and the key of the local store. An `Identity` never shows its secret when
 * printed or serialised, and compares in constant time.
 *
 * The keystore is the Python SDK's file, byte for byte in layout, so it moves
 * between the SDKs: JSON with the format name and version, the Argon2id parameters
 * and salt it was written with, and `secretbox(key, root)` (protocol.md 4.5),
 * bytes as padded standard base64 as msgspec writes them. Loading takes the
 * parameters from the file (defaults may rise later) but refuses values outside
 * sane bounds, so a crafted file cannot make us allocate gigabytes. `save` and
 * `load` return the bytes and take them: where they live is the caller's (a file
 * under Node: `@hearth/sdk/node`'s `saveIdentityFile`; IndexedDB or app storage in
 * a browser or on a phone).
 */

import { ascii, compareStrings, equalBytes, fromBase64, fromUtf8, toBase64, utf8 } from "./bytes.js";
import {
  type BoxPrivateKey,
  cryptoReady,
  KEY_BYTES,
  kdf,
  PASSPHRASE_LIMITS,
  PASSPHRASE_MIN_LIMITS,
  PASSPHRASE_SALT_BYTES,
  passphraseKey,
  PERSON_LOCAL_STORE,
  randomBytes,
  type Rng,
  secretboxDecrypt,
  secretboxEncrypt,
} from "./crypto.js";
import { KeystoreError } from "./sdkErrors.js";
import type { RoomId } from "./ids.js";
import { type GenesisKey, type RoomKeys, RootSeed } from "./keys.js";
import { type LinkCode, openLink, PersonalKeys, sealLink } from "./personal.js";
import type { LinkRoom } from "./wire/schema.gen.js";

// The one KeystoreError class of the SDK (`sdkErrors.ts`), re-exported so that
// `instanceof` holds whichever module an app imports it from.
export { KeystoreError };

/** Argon2id presets by name, libsodium's own. */
export type Strength = "interactive" | "moderate" | "sensitive";

/** Argon2id (opslimit, memlimit) of each preset. */
export const STRENGTHS: Readonly<Record<Strength, readonly [number, number]>> = PASSPHRASE_LIMITS;

const FORMAT = "hearth-keystore";
const VERSION = 1;
const [MIN_OPS, MIN_MEM] = PASSPHRASE_MIN_LIMITS;
const MAX_OPS = 16;
const MAX_MEM = PASSPHRASE_LIMITS.sensitive[1];

/** The keystore file's fields, in the order msgspec writes them. */
interface KeystoreFile {
  format: string;
  version: number;
  kdf: "argon2id";
  opslimit: number;
  memlimit: number;
  salt: Uint8Array;
  box: Uint8Array;
}

function notAKeystore(): KeystoreError {
  return new KeystoreError("not a Hearth keystore file", "keystore.corrupt");
}

/** Decode as strictly as msgspec decodes `_KeystoreFile`: every field, of its type. */
function parseKeystore(data: Uint8Array | string): KeystoreFile {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : fromUtf8(data));
  } catch {
    throw notAKeystore();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw notAKeystore();
  const r = value as Record<string, unknown>;
  const int = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
  const bytes = (v: unknown): Uint8Array => {
    if (typeof v !== "string") throw notAKeystore();
    try {
      return fromBase64(v);
    } catch {
      throw notAKeystore();
    }
  };
  if (typeof r.format !== "string" || !int(r.version) || r.kdf !== "argon2id" || !int(r.opslimit) || !int(r.memlimit)) {
    throw notAKeystore();
  }
  return {
    format: r.format,
    version: r.version,
    kdf: r.kdf,
    opslimit: r.opslimit,
    memlimit: r.memlimit,
    salt: bytes(r.salt),
    box: bytes(r.box),
  };
}

/** One person's root secret and everything derived from it. */
export class Identity {
  readonly #root: RootSeed;

  /** Wrap an existing root seed (prefer the named constructors). */
  constructor(root: RootSeed) {
    this.#root = root;
  }

  /** A fresh identity from the platform's CSPRNG. */
  static generate(rng: Rng = randomBytes): Identity {
    return new Identity(RootSeed.generate(rng));
  }

  /**
   * Restore an identity from its recovery phrase; case, spaces and hyphens are ignored.
   * Throws `PhraseError`: `phrase.length`, `phrase.character`, `phrase.checksum`.
   */
  static fromRecoveryPhrase(phrase: string): Identity {
    return new Identity(RootSeed.fromPhrase(phrase));
  }

  /**
   * The phrase that restores this identity: 14 groups of 4 characters.
   * Whoever holds it holds every room key of this person; show it once, to them.
   */
  get recoveryPhrase(): string {
    return this.#root.phrase;
  }

  /**
   * The keystore: the root seed encrypted under `passphrase`, as the bytes of the
   * Python SDK's keystore file. Argon2id derives the key (`strength` picks
   * libsodium's preset; "moderate", the default, costs about a second and 256 MiB
   * here), a secret box encrypts the seed.
   *
   * Throws `KeystoreError` (`keystore.passphrase`) for an empty passphrase.
   */
  async save(passphrase: string, strength: Strength = "moderate"): Promise<Uint8Array> {
    if (passphrase === "") throw new KeystoreError("a keystore needs a non-empty passphrase", "keystore.passphrase");
    const limits = STRENGTHS[strength];
    if (limits === undefined) throw new RangeError(`no keystore strength is called ${String(strength)}`);
    await cryptoReady();
    const [opslimit, memlimit] = limits;
    const salt = randomBytes(PASSPHRASE_SALT_BYTES);
    const key = passphraseKey(passphrase, salt, opslimit, memlimit);
    const record = {
      format: FORMAT,
      version: VERSION,
      kdf: "argon2id",
      opslimit,
      memlimit,
      salt: toBase64(salt),
      box: toBase64(secretboxEncrypt(key, this.#root.secret)),
    };
    return utf8(JSON.stringify(record));
  }

  /**
   * Read an identity from keystore bytes written by `save` (or by the Python SDK).
   *
   * Throws `KeystoreError`: `keystore.wrong_passphrase`, `keystore.corrupt`,
   * `keystore.version`.
   */
  static async load(data: Uint8Array | string, passphrase: string): Promise<Identity> {
    const record = parseKeystore(data);
    if (record.format !== FORMAT) throw notAKeystore();
    if (record.version !== VERSION) {
      throw new KeystoreError(`keystore version ${record.version} is newer than this SDK`, "keystore.version");
    }
    if (
      record.salt.length !== PASSPHRASE_SALT_BYTES ||
      record.opslimit < MIN_OPS ||
      record.opslimit > MAX_OPS ||
      record.memlimit < MIN_MEM ||
      record.memlimit > MAX_MEM
    ) {
      throw new KeystoreError("keystore parameters out of bounds", "keystore.corrupt");
    }
    await cryptoReady();
    const key = passphraseKey(passphrase, record.salt, record.opslimit, record.memlimit);
    let secret: Uint8Array;
    try {
      secret = secretboxDecrypt(key, record.box);
    } catch {
      throw new KeystoreError("wrong passphrase, or the keystore was altered", "keystore.wrong_passphrase");
    }
    if (secret.length !== KEY_BYTES) throw new KeystoreError("keystore holds no root seed", "keystore.corrupt");
    return new Identity(new RootSeed(secret));
  }

  /** This person's pseudonymous key pairs in `room` (after `await cryptoReady()`). */
  roomKeys(room: RoomId): RoomKeys {
    return this.#root.roomKeys(room);
  }

  /** The genesis key of a new room (its id is the hash of this key). */
  newRoom(rng: Rng = randomBytes): GenesisKey {
    return this.#root.newRoom(rng);
  }

  /** The keys of this person's personal store (`PERSON_PERSONAL_*`). */
  personalKeys(): PersonalKeys {
    return PersonalKeys.derive(this.#root.secret);
  }

  /**
   * The root box for the device that answered `code` with `answerKey`: this root and
   * `rooms` (with the heads this device verified), sealed for that device alone and
   * padded (`personal.sealLink`), stamped `now` (ms; default: now).
   */
  sealLink(
    code: LinkCode,
    rooms: Iterable<LinkRoom>,
    options: { readonly hello: BoxPrivateKey; readonly answerKey: Uint8Array; readonly now?: number; readonly rng?: Rng },
  ): Uint8Array {
    const heads = [...rooms].sort((a, b) => compareStrings(a.room, b.room));
    const payload = { type: "link.root" as const, root: this.#root.secret, heads, made_at: options.now ?? Date.now() };
    return sealLink(code, payload, { hello: options.hello, answerKey: options.answerKey, ...(options.rng ? { rng: options.rng } : {}) });
  }

  /**
   * The identity and room list (with their verified heads) inside a root box.
   * Throws `LinkError`: `link.bad_box` if it does not open for `answer`,
   * `link.refused` if the other device refused.
   */
  static openLink(
    code: LinkCode,
    box: Uint8Array,
    options: { readonly answer: BoxPrivateKey; readonly helloKey: Uint8Array },
  ): { identity: Identity; rooms: LinkRoom[] } {
    const payload = openLink(code, box, options);
    return { identity: new Identity(new RootSeed(payload.root)), rooms: [...(payload.heads ?? [])] };
  }

  /** The key that encrypts this identity's local store (`PERSON_LOCAL_STORE`). */
  storeKey(): Uint8Array {
    return kdf(this.#root.secret, ascii("store"), PERSON_LOCAL_STORE);
  }

  /** Same root, compared in constant time. */
  equals(other: Identity): boolean {
    return other instanceof Identity && equalBytes(this.#root.secret, other.#root.secret);
  }

  toString(): string {
    return "Identity(<secret>)";
  }

  toJSON(): string {
    return "Identity(<secret>)";
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "Identity(<secret>)";
  }
}
