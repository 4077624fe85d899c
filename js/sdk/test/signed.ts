/** The signature vectors of signatures.json and risk.json, checked as test_vectors.py's _check_signed. */

import { expect } from "vitest";

import { fromHex, hex } from "../src/bytes.js";
import * as crypto from "../src/crypto.js";
import { AEAD_TAG_BYTES, verify } from "../src/crypto.js";
import { BUCKETS } from "../src/padding.js";
import { canonical, decodeJson } from "../src/wire/codec.js";

/** Every signed vector: the context, the re-encoded payload, the signature (as test_vectors.py's _check_signed). */
export function checkSigned(v: any): void {
  const context = (crypto as unknown as Record<string, Uint8Array>)[v.context]!;
  expect(hex(context)).toBe(v.context_hex);
  const signed = fromHex(v.signed_bytes);
  expect(hex(signed.subarray(0, context.length))).toBe(v.context_hex);
  const payload = signed.subarray(context.length);
  if (v.context === "CTX_MSG") {
    const header = canonical("EnvelopeHeader", decodeJson("EnvelopeHeader", v.json));
    expect(hex(payload.subarray(0, header.length))).toBe(hex(header));
    expect(BUCKETS).toContain(payload.length - header.length - AEAD_TAG_BYTES);
  } else {
    expect(hex(canonical(v.type, decodeJson(v.type, v.json)))).toBe(hex(payload));
  }
  verify(fromHex(v.public_key), context, payload, fromHex(v.signature));
}

