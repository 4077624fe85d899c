/**
 * Sealing and opening message envelopes (mirrors `protocol/envelope.py`, protocol.md 8).
 *
 * `sealMessage` pads the plaintext to a bucket, encrypts it with XChaCha20-Poly1305
 * under the epoch's message key with `CTX_MSG_AD || canonical(header)` as associated
 * data, and signs `CTX_MSG || canonical(header) || ciphertext` with the sender's room
 * key. `openMessage` checks the signature before it decrypts anything. `checkEnvelope`
 * is what the relay runs before it stores a message: the same checks minus
 * decryption, against its verified log.
 *
 * `checkPlace` is the admission rule at one log position (the epoch in force, no
 * rotation pending, the sender a member): the relay applies it to its log as it
 * stands when it stores a message, and the SDK to the log as it stood where a message
 * sits in room order and at the head it names, so both refuse a message for the same
 * reason. Both take the log through small structural interfaces (`LogPlace`,
 * `LogView`), which the room log satisfies.
 */

import { b64url, concat } from "./bytes.js";
import {
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  aeadDecrypt,
  aeadEncrypt,
  CTX_MSG,
  CTX_MSG_AD,
  randomBytes,
  type Rng,
  verifyJoined,
} from "./crypto.js";
import { CryptoError, DecodeError, EnvelopeError, ForkDetected } from "./errors.js";
import { type MemberId, memberKey, type MessageId, newMessageId, type RoomId } from "./ids.js";
import type { RoomKeys } from "./keys.js";
import { BODY_TAGS, messageKey } from "./messages.js";
import { BUCKETS, pad, unpadView } from "./padding.js";
import { canonical, decodeJson, decodeMsgpack, make } from "./wire/codec.js";
import type { Envelope, EnvelopeHeader, Frame, Plaintext, Tag } from "./wire/schema.gen.js";

/** `newMessageId`'s size: a message id is 16 random bytes. */
const MESSAGE_ID_BYTES = 16;

/** Encrypt and sign `plaintext` for `keys.room` under `epoch`. */
export function sealMessage(
  keys: RoomKeys,
  plaintext: Plaintext,
  options: {
    epoch: number;
    epochSecret: Uint8Array;
    headIndex: number;
    head: Uint8Array;
    /** Resending an earlier message keeps its id, which makes the send idempotent. */
    messageId?: MessageId | null;
    rng?: Rng;
  },
): Envelope {
  let id: MessageId;
  let nonce: Uint8Array;
  if (options.rng == null && !options.messageId) {
    // The platform CSPRNG, asked once for both: each call costs 1.5 µs in Node.
    const drawn = randomBytes(MESSAGE_ID_BYTES + AEAD_NONCE_BYTES);
    id = b64url(drawn.subarray(0, MESSAGE_ID_BYTES));
    nonce = drawn.slice(MESSAGE_ID_BYTES);
  } else {
    const rng = options.rng ?? randomBytes;
    // The id is drawn before the nonce (protocol.md 8.2), so a fixed rng gives fixed bytes.
    id = options.messageId || newMessageId(rng);
    nonce = rng(AEAD_NONCE_BYTES);
  }
  const header = make<EnvelopeHeader>("EnvelopeHeader", {
    room: keys.room,
    epoch: options.epoch,
    sender: keys.member,
    id,
    head_index: options.headIndex,
    head: options.head,
    nonce,
  });
  const headerBytes = canonical("EnvelopeHeader", header);
  const ciphertext = aeadEncrypt(
    messageKey(options.epochSecret),
    header.nonce,
    pad(canonical("Plaintext", plaintext)),
    [CTX_MSG_AD, headerBytes],
  );
  const sig = keys.sign(CTX_MSG, concat(headerBytes, ciphertext));
  return { header, ciphertext, sig };
}

/** Check the sender's signature (`msg.bad_signature`); return the header's canonical bytes. */
export function verifySignature(envelope: Envelope): Uint8Array {
  const headerBytes = canonical("EnvelopeHeader", envelope.header);
  try {
    verifyJoined(memberKey(envelope.header.sender), CTX_MSG, headerBytes, envelope.ciphertext, envelope.sig);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof DecodeError) {
      throw new EnvelopeError("message is not signed by its sender", "msg.bad_signature");
    }
    throw exc;
  }
  return headerBytes;
}

/**
 * Verify, decrypt and decode an envelope with its epoch's secret.
 *
 * `key` is `messageKey(epochSecret)`, if the caller keeps it per epoch (opening many
 * messages of one epoch then derives it once). A body whose tag this version does not
 * know comes back as an `UnsupportedBody` with its device and counter.
 *
 * Throws `EnvelopeError`: `msg.bad_signature`, `msg.decrypt_failed` (wrong epoch
 * secret or tampered ciphertext), `msg.bad_padding` or `msg.malformed` (the
 * plaintext does not decode).
 */
export function openMessage(envelope: Envelope, options: { epochSecret: Uint8Array; key?: Uint8Array | null }): Plaintext {
  const headerBytes = verifySignature(envelope);
  let padded: Uint8Array;
  try {
    padded = aeadDecrypt(
      options.key ?? messageKey(options.epochSecret),
      envelope.header.nonce,
      envelope.ciphertext,
      [CTX_MSG_AD, headerBytes],
    );
  } catch (exc) {
    if (exc instanceof CryptoError) throw new EnvelopeError("message does not decrypt", "msg.decrypt_failed");
    throw exc;
  }
  const data = unpadView(padded); // `padded` is ours alone: no copy
  try {
    return decodeMsgpack<Plaintext>("Plaintext", data);
  } catch (exc) {
    if (exc instanceof DecodeError) return unsupported(data, exc);
    throw exc;
  }
}

/** A plaintext whose body has a tag newer than this code, kept as an `UnsupportedBody`. */
function unsupported(data: Uint8Array, error: DecodeError): Plaintext {
  const malformed = new EnvelopeError(`plaintext does not decode: ${error.message}`, "msg.malformed");
  let frame: Frame;
  let tag: string;
  try {
    frame = decodeMsgpack<Frame>("Frame", data);
    const body = frame.body;
    // The body must be a map with a string `type`, as Python's `_Tag` reads it.
    if (typeof body !== "object" || body === null || Array.isArray(body) || body instanceof Uint8Array) throw malformed;
    tag = decodeJson<Tag>("Tag", body).type;
  } catch (exc) {
    if (exc instanceof DecodeError || exc === malformed) throw malformed;
    throw exc;
  }
  if (BODY_TAGS.has(tag)) throw malformed;
  return { device: frame.device, counter: frame.counter, sent_at: frame.sent_at, body: { type: "unsupported", kind: tag }, skipped: [] };
}

/**
 * The room as it stood once the operation at one log index applied. The room log is
 * one (at its newest index); the SDK keeps one per index to judge messages against the
 * log as it was where they sit.
 */
export interface LogPlace {
  readonly epoch: number;
  readonly needsRotation: boolean;
  readonly members: { has(member: MemberId): boolean };
}

/** What `checkEnvelope` reads of a verified room log (the room log satisfies it). */
export interface LogView extends LogPlace {
  readonly room: RoomId;
  /** True if the log holds `head` at `index`, false if `index` is beyond it; throws `ForkDetected` otherwise. */
  checkHead(index: number, head: Uint8Array): boolean;
  /** The epoch in force once the operation at `index` applied. */
  epochAt(index: number): number;
}

/**
 * The admission rule at one log position: may `header`'s sender send there? `where`
 * says which position it is (`"now"`, `"at the head it names"` ...), for the message.
 *
 * Throws `EnvelopeError`: `msg.stale_epoch` (not the epoch in force there, or a
 * rotation was due after a leave), then `msg.not_member` (the sender was not a
 * member there).
 */
export function checkPlace(header: EnvelopeHeader, place: LogPlace, where: string): void {
  if (header.epoch !== place.epoch || place.needsRotation) {
    throw new EnvelopeError(
      `message ${header.id} uses epoch ${header.epoch}, but the room was at epoch ${place.epoch}` +
        (place.needsRotation ? " awaiting rotation" : "") +
        ` ${where}`,
      "msg.stale_epoch",
    );
  }
  if (!place.members.has(header.sender)) throw new EnvelopeError(`${header.sender} was not a member ${where}`, "msg.not_member");
}

/**
 * The relay's admission check for a message, against its verified log (protocol.md 8.8).
 *
 * Throws `EnvelopeError`: `msg.bad_room`, `msg.bad_size` (the ciphertext is not a
 * padding bucket plus the tag), then `checkPlace` for the log now (`msg.stale_epoch`,
 * `msg.not_member`), `msg.unknown_head` (the named head is not in the log),
 * `msg.stale_epoch` (the named head is older than the epoch's commit),
 * `msg.bad_signature`.
 */
export function checkEnvelope(log: LogView, envelope: Envelope): void {
  const header = envelope.header;
  if (header.room !== log.room) throw new EnvelopeError("message names another room", "msg.bad_room");
  if (!BUCKETS.includes(envelope.ciphertext.length - AEAD_TAG_BYTES)) {
    throw new EnvelopeError("ciphertext length is not a padding bucket", "msg.bad_size");
  }
  checkPlace(header, log, "now");
  let known: boolean;
  try {
    known = log.checkHead(header.head_index, header.head);
  } catch (exc) {
    if (exc instanceof ForkDetected) throw new EnvelopeError("message names a head not in this log", "msg.unknown_head");
    throw exc;
  }
  if (!known) throw new EnvelopeError("message names a head not in this log", "msg.unknown_head");
  if (log.epochAt(header.head_index) !== header.epoch) {
    throw new EnvelopeError("message names a head from before its epoch's commit", "msg.stale_epoch");
  }
  verifySignature(envelope);
}
