"""The risk path in the pure room core (``_core/risk.py``, the plan in ``_core/bodies.py``).

Each body is judged at its place in room order, on an in-memory event sequence
(``test_roomstate.Seq``): a supporter demoted later keeps the alert they raised
before; an alert sent after the demotion, or by a member, counts for nothing; a
risk plan counts only from a moderator or owner of a program, and survives a
snapshot.
"""

from __future__ import annotations

from client_sdk._core.builders import create_op
from client_sdk._core.persistence import RoomSnapshot
from client_sdk._core.state import RoomState
from client_sdk.events import RiskAlertReceived, RiskHelpShown, RiskPlanChanged
from protocol.directed import seal_directed
from protocol.ids import new_message_id
from protocol.messages import (
    Body,
    CrisisResource,
    Plaintext,
    RiskAlertBody,
    RiskAlertContent,
    RiskHelpBody,
    RiskPlanBody,
)
from protocol.ops import Policy, Role, RoomKind
from protocol.signing import InviteKey
from tests.client_sdk.test_roomstate import GENESIS_NONCE, T0, Person, Seq, alarms

LINES = [CrisisResource(name="Samaritans", regions=["GB", "IE"], phone="116 123")]


def _room(kind: RoomKind) -> tuple[Seq, Person, Person, Person]:
    """Alice owns a room of ``kind``; Bob joined as a supporter, Carol as a member."""
    genesis = Person.root_of("alice").genesis(GENESIS_NONCE)
    seq = Seq()
    alice, bob, carol = (Person(n, genesis.room) for n in ("alice", "bob", "carol"))
    alice.commit(seq, create_op(genesis, alice.state.keys, Policy(kind=kind), now=T0))
    joiners: list[tuple[Person, Role]] = [(bob, "supporter"), (carol, "member")]
    for joiner, role in joiners:
        invite = InviteKey.generate()
        op = alice.state.invite_op(invite, role=role, max_uses=1, expires_at=T0 + 10**6, now=T0)
        alice.commit(seq, op)
        joiner.state.load_log(seq.log.ops)
        joiner.state.position = seq.next_seq - 1
        joiner.state.seq_index = seq.log.index
        joiner.commit(seq, joiner.state.join_op(invite, now=T0))
        joiner.state.position = seq.next_seq - 1
        joiner.state.seq_index = seq.log.index
        alice.catch_up(seq)
    for p in (alice, bob, carol):
        p.catch_up(seq)
    return seq, alice, bob, carol


def _send(seq: Seq, who: Person, body: Body) -> None:
    pt = Plaintext(device=who.device, counter=who.state.next_counter(), sent_at=T0, body=body)
    seq.msg(who.state.seal(pt))


def _alert(sender: Person, to: Person, note: str) -> RiskAlertBody:
    keys = sender.state.keys
    content = RiskAlertContent(
        room=keys.room,
        supporter=keys.member,
        member=keys.member,
        request=new_message_id(),
        buddy_room=keys.room,
        note=note,
        recipients=[to.id],
        at=T0,
    )
    seals, ciphertext = seal_directed(keys, content, {to.id: to.state.keys.box_public})
    return RiskAlertBody(seals=seals, ciphertext=ciphertext)


def _notes(items: list[object]) -> list[str]:
    return [i.note for i in items if isinstance(i, RiskAlertReceived)]


def test_an_alert_counts_by_the_role_its_sender_had_at_its_place() -> None:
    seq, alice, bob, carol = _room("program")
    _send(seq, bob, _alert(bob, alice, "before the demotion"))
    _send(seq, carol, _alert(carol, alice, "a member's forgery"))
    alice.commit(seq, alice.state.role_op(bob.id, "member", now=T0))
    _send(seq, bob, _alert(bob, alice, "after the demotion"))

    got = alice.catch_up(seq)
    assert _notes(got) == ["before the demotion"]
    assert alarms(got) == []
    # A reader starting from scratch decides alike.
    fresh = RoomState(Person.root_of("alice").room_keys(alice.state.room))
    items: list[object] = []
    for event in seq.events:
        items += fresh.receive(event).items
    assert _notes(items) == ["before the demotion"]
    # Nobody else opens one: Carol holds no seal.
    assert _notes(carol.catch_up(seq)) == []


def test_a_plan_counts_from_moderators_of_a_program_and_survives_a_snapshot() -> None:
    seq, alice, bob, carol = _room("program")
    _send(seq, alice, RiskPlanBody(text="stay with them", lines=LINES))
    _send(seq, bob, RiskPlanBody(text="call me instead"))
    got = carol.catch_up(seq)
    assert [(e.text, e.lines, e.by) for e in got if isinstance(e, RiskPlanChanged)] == [
        ("stay with them", tuple(LINES), alice.id)
    ]
    assert carol.state.risk_plan == RiskPlanBody(text="stay with them", lines=LINES)
    snapshot = carol.state.snapshot()
    assert isinstance(snapshot, RoomSnapshot)
    restored = RoomState.restore(carol.state.keys, seq.log.ops, carol.state.secrets, snapshot)
    assert restored.risk_plan == carol.state.risk_plan

    # Outside a program a plan means nothing, even from the owner.
    seq, alice, _bob, carol = _room("group")
    _send(seq, alice, RiskPlanBody(text="stay with them", lines=LINES))
    assert not [e for e in carol.catch_up(seq) if isinstance(e, RiskPlanChanged)]
    assert carol.state.risk_plan is None


def test_help_counts_only_from_a_buddy_chats_owner() -> None:
    seq, alice, bob, _carol = _room("group")
    _send(seq, alice, RiskHelpBody(text="not a buddy chat", lines=LINES))
    assert not [e for e in bob.catch_up(seq) if isinstance(e, RiskHelpShown)]

    genesis = Person.root_of("sam").genesis(GENESIS_NONCE)
    seq = Seq()
    sam, mia = Person("sam", genesis.room), Person("mia", genesis.room)
    policy = Policy(kind="buddy", invite_role="owner", max_members=2)
    sam.commit(seq, create_op(genesis, sam.state.keys, policy, now=T0))
    invite = InviteKey.generate()
    sam.commit(
        seq, sam.state.invite_op(invite, role="member", max_uses=1, expires_at=T0 + 10**6, now=T0)
    )
    mia.state.load_log(seq.log.ops)
    mia.state.position = seq.next_seq - 1
    mia.state.seq_index = seq.log.index
    mia.commit(seq, mia.state.join_op(invite, now=T0))
    mia.state.position = seq.next_seq - 1
    mia.state.seq_index = seq.log.index
    sam.catch_up(seq)
    _send(seq, mia, RiskHelpBody(text="call my number", lines=[]))
    _send(seq, sam, RiskHelpBody(text="you are not alone", lines=LINES))
    for reader in (sam, mia):
        shown = [e for e in reader.catch_up(seq) if isinstance(e, RiskHelpShown)]
        assert [(e.text, e.lines, e.by) for e in shown] == [
            ("you are not alone", tuple(LINES), sam.id)
        ]
