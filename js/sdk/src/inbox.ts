/**
 * The inbox: what the room state accepted becomes stored messages, then events
 * (mirrors `client_sdk/_inbox.py`).
 *
 * `Inbox.save` is the one place where a `Step` of the pure room state meets the
 * disk: text messages are stored (encrypted), edits and deletions are applied if
 * their author may make them, and the new ops, epoch secrets and the room's snapshot
 * (with its position) go in the same atomic batch. Only after that write are the
 * step's events announced, so an app never sees an event the store could lose, and a
 * crash never skips or repeats one. `Inbox.ingest` feeds events in sequence order
 * through the room state (fetching the log once when a message names a head beyond
 * it); `Inbox.messages` reads older history on demand.
 *
 * Two personal filters apply here, on this device only: messages and reactions of
 * members in the block list are stored (an unblock shows them again) but never
 * announced nor returned; and messages older than the room's retention are neither
 * stored nor kept (`Inbox.expire`).
 */

import type { BlockList } from "./blocklist.js";
import { compareStrings } from "./bytes.js";
import { type Clock, SYSTEM_CLOCK } from "./clock.js";
import { encodeSnapshot } from "./core/persistence.js";
import type { RoomState } from "./core/state.js";
import type { FollowUp } from "./core/followups.js";
import { type Accepted, type Opened, type RoomEvent, Step } from "./core/step.js";
import type { Event, MessageEdited, ReactionChanged } from "./events.js";
import type { MemberId, MessageId } from "./ids.js";
import type { Message } from "./message.js";
import { ROLE_RANK } from "./ops.js";
import { NotFound } from "./notFound.js";
import type { Slot } from "./slot.js";
import { type Store, type StoredMessage, storedMessage } from "./store.js";
import type { HistoryPage, TextBody } from "./wire/schema.gen.js";

const MAX_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
export const DAY_MS = 24 * 3600 * 1000;
/** Distinct emoji one member may put on one message; more are ignored. */
const MAX_REACTIONS = 20;

/** The relay time before which the room's retention drops messages (null: keep). */
export function retentionCutoff(state: RoomState, now: number): number | null {
  const days = state.policy.retention_days;
  return days === null || days === undefined ? null : now - days * DAY_MS;
}

/** A date from a sender's clock, which is whatever the sender wrote: kept representable. */
export function utc(ms: number): Date {
  return new Date(Math.min(Math.max(ms, 0), MAX_MS));
}

/**
 * The app's view of a stored message: collapsed behind its warning until revealed.
 *
 * With `room`, it carries the sender's label and role there now.
 */
export function toMessage(m: StoredMessage, blocked: BlockList | ReadonlySet<MemberId> = new Set(), room: RoomState | null = null): Message {
  const sender = room === null ? null : room.member(m.sender);
  const collapsed = m.contentWarning !== null && !m.revealed && !m.mine;
  const reactions = new Map<string, MemberId[]>();
  for (const [emoji, member] of m.reactions) {
    if (blocked.has(member)) continue;
    let who = reactions.get(emoji);
    if (who === undefined) reactions.set(emoji, (who = []));
    who.push(member);
  }
  return {
    id: m.id,
    roomId: m.room,
    sender: m.sender,
    text: collapsed ? "" : m.text,
    sentAt: utc(m.sentAt),
    receivedAt: utc(m.ts),
    contentWarning: m.contentWarning,
    replyTo: m.replyTo,
    edited: m.edited,
    mine: m.mine,
    seq: m.seq,
    collapsed,
    reactions,
    senderName: sender === null ? "" : sender.label,
    senderRole: sender === null ? null : sender.role,
  };
}

/** An event about a blocked member's words (or new name): not announced on this device. */
function hidden(event: Event, blocks: BlockList): boolean {
  switch (event.type) {
    case "MessageEdited":
      return blocks.has(event.message.sender);
    case "ReactionChanged":
      return blocks.has(event.member) || blocks.has(event.message.sender);
    case "SupportRequested":
      return blocks.has(event.request.requester);
    case "SupportWithdrawn":
      return blocks.has(event.requester);
    case "MemberRenamed":
      return blocks.has(event.member);
    default:
      return false;
  }
}

/** What the inbox needs from the client. */
export interface InboxHost {
  /** Announce an event to the app. */
  emit(event: Event): void;
  /** A blocked key joined our buddy chat: remove it (in the background). */
  evict(slot: Slot, member: MemberId): void;
  /** Run the work a step asks for (`core/followups.ts`), in the background. */
  followUp(slot: Slot, item: FollowUp): void;
  /** Fetch and verify the log after our head. Called holding `slot.lock`. */
  catchUpLog(slot: Slot): Promise<void>;
  /** We left or were removed: stop following the room. */
  retire(slot: Slot): Promise<void>;
  /** A page of the room's events older than `before`. */
  fetchHistory(slot: Slot, before: number): Promise<HistoryPage>;
}

/** A message id waiting to be announced once stored, or an event. */
type Pending = Event | { readonly stored: MessageId };

/** Persisting and announcing what rooms accepted. `clock` says how old a message is. */
export class Inbox {
  readonly #store: Store;
  readonly #host: InboxHost;
  readonly #blocks: BlockList;
  readonly #clock: Clock;

  constructor(store: Store, host: InboxHost, blocks: BlockList, options: { clock?: Clock } = {}) {
    this.#store = store;
    this.#host = host;
    this.#blocks = blocks;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
  }

  /**
   * Feed events (sequence order) to the room and persist the batch. Hold the lock.
   *
   * `opened` holds what `openAhead` verified and decrypted of them already. Whatever
   * was processed is saved even if fetching the log fails half-way, so the stored
   * position never runs ahead of the stored messages.
   */
  async ingest(slot: Slot, events: readonly RoomEvent[], opened?: ReadonlyMap<number, Opened> | null): Promise<void> {
    const state = slot.state;
    let step = new Step();
    const ahead = opened ?? new Map<number, Opened>();
    try {
      for (const event of events) {
        if (state.status !== "active") break;
        let part = state.receive(event, { opened: ahead.get(event.seq) ?? null });
        if (part.needLog) {
          await this.save(slot, step);
          step = new Step();
          await this.#host.catchUpLog(slot);
          part = state.receive(event, { logSynced: true, opened: ahead.get(event.seq) ?? null });
        }
        step.extend(part);
      }
    } finally {
      await this.save(slot, step);
    }
    if (state.status !== "active") await this.#host.retire(slot);
  }

  /** After a complete sync: counter gaps nothing explains become alarms. */
  async checkWithheld(slot: Slot): Promise<void> {
    await slot.lock.run(async () => {
      const step = slot.state.checkWithheld({ now: this.#clock.nowMs() });
      if (step.items.length > 0) await this.save(slot, step);
    });
  }

  /** Persist a step with the room's snapshot in one batch, then announce it. */
  async save(slot: Slot, step: Step, options: { allOps?: boolean; announce?: boolean } = {}): Promise<void> {
    const state = slot.state;
    const allOps = options.allOps ?? false;
    const batch = new Map<MessageId, StoredMessage>();
    const deleted: MessageId[] = [];
    const pending: Pending[] = [];
    const cutoff = retentionCutoff(state, this.#clock.nowMs());
    for (const item of step.items) {
      if (item.type === "Accepted") {
        if (cutoff !== null && item.ts < cutoff) continue; // expired under the room's retention: never stored
        const body = item.plaintext.body;
        if (body.type === "text") this.#acceptText(slot, item, body, batch, pending);
        else await this.#accept(slot, item, batch, pending);
      } else if (item.type === "Deletion") {
        const target = batch.get(item.target) ?? (await this.#store.message(slot.room, item.target));
        if (target !== null && (item.moderator || target.sender === item.by)) {
          batch.delete(item.target);
          deleted.push(item.target);
          pending.push(state.describe({ type: "MessageDeleted", roomId: slot.room, messageId: item.target, by: item.by, byName: "", byRole: null }));
        }
      } else {
        pending.push(item);
      }
    }
    const ops = allOps ? state.log.ops : step.ops;
    const fresh = new Set(
      await this.#store.saveRoom(slot.room, encodeSnapshot(state.snapshot()), {
        ops: ops.map((op) => [op.content.index, op] as const),
        secrets: allOps ? state.secrets : step.secrets,
        messages: batch.values(),
        deleted,
        now: this.#clock.nowMs(),
      }),
    );
    for (const work of step.followUps) this.#host.followUp(slot, work);
    for (const member of this.#blockedJoins(state, step)) this.#host.evict(slot, member);
    if (options.announce === false) return;
    const blocks = this.#blocks;
    for (const out of pending) {
      if ("stored" in out) {
        const message = batch.get(out.stored);
        if (message !== undefined && fresh.has(out.stored) && !blocks.has(message.sender)) {
          this.#host.emit({ type: "MessageReceived", roomId: slot.room, message: toMessage(message, blocks, state) });
        }
      } else if (!hidden(out, blocks)) {
        this.#host.emit(out);
      }
    }
  }

  /** A new text message: stored, then announced once the batch is written. */
  #acceptText(slot: Slot, item: Accepted, body: TextBody, batch: Map<MessageId, StoredMessage>, pending: Pending[]): void {
    const h = item.header;
    batch.set(
      h.id,
      storedMessage({
        room: slot.room,
        id: h.id,
        seq: item.seq,
        sender: h.sender,
        text: body.text,
        contentWarning: body.content_warning ?? null,
        replyTo: body.reply_to ?? null,
        sentAt: item.plaintext.sent_at,
        ts: item.ts,
        edited: false,
        mine: h.sender === slot.state.me,
      }),
    );
    pending.push({ stored: h.id });
  }

  /**
   * Blocked keys that joined a buddy chat we may remove them from: refuse them.
   *
   * In a buddy chat the join is the request to talk; the owner's device answers it for
   * the person who blocked that key.
   */
  #blockedJoins(state: RoomState, step: Step): MemberId[] {
    if (state.policy.kind !== "buddy" || state.status !== "active") return [];
    const mine = ROLE_RANK[state.log.roleOf(state.me) ?? "member"];
    return step.events.flatMap((e) =>
      e.type === "MemberJoined" && this.#blocks.has(e.member) && mine > ROLE_RANK[state.log.roleOf(e.member) ?? "member"] ? [e.member] : [],
    );
  }

  /** Drop stored messages older than the room's retention, and say so. Holds no lock. */
  async expire(slot: Slot): Promise<void> {
    const cutoff = retentionCutoff(slot.state, this.#clock.nowMs());
    if (cutoff === null) return;
    const gone = await this.#store.purgeMessages(slot.room, { beforeTs: cutoff });
    if (gone.length > 0) this.#host.emit({ type: "MessagesExpired", roomId: slot.room, messageIds: gone, before: utc(cutoff) });
  }

  async #accept(slot: Slot, item: Accepted, batch: Map<MessageId, StoredMessage>, pending: Pending[]): Promise<void> {
    const h = item.header;
    const body = item.plaintext.body; // never a text body: `save` stores those itself
    if (body.type === "edit") {
      const target = batch.get(body.target) ?? (await this.#store.message(slot.room, body.target));
      if (target === null || target.sender !== h.sender || target.editedSeq > item.seq) return; // only the sender, newest edit wins
      const edited: StoredMessage = { ...target, text: body.text, edited: true, editedSeq: item.seq, update: true };
      batch.set(body.target, edited);
      const event: MessageEdited = { type: "MessageEdited", roomId: slot.room, message: toMessage(edited, this.#blocks, slot.state) };
      pending.push(event);
    } else if (body.type === "reaction") {
      const target = batch.get(body.target) ?? (await this.#store.message(slot.room, body.target));
      if (target === null) return; // a reaction to a message we do not hold (purged, before our join)
      const key = (emoji: string, who: MemberId) => JSON.stringify([emoji, who]);
      const current = new Map(target.reactions.map(([e, who]) => [key(e, who), [e, who] as const]));
      const before = new Set(current.keys());
      const pair = key(body.emoji, h.sender);
      const remove = body.remove ?? false;
      if (remove) current.delete(pair);
      else if ([...current.values()].filter(([, who]) => who === h.sender).length < MAX_REACTIONS) current.set(pair, [body.emoji, h.sender]);
      if (current.size === before.size && [...current.keys()].every((k) => before.has(k))) return;
      const reactions = [...current.values()].sort((a, b) => compareStrings(a[0], b[0]) || compareStrings(a[1], b[1]));
      const reacted: StoredMessage = { ...target, reactions, update: true };
      batch.set(body.target, reacted);
      const event: ReactionChanged = {
        type: "ReactionChanged",
        roomId: slot.room,
        message: toMessage(reacted, this.#blocks, slot.state),
        member: h.sender,
        emoji: body.emoji,
        removed: remove,
      };
      pending.push(event);
    }
  }

  /**
   * The newest `limit` stored messages (before `before`), backfilling if useful.
   *
   * Older events are fetched only if some could be readable: the room shares
   * history, or a commit handed us secrets of epochs before our join.
   *
   * @throws NotFound `before` names no stored message.
   */
  async messages(slot: Slot, limit: number, before: MessageId | null): Promise<Message[]> {
    const room = slot.room;
    let beforeSeq: number | null = null;
    if (before !== null) {
      const anchor = await this.#store.message(room, before);
      if (anchor === null) throw new NotFound(before);
      beforeSeq = anchor.seq;
    }
    const without = this.#blocks.members;
    let found = await this.#store.messages(room, { limit, beforeSeq, without });
    const state = slot.state;
    const readablePast = state.policy.share_history || [...state.secrets.keys()].some((e) => e < state.joinedEpoch);
    while (found.length < limit && readablePast && state.status === "active" && state.floor > state.lowWater + 1) {
      await slot.lock.run(async () => {
        const page = await this.#host.fetchHistory(slot, state.floor);
        const step = state.receiveHistory(page.events, { more: page.more });
        await this.save(slot, step, { announce: false });
      });
      found = await this.#store.messages(room, { limit, beforeSeq, without });
    }
    return found.map((m) => toMessage(m, this.#blocks, state));
  }

  /**
   * Open (or close again) a message's content warning on this device.
   *
   * @throws NotFound The store holds no such message.
   */
  async reveal(slot: Slot, messageId: MessageId, revealed: boolean): Promise<Message> {
    let stored = await this.#store.message(slot.room, messageId);
    if (stored === null) throw new NotFound(messageId);
    if (stored.revealed !== revealed) {
      stored = { ...stored, revealed };
      await this.#store.updateMessage(stored);
    }
    return toMessage(stored, this.#blocks, slot.state);
  }
}
