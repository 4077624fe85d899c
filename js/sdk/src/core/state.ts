/**
 * One room as one client sees it: the facade of the pure room core, no I/O (mirrors
 * `client_sdk/_core/state.py`).
 *
 * One piece past 600 lines because it is the one object the
 * drivers hold: it owns the room's position in the event sequence and routes every
 * input, in the order the checks must run, to the collaborator that owns each
 * concept; cutting it would spread one ordering over several files.
 *
 * `RoomState` folds what the relay serves into what the app may see. It owns the
 * room's position in the relay's event sequence and the epoch secrets this member
 * unsealed, and hands every concept to the collaborator that owns its part of the
 * state: the verified log and pins (`ledger.ts`), admission of messages
 * (`admission.ts`), counters (`counters.ts`), alarms (`alarms.ts`), moderation, room
 * bodies, reports, programs, builders and persistence. Every input goes through it:
 *
 * - `receive(event)` takes the next room event in sequence order (`seq`). Operations
 *   go through `RoomLog.append`; messages through the head, epoch, membership,
 *   signature, decryption and counter checks, in that order. What passes comes back
 *   in a `Step` for the driver to store and announce, with the work it asks for as
 *   typed follow-ups (`followups.ts`).
 * - `openAhead(room, events, secrets)` (`step.ts`) verifies and decrypts a page's
 *   messages before `receive` reaches them. It is pure and decides nothing: `receive`
 *   uses a result only for the very envelope object and epoch secret it was made
 *   with, at the point where it would have called `openMessage` itself, so every
 *   check keeps its order and a refusal is the same refusal.
 * - `checkWithheld()` runs after a complete sync: a counter gap still open is a
 *   message the relay withheld.
 * - the `*Op` builders make this member's own signed operations, sealing every commit
 *   only to the X25519 keys of the verified log.
 *
 * Room-level messages (moderation, profile, rules, schedule, the risk path,
 * deletions) count only if their sender had the authority at the message's place in
 * room order: the log as it stood after the operations that precede the message in
 * `seq` order, never as it stands now.
 *
 * Invariants: nothing reaches `Step.accepted` or `Step.events` unless it verified; a
 * refused log operation freezes the room at its position until the alarm is
 * acknowledged; while any alarm is open the room refuses to send (`seal`, the op
 * builders). The driver persists a `snapshot()` after each step.
 */

import { canonical } from "../wire/codec.js";
import { SYSTEM_CLOCK } from "../clock.js";
import { randomBytes, type Rng } from "../crypto.js";
import { sealMessage } from "../envelope.js";
import { openCommit, openHistory } from "../epochs.js";
import { ForkDetected, LogError } from "../errors.js";
import type { Event, MessageDeleted, SecurityAlarm } from "../events.js";
import type { MemberId, MessageId, RoomId } from "../ids.js";
import type { RoomKeys } from "../keys.js";
import type { MembershipEntry, ModerationEntry, RoomMember } from "../message.js";
import type { Body } from "../messages.js";
import { commitOf, type FullPolicy, ROLE_RANK, type Role } from "../ops.js";
import type { RoomLog } from "../roomlog.js";
import { RoomBlocked, RoomInactive } from "../sdkErrors.js";
import type { InviteKey } from "../signing.js";
import type { SupportBook } from "../supportBook.js";
import { equalBytes } from "../bytes.js";
import type {
  Envelope,
  MessageEvent,
  OpContent,
  Plaintext,
  ProfileBody,
  RiskPlanBody,
  RulesBody,
  ScheduleBody,
  SignedOp,
  VerifiedHead,
} from "../wire/schema.gen.js";
import { Admission } from "./admission.js";
import { Alarms } from "./alarms.js";
import { Bodies, isPost } from "./bodies.js";
import { OpBuilder } from "./builders.js";
import { Counters } from "./counters.js";
import { Ledger, type Status } from "./ledger.js";
import { moderated, Moderation } from "./moderation.js";
import { Names } from "./names.js";
import { Outgoing } from "./outgoing.js";
import * as persistence from "./persistence.js";
import type { RoomSnapshot } from "./persistence.js";
import { Programs, SUPPORT_BODIES } from "./programs.js";
import { readReport } from "./reports.js";
import { readRisk, RISK_BODIES } from "./risk.js";
import { type Opened, type RoomEvent, Step } from "./step.js";

const MODERATOR = ROLE_RANK.moderator;
const INACTIVE: Readonly<Record<Status, string>> = {
  active: "",
  left: "you left this room",
  removed: "you were removed from this room",
  unreachable: "the relay no longer serves this room to you",
};

/** Whom an operation takes out of the room (their role is gone once it applied). */
function departing(c: OpContent): MemberId | null {
  const body = c.body;
  if (body.type === "room.remove" || body.type === "room.ban") return body.member;
  if (body.type === "room.leave") return c.author;
  return null;
}

function sameOp(a: SignedOp, b: SignedOp): boolean {
  return a === b || equalBytes(canonical("SignedOp", a), canonical("SignedOp", b));
}

export class RoomState {
  readonly keys: RoomKeys;
  readonly #secrets = new Map<number, Uint8Array>();
  position = 0;
  /** Events below this `seq` have not been looked at (lazy backfill goes down). */
  floor = 1;
  /** Where forward processing began (our join); backfill restarts here on new keys. */
  startSeq = 1;
  lowWater = 0;
  status: Status = "active";
  joinedEpoch = 1;
  epochMessages = 0;
  /** The relay's `ts` on the event at `position`. */
  positionTs = 0;
  readonly alarmBook: Alarms;
  readonly ledger: Ledger;
  readonly counters: Counters;
  readonly moderation: Moderation;
  readonly bodies: Bodies;
  readonly names: Names;
  readonly programs: Programs;
  readonly outgoing: Outgoing;
  readonly builder: OpBuilder;
  readonly admission: Admission;

  constructor(keys: RoomKeys) {
    this.keys = keys;
    this.alarmBook = new Alarms(keys.room);
    this.ledger = new Ledger(this.alarmBook);
    this.counters = new Counters(this.ledger, this.alarmBook);
    this.moderation = new Moderation(keys.room, this.ledger);
    this.bodies = new Bodies(keys.room, this.ledger);
    this.names = new Names(keys.room, keys.member, this.ledger);
    this.programs = new Programs(keys, this.ledger, this.alarmBook);
    this.outgoing = new Outgoing();
    this.builder = new OpBuilder(keys, this.#secrets, this.ledger);
    this.admission = new Admission({
      room: keys.room,
      secrets: this.#secrets,
      ledger: this.ledger,
      counters: this.counters,
      moderation: this.moderation,
      alarms: this.alarmBook,
    });
  }

  // -- construction and persistence ---------------------------------------------------

  /**
   * Rebuild a room from its stored log, secrets and snapshot.
   *
   * The log is verified again from its first operation: a store somebody edited
   * cannot smuggle an operation past `RoomLog`.
   */
  static restore(
    keys: RoomKeys,
    ops: Iterable<SignedOp>,
    secrets: ReadonlyMap<number, Uint8Array>,
    snapshot: Partial<RoomSnapshot>,
  ): RoomState {
    const state = new RoomState(keys);
    for (const op of ops) state.ledger.append(op);
    persistence.load(state, secrets, snapshot);
    return state;
  }

  /** The persisted form of everything but the log and the secrets (plain data). */
  snapshot(): RoomSnapshot {
    return persistence.dump(this);
  }

  // -- read-only views (and the few fields the driver sets) -----------------------------

  /** The epoch secrets this member holds, by epoch (one map for the state's life). */
  get secrets(): Map<number, Uint8Array> {
    return this.#secrets;
  }

  set secrets(secrets: ReadonlyMap<number, Uint8Array>) {
    // The collaborators read this very map: replace its contents, not the map.
    const fresh = new Map(secrets);
    this.#secrets.clear();
    for (const [e, s] of fresh) this.#secrets.set(e, s);
  }

  get log(): RoomLog {
    return this.ledger.log;
  }

  /** The newest log index the event sequence has reached (ops may apply earlier). */
  get seqIndex(): number {
    return this.ledger.seqIndex;
  }

  set seqIndex(index: number) {
    this.ledger.seqIndex = index;
  }

  /** A head verified before that the log does not reach yet (see `pin`). */
  get pinned(): VerifiedHead | null {
    return this.ledger.pinned;
  }

  get tracker(): Counters["tracker"] {
    return this.counters.tracker;
  }

  get profile(): ProfileBody | null {
    return this.bodies.profile;
  }

  set profile(profile: ProfileBody | null) {
    this.bodies.profile = profile;
  }

  get rules(): RulesBody | null {
    return this.bodies.rules;
  }

  get schedule(): ScheduleBody | null {
    return this.bodies.schedule;
  }

  /** A program's path for a member at imminent risk (`program.risk_plan`). */
  get riskPlan(): RiskPlanBody | null {
    return this.bodies.riskPlan;
  }

  /** The newest rules version each member accepted (or published), from signed messages. */
  get accepted(): ReadonlyMap<MemberId, number> {
    return this.bodies.accepted;
  }

  get muted(): ReadonlySet<MemberId> {
    return this.moderation.muted;
  }

  /** A program room's support queue (empty in other rooms). */
  get support(): SupportBook {
    return this.programs.book;
  }

  get sendCounter(): number {
    return this.outgoing.sendCounter;
  }

  set sendCounter(counter: number) {
    this.outgoing.sendCounter = counter;
  }

  /** Our counters the relay refused for good, not yet announced in a delivered message. */
  get refused(): ReadonlySet<number> {
    return this.outgoing.refused;
  }

  get room(): RoomId {
    return this.keys.room;
  }

  get me(): MemberId {
    return this.keys.member;
  }

  get policy(): FullPolicy {
    return this.log.policy;
  }

  /** Keys the verified log bans now (`room.ban` not lifted by `room.unban`). */
  get banned(): ReadonlySet<MemberId> {
    return new Set(this.log.banned.keys());
  }

  /** Unacknowledged alarms, oldest first. */
  get alarms(): readonly SecurityAlarm[] {
    return this.alarmBook.listed;
  }

  /**
   * True while an alarm is open, or the log is behind a head this person verified
   * before: the room refuses to send.
   */
  get blocked(): boolean {
    return this.alarmBook.open.size > 0 || this.pinned !== null;
  }

  /** True while a refused log operation holds the room at its position. */
  get frozen(): boolean {
    return this.alarmBook.frozen;
  }

  /** The head to publish as this person's last verified one (null while unsure). */
  get verifiedHead(): VerifiedHead | null {
    return this.ledger.verifiedHead;
  }

  /** Who was a member once the operation at `index` applied. */
  membersAt(index: number): ReadonlySet<MemberId> {
    return this.ledger.membersAt(index);
  }

  /** The author's clock (ms) on the operation that started the current epoch. */
  epochStartedAt(): number {
    return this.ledger.epochStartedAt();
  }

  /**
   * True if the next send must first commit a `room.rotate`.
   *
   * After a leave the log requires it (the leaver knows the epoch secret); otherwise
   * the schedule does: the epoch is older than `maxAgeMs` or carried `maxMessages`.
   */
  rotationDue(args: { now: number; maxAgeMs: number; maxMessages: number }): boolean {
    if (this.log.needsRotation) return true;
    return args.now - this.epochStartedAt() >= args.maxAgeMs || this.epochMessages >= args.maxMessages;
  }

  /** `member`'s name, label and role in the verified log (`names.ts`). */
  member(member: MemberId): RoomMember {
    return this.names.member(member);
  }

  /** The current members, owners first, then by label (`names.ts`). */
  members(): RoomMember[] {
    return this.names.members();
  }

  /** Every moderation step this member can verify, oldest first (`moderation.ts`). */
  moderationHistory(): ModerationEntry[] {
    return this.moderation.history();
  }

  /** Every join, addition and leave in the verified log (`ledger.ts`). */
  membershipHistory(): MembershipEntry[] {
    return this.ledger.membershipHistory();
  }

  // -- alarms and pins ------------------------------------------------------------------

  /**
   * Resolve alarms (all if `alarmIds` is omitted); return the ids resolved.
   *
   * Acknowledging an alarm that froze the room lets the next sync fetch the refused
   * events again: if the relay now serves a log that verifies, the room goes on; if
   * not, a new alarm is raised.
   */
  acknowledge(alarmIds?: Iterable<number> | null): number[] {
    return this.alarmBook.acknowledge(alarmIds);
  }

  /** Require the log to hold `verified` (see `Ledger.pin`). */
  pin(verified: VerifiedHead): Step {
    return this.ledger.pin(verified);
  }

  // -- the log --------------------------------------------------------------------------

  /**
   * Verify a log read before joining (no events: it is the room's past).
   * Throws `LogError` or `ForkDetected`: the relay served a log that does not verify.
   */
  loadLog(ops: Iterable<SignedOp>): void {
    for (const op of ops) this.ledger.append(op);
  }

  /** Verify and apply the next log operation; unseal its commit if it has our share. */
  applyOp(op: SignedOp): Step {
    const step = new Step();
    if (this.frozen) return step;
    const alarms = this.alarmBook;
    const gone = departing(op.content);
    const prior = gone === null ? null : this.log.roleOf(gone);
    try {
      this.ledger.append(op);
    } catch (exc) {
      if (exc instanceof ForkDetected) {
        alarms.raise(step, "fork", exc.message, exc.code, { freezes: true });
        return step;
      }
      if (exc instanceof LogError) {
        if (exc.code !== "log.replay") alarms.raise(step, "log_invalid", exc.message, exc.code, { freezes: true });
        return step;
      }
      throw exc;
    }
    step.ops.push(op);
    if (this.pinned !== null) this.ledger.checkPin(step);
    const c = op.content;
    const body = c.body;
    const commit = commitOf(body);
    if (commit !== null) {
      this.epochMessages = 0;
      if (commit.shares.some((s) => s.member === this.me)) {
        let secret: Uint8Array | null = null;
        let history: Map<number, Uint8Array> | null = null;
        try {
          secret = openCommit(commit, { prev: c.prev, keys: this.keys });
          history = openHistory(commit, { room: this.room, epochSecret: secret, confirms: this.log.confirms });
        } catch (exc) {
          if (!(exc instanceof LogError)) throw exc;
          alarms.raise(step, "log_invalid", exc.message, exc.code);
        }
        if (secret !== null && history !== null) {
          const fresh = new Map([...history].filter(([e]) => !this.#secrets.has(e)));
          if (fresh.size > 0) {
            // Older epochs became readable: look at the past again, with a fresh walk
            // (it checks each event's place as it goes down).
            if (this.floor < this.startSeq) this.counters.restartWalk();
            this.floor = Math.max(this.floor, this.startSeq);
          }
          fresh.set(commit.epoch, secret);
          for (const [e, s] of fresh) {
            this.#secrets.set(e, s);
            step.secrets.set(e, s);
          }
        }
      }
    }
    this.opEvents(step, c, prior);
    this.programs.afterOp(step, body, { active: this.status === "active" });
    step.items = this.names.describe(step.items);
    return step;
  }

  /** What an applied operation tells the app (and the status it gives us); `prior`: the departing member's role. */
  private opEvents(step: Step, c: OpContent, prior: Role | null): void {
    const body = c.body;
    const roomId = this.room;
    const active = this.status === "active";
    if ((body.type === "room.join" || body.type === "room.create") && c.author !== this.me) {
      const role = this.log.roleOf(c.author) ?? "member";
      step.items.push({ type: "MemberJoined", roomId, member: c.author, role, by: null, name: "", byName: "" });
      if (body.type === "room.join" && this.shouldRepublish(body.invite_key)) step.follow({ kind: "Republish" });
      this.names.afterJoin(step, c.author, { active });
    } else if (body.type === "room.add") {
      step.items.push({
        type: "MemberJoined",
        roomId,
        member: body.member,
        role: body.role ?? "member",
        by: c.author,
        name: "",
        byName: "",
      });
      this.names.afterJoin(step, body.member, { active });
    } else if (body.type === "room.remove") {
      step.items.push(removed(roomId, body.member, c.author, prior));
      if (body.member === this.me) this.status = "removed";
    } else if (body.type === "room.ban") {
      if (body.commit != null) {
        // They were a member: the ban removed them.
        step.items.push(removed(roomId, body.member, c.author, prior));
        if (body.member === this.me) this.status = "removed";
      }
      const reason = this.moderation.reason("ban", body.member, c.author);
      step.items.push(moderated(roomId, { type: "moderation", action: "ban", member: body.member, reason }, c.author));
    } else if (body.type === "room.unban") {
      const reason = this.moderation.reason("unban", body.member, c.author);
      step.items.push(moderated(roomId, { type: "moderation", action: "unban", member: body.member, reason }, c.author));
    } else if (body.type === "room.leave") {
      step.items.push({ type: "MemberLeft", roomId, member: c.author, name: "", role: prior });
      if (c.author === this.me) this.status = "left";
    } else if (body.type === "room.role") {
      step.items.push({ type: "RoleChanged", roomId, member: body.member, role: body.role, by: c.author, name: "", byName: "", byRole: null });
    } else if (body.type === "room.retention") {
      step.items.push({ type: "RetentionChanged", roomId, retentionDays: body.retention_days ?? null, by: c.author });
    }
  }

  /** A deletion event with its author's label and role (`names.ts`). */
  describe(event: MessageDeleted): MessageDeleted {
    return this.names.named(event);
  }

  private shouldRepublish(inviteKey: Uint8Array): boolean {
    if (this.status !== "active") return false;
    const mine = ROLE_RANK[this.log.roleOf(this.me) ?? "member"];
    const inviter = this.log.invite(inviteKey)!.createdBy;
    if (inviter === this.me) return mine >= MODERATOR;
    // An invite from someone whose profile messages nobody honours: owners step in.
    const inviterRank = ROLE_RANK[this.log.roleOf(inviter) ?? "member"];
    return inviterRank < MODERATOR && mine === ROLE_RANK.owner;
  }

  // -- room events in sequence order ----------------------------------------------------

  /**
   * Take the room's next event (`seq` order); already-seen events are ignored.
   *
   * `logSynced`: the driver fetched the log after a previous `Step.needLog` for this
   * event; an unknown head now is a fork. `opened`: this event's `openAhead` result,
   * if the driver has one.
   */
  receive(event: RoomEvent, options: { logSynced?: boolean; opened?: Opened | null } = {}): Step {
    if (event.seq <= this.position || this.frozen) return new Step();
    let step: Step;
    if (event.type === "log") {
      step = this.applyOp(event.op);
      if (this.frozen) return step; // hold the position: the room goes no further
      const index = event.op.content.index;
      this.ledger.seqIndex = Math.max(this.ledger.seqIndex, index);
      this.ledger.noteOpSeq(event.seq, index);
      this.programs.memberGone(step, event.op);
    } else if (event.type === "msg") {
      step = this.message(event, { logSynced: options.logSynced ?? false, forward: true, opened: options.opened ?? null });
      if (step.needLog) return step;
    } else if (event.type === "tombstone") {
      step = this.admission.tombstone(event, { forward: true });
    } else if (event.type === "removed") {
      // A message deleted before we saw it. The placeholder itself excuses nothing:
      // the event it names must prove the deletion (`Counters.backed`).
      step = new Step();
      this.counters.placeholder(step, event.seq, event.by, event.id, event.sender);
    } else {
      step = this.admission.erased(event);
    }
    this.counters.backed(step, event);
    this.position = event.seq;
    this.positionTs = event.ts;
    step.items = this.names.describe(step.items);
    return step;
  }

  /**
   * Take a page of events older than `floor` (lazy backfill), oldest first.
   *
   * History is checked like live traffic, against its place: every event must lie
   * below the floor, in increasing `seq`; walking down from our join, each log
   * operation must be the one our log holds at the next lower index, and a message is
   * checked against the log as it stood at its `seq` (the relay's admission check, as
   * for live messages) as well as at the head it names; its counter must be below
   * every counter its device sent later (a replayed or moved message is not). Gaps in
   * the past are not alarms, and the log already holds every operation. Moves `floor`
   * down past the page.
   */
  receiveHistory(events: Iterable<RoomEvent>, options: { more: boolean }): Step {
    const step = new Step();
    const page = [...events];
    const placed: RoomEvent[] = [];
    const top = this.floor;
    for (const event of page) {
      const last = placed.at(-1);
      if (event.seq >= top || (last !== undefined && event.seq <= last.seq)) {
        this.alarmBook.raise(step, "bad_message", `history served seq ${event.seq} out of place (below ${top}, in order)`, "msg.replay");
        continue;
      }
      placed.push(event);
    }
    const walk = this.counters.walk;
    if (walk.next === null && this.floor === this.startSeq) walk.next = this.ledger.entryIndex(this.me);
    // A message's place is fixed by the first operation after it, which may come later
    // in this page: record where the page's genuine operations sit first.
    const ops = this.log.ops;
    this.noteHistoryOps(
      placed.filter(
        (e) => e.type === "log" && e.op.content.index < ops.length && sameOp(ops[e.op.content.index]!, e.op),
      ),
    );
    const parts: [number, Step][] = [];
    for (let i = placed.length - 1; i >= 0; i--) {
      // Down from the floor: what is above is known.
      const event = placed[i]!;
      parts.push([event.seq, this.historyEvent(event)]);
    }
    parts.sort((a, b) => a[0] - b[0]);
    for (const [, part] of parts) step.extend(part);
    // Only down: a page with nothing in its place ends the walk (a relay that serves
    // events above the floor cannot send us round in circles).
    this.floor = placed.length > 0 && options.more ? placed[0]!.seq : 1;
    return step;
  }

  private historyEvent(event: RoomEvent): Step {
    const walk = this.counters.walk;
    if (event.type === "log") {
      const step = new Step();
      const index = event.op.content.index;
      const expected = walk.next === null ? null : walk.next - 1;
      const held = index < this.log.ops.length ? this.log.ops[index]! : null;
      if (held === null || !sameOp(held, event.op) || (expected !== null && index !== expected)) {
        this.alarmBook.raise(
          step,
          "fork",
          `history served log index ${index} at seq ${event.seq}, out of its place or unlike the operation our log holds there`,
          "log.fork",
        );
        walk.next = null; // no longer know where we are: check less, not wrongly
        return step;
      }
      walk.next = index;
      return step;
    }
    if (event.type === "msg") {
      const storedAt = walk.next === null ? null : walk.next - 1;
      return this.message(event, { logSynced: true, forward: false, storedAt });
    }
    if (event.type === "tombstone") return this.admission.tombstone(event, { forward: false });
    return new Step();
  }

  /**
   * Record where a backfilled page's operations sit, before reading its messages.
   *
   * Call it with the whole page first: a message's place is fixed by the first
   * operation after it, which may come later in the same page.
   */
  noteHistoryOps(events: Iterable<RoomEvent>): void {
    for (const event of events) if (event.type === "log") this.ledger.noteOpSeq(event.seq, event.op.content.index);
  }

  /**
   * The relay says it purged events up to `lowWater` under the room's retention.
   *
   * Below our position this changes nothing. Above it, it would excuse the messages
   * we never saw; whether it may is judged once the sync is complete and the log
   * current (`checkWithheld`, `Counters.judgePurge`).
   */
  noteLowWater(lowWater: number): void {
    this.lowWater = Math.max(this.lowWater, lowWater);
    if (lowWater > this.position) {
      const ts = this.positionTs || this.ledger.enteredAt(this.me);
      this.counters.notePurge(this.position, ts, lowWater, this.seqIndex);
    }
  }

  /**
   * After a complete sync: raise `withheld` for counter gaps nothing explains.
   *
   * A gap is excused only by what a signed statement proves or the room's own
   * retention allows (protocol.md section 8.6): it lies before the first message we
   * read from that device after we joined; a verified deletion names exactly that
   * counter; the sender's own later message lists it as refused by the relay; the
   * member's signed erasure covers it (one erased placeholder, one gap); or a
   * low-water mark the room's retention explains came before it. `now` defaults to
   * the system clock (pass the driver's clock).
   */
  checkWithheld(options: { now?: number } = {}): Step {
    const step = new Step();
    this.counters.checkWithheld(step, options.now ?? SYSTEM_CLOCK.nowMs());
    return step;
  }

  private message(
    event: MessageEvent,
    options: { logSynced: boolean; forward: boolean; opened?: Opened | null; storedAt?: number | null },
  ): Step {
    const step = new Step();
    const plaintext = this.admission.open(step, event, options);
    if (plaintext === null) return step;
    const h = event.envelope.header;
    const forward = options.forward;
    if (forward && h.epoch === this.log.epoch) this.epochMessages += 1;
    const body = plaintext.body;
    if (body.type === "member.profile") {
      if (forward) this.names.fold(step, h.sender, body); // backfill reads newest first: an older name must not win
    } else if (SUPPORT_BODIES.has(body.type)) {
      if (forward && this.policy.kind === "program") {
        this.programs.fold(step, h.sender, plaintext, h.id, event.seq, { active: this.status === "active" });
      }
    } else {
      const place = this.ledger.place(event.seq, h.head_index, { forward });
      this.roomBody(step, h.sender, plaintext, h.id, place);
    }
    if (isPost(body) && (this.muted.has(h.sender) || this.log.banned.has(h.sender))) {
      return step; // counted (device, counter) above, never shown
    }
    step.items.push({ type: "Accepted", seq: event.seq, ts: event.ts, header: h, plaintext });
    return step;
  }

  private roomBody(step: Step, sender: MemberId, plaintext: Plaintext, messageId: MessageId, place: readonly [number, number]): void {
    const body = plaintext.body;
    if (body.type === "report") {
      readReport(step, this.alarmBook, this.keys, this.#secrets, { sender, body, reportId: messageId });
    } else if (RISK_BODIES.has(body.type)) {
      readRisk(step, this.alarmBook, this.keys, this.ledger, { sender, body, messageId, place });
    } else if (body.type === "moderation") {
      this.moderation.fold(step, sender, body, { at: plaintext.sent_at, messageId, place });
    } else {
      this.bodies.fold(step, sender, body, place);
    }
  }

  // -- this member's own messages and operations ----------------------------------------

  /**
   * Apply our own room-level body at once, before the relay echoes it back.
   *
   * The echo goes through the same fold again and changes nothing; applying it now
   * lets `acceptRules` be followed by `send` without a round trip. Returns the events
   * our own body announces (a mute or warning we gave: the echo, already applied,
   * announces nothing), for the driver to emit once the message is stored.
   */
  noteSent(body: Body, args: { messageId: MessageId; at: number }): Event[] {
    if (body.type === "moderation") {
      const here = [this.log.index, this.log.index] as const;
      if (this.moderation.apply(this.me, body, args.at, args.messageId, here)) {
        return [this.names.named(moderated(this.room, body, this.me))];
      }
    } else if (body.type === "member.profile") {
      this.names.noteSent(body);
    } else {
      this.programs.noteSent(body);
      this.bodies.noteSent(this.me, body, this.log.roleOf(this.me));
    }
    return [];
  }

  /**
   * Throw unless `body` is not a post, or we are unmuted and accepted the rules.
   * Throws `PostingMuted` (`room.muted`) or `RulesNotAccepted` (`rules.not_accepted`).
   */
  requireMayPost(body: Body): void {
    this.bodies.requireMayPost(this.me, body, this.muted.has(this.me));
  }

  /** Throw unless this member may send in the room now (`RoomInactive`, `RoomBlocked`). */
  requireSendable(): void {
    if (this.status !== "active") throw new RoomInactive(INACTIVE[this.status], `room.${this.status}`);
    if (this.alarmBook.open.size > 0) {
      throw new RoomBlocked(`room has ${this.alarmBook.open.size} unacknowledged security alarm(s)`, "room.blocked");
    }
    if (this.pinned !== null) {
      throw new RoomBlocked(
        `the relay serves this room's log only up to index ${this.log.index}; this person had verified it up to index ${this.pinned.index}`,
        "room.blocked",
      );
    }
  }

  /**
   * Seal `plaintext` under the current epoch and head.
   *
   * Throws `RoomBlocked` (an alarm is open), `RoomInactive` (we left or were
   * removed), `LogError` `log.needs_rotation` (a rotation must be committed first).
   */
  seal(plaintext: Plaintext, options: { messageId?: MessageId | null; rng?: Rng } = {}): Envelope {
    this.requireSendable();
    if (this.log.needsRotation) throw new LogError("commit a rotation before sending", "log.needs_rotation");
    return sealMessage(this.keys, plaintext, {
      epoch: this.log.epoch,
      epochSecret: this.#secrets.get(this.log.epoch)!,
      headIndex: this.log.index,
      head: this.log.head,
      messageId: options.messageId ?? null,
      rng: options.rng ?? randomBytes,
    });
  }

  /** Number this device's next message in the room. */
  nextCounter(): number {
    return this.outgoing.nextCounter();
  }

  /** The relay refused our message with this counter for good (`outgoing.ts`). */
  noteRefused(counter: number): void {
    this.outgoing.noteRefused(counter);
  }

  /** What a message of ours with `counter` must announce as refused. */
  skippedFor(counter: number): number[] {
    return this.outgoing.skippedFor(counter);
  }

  /** A message listing these refused counters was acknowledged: receivers know. */
  announced(counters: Iterable<number>): void {
    this.outgoing.announced(counters);
  }

  // The builders (`builders.ts`) check what the log says; the room's own standing
  // (status, alarms, pins) is checked here first, in this order.

  /** A `room.rotate`: a fresh epoch for the members the log has now. */
  rotateOp(args: { now: number; rng?: Rng }): SignedOp {
    this.requireSendable();
    return this.builder.rotate(args.now, args.rng ?? randomBytes);
  }

  /** A `room.remove` of `member`, with the epoch the rest move to. */
  removeOp(member: MemberId, args: { now: number; rng?: Rng }): SignedOp {
    this.requireSendable();
    return this.builder.remove(member, args.now, args.rng ?? randomBytes);
  }

  /** A `room.ban` of `member`; if they are a member, with the epoch the rest move to. */
  banOp(member: MemberId, args: { now: number; rng?: Rng }): SignedOp {
    this.requireSendable();
    return this.builder.ban(member, args.now, args.rng ?? randomBytes);
  }

  /** A `room.unban` lifting the ban on `member`. */
  unbanOp(member: MemberId, args: { now: number }): SignedOp {
    this.requireSendable();
    return this.builder.unban(member, args.now);
  }

  /** A `room.leave`; the next remaining member to act rotates. */
  leaveOp(args: { now: number }): SignedOp {
    if (this.status !== "active") throw new RoomInactive(INACTIVE[this.status], `room.${this.status}`);
    return this.builder.leave(args.now);
  }

  /** A `room.role` giving `member` the role `role`. */
  roleOp(member: MemberId, role: Role, args: { now: number }): SignedOp {
    this.requireSendable();
    return this.builder.role(member, role, args.now);
  }

  /**
   * A `room.retention` setting the policy's `retention_days` (owners only).
   * Throws `LogError`: `log.unauthorized` unless we own the room, `log.invalid` for a
   * number of days outside 1..36500.
   */
  retentionOp(days: number | null, args: { now: number }): SignedOp {
    this.requireSendable();
    return this.builder.retention(days, args.now);
  }

  /** Throw if the policy's member cap is reached (`invite.room_full`). */
  requireSpace(): void {
    this.builder.requireSpace();
  }

  /** A `room.invite.create` registering the public half of `invite`. */
  inviteOp(invite: InviteKey, args: { role: Role; maxUses: number; expiresAt: number; now: number }): SignedOp {
    this.requireSendable();
    return this.builder.invite(invite, args);
  }

  /** A `room.invite.revoke`. */
  revokeOp(inviteKey: Uint8Array, args: { now: number }): SignedOp {
    this.requireSendable();
    return this.builder.revoke(inviteKey, args.now);
  }

  /**
   * A `room.join` with `invite`, committing a new epoch to the log's members and us.
   * Throws `InviteError`: the verified log holds no live invite for this key, or the
   * room is full (see `OpBuilder.join`).
   */
  joinOp(invite: InviteKey, args: { now: number; rng?: Rng }): SignedOp {
    return this.builder.join(invite, args.now, args.rng ?? randomBytes);
  }
}

function removed(roomId: RoomId, member: MemberId, by: MemberId, role: Role | null): Event {
  return { type: "MemberRemoved", roomId, member, by, name: "", role, byName: "", byRole: null };
}

