/**
 * One room's driving: the I/O around one room's plain state, held with the room
 * (mirrors `client_sdk/_driver.py`).
 *
 * A `RoomDriver` is made per room and lives as long as the client follows it. It
 * owns the room's `Slot` (the verified `RoomState` and its two locks) and does
 * everything that moves that room:
 *
 * - our log operations: signed at the next index, appended with compare-and-swap,
 *   rebased on `log.conflict` after catching up on the verified log, a bounded number
 *   of times (`commit`, `op`); rotation when due (`ensureEpoch`);
 * - catching the log up (`catchUpLog`), the room's history pages;
 * - sending (through the outbox), deleting, reporting, inviting, leaving,
 *   acknowledging alarms, push registration, and what the room's log asks of us in
 *   return (re-publishing the profile, rules, schedule and risk plan, evicting a
 *   blocked key from a buddy chat).
 *
 * What the client's drivers share (the store, the HTTP transport, the sessions, the
 * outbox and inbox, the live stream) reaches a room through `RoomServices`, built
 * once when the client opens. The driver never reaches into the client; the client,
 * the `Room` view and the programs code call its public methods. `send(body)` takes
 * any message body, so features built on a room (programs, schedules, the risk path)
 * send through the same outbox.
 */

import { Backoff } from "./backoff.js";
import { ascii, b64url, concat } from "./bytes.js";
import type { Clock } from "./clock.js";
import { encodeSnapshot } from "./core/persistence.js";
import type { RoomState } from "./core/state.js";
import { type Opened, type RoomEvent, Step } from "./core/step.js";
import { blake2b, kdf, PERSON_PUSH_DEVICE, PERSON_PUSH_SCOPE } from "./crypto.js";
import { sealDirected } from "./directed.js";
import { openMessage } from "./envelope.js";
import type { Event } from "./events.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { Inbox } from "./inbox.js";
import { NotFound } from "./notFound.js";
import { inviteLink } from "./inviteLinks.js";
import type { LiveStream } from "./live.js";
import type { Message } from "./message.js";
import type { Role } from "./ops.js";
import type { Body } from "./messages.js";
import type { Outbox } from "./outbox.js";
import { RelayError, RelayUnavailable, ReportError, RoomBlocked, RoomInactive } from "./sdkErrors.js";
import type { Sessions } from "./sessions.js";
import { InviteKey, signDelete } from "./signing.js";
import type { Slot } from "./slot.js";
import type { Store, StoredMessage } from "./store.js";
import type { Transport } from "./transport.js";
import type { BlockList } from "./blocklist.js";
import type { AppendResult, Envelope, HistoryPage, MessageAck, SignedOp } from "./wire/schema.gen.js";

/** How often one of our operations is rebuilt on a log that moved meanwhile. */
export const MAX_REBASES = 8;
const HISTORY_PAGE = 200;
const REPORT_ROLES: ReadonlySet<Role> = new Set(["owner", "moderator", "supporter"]);

/** What every room's driver shares, built once by the client when it opens. */
export interface RoomServices {
  readonly baseUrl: string;
  readonly store: Store;
  readonly transport: Transport;
  readonly sessions: Sessions;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly blocks: BlockList;
  readonly rotateAfterMs: number;
  readonly rotateEvery: number;
  readonly reconnectDelay: readonly [number, number];
  readonly clock: Clock;
  /** Aborted when the client closes: every wait of a driver ends with it. */
  readonly closing: AbortSignal;
  /** Throws `ClientClosed` unless the client is open. */
  checkOpen(): void;
  /** The live stream, while the client follows rooms live. */
  live(): LiveStream | null;
  emit(event: Event): void;
  /** Run background work the client waits for (and stops) when it closes. */
  spawn(work: () => Promise<void>): void;
  /** The set of followed rooms changed: the stream signs in again, the list is published. */
  roomsChanged(): void;
}

/** One room's driving. See the module comment. */
export class RoomDriver {
  readonly slot: Slot;
  readonly #services: RoomServices;

  constructor(slot: Slot, services: RoomServices) {
    this.slot = slot;
    this.#services = services;
  }

  toString(): string {
    return `RoomDriver(room=${this.room})`;
  }

  get room(): RoomId {
    return this.slot.room;
  }

  get state(): RoomState {
    return this.slot.state;
  }

  /** The clock every time this room's operations and messages carry is read from. */
  get clock(): Clock {
    return this.#services.clock;
  }

  /** Throw `RoomInactive` unless we are still in the room. */
  requireActive(): void {
    const status = this.slot.state.status;
    if (status !== "active") throw new RoomInactive("you are no longer in this room", `room.${status}`);
  }

  // -- the room key's session ------------------------------------------------------

  /** The room key's session token (signing in, paced, if there is none). */
  token(): Promise<string> {
    return this.#services.sessions.token(this.slot.state.keys);
  }

  /** Run `call` with the room key's token; sign in again once if refused. */
  withToken<T>(call: (token: string) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
    return this.#services.sessions.call(this.slot.state.keys, call, options);
  }

  // -- persisting and receiving ------------------------------------------------------

  /** Persist a step of the room's state. Called holding `slot.lock`. */
  save(step: Step, options: { allOps?: boolean } = {}): Promise<void> {
    return this.#services.inbox.save(this.slot, step, options);
  }

  /** Verify, store and announce the room's next events. Called holding `slot.lock`. */
  ingest(events: readonly RoomEvent[], opened?: ReadonlyMap<number, Opened> | null): Promise<void> {
    return this.#services.inbox.ingest(this.slot, events, opened);
  }

  /** After a complete pass: judge counter gaps, drop what the retention expired. */
  async settle(): Promise<void> {
    await this.#services.inbox.checkWithheld(this.slot);
    await this.expire();
  }

  /** Drop the stored messages older than the room's retention. */
  expire(): Promise<void> {
    return this.#services.inbox.expire(this.slot);
  }

  /** Events the live stream delivered, in sequence order. */
  async streamEvents(events: readonly RoomEvent[]): Promise<void> {
    if (this.slot.state.status !== "active") return;
    await this.slot.lock.run(() => this.ingest(events));
    await this.expire();
    // The live stream is complete up to here, in sequence order, so a gap it leaves
    // is judged at once (not only at the next sync).
    await this.#services.inbox.checkWithheld(this.slot);
  }

  /** Stored messages, newest last (older ones fetched if history is shared). */
  messages(limit: number, before: MessageId | null): Promise<Message[]> {
    return this.#services.inbox.messages(this.slot, limit, before);
  }

  /** Show or hide a message behind its content warning. */
  reveal(messageId: MessageId, revealed: boolean): Promise<Message> {
    return this.#services.inbox.reveal(this.slot, messageId, revealed);
  }

  /** The page of room events before `before` (a `seq`). */
  fetchHistory(before: number): Promise<HistoryPage> {
    const transport = this.#services.transport;
    return this.withToken((t) => transport.history(t, this.room, before, HISTORY_PAGE));
  }

  /** The relay no longer serves the room to our key (we were removed, most likely). */
  async unreachable(): Promise<void> {
    await this.slot.lock.run(async () => {
      this.slot.state.status = "unreachable";
      await this.save(new Step());
    });
    await this.retire();
  }

  // -- the log -------------------------------------------------------------------

  /** The whole log, read with the invite's proof (paginated), before we join. */
  async readInviteLog(invite: InviteKey): Promise<SignedOp[]> {
    const transport = this.#services.transport;
    const room = this.room;
    const reader = this.slot.state.me;
    const ops: SignedOp[] = [];
    for (;;) {
      const at = this.#services.clock.nowMs();
      const request = { invite_key: invite.publicKey, reader, at, sig: invite.proveRead({ room, reader, at }) };
      const page = await this.withToken((t) => transport.inviteLog(t, room, request, ops.length - 1));
      ops.push(...page.ops);
      if (!page.more || page.ops.length === 0) return ops;
    }
  }

  /** The whole log as the relay serves it to our key (paginated), unverified. */
  async readLog(): Promise<SignedOp[]> {
    const transport = this.#services.transport;
    const ops: SignedOp[] = [];
    for (;;) {
      const page = await this.withToken((t) => transport.log(t, this.room, ops.length - 1));
      ops.push(...page.ops);
      if (!page.more || page.ops.length === 0) return ops;
    }
  }

  /**
   * Fetch, verify and store the operations after our head. Hold the room's lock.
   *
   * Used before a rebase, a re-seal, or when a message names a head beyond our log.
   * What verified is saved even if a later page fails.
   */
  async catchUpLog(): Promise<void> {
    const transport = this.#services.transport;
    const state = this.slot.state;
    const step = new Step();
    try {
      while (!state.frozen) {
        const page = await this.withToken((t) => transport.log(t, this.room, state.log.index));
        for (const op of page.ops) {
          step.extend(state.applyOp(op));
          if (state.frozen) return;
        }
        if (!page.more || page.ops.length === 0) return;
      }
    } finally {
      await this.save(step);
    }
  }

  /**
   * Append `op`; if the answer is lost, send the identical op again.
   *
   * The relay answers a repeated, already accepted operation with its original
   * result, so a join cut off on the way back still completes.
   */
  async appendRetrying(op: SignedOp): Promise<AppendResult> {
    const transport = this.#services.transport;
    const [low, high] = this.#services.reconnectDelay;
    const backoff = new Backoff(low, high);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.withToken((t) => transport.append(t, this.room, op));
      } catch (exc) {
        if (!(exc instanceof RelayUnavailable) || attempt === 3) throw exc;
        await this.#services.clock.sleep(backoff.nextDelay(), this.#services.closing);
        this.#services.checkOpen();
      }
    }
  }

  /**
   * Append our operation, rebasing on `log.conflict`. Hold the room's lock.
   *
   * Returns false if `build` found nothing left to do after a rebase.
   */
  async commit(build: () => SignedOp | null): Promise<boolean> {
    const transport = this.#services.transport;
    const state = this.slot.state;
    for (let i = 0; i < MAX_REBASES; i++) {
      const op = build();
      if (op === null) return false;
      try {
        await this.withToken((t) => transport.append(t, this.room, op));
      } catch (exc) {
        if (!(exc instanceof RelayError) || exc.code !== "log.conflict") throw exc;
        await this.catchUpLog();
        continue;
      }
      await this.save(state.applyOp(op));
      if (state.status !== "active") await this.retire();
      return true;
    }
    throw new RelayError("the room's log kept changing; try again", { code: "log.conflict" });
  }

  /** Commit the operation `build` makes from the room's state (null: nothing). */
  async op(build: (state: RoomState) => SignedOp | null): Promise<void> {
    this.#services.checkOpen();
    await this.slot.lock.run(async () => {
      this.slot.state.requireSendable();
      await this.commit(() => build(this.slot.state));
    });
  }

  /** Rotate first if the log requires it (after a leave) or the schedule is due. Hold the lock. */
  async ensureEpoch(): Promise<void> {
    const services = this.#services;
    const state = this.slot.state;
    await this.commit(() => {
      const now = services.clock.nowMs();
      const due = state.rotationDue({ now, maxAgeMs: services.rotateAfterMs, maxMessages: services.rotateEvery });
      return due ? state.rotateOp({ now }) : null;
    });
  }

  /** We left or were removed: stop following the room, drop its unsent messages. */
  async retire(): Promise<void> {
    await this.#services.outbox.failAll(this.room, `room.${this.slot.state.status}`);
    this.#services.roomsChanged();
  }

  /** Register a new invite key in the log and return its link. */
  async invite(options: { maxUses: number; expiresIn: number; role: Role }): Promise<string> {
    const invite = InviteKey.generate();
    const clock = this.#services.clock;
    const expiresAt = clock.nowMs() + Math.trunc(options.expiresIn * 1000);
    await this.op((s) => s.inviteOp(invite, { role: options.role, maxUses: options.maxUses, expiresAt, now: clock.nowMs() }));
    return inviteLink(this.#services.baseUrl, this.room, invite);
  }

  /** Leave the room (a `room.leave` in the log). */
  async leave(): Promise<void> {
    this.#services.checkOpen();
    await this.slot.lock.run(async () => {
      this.requireActive();
      await this.commit(() => this.slot.state.leaveOp({ now: this.#services.clock.nowMs() }));
    });
  }

  /**
   * Remove a blocked key joining our buddy chat (a banned key cannot join at all).
   * Nothing happens if it is gone already.
   */
  async evict(member: MemberId): Promise<void> {
    const blocks = this.#services.blocks;
    await this.slot.lock.run(async () => {
      await this.commit(() => {
        const state = this.slot.state;
        const blockedBuddy = state.policy.kind === "buddy" && blocks.has(member);
        if (!state.log.members.has(member) || !blockedBuddy) return null;
        return state.removeOp(member, { now: this.#services.clock.nowMs() });
      });
    });
  }

  // -- sending ---------------------------------------------------------------------

  /** Seal `body`, store it in the outbox and deliver it. */
  send(body: Body): Promise<MessageId> {
    this.#services.checkOpen();
    return this.#services.outbox.send(this.slot, body);
  }

  /** Deliver what waits in the room's outbox. */
  flush(): Promise<void> {
    return this.#services.outbox.flush(this.slot);
  }

  /** `flush`, leaving the messages queued if the relay is out of reach. */
  async flushQuietly(): Promise<void> {
    try {
      await this.flush();
    } catch (exc) {
      if (!(exc instanceof RelayUnavailable || exc instanceof RoomBlocked)) throw exc;
    }
  }

  /** How many of our messages in this room wait in the outbox. */
  pending(): Promise<number> {
    this.#services.checkOpen();
    return this.#services.outbox.pending(this.room);
  }

  /** Over the stream with an acknowledgement if it can carry it, else over HTTP. */
  async sendEnvelope(envelope: Envelope): Promise<MessageAck> {
    const live = this.#services.live();
    if (live !== null) {
      const ack = await live.send(envelope);
      if (ack !== null) return ack;
    }
    const transport = this.#services.transport;
    return this.withToken((t) => transport.send(t, envelope));
  }

  /** Send the profile, rules, schedule and risk plan again for members who joined later. */
  async republish(): Promise<void> {
    const state = this.slot.state;
    for (const body of [state.profile, state.rules, state.schedule, state.riskPlan]) {
      if (body !== null) await this.send(body);
    }
  }

  /** Send our display name again for a member who joined after it. */
  async reprofile(): Promise<void> {
    const name = this.slot.state.names.mine;
    if (name !== null) await this.send({ type: "member.profile", name });
  }

  /** Delete a message for everyone, with a signed request naming its place. */
  async delete(messageId: MessageId): Promise<void> {
    this.#services.checkOpen();
    const { store, transport } = this.#services;
    const state = this.slot.state;
    state.requireSendable();
    // The signed request names the target's sender, device and counter: the one
    // counter gap it excuses for members who never read it (protocol.md 8.6). The
    // store keeps what a message said, not those: read them from the original
    // envelope, fetched again and checked like any message.
    const [stored, envelope] = await this.originalEnvelope(messageId);
    if (envelope === null || envelope.header.sender !== stored.sender) {
      throw new RelayError("the relay no longer holds this message", { code: "msg.not_found" });
    }
    const secret = state.secrets.get(envelope.header.epoch);
    if (secret === undefined) throw new RelayError("this message's epoch is not readable here", { code: "msg.not_found" });
    const plaintext = openMessage(envelope, { epochSecret: secret });
    const request = signDelete(state.keys, {
      target: messageId,
      sender: envelope.header.sender,
      device: plaintext.device,
      counter: plaintext.counter,
      at: this.#services.clock.nowMs(),
    });
    await this.withToken((t) => transport.delete(t, request));
    await this.slot.lock.run(async () => {
      await store.saveRoom(this.room, encodeSnapshot(this.slot.state.snapshot()), { deleted: [messageId] });
    });
    this.#services.emit(state.describe({ type: "MessageDeleted", roomId: this.room, messageId, by: state.me, byName: "", byRole: null }));
  }

  /**
   * A stored message and its envelope as the relay still holds it (null if gone).
   *
   * @throws NotFound The local store holds no such message.
   */
  async originalEnvelope(messageId: MessageId): Promise<[StoredMessage, Envelope | null]> {
    const { store, transport } = this.#services;
    const stored = await store.message(this.room, messageId);
    if (stored === null) throw new NotFound(messageId);
    const page = await this.withToken((t) => transport.history(t, this.room, stored.seq + 1, 1));
    let envelope: Envelope | null = null;
    for (const e of page.events) {
      if (e.type === "msg" && e.envelope.header.id === messageId) {
        envelope = e.envelope;
        break;
      }
    }
    return [stored, envelope];
  }

  /** Report a message, with its original envelope as evidence, to those who moderate. */
  async report(messageId: MessageId, reason: string): Promise<MessageId> {
    this.#services.checkOpen();
    const state = this.slot.state;
    state.requireSendable();
    // The store keeps what a message said, not its signed bytes: the evidence is the
    // original envelope, fetched again and checked against the sender's key.
    const [, evidence] = await this.originalEnvelope(messageId);
    if (evidence === null) throw new ReportError("the relay no longer holds this message", "report.no_evidence");
    const recipients = new Map<MemberId, Uint8Array>();
    for (const m of state.log.members.values()) if (REPORT_ROLES.has(m.role) && m.id !== state.me) recipients.set(m.id, m.boxKey);
    if (recipients.size === 0) throw new ReportError("this room has no moderator or supporter to report to", "report.no_recipients");
    const content = {
      room: this.room,
      reporter: state.me,
      target: messageId,
      reason,
      recipients: [...recipients.keys()].sort(),
      evidence,
      at: this.#services.clock.nowMs(),
    };
    const [seals, ciphertext] = sealDirected(state.keys, content, recipients);
    return this.send({ type: "report", seals, ciphertext });
  }

  // -- alarms ----------------------------------------------------------------------

  /** Acknowledge security alarms (all if omitted); return those acknowledged. */
  async acknowledge(alarmIds?: Iterable<number> | null): Promise<number[]> {
    this.#services.checkOpen();
    const slot = this.slot;
    const { wasFrozen, done } = await slot.lock.run(async () => {
      const wasFrozen = slot.state.frozen;
      const done = slot.state.acknowledge(alarmIds ?? null);
      await this.save(new Step());
      return { wasFrozen, done };
    });
    if (wasFrozen && !slot.state.frozen) this.#services.roomsChanged(); // fetch again what the frozen room left behind
    if (done.length > 0) {
      this.#services.live()?.wake();
      if (!slot.state.blocked) this.#services.spawn(() => this.flushQuietly());
    }
    return done;
  }

  // -- push ------------------------------------------------------------------------

  #pushDevice(): string {
    // Another name in every room: the relay cannot link this device's rooms by it.
    return b64url(blake2b(concat(this.#services.store.device, ascii(this.room)), PERSON_PUSH_DEVICE, 16));
  }

  /** This device's local name for the room's push subscription (nobody else can compute it). */
  pushScope(): string {
    return b64url(kdf(this.#services.store.device, ascii(this.room), PERSON_PUSH_SCOPE, 16));
  }

  /** Register a push endpoint for the room, under this room's name for the device. */
  async registerPush(endpoint: string, webPush = false): Promise<void> {
    this.#services.checkOpen();
    this.requireActive();
    const transport = this.#services.transport;
    const device = this.#pushDevice();
    await this.withToken((t) => transport.registerPush(t, this.room, device, endpoint, webPush));
  }

  /** Stop push for the room on this device. */
  async unregisterPush(): Promise<void> {
    this.#services.checkOpen();
    this.requireActive();
    const transport = this.#services.transport;
    const device = this.#pushDevice();
    await this.withToken((t) => transport.unregisterPush(t, this.room, device));
  }
}
