"""Epochs: every member unseals the same key, the removed and the newcomer do not.

The scenarios run whole rooms in memory: who can open which commit, and which
messages each person can read with every secret they ever held.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    EnvelopeError,
    LogError,
    Policy,
    RoomId,
    confirm_tag,
    crypto,
    derive_epoch_secret,
    make_commit,
    message_key,
    open_commit,
    open_history,
    open_message,
)
from protocol.messages import Envelope, TextBody
from protocol.ops import Commit, Share
from tests.protocol.builders import FAST, Room, flip_bit, root, some_room_id

ROOM = some_room_id(lambda n: bytes(range(n)))
NAMES = ["ana", "ben", "cy", "dee"]
KEYS = {name: root(name).room_keys(ROOM) for name in NAMES}
RECIPIENTS = {k.member: k.box_public for k in KEYS.values()}
PREV = bytes(range(32))


@FAST
@given(
    secret=st.binary(min_size=32, max_size=32),
    epoch=st.integers(1, 2**53),
    which=st.sampled_from(["secret", "room", "epoch", "prev"]),
)
def test_epoch_secret_depends_on_every_input(secret: bytes, epoch: int, which: str) -> None:
    base = derive_epoch_secret(secret, ROOM, epoch, PREV)
    if which == "secret":
        changed = derive_epoch_secret(flip_bit(secret, epoch), ROOM, epoch, PREV)
    elif which == "room":
        changed = derive_epoch_secret(secret, RoomId("B" + ROOM[1:]), epoch, PREV)
    elif which == "epoch":
        changed = derive_epoch_secret(secret, ROOM, epoch + 1, PREV)
    else:
        changed = derive_epoch_secret(secret, ROOM, epoch, flip_bit(PREV, epoch))
    assert changed != base
    assert len({base, confirm_tag(base), message_key(base)}) == 3


def test_derivation_formula() -> None:
    secret = bytes(32)
    data = ROOM.encode() + (7).to_bytes(8, "big") + PREV
    expected = crypto.kdf(secret, data, person=crypto.PERSON_EPOCH)
    assert derive_epoch_secret(secret, ROOM, 7, PREV) == expected
    assert confirm_tag(expected) == crypto.kdf(expected, b"", person=crypto.PERSON_CONFIRM)
    assert message_key(expected) == crypto.kdf(expected, b"", person=crypto.PERSON_MSG_KEY)


def test_every_recipient_opens_the_same_secret() -> None:
    commit, secret = make_commit(room=ROOM, epoch=5, prev=PREV, recipients=RECIPIENTS)
    assert commit.epoch == 5
    assert [s.member for s in commit.shares] == sorted(RECIPIENTS)
    assert commit.confirm == confirm_tag(secret)
    assert commit.history is None
    for keys in KEYS.values():
        assert open_commit(commit, prev=PREV, keys=keys) == secret


def test_commit_secret_comes_from_the_rng() -> None:
    def rng(n: int) -> bytes:
        return b"\x07" * n

    commit, secret = make_commit(room=ROOM, epoch=1, prev=PREV, recipients=RECIPIENTS, rng=rng)
    assert secret == derive_epoch_secret(b"\x07" * 32, ROOM, 1, PREV)
    again, _ = make_commit(room=ROOM, epoch=1, prev=PREV, recipients=RECIPIENTS, rng=rng)
    assert again.confirm == commit.confirm
    assert again.shares != commit.shares  # sealing uses its own ephemeral key


def test_open_commit_refuses() -> None:
    commit, _ = make_commit(room=ROOM, epoch=2, prev=PREV, recipients=RECIPIENTS)
    ana = KEYS["ana"]
    outsider = root("eve").room_keys(ROOM)
    with pytest.raises(LogError) as info:
        open_commit(commit, prev=PREV, keys=outsider)
    assert info.value.code == "log.not_recipient"
    # The same person's key in another room is another member.
    with pytest.raises(LogError) as info:
        open_commit(commit, prev=PREV, keys=root("ana").room_keys(some_room_id()))
    assert info.value.code == "log.not_recipient"
    # A different log position gives a different secret, so confirmation fails.
    with pytest.raises(LogError) as info:
        open_commit(commit, prev=bytes(32), keys=ana)
    assert info.value.code == "log.bad_commit"
    wrong_epoch = msgspec.structs.replace(commit, epoch=3)
    with pytest.raises(LogError) as info:
        open_commit(wrong_epoch, prev=PREV, keys=ana)
    assert info.value.code == "log.bad_commit"


@FAST
@given(bit=st.integers(0, 2**16), who=st.sampled_from(NAMES))
def test_a_flipped_share_or_tag_is_refused(bit: int, who: str) -> None:
    commit, _ = make_commit(room=ROOM, epoch=2, prev=PREV, recipients=RECIPIENTS)
    keys = KEYS[who]
    shares = [
        Share(member=s.member, sealed=flip_bit(s.sealed, bit)) if s.member == keys.member else s
        for s in commit.shares
    ]
    for bad in [
        msgspec.structs.replace(commit, shares=shares),
        msgspec.structs.replace(commit, confirm=flip_bit(commit.confirm, bit)),
    ]:
        with pytest.raises(LogError) as info:
            open_commit(bad, prev=PREV, keys=keys)
        assert info.value.code == "log.bad_commit"


def test_a_committer_cannot_hand_one_member_another_key() -> None:
    commit, secret = make_commit(room=ROOM, epoch=2, prev=PREV, recipients=RECIPIENTS)
    victim = KEYS["ben"]
    shares = [
        Share(member=s.member, sealed=crypto.seal(victim.box_public, b"\x01" * 32))
        if s.member == victim.member
        else s
        for s in commit.shares
    ]
    split = msgspec.structs.replace(commit, shares=shares)
    assert open_commit(split, prev=PREV, keys=KEYS["ana"]) == secret
    with pytest.raises(LogError) as info:
        open_commit(split, prev=PREV, keys=victim)
    assert info.value.code == "log.bad_commit"


# -- history -----------------------------------------------------------------------------


def test_history_round_trip_and_tamper() -> None:
    earlier = {1: b"\x01" * 32, 2: b"\x02" * 32, 3: b"\x03" * 32}
    confirms = {e: confirm_tag(s) for e, s in earlier.items()}
    commit, secret = make_commit(
        room=ROOM, epoch=4, prev=PREV, recipients=RECIPIENTS, history=earlier
    )
    assert commit.history is not None
    assert open_history(commit, room=ROOM, epoch_secret=secret, confirms=confirms) == earlier
    for bad_commit, bad_secret, room in [
        (msgspec.structs.replace(commit, history=flip_bit(commit.history, 200)), secret, ROOM),
        (msgspec.structs.replace(commit, history=commit.history[:30]), secret, ROOM),
        (commit, flip_bit(secret, 3), ROOM),
        (msgspec.structs.replace(commit, epoch=5), secret, ROOM),
        (commit, secret, some_room_id()),
    ]:
        with pytest.raises(LogError) as info:
            open_history(bad_commit, room=room, epoch_secret=bad_secret, confirms=confirms)
        assert info.value.code == "log.bad_commit"


def test_no_history_unless_asked() -> None:
    for history in (None, {}):
        commit, secret = make_commit(
            room=ROOM, epoch=2, prev=PREV, recipients=RECIPIENTS, history=history
        )
        assert commit.history is None
        assert open_history(commit, room=ROOM, epoch_secret=secret, confirms={}) == {}


# -- whole rooms -------------------------------------------------------------------------


def _secrets_held(room: Room, name: str) -> dict[int, bytes]:
    """Every epoch secret ``name`` can unseal from the log, by epoch."""
    held: dict[int, bytes] = {}
    for index, op in enumerate(room.log.ops):
        commit = getattr(op.content.body, "commit", None)
        if commit is None:
            continue
        if any(share.member == room.member(name) for share in commit.shares):
            held[commit.epoch] = room.open_as(name, index)
    return held


def test_a_removed_member_cannot_read_what_follows() -> None:
    room = Room()
    room.add("owner", "mod", "moderator")
    room.add("owner", "alice")
    room.add("mod", "bob")
    before = room.send("bob", "before alice leaves")
    alice_held = _secrets_held(room, "alice")
    assert sorted(alice_held) == [3, 4]
    assert open_message(before, epoch_secret=alice_held[4]).body == TextBody(
        text="before alice leaves"
    )

    room.remove("mod", "alice")
    removal = room.log.index
    with pytest.raises(LogError) as info:
        room.open_as("alice", removal)
    assert info.value.code == "log.not_recipient"
    assert room.open_as("bob", removal) == room.secrets[5]

    after = [room.send("bob", "after"), room.send("mod", "also after")]
    room.rotate("owner")
    after.append(room.send("owner", "later still"))
    assert _secrets_held(room, "alice") == alice_held
    for envelope in after:
        for secret in alice_held.values():
            with pytest.raises(EnvelopeError) as exc:
                open_message(envelope, epoch_secret=secret)
            assert exc.value.code == "msg.decrypt_failed"
        # ... while the remaining members read it.
        assert open_message(
            envelope, epoch_secret=_secrets_held(room, "bob")[envelope.header.epoch]
        )


def test_a_member_who_left_cannot_read_after_the_rotation() -> None:
    room = Room()
    room.add("owner", "alice")
    room.leave("alice")
    room.rotate("owner")
    held = _secrets_held(room, "alice")
    assert sorted(held) == [2]
    message = room.send("owner", "you are gone")
    with pytest.raises(EnvelopeError) as exc:
        open_message(message, epoch_secret=held[2])
    assert exc.value.code == "msg.decrypt_failed"


def _last_commit(room: Room) -> Commit:
    commit = getattr(room.log.ops[-1].content.body, "commit", None)
    assert isinstance(commit, Commit)
    return commit


def _history_room(*, share: bool) -> tuple[Room, list[Envelope]]:
    room = Room(policy=Policy(share_history=share))
    room.add("owner", "alice")
    earlier = [room.send("owner", "epoch 2"), room.send("alice", "epoch 2 too")]
    room.rotate("alice")
    earlier.append(room.send("owner", "epoch 3"))
    room.add("owner", "carol")
    return room, earlier


def test_a_newcomer_cannot_read_what_came_before() -> None:
    room, earlier = _history_room(share=False)
    carol = _secrets_held(room, "carol")
    assert sorted(carol) == [4]
    for index in range(room.log.index):
        commit = getattr(room.log.ops[index].content.body, "commit", None)
        if commit is not None:
            with pytest.raises(LogError) as info:
                room.open_as("carol", index)
            assert info.value.code == "log.not_recipient"
    joined = _last_commit(room)
    assert joined.history is None
    assert open_history(joined, room=room.room, epoch_secret=carol[4], confirms={}) == {}
    for envelope in earlier:
        with pytest.raises(EnvelopeError) as exc:
            open_message(envelope, epoch_secret=carol[4])
        assert exc.value.code == "msg.decrypt_failed"


def test_a_newcomer_reads_history_when_the_room_shares_it() -> None:
    room, earlier = _history_room(share=True)
    carol = _secrets_held(room, "carol")
    joined = _last_commit(room)
    history = open_history(
        joined, room=room.room, epoch_secret=carol[4], confirms=room.log.confirms
    )
    assert history == {e: room.secrets[e] for e in (1, 2, 3)}
    bodies = [open_message(e, epoch_secret=history[e.header.epoch]).body for e in earlier]
    assert bodies == [TextBody(text=t) for t in ("epoch 2", "epoch 2 too", "epoch 3")]


def test_history_that_does_not_match_the_log_is_refused() -> None:
    # A committer who passes on a false secret for an earlier epoch is caught by that
    # epoch's confirmation tag in the verified log, and one for a later epoch too.
    true = {1: b"\x01" * 32, 2: b"\x02" * 32}
    confirms = {e: confirm_tag(s) for e, s in true.items()}
    for lie in ({1: b"\x01" * 32, 2: b"\x09" * 32}, {1: b"\x01" * 32, 7: b"\x07" * 32}):
        commit, secret = make_commit(
            room=ROOM, epoch=3, prev=PREV, recipients=RECIPIENTS, history=lie
        )
        with pytest.raises(LogError) as info:
            open_history(commit, room=ROOM, epoch_secret=secret, confirms=confirms)
        assert info.value.code == "log.bad_commit"
