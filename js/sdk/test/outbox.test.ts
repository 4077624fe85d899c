/**
 * The outbox (src/outbox.ts) against a real relay: a message is sealed and stored
 * before anything goes on the network, waits while the relay is down, survives a
 * client restart in the store, and goes out exactly once, as the identical envelope,
 * when the relay is back (as tests/client_sdk/test_client.py's outbox tests hold the
 * Python SDK to). `OutboxChanged` says what happened on the way.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { fromUtf8 } from "../src/bytes.js";
import { cryptoReady } from "../src/crypto.js";
import type { OutboxChanged } from "../src/events.js";
import { FileBackend } from "../src/node/fileBackend.js";
import { Store } from "../src/store.js";
import { decodeJson } from "../src/wire/codec.js";
import type { Envelope } from "../src/wire/schema.gen.js";
import { Person, received, tempDir } from "./clientHelpers.js";
import { type RelayProcess, startRelay } from "./relay.js";

let relay: RelayProcess;
const dir = tempDir();
const people: Person[] = [];
let made = 0;

beforeAll(async () => {
  await cryptoReady();
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.dispose();
  dir.cleanup();
});
afterEach(async () => {
  for (const p of people.splice(0)) await p.close();
  if (!relay.running) await relay.start();
});

function person(name: string): Person {
  const p = new Person(dir.path, `${name}-${made++}`);
  people.push(p);
  return p;
}

/** The outbox of a person's store, read with their key while no client holds it. */
async function storedOutbox(p: Person) {
  const store = await Store.open(await FileBackend.open(p.storePath), p.identity.storeKey());
  try {
    return await store.outbox();
  } finally {
    await store.close();
  }
}

describe("the outbox", () => {
  it("keeps a message sent while the relay is down through a client restart and sends it exactly once", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url);
    const b = await bob.open(relay.url);
    const room = await a.createGroup("Outbox");
    const bobsRoom = await b.join(await room.createInvite());
    await room.send("before");
    await bob.waitFor(received(room.id, "before"));

    await relay.stop();
    await alice.until(() => !a.online, 20, "alice offline");
    const queued = await room.send("while the relay was down");
    const queuedReply = await room.send("and a reply", { replyTo: queued, contentWarning: "cw" });
    expect(await room.pending()).toBe(2);
    const offline = (await alice.waitFor((e) => e.type === "OutboxChanged" && e.roomId === room.id)) as OutboxChanged;
    expect(offline.state).toBe("offline");
    expect(offline.pending).toBeGreaterThanOrEqual(1);

    // The app ends while the relay is down: the sealed envelopes are in the store.
    await alice.close();
    const waiting = await storedOutbox(alice);
    expect(waiting.map((e) => e.id)).toEqual([queued, queuedReply]);
    const sealed = waiting.map((e) => decodeJson<Envelope>("Envelope", fromUtf8(e.envelope)));
    expect(sealed.map((e) => e.header.id)).toEqual([queued, queuedReply]);

    await relay.start();
    const again = await alice.open(relay.url);
    const reopened = again.room(room.id);
    await alice.until(async () => (await reopened.pending()) === 0, 20, "the outbox emptied");
    const first = await bob.waitFor(received(room.id, "while the relay was down"));
    expect(first.type === "MessageReceived" && first.message.id).toBe(queued);
    const reply = await bob.waitFor((e) => e.type === "MessageReceived" && e.message.id === queuedReply);
    expect(reply.type === "MessageReceived" && [reply.message.replyTo, reply.message.contentWarning]).toEqual([queued, "cw"]);

    // Exactly once, on both sides, after another full pass and another restart.
    await b.sync();
    await again.sync();
    await alice.close();
    const third = await alice.open(relay.url);
    await third.sync();
    for (const messages of [await bobsRoom.messages(), await third.room(room.id).messages()]) {
      expect(messages.map((m) => m.id)).toEqual([messages[0]!.id, queued, queuedReply]);
    }
    expect(bob.events.filter((e) => e.type === "MessageReceived" && e.message.id === queued)).toHaveLength(1);
    expect(await third.flush()).toBe(0);
    expect(third.room(room.id).alarms).toEqual([]);
    expect(bobsRoom.alarms).toEqual([]);
  });

  it("says when everything went out (OutboxChanged sent) after the relay came back", async () => {
    const alice = person("alice");
    const a = await alice.open(relay.url);
    const room = await a.createGroup("Outbox");
    await relay.stop();
    await alice.until(() => !a.online, 20, "alice offline");
    await room.send("queued");
    await relay.start();
    const sent = (await alice.waitFor((e) => e.type === "OutboxChanged" && e.state === "sent")) as OutboxChanged;
    expect(sent).toMatchObject({ roomId: room.id, pending: 0 });
    expect((await room.messages()).map((m) => m.text)).toEqual(["queued"]);
  });

  it("re-seals a message whose epoch moved on while it waited, same id, under the new epoch", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url, { live: false });
    const b = await bob.open(relay.url, { live: false });
    const room = await a.createGroup("Outbox");
    const bobsRoom = await b.join(await room.createInvite());
    await a.sync();
    await relay.stop();
    const id = await bobsRoom.send("sealed under the old epoch");
    expect(await bobsRoom.pending()).toBe(1);
    await relay.start();
    await room.rotate(); // the relay now refuses the old epoch: msg.stale_epoch
    expect(await b.flush()).toBe(0);
    await a.sync();
    const got = (await room.messages()).find((m) => m.id === id);
    expect(got?.text).toBe("sealed under the old epoch");
    expect(bobsRoom.epoch).toBe(room.epoch);
  });

  for (const queuedOffline of [false, true]) {
    it(`drains a rate-limited outbox by itself, after the relay's retry_after (${queuedOffline ? "queued offline" : "online"})`, async () => {
      // Two messages a second after a burst of three: most of the ten are refused with
      // rate.limited and a retry_after at first (tests/client_sdk/test_liveness.py).
      const busy = await startRelay({ env: { HEARTH_RATE_SEND: "2/3" } });
      try {
        const alice = person("alice");
        const a = await alice.open(busy.url);
        const room = await a.createGroup("Busy evening");
        await alice.until(() => a.online, 20, "alice online");
        if (queuedOffline) {
          await busy.stop();
          await alice.until(() => !a.online, 20, "alice offline");
        }
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push(await room.send(`message ${i}`));
        if (queuedOffline) {
          expect(await room.pending()).toBe(10);
          await busy.start();
        }
        // The app never calls flush(): the SDK tries again by itself.
        const waiting = (await alice.waitFor((e) => e.type === "OutboxChanged" && e.state === "retrying", 30)) as OutboxChanged;
        expect(waiting.roomId).toBe(room.id);
        expect(waiting.pending).toBeGreaterThan(0);
        expect(waiting.retryIn).not.toBeNull();
        expect(waiting.retryIn!).toBeGreaterThanOrEqual(1); // the relay's retry_after (whole seconds)
        await alice.waitFor((e) => e.type === "OutboxChanged" && e.state === "sent", 60);
        expect(await room.pending()).toBe(0);
        const stored = (await room.messages({ limit: 50 })).filter((m) => m.text.startsWith("message"));
        expect(stored.map((m) => m.id)).toEqual(ids); // in order, each exactly once
        await alice.close();
      } finally {
        await busy.dispose();
      }
    });
  }
});
