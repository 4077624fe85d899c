/**
 * What members may do to each other, decided by every reader alike in the pure core:
 * mutes and their record, display names and look-alike labels, and a program's support
 * queue (the room-level halves of `test_formats_moderation.py`, `test_names.py` and
 * `test_formats_programs.py`, played on the in-memory sequence instead of a relay).
 */

import { beforeAll, describe, expect, it } from "vitest";

import { cryptoReady } from "../../src/crypto.js";
import type { MemberModerated, MemberRenamed, SupportClaimed, SupportRequested } from "../../src/events.js";
import { PostingMuted } from "../../src/sdkErrors.js";
import { InviteKey } from "../../src/signing.js";
import { sealInvite, sealRequest } from "../../src/supportBook.js";
import { createOp } from "../../src/core/builders.js";
import type { StepItem } from "../../src/core/step.js";
import type { Role, RoomKind } from "../../src/ops.js";
import { alarms, GENESIS_NONCE, Person, Seq, T0, texts } from "./harness.js";

beforeAll(() => cryptoReady());

function room(kind: RoomKind, roles: [string, Role][]): [Seq, Person, ...Person[]] {
  const genesis = Person.rootOf("owner").genesis(GENESIS_NONCE);
  const seq = new Seq();
  const owner = new Person("owner", genesis.room);
  owner.commit(seq, createOp(genesis, owner.state.keys, { kind }, { now: T0 }));
  const others: Person[] = [];
  for (const [name, role] of roles) {
    const joiner = new Person(name, genesis.room);
    const invite = InviteKey.generate();
    owner.commit(seq, owner.state.inviteOp(invite, { role, maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
    joiner.state.loadLog(seq.log.ops);
    joiner.state.position = seq.nextSeq - 1;
    joiner.state.seqIndex = seq.log.index;
    joiner.commit(seq, joiner.state.joinOp(invite, { now: T0 }));
    joiner.state.position = seq.nextSeq - 1;
    joiner.state.seqIndex = seq.log.index;
    owner.catchUp(seq);
    others.push(joiner);
  }
  for (const p of [owner, ...others]) p.catchUp(seq);
  return [seq, owner, ...others];
}

const moderated = (items: readonly StepItem[]) => items.filter((i): i is MemberModerated => i.type === "MemberModerated");

describe("mutes", () => {
  it("are enforced by every reader, only from a moderator who outranks, and recorded alike", () => {
    const [seq, owner, bob, carol] = room("group", [
      ["bob", "member"],
      ["carol", "member"],
    ]) as [Seq, Person, Person, Person];
    const mute = owner.plaintext({ type: "moderation", action: "mute", member: bob.id, reason: "cooling off" });
    const sealed = owner.state.seal(mute);
    // Our own mute is applied and announced at once; its echo announces nothing more.
    const own = owner.state.noteSent(mute.body, { messageId: sealed.header.id, at: T0 });
    expect(own.map((e) => e.type)).toEqual(["MemberModerated"]);
    seq.msg(sealed);
    expect(moderated(owner.catchUp(seq))).toEqual([]);
    for (const reader of [bob, carol]) {
      const seen = moderated(reader.catchUp(seq));
      expect(seen.map((e) => [e.action, e.member, e.by, e.reason])).toEqual([["mute", bob.id, owner.id, "cooling off"]]);
    }
    expect(carol.state.muted).toEqual(new Set([bob.id]));
    expect(() => bob.state.requireMayPost({ type: "text", text: "let me speak", content_warning: null, reply_to: null })).toThrow(
      PostingMuted,
    );
    // A modified client posts anyway: every reader verifies the message and hides it.
    bob.say(seq, "posted by a modified client");
    // A member who is not a moderator cannot mute anyone, nor unmute themself.
    carol.send(seq, { type: "moderation", action: "mute", member: owner.id, reason: "not allowed" });
    bob.send(seq, { type: "moderation", action: "unmute", member: bob.id, reason: "" });
    owner.say(seq, "owner still heard");
    const got = carol.catchUp(seq);
    expect(texts(got)).toEqual(["owner still heard"]);
    expect(moderated(got)).toEqual([]);
    expect(alarms(got)).toEqual([]);
    expect(carol.state.muted).toEqual(new Set([bob.id]));
    expect(owner.catchUp(seq).length).toBeGreaterThan(0);
    expect(owner.state.muted).toEqual(new Set([bob.id]));
    // Every member reads the same record.
    const history = carol.state.moderationHistory();
    expect(history.map((e) => [e.action, e.member, e.by, e.reason])).toEqual([["mute", bob.id, owner.id, "cooling off"]]);
    expect(owner.state.moderationHistory()).toEqual(history);
  });

  it("a supporter mutes nobody, not even a member it outranks", () => {
    const [seq, owner, sup, member] = room("group", [
      ["sup", "supporter"],
      ["member", "member"],
    ]) as [Seq, Person, Person, Person];
    sup.send(seq, { type: "moderation", action: "mute", member: member.id, reason: "" });
    member.say(seq, "still heard");
    const got = owner.catchUp(seq);
    expect(moderated(got)).toEqual([]);
    expect(texts(got)).toEqual(["still heard"]);
    expect(owner.state.muted).toEqual(new Set());
  });

  it("nobody mutes their equal or better", () => {
    const [seq, owner, mod1, mod2] = room("group", [
      ["mod1", "moderator"],
      ["mod2", "moderator"],
    ]) as [Seq, Person, Person, Person];
    mod1.send(seq, { type: "moderation", action: "mute", member: mod2.id, reason: "" });
    mod1.send(seq, { type: "moderation", action: "mute", member: owner.id, reason: "" });
    expect(moderated(owner.catchUp(seq))).toEqual([]);
    expect(owner.state.muted).toEqual(new Set());
  });
});

describe("names", () => {
  const CYRILLIC_SAM = "\u0405am"; // CYRILLIC CAPITAL LETTER DZE, then "am": looks like "Sam"

  it("look-alikes are told apart, and a refused name counts for nothing", () => {
    const [seq, owner, b, c, d] = room("group", [
      ["b", "member"],
      ["c", "member"],
      ["d", "member"],
    ]) as [Seq, Person, Person, Person, Person];
    owner.send(seq, { type: "member.profile", name: "Sam" });
    b.send(seq, { type: "member.profile", name: CYRILLIC_SAM });
    c.send(seq, { type: "member.profile", name: "sam" });
    d.send(seq, { type: "member.profile", name: "Ana" });
    owner.catchUp(seq);
    const labels = new Map(owner.state.members().map((m) => [m.id, m.label]));
    const lookAlikes = [owner.id, b.id, c.id];
    expect(new Set(lookAlikes.map((m) => labels.get(m))).size).toBe(3);
    for (const m of lookAlikes) expect(labels.get(m)!.endsWith(` ·${m.slice(0, 4)}`)).toBe(true);
    expect(labels.get(owner.id)!.startsWith("Sam ·")).toBe(true);
    expect(labels.get(d.id)).toBe("Ana"); // nobody looks like Ana: no suffix
    d.send(seq, { type: "member.profile", name: "\u202emaS" });
    d.say(seq, "after the bad name");
    const got = owner.catchUp(seq);
    expect(texts(got)).toEqual(["after the bad name"]);
    expect(owner.state.member(d.id).name).toBe("Ana");
    expect(alarms(got)).toEqual([]);
  });

  it("a rename is an event with the labels before and after, and names survive a snapshot", () => {
    const [seq, owner, bob] = room("group", [["bob", "member"]]) as [Seq, Person, Person];
    bob.send(seq, { type: "member.profile", name: "Sam" });
    const first = owner.catchUp(seq).filter((e): e is MemberRenamed => e.type === "MemberRenamed");
    expect(first.map((e) => [e.old, e.new, e.role])).toEqual([[bob.id.slice(0, 8), "Sam", "member"]]);
    bob.send(seq, { type: "member.profile", name: "Sammy" });
    const second = owner.catchUp(seq).filter((e): e is MemberRenamed => e.type === "MemberRenamed");
    expect(second.map((e) => [e.old, e.new])).toEqual([["Sam", "Sammy"]]);
    const again = owner.state.snapshot();
    expect(again.names).toEqual({ [bob.id]: "Sammy" });
  });
});

describe("a program's support queue", () => {
  it("a claim counts only from a supporter, and the requester is asked to join the buddy chat", () => {
    const [seq, owner, sup, asker, other] = room("program", [
      ["sup", "supporter"],
      ["asker", "member"],
      ["other", "member"],
    ]) as [Seq, Person, Person, Person, Person];
    const body = sealRequest(asker.state.keys, {
      text: "I need to talk",
      supporters: new Map([[sup.id, sup.state.keys.boxPublic]]),
      at: T0,
    });
    const request = asker.send(seq, body).envelope.header.id;
    const invite = (claimer: Person) =>
      sealInvite(asker.state.keys.boxPublic, {
        room: seq.log.room,
        request,
        supporter: claimer.id,
        buddy_room: "B".repeat(32),
        buddy_owner: claimer.id,
        link: "http://relay/join/x#y",
      });
    // Forged claims: a member's and the owner's count for nothing anywhere.
    other.send(seq, { type: "support.claim", request, invite: invite(other) });
    owner.send(seq, { type: "support.claim", request, invite: invite(owner) });
    sup.send(seq, { type: "support.claim", request, invite: invite(sup) });
    for (const reader of [owner, sup, other]) {
      const items = reader.catchUp(seq);
      const claims = items.filter((e): e is SupportClaimed => e.type === "SupportClaimed");
      expect(claims.map((e) => [e.requester, e.supporter])).toEqual([[asker.id, sup.id]]);
      expect(alarms(items)).toEqual([]);
    }
    const requested = sup.state.support.view(request);
    expect([requested.text, requested.status, requested.supporter]).toEqual(["I need to talk", "claimed", sup.id]);
    expect(other.state.support.view(request).text).toBeNull(); // not sealed to a member
    // The requester's SDK is asked to join the buddy chat the (one) counting claim names.
    const steps = seq.events.map((e) => asker.state.receive(e));
    const followUps = steps.flatMap((s) => s.followUps);
    expect(followUps).toEqual([{ kind: "JoinBuddy", request }]);
    expect(asker.state.support.invite(request)).toEqual(["http://relay/join/x#y", "B".repeat(32), sup.id]);
    const asked = steps.flatMap((s) => s.items).filter((e): e is SupportRequested => e.type === "SupportRequested");
    expect(asked.map((e) => [e.request.mine, e.request.text])).toEqual([[true, "I need to talk"]]);
  });
});
