/**
 * The room view (src/room.ts) against a real relay: edits, reactions, deletions (the
 * sender's and a moderator's), reports to moderators, mutes, bans, names, retention
 * and the histories, each seen from the other member's side as the Python SDK's
 * tests (test_formats_*.py) see them.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { cryptoReady } from "../src/crypto.js";
import type { Event, MessageEdited, ReactionChanged, ReportReceived } from "../src/events.js";
import type { HearthClient } from "../src/client.js";
import type { Room } from "../src/room.js";
import { PostingMuted } from "../src/sdkErrors.js";
import { NotFound } from "../src/notFound.js";
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
});

interface Pair {
  alice: Person;
  bob: Person;
  a: HearthClient;
  b: HearthClient;
  room: Room;
  bobsRoom: Room;
}

/** Alice's group with Bob in it, both live. */
async function pair(): Promise<Pair> {
  const alice = new Person(dir.path, `alice-${made++}`);
  const bob = new Person(dir.path, `bob-${made++}`);
  people.push(alice, bob);
  const a = await alice.open(relay.url);
  const b = await bob.open(relay.url);
  const room = await a.createGroup("Room view");
  const bobsRoom = await b.join(await room.createInvite());
  await room.send("hello");
  await bob.waitFor(received(room.id, "hello"));
  return { alice, bob, a, b, room, bobsRoom };
}

const of = <T extends Event["type"]>(type: T, check: (e: Extract<Event, { type: T }>) => boolean = () => true) =>
  (e: Event): e is Extract<Event, { type: T }> => e.type === type && check(e as Extract<Event, { type: T }>);

describe("a room's messages", () => {
  it("edits, reacts, unreacts and deletes, and the other side sees each", async () => {
    const { alice, bob, room, bobsRoom } = await pair();
    const id = await bobsRoom.send("tpyo");
    await alice.waitFor(received(room.id, "tpyo"));
    await bobsRoom.edit(id, "typo");
    const edited = (await alice.waitFor(of("MessageEdited", (e) => e.message.id === id))) as MessageEdited;
    expect([edited.message.text, edited.message.edited]).toEqual(["typo", true]);
    await room.edit(id, "not Alice's to edit"); // only the sender's edits count
    await bobsRoom.send("marker");
    await bob.waitFor(received(room.id, "marker"));
    expect((await bobsRoom.messages()).find((m) => m.id === id)?.text).toBe("typo");

    await room.react(id, "💛");
    const reacted = (await bob.waitFor(of("ReactionChanged", (e) => !e.removed))) as ReactionChanged;
    expect(reacted).toMatchObject({ member: room.me, emoji: "💛" });
    expect(reacted.message.reactions.get("💛")).toEqual([room.me]);
    await room.unreact(id, "💛");
    await bob.waitFor(of("ReactionChanged", (e) => e.removed));
    expect((await bobsRoom.messages()).find((m) => m.id === id)?.reactions.size).toBe(0);

    await bobsRoom.delete(id);
    await alice.waitFor(of("MessageDeleted", (e) => e.messageId === id && e.by === bobsRoom.me));
    expect((await room.messages()).map((m) => m.id)).not.toContain(id);
    await expect(bobsRoom.delete(id)).rejects.toBeInstanceOf(NotFound);
  });

  it("lets a moderator delete anyone's message, and records it", async () => {
    const { bob, room, bobsRoom, alice } = await pair();
    const id = await bobsRoom.send("over the line");
    await alice.waitFor(received(room.id, "over the line"));
    await room.delete(id);
    const deleted = await bob.waitFor(of("MessageDeleted", (e) => e.messageId === id));
    expect(deleted).toMatchObject({ by: room.me, byRole: "owner" });
    expect((await bobsRoom.messages()).map((m) => m.id)).not.toContain(id);
    expect(room.moderationHistory().map((e) => [e.action, e.member])).toEqual([["delete", bobsRoom.me]]);
  });

  it("reports a message to the moderators with its signed evidence", async () => {
    const { alice, room, bobsRoom } = await pair();
    const hello = (await bobsRoom.messages()).find((m) => m.text === "hello")!;
    const reportId = await bobsRoom.report(hello.id, "not kind");
    const report = (await alice.waitFor(of("ReportReceived"))) as ReportReceived;
    expect(report).toMatchObject({ reportId, reporter: bobsRoom.me, messageId: hello.id, sender: room.me, reason: "not kind", text: "hello" });
    expect(report.evidence.header.id).toBe(hello.id);
    await expect(room.report(hello.id)).rejects.toMatchObject({ code: "report.no_recipients" });
  });

  it("carries replies and content warnings, collapsed for the reader until revealed", async () => {
    const { bob, room, bobsRoom } = await pair();
    const hello = (await bobsRoom.messages())[0]!;
    const id = await room.send("My dad died on Sunday.", { contentWarning: "death", replyTo: hello.id });
    const got = await bob.waitFor(of("MessageReceived", (e) => e.message.id === id));
    expect(got.type === "MessageReceived" && got.message).toMatchObject({ text: "", collapsed: true, contentWarning: "death", replyTo: hello.id });
    expect((await room.messages()).at(-1)).toMatchObject({ text: "My dad died on Sunday.", collapsed: false, mine: true });
    expect(await bobsRoom.reveal(id)).toMatchObject({ text: "My dad died on Sunday.", collapsed: false });
    expect((await bobsRoom.messages()).at(-1)?.text).toBe("My dad died on Sunday.");
    expect((await bobsRoom.collapse(id)).text).toBe("");
  });
});

describe("a room's members", () => {
  it("names members, mutes and bans, and keeps the histories", async () => {
    const { alice, bob, room, bobsRoom, b } = await pair();
    await bobsRoom.setName("  Ben ");
    await alice.waitFor(of("MemberRenamed", (e) => e.member === bobsRoom.me));
    expect(room.member(bobsRoom.me)).toMatchObject({ name: "Ben", label: "Ben", role: "member", isMe: false });
    expect(bobsRoom.myName).toBe("Ben");
    expect(() => bobsRoom.setName("   ")).toThrow(RangeError);

    await room.mute(bobsRoom.me, "cooling off");
    await bob.waitFor(of("MemberModerated", (e) => e.action === "mute"));
    expect(bobsRoom.muted.has(bobsRoom.me)).toBe(true);
    await expect(bobsRoom.send("let me talk")).rejects.toBeInstanceOf(PostingMuted);
    await room.unmute(bobsRoom.me);
    await bob.waitFor(of("MemberModerated", (e) => e.action === "unmute"));
    await bobsRoom.send("thanks");
    await alice.waitFor(received(room.id, "thanks"));

    await room.ban(bobsRoom.me, "harassment");
    expect(room.banned.has(bobsRoom.me)).toBe(true);
    expect(room.members.has(bobsRoom.me)).toBe(false);
    expect(room.moderationHistory().map((e) => [e.action, e.reason])).toEqual([
      ["mute", "cooling off"],
      ["unmute", ""],
      ["ban", "harassment"],
    ]);
    expect(room.membershipHistory().map((e) => [e.action, e.member])).toEqual([
      ["join", room.me],
      ["join", bobsRoom.me],
    ]);
    const link = await room.createInvite();
    await b.sync(); // the relay no longer serves Bob the room
    await bob.until(() => bobsRoom.status !== "active", 20, "bob out of the room");
    await expect(b.join(link)).rejects.toMatchObject({ code: "invite.banned" });
  });

  it("passes the relay's refusal of push through (push.disabled on a relay with no push service)", async () => {
    const { room, a } = await pair();
    await expect(room.registerPush("https://push.example/up1")).rejects.toMatchObject({ code: "push.disabled" });
    await expect(a.registerPush((r) => `https://push.example/${r.id.slice(0, 8)}`)).rejects.toMatchObject({ code: "push.disabled" });
  });

  it("changes roles and retention through the signed log", async () => {
    const { bob, room, bobsRoom } = await pair();
    await room.setRole(bobsRoom.me, "moderator");
    await bob.waitFor(of("RoleChanged", (e) => e.role === "moderator"));
    expect(bobsRoom.role).toBe("moderator");
    await room.setRetention(7);
    await bob.waitFor(of("RetentionChanged", (e) => e.retentionDays === 7));
    expect(bobsRoom.retentionDays).toBe(7);
    await expect(bobsRoom.setRetention(1)).rejects.toMatchObject({ code: "log.unauthorized" });
    const epoch = room.epoch;
    await bobsRoom.rotate();
    expect(bobsRoom.epoch).toBe(epoch + 1);
  });
});
