/**
 * A program room's support queue as plain state: requests, claims, availability
 * (mirrors `client_sdk/_support.py`).
 *
 * `SupportBook` folds the verified `support.*` and `supporter.status` messages of one
 * program room, in room order (the relay's `seq`), into the queue every member
 * computes alike:
 *
 * - a `support.request` enters the queue at its place in room order, whether or not
 *   this member can read its text (only the supporters and the requester can), so
 *   every member agrees on the order;
 * - a `support.claim` counts only if its sender's role is `supporter` in the verified
 *   log when it is read, the sender is not the requester, and the request is still
 *   waiting; so of two claims of one request the first in room order wins on every
 *   client, and any claim from someone else changes nothing;
 * - a `support.withdraw` counts only from the requester, while it waits;
 * - a `support.reseal` from the requester of a waiting request lets supporters who
 *   arrived after it read it; it changes nothing else;
 * - a `supporter.status` counts only from a supporter; the newest wins. The first one
 *   carrying a `queue` snapshot that this member reads (supporters send one when
 *   someone joins) places the waiting requests it lists, which a newcomer could not
 *   read, ahead of every request it reads itself.
 *
 * A request's position is its index among waiting requests, in room order. The book
 * also remembers this member's claims in flight (`pending`: request to the buddy room
 * we opened for it) so our own claim, echoed back in room order, tells whether we won.
 * The sealing and opening of the directed parts (the request's text, the claim's
 * invite) are the functions below; the driver does the I/O.
 */

import { randomBytes, type Rng, seal, unseal } from "./crypto.js";
import { openDirected, sealDirected } from "./directed.js";
import { EnvelopeError } from "./errors.js";
import type { SupportClaimed, SupporterStatusChanged, SupportRequested, SupportWithdrawn } from "./events.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { RoomKeys } from "./keys.js";
import type { Role } from "./ops.js";
import type { RequestStatus, SupporterInfo, SupportRequest } from "./support.js";
import { canonical, decodeMsgpack } from "./wire/codec.js";
import type {
  ReportSeal,
  SupportClaimBody,
  SupporterStatusBody,
  SupportInvite,
  SupportQueueEntry,
  SupportRequestBody,
  SupportRequestContent,
  SupportResealBody,
} from "./wire/schema.gen.js";

const MAX_MS = 253_402_300_799_999;

/** One request as the book keeps it (its persisted form too). */
export interface BookRequest {
  id: string;
  requester: string;
  seq: number;
  sentAt: number | null;
  text: string | null;
  status: string;
  supporter: string | null;
  buddyRoom: string | null;
  buddyOwner: string | null;
  /** The buddy chat's invite link: only in the requester's own book. */
  link: string | null;
  /** The supporters our own request is sealed to (only in the requester's book). */
  readers: string[] | null;
}

/** A supporter's published availability. */
export interface BookStatus {
  readonly available: boolean;
  readonly maxOpen: number | null;
}

/** The persisted form of a `SupportBook` (inside the room's snapshot), plain data. */
export interface SupportSnapshot {
  readonly requests: readonly BookRequest[];
  readonly statuses: Readonly<Record<string, BookStatus>>;
  readonly pending: Readonly<Record<string, string>>;
  readonly lost: Readonly<Record<string, string>>;
  readonly adopted: boolean;
  readonly settled: Readonly<Record<string, string>>;
}

function newRequest(fields: Pick<BookRequest, "id" | "requester" | "seq" | "sentAt" | "text"> & Partial<BookRequest>): BookRequest {
  return { status: "waiting", supporter: null, buddyRoom: null, buddyOwner: null, link: null, readers: null, ...fields };
}

function copyRequest(r: BookRequest): BookRequest {
  return { ...r, readers: r.readers === null ? null : [...r.readers] };
}

export class SupportBook {
  private requestsById = new Map<MessageId, BookRequest>();
  private statuses = new Map<MemberId, BookStatus>();
  /** Our claims sent but not yet read back in room order: request to buddy room. */
  pending = new Map<MessageId, RoomId>();
  /** Our claims another supporter beat: request to the buddy room to abandon. */
  lost = new Map<MessageId, RoomId>();
  /** A supporter's queue snapshot placed the requests from before our join. */
  adopted = false;
  /**
   * Until then: requests we never saw that a supporter claimed (`claim:{member}`) or
   * a member withdrew (`withdraw:{member}`), so a snapshot sent before that cannot put
   * them back in the queue.
   */
  private settled = new Map<MessageId, string>();

  constructor(
    readonly room: RoomId,
    readonly me: MemberId,
  ) {}

  // -- persistence ----------------------------------------------------------------------

  static restore(room: RoomId, me: MemberId, snapshot: SupportSnapshot): SupportBook {
    const book = new SupportBook(room, me);
    book.requestsById = new Map(snapshot.requests.map((r) => [r.id, copyRequest(r)]));
    book.statuses = new Map(Object.entries(snapshot.statuses).map(([m, s]) => [m, { available: s.available, maxOpen: s.maxOpen }]));
    book.pending = new Map(Object.entries(snapshot.pending));
    book.lost = new Map(Object.entries(snapshot.lost));
    book.adopted = snapshot.adopted;
    book.settled = new Map(Object.entries(snapshot.settled));
    return book;
  }

  snapshot(): SupportSnapshot {
    return {
      requests: [...this.requestsById.values()].map(copyRequest),
      statuses: Object.fromEntries([...this.statuses].map(([m, s]) => [m, { ...s }])),
      pending: Object.fromEntries(this.pending),
      lost: Object.fromEntries(this.lost),
      adopted: this.adopted,
      settled: Object.fromEntries(this.settled),
    };
  }

  /** True if nothing was folded or is in flight (every room that is not a program). */
  get empty(): boolean {
    return !(this.requestsById.size || this.statuses.size || this.pending.size || this.lost.size || this.adopted);
  }

  // -- folding, in room order -------------------------------------------------------------

  /**
   * A `support.request` read in room order (`text` null if not ours to read).
   * `readers`: for our own request, the supporters it is sealed to.
   */
  request(args: {
    messageId: MessageId;
    requester: MemberId;
    seq: number;
    sentAt: number;
    text: string | null;
    readers?: readonly MemberId[] | null;
  }): SupportRequested | null {
    if (this.requestsById.has(args.messageId)) return null;
    this.requestsById.set(
      args.messageId,
      newRequest({
        id: args.messageId,
        requester: args.requester,
        seq: args.seq,
        sentAt: args.sentAt,
        text: args.text,
        readers: args.readers == null ? null : [...args.readers],
      }),
    );
    return { type: "SupportRequested", roomId: this.room, request: this.view(args.messageId) };
  }

  /**
   * A `support.claim` read in room order; null if it does not count. `invite` is the
   * opened buddy-chat invite if we are the requester (the caller checked it names this
   * claim and its sender).
   */
  claim(args: { supporter: MemberId; role: Role | null; requestId: MessageId; invite: SupportInvite | null }): SupportClaimed | null {
    const { supporter, role, requestId, invite } = args;
    const request = this.requestsById.get(requestId);
    if (request === undefined && role === "supporter" && !this.adopted && !this.settled.has(requestId)) {
      this.settled.set(requestId, `claim:${supporter}`);
    }
    if (request === undefined || role !== "supporter" || request.status !== "waiting" || supporter === request.requester) {
      if (supporter === this.me && this.pending.has(requestId)) {
        this.lost.set(requestId, this.pending.get(requestId)!);
        this.pending.delete(requestId);
      }
      return null;
    }
    request.status = "claimed";
    request.supporter = supporter;
    if (supporter === this.me && this.pending.has(requestId)) {
      request.buddyRoom = this.pending.get(requestId)!;
      this.pending.delete(requestId);
    } else if (request.requester === this.me && invite !== null) {
      request.buddyRoom = invite.buddy_room;
      request.buddyOwner = invite.buddy_owner;
      request.link = invite.link;
    }
    return {
      type: "SupportClaimed",
      roomId: this.room,
      requestId,
      requester: request.requester,
      supporter,
      buddyRoomId: request.buddyRoom || null,
    };
  }

  /** `member` left the program or was removed: their requests no longer wait. */
  memberGone(member: MemberId): SupportWithdrawn[] {
    const gone = [...this.requestsById.values()].filter((r) => r.requester === member && r.status === "waiting");
    for (const r of gone) r.status = "withdrawn";
    return gone.map((r) => ({ type: "SupportWithdrawn", roomId: this.room, requestId: r.id, requester: member }));
  }

  /** A `support.reseal` read in room order: a request we could not read, now can. */
  resealed(args: { sender: MemberId; requestId: MessageId; text: string | null }): SupportRequested | null {
    const request = this.requestsById.get(args.requestId);
    if (
      request === undefined ||
      request.requester !== args.sender ||
      request.status !== "waiting" ||
      args.text === null ||
      request.text !== null
    ) {
      return null;
    }
    request.text = args.text;
    return { type: "SupportRequested", roomId: this.room, request: this.view(args.requestId) };
  }

  /**
   * Our waiting requests that some current supporter cannot read yet: (request, text,
   * supporters to seal to), counted as sealed, so one change of supporters leads to
   * one reseal.
   */
  resealDue(supporters: Iterable<MemberId>): [MessageId, string, MemberId[]][] {
    const current = [...supporters];
    const due: [MessageId, string, MemberId[]][] = [];
    for (const r of this.requestsById.values()) {
      if (r.requester !== this.me || r.status !== "waiting" || r.text === null) continue;
      if (r.readers === null) continue;
      const readers = r.readers;
      const missing = current.filter((m) => !readers.includes(m) && m !== this.me).sort(cmp);
      if (missing.length > 0) {
        r.readers = [...readers, ...missing];
        due.push([r.id, r.text, missing]);
      }
    }
    return due;
  }

  /** A `support.withdraw` read in room order; null if it does not count. */
  withdraw(args: { sender: MemberId; requestId: MessageId }): SupportWithdrawn | null {
    const { sender, requestId } = args;
    const request = this.requestsById.get(requestId);
    if (request === undefined && !this.adopted && !this.settled.has(requestId)) this.settled.set(requestId, `withdraw:${sender}`);
    if (request === undefined || request.requester !== sender || request.status !== "waiting") return null;
    request.status = "withdrawn";
    return { type: "SupportWithdrawn", roomId: this.room, requestId, requester: sender };
  }

  /** A `supporter.status` read in room order; no events if it does not count. */
  status(args: { member: MemberId; role: Role | null; body: SupporterStatusBody }): (SupporterStatusChanged | SupportRequested)[] {
    const { member, role, body } = args;
    if (role !== "supporter") return [];
    const events: (SupporterStatusChanged | SupportRequested)[] = [];
    const queue = body.queue ?? null;
    if (queue !== null && !this.adopted) {
      this.adopted = true;
      const unknown = queue.filter((e) => !this.requestsById.has(e.request) && !this.wasSettled(e));
      this.settled.clear();
      unknown.forEach((entry, i) => {
        // Before anything we read: negative positions in room order.
        this.requestsById.set(
          entry.request,
          newRequest({ id: entry.request, requester: entry.requester, seq: i - unknown.length, sentAt: null, text: null }),
        );
      });
      for (const e of unknown) events.push({ type: "SupportRequested", roomId: this.room, request: this.view(e.request) });
    }
    const next: BookStatus = { available: body.available, maxOpen: body.max_open ?? null };
    const old = this.statuses.get(member);
    if (old === undefined || old.available !== next.available || old.maxOpen !== next.maxOpen) {
      // A re-sent status changes nothing here.
      this.statuses.set(member, next);
      events.push({ type: "SupporterStatusChanged", roomId: this.room, member, available: next.available, maxOpen: next.maxOpen });
    }
    return events;
  }

  /** A claim or withdrawal of `entry` that would have counted came before. */
  private wasSettled(entry: SupportQueueEntry): boolean {
    const what = this.settled.get(entry.request);
    if (what === undefined) return false;
    const at = what.indexOf(":");
    const kind = what.slice(0, at);
    const member = what.slice(at + 1);
    return (kind === "claim") === (member !== entry.requester);
  }

  // -- views ------------------------------------------------------------------------------

  requesterOf(requestId: MessageId): MemberId | null {
    return this.requestsById.get(requestId)?.requester ?? null;
  }

  /** Waiting requests in room order. */
  queue(): MessageId[] {
    return [...this.requestsById.values()]
      .filter((r) => r.status === "waiting")
      .sort((a, b) => a.seq - b.seq)
      .map((r) => r.id);
  }

  position(requestId: MessageId): number | null {
    const at = this.queue().indexOf(requestId);
    return at < 0 ? null : at + 1;
  }

  has(requestId: MessageId): boolean {
    return this.requestsById.has(requestId);
  }

  /** The app's view of one request. Throws `RangeError` for a request we cannot see. */
  view(requestId: MessageId): SupportRequest {
    const r = this.requestsById.get(requestId);
    if (r === undefined) throw new RangeError(`no support request ${requestId} in this room`);
    return {
      id: requestId,
      roomId: this.room,
      requester: r.requester,
      text: r.text,
      status: r.status as RequestStatus, // written from one
      position: this.position(requestId),
      supporter: r.supporter || null,
      buddyRoomId: r.buddyRoom || null,
      sentAt: r.sentAt === null ? null : new Date(Math.min(Math.max(r.sentAt, 0), MAX_MS)),
      mine: r.requester === this.me,
    };
  }

  /** Every request we can see, in room order. */
  requests(): SupportRequest[] {
    return [...this.requestsById.values()].sort((a, b) => a.seq - b.seq).map((r) => this.view(r.id));
  }

  /** The buddy chat's link, room and owner for our own claimed request. */
  invite(requestId: MessageId): [string, RoomId, MemberId] | null {
    const r = this.requestsById.get(requestId);
    if (r === undefined || r.link === null || r.buddyRoom === null || r.buddyOwner === null) return null;
    return [r.link, r.buddyRoom, r.buddyOwner];
  }

  /** The request we claimed (and won) whose buddy chat is `buddyRoom`, if any. */
  claimOf(buddyRoom: RoomId): SupportRequest | null {
    for (const r of this.requestsById.values()) if (r.supporter === this.me && r.buddyRoom === buddyRoom) return this.view(r.id);
    return null;
  }

  /** The buddy rooms of requests we claimed (and won). */
  claimedByMe(): RoomId[] {
    return [...this.requestsById.values()].filter((r) => r.supporter === this.me && r.buddyRoom !== null).map((r) => r.buddyRoom!);
  }

  /** Every current supporter with the availability they published (away if none). */
  supporters(roles: ReadonlyMap<MemberId, Role>): SupporterInfo[] {
    const out: SupporterInfo[] = [];
    for (const [member, role] of [...roles].sort((a, b) => cmp(a[0], b[0]))) {
      if (role !== "supporter") continue;
      const s = this.statuses.get(member);
      out.push({ member, available: s?.available ?? false, maxOpen: s?.maxOpen ?? null });
    }
    return out;
  }

  /** The waiting requests in room order, for a newcomer (`supporter.status.queue`). */
  queueSnapshot(): SupportQueueEntry[] {
    return this.queue().map((r) => ({ request: r, requester: this.requestsById.get(r)!.requester }));
  }

  myStatus(): SupporterStatusBody | null {
    const s = this.statuses.get(this.me);
    return s === undefined ? null : { type: "supporter.status", available: s.available, max_open: s.maxOpen, queue: null };
  }

  /** Apply our own status at once (the echo changes nothing). */
  noteStatus(body: SupporterStatusBody): void {
    this.statuses.set(this.me, { available: body.available, maxOpen: body.max_open ?? null });
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// -- the directed parts: sealed to chosen members' X25519 keys ------------------------------

function sealContent(
  keys: RoomKeys,
  args: { text: string; to: ReadonlyMap<MemberId, Uint8Array>; also: ReadonlyMap<MemberId, Uint8Array>; at: number; rng: Rng },
): [ReportSeal[], Uint8Array] {
  const content: SupportRequestContent = {
    room: keys.room,
    requester: keys.member,
    text: args.text,
    recipients: [...args.to.keys()].sort(cmp),
    at: args.at,
  };
  const all = new Map([...args.to, ...args.also]);
  const readers = [...all].sort((a, b) => cmp(a[0], b[0]));
  return sealDirected(keys, content, readers, args.rng);
}

/** A `support.request` readable by `supporters` (member to X25519 key) and us. */
export function sealRequest(
  keys: RoomKeys,
  args: { text: string; supporters: ReadonlyMap<MemberId, Uint8Array>; at: number; rng?: Rng },
): SupportRequestBody {
  const also = new Map([[keys.member, keys.boxPublic]]);
  const [seals, ciphertext] = sealContent(keys, { text: args.text, to: args.supporters, also, at: args.at, rng: args.rng ?? randomBytes });
  return { type: "support.request", seals, ciphertext };
}

/** A `support.reseal` of our request `request` for `supporters` only. */
export function sealReseal(
  keys: RoomKeys,
  args: { request: MessageId; text: string; supporters: ReadonlyMap<MemberId, Uint8Array>; at: number; rng?: Rng },
): SupportResealBody {
  const [seals, ciphertext] = sealContent(keys, {
    text: args.text,
    to: args.supporters,
    also: new Map(),
    at: args.at,
    rng: args.rng ?? randomBytes,
  });
  return { type: "support.reseal", request: args.request, seals, ciphertext };
}

/** The request's text if it is sealed to us (null if not ours to read). */
export function openRequest(keys: RoomKeys, sender: MemberId, body: SupportRequestBody | SupportResealBody): string | null {
  return openRequestContent(keys, sender, body)?.text ?? null;
}

/**
 * The signed content of a request (or reseal) sealed to us, null if not ours to read.
 * Throws `CryptoError`, `DecodeError` or `EnvelopeError`: sealed to us but does not
 * open, is not signed by its sender, or names another room or recipients.
 */
export function openRequestContent(
  keys: RoomKeys,
  sender: MemberId,
  body: SupportRequestBody | SupportResealBody,
): SupportRequestContent | null {
  return openDirected(keys, sender, body);
}

/** A claim's `invite`: `crypto_box_seal` of the invite to the requester. */
export function sealInvite(requesterBox: Uint8Array, invite: SupportInvite): Uint8Array {
  return seal(requesterBox, canonical("SupportInvite", invite));
}

/**
 * Open the invite of a claim of our request, and check it belongs to this claim.
 * Throws `CryptoError`, `DecodeError` or `EnvelopeError` (`msg.bad_room`).
 */
export function openInvite(keys: RoomKeys, sender: MemberId, body: SupportClaimBody): SupportInvite {
  const invite = decodeMsgpack<SupportInvite>("SupportInvite", unseal(keys.box, body.invite));
  if (invite.room !== keys.room || invite.request !== body.request || invite.supporter !== sender) {
    throw new EnvelopeError("support invite belongs to another claim", "msg.bad_room");
  }
  return invite;
}
