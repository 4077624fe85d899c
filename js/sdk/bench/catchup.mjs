// The TypeScript SDK's side of bench/sdk_js.py's catch-up: an offline member of a
// room takes up the messages sent while it was away, through the SDK, from a real
// relay. Two modes, on one store file and one identity (its recovery phrase):
//
//   node bench/catchup.mjs join RELAY PHRASE STORE LINK   joins, then closes
//   node bench/catchup.mjs sync RELAY PHRASE STORE ROOM   times one sync(), prints JSON
//
// The sync opens the client without a live stream, times `client.sync()` alone,
// then reads every message back to check they all verified, as the Python side does.
import { performance } from "node:perf_hooks";

import { HearthClient, Identity } from "../dist/index.js";
import { FileBackend } from "../dist/node/index.js";

const [mode, relay, phrase, store, arg] = process.argv.slice(2);
const client = await HearthClient.open({
  relay,
  identity: Identity.fromRecoveryPhrase(phrase),
  store: await FileBackend.open(store),
  live: false,
});
try {
  if (mode === "join") {
    const room = await client.join(arg);
    console.log(JSON.stringify({ room: room.id }));
  } else {
    const started = performance.now();
    await client.sync();
    const seconds = (performance.now() - started) / 1000;
    const room = client.room(arg);
    const messages = await room.messages({ limit: 1_000_000 });
    console.log(JSON.stringify({ seconds, messages: messages.length, alarms: room.alarms.length }));
  }
} finally {
  await client.close();
}
