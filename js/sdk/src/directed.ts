/**
 * Directed messages (mirrors `protocol/directed.py`): reports, support requests and
 * risk alerts, readable by chosen members only.
 *
 * A directed message is signed inside and sealed outside. Its author signs the
 * content with their room key (`CTX_REPORT`, `CTX_SUPPORT` or `CTX_RISK_ALERT`), the
 * signed content goes into a secret box under a fresh random key, and that key is
 * sealed (`crypto_box_seal`) to each reader's X25519 key from the verified log.
 * Members who hold the epoch secret see who the seals name and no more; the relay
 * sees less still.
 *
 * Opening checks everything a reader relies on before anything is returned: the seal
 * opens, the box opens, the content decodes and is signed by the envelope's sender
 * for this room, and it names the reader (the author of a support request or a risk
 * alert reads their own back too). `sealDirected` and `openDirected` are the only code
 * that seals or opens one.
 */

import { KEY_BYTES, randomBytes, type Rng, seal, secretboxDecrypt, secretboxEncrypt, unseal } from "./crypto.js";
import { EnvelopeError } from "./errors.js";
import type { MemberId } from "./ids.js";
import type { RoomKeys } from "./keys.js";
import { signReport, signRiskAlert, signSupportRequest, verifyReport, verifyRiskAlert, verifySupportRequest } from "./signing.js";
import { canonical, decodeMsgpack } from "./wire/codec.js";
import type {
  ReportBody,
  ReportContent,
  ReportSeal,
  RiskAlertBody,
  RiskAlertContent,
  SignedReport,
  SignedRiskAlert,
  SignedSupportRequest,
  SupportRequestBody,
  SupportRequestContent,
  SupportResealBody,
} from "./wire/schema.gen.js";

/** What a report, a support request or a risk alert says. */
export type DirectedContent = ReportContent | SupportRequestContent | RiskAlertContent;

/** A body that carries a directed message. */
export type DirectedBody = ReportBody | SupportRequestBody | SupportResealBody | RiskAlertBody;

/**
 * Sign `content` as `keys.member` and seal it to `readers`.
 *
 * `readers` maps member id to X25519 public key, from the verified log; one seal
 * each, in this order. `rng` draws the box key and then the nonce. Returns the seals
 * and the ciphertext of a `ReportBody`, `SupportRequestBody`, `SupportResealBody` or
 * `RiskAlertBody`. Throws `CryptoError` (`crypto.bad_key`) for a reader key nothing
 * can be sealed to.
 */
export function sealDirected(
  keys: RoomKeys,
  content: DirectedContent,
  readers: Iterable<readonly [MemberId, Uint8Array]>,
  rng: Rng = randomBytes,
): [ReportSeal[], Uint8Array] {
  const key = rng(KEY_BYTES);
  const seals: ReportSeal[] = [];
  for (const [member, boxKey] of readers) seals.push({ member, box: seal(boxKey, key) });
  let signed: Uint8Array;
  if ("reporter" in content) signed = canonical("SignedReport", signReport(keys, content));
  else if ("supporter" in content) signed = canonical("SignedRiskAlert", signRiskAlert(keys, content));
  else signed = canonical("SignedSupportRequest", signSupportRequest(keys, content));
  return [seals, secretboxEncrypt(key, signed, rng)];
}

/**
 * The checked content of a directed message sealed to `keys.member`, or `null` if no
 * seal names the reader (not theirs to read).
 *
 * `sender` is the sender of the envelope that carried `body`.
 *
 * Throws `CryptoError` (`crypto.unseal_failed` / `crypto.decrypt_failed`: a seal names
 * the reader but does not open), `DecodeError` (the content does not decode), or
 * `EnvelopeError`: `msg.bad_signature` (not signed by its author) or `msg.bad_room`
 * (its author is not `sender`, it names another room, or it does not name the reader,
 * who is not its author either).
 */
export function openDirected(keys: RoomKeys, sender: MemberId, body: ReportBody): ReportContent | null;
export function openDirected(keys: RoomKeys, sender: MemberId, body: SupportRequestBody | SupportResealBody): SupportRequestContent | null;
export function openDirected(keys: RoomKeys, sender: MemberId, body: RiskAlertBody): RiskAlertContent | null;
export function openDirected(keys: RoomKeys, sender: MemberId, body: DirectedBody): DirectedContent | null;
export function openDirected(keys: RoomKeys, sender: MemberId, body: DirectedBody): DirectedContent | null {
  const found = body.seals.find((s) => s.member === keys.member);
  if (found === undefined) return null;
  const plain = secretboxDecrypt(unseal(keys.box, found.box), body.ciphertext);
  if (body.type === "report") {
    const report = decodeMsgpack<SignedReport>("SignedReport", plain);
    verifyReport(report);
    const c = report.content;
    if (c.reporter !== sender || c.room !== keys.room || !c.recipients.includes(keys.member)) {
      throw new EnvelopeError("report names another reporter or room", "msg.bad_room");
    }
    return c;
  }
  if (body.type === "support.alert") {
    const alert = decodeMsgpack<SignedRiskAlert>("SignedRiskAlert", plain);
    verifyRiskAlert(alert);
    const a = alert.content;
    if (a.supporter !== sender || a.room !== keys.room) {
      throw new EnvelopeError("risk alert names another supporter or room", "msg.bad_room");
    }
    // The supporter seals to their own key too, to read it back on another device.
    if (keys.member !== sender && !a.recipients.includes(keys.member)) {
      throw new EnvelopeError("risk alert does not name us", "msg.bad_room");
    }
    return a;
  }
  const request = decodeMsgpack<SignedSupportRequest>("SignedSupportRequest", plain);
  verifySupportRequest(request);
  const r = request.content;
  if (r.requester !== sender || r.room !== keys.room) {
    throw new EnvelopeError("support request names another requester or room", "msg.bad_room");
  }
  // The requester seals to their own key too, to read it back on another device.
  if (keys.member !== sender && !r.recipients.includes(keys.member)) {
    throw new EnvelopeError("support request does not name us", "msg.bad_room");
  }
  return r;
}
