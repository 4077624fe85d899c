"""The room-log verifier: folds signed operations into room state, or refuses them.

One piece past 600 lines because it is one fold: every check of ``append`` reads
and changes the same state (members, roles, invites, bans, epoch), in an order the
spec fixes, and split across files that order would no longer be readable in one place.

:class:`RoomLog` is the only way room state comes into being, in the relay and in
every client alike. ``append`` checks, in this order, and raises :class:`LogError`
with the first failing code:

1. position: ``log.bad_index`` (not the next index), ``log.bad_room``,
   ``log.bad_genesis`` (a ``room.create`` whose genesis key does not hash to the
   room id, or did not name the author as the room's first owner),
   ``log.bad_prev`` (not chained to our head); an operation at an index we already
   hold raises :class:`ForkDetected` if it differs from ours, ``log.replay`` if not;
2. ``log.bad_signature``: the author's signature over the content;
3. authority, from the one table ``_RULES`` below: ``log.unauthorized`` (the author
   may not do this under the policy and roles at this point), ``log.not_member``,
   ``log.bad_binding``, ``log.bad_key`` (an X25519 key nothing can be sealed to),
   ``log.bad_invite`` (also: the invite's creator may no longer grant it),
   ``log.banned`` (adding or joining a banned key), ``log.room_full``, ``log.invalid``;
4. ``log.bad_commit``: a membership change without a commit for exactly the next
   epoch and exactly the members after the operation, or a commit that passes
   earlier epochs on in a room whose policy does not share history.

State changes only when every check passes, so a refused operation leaves the log
as it was. An invite lives only as long as its creator may grant it: the creator
leaving, being removed, banned or demoted marks their open invites revoked, and a
join checks the creator's standing again. Every change of a member's role (joining, leaving and
removal included) is kept with its index, so :meth:`RoomLog.role_at` answers what
role a key held at any point of the log.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final, final

import msgspec

from protocol import crypto
from protocol.encoding import canonical
from protocol.errors import CryptoError, DecodeError, ForkDetected, LogError
from protocol.ids import MemberId, RoomId, member_key, room_id_from_genesis
from protocol.ops import (
    ROLE_RANK,
    AddOp,
    BanOp,
    Binding,
    Commit,
    CreateOp,
    GenesisStatement,
    InviteCreateOp,
    InviteProof,
    InviteRevokeOp,
    JoinOp,
    LeaveOp,
    OpBody,
    OpContent,
    Policy,
    RemoveOp,
    RetentionOp,
    Role,
    RoleOp,
    RotateOp,
    SignedOp,
    UnbanOp,
)

__all__ = ["ZERO_HASH", "Ban", "Invite", "Member", "RoomLog", "op_hash"]

ZERO_HASH: Final = bytes(32)
_MODERATOR: Final = ROLE_RANK["moderator"]


def op_hash(op: SignedOp) -> bytes:
    """BLAKE2b-256 of an operation's canonical bytes: the next ``prev``."""
    return crypto.blake2b(canonical(op), person=crypto.PERSON_OP_HASH)


@final
@dataclass(frozen=True, slots=True)
class Member:
    """A member as the verified log knows them."""

    id: MemberId
    box_key: bytes
    role: Role


@final
@dataclass(frozen=True, slots=True)
class Invite:
    """An invite link's registration in the log."""

    key: bytes
    role: Role
    max_uses: int
    uses: int
    expires_at: int
    created_by: MemberId
    revoked: bool = False


@final
@dataclass(frozen=True, slots=True)
class Ban:
    """A key the log bans: it cannot be added or join while the ban stands."""

    member: MemberId
    by: MemberId
    role: Role
    """The key's role when banned (``member`` if it was not in the room): lifting the
    ban takes the authority that imposing it took."""
    index: int


@dataclass(slots=True)
class _Change:
    """What an accepted operation does to the state."""

    members: dict[MemberId, Member] | None = None
    invite: Invite | None = None
    policy: Policy | None = None
    commit: Commit | None = None
    departed: bool = False
    touched: MemberId | None = None
    """The one member whose membership or role the operation changes."""
    revoke: bool = False
    """``touched`` left, was removed, banned or had their role changed: their open
    invites that they may no longer grant are revoked (``_join`` checks it again)."""
    ban: Ban | None = None
    unban: MemberId | None = None


def _fail(code: str, message: str) -> LogError:
    return LogError(message, code=code)


def _verify_op(op: SignedOp) -> None:
    c = op.content
    try:
        crypto.verify(member_key(c.author), crypto.CTX_OP, canonical(c), op.sig)
    except (CryptoError, DecodeError) as exc:
        raise _fail(
            "log.bad_signature", f"operation {c.index} is not signed by its author"
        ) from exc


def _check_genesis(c: OpContent, body: CreateOp) -> None:
    """The room id is the hash of the genesis key, which named the author as owner.

    Without this, anyone who knows a room id (every invite link carries it) could
    sign a ``room.create`` of their own for it and serve that log as the room.
    """
    genesis = body.genesis
    try:
        room = room_id_from_genesis(genesis.key, genesis.nonce)
    except DecodeError as exc:  # pragma: no cover - the wire types fix both lengths
        raise _fail("log.bad_genesis", "malformed genesis") from exc
    if room != c.room:
        raise _fail("log.bad_genesis", "the room id is not the hash of this genesis key")
    statement = canonical(GenesisStatement(room=c.room, creator=c.author))
    try:
        crypto.verify(genesis.key, crypto.CTX_GENESIS, statement, genesis.sig)
    except CryptoError as exc:
        raise _fail(
            "log.bad_genesis", "the genesis key did not name this author as the first owner"
        ) from exc


def _check_binding(room: RoomId, member: MemberId, box_key: bytes, binding: bytes) -> None:
    statement = canonical(Binding(room=room, member=member, box_key=box_key))
    try:
        crypto.verify(member_key(member), crypto.CTX_BINDING, statement, binding)
    except (CryptoError, DecodeError) as exc:
        raise _fail("log.bad_binding", f"{member} did not bind this X25519 key") from exc
    # A key of small order would make every later commit fail (nothing can be sealed
    # to it): one joiner could freeze the room. It never enters the log.
    try:
        crypto.check_box_key(box_key)
    except CryptoError as exc:
        raise _fail("log.bad_key", f"{member}'s X25519 key is not usable") from exc


@final
class RoomLog:
    """A verified room log and the room state it folds to."""

    __slots__ = (
        "_banned",
        "_confirms",
        "_epoch",
        "_epoch_at",
        "_hashes",
        "_invites",
        "_members",
        "_needs_rotation",
        "_ops",
        "_policy",
        "_roles",
        "_room",
    )

    def __init__(self) -> None:
        self._room: RoomId | None = None
        self._policy = Policy()
        self._members: dict[MemberId, Member] = {}
        self._invites: dict[bytes, Invite] = {}
        self._epoch = 0
        self._needs_rotation = False
        self._ops: list[SignedOp] = []
        self._hashes: list[bytes] = []
        self._epoch_at: list[int] = []
        self._confirms: dict[int, bytes] = {}
        self._banned: dict[MemberId, Ban] = {}
        self._roles: dict[MemberId, tuple[list[int], list[Role | None]]] = {}
        """Per key: the indexes where its role changed, and the role from there on."""

    @classmethod
    def from_ops(cls, ops: Iterable[SignedOp]) -> RoomLog:
        """Verify a whole log from its create operation."""
        log = cls()
        for op in ops:
            log.append(op)
        return log

    # -- read-only state ---------------------------------------------------

    @property
    def room(self) -> RoomId:
        if self._room is None:
            raise LogError("the log is empty", code="log.empty")
        return self._room

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def members(self) -> Mapping[MemberId, Member]:
        return MappingProxyType(self._members)

    @property
    def invites(self) -> Mapping[bytes, Invite]:
        return MappingProxyType(self._invites)

    @property
    def banned(self) -> Mapping[MemberId, Ban]:
        """Keys banned now (a lifted ban is gone from here)."""
        return MappingProxyType(self._banned)

    @property
    def epoch(self) -> int:
        """The current epoch number (1 after create)."""
        return self._epoch

    @property
    def confirms(self) -> Mapping[int, bytes]:
        """The confirmation tag of every epoch's commit, by epoch number."""
        return MappingProxyType(self._confirms)

    @property
    def needs_rotation(self) -> bool:
        """True after a leave until the next commit: nobody may send until then."""
        return self._needs_rotation

    @property
    def index(self) -> int:
        """Index of the newest operation, -1 for an empty log."""
        return len(self._ops) - 1

    @property
    def head(self) -> bytes:
        """Hash of the newest operation (32 zero bytes for an empty log)."""
        return self._hashes[-1] if self._hashes else ZERO_HASH

    @property
    def ops(self) -> tuple[SignedOp, ...]:
        return tuple(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def role_of(self, member: MemberId) -> Role | None:
        m = self._members.get(member)
        return m.role if m else None

    def role_at(self, member: MemberId, index: int) -> Role | None:
        """The role ``member`` held once the operation at ``index`` applied (None: not a member).

        What a message placed after that operation in room order is judged by.
        """
        history = self._roles.get(member)
        if history is None or index < 0:
            return None
        indexes, roles = history
        at = bisect_right(indexes, index)
        return roles[at - 1] if at else None

    def roles_between(self, member: MemberId, first: int, last: int) -> list[Role | None]:
        """Every role ``member`` held from index ``first`` through ``last``, in order.

        For a message whose place in room order is known only to lie in that span.
        """
        history = self._roles.get(member)
        if history is None:
            return [None]
        indexes, roles = history
        start = bisect_right(indexes, first)
        end = bisect_right(indexes, last)
        return [roles[start - 1] if start else None, *roles[start:end]]

    def may_grant(self, member: MemberId, role: Role) -> bool:
        """True if ``member`` may now add a ``role`` or create an invite granting it."""
        holder = self._members.get(member)
        if holder is None:
            return False
        rank = ROLE_RANK[holder.role]
        return rank >= ROLE_RANK[self._policy.invite_role] and ROLE_RANK[role] <= rank

    def hash_at(self, index: int) -> bytes:
        return self._hashes[index]

    def epoch_at(self, index: int) -> int:
        """The epoch in force once the operation at ``index`` applied."""
        return self._epoch_at[index]

    def check_head(self, index: int, head: bytes) -> bool:
        """Place a head someone else saw in our log.

        Returns True if our log holds ``head`` at ``index``, False if ``index`` is
        beyond our log (sync, then ask again).

        Raises:
            ForkDetected: our log holds a different operation at ``index``.
        """
        if index >= len(self._hashes) or index < 0:
            return False
        if self._hashes[index] != head:
            raise ForkDetected(f"two different operations at index {index}")
        return True

    # -- appending ---------------------------------------------------------

    def append(self, op: SignedOp) -> bytes:
        """Verify ``op`` against the current state and apply it; return its hash."""
        c = op.content
        if c.index < len(self._ops):
            if op_hash(op) == self._hashes[c.index]:
                raise _fail("log.replay", f"operation {c.index} is already in the log")
            # Only a second operation its author really signed proves two histories;
            # anything else is a forgery, reported as such.
            _verify_op(op)
            if c.room == self._room:
                raise ForkDetected(f"a different operation at index {c.index}")
        if c.index != len(self._ops):
            raise _fail("log.bad_index", f"expected index {len(self._ops)}, got {c.index}")
        if self._room is not None and c.room != self._room:
            raise _fail("log.bad_room", "operation names another room")
        if c.prev != self.head:
            raise _fail("log.bad_prev", f"operation {c.index} does not follow our head")
        _verify_op(op)

        rule = _RULES.get(type(c.body))
        if rule is None:  # pragma: no cover - the union is closed
            raise _fail("log.invalid", "unknown operation")
        if not isinstance(c.body, CreateOp) and not self._ops:
            raise _fail("log.invalid", "a log starts with room.create")
        change = rule(self, c)
        self._check_commit(c, change)
        self._apply(op, c, change)
        return self._hashes[-1]

    def _check_commit(self, c: OpContent, change: _Change) -> None:
        commit = change.commit
        if commit is None:
            return
        if commit.epoch != self._epoch + 1:
            raise _fail("log.bad_commit", f"commit must start epoch {self._epoch + 1}")
        policy = change.policy if change.policy is not None else self._policy
        if commit.history is not None and not policy.share_history:
            raise _fail("log.bad_commit", "this room's policy does not share history")
        after = change.members if change.members is not None else self._members
        recipients = [s.member for s in commit.shares]
        if recipients != sorted(after) or len(set(recipients)) != len(recipients):
            raise _fail("log.bad_commit", "commit must seal to exactly the members, sorted by id")

    def _apply(self, op: SignedOp, c: OpContent, change: _Change) -> None:
        if isinstance(c.body, CreateOp):
            self._room = c.room
        if change.policy is not None:
            self._policy = change.policy
        if change.members is not None:
            self._members = change.members
        if change.invite is not None:
            self._invites[change.invite.key] = change.invite
        if change.ban is not None:
            self._banned[change.ban.member] = change.ban
        if change.unban is not None:
            del self._banned[change.unban]
        if isinstance(c.body, CreateOp):
            for member in self._members:  # the first members: whoever room.create made
                self._note_role(member, c.index)
        if change.touched is not None:
            self._note_role(change.touched, c.index)
            if change.revoke:
                self._revoke_invites_of(change.touched)
        if change.commit is not None:
            self._epoch = change.commit.epoch
            self._confirms[self._epoch] = change.commit.confirm
            self._needs_rotation = False
        if change.departed:
            self._needs_rotation = True
        self._ops.append(op)
        self._hashes.append(op_hash(op))
        self._epoch_at.append(self._epoch)

    def _note_role(self, member: MemberId, index: int) -> None:
        """Record ``member``'s role from ``index`` on (None once they are gone)."""
        holder = self._members.get(member)
        indexes, roles = self._roles.setdefault(member, ([], []))
        indexes.append(index)
        roles.append(holder.role if holder is not None else None)

    def _revoke_invites_of(self, member: MemberId) -> None:
        """Revoke ``member``'s open invites that they may no longer grant."""
        for key, invite in self._invites.items():
            if (
                invite.created_by == member
                and not invite.revoked
                and not self.may_grant(member, invite.role)
            ):
                self._invites[key] = replace(invite, revoked=True)

    # -- rules -------------------------------------------------------------

    def _author(self, c: OpContent) -> Member:
        member = self._members.get(c.author)
        if member is None:
            raise _fail("log.not_member", f"{c.author} is not a member")
        return member

    def _rank(self, c: OpContent) -> int:
        return ROLE_RANK[self._author(c).role]

    def _room_has_space(self) -> None:
        cap = self._policy.max_members
        if cap is not None and len(self._members) >= cap:
            raise _fail("log.room_full", f"the room holds at most {cap} members")

    def _create(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, CreateOp)
        if c.index != 0 or c.prev != ZERO_HASH:
            raise _fail("log.bad_index", "room.create only at index 0")
        _check_genesis(c, body)
        _check_binding(c.room, c.author, body.box_key, body.binding)
        members = {c.author: Member(c.author, body.box_key, "owner")}
        return _Change(members=members, policy=body.policy, commit=body.commit)

    def _add(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, AddOp)
        rank = self._rank(c)
        if rank < ROLE_RANK[self._policy.invite_role] or ROLE_RANK[body.role] > rank:
            raise _fail("log.unauthorized", f"{c.author} may not add a {body.role}")
        if body.member in self._members:
            raise _fail("log.invalid", f"{body.member} is already a member")
        self._not_banned(body.member)
        self._room_has_space()
        _check_binding(c.room, body.member, body.box_key, body.binding)
        members = dict(self._members)
        members[body.member] = Member(body.member, body.box_key, body.role)
        return _Change(members=members, commit=body.commit, touched=body.member)

    def _may_remove(self, c: OpContent, target: MemberId, role: Role, what: str) -> None:
        """Moderators remove (and ban) lower ranks; owners anyone but themselves."""
        rank = self._rank(c)
        if target == c.author:
            raise _fail("log.invalid", f"use room.leave to leave, not room.{what}")
        owner = ROLE_RANK["owner"]
        if rank < _MODERATOR or (rank != owner and ROLE_RANK[role] >= rank):
            raise _fail("log.unauthorized", f"{c.author} may not {what} a {role}")

    def _remove(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, RemoveOp)
        self._author(c)
        target = self._members.get(body.member)
        if target is None:
            raise _fail("log.not_member", f"{body.member} is not a member")
        self._may_remove(c, body.member, target.role, "remove")
        members = dict(self._members)
        del members[body.member]
        return _Change(members=members, commit=body.commit, touched=body.member, revoke=True)

    def _ban(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, BanOp)
        self._author(c)
        if body.member in self._banned:
            raise _fail("log.invalid", f"{body.member} is banned already")
        target = self._members.get(body.member)
        role: Role = target.role if target is not None else "member"
        self._may_remove(c, body.member, role, "ban")
        ban = Ban(member=body.member, by=c.author, role=role, index=c.index)
        if target is None:
            if body.commit is not None:
                raise _fail("log.bad_commit", "banning a non-member commits no epoch")
            return _Change(ban=ban, touched=body.member, revoke=True)
        if body.commit is None:
            raise _fail("log.bad_commit", "banning a member must commit the next epoch")
        members = dict(self._members)
        del members[body.member]
        return _Change(
            members=members, commit=body.commit, ban=ban, touched=body.member, revoke=True
        )

    def _unban(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, UnbanOp)
        rank = self._rank(c)
        ban = self._banned.get(body.member)
        if ban is None:
            raise _fail("log.invalid", f"{body.member} is not banned")
        if rank < _MODERATOR or (rank != ROLE_RANK["owner"] and ROLE_RANK[ban.role] >= rank):
            raise _fail("log.unauthorized", f"{c.author} may not lift a ban on a {ban.role}")
        return _Change(unban=body.member)

    def _not_banned(self, member: MemberId) -> None:
        if member in self._banned:
            raise _fail("log.banned", f"{member} is banned from this room")

    def _leave(self, c: OpContent) -> _Change:
        self._author(c)
        members = dict(self._members)
        del members[c.author]
        return _Change(members=members, departed=True, touched=c.author, revoke=True)

    def _invite_create(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, InviteCreateOp)
        rank = self._rank(c)
        if rank < ROLE_RANK[self._policy.invite_role] or ROLE_RANK[body.role] > rank:
            raise _fail("log.unauthorized", f"{c.author} may not invite a {body.role}")
        if body.role == "owner":
            raise _fail("log.unauthorized", "an invite cannot grant owner")
        if body.invite_key in self._invites:
            raise _fail("log.invalid", "this invite key is already registered")
        invite = Invite(
            key=body.invite_key,
            role=body.role,
            max_uses=body.max_uses,
            uses=0,
            expires_at=body.expires_at,
            created_by=c.author,
        )
        return _Change(invite=invite)

    def _invite_revoke(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, InviteRevokeOp)
        rank = self._rank(c)
        invite = self._invites.get(body.invite_key)
        if invite is None or invite.revoked:
            raise _fail("log.bad_invite", "no such live invite")
        if invite.created_by != c.author and rank < _MODERATOR:
            raise _fail("log.unauthorized", f"{c.author} may not revoke this invite")
        return _Change(invite=replace(invite, revoked=True))

    def _join(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, JoinOp)
        if c.author in self._members:
            raise _fail("log.invalid", f"{c.author} is already a member")
        invite = self._invites.get(body.invite_key)
        if invite is None or invite.revoked:
            raise _fail("log.bad_invite", "no such live invite")
        if invite.uses >= invite.max_uses:
            raise _fail("log.bad_invite", "this invite has no uses left")
        if c.at > invite.expires_at:
            raise _fail("log.bad_invite", "this invite has expired")
        # An invite admits only while its creator may still grant it, as at creation:
        # removal, a ban and a demotion revoke it in the state already; this also
        # covers a creator who left.
        if not self.may_grant(invite.created_by, invite.role):
            raise _fail("log.bad_invite", "the invite's creator may no longer grant it")
        self._not_banned(c.author)
        proof = InviteProof(room=c.room, index=c.index, joiner=c.author, box_key=body.box_key)
        try:
            crypto.verify(body.invite_key, crypto.CTX_INVITE, canonical(proof), body.invite_proof)
        except CryptoError as exc:
            raise _fail("log.bad_invite", "the joiner does not hold the invite secret") from exc
        self._room_has_space()
        _check_binding(c.room, c.author, body.box_key, body.binding)
        members = dict(self._members)
        members[c.author] = Member(c.author, body.box_key, invite.role)
        used = replace(invite, uses=invite.uses + 1)
        return _Change(members=members, invite=used, commit=body.commit, touched=c.author)

    def _role(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, RoleOp)
        rank = self._rank(c)
        target = self._members.get(body.member)
        if target is None:
            raise _fail("log.not_member", f"{body.member} is not a member")
        if body.member == c.author:
            raise _fail("log.unauthorized", "a member cannot change their own role")
        if rank != ROLE_RANK["owner"] and (
            rank < _MODERATOR or ROLE_RANK[target.role] >= rank or ROLE_RANK[body.role] >= rank
        ):
            raise _fail("log.unauthorized", f"{c.author} may not make a {target.role} {body.role}")
        members = dict(self._members)
        members[body.member] = replace(target, role=body.role)
        return _Change(members=members, touched=body.member, revoke=True)

    def _rotate(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, RotateOp)
        self._author(c)
        return _Change(commit=body.commit)

    def _retention(self, c: OpContent) -> _Change:
        body = c.body
        assert isinstance(body, RetentionOp)
        if self._rank(c) != ROLE_RANK["owner"]:
            raise _fail("log.unauthorized", f"{c.author} may not change the retention")
        policy = msgspec.structs.replace(self._policy, retention_days=body.retention_days)
        return _Change(policy=policy)


_Rule = Callable[[RoomLog, OpContent], _Change]

# The whole authority table: one rule per operation kind.
_RULES: Final[Mapping[type[OpBody], _Rule]] = {
    CreateOp: RoomLog._create,
    AddOp: RoomLog._add,
    RemoveOp: RoomLog._remove,
    LeaveOp: RoomLog._leave,
    InviteCreateOp: RoomLog._invite_create,
    InviteRevokeOp: RoomLog._invite_revoke,
    JoinOp: RoomLog._join,
    RoleOp: RoomLog._role,
    RotateOp: RoomLog._rotate,
    RetentionOp: RoomLog._retention,
    BanOp: RoomLog._ban,
    UnbanOp: RoomLog._unban,
}
