"""The pure room state, wired to an in-memory event sequence: no sockets, no store.

:class:`Seq` plays an honest relay's part in one room the h11 ``ConnectionPair``
way: it verifies what it is given with the same protocol code the relay runs
(``RoomLog.append``, ``check_envelope``) and numbers events 1, 2, 3 ... Tests of a
misbehaving relay append forged or reordered events to ``Seq.events`` directly.
"""

from __future__ import annotations

import pytest

from client_sdk._core.builders import create_op
from client_sdk._core.state import RoomState
from client_sdk._core.step import Opened, open_ahead
from client_sdk.errors import InviteError, RoomBlocked, RoomInactive
from client_sdk.events import (
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    ProfileChanged,
    RulesChanged,
    SecurityAlarm,
)
from protocol import RoomLog, RootSeed, check_envelope, seal_message
from protocol.api import (
    ErasedEvent,
    LogEvent,
    MessageEvent,
    RemovedEvent,
    RoomEvent,
    TombstoneEvent,
)
from protocol.encoding import canonical, from_msgpack
from protocol.envelope import open_message
from protocol.errors import EnvelopeError, LogError
from protocol.ids import RoomId
from protocol.messages import Envelope, EraseRequest, Plaintext, ProfileBody, RulesBody, TextBody
from protocol.ops import Policy, SignedOp
from protocol.personal import VerifiedHead
from protocol.roomlog import op_hash
from protocol.signing import InviteKey, sign_delete, sign_erase

T0 = 1_767_225_600_000
DEVICE_A = b"A" * 16
DEVICE_B = b"B" * 16


class Seq:
    """An honest relay's event sequence for one room, in memory."""

    def __init__(self) -> None:
        self.log = RoomLog()
        self.events: list[RoomEvent] = []

    @property
    def next_seq(self) -> int:
        return len(self.events) + 1

    def op(self, op: SignedOp) -> LogEvent:
        self.log.append(op)
        event = LogEvent(seq=self.next_seq, ts=T0, op=op)
        self.events.append(event)
        return event

    def msg(self, envelope: Envelope) -> MessageEvent:
        check_envelope(self.log, envelope)
        event = MessageEvent(seq=self.next_seq, ts=T0, envelope=envelope)
        self.events.append(event)
        return event


GENESIS_NONCE = bytes(16)


class Person:
    @staticmethod
    def root_of(name: str) -> RootSeed:
        return RootSeed(name.encode().ljust(32, b"."))

    def __init__(self, name: str, room: RoomId) -> None:
        self.root = self.root_of(name)
        self.state = RoomState(self.root.room_keys(room))
        self.device = name.encode().ljust(16, b"-")[:16]

    @property
    def id(self):  # type: ignore[no-untyped-def]
        return self.state.me

    def catch_up(self, seq: Seq) -> list[object]:
        items: list[object] = []
        for event in seq.events:
            step = self.state.receive(event)
            assert not step.need_log
            items += step.items
        return items

    def say(self, seq: Seq, text: str, **body: object) -> MessageEvent:
        plaintext = Plaintext(
            device=self.device,
            counter=self.state.next_counter(),
            sent_at=T0,
            body=TextBody(text=text, **body),  # type: ignore[arg-type]
        )
        return seq.msg(self.state.seal(plaintext))

    def commit(self, seq: Seq, op: SignedOp) -> None:
        """Our own operation: the relay takes it, we apply it at once (as the SDK does)."""
        seq.op(op)
        self.state.apply_op(op)


def texts(items: list[object]) -> list[str]:
    out = []
    for item in items:
        body = getattr(getattr(item, "plaintext", None), "body", None)
        if isinstance(body, TextBody):
            out.append(body.text)
    return out


def alarms(items: list[object]) -> list[SecurityAlarm]:
    return [i for i in items if isinstance(i, SecurityAlarm)]


@pytest.fixture
def room() -> tuple[Seq, Person, Person, Person]:
    """Alice created a group; Bob and Carol joined by invite. Everyone caught up."""
    genesis = Person.root_of("alice").genesis(GENESIS_NONCE)
    seq = Seq()
    alice, bob, carol = (Person(n, genesis.room) for n in ("alice", "bob", "carol"))
    create = create_op(genesis, alice.state.keys, Policy(kind="group"), now=T0)
    alice.commit(seq, create)
    for joiner in (bob, carol):
        invite = InviteKey.generate()
        alice.commit(
            seq,
            alice.state.invite_op(invite, role="member", max_uses=1, expires_at=T0 + 10**6, now=T0),
        )
        joiner.state.load_log(seq.log.ops)
        joiner.state.position = seq.next_seq - 1
        joiner.state.seq_index = seq.log.index
        op = joiner.state.join_op(invite, now=T0)
        joiner.commit(seq, op)
        joiner.state.position = seq.next_seq - 1
        joiner.state.seq_index = seq.log.index
        alice.catch_up(seq)
    for p in (alice, bob, carol):
        p.catch_up(seq)
    return seq, alice, bob, carol


def test_three_members_agree_on_log_epoch_and_messages(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    assert set(alice.state.log.members) == {alice.id, bob.id, carol.id}
    assert alice.state.log.epoch == bob.state.log.epoch == carol.state.log.epoch == 3
    assert alice.state.log.head == carol.state.log.head
    secret = alice.state.secrets[3]
    assert bob.state.secrets[3] == secret == carol.state.secrets[3]
    # Bob joined at epoch 2: epoch 1 is not his to read.
    assert 1 not in bob.state.secrets

    alice.say(seq, "hello", content_warning="cw")
    bob.say(seq, "hi alice", reply_to=seq.events[-1].envelope.header.id)  # type: ignore[union-attr]
    got = carol.catch_up(seq)
    assert texts(got) == ["hello", "hi alice"]
    assert alarms(got) == []
    assert carol.state.check_withheld().items == []


def test_membership_events_come_from_the_log(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    dave = Person("dave", alice.state.room)
    invite = InviteKey.generate()
    alice.commit(
        seq,
        alice.state.invite_op(invite, role="supporter", max_uses=1, expires_at=T0 + 10**6, now=T0),
    )
    dave.state.load_log(seq.log.ops)
    dave.commit(seq, dave.state.join_op(invite, now=T0))
    alice.catch_up(seq)
    alice.commit(seq, alice.state.role_op(dave.id, "moderator", now=T0))
    alice.commit(seq, alice.state.remove_op(bob.id, now=T0))
    got = carol.catch_up(seq)
    kinds = [type(i).__name__ for i in got]
    assert kinds == ["MemberJoined", "RoleChanged", "MemberRemoved"]
    joined = got[0]
    assert isinstance(joined, MemberJoined)
    assert (joined.member, joined.role) == (dave.id, "supporter")
    assert carol.state.log.role_of(dave.id) == "moderator"


def test_removed_member_cannot_read_what_follows(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    alice.commit(seq, alice.state.remove_op(bob.id, now=T0))
    alice.say(seq, "after bob left")
    got = bob.catch_up(seq)
    removed = [i for i in got if isinstance(i, MemberRemoved)]
    assert removed
    assert removed[0].member == bob.id
    assert bob.state.status == "removed"
    assert texts(got) == []
    assert alice.state.log.epoch not in bob.state.secrets
    with pytest.raises(RoomInactive) as info:
        bob.state.require_sendable()
    assert info.value.code == "room.removed"
    assert texts(carol.catch_up(seq)) == ["after bob left"]


def test_a_leave_requires_a_rotation_before_sending(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    bob.commit(seq, bob.state.leave_op(now=T0))
    got = alice.catch_up(seq)
    assert [type(i) for i in got] == [MemberLeft]
    assert alice.state.rotation_due(now=T0, max_age_ms=10**12, max_messages=10**6)
    with pytest.raises(LogError) as info:
        alice.say(seq, "too early")
    assert info.value.code == "log.needs_rotation"
    alice.commit(seq, alice.state.rotate_op(now=T0))
    assert {m.member for m in seq.log.ops[-1].content.body.commit.shares} == {  # type: ignore[union-attr]
        alice.id,
        carol.id,
    }
    alice.say(seq, "rotated")
    assert texts(carol.catch_up(seq)) == ["rotated"]


def test_scheduled_rotation_by_age_and_by_count(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, _carol = room
    assert not alice.state.rotation_due(now=T0 + 10, max_age_ms=1000, max_messages=3)
    assert alice.state.rotation_due(now=T0 + 1000, max_age_ms=1000, max_messages=3)
    for i in range(3):
        alice.say(seq, f"m{i}")
    alice.catch_up(seq)
    assert alice.state.epoch_messages == 3
    assert alice.state.rotation_due(now=T0, max_age_ms=10**9, max_messages=3)
    alice.commit(seq, alice.state.rotate_op(now=T0 + 5))
    assert alice.state.epoch_messages == 0
    assert not alice.state.rotation_due(now=T0 + 10, max_age_ms=1000, max_messages=3)


def test_profile_and_rules_only_from_moderators(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    for who, body in (
        (alice, ProfileBody(name="Circle", topic="t")),
        (alice, RulesBody(version=1, text="be kind")),
        (bob, ProfileBody(name="Hijacked")),
        (bob, RulesBody(version=2, text="no rules")),
    ):
        pt = Plaintext(device=who.device, counter=who.state.next_counter(), sent_at=T0, body=body)
        seq.msg(who.state.seal(pt))
    got = carol.catch_up(seq)
    changes = [i for i in got if isinstance(i, ProfileChanged | RulesChanged)]
    assert len(changes) == 2
    assert carol.state.profile is not None
    assert carol.state.profile.name == "Circle"
    assert carol.state.rules is not None
    assert carol.state.rules.text == "be kind"


def test_withheld_message_raises_alarm_after_complete_sync(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    alice.say(seq, "two")
    alice.say(seq, "three")
    withheld = seq.events.pop(-2)  # the relay drops "two" and renumbers
    last = seq.events[-1]
    assert isinstance(last, MessageEvent)
    seq.events[-1] = MessageEvent(seq=withheld.seq, ts=last.ts, envelope=last.envelope)
    got = carol.catch_up(seq)
    assert texts(got) == ["one", "three"]
    step = carol.state.check_withheld()
    found = alarms(step.items)
    assert [a.kind for a in found] == ["withheld"]
    assert carol.state.blocked
    # The same gap is reported once.
    assert carol.state.check_withheld().items == []


def _delete(seq: Seq, by: Person, gone: MessageEvent, sender: Person) -> TombstoneEvent:
    """The relay deletes ``gone`` on ``by``'s signed request: placeholder, then tombstone."""
    h = gone.envelope.header
    plaintext = open_message(gone.envelope, epoch_secret=sender.state.secrets[h.epoch])
    request = sign_delete(
        by.state.keys,
        target=h.id,
        sender=h.sender,
        device=plaintext.device,
        counter=plaintext.counter,
        at=T0,
    )
    tomb = TombstoneEvent(seq=seq.next_seq, ts=T0, target=h.id, request=request)
    seq.events.append(tomb)
    seq.events[gone.seq - 1] = RemovedEvent(
        seq=gone.seq, ts=T0, id=h.id, sender=h.sender, by=tomb.seq
    )
    return tomb


def test_a_signed_deletion_explains_a_gap(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    gone = alice.say(seq, "two")
    alice.say(seq, "three")
    _delete(seq, alice, gone, alice)
    assert texts(carol.catch_up(seq)) == ["one", "three"]
    assert carol.state.check_withheld().items == []
    assert not carol.state.blocked


def test_a_deletion_placeholder_no_signed_deletion_backs_is_withheld(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    gone = alice.say(seq, "two")
    alice.say(seq, "three")
    # The relay's bare placeholder, pointing at an event that proves nothing.
    seq.events[gone.seq - 1] = RemovedEvent(
        seq=gone.seq, ts=T0, id=gone.envelope.header.id, sender=alice.id, by=gone.seq + 1
    )
    got = carol.catch_up(seq)
    assert [(a.kind, a.code) for a in alarms(got)] == [("withheld", "msg.withheld")]
    assert [a.kind for a in alarms(carol.state.check_withheld().items)] == ["withheld"]


def test_one_signed_deletion_excuses_its_own_counter_once(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    deleted = alice.say(seq, "one")
    alice.say(seq, "two")
    carol.catch_up(seq)  # carol read "one" before it was deleted
    tomb = _delete(seq, alice, deleted, alice)
    carol.state.receive(tomb)
    withheld = alice.say(seq, "three")
    alice.say(seq, "four")
    # The relay hides "three" behind a placeholder naming the real tombstone.
    seq.events[withheld.seq - 1] = RemovedEvent(
        seq=withheld.seq, ts=T0, id=deleted.envelope.header.id, sender=alice.id, by=tomb.seq
    )
    got = carol.catch_up(seq)
    assert texts(got) == ["four"]
    assert [a.kind for a in alarms(got) + alarms(carol.state.check_withheld().items)] == [
        "withheld",
        "withheld",
    ]


def test_fork_alarm_blocks_sending_until_acknowledged(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    # Bob is shown another history: a different operation at index 1.
    other = Seq()
    # The same creator's genesis, another room.create: two histories from index 0.
    other.op(create_op(alice.root.genesis(GENESIS_NONCE), alice.state.keys, Policy(), now=T0))
    envelope = seal_message(
        bob.state.keys,
        Plaintext(device=DEVICE_B, counter=1, sent_at=T0, body=TextBody(text="x")),
        epoch=bob.state.log.epoch,
        epoch_secret=bob.state.secrets[bob.state.log.epoch],
        head_index=0,
        head=other.log.head,
    )
    step = carol.state.receive(MessageEvent(seq=seq.next_seq, ts=T0, envelope=envelope))
    assert [a.kind for a in alarms(step.items)] == ["fork"]
    assert carol.state.blocked
    with pytest.raises(RoomBlocked) as info:
        carol.say(seq, "nope")
    assert info.value.code == "room.blocked"
    with pytest.raises(RoomBlocked):
        carol.state.rotate_op(now=T0)
    assert carol.state.acknowledge() == [step.items[0].alarm_id]  # type: ignore[union-attr]
    assert not carol.state.blocked
    carol.say(seq, "ok again")


def test_log_that_fails_verification_freezes_the_room(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    op = alice.state.rotate_op(now=T0)
    forged = SignedOp(content=op.content, sig=bytes(64))
    position = carol.state.position
    step = carol.state.receive(LogEvent(seq=seq.next_seq, ts=T0, op=forged))
    found = alarms(step.items)
    assert [(a.kind, a.code) for a in found] == [("log_invalid", "log.bad_signature")]
    assert carol.state.frozen
    assert carol.state.position == position
    # The real operation is ignored while frozen, and taken after acknowledgement.
    alice.commit(seq, op)
    assert carol.state.receive(seq.events[-1]).items == []
    carol.state.acknowledge()
    carol.catch_up(seq)
    assert carol.state.log.epoch == alice.state.log.epoch


def test_two_operations_at_one_index_is_a_fork(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    first = alice.state.rotate_op(now=T0)
    second = alice.state.rotate_op(now=T0 + 1)
    carol.state.receive(LogEvent(seq=seq.next_seq, ts=T0, op=first))
    step = carol.state.apply_op(second)
    assert [a.kind for a in alarms(step.items)] == ["fork"]


def test_a_redelivered_operation_changes_nothing(room) -> None:  # type: ignore[no-untyped-def]
    """protocol.md section 10: an operation already held comes again; it is not an alarm."""
    seq, alice, _bob, carol = room
    # Carol fetched the log ahead of her position (a message named a newer head)...
    alice.commit(seq, alice.state.rotate_op(now=T0))
    rotation = seq.log.ops[-1]
    carol.state.apply_op(rotation)
    held = (carol.state.log.index, carol.state.log.head, carol.state.log.epoch)
    secrets = dict(carol.state.secrets)
    said = alice.say(seq, "after the rotation")
    # ...then the sequence delivers the same operation, and a relay serves it once more.
    again = LogEvent(seq=seq.next_seq, ts=T0, op=rotation)
    seq.events.append(again)
    got = carol.catch_up(seq)
    assert alarms(got) == []
    assert not carol.state.blocked
    assert (carol.state.log.index, carol.state.log.head, carol.state.log.epoch) == held
    assert carol.state.secrets == secrets
    assert carol.state.position == again.seq  # moved past it like any other event
    assert texts(got) == ["after the rotation"]
    assert said.seq < again.seq


def test_unknown_epoch_alarm(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    log = alice.state.log
    envelope = seal_message(
        alice.state.keys,
        Plaintext(device=DEVICE_A, counter=99, sent_at=T0, body=TextBody(text="x")),
        epoch=log.epoch + 5,
        epoch_secret=bytes(32),
        head_index=log.index,
        head=log.head,
    )
    step = carol.state.receive(MessageEvent(seq=seq.next_seq, ts=T0, envelope=envelope))
    assert [a.kind for a in alarms(step.items)] == ["unknown_epoch"]


def test_unknown_head_asks_for_the_log_then_checks_again(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.commit(
        seq,
        alice.state.invite_op(
            InviteKey.generate(), role="member", max_uses=1, expires_at=T0 + 1, now=T0
        ),
    )
    said = alice.say(seq, "after an op carol has not seen")
    step = carol.state.receive(said)
    assert step.need_log
    assert carol.state.position < said.seq
    # The relay withheld the operation from the sequence but serves it in the log:
    carol.state.apply_op(seq.log.ops[-1])
    step = carol.state.receive(said, log_synced=True)
    assert [a.kind for a in alarms(step.items)] == ["fork"]


def test_removed_member_message_injected_by_relay_is_refused(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    old = bob.state.seal(
        Plaintext(
            device=bob.device,
            counter=bob.state.next_counter(),
            sent_at=T0,
            body=TextBody(text="sealed before removal"),
        )
    )
    alice.commit(seq, alice.state.remove_op(bob.id, now=T0))
    # A relay that colludes with Bob stores his old-epoch message after the removal.
    seq.events.append(MessageEvent(seq=seq.next_seq, ts=T0, envelope=old))
    got = carol.catch_up(seq)
    assert texts(got) == []
    assert [(a.kind, a.code) for a in alarms(got)] == [("bad_message", "msg.stale_epoch")]


def test_replayed_counter_is_a_bad_message(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    alice.state.send_counter -= 1
    alice.say(seq, "one again, same counter")
    got = carol.catch_up(seq)
    assert texts(got) == ["one"]
    assert [(a.kind, a.code) for a in alarms(got)] == [("bad_message", "msg.replay")]


def test_tampered_ciphertext_is_a_bad_message(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    event = alice.say(seq, "hello")
    env = event.envelope
    flipped = bytes([env.ciphertext[0] ^ 1]) + env.ciphertext[1:]
    seq.events[-1] = MessageEvent(
        seq=event.seq, ts=T0, envelope=Envelope(header=env.header, ciphertext=flipped, sig=env.sig)
    )
    got = carol.catch_up(seq)
    assert [(a.kind, a.code) for a in alarms(got)] == [("bad_message", "msg.bad_signature")]


def test_join_checks_the_invite_in_the_verified_log(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, _carol = room
    erin = Person("erin", alice.state.room)
    erin.state.load_log(seq.log.ops)
    with pytest.raises(InviteError) as info:
        erin.state.join_op(InviteKey.generate(), now=T0)
    assert info.value.code == "invite.unknown"
    expired = InviteKey.generate()
    alice.commit(
        seq, alice.state.invite_op(expired, role="member", max_uses=1, expires_at=T0 + 5, now=T0)
    )
    erin = Person("erin", alice.state.room)
    erin.state.load_log(seq.log.ops)
    with pytest.raises(InviteError) as info:
        erin.state.join_op(expired, now=T0 + 6)
    assert info.value.code == "invite.expired"


def test_snapshot_round_trip_keeps_counters_and_alarms(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    alice.say(seq, "two")
    carol.catch_up(seq)
    carol.state.acknowledge()
    restored = RoomState.restore(
        carol.state.keys, carol.state.log.ops, carol.state.secrets, carol.state.snapshot()
    )
    assert restored.position == carol.state.position
    assert restored.tracker.highest(alice.id, alice.device) == 2
    # After the restart the next message goes on from counter 3 without a gap ...
    carol2 = Person("carol", alice.state.room)
    carol2.state = restored
    alice.say(seq, "three")
    assert texts(carol2.catch_up(seq)) == ["three"]
    assert restored.check_withheld().items == []
    # ... and a replayed old message is still refused.
    old = seq.events[-2]
    assert isinstance(old, MessageEvent)
    alice.state.send_counter = 1
    alice.say(seq, "replay of counter two")
    got = carol2.catch_up(seq)
    assert [a.code for a in alarms(got)] == ["msg.replay"]
    again = RoomState.restore(
        restored.keys, restored.log.ops, restored.secrets, restored.snapshot()
    )
    assert [a.code for a in again.alarms] == ["msg.replay"]
    assert again.blocked


def _erase(seq: Seq, who: Person, request: EraseRequest | None) -> ErasedEvent:
    """The relay erases every message of ``who``: placeholders, then the erasure."""
    mine = [
        e for e in seq.events if isinstance(e, MessageEvent) and e.envelope.header.sender == who.id
    ]
    erased = ErasedEvent(
        seq=seq.next_seq, ts=T0, member=who.id, through=mine[-1].seq, request=request
    )
    seq.events.append(erased)
    for e in mine:
        seq.events[e.seq - 1] = RemovedEvent(
            seq=e.seq, ts=T0, id=e.envelope.header.id, sender=who.id, by=erased.seq
        )
    return erased


def test_a_signed_erasure_explains_the_gaps_it_left(room) -> None:  # type: ignore[no-untyped-def]
    seq, _alice, bob, carol = room
    bob.say(seq, "one")
    carol.catch_up(seq)
    bob.say(seq, "two")  # carol never reads these two: erased first
    bob.say(seq, "three")
    leave = bob.state.leave_op(now=T0)
    bob.commit(seq, leave)
    _erase(seq, bob, sign_erase(bob.state.keys, index=leave.content.index, at=T0))
    got = carol.catch_up(seq)
    assert alarms(got) == []
    assert carol.state.check_withheld().items == []


def test_an_erasure_the_member_did_not_sign_excuses_nothing(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    carol.catch_up(seq)
    alice.say(seq, "two")
    # The relay says alice erased her messages (she did not) and hides "two" ...
    _erase(seq, alice, None)
    alice.say(seq, "three")  # ... while she goes on talking.
    got = carol.catch_up(seq)
    assert texts(got) == ["three"]
    kinds = [a.kind for a in alarms(got) + alarms(carol.state.check_withheld().items)]
    assert kinds == ["withheld", "withheld"]  # the placeholder, and the counter gap


def test_an_erasure_of_a_member_still_present_is_refused(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.say(seq, "one")
    carol.catch_up(seq)
    alice.say(seq, "two")
    # A real signed request, served while alice is still a member (or replayed).
    _erase(seq, alice, sign_erase(alice.state.keys, index=alice.state.log.index, at=T0))
    alice.say(seq, "three")
    got = carol.catch_up(seq)
    assert [(a.kind, a.code) for a in alarms(got)] == [
        ("bad_message", "msg.not_member"),
        ("withheld", "msg.withheld"),
    ]
    assert [a.kind for a in alarms(carol.state.check_withheld().items)] == ["withheld"]


def _purge(seq: Seq, alice: Person, carol: Person) -> tuple[set[int], list[object]]:
    alice.say(seq, "one")
    carol.catch_up(seq)
    position = carol.state.position
    alice.say(seq, "purged 0")
    alice.commit(seq, alice.state.rotate_op(now=T0))  # kept through the purge
    alice.say(seq, "purged 1")
    alice.say(seq, "purged 2")
    alice.say(seq, "after the purge")
    # The relay purged the three messages (it keeps log operations) before carol synced.
    purged = {e.seq for e in seq.events[position:] if isinstance(e, MessageEvent)}
    purged.discard(seq.events[-1].seq)
    carol.state.note_low_water(max(purged))
    got = []
    for event in seq.events:
        if event.seq not in purged:
            got += carol.state.receive(event).items
    return purged, got


def test_a_retention_purge_is_not_a_withheld_message(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.commit(seq, alice.state.retention_op(2, now=T0))
    _, got = _purge(seq, alice, carol)
    assert texts(got) == ["after the purge"]
    assert alarms(got) == []
    later = T0 + 2 * 24 * 3600 * 1000 + 1  # the two days have passed since "one"
    assert carol.state.check_withheld(now=later).items == []
    assert carol.state.log.epoch == alice.state.log.epoch


def test_a_low_water_mark_without_retention_is_withheld(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    _, got = _purge(seq, alice, carol)
    assert texts(got) == ["after the purge"]
    found = alarms(carol.state.check_withheld(now=T0 + 10**12).items)
    # The mark is refused, and so the gap it would have excused is withheld too.
    assert [(a.kind, a.code) for a in found] == [("withheld", "msg.withheld")] * 2
    assert "keeps everything" in found[0].detail


def test_a_low_water_mark_the_retention_cannot_reach_yet_is_withheld(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.commit(seq, alice.state.retention_op(2, now=T0))
    _purge(seq, alice, carol)
    found = alarms(carol.state.check_withheld(now=T0 + 24 * 3600 * 1000).items)
    assert [(a.kind, a.code) for a in found] == [("withheld", "msg.withheld")] * 2
    assert "could not have reached" in found[0].detail


# -- messages opened ahead (the sync's worker thread) ---------------------------------


def _received(person: Person, seq: Seq, opened: dict[int, Opened] | None = None) -> list[object]:
    items: list[object] = []
    for event in seq.events:
        step = person.state.receive(event, opened=(opened or {}).get(event.seq))
        assert not step.need_log
        items += step.items
    return items


def test_messages_opened_ahead_are_taken_as_if_opened_in_turn(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    start = seq.next_seq
    alice.say(seq, "one")
    tampered = alice.say(seq, "two")
    env = tampered.envelope
    flipped = bytes([env.ciphertext[0] ^ 1]) + env.ciphertext[1:]
    seq.events[-1] = MessageEvent(
        seq=tampered.seq,
        ts=T0,
        envelope=Envelope(header=env.header, ciphertext=flipped, sig=env.sig),
    )
    bob.say(seq, "three")
    new = seq.events[start - 1 :]
    opened = open_ahead(carol.state.room, new, dict(carol.state.secrets))
    assert sorted(opened) == [e.seq for e in new]
    # Bob opens in turn, Carol takes what was opened ahead: the same texts, the same refusal.
    bob_saw = _received(bob, seq)
    carol_saw = _received(carol, seq, opened)
    assert texts(carol_saw) == texts(bob_saw) == ["one", "three"]
    assert [(a.kind, a.code) for a in alarms(carol_saw)] == [("bad_message", "msg.bad_signature")]
    assert [(a.kind, a.code) for a in alarms(bob_saw)] == [("bad_message", "msg.bad_signature")]


def test_an_opened_result_counts_only_for_its_own_envelope_and_secret(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    honest = alice.say(seq, "what alice wrote")
    other = bob.say(seq, "something else")
    # A result counts only for the very envelope object it was made from (an equal
    # copy does not do) and under the secret the room holds for its epoch.
    forged = open_ahead(carol.state.room, [other], dict(carol.state.secrets))[other.seq]
    lookalike = from_msgpack(canonical(honest.envelope), Envelope)
    assert lookalike == honest.envelope
    assert lookalike is not honest.envelope
    wrong_secret = {e: bytes(32) for e in carol.state.secrets}
    cases = {
        honest.seq: Opened(lookalike, forged.secret, forged.result),
        other.seq: open_ahead(carol.state.room, [other], wrong_secret)[other.seq],
    }
    assert isinstance(cases[other.seq].result, EnvelopeError)  # what a wrong secret gives
    got = _received(carol, seq, cases)
    assert texts(got) == ["what alice wrote", "something else"]
    assert not alarms(got)


def _say_profile(seq: Seq, who: Person, name: str) -> None:
    pt = Plaintext(
        device=who.device, counter=who.state.next_counter(), sent_at=T0, body=ProfileBody(name=name)
    )
    seq.msg(who.state.seal(pt))


def _backfilled_profiles(seq: Seq, reader: Person, *, pages: bool) -> list[str]:
    """What a member reading the whole past as history (backfill) takes as profiles."""
    newcomer = Person("dave", reader.state.room)
    newcomer.state.load_log(seq.log.ops)
    newcomer.state.secrets = dict(reader.state.secrets)
    newcomer.state.floor = seq.next_seq  # everything is history to it
    # With ``pages``, the page holds the log operations that fix each message's
    # place; without, only the messages, so a place is a span up to our head.
    page = [e for e in seq.events if pages or not isinstance(e, LogEvent)]
    items = newcomer.state.receive_history(page, more=False).items
    return [i.name for i in items if isinstance(i, ProfileChanged)]


@pytest.mark.parametrize("pages", [True, False], ids=["placed", "span"])
def test_history_judges_authority_at_the_messages_place(room, pages: bool) -> None:  # type: ignore[no-untyped-def]
    # Issue 17, item 9: the log a backfilling reader holds is the current one; a role
    # change after a message must not decide whether the message counted.
    seq, alice, bob, carol = room
    alice.commit(seq, alice.state.role_op(bob.id, "moderator", now=T0))
    bob.catch_up(seq)
    _say_profile(seq, bob, "named by a moderator")
    alice.commit(seq, alice.state.role_op(carol.id, "moderator", now=T0))
    alice.commit(seq, alice.state.role_op(bob.id, "member", now=T0))
    carol.catch_up(seq)
    _say_profile(seq, bob, "named by a member")  # after his demotion: never counts
    # Read forward by everyone, the first counts and the second does not.
    assert [i.name for i in alice.catch_up(seq) if isinstance(i, ProfileChanged)] == [
        "named by a moderator"
    ]
    # Read as history: with the page's operations placed, exactly the same; without
    # them the message's place is only known to lie between its head and our head,
    # and a role that changed in between is judged by its lowest: refused, never
    # more authority than the sender had.
    expected = ["named by a moderator"] if pages else []
    assert _backfilled_profiles(seq, carol, pages=pages) == expected


def test_history_refuses_a_claim_made_before_a_promotion(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, bob, carol = room
    _say_profile(seq, bob, "claimed by a member")
    alice.commit(seq, alice.state.role_op(bob.id, "moderator", now=T0))
    carol.catch_up(seq)
    assert _backfilled_profiles(seq, carol, pages=True) == []
    assert _backfilled_profiles(seq, carol, pages=False) == []


def test_join_refuses_a_fallen_creators_invite_and_a_banned_key(room) -> None:  # type: ignore[no-untyped-def]
    # Issue 17, break 3: the SDK refuses before it signs or seals anything.
    seq, alice, bob, _carol = room
    alice.commit(seq, alice.state.role_op(bob.id, "moderator", now=T0))
    bob.catch_up(seq)
    invite = InviteKey.generate()
    bob.commit(
        seq,
        bob.state.invite_op(invite, role="moderator", max_uses=5, expires_at=T0 + 10**6, now=T0),
    )
    bob.commit(seq, bob.state.leave_op(now=T0))  # a leaver's invites die at use
    erin = Person("erin", alice.state.room)
    erin.state.load_log(seq.log.ops)
    with pytest.raises(InviteError) as info:
        erin.state.join_op(invite, now=T0)
    assert info.value.code == "invite.revoked"

    alice.catch_up(seq)
    own = InviteKey.generate()
    alice.commit(
        seq, alice.state.invite_op(own, role="member", max_uses=5, expires_at=T0 + 10**6, now=T0)
    )
    alice.commit(seq, alice.state.ban_op(erin.id, now=T0))  # not a member: no commit
    assert seq.log.epoch == alice.state.log.epoch
    erin = Person("erin", alice.state.room)
    erin.state.load_log(seq.log.ops)
    with pytest.raises(InviteError) as info:
        erin.state.join_op(own, now=T0)
    assert info.value.code == "invite.banned"
    alice.commit(seq, alice.state.unban_op(erin.id, now=T0))
    erin = Person("erin", alice.state.room)
    erin.state.load_log(seq.log.ops)
    seq.op(erin.state.join_op(own, now=T0))  # lifted: the relay's verifier takes it


def test_a_purge_excuses_nothing_served_after_its_mark(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    alice.commit(seq, alice.state.retention_op(2, now=T0))
    alice.say(seq, "one")
    carol.catch_up(seq)
    purged = {alice.say(seq, f"purged {i}").seq for i in range(2)}
    alice.say(seq, "after 0")
    withheld = alice.say(seq, "after 1").seq  # above the mark: the relay skips it
    alice.say(seq, "after 2")
    carol.state.note_low_water(max(purged))
    got = [
        item
        for event in seq.events
        if event.seq not in purged | {withheld}
        for item in carol.state.receive(event).items
    ]
    assert texts(got) == ["after 0", "after 2"]
    found = alarms(carol.state.check_withheld(now=T0 + 3 * 24 * 3600 * 1000).items)
    assert [(a.kind, a.detail) for a in found] == [
        ("withheld", f"1 message(s) from {alice.id} never arrived")
    ]


def test_history_served_above_the_floor_is_refused_and_the_floor_only_goes_down(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, _bob, carol = room
    live = alice.say(seq, "read live")
    carol.catch_up(seq)
    carol.state.floor = 3
    step = carol.state.receive_history([live], more=True)
    assert [(a.kind, a.code) for a in alarms(step.items)] == [("bad_message", "msg.replay")]
    assert texts(step.items) == []
    assert carol.state.floor == 1  # nothing in its place: the walk ends


def _after_removal(room):  # type: ignore[no-untyped-def]
    """Alice removes Carol; return the prefix before it and the head Alice verified after."""
    seq, alice, _, carol = room
    prefix = list(seq.log.ops)
    alice.commit(seq, alice.state.remove_op(carol.id, now=T0))
    mark = VerifiedHead(index=alice.state.log.index, head=alice.state.log.head)
    return seq, alice, prefix, mark


def _restored(alice: Person, ops: list[SignedOp]) -> RoomState:
    state = RoomState(alice.state.keys)
    for op in ops:
        assert not alarms(state.apply_op(op).items)
    return state


def test_a_log_behind_a_pinned_head_blocks_until_it_reaches_it(room) -> None:  # type: ignore[no-untyped-def]
    seq, alice, prefix, mark = _after_removal(room)
    restored = _restored(alice, prefix)
    step = restored.pin(mark)
    assert [a.code for a in alarms(step.items)] == ["log.behind_verified_head"]
    assert restored.blocked
    assert restored.verified_head is None  # nothing to publish from a doubtful log
    restored.acknowledge()
    with pytest.raises(RoomBlocked):
        restored.require_sendable()
    with pytest.raises(RoomBlocked):
        restored.rotate_op(now=T0)  # would seal to Carol, whom the prefix still lists
    # The snapshot keeps the pin: a restart does not forget it.
    again = RoomState.restore(alice.state.keys, prefix, restored.secrets, restored.snapshot())
    assert again.blocked
    # The relay serves the rest: the room goes on.
    assert not alarms(again.apply_op(seq.log.ops[-1]).items)
    assert not again.blocked
    again.require_sendable()
    assert again.verified_head == mark


def test_another_operation_at_a_pinned_index_freezes_the_room(room) -> None:  # type: ignore[no-untyped-def]
    _, alice, prefix, mark = _after_removal(room)
    other = _restored(alice, prefix)
    forked = _restored(alice, [*prefix, other.rotate_op(now=T0)])
    step = forked.pin(mark)
    assert [(a.kind, a.code) for a in alarms(step.items)] == [("fork", "log.fork")]
    assert forked.frozen
    with pytest.raises(RoomBlocked):
        forked.require_sendable()
    # A head the log holds raises nothing.
    fine = _restored(alice, [*prefix])
    assert not alarms(fine.pin(VerifiedHead(index=1, head=op_hash(prefix[1]))).items)
    assert not fine.blocked
