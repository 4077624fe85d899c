/**
 * The risk path in the pure room core (`core/risk.ts`, the plan in `core/bodies.ts`),
 * ported from `tests/client_sdk/test_core_risk.py`.
 *
 * Each body is judged at its place in room order: a supporter demoted later keeps
 * the alert they raised before; an alert sent after the demotion, or by a member,
 * counts for nothing; a risk plan counts only from a moderator or owner of a program,
 * and survives a snapshot.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { cryptoReady } from "../../src/crypto.js";
import { sealDirected } from "../../src/directed.js";
import type { RiskAlertReceived, RiskHelpShown, RiskPlanChanged } from "../../src/events.js";
import { newMessageId } from "../../src/ids.js";
import type { Role, RoomKind } from "../../src/ops.js";
import { InviteKey } from "../../src/signing.js";
import { createOp } from "../../src/core/builders.js";
import { RoomState } from "../../src/core/state.js";
import type { StepItem } from "../../src/core/step.js";
import type { CrisisResource, RiskAlertBody, RiskAlertContent } from "../../src/wire/schema.gen.js";
import { alarms, GENESIS_NONCE, Person, Seq, T0 } from "./harness.js";

beforeAll(() => cryptoReady());

const LINES: CrisisResource[] = [
  { name: "Samaritans", regions: ["GB", "IE"], phone: "116 123", sms: null, url: null, hours: null, description: "" },
];

/** Alice owns a room of `kind`; Bob joined as a supporter, Carol as a member. */
function room(kind: RoomKind): [Seq, Person, Person, Person] {
  const genesis = Person.rootOf("alice").genesis(GENESIS_NONCE);
  const seq = new Seq();
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => new Person(n, genesis.room)) as [Person, Person, Person];
  alice.commit(seq, createOp(genesis, alice.state.keys, { kind }, { now: T0 }));
  const joiners: [Person, Role][] = [
    [bob, "supporter"],
    [carol, "member"],
  ];
  for (const [joiner, role] of joiners) {
    const invite = InviteKey.generate();
    alice.commit(seq, alice.state.inviteOp(invite, { role, maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
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

function alert(sender: Person, to: Person, note: string): RiskAlertBody {
  const keys = sender.state.keys;
  const content: RiskAlertContent = {
    room: keys.room,
    supporter: keys.member,
    member: keys.member,
    request: newMessageId(),
    buddy_room: keys.room,
    note,
    recipients: [to.id],
    at: T0,
  };
  const [seals, ciphertext] = sealDirected(keys, content, [[to.id, to.state.keys.boxPublic]]);
  return { type: "support.alert", seals, ciphertext };
}

function notes(items: readonly StepItem[]): string[] {
  return items.filter((i): i is RiskAlertReceived => i.type === "RiskAlertReceived").map((i) => i.note);
}

describe("the risk path", () => {
  it("an alert counts by the role its sender had at its place", () => {
    const [seq, alice, bob, carol] = room("program");
    bob.send(seq, alert(bob, alice, "before the demotion"));
    carol.send(seq, alert(carol, alice, "a member's forgery"));
    alice.commit(seq, alice.state.roleOp(bob.id, "member", { now: T0 }));
    bob.send(seq, alert(bob, alice, "after the demotion"));

    const got = alice.catchUp(seq);
    expect(notes(got)).toEqual(["before the demotion"]);
    expect(alarms(got)).toEqual([]);
    // A reader starting from scratch decides alike.
    const fresh = new RoomState(Person.rootOf("alice").roomKeys(alice.state.room));
    const items: StepItem[] = [];
    for (const event of seq.events) items.push(...fresh.receive(event).items);
    expect(notes(items)).toEqual(["before the demotion"]);
    // Nobody else opens one: Carol holds no seal.
    expect(notes(carol.catchUp(seq))).toEqual([]);
  });

  it("a plan counts from moderators of a program and survives a snapshot", () => {
    let [seq, alice, bob, carol] = room("program");
    alice.send(seq, { type: "program.risk_plan", text: "stay with them", lines: LINES });
    bob.send(seq, { type: "program.risk_plan", text: "call me instead", lines: [] });
    const got = carol.catchUp(seq);
    const plans = got.filter((e): e is RiskPlanChanged => e.type === "RiskPlanChanged");
    expect(plans.map((e) => [e.text, e.lines, e.by])).toEqual([["stay with them", LINES, alice.id]]);
    expect(carol.state.riskPlan).toEqual({ type: "program.risk_plan", text: "stay with them", lines: LINES });
    const snapshot = carol.state.snapshot();
    const restored = RoomState.restore(carol.state.keys, seq.log.ops, carol.state.secrets, structuredClone(snapshot));
    expect(restored.riskPlan).toEqual(carol.state.riskPlan);

    // Outside a program a plan means nothing, even from the owner.
    [seq, alice, bob, carol] = room("group");
    alice.send(seq, { type: "program.risk_plan", text: "stay with them", lines: LINES });
    expect(carol.catchUp(seq).filter((e) => e.type === "RiskPlanChanged")).toEqual([]);
    expect(carol.state.riskPlan).toBeNull();
  });

  it("help counts only from a buddy chat's owner", () => {
    const [groupSeq, alice, bob] = room("group");
    alice.send(groupSeq, { type: "support.risk", text: "not a buddy chat", lines: LINES });
    expect(bob.catchUp(groupSeq).filter((e) => e.type === "RiskHelpShown")).toEqual([]);

    const genesis = Person.rootOf("sam").genesis(GENESIS_NONCE);
    const seq = new Seq();
    const sam = new Person("sam", genesis.room);
    const mia = new Person("mia", genesis.room);
    sam.commit(seq, createOp(genesis, sam.state.keys, { kind: "buddy", invite_role: "owner", max_members: 2 }, { now: T0 }));
    const invite = InviteKey.generate();
    sam.commit(seq, sam.state.inviteOp(invite, { role: "member", maxUses: 1, expiresAt: T0 + 10 ** 6, now: T0 }));
    mia.state.loadLog(seq.log.ops);
    mia.state.position = seq.nextSeq - 1;
    mia.state.seqIndex = seq.log.index;
    mia.commit(seq, mia.state.joinOp(invite, { now: T0 }));
    mia.state.position = seq.nextSeq - 1;
    mia.state.seqIndex = seq.log.index;
    sam.catchUp(seq);
    mia.send(seq, { type: "support.risk", text: "call my number", lines: [] });
    sam.send(seq, { type: "support.risk", text: "you are not alone", lines: LINES });
    for (const reader of [sam, mia]) {
      const shown = reader.catchUp(seq).filter((e): e is RiskHelpShown => e.type === "RiskHelpShown");
      expect(shown.map((e) => [e.text, e.lines, e.by])).toEqual([["you are not alone", LINES, sam.id]]);
    }
  });
});
