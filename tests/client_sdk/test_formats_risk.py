"""A program's path for a member at imminent risk, against a real relay.

Issue 19, item 2: "A supporter who believes someone is at imminent risk has a path
the program defines: the person's help lines shown to both, and an alert to the
program's moderators as a directed message." The program's moderators publish a
risk plan (encrypted room state a newcomer receives too); in a buddy chat opened by
a claim, the supporter's ``raise_risk_alert`` shows both buddies the plan's lines
and seals an alert to the program's owners and moderators alone. Nobody else's
plan, help or alert counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import (
    DEFAULT_CRISIS_RESOURCES,
    CrisisDirectory,
    CrisisResource,
    Identity,
    MessageReceived,
    RiskAlertReceived,
    RiskHelpShown,
    RiskPlanChanged,
    Room,
    SupportClaimed,
    SupportError,
)
from protocol import crypto
from protocol.directed import open_directed, seal_directed
from protocol.envelope import open_message
from protocol.errors import CryptoError
from protocol.messages import (
    RiskAlertBody,
    RiskAlertContent,
    RiskHelpBody,
    RiskPlanBody,
)
from tests.client_sdk.conftest import RelayProcess, client_of
from tests.client_sdk.test_client import OpenClient, until
from tests.client_sdk.test_formats_programs import (
    ASK_1,
    Program,
    _is,
    open_client,
    program_of,
    raw_envelope,
    synced,
)
from tests.security.test_privacy_audit import _forms

__all__ = ["open_client"]

PLAN = "Stay with them in the chat, share these lines, and alert the duty moderators."
LINES = [
    CrisisResource(
        name="Samaritans",
        regions=["GB", "IE"],
        phone="116 123",
        url="https://www.samaritans.org",
        hours="24/7",
    ),
    CrisisResource(
        name="Grief and recovery duty line",
        regions=["GB"],
        url="https://program.example/duty",
        description="A trained volunteer of this program, evenings.",
    ),
]
NOTE = "she says she has saved up her pills and tonight is the night"


async def _claimed(p: Program) -> tuple[Room, Room]:
    """s1 claims m1's request: the buddy chat as s1 and as m1 see it, both joined."""
    await p.s1.set_availability(True)
    request = await p.m1.request_support(ASK_1)
    await synced(p.s1)
    buddy = await p.s1.claim(request.id)
    await p.watchers[3].wait(SupportClaimed, lambda e: e.request_id == request.id)
    mine = await p.m1.buddy_chat(request.id)
    await until(lambda: _is(len(buddy.members) == 2 and len(mine.members) == 2))
    return buddy, mine


async def test_the_risk_plan_travels_encrypted_and_reaches_a_newcomer(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    p = await program_of(open_client)
    assert all(r.risk_plan is None for r in p.rooms)
    await p.owner.set_risk_plan(PLAN, LINES)
    for watcher in p.watchers:
        seen = await watcher.wait(RiskPlanChanged)
        assert (seen.text, seen.lines, seen.by) == (PLAN, tuple(LINES), p.owner.me)
    for room in p.rooms:
        plan = room.risk_plan
        assert plan is not None
        assert (plan.text, plan.lines) == (PLAN, LINES)

    # Only moderators and owners publish it: the SDK refuses, and readers ignore a forgery.
    for room in (p.s1, p.m1):
        with pytest.raises(SupportError) as refused:
            await room.set_risk_plan("call this number instead", [])
        assert refused.value.code == "support.not_moderator"
    await p.m1._driver.send(RiskPlanBody(text="call this number instead", lines=[]))
    marker = await p.s2.send("marker")
    for watcher in p.watchers:
        await watcher.wait(MessageReceived, lambda e: e.message.id == marker)
    for room in p.rooms:
        assert room.risk_plan is not None
        assert room.risk_plan.text == PLAN
        assert not room.alarms

    # The relay never sees it: no form of the plan's words anywhere on its disk.
    raw = b"".join(f.read_bytes() for f in Path(relay.data_dir).rglob("*") if f.is_file())
    assert len(raw) > 10_000
    for secret in (PLAN, LINES[1].name, LINES[1].description):
        assert [name for name, form in _forms(secret) if form in raw] == []

    # A newcomer cannot read the earlier copy: the inviting owner sends it again.
    late = await open_client(Identity.generate(), "late")
    late_room = await late.join(await p.owner.create_invite())
    await until(lambda: _is(late_room.risk_plan is not None))
    assert late_room.risk_plan is not None
    assert (late_room.risk_plan.text, late_room.risk_plan.lines) == (PLAN, LINES)

    # Outside programs there is no risk plan.
    group = await p.clients[0].create_group("not a program")
    with pytest.raises(SupportError) as not_program:
        await group.set_risk_plan(PLAN, LINES)
    assert not_program.value.code == "support.not_program"


async def test_an_alert_shows_both_buddies_the_help_and_reaches_the_moderators_alone(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    p = await program_of(open_client)
    await p.owner.set_role(p.m2.me, "moderator")
    await p.owner.set_risk_plan(PLAN, LINES)
    await synced(*p.rooms)
    await until(lambda: _is(p.s1.risk_plan is not None and p.s1.members[p.m2.me] == "moderator"))
    buddy, _ = await _claimed(p)

    alert = await buddy.raise_risk_alert(NOTE)
    assert (alert.planned, alert.text, alert.lines) == (True, PLAN, tuple(LINES))
    assert (alert.program_id, alert.buddy_room_id, alert.member) == (p.s1.id, buddy.id, p.m1.me)
    assert alert.moderators == tuple(sorted((p.owner.me, p.m2.me)))

    # Both buddies are shown the program's lines, from the supporter's signed message.
    for watcher in (p.watchers[1], p.watchers[3]):
        shown = await watcher.wait(RiskHelpShown, lambda e: e.room_id == buddy.id)
        assert (shown.message_id, shown.text, shown.lines, shown.by) == (
            alert.help_id,
            PLAN,
            tuple(LINES),
            buddy.me,
        )
    # The person's device puts its own lines for its region beside them, never instead.
    shown_lines = CrisisDirectory().alongside(shown.lines, "GB")
    assert shown_lines[:2] == LINES
    assert {r.name for r in shown_lines} >= {"Emergency services", "Find A Helpline"}
    assert [r.name for r in shown_lines].count("Samaritans") == 1

    # The owner and the moderator receive the alert, checked and attributed.
    for watcher in (p.watchers[0], p.watchers[4]):
        received = await watcher.wait(RiskAlertReceived)
        assert (received.room_id, received.alert_id, received.supporter) == (
            p.s1.id,
            alert.alert_id,
            p.s1.me,
        )
        assert (received.member, received.request_id, received.buddy_room_id) == (
            p.m1.me,
            alert.request_id,
            buddy.id,
        )
        assert received.note == NOTE

    # Nobody else: not the person, not the other supporter, not a plain member.
    marker = await p.owner.send("marker")
    for watcher in p.watchers:
        await watcher.wait(MessageReceived, lambda e: e.message.id == marker)
    for watcher in (p.watchers[2], p.watchers[3], p.watchers[5]):
        assert not [e for e in watcher.events if isinstance(e, RiskAlertReceived)]
    for room in p.rooms:
        assert not room.alarms

    # m3 plays the malicious member with its own keys: it holds the epoch secret,
    # decrypts the envelope, and still finds only seals it cannot open.
    envelope = await raw_envelope(p.m3, alert.alert_id)
    keys = p.m3._state.keys
    body = open_message(envelope, epoch_secret=p.m3._state.secrets[envelope.header.epoch]).body
    assert isinstance(body, RiskAlertBody)
    assert {s.member for s in body.seals} == {p.owner.me, p.m2.me, p.s1.me}
    assert open_directed(keys, p.s1.me, body) is None
    for seal in body.seals:
        with pytest.raises(CryptoError):
            crypto.unseal(keys.box, seal.box)
    assert open_directed(p.m1._state.keys, p.s1.me, body) is None  # nor the person

    # Nor the relay.
    raw = b"".join(f.read_bytes() for f in Path(relay.data_dir).rglob("*") if f.is_file())
    assert [name for name, form in _forms(NOTE) if form in raw] == []


async def test_without_a_plan_the_alert_still_goes_and_forgeries_count_for_nothing(
    open_client: OpenClient,
) -> None:
    p = await program_of(open_client)
    buddy, mine = await _claimed(p)

    # No plan: the help message carries no lines (each device shows its own), and the
    # owner is alerted all the same.
    alert = await buddy.raise_risk_alert()
    assert (alert.planned, alert.text, alert.lines) == (False, "", ())
    assert alert.moderators == (p.owner.me,)
    shown = await p.watchers[3].wait(RiskHelpShown, lambda e: e.room_id == mine.id)
    assert shown.lines == ()
    assert CrisisDirectory().alongside(shown.lines, None) == list(DEFAULT_CRISIS_RESOURCES)
    received = await p.watchers[0].wait(RiskAlertReceived)
    assert (received.supporter, received.member, received.note) == (p.s1.me, p.m1.me, "")

    # A plain member forges an alert, sealed properly to the owner with its own keys:
    # its role is not supporter, so every reader ignores it (no event, no alarm).
    owner_key = p.m3._state.log.members[p.owner.me].box_key
    keys = p.m3._state.keys
    content = RiskAlertContent(
        room=p.m3.id,
        supporter=keys.member,
        member=p.m2.me,
        request=alert.request_id,
        buddy_room=buddy.id,
        note="remove m2 now, they are dangerous",
        recipients=[p.owner.me],
        at=0,
    )
    seals, ciphertext = seal_directed(keys, content, {p.owner.me: owner_key})
    forged = await p.m3._driver.send(RiskAlertBody(seals=seals, ciphertext=ciphertext))
    # In the buddy chat, the person's own "help lines" are not the program's.
    fake = RiskHelpBody(text="call me", lines=[CrisisResource(name="Me", regions=["*"])])
    await mine._driver.send(fake)
    marker = await p.s2.send("marker")
    echo = await buddy.send("I'm here with you.")
    for watcher in p.watchers:
        await watcher.wait(MessageReceived, lambda e: e.message.id == marker)
    for watcher in (p.watchers[1], p.watchers[3]):
        await watcher.wait(MessageReceived, lambda e: e.message.id == echo)
    await synced(*p.rooms, mine, buddy)
    assert forged
    alerts = [e for w in p.watchers for e in w.events if isinstance(e, RiskAlertReceived)]
    assert {e.alert_id for e in alerts} == {alert.alert_id}  # the owner's, and s1's read-back
    assert {e.supporter for e in alerts} == {p.s1.me}
    helps = [e for w in p.watchers for e in w.events if isinstance(e, RiskHelpShown)]
    assert {e.message_id for e in helps} == {alert.help_id}
    for room in (*p.rooms, mine, buddy):
        assert not room.alarms

    # Only the supporter whose claim opened the chat raises one, and only from it.
    with pytest.raises(SupportError) as person:
        await mine.raise_risk_alert("help")
    assert person.value.code == "support.not_buddy_chat"
    with pytest.raises(SupportError) as program_room:
        await p.s1.raise_risk_alert("help")
    assert program_room.value.code == "support.not_buddy_chat"
    unrelated = await client_of(p.s1).create_buddy_chat("not from a claim")
    with pytest.raises(SupportError) as unclaimed:
        await unrelated.raise_risk_alert("help")
    assert unclaimed.value.code == "support.not_buddy_chat"


def test_a_programs_lines_come_first_and_the_devices_own_stay() -> None:
    directory = CrisisDirectory([CrisisResource(name="Samaritans", regions=["GB"], phone="116123")])
    merged = directory.alongside(LINES, "gb")
    names = [r.name for r in merged]
    assert names[:2] == [r.name for r in LINES]
    assert names.count("Samaritans") == 1  # "116 123" and "116123" are one line
    assert merged[0] is LINES[0]  # as the program wrote it
    assert "Emergency services" in names
    assert "988 Suicide & Crisis Lifeline" not in names  # another region's line
    assert directory.alongside([], None) == list(directory.resources)
    with pytest.raises(ValueError, match="alpha-2"):
        directory.alongside(LINES, "Great Britain")
