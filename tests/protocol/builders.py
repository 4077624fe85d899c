"""Builders for valid room logs and single-bit tampering, shared by the protocol tests.

:class:`Room` plays every participant of one room in memory: it derives each
person's keys from a name, signs operations at the right index and head, builds
commits for exactly the members the verified log will hold, and remembers the
epoch secrets it committed. Negative tests take an operation with ``apply=False``,
or sign a hand-made body with :meth:`Room.sign`, and feed it to the log.

:func:`leaf_paths` and :func:`flip` walk a wire value by its msgspec type and flip
one bit of one leaf, keeping ids in the base64url alphabet so that a flipped value
is refused by the verifier rather than by the decoder wherever the type allows it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import HealthCheck, settings

from protocol import (
    ZERO_HASH,
    InviteKey,
    MemberId,
    Policy,
    Role,
    RoomId,
    RoomKeys,
    RoomLog,
    RootSeed,
    SignedOp,
    make_commit,
    open_commit,
    room_id_from_genesis,
    seal_message,
    sign_op,
)
from protocol.crypto import Rng, random_bytes
from protocol.messages import Envelope, Plaintext, TextBody
from protocol.ops import (
    AddOp,
    BanOp,
    Commit,
    CreateOp,
    InviteCreateOp,
    InviteRevokeOp,
    JoinOp,
    LeaveOp,
    OpBody,
    RemoveOp,
    RoleOp,
    RotateOp,
    UnbanOp,
)

T0 = 1_767_225_600_000
"""2026-01-01T00:00:00Z in milliseconds: every builder clock starts here."""
DAY_MS = 86_400_000

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Hypothesis settings for the protocol suite: enough examples, bounded run time."""


def some_room_id(rng: Rng = random_bytes) -> RoomId:
    """A well-formed room id (of a random genesis key), for tests that need only an id."""
    return room_id_from_genesis(rng(32), rng(16))


def root(name: str) -> RootSeed:
    """A fixed root seed per name, so failures reproduce."""
    return RootSeed(hashlib.blake2b(name.encode(), digest_size=32, person=b"hearth-tests").digest())


def error_code(exc: BaseException) -> str:
    """The stable code of a Hearth error (``code`` attribute)."""
    code = getattr(exc, "code", None)
    assert isinstance(code, str), f"{exc!r} is not a Hearth error"
    return code


class Room:
    """One room, its verified log and every participant's keys, in memory."""

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        owner: str = "owner",
        nonce: bytes | None = None,
    ) -> None:
        self.nonce = nonce if nonce is not None else random_bytes(16)
        """The genesis nonce: another ``Room`` with this nonce and owner has the same id."""
        self.genesis = root(owner).genesis(self.nonce)
        self.room = self.genesis.room
        self.log = RoomLog()
        self.now = T0
        self.secrets: dict[int, bytes] = {}
        """Epoch number -> epoch secret, as the committer chose it."""
        self._pending: dict[bytes, bytes] = {}
        self._counters: dict[str, int] = {}
        self.create(owner, policy or Policy())

    # -- people --------------------------------------------------------------

    def keys(self, name: str) -> RoomKeys:
        return root(name).room_keys(self.room)

    def member(self, name: str) -> MemberId:
        return self.keys(name).member

    def tick(self) -> int:
        self.now += 1000
        return self.now

    # -- low level -------------------------------------------------------------

    def sign(
        self,
        author: str | RoomKeys,
        body: OpBody,
        *,
        index: int | None = None,
        prev: bytes | None = None,
        at: int | None = None,
    ) -> SignedOp:
        """Sign ``body`` at the next index on our head, unless told otherwise."""
        keys = self.keys(author) if isinstance(author, str) else author
        return sign_op(
            keys,
            index=self.log.index + 1 if index is None else index,
            prev=self.log.head if prev is None else prev,
            at=self.tick() if at is None else at,
            body=body,
        )

    def recipients(
        self, *, plus: Iterable[str] = (), minus: Iterable[str] = ()
    ) -> dict[MemberId, bytes]:
        """The log's members with their logged X25519 keys, adjusted."""
        out = {m: member.box_key for m, member in self.log.members.items()}
        for name in plus:
            out[self.member(name)] = self.keys(name).box_public
        for name in minus:
            del out[self.member(name)]
        return out

    def commit(
        self,
        recipients: Mapping[MemberId, bytes],
        *,
        epoch: int | None = None,
        prev: bytes | None = None,
        history: Mapping[int, bytes] | None = None,
    ) -> Commit:
        """A commit for the next epoch; shares history if the policy says so."""
        if history is None and self.log.policy.share_history and self.secrets:
            history = dict(self.secrets)
        commit, secret = make_commit(
            room=self.room,
            epoch=self.log.epoch + 1 if epoch is None else epoch,
            prev=self.log.head if prev is None else prev,
            recipients=recipients,
            history=history,
        )
        self._pending[commit.confirm] = secret
        return commit

    def apply(self, op: SignedOp) -> SignedOp:
        """Append ``op`` to the log and remember the secret it committed."""
        self.log.append(op)
        commit = getattr(op.content.body, "commit", None)
        if isinstance(commit, Commit) and commit.confirm in self._pending:
            self.secrets[commit.epoch] = self._pending.pop(commit.confirm)
        return op

    def _done(self, op: SignedOp, apply: bool) -> SignedOp:
        return self.apply(op) if apply else op

    # -- operations --------------------------------------------------------------

    def create(self, owner: str, policy: Policy) -> SignedOp:
        keys = self.keys(owner)
        body = CreateOp(
            genesis=self.genesis.prove(keys.member),
            policy=policy,
            box_key=keys.box_public,
            binding=keys.binding(),
            commit=self.commit({keys.member: keys.box_public}, prev=ZERO_HASH),
        )
        return self.apply(self.sign(keys, body))

    def add(self, author: str, name: str, role: Role = "member", *, apply: bool = True) -> SignedOp:
        keys = self.keys(name)
        body = AddOp(
            member=keys.member,
            box_key=keys.box_public,
            binding=keys.binding(),
            role=role,
            commit=self.commit(self.recipients(plus=[name])),
        )
        return self._done(self.sign(author, body), apply)

    def remove(self, author: str, name: str, *, apply: bool = True) -> SignedOp:
        body = RemoveOp(member=self.member(name), commit=self.commit(self.recipients(minus=[name])))
        return self._done(self.sign(author, body), apply)

    def ban(self, author: str, name: str, *, apply: bool = True) -> SignedOp:
        """A ``room.ban``: with the next epoch if ``name`` is a member, without if not."""
        member = self.member(name)
        commit = self.commit(self.recipients(minus=[name])) if member in self.log.members else None
        return self._done(self.sign(author, BanOp(member=member, commit=commit)), apply)

    def unban(self, author: str, name: str, *, apply: bool = True) -> SignedOp:
        return self._done(self.sign(author, UnbanOp(member=self.member(name))), apply)

    def leave(self, name: str, *, apply: bool = True) -> SignedOp:
        return self._done(self.sign(name, LeaveOp()), apply)

    def role(self, author: str, name: str, role: Role, *, apply: bool = True) -> SignedOp:
        return self._done(self.sign(author, RoleOp(member=self.member(name), role=role)), apply)

    def rotate(self, author: str, *, apply: bool = True) -> SignedOp:
        return self._done(self.sign(author, RotateOp(commit=self.commit(self.recipients()))), apply)

    def invite(
        self,
        author: str,
        invite: InviteKey,
        *,
        role: Role = "member",
        max_uses: int = 1,
        expires_at: int | None = None,
        apply: bool = True,
    ) -> SignedOp:
        body = InviteCreateOp(
            invite_key=invite.public,
            role=role,
            max_uses=max_uses,
            expires_at=self.now + DAY_MS if expires_at is None else expires_at,
        )
        return self._done(self.sign(author, body), apply)

    def revoke(self, author: str, invite: InviteKey, *, apply: bool = True) -> SignedOp:
        return self._done(self.sign(author, InviteRevokeOp(invite_key=invite.public)), apply)

    def join(
        self,
        name: str,
        invite: InviteKey,
        *,
        proof: bytes | None = None,
        at: int | None = None,
        apply: bool = True,
    ) -> SignedOp:
        keys = self.keys(name)
        index = self.log.index + 1
        body = JoinOp(
            invite_key=invite.public,
            invite_proof=proof
            or invite.prove(
                room=self.room, index=index, joiner=keys.member, box_key=keys.box_public
            ),
            box_key=keys.box_public,
            binding=keys.binding(),
            commit=self.commit(self.recipients(plus=[name])),
        )
        return self._done(self.sign(keys, body, at=at), apply)

    # -- epochs and messages -------------------------------------------------------

    def open_as(self, name: str, index: int) -> bytes:
        """The epoch secret ``name`` unseals from the commit at log ``index``."""
        op = self.log.ops[index]
        commit = getattr(op.content.body, "commit", None)
        assert isinstance(commit, Commit), f"operation {index} carries no commit"
        prev = self.log.hash_at(index - 1) if index else ZERO_HASH
        return open_commit(commit, prev=prev, keys=self.keys(name))

    def send(
        self,
        name: str,
        text: str,
        *,
        epoch: int | None = None,
        secret: bytes | None = None,
    ) -> Envelope:
        """A text message from ``name`` under ``epoch`` (default: the current one)."""
        epoch = self.log.epoch if epoch is None else epoch
        counter = self._counters.get(name, 0) + 1
        self._counters[name] = counter
        plaintext = Plaintext(
            device=hashlib.blake2b(name.encode(), digest_size=16).digest(),
            counter=counter,
            sent_at=self.tick(),
            body=TextBody(text=text),
        )
        return seal_message(
            self.keys(name),
            plaintext,
            epoch=epoch,
            epoch_secret=self.secrets[epoch] if secret is None else secret,
            head_index=self.log.index,
            head=self.log.head,
        )


# -- single-bit tampering ---------------------------------------------------------

Path = tuple[str | int, ...]
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _matches(value: object, info: mi.Type) -> bool:
    if isinstance(info, mi.StructType):
        return isinstance(value, info.cls)
    if isinstance(info, mi.NoneType):
        return value is None
    if isinstance(info, mi.BytesType):
        return isinstance(value, bytes)
    if isinstance(info, mi.BoolType):
        return isinstance(value, bool)
    if isinstance(info, mi.IntType):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(info, mi.StrType):
        return isinstance(value, str)
    if isinstance(info, mi.LiteralType):
        return value in info.values
    if isinstance(info, mi.ListType):
        return isinstance(value, list)
    raise AssertionError(f"unexpected type {info!r}")  # pragma: no cover


def _resolve(value: object, info: mi.Type) -> mi.Type:
    if isinstance(info, mi.UnionType):
        return next(t for t in info.types if _matches(value, t))
    return info


def leaf_paths(value: msgspec.Struct) -> list[Path]:
    """Every non-empty, non-None leaf of a wire value, by field path."""
    out: list[Path] = []

    def walk(v: object, info: mi.Type, path: Path) -> None:
        info = _resolve(v, info)
        if isinstance(info, mi.StructType):
            for f in info.fields:
                walk(getattr(v, f.name), f.type, (*path, f.name))
        elif isinstance(info, mi.ListType):
            assert isinstance(v, list)
            for i, item in enumerate(v):
                walk(item, info.item_type, (*path, i))
        elif isinstance(info, mi.NoneType) or v in (b"", ""):
            return
        else:
            out.append(path)

    walk(value, mi.type_info(type(value)), ())
    return out


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with bit ``bit`` (modulo its length) flipped."""
    out = bytearray(data)
    i = bit % (8 * len(out))
    out[i // 8] ^= 1 << (i % 8)
    return bytes(out)


def _flip_leaf(v: Any, info: mi.Type, bit: int) -> Any:
    if isinstance(info, mi.BytesType):
        return flip_bit(v, bit)
    if isinstance(info, mi.BoolType):
        return not v
    if isinstance(info, mi.IntType):
        return v ^ (1 << (bit % 53))
    if isinstance(info, mi.LiteralType):
        others = [x for x in info.values if x != v]
        if others:
            return others[bit % len(others)]
        return v ^ (1 << (bit % 8)) if isinstance(v, int) else v + "x"
    if isinstance(info, mi.StrType):
        if info.pattern is not None:  # a base64url id: flip one of the 6 bits of a character
            i = (bit // 6) % len(v)
            char = _B64URL[_B64URL.index(v[i]) ^ (1 << (bit % 6))]
            return v[:i] + char + v[i + 1 :]
        chars = list(v)
        i = (bit // 7) % len(chars)
        chars[i] = chr(ord(chars[i]) ^ (1 << (bit % 7)))
        return "".join(chars)
    raise AssertionError(f"cannot flip {info!r}")  # pragma: no cover


def flip(value: msgspec.Struct, path: Path, bit: int) -> Any:
    """``value`` with one bit of the leaf at ``path`` flipped (see :func:`leaf_paths`)."""

    def rebuild(v: Any, info: mi.Type, rest: Path) -> Any:
        info = _resolve(v, info)
        if not rest:
            return _flip_leaf(v, info, bit)
        head, tail = rest[0], rest[1:]
        if isinstance(info, mi.StructType):
            assert isinstance(head, str)
            field = next(f for f in info.fields if f.name == head)
            new = rebuild(getattr(v, head), field.type, tail)
            return msgspec.structs.replace(v, **{head: new})
        assert isinstance(info, mi.ListType)
        assert isinstance(head, int)
        items = list(v)
        items[head] = rebuild(items[head], info.item_type, tail)
        return items

    return rebuild(value, mi.type_info(type(value)), path)
