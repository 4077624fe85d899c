/**
 * Counters and what excuses their gaps: how the core notices a withheld message
 * (mirrors `client_sdk/_core/counters.py`).
 *
 * Every device numbers its messages in a room; `Counters` holds the `CounterTracker`
 * of every (sender, device) stream and everything that may excuse a gap in one
 * (protocol.md section 8.6), each proven by a signed statement or the room's own
 * retention, never by the relay's word:
 *
 * - a verified deletion names exactly the counter it excuses (`admission.ts`);
 * - a sender's later message lists counters the relay refused for good;
 * - a member's signed erasure excuses its streams' gaps, and each `removed`
 *   placeholder it backs excuses one gap, once (`allowance`);
 * - a low-water mark above our position excuses the gap it hid only if the verified
 *   log's retention could have purged that far (`judgePurge`).
 *
 * A `removed` placeholder itself excuses nothing: the event it names must back it
 * (`backed`). What nothing explains after a complete sync becomes a `withheld`
 * alarm (`checkWithheld`). Backfill checks history's counters against what was read
 * forward (`Walk`).
 */

import { CounterTracker } from "../counters.js";
import { EnvelopeError } from "../errors.js";
import type { MemberId, MessageId } from "../ids.js";
import type { Alarms } from "./alarms.js";
import type { Ledger } from "./ledger.js";
import type { RoomEvent, Step } from "./step.js";
import { compareTuples, counterKey, streamKey } from "./util.js";

const DAY_MS = 24 * 3600 * 1000;
/** How far the relay's clock may run ahead of ours when we judge a retention purge. */
export const PURGE_SKEW_MS = 3600 * 1000;

/** One counter of one (sender, device) stream. */
export interface StreamCounter {
  readonly sender: MemberId;
  readonly device: Uint8Array;
  readonly counter: number;
}

/** A low-water mark above our position, to judge after the sync. */
export interface Purge {
  readonly position: number;
  readonly positionTs: number;
  readonly lowWater: number;
  readonly index: number;
}

/** A `removed` event waiting for what removed it. */
export interface Placeholder {
  readonly by: number;
  readonly target: MessageId;
  readonly sender: MemberId;
}

/** What backfill checks history against, per (sender, device) stream (keyed by `streamKey`). */
export class Walk {
  constructor(
    /** The first counter read forward from each stream (the lowest one). */
    readonly first = new Map<string, StreamCounter>(),
    /** The lowest counter the current backfill walk read from each stream. */
    readonly low = new Map<string, StreamCounter>(),
    /** Log index of the lowest operation the walk has passed (null: unknown). */
    public next: number | null = null,
  ) {}
}

export class Counters {
  tracker = new CounterTracker();
  /** Erased messages of each member we never read (each excuses one gap, once). */
  allowance = new Map<MemberId, number>();
  /** `removed` events waiting for what removed them, by their seq. */
  placeholders = new Map<number, Placeholder>();
  /** A low-water mark above our position, to judge. */
  purge: Purge | null = null;
  /** Each stream's highest counter when that mark arrived. */
  purgeHighs = new Map<string, StreamCounter>();
  walk = new Walk();
  /** Senders whose counters restart from the next one we read (we could not read some). */
  rebase = new Set<MemberId>();
  /** Gaps a `withheld` alarm named already (keyed by `counterKey`). */
  alarmed = new Map<string, StreamCounter>();

  constructor(
    readonly ledger: Ledger,
    readonly alarms: Alarms,
  ) {}

  // -- reading forward and back ---------------------------------------------------

  /** A message read forward: count it, and excuse what its sender says was refused. */
  observe(sender: MemberId, device: Uint8Array, counter: number, skipped: Iterable<number> = []): void {
    const key = streamKey(sender, device);
    this.tracker.observe(sender, device, counter); // a new stream's floor: counter - 1
    if (!this.walk.first.has(key)) this.walk.first.set(key, { sender, device, counter });
    if (this.rebase.has(sender)) {
      this.tracker.raiseFloor(sender, device, counter - 1);
      this.rebase.delete(sender);
    }
    // What the sender itself says the relay refused for good (never stored).
    for (const c of skipped) if (c < counter) this.tracker.excuse(sender, device, c);
  }

  /** A backfilled message's counter is below all its device sent after it. */
  placeBack(sender: MemberId, device: Uint8Array, counter: number, mid: MessageId): void {
    const key = streamKey(sender, device);
    const low = (this.walk.low.get(key) ?? this.walk.first.get(key))?.counter;
    if (low !== undefined && counter >= low) {
      throw new EnvelopeError(
        `message ${mid} in history carries counter ${counter} of a device whose later messages start at ${low}: replayed or moved`,
        "msg.replay",
      );
    }
    this.walk.low.set(key, { sender, device, counter });
  }

  /** Older epochs became readable: backfill walks down again from our join. */
  restartWalk(): void {
    this.walk = new Walk(this.walk.first);
  }

  // -- deletion placeholders ----------------------------------------------------------

  /** A `removed` event at `seq`: judged when the event `by` names is read. */
  placeholder(step: Step, seq: number, by: number, target: MessageId, sender: MemberId): void {
    if (by <= seq) this.unbacked(step, seq, sender);
    else this.placeholders.set(seq, { by, target, sender });
  }

  unbacked(step: Step, seq: number, sender: MemberId): void {
    this.alarms.raise(
      step,
      "withheld",
      `the relay put a deletion placeholder at seq ${seq} (a message from ${sender}) that no signed deletion or erasure backs`,
      "msg.withheld",
    );
  }

  /**
   * Judge the placeholders that name this `seq` (or an earlier one) as their cause.
   *
   * A verified tombstone backs the one placeholder of its target; a verified erasure
   * backs each placeholder of its member up to `through`. Anything else (or nothing,
   * at a `seq` the relay skipped) backs none.
   */
  backed(step: Step, event: RoomEvent): void {
    const due = [...this.placeholders.entries()].filter(([, p]) => p.by <= event.seq).map(([seq]) => seq).sort((a, b) => a - b);
    let used = false;
    const verified = step.events.length === 0; // the event's own check raised no alarm
    for (const seq of due) {
      const { by, target, sender } = this.placeholders.get(seq)!;
      this.placeholders.delete(seq);
      let ok = false;
      const proven = by === event.seq && verified;
      if (proven && event.type === "tombstone") {
        const c = event.request.content;
        ok = !used && event.target === target && c.sender === sender;
        used = used || ok;
      } else if (proven && event.type === "erased") {
        ok = event.request != null && event.member === sender && seq <= event.through;
        if (ok) this.allowance.set(sender, (this.allowance.get(sender) ?? 0) + 1);
      }
      if (!ok) this.unbacked(step, seq, sender);
    }
  }

  /** Excuse every gap the streams of `member` (of everyone: null) have now. */
  forgiveAll(member: MemberId | null = null): void {
    for (const [sender, device] of this.tracker.streams()) {
      if (member === null || sender === member) this.tracker.raiseFloor(sender, device, this.tracker.highest(sender, device));
    }
  }

  // -- low-water marks and the room's retention -----------------------------------------

  /** A low-water mark above our `position`: remember it, to judge after the sync. */
  notePurge(position: number, positionTs: number, lowWater: number, seqIndex: number): void {
    if (this.purge === null) {
      this.purge = { position, positionTs, lowWater, index: seqIndex };
      this.purgeHighs = new Map();
      for (const [sender, device] of this.tracker.streams()) {
        this.purgeHighs.set(streamKey(sender, device), { sender, device, counter: this.tracker.highest(sender, device) });
      }
    } else {
      this.purge = { ...this.purge, lowWater: Math.max(this.purge.lowWater, lowWater) };
    }
  }

  /**
   * Excuse what a low-water mark above our position hid, or raise `withheld`.
   *
   * Only the room's own retention may purge, so the mark excuses gaps only if the
   * verified log had a retention in force since our position, and that retention
   * could have purged the event right after our position by now: that event is no
   * older than the one at our position, whose relay `ts` we kept, so that `ts` must
   * be older than the cut-off (give or take `PURGE_SKEW_MS`).
   */
  judgePurge(step: Step, now: number): void {
    if (this.purge === null) return;
    const { position, positionTs, lowWater, index } = this.purge;
    const highs = this.purgeHighs;
    this.purge = null;
    this.purgeHighs = new Map();
    const days = this.ledger.retentionSince(Math.min(index, this.ledger.log.index));
    if (days === null) {
      this.alarms.raise(
        step,
        "withheld",
        `the relay says it purged events up to seq ${lowWater}, past our position ${position}, in a room whose policy keeps everything`,
        "msg.withheld",
      );
      return;
    }
    const cutoff = now - days * DAY_MS;
    if (positionTs > cutoff + PURGE_SKEW_MS) {
      this.alarms.raise(
        step,
        "withheld",
        `the relay says it purged events up to seq ${lowWater}, but the room's ${days}-day retention could not have reached past our position ${position} yet`,
        "msg.withheld",
      );
      return;
    }
    // We never saw what was purged: forgive, for each stream, the gap from where it
    // stood when the mark arrived up to the next counter read after it (now, or from
    // the next message on). Nothing later: those events were served.
    for (const { sender, device, counter: high } of highs.values()) {
      const after = this.tracker.seenAfter(sender, device, high);
      if (after === null) {
        this.tracker.raiseFloor(sender, device, high);
        this.rebase.add(sender);
      } else {
        this.tracker.raiseFloor(sender, device, after - 1);
      }
    }
  }

  /**
   * After a complete sync: raise `withheld` for counter gaps nothing explains.
   *
   * The low-water mark is judged first (`judgePurge`); then each open gap not alarmed
   * yet is excused by its member's erasure allowance (one placeholder, one gap) or
   * named in one `withheld` alarm per sender.
   */
  checkWithheld(step: Step, now: number): void {
    this.judgePurge(step, now);
    const openGaps = new Map<MemberId, StreamCounter[]>();
    for (const { sender, device, counters } of this.tracker.gaps()) {
      for (const counter of counters) {
        if (!this.alarmed.has(counterKey(sender, device, counter))) {
          let list = openGaps.get(sender);
          if (list === undefined) openGaps.set(sender, (list = []));
          list.push({ sender, device, counter });
        }
      }
    }
    const senders = [...openGaps.keys()].sort(compareSenders);
    for (const sender of senders) {
      const gaps = openGaps.get(sender)!;
      // A signed erasure's placeholders: each excuses one gap, once.
      const erased = Math.min(this.allowance.get(sender) ?? 0, gaps.length);
      for (const g of gaps.slice(0, erased)) this.tracker.excuse(g.sender, g.device, g.counter);
      if (erased) this.allowance.set(sender, this.allowance.get(sender)! - erased);
      const items = gaps.slice(erased);
      if (items.length > 0) {
        for (const g of items) this.alarmed.set(counterKey(g.sender, g.device, g.counter), g);
        this.alarms.raise(step, "withheld", `${items.length} message(s) from ${sender} never arrived`, "msg.withheld");
      }
    }
  }
}

function compareSenders(a: string, b: string): number {
  return compareTuples([a], [b]);
}
