/**
 * Every cryptographic primitive Hearth uses, and only here (mirrors `protocol/crypto.py`).
 *
 * libsodium's own JavaScript build (`libsodium-wrappers-sumo`, libsodium compiled to
 * WebAssembly) does the signatures, sealed boxes, AEAD, secret boxes, X25519 and
 * Argon2id, so acceptance rules are libsodium's exactly, as protocol.md 4.1 asks:
 * non-canonical `S` and small-order keys are refused by the same code the Python
 * SDK runs. BLAKE2b with a message *and* a personalisation is not exposed by
 * libsodium.js's wrapper (its `crypto_generichash_blake2b_salt_personal` hashes an
 * empty message, see protocol.md 4.1), so `blake2b` and `kdf` call the same C
 * function of libsodium's WebAssembly module directly, with the message in its heap:
 * about 20 times the speed of a JavaScript BLAKE2b, which decides how fast a room log
 * folds (every operation is hashed whole). Before libsodium has loaded they fall back
 * to `@noble/hashes`, audited; both are checked against each other and against every
 * derivation in the vectors.
 *
 * The calls a message or a log operation makes (Ed25519 sign and verify, the AEAD,
 * sealed boxes, X25519) go to the same C functions directly too, the way BLAKE2b
 * does: the wrapper's per-call work (argument checks, three allocations in the wasm
 * heap, a copy of each input in and of the output out, three frees) is replaced by
 * one reused scratch buffer, and `context || payload` is written into it in place
 * instead of being concatenated first. The C functions, and so what they accept and
 * refuse, are the very ones the wrapper calls; only the copying around them changes.
 * Secrets written into the scratch buffer are zeroed before the call returns. If the
 * module does not export a function (another libsodium.js build), the wrapper serves.
 * libsodium.js loads asynchronously: `await cryptoReady()` once before anything
 * else (the SDK's entry points do it for you). Everything here is synchronous after.
 */

import sodiumModule from "libsodium-wrappers-sumo";
import { blake2b as nobleBlake2b } from "@noble/hashes/blake2.js";

import { ascii, concat, equalBytes, u64be } from "./bytes.js";
import { CryptoError } from "./errors.js";

type Sodium = typeof sodiumModule;
let sodium: Sodium | null = null;
let loading: Promise<void> | null = null;

/** Load libsodium's WebAssembly; idempotent, and cheap after the first call. */
export function cryptoReady(): Promise<void> {
  if (sodium !== null) return Promise.resolve();
  loading ??= sodiumModule.ready.then(() => {
    sodium = sodiumModule;
  });
  return loading;
}

function na(): Sodium {
  if (sodium === null) throw new Error("await cryptoReady() before using Hearth's crypto");
  return sodium;
}

export const KEY_BYTES = 32;
export const HASH_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;
export const SEAL_OVERHEAD = 48;

// BLAKE2b personalisations (protocol.md 4.2).
export const PERSON_OP_HASH = ascii("hearth-op-hash");
export const PERSON_ROOM_SIGN = ascii("hearth-room-sig");
export const PERSON_ROOM_BOX = ascii("hearth-room-box");
export const PERSON_EPOCH = ascii("hearth-epoch");
export const PERSON_CONFIRM = ascii("hearth-confirm");
export const PERSON_HISTORY = ascii("hearth-history");
export const PERSON_MSG_KEY = ascii("hearth-msg-key");
export const PERSON_PHRASE = ascii("hearth-phrase");
export const PERSON_SAFETY = ascii("hearth-safety");
export const PERSON_ROOM_FP = ascii("hearth-room-fp");
export const PERSON_POW = ascii("hearth-pow");
export const PERSON_GENESIS = ascii("hearth-genesis");
export const PERSON_ROOM_ID = ascii("hearth-room-id");
export const PERSON_LOCAL_STORE = ascii("hearth-local");
export const PERSON_LOCAL_INDEX = ascii("hearth-local-idx");
export const PERSON_PUSH_DEVICE = ascii("hearth-push-dev");
export const PERSON_PUSH_SCOPE = ascii("hearth-sw-scope");
export const PERSON_ROOM_DEVICE = ascii("hearth-room-dev");
export const PERSON_LINK_ID = ascii("hearth-link-id");
export const PERSON_LINK_KEY = ascii("hearth-link-key");
export const PERSON_LINK_SUM = ascii("hearth-link-sum");
export const PERSON_LINK_SAS = ascii("hearth-link-sas");
export const PERSON_PERSONAL_SIGN = ascii("hearth-pers-sign");
export const PERSON_PERSONAL_DATA = ascii("hearth-pers-data");
export const PERSON_PERSONAL_NAME = ascii("hearth-pers-name");

// Signature contexts (protocol.md 4.3): the signed bytes are CTX || payload.
export const CTX_OP = ascii("hearth/v1/op\x00");
export const CTX_BINDING = ascii("hearth/v1/binding\x00");
export const CTX_INVITE = ascii("hearth/v1/invite\x00");
export const CTX_MSG = ascii("hearth/v1/msg\x00");
export const CTX_MSG_AD = ascii("hearth/v1/msg-ad\x00");
export const CTX_DELETE = ascii("hearth/v1/delete\x00");
export const CTX_ERASE = ascii("hearth/v1/erase\x00");
export const CTX_REPORT = ascii("hearth/v1/report\x00");
export const CTX_SUPPORT = ascii("hearth/v1/support\x00");
export const CTX_RISK_ALERT = ascii("hearth/v1/risk-alert\x00");
export const CTX_AUTH = ascii("hearth/v1/auth\x00");
export const CTX_INVITE_READ = ascii("hearth/v1/invite-read\x00");
export const CTX_GENESIS = ascii("hearth/v1/genesis\x00");
export const AD_LINK = ascii("hearth/v1/link\x00");
export const AD_PERSONAL = ascii("hearth/v1/personal\x00");

/** A source of random bytes; the default is the platform CSPRNG (WebCrypto). */
export type Rng = (n: number) => Uint8Array;

export const randomBytes: Rng = (n) => {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call.
  for (let o = 0; o < n; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
};

function person16(person: Uint8Array): Uint8Array {
  if (person.length > 16) throw new RangeError("a personalisation is at most 16 bytes");
  const p = new Uint8Array(16);
  p.set(person);
  return p;
}

const PERSON_CACHE = new Map<Uint8Array, Uint8Array>();
function padded(person: Uint8Array): Uint8Array {
  let p = PERSON_CACHE.get(person);
  if (p === undefined) {
    p = person16(person);
    if (PERSON_CACHE.size >= 256) PERSON_CACHE.clear(); // callers passing fresh arrays must not grow it
    PERSON_CACHE.set(person, p);
  }
  return p;
}

/**
 * The parts of libsodium's Emscripten module that are called directly. 64-bit lengths
 * are passed as two 32-bit halves (low, high): this build has no BigInt integration.
 * Every function returns 0 on success, -1 on failure.
 */
interface SodiumHeap {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  /** crypto_generichash_blake2b_salt_personal(out, outlen, in, inlen (lo, hi), key, keylen, salt, personal) */
  _crypto_generichash_blake2b_salt_personal(
    out: number,
    outlen: number,
    input: number,
    inlenLow: number,
    inlenHigh: number,
    key: number,
    keylen: number,
    salt: number,
    personal: number,
  ): number;
  /** crypto_sign_detached(sig, siglen_p, m, mlen (lo, hi), sk) */
  _crypto_sign_detached?(sig: number, siglenP: number, m: number, mlenLow: number, mlenHigh: number, sk: number): number;
  /** crypto_sign_verify_detached(sig, m, mlen (lo, hi), pk) */
  _crypto_sign_verify_detached?(sig: number, m: number, mlenLow: number, mlenHigh: number, pk: number): number;
  /** crypto_aead_xchacha20poly1305_ietf_encrypt(c, clen_p, m, mlen (lo, hi), ad, adlen (lo, hi), nsec, npub, k) */
  _crypto_aead_xchacha20poly1305_ietf_encrypt?(
    c: number,
    clenP: number,
    m: number,
    mlenLow: number,
    mlenHigh: number,
    ad: number,
    adlenLow: number,
    adlenHigh: number,
    nsec: number,
    npub: number,
    k: number,
  ): number;
  /** crypto_aead_xchacha20poly1305_ietf_decrypt(m, mlen_p, nsec, c, clen (lo, hi), ad, adlen (lo, hi), npub, k) */
  _crypto_aead_xchacha20poly1305_ietf_decrypt?(
    m: number,
    mlenP: number,
    nsec: number,
    c: number,
    clenLow: number,
    clenHigh: number,
    ad: number,
    adlenLow: number,
    adlenHigh: number,
    npub: number,
    k: number,
  ): number;
  /** crypto_box_seal(c, m, mlen (lo, hi), pk) */
  _crypto_box_seal?(c: number, m: number, mlenLow: number, mlenHigh: number, pk: number): number;
  /** crypto_box_seal_open(m, c, clen (lo, hi), pk, sk) */
  _crypto_box_seal_open?(m: number, c: number, clenLow: number, clenHigh: number, pk: number, sk: number): number;
  /** crypto_scalarmult(q, n, p) */
  _crypto_scalarmult?(q: number, n: number, p: number): number;
}

let heap: SodiumHeap | null | undefined; // undefined: not looked up yet; null: not available
let rawCalls = true;
let scratch = 0;
let scratchSize = 0;
/** A scratch buffer grown past this (a huge message) is freed after the call that needed it. */
const SCRATCH_KEEP = 1 << 20;

function sodiumHeap(): SodiumHeap | null {
  if (heap !== undefined) return heap;
  if (sodium === null) return null; // not loaded yet: the JavaScript BLAKE2b serves, and we look again later
  const raw = (sodium as unknown as { libsodium?: Partial<SodiumHeap> }).libsodium;
  heap =
    raw !== undefined &&
    typeof raw._malloc === "function" &&
    typeof raw._free === "function" &&
    typeof raw._crypto_generichash_blake2b_salt_personal === "function" &&
    raw.HEAPU8 instanceof Uint8Array
      ? (raw as SodiumHeap)
      : null;
  return heap;
}

/** The module, if calling `fn` on it directly is possible and allowed; null: use the wrapper. */
function direct<K extends keyof SodiumHeap>(fn: K): (SodiumHeap & Required<Pick<SodiumHeap, K>>) | null {
  const lib = rawCalls ? sodiumHeap() : null;
  return lib !== null && typeof lib[fn] === "function" ? (lib as SodiumHeap & Required<Pick<SodiumHeap, K>>) : null;
}

/**
 * @internal For the tests: route the calls that have a direct path through libsodium.js's
 * wrapper instead (`false`), or directly again (`true`), to compare the two.
 */
export function setDirectSodiumCalls(enabled: boolean): void {
  rawCalls = enabled;
}

/**
 * The address of the reused scratch buffer in libsodium's heap, at least `need` bytes.
 * Read `lib.HEAPU8` after this: growing the memory replaces the view. Not reentrant:
 * nothing called while the buffer is in use calls back into this module.
 */
function scratchFor(lib: SodiumHeap, need: number): number {
  if (need > scratchSize) {
    if (scratch !== 0) lib._free(scratch);
    scratchSize = Math.max(need, Math.min(2 * scratchSize, SCRATCH_KEEP), 16384);
    scratch = lib._malloc(scratchSize);
    if (scratch === 0) {
      scratchSize = 0;
      throw new CryptoError("out of memory in libsodium's heap", "crypto.invalid");
    }
  }
  return scratch;
}

/** Zero `[from, to)` of the scratch buffer, and give a huge one back. */
function scrub(lib: SodiumHeap, from: number, to: number): void {
  lib.HEAPU8.fill(0, from, to);
  if (scratchSize > SCRATCH_KEEP) {
    lib._free(scratch);
    scratch = 0;
    scratchSize = 0;
  }
}

/**
 * BLAKE2b in libsodium's WebAssembly: out (64) | key (64) | personal (16) | data, in the
 * scratch buffer. `data` may come in parts, hashed as their concatenation.
 */
function wasmBlake2b(
  lib: SodiumHeap,
  data: Uint8Array | readonly Uint8Array[],
  key: Uint8Array | null,
  person: Uint8Array,
  size: number,
): Uint8Array {
  if (person.length > 16) throw new RangeError("a personalisation is at most 16 bytes");
  if (size < 1 || size > 64 || (key !== null && key.length > 64)) throw new RangeError("BLAKE2b gives 1 to 64 bytes, with a key of at most 64");
  let length = 0;
  if (data instanceof Uint8Array) length = data.length;
  else for (const part of data) length += part.length;
  const base = scratchFor(lib, 144 + length);
  const out = base;
  const k = base + 64;
  const p = base + 128;
  const d = base + 144;
  const h = lib.HEAPU8;
  h.fill(0, p, p + 16);
  h.set(person, p);
  const keylen = key === null ? 0 : key.length;
  if (key !== null) h.set(key, k);
  if (data instanceof Uint8Array) h.set(data, d);
  else {
    let at = d;
    for (const part of data) {
      h.set(part, at);
      at += part.length;
    }
  }
  const rc = lib._crypto_generichash_blake2b_salt_personal(out, size, d, length, 0, keylen > 0 ? k : 0, keylen, 0, p);
  const digest = h.slice(out, out + size);
  scrub(lib, base, d + length); // keys and secret inputs do not linger in the heap
  if (rc !== 0) throw new CryptoError("BLAKE2b failed", "crypto.invalid");
  return digest;
}

/** Unkeyed BLAKE2b of `data` under a personalisation (`size` bytes, default 32). */
export function blake2b(data: Uint8Array, person: Uint8Array, size: number = HASH_BYTES): Uint8Array {
  const lib = sodiumHeap();
  if (lib !== null) return wasmBlake2b(lib, data, null, person, size);
  return nobleBlake2b(data, { dkLen: size, personalization: padded(person) });
}

/** @internal `blake2b` of the concatenation of `parts`, joined in libsodium's heap, not in a copy first. */
export function blake2bJoined(parts: readonly Uint8Array[], person: Uint8Array, size: number = HASH_BYTES): Uint8Array {
  const lib = sodiumHeap();
  if (lib !== null) return wasmBlake2b(lib, parts, null, person, size);
  return nobleBlake2b(concat(...parts), { dkLen: size, personalization: padded(person) });
}

/** Keyed BLAKE2b: derive `size` bytes from secret `key` and public `data`. */
export function kdf(key: Uint8Array, data: Uint8Array, person: Uint8Array, size: number = KEY_BYTES): Uint8Array {
  const lib = sodiumHeap();
  if (lib !== null) return wasmBlake2b(lib, data, key, person, size);
  return nobleBlake2b(data, { dkLen: size, key, personalization: padded(person) });
}

/** @internal The JavaScript BLAKE2b the wasm one is checked against (`key` may be empty). */
export function blake2bReference(data: Uint8Array, key: Uint8Array, person: Uint8Array, size: number): Uint8Array {
  return nobleBlake2b(data, { dkLen: size, key: key.length > 0 ? key : undefined, personalization: padded(person) });
}

// -- signatures ---------------------------------------------------------------

/** An Ed25519 key: its 32-byte seed, public key and libsodium's 64-byte secret. */
export class SigningKey {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  /** @internal libsodium's secret key form (seed || public key). */
  readonly secret: Uint8Array;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new CryptoError("an Ed25519 seed is 32 bytes", "crypto.bad_key");
    const pair = na().crypto_sign_seed_keypair(seed);
    this.seed = Uint8Array.from(seed);
    this.publicKey = pair.publicKey;
    this.secret = pair.privateKey;
  }
}

/** Detached Ed25519 signature over `context || payload`. */
export function sign(key: SigningKey, context: Uint8Array, payload: Uint8Array): Uint8Array {
  const lib = direct("_crypto_sign_detached");
  if (lib === null) return na().crypto_sign_detached(concat(context, payload), key.secret);
  // secret key (64) | signature (64) | context || payload
  const n = context.length + payload.length;
  const sk = scratchFor(lib, 128 + n);
  const sig = sk + 64;
  const m = sk + 128;
  const h = lib.HEAPU8;
  h.set(key.secret, sk);
  h.set(context, m);
  h.set(payload, m + context.length);
  const rc = lib._crypto_sign_detached(sig, 0, m, n, 0, sk);
  const out = h.slice(sig, sig + SIGNATURE_BYTES);
  scrub(lib, sk, m + n);
  if (rc !== 0) throw new Error("invalid usage"); // what the wrapper throws; libsodium's signing does not fail
  return out;
}

/** Check a signature made by `sign`; throws `CryptoError` (`crypto.bad_signature`) if it fails. */
export function verify(publicKey: Uint8Array, context: Uint8Array, payload: Uint8Array, signature: Uint8Array): void {
  verifyJoined(publicKey, context, payload, EMPTY, signature);
}

const EMPTY = new Uint8Array(0);

/**
 * @internal `verify` over `context || first || second`, the parts joined in libsodium's
 * heap rather than in a JavaScript copy first (a message's header and ciphertext).
 */
export function verifyJoined(
  publicKey: Uint8Array,
  context: Uint8Array,
  first: Uint8Array,
  second: Uint8Array,
  signature: Uint8Array,
): void {
  if (publicKey.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) {
    throw new CryptoError("malformed key or signature", "crypto.bad_signature");
  }
  let ok = false;
  const lib = direct("_crypto_sign_verify_detached");
  if (lib !== null) {
    // public key (32) | signature (64) | context || first || second; all public, nothing to zero
    const n = context.length + first.length + second.length;
    const pk = scratchFor(lib, 96 + n);
    const sig = pk + 32;
    const m = pk + 96;
    const h = lib.HEAPU8;
    h.set(publicKey, pk);
    h.set(signature, sig);
    h.set(context, m);
    h.set(first, m + context.length);
    h.set(second, m + context.length + first.length);
    ok = lib._crypto_sign_verify_detached(sig, m, n, 0, pk) === 0;
    if (scratchSize > SCRATCH_KEEP) scrub(lib, pk, pk);
  } else {
    try {
      ok = na().crypto_sign_verify_detached(signature, concat(context, first, second), publicKey);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new CryptoError("signature does not verify", "crypto.bad_signature");
}

// -- sealing to X25519 keys ---------------------------------------------------

/** An X25519 private key whose 32 secret bytes are the seed itself (clamped inside libsodium). */
export class BoxPrivateKey {
  readonly secret: Uint8Array;
  readonly publicKey: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.length !== 32) throw new CryptoError("an X25519 key is 32 bytes", "crypto.bad_key");
    this.secret = Uint8Array.from(secret);
    this.publicKey = na().crypto_scalarmult_base(secret);
  }
}

const LOW_ORDER: readonly Uint8Array[] = [
  new Uint8Array(32),
  Uint8Array.from([1, ...new Array<number>(31).fill(0)]),
  hexBytes("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
  hexBytes("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
  Uint8Array.from([0xec, ...new Array<number>(30).fill(0xff), 0x7f]),
  Uint8Array.from([0xed, ...new Array<number>(30).fill(0xff), 0x7f]),
  Uint8Array.from([0xee, ...new Array<number>(30).fill(0xff), 0x7f]),
];

function hexBytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

let probeScalar: Uint8Array | null = null;

/** Refuse an X25519 public key nothing can be sealed to (`crypto.bad_key`), as protocol/crypto.py does. */
export function checkBoxKey(publicKey: Uint8Array): void {
  if (publicKey.length !== KEY_BYTES) throw new CryptoError("an X25519 key is 32 bytes", "crypto.bad_key");
  const masked = Uint8Array.from(publicKey);
  masked[31] = masked[31]! & 0x7f;
  if (LOW_ORDER.some((p) => equalBytes(p, masked))) {
    throw new CryptoError("an X25519 key of small order", "crypto.bad_key");
  }
  probeScalar ??= nobleBlake2b(ascii("hearth-box-key-probe"), { dkLen: 32 });
  let shared: Uint8Array;
  try {
    shared = scalarmult(probeScalar, publicKey);
  } catch {
    throw new CryptoError("an X25519 key of small order", "crypto.bad_key");
  }
  if (equalBytes(shared, new Uint8Array(32))) throw new CryptoError("an X25519 key of small order", "crypto.bad_key");
}

/** `crypto_scalarmult`: X25519 of secret scalar `n` and point `p`; throws as the wrapper does (an all-zero result). */
function scalarmult(n: Uint8Array, p: Uint8Array): Uint8Array {
  const lib = direct("_crypto_scalarmult");
  if (lib === null) return na().crypto_scalarmult(n, p);
  if (n.length !== KEY_BYTES) throw new TypeError("invalid privateKey length");
  if (p.length !== KEY_BYTES) throw new TypeError("invalid publicKey length");
  // result (32) | scalar (32) | point (32)
  const q = scratchFor(lib, 96);
  const h = lib.HEAPU8;
  h.set(n, q + 32);
  h.set(p, q + 64);
  const rc = lib._crypto_scalarmult(q, q + 32, q + 64);
  const out = h.slice(q, q + 32);
  scrub(lib, q, q + 96);
  if (rc !== 0) throw new Error("weak public key");
  return out;
}

/** X25519 between `key` and `peer`, hashed as `crypto_box_beforenm` (32 bytes). */
export function boxShared(key: BoxPrivateKey, peer: Uint8Array): Uint8Array {
  try {
    return na().crypto_box_beforenm(peer, key.secret);
  } catch {
    throw new CryptoError("cannot agree a key with this key", "crypto.bad_key");
  }
}

/** Anonymous sealed box (`crypto_box_seal`) to an X25519 public key. */
export function seal(recipient: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const lib = direct("_crypto_box_seal");
  if (lib === null) {
    try {
      return na().crypto_box_seal(plaintext, recipient);
    } catch {
      throw new CryptoError("cannot seal to this key", "crypto.bad_key");
    }
  }
  if (recipient.length !== KEY_BYTES) throw new CryptoError("cannot seal to this key", "crypto.bad_key");
  // public key (32) | message | sealed box (message + 48)
  const n = plaintext.length;
  const pk = scratchFor(lib, 32 + 2 * n + SEAL_OVERHEAD);
  const m = pk + 32;
  const c = m + n;
  const h = lib.HEAPU8;
  h.set(recipient, pk);
  h.set(plaintext, m);
  const rc = lib._crypto_box_seal(c, m, n, 0, pk);
  const out = rc === 0 ? h.slice(c, c + n + SEAL_OVERHEAD) : null;
  scrub(lib, pk, c + n + SEAL_OVERHEAD);
  if (out === null) throw new CryptoError("cannot seal to this key", "crypto.bad_key");
  return out;
}

/** Open a sealed box addressed to `key` (`crypto.unseal_failed`). */
export function unseal(key: BoxPrivateKey, sealed: Uint8Array): Uint8Array {
  const lib = direct("_crypto_box_seal_open");
  if (lib === null) {
    try {
      return na().crypto_box_seal_open(sealed, key.publicKey, key.secret);
    } catch {
      throw new CryptoError("sealed box does not open", "crypto.unseal_failed");
    }
  }
  if (sealed.length < SEAL_OVERHEAD) throw new CryptoError("sealed box does not open", "crypto.unseal_failed");
  // secret key (32) | public key (32) | sealed box | message (box - 48)
  const n = sealed.length - SEAL_OVERHEAD;
  const sk = scratchFor(lib, 64 + sealed.length + n);
  const pk = sk + 32;
  const c = sk + 64;
  const m = c + sealed.length;
  const h = lib.HEAPU8;
  h.set(key.secret, sk);
  h.set(key.publicKey, pk);
  h.set(sealed, c);
  const rc = lib._crypto_box_seal_open(m, c, sealed.length, 0, pk, sk);
  const out = rc === 0 ? h.slice(m, m + n) : null;
  scrub(lib, sk, m + n);
  if (out === null) throw new CryptoError("sealed box does not open", "crypto.unseal_failed");
  return out;
}

// -- authenticated encryption -------------------------------------------------

/** Associated data: bytes, or parts authenticated as their concatenation (joined in libsodium's heap). */
export type AssociatedData = Uint8Array | readonly Uint8Array[];

function adLength(associated: AssociatedData): number {
  if (associated instanceof Uint8Array) return associated.length;
  let n = 0;
  for (const part of associated) n += part.length;
  return n;
}

function adBytes(associated: AssociatedData): Uint8Array {
  return associated instanceof Uint8Array ? associated : concat(...associated);
}

/** Write `associated` at `at` in the heap view `h`. */
function putAd(h: Uint8Array, associated: AssociatedData, at: number): void {
  if (associated instanceof Uint8Array) return h.set(associated, at);
  for (const part of associated) {
    h.set(part, at);
    at += part.length;
  }
}

/** XChaCha20-Poly1305-IETF; returns ciphertext with its 16-byte tag. */
export function aeadEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associated: AssociatedData): Uint8Array {
  const lib = direct("_crypto_aead_xchacha20poly1305_ietf_encrypt");
  if (lib === null) return na().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, adBytes(associated), null, nonce, key);
  // The wrapper's checks, with its errors.
  if (nonce.length !== AEAD_NONCE_BYTES) throw new TypeError("invalid public_nonce length");
  if (key.length !== KEY_BYTES) throw new TypeError("invalid key length");
  // key (32) | nonce (24) | associated data | plaintext | ciphertext (plaintext + 16)
  const n = plaintext.length;
  const adlen = adLength(associated);
  const k = scratchFor(lib, 56 + adlen + 2 * n + AEAD_TAG_BYTES);
  const npub = k + 32;
  const ad = k + 56;
  const m = ad + adlen;
  const c = m + n;
  const h = lib.HEAPU8;
  h.set(key, k);
  h.set(nonce, npub);
  putAd(h, associated, ad);
  h.set(plaintext, m);
  const rc = lib._crypto_aead_xchacha20poly1305_ietf_encrypt(c, 0, m, n, 0, ad, adlen, 0, 0, npub, k);
  const out = h.slice(c, c + n + AEAD_TAG_BYTES);
  scrub(lib, k, c + n + AEAD_TAG_BYTES);
  if (rc !== 0) throw new Error("invalid usage"); // what the wrapper throws: a message past libsodium's maximum
  return out;
}

/** Inverse of `aeadEncrypt`; throws `CryptoError` (`crypto.decrypt_failed`) on any tampering. */
export function aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associated: AssociatedData): Uint8Array {
  if (nonce.length !== AEAD_NONCE_BYTES) throw new CryptoError("nonce must be 24 bytes", "crypto.decrypt_failed");
  if (ciphertext.length < AEAD_TAG_BYTES) throw new CryptoError("ciphertext shorter than its tag", "crypto.decrypt_failed");
  const lib = direct("_crypto_aead_xchacha20poly1305_ietf_decrypt");
  if (lib === null) {
    try {
      return na().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, adBytes(associated), nonce, key);
    } catch {
      throw new CryptoError("ciphertext does not authenticate", "crypto.decrypt_failed");
    }
  }
  if (key.length !== KEY_BYTES) throw new CryptoError("ciphertext does not authenticate", "crypto.decrypt_failed");
  // key (32) | nonce (24) | associated data | ciphertext | plaintext (ciphertext - 16)
  const n = ciphertext.length - AEAD_TAG_BYTES;
  const adlen = adLength(associated);
  const k = scratchFor(lib, 56 + adlen + ciphertext.length + n);
  const npub = k + 32;
  const ad = k + 56;
  const c = ad + adlen;
  const m = c + ciphertext.length;
  const h = lib.HEAPU8;
  h.set(key, k);
  h.set(nonce, npub);
  putAd(h, associated, ad);
  h.set(ciphertext, c);
  const rc = lib._crypto_aead_xchacha20poly1305_ietf_decrypt(m, 0, 0, c, ciphertext.length, 0, ad, adlen, 0, npub, k);
  const out = rc === 0 ? h.slice(m, m + n) : null;
  scrub(lib, k, m + n);
  if (out === null) throw new CryptoError("ciphertext does not authenticate", "crypto.decrypt_failed");
  return out;
}

// -- local secrets at rest ----------------------------------------------------

export const PASSPHRASE_SALT_BYTES = 16;
/** Argon2id (opslimit, memlimit) presets by name, libsodium's own. */
export const PASSPHRASE_LIMITS: Readonly<Record<"interactive" | "moderate" | "sensitive", readonly [number, number]>> = {
  interactive: [2, 67_108_864],
  moderate: [3, 268_435_456],
  sensitive: [4, 1_073_741_824],
};
export const PASSPHRASE_MIN_LIMITS: readonly [number, number] = [1, 8192];

/** Argon2id v1.3: a 32-byte key from a passphrase and a 16-byte salt. */
export function passphraseKey(
  passphrase: string,
  salt: Uint8Array,
  opslimit: number = PASSPHRASE_LIMITS.moderate[0],
  memlimit: number = PASSPHRASE_LIMITS.moderate[1],
): Uint8Array {
  const s = na();
  return s.crypto_pwhash(KEY_BYTES, passphrase, salt, opslimit, memlimit, s.crypto_pwhash_ALG_ARGON2ID13);
}

/** XSalsa20-Poly1305 secret box with a random nonce prepended. */
export function secretboxEncrypt(key: Uint8Array, plaintext: Uint8Array, rng: Rng = randomBytes): Uint8Array {
  const nonce = rng(24);
  return concat(nonce, na().crypto_secretbox_easy(plaintext, nonce, key));
}

/** Inverse of `secretboxEncrypt` (`crypto.decrypt_failed`). */
export function secretboxDecrypt(key: Uint8Array, box: Uint8Array): Uint8Array {
  if (box.length < 40) throw new CryptoError("wrong key or damaged data", "crypto.decrypt_failed");
  try {
    return na().crypto_secretbox_open_easy(box.subarray(24), box.subarray(0, 24), key);
  } catch {
    throw new CryptoError("wrong key or damaged data", "crypto.decrypt_failed");
  }
}

// -- proof of work for open registration ---------------------------------------

function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** True if BLAKE2b(challenge || key || u64be(nonce)) has `difficulty` leading zero bits. */
export function powCheck(challenge: Uint8Array, key: Uint8Array, nonce: number, difficulty: number): boolean {
  if (!Number.isSafeInteger(nonce) || nonce < 0) return false;
  return leadingZeroBits(blake2b(concat(challenge, key, u64be(nonce)), PERSON_POW)) >= difficulty;
}

/** The smallest nonce satisfying `powCheck`. */
export function powSolve(challenge: Uint8Array, key: Uint8Array, difficulty: number): number {
  let nonce = 0;
  while (!powCheck(challenge, key, nonce, difficulty)) nonce++;
  return nonce;
}
