/**
 * A program's path for a member at imminent risk, as the room core reads it (mirrors
 * `client_sdk/_core/risk.py`).
 *
 * Two bodies, each judged at the message's place in room order (`Ledger.roleAt`, the
 * lowest role held over the span), so every reader decides alike and a role gained
 * later grants nothing before:
 *
 * - `support.risk` (`RiskHelpBody`) counts only in a buddy chat and only from its
 *   owner, the supporter whose claim opened it: both buddies' devices announce
 *   `RiskHelpShown`. Anyone else's is ignored.
 * - `support.alert` (`RiskAlertBody`) counts only in a program room and only from a
 *   member whose role there is supporter, moderator or owner. It is directed: only
 *   the owners and moderators it is sealed to (and the sender's own devices) open it
 *   and announce `RiskAlertReceived`. Anyone else's is ignored unopened, with no
 *   alarm; one from a supporter that is sealed to us but does not open, or whose
 *   signed content is not the sender's, raises `bad_message` as a report would.
 *
 * The program's plan itself (`program.risk_plan`) is a room body like the rules
 * (`bodies.ts`).
 */

import { openDirected } from "../directed.js";
import { CryptoError, DecodeError, EnvelopeError } from "../errors.js";
import type { MemberId, MessageId } from "../ids.js";
import type { RoomKeys } from "../keys.js";
import type { Body } from "../messages.js";
import { ROLE_RANK } from "../ops.js";
import type { RiskAlertContent } from "../wire/schema.gen.js";
import type { Alarms } from "./alarms.js";
import type { Ledger } from "./ledger.js";
import type { Step } from "./step.js";

/** The bodies of the risk path (the plan is a room body, `bodies.ts`). */
export const RISK_BODIES: ReadonlySet<string> = new Set(["support.risk", "support.alert"]);

const SUPPORTER = ROLE_RANK.supporter;
/** The last millisecond of year 9999, where Python's datetime ends. */
export const MAX_MS = 253_402_300_799_999;

/** Announce a risk body in `step` if it counts here and is ours to read. */
export function readRisk(
  step: Step,
  alarms: Alarms,
  keys: RoomKeys,
  ledger: Ledger,
  args: { sender: MemberId; body: Body; messageId: MessageId; place: readonly [number, number] },
): void {
  const { sender, body, messageId, place } = args;
  const kind = ledger.log.policy.kind;
  const role = ledger.roleAt(sender, place, { lowest: true });
  if (body.type === "support.risk") {
    if (kind === "buddy" && role === "owner") {
      step.items.push({
        type: "RiskHelpShown",
        roomId: keys.room,
        messageId,
        text: body.text ?? "",
        lines: [...(body.lines ?? [])],
        by: sender,
      });
    }
    return;
  }
  if (body.type !== "support.alert" || kind !== "program") return;
  if (role === null || ROLE_RANK[role] < SUPPORTER) return; // a plain member's alert counts for nothing, on every reader
  let alert: RiskAlertContent | null;
  try {
    alert = openDirected(keys, sender, body);
  } catch (exc) {
    if (!(exc instanceof CryptoError || exc instanceof DecodeError || exc instanceof EnvelopeError)) throw exc;
    alarms.raise(step, "bad_message", `risk alert ${messageId}: ${exc.message}`, exc.code);
    return;
  }
  if (alert === null) return; // not ours to read
  step.items.push({
    type: "RiskAlertReceived",
    roomId: keys.room,
    alertId: messageId,
    supporter: sender,
    member: alert.member,
    requestId: alert.request,
    buddyRoomId: alert.buddy_room,
    note: alert.note,
    at: new Date(Math.min(alert.at, MAX_MS)),
  });
}
