/**
 * An asynchronous mutual-exclusion lock, as `asyncio.Lock` is to the Python SDK.
 *
 * Waiters get the lock in the order they asked for it. It is not re-entrant: code
 * holding it must not ask for it again (the drivers' lock order, `slot.ts`, keeps
 * that from happening).
 */

export class Lock {
  #tail: Promise<void> = Promise.resolve();
  #holders = 0;

  /** True while someone holds the lock or waits for it. */
  get locked(): boolean {
    return this.#holders > 0;
  }

  /** Wait for the lock; the function returned releases it (a second call does nothing). */
  async acquire(): Promise<() => void> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#holders += 1;
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holders -= 1;
      release();
    };
  }

  /** Run `work` holding the lock. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}
