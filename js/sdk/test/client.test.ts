/**
 * The client (src/client.ts, room.ts, driver.ts, inbox.ts, outbox.ts) against a real
 * relay, as docs/sdk.md's quick start uses the Python SDK: two people create a group,
 * invite, join, accept the rules, talk both ways, read events and history, and
 * compare safety numbers; a reopened client restores every room from its store.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { cryptoReady } from "../src/crypto.js";
import type { MessageReceived } from "../src/events.js";
import { RulesNotAccepted } from "../src/sdkErrors.js";
import { type RelayProcess, startRelay } from "./relay.js";
import { Person, received, tempDir } from "./clientHelpers.js";

let relay: RelayProcess;
let dir: ReturnType<typeof tempDir>;
const people: Person[] = [];

beforeAll(async () => {
  await cryptoReady();
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.dispose();
});

function person(name: string): Person {
  dir ??= tempDir();
  const p = new Person(dir.path, `${name}-${people.length}`);
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
