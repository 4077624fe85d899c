/**
 * The driver of community programs: asking for support, claiming, buddy chats
 * (mirrors `client_sdk/_programs.py`).
 *
 * The queue itself is plain state (`SupportBook`, folded by the room state in room
 * order); what is here does the I/O around it for `Room`:
 *
 * - `requestSupport` seals the request to the supporters of the verified log (and to
 *   us), sends it, and syncs once so the answer carries its place;
 * - `claim` checks locally (role, availability, cap, request still waiting), opens a
 *   buddy chat, sends the claim with the chat's invite sealed to the requester, then
 *   syncs until its own claim comes back in room order: only then is it known whether
 *   another supporter's claim came first. A lost claim leaves the buddy chat it
 *   opened and raises `support.taken`;
 * - `buddyChat` joins the buddy chat a claim of our request names (the SDK does it by
 *   itself when it verifies the claim) and checks, in that room's verified log, that
 *   its owner is the key the supporter's signed claim named.
 *
 * `PROGRAMS` hands the client the follow-ups the room core asks for (`restatus`,
 * `joinClaimed`, `reseal`, `abandon`, `unjoined`: `programHooks.ts`). No relay support
 * is needed: every step is an encrypted message of the program room or an ordinary
 * buddy chat.
 */

import type { RoomState } from "./core/state.js";
import { Step } from "./core/step.js";
import type { RoomDriver } from "./driver.js";
import type { RoomHost } from "./host.js";
import type { MemberId, MessageId, RoomId } from "./ids.js";
import type { ProgramHooks } from "./programHooks.js";
import { InviteError, RelayUnavailable, RoomInactive, SupportError } from "./sdkErrors.js";
import type { SupportRequest } from "./support.js";
import { sealInvite, sealRequest, sealReseal } from "./supportBook.js";
import type { SupportInvite } from "./wire/schema.gen.js";

/** The request's seals hold at most 256 readers, ours included. */
export const MAX_READERS = 255;
const BUDDY_INVITE_SECONDS = 7 * 24 * 3600;

/** A program room's driver, after the checks every program call makes. */
export function programDriver(host: RoomHost, room: RoomId): RoomDriver {
  const driver = host.driver(room);
  driver.state.requireSendable();
  if (driver.state.policy.kind !== "program") throw new SupportError("support requests are for program rooms", "support.not_program");
  return driver;
}

function requireSupporter(state: RoomState): void {
  if (state.log.roleOf(state.me) !== "supporter") {
    throw new SupportError("only the program's supporters take 1:1 chats", "support.not_supporter");
  }
}

function known(state: RoomState, request: MessageId): SupportRequest {
  if (!state.support.has(request)) throw new SupportError(`no support request ${request} here`, "support.unknown_request");
  return state.support.view(request);
}

/** Read the rooms back up to what we just sent; offline, what we sent waits in the outbox. */
async function settleQuietly(host: RoomHost): Promise<void> {
  try {
    await host.sync();
  } catch (exc) {
    if (!(exc instanceof RelayUnavailable)) throw exc;
  }
}

function checkWaiting(state: RoomState, view: SupportRequest, mine: boolean): void {
  if (mine && view.requester !== state.me) throw new SupportError("only the requester withdraws a request", "support.not_requester");
  if (!mine && view.requester === state.me) throw new SupportError("nobody claims their own request", "support.own_request");
  if (view.status === "claimed") throw new SupportError("another supporter claimed this request", "support.taken");
  if (view.status === "withdrawn") throw new SupportError("the requester withdrew this request", "support.withdrawn");
}

/** Ask the program's supporters for a 1:1 chat (`Room.requestSupport`). */
export async function requestSupport(host: RoomHost, room: RoomId, text: string): Promise<SupportRequest> {
  const driver = programDriver(host, room);
  const state = driver.state;
  const supporters = new Map<MemberId, Uint8Array>();
  for (const m of state.log.members.values()) if (m.role === "supporter" && m.id !== state.me) supporters.set(m.id, m.boxKey);
  if (supporters.size === 0) throw new SupportError("this program has no supporter to ask", "support.no_supporters");
  if (supporters.size > MAX_READERS) {
    throw new SupportError(`a request reaches at most ${MAX_READERS} supporters`, "support.too_many_supporters");
  }
  const at = driver.clock.nowMs();
  const requestId = await driver.send(sealRequest(state.keys, { text, supporters, at }));
  await settleQuietly(host);
  const book = driver.state.support;
  if (book.has(requestId)) return book.view(requestId);
  // Still in the outbox: it takes its place once the relay has it.
  return Object.freeze({
    id: requestId,
    roomId: room,
    requester: state.me,
    text,
    status: "sending",
    position: null,
    supporter: null,
    buddyRoomId: null,
    sentAt: new Date(at),
    mine: true,
  });
}

/** Take back our request while nobody has claimed it (`Room.withdrawRequest`). */
export async function withdraw(host: RoomHost, room: RoomId, request: MessageId): Promise<void> {
  const driver = programDriver(host, room);
  checkWaiting(driver.state, known(driver.state, request), true);
  await driver.send({ type: "support.withdraw", request });
  await settleQuietly(host);
  if (driver.state.support.view(request).status === "claimed") {
    throw new SupportError("a supporter claimed the request before the withdrawal", "support.taken");
  }
}

/**
 * Our open buddy chats from claims: in flight, or neither side has left.
 *
 * A buddy chat closes when either buddy leaves it (or is removed): its verified log
 * then holds a `room.leave` or `room.remove`.
 */
export function openChats(host: RoomHost, state: RoomState): number {
  let count = state.support.pending.size;
  for (const buddy of state.support.claimedByMe()) {
    const chat = host.rooms.get(buddy);
    if (chat === undefined || chat.state.status !== "active") continue;
    if (chat.state.log.ops.some((op) => op.content.body.type === "room.leave" || op.content.body.type === "room.remove")) continue;
    count += 1;
  }
  return count;
}

/** Claim a waiting request as a supporter; the buddy chat it opens (`Room.claim`). */
export async function claim(host: RoomHost, room: RoomId, request: MessageId): Promise<RoomId> {
  const driver = programDriver(host, room);
  const state = driver.state;
  requireSupporter(state);
  const view = known(state, request);
  checkWaiting(state, view, false);
  const status = state.support.myStatus();
  if (status === null || !status.available) throw new SupportError("you set yourself away", "support.away");
  const cap = status.max_open ?? null;
  if (cap !== null && openChats(host, state) >= cap) {
    throw new SupportError(`you carry ${cap} open buddy chat(s), your cap`, "support.at_capacity");
  }
  const requester = state.log.members.get(view.requester);
  if (requester === undefined) throw new SupportError("the requester left the program", "support.requester_gone");

  const buddy = host.driver(await host.createBuddyChat("Support chat"));
  const link = await buddy.invite({ maxUses: 1, expiresIn: BUDDY_INVITE_SECONDS, role: "member" });
  const invite: SupportInvite = {
    room,
    request,
    supporter: state.me,
    buddy_room: buddy.room,
    buddy_owner: buddy.state.me,
    link,
  };
  await driver.slot.lock.run(async () => {
    driver.state.support.pending.set(request, buddy.room);
    await driver.save(new Step());
  });
  try {
    await driver.send({ type: "support.claim", request, invite: sealInvite(requester.boxKey, invite) });
  } catch (exc) {
    await driver.slot.lock.run(async () => {
      driver.state.support.pending.delete(request);
      await driver.save(new Step());
    });
    await buddy.leave().catch(() => undefined);
    throw exc;
  }
  await host.sync(); // RelayUnavailable: the claim waits in the outbox; events tell
  if (driver.state.support.view(request).supporter === driver.state.me) return buddy.room;
  await abandon(host, driver, request);
  if (buddy.state.status === "active") {
    // The SDK's own abandon (from reading the claim) may be leaving it right now: the
    // room's lock makes this wait for it, then find nothing left to do.
    try {
      await buddy.leave();
    } catch (exc) {
      if (!(exc instanceof RoomInactive)) throw exc;
    }
  }
  throw new SupportError("another supporter claimed this request first", "support.taken");
}

/** Leave the buddy chat of a claim that lost (now, or once read back after a restart). */
export async function abandon(host: RoomHost, driver: RoomDriver, request: MessageId): Promise<void> {
  const buddy = await driver.slot.lock.run(async () => {
    const book = driver.state.support;
    const lost = book.lost.get(request) ?? book.pending.get(request) ?? null;
    if (!book.lost.delete(request)) book.pending.delete(request);
    await driver.save(new Step());
    return lost;
  });
  const chat = buddy !== null ? host.rooms.get(buddy) : undefined;
  if (chat !== undefined && chat.state.status === "active") {
    try {
      await chat.leave();
    } catch (exc) {
      if (!(exc instanceof RoomInactive)) throw exc;
    }
  }
}

/** Our claimed requests whose buddy chat this device has not joined. */
export function unjoined(host: RoomHost): Array<readonly [RoomDriver, MessageId]> {
  const out: Array<readonly [RoomDriver, MessageId]> = [];
  for (const driver of host.rooms.values()) {
    const book = driver.state.support;
    if (driver.state.status !== "active" || book.empty) continue;
    for (const view of book.requests()) {
      const invite = view.mine && view.status === "claimed" ? book.invite(view.id) : null;
      if (invite !== null && !host.rooms.has(invite[1])) out.push([driver, view.id]);
    }
  }
  return out;
}

/** Say whether we take 1:1 chats now, and the cap (`Room.setAvailability`). */
export async function setAvailability(host: RoomHost, room: RoomId, available: boolean, maxOpen: number | "keep" | null): Promise<void> {
  const driver = programDriver(host, room);
  requireSupporter(driver.state);
  let cap: number | null;
  if (maxOpen === "keep") {
    cap = driver.state.support.myStatus()?.max_open ?? null;
  } else {
    if (maxOpen !== null && !(Number.isInteger(maxOpen) && maxOpen >= 1 && maxOpen <= 1000)) {
      throw new SupportError("the cap is 1 to 1000 open chats", "support.bad_cap");
    }
    cap = maxOpen;
  }
  await driver.send({ type: "supporter.status", available, max_open: cap, queue: null });
}

/**
 * Re-send our status, with the queue, for a newcomer (who cannot read the old ones).
 * A supporter who never said anything says "away": the status a newcomer assumes anyway.
 */
export async function restatus(driver: RoomDriver): Promise<void> {
  const state = driver.state;
  if (state.log.roleOf(state.me) !== "supporter") return;
  const status = state.support.myStatus() ?? { type: "supporter.status" as const, available: false, max_open: null, queue: null };
  await driver.send({ ...status, queue: state.support.queueSnapshot() });
}

/** Seal our waiting request again for supporters who arrived after it. */
export async function reseal(driver: RoomDriver, request: MessageId, text: string, to: readonly MemberId[]): Promise<void> {
  const state = driver.state;
  const keys = new Map<MemberId, Uint8Array>();
  for (const member of to) {
    const known = state.log.members.get(member);
    if (known !== undefined) keys.set(member, known.boxKey);
  }
  if (keys.size > 0 && state.support.view(request).status === "waiting") {
    await driver.send(sealReseal(state.keys, { request, text, supporters: keys, at: driver.clock.nowMs() }));
  }
}

/** The buddy chat a claim of this request opened, joining it first if need be (`Room.buddyChat`). */
export async function buddyChat(host: RoomHost, room: RoomId, request: MessageId): Promise<RoomId> {
  const state = host.driver(room).state;
  const view = known(state, request);
  if (view.status !== "claimed" || view.buddyRoomId === null) {
    throw new SupportError("no buddy chat of ours for this request", "support.no_buddy_chat");
  }
  if (view.supporter === state.me) {
    host.driver(view.buddyRoomId); // NotFound unless the local store holds it
    return view.buddyRoomId;
  }
  if (view.supporter !== null && host.blocked.has(view.supporter)) {
    throw new InviteError("a key you blocked claimed this request; ask again", "invite.blocked");
  }
  const invite = state.support.invite(request);
  if (invite === null) throw new SupportError("no buddy chat of ours for this request", "support.no_buddy_chat");
  const [link, buddyRoom, owner] = invite;
  // The automatic join and the app's call: one join.
  return host.buddyLock.run(async () => {
    const existing = host.rooms.get(buddyRoom);
    if (existing !== undefined && existing.state.status === "active") return buddyRoom;
    const buddy = await host.join(link);
    const chat = host.driver(buddy);
    const joined = chat.state;
    const theirs = joined.log.members.get(owner);
    if (joined.policy.kind !== "buddy" || theirs === undefined || theirs.role !== "owner") {
      await chat.leave();
      throw new SupportError("the buddy chat is not the claiming supporter's", "support.bad_invite");
    }
    return buddy;
  });
}

/** The automatic join when our request is claimed (the client reports errors). */
export async function joinClaimed(host: RoomHost, room: RoomId, request: MessageId): Promise<void> {
  await buddyChat(host, room, request);
}

/** The programs feature as the client calls it (`programHooks.ts`). */
export const PROGRAMS: ProgramHooks = { restatus, joinClaimed, reseal, abandon, unjoined };
