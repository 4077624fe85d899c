/**
 * The client's features beyond rooms and messages, against a real relay: schedules
 * travel encrypted and every member lists the same meetings (test_formats_schedule.py);
 * a laptop linked to a phone takes up the phone's rooms, history and notes, and the two
 * stay in step (test_devices.py); crisis lines through an open client, the draft check
 * opt-in and the chosen region kept on the device (test_crisis.py); push per room to
 * a real endpoint on loopback, content free, only while the device is offline
 * (test_push.py).
 */

import { createPublicKey, verify } from "node:crypto";
import { createServer, type Server } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { WebSocket } from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

import { HearthClient } from "../src/client.js";
import { cryptoReady } from "../src/crypto.js";
import { LinkError } from "../src/errors.js";
import type { Event } from "../src/events.js";
import { FileBackend } from "../src/node/fileBackend.js";
import { ScheduleError } from "../src/sdkErrors.js";
import type { WebSocketConstructor } from "../src/transport.js";
import { Person, received, tempDir } from "./clientHelpers.js";
import { CRISIS_TOML } from "./crisisFixture.js";
import { type RelayProcess, startRelay } from "./relay.js";


let relay: RelayProcess;
let dir: ReturnType<typeof tempDir>;
const people: Person[] = [];
const extra: HearthClient[] = [];
let made = 0;

beforeAll(async () => {
  await cryptoReady();
  dir = tempDir();
  const config = join(dir.path, "hearth.toml");
  writeFileSync(config, CRISIS_TOML);
  relay = await startRelay({
    env: {
      HEARTH_CONFIG: config,
      HEARTH_PUSH_ALLOWLIST: "127.0.0.1",
      HEARTH_PUSH_ALLOW_PRIVATE: "true",
      HEARTH_PUSH_ALLOW_HTTP: "true",
      HEARTH_PUSH_DELAY: "0.2",
      HEARTH_PUSH_WINDOW: "3600",
    },
  });
});
afterAll(async () => {
  await relay?.dispose();
  dir?.cleanup();
});
afterEach(async () => {
  for (const p of people.splice(0)) await p.close();
  for (const c of extra.splice(0)) await c.close();
});

function person(name: string): Person {
  const p = new Person(dir.path, `${name}-${made++}`);
  people.push(p);
  return p;
}

async function until(check: () => boolean | Promise<boolean>, what: string, seconds = 20): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("scheduled meetings", () => {
  test("a schedule travels encrypted and every member lists the same meetings", async () => {
    const alice = person("a");
    const bob = person("b");
    const a = await alice.open(relay.url);
    const b = await bob.open(relay.url);
    const ra = await a.createGroup("Evening circle");
    expect(() => ra.exportIcal()).toThrow(expect.objectContaining({ code: "schedule.none" }));
    await expect(
      ra.setSchedule("x", { frequency: "weekly", start: "2026-10-20T19:00", timezone: "Mars/Olympus", durationMinutes: 60 }),
    ).rejects.toBeInstanceOf(ScheduleError);
    await expect(
      ra.setSchedule("x", { frequency: "weekly", start: "2026-10-20 19:00", timezone: "Europe/Berlin", durationMinutes: 60 }),
    ).rejects.toThrow(expect.objectContaining({ code: "schedule.bad_start" }));
    // An instant is converted to the zone's wall clock, as Python converts an aware datetime.
    await ra.setSchedule("Evening circle", {
      frequency: "weekly",
      start: new Date(Date.UTC(2026, 9, 20, 17, 0)),
      timezone: "Europe/Berlin",
      durationMinutes: 90,
    });
    expect(ra.schedule?.start).toBe("2026-10-20T19:00");
    // A newcomer gets the schedule re-sent, like the profile and the rules.
    const rb = await b.join(await ra.createInvite());
    const changed = await bob.waitFor((e) => e.type === "ScheduleChanged");
    if (changed.type !== "ScheduleChanged") throw new Error("unreachable");
    expect(changed.by).toBe(ra.me);
    expect(rb.schedule).toEqual(ra.schedule);
    const after = new Date(Date.UTC(2026, 9, 1));
    expect(rb.nextMeetings(3, { after })).toEqual(ra.nextMeetings(3, { after }));
    expect(rb.nextMeetings(1, { after })[0]!.startLocal).toBe("2026-10-20T19:00:00+02:00");
    expect(rb.exportIcal()).toContain("RRULE:FREQ=WEEKLY\r\n");
    expect(rb.exportIcal()).toContain(`UID:${ra.id}@hearth\r\n`);

    // A plain member's schedule is ignored by everyone.
    await rb.send("hi");
    await rb.setSchedule("mine", { frequency: "monthly", start: "2030-01-01T00:00", timezone: "UTC", durationMinutes: 30 });
    await ra.cancelSchedule();
    await until(() => rb.schedule !== null && rb.schedule.active === false, "the cancellation");
    expect(rb.nextMeetings(3)).toEqual([]);
    expect(ra.schedule).toEqual(rb.schedule);
    expect(rb.schedule?.title).toBe("Evening circle");
  });
});

describe("devices", () => {
  test("a linked laptop takes up the phone's rooms, history and notes, and both stay in step", async () => {
    const phonePerson = person("phone");
    const bobPerson = person("bob");
    const phone = await phonePerson.open(relay.url);
    const bob = await bobPerson.open(relay.url);
    const room = await phone.createGroup("Evening circle");
    const bobRoom = await bob.join(await room.createInvite({ maxUses: 1, expiresIn: 3600 }));
    await until(() => bobRoom.members.size === 2, "bob in the room");
    await room.send("before the laptop");
    await bobRoom.send("hi alice");
    await phonePerson.waitFor(received(room.id, "hi alice"));
    await phone.personal.notes.add("slept badly, 4/10", { kind: "mood" });

    const link = await phone.offerDeviceLink();
    expect(link.code).toMatch(/^HL2-/);
    const pending = await HearthClient.beginDeviceLink(relay.url, link.code.toLowerCase().replace(/-/g, " "), {
      store: await FileBackend.open(join(dir.path, `laptop-${made++}.store`)),
      webSocket: WebSocket as unknown as WebSocketConstructor,
      reconnectDelay: [0.05, 0.5],
    });
    expect(await link.claimantCode()).toBe(pending.shortCode);
    await link.confirm();
    const laptop = await pending.finish();
    expect(laptop.identity.equals(phonePerson.identity)).toBe(true);
    const laptopEvents: Event[] = [];
    await laptop.open();
    extra.push(laptop);
    void (async () => {
      for await (const e of laptop.events()) laptopEvents.push(e);
    })();
    await laptop.sync();
    await until(() => laptop.rooms.some((r) => r.id === room.id), "the room taken up");
    const laptopRoom = laptop.room(room.id);
    expect(laptopRoom.me).toBe(room.me);
    const texts = (await laptopRoom.messages({ limit: 50 })).map((m) => m.text);
    expect(texts).toEqual(expect.arrayContaining(["before the laptop", "hi alice"]));
    expect((await laptop.personal.notes.list()).map((n) => n.text)).toEqual(["slept badly, 4/10"]);
    await expect(HearthClient.beginDeviceLink(relay.url, link.code)).rejects.toThrow(expect.objectContaining({ code: "link.used" }));
    await expect(HearthClient.beginDeviceLink(relay.url, "HL2-0000")).rejects.toBeInstanceOf(LinkError);

    // Both devices talk as the same member; no receiver raises an alarm.
    await laptopRoom.send("from the laptop");
    await room.send("from the phone");
    for (const text of ["from the laptop", "from the phone"]) {
      const got = await bobPerson.waitFor(received(room.id, text));
      if (got.type !== "MessageReceived") throw new Error("unreachable");
      expect(got.message.sender).toBe(room.me);
      const mine = await phonePerson.waitFor(received(room.id, text));
      if (mine.type === "MessageReceived") expect(mine.message.mine).toBe(true);
    }
    expect([room.alarms, laptopRoom.alarms, bobRoom.alarms]).toEqual([[], [], []]);

    // A room made on one device appears on the other; notes and settings follow live.
    const second = await laptop.createBuddyChat("Buddy");
    await phonePerson.waitFor((e) => e.type === "PersonalDataChanged" && e.document === "rooms");
    await until(() => phone.rooms.some((r) => r.id === second.id), "the laptop's buddy chat on the phone");
    const note = await laptop.personal.notes.add("call Sam if it gets bad", { kind: "safety_plan" });
    await phonePerson.waitFor((e) => e.type === "PersonalDataChanged" && e.document === "notes");
    expect((await phone.personal.notes.get(note)).text).toBe("call Sam if it gets bad");
    await phone.personal.settings.set("theme", "dark");
    await until(async () => (await laptop.personal.settings.get("theme")) === "dark", "the phone's setting on the laptop");
    expect(laptopEvents.some((e) => e.type === "PersonalDataChanged" && e.document === "settings")).toBe(true);
  });
});

describe("blocks across devices", () => {
  test("a block made on one device applies on the other", async () => {
    const a = person("block-a");
    const b = person("block-b");
    const c = person("block-c");
    const ca = await a.open(relay.url);
    const ra = await ca.createGroup("Circle");
    const link = await ra.createInvite({ maxUses: 2 });
    const rb = await (await b.open(relay.url)).join(link);
    const rc = await (await c.open(relay.url)).join(link);
    await until(() => ra.members.size === 3, "three members");

    const offer = await ca.offerDeviceLink();
    const pending = await HearthClient.beginDeviceLink(relay.url, offer.code, {
      store: await FileBackend.open(join(dir.path, `block-laptop-${made++}.store`)),
      webSocket: WebSocket as unknown as WebSocketConstructor,
      reconnectDelay: [0.05, 0.5],
    });
    expect(await offer.claimantCode()).toBe(pending.shortCode);
    await offer.confirm();
    const laptop = await pending.finish();
    await laptop.open();
    extra.push(laptop);
    const seen: Event[] = [];
    void (async () => {
      for await (const e of laptop.events()) seen.push(e);
    })();
    await laptop.sync();
    const laptopRoom = laptop.room(ra.id);

    await ca.block(rc.me);
    // The other device learns it from the personal store, then filters by it.
    await until(() => seen.some((e) => e.type === "PersonalDataChanged" && e.document === "blocked"), "the block reaches the laptop");
    expect([...laptop.blocked]).toEqual([rc.me]);
    const hidden = await rc.send("only Ben should see this");
    const shown = await rb.send("and everyone this");
    await b.waitFor((e) => e.type === "MessageReceived" && e.message.id === hidden);
    await until(() => seen.some((e) => e.type === "MessageReceived" && e.message.id === shown), "the laptop hears Ben");
    expect(seen.some((e) => e.type === "MessageReceived" && e.message.id === hidden)).toBe(false);
    expect((await laptopRoom.messages()).map((m) => m.id)).not.toContain(hidden);
    expect(await laptop.personal.blocked.list()).toEqual([rc.me]);
    await laptop.unblock(rc.me);
    await until(() => ca.blocked.size === 0, "the unblock reaches the phone");
  });
});

describe("crisis lines and the draft check on an open client", () => {
  test("the operator's lines then the SDK's, by region, and a malformed region is refused first", async () => {
    const c = await person("crisis").open(relay.url, { live: false });
    const names = (rs: { name: string }[]) => rs.map((r) => r.name);
    expect(names(await c.crisisResources("gb"))).toEqual(["Samaritans", "Befrienders Worldwide", "Emergency services", "Find A Helpline"]);
    expect(names(await c.crisisResources("US"))).toEqual(["988 Suicide & Crisis Lifeline", "Befrienders Worldwide", "Emergency services", "Find A Helpline"]);
    expect((await c.crisisResources()).length).toBe(7);
    await expect(c.crisisResources("France")).rejects.toThrow(/alpha-2/);
  });

  test("the draft check is opt-in and the region stays on this device", async () => {
    const p = person("drafts");
    const draft = "honestly everyone would be better off without me";
    let c = await p.open(relay.url, { live: false });
    expect(c.draftCheck).toBe(false);
    expect(c.checkDraft(draft).suggest).toBe(false);
    await c.setDraftCheck(true);
    expect(c.checkDraft(draft)).toEqual({ suggest: true, matches: ["better off without me"] });
    expect(c.checkDraft("see you all on Thursday").suggest).toBe(false);
    expect(c.crisisRegion).toBeNull();
    await expect(c.setCrisisRegion("GBR")).rejects.toThrow(/alpha-2/);
    await c.setCrisisRegion("gb");
    expect(c.crisisRegion).toBe("GB");
    await p.close();
    c = await p.open(relay.url, { live: false });
    expect([c.draftCheck, c.crisisRegion]).toEqual([true, "GB"]);
    await c.setDraftCheck(false);
    expect(c.checkDraft(draft).suggest).toBe(false);
  });
});

interface Push {
  path: string;
  method: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

async function pushSink(): Promise<{ server: Server; url: (path: string) => string; pushes: Push[] }> {
  const pushes: Push[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      pushes.push({ path: req.url ?? "", method: req.method ?? "", body, headers: req.headers });
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { server, url: (path) => `http://127.0.0.1:${port}${path}`, pushes };
}

describe("push per room", () => {
  test("an offline device gets one content-free push, a connected one none, an unregistered one none", async () => {
    const sink = await pushSink();
    try {
      const a = person("push-a");
      const b = person("push-b");
      const c = person("push-c");
      const ca = await a.open(relay.url);
      const cb = await b.open(relay.url);
      const cc = await c.open(relay.url);
      const ra = await ca.createGroup("Anxiety circle", { topic: "evenings" });
      const link = await ra.createInvite({ maxUses: 2 });
      const rb = await cb.join(link);
      const rc = await cc.join(link);
      await until(() => ra.members.size === 3, "three members");
      await expect(rb.registerPush("https://push.elsewhere.example/up")).rejects.toThrow(expect.objectContaining({ code: "push.endpoint_forbidden" }));
      await rb.registerPush(sink.url("/b"));
      await rc.registerPush(sink.url("/c"));
      await c.close(); // c is offline from now on; b stays connected

      let said = 0;
      for (let i = 0; i < 10 && !sink.pushes.some((p) => p.path === "/c"); i++) {
        await ra.send(`a hard evening, part ${said++}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(sink.pushes.filter((p) => p.path === "/c").length).toBe(1);
      expect(sink.pushes.filter((p) => p.path === "/b")).toEqual([]);
      for (const push of sink.pushes) {
        expect([push.method, push.body]).toEqual(["POST", '{"v":1}']);
      }
      // Unregistered: b closes too, and nothing reaches /b.
      await rb.unregisterPush();
      await b.close();
      await ra.send("are you there?");
      await new Promise((r) => setTimeout(r, 1500));
      expect(sink.pushes.filter((p) => p.path === "/b")).toEqual([]);
      expect(sink.pushes.every((p) => !p.body.includes(ra.id))).toBe(true);
    } finally {
      sink.server.close();
    }
  });

  test("a browser's subscription gets an empty push signed with the key the relay publishes", async () => {
    const sink = await pushSink();
    try {
      const a = person("webpush-a");
      const b = person("webpush-b");
      const ca = await a.open(relay.url);
      const cb = await b.open(relay.url);
      const key = await cb.webPushKey();
      expect([key.length, key[0]]).toEqual([65, 4]);
      const ra = await ca.createGroup("Evening circle");
      const rb = await cb.join(await ra.createInvite({ maxUses: 1 }));
      const other = await cb.createGroup("Another room");
      // Each room's local subscription name: stable, and another in every room.
      expect(rb.pushScope).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(rb.pushScope).toBe(rb.pushScope);
      expect(other.pushScope).not.toBe(rb.pushScope);
      await rb.registerPush(sink.url("/browser"), { webPush: true });
      await b.close();
      await ra.send("something only the group may read");
      await until(() => sink.pushes.some((p) => p.path === "/browser"), "the web push");
      const push = sink.pushes.find((p) => p.path === "/browser")!;
      expect([push.method, push.body]).toEqual(["POST", ""]);
      expect(push.headers["content-type"]).toBeUndefined();
      const authorization = String(push.headers["authorization"]);
      expect(authorization.startsWith("vapid ")).toBe(true);
      const fields = Object.fromEntries(
        authorization
          .slice("vapid ".length)
          .split(",")
          .map((p) => [p.trim().slice(0, p.trim().indexOf("=")), p.trim().slice(p.trim().indexOf("=") + 1)]),
      );
      expect(Buffer.from(fields["k"]!, "base64url")).toEqual(Buffer.from(key));
      const [header, claims, signature] = fields["t"]!.split(".") as [string, string, string];
      const publicKey = createPublicKey({
        key: { kty: "EC", crv: "P-256", x: Buffer.from(key.slice(1, 33)).toString("base64url"), y: Buffer.from(key.slice(33)).toString("base64url") },
        format: "jwk",
      });
      const signed = Buffer.from(`${header}.${claims}`);
      expect(verify("sha256", signed, { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url"))).toBe(true);
      const decoded = JSON.parse(Buffer.from(claims, "base64url").toString()) as { aud: string; exp: number; sub: string };
      expect(decoded.aud).toBe(new URL(sink.url("/")).origin);
      expect(decoded.exp * 1000 - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
      expect(decoded.exp * 1000).toBeGreaterThan(Date.now());
      const everything = JSON.stringify(push.headers) + Buffer.from(claims, "base64url").toString();
      for (const secret of [ra.id, other.id, ...ra.members.keys()]) expect(everything).not.toContain(secret);
    } finally {
      sink.server.close();
    }
  });
});
