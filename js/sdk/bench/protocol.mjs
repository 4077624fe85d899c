// The TypeScript SDK's protocol core on the fixtures bench/sdk_js.py wrote:
// seal+sign and verify+open of the 1 KiB message, and the fold of the 1,000-op log,
// the very bytes the Python side measures in the same run. Not a test:
// bench/sdk_js.py compares and reports.
//
//   node bench/protocol.mjs FIXTURE.json          one JSON object of median seconds per batch
//   node bench/protocol.mjs FIXTURE.json --serve  one batch per line read ("seal", "open",
//                                                 "fold"), its seconds per line written
//
// --serve is how bench/sdk_js.py interleaves Node's batches with Python's, so that
// the load of a shared machine falls on both sides alike. No collection is forced
// before a batch: a forced full collection (gc() under --expose-gc) made the next
// batch 5 to 8% slower, which is not how an application runs.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

import {
  BoxPrivateKey,
  cryptoReady,
  decodeJson,
  fromHex,
  openMessage,
  RoomKeys,
  RoomLog,
  sealMessage,
  SigningKey,
} from "../dist/index.js";

const fixture = JSON.parse(readFileSync(process.argv[2], "utf8"));
await cryptoReady();

const keys = new RoomKeys(fixture.room, new SigningKey(fromHex(fixture.seed)), new BoxPrivateKey(fromHex(fixture.box)));
const plaintext = decodeJson("Plaintext", fixture.plaintext);
const epochSecret = fromHex(fixture.epoch_secret);
const head = fromHex(fixture.head);
const envelope = decodeJson("Envelope", fixture.envelope);
const ops = fixture.ops.map((op) => decodeJson("SignedOp", op));
const { messages, reps, fold_reps: foldReps } = fixture;

const batches = {
  seal: () => {
    for (let i = 0; i < messages; i++) sealMessage(keys, plaintext, { epoch: 7, epochSecret, headIndex: 812, head });
  },
  open: () => {
    for (let i = 0; i < messages; i++) openMessage(envelope, { epochSecret });
  },
  fold: () => {
    const log = RoomLog.fromOps(ops);
    if (log.index !== ops.length - 1) throw new Error("the log did not fold");
  },
};

/** Seconds one batch takes. */
function batchSeconds(fn) {
  const start = performance.now();
  fn();
  return (performance.now() - start) / 1000;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(fn, count, warmup = 2) {
  for (let i = 0; i < warmup; i++) fn();
  const times = [];
  for (let i = 0; i < count; i++) times.push(batchSeconds(fn));
  return median(times);
}

const opened = openMessage(envelope, { epochSecret });
if (opened.body.text !== plaintext.body.text) throw new Error("the fixture's envelope does not open");
if (process.argv.includes("--serve")) {
  console.log(JSON.stringify({ node: process.version }));
  for await (const line of createInterface({ input: process.stdin })) {
    const fn = batches[line.trim()];
    if (fn === undefined) throw new Error(`no batch is called ${JSON.stringify(line)}`);
    console.log(JSON.stringify(batchSeconds(fn)));
  }
} else {
  console.log(
    JSON.stringify({
      node: process.version,
      seal: time(batches.seal, reps),
      open: time(batches.open, reps),
      fold: time(batches.fold, foldReps),
    }),
  );
}
