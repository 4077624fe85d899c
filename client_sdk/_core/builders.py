"""This member's own signed log operations, built against the verified log.

Every commit is sealed only to the X25519 keys of the verified log, never to a
key the relay named; a room that shares history hands the new epoch every secret
we hold. Each builder checks what only the log can say (a member to remove, a ban
to lift, a live invite to join with, the member cap); whether the room may send
at all (alarms, status) is the facade's check, made before a builder is called.
:func:`create_op` makes the first operation of a new room.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

from client_sdk._core.ledger import Ledger
from client_sdk.errors import InviteError
from protocol import crypto
from protocol.epochs import make_commit
from protocol.errors import LogError
from protocol.ids import MemberId
from protocol.keys import GenesisKey, RoomKeys
from protocol.ops import (
    BanOp,
    Commit,
    CreateOp,
    InviteCreateOp,
    InviteRevokeOp,
    JoinOp,
    LeaveOp,
    OpBody,
    Policy,
    RemoveOp,
    RetentionOp,
    Role,
    RoleOp,
    RotateOp,
    SignedOp,
    UnbanOp,
)
from protocol.roomlog import ZERO_HASH
from protocol.signing import InviteKey, sign_op

__all__ = ["OpBuilder", "create_op"]


@final
class OpBuilder:
    """Signs this member's next operation onto the verified log. See the module docstring."""

    def __init__(self, keys: RoomKeys, secrets: Mapping[int, bytes], ledger: Ledger) -> None:
        self.keys = keys
        self.secrets = secrets
        """The room's epoch secrets (the facade's own dict, read here)."""
        self.ledger = ledger

    def sign(self, body: OpBody, now: int) -> SignedOp:
        log = self.ledger.log
        return sign_op(self.keys, index=log.index + 1, prev=log.head, at=now, body=body)

    def commit(self, recipients: Mapping[MemberId, bytes], rng: crypto.Rng) -> Commit:
        log = self.ledger.log
        history = dict(self.secrets) if log.policy.share_history else None
        commit, _ = make_commit(
            room=self.keys.room,
            epoch=log.epoch + 1,
            prev=log.head,
            recipients=recipients,
            history=history,
            rng=rng,
        )
        return commit

    def recipients(self, without: MemberId | None = None) -> dict[MemberId, bytes]:
        # Only keys from the verified log: never a key the relay named.
        members = self.ledger.log.members.values()
        return {m.id: m.box_key for m in members if m.id != without}

    def rotate(self, *, now: int, rng: crypto.Rng) -> SignedOp:
        """A ``room.rotate``: a fresh epoch for the members the log has now."""
        return self.sign(RotateOp(commit=self.commit(self.recipients(), rng)), now)

    def remove(self, member: MemberId, *, now: int, rng: crypto.Rng) -> SignedOp:
        """A ``room.remove`` of ``member``, with the epoch the rest move to."""
        if member not in self.ledger.log.members:
            raise LogError(f"{member} is not a member", code="log.not_member")
        commit = self.commit(self.recipients(without=member), rng)
        return self.sign(RemoveOp(member=member, commit=commit), now)

    def ban(self, member: MemberId, *, now: int, rng: crypto.Rng) -> SignedOp:
        """A ``room.ban`` of ``member``; if they are a member, with the epoch the rest move to."""
        log = self.ledger.log
        if member in log.banned:
            raise LogError(f"{member} is banned already", code="log.invalid")
        commit = None
        if member in log.members:
            commit = self.commit(self.recipients(without=member), rng)
        return self.sign(BanOp(member=member, commit=commit), now)

    def unban(self, member: MemberId, *, now: int) -> SignedOp:
        """A ``room.unban`` lifting the ban on ``member``."""
        if member not in self.ledger.log.banned:
            raise LogError(f"{member} is not banned", code="log.invalid")
        return self.sign(UnbanOp(member=member), now)

    def leave(self, *, now: int) -> SignedOp:
        """A ``room.leave``; the next remaining member to act rotates."""
        return self.sign(LeaveOp(), now)

    def role(self, member: MemberId, role: Role, *, now: int) -> SignedOp:
        """A ``room.role`` giving ``member`` the role ``role``."""
        return self.sign(RoleOp(member=member, role=role), now)

    def retention(self, days: int | None, *, now: int) -> SignedOp:
        """A ``room.retention`` (owners only; 1 to 36500 days, or None)."""
        if self.ledger.log.role_of(self.keys.member) != "owner":
            raise LogError("only an owner changes the retention", code="log.unauthorized")
        if days is not None and not 1 <= days <= 36_500:
            raise LogError("retention is 1 to 36500 days, or None", code="log.invalid")
        return self.sign(RetentionOp(retention_days=days), now)

    def require_space(self) -> None:
        """Raise if the policy's member cap is reached (a buddy chat holds two).

        The log verifier refuses a join or add beyond the cap anyway (the relay's
        and every member's); refusing here keeps a client from handing out an
        invite nobody could use, or signing a join nobody would accept.

        Raises:
            InviteError: ``invite.room_full``.
        """
        log = self.ledger.log
        cap = log.policy.max_members
        if cap is not None and len(log.members) >= cap:
            what = "a buddy chat" if log.policy.kind == "buddy" else "this room"
            raise InviteError(f"{what} holds at most {cap} members", code="invite.room_full")

    def invite(
        self, invite: InviteKey, *, role: Role, max_uses: int, expires_at: int, now: int
    ) -> SignedOp:
        """A ``room.invite.create`` registering the public half of ``invite``."""
        self.require_space()
        body = InviteCreateOp(
            invite_key=invite.public, role=role, max_uses=max_uses, expires_at=expires_at
        )
        return self.sign(body, now)

    def revoke(self, invite_key: bytes, *, now: int) -> SignedOp:
        """A ``room.invite.revoke``."""
        return self.sign(InviteRevokeOp(invite_key=invite_key), now)

    def join(self, invite: InviteKey, *, now: int, rng: crypto.Rng) -> SignedOp:
        """A ``room.join`` with ``invite``, committing a new epoch to the log's members and us.

        Raises:
            InviteError: The verified log holds no live invite for this key
                (``invite.unknown``, ``invite.banned``, ``invite.revoked``,
                ``invite.used_up``, ``invite.expired``), or the room is full.
        """
        log = self.ledger.log
        me = self.keys.member
        registered = log.invites.get(invite.public)
        if registered is None:
            raise InviteError("this room has no such invite", code="invite.unknown")
        if me in log.banned:
            raise InviteError("a moderator banned you from this room", code="invite.banned")
        if registered.revoked or not log.may_grant(registered.created_by, registered.role):
            # Revoked, or its creator was removed, banned, demoted or left.
            raise InviteError("this invite was revoked", code="invite.revoked")
        if registered.uses >= registered.max_uses:
            raise InviteError("this invite has been used up", code="invite.used_up")
        if now > registered.expires_at:
            raise InviteError("this invite has expired", code="invite.expired")
        self.require_space()
        index = log.index + 1
        recipients = self.recipients()
        recipients[me] = self.keys.box_public
        body = JoinOp(
            invite_key=invite.public,
            invite_proof=invite.prove(
                room=self.keys.room, index=index, joiner=me, box_key=self.keys.box_public
            ),
            box_key=self.keys.box_public,
            binding=self.keys.binding(),
            commit=self.commit(recipients, rng),
        )
        return self.sign(body, now)


def create_op(
    genesis: GenesisKey,
    keys: RoomKeys,
    policy: Policy,
    *,
    now: int,
    rng: crypto.Rng = crypto.random_bytes,
) -> SignedOp:
    """The ``room.create`` of a new room: ``keys.member`` is its first owner."""
    if keys.room != genesis.room:
        raise ValueError("the room keys are not for this genesis key's room")
    commit, _ = make_commit(
        room=keys.room, epoch=1, prev=ZERO_HASH, recipients={keys.member: keys.box_public}, rng=rng
    )
    body = CreateOp(
        genesis=genesis.prove(keys.member),
        policy=policy,
        box_key=keys.box_public,
        binding=keys.binding(),
        commit=commit,
    )
    return sign_op(keys, index=0, prev=ZERO_HASH, at=now, body=body)
