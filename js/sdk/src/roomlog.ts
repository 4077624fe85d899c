/**
 * The room-log verifier (mirrors `protocol/roomlog.py`): folds signed operations
 * into room state, or refuses them.
 *
 * One piece past 600 lines because it is one fold, as in Python: every check of
 * `append` reads and changes the same state (members, roles, invites, bans, epoch),
 * in an order the spec fixes, and split across files that order would no longer be
 * readable in one place.
 *
 * `RoomLog` is the only way room state comes into being, in every client alike.
 * `append` checks, in the order protocol.md 6.4 fixes, and throws `LogError` with
 * the first failing code:
 *
 * 1. position: `log.bad_index`, `log.bad_room`, `log.bad_genesis` (a `room.create`
 *    whose genesis key does not hash to the room id or did not name the author),
 *    `log.bad_prev`; an operation at an index we already hold throws `ForkDetected`
 *    if it differs from ours and its author really signed it, `log.replay` if not;
 * 2. `log.bad_signature`: the author's signature over the content;
 * 3. authority, one rule per operation kind (`#rule` below): `log.unauthorized`,
 *    `log.not_member`, `log.bad_binding`, `log.bad_key`, `log.bad_invite`,
 *    `log.banned`, `log.room_full`, `log.invalid`;
 * 4. `log.bad_commit`: a membership change without a commit for exactly the next
 *    epoch and exactly the members after the operation, or history in a room that
 *    does not share it.
 *
 * State changes only when every check passes, so a refused operation leaves the log
 * as it was. Rules describe their effect as a delta (`Change`) rather than a copy of
 * the member map, and the sorted member ids are kept incrementally, so a fold costs
 * what its signatures and hashes cost, not a copy per operation.
 */

import { ascii, equalBytes, hex } from "./bytes.js";
import {
  blake2b,
  blake2bJoined,
  checkBoxKey,
  CTX_BINDING,
  CTX_GENESIS,
  CTX_INVITE,
  CTX_OP,
  PERSON_OP_HASH,
  verify,
} from "./crypto.js";
import { CryptoError, DecodeError, ForkDetected, LogError } from "./errors.js";
import { type MemberId, memberKey, type RoomId, roomIdFromGenesis } from "./ids.js";
import {
  DEFAULT_POLICY,
  type FullPolicy,
  fullPolicy,
  type OpBody,
  type Role,
  ROLE_RANK,
} from "./ops.js";
import { canonical } from "./wire/codec.js";
import type { Commit, OpContent, SignedOp } from "./wire/schema.gen.js";

/** The `prev` of index 0 and the head of an empty log. */
export const ZERO_HASH: Uint8Array = new Uint8Array(32);

const MODERATOR = ROLE_RANK.moderator;
const OWNER = ROLE_RANK.owner;

/** A member as the verified log knows them. */
export interface Member {
  readonly id: MemberId;
  readonly boxKey: Uint8Array;
  readonly role: Role;
}

/** An invite link's registration in the log. */
export interface Invite {
  readonly key: Uint8Array;
  readonly role: Role;
  readonly maxUses: number;
  readonly uses: number;
  readonly expiresAt: number;
  readonly createdBy: MemberId;
  readonly revoked: boolean;
}

/** A key the log bans: it cannot be added or join while the ban stands. */
export interface Ban {
  readonly member: MemberId;
  readonly by: MemberId;
  /** The key's role when banned (`member` if it was not in the room): lifting takes that authority. */
  readonly role: Role;
  readonly index: number;
}

// `{"content": ` and `"sig": bin8(64)` around the canonical content: canonical(SignedOp)
// without encoding the content a second time (checked against the codec in the tests).
const SIGNED_OP_HEAD = Uint8Array.of(0x82, 0xa7, ...ascii("content"));
const SIGNED_OP_SIG = Uint8Array.of(0xa3, ...ascii("sig"), 0xc4, 0x40);

/** BLAKE2b-256 of an operation's canonical bytes: the next `prev` (protocol.md 6.2). */
export function opHash(op: SignedOp): Uint8Array {
  return blake2b(canonical("SignedOp", op), PERSON_OP_HASH);
}

/** `opHash(op)`, given the canonical bytes of its content (hashed where they lie, not copied). */
function hashOf(op: SignedOp, content: Uint8Array): Uint8Array {
  const sig = op.sig;
  if (sig.length !== 64) return opHash(op); // never from the wire: the decoder fixes the length
  return blake2bJoined([SIGNED_OP_HEAD, content, SIGNED_OP_SIG, sig], PERSON_OP_HASH);
}

/** An operation body of one kind. */
type Body<T extends OpBody["type"]> = Extract<OpBody, { type: T }>;

/** What an accepted operation does to the state. */
interface Change {
  added?: Member;
  removed?: MemberId;
  roleChange?: Member;
  invite?: Invite;
  policy?: FullPolicy;
  commit?: Commit;
  departed?: boolean;
  /** The one member whose membership or role the operation changes. */
  touched?: MemberId;
  /** `touched` left, was removed, banned or demoted: revoke the open invites they may no longer grant. */
  revoke?: boolean;
  ban?: Ban;
  unban?: MemberId;
}

function fail(code: string, message: string): LogError {
  return new LogError(message, code);
}

function verifyOp(c: OpContent, content: Uint8Array, sig: Uint8Array): void {
  try {
    verify(memberKey(c.author), CTX_OP, content, sig);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof DecodeError) {
      throw fail("log.bad_signature", `operation ${c.index} is not signed by its author`);
    }
    throw exc;
  }
}

function checkGenesis(c: OpContent, body: Body<"room.create">): void {
  // Without this, anyone who knows a room id (every invite link carries it) could sign
  // a room.create of their own for it and serve that log as the room.
  const genesis = body.genesis;
  let room: RoomId;
  try {
    room = roomIdFromGenesis(genesis.key, genesis.nonce);
  } catch {
    throw fail("log.bad_genesis", "malformed genesis");
  }
  if (room !== c.room) throw fail("log.bad_genesis", "the room id is not the hash of this genesis key");
  const statement = canonical("GenesisStatement", { room: c.room, creator: c.author });
  try {
    verify(genesis.key, CTX_GENESIS, statement, genesis.sig);
  } catch (exc) {
    if (exc instanceof CryptoError) {
      throw fail("log.bad_genesis", "the genesis key did not name this author as the first owner");
    }
    throw exc;
  }
}

function checkBinding(room: RoomId, member: MemberId, boxKey: Uint8Array, binding: Uint8Array): void {
  const statement = canonical("Binding", { room, member, box_key: boxKey });
  try {
    verify(memberKey(member), CTX_BINDING, statement, binding);
  } catch (exc) {
    if (exc instanceof CryptoError || exc instanceof DecodeError) {
      throw fail("log.bad_binding", `${member} did not bind this X25519 key`);
    }
    throw exc;
  }
  // A key of small order would make every later commit fail (nothing can be sealed
  // to it): one joiner could freeze the room. It never enters the log.
  try {
    checkBoxKey(boxKey);
  } catch (exc) {
    if (exc instanceof CryptoError) throw fail("log.bad_key", `${member}'s X25519 key is not usable`);
    throw exc;
  }
}

/** The index of the first element of sorted `xs` greater than `x` (Python's `bisect_right`). */
function bisectRight<T>(xs: readonly T[], x: T): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < xs[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function bisectLeft(xs: readonly string[], x: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface RoleHistory {
  readonly indexes: number[];
  readonly roles: (Role | null)[];
}

/** A verified room log and the room state it folds to. */
export class RoomLog {
  #room: RoomId | null = null;
  #policy: FullPolicy = DEFAULT_POLICY;
  readonly #members = new Map<MemberId, Member>();
  /** The member ids in string order (protocol.md 2.1), kept as members come and go. */
  readonly #sorted: MemberId[] = [];
  /** Invites by the hex of their public key. */
  readonly #invites = new Map<string, Invite>();
  readonly #invitesBy = new Map<MemberId, string[]>();
  #epoch = 0;
  #needsRotation = false;
  readonly #ops: SignedOp[] = [];
  readonly #hashes: Uint8Array[] = [];
  readonly #epochAt: number[] = [];
  readonly #confirms = new Map<number, Uint8Array>();
  readonly #banned = new Map<MemberId, Ban>();
  /** Per key: the indexes where its role changed, and the role from there on. */
  readonly #roles = new Map<MemberId, RoleHistory>();

  /** Verify a whole log from its create operation. */
  static fromOps(ops: Iterable<SignedOp>): RoomLog {
    const log = new RoomLog();
    for (const op of ops) log.append(op);
    return log;
  }

  // -- read-only state ----------------------------------------------------------

  /** The room id of `room.create`; `LogError` (`log.empty`) for an empty log. */
  get room(): RoomId {
    if (this.#room === null) throw new LogError("the log is empty", "log.empty");
    return this.#room;
  }

  get policy(): FullPolicy {
    return this.#policy;
  }

  /** Members now, by id (a live, read-only view). */
  get members(): ReadonlyMap<MemberId, Member> {
    return this.#members;
  }

  /** Every invite ever registered, by the hex of its public key (revoked ones included). */
  get invites(): ReadonlyMap<string, Invite> {
    return this.#invites;
  }

  /** The invite registered with public key `key`, if any. */
  invite(key: Uint8Array): Invite | undefined {
    return this.#invites.get(hex(key));
  }

  /** Keys banned now (a lifted ban is gone from here). */
  get banned(): ReadonlyMap<MemberId, Ban> {
    return this.#banned;
  }

  /** The current epoch number (1 after create, 0 for an empty log). */
  get epoch(): number {
    return this.#epoch;
  }

  /** The confirmation tag of every epoch's commit, by epoch number. */
  get confirms(): ReadonlyMap<number, Uint8Array> {
    return this.#confirms;
  }

  /** True after a leave until the next commit: nobody may send until then. */
  get needsRotation(): boolean {
    return this.#needsRotation;
  }

  /** Index of the newest operation, -1 for an empty log. */
  get index(): number {
    return this.#ops.length - 1;
  }

  /** Hash of the newest operation (32 zero bytes for an empty log). */
  get head(): Uint8Array {
    return this.#hashes.length > 0 ? this.#hashes[this.#hashes.length - 1]! : ZERO_HASH;
  }

  /** The verified operations, oldest first (a live, read-only view). */
  get ops(): readonly SignedOp[] {
    return this.#ops;
  }

  /** How many operations the log holds. */
  get length(): number {
    return this.#ops.length;
  }

  roleOf(member: MemberId): Role | null {
    return this.#members.get(member)?.role ?? null;
  }

  /**
   * The role `member` held once the operation at `index` applied (null: not a member).
   * What a message placed after that operation in room order is judged by.
   */
  roleAt(member: MemberId, index: number): Role | null {
    const history = this.#roles.get(member);
    if (history === undefined || index < 0) return null;
    const at = bisectRight(history.indexes, index);
    return at > 0 ? history.roles[at - 1]! : null;
  }

  /** Every role `member` held from index `first` through `last`, in order. */
  rolesBetween(member: MemberId, first: number, last: number): (Role | null)[] {
    const history = this.#roles.get(member);
    if (history === undefined) return [null];
    const start = bisectRight(history.indexes, first);
    const end = bisectRight(history.indexes, last);
    return [start > 0 ? history.roles[start - 1]! : null, ...history.roles.slice(start, end)];
  }

  /** True if `member` may now add a `role` or create an invite granting it. */
  mayGrant(member: MemberId, role: Role): boolean {
    const holder = this.#members.get(member);
    if (holder === undefined) return false;
    const rank = ROLE_RANK[holder.role];
    return rank >= ROLE_RANK[this.#policy.invite_role] && ROLE_RANK[role] <= rank;
  }

  /** The hash of the operation at `index` (`RangeError` outside the log). */
  hashAt(index: number): Uint8Array {
    const h = this.#hashes[index];
    if (h === undefined) throw new RangeError(`no operation at index ${index}`);
    return h;
  }

  /** The epoch in force once the operation at `index` applied (`RangeError` outside the log). */
  epochAt(index: number): number {
    const e = this.#epochAt[index];
    if (e === undefined) throw new RangeError(`no operation at index ${index}`);
    return e;
  }

  /**
   * Place a head someone else saw in our log: true if we hold `head` at `index`,
   * false if `index` is beyond our log (sync, then ask again).
   * Throws `ForkDetected` if we hold a different operation at `index`.
   */
  checkHead(index: number, head: Uint8Array): boolean {
    if (index >= this.#hashes.length || index < 0) return false;
    if (!equalBytes(this.#hashes[index]!, head)) throw new ForkDetected(`two different operations at index ${index}`);
    return true;
  }

  // -- appending ----------------------------------------------------------------

  /** Verify `op` against the current state and apply it; return its hash. */
  append(op: SignedOp): Uint8Array {
    const c = op.content;
    const length = this.#ops.length;
    const content = canonical("OpContent", c);
    if (c.index < length) {
      if (equalBytes(hashOf(op, content), this.#hashes[c.index]!)) {
        throw fail("log.replay", `operation ${c.index} is already in the log`);
      }
      // Only a second operation its author really signed proves two histories;
      // anything else is a forgery, reported as such.
      verifyOp(c, content, op.sig);
      if (c.room === this.#room) throw new ForkDetected(`a different operation at index ${c.index}`);
    }
    if (c.index !== length) throw fail("log.bad_index", `expected index ${length}, got ${c.index}`);
    if (this.#room !== null && c.room !== this.#room) throw fail("log.bad_room", "operation names another room");
    if (!equalBytes(c.prev, this.head)) throw fail("log.bad_prev", `operation ${c.index} does not follow our head`);
    verifyOp(c, content, op.sig);

    if (c.body.type !== "room.create" && length === 0) throw fail("log.invalid", "a log starts with room.create");
    const change = this.#rule(c);
    this.#checkCommit(change);
    return this.#apply(op, c, change, hashOf(op, content));
  }

  /** The whole authority table: one rule per operation kind. */
  #rule(c: OpContent): Change {
    const body = c.body;
    switch (body.type) {
      case "room.create":
        return this.#create(c, body);
      case "room.add":
        return this.#add(c, body);
      case "room.remove":
        return this.#remove(c, body);
      case "room.leave":
        return this.#leave(c);
      case "room.invite.create":
        return this.#inviteCreate(c, body);
      case "room.invite.revoke":
        return this.#inviteRevoke(c, body);
      case "room.join":
        return this.#join(c, body);
      case "room.role":
        return this.#role(c, body);
      case "room.rotate":
        return this.#rotate(c, body);
      case "room.retention":
        return this.#retention(c, body);
      case "room.ban":
        return this.#ban(c, body);
      case "room.unban":
        return this.#unban(c, body);
      default:
        throw fail("log.invalid", "unknown operation");
    }
  }

  #checkCommit(change: Change): void {
    const commit = change.commit;
    if (commit === undefined) return;
    if (commit.epoch !== this.#epoch + 1) throw fail("log.bad_commit", `commit must start epoch ${this.#epoch + 1}`);
    const policy = change.policy ?? this.#policy;
    if (commit.history != null && !policy.share_history) {
      throw fail("log.bad_commit", "this room's policy does not share history");
    }
    // The shares must name exactly the members after the operation, in string order:
    // walk the sorted ids with the one added and the one removed, without a copy.
    const ids = this.#sorted;
    const added = change.added?.id;
    const removed = change.removed;
    const count = ids.length + (added !== undefined ? 1 : 0) - (removed !== undefined ? 1 : 0);
    const shares = commit.shares;
    let ok = shares.length === count;
    let j = 0;
    let pending = added;
    for (let i = 0; ok && i < shares.length; i++) {
      if (j < ids.length && ids[j] === removed) j++;
      const next = j < ids.length ? ids[j]! : undefined;
      let expected: MemberId | undefined;
      if (pending !== undefined && (next === undefined || pending < next)) {
        expected = pending;
        pending = undefined;
      } else {
        expected = next;
        j++;
      }
      ok = shares[i]!.member === expected;
    }
    if (!ok) throw fail("log.bad_commit", "commit must seal to exactly the members, sorted by id");
  }

  #apply(op: SignedOp, c: OpContent, change: Change, hash: Uint8Array): Uint8Array {
    if (c.body.type === "room.create") this.#room = c.room;
    if (change.policy !== undefined) this.#policy = change.policy;
    if (change.removed !== undefined) {
      this.#members.delete(change.removed);
      this.#sorted.splice(bisectLeft(this.#sorted, change.removed), 1);
    }
    if (change.added !== undefined) {
      this.#members.set(change.added.id, change.added);
      this.#sorted.splice(bisectLeft(this.#sorted, change.added.id), 0, change.added.id);
    }
    if (change.roleChange !== undefined) this.#members.set(change.roleChange.id, change.roleChange);
    if (change.invite !== undefined) {
      const key = hex(change.invite.key);
      if (!this.#invites.has(key)) {
        const mine = this.#invitesBy.get(change.invite.createdBy);
        if (mine === undefined) this.#invitesBy.set(change.invite.createdBy, [key]);
        else mine.push(key);
      }
      this.#invites.set(key, change.invite);
    }
    if (change.ban !== undefined) this.#banned.set(change.ban.member, change.ban);
    if (change.unban !== undefined) this.#banned.delete(change.unban);
    if (c.body.type === "room.create") {
      for (const member of this.#members.keys()) this.#noteRole(member, c.index); // the first members
    }
    if (change.touched !== undefined) {
      this.#noteRole(change.touched, c.index);
      if (change.revoke) this.#revokeInvitesOf(change.touched);
    }
    if (change.commit !== undefined) {
      this.#epoch = change.commit.epoch;
      this.#confirms.set(this.#epoch, change.commit.confirm);
      this.#needsRotation = false;
    }
    if (change.departed) this.#needsRotation = true;
    this.#ops.push(op);
    this.#hashes.push(hash);
    this.#epochAt.push(this.#epoch);
    return hash;
  }

  /** Record `member`'s role from `index` on (null once they are gone). */
  #noteRole(member: MemberId, index: number): void {
    let history = this.#roles.get(member);
    if (history === undefined) {
      history = { indexes: [], roles: [] };
      this.#roles.set(member, history);
    }
    history.indexes.push(index);
    history.roles.push(this.#members.get(member)?.role ?? null);
  }

  /** Revoke `member`'s open invites that they may no longer grant. */
  #revokeInvitesOf(member: MemberId): void {
    for (const key of this.#invitesBy.get(member) ?? []) {
      const invite = this.#invites.get(key)!;
      if (!invite.revoked && !this.mayGrant(member, invite.role)) this.#invites.set(key, { ...invite, revoked: true });
    }
  }

  // -- rules --------------------------------------------------------------------

  #author(c: OpContent): Member {
    const member = this.#members.get(c.author);
    if (member === undefined) throw fail("log.not_member", `${c.author} is not a member`);
    return member;
  }

  #rank(c: OpContent): number {
    return ROLE_RANK[this.#author(c).role];
  }

  #roomHasSpace(): void {
    const cap = this.#policy.max_members;
    if (cap !== null && this.#members.size >= cap) throw fail("log.room_full", `the room holds at most ${cap} members`);
  }

  #notBanned(member: MemberId): void {
    if (this.#banned.has(member)) throw fail("log.banned", `${member} is banned from this room`);
  }

  /** Moderators remove (and ban) lower ranks; owners anyone but themselves. */
  #mayRemove(c: OpContent, target: MemberId, role: Role, what: string): void {
    const rank = this.#rank(c);
    if (target === c.author) throw fail("log.invalid", `use room.leave to leave, not room.${what}`);
    if (rank < MODERATOR || (rank !== OWNER && ROLE_RANK[role] >= rank)) {
      throw fail("log.unauthorized", `${c.author} may not ${what} a ${role}`);
    }
  }

  #create(c: OpContent, body: Body<"room.create">): Change {
    if (c.index !== 0 || !equalBytes(c.prev, ZERO_HASH)) throw fail("log.bad_index", "room.create only at index 0");
    checkGenesis(c, body);
    checkBinding(c.room, c.author, body.box_key, body.binding);
    const added: Member = { id: c.author, boxKey: body.box_key, role: "owner" };
    return { added, policy: fullPolicy(body.policy), commit: body.commit };
  }

  #add(c: OpContent, body: Body<"room.add">): Change {
    const role: Role = body.role ?? "member";
    const rank = this.#rank(c);
    if (rank < ROLE_RANK[this.#policy.invite_role] || ROLE_RANK[role] > rank) {
      throw fail("log.unauthorized", `${c.author} may not add a ${role}`);
    }
    if (this.#members.has(body.member)) throw fail("log.invalid", `${body.member} is already a member`);
    this.#notBanned(body.member);
    this.#roomHasSpace();
    checkBinding(c.room, body.member, body.box_key, body.binding);
    const added: Member = { id: body.member, boxKey: body.box_key, role };
    return { added, commit: body.commit, touched: body.member };
  }

  #remove(c: OpContent, body: Body<"room.remove">): Change {
    this.#author(c);
    const target = this.#members.get(body.member);
    if (target === undefined) throw fail("log.not_member", `${body.member} is not a member`);
    this.#mayRemove(c, body.member, target.role, "remove");
    return { removed: body.member, commit: body.commit, touched: body.member, revoke: true };
  }

  #ban(c: OpContent, body: Body<"room.ban">): Change {
    this.#author(c);
    if (this.#banned.has(body.member)) throw fail("log.invalid", `${body.member} is banned already`);
    const target = this.#members.get(body.member);
    const role: Role = target !== undefined ? target.role : "member";
    this.#mayRemove(c, body.member, role, "ban");
    const ban: Ban = { member: body.member, by: c.author, role, index: c.index };
    const commit = body.commit ?? null;
    if (target === undefined) {
      if (commit !== null) throw fail("log.bad_commit", "banning a non-member commits no epoch");
      return { ban, touched: body.member, revoke: true };
    }
    if (commit === null) throw fail("log.bad_commit", "banning a member must commit the next epoch");
    return { removed: body.member, commit, ban, touched: body.member, revoke: true };
  }

  #unban(c: OpContent, body: Body<"room.unban">): Change {
    const rank = this.#rank(c);
    const ban = this.#banned.get(body.member);
    if (ban === undefined) throw fail("log.invalid", `${body.member} is not banned`);
    if (rank < MODERATOR || (rank !== OWNER && ROLE_RANK[ban.role] >= rank)) {
      throw fail("log.unauthorized", `${c.author} may not lift a ban on a ${ban.role}`);
    }
    return { unban: body.member };
  }

  #leave(c: OpContent): Change {
    this.#author(c);
    return { removed: c.author, departed: true, touched: c.author, revoke: true };
  }

  #inviteCreate(c: OpContent, body: Body<"room.invite.create">): Change {
    const role: Role = body.role ?? "member";
    const rank = this.#rank(c);
    if (rank < ROLE_RANK[this.#policy.invite_role] || ROLE_RANK[role] > rank) {
      throw fail("log.unauthorized", `${c.author} may not invite a ${role}`);
    }
    if (role === "owner") throw fail("log.unauthorized", "an invite cannot grant owner");
    if (this.#invites.has(hex(body.invite_key))) throw fail("log.invalid", "this invite key is already registered");
    const invite: Invite = {
      key: body.invite_key,
      role,
      maxUses: body.max_uses ?? 1,
      uses: 0,
      expiresAt: body.expires_at,
      createdBy: c.author,
      revoked: false,
    };
    return { invite };
  }

  #inviteRevoke(c: OpContent, body: Body<"room.invite.revoke">): Change {
    const rank = this.#rank(c);
    const invite = this.#invites.get(hex(body.invite_key));
    if (invite === undefined || invite.revoked) throw fail("log.bad_invite", "no such live invite");
    if (invite.createdBy !== c.author && rank < MODERATOR) {
      throw fail("log.unauthorized", `${c.author} may not revoke this invite`);
    }
    return { invite: { ...invite, revoked: true } };
  }

  #join(c: OpContent, body: Body<"room.join">): Change {
    if (this.#members.has(c.author)) throw fail("log.invalid", `${c.author} is already a member`);
    const invite = this.#invites.get(hex(body.invite_key));
    if (invite === undefined || invite.revoked) throw fail("log.bad_invite", "no such live invite");
    if (invite.uses >= invite.maxUses) throw fail("log.bad_invite", "this invite has no uses left");
    if (c.at > invite.expiresAt) throw fail("log.bad_invite", "this invite has expired");
    // An invite admits only while its creator may still grant it, as at creation:
    // removal, a ban and a demotion revoke it in the state already; this also covers
    // a creator who left.
    if (!this.mayGrant(invite.createdBy, invite.role)) {
      throw fail("log.bad_invite", "the invite's creator may no longer grant it");
    }
    this.#notBanned(c.author);
    const proof = canonical("InviteProof", { room: c.room, index: c.index, joiner: c.author, box_key: body.box_key });
    try {
      verify(body.invite_key, CTX_INVITE, proof, body.invite_proof);
    } catch (exc) {
      if (exc instanceof CryptoError) throw fail("log.bad_invite", "the joiner does not hold the invite secret");
      throw exc;
    }
    this.#roomHasSpace();
    checkBinding(c.room, c.author, body.box_key, body.binding);
    const added: Member = { id: c.author, boxKey: body.box_key, role: invite.role };
    return { added, invite: { ...invite, uses: invite.uses + 1 }, commit: body.commit, touched: c.author };
  }

  #role(c: OpContent, body: Body<"room.role">): Change {
    const rank = this.#rank(c);
    const target = this.#members.get(body.member);
    if (target === undefined) throw fail("log.not_member", `${body.member} is not a member`);
    if (body.member === c.author) throw fail("log.unauthorized", "a member cannot change their own role");
    if (
      rank !== OWNER &&
      (rank < MODERATOR || ROLE_RANK[target.role] >= rank || ROLE_RANK[body.role] >= rank)
    ) {
      throw fail("log.unauthorized", `${c.author} may not make a ${target.role} ${body.role}`);
    }
    return { roleChange: { ...target, role: body.role }, touched: body.member, revoke: true };
  }

  #rotate(c: OpContent, body: Body<"room.rotate">): Change {
    this.#author(c);
    return { commit: body.commit };
  }

  #retention(c: OpContent, body: Body<"room.retention">): Change {
    if (this.#rank(c) !== OWNER) throw fail("log.unauthorized", `${c.author} may not change the retention`);
    return { policy: { ...this.#policy, retention_days: body.retention_days ?? null } };
  }
}
