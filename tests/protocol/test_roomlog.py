"""The room-log verifier: valid logs fold to the right state, everything else is refused.

Each refusal is checked for its exact code and for leaving the log as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol import (
    ZERO_HASH,
    DecodeError,
    ForkDetected,
    HearthError,
    InviteKey,
    LogError,
    Policy,
    RoomLog,
    SignedOp,
    canonical,
    crypto,
    from_json,
    op_hash,
    to_json,
)
from protocol.ops import (
    AddOp,
    BanOp,
    Binding,
    CreateOp,
    InviteCreateOp,
    JoinOp,
    OpContent,
    RemoveOp,
    RetentionOp,
    RotateOp,
    Share,
)
from tests.protocol.builders import DAY_MS, FAST, T0, Room, error_code, flip, leaf_paths

INVITE = InviteKey(bytes(range(32)))
SPARE = InviteKey(bytes(range(1, 33)))


def _state(log: RoomLog) -> tuple[Any, ...]:
    return (
        len(log),
        log.head,
        log.epoch,
        log.needs_rotation,
        dict(log.members),
        dict(log.invites),
        log.policy,
        dict(log.banned),
    )


def refused(log: RoomLog, op: SignedOp) -> str:
    """Append ``op``, expecting a refusal; return its code. The log must not change."""
    before = _state(log)
    with pytest.raises(HearthError) as info:
        log.append(op)
    assert _state(log) == before
    return error_code(info.value)


def staff_room(policy: Policy | None = None) -> Room:
    """owner, owner2, mod, mod2 (moderators), sup (supporter), alice and bob (members)."""
    room = Room(policy=policy)
    room.add("owner", "owner2", "owner")
    room.add("owner", "mod", "moderator")
    room.add("owner", "mod2", "moderator")
    room.add("owner", "sup", "supporter")
    room.add("mod", "alice")
    room.add("mod", "bob")
    return room


# -- folding -----------------------------------------------------------------------------


def test_a_valid_log_folds_to_its_state() -> None:
    room = Room(policy=Policy(kind="program", invite_role="supporter", max_members=10))
    log = room.log
    owner, mod, alice, carol = (room.member(n) for n in ("owner", "mod", "alice", "carol"))
    assert (log.room, log.index, log.epoch, log.role_of(owner)) == (room.room, 0, 1, "owner")
    assert log.policy.kind == "program"
    assert log.hash_at(0) == op_hash(log.ops[0]) == log.head

    room.add("owner", "mod", "moderator")
    room.add("mod", "alice", "supporter")
    room.invite("mod", INVITE, max_uses=2)  # mod's, so alice's leave below leaves it live
    assert log.invites[INVITE.public].uses == 0
    room.join("carol", INVITE)
    assert log.invites[INVITE.public].uses == 1
    assert log.role_of(carol) == "member"
    assert log.members[carol].box_key == room.keys("carol").box_public
    room.role("mod", "carol", "supporter")
    room.leave("alice")
    assert log.needs_rotation
    assert log.epoch == 4
    assert log.role_of(alice) is None
    room.rotate("carol")
    assert not log.needs_rotation
    room.revoke("mod", INVITE)
    assert log.invites[INVITE.public].revoked
    room.remove("owner", "carol")

    assert sorted(log.members) == sorted([owner, mod])
    assert {m: x.role for m, x in log.members.items()} == {owner: "owner", mod: "moderator"}
    assert log.epoch == 6
    assert log.index == 9
    assert [log.epoch_at(i) for i in range(10)] == [1, 2, 3, 3, 4, 4, 4, 5, 5, 6]
    assert log.head == op_hash(log.ops[-1])
    assert all(log.ops[i].content.prev == log.hash_at(i - 1) for i in range(1, 10))
    assert len(log) == 10

    # Anyone replaying the same operations, decoded from the wire, gets the same state.
    wire = [from_json(to_json(op), SignedOp) for op in log.ops]
    again = RoomLog.from_ops(wire)
    assert _state(again) == _state(log)


def test_op_hash_is_blake2b_of_canonical_bytes() -> None:
    op = Room().log.ops[0]
    assert op_hash(op) == crypto.blake2b(canonical(op), person=crypto.PERSON_OP_HASH)
    assert op.content.prev == ZERO_HASH


def test_empty_log() -> None:
    log = RoomLog()
    assert (log.index, log.head, log.epoch, len(log)) == (-1, ZERO_HASH, 0, 0)
    with pytest.raises(LogError) as info:
        _ = log.room
    assert info.value.code == "log.empty"
    assert log.check_head(0, ZERO_HASH) is False


# -- single-bit tampering of every kind of operation -------------------------------------


def _scene() -> tuple[list[SignedOp], dict[str, SignedOp]]:
    room = Room()
    room.add("owner", "mod", "moderator")
    room.add("owner", "alice")
    room.invite("owner", INVITE)
    room.ban("mod", "zed")
    candidates = {
        "add": room.add("owner", "bob", apply=False),
        "ban": room.ban("mod", "alice", apply=False),
        "ban a non-member": room.ban("owner", "yan", apply=False),
        "unban": room.unban("mod", "zed", apply=False),
        "remove": room.remove("owner", "alice", apply=False),
        "leave": room.leave("alice", apply=False),
        "invite": room.invite("mod", SPARE, role="moderator", apply=False),
        "revoke": room.revoke("owner", INVITE, apply=False),
        "join": room.join("carol", INVITE, apply=False),
        "role": room.role("owner", "alice", "supporter", apply=False),
        "rotate": room.rotate("mod", apply=False),
    }
    return list(room.log.ops), candidates


PREFIX, CANDIDATES = _scene()
LOG = RoomLog.from_ops(PREFIX)
CREATE = Room().log.ops[0]


@pytest.mark.parametrize("kind", sorted(CANDIDATES))
def test_each_candidate_is_valid_as_is(kind: str) -> None:
    # Guards the tampering test below: it must start from operations the log accepts.
    log = RoomLog.from_ops(PREFIX)
    log.append(CANDIDATES[kind])
    assert RoomLog().append(CREATE) == op_hash(CREATE)


def _wire(op: SignedOp) -> SignedOp | None:
    """The operation as a peer decodes it; None if it cannot exist on the wire."""
    try:
        return from_json(to_json(op), SignedOp)
    except DecodeError:
        return None


def _expected(path: tuple[Any, ...], bad: SignedOp, log: RoomLog) -> str:
    if path == ("content", "index"):
        # At an index we hold, an operation its author did not sign is a forgery, not
        # evidence of a second history.
        return "log.bad_signature" if bad.content.index < len(log) else "log.bad_index"
    if path == ("content", "prev"):
        return "log.bad_prev"
    if path == ("content", "room") and len(log):
        return "log.bad_room"
    return "log.bad_signature"


@pytest.mark.parametrize("kind", [*sorted(CANDIDATES), "create"])
def test_every_field_of_every_operation_is_signed(kind: str) -> None:
    # Deterministic sweep: every leaf of the operation, low and high bits.
    op, log = (CREATE, RoomLog()) if kind == "create" else (CANDIDATES[kind], LOG)
    checked = 0
    for path in leaf_paths(op):
        for bit in (0, 5, 13, 52):
            bad = _wire(flip(op, path, bit))
            if bad is not None:
                assert refused(log, bad) == _expected(path, bad, log), (path, bit)
                checked += 1
    assert checked >= 4 * len(leaf_paths(op)) - 8


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_of_any_operation_is_refused(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from([*sorted(CANDIDATES), "create"]), label="kind")
    op, log = (CREATE, RoomLog()) if kind == "create" else (CANDIDATES[kind], LOG)
    path = data.draw(st.sampled_from(leaf_paths(op)), label="path")
    bit = data.draw(st.integers(0, 2**20), label="bit")
    bad = _wire(flip(op, path, bit))
    assume(bad is not None)  # v=3 or epoch 0: the decoder refuses those first
    assert bad is not None
    assert refused(log, bad) == _expected(path, bad, log)


# -- authority ---------------------------------------------------------------------------

Case = Callable[[Room], SignedOp]

AUTHORITY: dict[str, tuple[Case, str]] = {
    "member adds": (lambda r: r.add("alice", "zed", apply=False), "log.unauthorized"),
    "supporter adds": (lambda r: r.add("sup", "zed", apply=False), "log.unauthorized"),
    "moderator adds an owner": (
        lambda r: r.add("mod", "zed", "owner", apply=False),
        "log.unauthorized",
    ),
    "outsider adds": (lambda r: r.add("zed", "yan", apply=False), "log.not_member"),
    "member removes": (lambda r: r.remove("alice", "bob", apply=False), "log.unauthorized"),
    "supporter removes": (lambda r: r.remove("sup", "bob", apply=False), "log.unauthorized"),
    "moderator removes an owner": (
        lambda r: r.remove("mod", "owner", apply=False),
        "log.unauthorized",
    ),
    "moderator removes a moderator": (
        lambda r: r.remove("mod", "mod2", apply=False),
        "log.unauthorized",
    ),
    "removing a non-member": (
        lambda r: r.sign(
            "owner", RemoveOp(member=r.member("zed"), commit=r.commit(r.recipients()))
        ),
        "log.not_member",
    ),
    "removing oneself": (lambda r: r.remove("owner", "owner", apply=False), "log.invalid"),
    "outsider removes": (lambda r: r.remove("zed", "alice", apply=False), "log.not_member"),
    "outsider rotates": (lambda r: r.rotate("zed", apply=False), "log.not_member"),
    "outsider leaves": (lambda r: r.leave("zed", apply=False), "log.not_member"),
    "member sets a role": (
        lambda r: r.role("alice", "bob", "supporter", apply=False),
        "log.unauthorized",
    ),
    "supporter sets a role": (
        lambda r: r.role("sup", "bob", "supporter", apply=False),
        "log.unauthorized",
    ),
    "moderator promotes to moderator": (
        lambda r: r.role("mod", "alice", "moderator", apply=False),
        "log.unauthorized",
    ),
    "moderator demotes an owner": (
        lambda r: r.role("mod", "owner", "member", apply=False),
        "log.unauthorized",
    ),
    "moderator demotes a moderator": (
        lambda r: r.role("mod", "mod2", "member", apply=False),
        "log.unauthorized",
    ),
    "owner sets own role": (
        lambda r: r.role("owner", "owner", "member", apply=False),
        "log.unauthorized",
    ),
    "role of a non-member": (
        lambda r: r.role("owner", "zed", "member", apply=False),
        "log.not_member",
    ),
    "outsider sets a role": (
        lambda r: r.role("zed", "alice", "supporter", apply=False),
        "log.not_member",
    ),
    "member invites": (lambda r: r.invite("alice", INVITE, apply=False), "log.unauthorized"),
    "invite grants owner": (
        lambda r: r.invite("owner", INVITE, role="owner", apply=False),
        "log.unauthorized",
    ),
    "moderator invites an owner": (
        lambda r: r.invite("mod", INVITE, role="owner", apply=False),
        "log.unauthorized",
    ),
    "adding a member twice": (lambda r: r.add("owner", "alice", apply=False), "log.invalid"),
    "member bans": (lambda r: r.ban("alice", "bob", apply=False), "log.unauthorized"),
    "supporter bans": (lambda r: r.ban("sup", "bob", apply=False), "log.unauthorized"),
    "supporter bans a non-member": (lambda r: r.ban("sup", "zed", apply=False), "log.unauthorized"),
    "moderator bans a moderator": (lambda r: r.ban("mod", "mod2", apply=False), "log.unauthorized"),
    "moderator bans an owner": (lambda r: r.ban("mod", "owner", apply=False), "log.unauthorized"),
    "banning oneself": (lambda r: r.ban("owner", "owner", apply=False), "log.invalid"),
    "outsider bans": (lambda r: r.ban("zed", "alice", apply=False), "log.not_member"),
    "unbanning a key that is not banned": (
        lambda r: r.unban("owner", "zed", apply=False),
        "log.invalid",
    ),
}


@pytest.mark.parametrize("case", sorted(AUTHORITY))
def test_operations_without_authority_are_refused(case: str) -> None:
    build, code = AUTHORITY[case]
    room = staff_room()
    assert refused(room.log, build(room)) == code


ALLOWED: dict[str, Case] = {
    "owner removes an owner": lambda r: r.remove("owner", "owner2", apply=False),
    "moderator removes a supporter": lambda r: r.remove("mod", "sup", apply=False),
    "moderator adds a moderator": lambda r: r.add("mod", "zed", "moderator", apply=False),
    "moderator makes a supporter": lambda r: r.role("mod", "alice", "supporter", apply=False),
    "owner makes an owner": lambda r: r.role("owner", "alice", "owner", apply=False),
    "owner demotes an owner": lambda r: r.role("owner", "owner2", "member", apply=False),
    "moderator invites a moderator": lambda r: r.invite(
        "mod", INVITE, role="moderator", apply=False
    ),
    "member rotates": lambda r: r.rotate("alice", apply=False),
    "moderator bans a member": lambda r: r.ban("mod", "alice", apply=False),
    "moderator bans a non-member": lambda r: r.ban("mod", "zed", apply=False),
    "owner bans a moderator": lambda r: r.ban("owner", "mod", apply=False),
    "owner bans an owner": lambda r: r.ban("owner", "owner2", apply=False),
    "member leaves": lambda r: r.leave("bob", apply=False),
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_operations_with_authority_are_accepted(case: str) -> None:
    # The other side of each refusal above, so no rule refuses everything.
    room = staff_room()
    room.apply(ALLOWED[case](room))


def test_invite_role_policy() -> None:
    room = staff_room(Policy(invite_role="supporter"))
    room.invite("sup", INVITE, role="supporter")
    assert refused(room.log, room.invite("sup", SPARE, role="moderator", apply=False)) == (
        "log.unauthorized"
    )
    assert refused(room.log, room.add("sup", "zed", "moderator", apply=False)) == (
        "log.unauthorized"
    )
    assert refused(room.log, room.invite("alice", SPARE, apply=False)) == "log.unauthorized"
    room.add("sup", "zed", "supporter")


def test_only_an_owner_changes_the_retention() -> None:
    room = staff_room(Policy(retention_days=30, invite_role="supporter"))
    for who in ("mod", "sup", "alice"):
        op = room.sign(who, RetentionOp(retention_days=1))
        assert refused(room.log, op) == "log.unauthorized"
    epoch, members = room.log.epoch, dict(room.log.members)
    room.apply(room.sign("owner2", RetentionOp(retention_days=1)))
    # Only the retention changes; the rest of the policy, the members and the epoch stay.
    assert room.log.policy == Policy(retention_days=1, invite_role="supporter")
    assert (room.log.epoch, dict(room.log.members)) == (epoch, members)
    room.apply(room.sign("owner", RetentionOp(retention_days=None)))
    assert room.log.policy.retention_days is None


def test_a_removed_member_has_no_authority_left() -> None:
    room = staff_room()
    room.remove("owner", "mod")
    assert refused(room.log, room.add("mod", "zed", apply=False)) == "log.not_member"
    assert refused(room.log, room.rotate("mod", apply=False)) == "log.not_member"
    assert refused(room.log, room.leave("mod", apply=False)) == "log.not_member"


def test_demotion_takes_effect_at_once() -> None:
    room = staff_room()
    room.role("owner", "mod", "member")
    assert refused(room.log, room.remove("mod", "alice", apply=False)) == "log.unauthorized"


def test_invite_revocation_rules() -> None:
    room = staff_room(Policy(invite_role="member"))
    room.invite("alice", INVITE)
    assert refused(room.log, room.revoke("bob", INVITE, apply=False)) == "log.unauthorized"
    assert refused(room.log, room.revoke("owner", SPARE, apply=False)) == "log.bad_invite"
    room.revoke("alice", INVITE)
    assert refused(room.log, room.revoke("mod", INVITE, apply=False)) == "log.bad_invite"
    room.invite("bob", SPARE)
    room.revoke("mod", SPARE)  # a moderator may revoke anyone's invite
    assert refused(room.log, room.invite("owner", SPARE, apply=False)) == "log.invalid"


def test_a_log_starts_with_create_and_only_there() -> None:
    room = staff_room()
    stranger = Room()
    add = stranger.add("owner", "alice", apply=False)
    assert refused(RoomLog(), add) == "log.bad_index"
    first = stranger.sign("owner", add.content.body, index=0, prev=ZERO_HASH)
    assert refused(RoomLog(), first) == "log.invalid"
    again = room.sign("owner", stranger.log.ops[0].content.body)
    assert refused(room.log, again) == "log.bad_index"


# -- order, replay, forks ------------------------------------------------------------------


def _five_op_log() -> Room:
    room = Room()
    room.add("owner", "alice")
    room.invite("owner", INVITE)
    room.role("owner", "alice", "supporter")
    room.rotate("alice")
    return room


_OPS = list(_five_op_log().log.ops)


def test_a_dropped_operation_is_detected() -> None:
    ops = list(_five_op_log().log.ops)
    for missing in range(1, len(ops) - 1):
        with pytest.raises(LogError) as info:
            RoomLog.from_ops(ops[:missing] + ops[missing + 1 :])
        assert info.value.code == "log.bad_index"


@FAST
@given(order=st.permutations(range(5)))
def test_reordered_operations_are_refused(order: list[int]) -> None:
    assume(order != sorted(order))
    log = RoomLog()
    first_out_of_place = next(n for n, i in enumerate(order) if i != n)
    for i in order[:first_out_of_place]:
        log.append(_OPS[i])
    assert refused(log, _OPS[order[first_out_of_place]]) == "log.bad_index"


def test_replay_is_refused() -> None:
    room = _five_op_log()
    for op in room.log.ops:
        assert refused(room.log, op) == "log.replay"
        assert refused(room.log, from_json(to_json(op), SignedOp)) == "log.replay"


def test_wrong_prev_is_refused() -> None:
    room = _five_op_log()
    for prev in (room.log.hash_at(room.log.index - 1), ZERO_HASH, bytes(range(32))):
        op = room.rotate("owner", apply=False)
        op = room.sign("owner", op.content.body, prev=prev)
        assert refused(room.log, op) == "log.bad_prev"


def test_wrong_index_is_refused() -> None:
    room = _five_op_log()
    for index in (room.log.index + 2, room.log.index + 100, 2**53):
        op = room.sign("owner", room.rotate("owner", apply=False).content.body, index=index)
        assert refused(room.log, op) == "log.bad_index"


def test_an_operation_for_another_room_is_refused() -> None:
    room = _five_op_log()
    other = Room()
    op = other.sign(
        "owner",
        RotateOp(commit=room.commit(room.recipients())),
        index=room.log.index + 1,
        prev=room.log.head,
    )
    assert refused(room.log, op) == "log.bad_room"


def test_two_operations_at_one_index_are_a_fork() -> None:
    room = _five_op_log()
    honest = room.rotate("owner", apply=False)
    other = room.role("owner", "alice", "member", apply=False)
    room.apply(honest)
    before = _state(room.log)
    with pytest.raises(ForkDetected) as info:
        room.log.append(other)
    assert info.value.code == "log.fork"
    assert _state(room.log) == before
    # The same, found from a head someone else names.
    index = honest.content.index
    assert room.log.check_head(index, op_hash(honest)) is True
    with pytest.raises(ForkDetected):
        room.log.check_head(index, op_hash(other))
    assert room.log.check_head(index + 1, op_hash(other)) is False
    assert room.log.check_head(-1, ZERO_HASH) is False
    # And deep in history: an old index rewritten is a fork, not a replay.
    rewritten = room.sign("owner", room.log.ops[2].content.body, index=2, prev=room.log.hash_at(1))
    with pytest.raises(ForkDetected):
        room.log.append(rewritten)
    with pytest.raises(ForkDetected):
        room.log.check_head(2, op_hash(rewritten))


# -- joins ---------------------------------------------------------------------------------


def _invite_room(**invite: Any) -> Room:
    room = Room()
    room.add("owner", "alice")
    room.invite("owner", INVITE, **invite)
    return room


def test_join_with_an_invite() -> None:
    room = _invite_room(role="supporter", max_uses=2)
    room.join("carol", INVITE)
    room.join("dan", INVITE)
    assert room.log.role_of(room.member("carol")) == "supporter"
    assert room.log.invites[INVITE.public].uses == 2
    assert room.log.epoch == 4


def test_an_exhausted_invite_is_refused() -> None:
    room = _invite_room(max_uses=1)
    room.join("carol", INVITE)
    assert refused(room.log, room.join("dan", INVITE, apply=False)) == "log.bad_invite"


def test_an_expired_invite_is_refused() -> None:
    room = _invite_room(expires_at=T0 + DAY_MS)
    late = room.join("carol", INVITE, at=T0 + DAY_MS + 1, apply=False)
    assert refused(room.log, late) == "log.bad_invite"
    room.join("carol", INVITE, at=T0 + DAY_MS)  # the last millisecond still counts


def test_a_revoked_invite_is_refused() -> None:
    room = _invite_room(max_uses=5)
    room.revoke("owner", INVITE)
    assert refused(room.log, room.join("carol", INVITE, apply=False)) == "log.bad_invite"


def test_an_unknown_invite_is_refused() -> None:
    room = _invite_room()
    assert refused(room.log, room.join("carol", SPARE, apply=False)) == "log.bad_invite"


@pytest.mark.parametrize("wrong", ["invite", "index", "joiner", "box_key", "room", "garbage"])
def test_a_wrong_invite_proof_is_refused(wrong: str) -> None:
    room = _invite_room()
    carol = room.keys("carol")
    args: dict[str, Any] = {
        "room": room.room,
        "index": room.log.index + 1,
        "joiner": carol.member,
        "box_key": carol.box_public,
    }
    signer = INVITE
    if wrong == "invite":
        signer = SPARE
    elif wrong == "index":
        args["index"] += 1
    elif wrong == "joiner":
        args["joiner"] = room.member("dan")
    elif wrong == "box_key":
        args["box_key"] = room.keys("dan").box_public
    elif wrong == "room":
        args["room"] = Room().room
    proof = bytes(64) if wrong == "garbage" else signer.prove(**args)
    assert refused(room.log, room.join("carol", INVITE, proof=proof, apply=False)) == (
        "log.bad_invite"
    )


def test_a_proof_cannot_be_replayed_by_someone_else() -> None:
    room = _invite_room(max_uses=3)
    honest = room.join("carol", INVITE, apply=False)
    assert isinstance(honest.content.body, JoinOp)
    dan = room.keys("dan")
    stolen = JoinOp(
        invite_key=INVITE.public,
        invite_proof=honest.content.body.invite_proof,
        box_key=dan.box_public,
        binding=dan.binding(),
        commit=room.commit(room.recipients(plus=["dan"])),
    )
    assert refused(room.log, room.sign(dan, stolen)) == "log.bad_invite"


def test_a_member_cannot_join_again() -> None:
    room = _invite_room()
    assert refused(room.log, room.join("alice", INVITE, apply=False)) == "log.invalid"


def test_a_full_room_refuses_joins_and_adds() -> None:
    room = Room(policy=Policy(max_members=2))
    room.invite("owner", INVITE, max_uses=5)
    room.join("alice", INVITE)
    assert refused(room.log, room.join("bob", INVITE, apply=False)) == "log.room_full"
    assert refused(room.log, room.add("owner", "bob", apply=False)) == "log.room_full"
    room.leave("alice")
    room.join("bob", INVITE)


@pytest.mark.parametrize("kind", ["create", "add", "join"])
@pytest.mark.parametrize("wrong", ["box_key", "signer"])
def test_a_bad_binding_is_refused(kind: str, wrong: str) -> None:
    room = _invite_room()
    if kind == "create":
        log, op = RoomLog(), Room(nonce=room.nonce).log.ops[0]
        target = room.keys("owner")
    elif kind == "add":
        log, op, target = room.log, room.add("owner", "carol", apply=False), room.keys("carol")
    else:
        log, op, target = room.log, room.join("carol", INVITE, apply=False), room.keys("carol")
    body = op.content.body
    if wrong == "box_key":
        binding = room.keys("dan").binding()  # dan's binding, not over this key
        body = msgspec.structs.replace(body, binding=binding)
    else:
        statement = Binding(room=room.room, member=target.member, box_key=target.box_public)
        forged = crypto.sign(room.keys("dan").signing, crypto.CTX_BINDING, canonical(statement))
        body = msgspec.structs.replace(body, binding=forged)
    author = room.keys("owner") if kind != "join" else target
    prev = ZERO_HASH if kind == "create" else None
    index = 0 if kind == "create" else None
    assert refused(log, room.sign(author, body, prev=prev, index=index)) == "log.bad_binding"


def test_a_member_id_alias_cannot_take_a_second_seat() -> None:
    # The two spare bits of a member id's last character must not give one key
    # a second identity in the log (protocol.ids refuses non-canonical ids).
    room = _invite_room(max_uses=2)
    alice = room.keys("alice")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    alias = alice.member[:-1] + alphabet[alphabet.index(alice.member[-1]) ^ 1]
    index = room.log.index + 1
    body = JoinOp(
        invite_key=INVITE.public,
        invite_proof=INVITE.prove(
            room=room.room, index=index, joiner=alias, box_key=alice.box_public
        ),
        box_key=alice.box_public,
        binding=alice.sign(
            crypto.CTX_BINDING,
            canonical(Binding(room=room.room, member=alias, box_key=alice.box_public)),
        ),
        commit=room.commit({**room.recipients(), alias: alice.box_public}),
    )
    content = OpContent(
        room=room.room, index=index, prev=room.log.head, author=alias, at=T0, body=body
    )
    op = SignedOp(content=content, sig=alice.sign(crypto.CTX_OP, canonical(content)))
    assert refused(room.log, op) == "log.bad_signature"
    add = AddOp(
        member=alias,
        box_key=alice.box_public,
        binding=body.binding,
        commit=room.commit({**room.recipients(), alias: alice.box_public}),
    )
    assert refused(room.log, room.sign("owner", add)) == "log.bad_binding"


# -- commits -------------------------------------------------------------------------------


def _commit_room() -> Room:
    room = Room()
    room.add("owner", "alice")
    room.add("owner", "bob")
    return room


def test_commits_must_seal_to_exactly_the_members_after() -> None:
    room = _commit_room()
    cases: list[tuple[str, Any]] = [
        ("add without the newcomer", AddOp, room.recipients()),
        ("add without an old member", AddOp, room.recipients(plus=["carol"], minus=["bob"])),
        ("remove still sealing to the removed", RemoveOp, room.recipients()),
        ("rotate to a subset", RotateOp, room.recipients(minus=["bob"])),
        ("rotate to an outsider too", RotateOp, room.recipients(plus=["carol"])),
    ]
    for name, kind, recipients in cases:
        commit = room.commit(recipients)
        if kind is AddOp:
            carol = room.keys("carol")
            body: Any = AddOp(
                member=carol.member,
                box_key=carol.box_public,
                binding=carol.binding(),
                commit=commit,
            )
        elif kind is RemoveOp:
            body = RemoveOp(member=room.member("bob"), commit=commit)
        else:
            body = RotateOp(commit=commit)
        assert refused(room.log, room.sign("owner", body)) == "log.bad_commit", name


@pytest.mark.parametrize("delta", [-1, 0, 2, 100])
def test_commits_must_start_the_next_epoch(delta: int) -> None:
    room = _commit_room()
    commit = room.commit(room.recipients(), epoch=room.log.epoch + delta if delta >= 0 else 1)
    assert refused(room.log, room.sign("owner", RotateOp(commit=commit))) == "log.bad_commit"


def test_create_must_start_epoch_one() -> None:
    room = Room()
    op = room.log.ops[0]
    assert isinstance(op.content.body, CreateOp)
    owner = room.keys("owner")
    commit = room.commit({owner.member: owner.box_public}, epoch=2, prev=ZERO_HASH)
    body = msgspec.structs.replace(op.content.body, commit=commit)
    bad = room.sign(owner, body, index=0, prev=ZERO_HASH)
    assert refused(RoomLog(), bad) == "log.bad_commit"


@pytest.mark.parametrize("how", ["unsorted", "duplicate"])
def test_shares_are_sorted_and_unique(how: str) -> None:
    room = _commit_room()
    commit = room.commit(room.recipients())
    shares = list(reversed(commit.shares))
    if how == "duplicate":
        shares = [*commit.shares[:2], commit.shares[1]]
    bad = msgspec.structs.replace(commit, shares=shares)
    assert refused(room.log, room.sign("owner", RotateOp(commit=bad))) == "log.bad_commit"


def test_history_only_where_the_policy_shares_it() -> None:
    room = _commit_room()
    leak = room.commit(room.recipients(), history=dict(room.secrets))
    assert leak.history is not None
    assert refused(room.log, room.sign("owner", RotateOp(commit=leak))) == "log.bad_commit"
    sharing = Room(policy=Policy(share_history=True))
    sharing.add("owner", "alice")
    assert isinstance(sharing.log.ops[-1].content.body, AddOp)
    assert sharing.log.ops[-1].content.body.commit.history is not None


def test_a_bad_confirm_tag_passes_the_log_but_not_the_members() -> None:
    # The log cannot open shares; each member's open_commit catches it.
    room = _commit_room()
    commit = room.commit(room.recipients())
    bad = msgspec.structs.replace(commit, confirm=bytes(32))
    room.log.append(room.sign("owner", RotateOp(commit=bad)))
    for name in ("owner", "alice", "bob"):
        with pytest.raises(LogError) as info:
            room.open_as(name, room.log.index)
        assert info.value.code == "log.bad_commit"


def test_a_share_sealed_to_another_key_fails_for_that_member() -> None:
    room = _commit_room()
    commit = room.commit(room.recipients())
    bob = room.member("bob")
    shares = [
        Share(member=s.member, sealed=crypto.seal(room.keys("mallory").box_public, bytes(32)))
        if s.member == bob
        else s
        for s in commit.shares
    ]
    room.log.append(
        room.sign("owner", RotateOp(commit=msgspec.structs.replace(commit, shares=shares)))
    )
    with pytest.raises(LogError) as info:
        room.open_as("bob", room.log.index)
    assert info.value.code == "log.bad_commit"
    room.open_as("alice", room.log.index)


def test_invite_create_fields_are_kept() -> None:
    room = staff_room()
    op = room.invite("mod", INVITE, role="supporter", max_uses=7, expires_at=T0 + 5)
    assert isinstance(op.content.body, InviteCreateOp)
    invite = room.log.invites[INVITE.public]
    assert (invite.role, invite.max_uses, invite.uses, invite.expires_at) == (
        "supporter",
        7,
        0,
        T0 + 5,
    )
    assert invite.created_by == room.member("mod")
    assert not invite.revoked


def test_an_unsigned_second_operation_is_a_forgery_not_a_fork() -> None:
    # Only an operation its author really signed proves a second history; a relay
    # that fabricates one without the key is told apart as a bad signature.
    room = Room()
    room.add("owner", "alice")
    held = room.log.ops[1]
    forged = msgspec.structs.replace(
        held, content=msgspec.structs.replace(held.content, at=held.content.at + 1)
    )
    before = _state(room.log)
    with pytest.raises(LogError) as info:
        room.log.append(forged)
    assert info.value.code == "log.bad_signature"
    assert _state(room.log) == before


# -- an invite lives only as long as its creator may grant it (issue 17, break 3) -----------


def _mod_invite(role: str = "moderator") -> Room:
    room = staff_room()
    room.invite("mod", INVITE, role=role, max_uses=5)  # type: ignore[arg-type]
    return room


@pytest.mark.parametrize(
    "fall",
    [
        lambda r: r.remove("owner", "mod"),
        lambda r: r.ban("owner", "mod"),
        lambda r: r.role("owner", "mod", "supporter"),
        lambda r: r.role("owner", "mod", "member"),
    ],
    ids=["removed", "banned", "demoted to supporter", "demoted to member"],
)
def test_removal_ban_and_demotion_revoke_the_creators_invites(fall: Case) -> None:
    room = _mod_invite()
    room.invite("mod2", SPARE, role="moderator")  # another moderator's: untouched
    fall(room)
    assert room.log.invites[INVITE.public].revoked
    assert not room.log.invites[SPARE.public].revoked
    assert refused(room.log, room.join("zed", INVITE, apply=False)) == "log.bad_invite"
    room.join("zed", SPARE)  # the control: a live invite still admits


def test_a_demotion_keeps_invites_the_creator_may_still_grant() -> None:
    room = staff_room(Policy(invite_role="supporter"))
    room.invite("mod", INVITE, role="supporter", max_uses=5)
    room.invite("mod", SPARE, role="moderator", max_uses=5)
    room.role("owner", "mod", "supporter")
    assert not room.log.invites[INVITE.public].revoked
    assert room.log.invites[SPARE.public].revoked
    room.join("zed", INVITE)
    assert room.log.role_of(room.member("zed")) == "supporter"


def test_a_revoked_invite_stays_revoked_after_a_promotion() -> None:
    room = _mod_invite()
    room.role("owner", "mod", "member")
    room.role("owner", "mod", "moderator")
    assert room.log.invites[INVITE.public].revoked
    assert refused(room.log, room.join("zed", INVITE, apply=False)) == "log.bad_invite"


def test_a_leavers_invite_no_longer_admits() -> None:
    room = _mod_invite()
    room.leave("mod")
    # The folded state says so at once, as for a removal, a ban or a demotion.
    assert room.log.invites[INVITE.public].revoked
    room.rotate("owner")
    assert refused(room.log, room.join("zed", INVITE, apply=False)) == "log.bad_invite"


def test_revocations_replay_alike() -> None:
    room = _mod_invite()
    room.ban("owner", "mod")
    again = RoomLog.from_ops(room.log.ops)
    assert _state(again) == _state(room.log)


# -- bans are log operations (issue 17, break 3) --------------------------------------------


def test_a_ban_removes_the_member_and_keeps_the_key_out() -> None:
    room = staff_room()
    room.invite("owner", INVITE, max_uses=5)
    epoch = room.log.epoch
    op = room.ban("mod", "alice")
    alice = room.member("alice")
    assert alice not in room.log.members
    assert room.log.epoch == epoch + 1
    assert room.log.banned[alice].by == room.member("mod")
    assert room.log.banned[alice].index == op.content.index
    assert refused(room.log, room.join("alice", INVITE, apply=False)) == "log.banned"
    assert refused(room.log, room.add("owner", "alice", apply=False)) == "log.banned"
    assert refused(room.log, room.ban("owner", "alice", apply=False)) == "log.invalid"
    room.unban("mod", "alice")
    assert alice not in room.log.banned
    room.join("alice", INVITE)  # lifted: an invite admits again


def test_a_non_member_can_be_banned_before_they_come() -> None:
    room = staff_room()
    room.invite("owner", INVITE)
    epoch = room.log.epoch
    room.ban("mod", "zed")
    assert room.log.epoch == epoch  # nobody left: no commit
    assert refused(room.log, room.join("zed", INVITE, apply=False)) == "log.banned"


def test_a_ban_commits_exactly_when_it_removes() -> None:
    room = staff_room()
    without = room.sign("owner", BanOp(member=room.member("alice"), commit=None))
    assert refused(room.log, without) == "log.bad_commit"
    needless = room.sign(
        "owner", BanOp(member=room.member("zed"), commit=room.commit(room.recipients()))
    )
    assert refused(room.log, needless) == "log.bad_commit"


def test_lifting_a_ban_takes_the_authority_imposing_it_took() -> None:
    room = staff_room()
    room.ban("owner", "mod")
    assert refused(room.log, room.unban("mod2", "mod", apply=False)) == "log.unauthorized"
    assert refused(room.log, room.unban("alice", "mod", apply=False)) == "log.unauthorized"
    room.ban("mod2", "alice")
    assert refused(room.log, room.unban("sup", "alice", apply=False)) == "log.unauthorized"
    room.unban("mod2", "alice")
    room.unban("owner2", "mod")


# -- unusable X25519 keys (issue 17, break 7) -----------------------------------------------

LOW_ORDER = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes([0xEC]) + b"\xff" * 30 + bytes([0x7F]),
    bytes([0xED]) + b"\xff" * 30 + bytes([0x7F]),
    bytes([0xEE]) + b"\xff" * 30 + bytes([0x7F]),
]
"""The small-order X25519 points (libsodium's list); each also with the top bit set."""
UNUSABLE = [*LOW_ORDER, *(k[:31] + bytes([k[31] | 0x80]) for k in LOW_ORDER)]


def _bound(room: Room, name: str, box_key: bytes) -> bytes:
    """``name``'s own signature binding ``box_key``: a malicious member signs anything."""
    keys = room.keys(name)
    statement = canonical(Binding(room=room.room, member=keys.member, box_key=box_key))
    return keys.sign(crypto.CTX_BINDING, statement)


@pytest.mark.parametrize("key", UNUSABLE, ids=lambda k: k.hex()[:8] + "..." + k.hex()[-2:])
def test_a_key_nothing_can_be_sealed_to_never_enters_the_log(key: bytes) -> None:
    with pytest.raises(crypto.CryptoError) as info:
        crypto.check_box_key(key)
    assert info.value.code == "crypto.bad_key"
    room = staff_room(Policy(invite_role="member"))
    room.invite("owner", INVITE)
    mallory = room.keys("mallory")
    index = room.log.index + 1
    # The commit is built as an honest joiner would, to the real keys of everyone but
    # the joiner: the verifier must refuse the key itself, not a commit that failed.
    join = JoinOp(
        invite_key=INVITE.public,
        invite_proof=INVITE.prove(room=room.room, index=index, joiner=mallory.member, box_key=key),
        box_key=key,
        binding=_bound(room, "mallory", key),
        commit=_commit_with_dummy(room, mallory.member),
    )
    assert refused(room.log, room.sign(mallory, join)) == "log.bad_key"
    add = AddOp(
        member=mallory.member,
        box_key=key,
        binding=_bound(room, "mallory", key),
        commit=_commit_with_dummy(room, mallory.member),
    )
    assert refused(room.log, room.sign("owner", add)) == "log.bad_key"
    fresh = Room()
    owner = fresh.keys("owner")
    create = CreateOp(
        genesis=fresh.genesis.prove(owner.member),
        policy=Policy(),
        box_key=key,
        binding=_bound(fresh, "owner", key),
        commit=fresh.log.ops[0].content.body.commit,  # type: ignore[union-attr]
    )
    op = fresh.sign(owner, create, index=0, prev=ZERO_HASH)
    assert refused(RoomLog(), op) == "log.bad_key"


def _commit_with_dummy(room: Room, newcomer: Any) -> Any:
    """A commit for the members plus ``newcomer``, whose share is sealed to a usable key."""
    recipients = room.recipients()
    recipients[newcomer] = room.keys("dummy").box_public
    return room.commit(recipients)


def test_usable_keys_pass_the_check() -> None:
    for name in ("alice", "bob", "carol"):
        crypto.check_box_key(Room().keys(name).box_public)
    with pytest.raises(crypto.CryptoError):
        crypto.check_box_key(bytes(31))


def test_a_failing_commit_names_the_member() -> None:
    room = staff_room()
    recipients = room.recipients()
    alice = room.member("alice")
    recipients[alice] = bytes(32)  # a key from somewhere other than the log
    with pytest.raises(crypto.CryptoError) as info:
        room.commit(recipients)
    assert info.value.code == "crypto.bad_key"
    assert alice in info.value.message


# -- roles at a point of the log (issue 17, item 9) -----------------------------------------


def test_role_at_answers_for_every_index() -> None:
    room = Room()
    room.add("owner", "alice")  # 1
    room.role("owner", "alice", "moderator")  # 2
    room.rotate("owner")  # 3
    room.role("owner", "alice", "member")  # 4
    room.remove("owner", "alice")  # 5
    room.invite("owner", INVITE)  # 6
    room.join("alice", INVITE)  # 7
    alice = room.member("alice")
    roles = [room.log.role_at(alice, i) for i in range(room.log.index + 1)]
    assert roles == [None, "member", "moderator", "moderator", "member", None, None, "member"]
    assert room.log.role_at(room.member("owner"), 0) == "owner"
    assert room.log.role_at(alice, -1) is None
    assert room.log.role_at(room.member("zed"), 3) is None


def test_roles_between_lists_every_role_in_a_span() -> None:
    room = Room()
    room.add("owner", "alice")  # 1
    room.role("owner", "alice", "moderator")  # 2
    room.rotate("owner")  # 3
    room.role("owner", "alice", "member")  # 4
    alice = room.member("alice")
    assert room.log.roles_between(alice, 0, 0) == [None]
    assert room.log.roles_between(alice, 0, 4) == [None, "member", "moderator", "member"]
    assert room.log.roles_between(alice, 2, 3) == ["moderator"]
    assert room.log.roles_between(alice, 3, 4) == ["moderator", "member"]
    assert room.log.roles_between(room.member("zed"), 0, 4) == [None]
