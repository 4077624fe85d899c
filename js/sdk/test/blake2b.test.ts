/**
 * BLAKE2b through libsodium's WebAssembly (crypto.ts `blake2b`, `kdf`): the same
 * digests as hashlib (Python's reference) and as the JavaScript BLAKE2b it replaced,
 * for every size, key and personalisation length, small inputs and large ones.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { ascii, concat, equalBytes, hex } from "../src/bytes.js";
import { blake2b, blake2bJoined, blake2bReference, cryptoReady, kdf } from "../src/crypto.js";

beforeAll(() => cryptoReady());

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("BLAKE2b", () => {
  it("gives hashlib's digests", () => {
    expect(hex(blake2b(ascii("abc"), ascii("hearth-op-hash")))).toBe(
      "2cbffd4efac5244b263bdf5d32b198996c4a1e5ab51257fbc1fb7e162daa91ed",
    );
    expect(hex(kdf(new Uint8Array(64).fill(0x6b), new Uint8Array(0), ascii("hearth-confirm"), 64))).toBe(
      "edac93127947e454503c164e1d4615dff5c55f668b5b08274d49faf9f8bd307ddf6821ae5518389946a92f686b8187592a99f993401b6510fb8336a9b48ff29a",
    );
    const mib = new Uint8Array(256 * 4096).map((_, i) => i & 0xff);
    expect(hex(kdf(Uint8Array.from({ length: 32 }, (_, i) => i), mib, ascii("hearth-epoch"), 24))).toBe(
      "15eb36dcd663781ee8f11b1d84e772c6c159aa5ea514b0dd",
    );
  });

  it("agrees with the JavaScript BLAKE2b for every size, key and personalisation", () => {
    for (const length of [0, 1, 127, 128, 129, 1000, 70_000]) {
      for (const key of [new Uint8Array(0), bytes(1, 2), bytes(32, 3), bytes(64, 4)]) {
        for (const person of [new Uint8Array(0), ascii("x"), ascii("hearth-op-hash"), bytes(16, 5)]) {
          for (const size of [1, 24, 32, 60, 64]) {
            const data = bytes(length, length);
            const got = key.length === 0 ? blake2b(data, person, size) : kdf(key, data, person, size);
            expect(hex(got)).toBe(hex(blake2bReference(data, key, person, size)));
          }
        }
      }
    }
  });

  it("survives the heap growing between calls, and leaves its inputs alone", () => {
    const big = bytes(5 * 2 ** 20, 9);
    const copy = Uint8Array.from(big);
    const first = blake2b(big, ascii("hearth-op-hash"));
    expect(equalBytes(big, copy)).toBe(true);
    expect(hex(blake2b(ascii("abc"), ascii("hearth-op-hash")))).toBe(
      "2cbffd4efac5244b263bdf5d32b198996c4a1e5ab51257fbc1fb7e162daa91ed",
    );
    expect(hex(blake2b(big, ascii("hearth-op-hash")))).toBe(hex(first));
  });

  it("hashes parts as their concatenation, however they are split", () => {
    for (const length of [0, 1, 128, 129, 3400, 70_000]) {
      const data = bytes(length, 7);
      const cuts = [0, 1, length >> 2, length >> 1, length].filter((c) => c <= length);
      for (const a of cuts) {
        for (const b of cuts) {
          if (b < a) continue;
          const parts = [data.subarray(0, a), data.subarray(a, b), new Uint8Array(0), data.subarray(b)];
          expect(hex(blake2bJoined(parts, ascii("hearth-op-hash")))).toBe(hex(blake2b(concat(...parts), ascii("hearth-op-hash"))));
        }
      }
      expect(hex(blake2bJoined([data], ascii("p"), 24))).toBe(hex(blake2bReference(data, new Uint8Array(0), ascii("p"), 24)));
    }
    expect(hex(blake2bJoined([], ascii("hearth-op-hash")))).toBe(hex(blake2b(new Uint8Array(0), ascii("hearth-op-hash"))));
  });

  it("refuses what BLAKE2b cannot do", () => {
    expect(() => blake2b(ascii("abc"), ascii("a personalisation too long"))).toThrow(RangeError);
    expect(() => blake2b(ascii("abc"), ascii("p"), 65)).toThrow(RangeError);
    expect(() => kdf(bytes(65), ascii("abc"), ascii("p"))).toThrow(RangeError);
  });
});
