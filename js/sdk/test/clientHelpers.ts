/**
 * What the client tests share: a client on a real relay, and waiting for events.
 *
 * Each person is an `Identity` with a store (a file under a temporary directory, so a
 * test can close a client and open another on the same store, as an app restarting
 * does). Events are read from the client's own iterator into a list a test waits on.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { WebSocket } from "ws";

import { HearthClient, type HearthClientOptions } from "../src/client.js";
import type { Event } from "../src/events.js";
import { Identity } from "../src/identity.js";
import { FileBackend } from "../src/node/fileBackend.js";
import type { WebSocketConstructor } from "../src/transport.js";

/** Seconds any one wait may take before the test fails as hung. */
export const HANG = 20;

/** A temporary directory removed by `cleanup()`. */
export function tempDir(): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), "hearth-client-"));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** One person: an identity and where their store lives. */
export class Person {
  readonly identity: Identity;
  readonly storePath: string;
  client: HearthClient | null = null;
  readonly events: Event[] = [];
  #watchers = new Set<() => void>();
  #reading: Promise<void> | null = null;

  constructor(
    dir: string,
    readonly name: string,
    identity: Identity = Identity.generate(),
  ) {
    this.identity = identity;
    this.storePath = join(dir, `${name}.store`);
  }

  /** The open client (a test that uses it before `open` fails saying so). */
  get c(): HearthClient {
    if (this.client === null) throw new Error(`${this.name} is not open`);
    return this.client;
  }

  /** What a subclass sets on a client before it opens (the programs hooks, say). */
  protected prepare(_client: HearthClient): void {}

  /** Open a client for this person on `relay` (the store file is reused). */
  async open(relay: string, options: Partial<HearthClientOptions> = {}): Promise<HearthClient> {
    const store = await FileBackend.open(this.storePath);
    const client = new HearthClient({
      relay,
      identity: this.identity,
      store,
      webSocket: WebSocket as unknown as WebSocketConstructor,
      reconnectDelay: [0.05, 0.5],
      ...options,
    });
    this.prepare(client);
    await client.open();
    this.client = client;
    this.#reading = (async () => {
      for await (const event of client.events()) {
        this.events.push(event);
        for (const w of this.#watchers) w();
      }
    })();
    return client;
  }

  /** Close the client (and wait for its event iterator to end). */
  async close(): Promise<void> {
    await this.client?.close();
    await this.#reading;
    this.client = null;
  }

  /** The first event (seen already or still to come) that `test` accepts. */
  async waitFor<T extends Event>(test: (e: Event) => e is T, seconds?: number): Promise<T>;
  async waitFor(test: (e: Event) => boolean, seconds?: number): Promise<Event>;
  async waitFor(test: (e: Event) => boolean, seconds = HANG): Promise<Event> {
    const found = () => this.events.find(test);
    const now = found();
    if (now !== undefined) return now;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#watchers.delete(watch);
        reject(new Error(`${this.name}: no matching event within ${seconds} s; got ${this.events.map((e) => e.type).join(", ")}`));
      }, seconds * 1000);
      const watch = () => {
        const got = found();
        if (got !== undefined) {
          clearTimeout(timer);
          this.#watchers.delete(watch);
          resolve(got);
        }
      };
      this.#watchers.add(watch);
    });
  }

  /** Wait until `check` holds (polled on events and every 50 ms). */
  async until(check: () => boolean | Promise<boolean>, seconds = HANG, what = "condition"): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} did not hold within ${seconds} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The text of a `MessageReceived` in `room`. */
export function received(room: string, text: string) {
  return (e: Event): boolean => e.type === "MessageReceived" && e.roomId === room && e.message.text === text;
}
