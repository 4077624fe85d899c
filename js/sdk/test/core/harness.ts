/**
 * The pure room state wired to an in-memory event sequence: no sockets, no store
 * (the harness of `tests/client_sdk/test_roomstate.py`).
 *
 * `Seq` plays an honest relay's part in one room: it verifies what it is given with
 * the same protocol code the relay runs (`RoomLog.append`, `checkEnvelope`) and
 * numbers events 1, 2, 3 ... Tests of a misbehaving relay write forged or reordered
 * events into `Seq.events` directly.
 */

import { utf8 } from "../../src/bytes.js";
import { checkEnvelope } from "../../src/envelope.js";
import type { SecurityAlarm } from "../../src/events.js";
import type { MemberId, RoomId } from "../../src/ids.js";
import { RootSeed } from "../../src/keys.js";
import type { Body } from "../../src/messages.js";
import { RoomLog } from "../../src/roomlog.js";
import { RoomState } from "../../src/core/state.js";
import type { RoomEvent, StepItem } from "../../src/core/step.js";
import type { Envelope, LogEvent, MessageEvent, Plaintext, SignedOp, TextBody } from "../../src/wire/schema.gen.js";

export const T0 = 1_767_225_600_000;
export const DEVICE_A = utf8("A".repeat(16));
export const DEVICE_B = utf8("B".repeat(16));
export const GENESIS_NONCE = new Uint8Array(16);

function padded(text: string, size: number, fill: string): Uint8Array {
  return utf8(text.padEnd(size, fill).slice(0, size));
}

/** An honest relay's event sequence for one room, in memory. */
export class Seq {
  readonly log = new RoomLog();
  readonly events: RoomEvent[] = [];

  get nextSeq(): number {
    return this.events.length + 1;
  }

  op(op: SignedOp): LogEvent {
    this.log.append(op);
    const event: LogEvent = { type: "log", seq: this.nextSeq, ts: T0, op };
    this.events.push(event);
    return event;
  }

  msg(envelope: Envelope): MessageEvent {
    checkEnvelope(this.log, envelope);
    const event: MessageEvent = { type: "msg", seq: this.nextSeq, ts: T0, envelope };
    this.events.push(event);
    return event;
  }

  /** Put `event` at its own seq (replacing what the relay had there). */
  put(event: RoomEvent): void {
    this.events[event.seq - 1] = event;
  }
}

export class Person {
  static rootOf(name: string): RootSeed {
    return new RootSeed(padded(name, 32, "."));
  }

  readonly root: RootSeed;
  state: RoomState;
  readonly device: Uint8Array;

  constructor(name: string, room: RoomId) {
    this.root = Person.rootOf(name);
    this.state = new RoomState(this.root.roomKeys(room));
    this.device = padded(name, 16, "-");
  }

  get id(): MemberId {
    return this.state.me;
  }

  catchUp(seq: Seq): StepItem[] {
    const items: StepItem[] = [];
    for (const event of seq.events) {
      const step = this.state.receive(event);
      if (step.needLog) throw new Error(`seq ${event.seq} asked for the log`);
      items.push(...step.items);
    }
    return items;
  }

  plaintext(body: Body): Plaintext {
    return { device: this.device, counter: this.state.nextCounter(), sent_at: T0, body, skipped: [] };
  }

  send(seq: Seq, body: Body): MessageEvent {
    return seq.msg(this.state.seal(this.plaintext(body)));
  }

  say(seq: Seq, text: string, extra: Partial<TextBody> = {}): MessageEvent {
    return this.send(seq, { type: "text", text, content_warning: null, reply_to: null, ...extra });
  }

  /** Our own operation: the relay takes it, we apply it at once (as the SDK does). */
  commit(seq: Seq, op: SignedOp): void {
    seq.op(op);
    this.state.applyOp(op);
  }
}

export function texts(items: readonly StepItem[]): string[] {
  const out: string[] = [];
  for (const item of items) if (item.type === "Accepted" && item.plaintext.body.type === "text") out.push(item.plaintext.body.text);
  return out;
}

export function alarms(items: readonly StepItem[]): SecurityAlarm[] {
  return items.filter((i): i is SecurityAlarm => i.type === "SecurityAlarm");
}

export function kindsAndCodes(items: readonly StepItem[]): [string, string | null][] {
  return alarms(items).map((a) => [a.kind, a.code]);
}
