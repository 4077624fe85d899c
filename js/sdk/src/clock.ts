/**
 * The one place that reads the time: a `Clock` the SDK's drivers are given
 * (mirrors `protocol/clock.py`).
 *
 * Every wall-clock read, monotonic read and wait of the transport, the sessions and
 * the live stream goes through a `Clock` passed in at construction (default
 * `SYSTEM_CLOCK`), so a test moves time for a whole driver with a `ManualClock`
 * instead of sleeping or patching globals.
 *
 * One departure from the Python clock, for a reason: Python's drivers wait on the
 * event loop's own timers (`asyncio.timeout`), which a test can run on, while a
 * JavaScript runtime has no event-loop clock to hand in. So here the clock also
 * owns waiting (`sleep`): a `ManualClock` releases a sleeper only when a test
 * advances it past the sleeper's deadline, and every timeout and backoff of the SDK
 * can be driven to the millisecond without a real delay.
 */

/** Where the SDK reads the time, and waits. */
export interface Clock {
  /** The wall clock: milliseconds since the Unix epoch (may jump either way). */
  nowMs(): number;
  /** Seconds on a clock that never goes back, for durations (its origin means nothing). */
  monotonic(): number;
  /**
   * Resolve after `seconds` on this clock: `true` once the time passed, `false` as
   * soon as `signal` aborts (never rejects). A negative or zero wait ends at once
   * (after the current turn of the event loop on the system clock).
   */
  sleep(seconds: number, signal?: AbortSignal): Promise<boolean>;
}

/** The machine's clocks: `Date.now`, `performance.now` and `setTimeout`. */
export class SystemClock implements Clock {
  nowMs(): number {
    return Date.now();
  }

  monotonic(): number {
    return globalThis.performance.now() / 1000;
  }

  sleep(seconds: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (passed: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", aborted);
        resolve(passed);
      };
      const aborted = () => done(false);
      // setTimeout holds at most 2^31-1 ms; no wait of the SDK comes near it.
      const timer = setTimeout(() => done(true), Math.min(Math.max(seconds, 0) * 1000, 2 ** 31 - 1));
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }

  toString(): string {
    return "SYSTEM_CLOCK";
  }
}

/** The real clock: the default of every `clock` option. */
export const SYSTEM_CLOCK: Clock = new SystemClock();

interface Sleeper {
  readonly deadline: number;
  readonly order: number;
  readonly wake: (passed: boolean) => void;
}

/**
 * A clock that moves only when told to: for tests, and for replaying a scenario.
 *
 * Its sleepers wake when `advance` moves the monotonic clock to or past their
 * deadline, in deadline order; `sleeping()` lists what waits, and `nextSleep()`
 * tells a test when the code under test starts waiting, so it can assert on the
 * wait before letting the time pass.
 */
export class ManualClock implements Clock {
  private wall: number;
  private mono: number;
  private sleepers: Sleeper[] = [];
  private counter = 0;
  private watchers: Array<(seconds: number) => void> = [];

  /**
   * @param nowMs The wall clock's starting reading (default: the system clock's
   *   now, read once, so signatures and expiries a test makes look current).
   * @param monotonic The monotonic clock's starting reading, in seconds.
   */
  constructor(nowMs?: number, monotonic = 0) {
    this.wall = nowMs ?? SYSTEM_CLOCK.nowMs();
    this.mono = monotonic;
  }

  nowMs(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  sleep(seconds: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    for (const watcher of this.watchers.splice(0)) watcher(seconds);
    if (seconds <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        deadline: this.mono + seconds,
        order: this.counter++,
        wake: (passed) => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          signal?.removeEventListener("abort", aborted);
          resolve(passed);
        },
      };
      const aborted = () => sleeper.wake(false);
      this.sleepers.push(sleeper);
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }

  /**
   * Let `seconds` pass on both clocks (the wall clock in whole milliseconds) and
   * wake every sleeper whose deadline is reached.
   *
   * @throws RangeError `seconds` is negative (a monotonic clock never goes back;
   *   use `set` to move the wall clock backwards).
   */
  advance(seconds: number): void {
    if (seconds < 0) throw new RangeError("time only moves forward; use set() to turn the wall clock back");
    this.wall += Math.trunc(seconds * 1000);
    this.mono += seconds;
    // A small tolerance: 0.1 + 0.2 seconds of advances must reach a 0.3-second wait.
    const due = this.sleepers
      .filter((s) => s.deadline <= this.mono + 1e-9)
      .sort((a, b) => a.deadline - b.deadline || a.order - b.order);
    for (const sleeper of due) sleeper.wake(true);
  }

  /** Set the wall clock, forwards or backwards, as a system clock may jump; nothing wakes. */
  set(nowMs: number): void {
    this.wall = nowMs;
  }

  /** The seconds left of every pending sleep, soonest first. */
  sleeping(): number[] {
    return this.sleepers.map((s) => s.deadline - this.mono).sort((a, b) => a - b);
  }

  /** Resolves with the length of the next `sleep` anyone starts on this clock. */
  nextSleep(): Promise<number> {
    return new Promise((resolve) => this.watchers.push(resolve));
  }

  toString(): string {
    return `ManualClock(nowMs=${this.wall}, monotonic=${this.mono})`;
  }
}
