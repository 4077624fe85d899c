/**
 * The client (src/client.ts, room.ts, driver.ts, inbox.ts, outbox.ts) against a real
 * relay, as docs/sdk.md's quick start uses the Python SDK: two people create a group,
 * invite, join, accept the rules, talk both ways, read events and history, and
 * compare safety numbers; a reopened client restores every room from its store.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { cryptoReady } from "../src/crypto.js";
import { Identity } from "../src/identity.js";
import type { MessageReceived } from "../src/events.js";
import { HearthClient } from "../src/client.js";
import { ClientClosed, RulesNotAccepted } from "../src/sdkErrors.js";
import { type RelayProcess, startRelay } from "./relay.js";
import { Person, received, tempDir } from "./clientHelpers.js";

let relay: RelayProcess;
let dir: ReturnType<typeof tempDir>;
const people: Person[] = [];
let made = 0;

beforeAll(async () => {
  await cryptoReady();
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.dispose();
});

function person(name: string): Person {
  dir ??= tempDir();
  const p = new Person(dir.path, `${name}-${made++}`);
  people.push(p);
  return p;
}

afterEach(async () => {
  for (const p of people.splice(0)) await p.close();
});

describe("the quick start", () => {
  it("creates a group, invites, joins, accepts the rules and talks both ways", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url);
    const b = await bob.open(relay.url);

    const room = await a.createGroup("Anxiety circle", { topic: "Tuesdays", rules: "Be kind." });
    expect(room.name).toBe("Anxiety circle");
    expect(room.role).toBe("owner");
    const link = await room.createInvite({ maxUses: 5, expiresIn: 3600 });
    expect(link).toMatch(new RegExp(`^${relay.url}/join/${room.id}#`));

    const bobsRoom = await b.join(link);
    expect(bobsRoom.id).toBe(room.id);
    // The rules and profile arrive re-sent under the new epoch; then posting waits for them.
    await bob.until(() => bobsRoom.rules === "Be kind.", 20, "the re-sent rules");
    await expect(bobsRoom.send("too early")).rejects.toBeInstanceOf(RulesNotAccepted);
    expect(bobsRoom.name).toBe("Anxiety circle");
    expect(bobsRoom.topic).toBe("Tuesdays");
    await bobsRoom.acceptRules();

    await room.send("Welcome, Bob!");
    const got = (await bob.waitFor(received(room.id, "Welcome, Bob!"))) as MessageReceived;
    expect(got.message.sender).toBe(room.me);
    expect(got.message.mine).toBe(false);

    const cw = await bobsRoom.send("Thanks. Rough week.", { contentWarning: "exam stress" });
    await b.sync();
    await alice.until(async () => (await room.messages({ limit: 50 })).some((m) => m.id === cw), 20, "Bob's message");
    const messages = await room.messages({ limit: 50 });
    expect(messages.map((m) => m.text)).toEqual(["Welcome, Bob!", ""]);
    const warned = messages[1]!;
    expect(warned.collapsed).toBe(true);
    expect(warned.contentWarning).toBe("exam stress");
    const revealed = await room.reveal(warned.id);
    expect(revealed.text).toBe("Thanks. Rough week.");
    expect(revealed.collapsed).toBe(false);

    expect(new Map(room.members)).toEqual(new Map([[room.me, "owner"], [bobsRoom.me, "member"]]));
    expect(room.safetyNumber(bobsRoom.me)).toBe(bobsRoom.safetyNumber(room.me));
    expect(room.safetyNumber(bobsRoom.me)).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(String(room.fingerprint())).toBe(String(bobsRoom.fingerprint()));
    expect(a.rooms.map((r) => r.id)).toEqual([room.id]);
    expect(a.room(room.id)).toBe(room);
  });
});

describe("the client's lifecycle", () => {
  it("refuses use before open (client.not_open) and after close (client.closed); events end with it", async () => {
    const alice = person("alice");
    const fresh = new HearthClient({ relay: relay.url, identity: alice.identity });
    await expect(fresh.createGroup("too soon")).rejects.toMatchObject({ code: "client.not_open" });
    await fresh.close();
    await expect(fresh.open()).rejects.toMatchObject({ code: "client.closed" });

    const a = await alice.open(relay.url, { live: false });
    const room = await a.createGroup("Circle");
    const aborted = new AbortController();
    const early = a.events({ signal: aborted.signal }).next(); // waits: nothing is queued for it
    aborted.abort();
    expect((await early).done).toBe(true);
    await alice.close();
    expect(a.closed).toBe(true);
    await expect(a.sync()).rejects.toBeInstanceOf(ClientClosed);
    expect(() => room.name).toThrow(ClientClosed);
    const after = a.events();
    expect((await after.next()).done).toBe(true); // the iterator ends once the client closed
    expect(() => new HearthClient({ relay: "not a url", identity: alice.identity })).toThrow(TypeError);
  });
});

describe("a client reopened on its store", () => {
  it("restores every room, its messages and its state, and goes on talking", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url);
    const b = await bob.open(relay.url);
    const room = await a.createGroup("Night owls", { topic: "late", rules: "Be kind." });
    const buddy = await a.createBuddyChat("Ana & Ben");
    const bobsRoom = await b.join(await room.createInvite());
    await bob.until(() => bobsRoom.rules !== null, 20, "the re-sent rules");
    await bobsRoom.acceptRules();
    await bobsRoom.setName("Ben");
    const first = await bobsRoom.send("before the restart");
    await alice.waitFor(received(room.id, "before the restart"));
    const epoch = room.epoch;
    const members = new Map(room.members);

    await alice.close();
    const again = await alice.open(relay.url);
    expect(again.rooms.map((r) => r.id).sort()).toEqual([room.id, buddy.id].sort());
    const restored = again.room(room.id);
    expect(restored).not.toBe(room); // another client, another view ...
    expect(restored.name).toBe("Night owls"); // ... of the same room
    expect(restored.topic).toBe("late");
    expect(restored.rules).toBe("Be kind.");
    expect(restored.epoch).toBe(epoch);
    expect(new Map(restored.members)).toEqual(members);
    expect(restored.member(bobsRoom.me).name).toBe("Ben");
    expect(restored.rulesAcceptances.get(bobsRoom.me)).toBe(1);
    expect(again.room(buddy.id).kind).toBe("buddy");
    const stored = await restored.messages();
    expect(stored.map((m) => [m.id, m.text, m.senderName])).toEqual([[first, "before the restart", "Ben"]]);

    await bobsRoom.send("after the restart");
    await alice.waitFor(received(room.id, "after the restart"));
    await restored.send("still here");
    await bob.waitFor(received(room.id, "still here"));
    expect((await restored.messages()).map((m) => m.text)).toEqual(["before the restart", "after the restart", "still here"]);
  });

  it("refuses a store of another identity (store.wrong_identity)", async () => {
    const alice = person("alice");
    await alice.open(relay.url);
    await alice.close();
    const mallory = new Person(dir.path, alice.storePath.split("/").pop()!.replace(".store", ""));
    await expect(mallory.open(relay.url)).rejects.toMatchObject({ code: "store.wrong_identity" });
  });
});

describe("a restored identity", () => {
  it("takes up its rooms from the personal store's list on a new device's first sync", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url);
    const b = await bob.open(relay.url);
    const room = await a.createGroup("Circle");
    const bobsRoom = await b.join(await room.createInvite());
    await room.send("said before the phone was lost");
    await bob.waitFor(received(room.id, "said before the phone was lost"));
    await b.sync(); // publishes the rooms list with the head this device verified
    const bobsKey = bobsRoom.me;
    await bob.close();

    // The phone is lost; the recovery phrase restores the identity into a new store.
    const restored = new Person(dir.path, `bob-restored-${made++}`, Identity.fromRecoveryPhrase(bob.identity.recoveryPhrase));
    people.push(restored);
    const again = await restored.open(relay.url, { live: false });
    expect(again.rooms).toEqual([]);
    await again.sync();
    expect(again.rooms.map((r) => r.id)).toEqual([room.id]);
    const taken = again.room(room.id);
    expect(taken.me).toBe(bobsKey);
    expect(taken.blocked).toBe(false);
    expect((await taken.messages()).map((m) => m.text)).toContain("said before the phone was lost");
    await taken.send("back on a new phone");
    await alice.waitFor(received(room.id, "back on a new phone"));
  });

  it("rebuilds a room from the log when it joins again with a used-up link", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url, { live: false });
    const b = await bob.open(relay.url, { live: false });
    const room = await a.createGroup("Circle");
    const link = await room.createInvite({ maxUses: 1 });
    const bobsKey = (await b.join(link)).me;
    await a.sync();
    const epoch = room.epoch;
    await bob.close();
    const restored = new Person(dir.path, `bob-restored-${made++}`, Identity.fromRecoveryPhrase(bob.identity.recoveryPhrase));
    people.push(restored);
    const again = await restored.open(relay.url, { live: false });
    const rejoined = await again.join(link); // no live invite: the relay answers room.not_found
    expect(rejoined.id).toBe(room.id);
    expect(rejoined.me).toBe(bobsKey);
    expect(rejoined.role).toBe("member");
    await rejoined.send("still me");
    await a.sync();
    expect(room.members.size).toBe(2);
    expect(room.epoch).toBe(epoch); // no second join was signed
    expect((await room.messages()).map((m) => m.text)).toContain("still me");
  });
});

describe("removal", () => {
  it("keeps a removed member out of everything said afterwards, and says so", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const carol = person("carol");
    const a = await alice.open(relay.url);
    const b = await bob.open(relay.url);
    const c = await carol.open(relay.url);
    const room = await a.createGroup("Circle");
    const link = await room.createInvite({ maxUses: 5 });
    const bobsRoom = await b.join(link);
    const carolsRoom = await c.join(link);
    await room.send("before");
    await bob.waitFor(received(room.id, "before"));
    const epoch = room.epoch;

    await room.remove(carolsRoom.me);
    expect(room.epoch).toBe(epoch + 1);
    expect(room.members.has(carolsRoom.me)).toBe(false);
    await bob.waitFor((e) => e.type === "MemberRemoved" && e.member === carolsRoom.me && e.by === room.me);
    await room.send("after");
    await bob.waitFor(received(room.id, "after"));

    // The relay stops serving Carol the room. Whether her SDK read the removal first
    // ("removed") or only the refusal ("unreachable": the relay may withhold a removal,
    // never forge one), she is out, as with the Python SDK.
    await c.sync();
    await carol.until(() => carolsRoom.status !== "active", 20, "carol out of the room");
    expect(["removed", "unreachable"]).toContain(carolsRoom.status);
    expect(c.rooms).toEqual([]);
    expect(carolsRoom.epoch).toBe(epoch); // she holds no secret of the epoch "after" used
    const seen = (await carolsRoom.messages()).map((m) => m.text);
    expect(seen).toContain("before");
    expect(seen).not.toContain("after");
    expect(carol.events.some((e) => e.type === "MessageReceived" && e.message.text === "after")).toBe(false);
    await expect(carolsRoom.send("let me back")).rejects.toMatchObject({ code: `room.${carolsRoom.status}` });
    expect(bobsRoom.status).toBe("active");
  });
});

describe("blocking", () => {
  it("refuses an invite a blocked key made, and a buddy chat a blocked key is in", async () => {
    const alice = person("alice");
    const bob = person("bob");
    const a = await alice.open(relay.url, { live: false });
    const b = await bob.open(relay.url, { live: false });
    const room = await a.createGroup("Circle");
    const link = await room.createInvite();
    await b.block(room.me);
    expect(b.blocked.has(room.me)).toBe(true);
    await expect(b.join(link)).rejects.toMatchObject({ code: "invite.blocked" });
    expect(b.rooms).toEqual([]);

    // Keys are per room: Alice's key in a buddy chat is another one, blocked on its own.
    const chat = await a.createBuddyChat();
    const chatLink = await chat.createInvite();
    await b.block(chat.me);
    await expect(b.join(chatLink)).rejects.toMatchObject({ code: "invite.blocked" });
    await b.unblock(chat.me);

    await b.unblock(room.me);
    expect(b.blocked.size).toBe(0);
    expect((await b.join(link)).id).toBe(room.id);
  });

  it("refuses to block nonsense or this identity's own key", async () => {
    const alice = person("alice");
    const a = await alice.open(relay.url, { live: false });
    const room = await a.createGroup("Circle");
    await expect(a.block("not a key")).rejects.toMatchObject({ code: "block.bad_member" });
    await expect(a.block(room.me)).rejects.toMatchObject({ code: "block.self" });
  });
});
