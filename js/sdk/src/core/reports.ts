/**
 * Reports: a member's signed report of a message, sealed to the room's moderators
 * (mirrors `client_sdk/_core/reports.py`).
 *
 * A `report` body is directed (`directed.ts`): only its recipients open it, and
 * everyone else reads nothing. It carries the reported message's own envelope as
 * evidence, which must verify and be the message the report names in this room; its
 * text is shown when this member holds that epoch's secret. A report that does not
 * open or whose evidence does not hold raises a `bad_message` alarm.
 */

import { openDirected } from "../directed.js";
import { openMessage, verifySignature } from "../envelope.js";
import { CryptoError, DecodeError, EnvelopeError } from "../errors.js";
import type { MemberId, MessageId } from "../ids.js";
import type { RoomKeys } from "../keys.js";
import type { ReportBody, ReportContent } from "../wire/schema.gen.js";
import type { Alarms } from "./alarms.js";
import type { Step } from "./step.js";

/** Announce the report in `step` if it is ours to read and holds; else alarm or pass. */
export function readReport(
  step: Step,
  alarms: Alarms,
  keys: RoomKeys,
  secrets: ReadonlyMap<number, Uint8Array>,
  args: { sender: MemberId; body: ReportBody; reportId: MessageId },
): void {
  let c: ReportContent | null;
  let text: string | null = null;
  try {
    c = openDirected(keys, args.sender, args.body);
    if (c === null) return; // not ours to read
    const evidence = c.evidence;
    verifySignature(evidence);
    if (evidence.header.room !== keys.room || evidence.header.id !== c.target) {
      throw new EnvelopeError("report evidence is another message", "msg.bad_room");
    }
    const secret = secrets.get(evidence.header.epoch);
    if (secret !== undefined) {
      const reported = openMessage(evidence, { epochSecret: secret }).body;
      if (reported.type === "text") text = reported.text;
    }
  } catch (exc) {
    if (!(exc instanceof CryptoError || exc instanceof DecodeError || exc instanceof EnvelopeError)) throw exc;
    alarms.raise(step, "bad_message", `report ${args.reportId}: ${exc.message}`, exc.code);
    return;
  }
  step.items.push({
    type: "ReportReceived",
    roomId: keys.room,
    reportId: args.reportId,
    reporter: args.sender,
    messageId: c.target,
    sender: c.evidence.header.sender,
    reason: c.reason,
    text,
    recipients: [...c.recipients],
    evidence: c.evidence,
  });
}
