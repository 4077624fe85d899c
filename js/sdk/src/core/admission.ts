/**
 * Admission: whether a message, deletion or erasure the relay served may count
 * (mirrors `client_sdk/_core/admission.py`).
 *
 * A message goes through the head, epoch, membership (its place), signature,
 * decryption and counter checks, in that order (`Admission.open`); the first that
 * fails raises an alarm and the message counts for nothing. Membership is checked
 * twice: at the head the message names, and at the point of the event sequence
 * where the relay stored it (the relay's own admission check), or in history at the
 * log as it stood at the message's `seq`.
 *
 * A deletion (tombstone) counts if its signature verifies and its author, at the
 * deletion's place in room order, is its sender or a moderator; a member's erasure
 * if it verifies, names a member who is gone, and was signed after their latest
 * departure. What a verified one excuses is the business of `counters.ts`.
 */

import { equalBytes } from "../bytes.js";
import { checkPlace, openMessage } from "../envelope.js";
import { EnvelopeError, ForkDetected } from "../errors.js";
import type { RoomId } from "../ids.js";
import { ROLE_RANK } from "../ops.js";
import { verifyDelete, verifyErase } from "../signing.js";
import type { EnvelopeHeader, ErasedEvent, MessageEvent, Plaintext, TombstoneEvent } from "../wire/schema.gen.js";
import type { Alarms } from "./alarms.js";
import type { Counters } from "./counters.js";
import type { Ledger } from "./ledger.js";
import type { Moderation } from "./moderation.js";
import { type Opened, Step } from "./step.js";

const MODERATOR = ROLE_RANK.moderator;

export class Admission {
  readonly room: RoomId;
  /** The room's epoch secrets (the facade's own map, read here). */
  readonly secrets: ReadonlyMap<number, Uint8Array>;
  readonly ledger: Ledger;
  readonly counters: Counters;
  readonly moderation: Moderation;
  readonly alarms: Alarms;

  constructor(args: {
    room: RoomId;
    secrets: ReadonlyMap<number, Uint8Array>;
    ledger: Ledger;
    counters: Counters;
    moderation: Moderation;
    alarms: Alarms;
  }) {
    this.room = args.room;
    this.secrets = args.secrets;
    this.ledger = args.ledger;
    this.counters = args.counters;
    this.moderation = args.moderation;
    this.alarms = args.alarms;
  }

  /**
   * The message's plaintext if it passes every check, else null.
   *
   * null with `step.needLog` set: the message names a head beyond our log (fetch it,
   * then feed the event again with `logSynced`). null with an alarm in `step`: a
   * check failed. null and nothing else: an epoch before we joined, not ours to read.
   */
  open(
    step: Step,
    event: MessageEvent,
    options: { logSynced: boolean; forward: boolean; opened?: Opened | null; storedAt?: number | null },
  ): Plaintext | null {
    const { logSynced, forward } = options;
    const opened = options.opened ?? null;
    const storedAt = options.storedAt ?? null;
    const envelope = event.envelope;
    const h = envelope.header;
    const log = this.ledger.log;
    let plaintext: Plaintext;
    try {
      if (h.room !== this.room) throw new EnvelopeError("message names another room", "msg.bad_room");
      let known: boolean;
      try {
        known = log.checkHead(h.head_index, h.head);
      } catch (exc) {
        if (!(exc instanceof ForkDetected)) throw exc;
        this.alarms.raise(step, "fork", `message ${h.id} names a head we hold otherwise`, exc.code);
        return null;
      }
      if (!known) {
        if (!logSynced) {
          step.needLog = true;
          return null;
        }
        this.alarms.raise(step, "fork", `message ${h.id} names log index ${h.head_index}, beyond the relay's log`, "msg.unknown_head");
        return null;
      }
      if (h.epoch > log.epoch) {
        this.alarms.raise(step, "unknown_epoch", `message ${h.id} uses epoch ${h.epoch}; the log is at ${log.epoch}`, "msg.unknown_epoch");
        return null;
      }
      const standings = this.ledger.standings;
      if (forward) {
        const seqIndex = this.ledger.seqIndex;
        if (h.head_index > seqIndex) {
          this.alarms.raise(
            step,
            "fork",
            `message ${h.id} names log index ${h.head_index}, which the relay's sequence had not reached (index ${seqIndex})`,
            "msg.unknown_head",
          );
          return null;
        }
        // What the relay's own checkEnvelope saw when it stored the message: in
        // sequence order the log was exactly at `seqIndex`.
        checkPlace(h, standings[seqIndex]!, "when the relay stored it");
      } else if (storedAt !== null && storedAt >= 0 && storedAt < standings.length) {
        this.checkHistoryPlace(h, storedAt);
      }
      checkPlace(h, standings[h.head_index]!, "at the head it names");
      const secret = this.secrets.get(h.epoch);
      if (secret === undefined) {
        // An epoch from before we joined (or while we were out): not ours to read.
        // The sender's counters restart from what we see next.
        if (forward) this.counters.rebase.add(h.sender);
        return null;
      }
      if (opened === null || opened.envelope !== envelope || !equalBytes(opened.secret, secret)) {
        plaintext = openMessage(envelope, { epochSecret: secret });
      } else if (opened.result instanceof EnvelopeError) {
        throw opened.result;
      } else {
        plaintext = opened.result;
      }
      if (forward) this.counters.observe(h.sender, plaintext.device, plaintext.counter, plaintext.skipped ?? []);
      else this.counters.placeBack(h.sender, plaintext.device, plaintext.counter, h.id);
    } catch (exc) {
      if (!(exc instanceof EnvelopeError)) throw exc;
      this.alarms.raise(step, "bad_message", exc.message, exc.code);
      return null;
    }
    return plaintext;
  }

  /** The relay's admission check for history: the log as it stood at the message's seq. */
  private checkHistoryPlace(h: EnvelopeHeader, storedAt: number): void {
    if (h.head_index > storedAt) {
      throw new EnvelopeError(
        `message ${h.id} names log index ${h.head_index}, beyond the log at its place in history (index ${storedAt})`,
        "msg.replay",
      );
    }
    checkPlace(h, this.ledger.standings[storedAt]!, "at its place in history");
  }

  /** A signed deletion: it excuses the one counter it names, and deletes if allowed. */
  tombstone(event: TombstoneEvent, options: { forward: boolean }): Step {
    const step = new Step();
    const request = event.request;
    const content = request.content;
    const ledger = this.ledger;
    let moderator: boolean;
    try {
      verifyDelete(request);
      if (content.room !== this.room || content.target !== event.target) {
        throw new EnvelopeError("deletion names another message", "msg.bad_room");
      }
      // The author's standing at the deletion's place in room order.
      const place = ledger.place(event.seq, 0, options);
      let role = ledger.roleAt(content.author, place, { lowest: true });
      if (role === null && ledger.roleAt(content.author, place, { lowest: false }) === null) {
        throw new EnvelopeError("deletion by a non-member", "msg.not_member");
      }
      role = role ?? "member";
      moderator = ROLE_RANK[role] >= MODERATOR;
      if (!moderator && content.author !== content.sender) {
        throw new EnvelopeError("deletion of another member's message by a non-moderator", "auth.forbidden");
      }
    } catch (exc) {
      if (!(exc instanceof EnvelopeError)) throw exc;
      this.alarms.raise(step, "bad_message", exc.message, exc.code);
      return step;
    }
    // The signed request names the one counter it excuses (section 8.6).
    this.counters.tracker.excuse(content.sender, content.device, content.counter);
    if (moderator) this.moderation.noteDeletion(content.author, content.at, event.target, content.sender);
    step.items.push({ type: "Deletion", target: event.target, by: content.author, moderator });
    return step;
  }

  /**
   * A member's signed erasure: every message it sent before is gone.
   *
   * It excuses the gaps its streams have now (all sent before it left) and, one each,
   * the messages whose placeholders name it (`Counters.backed`). The relay's bare
   * statement excuses nothing.
   */
  erased(event: ErasedEvent): Step {
    const step = new Step();
    const request = event.request ?? null;
    if (request === null) return step; // nothing proven: placeholders naming it raise `withheld`
    const c = request.content;
    const ledger = this.ledger;
    try {
      verifyErase(request);
      if (c.room !== this.room || c.member !== event.member) {
        throw new EnvelopeError("erasure names another room or member", "msg.bad_room");
      }
      if (ledger.standings[ledger.seqIndex]!.members.has(event.member)) {
        throw new EnvelopeError(`erasure of ${event.member}, who is a member here`, "msg.not_member");
      }
      if (ledger.departedAt(event.member) > c.index) {
        throw new EnvelopeError(`erasure of ${event.member} signed before its latest departure`, "msg.replay");
      }
    } catch (exc) {
      if (!(exc instanceof EnvelopeError)) throw exc;
      this.alarms.raise(step, "bad_message", exc.message, exc.code);
      return step;
    }
    this.counters.forgiveAll(event.member);
    return step;
  }
}

