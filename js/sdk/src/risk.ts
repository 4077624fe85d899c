/**
 * The driver of a program's risk path: publishing the plan, raising an alert
 * (mirrors `client_sdk/_risk.py`).
 *
 * What a message means is decided in the room core (`core/bodies.ts` for the plan,
 * `core/risk.ts` for help and alerts); what is here does the I/O around it for
 * `Room`:
 *
 * - `setRiskPlan`: a program's moderator or owner publishes `program.risk_plan` (the
 *   room's encrypted state, re-sent to newcomers with the profile and rules,
 *   `RoomDriver.republish`);
 * - `raiseRiskAlert`: from the buddy chat of a request this device claimed, the
 *   supporter first shows both buddies the program's help (`support.risk` in the
 *   buddy chat: the person's safety before anything else), then alerts the program's
 *   owners and moderators with a directed `support.alert` (`sealDirected`, as a report
 *   is sealed), and reads both rooms back so both sides' events follow.
 *
 * Without a published plan the alert still goes out and the help message carries no
 * lines: each device shows its own built-in lines (`CrisisDirectory`), so there is
 * always something to call. No relay support is needed.
 */

import { sealDirected } from "./directed.js";
import type { RoomDriver } from "./driver.js";
import type { RoomHost } from "./host.js";
import type { MemberId, RoomId } from "./ids.js";
import { MAX_READERS } from "./programs.js";
import { RelayUnavailable, SupportError } from "./sdkErrors.js";
import type { RiskAlert, SupportRequest } from "./support.js";
import type { CrisisResource, RiskAlertContent, RiskHelpBody } from "./wire/schema.gen.js";

const MAX_LINES = 50;
const ALERTERS: ReadonlySet<string> = new Set(["supporter", "moderator", "owner"]);
const ALERTED: ReadonlySet<string> = new Set(["moderator", "owner"]);

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Publish the program's risk plan (`Room.setRiskPlan`). */
export async function setRiskPlan(host: RoomHost, room: RoomId, text: string, lines: Iterable<CrisisResource>): Promise<void> {
  const driver = host.driver(room);
  const state = driver.state;
  state.requireSendable();
  if (state.policy.kind !== "program") throw new SupportError("a risk plan is for program rooms", "support.not_program");
  if (!ALERTED.has(state.log.roleOf(state.me) ?? "")) {
    throw new SupportError("only the program's moderators and owners publish its risk plan", "support.not_moderator");
  }
  const chosen = [...lines];
  if (chosen.length > MAX_LINES) throw new SupportError(`a risk plan lists at most ${MAX_LINES} lines`, "support.bad_plan");
  await driver.send({ type: "program.risk_plan", text, lines: chosen });
}

/** The program, and our claimed request there, whose buddy chat is `buddy`. */
function claimOf(host: RoomHost, buddy: RoomId): [RoomDriver, SupportRequest] {
  for (const driver of host.rooms.values()) {
    const state = driver.state;
    if (state.policy.kind !== "program" || state.support.empty) continue;
    const view = state.support.claimOf(buddy);
    if (view !== null) return [driver, view];
  }
  throw new SupportError("a risk alert is raised from the buddy chat of a request you claimed", "support.not_buddy_chat");
}

/** As the supporter in this buddy chat, show the help and alert the moderators (`Room.raiseRiskAlert`). */
export async function raiseRiskAlert(host: RoomHost, room: RoomId, note: string): Promise<RiskAlert> {
  const chat = host.driver(room);
  chat.state.requireSendable();
  if (chat.state.policy.kind !== "buddy") throw new SupportError("this is not a buddy chat", "support.not_buddy_chat");
  const [program, view] = claimOf(host, room);
  const state = program.state;
  state.requireSendable();
  if (!ALERTERS.has(state.log.roleOf(state.me) ?? "")) {
    throw new SupportError("only the program's supporters raise a risk alert", "support.not_supporter");
  }
  const plan = state.riskPlan;
  const help: RiskHelpBody = plan !== null ? { type: "support.risk", text: plan.text ?? "", lines: [...(plan.lines ?? [])] } : { type: "support.risk", text: "", lines: [] };
  // The person sees the help first: nothing below may hold it back.
  const helpId = await chat.send(help);

  let moderators: [MemberId, Uint8Array][] = [];
  for (const m of state.log.members.values()) if (ALERTED.has(m.role) && m.id !== state.me) moderators.push([m.id, m.boxKey]);
  if (moderators.length === 0) {
    throw new SupportError("the help is shown; this program has no owner or moderator but you to alert", "support.no_moderators");
  }
  // The seals hold no more: an alert reaching 255 moderators beats none at all.
  moderators = moderators.sort((a, b) => cmp(a[0], b[0])).slice(0, MAX_READERS);
  const content: RiskAlertContent = {
    room: program.room,
    supporter: state.me,
    member: view.requester,
    request: view.id,
    buddy_room: room,
    note,
    recipients: moderators.map(([m]) => m),
    at: program.clock.nowMs(),
  };
  const readers = new Map<MemberId, Uint8Array>([...moderators, [state.me, state.keys.boxPublic]]);
  const [seals, ciphertext] = sealDirected(state.keys, content, [...readers].sort((a, b) => cmp(a[0], b[0])));
  const alertId = await program.send({ type: "support.alert", seals, ciphertext });
  try {
    await host.sync();
  } catch (exc) {
    if (!(exc instanceof RelayUnavailable)) throw exc; // both wait in the outbox; events tell
  }
  return Object.freeze({
    buddyRoomId: room,
    helpId,
    programId: program.room,
    alertId,
    requestId: view.id,
    member: view.requester,
    moderators: moderators.map(([m]) => m),
    planned: plan !== null,
    text: help.text ?? "",
    lines: help.lines ?? [],
  });
}
