/**
 * This device's own message counters in a room, and the ones the relay refused
 * (mirrors `client_sdk/_core/outgoing.py`).
 *
 * Every message this device seals takes the next counter. A counter the relay
 * refused for good stays used (later messages may be sealed already); our next
 * delivered messages list it in `Plaintext.skipped` so receivers stop expecting it
 * (protocol.md section 8.6), until a message announcing it is acknowledged.
 */

/** Refused counters one plaintext can announce (`Plaintext.skipped`). */
export const MAX_SKIPPED = 64;

export class Outgoing {
  sendCounter = 0;
  /** Our counters the relay refused for good, not yet announced in a delivered message. */
  refused = new Set<number>();

  /** Number this device's next message in the room. */
  nextCounter(): number {
    this.sendCounter += 1;
    return this.sendCounter;
  }

  /** The relay refused our message with this counter for good; only the newest `MAX_SKIPPED` are kept. */
  noteRefused(counter: number): void {
    this.refused.add(counter);
    while (this.refused.size > MAX_SKIPPED) this.refused.delete(Math.min(...this.refused));
  }

  /** What a message of ours with `counter` must announce as refused. */
  skippedFor(counter: number): number[] {
    return [...this.refused].filter((c) => c < counter).sort((a, b) => a - b);
  }

  /** A message listing these refused counters was acknowledged: receivers know. */
  announced(counters: Iterable<number>): void {
    for (const c of counters) this.refused.delete(c);
  }
}
