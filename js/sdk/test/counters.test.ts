/**
 * Per-device counters: counters.json, every case and every step, as
 * tests/protocol/test_vectors.py checks it, and tests/protocol/test_counters.py.
 */

import { describe, expect, it } from "vitest";

import { compareBytes, compareStrings, fromHex, hex, utf8 } from "../src/bytes.js";
import { CounterTracker, MAX_GAP } from "../src/counters.js";
import { EnvelopeError, HearthError } from "../src/errors.js";
import { vectors } from "./vectors.js";

const doc = vectors("counters");

describe("counters.json", () => {
  it.each(doc.cases.map((c: any) => [c.name, c]) as [string, any][])("%s", (name, c) => {
    const tracker = new CounterTracker();
    let error: { step: number; code: string } | null = null;
    c.steps.forEach((step: any, i: number) => {
      if (error !== null) return;
      const device = fromHex(step.device);
      try {
        if (step.op === "observe") tracker.observe(step.sender, device, step.counter);
        else if (step.op === "excuse") tracker.excuse(step.sender, device, step.counter);
        else {
          expect(step.op).toBe("raise_floor");
          tracker.raiseFloor(step.sender, device, step.floor);
        }
      } catch (exc) {
        if (!(exc instanceof HearthError)) throw exc;
        error = { step: i, code: exc.code };
      }
      expect(tracker.floor(step.sender, device), name).toBe(step.floor_after);
      expect(tracker.highest(step.sender, device), name).toBe(step.highest_after);
    });
    expect(error).toEqual(c.error);
    const gaps = tracker
      .gaps()
      .sort((a, b) => compareStrings(a.sender, b.sender) || compareBytes(a.device, b.device))
      .flatMap((g) => g.counters.map((n) => [g.sender, hex(g.device), n]));
    expect(gaps).toEqual(c.gaps);
    const floors = tracker
      .streams()
      .sort((a, b) => compareStrings(a[0], b[0]) || compareBytes(a[1], b[1]))
      .map(([s, d]) => [s, hex(d), tracker.floor(s, d)]);
    expect(floors).toEqual(c.floors);
  });
});

const ALICE = "A".repeat(43);
const BOB = "B".repeat(43);
const PHONE = utf8("p".repeat(16));
const LAPTOP = utf8("l".repeat(16));

/** `missing()` as Python's dict: "sender/device-hex" -> counters. */
function missing(t: CounterTracker): Record<string, number[]> {
  return Object.fromEntries(t.missing().map((m) => [`${m.sender}/${hex(m.device)}`, m.counters]));
}
function gaps(t: CounterTracker): Record<string, number[]> {
  return Object.fromEntries(t.gaps().map((m) => [`${m.sender}/${hex(m.device)}`, m.counters]));
}
const key = (s: string, d: Uint8Array) => `${s}/${hex(d)}`;

function code(f: () => unknown): string {
  try {
    f();
  } catch (exc) {
    expect(exc).toBeInstanceOf(EnvelopeError);
    return (exc as EnvelopeError).code;
  }
  return "accepted";
}

describe("CounterTracker", () => {
  it("has no gap in order", () => {
    const t = new CounterTracker();
    for (let n = 1; n <= 5; n++) t.observe(ALICE, PHONE, n);
    expect(missing(t)).toEqual({});
    expect(t.highest(ALICE, PHONE)).toBe(5);
  });

  it("reports a gap until the late message arrives", () => {
    const t = new CounterTracker();
    t.observe(ALICE, PHONE, 1);
    t.observe(ALICE, PHONE, 4);
    expect(missing(t)).toEqual({ [key(ALICE, PHONE)]: [2, 3] });
    t.observe(ALICE, PHONE, 3);
    expect(missing(t)).toEqual({ [key(ALICE, PHONE)]: [2] });
    t.observe(ALICE, PHONE, 2);
    expect(missing(t)).toEqual({});
    expect(t.highest(ALICE, PHONE)).toBe(4);
  });

  it("keeps devices and senders apart", () => {
    const t = new CounterTracker();
    t.observe(ALICE, PHONE, 1);
    t.observe(ALICE, LAPTOP, 1);
    t.observe(BOB, PHONE, 1);
    t.observe(ALICE, LAPTOP, 3);
    expect(missing(t)).toEqual({ [key(ALICE, LAPTOP)]: [2] });
    expect(t.highest(BOB, LAPTOP)).toBe(0);
    expect(t.streams().map(([s, d]) => key(s, d))).toEqual([key(ALICE, PHONE), key(ALICE, LAPTOP), key(BOB, PHONE)]);
  });

  it.each([[[1]], [[1, 2]], [[1, 3, 2]], [[2, 1]]])("refuses a replay of %j and changes nothing", (seen) => {
    const t = new CounterTracker();
    for (const n of seen) t.observe(ALICE, PHONE, n);
    for (const n of seen) expect(code(() => t.observe(ALICE, PHONE, n))).toBe("msg.replay");
    expect(t.highest(ALICE, PHONE)).toBe(Math.max(...seen));
  });

  it("refuses a huge jump and changes nothing", () => {
    const t = new CounterTracker();
    t.observe(ALICE, PHONE, 1);
    expect(code(() => t.observe(ALICE, PHONE, 1 + MAX_GAP + 1))).toBe("msg.counter_jump");
    expect(t.highest(ALICE, PHONE)).toBe(1);
    expect(missing(t)).toEqual({});
    t.observe(ALICE, PHONE, 1 + MAX_GAP); // a jump of exactly MAX_GAP is tracked
    expect(missing(t)[key(ALICE, PHONE)]!.length).toBe(MAX_GAP - 1);
  });

  it("reports exactly what is missing, whatever the arrival order", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const order = Array.from({ length: 29 }, (_, i) => i + 1).sort(() => random() - 0.5);
      const arrived = order.slice(0, Math.floor(random() * 30));
      const t = new CounterTracker();
      for (const n of arrived) t.observe(ALICE, PHONE, n);
      const top = Math.max(0, ...arrived);
      const expected = Array.from({ length: Math.max(0, top - 1) }, (_, i) => i + 1).filter((n) => !arrived.includes(n));
      expect(missing(t)[key(ALICE, PHONE)] ?? []).toEqual(expected);
      expect(t.highest(ALICE, PHONE)).toBe(top);
    }
  });

  it("holds one range per gap, not one entry per counter", () => {
    const t = new CounterTracker();
    let counter = 0;
    for (let i = 0; i < 1_000; i++) {
      counter += MAX_GAP;
      t.observe(ALICE, PHONE, counter);
    }
    // Filling one counter in the middle of a range splits it in two; seenAfter walks ranges.
    t.observe(ALICE, PHONE, MAX_GAP / 2);
    expect(t.seenAfter(ALICE, PHONE, MAX_GAP / 2)).toBe(MAX_GAP);
    expect(t.seenAfter(ALICE, PHONE, MAX_GAP / 2 - 1)).toBe(MAX_GAP / 2);
  });

  it("excuses only a missing counter, or one the stream has not reached", () => {
    const t = new CounterTracker();
    for (const c of [1, 4, 6]) t.observe(ALICE, PHONE, c);
    t.excuse(ALICE, PHONE, 2);
    t.excuse(ALICE, PHONE, 4); // seen: nothing to do
    t.excuse(ALICE, PHONE, 9); // beyond what the stream reached: excused when it does
    expect(missing(t)).toEqual({ [key(ALICE, PHONE)]: [3, 5] });
    expect(t.excusedAhead().map(([s, d, c]) => [s, hex(d), c])).toEqual([[ALICE, hex(PHONE), 9]]);
    t.observe(ALICE, PHONE, 10);
    expect(missing(t)).toEqual({ [key(ALICE, PHONE)]: [3, 5, 7, 8] });
    expect(t.excusedAhead()).toEqual([]);
    for (const c of [2, 9]) expect(code(() => t.observe(ALICE, PHONE, c))).toBe("msg.replay");
  });

  it("starts a stream at its first counter, and floors only rise", () => {
    const t = new CounterTracker();
    t.observe(ALICE, PHONE, 57); // a later joiner's first message from this device
    expect(t.floor(ALICE, PHONE)).toBe(56);
    expect(missing(t)).toEqual({ [key(ALICE, PHONE)]: Array.from({ length: 56 }, (_, i) => i + 1) });
    expect(gaps(t)).toEqual({});
    t.observe(ALICE, PHONE, 60);
    expect(gaps(t)).toEqual({ [key(ALICE, PHONE)]: [58, 59] });
    t.raiseFloor(ALICE, PHONE, 58);
    t.raiseFloor(ALICE, PHONE, 10); // never down
    expect(gaps(t)).toEqual({ [key(ALICE, PHONE)]: [59] });
    t.raiseFloor(BOB, PHONE, 5); // an unknown stream: nothing
    expect(t.floor(BOB, PHONE)).toBe(0);
  });

  it("seenAfter skips what is missing", () => {
    const t = new CounterTracker();
    for (const c of [1, 2, 5, 9]) t.observe(ALICE, PHONE, c);
    expect(t.seenAfter(ALICE, PHONE, 0)).toBe(1);
    expect(t.seenAfter(ALICE, PHONE, 2)).toBe(5);
    expect(t.seenAfter(ALICE, PHONE, 5)).toBe(9);
    expect(t.seenAfter(ALICE, PHONE, 9)).toBeNull();
    expect(t.seenAfter(ALICE, LAPTOP, 0)).toBeNull();
  });

  it("keeps its own copy of a device id", () => {
    const t = new CounterTracker();
    const device = Uint8Array.from(PHONE);
    t.observe(ALICE, device, 1);
    device[0] = 0;
    expect(hex(t.streams()[0]![1])).toBe(hex(PHONE));
  });
});
