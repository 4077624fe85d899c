/**
 * Per-device message counters (mirrors `protocol/counters.py`): noticing a message
 * the relay withheld.
 *
 * Each sending device numbers its messages in a room 1, 2, 3 ... inside the encrypted
 * plaintext. A receiver records what it has seen per (sender, device). A counter seen
 * twice is a replay; counters skipped over are *missing* until they arrive (history
 * may be fetched out of order) or the caller decides they never will (after a full
 * sync), which is the withheld-message alarm.
 *
 * Each stream has a *floor* (protocol.md 8.6): the first counter a receiver reads
 * from a device sets it to `counter - 1`, since what that device sent before is from
 * before the receiver could read the room. Only missing counters above the floor are
 * `gaps()`. A signed statement (a deletion, the sender's own list of refused counters)
 * `excuse`s exactly one counter, now or once the stream reaches it; a purge or an
 * erasure raises the floor.
 */

import { compareBytes, compareStrings, hex } from "./bytes.js";
import { EnvelopeError } from "./errors.js";
import type { MemberId } from "./ids.js";

/** A jump larger than this is refused outright (`msg.counter_jump`). */
export const MAX_GAP = 100_000;

/** Counters of one (sender, device) stream. */
export interface StreamCounters {
  readonly sender: MemberId;
  readonly device: Uint8Array;
  readonly counters: number[];
}

class Stream {
  highest = 0;
  floor = 0;
  /** Skipped counters as disjoint half-open ranges [lo, hi): a jump costs one range, not one entry per counter. */
  readonly missing: [number, number][] = [];

  constructor(
    readonly sender: MemberId,
    readonly device: Uint8Array,
  ) {}

  /** Remove `counter` from the missing ranges; false if it was not missing. */
  fill(counter: number): boolean {
    for (let i = 0; i < this.missing.length; i++) {
      const [lo, hi] = this.missing[i]!;
      if (lo <= counter && counter < hi) {
        const pieces: [number, number][] = [];
        if (lo < counter) pieces.push([lo, counter]);
        if (counter + 1 < hi) pieces.push([counter + 1, hi]);
        this.missing.splice(i, 1, ...pieces);
        return true;
      }
    }
    return false;
  }
}

// A device id is hex, so the first "/" ends it whatever the sender string holds.
function keyOf(sender: MemberId, device: Uint8Array): string {
  return `${hex(device)}/${sender}`;
}

function expand(stream: Stream, from: number): number[] {
  const out: number[] = [];
  for (const [lo, hi] of stream.missing) for (let c = Math.max(lo, from); c < hi; c++) out.push(c);
  return out;
}

/** What each (sender, device) has been seen to send in one room. */
export class CounterTracker {
  readonly #streams = new Map<string, Stream>();
  /** Excused counters the stream has not reached yet. */
  readonly #ahead = new Map<string, { sender: MemberId; device: Uint8Array; counters: Set<number> }>();

  /**
   * Record a counter; the first one of a stream sets its floor to `counter - 1`.
   *
   * Throws `EnvelopeError`: `msg.replay` if this counter was already seen (or
   * excused), `msg.counter_jump` if it skips more than `MAX_GAP`.
   */
  observe(sender: MemberId, device: Uint8Array, counter: number): void {
    const key = keyOf(sender, device);
    const known = this.#streams.get(key);
    const stream = known ?? new Stream(sender, Uint8Array.from(device));
    if (counter - stream.highest > MAX_GAP) {
      throw new EnvelopeError(`${sender} skipped ${counter - stream.highest - 1} messages`, "msg.counter_jump");
    }
    const ahead = this.#ahead.get(key);
    if (ahead?.counters.has(counter)) throw new EnvelopeError(`counter ${counter} from ${sender} was excused`, "msg.replay");
    if (counter > stream.highest) {
      if (counter > stream.highest + 1) stream.missing.push([stream.highest + 1, counter]);
      stream.highest = counter;
    } else if (!stream.fill(counter)) {
      throw new EnvelopeError(`counter ${counter} seen twice from ${sender}`, "msg.replay");
    }
    if (known === undefined) {
      stream.floor = counter - 1;
      this.#streams.set(key, stream);
    }
    if (ahead !== undefined && ahead.counters.size > 0) {
      const due = [...ahead.counters].filter((c) => c <= stream.highest).sort((a, b) => a - b);
      for (const c of due) {
        ahead.counters.delete(c);
        stream.fill(c);
      }
      if (ahead.counters.size === 0) this.#ahead.delete(key);
    }
  }

  /**
   * A signed statement says this counter never arrives: stop expecting it. A missing
   * counter is no longer missing; one the stream has not reached yet is excused when
   * it does; one already seen (or below the floor) needs nothing.
   */
  excuse(sender: MemberId, device: Uint8Array, counter: number): void {
    const key = keyOf(sender, device);
    const stream = this.#streams.get(key);
    if (stream !== undefined && counter <= stream.highest) {
      stream.fill(counter);
      return;
    }
    let ahead = this.#ahead.get(key);
    if (ahead === undefined) {
      ahead = { sender, device: Uint8Array.from(device), counters: new Set() };
      this.#ahead.set(key, ahead);
    }
    ahead.counters.add(counter);
  }

  /** Expect nothing at or below `floor` from this stream any more. */
  raiseFloor(sender: MemberId, device: Uint8Array, floor: number): void {
    const stream = this.#streams.get(keyOf(sender, device));
    if (stream !== undefined) stream.floor = Math.max(stream.floor, floor);
  }

  /** Counters at or below this are not expected (0 for an unknown stream). */
  floor(sender: MemberId, device: Uint8Array): number {
    return this.#streams.get(keyOf(sender, device))?.floor ?? 0;
  }

  /** The highest counter seen from this device (0 if none). */
  highest(sender: MemberId, device: Uint8Array): number {
    return this.#streams.get(keyOf(sender, device))?.highest ?? 0;
  }

  /** Every (sender, device) seen, in first-seen order. */
  streams(): [MemberId, Uint8Array][] {
    return [...this.#streams.values()].map((s) => [s.sender, s.device]);
  }

  /** Excused counters no stream has reached yet (to persist them), sorted. */
  excusedAhead(): [MemberId, Uint8Array, number][] {
    const out: [MemberId, Uint8Array, number][] = [];
    for (const { sender, device, counters } of this.#ahead.values()) for (const c of counters) out.push([sender, device, c]);
    return out.sort((a, b) => compareStrings(a[0], b[0]) || compareBytes(a[1], b[1]) || a[2] - b[2]);
  }

  /** The lowest counter above `counter` seen from this device (null if none). */
  seenAfter(sender: MemberId, device: Uint8Array, counter: number): number | null {
    const stream = this.#streams.get(keyOf(sender, device));
    if (stream === undefined) return null;
    let candidate = counter + 1;
    const ranges = [...stream.missing].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [lo, hi] of ranges) if (lo <= candidate && candidate < hi) candidate = hi;
    return candidate <= stream.highest ? candidate : null;
  }

  /** Counters skipped so far, per stream (streams with none are left out), in first-seen order. */
  missing(): StreamCounters[] {
    const out: StreamCounters[] = [];
    for (const s of this.#streams.values()) {
      if (s.missing.length > 0) out.push({ sender: s.sender, device: s.device, counters: expand(s, -Infinity) });
    }
    return out;
  }

  /** Counters skipped so far above each stream's floor: what may be withheld (first-seen order). */
  gaps(): StreamCounters[] {
    const out: StreamCounters[] = [];
    for (const s of this.#streams.values()) {
      const counters = s.missing.length > 0 ? expand(s, s.floor + 1) : [];
      if (counters.length > 0) out.push({ sender: s.sender, device: s.device, counters });
    }
    return out;
  }
}
