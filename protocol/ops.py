"""Wire types of the room log: signed, hash-chained operations.

An operation is :class:`SignedOp`: its :class:`OpContent` (room, index, hash of the
previous operation, author, author's clock, and one :data:`OpBody`) plus the
author's Ed25519 signature over ``CTX_OP || canonical(content)``. The hash of an
operation is BLAKE2b-256 over ``canonical(signed_op)`` and becomes the next
operation's ``prev``.

Bodies are a tagged union on the field ``type``; the tags are stable and listed in
``docs/protocol.md``. Membership changes carry a :class:`Commit` that starts a new
epoch.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from protocol.ids import MemberIdField, RoomIdField

__all__ = [
    "PROTOCOL_VERSION",
    "ROLE_RANK",
    "AddOp",
    "BanOp",
    "Binding",
    "Commit",
    "Count",
    "CreateOp",
    "Genesis",
    "GenesisStatement",
    "Hash",
    "InviteCreateOp",
    "InviteProof",
    "InviteRevokeOp",
    "JoinOp",
    "Key32",
    "LeaveOp",
    "OpBody",
    "OpContent",
    "Policy",
    "RemoveOp",
    "RetentionOp",
    "Role",
    "RoleOp",
    "RoomKind",
    "RotateOp",
    "Share",
    "Sig",
    "SignedOp",
    "UnbanOp",
]

PROTOCOL_VERSION: Final = 2

Key32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Hash = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Sig = Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Nonce16 = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]

Role = Literal["owner", "moderator", "supporter", "member"]
RoomKind = Literal["group", "buddy", "program"]

ROLE_RANK: Final[dict[Role, int]] = {"member": 0, "supporter": 1, "moderator": 2, "owner": 3}
"""Higher rank may do everything a lower rank may."""


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """Room rules the relay may know and enforce (never names or texts)."""

    kind: RoomKind = "group"
    invite_role: Role = "moderator"
    """The lowest role that may add members or create invite links."""
    share_history: bool = False
    """If true, new epochs carry earlier epoch secrets to members added later."""
    max_members: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] | None = None
    """The relay purges messages older than this; ``None`` keeps them."""


class Share(msgspec.Struct, frozen=True, kw_only=True):
    """The commit secret sealed (``crypto_box_seal``) to one member's X25519 key."""

    member: MemberIdField
    sealed: Annotated[bytes, msgspec.Meta(min_length=80, max_length=80)]


class Commit(msgspec.Struct, frozen=True, kw_only=True):
    """A new epoch: fresh bytes sealed to every member after the operation."""

    epoch: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    shares: Annotated[list[Share], msgspec.Meta(max_length=100_000)]
    """One per member after the operation, sorted by member id."""
    confirm: Hash
    """Key-confirmation tag derived from the new epoch secret."""
    history: Annotated[bytes, msgspec.Meta(max_length=4_000_000)] | None = None
    """Earlier epoch secrets, encrypted under the new one (rooms that share history)."""


class Genesis(msgspec.Struct, frozen=True, kw_only=True):
    """What ties a room id to its ``room.create`` (``docs/protocol.md`` section 5.8).

    The room id is ``room_id_from_genesis(key, nonce)``; ``sig`` is the genesis
    key's signature (``CTX_GENESIS``) over :class:`GenesisStatement`, naming the
    creator's member key, so that only the root that derived the genesis key can
    name the room's first owner.
    """

    key: Key32
    nonce: Nonce16
    sig: Sig


class GenesisStatement(msgspec.Struct, frozen=True, kw_only=True):
    """What the genesis key signs: this room's first owner is ``creator``."""

    room: RoomIdField
    creator: MemberIdField


class CreateOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.create"):
    """Index 0: the author becomes the first owner; ``genesis`` proves the room id is theirs."""

    genesis: Genesis
    policy: Policy
    box_key: Key32
    binding: Sig
    commit: Commit


class AddOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.add"):
    """An authorised member adds another key, which signed its own binding."""

    member: MemberIdField
    box_key: Key32
    binding: Sig
    role: Role = "member"
    commit: Commit


class RemoveOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.remove"):
    """A moderator or owner removes a lower-ranked member and rotates."""

    member: MemberIdField
    commit: Commit


class BanOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.ban"):
    """Bans a key: never added nor joined again while banned; a member is also removed.

    Authority as for ``room.remove``. ``commit`` is the next epoch for the members
    left when ``member`` is a member now, and absent when it is not (a key banned
    before it could come back, or again after leaving).
    """

    member: MemberIdField
    commit: Commit | None = None


class UnbanOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.unban"):
    """Lifts a ban; the key needs a new add or invite to come back."""

    member: MemberIdField


class LeaveOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.leave"):
    """The author leaves. No commit: the next remaining member to act rotates."""


class InviteCreateOp(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.invite.create"
):
    """Registers the public key of an invite link's secret."""

    invite_key: Key32
    role: Role = "member"
    max_uses: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    expires_at: Count
    """Milliseconds since the Unix epoch."""


class InviteRevokeOp(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.invite.revoke"
):
    """Withdraws an invite link."""

    invite_key: Key32


class JoinOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.join"):
    """The author joins with an invite and commits the next epoch itself."""

    invite_key: Key32
    invite_proof: Sig
    box_key: Key32
    binding: Sig
    commit: Commit


class RoleOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.role"):
    """Changes another member's role."""

    member: MemberIdField
    role: Role


class RotateOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.rotate"):
    """A new epoch for the same members (schedule, or after a leave)."""

    commit: Commit


class RetentionOp(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.retention"
):
    """Changes the policy's ``retention_days`` (disappearing messages); owners only.

    ``None`` keeps messages until deleted. The relay purges by the new value from
    its next retention pass, and every member's client purges its own store.
    """

    retention_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] | None = None


OpBody = (
    CreateOp
    | AddOp
    | RemoveOp
    | LeaveOp
    | InviteCreateOp
    | InviteRevokeOp
    | JoinOp
    | RoleOp
    | RotateOp
    | RetentionOp
    | BanOp
    | UnbanOp
)


class OpContent(msgspec.Struct, frozen=True, kw_only=True):
    """The signed part of an operation."""

    v: Literal[2] = 2
    room: RoomIdField
    index: Count
    prev: Hash
    """Hash of the operation at ``index - 1``; 32 zero bytes at index 0."""
    author: MemberIdField
    at: Count
    """Author's clock, milliseconds since the Unix epoch."""
    body: OpBody


class SignedOp(msgspec.Struct, frozen=True, kw_only=True):
    """An operation with its author's signature."""

    content: OpContent
    sig: Sig


class Binding(msgspec.Struct, frozen=True, kw_only=True):
    """What a member signs to bind its X25519 key to its member id in one room."""

    room: RoomIdField
    member: MemberIdField
    box_key: Key32


class InviteProof(msgspec.Struct, frozen=True, kw_only=True):
    """What an invite link's key signs to let one key join at one index."""

    room: RoomIdField
    index: Count
    joiner: MemberIdField
    box_key: Key32
