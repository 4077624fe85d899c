/**
 * A community program room's support queue, as the room core folds it (mirrors
 * `client_sdk/_core/programs.py`).
 *
 * Support messages (requests, reseals, claims, withdrawals, supporter statuses) count
 * only in a program room and only read forward, in room order: the sender's role is
 * the one the log had at that point of the event sequence (`Ledger.seqIndex`), not our
 * current log, so every member decides alike. The queue itself is `SupportBook`; this
 * module opens what is sealed to us, raises `bad_message` for what does not open (a
 * request still takes its place in the queue), and asks the driver for the work a
 * program needs (`followups.ts`): re-sending our status to a newcomer, resealing our
 * waiting request to supporters who arrived, joining the buddy chat a claim names,
 * leaving the one a lost claim opened.
 */

import { CryptoError, DecodeError, EnvelopeError } from "../errors.js";
import type { Event } from "../events.js";
import type { MemberId, MessageId } from "../ids.js";
import type { RoomKeys } from "../keys.js";
import type { Body } from "../messages.js";
import type { OpBody, Role } from "../ops.js";
import { openInvite, openRequest, openRequestContent, SupportBook } from "../supportBook.js";
import type { Plaintext, SignedOp, SupportInvite } from "../wire/schema.gen.js";
import type { Alarms } from "./alarms.js";
import type { Ledger } from "./ledger.js";
import type { Step } from "./step.js";

/** The bodies of a program's support queue (read forward, in program rooms only). */
export const SUPPORT_BODIES: ReadonlySet<string> = new Set([
  "support.request",
  "support.reseal",
  "support.claim",
  "support.withdraw",
  "supporter.status",
]);

function isOpenFailure(exc: unknown): exc is CryptoError | DecodeError | EnvelopeError {
  return exc instanceof CryptoError || exc instanceof DecodeError || exc instanceof EnvelopeError;
}

export class Programs {
  /** A program room's support queue (empty in other rooms). */
  book: SupportBook;

  constructor(
    readonly keys: RoomKeys,
    readonly ledger: Ledger,
    readonly alarms: Alarms,
  ) {
    this.book = new SupportBook(keys.room, keys.member);
  }

  private inProgram(): boolean {
    return this.ledger.log.policy.kind === "program";
  }

  /** A requester who left or was removed no longer waits (in room order). */
  memberGone(step: Step, op: SignedOp): void {
    const c = op.content;
    const body = c.body;
    const gone =
      body.type === "room.remove" || body.type === "room.ban" ? body.member : body.type === "room.leave" ? c.author : null;
    if (gone !== null && this.inProgram()) step.items.push(...this.book.memberGone(gone));
  }

  /** What a new member or supporter asks of this member in a program room. */
  afterOp(step: Step, body: OpBody, options: { active: boolean }): void {
    if ((body.type === "room.join" || body.type === "room.add") && this.shouldRestatus(options)) step.follow({ kind: "Restatus" });
    if (body.type === "room.role" && body.role === "supporter") this.reseal(step, options);
  }

  private reseal(step: Step, options: { active: boolean }): void {
    if (!options.active || !this.inProgram()) return;
    const supporters = [...this.ledger.log.members.values()].filter((m) => m.role === "supporter").map((m) => m.id);
    for (const [request, text, to] of this.book.resealDue(supporters)) step.follow({ kind: "Reseal", request, text, to });
  }

  shouldRestatus(options: { active: boolean }): boolean {
    // Newcomers cannot read earlier statuses and requests (they joined under a new
    // epoch): supporters tell them, with the queue as they see it.
    return (
      options.active &&
      this.inProgram() &&
      this.ledger.log.roleOf(this.keys.member) === "supporter" &&
      (this.book.myStatus() !== null || this.book.queue().length > 0)
    );
  }

  /** Our own supporter status, applied at once. */
  noteSent(body: Body): void {
    if (body.type !== "supporter.status") return;
    if (this.inProgram() && this.ledger.log.roleOf(this.keys.member) === "supporter") this.book.noteStatus(body);
  }

  /**
   * Fold a support message, in room order (see `supportBook.ts`).
   *
   * The sender's role is the one the log had at this point of the event sequence
   * (`seqIndex`), not our current log, which our own and caught-up operations may
   * have moved ahead: every member decides alike.
   */
  fold(step: Step, sender: MemberId, plaintext: Plaintext, messageId: MessageId, seq: number, options: { active: boolean }): void {
    const body = plaintext.body;
    const book = this.book;
    const me = this.keys.member;
    const supporters = this.ledger.standings[this.ledger.seqIndex]!.supporters;
    const role: Role | null = supporters.has(sender) ? "supporter" : null;
    let event: Event | null = null;
    if (body.type === "support.request") {
      let text: string | null = null;
      let readers: MemberId[] | null = null;
      try {
        if (sender === me) {
          const content = openRequestContent(this.keys, sender, body);
          if (content !== null) {
            text = content.text;
            readers = [...content.recipients];
          }
        } else {
          text = openRequest(this.keys, sender, body);
        }
      } catch (exc) {
        if (!isOpenFailure(exc)) throw exc;
        // It still takes its place in the queue: every member counts it.
        this.alarms.raise(step, "bad_message", `support request ${messageId}: ${exc.message}`, exc.code);
      }
      event = book.request({ messageId, requester: sender, seq, sentAt: plaintext.sent_at, text, readers });
    } else if (body.type === "support.reseal") {
      let text: string | null;
      try {
        text = openRequest(this.keys, sender, body);
      } catch (exc) {
        if (!isOpenFailure(exc)) throw exc;
        this.alarms.raise(step, "bad_message", `support reseal ${messageId}: ${exc.message}`, exc.code);
        text = null;
      }
      event = book.resealed({ sender, requestId: body.request, text });
    } else if (body.type === "support.claim") {
      let invite: SupportInvite | null = null;
      if (book.requesterOf(body.request) === me && role === "supporter") {
        try {
          invite = openInvite(this.keys, sender, body);
        } catch (exc) {
          if (!isOpenFailure(exc)) throw exc;
          this.alarms.raise(step, "bad_message", `support claim ${messageId}: ${exc.message}`, exc.code);
        }
      }
      const claimed = book.claim({ supporter: sender, role, requestId: body.request, invite });
      if (sender === me && book.lost.has(body.request)) step.follow({ kind: "Abandon", request: body.request });
      if (claimed !== null && claimed.requester === me && invite !== null) step.follow({ kind: "JoinBuddy", request: body.request });
      event = claimed;
    } else if (body.type === "support.withdraw") {
      event = book.withdraw({ sender, requestId: body.request });
    } else if (body.type === "supporter.status") {
      step.items.push(...book.status({ member: sender, role, body }));
      if (body.queue != null && role === "supporter") this.reseal(step, options); // sent for a newcomer: it may be a supporter
    }
    if (event !== null) step.items.push(event);
  }
}
