/**
 * The deterministic randomness `scripts/make_vectors.py` drew the vectors from, so
 * that sealing here reproduces their bytes exactly (protocol.md 12).
 */

import sodium from "libsodium-wrappers-sumo";
import { blake2b } from "@noble/hashes/blake2.js";

import { concat, u64be, utf8 } from "../src/bytes.js";
import type { Rng } from "../src/crypto.js";

const PERSON = (() => {
  const p = new Uint8Array(16);
  p.set(utf8("hearth-vectors"));
  return p;
})();

/**
 * `DetRng(label)`: the concatenation of BLAKE2b-512(data = u64be(i), key = utf8(label),
 * person = "hearth-vectors") for i = 0, 1, 2 ...; each call takes the next n bytes.
 */
export function detRng(label: string): Rng {
  const key = utf8(label);
  let counter = 0;
  let buffer: Uint8Array = new Uint8Array(0);
  return (n: number) => {
    while (buffer.length < n) {
      buffer = concat(buffer, blake2b(u64be(counter), { dkLen: 64, key, personalization: PERSON }));
      counter++;
    }
    const out = buffer.slice(0, n);
    buffer = buffer.slice(n);
    return out;
  };
}

/**
 * `crypto_box_seal` with the ephemeral key pair derived from `ephemeralSeed`, as the
 * vectors made their seals: `epk || crypto_box(message, nonce = BLAKE2b-192(epk ||
 * recipient), recipient, esk)`. Call after `cryptoReady()`.
 */
export function sealWith(recipient: Uint8Array, message: Uint8Array, ephemeralSeed: Uint8Array): Uint8Array {
  const pair = sodium.crypto_box_seed_keypair(ephemeralSeed);
  const nonce = blake2b(concat(pair.publicKey, recipient), { dkLen: 24 });
  return concat(pair.publicKey, sodium.crypto_box_easy(message, nonce, recipient, pair.privateKey));
}
