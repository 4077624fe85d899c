/**
 * The pure room state against an honest and a hostile relay (ported from
 * `tests/client_sdk/test_roomstate.py`, test for test): admission, counters and
 * withholding, forks, replays, stale epochs, removal enforcement, backfill, pins and
 * snapshots, with the same alarm kinds and error codes as the Python SDK.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { canonical, decodeMsgpack } from "../../src/wire/codec.js";
import { cryptoReady } from "../../src/crypto.js";
import { openMessage, sealMessage } from "../../src/envelope.js";
import { EnvelopeError, HearthError, LogError } from "../../src/errors.js";
import type { MemberJoined, MemberRemoved, ProfileChanged } from "../../src/events.js";
import { opHash } from "../../src/roomlog.js";
import { InviteError, RoomBlocked, RoomInactive } from "../../src/sdkErrors.js";
import { InviteKey, signDelete, signErase } from "../../src/signing.js";
import { createOp } from "../../src/core/builders.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/core/persistence.js";
import { RoomState } from "../../src/core/state.js";
import { type Opened, openAhead, type StepItem } from "../../src/core/step.js";
import type {
  Envelope,
  EraseRequest,
  ErasedEvent,
  MessageEvent,
  Plaintext,
  SignedOp,
  TombstoneEvent,
  VerifiedHead,
} from "../../src/wire/schema.gen.js";
import { alarms, DEVICE_A, DEVICE_B, GENESIS_NONCE, kindsAndCodes, Person, Seq, T0, texts } from "./harness.js";

beforeAll(() => cryptoReady());

const DAY = 24 * 3600 * 1000;

/** Alice created a group; Bob and Carol joined by invite. Everyone caught up. */
function room(): [Seq, Person, Person, Person] {
  const genesis = Person.rootOf("alice").genesis(GENESIS_NONCE);
  const seq = new Seq();
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => new Person(n, genesis.room)) as [Person, Person, Person];
  alice.commit(seq, createOp(genesis, alice.state.keys, { kind: "group" }, { now: T0 }));
  for (const joiner of [bob, carol]) {
    const invite = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(invite, { role: "member", maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
    joiner.state.loadLog(seq.log.ops);
    joiner.state.position = seq.nextSeq - 1;
    joiner.state.seqIndex = seq.log.index;
    joiner.commit(seq, joiner.state.joinOp(invite, { now: T0 }));
    joiner.state.position = seq.nextSeq - 1;
    joiner.state.seqIndex = seq.log.index;
    alice.catchUp(seq);
  }
  for (const p of [alice, bob, carol]) p.catchUp(seq);
  return [seq, alice, bob, carol];
}

function thrown(fn: () => unknown): HearthError {
  try {
    fn();
  } catch (exc) {
    if (exc instanceof HearthError) return exc;
    throw exc;
  }
  throw new Error("nothing was thrown");
}

function flipped(event: MessageEvent): MessageEvent {
  const env = event.envelope;
  const ciphertext = Uint8Array.from(env.ciphertext);
  ciphertext[0]! ^= 1;
  return { ...event, envelope: { header: env.header, ciphertext, sig: env.sig } };
}

/** The relay deletes `gone` on `by`'s signed request: placeholder, then tombstone. */
function del(seq: Seq, by: Person, gone: MessageEvent, sender: Person): TombstoneEvent {
  const h = gone.envelope.header;
  const plaintext = openMessage(gone.envelope, { epochSecret: sender.state.secrets.get(h.epoch)! });
  const request = signDelete(by.state.keys, { target: h.id, sender: h.sender, device: plaintext.device, counter: plaintext.counter, at: T0 });
  const tomb: TombstoneEvent = { type: "tombstone", seq: seq.nextSeq, ts: T0, target: h.id, request };
  seq.events.push(tomb);
  seq.put({ type: "removed", seq: gone.seq, ts: T0, id: h.id, sender: h.sender, by: tomb.seq });
  return tomb;
}

describe("an honest room", () => {
  it("three members agree on log, epoch and messages", () => {
    const [seq, alice, bob, carol] = room();
    expect(new Set(alice.state.log.members.keys())).toEqual(new Set([alice.id, bob.id, carol.id]));
    expect([alice.state.log.epoch, bob.state.log.epoch, carol.state.log.epoch]).toEqual([3, 3, 3]);
    expect(alice.state.log.head).toEqual(carol.state.log.head);
    const secret = alice.state.secrets.get(3);
    expect(bob.state.secrets.get(3)).toEqual(secret);
    expect(carol.state.secrets.get(3)).toEqual(secret);
    // Bob joined at epoch 2: epoch 1 is not his to read.
    expect(bob.state.secrets.has(1)).toBe(false);

    const hello = alice.say(seq, "hello", { content_warning: "cw" });
    bob.say(seq, "hi alice", { reply_to: hello.envelope.header.id });
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["hello", "hi alice"]);
    expect(alarms(got)).toEqual([]);
    expect(carol.state.checkWithheld().items).toEqual([]);
  });

  it("membership events come from the log", () => {
    const [seq, alice, bob, carol] = room();
    const dave = new Person("dave", alice.state.room);
    const invite = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(invite, { role: "supporter", maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
    dave.state.loadLog(seq.log.ops);
    dave.commit(seq, dave.state.joinOp(invite, { now: T0 }));
    alice.catchUp(seq);
    alice.commit(seq, alice.state.roleOp(dave.id, "moderator", { now: T0 }));
    alice.commit(seq, alice.state.removeOp(bob.id, { now: T0 }));
    const got = carol.catchUp(seq);
    expect(got.map((i) => i.type)).toEqual(["MemberJoined", "RoleChanged", "MemberRemoved"]);
    const joined = got[0] as MemberJoined;
    expect([joined.member, joined.role]).toEqual([dave.id, "supporter"]);
    expect(carol.state.log.roleOf(dave.id)).toBe("moderator");
  });

  it("a removed member cannot read what follows", () => {
    const [seq, alice, bob, carol] = room();
    alice.commit(seq, alice.state.removeOp(bob.id, { now: T0 }));
    alice.say(seq, "after bob left");
    const got = bob.catchUp(seq);
    const removed = got.filter((i): i is MemberRemoved => i.type === "MemberRemoved");
    expect(removed.length).toBeGreaterThan(0);
    expect(removed[0]!.member).toBe(bob.id);
    expect(bob.state.status).toBe("removed");
    expect(texts(got)).toEqual([]);
    expect(bob.state.secrets.has(alice.state.log.epoch)).toBe(false);
    const exc = thrown(() => bob.state.requireSendable());
    expect(exc).toBeInstanceOf(RoomInactive);
    expect(exc.code).toBe("room.removed");
    expect(texts(carol.catchUp(seq))).toEqual(["after bob left"]);
  });

  it("a leave requires a rotation before sending", () => {
    const [seq, alice, bob, carol] = room();
    bob.commit(seq, bob.state.leaveOp({ now: T0 }));
    const got = alice.catchUp(seq);
    expect(got.map((i) => i.type)).toEqual(["MemberLeft"]);
    expect(alice.state.rotationDue({ now: T0, maxAgeMs: 10 ** 12, maxMessages: 10 ** 6 })).toBe(true);
    const exc = thrown(() => alice.say(seq, "too early"));
    expect(exc).toBeInstanceOf(LogError);
    expect(exc.code).toBe("log.needs_rotation");
    alice.commit(seq, alice.state.rotateOp({ now: T0 }));
    const body = seq.log.ops.at(-1)!.content.body;
    expect(body.type).toBe("room.rotate");
    if (body.type !== "room.rotate") return;
    expect(new Set(body.commit.shares.map((s) => s.member))).toEqual(new Set([alice.id, carol.id]));
    alice.say(seq, "rotated");
    expect(texts(carol.catchUp(seq))).toEqual(["rotated"]);
  });

  it("rotates on a schedule, by age and by count", () => {
    const [seq, alice] = room();
    expect(alice.state.rotationDue({ now: T0 + 10, maxAgeMs: 1000, maxMessages: 3 })).toBe(false);
    expect(alice.state.rotationDue({ now: T0 + 1000, maxAgeMs: 1000, maxMessages: 3 })).toBe(true);
    for (let i = 0; i < 3; i++) alice.say(seq, `m${i}`);
    alice.catchUp(seq);
    expect(alice.state.epochMessages).toBe(3);
    expect(alice.state.rotationDue({ now: T0, maxAgeMs: 10 ** 9, maxMessages: 3 })).toBe(true);
    alice.commit(seq, alice.state.rotateOp({ now: T0 + 5 }));
    expect(alice.state.epochMessages).toBe(0);
    expect(alice.state.rotationDue({ now: T0 + 10, maxAgeMs: 1000, maxMessages: 3 })).toBe(false);
  });

  it("takes profile and rules only from moderators", () => {
    const [seq, alice, bob, carol] = room();
    alice.send(seq, { type: "room.profile", name: "Circle", topic: "t", description: "" });
    alice.send(seq, { type: "rules", version: 1, text: "be kind" });
    bob.send(seq, { type: "room.profile", name: "Hijacked", topic: "", description: "" });
    bob.send(seq, { type: "rules", version: 2, text: "no rules" });
    const got = carol.catchUp(seq);
    expect(got.filter((i) => i.type === "ProfileChanged" || i.type === "RulesChanged").length).toBe(2);
    expect(carol.state.profile?.name).toBe("Circle");
    expect(carol.state.rules?.text).toBe("be kind");
  });
});

describe("withheld messages", () => {
  it("a dropped message raises an alarm after a complete sync, once", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    alice.say(seq, "two");
    alice.say(seq, "three");
    const withheld = seq.events.splice(-2, 1)[0]!; // the relay drops "two" and renumbers
    const last = seq.events.at(-1) as MessageEvent;
    seq.events[seq.events.length - 1] = { ...last, seq: withheld.seq };
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["one", "three"]);
    const step = carol.state.checkWithheld();
    expect(alarms(step.items).map((a) => a.kind)).toEqual(["withheld"]);
    expect(carol.state.blocked).toBe(true);
    // The same gap is reported once.
    expect(carol.state.checkWithheld().items).toEqual([]);
  });

  it("a signed deletion explains a gap", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    const gone = alice.say(seq, "two");
    alice.say(seq, "three");
    del(seq, alice, gone, alice);
    expect(texts(carol.catchUp(seq))).toEqual(["one", "three"]);
    expect(carol.state.checkWithheld().items).toEqual([]);
    expect(carol.state.blocked).toBe(false);
  });

  it("a deletion placeholder no signed deletion backs is withheld", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    const gone = alice.say(seq, "two");
    alice.say(seq, "three");
    // The relay's bare placeholder, pointing at an event that proves nothing.
    seq.put({ type: "removed", seq: gone.seq, ts: T0, id: gone.envelope.header.id, sender: alice.id, by: gone.seq + 1 });
    const got = carol.catchUp(seq);
    expect(kindsAndCodes(got)).toEqual([["withheld", "msg.withheld"]]);
    expect(alarms(carol.state.checkWithheld().items).map((a) => a.kind)).toEqual(["withheld"]);
  });

  it("one signed deletion excuses its own counter, once", () => {
    const [seq, alice, , carol] = room();
    const deleted = alice.say(seq, "one");
    alice.say(seq, "two");
    carol.catchUp(seq); // carol read "one" before it was deleted
    const tomb = del(seq, alice, deleted, alice);
    carol.state.receive(tomb);
    const withheld = alice.say(seq, "three");
    alice.say(seq, "four");
    // The relay hides "three" behind a placeholder naming the real tombstone.
    seq.put({ type: "removed", seq: withheld.seq, ts: T0, id: deleted.envelope.header.id, sender: alice.id, by: tomb.seq });
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["four"]);
    expect([...alarms(got), ...alarms(carol.state.checkWithheld().items)].map((a) => a.kind)).toEqual(["withheld", "withheld"]);
  });

  /** The relay erases every message of `who`: placeholders, then the erasure. */
  function erase(seq: Seq, who: Person, request: EraseRequest | null): ErasedEvent {
    const mine = seq.events.filter((e): e is MessageEvent => e.type === "msg" && e.envelope.header.sender === who.id);
    const erased: ErasedEvent = { type: "erased", seq: seq.nextSeq, ts: T0, member: who.id, through: mine.at(-1)!.seq, request };
    seq.events.push(erased);
    for (const e of mine) seq.put({ type: "removed", seq: e.seq, ts: T0, id: e.envelope.header.id, sender: who.id, by: erased.seq });
    return erased;
  }

  it("a signed erasure explains the gaps it left", () => {
    const [seq, , bob, carol] = room();
    bob.say(seq, "one");
    carol.catchUp(seq);
    bob.say(seq, "two"); // carol never reads these two: erased first
    bob.say(seq, "three");
    const leave = bob.state.leaveOp({ now: T0 });
    bob.commit(seq, leave);
    erase(seq, bob, signErase(bob.state.keys, { index: leave.content.index, at: T0 }));
    const got = carol.catchUp(seq);
    expect(alarms(got)).toEqual([]);
    expect(carol.state.checkWithheld().items).toEqual([]);
  });

  it("an erasure the member did not sign excuses nothing", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    carol.catchUp(seq);
    alice.say(seq, "two");
    // The relay says alice erased her messages (she did not) and hides "two" ...
    erase(seq, alice, null);
    alice.say(seq, "three"); // ... while she goes on talking.
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["three"]);
    const kinds = [...alarms(got), ...alarms(carol.state.checkWithheld().items)].map((a) => a.kind);
    expect(kinds).toEqual(["withheld", "withheld"]); // the placeholder, and the counter gap
  });

  it("an erasure of a member still present is refused", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    carol.catchUp(seq);
    alice.say(seq, "two");
    // A real signed request, served while alice is still a member (or replayed).
    erase(seq, alice, signErase(alice.state.keys, { index: alice.state.log.index, at: T0 }));
    alice.say(seq, "three");
    const got = carol.catchUp(seq);
    expect(kindsAndCodes(got)).toEqual([
      ["bad_message", "msg.not_member"],
      ["withheld", "msg.withheld"],
    ]);
    expect(alarms(carol.state.checkWithheld().items).map((a) => a.kind)).toEqual(["withheld"]);
  });

  function purge(seq: Seq, alice: Person, carol: Person): [Set<number>, StepItem[]] {
    alice.say(seq, "one");
    carol.catchUp(seq);
    const position = carol.state.position;
    alice.say(seq, "purged 0");
    alice.commit(seq, alice.state.rotateOp({ now: T0 })); // kept through the purge
    alice.say(seq, "purged 1");
    alice.say(seq, "purged 2");
    alice.say(seq, "after the purge");
    // The relay purged the three messages (it keeps log operations) before carol synced.
    const purged = new Set(seq.events.slice(position).filter((e) => e.type === "msg").map((e) => e.seq));
    purged.delete(seq.events.at(-1)!.seq);
    carol.state.noteLowWater(Math.max(...purged));
    const got: StepItem[] = [];
    for (const event of seq.events) if (!purged.has(event.seq)) got.push(...carol.state.receive(event).items);
    return [purged, got];
  }

  it("a retention purge is not a withheld message", () => {
    const [seq, alice, , carol] = room();
    alice.commit(seq, alice.state.retentionOp(2, { now: T0 }));
    const [, got] = purge(seq, alice, carol);
    expect(texts(got)).toEqual(["after the purge"]);
    expect(alarms(got)).toEqual([]);
    const later = T0 + 2 * DAY + 1; // the two days have passed since "one"
    expect(carol.state.checkWithheld({ now: later }).items).toEqual([]);
    expect(carol.state.log.epoch).toBe(alice.state.log.epoch);
  });

  it("a low-water mark without retention is withheld", () => {
    const [seq, alice, , carol] = room();
    const [, got] = purge(seq, alice, carol);
    expect(texts(got)).toEqual(["after the purge"]);
    const found = alarms(carol.state.checkWithheld({ now: T0 + 10 ** 12 }).items);
    // The mark is refused, and so the gap it would have excused is withheld too.
    expect(found.map((a) => [a.kind, a.code])).toEqual([
      ["withheld", "msg.withheld"],
      ["withheld", "msg.withheld"],
    ]);
    expect(found[0]!.detail).toContain("keeps everything");
  });

  it("a low-water mark the retention cannot reach yet is withheld", () => {
    const [seq, alice, , carol] = room();
    alice.commit(seq, alice.state.retentionOp(2, { now: T0 }));
    purge(seq, alice, carol);
    const found = alarms(carol.state.checkWithheld({ now: T0 + DAY }).items);
    expect(found.map((a) => [a.kind, a.code])).toEqual([
      ["withheld", "msg.withheld"],
      ["withheld", "msg.withheld"],
    ]);
    expect(found[0]!.detail).toContain("could not have reached");
  });

  it("a purge excuses nothing served after its mark", () => {
    const [seq, alice, , carol] = room();
    alice.commit(seq, alice.state.retentionOp(2, { now: T0 }));
    alice.say(seq, "one");
    carol.catchUp(seq);
    const purged = new Set([0, 1].map((i) => alice.say(seq, `purged ${i}`).seq));
    alice.say(seq, "after 0");
    const withheld = alice.say(seq, "after 1").seq; // above the mark: the relay skips it
    alice.say(seq, "after 2");
    carol.state.noteLowWater(Math.max(...purged));
    const got: StepItem[] = [];
    for (const event of seq.events) {
      if (!purged.has(event.seq) && event.seq !== withheld) got.push(...carol.state.receive(event).items);
    }
    expect(texts(got)).toEqual(["after 0", "after 2"]);
    const found = alarms(carol.state.checkWithheld({ now: T0 + 3 * DAY }).items);
    expect(found.map((a) => [a.kind, a.detail])).toEqual([["withheld", `1 message(s) from ${alice.id} never arrived`]]);
  });
});

describe("forks, forgeries and replays", () => {
  it("a fork alarm blocks sending until acknowledged", () => {
    const [seq, alice, bob, carol] = room();
    // Bob is shown another history: the same creator's genesis, another room.create.
    const other = new Seq();
    other.op(createOp(alice.root.genesis(GENESIS_NONCE), alice.state.keys, {}, { now: T0 }));
    const envelope = sealMessage(
      bob.state.keys,
      { device: DEVICE_B, counter: 1, sent_at: T0, body: { type: "text", text: "x", content_warning: null, reply_to: null }, skipped: [] },
      { epoch: bob.state.log.epoch, epochSecret: bob.state.secrets.get(bob.state.log.epoch)!, headIndex: 0, head: other.log.head },
    );
    const step = carol.state.receive({ type: "msg", seq: seq.nextSeq, ts: T0, envelope });
    expect(alarms(step.items).map((a) => a.kind)).toEqual(["fork"]);
    expect(carol.state.blocked).toBe(true);
    const exc = thrown(() => carol.say(seq, "nope"));
    expect(exc).toBeInstanceOf(RoomBlocked);
    expect(exc.code).toBe("room.blocked");
    expect(thrown(() => carol.state.rotateOp({ now: T0 }))).toBeInstanceOf(RoomBlocked);
    expect(carol.state.acknowledge()).toEqual([alarms(step.items)[0]!.alarmId]);
    expect(carol.state.blocked).toBe(false);
    carol.say(seq, "ok again");
  });

  it("a log that fails verification freezes the room", () => {
    const [seq, alice, , carol] = room();
    const op = alice.state.rotateOp({ now: T0 });
    const forged: SignedOp = { content: op.content, sig: new Uint8Array(64) };
    const position = carol.state.position;
    const step = carol.state.receive({ type: "log", seq: seq.nextSeq, ts: T0, op: forged });
    expect(kindsAndCodes(step.items)).toEqual([["log_invalid", "log.bad_signature"]]);
    expect(carol.state.frozen).toBe(true);
    expect(carol.state.position).toBe(position);
    // The real operation is ignored while frozen, and taken after acknowledgement.
    alice.commit(seq, op);
    expect(carol.state.receive(seq.events.at(-1)!).items).toEqual([]);
    carol.state.acknowledge();
    carol.catchUp(seq);
    expect(carol.state.log.epoch).toBe(alice.state.log.epoch);
  });

  it("two operations at one index are a fork", () => {
    const [seq, alice, , carol] = room();
    const first = alice.state.rotateOp({ now: T0 });
    const second = alice.state.rotateOp({ now: T0 + 1 });
    carol.state.receive({ type: "log", seq: seq.nextSeq, ts: T0, op: first });
    const step = carol.state.applyOp(second);
    expect(alarms(step.items).map((a) => a.kind)).toEqual(["fork"]);
  });

  it("a redelivered operation changes nothing (protocol.md section 10)", () => {
    const [seq, alice, , carol] = room();
    // Carol fetched the log ahead of her position (a message named a newer head)...
    alice.commit(seq, alice.state.rotateOp({ now: T0 }));
    const rotation = seq.log.ops.at(-1)!;
    carol.state.applyOp(rotation);
    const held = [carol.state.log.index, carol.state.log.head, carol.state.log.epoch];
    const secrets = new Map(carol.state.secrets);
    const said = alice.say(seq, "after the rotation");
    // ...then the sequence delivers the same operation, and a relay serves it once more.
    const again = { type: "log" as const, seq: seq.nextSeq, ts: T0, op: rotation };
    seq.events.push(again);
    const got = carol.catchUp(seq);
    expect(alarms(got)).toEqual([]);
    expect(carol.state.blocked).toBe(false);
    expect([carol.state.log.index, carol.state.log.head, carol.state.log.epoch]).toEqual(held);
    expect(carol.state.secrets).toEqual(secrets);
    expect(carol.state.position).toBe(again.seq); // moved past it like any other event
    expect(texts(got)).toEqual(["after the rotation"]);
    expect(said.seq).toBeLessThan(again.seq);
  });

  it("a message under an epoch the log never started is unknown_epoch", () => {
    const [seq, alice, , carol] = room();
    const log = alice.state.log;
    const envelope = sealMessage(
      alice.state.keys,
      { device: DEVICE_A, counter: 99, sent_at: T0, body: { type: "text", text: "x", content_warning: null, reply_to: null }, skipped: [] },
      { epoch: log.epoch + 5, epochSecret: new Uint8Array(32), headIndex: log.index, head: log.head },
    );
    const step = carol.state.receive({ type: "msg", seq: seq.nextSeq, ts: T0, envelope });
    expect(kindsAndCodes(step.items)).toEqual([["unknown_epoch", "msg.unknown_epoch"]]);
  });

  it("an unknown head asks for the log, then checks again", () => {
    const [seq, alice, , carol] = room();
    alice.commit(seq, alice.state.inviteOp(InviteKey.generate(), { role: "member", maxUses: 1, expiresAt: T0 + 1, now: T0 }));
    const said = alice.say(seq, "after an op carol has not seen");
    let step = carol.state.receive(said);
    expect(step.needLog).toBe(true);
    expect(carol.state.position).toBeLessThan(said.seq);
    // The relay withheld the operation from the sequence but serves it in the log:
    carol.state.applyOp(seq.log.ops.at(-1)!);
    step = carol.state.receive(said, { logSynced: true });
    expect(kindsAndCodes(step.items)).toEqual([["fork", "msg.unknown_head"]]);
  });

  it("a removed member's message injected by the relay is refused", () => {
    const [seq, alice, bob, carol] = room();
    const old = bob.state.seal(bob.plaintext({ type: "text", text: "sealed before removal", content_warning: null, reply_to: null }));
    alice.commit(seq, alice.state.removeOp(bob.id, { now: T0 }));
    // A relay that colludes with Bob stores his old-epoch message after the removal.
    seq.events.push({ type: "msg", seq: seq.nextSeq, ts: T0, envelope: old });
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual([]);
    expect(kindsAndCodes(got)).toEqual([["bad_message", "msg.stale_epoch"]]);
  });

  it("a replayed counter is a bad message", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    alice.state.sendCounter -= 1;
    alice.say(seq, "one again, same counter");
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["one"]);
    expect(kindsAndCodes(got)).toEqual([["bad_message", "msg.replay"]]);
  });

  it("a tampered ciphertext is a bad message", () => {
    const [seq, alice, , carol] = room();
    const event = alice.say(seq, "hello");
    seq.put(flipped(event));
    const got = carol.catchUp(seq);
    expect(kindsAndCodes(got)).toEqual([["bad_message", "msg.bad_signature"]]);
  });
});

describe("joining, invites and bans", () => {
  it("join checks the invite in the verified log", () => {
    const [seq, alice] = room();
    let erin = new Person("erin", alice.state.room);
    erin.state.loadLog(seq.log.ops);
    let exc = thrown(() => erin.state.joinOp(InviteKey.generate(), { now: T0 }));
    expect(exc).toBeInstanceOf(InviteError);
    expect(exc.code).toBe("invite.unknown");
    const expired = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(expired, { role: "member", maxUses: 1, expiresAt: T0 + 5, now: T0 }));
    erin = new Person("erin", alice.state.room);
    erin.state.loadLog(seq.log.ops);
    exc = thrown(() => erin.state.joinOp(expired, { now: T0 + 6 }));
    expect(exc).toBeInstanceOf(InviteError);
    expect(exc.code).toBe("invite.expired");
  });

  it("join refuses a fallen creator's invite and a banned key (issue 17, break 3)", () => {
    // The SDK refuses before it signs or seals anything.
    const [seq, alice, bob] = room();
    alice.commit(seq, alice.state.roleOp(bob.id, "moderator", { now: T0 }));
    bob.catchUp(seq);
    const invite = InviteKey.generate();
    bob.commit(seq, bob.state.inviteOp(invite, { role: "moderator", maxUses: 5, expiresAt: T0 + 10 ** 6, now: T0 }));
    bob.commit(seq, bob.state.leaveOp({ now: T0 })); // a leaver's invites die at use
    let erin = new Person("erin", alice.state.room);
    erin.state.loadLog(seq.log.ops);
    let exc = thrown(() => erin.state.joinOp(invite, { now: T0 }));
    expect(exc).toBeInstanceOf(InviteError);
    expect(exc.code).toBe("invite.revoked");

    alice.catchUp(seq);
    const own = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(own, { role: "member", maxUses: 5, expiresAt: T0 + 10 ** 6, now: T0 }));
    alice.commit(seq, alice.state.banOp(erin.id, { now: T0 })); // not a member: no commit
    expect(seq.log.epoch).toBe(alice.state.log.epoch);
    erin = new Person("erin", alice.state.room);
    erin.state.loadLog(seq.log.ops);
    exc = thrown(() => erin.state.joinOp(own, { now: T0 }));
    expect(exc.code).toBe("invite.banned");
    alice.commit(seq, alice.state.unbanOp(erin.id, { now: T0 }));
    erin = new Person("erin", alice.state.room);
    erin.state.loadLog(seq.log.ops);
    seq.op(erin.state.joinOp(own, { now: T0 })); // lifted: the relay's verifier takes it
  });
});

describe("snapshots", () => {
  it("a snapshot round trip keeps counters and alarms", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    alice.say(seq, "two");
    carol.catchUp(seq);
    carol.state.acknowledge();
    const restored = RoomState.restore(carol.state.keys, carol.state.log.ops, carol.state.secrets, carol.state.snapshot());
    expect(restored.position).toBe(carol.state.position);
    expect(restored.tracker.highest(alice.id, alice.device)).toBe(2);
    // After the restart the next message goes on from counter 3 without a gap ...
    const carol2 = new Person("carol", alice.state.room);
    carol2.state = restored;
    alice.say(seq, "three");
    expect(texts(carol2.catchUp(seq))).toEqual(["three"]);
    expect(restored.checkWithheld().items).toEqual([]);
    // ... and a replayed old message is still refused.
    alice.state.sendCounter = 1;
    alice.say(seq, "replay of counter two");
    const got = carol2.catchUp(seq);
    expect(alarms(got).map((a) => a.code)).toEqual(["msg.replay"]);
    const again = RoomState.restore(restored.keys, restored.log.ops, restored.secrets, restored.snapshot());
    expect(again.alarms.map((a) => a.code)).toEqual(["msg.replay"]);
    expect(again.blocked).toBe(true);
  });

  it("a snapshot is plain data a store can structured-clone", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    carol.catchUp(seq);
    const snapshot = structuredClone(carol.state.snapshot());
    const restored = RoomState.restore(carol.state.keys, carol.state.log.ops, carol.state.secrets, snapshot);
    expect(restored.snapshot()).toEqual(carol.state.snapshot());
    const bytes = encodeSnapshot(carol.state.snapshot());
    const again = RoomState.restore(carol.state.keys, carol.state.log.ops, carol.state.secrets, decodeSnapshot(bytes));
    expect(again.snapshot()).toEqual(carol.state.snapshot());
    // A snapshot from before a field existed takes its default.
    const { names: _names, ...older } = carol.state.snapshot();
    expect(RoomState.restore(carol.state.keys, carol.state.log.ops, carol.state.secrets, older).names.chosen.size).toBe(0);
  });
});

describe("messages opened ahead (the sync's worker)", () => {
  function received(person: Person, seq: Seq, opened: ReadonlyMap<number, Opened> = new Map()): StepItem[] {
    const items: StepItem[] = [];
    for (const event of seq.events) {
      const step = person.state.receive(event, { opened: opened.get(event.seq) ?? null });
      expect(step.needLog).toBe(false);
      items.push(...step.items);
    }
    return items;
  }

  it("are taken as if opened in turn", () => {
    const [seq, alice, bob, carol] = room();
    const start = seq.nextSeq;
    alice.say(seq, "one");
    seq.put(flipped(alice.say(seq, "two")));
    bob.say(seq, "three");
    const fresh = seq.events.slice(start - 1);
    const opened = openAhead(carol.state.room, fresh, new Map(carol.state.secrets));
    expect([...opened.keys()].sort((a, b) => a - b)).toEqual(fresh.map((e) => e.seq));
    // Bob opens in turn, Carol takes what was opened ahead: the same texts, the same refusal.
    const bobSaw = received(bob, seq);
    const carolSaw = received(carol, seq, opened);
    expect(texts(carolSaw)).toEqual(["one", "three"]);
    expect(texts(bobSaw)).toEqual(["one", "three"]);
    expect(kindsAndCodes(carolSaw)).toEqual([["bad_message", "msg.bad_signature"]]);
    expect(kindsAndCodes(bobSaw)).toEqual([["bad_message", "msg.bad_signature"]]);
  });

  it("count only for their own envelope and secret", () => {
    const [seq, alice, bob, carol] = room();
    const honest = alice.say(seq, "what alice wrote");
    const other = bob.say(seq, "something else");
    // A result counts only for the very envelope object it was made from (an equal
    // copy does not do) and under the secret the room holds for its epoch.
    const forged = openAhead(carol.state.room, [other], new Map(carol.state.secrets)).get(other.seq)!;
    const lookalike = decodeMsgpack<Envelope>("Envelope", canonical("Envelope", honest.envelope));
    expect(lookalike).toEqual(honest.envelope);
    expect(lookalike).not.toBe(honest.envelope);
    const wrongSecret = new Map([...carol.state.secrets.keys()].map((e) => [e, new Uint8Array(32)]));
    const cases = new Map<number, Opened>([
      [honest.seq, { envelope: lookalike, secret: forged.secret, result: forged.result }],
      [other.seq, openAhead(carol.state.room, [other], wrongSecret).get(other.seq)!],
    ]);
    expect(cases.get(other.seq)!.result).toBeInstanceOf(EnvelopeError); // what a wrong secret gives
    const got = received(carol, seq, cases);
    expect(texts(got)).toEqual(["what alice wrote", "something else"]);
    expect(alarms(got)).toEqual([]);
  });
});

describe("history (lazy backfill)", () => {
  function sayProfile(seq: Seq, who: Person, name: string): void {
    who.send(seq, { type: "room.profile", name, topic: "", description: "" });
  }

  /** What a member reading the whole past as history (backfill) takes as profiles. */
  function backfilledProfiles(seq: Seq, reader: Person, pages: boolean): string[] {
    const newcomer = new Person("dave", reader.state.room);
    newcomer.state.loadLog(seq.log.ops);
    newcomer.state.secrets = new Map(reader.state.secrets);
    newcomer.state.floor = seq.nextSeq; // everything is history to it
    // With `pages`, the page holds the log operations that fix each message's place;
    // without, only the messages, so a place is a span up to our head.
    const page = seq.events.filter((e) => pages || e.type !== "log");
    const items = newcomer.state.receiveHistory(page, { more: false }).items;
    return items.filter((i): i is ProfileChanged => i.type === "ProfileChanged").map((i) => i.name);
  }

  it.each([
    ["placed", true],
    ["span", false],
  ])("judges authority at the message's place (%s)", (_name, pages) => {
    // Issue 17, item 9: the log a backfilling reader holds is the current one; a role
    // change after a message must not decide whether the message counted.
    const [seq, alice, bob, carol] = room();
    alice.commit(seq, alice.state.roleOp(bob.id, "moderator", { now: T0 }));
    bob.catchUp(seq);
    sayProfile(seq, bob, "named by a moderator");
    alice.commit(seq, alice.state.roleOp(carol.id, "moderator", { now: T0 }));
    alice.commit(seq, alice.state.roleOp(bob.id, "member", { now: T0 }));
    carol.catchUp(seq);
    sayProfile(seq, bob, "named by a member"); // after his demotion: never counts
    // Read forward by everyone, the first counts and the second does not.
    const forward = alice.catchUp(seq).filter((i): i is ProfileChanged => i.type === "ProfileChanged");
    expect(forward.map((i) => i.name)).toEqual(["named by a moderator"]);
    // Read as history: with the page's operations placed, exactly the same; without
    // them the message's place is only known to lie between its head and our head,
    // and a role that changed in between is judged by its lowest: refused.
    expect(backfilledProfiles(seq, carol, pages)).toEqual(pages ? ["named by a moderator"] : []);
  });

  it("refuses a claim made before a promotion", () => {
    const [seq, alice, bob, carol] = room();
    sayProfile(seq, bob, "claimed by a member");
    alice.commit(seq, alice.state.roleOp(bob.id, "moderator", { now: T0 }));
    carol.catchUp(seq);
    expect(backfilledProfiles(seq, carol, true)).toEqual([]);
    expect(backfilledProfiles(seq, carol, false)).toEqual([]);
  });

  it("refuses history served above the floor, and the floor only goes down", () => {
    const [seq, alice, , carol] = room();
    const live = alice.say(seq, "read live");
    carol.catchUp(seq);
    carol.state.floor = 3;
    const step = carol.state.receiveHistory([live], { more: true });
    expect(kindsAndCodes(step.items)).toEqual([["bad_message", "msg.replay"]]);
    expect(texts(step.items)).toEqual([]);
    expect(carol.state.floor).toBe(1); // nothing in its place: the walk ends
  });
});

describe("a head verified before (a restore, a linked device)", () => {
  /** Alice removes Carol; return the prefix before it and the head Alice verified after. */
  function afterRemoval(): [Seq, Person, SignedOp[], VerifiedHead] {
    const [seq, alice, , carol] = room();
    const prefix = [...seq.log.ops];
    alice.commit(seq, alice.state.removeOp(carol.id, { now: T0 }));
    return [seq, alice, prefix, { index: alice.state.log.index, head: alice.state.log.head }];
  }

  function restored(alice: Person, ops: readonly SignedOp[]): RoomState {
    const state = new RoomState(alice.state.keys);
    for (const op of ops) expect(alarms(state.applyOp(op).items)).toEqual([]);
    return state;
  }

  it("a log behind a pinned head blocks until it reaches it", () => {
    const [seq, alice, prefix, mark] = afterRemoval();
    const state = restored(alice, prefix);
    const step = state.pin(mark);
    expect(alarms(step.items).map((a) => a.code)).toEqual(["log.behind_verified_head"]);
    expect(state.blocked).toBe(true);
    expect(state.verifiedHead).toBeNull(); // nothing to publish from a doubtful log
    state.acknowledge();
    expect(thrown(() => state.requireSendable())).toBeInstanceOf(RoomBlocked);
    expect(thrown(() => state.rotateOp({ now: T0 }))).toBeInstanceOf(RoomBlocked); // would seal to Carol
    // The snapshot keeps the pin: a restart does not forget it.
    const again = RoomState.restore(alice.state.keys, prefix, state.secrets, state.snapshot());
    expect(again.blocked).toBe(true);
    // The relay serves the rest: the room goes on.
    expect(alarms(again.applyOp(seq.log.ops.at(-1)!).items)).toEqual([]);
    expect(again.blocked).toBe(false);
    again.requireSendable();
    expect(again.verifiedHead).toEqual(mark);
  });

  it("another operation at a pinned index freezes the room", () => {
    const [, alice, prefix, mark] = afterRemoval();
    const other = restored(alice, prefix);
    const forked = restored(alice, [...prefix, other.rotateOp({ now: T0 })]);
    const step = forked.pin(mark);
    expect(kindsAndCodes(step.items)).toEqual([["fork", "log.fork"]]);
    expect(forked.frozen).toBe(true);
    expect(thrown(() => forked.requireSendable())).toBeInstanceOf(RoomBlocked);
    // A head the log holds raises nothing.
    const fine = restored(alice, prefix);
    expect(alarms(fine.pin({ index: 1, head: opHash(prefix[1]!) }).items)).toEqual([]);
    expect(fine.blocked).toBe(false);
  });
});

describe("rules the Python suite leaves unguarded", () => {
  // Each test here fails if the rule it names is taken out of the core; the Python
  // suite above would not notice (found by removing each rule in turn).

  it("a message naming a head from before its epoch is stale at that head", () => {
    const [seq, alice, , carol] = room();
    const log = alice.state.log;
    // The relay's checkEnvelope refuses this (epochAt(head) != epoch); a hostile one serves it.
    const envelope = sealMessage(alice.state.keys, alice.plaintext({ type: "text", text: "x", content_warning: null, reply_to: null }), {
      epoch: log.epoch,
      epochSecret: alice.state.secrets.get(log.epoch)!,
      headIndex: 1,
      head: log.hashAt(1),
    });
    const got = carol.state.receive({ type: "msg", seq: seq.nextSeq, ts: T0, envelope }).items;
    expect(texts(got)).toEqual([]);
    expect(kindsAndCodes(got)).toEqual([["bad_message", "msg.stale_epoch"]]);
  });

  it("history refuses a removed member's message the relay moved after the removal", () => {
    const [seq, alice, bob] = room();
    const old = bob.state.seal(bob.plaintext({ type: "text", text: "sealed before removal", content_warning: null, reply_to: null }));
    alice.commit(seq, alice.state.removeOp(bob.id, { now: T0 }));
    seq.events.push({ type: "msg", seq: seq.nextSeq, ts: T0, envelope: old });
    const dave = new Person("dave", alice.state.room);
    const invite = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(invite, { role: "member", maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
    dave.state.loadLog(seq.log.ops);
    dave.commit(seq, dave.state.joinOp(invite, { now: T0 }));
    const joined = seq.nextSeq - 1;
    dave.state.position = dave.state.floor = dave.state.startSeq = joined;
    dave.state.seqIndex = seq.log.index;
    const step = dave.state.receiveHistory(seq.events.slice(0, joined - 1), { more: false });
    expect(kindsAndCodes(step.items)).toEqual([["bad_message", "msg.stale_epoch"]]);
  });

  it("a member's signed erasure excuses the gaps its streams have, placeholders or not", () => {
    const [seq, , bob, carol] = room();
    bob.say(seq, "one");
    const two = bob.say(seq, "two");
    bob.say(seq, "three");
    for (const event of seq.events) if (event.seq !== two.seq) carol.state.receive(event); // "two" withheld
    const leave = bob.state.leaveOp({ now: T0 });
    bob.commit(seq, leave);
    const request = signErase(bob.state.keys, { index: leave.content.index, at: T0 });
    seq.events.push({ type: "erased", seq: seq.nextSeq, ts: T0, member: bob.id, through: two.seq, request });
    expect(alarms(carol.catchUp(seq))).toEqual([]);
    expect(carol.state.checkWithheld().items).toEqual([]);
  });

  it("one tombstone backs one placeholder, not two that name it", () => {
    const [seq, alice, , carol] = room();
    alice.say(seq, "one");
    const two = alice.say(seq, "two");
    const three = alice.say(seq, "three");
    alice.say(seq, "four");
    const h = two.envelope.header;
    const plaintext = openMessage(two.envelope, { epochSecret: alice.state.secrets.get(h.epoch)! });
    const request = signDelete(alice.state.keys, { target: h.id, sender: h.sender, device: plaintext.device, counter: plaintext.counter, at: T0 });
    const tomb: TombstoneEvent = { type: "tombstone", seq: seq.nextSeq, ts: T0, target: h.id, request };
    seq.events.push(tomb);
    for (const gone of [two, three]) seq.put({ type: "removed", seq: gone.seq, ts: T0, id: h.id, sender: alice.id, by: tomb.seq });
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["one", "four"]);
    const found = [...alarms(got), ...alarms(carol.state.checkWithheld().items)];
    expect(found.map((a) => a.detail.startsWith("the relay put a deletion placeholder") ? "placeholder" : "gap")).toEqual([
      "placeholder",
      "gap",
    ]);
  });

  it("a member's deletion of another member's message is refused and excuses nothing", () => {
    const [seq, alice, bob, carol] = room();
    alice.say(seq, "one");
    const gone = alice.say(seq, "two");
    alice.say(seq, "three");
    del(seq, bob, gone, alice); // bob signs it; the relay carries it out
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["one", "three"]);
    expect(got.filter((i) => i.type === "Deletion")).toEqual([]);
    expect(kindsAndCodes(got)).toEqual([
      ["bad_message", "auth.forbidden"],
      ["withheld", "msg.withheld"], // its placeholder: no verified deletion backs it
    ]);
    expect(alarms(carol.state.checkWithheld().items).map((a) => a.kind)).toEqual(["withheld"]);
  });

  it("a purge at the end of a sync excuses its gap up to the next message read", () => {
    const [seq, alice, , carol] = room();
    alice.commit(seq, alice.state.retentionOp(2, { now: T0 }));
    alice.say(seq, "one");
    carol.catchUp(seq);
    const purged = new Set([0, 1].map((i) => alice.say(seq, `purged ${i}`).seq));
    carol.state.noteLowWater(Math.max(...purged));
    expect(carol.state.checkWithheld({ now: T0 + 3 * DAY }).items).toEqual([]);
    alice.say(seq, "after");
    const got: StepItem[] = [];
    for (const event of seq.events) if (!purged.has(event.seq)) got.push(...carol.state.receive(event).items);
    expect(texts(got)).toEqual(["after"]);
    expect(carol.state.checkWithheld({ now: T0 + 3 * DAY }).items).toEqual([]);
  });

  it("history judges a role over the whole span, gone in between included", () => {
    const [seq, alice, bob, carol] = room();
    alice.commit(seq, alice.state.roleOp(bob.id, "moderator", { now: T0 }));
    bob.catchUp(seq);
    bob.send(seq, { type: "room.profile", name: "named before leaving", topic: "", description: "" });
    bob.commit(seq, bob.state.leaveOp({ now: T0 }));
    alice.catchUp(seq);
    alice.commit(seq, alice.state.rotateOp({ now: T0 }));
    const invite = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(invite, { role: "moderator", maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
    const again = new Person("bob", alice.state.room);
    again.state.loadLog(seq.log.ops);
    again.commit(seq, again.state.joinOp(invite, { now: T0 })); // the same key, a moderator again
    carol.catchUp(seq);
    const reader = new Person("dave", carol.state.room);
    reader.state.loadLog(seq.log.ops);
    reader.state.secrets = new Map(carol.state.secrets);
    reader.state.floor = seq.nextSeq;
    const messages = seq.events.filter((e) => e.type !== "log");
    const items = reader.state.receiveHistory(messages, { more: false }).items;
    // Its place is only known to lie between its head and ours, and bob was no member
    // for part of that span: it does not count.
    expect(items.filter((i) => i.type === "ProfileChanged")).toEqual([]);
  });
});
