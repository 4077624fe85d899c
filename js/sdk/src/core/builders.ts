/**
 * This member's own signed log operations, built against the verified log (mirrors
 * `client_sdk/_core/builders.py`).
 *
 * Every commit is sealed only to the X25519 keys of the verified log, never to a key
 * the relay named; a room that shares history hands the new epoch every secret we
 * hold. Each builder checks what only the log can say (a member to remove, a ban to
 * lift, a live invite to join with, the member cap); whether the room may send at all
 * (alarms, status) is the facade's check, made before a builder is called.
 * `createOp` makes the first operation of a new room.
 */

import { randomBytes, type Rng } from "../crypto.js";
import { makeCommit } from "../epochs.js";
import { LogError } from "../errors.js";
import type { MemberId } from "../ids.js";
import type { GenesisKey, RoomKeys } from "../keys.js";
import type { OpBody, Role } from "../ops.js";
import { ZERO_HASH } from "../roomlog.js";
import { InviteError } from "../sdkErrors.js";
import { type InviteKey, signOp } from "../signing.js";
import { make } from "../wire/codec.js";
import type { Commit, Policy, SignedOp } from "../wire/schema.gen.js";
import type { Ledger } from "./ledger.js";

export class OpBuilder {
  constructor(
    readonly keys: RoomKeys,
    /** The room's epoch secrets (the facade's own map, read here). */
    readonly secrets: ReadonlyMap<number, Uint8Array>,
    readonly ledger: Ledger,
  ) {}

  sign(body: OpBody, now: number): SignedOp {
    const log = this.ledger.log;
    return signOp(this.keys, { index: log.index + 1, prev: log.head, at: now, body });
  }

  commit(recipients: ReadonlyMap<MemberId, Uint8Array>, rng: Rng): Commit {
    const log = this.ledger.log;
    const history = log.policy.share_history ? new Map(this.secrets) : null;
    return makeCommit({ room: this.keys.room, epoch: log.epoch + 1, prev: log.head, recipients, history, rng }).commit;
  }

  recipients(without: MemberId | null = null): Map<MemberId, Uint8Array> {
    // Only keys from the verified log: never a key the relay named.
    const out = new Map<MemberId, Uint8Array>();
    for (const m of this.ledger.log.members.values()) if (m.id !== without) out.set(m.id, m.boxKey);
    return out;
  }

  /** A `room.rotate`: a fresh epoch for the members the log has now. */
  rotate(now: number, rng: Rng): SignedOp {
    return this.sign({ type: "room.rotate", commit: this.commit(this.recipients(), rng) }, now);
  }

  /** A `room.remove` of `member`, with the epoch the rest move to. */
  remove(member: MemberId, now: number, rng: Rng): SignedOp {
    if (!this.ledger.log.members.has(member)) throw new LogError(`${member} is not a member`, "log.not_member");
    const commit = this.commit(this.recipients(member), rng);
    return this.sign({ type: "room.remove", member, commit }, now);
  }

  /** A `room.ban` of `member`; if they are a member, with the epoch the rest move to. */
  ban(member: MemberId, now: number, rng: Rng): SignedOp {
    const log = this.ledger.log;
    if (log.banned.has(member)) throw new LogError(`${member} is banned already`, "log.invalid");
    const commit = log.members.has(member) ? this.commit(this.recipients(member), rng) : null;
    return this.sign({ type: "room.ban", member, commit }, now);
  }

  /** A `room.unban` lifting the ban on `member`. */
  unban(member: MemberId, now: number): SignedOp {
    if (!this.ledger.log.banned.has(member)) throw new LogError(`${member} is not banned`, "log.invalid");
    return this.sign({ type: "room.unban", member }, now);
  }

  /** A `room.leave`; the next remaining member to act rotates. */
  leave(now: number): SignedOp {
    return this.sign({ type: "room.leave" }, now);
  }

  /** A `room.role` giving `member` the role `role`. */
  role(member: MemberId, role: Role, now: number): SignedOp {
    return this.sign({ type: "room.role", member, role }, now);
  }

  /** A `room.retention` (owners only; 1 to 36500 days, or null). */
  retention(days: number | null, now: number): SignedOp {
    if (this.ledger.log.roleOf(this.keys.member) !== "owner") {
      throw new LogError("only an owner changes the retention", "log.unauthorized");
    }
    if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= 36_500)) {
      throw new LogError("retention is 1 to 36500 days, or None", "log.invalid");
    }
    return this.sign({ type: "room.retention", retention_days: days }, now);
  }

  /**
   * Throw if the policy's member cap is reached (a buddy chat holds two).
   *
   * The log verifier refuses a join or add beyond the cap anyway (the relay's and
   * every member's); refusing here keeps a client from handing out an invite nobody
   * could use, or signing a join nobody would accept. Throws `InviteError`
   * (`invite.room_full`).
   */
  requireSpace(): void {
    const log = this.ledger.log;
    const cap = log.policy.max_members;
    if (cap !== null && log.members.size >= cap) {
      const what = log.policy.kind === "buddy" ? "a buddy chat" : "this room";
      throw new InviteError(`${what} holds at most ${cap} members`, "invite.room_full");
    }
  }

  /** A `room.invite.create` registering the public half of `invite`. */
  invite(invite: InviteKey, args: { role: Role; maxUses: number; expiresAt: number; now: number }): SignedOp {
    this.requireSpace();
    return this.sign(
      { type: "room.invite.create", invite_key: invite.publicKey, role: args.role, max_uses: args.maxUses, expires_at: args.expiresAt },
      args.now,
    );
  }

  /** A `room.invite.revoke`. */
  revoke(inviteKey: Uint8Array, now: number): SignedOp {
    return this.sign({ type: "room.invite.revoke", invite_key: inviteKey }, now);
  }

  /**
   * A `room.join` with `invite`, committing a new epoch to the log's members and us.
   *
   * Throws `InviteError`: the verified log holds no live invite for this key
   * (`invite.unknown`, `invite.banned`, `invite.revoked`, `invite.used_up`,
   * `invite.expired`), or the room is full.
   */
  join(invite: InviteKey, now: number, rng: Rng): SignedOp {
    const log = this.ledger.log;
    const me = this.keys.member;
    const registered = log.invite(invite.publicKey);
    if (registered === undefined) throw new InviteError("this room has no such invite", "invite.unknown");
    if (log.banned.has(me)) throw new InviteError("a moderator banned you from this room", "invite.banned");
    if (registered.revoked || !log.mayGrant(registered.createdBy, registered.role)) {
      // Revoked, or its creator was removed, banned, demoted or left.
      throw new InviteError("this invite was revoked", "invite.revoked");
    }
    if (registered.uses >= registered.maxUses) throw new InviteError("this invite has been used up", "invite.used_up");
    if (now > registered.expiresAt) throw new InviteError("this invite has expired", "invite.expired");
    this.requireSpace();
    const index = log.index + 1;
    const recipients = this.recipients();
    recipients.set(me, this.keys.boxPublic);
    return this.sign(
      {
        type: "room.join",
        invite_key: invite.publicKey,
        invite_proof: invite.prove({ room: this.keys.room, index, joiner: me, boxKey: this.keys.boxPublic }),
        box_key: this.keys.boxPublic,
        binding: this.keys.binding(),
        commit: this.commit(recipients, rng),
      },
      now,
    );
  }
}

/** The `room.create` of a new room: `keys.member` is its first owner. */
export function createOp(genesis: GenesisKey, keys: RoomKeys, policy: Policy, args: { now: number; rng?: Rng }): SignedOp {
  if (keys.room !== genesis.room) throw new RangeError("the room keys are not for this genesis key's room");
  const { commit } = makeCommit({
    room: keys.room,
    epoch: 1,
    prev: ZERO_HASH,
    recipients: new Map([[keys.member, keys.boxPublic]]),
    rng: args.rng ?? randomBytes,
  });
  return signOp(keys, {
    index: 0,
    prev: ZERO_HASH,
    at: args.now,
    body: {
      type: "room.create",
      genesis: genesis.prove(keys.member),
      policy: make<Policy>("Policy", { ...policy }),
      box_key: keys.boxPublic,
      binding: keys.binding(),
      commit,
    },
  });
}
