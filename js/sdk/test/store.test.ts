/**
 * The encrypted local store, one suite over each backend (memory, IndexedDB, file):
 * every public behaviour of `client_sdk/_store.py`'s port, a thief reading the raw
 * bytes, another identity's key, another format, and values moved between rows.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { ascii, b64url, b64urlDecode, concat, fromHex, hex, toBase64, utf8 } from "../src/bytes.js";
import { cryptoReady, randomBytes } from "../src/crypto.js";
import { Identity } from "../src/identity.js";
import type { StorageBackend } from "../src/storage/backend.js";
import { FORMAT, type OutboxEntry, Store, StoreError, type StoredMessage, storedMessage } from "../src/store.js";
import { canonical, decodeJson } from "../src/wire/codec.js";
import type { SignedOp } from "../src/wire/schema.gen.js";
import { HARNESSES, type Harness } from "./backends.js";
import { vectors } from "./vectors.js";

beforeAll(() => cryptoReady());

const log = vectors("logs_valid").logs[0];
const OPS: SignedOp[] = log.ops.map((o: any) => decodeJson<SignedOp>("SignedOp", o.json));
const ROOM: string = log.state.room;
const MEMBERS: string[] = log.state.members.map((m: any) => m.id);
const SECRETS = new Map<number, Uint8Array>(Object.entries(log.epoch_secrets as Record<string, string>).map(([e, s]) => [Number(e), fromHex(s)]));
const OTHER_ROOM = b64url(new Uint8Array(24).fill(7));
const ALICE = MEMBERS[0]!;
const BOB = MEMBERS[1]!;

function msg(id: string, seq: number, fields: Partial<StoredMessage> = {}): StoredMessage {
  return storedMessage({
    room: ROOM,
    id,
    seq,
    sender: ALICE,
    text: `message ${id}`,
    contentWarning: null,
    replyTo: null,
    sentAt: 1_000 + seq,
    ts: 2_000 + seq,
    edited: false,
    mine: true,
    ...fields,
  });
}

const mid = (n: number) => b64url(Uint8Array.from({ length: 16 }, (_, i) => (n * 31 + i) & 0xff));
const snap = (text: string) => utf8(`snapshot: ${text}`);

describe.each(HARNESSES)("the store on the %s backend", (_name, make) => {
  let harness: Harness;
  let key: Uint8Array;
  let store: Store;

  const reopen = async (withKey: Uint8Array = key): Promise<Store> => {
    await store.close();
    store = await Store.open(await harness.open(), withKey);
    return store;
  };

  beforeEach(async () => {
    harness = await make();
    key = Identity.generate().storeKey();
    store = await Store.open(await harness.open(), key);
  });
  afterEach(async () => {
    await store.close();
    await harness.cleanup();
  });

  it("keeps this device's secret across opens", async () => {
    const device = store.device;
    expect(device.length).toBe(16);
    await reopen();
    expect(hex(store.device)).toBe(hex(device));
  });

  it("saves and loads a room: log, epoch secrets and snapshot", async () => {
    const ops = OPS.map((op, i) => [i, op] as const);
    expect(await store.saveRoom(ROOM, snap("one"), { ops: ops.slice(0, 4), secrets: new Map([[1, SECRETS.get(1)!]]) })).toEqual([]);
    await store.saveRoom(ROOM, snap("two"), { ops, secrets: SECRETS });
    await reopen();
    const room = await store.loadRoom(ROOM);
    expect(room.ops.map((op) => hex(canonical("SignedOp", op)))).toEqual(log.ops.map((o: any) => o.canonical));
    expect([...room.secrets].map(([e, s]) => [e, hex(s)])).toEqual([...SECRETS].map(([e, s]) => [e, hex(s)]));
    expect(room.snapshot).toEqual(snap("two"));
  });

  it("keeps the first operation and secret stored at an index (insert or ignore)", async () => {
    await store.saveRoom(ROOM, snap("a"), { ops: [[0, OPS[0]!]], secrets: [[1, new Uint8Array(32).fill(1)]] });
    await store.saveRoom(ROOM, snap("a"), { ops: [[0, OPS[1]!]], secrets: [[1, new Uint8Array(32).fill(2)]] });
    const room = await store.loadRoom(ROOM);
    expect(hex(canonical("SignedOp", room.ops[0]!))).toBe(log.ops[0].canonical);
    expect(room.secrets.get(1)).toEqual(new Uint8Array(32).fill(1));
  });

  it("lists rooms oldest first, and refuses to load a room it does not hold", async () => {
    await store.saveRoom(OTHER_ROOM, snap("x"), { now: 20 });
    await store.saveRoom(ROOM, snap("y"), { now: 10 });
    await store.saveRoom(OTHER_ROOM, snap("x2"), { now: 5 }); // an update keeps its first time
    expect(await store.roomIds()).toEqual([ROOM, OTHER_ROOM]);
    const missing = b64url(new Uint8Array(24).fill(9));
    await expect(store.loadRoom(missing)).rejects.toMatchObject({ code: "store.corrupt" });
  });

  it("stores messages once: a copy is new only the first time, replaces only as an update", async () => {
    const [a, b, c] = [mid(1), mid(2), mid(3)];
    expect(await store.saveRoom(ROOM, snap("s"), { messages: [msg(a, 1), msg(b, 2)] })).toEqual([a, b]);
    expect(await store.saveRoom(ROOM, snap("s"), { messages: [msg(a, 1, { text: "again" }), msg(c, 3)] })).toEqual([c]);
    expect((await store.message(ROOM, a))!.text).toBe(`message ${a}`);
    const edit = msg(a, 1, { text: "edited", edited: true, editedSeq: 7, update: true, reactions: [["👍", BOB]] });
    expect(await store.saveRoom(ROOM, snap("s"), { messages: [edit] })).toEqual([]);
    const got = (await store.message(ROOM, a))!;
    expect(got).toEqual({ ...msg(a, 1), text: "edited", edited: true, editedSeq: 7, reactions: [["👍", BOB]] });
    expect(got.update).toBeUndefined();
    expect(await store.message(ROOM, mid(99))).toBeNull();
    expect(await store.message(OTHER_ROOM, a)).toBeNull();
  });

  it("applies an insert, its update and a deletion in one batch in that order", async () => {
    const [a, b] = [mid(1), mid(2)];
    const batch = [msg(a, 1), msg(a, 1, { text: "updated", update: true }), msg(b, 2)];
    expect(await store.saveRoom(ROOM, snap("s"), { messages: batch, deleted: [b] })).toEqual([a, b]);
    expect((await store.message(ROOM, a))!.text).toBe("updated");
    expect(await store.message(ROOM, b)).toBeNull();
    await store.saveRoom(ROOM, snap("s"), { deleted: [a, mid(3)] });
    expect(await store.messages(ROOM, { limit: 10 })).toEqual([]);
  });

  it("pages messages newest first, returned oldest first, skipping blocked senders", async () => {
    const all = Array.from({ length: 30 }, (_, i) => msg(mid(i), i + 1, { sender: i % 3 === 0 ? BOB : ALICE }));
    await store.saveRoom(ROOM, snap("s"), { messages: all.slice(0, 17) });
    await store.saveRoom(ROOM, snap("s"), { messages: all.slice(17).reverse() });
    await store.saveRoom(OTHER_ROOM, snap("o"), { messages: [msg(mid(100), 5, { room: OTHER_ROOM })] });
    const seqs = (ms: StoredMessage[]) => ms.map((m) => m.seq);
    expect(seqs(await store.messages(ROOM, { limit: 5 }))).toEqual([26, 27, 28, 29, 30]);
    expect(seqs(await store.messages(ROOM, { limit: 3, beforeSeq: 26 }))).toEqual([23, 24, 25]);
    expect(seqs(await store.messages(ROOM, { limit: 100, beforeSeq: 4 }))).toEqual([1, 2, 3]);
    expect(seqs(await store.messages(ROOM, { limit: 4, without: [BOB] }))).toEqual([26, 27, 29, 30]);
    expect(seqs(await store.messages(ROOM, { limit: 3, beforeSeq: 8, without: [BOB, ALICE] }))).toEqual([]);
    expect(seqs(await store.messages(ROOM, { limit: 0 }))).toEqual([]);
    expect((await store.messages(OTHER_ROOM, { limit: 5 })).map((m) => m.room)).toEqual([OTHER_ROOM]);
    expect(await store.messages(ROOM, { limit: 1 })).toEqual([all[29]]);
  });

  it("updates a stored message (a reveal), and leaves a missing one missing", async () => {
    const a = mid(1);
    await store.saveRoom(ROOM, snap("s"), { messages: [msg(a, 1, { contentWarning: "grief" })] });
    await store.updateMessage({ ...(await store.message(ROOM, a))!, revealed: true });
    expect((await store.message(ROOM, a))!.revealed).toBe(true);
    await store.updateMessage(msg(mid(2), 2));
    expect(await store.message(ROOM, mid(2))).toBeNull();
  });

  it("purges by the relay's time, returning the ids by sequence number", async () => {
    // ts out of seq order: the purge selects by time and reports in sequence order.
    const ms = [msg(mid(1), 1, { ts: 500 }), msg(mid(2), 2, { ts: 100 }), msg(mid(3), 3, { ts: 300 }), msg(mid(4), 4, { ts: 900 })];
    await store.saveRoom(ROOM, snap("s"), { messages: ms });
    await store.saveRoom(OTHER_ROOM, snap("o"), { messages: [msg(mid(5), 1, { room: OTHER_ROOM, ts: 1 })] });
    expect(await store.purgeMessages(ROOM, { beforeTs: 600 })).toEqual([mid(1), mid(2), mid(3)]);
    expect(await store.purgeMessages(ROOM, { beforeTs: 600 })).toEqual([]);
    expect((await store.messages(ROOM, { limit: 10 })).map((m) => m.id)).toEqual([mid(4)]);
    expect(await store.message(ROOM, mid(1))).toBeNull();
    expect(await store.messages(OTHER_ROOM, { limit: 10 })).toHaveLength(1);
    // A purged id may arrive again (history), and is new again.
    expect(await store.saveRoom(ROOM, snap("s"), { messages: [ms[0]!] })).toEqual([mid(1)]);
  });

  it("keeps the outbox in sending order, per room, through replace, fail and done", async () => {
    const entry = (n: number, room = ROOM) => ({ id: mid(n), plaintext: utf8(`plain ${n}`), envelope: utf8(`envelope ${n}`), room });
    await store.saveRoom(ROOM, snap("s"), { outboxAdd: entry(1) });
    await store.saveRoom(OTHER_ROOM, snap("o"), { outboxAdd: entry(2, OTHER_ROOM) });
    await store.saveRoom(ROOM, snap("s"), { outboxAdd: entry(3) });
    const view = (es: OutboxEntry[]) => es.map((e) => [e.room, e.id, new TextDecoder().decode(e.plaintext), new TextDecoder().decode(e.envelope), e.failed]);
    expect(view(await store.outbox())).toEqual([
      [ROOM, mid(1), "plain 1", "envelope 1", null],
      [OTHER_ROOM, mid(2), "plain 2", "envelope 2", null],
      [ROOM, mid(3), "plain 3", "envelope 3", null],
    ]);
    expect((await store.outbox(OTHER_ROOM)).map((e) => e.id)).toEqual([mid(2)]);
    await store.outboxReplace(mid(1), utf8("resealed"));
    await store.outboxFail(mid(3), "msg.too_large");
    await store.outboxReplace(mid(9), utf8("nothing")); // not queued: nothing happens
    await reopen();
    expect(view(await store.outbox(ROOM))).toEqual([
      [ROOM, mid(1), "plain 1", "resealed", null],
      [ROOM, mid(3), "plain 3", "envelope 3", "msg.too_large"],
    ]);
    await store.saveRoom(ROOM, snap("s"), { outboxDone: [mid(1), mid(2), mid(8)] });
    expect((await store.outbox()).map((e) => e.id)).toEqual([mid(3)]);
    await store.saveRoom(ROOM, snap("s"), { outboxAdd: entry(4) });
    expect((await store.outbox()).map((e) => e.id)).toEqual([mid(3), mid(4)]);
  });

  it("refuses a message id already in the outbox, and then writes nothing of the batch", async () => {
    const e = { id: mid(1), plaintext: utf8("p"), envelope: utf8("e") };
    await store.saveRoom(ROOM, snap("first"), { outboxAdd: e });
    const again = store.saveRoom(ROOM, snap("second"), { outboxAdd: e, messages: [msg(mid(2), 2)] });
    await expect(again).rejects.toBeInstanceOf(StoreError);
    await expect(again).rejects.toMatchObject({ code: "store.io" });
    expect((await store.loadRoom(ROOM)).snapshot).toEqual(snap("first"));
    expect(await store.message(ROOM, mid(2))).toBeNull();
    expect(await store.outbox()).toHaveLength(1);
  });

  it("keeps personal documents and device settings", async () => {
    expect(await store.personalLoad("rooms")).toBeNull();
    await store.personalSave("rooms", { version: 3, base: utf8("base"), local: utf8("local"), dirty: true });
    await store.personalSave("blocks", { version: 0, base: new Uint8Array(0), local: utf8("x"), dirty: false });
    expect(await store.deviceSetting("draft_check")).toBeNull();
    await store.putDeviceSetting("draft_check", Uint8Array.from([1]));
    await reopen();
    expect(await store.personalLoad("rooms")).toEqual({ version: 3, base: utf8("base"), local: utf8("local"), dirty: true });
    expect(await store.personalLoad("blocks")).toEqual({ version: 0, base: new Uint8Array(0), local: utf8("x"), dirty: false });
    expect(await store.deviceSetting("draft_check")).toEqual(Uint8Array.from([1]));
    await store.putDeviceSetting("draft_check", Uint8Array.from([0]));
    expect(await store.deviceSetting("draft_check")).toEqual(Uint8Array.from([0]));
  });

  it("counts a message new once when two batches race with it", async () => {
    const a = mid(1);
    const results = await Promise.all([
      store.saveRoom(ROOM, snap("1"), { messages: [msg(a, 1)] }),
      store.saveRoom(ROOM, snap("2"), { messages: [msg(a, 1)] }),
      store.messages(ROOM, { limit: 5 }),
    ]);
    expect(results[0]).toEqual([a]);
    expect(results[1]).toEqual([]);
  });

  it("refuses another identity's key (store.wrong_identity) and changes nothing", async () => {
    await store.saveRoom(ROOM, snap("s"), { messages: [msg(mid(1), 1)] });
    await store.close();
    const before = await harness.raw();
    await expect(Store.open(await harness.open(), Identity.generate().storeKey())).rejects.toMatchObject({
      code: "store.wrong_identity",
    });
    expect(hex(await harness.raw())).toBe(hex(before));
    store = await Store.open(await harness.open(), key);
    expect(await store.roomIds()).toEqual([ROOM]);
  });

  it("refuses a store of another format (store.version) before writing anything", async () => {
    await store.close();
    const backend = await harness.open();
    await backend.write([{ op: "put", table: "meta", key: ascii("format"), value: ascii(String(FORMAT + 1)) }]);
    await backend.close();
    const before = await harness.raw();
    const opened = Store.open(await harness.open(), key);
    await expect(opened).rejects.toMatchObject({ code: "store.version" });
    await expect(opened).rejects.toThrow(`format ${FORMAT + 1}`);
    expect(hex(await harness.raw())).toBe(hex(before));
    // Without a format but with a check value: not this format either.
    const again = await harness.open();
    await again.write([{ op: "delete", table: "meta", key: ascii("format") }]);
    await again.close();
    await expect(Store.open(await harness.open(), key)).rejects.toMatchObject({ code: "store.version" });
  });

  it("refuses a value moved to another row (store.corrupt)", async () => {
    await store.saveRoom(ROOM, snap("mine"), { messages: [msg(mid(1), 1), msg(mid(2), 2)], secrets: SECRETS });
    await store.saveRoom(OTHER_ROOM, snap("other"));
    await store.close();
    const backend = await harness.open();
    const swap = async (table: string, a: Uint8Array, b: Uint8Array) => {
      const [va, vb] = await backend.getMany(table, [a, b]);
      await backend.write([
        { op: "put", table, key: a, value: vb! },
        { op: "put", table, key: b, value: va! },
      ]);
    };
    const messages = await backend.scan("messages");
    expect(messages).toHaveLength(2);
    await swap("messages", messages[0]![0], messages[1]![0]);
    const rooms = await backend.scan("rooms");
    await swap("rooms", rooms[0]![0], rooms[1]![0]);
    const secrets = await backend.scan("secrets");
    await backend.write([{ op: "put", table: "secrets", key: secrets[0]![0], value: secrets[1]![1] }]);
    await backend.close();
    store = await Store.open(await harness.open(), key);
    await expect(store.message(ROOM, mid(1))).rejects.toMatchObject({ code: "store.corrupt" });
    await expect(store.messages(ROOM, { limit: 10 })).rejects.toMatchObject({ code: "store.corrupt" });
    await expect(store.loadRoom(ROOM)).rejects.toMatchObject({ code: "store.corrupt" });
    await expect(store.loadRoom(OTHER_ROOM)).rejects.toMatchObject({ code: "store.corrupt" });
  });

  it("gives a thief reading every byte no room id, member id, message id, secret, operation or word", async () => {
    const words = [
      "my sponsor Marguerite picked up at 3am",
      "the clinic on Rue Oberkampf",
      "forty-one days without a drink",
      "I told my manager Dieter about the panic attacks",
      "queued while the relay was down: Hollowbrook",
      "Recovery circle rules: no names outside",
    ];
    const ids = Array.from({ length: 6 }, (_, i) => mid(i + 40));
    const messages = words.slice(0, 4).map((text, i) =>
      msg(ids[i]!, i + 1, { text, sender: MEMBERS[i % MEMBERS.length]!, replyTo: i > 0 ? ids[0]! : null, contentWarning: i === 3 ? words[5]! : null }),
    );
    messages.push(msg(ids[4]!, 9, { text: "reaction", reactions: MEMBERS.map((m) => ["🫶", m] as const), update: false }));
    const envelope = randomBytes(200);
    await store.saveRoom(ROOM, utf8(`snapshot naming ${ROOM} and ${words[5]}`), {
      ops: OPS.map((op, i) => [i, op] as const),
      secrets: SECRETS,
      messages,
      outboxAdd: { id: ids[5]!, plaintext: utf8(words[4]!), envelope },
      now: 1,
    });
    await store.saveRoom(OTHER_ROOM, snap(OTHER_ROOM), { messages: [msg(mid(77), 1, { room: OTHER_ROOM, text: words[2]! })], now: 2 });
    await store.personalSave("rooms", { version: 1, base: utf8(ROOM), local: utf8(`${ROOM} ${OTHER_ROOM}`), dirty: true });
    await store.putDeviceSetting("draft_check", utf8(words[1]!));

    const checks = async (loot: Uint8Array): Promise<string[]> => {
      const haystack = Buffer.from(loot);
      const has = (needle: Uint8Array) => needle.length > 0 && haystack.includes(Buffer.from(needle));
      const forms = (v: string | Uint8Array): Uint8Array[] => {
        if (typeof v !== "string") return [v, ascii(hex(v)), ascii(toBase64(v)), ascii(b64url(v))];
        const out = [utf8(v), Buffer.from(v, "utf16le"), Buffer.from(v, "utf16le").swap16()];
        try {
          const raw = b64urlDecode(v);
          if (raw.length >= 12) out.push(raw, ascii(hex(raw)), ascii(toBase64(raw)));
        } catch {
          // not an id
        }
        return out;
      };
      const found: string[] = [];
      for (const v of [ROOM, OTHER_ROOM, ...MEMBERS, ...ids, mid(77), ...words]) if (forms(v).some(has)) found.push(v);
      for (const [e, s] of SECRETS) if (forms(s).some(has)) found.push(`secret ${e}`);
      for (const op of OPS) {
        if (has(canonical("SignedOp", op)) || forms(op.sig).some(has)) found.push(`op ${op.content.index}`);
      }
      if (forms(envelope).some(has)) found.push("outbox envelope");
      return found;
    };

    // The search finds each kind of thing where it is there.
    expect(await checks(concat(utf8(`x${words[0]}x`), b64urlDecode(MEMBERS[1]!), ascii(hex(SECRETS.get(2)!)), OPS[3]!.sig))).toEqual([
      MEMBERS[1],
      words[0],
      "secret 2",
      "op 3",
    ]);

    const whileOpen = await harness.raw();
    await store.close();
    const afterClose = await harness.raw();
    for (const loot of [whileOpen, afterClose]) {
      expect(loot.length).toBeGreaterThan(5_000);
      expect(await checks(loot)).toEqual([]);
    }
    // Nor does it get them by concatenating what it read (ids split across values).
    expect(await checks(concat(whileOpen, afterClose))).toEqual([]);

    // With the key, everything is there.
    store = await Store.open(await harness.open(), key);
    expect(await store.roomIds()).toEqual([ROOM, OTHER_ROOM]);
    expect((await store.messages(ROOM, { limit: 10 })).map((m) => m.text)).toEqual([...words.slice(0, 4), "reaction"]);
    expect((await store.outbox())[0]!.envelope).toEqual(envelope);
  });
});

describe("two tabs on one IndexedDB database", () => {
  it("each queue a message in the same instant, and both are kept", async () => {
    const harness = await HARNESSES.find(([name]) => name === "indexeddb")![1]();
    const key = Identity.generate().storeKey();
    const first = await Store.open(await harness.open(), key);
    const second = await Store.open(await harness.open(), key);
    await Promise.all([
      first.saveRoom(ROOM, snap("1"), { outboxAdd: { id: mid(1), plaintext: utf8("from tab 1"), envelope: utf8("e1") } }),
      second.saveRoom(ROOM, snap("2"), { outboxAdd: { id: mid(2), plaintext: utf8("from tab 2"), envelope: utf8("e2") } }),
    ]);
    expect((await first.outbox()).map((e) => e.id).sort()).toEqual([mid(1), mid(2)].sort());
    await second.saveRoom(ROOM, snap("2"), { outboxDone: [mid(1)] });
    expect((await first.outbox()).map((e) => e.id)).toEqual([mid(2)]);
    await first.close();
    await second.close();
  });
});
