/**
 * Signing and checking the small signed statements of the protocol (mirrors
 * `protocol/signing.py`).
 *
 * Room-log operations, invite proofs, delete and erase requests, reports, support
 * requests, risk alerts and authentication answers are each signed over
 * `CTX_* || canonical(content)` with a context of their own, so a signature made for
 * one purpose is never valid for another (protocol.md 4.3). Verification always
 * re-encodes the decoded structure, never the bytes that arrived.
 */

import {
  CTX_AUTH,
  CTX_DELETE,
  CTX_ERASE,
  CTX_INVITE,
  CTX_INVITE_READ,
  CTX_OP,
  CTX_REPORT,
  CTX_RISK_ALERT,
  CTX_SUPPORT,
  KEY_BYTES,
  randomBytes,
  type Rng,
  sign,
  SigningKey,
  verify,
} from "./crypto.js";
import { CryptoError, DecodeError, EnvelopeError, HearthError } from "./errors.js";
import { type MemberId, memberKey, type MessageId, type RoomId } from "./ids.js";
import { strip } from "./pytext.js";
import type { RoomKeys } from "./keys.js";
import { UrlError, urlsplit } from "./urlsplit.js";
import { canonical, make } from "./wire/codec.js";
import type {
  DeleteContent,
  DeleteRequest,
  EraseContent,
  EraseRequest,
  OpContent,
  ReportContent,
  RiskAlertContent,
  SignedOp,
  SignedReport,
  SignedRiskAlert,
  SignedSupportRequest,
  SupportRequestContent,
} from "./wire/schema.gen.js";

/** What signs as a member: a room's keys, or the personal store's (`PersonalKeys`). */
export interface MemberSigner {
  readonly member: MemberId;
  sign(context: Uint8Array, payload: Uint8Array): Uint8Array;
}

/** Sign an operation of `keys.room` authored by `keys.member`. */
export function signOp(
  keys: RoomKeys,
  op: { index: number; prev: Uint8Array; at: number; body: OpContent["body"] },
): SignedOp {
  const content = make<OpContent>("OpContent", {
    room: keys.room,
    index: op.index,
    prev: op.prev,
    author: keys.member,
    at: op.at,
    body: op.body,
  });
  return { content, sig: keys.sign(CTX_OP, canonical("OpContent", content)) };
}

/**
 * A signed request to delete message `target`. `sender`, `device` and `counter` are
 * the target's, as its envelope and plaintext say: they are the one counter gap the
 * deletion excuses.
 */
export function signDelete(
  keys: RoomKeys,
  request: { target: MessageId; sender: MemberId; device: Uint8Array; counter: number; at: number },
): DeleteRequest {
  const content: DeleteContent = {
    room: keys.room,
    target: request.target,
    author: keys.member,
    at: request.at,
    sender: request.sender,
    device: request.device,
    counter: request.counter,
  };
  return { content, sig: keys.sign(CTX_DELETE, canonical("DeleteContent", content)) };
}

/** Check `sig` over `content` by member key `signer`; `msg.bad_signature` if not. */
function verifyByMember(signer: MemberId, context: Uint8Array, name: string, content: unknown, sig: Uint8Array, refusal: string): void {
  try {
    verify(memberKey(signer), context, canonical(name, content), sig);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof DecodeError) throw new EnvelopeError(refusal, "msg.bad_signature");
    throw exc;
  }
}

/** Check a delete request's signature by its author (`msg.bad_signature`). */
export function verifyDelete(request: DeleteRequest): void {
  verifyByMember(request.content.author, CTX_DELETE, "DeleteContent", request.content, request.sig, "delete request is not signed by its author");
}

/** A member's signed request to erase its messages, after log index `index`. */
export function signErase(keys: RoomKeys, request: { index: number; at: number }): EraseRequest {
  const content: EraseContent = { room: keys.room, member: keys.member, index: request.index, at: request.at };
  return { content, sig: keys.sign(CTX_ERASE, canonical("EraseContent", content)) };
}

/** Check an erase request's signature by the member it erases (`msg.bad_signature`). */
export function verifyErase(request: EraseRequest): void {
  verifyByMember(request.content.member, CTX_ERASE, "EraseContent", request.content, request.sig, "erase request is not signed by its member");
}

/** Sign a report as its reporter (`content.reporter` must be `keys.member`). */
export function signReport(keys: RoomKeys, content: ReportContent): SignedReport {
  return { content, sig: keys.sign(CTX_REPORT, canonical("ReportContent", content)) };
}

/** Check a report's signature by its reporter (`msg.bad_signature`). */
export function verifyReport(report: SignedReport): void {
  verifyByMember(report.content.reporter, CTX_REPORT, "ReportContent", report.content, report.sig, "report is not signed by its reporter");
}

/** Sign a support request as its requester (`content.requester` is `keys.member`). */
export function signSupportRequest(keys: RoomKeys, content: SupportRequestContent): SignedSupportRequest {
  return { content, sig: keys.sign(CTX_SUPPORT, canonical("SupportRequestContent", content)) };
}

/** Check a support request's signature by its requester (`msg.bad_signature`). */
export function verifySupportRequest(request: SignedSupportRequest): void {
  verifyByMember(
    request.content.requester,
    CTX_SUPPORT,
    "SupportRequestContent",
    request.content,
    request.sig,
    "support request is not signed by its requester",
  );
}

/** Sign a risk alert as its supporter (`content.supporter` is `keys.member`). */
export function signRiskAlert(keys: RoomKeys, content: RiskAlertContent): SignedRiskAlert {
  return { content, sig: keys.sign(CTX_RISK_ALERT, canonical("RiskAlertContent", content)) };
}

/** Check a risk alert's signature by its supporter (`msg.bad_signature`). */
export function verifyRiskAlert(alert: SignedRiskAlert): void {
  verifyByMember(
    alert.content.supporter,
    CTX_RISK_ALERT,
    "RiskAlertContent",
    alert.content,
    alert.sig,
    "risk alert is not signed by its supporter",
  );
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };
const ASCII = /^[\x00-\x7f]*$/;

/**
 * The origin a relay at `url` binds into challenges (protocol.md 9.1).
 *
 * `scheme://host[:port]`: scheme `http` or `https` and host in lower case (an IPv6
 * address in brackets), the port in decimal and only if it is not the scheme's
 * default (80, 443), no user info, no trailing slash; path, query and fragment are
 * dropped. A client compares the challenge's `origin` with this string of the URL it
 * was configured with, character for character. URLs are read as Python's
 * `urllib.parse.urlsplit` reads them, so both SDKs agree on every URL.
 *
 * Throws `HearthError` (`auth.bad_origin`) if `url` is not an http(s) URL with a host.
 */
export function canonicalOrigin(url: string): string {
  let scheme: string;
  let host: string | null;
  let port: number | null;
  let hasUserInfo: boolean;
  try {
    const parts = urlsplit(strip(url));
    port = parts.port;
    scheme = parts.scheme.toLowerCase();
    host = parts.hostname;
    hasUserInfo = parts.hasUserInfo;
  } catch (exc) {
    if (exc instanceof UrlError) throw new HearthError(`not an http(s) URL: ${JSON.stringify(url)}`, "auth.bad_origin");
    throw exc;
  }
  const defaultPort = Object.hasOwn(DEFAULT_PORTS, scheme) ? DEFAULT_PORTS[scheme] : undefined;
  if (defaultPort === undefined || !host || !ASCII.test(host)) {
    throw new HearthError(`not an http(s) URL with an ASCII host: ${JSON.stringify(url)}`, "auth.bad_origin");
  }
  if (hasUserInfo) throw new HearthError(`an origin has no user info: ${JSON.stringify(url)}`, "auth.bad_origin");
  if (host.includes(":")) host = `[${host}]`;
  if (port === null || port === defaultPort) return `${scheme}://${host}`;
  return `${scheme}://${host}:${port}`;
}

/** Answer a relay's challenge for this room key (or personal-store key): the signature. */
export function signAuth(keys: MemberSigner, answer: { origin: string; challenge: Uint8Array; expiresAt: number }): Uint8Array {
  const content = { origin: answer.origin, challenge: answer.challenge, key: keys.member, expires_at: answer.expiresAt };
  return keys.sign(CTX_AUTH, canonical("AuthContent", content));
}

/** Check an answer to a challenge (`auth.bad_signature`). */
export function verifyAuth(answer: { key: MemberId; origin: string; challenge: Uint8Array; expiresAt: number; sig: Uint8Array }): void {
  const content = { origin: answer.origin, challenge: answer.challenge, key: answer.key, expires_at: answer.expiresAt };
  try {
    verify(memberKey(answer.key), CTX_AUTH, canonical("AuthContent", content), answer.sig);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof DecodeError) {
      throw new HearthError("challenge answer does not verify", "auth.bad_signature");
    }
    throw exc;
  }
}

/** Check an invite holder's request to read a room's log (`auth.bad_signature`). */
export function verifyInviteRead(request: { inviteKey: Uint8Array; room: RoomId; reader: MemberId; at: number; sig: Uint8Array }): void {
  const content = { room: request.room, reader: request.reader, at: request.at };
  try {
    verify(request.inviteKey, CTX_INVITE_READ, canonical("InviteReadContent", content), request.sig);
  } catch (exc) {
    if (exc instanceof CryptoError) throw new HearthError("invite read request does not verify", "auth.bad_signature");
    throw exc;
  }
}

/** The key pair behind an invite link; its 32-byte secret travels in the URL fragment. */
export class InviteKey {
  readonly #signing: SigningKey;
  readonly secret: Uint8Array;
  /** The invite's Ed25519 public key (`invite_key` in the log). */
  readonly publicKey: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.length !== KEY_BYTES) throw new RangeError("an invite secret is 32 bytes");
    this.secret = Uint8Array.from(secret);
    this.#signing = new SigningKey(secret);
    this.publicKey = this.#signing.publicKey;
  }

  static generate(rng: Rng = randomBytes): InviteKey {
    return new InviteKey(rng(KEY_BYTES));
  }

  toString(): string {
    return "InviteKey(<secret>)";
  }

  /** Let `joiner` join `room` at log `index` with this invite (`CTX_INVITE`). */
  prove(proof: { room: RoomId; index: number; joiner: MemberId; boxKey: Uint8Array }): Uint8Array {
    const content = { room: proof.room, index: proof.index, joiner: proof.joiner, box_key: proof.boxKey };
    return sign(this.#signing, CTX_INVITE, canonical("InviteProof", content));
  }

  /** Let `reader` read `room`'s log before joining (`CTX_INVITE_READ`). */
  proveRead(read: { room: RoomId; reader: MemberId; at: number }): Uint8Array {
    return sign(this.#signing, CTX_INVITE_READ, canonical("InviteReadContent", { room: read.room, reader: read.reader, at: read.at }));
  }
}
