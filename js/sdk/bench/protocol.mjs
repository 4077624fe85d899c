// The TypeScript SDK's protocol core on the fixtures bench/sdk_js.py wrote:
// seal+sign and verify+open of the 1 KiB message, and the fold of the 1,000-op log,
// the very bytes the Python side measures in the same run. Prints one JSON object
// of median seconds per batch. Not a test: bench/sdk_js.py compares and reports.
//
//   node bench/protocol.mjs FIXTURE.json
import { readFileSync } from "node:fs";
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

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(fn, count, warmup = 2) {
  for (let i = 0; i < warmup; i++) fn();
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    fn();
    times.push((performance.now() - start) / 1000);
  }
  return median(times);
}

const seal = () => {
  for (let i = 0; i < messages; i++) sealMessage(keys, plaintext, { epoch: 7, epochSecret, headIndex: 812, head });
};
const open = () => {
  for (let i = 0; i < messages; i++) openMessage(envelope, { epochSecret });
};
const fold = () => {
  const log = RoomLog.fromOps(ops);
  if (log.index !== ops.length - 1) throw new Error("the log did not fold");
};

const opened = openMessage(envelope, { epochSecret });
if (opened.body.text !== plaintext.body.text) throw new Error("the fixture's envelope does not open");
console.log(
  JSON.stringify({
    node: process.version,
    seal: time(seal, reps),
    open: time(open, reps),
    fold: time(fold, foldReps),
  }),
);
