/**
 * The direct calls into libsodium's WebAssembly (crypto.ts `sign`, `verify`,
 * `aeadEncrypt`, `aeadDecrypt`, `seal`, `unseal`, `checkBoxKey`) against
 * libsodium.js's wrapper, which they bypass: the same bytes out for the same bytes
 * in, on random inputs from empty to past the scratch buffer's kept size, and every
 * tampering refused with the same error code by both routes. Ed25519 and the AEAD
 * are deterministic, so their outputs are compared byte for byte; a sealed box
 * carries a fresh ephemeral key, so each route must open the other's.
 */

import sodium from "libsodium-wrappers-sumo";
import { afterEach, describe, expect, it } from "vitest";

import { concat, hex } from "../src/bytes.js";
import {
  aeadDecrypt,
  aeadEncrypt,
  BoxPrivateKey,
  checkBoxKey,
  CTX_MSG,
  cryptoReady,
  randomBytes,
  seal,
  setDirectSodiumCalls,
  sign,
  SigningKey,
  unseal,
  verify,
  verifyJoined,
} from "../src/crypto.js";
import { HearthError } from "../src/errors.js";

await cryptoReady();
afterEach(() => setDirectSodiumCalls(true));

/** Sizes from empty to past the 1 MiB the scratch buffer keeps (it is freed after such a call). */
const SIZES = [0, 1, 15, 16, 17, 63, 64, 65, 1000, 2048, 70_000, (1 << 20) + 3];

/** `f` once through the direct calls and once through the wrapper. */
function both<T>(f: () => T): [T, T] {
  setDirectSodiumCalls(true);
  const direct = f();
  setDirectSodiumCalls(false);
  try {
    return [direct, f()];
  } finally {
    setDirectSodiumCalls(true);
  }
}

/** The error code `f` throws ("accepted" if it does not), or the class of a non-Hearth error. */
function outcome(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    if (exc instanceof HearthError) return exc.code;
    return (exc as Error).constructor.name;
  }
  return "accepted";
}

/** Byte equality as a printable verdict (hex of a megabyte is slow to build and to diff). */
function same(a: Uint8Array, b: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length)) ? "same" : `${hex(a.subarray(0, 16))}… != ${hex(b.subarray(0, 16))}…`;
}

function flip(data: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(data);
  const i = at % out.length;
  out[i] = out[i]! ^ 0x01;
  return out;
}

// Ed25519's group order L, little-endian: S + L is the non-canonical twin of S.
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

function plusL(s: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const v = s[i]! + L[i]! + carry;
    out[i] = v & 0xff;
    carry = v >> 8;
  }
  return out;
}

describe("Ed25519 through direct calls", () => {
  const key = new SigningKey(randomBytes(32));

  it("signs what the wrapper signs, and verifies it", () => {
    for (const size of SIZES) {
      const payload = randomBytes(size);
      const [direct, wrapped] = both(() => sign(key, CTX_MSG, payload));
      expect(hex(direct)).toBe(hex(wrapped));
      expect(hex(direct)).toBe(hex(sodium.crypto_sign_detached(concat(CTX_MSG, payload), key.secret)));
      expect(both(() => outcome(() => verify(key.publicKey, CTX_MSG, payload, direct)))).toEqual(["accepted", "accepted"]);
    }
  });

  it("signs with an empty context, as the wrapper does", () => {
    const payload = randomBytes(100);
    const [direct, wrapped] = both(() => sign(key, new Uint8Array(0), payload));
    expect(hex(direct)).toBe(hex(wrapped));
  });

  it("refuses every tampering with crypto.bad_signature, as the wrapper does", () => {
    for (const size of [0, 1, 64, 2048, 70_000]) {
      const payload = randomBytes(size);
      const sig = sign(key, CTX_MSG, payload);
      const other = new SigningKey(randomBytes(32));
      const nonCanonical = concat(sig.subarray(0, 32), plusL(sig.subarray(32)));
      const cases: [string, () => void][] = [
        ["payload", () => verify(key.publicKey, CTX_MSG, size > 0 ? flip(payload, size >> 1) : Uint8Array.of(0), sig)],
        ["context", () => verify(key.publicKey, flip(CTX_MSG, 3), payload, sig)],
        ["R", () => verify(key.publicKey, CTX_MSG, payload, flip(sig, 5))],
        ["S", () => verify(key.publicKey, CTX_MSG, payload, flip(sig, 40))],
        ["S + L", () => verify(key.publicKey, CTX_MSG, payload, nonCanonical)],
        ["key", () => verify(other.publicKey, CTX_MSG, payload, sig)],
        ["short key", () => verify(key.publicKey.subarray(1), CTX_MSG, payload, sig)],
        ["short signature", () => verify(key.publicKey, CTX_MSG, payload, sig.subarray(1))],
        ["identity key", () => verify(Uint8Array.of(1, ...new Array<number>(31).fill(0)), CTX_MSG, payload, sig)],
        ["zero signature", () => verify(key.publicKey, CTX_MSG, payload, new Uint8Array(64))],
      ];
      for (const [name, f] of cases) {
        expect([name, ...both(() => outcome(f))]).toEqual([name, "crypto.bad_signature", "crypto.bad_signature"]);
      }
    }
  });

  it("verifies context || first || second alike, however the payload is split", () => {
    for (const size of [0, 1, 100, 2300]) {
      const payload = randomBytes(size);
      const sig = sign(key, CTX_MSG, payload);
      for (const at of [0, 1, size >> 1, size]) {
        if (at > size) continue;
        const [first, second] = [payload.subarray(0, at), payload.subarray(at)];
        expect(both(() => outcome(() => verifyJoined(key.publicKey, CTX_MSG, first, second, sig)))).toEqual(["accepted", "accepted"]);
        const tampered = size > 0 ? flip(payload, size >> 1) : Uint8Array.of(1);
        const [a, b] = [tampered.subarray(0, Math.min(at, tampered.length)), tampered.subarray(Math.min(at, tampered.length))];
        expect(both(() => outcome(() => verifyJoined(key.publicKey, CTX_MSG, a, b, sig)))).toEqual(["crypto.bad_signature", "crypto.bad_signature"]);
      }
    }
  });

  it("accepts a signature of the wrapper's over inputs written straight into the heap", () => {
    for (const size of SIZES) {
      const payload = randomBytes(size);
      const sig = sodium.crypto_sign_detached(concat(CTX_MSG, payload), key.secret);
      expect(outcome(() => verify(key.publicKey, CTX_MSG, payload, sig))).toBe("accepted");
    }
  });
});

describe("XChaCha20-Poly1305 through direct calls", () => {
  it("encrypts as the wrapper does, and each route decrypts the other's", () => {
    for (const size of SIZES) {
      for (const adSize of [0, 1, 219, 5000]) {
        if (size > 70_000 && adSize > 1) continue;
        const key = randomBytes(32);
        const nonce = randomBytes(24);
        const plain = randomBytes(size);
        const ad = randomBytes(adSize);
        const [direct, wrapped] = both(() => aeadEncrypt(key, nonce, plain, ad));
        expect(direct.length).toBe(size + 16);
        expect(same(direct, wrapped)).toBe("same");
        const [a, b] = both(() => aeadDecrypt(key, nonce, direct, ad));
        expect(same(a, plain)).toBe("same");
        expect(same(b, plain)).toBe("same");
      }
    }
  });

  it("refuses every tampering with crypto.decrypt_failed, as the wrapper does", () => {
    for (const size of [0, 1, 2048, 70_000]) {
      const key = randomBytes(32);
      const nonce = randomBytes(24);
      const ad = randomBytes(40);
      const ct = aeadEncrypt(key, nonce, randomBytes(size), ad);
      const cases: [string, () => unknown][] = [
        ["ciphertext", () => aeadDecrypt(key, nonce, flip(ct, size >> 1), ad)],
        ["tag", () => aeadDecrypt(key, nonce, flip(ct, ct.length - 1), ad)],
        ["associated data", () => aeadDecrypt(key, nonce, ct, flip(ad, 7))],
        ["no associated data", () => aeadDecrypt(key, nonce, ct, new Uint8Array(0))],
        ["nonce", () => aeadDecrypt(key, flip(nonce, 23), ct, ad)],
        ["key", () => aeadDecrypt(flip(key, 0), nonce, ct, ad)],
        ["short key", () => aeadDecrypt(key.subarray(1), nonce, ct, ad)],
        ["short nonce", () => aeadDecrypt(key, nonce.subarray(1), ct, ad)],
        ["truncated", () => aeadDecrypt(key, nonce, ct.subarray(0, ct.length - 1), ad)],
        ["shorter than a tag", () => aeadDecrypt(key, nonce, ct.subarray(0, 15), ad)],
      ];
      for (const [name, f] of cases) {
        expect([name, ...both(() => outcome(f))]).toEqual([name, "crypto.decrypt_failed", "crypto.decrypt_failed"]);
      }
    }
  });

  it("authenticates associated data given in parts as their concatenation", () => {
    for (const adSize of [0, 1, 17, 227, 5000]) {
      const key = randomBytes(32);
      const nonce = randomBytes(24);
      const plain = randomBytes(2048);
      const ad = randomBytes(adSize);
      const joined = aeadEncrypt(key, nonce, plain, ad);
      for (const at of [0, 1, adSize >> 1, adSize]) {
        if (at > adSize) continue;
        const parts = [ad.subarray(0, at), new Uint8Array(0), ad.subarray(at)];
        expect(both(() => same(aeadEncrypt(key, nonce, plain, parts), joined))).toEqual(["same", "same"]);
        expect(both(() => same(aeadDecrypt(key, nonce, joined, parts), plain))).toEqual(["same", "same"]);
        const other = [ad.subarray(0, at), Uint8Array.of(1), ad.subarray(at)];
        expect(both(() => outcome(() => aeadDecrypt(key, nonce, joined, other)))).toEqual(["crypto.decrypt_failed", "crypto.decrypt_failed"]);
      }
    }
  });

  it("refuses a malformed key or nonce with the wrapper's TypeError", () => {
    const plain = randomBytes(10);
    expect(both(() => outcome(() => aeadEncrypt(randomBytes(31), randomBytes(24), plain, plain)))).toEqual(["TypeError", "TypeError"]);
    expect(both(() => outcome(() => aeadEncrypt(randomBytes(32), randomBytes(23), plain, plain)))).toEqual(["TypeError", "TypeError"]);
  });

  it("leaves neither key nor plaintext in libsodium's heap", () => {
    const key = randomBytes(32);
    const plain = randomBytes(2048);
    const ct = aeadEncrypt(key, randomBytes(24), plain, randomBytes(200));
    expect(ct.length).toBe(2064);
    const heap = (sodium as unknown as { libsodium: { HEAPU8: Uint8Array } }).libsodium.HEAPU8;
    const find = (needle: Uint8Array) => Buffer.from(heap.buffer, heap.byteOffset, heap.length).indexOf(Buffer.from(needle));
    expect(find(key)).toBe(-1);
    expect(find(plain.subarray(0, 64))).toBe(-1);
  });
});

describe("sealed boxes and X25519 through direct calls", () => {
  const box = new BoxPrivateKey(randomBytes(32));

  it("each route opens the other's sealed box", () => {
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const [direct, wrapped] = both(() => seal(box.publicKey, plain));
      expect(direct.length).toBe(size + 48);
      expect(wrapped.length).toBe(size + 48);
      expect(both(() => same(unseal(box, direct), plain))).toEqual(["same", "same"]);
      expect(both(() => same(unseal(box, wrapped), plain))).toEqual(["same", "same"]);
    }
  });

  it("refuses every tampering with crypto.unseal_failed, as the wrapper does", () => {
    for (const size of [0, 32, 5000]) {
      const sealed = seal(box.publicKey, randomBytes(size));
      const other = new BoxPrivateKey(randomBytes(32));
      const cases: [string, () => unknown][] = [
        ["ephemeral key", () => unseal(box, flip(sealed, 2))],
        ["body", () => unseal(box, flip(sealed, 40 + (size >> 1)))],
        ["tag", () => unseal(box, flip(sealed, sealed.length - 1))],
        ["truncated", () => unseal(box, sealed.subarray(0, sealed.length - 1))],
        ["shorter than the overhead", () => unseal(box, sealed.subarray(0, 47))],
        ["another key", () => unseal(other, sealed)],
      ];
      for (const [name, f] of cases) {
        expect([name, ...both(() => outcome(f))]).toEqual([name, "crypto.unseal_failed", "crypto.unseal_failed"]);
      }
    }
  });

  it("refuses to seal to a key nothing can be sealed to, as the wrapper does", () => {
    const plain = randomBytes(32);
    for (const key of [new Uint8Array(32), Uint8Array.of(1, ...new Array<number>(31).fill(0)), randomBytes(31), randomBytes(33)]) {
      expect(both(() => outcome(() => seal(key, plain)))).toEqual(["crypto.bad_key", "crypto.bad_key"]);
    }
  });

  it("checks X25519 keys alike by both routes", () => {
    const smallOrder = [
      new Uint8Array(32),
      Uint8Array.of(1, ...new Array<number>(31).fill(0)),
      Uint8Array.from(Buffer.from("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", "hex")),
      Uint8Array.from([0xec, ...new Array<number>(30).fill(0xff), 0x7f]),
    ];
    for (const key of smallOrder) {
      expect(both(() => outcome(() => checkBoxKey(key)))).toEqual(["crypto.bad_key", "crypto.bad_key"]);
      const high = Uint8Array.from(key);
      high[31]! |= 0x80;
      expect(both(() => outcome(() => checkBoxKey(high)))).toEqual(["crypto.bad_key", "crypto.bad_key"]);
    }
    for (let i = 0; i < 20; i++) {
      const key = new BoxPrivateKey(randomBytes(32)).publicKey;
      expect(both(() => outcome(() => checkBoxKey(key)))).toEqual(["accepted", "accepted"]);
      expect(both(() => outcome(() => checkBoxKey(randomBytes(32))))).toEqual(["accepted", "accepted"]);
    }
  });
});
