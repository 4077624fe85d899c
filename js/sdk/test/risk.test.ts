/**
 * A program's path for a member at imminent risk, against a real relay (mirrors
 * tests/client_sdk/test_formats_risk.py): the moderators' plan travels encrypted and
 * reaches a newcomer; in a buddy chat opened by a claim, the supporter's
 * `raiseRiskAlert` shows both buddies the plan's lines and seals an alert to the
 * program's owners and moderators alone. Nobody else's plan, help or alert counts.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

import { CrisisDirectory, type CrisisResource, DEFAULT_CRISIS_RESOURCES } from "../src/crisis.js";
import { cryptoReady } from "../src/crypto.js";
import { sealDirected } from "../src/directed.js";
import type { Event, RiskAlertReceived, RiskHelpShown } from "../src/events.js";
import type { Room } from "../src/room.js";
import { SupportError } from "../src/sdkErrors.js";
import { make } from "../src/wire/codec.js";
import { tempDir } from "./clientHelpers.js";
import { Member, type Program, programOf, synced, until } from "./programHelpers.js";
import { type RelayProcess, startRelay } from "./relay.js";

const ASK = "my sister died last month and I cannot stop replaying the hospital call";
const PLAN = "Stay with them in the chat, share these lines, and alert the duty moderators.";
const line = (fields: Partial<CrisisResource> & Pick<CrisisResource, "name" | "regions">) =>
  make<CrisisResource>("CrisisResource", fields as CrisisResource & Record<string, unknown>);
const LINES: CrisisResource[] = [
  line({ name: "Samaritans", regions: ["GB", "IE"], phone: "116 123", url: "https://www.samaritans.org", hours: "24/7" }),
  line({
    name: "Grief and recovery duty line",
    regions: ["GB"],
    url: "https://program.example/duty",
    description: "A trained volunteer of this program, evenings.",
  }),
];
const NOTE = "she says she has saved up her pills and tonight is the night";

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

async function program(): Promise<Program> {
  const p = await programOf(relay.url, dir.path, { tag: `risk${runs++}` });
  open.push(...p.people);
  return p;
}

async function code(promise: Promise<unknown>): Promise<string> {
  const failure = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(failure instanceof SupportError)) throw new Error(`expected a SupportError, got ${String(failure)}`);
  return failure.code;
}

/** s1 claims m1's request: the buddy chat as s1 and as m1 see it, both joined. */
async function claimed(p: Program): Promise<[Room, Room]> {
  await p.s1.setAvailability(true);
  const request = await p.m1.requestSupport(ASK);
  await synced(p, 1);
  const buddy = await p.s1.claim(request.id);
  await p.people[3]!.waitFor((e) => e.type === "SupportClaimed" && e.requestId === request.id);
  const mine = await p.m1.buddyChat(request.id);
  await until(() => buddy.members.size === 2 && mine.members.size === 2, "both in the buddy chat");
  return [buddy, mine];
}

const isAlert = (e: Event): e is RiskAlertReceived => e.type === "RiskAlertReceived";
const isHelp = (e: Event): e is RiskHelpShown => e.type === "RiskHelpShown";

describe("the risk path", () => {
  test("the risk plan travels encrypted and reaches a newcomer", async () => {
    const p = await program();
    expect(p.rooms.every((r) => r.riskPlan === null)).toBe(true);
    await p.owner.setRiskPlan(PLAN, LINES);
    for (const m of p.people) {
      const seen = await m.waitFor((e) => e.type === "RiskPlanChanged");
      if (seen.type !== "RiskPlanChanged") throw new Error("unreachable");
      expect([seen.text, seen.lines, seen.by]).toEqual([PLAN, LINES, p.owner.me]);
    }
    for (const room of p.rooms) expect([room.riskPlan?.text, room.riskPlan?.lines]).toEqual([PLAN, LINES]);

    // Only moderators and owners publish it: the SDK refuses, and readers ignore a forgery.
    for (const room of [p.s1, p.m1]) expect(await code(room.setRiskPlan("call this number instead", []))).toBe("support.not_moderator");
    await p.people[3]!.sendRaw(p.m1.id, { type: "program.risk_plan", text: "call this number instead", lines: [] });
    const marker = await p.s2.send("marker");
    for (const m of p.people) await m.waitFor((e) => e.type === "MessageReceived" && e.message.id === marker);
    for (const room of p.rooms) {
      expect(room.riskPlan?.text).toBe(PLAN);
      expect(room.alarms).toEqual([]);
    }

    // A newcomer cannot read the earlier copy: the inviting owner sends it again.
    const late = new Member(dir.path, `late-${runs++}`);
    open.push(late);
    const lateRoom = await (await late.open(relay.url)).join(await p.owner.createInvite());
    await until(() => lateRoom.riskPlan !== null, "the plan re-sent to the newcomer");
    expect([lateRoom.riskPlan?.text, lateRoom.riskPlan?.lines]).toEqual([PLAN, LINES]);

    // Outside programs there is no risk plan; a plan lists at most 50 lines.
    const group = await p.people[0]!.c.createGroup("not a program");
    expect(await code(group.setRiskPlan(PLAN, LINES))).toBe("support.not_program");
    expect(await code(p.owner.setRiskPlan(PLAN, Array.from({ length: 51 }, (_, i) => line({ name: `Line ${i}`, regions: ["*"] }))))).toBe(
      "support.bad_plan",
    );
  });

  test("an alert shows both buddies the help and reaches the moderators alone", async () => {
    const p = await program();
    await p.owner.setRole(p.m2.me, "moderator");
    await p.owner.setRiskPlan(PLAN, LINES);
    await synced(p);
    await until(() => p.s1.riskPlan !== null && p.s1.members.get(p.m2.me) === "moderator", "the plan and the new moderator");
    const [buddy] = await claimed(p);

    const alert = await buddy.raiseRiskAlert(NOTE);
    expect([alert.planned, alert.text, alert.lines]).toEqual([true, PLAN, LINES]);
    expect([alert.programId, alert.buddyRoomId, alert.member]).toEqual([p.s1.id, buddy.id, p.m1.me]);
    expect(alert.moderators).toEqual([p.owner.me, p.m2.me].sort());

    // Both buddies are shown the program's lines, from the supporter's signed message.
    let shown: RiskHelpShown | null = null;
    for (const i of [1, 3]) {
      shown = await p.people[i]!.waitFor((e): e is RiskHelpShown => isHelp(e) && e.roomId === buddy.id);
      expect([shown.messageId, shown.text, shown.lines, shown.by]).toEqual([alert.helpId, PLAN, LINES, buddy.me]);
    }
    // The person's device puts its own lines for its region beside them, never instead.
    const shownLines = new CrisisDirectory().alongside(shown!.lines, "GB");
    expect(shownLines.slice(0, 2)).toEqual(LINES);
    for (const name of ["Emergency services", "Find A Helpline"]) expect(shownLines.map((r) => r.name)).toContain(name);
    expect(shownLines.filter((r) => r.name === "Samaritans").length).toBe(1);

    // The owner and the moderator receive the alert, checked and attributed.
    for (const i of [0, 4]) {
      const received = await p.people[i]!.waitFor(isAlert);
      expect([received.roomId, received.alertId, received.supporter]).toEqual([p.s1.id, alert.alertId, p.s1.me]);
      expect([received.member, received.requestId, received.buddyRoomId, received.note]).toEqual([p.m1.me, alert.requestId, buddy.id, NOTE]);
    }
    // Nobody else: not the person, not the other supporter, not a plain member.
    const marker = await p.owner.send("marker");
    for (const m of p.people) await m.waitFor((e) => e.type === "MessageReceived" && e.message.id === marker);
    for (const i of [2, 3, 5]) expect(p.people[i]!.events.filter(isAlert)).toEqual([]);
    for (const room of p.rooms) expect(room.alarms).toEqual([]);
  });

  test("without a plan the alert still goes, and forgeries count for nothing", async () => {
    const p = await program();
    const [buddy, mine] = await claimed(p);

    const alert = await buddy.raiseRiskAlert();
    expect([alert.planned, alert.text, alert.lines]).toEqual([false, "", []]);
    expect(alert.moderators).toEqual([p.owner.me]);
    const shown = await p.people[3]!.waitFor((e): e is RiskHelpShown => isHelp(e) && e.roomId === mine.id);
    expect(shown.lines).toEqual([]);
    expect(new CrisisDirectory().alongside(shown.lines, null)).toEqual([...DEFAULT_CRISIS_RESOURCES]);
    const received = await p.people[0]!.waitFor(isAlert);
    expect([received.supporter, received.member, received.note]).toEqual([p.s1.me, p.m1.me, ""]);

    // A plain member forges an alert, sealed properly to the owner with its own keys:
    // its role is not supporter, so every reader ignores it (no event, no alarm).
    const m3 = p.people[5]!;
    const state = m3.state(p.m3.id);
    const ownerKey = state.log.members.get(p.owner.me)!.boxKey;
    const [seals, ciphertext] = sealDirected(
      state.keys,
      {
        room: p.m3.id,
        supporter: state.keys.member,
        member: p.m2.me,
        request: alert.requestId,
        buddy_room: buddy.id,
        note: "remove m2 now, they are dangerous",
        recipients: [p.owner.me],
        at: 0,
      },
      [[p.owner.me, ownerKey]],
    );
    await m3.sendRaw(p.m3.id, { type: "support.alert", seals, ciphertext });
    // In the buddy chat, the person's own "help lines" are not the program's.
    await p.people[3]!.sendRaw(mine.id, { type: "support.risk", text: "call me", lines: [line({ name: "Me", regions: ["*"] })] });
    const marker = await p.s2.send("marker");
    const echo = await buddy.send("I'm here with you.");
    for (const m of p.people) await m.waitFor((e) => e.type === "MessageReceived" && e.message.id === marker);
    for (const i of [1, 3]) await p.people[i]!.waitFor((e) => e.type === "MessageReceived" && e.message.id === echo);
    await synced(p);
    const alerts = p.people.flatMap((m) => m.events).filter(isAlert);
    expect(new Set(alerts.map((e) => e.alertId))).toEqual(new Set([alert.alertId]));
    expect(new Set(alerts.map((e) => e.supporter))).toEqual(new Set([p.s1.me]));
    const helps = p.people.flatMap((m) => m.events).filter(isHelp);
    expect(new Set(helps.map((e) => e.messageId))).toEqual(new Set([alert.helpId]));
    for (const room of [...p.rooms, mine, buddy]) expect(room.alarms).toEqual([]);

    // Only the supporter whose claim opened the chat raises one, and only from it.
    expect(await code(mine.raiseRiskAlert("help"))).toBe("support.not_buddy_chat");
    expect(await code(p.s1.raiseRiskAlert("help"))).toBe("support.not_buddy_chat");
    const unrelated = await p.people[1]!.c.createBuddyChat("not from a claim");
    expect(await code(unrelated.raiseRiskAlert("help"))).toBe("support.not_buddy_chat");
  });
});
