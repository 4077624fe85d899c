// A TypeScript SDK user that another language's tests drive, one JSON command per line:
// the mirror of tests/interop/peer.py (same commands, same answers).
//
// The cross-language tests (tests/interop/) start a real relay, then this script, and
// talk to it over stdin/stdout: each line in is a command {"op": ..., ...}, each line
// out is {"ok": true, "result": ...} or {"ok": false, "code": ..., "message": ...} with
// the SDK's stable error code (a `NotFound` is "KeyError", a `RangeError` "ValueError"
// and a wait that ran out "TimeoutError", as Python's peer names them). The first line
// is {"ok": true, "result": {"phrase": ...}}. It is a thin shell over the public API
// of the built SDK (dist/), doing what a person would do in an app.
//
//   node js/sdk/scripts/peer.mjs --relay http://127.0.0.1:PORT --dir DIR
//        [--phrase P] [--passphrase P] [--no-live] [--link CODE]
//
// The store is a file under DIR; with --passphrase the identity is kept in a keystore
// file there too (DIR/identity.key), loaded if it exists. With --link the peer is a new
// device of someone else's: it begins the device link CODE (HearthClient.beginDeviceLink)
// and its first line is {"ok": true, "result": {"short_code": ...}} (or the link's
// error, and it exits); the command {"op": "finish_link"} then waits for the other
// device's confirmation, opens the linked client and answers {"phrase": ...}, and the
// peer serves as usual.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import { WebSocket } from "ws";

import { cryptoReady, HearthClient, HearthError, Identity, NotFound } from "../dist/index.js";
import { FileBackend, loadIdentityFile, saveIdentityFile } from "../dist/node/index.js";

const { values: args } = parseArgs({
  options: {
    relay: { type: "string" },
    dir: { type: "string" },
    phrase: { type: "string" },
    passphrase: { type: "string" },
    "no-live": { type: "boolean", default: false },
    link: { type: "string" },
  },
});
if (!args.relay || !args.dir) {
  process.stderr.write("usage: peer.mjs --relay URL --dir DIR [--phrase P] [--passphrase P] [--no-live] [--link CODE]\n");
  process.exit(2);
}

class Timeout extends Error {
  constructor(seconds) {
    super(`nothing came within ${seconds} s`);
    this.name = "TimeoutError";
  }
}

function messageJson(m) {
  return {
    id: m.id,
    sender: m.sender,
    text: m.text,
    mine: m.mine,
    reply_to: m.replyTo,
    content_warning: m.contentWarning,
    edited: m.edited,
    seq: m.seq,
  };
}

function alarmJson(x) {
  return { kind: x.kind, code: x.code };
}

/** One person with the TypeScript SDK: a client, and the rooms they are in. */
class Peer {
  constructor(client) {
    this.client = client;
    this.received = [];
    this.claimed = [];
    this.watchers = new Set();
    this.reading = this.readEvents();
    this.link = null;
  }

  async readEvents() {
    for await (const event of this.client.events()) {
      if (event.type === "MessageReceived") this.received.push(event);
      else if (event.type === "SupportClaimed") this.claimed.push(event);
      for (const watch of this.watchers) watch(); // any event: alarms, joins ... a waiter looks again
    }
  }

  /** The first non-null `found()`, looked for again on every event, within `timeout` seconds. */
  until(found, timeout) {
    const now = found();
    if (now !== null) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(watch);
        reject(new Timeout(timeout));
      }, timeout * 1000);
      const watch = () => {
        const got = found();
        if (got !== null) {
          clearTimeout(timer);
          this.watchers.delete(watch);
          resolve(got);
        }
      };
      this.watchers.add(watch);
    });
  }

  room(id) {
    return this.client.room(id);
  }

  async run(op, a) {
    const c = this.client;
    switch (op) {
      case "me":
        return this.room(a.room).me;
      case "create_group":
        return (await c.createGroup(a.name, { rules: a.rules ?? null, shareHistory: a.share_history ?? false })).id;
      case "create_program":
        return (await c.createProgram(a.name)).id;
      case "invite":
        return await this.room(a.room).createInvite({ maxUses: a.max_uses ?? 5, expiresIn: 3600, role: a.role ?? "member" });
      case "join":
        return (await c.join(a.link)).id;
      case "accept_rules":
        return await this.room(a.room).acceptRules();
      case "send":
        return await this.room(a.room).send(a.text, { replyTo: a.reply_to ?? null, contentWarning: a.content_warning ?? null });
      case "wait_text": {
        const seen = () => {
          const e = this.received.find((x) => x.roomId === a.room && x.message.text === a.text);
          return e === undefined ? null : messageJson(e.message);
        };
        return await this.until(seen, a.timeout ?? 20);
      }
      case "messages":
        return (await this.room(a.room).messages({ limit: 200 })).map(messageJson);
      case "reveal":
        return messageJson(await this.room(a.room).reveal(a.message));
      case "safety_number":
        return this.room(a.room).safetyNumber(a.member);
      case "fingerprint":
        return String(this.room(a.room).fingerprint());
      case "members":
        return Object.fromEntries(this.room(a.room).members);
      case "status":
        return this.room(a.room).status;
      case "alarms":
        return this.room(a.room).alarms.map(alarmJson);
      case "wait_alarm": {
        const raised = () => {
          const x = this.client.room(a.room).alarms.find((y) => y.kind === a.kind);
          return x === undefined ? null : alarmJson(x);
        };
        return await this.until(raised, a.timeout ?? 20);
      }
      case "epoch":
        return this.room(a.room).epoch;
      case "rooms":
        return c.rooms.map((room) => room.id);
      case "rotate":
        await this.room(a.room).rotate();
        return null;
      case "remove":
        await this.room(a.room).remove(a.member);
        return null;
      case "set_role":
        await this.room(a.room).setRole(a.member, a.role);
        return null;
      case "sync":
        await c.sync();
        return null;
      case "request_support":
        return (await this.feature(this.room(a.room), "requestSupport")(a.text)).id;
      case "set_availability":
        await this.feature(this.room(a.room), "setAvailability")(a.available, { maxOpen: a.max_open ?? 3 });
        return null;
      case "claim":
        return (await this.feature(this.room(a.room), "claim")(a.request)).id;
      case "wait_claimed": {
        const claimed = () => {
          const e = this.claimed.find((x) => x.requestId === a.request && x.buddyRoomId !== null);
          return e === undefined ? null : e.buddyRoomId;
        };
        await this.until(claimed, a.timeout ?? 20);
        return (await this.feature(this.room(a.room), "buddyChat")(a.request)).id;
      }
      case "offer_device_link":
        this.link = await this.feature(c, "offerDeviceLink")();
        return this.link.code;
      case "link_code":
        return await this.link.claimantCode();
      case "confirm_link":
        await this.link.confirm();
        return null;
      default:
        throw new RangeError(`unknown command ${JSON.stringify(op)}`);
    }
  }

  /** A method of the SDK that a feature adds (programs, device links), bound to `target`. */
  feature(target, name) {
    const method = target[name];
    if (typeof method !== "function") throw new HearthError(`this SDK has no ${name} yet`, "peer.unsupported");
    return method.bind(target);
  }
}

/** `{ok: false, ...}` for an error, with the codes tests/interop/peer.py gives. */
function failure(exc) {
  if (exc instanceof HearthError) return { ok: false, code: exc.code, message: exc.message };
  if (exc instanceof NotFound) return { ok: false, code: "KeyError", message: exc.message };
  if (exc instanceof RangeError || exc instanceof TypeError) return { ok: false, code: "ValueError", message: exc.message };
  if (exc instanceof Timeout) return { ok: false, code: "TimeoutError", message: exc.message };
  throw exc;
}

function reply(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

async function identityOf() {
  if (args.phrase) return Identity.fromRecoveryPhrase(args.phrase);
  if (!args.passphrase) return Identity.generate();
  const path = join(args.dir, "identity.key");
  if (existsSync(path)) return loadIdentityFile(path, args.passphrase);
  const identity = Identity.generate();
  await saveIdentityFile(identity, path, args.passphrase, "interactive");
  return identity;
}

/** A new device of someone else's: begin the link, show the short code, finish when told. */
async function linked(store, commands) {
  let pending;
  try {
    pending = await HearthClient.beginDeviceLink(args.relay, args.link, { store, webSocket: WebSocket, live: !args["no-live"] });
  } catch (exc) {
    reply(failure(exc));
    return null;
  }
  reply({ ok: true, result: { short_code: pending.shortCode } });
  for (;;) {
    const next = await commands.next();
    if (next.done) return null;
    if (next.value.trim() === "") continue;
    const { op } = JSON.parse(next.value);
    if (op !== "finish_link") {
      reply({ ok: false, code: "ValueError", message: `finish the link first, not ${JSON.stringify(op)}` });
      continue;
    }
    try {
      const client = await pending.finish({ timeout: 60 });
      await client.open();
      return client;
    } catch (exc) {
      reply(failure(exc));
      return null;
    }
  }
}

async function serve() {
  mkdirSync(args.dir, { recursive: true });
  await cryptoReady();
  const store = await FileBackend.open(join(args.dir, "store"));
  const commands = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  let client;
  if (args.link) {
    client = await linked(store, commands);
    if (client === null) return;
  } else {
    const identity = await identityOf();
    client = await HearthClient.open({ relay: args.relay, identity, store, webSocket: WebSocket, live: !args["no-live"] });
  }
  const peer = new Peer(client);
  reply({ ok: true, result: { phrase: client.identity.recoveryPhrase } });
  try {
    for (let next = await commands.next(); !next.done; next = await commands.next()) {
      const raw = next.value;
      if (raw.trim() === "") continue;
      const { op, ...command } = JSON.parse(raw);
      if (op === "close") break;
      try {
        reply({ ok: true, result: (await peer.run(op, command)) ?? null });
      } catch (exc) {
        reply(failure(exc));
      }
    }
  } finally {
    await client.close();
    await peer.reading;
  }
}

await serve();
process.exit(0);
