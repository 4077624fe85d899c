/**
 * Exponential backoff with full jitter: the one retry schedule of the SDK
 * (mirrors `protocol/backoff.py`).
 *
 * Attempt `n` (from 0) waits a delay drawn uniformly from `[0, min(high, low * 2**n))`:
 * the bound doubles from `low` up to `high`, and the delay is anywhere below it
 * ("full jitter"). Many clients that lost the relay at the same moment (a restart)
 * then come back spread over the whole interval instead of in synchronised waves.
 *
 * This module only computes delays, in seconds; it never waits. The caller waits
 * on its `Clock` and calls `reset()` once a connection works again. The randomness
 * is a parameter (any `() => number` in `[0, 1)`), so a test gets the same delays
 * every run.
 */

/** Where a delay's randomness comes from: a function returning `[0, 1)`. */
export type Rng = () => number;

/** The first attempt's bound by default, seconds. */
export const DEFAULT_LOW = 0.25;

/** The largest bound by default, seconds: no retry ever waits longer. */
export const DEFAULT_CAP = 10.0;

/**
 * `2 ** 1024` is `Infinity` in a double; `0 * Infinity` is `NaN`, which `Math.min`
 * would hand out as a delay. Past this exponent the bound is `high` anyway.
 */
const MAX_EXPONENT = 1023;

/**
 * The bound of attempt `attempt`'s delay: `min(high, low * 2**attempt)`.
 *
 * Any attempt number works: the exponent is capped before it can overflow.
 */
export function ceiling(attempt: number, low: number, high: number): number {
  return Math.min(high, low * 2 ** Math.min(attempt, MAX_EXPONENT));
}

/**
 * Attempt `attempt`'s delay: uniform in `[0, min(high, low * 2**attempt))`.
 *
 * The pure form of `Backoff`, for a caller that keeps the attempt count itself.
 */
export function fullJitter(attempt: number, low: number, high: number, rng: Rng = Math.random): number {
  return ceiling(attempt, low, high) * rng();
}

/** Successive retry delays: exponential, capped, with full jitter. */
export class Backoff {
  readonly low: number;
  readonly high: number;
  private readonly draw: Rng;
  private count = 0;

  /**
   * @param low The first attempt's bound, seconds (>= 0; 0 retries at once, every time).
   * @param high The largest bound, the cap, seconds (>= `low`).
   * @param rng The randomness (default `Math.random`: delays need no secret).
   * @throws RangeError `low` is negative or `high` is below it.
   */
  constructor(low: number = DEFAULT_LOW, high: number = DEFAULT_CAP, rng: Rng = Math.random) {
    if (!(low >= 0 && low <= high)) throw new RangeError(`backoff needs 0 <= low <= high, not (${low}, ${high})`);
    this.low = low;
    this.high = high;
    this.draw = rng;
  }

  /** How many delays were handed out since the last `reset()`. */
  get attempt(): number {
    return this.count;
  }

  /**
   * The delay before the next attempt, in seconds; counts one attempt.
   *
   * @param hint The moment the other side named for coming back (a relay going
   *   down gracefully spreads its clients' return so), in seconds: the delay is
   *   the hint, at most the cap, and no attempt is counted.
   */
  nextDelay(hint?: number | null): number {
    if (hint !== undefined && hint !== null) return Math.min(Math.max(hint, 0), this.high);
    const delay = ceiling(this.count, this.low, this.high) * this.draw();
    this.count += 1;
    return delay;
  }

  /** It worked: the next delay is drawn from the first bound, `[0, low)`, again. */
  reset(): void {
    this.count = 0;
  }

  toString(): string {
    return `Backoff(low=${this.low}, high=${this.high}, attempt=${this.count})`;
  }
}
