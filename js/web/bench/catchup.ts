/**
 * The page of bench/web.py's catch-up: a person's browser tab on the relay's own
 * origin (as the web app is served), the SDK bundled for the browser from its
 * source, its store in this profile's IndexedDB. Two visits, told apart by the
 * fragment:
 *
 * - `#join=LINK`: a new identity (its recovery phrase kept in localStorage, as an
 *   app keeps who you are) joins the group, then the client closes;
 * - `#sync=ROOM`: the same identity opens the same store without a live stream,
 *   runs one `sync()` and reads every message of the room back, as
 *   js/sdk/bench/catchup.mjs does in Node.
 *
 * Times are `performance.now()`: milliseconds since this page's navigation started.
 * The page puts its result on `window.__bench` and keeps the client and the messages
 * it read alive until `window.__benchClose()`, so that the heap measured after it
 * holds what an app holding the conversation would.
 */

import { HearthClient, Identity, IndexedDBBackend, type Message } from "@hearth/sdk";

const STORE = "hearth-bench";
const PHRASE = "hearth-bench-phrase";

interface BenchWindow {
  __bench?: unknown;
  __benchClose?: () => Promise<void>;
  __benchKeep?: readonly Message[];
}

const win = window as unknown as BenchWindow;

async function run(): Promise<unknown> {
  const script = performance.now();
  const params = new URLSearchParams(location.hash.slice(1));
  const stored = localStorage.getItem(PHRASE);
  const identity = stored === null ? Identity.generate() : Identity.fromRecoveryPhrase(stored);
  if (stored === null) localStorage.setItem(PHRASE, identity.recoveryPhrase);
  const client = await HearthClient.open({
    relay: location.origin,
    identity,
    store: await IndexedDBBackend.open(STORE),
    live: false,
  });
  const opened = performance.now();
  const link = params.get("join");
  if (link !== null) {
    const room = await client.join(link);
    await client.close();
    return { room: room.id };
  }
  const id = params.get("sync");
  if (id === null) throw new Error("the page needs #join=LINK or #sync=ROOM");
  await client.sync();
  const synced = performance.now();
  const room = client.room(id);
  const messages = await room.messages({ limit: 1_000_000 });
  const read = performance.now();
  win.__benchKeep = messages;
  win.__benchClose = () => client.close();
  return { script, opened, synced, read, messages: messages.length, alarms: room.alarms.length };
}

run().then(
  (result) => {
    win.__bench = result;
  },
  (exc: unknown) => {
    const err = exc as { name?: string; message?: string; code?: string };
    win.__bench = { error: `${err.name ?? "Error"}: ${err.message ?? String(exc)}`, code: err.code ?? null };
  },
);
