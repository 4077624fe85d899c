/**
 * The values the room core hands its driver: one `Step` per input (mirrors
 * `client_sdk/_core/step.py`).
 *
 * A step lists, in order, what an input did: events for the app, messages that
 * passed every check (`Accepted`), verified deletions, new log operations and epoch
 * secrets to persist, and the follow-ups it asks the driver to run
 * (`followups.ts`). `openAhead` verifies and decrypts a page's messages before
 * `RoomState.receive` reaches them; it is pure and decides nothing (see its doc).
 */

import type { Event } from "../events.js";
import type { MemberId, MessageId, RoomId } from "../ids.js";
import { openMessage } from "../envelope.js";
import { messageKey } from "../messages.js";
import { EnvelopeError } from "../errors.js";
import type { Envelope, EnvelopeHeader, Plaintext, RoomSync, SignedOp } from "../wire/schema.gen.js";
import { type FollowUp, ONCE, sameFollowUp } from "./followups.js";

/** A room event as the relay serves it (`protocol.api.RoomEvent`). */
export type RoomEvent = RoomSync["events"][number];

/** A message that passed every check, with the relay's `seq` and time. */
export interface Accepted {
  readonly type: "Accepted";
  readonly seq: number;
  readonly ts: number;
  readonly header: EnvelopeHeader;
  readonly plaintext: Plaintext;
}

/** A verified deletion request; `moderator` if its author outranks senders. */
export interface Deletion {
  readonly type: "Deletion";
  readonly target: MessageId;
  readonly by: MemberId;
  readonly moderator: boolean;
}

/** What a step lists, in order. */
export type StepItem = Event | Accepted | Deletion;

/** `openMessage` of one envelope, done ahead (see `openAhead`). */
export interface Opened {
  readonly envelope: Envelope;
  readonly secret: Uint8Array;
  readonly result: Plaintext | EnvelopeError;
}

/**
 * Verify and decrypt the messages of `events` whose epoch secret is known.
 *
 * Pure (`secrets` must not change meanwhile: pass a copy). The result, by `seq`, goes
 * to `RoomState.receive`, which still makes every check of its own and calls
 * `openMessage` itself for whatever is missing here.
 */
export function openAhead(
  room: RoomId,
  events: Iterable<RoomEvent>,
  secrets: ReadonlyMap<number, Uint8Array>,
): Map<number, Opened> {
  const opened = new Map<number, Opened>();
  const keys = new Map<number, Uint8Array>();
  for (const event of events) {
    if (event.type !== "msg" || event.envelope.header.room !== room) continue;
    const epoch = event.envelope.header.epoch;
    const secret = secrets.get(epoch);
    if (secret === undefined) continue;
    const key = keys.get(epoch) ?? messageKey(secret);
    keys.set(epoch, key);
    let result: Plaintext | EnvelopeError;
    try {
      result = openMessage(event.envelope, { epochSecret: secret, key });
    } catch (exc) {
      if (!(exc instanceof EnvelopeError)) throw exc;
      result = exc;
    }
    opened.set(event.seq, { envelope: event.envelope, secret, result });
  }
  return opened;
}

/** What one input did, in order: for the driver to persist, then announce. */
export class Step {
  items: StepItem[] = [];
  readonly secrets = new Map<number, Uint8Array>();
  readonly ops: SignedOp[] = [];
  /**
   * A message names a head beyond our log: fetch the log, then feed it again.
   * A flag, not a follow-up: the inbox acts on it before the step goes on.
   */
  needLog = false;
  /** Work for the driver, in the order the step met it (`followups.ts`). */
  readonly followUps: FollowUp[] = [];

  get events(): Event[] {
    return this.items.filter((i): i is Event => i.type !== "Accepted" && i.type !== "Deletion");
  }

  get accepted(): Accepted[] {
    return this.items.filter((i): i is Accepted => i.type === "Accepted");
  }

  get deletions(): Deletion[] {
    return this.items.filter((i): i is Deletion => i.type === "Deletion");
  }

  /** Ask the driver for `item`; a kind that runs once per step is asked once. */
  follow(item: FollowUp): void {
    if (!(ONCE.has(item.kind) && this.followUps.some((f) => sameFollowUp(f, item)))) this.followUps.push(item);
  }

  extend(other: Step): void {
    this.items.push(...other.items);
    for (const [epoch, secret] of other.secrets) this.secrets.set(epoch, secret);
    this.ops.push(...other.ops);
    this.needLog = this.needLog || other.needLog;
    for (const item of other.followUps) this.follow(item);
  }
}
