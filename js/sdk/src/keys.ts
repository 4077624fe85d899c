/**
 * Identity keys (mirrors `protocol/keys.py`): one root seed, a pseudonymous key pair
 * per room, genesis keys, safety numbers and room fingerprints.
 *
 * A person holds a 32-byte root seed, written down as a recovery phrase: the seed
 * and a 3-byte checksum in Crockford base32, 56 characters in 14 groups of 4. From
 * the root and a room id, keyed BLAKE2b derives the member's Ed25519 signing seed
 * and X25519 secret for that room. Nothing links two rooms' keys without the root.
 */

import * as base32 from "./base32.js";
import { ascii, compareBytes, compareStrings, concat, equalBytes, u64be } from "./bytes.js";
import {
  BoxPrivateKey,
  blake2b,
  CTX_BINDING,
  CTX_GENESIS,
  HASH_BYTES,
  KEY_BYTES,
  kdf,
  PERSON_GENESIS,
  PERSON_PHRASE,
  PERSON_ROOM_BOX,
  PERSON_ROOM_FP,
  PERSON_ROOM_SIGN,
  PERSON_SAFETY,
  randomBytes,
  type Rng,
  sign,
  SigningKey,
} from "./crypto.js";
import { PhraseError } from "./errors.js";
import { GENESIS_NONCE_BYTES, type MemberId, memberIdFromKey, type RoomId, roomIdFromGenesis } from "./ids.js";
import { canonical } from "./wire/codec.js";
import type { Genesis } from "./wire/schema.gen.js";

const CHECKSUM_BYTES = 3;
const PHRASE_CHARS = 56; // (32 + 3) bytes * 8 / 5 bits

function checksum(seed: Uint8Array): Uint8Array {
  return blake2b(seed, PERSON_PHRASE).subarray(0, CHECKSUM_BYTES);
}

/** A person's root secret. `toString` and `toJSON` never show it. */
export class RootSeed {
  readonly #secret: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.length !== KEY_BYTES) throw new RangeError("a root seed is 32 bytes");
    this.#secret = Uint8Array.from(secret);
  }

  /** The 32 secret bytes. Handle with care: whoever holds them is this person. */
  get secret(): Uint8Array {
    return this.#secret;
  }

  toString(): string {
    return "RootSeed(<secret>)";
  }

  toJSON(): string {
    return "RootSeed(<secret>)";
  }

  /** A fresh random root. */
  static generate(rng: Rng = randomBytes): RootSeed {
    return new RootSeed(rng(KEY_BYTES));
  }

  /**
   * Parse a recovery phrase; case, spaces and hyphens are ignored.
   * Throws `PhraseError`: `phrase.length`, `phrase.character` or `phrase.checksum`.
   */
  static fromPhrase(phrase: string): RootSeed {
    if (/[^\x00-\x7f]/.test(phrase)) throw new PhraseError("a recovery phrase is plain ASCII", "phrase.character");
    const chars = base32.normalize(phrase);
    if (chars.length !== PHRASE_CHARS) {
      throw new PhraseError(`a recovery phrase has ${PHRASE_CHARS} characters, this one ${chars.length}`, "phrase.length");
    }
    let data: Uint8Array;
    try {
      data = base32.decode(chars, KEY_BYTES + CHECKSUM_BYTES);
    } catch (exc) {
      if (exc instanceof base32.BadCharacter) {
        throw new PhraseError(`${JSON.stringify(exc.char)} is not in the phrase alphabet`, "phrase.character");
      }
      throw exc;
    }
    const seed = data.subarray(0, KEY_BYTES);
    if (!equalBytes(checksum(seed), data.subarray(KEY_BYTES))) {
      throw new PhraseError("the phrase has a typo: its checksum fails", "phrase.checksum");
    }
    return new RootSeed(seed);
  }

  /** The recovery phrase: 14 groups of 4 characters joined by hyphens. */
  get phrase(): string {
    const text = base32.encode(concat(this.#secret, checksum(this.#secret)));
    const groups: string[] = [];
    for (let i = 0; i < text.length; i += 4) groups.push(text.slice(i, i + 4));
    return groups.join("-");
  }

  /** This person's pseudonymous keys in `room`. */
  roomKeys(room: RoomId): RoomKeys {
    return RoomKeys.derive(this.#secret, room);
  }

  /** The genesis key of a new room, from a fresh random nonce. */
  newRoom(rng: Rng = randomBytes): GenesisKey {
    return this.genesis(rng(GENESIS_NONCE_BYTES));
  }

  /** The genesis key this root derives for `nonce` (16 bytes). */
  genesis(nonce: Uint8Array): GenesisKey {
    if (nonce.length !== GENESIS_NONCE_BYTES) throw new RangeError("a genesis nonce is 16 bytes");
    return new GenesisKey(nonce, new SigningKey(kdf(this.#secret, nonce, PERSON_GENESIS)));
  }
}

/** The one-off key whose hash is a new room's id; it names the room's first owner. */
export class GenesisKey {
  readonly room: RoomId;

  constructor(
    readonly nonce: Uint8Array,
    readonly signing: SigningKey,
  ) {
    this.room = roomIdFromGenesis(signing.publicKey, nonce);
  }

  /** The `genesis` field of the `room.create` that makes `creator` the owner. */
  prove(creator: MemberId): Genesis {
    const statement = canonical("GenesisStatement", { room: this.room, creator });
    return { key: this.signing.publicKey, nonce: this.nonce, sig: sign(this.signing, CTX_GENESIS, statement) };
  }
}

/** A member's key pairs in one room, derived from the root and the room id. */
export class RoomKeys {
  readonly member: MemberId;
  readonly boxPublic: Uint8Array;

  constructor(
    readonly room: RoomId,
    readonly signing: SigningKey,
    readonly box: BoxPrivateKey,
  ) {
    this.member = memberIdFromKey(signing.publicKey);
    this.boxPublic = box.publicKey;
  }

  toString(): string {
    return `RoomKeys(room=${this.room}, member=${this.member})`;
  }

  /** Keyed BLAKE2b of the room id under the root, one personalisation per key. */
  static derive(root: Uint8Array, room: RoomId): RoomKeys {
    const data = ascii(room);
    return new RoomKeys(
      room,
      new SigningKey(kdf(root, data, PERSON_ROOM_SIGN)),
      new BoxPrivateKey(kdf(root, data, PERSON_ROOM_BOX)),
    );
  }

  /** Sign `context || payload` with this member's key. */
  sign(context: Uint8Array, payload: Uint8Array): Uint8Array {
    return sign(this.signing, context, payload);
  }

  /** This member's signature binding its X25519 key to its id in this room. */
  binding(): Uint8Array {
    return this.sign(CTX_BINDING, canonical("Binding", { room: this.room, member: this.member, box_key: this.boxPublic }));
  }
}

function digits(digest: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 60; i += 5) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + digest[i + j]!;
    groups.push(String(n % 100_000).padStart(5, "0"));
  }
  return groups.join(" ");
}

/**
 * A 60-digit code two members compare to check each other's keys in `room`.
 * `a` and `b` are (member id, X25519 public key); the order does not matter.
 */
export function safetyNumber(room: RoomId, a: readonly [MemberId, Uint8Array], b: readonly [MemberId, Uint8Array]): string {
  const order = compareStrings(a[0], b[0]) || compareBytes(a[1], b[1]);
  const [first, second] = order <= 0 ? [a, b] : [b, a];
  const data = concat(ascii(room), ascii(first[0]), first[1], ascii(second[0]), second[1]);
  return digits(blake2b(data, PERSON_SAFETY, 60));
}

/**
 * A 60-digit code two members compare to check they hold the same log of `room` up
 * to `index`, whose operation hash is `head`.
 */
export function roomFingerprint(room: RoomId, index: number, head: Uint8Array): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError("a log index is a non-negative integer");
  if (head.length !== HASH_BYTES) throw new RangeError("a log head is a 32-byte hash");
  return digits(blake2b(concat(ascii(room), u64be(index), head), PERSON_ROOM_FP, 60));
}
