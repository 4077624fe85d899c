/**
 * The verified log as the room core reads it: who stood where, at every log index
 * (mirrors `client_sdk/_core/ledger.py`).
 *
 * `Ledger` holds the verified `RoomLog` and, for every log index, the room's state
 * once that operation applied (`Standing`: epoch, pending rotation, members,
 * supporters), where each epoch started, how far the relay's event sequence has
 * reached in the log (`seqIndex`) and where the operations sit in that sequence.
 * From these it answers a message's *place* in room order and a member's role there
 * (`place`, `roleAt`): room-level messages count only if their sender had the
 * authority at that place, never as the log stands now.
 *
 * It also holds a head this person verified before (a restore, a linked device): the
 * log must reach it, and nothing is signed or sealed until it does (`pin`).
 */

import { ForkDetected } from "../errors.js";
import type { MemberId } from "../ids.js";
import type { MembershipEntry } from "../message.js";
import { ROLE_RANK, type Role } from "../ops.js";
import { checkVerifiedHead } from "../personal.js";
import { RoomLog } from "../roomlog.js";
import type { SignedOp, VerifiedHead } from "../wire/schema.gen.js";
import type { Alarms } from "./alarms.js";
import { Step } from "./step.js";
import { bisectLeft, setsEqual } from "./util.js";

/** Where this member stands in the room. */
export type Status = "active" | "left" | "removed" | "unreachable";

/** Room state once the operation at one index applied (a `LogPlace` for `checkPlace`). */
export interface Standing {
  readonly epoch: number;
  readonly needsRotation: boolean;
  readonly members: ReadonlySet<MemberId>;
  /** Members whose role is `supporter`: who may claim, in room order. */
  readonly supporters: ReadonlySet<MemberId>;
}

export class Ledger {
  log = new RoomLog();
  /** The newest log index the event sequence has reached (ops may apply earlier). */
  seqIndex = 0;
  readonly standings: Standing[] = [];
  /** Log index where each epoch started. */
  readonly epochStarts: number[] = [];
  /** Where log operations sit in the event sequence: (seq, index), sorted by seq. */
  readonly opSeqs: number[] = [];
  readonly opIndexes: number[] = [];
  /**
   * A head this person verified on another device (or before a restore) that the
   * log does not reach yet: nothing is signed or sealed here until it does.
   */
  pinned: VerifiedHead | null = null;

  constructor(readonly alarms: Alarms) {}

  /** Verify and apply `op` (throws as `RoomLog.append`). */
  append(op: SignedOp): void {
    const before = this.log.epoch;
    this.log.append(op);
    let members: ReadonlySet<MemberId> = new Set(this.log.members.keys());
    let supporters: ReadonlySet<MemberId> = new Set(
      [...this.log.members.values()].filter((m) => m.role === "supporter").map((m) => m.id),
    );
    const last = this.standings.at(-1);
    if (last !== undefined && setsEqual(last.members, members)) members = last.members; // most operations keep it
    if (last !== undefined && setsEqual(last.supporters, supporters)) supporters = last.supporters;
    this.standings.push({ epoch: this.log.epoch, needsRotation: this.log.needsRotation, members, supporters });
    if (this.log.epoch !== before) this.epochStarts.push(this.log.index);
  }

  /** Who was a member once the operation at `index` applied. */
  membersAt(index: number): ReadonlySet<MemberId> {
    return this.standings[index]!.members;
  }

  /** The author's clock (ms) on the operation that started the current epoch. */
  epochStartedAt(): number {
    const start = this.epochStarts.at(-1);
    return start === undefined ? 0 : this.log.ops[start]!.content.at;
  }

  // -- a room event's place in room order -------------------------------------------

  /** Record that the operation at log `index` sits at `seq` in the event sequence. */
  noteOpSeq(seq: number, index: number): void {
    const at = bisectLeft(this.opSeqs, seq);
    if (at < this.opSeqs.length && this.opSeqs[at] === seq) return;
    this.opSeqs.splice(at, 0, seq);
    this.opIndexes.splice(at, 0, index);
  }

  /**
   * The log indexes a room event at `seq` may sit after, as [first, last].
   *
   * Going forward it is exact: the sequence has reached `seqIndex`. In history it is
   * fixed by the first operation recorded after `seq` (the log stood just before
   * it); without one, the span reaches our current head, and a role is then judged
   * by the lowest it held over the span: never more authority than the sender had at
   * the message's place.
   */
  place(seq: number, headIndex: number, options: { forward: boolean }): readonly [number, number] {
    if (options.forward) return [this.seqIndex, this.seqIndex];
    const at = bisectLeft(this.opSeqs, seq);
    const last = at < this.opSeqs.length ? this.opIndexes[at]! - 1 : this.log.index;
    const first = Math.max(headIndex, at ? this.opIndexes[at - 1]! : 0);
    return [Math.min(first, last), last];
  }

  /** `member`'s role at `place`: the lowest (or highest) held over its span. */
  roleAt(member: MemberId, place: readonly [number, number], options: { lowest: boolean }): Role | null {
    const roles = this.log.rolesBetween(member, place[0], place[1]);
    const held = roles.filter((r): r is Role => r !== null);
    if (options.lowest && held.length !== roles.length) return null; // not a member somewhere in the span
    if (held.length === 0) return null;
    let pick = held[0]!;
    for (const r of held) {
      if (options.lowest ? ROLE_RANK[r] < ROLE_RANK[pick] : ROLE_RANK[r] > ROLE_RANK[pick]) pick = r;
    }
    return pick;
  }

  // -- what the log says about one member --------------------------------------------

  /** The log index of `me`'s latest join (null: we created the room). */
  entryIndex(me: MemberId): number | null {
    const ops = this.log.ops;
    for (let i = ops.length - 1; i >= 0; i--) {
      const c = ops[i]!.content;
      if (c.body.type === "room.join" && c.author === me) return c.index;
    }
    return null;
  }

  /** Our clock on our latest join or create: at least the relay's time before it. */
  enteredAt(me: MemberId): number {
    const ops = this.log.ops;
    for (let i = ops.length - 1; i >= 0; i--) {
      const c = ops[i]!.content;
      if ((c.body.type === "room.join" || c.body.type === "room.create") && c.author === me) return c.at;
    }
    return 0;
  }

  /** The log index of `member`'s latest leave or removal up to `seqIndex`. */
  departedAt(member: MemberId): number {
    const ops = this.log.ops;
    for (let i = Math.min(this.seqIndex, ops.length - 1); i >= 0; i--) {
      const c = ops[i]!.content;
      if ((c.body.type === "room.leave" && c.author === member) || (c.body.type === "room.remove" && c.body.member === member)) {
        return c.index;
      }
    }
    return 0;
  }

  /** Every join, addition and leave in the verified log, in log order. */
  membershipHistory(): MembershipEntry[] {
    const entries: MembershipEntry[] = [];
    const log = this.log;
    for (const op of log.ops) {
      const c = op.content;
      const body = c.body;
      if (body.type === "room.join" || body.type === "room.create") {
        entries.push({ action: "join", member: c.author, by: null, role: log.roleAt(c.author, c.index), at: c.at });
      } else if (body.type === "room.add") {
        entries.push({ action: "add", member: body.member, by: c.author, role: body.role ?? "member", at: c.at });
      } else if (body.type === "room.leave") {
        entries.push({ action: "leave", member: c.author, by: null, role: log.roleAt(c.author, c.index - 1), at: c.at });
      }
    }
    return entries;
  }

  /** The shortest retention (days) the verified log had in force from `index` on. */
  retentionSince(index: number): number | null {
    let days: number | null = null;
    let shortest: number | null = null;
    for (const op of this.log.ops) {
      const body = op.content.body;
      if (body.type === "room.create") days = body.policy.retention_days ?? null;
      else if (body.type === "room.retention") days = body.retention_days ?? null;
      else continue;
      if (op.content.index < index) shortest = days; // the value in force when `index` was reached (so far)
      else if (days !== null) shortest = shortest === null ? days : Math.min(shortest, days);
    }
    return shortest;
  }

  // -- a head verified before (a restore, a linked device) ---------------------------

  /**
   * Require the log to hold `verified` (from the personal store or a link offer).
   *
   * Checked at once and again as the log grows: a log that ends before it raises a
   * `fork` alarm (`log.behind_verified_head`) and the room refuses to sign or seal
   * anything until the log reaches it; another operation at its index raises a
   * `fork` alarm that freezes the room.
   */
  pin(verified: VerifiedHead): Step {
    const step = new Step();
    if (this.log.index >= verified.index) {
      try {
        checkVerifiedHead(this.log, verified);
      } catch (exc) {
        if (!(exc instanceof ForkDetected)) throw exc;
        this.alarms.raise(step, "fork", exc.message, exc.code, { freezes: true });
      }
      return step;
    }
    const behindAlready = this.pinned !== null; // one alarm says it
    if (this.pinned === null || verified.index >= this.pinned.index) this.pinned = verified;
    if (!behindAlready) this.checkPin(step, { alarmIfBehind: true });
    return step;
  }

  /** Once the log reaches the pinned head, check it holds it (then forget it). */
  checkPin(step: Step, options: { alarmIfBehind?: boolean } = {}): void {
    const pinned = this.pinned;
    if (pinned === null || (this.log.index < pinned.index && !options.alarmIfBehind)) return;
    try {
      checkVerifiedHead(this.log, pinned);
    } catch (exc) {
      if (!(exc instanceof ForkDetected)) throw exc;
      const freezes = exc.code !== "log.behind_verified_head";
      this.alarms.raise(step, "fork", exc.message, exc.code, { freezes });
      return;
    }
    this.pinned = null;
  }

  /** The head to publish as this person's last verified one (null while unsure). */
  get verifiedHead(): VerifiedHead | null {
    if (this.pinned !== null || this.alarms.frozen || this.log.index < 0) return null;
    return { index: this.log.index, head: this.log.head };
  }
}

