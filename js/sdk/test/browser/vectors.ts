// What the Chromium test runs inside a real browser page (bundled by esbuild for
// the browser, as a front end's bundler would): the SDK's crypto, codec, keys,
// envelopes and log verifier against the JSON vectors, and the encrypted store on
// the browser's own IndexedDB. It reports on `window.__hearth`.
import keys from "../../../../tests/vectors/keys.json" with { type: "json" };
import messages from "../../../../tests/vectors/messages.json" with { type: "json" };
import logs from "../../../../tests/vectors/logs_valid.json" with { type: "json" };

import {
  cryptoReady,
  decodeJson,
  fromHex,
  hex,
  openMessage,
  RoomLog,
  RootSeed,
} from "../../src/index.js";
import { IndexedDBBackend } from "../../src/storage/indexeddb.js";
import { Store } from "../../src/store.js";

type Report = { ok: boolean; checks: number; failures: string[]; userAgent: string };

async function run(): Promise<Report> {
  const failures: string[] = [];
  let checks = 0;
  const expect = (what: string, got: unknown, want: unknown) => {
    checks++;
    if (got !== want) failures.push(`${what}: got ${String(got)}, want ${String(want)}`);
  };
  await cryptoReady();
  for (const v of keys.vectors) {
    const root = new RootSeed(fromHex(v.root_seed));
    expect("phrase", root.phrase, v.phrase);
    for (const r of v.rooms) {
      const k = root.roomKeys(r.room);
      expect("member", k.member, r.member);
      expect("binding", hex(k.binding()), r.binding_signature);
    }
  }
  for (const m of messages.vectors) {
    const plaintext = openMessage(decodeJson("Envelope", m.envelope), { epochSecret: fromHex(m.epoch_secret) });
    expect("plaintext", JSON.stringify((plaintext.body as { text?: string }).text), JSON.stringify((m.plaintext as { body: { text?: string } }).body.text));
  }
  for (const l of logs.logs) {
    const log = RoomLog.fromOps(l.ops.map((op: { json: unknown }) => decodeJson("SignedOp", op.json)));
    expect(`${l.name} head`, hex(log.head), l.state.head);
    expect(`${l.name} epoch`, log.epoch, l.state.epoch);
  }
  // The encrypted store on this browser's IndexedDB, closed and opened again.
  const key = new Uint8Array(32).fill(7);
  const name = `hearth-test-${Math.random().toString(36).slice(2)}`;
  let store = await Store.open(await IndexedDBBackend.open(name), key);
  await store.putDeviceSetting("draft_check", new TextEncoder().encode("on"));
  const device = hex(store.device);
  await store.close();
  store = await Store.open(await IndexedDBBackend.open(name), key);
  expect("store device", hex(store.device), device);
  expect("store setting", new TextDecoder().decode((await store.deviceSetting("draft_check")) ?? new Uint8Array()), "on");
  await store.close();
  return { ok: failures.length === 0, checks, failures, userAgent: navigator.userAgent };
}

const w = window as unknown as { __hearth?: Report | { ok: false; error: string } };
run().then(
  (report) => (w.__hearth = report),
  (error: unknown) => (w.__hearth = { ok: false, error: String((error as Error)?.stack ?? error) }),
);
