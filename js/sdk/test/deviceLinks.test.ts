/**
 * Linking a device (mirrors the link half of tests/client_sdk/test_devices.py, at the
 * level of the link itself: the client's rooms come with the client). Both screens
 * show the same short code, only a confirmation moves the root, a refusal or an
 * intruder moves nothing, and every failure has Python's code. A Python device offers
 * a link this SDK finishes, and the reverse: both end with the same root.
 */

import { afterAll, beforeAll, describe, expect, test } from "vitest";

import { cryptoReady } from "../src/crypto.js";
import { beginDeviceLink, type DeviceLink, offerDeviceLink } from "../src/deviceLinks.js";
import { LinkError } from "../src/errors.js";
import { Identity } from "../src/identity.js";
import { LinkCode, type LinkRoom, PersonalKeys, sealAnswer } from "../src/personal.js";
import { PersonalSync } from "../src/personalSync.js";
import { RelayError } from "../src/sdkErrors.js";
import { signIn } from "../src/sessions.js";
import { MemoryBackend } from "../src/storage/memory.js";
import { Store } from "../src/store.js";
import { Transport } from "../src/transport.js";
import { PythonScript } from "./python.js";
import { type RelayProcess, startRelay } from "./relay.js";

let relay: RelayProcess;

beforeAll(async () => {
  await cryptoReady();
  relay = await startRelay();
});

afterAll(async () => {
  await relay?.dispose();
});

const ROOMS: LinkRoom[] = [
  { room: "b".repeat(32), verified: { index: 3, head: new Uint8Array(32).fill(7) } },
  { room: "a".repeat(32), verified: null },
];

async function offer(identity: Identity, rooms: LinkRoom[] = ROOMS): Promise<DeviceLink> {
  const store = await Store.open(new MemoryBackend(), identity.storeKey());
  const transport = new Transport(relay.url, { timeout: 5 });
  const personal = new PersonalSync(identity.personalKeys(), store, transport, { emit: () => undefined, roomsListed: () => undefined });
  return offerDeviceLink({ personal, transport, identity, rooms: () => rooms });
}

const opened = (identity: Identity, rooms: LinkRoom[]) => ({ identity, rooms });

async function code(promise: Promise<unknown>): Promise<string> {
  const failure = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(failure instanceof LinkError) && !(failure instanceof RelayError)) throw new Error(`expected a link failure, got ${String(failure)}`);
  return failure.code;
}

describe("device links", () => {
  test("both screens show one short code, and confirming moves the root and the rooms", async () => {
    const me = Identity.generate();
    const link = await offer(me);
    expect(link.code).toMatch(/^HL2(-[0-9A-Z]{4}){10}$/);
    expect(String(link)).not.toContain(link.code.slice(4, 12));
    await expect(code(link.confirm())).resolves.toBe("link.no_claimant");
    const pending = await beginDeviceLink(relay.url, link.code.toLowerCase().replace(/-/g, " "), opened);
    expect(pending.shortCode).toMatch(/^\d{3} \d{3}$/);
    expect(await link.claimantCode({ timeout: 10 })).toBe(pending.shortCode);
    await link.confirm();
    await expect(code(link.refuse())).resolves.toBe("link.closed");
    const linked = await pending.finish({ timeout: 10 });
    expect(linked.identity.equals(me)).toBe(true);
    expect(linked.rooms.map((r) => r.room)).toEqual(["a".repeat(32), "b".repeat(32)]);
    expect(linked.rooms[1]!.verified?.index).toBe(3);
    // The code is spent.
    await expect(code(beginDeviceLink(relay.url, link.code, opened))).resolves.toBe("link.used");
  });

  test("a refusal moves nothing", async () => {
    const link = await offer(Identity.generate());
    const pending = await beginDeviceLink(relay.url, link.code, opened);
    await link.claimantCode({ timeout: 10 });
    await link.refuse();
    await expect(code(link.confirm())).resolves.toBe("link.closed");
    await expect(code(pending.finish({ timeout: 10 }))).resolves.toBe("link.refused");
  });

  test("an intruder who answers first is shown on the old device, and the real device hears link.taken", async () => {
    const link = await offer(Identity.generate());
    const parsed = LinkCode.parse(link.code);
    const intruder = new Transport(relay.url);
    const session = await signIn(intruder, PersonalKeys.derive(new Uint8Array(32).fill(9)));
    await intruder.offerLink(session.token, { id: parsed.answerRendezvous, box: sealAnswer(parsed, { type: "link.answer", box_key: new Uint8Array(32).fill(5) }) });
    await expect(code(beginDeviceLink(relay.url, link.code, opened))).resolves.toBe("link.taken");
    const shown = await link.claimantCode({ timeout: 10 });
    expect(shown).toMatch(/^\d{3} \d{3}$/);
    await link.refuse();
  });

  test("codes that cannot be used fail with Python's codes", async () => {
    const link = await offer(Identity.generate());
    const typo = link.code.slice(0, -1) + (link.code.endsWith("0") ? "1" : "0");
    await expect(code(beginDeviceLink(relay.url, typo, opened))).resolves.toBe("link.bad_code");
    await expect(code(beginDeviceLink(relay.url, "HL1-" + link.code.slice(4), opened))).resolves.toBe("link.version");
    await expect(code(beginDeviceLink(relay.url, LinkCode.generate().text, opened))).resolves.toBe("link.not_found");
    // Nobody answers: the old device gives up at its timeout.
    await expect(code(link.claimantCode({ timeout: 0.5 }))).resolves.toBe("link.expired");
  });

  test("three codes wait at most: the fourth offer is link.too_many", async () => {
    const me = Identity.generate();
    const store = await Store.open(new MemoryBackend(), me.storeKey());
    const transport = new Transport(relay.url, { timeout: 5 });
    const personal = new PersonalSync(me.personalKeys(), store, transport, { emit: () => undefined, roomsListed: () => undefined });
    for (let i = 0; i < 3; i++) await offerDeviceLink({ personal, transport, identity: me, rooms: () => [] });
    await expect(code(offerDeviceLink({ personal, transport, identity: me, rooms: () => [] }))).resolves.toBe("link.too_many");
  });
});

const PY_OFFER = `
import asyncio, os, tempfile
from client_sdk import HearthClient, Identity
async def main():
    me = Identity.generate()
    path = os.path.join(tempfile.mkdtemp(), 'phone.db')
    async with HearthClient(data['url'], me, store_path=path, live=False) as phone:
        room = await phone.create_group('Shared circle')
        link = await phone.offer_device_link()
        print(json.dumps({'code': link.code, 'phrase': me.recovery_phrase, 'room': room.id}), flush=True)
        digits = await link.claimant_code(timeout=30)
        print(json.dumps({'digits': digits}), flush=True)
        verdict = (await asyncio.to_thread(sys.stdin.readline)).strip()
        await (link.confirm() if verdict == 'confirm' else link.refuse())
        print(json.dumps({'done': verdict}), flush=True)
asyncio.run(main())
`;

const PY_BEGIN = `
import asyncio, os, tempfile
from client_sdk import HearthClient, LinkError
async def main():
    path = os.path.join(tempfile.mkdtemp(), 'laptop.db')
    pending = await HearthClient.begin_device_link(data['url'], data['code'], store_path=path, live=False)
    print(json.dumps({'digits': pending.short_code}), flush=True)
    try:
        laptop = await pending.finish(timeout=30)
    except LinkError as exc:
        print(json.dumps({'error': exc.code}), flush=True)
        return
    print(json.dumps({'phrase': laptop.identity.recovery_phrase}), flush=True)
asyncio.run(main())
`;

describe("device links across languages", () => {
  test("a Python device offers, this SDK begins and finishes with the same root and rooms", async () => {
    const phone = new PythonScript(PY_OFFER, { url: relay.url });
    const offered = await phone.next<{ code: string; phrase: string; room: string }>();
    const pending = await beginDeviceLink(relay.url, offered.code, opened);
    expect((await phone.next<{ digits: string }>()).digits).toBe(pending.shortCode);
    phone.send("confirm");
    expect(await phone.next()).toEqual({ done: "confirm" });
    const linked = await pending.finish({ timeout: 10 });
    expect(linked.identity.recoveryPhrase).toBe(offered.phrase);
    expect(linked.rooms.map((r) => r.room)).toEqual([offered.room]);
    expect(linked.rooms[0]!.verified?.index).toBeGreaterThanOrEqual(0);
    expect(await phone.done()).toBe(0);
  });

  test("a Python device that refuses sends this SDK link.refused", async () => {
    const phone = new PythonScript(PY_OFFER, { url: relay.url });
    const offered = await phone.next<{ code: string }>();
    const pending = await beginDeviceLink(relay.url, offered.code, opened);
    await phone.next();
    phone.send("refuse");
    await phone.next();
    await expect(code(pending.finish({ timeout: 10 }))).resolves.toBe("link.refused");
    await phone.done();
  });

  test("this SDK offers, a Python device begins and finishes with the same root", async () => {
    const me = Identity.generate();
    const link = await offer(me);
    const laptop = new PythonScript(PY_BEGIN, { url: relay.url, code: link.code });
    const { digits } = await laptop.next<{ digits: string }>();
    expect(await link.claimantCode({ timeout: 20 })).toBe(digits);
    await link.confirm();
    expect(await laptop.next()).toEqual({ phrase: me.recoveryPhrase });
    expect(await laptop.done()).toBe(0);
  });

  test("this SDK refuses, and the Python device hears link.refused", async () => {
    const link = await offer(Identity.generate());
    const laptop = new PythonScript(PY_BEGIN, { url: relay.url, code: link.code });
    await laptop.next();
    await link.claimantCode({ timeout: 20 });
    await link.refuse();
    expect(await laptop.next()).toEqual({ error: "link.refused" });
    await laptop.done();
  });
});
