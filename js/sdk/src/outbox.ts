/**
 * The outbox: every message is sealed and stored before it is sent, and sent exactly
 * once (mirrors `client_sdk/_outbox.py`).
 *
 * `send` seals a plaintext under the room's current epoch and head, stores the
 * envelope *and* the plaintext (encrypted by the store) in one batch with the room's
 * new counter, and only then tries to deliver it. Delivery goes through the room's
 * entries in order, one at a time:
 *
 * - the identical envelope is sent again after any failure to reach the relay, a
 *   reconnect or a restart; the relay deduplicates by message id, and
 *   `msg.duplicate_id` means an earlier envelope of ours under this id was stored;
 * - `msg.stale_epoch` (the epoch moved on while the message waited) re-seals the
 *   same plaintext, same id and counter, under the current epoch, after catching up
 *   on the log;
 * - an entry queued unsealed (a rotation was due while the relay was unreachable) is
 *   sealed right before its first delivery, after the rotation;
 * - only a verdict on the message itself fails an entry for good; anything else
 *   leaves it (and those behind it) for the next attempt. A counter failed for good
 *   stays used: every later entry is re-sealed to list it in `Plaintext.skipped`
 *   until one of them is acknowledged, so receivers do not take the gap for a
 *   withheld message (protocol.md section 8.6).
 *
 * A blocked room (open security alarms) delivers nothing until the alarms are
 * acknowledged. A delivery that stops short of the end (rate limited, the relay's
 * storage failing, the relay out of reach) is tried again by itself while the host is
 * online: after the relay's `retryAfter` if it gave one, else after the room's next
 * `Backoff` delay, reset once the room's outbox is empty. Each stop and the final
 * success are announced as `OutboxChanged`.
 */

import { Backoff } from "./backoff.js";
import { fromUtf8, utf8 } from "./bytes.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { encodeSnapshot } from "./core/persistence.js";
import type { DeliveryState, Event } from "./events.js";
import { type MessageId, newMessageId, type RoomId } from "./ids.js";
import { type Body, roomDeviceId } from "./messages.js";
import { RelayError, RelayUnavailable, RoomBlocked, RoomInactive } from "./sdkErrors.js";
import type { Slot } from "./slot.js";
import { type OutboxEntry, type Store, type StoredMessage, storedMessage } from "./store.js";
import { canonical, decodeJson, decodeMsgpack, toJson } from "./wire/codec.js";
import type { Envelope, MessageAck, Plaintext } from "./wire/schema.gen.js";

const MAX_RESEALS = 4;

/** A verdict on the message itself (resending the same bytes cannot help). */
export function refusesForGood(exc: RelayError): boolean {
  return ["msg.", "wire.", "room.", "request."].some((p) => exc.code.startsWith(p)) || exc.code === "auth.forbidden" || exc.code === "request.too_large";
}

/** `RelayUnavailable` for a refusal that is not a verdict on the message; `cause` keeps the refusal. */
function notSentNow(exc: RelayError): RelayUnavailable {
  const out = new RelayUnavailable(`not sent now: ${exc.code}`);
  out.cause = exc;
  return out;
}

/** What the outbox needs from the client. */
export interface OutboxHost {
  /** Commit a rotation first if one is due. Called holding `slot.lock`. */
  ensureEpoch(slot: Slot): Promise<void>;
  /** Fetch and verify the log after our head. Called holding `slot.lock`. */
  catchUpLog(slot: Slot): Promise<void>;
  /** Put one envelope on the wire and return the relay's acknowledgement. */
  sendEnvelope(slot: Slot, envelope: Envelope): Promise<MessageAck>;
  /** One of our text messages is stored locally for the first time. */
  delivered(message: StoredMessage): void;
  /** Announce what one of our own messages did (a mute we gave), once stored. */
  emit(event: Event): void;
  /** Whether the live connection is up (automatic retries run only then). */
  online(): boolean;
  /** Flush the room's outbox again in `delay` seconds (one timer per room). */
  flushLater(slot: Slot, delay: number): void;
}

function plaintextOf(entry: OutboxEntry): Plaintext {
  return decodeMsgpack<Plaintext>("Plaintext", entry.plaintext);
}

/** Sealing, storing and delivering this device's messages (stamped by `clock`). */
export class Outbox {
  readonly #store: Store;
  readonly #host: OutboxHost;
  readonly #clock: Clock;
  readonly #retryDelay: readonly [number, number];
  /** Rooms whose last delivery stopped short, with their retry schedule. */
  readonly #stalled = new Map<RoomId, Backoff>();

  constructor(store: Store, host: OutboxHost, options: { retryDelay?: readonly [number, number]; clock?: Clock } = {}) {
    this.#store = store;
    this.#host = host;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#retryDelay = options.retryDelay ?? [0.25, 10];
  }

  /**
   * Seal and store `body`, then try to deliver the room's outbox; return the id.
   *
   * Returns once the message is acknowledged, or safely queued because the relay
   * cannot be reached or an alarm now blocks the room.
   */
  async send(slot: Slot, body: Body): Promise<MessageId> {
    const entry = await this.#queue(slot, body);
    try {
      await this.flush(slot, { waitFor: entry.id });
    } catch (exc) {
      if (!(exc instanceof RelayUnavailable || exc instanceof RoomBlocked)) throw exc;
    }
    return entry.id;
  }

  async #queue(slot: Slot, body: Body): Promise<{ readonly id: MessageId }> {
    const state = slot.state;
    const { entry, announced } = await slot.lock.run(async () => {
      state.requireSendable();
      state.requireMayPost(body);
      try {
        await this.#host.ensureEpoch(slot);
      } catch (exc) {
        // Offline (or throttled), a rotation the schedule asks for waits; one the log
        // requires (after a leave) makes the message wait unsealed.
        if (exc instanceof RelayError) {
          if (!exc.retryable) throw exc;
        } else if (!(exc instanceof RelayUnavailable)) {
          throw exc;
        }
      }
      state.requireSendable();
      const messageId = newMessageId();
      const plaintext: Plaintext = {
        device: roomDeviceId(this.#store.device, slot.room),
        counter: state.nextCounter(),
        sent_at: this.#clock.nowMs(),
        body,
      };
      const announced = state.noteSent(body, { messageId, at: plaintext.sent_at });
      let sealed: Uint8Array = new Uint8Array(0);
      if (!state.log.needsRotation) sealed = utf8(toJson("Envelope", state.seal(plaintext, { messageId })));
      const entry = { room: slot.room, id: messageId, plaintext: canonical("Plaintext", plaintext), envelope: sealed, failed: null };
      await this.#store.saveRoom(slot.room, snapshotOf(slot), { outboxAdd: entry });
      return { entry, announced };
    });
    for (const event of announced) this.#host.emit(event);
    return entry;
  }

  /** Entries still to be delivered (in `room`, or in all rooms). */
  async pending(room: RoomId | null = null): Promise<number> {
    return (await this.#store.outbox(room)).filter((e) => e.failed === null).length;
  }

  /** Give up on a room's entries (we left it or were removed). */
  async failAll(room: RoomId, code: string): Promise<void> {
    for (const entry of await this.#store.outbox(room)) if (entry.failed === null) await this.#store.outboxFail(entry.id, code);
  }

  /**
   * Deliver the room's entries in order; stop at the first failure to reach the relay.
   *
   * @throws RelayUnavailable The relay cannot take messages now (entries stay).
   * @throws RelayError The relay refused `waitFor` for good.
   */
  async flush(slot: Slot, options: { waitFor?: MessageId | null } = {}): Promise<void> {
    await slot.sendLock.run(async () => {
      try {
        await this.#flush(slot, options.waitFor ?? null);
      } catch (exc) {
        if (exc instanceof RelayUnavailable) await this.#stall(slot, exc);
        throw exc;
      }
      if (this.#stalled.has(slot.room) && (await this.pending(slot.room)) === 0) {
        this.#stalled.delete(slot.room);
        this.#host.emit({ type: "OutboxChanged", roomId: slot.room, state: "sent", pending: 0, retryIn: null });
      }
    });
  }

  /** Delivery stopped short: say why, and try again by itself while online. */
  async #stall(slot: Slot, exc: RelayUnavailable): Promise<void> {
    const cause = exc.cause;
    let backoff = this.#stalled.get(slot.room);
    if (backoff === undefined) this.#stalled.set(slot.room, (backoff = new Backoff(this.#retryDelay[0], this.#retryDelay[1])));
    let state: DeliveryState = "offline";
    let hint: number | null = null;
    if (cause instanceof RelayError) {
      const storage = cause.code === "storage.unavailable" || cause.status === 503;
      state = storage ? "storage" : "retrying";
      hint = cause.retryAfter;
    }
    let retryIn: number | null = null;
    if (this.#host.online()) {
      retryIn = hint !== null ? hint : backoff.nextDelay();
      this.#host.flushLater(slot, retryIn);
    }
    const pending = await this.pending(slot.room);
    this.#host.emit({ type: "OutboxChanged", roomId: slot.room, state, pending, retryIn });
  }

  /** The entries in order; see `flush`. */
  async #flush(slot: Slot, waitFor: MessageId | null): Promise<void> {
    for (const entry of await this.#store.outbox(slot.room)) {
      if (entry.failed !== null) continue;
      if (slot.state.blocked) return;
      let ack: MessageAck | null;
      try {
        ack = await this.#deliver(slot, entry);
      } catch (exc) {
        if (exc instanceof RoomInactive) {
          await this.#store.outboxFail(entry.id, exc.code);
          continue;
        }
        if (exc instanceof RelayError) {
          if (exc.retryable || !refusesForGood(exc)) throw notSentNow(exc);
          await this.#refused(slot, entry, exc.code);
          if (entry.id === waitFor) throw exc;
          continue;
        }
        throw exc;
      }
      await this.#delivered(slot, entry, ack);
    }
  }

  /** The relay refused this entry for good: later entries announce its counter. */
  async #refused(slot: Slot, entry: OutboxEntry, code: string): Promise<void> {
    const counter = plaintextOf(entry).counter;
    await slot.lock.run(async () => {
      slot.state.noteRefused(counter);
      await this.#store.saveRoom(slot.room, snapshotOf(slot));
    });
    await this.#store.outboxFail(entry.id, code);
  }

  /** Send one entry until acknowledged; null if the relay already holds its id. */
  async #deliver(slot: Slot, entry: OutboxEntry): Promise<MessageAck | null> {
    const counter = plaintextOf(entry).counter;
    let envelope: Envelope;
    if (entry.envelope.length > 0 && slot.state.skippedFor(counter).length === 0) {
      envelope = decodeJson<Envelope>("Envelope", fromUtf8(entry.envelope));
    } else {
      envelope = await this.#reseal(slot, entry, false);
    }
    for (let i = 0; i < MAX_RESEALS; i++) {
      try {
        return await this.#host.sendEnvelope(slot, envelope);
      } catch (exc) {
        if (!(exc instanceof RelayError)) throw exc;
        if (exc.code === "msg.duplicate_id") return null;
        if (exc.code !== "msg.stale_epoch" && exc.code !== "msg.unknown_head") throw exc;
      }
      envelope = await this.#reseal(slot, entry, true);
    }
    throw new RelayError("the epoch kept changing; message left in the outbox", { code: "msg.stale_epoch" });
  }

  /** Seal an entry's plaintext under the current epoch, keeping its id and counter. */
  #reseal(slot: Slot, entry: OutboxEntry, catchUp: boolean): Promise<Envelope> {
    return slot.lock.run(async () => {
      if (catchUp) await this.#host.catchUpLog(slot);
      await this.#host.ensureEpoch(slot);
      slot.state.requireSendable();
      const plaintext = withSkipped(slot, plaintextOf(entry));
      const envelope = slot.state.seal(plaintext, { messageId: entry.id });
      await this.#store.outboxReplace(entry.id, utf8(toJson("Envelope", envelope)));
      return envelope;
    });
  }

  async #delivered(slot: Slot, entry: OutboxEntry, ack: MessageAck | null): Promise<void> {
    const plaintext = plaintextOf(entry);
    const body = plaintext.body;
    let message: StoredMessage | null = null;
    if (ack !== null && body.type === "text") {
      message = storedMessage({
        room: slot.room,
        id: entry.id,
        seq: ack.seq,
        sender: slot.state.me,
        text: body.text,
        contentWarning: body.content_warning ?? null,
        replyTo: body.reply_to ?? null,
        sentAt: plaintext.sent_at,
        ts: ack.ts,
        edited: false,
        mine: true,
      });
    }
    const fresh = await slot.lock.run(async () => {
      // Sealed with what it had to announce (`#deliver` re-sealed it if needed); a
      // duplicate id may be an older sealing without it: announce again.
      if (ack !== null) slot.state.announced(slot.state.skippedFor(plaintext.counter));
      return this.#store.saveRoom(slot.room, snapshotOf(slot), { messages: message ? [message] : [], outboxDone: [entry.id] });
    });
    if (message !== null && fresh.includes(message.id)) this.#host.delivered(message);
  }
}

/** `plaintext` listing every refused counter of ours below its own. */
function withSkipped(slot: Slot, plaintext: Plaintext): Plaintext {
  const skipped = slot.state.skippedFor(plaintext.counter);
  if (skipped.length === 0) return plaintext;
  return { ...plaintext, skipped: [...new Set([...(plaintext.skipped ?? []), ...skipped])].sort((a, b) => a - b) };
}

function snapshotOf(slot: Slot): Uint8Array {
  return encodeSnapshot(slot.state.snapshot());
}
