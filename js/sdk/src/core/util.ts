/** Small helpers the room core shares: Python's `bisect`, set equality, keys for (member, device) pairs. */

import { hex } from "../bytes.js";

/** The first index at which `value` could be inserted keeping `sorted` sorted (Python's `bisect_left`). */
export function bisectLeft(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The last such index (Python's `bisect_right`). */
export function bisectRight(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (value < sorted[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function setsEqual<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** One string per (sender, device) stream, for maps and sets (a member id holds no `/`). */
export function streamKey(sender: string, device: Uint8Array): string {
  return `${sender}/${hex(device)}`;
}

/** One string per (sender, device, counter). */
export function counterKey(sender: string, device: Uint8Array, counter: number): string {
  return `${sender}/${hex(device)}/${counter}`;
}

/** Compare as Python compares tuples of str/int/bytes (only what the core sorts). */
export function compareTuples(a: readonly (string | number | Uint8Array)[], b: readonly (string | number | Uint8Array)[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    let c = 0;
    if (typeof x === "number" && typeof y === "number") c = x - y;
    else if (typeof x === "string" && typeof y === "string") c = x < y ? -1 : x > y ? 1 : 0;
    else if (x instanceof Uint8Array && y instanceof Uint8Array) {
      const m = Math.min(x.length, y.length);
      for (let j = 0; j < m && c === 0; j++) c = x[j]! - y[j]!;
      if (c === 0) c = x.length - y.length;
    } else throw new TypeError("cannot compare values of different kinds");
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
