/**
 * The room log's vocabulary (mirrors the logic of `protocol/ops.py`).
 *
 * The wire structures themselves (`SignedOp`, `OpContent`, every operation body,
 * `Commit`, `Policy`) are generated from the Python structures into
 * `wire/schema.gen.ts` and re-exported here under their protocol names; this module
 * adds what is logic rather than structure: role ranks, the protocol version, the
 * union of operation bodies. Signing an operation is `signOp` in `signing.ts`, as
 * `sign_op` is in `protocol/signing.py`.
 */

import { PROTOCOL_VERSION } from "./wire/codec.js";
import type { Commit, OpContent, Policy } from "./wire/schema.gen.js";

export { PROTOCOL_VERSION };
export type {
  AddOp,
  BanOp,
  Binding,
  Commit,
  CreateOp,
  Genesis,
  GenesisStatement,
  InviteCreateOp,
  InviteProof,
  InviteRevokeOp,
  JoinOp,
  LeaveOp,
  OpContent,
  Policy,
  RemoveOp,
  RetentionOp,
  RoleOp,
  RotateOp,
  Share,
  SignedOp,
  UnbanOp,
} from "./wire/schema.gen.js";

export type Role = "owner" | "moderator" | "supporter" | "member";
export type RoomKind = "group" | "buddy" | "program";

/** One operation of the log: a tagged union on `type` (protocol.md 3.2). */
export type OpBody = OpContent["body"];

/** Higher rank may do everything a lower rank may. */
export const ROLE_RANK: Readonly<Record<Role, number>> = Object.freeze({ member: 0, supporter: 1, moderator: 2, owner: 3 });

/** A `Policy` with every field filled in, as the verified log holds it. */
export type FullPolicy = Required<Policy>;

/** `Policy()` with its defaults: a group, moderators invite, no shared history, no cap, no purge. */
export const DEFAULT_POLICY: FullPolicy = Object.freeze({
  kind: "group",
  invite_role: "moderator",
  share_history: false,
  max_members: null,
  retention_days: null,
});

/** Fill in a policy's defaults (a policy built by hand may leave them out). */
export function fullPolicy(policy: Policy): FullPolicy {
  return {
    kind: policy.kind ?? DEFAULT_POLICY.kind,
    invite_role: policy.invite_role ?? DEFAULT_POLICY.invite_role,
    share_history: policy.share_history ?? DEFAULT_POLICY.share_history,
    max_members: policy.max_members ?? null,
    retention_days: policy.retention_days ?? null,
  };
}

/** The commit an operation body carries, if any (`room.ban` of a non-member carries none). */
export function commitOf(body: OpBody): Commit | null {
  return "commit" in body && body.commit != null ? body.commit : null;
}
