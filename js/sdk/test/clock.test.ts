/** The clock and the backoff (src/clock.ts, src/backoff.ts), as tests/protocol/test_clock.py and test_backoff.py hold Python's. */

import { describe, expect, it } from "vitest";

import { Backoff, DEFAULT_CAP, DEFAULT_LOW, ceiling, fullJitter } from "../src/backoff.js";
import { ManualClock, SYSTEM_CLOCK } from "../src/clock.js";

describe("Clock", () => {
  it("reads the machine's clocks on the system clock", async () => {
    const before = Date.now();
    expect(SYSTEM_CLOCK.nowMs()).toBeGreaterThanOrEqual(before);
    const start = SYSTEM_CLOCK.monotonic();
    expect(await SYSTEM_CLOCK.sleep(0.01)).toBe(true);
    expect(SYSTEM_CLOCK.monotonic()).toBeGreaterThan(start);
  });

  it("ends a system sleep at once when its signal aborts", async () => {
    const stop = new AbortController();
    const slept = SYSTEM_CLOCK.sleep(3600, stop.signal);
    stop.abort();
    expect(await slept).toBe(false);
  });

  it("moves a manual clock only when told, and never backwards", () => {
    const clock = new ManualClock(1_700_000_000_000, 5);
    expect([clock.nowMs(), clock.monotonic()]).toEqual([1_700_000_000_000, 5]);
    clock.advance(1.5);
    expect([clock.nowMs(), clock.monotonic()]).toEqual([1_700_000_001_500, 6.5]);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    clock.set(1_000);
    expect([clock.nowMs(), clock.monotonic()]).toEqual([1_000, 6.5]);
  });

  it("starts a manual clock at the real now by default", () => {
    const before = Date.now();
    const clock = new ManualClock();
    expect(clock.nowMs()).toBeGreaterThanOrEqual(before);
    expect(clock.nowMs()).toBeLessThanOrEqual(Date.now());
  });

  it("wakes manual sleepers when the time passes, in deadline order", async () => {
    const clock = new ManualClock();
    const woke: string[] = [];
    const long = clock.sleep(2).then((passed) => woke.push(`long ${passed}`));
    const short = clock.sleep(1).then((passed) => woke.push(`short ${passed}`));
    expect(clock.sleeping()).toEqual([1, 2]);
    clock.advance(0.999);
    await Promise.resolve();
    expect(woke).toEqual([]);
    clock.advance(0.001);
    await short;
    expect(woke).toEqual(["short true"]);
    clock.advance(0.5);
    clock.advance(0.5);
    await long;
    expect(woke).toEqual(["short true", "long true"]);
    expect(clock.sleeping()).toEqual([]);
  });

  it("tells a test when something starts to wait, and lets a signal end the wait", async () => {
    const clock = new ManualClock();
    const next = clock.nextSleep();
    const stop = new AbortController();
    const slept = clock.sleep(7, stop.signal);
    expect(await next).toBe(7);
    stop.abort();
    expect(await slept).toBe(false);
    expect(clock.sleeping()).toEqual([]);
  });
});

describe("Backoff", () => {
  it("draws every delay under its capped doubling bound, full jitter", () => {
    const draws = [0.999, 0.5, 0.0, 0.25, 0.75, 0.999, 0.999, 0.999];
    let i = 0;
    const backoff = new Backoff(0.25, 3.0, () => draws[i++]!);
    const delays = draws.map(() => backoff.nextDelay());
    expect(delays).toEqual([0.24975, 0.25, 0, 0.5, 2.25, 2.997, 2.997, 2.997]);
    expect(backoff.attempt).toBe(8);
  });

  it("returns to the first bound on reset", () => {
    const backoff = new Backoff(0.25, 10, () => 0.999);
    for (let n = 0; n < 10; n++) backoff.nextDelay();
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.nextDelay()).toBeLessThan(0.25);
  });

  it("matches its pure form", () => {
    const backoff = new Backoff(0.25, 30, () => 0.3);
    for (let attempt = 0; attempt < 20; attempt++) {
      expect(backoff.nextDelay()).toBe(fullJitter(attempt, 0.25, 30, () => 0.3));
    }
  });

  it("never overflows into NaN in a long outage, even from a zero first bound", () => {
    // 2 ** 1024 is Infinity, and 0 * Infinity is NaN: without the guard a zero first
    // bound would hand out NaN from attempt 1024 on, and a positive one Infinity * 0.
    expect(ceiling(5000, 0.25, 30)).toBe(30);
    expect(ceiling(5000, 0, 0)).toBe(0);
    expect(ceiling(1024, 0, 5)).toBe(0);
    const backoff = new Backoff(0.25, 30, () => 0.5);
    let delay = NaN;
    for (let n = 0; n < 2000; n++) delay = backoff.nextDelay();
    expect(delay).toBe(15);
    const zero = new Backoff(0, 0, () => 0.9);
    for (let n = 0; n < 2000; n++) delay = zero.nextDelay();
    expect(delay).toBe(0);
  });

  it("checks its bounds", () => {
    for (const [low, high] of [[-1, 1], [2, 1], [NaN, 1]] as const) {
      expect(() => new Backoff(low, high)).toThrow(/low <= high/);
    }
  });

  it("defaults to 0.25 s doubling to a 10 s cap", () => {
    expect([DEFAULT_LOW, DEFAULT_CAP]).toEqual([0.25, 10]);
    const backoff = new Backoff();
    for (let attempt = 0; attempt < 12; attempt++) {
      const delay = backoff.nextDelay();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(Math.min(10, 0.25 * 2 ** attempt));
    }
  });

  it("takes a named moment within the cap, counting no attempt", () => {
    const backoff = new Backoff(0.25, 10, () => 1);
    backoff.nextDelay();
    expect(backoff.nextDelay(2.5)).toBe(2.5);
    expect(backoff.nextDelay(60)).toBe(10);
    expect(backoff.nextDelay(-3)).toBe(0);
    expect(backoff.attempt).toBe(1);
  });
});
