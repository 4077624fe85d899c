/**
 * Community programs against a real relay (mirrors tests/client_sdk/test_formats_programs.py):
 * a member's request is sealed to the supporters alone; every member computes the
 * same queue from room order; a supporter's claim (the first in room order wins) opens
 * a buddy chat the requester's SDK joins by itself; supporters say whether they are
 * available and cap their open chats; newcomers and later supporters are caught up.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

import { cryptoReady } from "../src/crypto.js";
import type { Event, SupportClaimed } from "../src/events.js";
import { Identity } from "../src/identity.js";
import type { MessageId } from "../src/ids.js";
import type { Room } from "../src/room.js";
import { InviteError, SupportError } from "../src/sdkErrors.js";
import { tempDir } from "./clientHelpers.js";
import { Member, type Program, programOf, synced, until } from "./programHelpers.js";
import { type RelayProcess, startRelay } from "./relay.js";

const ASK_1 = "my sister died last month and I cannot stop replaying the hospital call";
const ASK_2 = "thinking about drinking again after 200 days sober";
const ASK_3 = "panic attacks before every shift at the warehouse";

let relay: RelayProcess;
let dir: ReturnType<typeof tempDir>;
const open: Member[] = [];
let runs = 0;

beforeAll(async () => {
  await cryptoReady();
  relay = await startRelay();
  dir = tempDir();
});
afterAll(async () => {
  await relay?.dispose();
  dir?.cleanup();
});
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

async function program(offline: readonly string[] = []): Promise<Program> {
  const p = await programOf(relay.url, dir.path, { offline, tag: `run${runs++}` });
  open.push(...p.people);
  return p;
}

async function member(name: string, identity?: Identity): Promise<Member> {
  const m = new Member(dir.path, `${name}-${runs++}`, identity);
  open.push(m);
  return m;
}

async function code(promise: Promise<unknown>): Promise<string> {
  const failure = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(failure instanceof SupportError)) throw new Error(`expected a SupportError, got ${String(failure)}`);
  return failure.code;
}

const claimedEvent = (request: MessageId) => (e: Event): e is SupportClaimed => e.type === "SupportClaimed" && e.requestId === request;

function textOf(room: Room, request: MessageId): string | null {
  try {
    return room.supportRequest(request).text;
  } catch {
    return null;
  }
}

describe("community programs", () => {
  test("a request reaches the supporters alone and a claim opens a buddy chat", async () => {
    const p = await program();
    expect(p.rooms.map((r) => r.role)).toEqual(["owner", "supporter", "supporter", "member", "member", "member"]);
    expect(p.m1.supporters.every((s) => !s.available)).toBe(true); // nobody said: away

    await p.s1.setAvailability(true, { maxOpen: 1 });
    await p.s2.setAvailability(true);
    for (const m of p.people.slice(3)) await m.waitFor((e) => e.type === "SupporterStatusChanged" && e.member === p.s2.me);
    expect(new Set(p.m3.supporters.map((s) => JSON.stringify([s.member, s.available, s.maxOpen])))).toEqual(
      new Set([JSON.stringify([p.s1.me, true, 1]), JSON.stringify([p.s2.me, true, null])]),
    );

    const r1 = await p.m1.requestSupport(ASK_1);
    expect([r1.status, r1.position, r1.text, r1.mine]).toEqual(["waiting", 1, ASK_1, true]);
    const r2 = await p.m2.requestSupport(ASK_2);
    expect([r2.status, r2.position]).toEqual(["waiting", 2]);
    await synced(p);

    // Every member computes the same queue; only supporters (and the asker) read it.
    for (const room of p.rooms) {
      expect(room.supportQueue.map((r) => r.id)).toEqual([r1.id, r2.id]);
      expect([room.queuePosition(r1.id), room.queuePosition(r2.id)]).toEqual([1, 2]);
    }
    expect(p.s1.supportQueue.map((r) => r.text)).toEqual([ASK_1, ASK_2]);
    expect(p.s2.supportQueue.map((r) => r.text)).toEqual([ASK_1, ASK_2]);
    expect(p.m3.supportQueue.map((r) => r.text)).toEqual([null, null]);
    expect(p.owner.supportQueue.map((r) => r.text)).toEqual([null, null]);
    expect(p.m2.supportQueue.map((r) => r.text)).toEqual([null, ASK_2]);
    const seen = await p.people[5]!.waitFor((e) => e.type === "SupportRequested" && e.request.id === r2.id);
    if (seen.type !== "SupportRequested") throw new Error("unreachable");
    expect([seen.request.requester, seen.request.text, seen.request.position]).toEqual([p.m2.me, null, 2]);

    // s1 claims r1: a buddy chat opens, m1's SDK joins it by itself, everyone sees it taken.
    const buddy = await p.s1.claim(r1.id);
    expect(buddy.kind).toBe("buddy");
    expect(p.s1.supportRequest(r1.id).buddyRoomId).toBe(buddy.id);
    expect(p.people[1]!.c.room(buddy.id)).toBe(buddy); // the client's one view of it
    const claimed = await p.people[3]!.waitFor(claimedEvent(r1.id));
    expect([claimed.supporter, claimed.requester, claimed.buddyRoomId]).toEqual([p.s1.me, p.m1.me, buddy.id]);
    for (const i of [2, 4, 5]) {
      const other = await p.people[i]!.waitFor(claimedEvent(r1.id));
      expect([other.supporter, other.buddyRoomId]).toEqual([p.s1.me, null]);
    }
    const mine = await p.m1.buddyChat(r1.id);
    expect(mine.id).toBe(buddy.id);
    await until(() => buddy.members.size === 2 && mine.members.size === 2, "both in the buddy chat");
    expect(new Set(buddy.members.keys())).toEqual(new Set([buddy.me, mine.me]));

    const hello = await buddy.send("I'm here. Take your time.");
    const thanks = await mine.send("thank you, I needed this");
    await p.people[3]!.waitFor((e) => e.type === "MessageReceived" && e.message.id === hello);
    await p.people[1]!.waitFor((e) => e.type === "MessageReceived" && e.message.id === thanks);
    expect((await mine.messages()).map((m) => m.text)).toEqual((await buddy.messages()).map((m) => m.text));

    // The others see it taken; m2 moves up; a second claim is refused.
    await synced(p);
    for (const room of p.rooms) {
      const view = room.supportRequest(r1.id);
      expect([view.status, view.supporter, view.position]).toEqual(["claimed", p.s1.me, null]);
      expect(room.queuePosition(r2.id)).toBe(1);
    }
    expect(await code(p.s2.claim(r1.id))).toBe("support.taken");

    // s1 is at its cap of one; s2 goes away; members cannot claim at all.
    expect(p.s1.openSupportChats).toBe(1);
    expect(await code(p.s1.claim(r2.id))).toBe("support.at_capacity");
    await p.s2.setAvailability(false);
    expect(await code(p.s2.claim(r2.id))).toBe("support.away");
    await p.people[4]!.waitFor((e) => e.type === "SupporterStatusChanged" && !e.available);
    expect(Object.fromEntries(p.m2.supporters.map((s) => [s.member, s.available]))).toEqual({ [p.s1.me]: true, [p.s2.me]: false });
    for (const room of [p.m3, p.owner]) expect(await code(room.claim(r2.id))).toBe("support.not_supporter");
    expect(await code(p.m2.withdrawRequest(r1.id))).toBe("support.not_requester");
    expect(p.m2.queuePosition(r2.id)).toBe(1);

    // m1 leaves the buddy chat: it closes, and s1 may take the next request.
    await mine.leave();
    await until(() => buddy.members.size === 1, "m1 gone from the buddy chat");
    expect(p.s1.openSupportChats).toBe(0);
    const second = await p.s1.claim(r2.id);
    expect(second.id).not.toBe(buddy.id);
    expect(p.s1.openSupportChats).toBe(1);
    expect(p.s1.supportQueue).toEqual([]);
    for (const room of p.rooms) expect(room.alarms).toEqual([]);
  });

  test("two claims race and the first in room order wins", async () => {
    // s2 follows no live stream: it claims on a view that has not seen s1's claim.
    const p = await program(["s2"]);
    await p.s1.setAvailability(true);
    await p.s2.setAvailability(true);
    const request = await p.m1.requestSupport(ASK_3);
    await synced(p, 1, 2);
    expect(p.s2.queuePosition(request.id)).toBe(1);

    const won = await p.s1.claim(request.id);
    expect(p.s2.supportRequest(request.id).status).toBe("waiting"); // s2 has not read it yet
    expect(await code(p.s2.claim(request.id))).toBe("support.taken");

    await synced(p);
    for (const room of p.rooms) {
      const view = room.supportRequest(request.id);
      expect([view.status, view.supporter]).toEqual(["claimed", p.s1.me]);
    }
    expect(p.m1.supportRequest(request.id).buddyRoomId).toBe(won.id);
    expect((await p.m1.buddyChat(request.id)).id).toBe(won.id);
    // The loser left the chat it opened and carries nothing open.
    expect(p.s2.openSupportChats).toBe(0);
    expect(p.people[2]!.c.rooms.filter((r) => r.kind === "buddy")).toEqual([]);
    expect(p.people[3]!.events.filter((e) => e.type === "SupportClaimed")).toEqual([
      { type: "SupportClaimed", roomId: p.m1.id, requestId: request.id, requester: p.m1.me, supporter: p.s1.me, buddyRoomId: won.id },
    ]);
  });

  test("a forged claim is ignored, a request can be withdrawn, and a newcomer's place is right", async () => {
    const p = await program();
    await p.s1.setAvailability(true, { maxOpen: 2 });
    const first = await p.m1.requestSupport(ASK_1);
    const second = await p.m2.requestSupport(ASK_2);

    // m3 (a member) sends a claim its own SDK would refuse: everyone ignores it; so
    // does the owner's: only supporters take requests.
    await p.people[5]!.sendRaw(p.m3.id, { type: "support.claim", request: first.id, invite: new Uint8Array(80) });
    await p.people[0]!.sendRaw(p.owner.id, { type: "support.claim", request: first.id, invite: new Uint8Array(80) });
    const marker = await p.s2.send("marker");
    for (const m of p.people) await m.waitFor((e) => e.type === "MessageReceived" && e.message.id === marker);
    for (const room of p.rooms) {
      expect(room.supportRequest(first.id).status).toBe("waiting");
      expect(room.queuePosition(first.id)).toBe(1);
      expect(room.alarms).toEqual([]);
    }
    expect(p.people.flatMap((m) => m.events).filter((e) => e.type === "SupportClaimed")).toEqual([]);
    expect(p.people[3]!.c.rooms.map((r) => r.kind)).toEqual(["program"]);

    // m1 withdraws: m2 moves up; nobody can claim a withdrawn request.
    await p.m1.withdrawRequest(first.id);
    await synced(p);
    for (const room of p.rooms) {
      expect(room.supportRequest(first.id).status).toBe("withdrawn");
      expect(room.queuePosition(first.id)).toBeNull();
      expect(room.queuePosition(second.id)).toBe(1);
    }
    expect(await code(p.s1.claim(first.id))).toBe("support.withdrawn");
    expect(await code(p.m1.withdrawRequest(first.id))).toBe("support.withdrawn");

    // A newcomer cannot read earlier messages: supporters send their status again, with
    // the queue as they see it, so the newcomer's place is right.
    const late = await member("late");
    const lateRoom = await (await late.open(relay.url)).join(await p.owner.createInvite());
    await until(() => lateRoom.supporters.some((s) => s.available), "the newcomer hears the supporters");
    expect(Object.fromEntries(lateRoom.supporters.map((s) => [s.member, s.available]))).toEqual({ [p.s1.me]: true, [p.s2.me]: false });
    await until(() => JSON.stringify(lateRoom.supportQueue.map((r) => r.id)) === JSON.stringify([second.id]), "the snapshot's queue");
    const earlier = lateRoom.supportRequest(second.id);
    expect([earlier.requester, earlier.text, earlier.sentAt]).toEqual([p.m2.me, null, null]);
    const own = await lateRoom.requestSupport(ASK_3);
    expect(own.position).toBe(2);
    await synced(p);
    expect([p.s1.queuePosition(second.id), p.s1.queuePosition(own.id)]).toEqual([1, 2]);
    expect(p.s1.supportRequest(own.id).text).toBe(ASK_3);
    await p.s1.claim(second.id);
    await late.c.sync();
    expect(lateRoom.queuePosition(own.id)).toBe(1);

    // Outside programs, and with nobody to ask, requests are refused with stable codes.
    const group = await p.people[3]!.c.createGroup("not a program");
    expect(await code(group.requestSupport("hello"))).toBe("support.not_program");
    const lonely = await p.people[3]!.c.createProgram("no supporters yet");
    expect(await code(lonely.requestSupport("hello"))).toBe("support.no_supporters");
    expect(await code(p.s1.setAvailability(true, { maxOpen: 0 }))).toBe("support.bad_cap");
    expect(await code(p.s1.claim("A".repeat(22)))).toBe("support.unknown_request");
    expect(() => p.s1.supportRequest("A".repeat(22))).toThrow(SupportError);
  });

  test("the queue and availability survive a restart, and a requester who leaves no longer waits", async () => {
    const p = await program();
    await p.s1.setAvailability(true, { maxOpen: 4 });
    const request = await p.m1.requestSupport(ASK_2);
    await synced(p, 1);
    const s1 = p.s1.me;
    for (const [index, room] of [
      [3, p.m1],
      [1, p.s1],
    ] as const) {
      const person = p.people[index]!;
      await person.close();
      const again = await person.open(relay.url);
      const reopened = again.room(room.id);
      expect(reopened.queuePosition(request.id)).toBe(1);
      expect(reopened.supportRequest(request.id).text).toBe(ASK_2);
      const info = reopened.supporters.find((s) => s.member === s1)!;
      expect([info.available, info.maxOpen]).toEqual([true, 4]);
      if (index === 1) {
        const buddy = await reopened.claim(request.id);
        expect(buddy.kind).toBe("buddy");
        expect(reopened.openSupportChats).toBe(1);
      }
    }
    const gone = await p.m2.requestSupport(ASK_3);
    await synced(p, 5);
    expect(p.m3.queuePosition(gone.id)).toBe(1);
    await p.m2.leave();
    await synced(p, 5, 0);
    for (const room of [p.m3, p.owner]) {
      expect(room.supportRequest(gone.id).status).toBe("withdrawn");
      expect(room.supportQueue).toEqual([]);
    }
  });

  test("supporters who arrive later can read the waiting requests", async () => {
    const p = await program();
    await p.s1.setAvailability(true);
    const request = await p.m1.requestSupport(ASK_1);
    const claimed = await p.m2.requestSupport(ASK_2);
    await synced(p, 1);
    await p.s1.claim(claimed.id);

    // A new supporter joins: the queue snapshot places the request, m1 seals it again.
    const s3 = await member("s3");
    const s3Room = await (await s3.open(relay.url)).join(await p.owner.createInvite({ role: "supporter" }));
    await until(() => textOf(s3Room, request.id) === ASK_1, "the resealed request");
    expect(s3Room.supportQueue.map((r) => r.id)).toEqual([request.id]);
    // A member made a supporter can read it too; m2's claimed request is not resealed.
    await p.owner.setRole(p.m3.me, "supporter");
    await until(() => textOf(p.m3, request.id) === ASK_1, "the request resealed for m3");
    expect(p.m3.supportRequest(claimed.id).text).toBeNull();
    await synced(p);
    expect(p.m2.supportRequest(request.id).text).toBeNull();
    expect(p.owner.supportRequest(request.id).text).toBeNull();
    for (const room of [...p.rooms, s3Room]) {
      expect(room.queuePosition(request.id)).toBe(1);
      expect(room.alarms).toEqual([]);
    }
    await s3Room.setAvailability(true);
    const buddy = await s3Room.claim(request.id);
    expect((await p.m1.buddyChat(request.id)).id).toBe(buddy.id);
  });

  test("a claim counts by the role its sender had in room order", async () => {
    // The owner follows no stream: it demotes s1 before it has read s1's claim.
    const p = await program(["owner"]);
    await p.s1.setAvailability(true);
    const request = await p.m1.requestSupport(ASK_1);
    await synced(p, 1);
    const buddy = await p.s1.claim(request.id);
    await p.owner.setRole(p.s1.me, "member");
    expect(p.owner.members.get(p.s1.me)).toBe("member");
    await synced(p);
    for (const room of p.rooms) {
      const view = room.supportRequest(request.id);
      expect([view.status, view.supporter]).toEqual(["claimed", p.s1.me]);
    }
    expect((await p.m1.buddyChat(request.id)).id).toBe(buddy.id);
  });

  test("a buddy chat not joined before a restart is joined on reopening", async () => {
    const p = await program(["m1"]);
    await p.s1.setAvailability(true);
    await synced(p, 3);
    const request = await p.m1.requestSupport(ASK_2);
    await synced(p, 1);
    const buddy = await p.s1.claim(request.id);

    // The app closes right after reading the claim, before the background join ran.
    const m1 = p.people[3]!;
    m1.autoJoin = false;
    await m1.c.sync();
    expect(p.m1.supportRequest(request.id).buddyRoomId).toBe(buddy.id);
    expect(m1.c.rooms.map((r) => r.id)).not.toContain(buddy.id);
    await m1.close();
    m1.autoJoin = true;

    const again = await m1.open(relay.url, { live: false });
    await until(() => again.rooms.some((r) => r.id === buddy.id), "the buddy chat joined on reopening");
    const chat = again.room(buddy.id);
    await until(async () => {
      await again.sync();
      return chat.members.size === 2;
    }, "both in the chat");
    expect(chat.members.get(buddy.me)).toBe("owner");
  });
  test("blocks apply to support requests and claims", async () => {
    const p = await program();
    const [s1Client, m2Client] = [p.people[1]!.c, p.people[4]!.c];
    await p.s1.setAvailability(true);
    await s1Client.block(p.m1.me); // the supporter blocks one member
    await m2Client.block(p.s1.me); // another member blocks the supporter

    const r1 = await p.m1.requestSupport("the blocked member asks");
    const r2 = await p.m2.requestSupport("another member asks");
    await p.people[1]!.waitFor((e) => e.type === "SupportRequested" && e.request.id === r2.id);
    await p.people[2]!.waitFor((e) => e.type === "SupportRequested" && e.request.id === r1.id);
    await synced(p);
    // s1 does not see m1's request; s2 does, and the queue is the same everywhere.
    expect(p.people[1]!.events.some((e) => e.type === "SupportRequested" && e.request.id === r1.id)).toBe(false);
    expect(p.s1.supportQueue.map((r) => r.id)).toEqual([r2.id]);
    expect(p.s1.queuePosition(r2.id)).toBe(2);
    expect(p.s2.supportQueue.map((r) => r.id)).toEqual([r1.id, r2.id]);

    // s1 claims m2's request: m2 blocked s1, so m2's SDK does not join the chat.
    const buddy = await p.s1.claim(r2.id);
    await p.people[4]!.waitFor(claimedEvent(r2.id));
    const refused = await p.m2.buddyChat(r2.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InviteError);
    expect((refused as InviteError).code).toBe("invite.blocked");
    expect(m2Client.rooms.map((r) => r.id)).not.toContain(buddy.id);
    expect(buddy.members.size).toBe(1);
  });
});
