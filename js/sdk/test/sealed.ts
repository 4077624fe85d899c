/**
 * The sealed-message vectors of messages.json and names.json, checked the way
 * tests/protocol/test_vectors.py checks them, and sealed again from the recorded
 * deterministic randomness to the same bytes.
 */

import { expect } from "vitest";

import { concat, fromHex, hex } from "../src/bytes.js";
import { aeadDecrypt, CTX_MSG, CTX_MSG_AD, verify } from "../src/crypto.js";
import { openMessage, sealMessage } from "../src/envelope.js";
import { memberKey } from "../src/ids.js";
import { RootSeed } from "../src/keys.js";
import { messageKey, roomDeviceId } from "../src/messages.js";
import { BUCKETS, pad, unpad } from "../src/padding.js";
import { canonical, decodeJson, toJsonValue } from "../src/wire/codec.js";
import type { Envelope, EnvelopeHeader, Plaintext } from "../src/wire/schema.gen.js";
import { detRng } from "./detrng.js";

export function checkSealed(label: string, v: any): Plaintext {
  const h = fromHex;
  const envelope = decodeJson<Envelope>("Envelope", v.envelope);
  const keys = new RootSeed(h(v.sender_root_seed)).roomKeys(v.room);
  const header = canonical("EnvelopeHeader", envelope.header);
  expect(hex(canonical("EnvelopeHeader", decodeJson<EnvelopeHeader>("EnvelopeHeader", v.header)))).toBe(hex(header));
  expect([envelope.header.sender, envelope.header.room]).toEqual([keys.member, v.room]);
  expect(keys.member).toBe(v.sender);
  expect(hex(header)).toBe(v.header_canonical);
  expect(hex(concat(CTX_MSG_AD, header))).toBe(v.associated_data);
  expect(hex(envelope.header.nonce)).toBe(v.nonce);
  expect(hex(envelope.ciphertext)).toBe(v.ciphertext);
  expect(hex(envelope.sig)).toBe(v.signature);
  const key = messageKey(h(v.epoch_secret));
  expect(hex(key)).toBe(v.key);
  const padded = aeadDecrypt(key, h(v.nonce), h(v.ciphertext), h(v.associated_data));
  expect(hex(padded)).toBe(v.padded);
  expect(BUCKETS).toContain(padded.length);
  const plaintext = decodeJson<Plaintext>("Plaintext", v.plaintext);
  expect(hex(plaintext.device)).toBe(hex(roomDeviceId(h(v.device_secret), v.room)));
  expect(hex(unpad(padded))).toBe(hex(canonical("Plaintext", plaintext)));
  expect(hex(canonical("Plaintext", plaintext))).toBe(v.plaintext_canonical);
  expect(hex(pad(h(v.plaintext_canonical)))).toBe(v.padded);
  expect(hex(concat(CTX_MSG, header, envelope.ciphertext))).toBe(v.signed_bytes);
  verify(memberKey(keys.member), CTX_MSG, concat(header, envelope.ciphertext), envelope.sig);
  const opened = openMessage(envelope, { epochSecret: h(v.epoch_secret) });
  expect(opened).toEqual(plaintext);
  expect(toJsonValue("Plaintext", opened)).toEqual(v.plaintext);

  // The other direction: seal the plaintext again, drawing from the same stream.
  const again = sealMessage(keys, plaintext, {
    epoch: envelope.header.epoch,
    epochSecret: h(v.epoch_secret),
    headIndex: envelope.header.head_index,
    head: envelope.header.head,
    rng: detRng(`${label}/${plaintext.counter}`),
  });
  expect(toJsonValue("Envelope", again)).toEqual(v.envelope);
  return plaintext;
}
