/**
 * The live stream: one websocket, reconnected with backoff, feeding rooms in order
 * (mirrors `client_sdk/_live.py`).
 *
 * `LiveStream` owns the websocket and nothing else. Each connection authenticates
 * every followed room key (`auth`, asking for `events` batches), waits for `ready`,
 * lets the host catch up over HTTP and flush its outbox, subscribes from the
 * host's positions, then hands room events to the host in batches, per room, in
 * sequence order. A reader resolves send acknowledgements at once, so a send never
 * waits behind event processing; when the connection ends, every send still
 * waiting for its acknowledgement is woken at once (it goes over HTTP instead).
 *
 * When a connection ends the loop waits the next delay of a `Backoff`
 * (`uniform(0, min(high, low * 2**attempt))` seconds: exponential, full jitter;
 * reset once a connection is ready), or, when a relay shutting down gracefully
 * named its moment (1012, `stream.shutdown retry_ms=<n>`), that moment within the
 * cap, and reconnects. A close for `auth.*` tells the host to sign in again first;
 * 1011 `storage.unavailable` reaches the host as a `RelayError`, not as "offline".
 * Every wait is on the stream's `Clock`, so a test drives reconnects by moving a
 * `ManualClock`.
 *
 * The host (the client) is reached only through the `StreamHost` interface,
 * handed in at construction.
 */

import { Backoff, DEFAULT_CAP, DEFAULT_LOW, type Rng } from "./backoff.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { HearthError } from "./errors.js";
import { RelayError, RelayUnavailable } from "./sdkErrors.js";
import type { RoomEvent, ServerFrame, StreamConnection, Transport } from "./transport.js";
import type { Envelope, MessageAck } from "./wire/schema.gen.js";

/** Events handed to the host per turn at most. */
const BATCH = 256;

/** Seconds a send over the stream waits for its acknowledgement before going over HTTP. */
const ACK_TIMEOUT = 10;

/** What the stream needs from the client. */
export interface StreamHost {
  /** A session token for every room to follow, by room id (empty: nothing to follow). */
  streamTokens(): Promise<Record<string, string>>;
  /** Connected: catch up over HTTP, flush the outbox, return positions to resume from. */
  streamReady(): Promise<Record<string, number>>;
  /** Room events in sequence order. */
  streamEvents(room: string, events: readonly RoomEvent[]): Promise<void>;
  /** The connection came up or went down. */
  streamOnline(online: boolean): void;
  /** The relay refused our tokens (`auth.*`): sign in again before reconnecting. */
  streamRefused(): void;
}

/** How one connection ended, and how long the stream waits before the next. */
export interface StreamEnded {
  /** Why it ended: a `HearthError` (`net.unavailable`, `stream.shutdown` ...), or an unexpected failure. */
  readonly error: unknown;
  /** Seconds until the next attempt (the relay's `retry_ms`, or the backoff's draw). */
  readonly delay: number;
}

/** How a `LiveStream` reconnects. */
export interface LiveStreamOptions {
  /** `[low, high]` of the reconnect backoff, seconds (default `[0.25, 10]`). */
  reconnectDelay?: readonly [number, number];
  /** Seconds to wait for `ready` after `auth` (default 15). */
  timeout?: number;
  /** The backoff's randomness (default `Math.random`). */
  rng?: Rng;
  /** Where every wait is measured (default `SYSTEM_CLOCK`). */
  clock?: Clock;
  /** Told each time a connection ends, before the wait: the SDK's log line, for apps and tests. */
  onEnded?: (ended: StreamEnded) => void;
}

interface AckWaiter {
  resolve(ack: MessageAck): void;
  reject(error: HearthError): void;
}

type Item = { readonly room: string; readonly event: RoomEvent } | { readonly error: HearthError };

/** A queue the reader fills and the ingesting loop drains. */
class Queue {
  private readonly items: Item[] = [];
  private waiter: ((item: Item) => void) | null = null;

  put(item: Item): void {
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter(item);
    } else this.items.push(item);
  }

  get(): Promise<Item> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  takeNow(): Item | undefined {
    return this.items.shift();
  }
}

/** The websocket driver. Call `run()` (it returns when `stop()` is called). */
export class LiveStream {
  private readonly transport: Transport;
  private readonly host: StreamHost;
  private readonly backoff: Backoff;
  private readonly timeout: number;
  private readonly clock: Clock;
  private readonly onEnded: ((ended: StreamEnded) => void) | undefined;
  /** The connection once it is ready: sends go over it. */
  private ws: StreamConnection | null = null;
  /** The connection from the moment it opened, ready or not: what `stop` and `restart` close. */
  private current: StreamConnection | null = null;
  private rooms = new Set<string>();
  private readonly acks = new Map<string, AckWaiter>();
  private restartWanted = false;
  private wakeSignal = new AbortController();
  private stopped = false;
  private running: Promise<void> | null = null;
  private frames: Queue | null = null;

  constructor(transport: Transport, host: StreamHost, options: LiveStreamOptions = {}) {
    this.transport = transport;
    this.host = host;
    const [low, high] = options.reconnectDelay ?? [DEFAULT_LOW, DEFAULT_CAP];
    this.backoff = new Backoff(low, high, options.rng ?? Math.random);
    this.timeout = options.timeout ?? 15;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.onEnded = options.onEnded;
  }

  /** Whether a connection is up (authenticated, `ready` received). */
  get connected(): boolean {
    return this.ws !== null;
  }

  /** Reconnect now (the set of rooms changed, or a frozen room was released). */
  restart(): void {
    this.restartWanted = true;
    this.wake();
    // Closed even before it is ready (Python closes only a ready one): a handshake
    // with the old set of keys has nothing left to deliver.
    this.current?.close();
  }

  /** Cut a backoff delay short. */
  wake(): void {
    this.wakeSignal.abort();
  }

  /** Stop for good: close the connection, end every wait; `run()` then returns. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    this.current?.close();
    this.frames?.put({ error: new RelayUnavailable("the stream was stopped") });
    await this.running;
  }

  /**
   * Send over the stream and wait for the acknowledgement.
   *
   * Returns null if the stream cannot carry it (down, room not authenticated on this
   * connection, no answer in time, closed under us): the caller falls back to HTTP
   * with the identical envelope, which the relay deduplicates.
   *
   * @throws RelayError The relay's verdict on this message (an `error` frame).
   */
  async send(envelope: Envelope): Promise<MessageAck | null> {
    const ws = this.ws;
    if (ws === null || !this.rooms.has(envelope.header.room)) return null;
    const id = envelope.header.id;
    const stop = new AbortController();
    const answer = new Promise<MessageAck>((resolve, reject) => this.acks.set(id, { resolve, reject }));
    try {
      ws.send({ type: "send", envelope });
      const timeout = this.clock.sleep(ACK_TIMEOUT, stop.signal).then(() => null);
      return await Promise.race([answer, timeout]);
    } catch (exc) {
      if (exc instanceof RelayUnavailable) return null;
      if (exc instanceof RelayError && "close" in exc.detail) return null; // the stream closed under us
      throw exc;
    } finally {
      stop.abort();
      this.acks.delete(id);
      answer.catch(() => undefined); // a rejection after the timeout is no one's business
    }
  }

  /** Connect, follow, reconnect, until `stop()`. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.restartWanted = false;
      let hint: number | null = null;
      let error: unknown = null;
      try {
        await this.connectOnce();
      } catch (exc) {
        error = exc;
        if (exc instanceof HearthError && exc.code.startsWith("auth.")) this.host.streamRefused();
        if (exc instanceof RelayError && exc.code === "stream.shutdown") hint = exc.retryAfter;
      }
      this.host.streamOnline(false);
      if (this.stopped) return;
      if (this.restartWanted) continue;
      // A relay going down gracefully says when to come back, a different moment
      // for each client: a restart's reconnects arrive spread out.
      const delay = this.backoff.nextDelay(hint);
      const wake = this.freshWake(); // a wake during the connection does not cut this wait
      this.onEnded?.({ error, delay });
      await this.clock.sleep(delay, wake);
    }
  }

  /** A wake signal no earlier `wake()` has fired; an aborted one once stopped. */
  private freshWake(): AbortSignal {
    if (this.wakeSignal.signal.aborted && !this.stopped) this.wakeSignal = new AbortController();
    return this.wakeSignal.signal;
  }

  private async connectOnce(): Promise<void> {
    const tokens = await this.host.streamTokens();
    if (Object.keys(tokens).length === 0) {
      await waitAborted(this.freshWake());
      this.restartWanted = true; // a room appeared: come straight back, no backoff
      return;
    }
    const ws = await this.transport.openStream();
    this.current = ws;
    const frames = new Queue();
    let reading: Promise<void> | null = null;
    try {
      if (this.stopped || this.restartWanted) throw new RelayUnavailable("the stream was stopped or restarted");
      ws.send({ type: "auth", tokens: Object.values(tokens), batch: true });
      const ready = await this.withTimeout(ws.recv(), this.timeout);
      if (ready.type !== "ready") throw new RelayError("the stream did not authenticate", { code: "auth.invalid" });
      this.frames = frames;
      reading = this.read(ws, frames);
      this.ws = ws;
      this.rooms = new Set(Object.keys(tokens));
      this.host.streamOnline(true);
      this.backoff.reset();
      const positions = await this.host.streamReady();
      ws.send({ type: "subscribe", positions });
      for (;;) {
        const batch = [await frames.get()];
        for (let next = frames.takeNow(); next !== undefined; next = frames.takeNow()) {
          batch.push(next);
          if (batch.length >= BATCH) break;
        }
        const byRoom = new Map<string, RoomEvent[]>();
        for (const item of batch) {
          if ("error" in item) throw item.error;
          let events = byRoom.get(item.room);
          if (events === undefined) byRoom.set(item.room, (events = []));
          events.push(item.event);
        }
        for (const [room, events] of byRoom) await this.host.streamEvents(room, events);
      }
    } finally {
      if (this.ws === ws) {
        this.ws = null;
        this.rooms = new Set();
      }
      if (this.frames === frames) this.frames = null;
      if (this.current === ws) this.current = null;
      this.failWaiters(new RelayUnavailable("the stream closed"));
      ws.close();
      await reading;
    }
  }

  /** Resolve acknowledgements at once; queue room events for the ingesting loop. */
  private async read(ws: StreamConnection, frames: Queue): Promise<void> {
    try {
      for (;;) {
        const frame: ServerFrame = await ws.recv();
        switch (frame.type) {
          case "event":
            frames.put({ room: frame.room, event: frame.event });
            break;
          case "events":
            for (const event of frame.events) frames.put({ room: frame.room, event });
            break;
          case "ack":
            this.acks.get(frame.id)?.resolve({ room: frame.room, id: frame.id, seq: frame.seq, ts: frame.ts });
            break;
          case "error": {
            const waiter = frame.id ? this.acks.get(frame.id) : undefined;
            // An error frame without a message id (a refused subscription, a
            // malformed frame before the close) is the relay's word on the stream,
            // which the close that follows, if any, carries to the loop.
            waiter?.reject(new RelayError(frame.message, { code: frame.code, retryAfter: frame.retry_after ?? null }));
            break;
          }
          default:
            break; // `ready` again, or `personal` frames, which this stream does not follow
        }
      }
    } catch (exc) {
      const error = exc instanceof HearthError ? exc : new RelayUnavailable(`stream broke: ${String(exc)}`);
      // The connection is gone: every send waiting for an acknowledgement learns it
      // now (it goes over HTTP instead), not when the ingesting loop gets here,
      // which may be busy in the host's catch-up and flush for a while.
      if (this.ws === ws) {
        this.ws = null;
        this.rooms = new Set();
      }
      this.failWaiters(error);
      frames.put({ error });
    }
  }

  private failWaiters(error: HearthError): void {
    for (const waiter of this.acks.values()) waiter.reject(new RelayUnavailable(`the stream closed: ${error.code}`));
  }

  private async withTimeout<T>(work: Promise<T>, seconds: number): Promise<T> {
    const stop = new AbortController();
    const timeout = this.clock.sleep(seconds, stop.signal).then((passed) => {
      if (passed) throw new RelayUnavailable(`no answer on the stream within ${seconds} s`);
      return new Promise<never>(() => undefined);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      stop.abort();
    }
  }
}

function waitAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
