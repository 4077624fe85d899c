/**
 * The strict MessagePack reader agrees with msgspec on what it refuses. Each case's
 * bytes and verdict were produced by msgspec decoding `Plaintext` (Python 3.11,
 * msgspec as locked): a general-purpose decoder that turned invalid UTF-8 into
 * replacement characters accepted the first two, so a sender could craft a message
 * one SDK shows and the other refuses.
 */
import { describe, expect, it } from "vitest";

import { fromHex } from "../src/bytes.js";
import { DecodeError } from "../src/errors.js";
import { decodeMsgpack } from "../src/wire/codec.js";

const GOOD =
  "84a6646576696365c41000000000000000000000000000000000a7636f756e74657201a773656e745f617405a4626f647984a474797065a474657874a474657874a568656c6c6faf636f6e74656e745f7761726e696e67c0a87265706c795f746fc0";
const CASES: [string, string, string | null][] = [
  ["good", GOOD, null],
  ["invalid UTF-8 in a short string", GOOD.replace("a568656c6c6f", "a568ff6c6c6f"), "Invalid UTF-8"],
  [
    "invalid UTF-8 in a long string",
    GOOD.replace("a568656c6c6f", "d928" + "78".repeat(20) + "c328" + "78".repeat(18)),
    "Invalid UTF-8",
  ],
  ["trailing bytes", GOOD + "00", "trailing characters"],
  ["a str where bytes are expected", GOOD.replace("c410" + "00".repeat(16), "b0" + "41".repeat(16)), "Expected `bytes`, got `str`"],
  ["bytes where a str is expected", GOOD.replace("a568656c6c6f", "c40568656c6c6f"), "Expected `str`, got `bytes`"],
  ["a non-shortest integer", GOOD.replace("a7636f756e74657201", "a7636f756e746572cf0000000000000001"), null],
  ["an extension type", GOOD.replace("a773656e745f617405", "a773656e745f6174d40105"), "not supported"],
  ["a float where an integer is expected", GOOD.replace("a7636f756e74657201", "a7636f756e746572cb3ff0000000000000"), "Expected `int`, got `float`"],
];

describe("MessagePack from the wire, as msgspec reads it", () => {
  it.each(CASES)("%s", (_name, hexBytes, error) => {
    const decode = () => decodeMsgpack<{ body: { text: string } }>("Plaintext", fromHex(hexBytes));
    if (error === null) {
      expect(decode().body.text).toBe("hello");
    } else {
      expect(decode).toThrow(DecodeError);
      expect(decode).toThrow(error);
    }
  });

  it("refuses nesting deeper than it reads, without overflowing the stack", () => {
    const deep = new Uint8Array(100_000).fill(0x91); // [[[[...
    expect(() => decodeMsgpack("Plaintext", deep)).toThrow(DecodeError);
  });

  it("refuses a truncated value", () => {
    expect(() => decodeMsgpack("Plaintext", fromHex(GOOD.slice(0, -10)))).toThrow("truncated");
  });
});
