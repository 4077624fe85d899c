/**
 * The support queue's folding rules, without sockets (`src/supportBook.ts`), ported
 * from `tests/client_sdk/test_support.py`.
 *
 * Every member feeds the same messages in room order to a `SupportBook` and must
 * reach the same queue and the same winner of every claim, whatever they can read.
 */

import { decode as msgpackDecode } from "@msgpack/msgpack";
import { beforeAll, describe, expect, it } from "vitest";

import { b64url } from "../src/bytes.js";
import { CryptoError, EnvelopeError } from "../src/errors.js";
import { cryptoReady, randomBytes } from "../src/crypto.js";
import { type MemberId, newMessageId } from "../src/ids.js";
import { RootSeed, type RoomKeys } from "../src/keys.js";
import type { Role } from "../src/ops.js";
import type { SupportRequested } from "../src/events.js";
import { openInvite, openRequest, sealInvite, sealRequest, sealReseal, SupportBook } from "../src/supportBook.js";
import { canonical } from "../src/wire/codec.js";
import type { SupportClaimBody, SupporterStatusBody, SupportInvite, SupportQueueEntry } from "../src/wire/schema.gen.js";

const someRoomId = () => b64url(randomBytes(24));
let ROOM: string;
let ANA: RoomKeys, BEN: RoomKeys, CLEO: RoomKeys, SAM: RoomKeys, SUE: RoomKeys;
let ROLES: Map<MemberId, Role>;

beforeAll(async () => {
  await cryptoReady();
  ROOM = someRoomId();
  [ANA, BEN, CLEO, SAM, SUE] = [0, 1, 2, 3, 4].map(() => RootSeed.generate().roomKeys(ROOM)) as [RoomKeys, RoomKeys, RoomKeys, RoomKeys, RoomKeys];
  ROLES = new Map<MemberId, Role>([
    [ANA.member, "member"],
    [BEN.member, "member"],
    [CLEO.member, "owner"],
    [SAM.member, "supporter"],
    [SUE.member, "supporter"],
  ]);
});

const status = (available: boolean, extra: Partial<SupporterStatusBody> = {}): SupporterStatusBody => ({
  type: "supporter.status",
  available,
  max_open: null,
  queue: null,
  ...extra,
});

function books(): SupportBook[] {
  return [ANA, BEN, CLEO, SAM, SUE].map((k) => new SupportBook(ROOM, k.member));
}

function feedRequest(all: SupportBook[], rid: string, requester: MemberId, seq: number): void {
  for (const book of all) {
    const readable = [requester, SAM.member, SUE.member].includes(book.me);
    book.request({ messageId: rid, requester, seq, sentAt: seq, text: readable ? "help" : null });
  }
}

function feedClaim(all: SupportBook[], rid: string, supporter: MemberId): void {
  for (const book of all) book.claim({ supporter, role: ROLES.get(supporter)!, requestId: rid, invite: null });
}

function throws(fn: () => unknown, kind: new (...args: never[]) => Error): void {
  expect(fn).toThrow(kind);
}

describe("the support book", () => {
  it("every member folds the same queue and the first claim wins", () => {
    const all = books();
    const [first, second, third] = [newMessageId(), newMessageId(), newMessageId()];
    feedRequest(all, first, ANA.member, 10);
    feedRequest(all, second, BEN.member, 12);
    feedRequest(all, third, ANA.member, 15);
    expect(new Set(all.map((b) => b.queue().join()))).toEqual(new Set([[first, second, third].join()]));
    expect(all.map((b) => b.view(second).position)).toEqual([2, 2, 2, 2, 2]);
    expect(all.map((b) => b.view(first).text)).toEqual(["help", null, null, "help", "help"]);

    // Sam's claim comes first in room order, Sue's second: Sam wins everywhere.
    all[3]!.pending.set(second, someRoomId());
    const lostRoom = someRoomId();
    all[4]!.pending.set(second, lostRoom);
    feedClaim(all, second, SAM.member);
    feedClaim(all, second, SUE.member);
    for (const book of all) {
      const view = book.view(second);
      expect([view.status, view.supporter, view.position]).toEqual(["claimed", SAM.member, null]);
      expect(book.queue()).toEqual([first, third]);
      expect(book.position(third)).toBe(2);
    }
    expect(all[3]!.claimedByMe()).not.toEqual([]);
    expect(all[4]!.claimedByMe()).toEqual([]);
    expect(all[4]!.lost).toEqual(new Map([[second, lostRoom]]));
    expect(all[4]!.pending).toEqual(new Map());
  });

  it("claims and withdrawals that do not count change nothing", () => {
    const all = books();
    const rid = newMessageId();
    feedRequest(all, rid, ANA.member, 3);
    for (const book of all) {
      // Not a supporter (owner, member), the requester themself, an unknown request.
      expect(book.claim({ supporter: CLEO.member, role: "owner", requestId: rid, invite: null })).toBeNull();
      expect(book.claim({ supporter: BEN.member, role: "member", requestId: rid, invite: null })).toBeNull();
      expect(book.claim({ supporter: ANA.member, role: "supporter", requestId: rid, invite: null })).toBeNull();
      expect(book.claim({ supporter: SAM.member, role: "supporter", requestId: newMessageId(), invite: null })).toBeNull();
      expect(book.withdraw({ sender: BEN.member, requestId: rid })).toBeNull();
      expect(book.view(rid).status).toBe("waiting");
      expect(book.status({ member: BEN.member, role: "member", body: status(true) })).toEqual([]);
    }
    // A withdrawal by the requester counts; a later claim does not.
    for (const book of all) {
      expect(book.withdraw({ sender: ANA.member, requestId: rid })).not.toBeNull();
      expect(book.claim({ supporter: SAM.member, role: "supporter", requestId: rid, invite: null })).toBeNull();
      expect(book.view(rid).status).toBe("withdrawn");
      expect(book.queue()).toEqual([]);
    }
  });

  it("availability is away until said and the newest status wins", () => {
    const book = new SupportBook(ROOM, ANA.member);
    const sorted = [
      [SAM.member, false],
      [SUE.member, false],
    ].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
    expect(book.supporters(ROLES).map((s) => [s.member, s.available])).toEqual(sorted);
    expect(book.status({ member: SAM.member, role: "supporter", body: status(true, { max_open: 2 }) }).length).toBeGreaterThan(0);
    // Re-sent for a newcomer: no second event.
    expect(book.status({ member: SAM.member, role: "supporter", body: status(true, { max_open: 2 }) })).toEqual([]);
    expect(book.status({ member: SAM.member, role: "supporter", body: status(false) }).length).toBeGreaterThan(0);
    const info = Object.fromEntries(book.supporters(ROLES).map((s) => [s.member, [s.available, s.maxOpen]]));
    expect(info).toEqual({ [SAM.member]: [false, null], [SUE.member]: [false, null] });
    // A supporter demoted to member no longer shows.
    const demoted = new Map(ROLES).set(SAM.member, "member");
    expect(book.supporters(demoted).map((s) => s.member)).toEqual([SUE.member]);
  });

  it("the book survives a snapshot", () => {
    const book = new SupportBook(ROOM, SAM.member);
    const rid = newMessageId();
    book.request({ messageId: rid, requester: ANA.member, seq: 4, sentAt: 1, text: "help" });
    book.pending.set(rid, someRoomId());
    book.noteStatus(status(true, { max_open: 3 }));
    const again = SupportBook.restore(ROOM, SAM.member, structuredClone(book.snapshot()));
    expect(again.view(rid)).toEqual(book.view(rid));
    expect(again.pending).toEqual(book.pending);
    expect(again.myStatus()).toEqual(status(true, { max_open: 3 }));
  });

  it("a request opens only for its supporters and its requester", () => {
    const body = sealRequest(ANA, { text: "I relapsed", supporters: new Map([[SAM.member, SAM.boxPublic]]), at: 1 });
    const wire = msgpackDecode(canonical("SupportRequestBody", body)) as Record<string, unknown>;
    expect(Object.entries(wire)[0]).toEqual(["type", "support.request"]);
    expect(openRequest(SAM, ANA.member, body)).toBe("I relapsed");
    expect(openRequest(ANA, ANA.member, body)).toBe("I relapsed");
    expect(openRequest(BEN, ANA.member, body)).toBeNull();
    expect(new TextDecoder("latin1").decode(canonical("SupportRequestBody", body))).not.toContain("relapsed");
    // Copied into someone else's message, it names another requester: refused.
    throws(() => openRequest(SAM, BEN.member, body), EnvelopeError);
    // A seal addressed to Sam but made for another key does not open.
    const swapped = { ...body, seals: body.seals.filter((s) => s.member === ANA.member).map((s) => ({ ...s, member: SAM.member })) };
    throws(() => openRequest(SAM, ANA.member, swapped), CryptoError);
  });

  it("a claim's invite opens only for the requester and only in its claim", () => {
    const rid = newMessageId();
    const invite: SupportInvite = {
      room: ROOM,
      request: rid,
      supporter: SAM.member,
      buddy_room: someRoomId(),
      buddy_owner: SAM.member,
      link: "http://relay/join/x#y",
    };
    const body: SupportClaimBody = { type: "support.claim", request: rid, invite: sealInvite(ANA.boxPublic, invite) };
    expect(openInvite(ANA, SAM.member, body)).toEqual(invite);
    throws(() => openInvite(BEN, SAM.member, body), CryptoError);
    throws(() => openInvite(ANA, SUE.member, body), EnvelopeError); // Sue re-sends Sam's sealed invite as hers
    throws(() => openInvite(ANA, SAM.member, { ...body, request: newMessageId() }), EnvelopeError); // or for another request
  });

  it("a newcomer places the requests it could not read from a supporter's snapshot", () => {
    const newcomer = new SupportBook(ROOM, BEN.member);
    const [claimed, withdrawn, older, oldest] = [newMessageId(), newMessageId(), newMessageId(), newMessageId()];
    // Read after the join, about requests from before it (never seen here).
    expect(newcomer.claim({ supporter: SUE.member, role: "supporter", requestId: claimed, invite: null })).toBeNull();
    expect(newcomer.withdraw({ sender: ANA.member, requestId: withdrawn })).toBeNull();
    const mine = newMessageId();
    newcomer.request({ messageId: mine, requester: BEN.member, seq: 50, sentAt: 9, text: "me" });
    expect(newcomer.position(mine)).toBe(1);

    // A member's "snapshot" counts for nothing.
    const fake: SupportQueueEntry = { request: newMessageId(), requester: ANA.member };
    expect(newcomer.status({ member: ANA.member, role: "member", body: status(true, { queue: [fake] }) })).toEqual([]);
    const snapshot: SupportQueueEntry[] = [
      { request: oldest, requester: CLEO.member },
      { request: claimed, requester: ANA.member },
      { request: withdrawn, requester: ANA.member },
      { request: older, requester: ANA.member },
      { request: mine, requester: BEN.member },
    ];
    const events = newcomer.status({ member: SAM.member, role: "supporter", body: status(true, { queue: snapshot }) });
    expect(events.filter((e): e is SupportRequested => e.type === "SupportRequested").map((e) => e.request.id)).toEqual([oldest, older]);
    expect(newcomer.queue()).toEqual([oldest, older, mine]);
    expect(newcomer.position(mine)).toBe(3);
    expect(newcomer.view(oldest).text).toBeNull();
    expect(newcomer.view(oldest).sentAt).toBeNull();

    // Only the first snapshot counts; later claims apply as usual.
    const later: SupportQueueEntry = { request: newMessageId(), requester: ANA.member };
    newcomer.status({ member: SUE.member, role: "supporter", body: status(true, { queue: [later] }) });
    expect(newcomer.queue()).toEqual([oldest, older, mine]);
    newcomer.claim({ supporter: SUE.member, role: "supporter", requestId: oldest, invite: null });
    expect(newcomer.position(mine)).toBe(2);
    const again = SupportBook.restore(ROOM, BEN.member, structuredClone(newcomer.snapshot()));
    expect(again.queue()).toEqual([older, mine]);
    expect(again.adopted).toBe(true);
  });

  it("a member who saw everything gains nothing from a snapshot", () => {
    const old = new SupportBook(ROOM, ANA.member);
    const rid = newMessageId();
    old.request({ messageId: rid, requester: ANA.member, seq: 3, sentAt: 1, text: "x" });
    old.claim({ supporter: SAM.member, role: "supporter", requestId: rid, invite: null });
    old.status({ member: SUE.member, role: "supporter", body: status(false, { queue: [{ request: rid, requester: ANA.member }] }) });
    expect(old.queue()).toEqual([]);
    expect(old.view(rid).status).toBe("claimed");
  });

  it("a reseal lets a later supporter read and changes nothing else", () => {
    const mine = new SupportBook(ROOM, ANA.member);
    const rid = newMessageId();
    mine.request({ messageId: rid, requester: ANA.member, seq: 1, sentAt: 1, text: "help", readers: [SAM.member] });
    expect(mine.resealDue([SAM.member])).toEqual([]);
    expect(mine.resealDue([SAM.member, SUE.member])).toEqual([[rid, "help", [SUE.member]]]);
    expect(mine.resealDue([SAM.member, SUE.member])).toEqual([]); // one reseal per newcomer

    const body = sealReseal(ANA, { request: rid, text: "help", supporters: new Map([[SUE.member, SUE.boxPublic]]), at: 2 });
    expect((msgpackDecode(canonical("SupportResealBody", body)) as Record<string, unknown>).type).toBe("support.reseal");
    expect(openRequest(SUE, ANA.member, body)).toBe("help");
    expect(openRequest(SAM, ANA.member, body)).toBeNull();
    expect(openRequest(ANA, ANA.member, body)).toBeNull(); // not sealed to the requester again

    const sue = new SupportBook(ROOM, SUE.member);
    sue.request({ messageId: rid, requester: ANA.member, seq: 1, sentAt: 1, text: null });
    expect(sue.resealed({ sender: BEN.member, requestId: rid, text: "forged" })).toBeNull();
    expect(sue.resealed({ sender: ANA.member, requestId: newMessageId(), text: "help" })).toBeNull();
    const event = sue.resealed({ sender: ANA.member, requestId: rid, text: "help" });
    expect([event?.request.text, event?.request.position]).toEqual(["help", 1]);
    expect(sue.resealed({ sender: ANA.member, requestId: rid, text: "changed" })).toBeNull();
    expect(sue.view(rid).text).toBe("help");
  });

  it("a requester who is gone no longer waits", () => {
    const book = new SupportBook(ROOM, SAM.member);
    const [first, second, third] = [newMessageId(), newMessageId(), newMessageId()];
    book.request({ messageId: first, requester: ANA.member, seq: 1, sentAt: 1, text: null });
    book.request({ messageId: second, requester: BEN.member, seq: 2, sentAt: 1, text: null });
    book.request({ messageId: third, requester: ANA.member, seq: 3, sentAt: 1, text: null });
    book.claim({ supporter: SUE.member, role: "supporter", requestId: third, invite: null });
    expect(book.memberGone(ANA.member).map((e) => e.requestId)).toEqual([first]);
    expect(book.queue()).toEqual([second]);
    expect(book.view(third).status).toBe("claimed");
  });
});
