/**
 * The room's own bodies: profile, ground rules, meeting schedule, risk plan, rule
 * acceptance (mirrors `client_sdk/_core/bodies.py`).
 *
 * Only moderators and owners speak for the room, judged at the message's place in
 * room order (`Ledger.roleAt`): a `profile`, `rules`, `schedule` or
 * `program.risk_plan` message from anyone else counts for nothing, an invalid
 * schedule is ignored, and a risk plan counts only in a program room. Rules only move
 * forward (a higher version replaces a lower one); publishing a version is accepting
 * it. Every member's acceptance is read from their signed `rules.accept` messages; a
 * post (text, edit, reaction) is refused to a muted member or one who has not
 * accepted the rules in force (`requireMayPost`).
 */

import type { MemberId, RoomId } from "../ids.js";
import type { Body } from "../messages.js";
import { ROLE_RANK, type Role } from "../ops.js";
import { validSchedule } from "../schedule.js";
import { PostingMuted, RulesNotAccepted } from "../sdkErrors.js";
import type { ProfileBody, RiskPlanBody, RulesBody, ScheduleBody } from "../wire/schema.gen.js";
import type { Ledger } from "./ledger.js";
import type { Step } from "./step.js";

const MODERATOR = ROLE_RANK.moderator;

/** A member's words in the room: what a mute or the rules hold back. */
export function isPost(body: Body): boolean {
  return body.type === "text" || body.type === "edit" || body.type === "reaction";
}

export class Bodies {
  profile: ProfileBody | null = null;
  rules: RulesBody | null = null;
  schedule: ScheduleBody | null = null;
  /** A program's path for a member at imminent risk (`program.risk_plan`). */
  riskPlan: RiskPlanBody | null = null;
  /** The newest rules version each member accepted (or published), from signed messages. */
  accepted = new Map<MemberId, number>();

  constructor(
    readonly room: RoomId,
    readonly ledger: Ledger,
  ) {}

  private inProgram(): boolean {
    return this.ledger.log.policy.kind === "program";
  }

  /** `member` accepted rules `version`; true if that is news. */
  noteAcceptance(member: MemberId, version: number): boolean {
    if (version <= (this.accepted.get(member) ?? 0)) return false;
    this.accepted.set(member, version);
    return true;
  }

  /** A room body read in room order at `place` (other bodies pass through). */
  fold(step: Step, sender: MemberId, body: Body, place: readonly [number, number]): void {
    if (body.type === "rules.accept") {
      if (this.noteAcceptance(sender, body.version)) {
        step.items.push({ type: "RulesAccepted", roomId: this.room, member: sender, version: body.version });
      }
      return;
    }
    if (body.type !== "room.profile" && body.type !== "rules" && body.type !== "schedule" && body.type !== "program.risk_plan") return;
    const role = this.ledger.roleAt(sender, place, { lowest: true });
    if (role === null || ROLE_RANK[role] < MODERATOR) return; // only moderators and owners speak for the room, at the message's place
    if (body.type === "program.risk_plan") {
      if (this.inProgram()) {
        this.riskPlan = body;
        step.items.push({ type: "RiskPlanChanged", roomId: this.room, text: body.text ?? "", lines: [...(body.lines ?? [])], by: sender });
      }
      return;
    }
    if (body.type === "schedule") {
      if (!validSchedule(body)) return;
      this.schedule = body;
      step.items.push({ type: "ScheduleChanged", roomId: this.room, schedule: body, by: sender });
      return;
    }
    if (body.type === "room.profile") {
      this.profile = body;
      step.items.push({
        type: "ProfileChanged",
        roomId: this.room,
        name: body.name,
        topic: body.topic ?? "",
        description: body.description ?? "",
        by: sender,
      });
      return;
    }
    // Publishing a version of the rules is accepting it.
    this.noteAcceptance(sender, body.version);
    if (this.rules === null || body.version > this.rules.version) {
      this.rules = body;
      step.items.push({ type: "RulesChanged", roomId: this.room, version: body.version, text: body.text, by: sender });
    }
  }

  /** Our own room body, applied at once (`role`: ours in the log now). */
  noteSent(me: MemberId, body: Body, role: Role | null): void {
    if (body.type === "rules.accept") {
      this.noteAcceptance(me, body.version);
      return;
    }
    if (body.type !== "rules" && body.type !== "room.profile" && body.type !== "schedule" && body.type !== "program.risk_plan") return;
    if (role === null || ROLE_RANK[role] < MODERATOR) return;
    if (body.type === "program.risk_plan") {
      if (this.inProgram()) this.riskPlan = body;
      return;
    }
    if (body.type === "schedule") {
      this.schedule = body;
      return;
    }
    if (body.type === "room.profile") {
      this.profile = body;
      return;
    }
    this.noteAcceptance(me, body.version);
    if (this.rules === null || body.version > this.rules.version) this.rules = body;
  }

  /**
   * Throw unless `body` is not a post, or we are unmuted and accepted the rules.
   * Throws `PostingMuted` (`room.muted`) or `RulesNotAccepted` (`rules.not_accepted`).
   */
  requireMayPost(me: MemberId, body: Body, muted: boolean): void {
    if (!isPost(body)) return;
    if (muted) throw new PostingMuted("a moderator muted you in this room", "room.muted");
    if (this.rules === null) return;
    if ((this.accepted.get(me) ?? 0) < this.rules.version) {
      throw new RulesNotAccepted(`accept version ${this.rules.version} of the ground rules before posting`, "rules.not_accepted");
    }
  }
}
