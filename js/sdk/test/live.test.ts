/**
 * The live stream (src/live.ts) against a real relay, as a front end lives with it:
 * it connects, authenticates, subscribes, receives the room's history and then what
 * a Python SDK user sends; it sends over the stream and gets the relay's
 * acknowledgement or verdict; it comes back after a graceful restart exactly when
 * the relay said (1012 `retry_ms`), and after a `kill -9` after its backoff; and it
 * turns the relay's refusals (a bad frame, a refused token, too many streams) into
 * the Python SDK's typed errors.
 *
 * Every wait of the stream is on a `ManualClock`: a test sees the stream waiting,
 * checks for how long, and lets exactly that time pass. The only real waits are for
 * the relay and the network, on events, each under a bound that guards a hang.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";

import { memberOf } from "../src/auth.js";
import { fromHex } from "../src/bytes.js";
import { ManualClock } from "../src/clock.js";
import { SigningKey, cryptoReady, randomBytes } from "../src/crypto.js";
import { HearthError } from "../src/errors.js";
import { LiveStream, type LiveStreamOptions, type StreamEnded, type StreamHost } from "../src/live.js";
import { RelayError, RelayUnavailable } from "../src/sdkErrors.js";
import { Sessions } from "../src/sessions.js";
import { type RoomEvent, Transport } from "../src/transport.js";
import type { Envelope, MessageEvent } from "../src/wire/schema.gen.js";
import { PythonPeer } from "./peer.js";
import { type RelayProcess, startRelay } from "./relay.js";

beforeAll(() => cryptoReady());

/** Seconds any one wait on the relay may take before the test fails as hung. */
const HANG = 20;

/** A client as the stream sees it: tokens, positions, what arrived, and how it went. */
class Host implements StreamHost {
  tokens: Record<string, string>;
  readonly positions: Record<string, number> = {};
  readonly events: Array<{ room: string; event: RoomEvent }> = [];
  readonly ended: StreamEnded[] = [];
  online = false;
  connects = 0;
  refused = 0;
  /** Positions to subscribe with instead of the real ones (a test's bad frame). */
  subscribeWith: Record<string, number> | null = null;
  private readonly watchers = new Set<() => void>();

  constructor(tokens: Record<string, string>, positions: Record<string, number> = {}) {
    this.tokens = tokens;
    Object.assign(this.positions, positions);
  }

  async streamTokens(): Promise<Record<string, string>> {
    this.connects++;
    this.changed();
    return this.tokens;
  }

  async streamReady(): Promise<Record<string, number>> {
    return this.subscribeWith ?? { ...this.positions };
  }

  async streamEvents(room: string, events: readonly RoomEvent[]): Promise<void> {
    for (const event of events) {
      this.events.push({ room, event });
      this.positions[room] = event.seq;
    }
    this.changed();
  }

  streamOnline(online: boolean): void {
    this.online = online;
    this.changed();
  }

  streamRefused(): void {
    this.refused++;
    this.changed();
  }

  onEnded = (ended: StreamEnded): void => {
    this.ended.push(ended);
    this.changed();
  };

  /** Resolve once `check` holds, re-checked whenever the stream tells the host anything. */
  until(check: () => boolean, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(watch);
        reject(new Error(`timed out waiting for ${what}`));
      }, HANG * 1000);
      const watch = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.watchers.delete(watch);
        resolve();
      };
      this.watchers.add(watch);
    });
  }

  /** The last way a connection ended, as an error. */
  lastError(): unknown {
    return this.ended.at(-1)?.error;
  }

  private changed(): void {
    for (const watch of [...this.watchers]) watch();
  }
}

interface Running {
  live: LiveStream;
  host: Host;
  clock: ManualClock;
  done: Promise<void>;
}

const running: Running[] = [];

function follow(relayUrl: string, host: Host, options: LiveStreamOptions = {}): Running {
  const clock = new ManualClock();
  const live = new LiveStream(new Transport(relayUrl, { WebSocket }), host, {
    clock,
    rng: () => 0.5,
    reconnectDelay: [0.25, 10],
    onEnded: host.onEnded,
    ...options,
  });
  const run = { live, host, clock, done: live.run() };
  running.push(run);
  return run;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.live.stop()));
});

function seqs(host: Host, room: string): number[] {
  return host.events.filter((e) => e.room === room).map((e) => e.event.seq);
}

function message(host: Host, id: string): MessageEvent | undefined {
  return host.events.map((e) => e.event).find((e): e is MessageEvent => e.type === "msg" && e.envelope.header.id === id);
}

describe("the live stream on a real relay", () => {
  let relay: RelayProcess;
  let peer: PythonPeer;
  let room: string;
  let key: SigningKey;
  let token: string;

  beforeAll(async () => {
    relay = await startRelay({ env: { HEARTH_RESTART_SPREAD: "2" } });
    peer = await PythonPeer.start(relay.url);
    // A Python SDK user creates a group; the TypeScript side signs in as that
    // member (the same room key, from its seed) and follows the room.
    const created = await peer.call<{ room: string; member: string; seed: string }>({ op: "create", name: "Thursday circle" });
    room = created.room;
    key = new SigningKey(fromHex(created.seed));
    expect(memberOf(key)).toBe(created.member);
    token = await new Sessions(new Transport(relay.url)).token(key);
  });
  afterEach(async () => {
    // A test that failed with the relay down leaves it down for the next: not so.
    if (!relay.running) await relay.start();
  });
  afterAll(async () => {
    await peer?.close();
    await relay?.dispose();
  });

  it("replays the room, then delivers what another connection sends, in order", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    follow(relay.url, host);
    await host.until(() => host.online && host.events.length > 0, "the replay");
    const first = host.events[0]!.event;
    expect([first.type, first.seq]).toEqual(["log", 1]); // the group's room.create
    const { id } = await peer.call<{ id: string }>({ op: "send", room, text: "Is anyone up?" });
    await host.until(() => message(host, id) !== undefined, "the live message");
    const got = message(host, id)!;
    expect(got.envelope.header.room).toBe(room);
    expect(got.envelope.header.sender).toBe(memberOf(key));
    const all = seqs(host, room);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1)); // contiguous, no duplicate
    expect(host.refused).toBe(0);
    expect(host.ended).toEqual([]);
  });

  it("sends over the stream: the relay's acknowledgement, or its verdict as a typed error", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    const { live } = follow(relay.url, host);
    const { id } = await peer.call<{ id: string }>({ op: "send", room, text: "Sent once, acknowledged twice" });
    await host.until(() => host.online && message(host, id) !== undefined, "the message");
    const stored = message(host, id)!;
    // The identical envelope again: the relay deduplicates by id and acknowledges the stored one.
    expect(await live.send(stored.envelope)).toEqual({ room, id, seq: stored.seq, ts: stored.ts });
    // Another message under that id: refused, and the refusal is this message's, not the stream's.
    const forged: Envelope = { ...stored.envelope, ciphertext: randomBytes(stored.envelope.ciphertext.length) };
    const refused = live.send(forged);
    await expect(refused).rejects.toBeInstanceOf(RelayError);
    await expect(refused).rejects.toMatchObject({ code: "msg.duplicate_id", status: 0 });
    expect(live.connected).toBe(true);
    // A room this connection did not authenticate is not carried: the caller goes over HTTP.
    const elsewhere: Envelope = { ...stored.envelope, header: { ...stored.envelope.header, room: "B".repeat(32) } };
    expect(await live.send(elsewhere)).toBeNull();
  });

  it("comes back after a graceful restart exactly when the relay said", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    const { clock } = follow(relay.url, host);
    await host.until(() => host.online && host.events.length > 0, "the first connection");
    const caughtUp = host.positions[room]!;
    await relay.restart(); // SIGTERM: every stream closes with 1012 "stream.shutdown retry_ms=<n>"
    await host.until(() => host.ended.length === 1 && !host.online, "the shutdown close");
    const error = host.lastError();
    expect(error).toBeInstanceOf(RelayError);
    const hint = (error as RelayError).retryAfter;
    expect((error as RelayError).code).toBe("stream.shutdown");
    expect(hint).not.toBeNull();
    expect(hint!).toBeGreaterThanOrEqual(0);
    expect(hint!).toBeLessThanOrEqual(2); // the relay's restart_spread
    expect(host.ended[0]!.delay).toBe(hint); // the hint, not the backoff's 0.125 s draw
    expect(clock.sleeping()).toEqual([hint]);
    const connects = host.connects;
    if (hint! > 0.002) {
      clock.advance(hint! - 0.001);
      await Promise.resolve();
      expect(clock.sleeping().length).toBe(1); // a millisecond early: still waiting
      expect(host.connects).toBe(connects);
      clock.advance(0.001);
    } else clock.advance(hint!);
    await host.until(() => host.online, "the reconnection");
    expect(host.connects).toBe(connects + 1);
    // It resumed from its position: what is sent now arrives, and nothing twice.
    const { id } = await peer.call<{ id: string }>({ op: "send", room, text: "Back again" });
    await host.until(() => message(host, id) !== undefined, "a message after the restart");
    expect(message(host, id)!.seq).toBeGreaterThan(caughtUp);
    const all = seqs(host, room);
    expect(new Set(all).size).toBe(all.length);
  });

  it("comes back after a kill -9, after its backoff", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    const { clock } = follow(relay.url, host);
    await host.until(() => host.online && host.events.length > 0, "the first connection");
    await relay.kill(); // no close frame: the connection just drops
    await host.until(() => host.ended.length === 1 && !host.online, "the dropped connection");
    const error = host.lastError();
    expect(error).toBeInstanceOf(RelayUnavailable);
    expect((error as HearthError).code).toBe("net.unavailable");
    expect(host.ended[0]!.delay).toBe(0.125); // attempt 0 of [0.25, 10) at the draw 0.5
    await relay.start();
    const connects = host.connects;
    clock.advance(0.125);
    await host.until(() => host.online, "the reconnection");
    expect(host.connects).toBe(connects + 1);
    const { id } = await peer.call<{ id: string }>({ op: "send", room, text: "Still here" });
    await host.until(() => message(host, id) !== undefined, "a message after the crash");
    const all = seqs(host, room);
    expect(new Set(all).size).toBe(all.length);
  });

  it("reconnects with growing backoff while the relay is down, and resets once it is back", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    const { clock } = follow(relay.url, host);
    await host.until(() => host.online, "the first connection");
    await relay.kill();
    await host.until(() => host.ended.length === 1, "the dropped connection");
    // Each failed attempt doubles the bound: 0.125, 0.25, 0.5 at the draw 0.5.
    for (const [n, wait] of [[2, 0.25], [3, 0.5]] as const) {
      clock.advance(host.ended.at(-1)!.delay);
      await host.until(() => host.ended.length === n, `failed attempt ${n}`);
      expect(host.lastError()).toBeInstanceOf(RelayUnavailable);
      expect(host.ended.at(-1)!.delay).toBe(wait);
    }
    await relay.start();
    clock.advance(0.5);
    await host.until(() => host.online, "the reconnection");
    await relay.kill();
    await host.until(() => host.ended.length === 4, "the second drop");
    expect(host.ended.at(-1)!.delay).toBe(0.125); // reset once it was ready
    await relay.start();
  });

  it("turns a bad frame of its own into the typed error, and tries again", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    host.subscribeWith = { "not a room id": 0 };
    const { clock } = follow(relay.url, host);
    await host.until(() => host.ended.length === 1, "the relay's refusal");
    const error = host.lastError();
    expect(error).toBeInstanceOf(RelayError);
    expect(error).toMatchObject({ code: "wire.malformed", status: 0, detail: { close: 4400 } });
    expect(host.refused).toBe(0);
    host.subscribeWith = null;
    clock.advance(host.ended[0]!.delay);
    await host.until(() => host.online && host.events.length > 0, "the next connection");
  });

  it("reads the relay's error frame before its close, at the connection", async () => {
    const stream = await new Transport(relay.url, { WebSocket }).openStream();
    stream.send({ type: "auth", tokens: [] }); // at least one token: the relay cannot decode it
    const frame = await stream.recv();
    expect(frame.type).toBe("error");
    expect(frame).toMatchObject({ code: "wire.malformed", message: expect.stringContaining("$.tokens") });
    await expect(stream.recv()).rejects.toMatchObject({ code: "wire.malformed", detail: { close: 4400 } });
  });

  it("tells the host to sign in again when the relay refuses its token", async () => {
    const host = new Host({ [room]: "not-a-token" });
    const { clock } = follow(relay.url, host);
    await host.until(() => host.ended.length === 1, "the refusal");
    expect(host.lastError()).toMatchObject({ code: "auth.invalid", detail: { close: 4401 } });
    expect(host.refused).toBe(1);
    expect(host.online).toBe(false);
    host.tokens = { [room]: token }; // signed in again
    clock.advance(host.ended[0]!.delay);
    await host.until(() => host.online, "the connection with a good token");
  });

  it("waits for a room to follow, and connects at once when woken", async () => {
    const host = new Host({});
    const { live, clock } = follow(relay.url, host);
    await host.until(() => host.connects === 1, "the first look at the rooms");
    expect(clock.sleeping()).toEqual([]); // not a backoff: it waits to be woken
    host.tokens = { [room]: token };
    Object.assign(host.positions, { [room]: 0 });
    live.wake();
    await host.until(() => host.online, "the connection");
    expect(host.ended).toEqual([]);
  });

  it("stops for good, mid-connection", async () => {
    const host = new Host({ [room]: token }, { [room]: 0 });
    const run = follow(relay.url, host);
    await host.until(() => host.online, "the connection");
    await run.live.stop();
    await run.done;
    expect(host.online).toBe(false);
    expect(run.clock.sleeping()).toEqual([]);
    expect(run.live.connected).toBe(false);
  });
});

describe("a relay that never says ready", () => {
  it("gives up after the timeout by the stream's clock, and tries again", async () => {
    // A websocket server that takes the auth frame and answers nothing.
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => server.once("listening", resolve));
    const auth = new Promise<string>((resolve) => server.on("connection", (socket) => socket.once("message", (data) => resolve(String(data)))));
    try {
      const host = new Host({ ["A".repeat(32)]: "a-token" });
      const { clock } = follow(`http://127.0.0.1:${(server.address() as { port: number }).port}`, host, { timeout: 15 });
      expect(await clock.nextSleep()).toBe(15);
      expect(JSON.parse(await auth)).toEqual({ type: "auth", tokens: ["a-token"], batch: true });
      clock.advance(14.999);
      await new Promise((resolve) => setTimeout(resolve, 20)); // a real moment: nothing gives up early
      expect(host.ended).toEqual([]);
      clock.advance(0.001);
      await host.until(() => host.ended.length === 1, "the timeout");
      expect(host.lastError()).toMatchObject({ code: "net.unavailable", message: expect.stringContaining("within 15 s") });
      expect(host.online).toBe(false);
      clock.advance(host.ended[0]!.delay);
      await host.until(() => host.connects === 2, "the next attempt");
    } finally {
      server.close();
    }
  });
});

describe("a relay that caps streams per key", () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await startRelay({ env: { HEARTH_WS_MAX_PER_KEY: "1" } });
  });
  afterAll(() => relay?.dispose());

  it("closes the stream past the cap with stream.too_many, and the stream backs off", async () => {
    const key = new SigningKey(randomBytes(32));
    const token = await new Sessions(new Transport(relay.url)).token(key);
    const first = new Host({ ["A".repeat(32)]: token });
    follow(relay.url, first);
    await first.until(() => first.online, "the first stream");
    const second = new Host({ ["A".repeat(32)]: token });
    const { clock } = follow(relay.url, second);
    await second.until(() => second.ended.length === 1, "the refusal");
    expect(second.lastError()).toMatchObject({ code: "stream.too_many", detail: { close: 4430 }, retryable: false });
    expect(second.refused).toBe(0);
    expect(clock.sleeping()).toEqual([0.125]);
    expect(first.online).toBe(true);
  });
});
