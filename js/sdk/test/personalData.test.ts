/**
 * A person's notes, settings and blocked keys (`PersonalData`), synced between two
 * devices of one identity through a real relay, and with a Python device of the same
 * person: what one SDK writes, the other reads (mirrors the personal-data half of
 * tests/client_sdk/test_devices.py).
 */

import { afterAll, beforeAll, describe, expect, test } from "vitest";

import { cryptoReady } from "../src/crypto.js";
import type { Event } from "../src/events.js";
import { Identity } from "../src/identity.js";
import { PersonalData } from "../src/personalData.js";
import { PersonalSync } from "../src/personalSync.js";
import { RelayError, RelayUnavailable } from "../src/sdkErrors.js";
import { MemoryBackend } from "../src/storage/memory.js";
import { Store } from "../src/store.js";
import { Transport } from "../src/transport.js";
import { python } from "./python.js";
import { freePort, type RelayProcess, startRelay } from "./relay.js";

let relay: RelayProcess;

beforeAll(async () => {
  await cryptoReady();
  relay = await startRelay();
});

afterAll(async () => {
  await relay?.dispose();
});

interface Device {
  personal: PersonalData;
  sync: PersonalSync;
  events: Event[];
}

async function device(identity: Identity, url = relay.url): Promise<Device> {
  const store = await Store.open(new MemoryBackend(), identity.storeKey());
  const events: Event[] = [];
  const sync = new PersonalSync(identity.personalKeys(), store, new Transport(url, { timeout: 5 }), {
    emit: (event) => events.push(event),
    roomsListed: () => undefined,
  });
  return { personal: new PersonalData(sync), sync, events };
}

describe("PersonalData", () => {
  test("notes, settings and blocks written on one device show on the other", async () => {
    const me = Identity.generate();
    const phone = await device(me);
    const laptop = await device(me);
    const mood = await phone.personal.notes.add("Slept badly. 4/10.", { kind: "mood" });
    await phone.personal.notes.add("1. Call Sam. 2. Walk to the park.", { kind: "safety_plan", title: "My plan" });
    await phone.personal.notes.edit(mood, { text: "Slept badly. 5/10 after a walk." });
    await phone.personal.settings.set("theme", "dark");
    await phone.personal.settings.set("font", 1.5);
    await phone.personal.settings.set("sounds", false);
    await phone.personal.blocked.add("zzz-member");
    await phone.personal.blocked.add("aaa-member");

    await laptop.personal.sync();
    const notes = await laptop.personal.notes.list();
    expect(notes.map((n) => [n.kind, n.title, n.text, n.conflictOf])).toEqual([
      ["mood", "", "Slept badly. 5/10 after a walk.", null],
      ["safety_plan", "My plan", "1. Call Sam. 2. Walk to the park.", null],
    ]);
    expect(notes[0]!.updatedAt).toBeGreaterThanOrEqual(notes[0]!.createdAt);
    expect((await laptop.personal.notes.list({ kind: "mood" })).map((n) => n.id)).toEqual([mood]);
    expect(await laptop.personal.settings.get("theme", "light")).toBe("dark");
    expect(await laptop.personal.settings.get("missing", "light")).toBe("light");
    expect(await laptop.personal.settings.all()).toEqual({ theme: "dark", font: 1.5, sounds: false });
    expect(await laptop.personal.blocked.list()).toEqual(["aaa-member", "zzz-member"]);
    expect(laptop.events.map((e) => (e.type === "PersonalDataChanged" ? e.document : e.type)).sort()).toEqual(["blocked", "notes", "settings"]);

    await laptop.personal.notes.remove(mood);
    await laptop.personal.settings.remove("font");
    await laptop.personal.blocked.remove("zzz-member");
    await phone.personal.sync();
    expect((await phone.personal.notes.list()).map((n) => n.kind)).toEqual(["safety_plan"]);
    expect(await phone.personal.settings.all()).toEqual({ theme: "dark", sounds: false });
    expect(await phone.personal.blocked.list()).toEqual(["aaa-member"]);
  });

  test("two devices editing one note at once both keep their edit", async () => {
    const me = Identity.generate();
    const phone = await device(me);
    const laptop = await device(me);
    const note = await phone.personal.notes.add("draft");
    await laptop.personal.sync();
    // The phone edits from the version before the laptop's edit: its write finds a
    // newer version, merges and writes again.
    await laptop.personal.notes.edit(note, { text: "laptop's words" });
    await phone.personal.notes.edit(note, { text: "phone's words" });
    await laptop.personal.sync();
    await phone.personal.sync();
    await laptop.personal.sync();
    const seen = async (d: Device) => (await d.personal.notes.list()).map((n) => [n.text, n.conflictOf === null ? null : "copy"]).sort();
    expect(await seen(phone)).toEqual(await seen(laptop));
    const texts = (await seen(laptop)).map(([text]) => text);
    expect(texts).toContain("laptop's words");
    expect(texts).toContain("phone's words");
    expect((await laptop.personal.notes.list()).filter((n) => n.conflictOf === note).length).toBe(1);
  });

  test("a change made offline is kept and reaches the relay at the next sync", async () => {
    const me = Identity.generate();
    const offline = await device(me, `http://127.0.0.1:${await freePort()}`);
    await offline.personal.notes.add("written on a plane");
    await expect(offline.personal.sync()).rejects.toBeInstanceOf(RelayUnavailable);
    expect((await offline.personal.notes.list()).map((n) => n.text)).toEqual(["written on a plane"]);
  });

  test("the limits and the errors are Python's", async () => {
    const d = await device(Identity.generate());
    await expect(d.personal.notes.add("x".repeat(20_001))).rejects.toThrow(RangeError);
    await expect(d.personal.notes.add("ok", { title: "t".repeat(20_001) })).rejects.toThrow(RangeError);
    // Python counts characters, not UTF-16 units: 20,000 emoji are allowed.
    await d.personal.notes.add("\u{1f33f}".repeat(20_000));
    await expect(d.personal.notes.get("nope")).rejects.toThrow(RangeError);
    await expect(d.personal.notes.remove("nope")).rejects.toThrow(RangeError);
    await expect(d.personal.notes.edit("nope", { text: "x" })).rejects.toThrow(RangeError);
    await expect(d.personal.settings.set("x", [1] as unknown as string)).rejects.toThrow(TypeError);
    await d.personal.settings.set("nothing", null);
    expect(await d.personal.settings.get("nothing", "fallback")).toBeNull();
  });

  test("a Python device of the same person reads what this one wrote, and the reverse", async () => {
    const me = Identity.generate();
    const here = await device(me);
    await here.personal.notes.add("from TypeScript", { kind: "mood", title: "TS" });
    await here.personal.settings.set("theme", "dark");
    await here.personal.settings.set("size", 3);
    await here.personal.blocked.add("blocked-by-ts");
    const script = `
import asyncio, tempfile, os
from client_sdk import HearthClient, Identity
async def main():
    me = Identity.from_recovery_phrase(data['phrase'])
    path = os.path.join(tempfile.mkdtemp(), 'py.db')
    async with HearthClient(data['url'], me, store_path=path, live=False) as client:
        await client.personal.sync()
        notes = [[n.kind, n.title, n.text] for n in await client.personal.notes.list()]
        settings = await client.personal.settings.all()
        blocked = await client.personal.blocked.list()
        await client.personal.notes.add('from Python', kind='journal')
        await client.personal.settings.set('lang', 'fr')
        await client.personal.settings.set('ratio', 0.25)
        await client.personal.blocked.add('blocked-by-py')
        await client.personal.sync()
        return {'notes': notes, 'settings': settings, 'blocked': blocked}
print(json.dumps(asyncio.run(main())))
`;
    const seen = python<{ notes: string[][]; settings: Record<string, unknown>; blocked: string[] }>(script, { phrase: me.recoveryPhrase, url: relay.url });
    expect(seen).toEqual({ notes: [["mood", "TS", "from TypeScript"]], settings: { theme: "dark", size: 3 }, blocked: ["blocked-by-ts"] });
    await here.personal.sync();
    expect((await here.personal.notes.list()).map((n) => [n.kind, n.text])).toEqual([
      ["mood", "from TypeScript"],
      ["journal", "from Python"],
    ]);
    expect(await here.personal.settings.all()).toEqual({ theme: "dark", size: 3, lang: "fr", ratio: 0.25 });
    expect(await here.personal.blocked.list()).toEqual(["blocked-by-py", "blocked-by-ts"]);
  });
  test("offline edits on both devices reconcile, and nothing is lost", async () => {
    const own = await startRelay();
    try {
      const me = Identity.generate();
      const phone = await device(me, own.url);
      const laptop = await device(me, own.url);
      const shared = await phone.personal.notes.add("plan v1", { kind: "safety_plan" });
      const gone = await phone.personal.notes.add("to be removed");
      await laptop.personal.sync();
      expect((await laptop.personal.notes.list()).length).toBe(2);

      await own.stop(); // both devices offline
      await phone.personal.notes.add("phone, offline");
      await laptop.personal.notes.add("laptop, offline");
      await phone.personal.notes.edit(shared, { text: "plan v2 (phone)" });
      await laptop.personal.notes.edit(shared, { text: "plan v2 (laptop)" });
      await phone.personal.notes.remove(gone);
      await laptop.personal.notes.edit(gone, { text: "edited on the laptop" });
      await phone.personal.settings.set("reminders", true);
      await laptop.personal.settings.set("theme", "light");

      await own.start();
      await phone.personal.sync();
      await laptop.personal.sync(); // conflicts: merges, then pushes
      await phone.personal.sync();
      const onPhone = await phone.personal.notes.list();
      expect(onPhone).toEqual(await laptop.personal.notes.list());
      // Nothing lost: both new notes, both concurrent edits (one kept as a conflict
      // copy), and the note edited on one device while removed on the other.
      expect(onPhone.map((n) => n.text).sort()).toEqual(
        ["phone, offline", "laptop, offline", "plan v2 (phone)", "plan v2 (laptop)", "edited on the laptop"].sort(),
      );
      expect(onPhone.filter((n) => n.conflictOf !== null).map((n) => n.conflictOf)).toEqual([shared]);
      expect(await phone.personal.settings.all()).toEqual({ reminders: true, theme: "light" });
      expect(await laptop.personal.settings.all()).toEqual({ reminders: true, theme: "light" });
    } finally {
      await own.dispose();
    }
  });

  test("a full personal store is a typed error, and the change stays on the device", async () => {
    const small = await startRelay({ env: { HEARTH_PERSONAL_MAX_BYTES: "2000" } });
    try {
      const d = await device(Identity.generate(), small.url);
      const full = await d.personal.notes.add("x".repeat(5000)).catch((e: unknown) => e);
      expect(full).toBeInstanceOf(RelayError);
      expect((full as RelayError).code).toBe("personal.quota");
      expect((await d.personal.notes.list()).map((n) => n.text.length)).toEqual([5000]);
    } finally {
      await small.dispose();
    }
  });
});
