"""Community programs: 1:1 support from a program's supporters, against a real relay.

Issue 7, item 3. A member's request is sealed to the supporters alone; every
member computes the same queue from room order; a supporter's claim (the first
in room order wins) opens a buddy chat with the requester; supporters say
whether they are available and cap their open chats.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import (
    HearthClient,
    Identity,
    MessageReceived,
    Room,
    SupportClaimed,
    SupportError,
    SupporterStatusChanged,
    SupportRequested,
)
from client_sdk._core.followups import FollowUp, JoinBuddy
from client_sdk._slot import Slot
from client_sdk._support import open_request
from client_sdk.client import _Host
from protocol import crypto
from protocol.api import MessageEvent
from protocol.encoding import canonical
from protocol.envelope import open_message
from protocol.errors import CryptoError
from protocol.ids import MessageId
from protocol.messages import Envelope, SupportClaimBody, SupportRequestBody
from tests.client_sdk.conftest import RelayProcess, client_of
from tests.client_sdk.test_client import OpenClient, Watcher, open_client, until
from tests.security.test_privacy_audit import _forms

__all__ = ["open_client"]

ASK_1 = "my sister died last month and I cannot stop replaying the hospital call"
ASK_2 = "thinking about drinking again after 200 days sober"
ASK_3 = "panic attacks before every shift at the warehouse"


class Program:
    """An owner, two supporters and three members of one program, each with a watcher."""

    def __init__(
        self, clients: list[HearthClient], rooms: list[Room], watchers: list[Watcher]
    ) -> None:
        self.clients = clients
        self.rooms = rooms
        self.watchers = watchers
        self.owner = rooms[0]
        self.s1, self.s2 = rooms[1], rooms[2]
        self.m1, self.m2, self.m3 = rooms[3], rooms[4], rooms[5]


async def program_of(open_client: OpenClient, *, offline: frozenset[str] = frozenset()) -> Program:
    names = ["owner", "s1", "s2", "m1", "m2", "m3"]
    clients = [
        await open_client(Identity.generate(), n, **({"live": False} if n in offline else {}))
        for n in names
    ]
    watchers = [Watcher(c) for c in clients]
    owner = await clients[0].create_program("Grief and recovery", topic="peer support")
    supporter_link = await owner.create_invite(max_uses=2, role="supporter")
    member_link = await owner.create_invite(max_uses=3)
    rooms = [owner]
    for client, name in zip(clients[1:], names[1:], strict=True):
        rooms.append(await client.join(supporter_link if name.startswith("s") else member_link))
    for client in clients:
        if not client.online:
            await client.sync()
    await until(lambda: _is(all(len(r.members) == 6 for r in rooms)))
    return Program(clients, rooms, watchers)


async def _is(value: bool) -> bool:
    return value


async def synced(*rooms: Room) -> None:
    """Every room has read everything the relay holds (live clients sync too)."""
    for room in rooms:
        await client_of(room).sync()


async def raw_envelope(room: Room, message_id: MessageId) -> Envelope:
    """The envelope exactly as the relay stores it, fetched with ``room``'s own key."""
    client = client_of(room)
    driver = client._driver(room.id)
    slot = driver.slot
    page = await driver.fetch_history(slot.state.position + 1)
    for event in page.events:
        if isinstance(event, MessageEvent) and event.envelope.header.id == message_id:
            return event.envelope
    raise AssertionError(f"relay does not hold {message_id}")


async def test_a_request_reaches_the_supporters_alone_and_a_claim_opens_a_buddy_chat(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    p = await program_of(open_client)
    assert [r.role for r in p.rooms] == ["owner", "supporter", "supporter", *["member"] * 3]
    assert all(not s.available for s in p.m1.supporters)  # nobody said: away

    await p.s1.set_availability(True, max_open=1)
    await p.s2.set_availability(True)
    for watcher in p.watchers[3:]:
        await watcher.wait(SupporterStatusChanged, lambda e: e.member == p.s2.me)
    assert {(s.member, s.available, s.max_open) for s in p.m3.supporters} == {
        (p.s1.me, True, 1),
        (p.s2.me, True, None),
    }

    r1 = await p.m1.request_support(ASK_1)
    assert (r1.status, r1.position, r1.text, r1.mine) == ("waiting", 1, ASK_1, True)
    r2 = await p.m2.request_support(ASK_2)
    assert (r2.status, r2.position) == ("waiting", 2)
    await synced(*p.rooms)

    # Every member computes the same queue; only supporters (and the asker) read it.
    for room in p.rooms:
        assert [r.id for r in room.support_queue] == [r1.id, r2.id]
        assert [room.queue_position(r) for r in (r1.id, r2.id)] == [1, 2]
    assert [r.text for r in p.s1.support_queue] == [ASK_1, ASK_2]
    assert [r.text for r in p.s2.support_queue] == [ASK_1, ASK_2]
    assert [r.text for r in p.m3.support_queue] == [None, None]
    assert [r.text for r in p.owner.support_queue] == [None, None]
    assert [r.text for r in p.m2.support_queue] == [None, ASK_2]
    seen = await p.watchers[5].wait(SupportRequested, lambda e: e.request.id == r2.id)
    assert (seen.request.requester, seen.request.text, seen.request.position) == (
        p.m2.me,
        None,
        2,
    )

    # m3 holds the room's epoch secret: decrypted, the stored envelope is only sealed bytes.
    for reader, can_read in ((p.m3, False), (p.s1, True)):
        envelope = await raw_envelope(reader, r1.id)
        state = reader._state
        body = open_message(envelope, epoch_secret=state.secrets[envelope.header.epoch]).body
        assert isinstance(body, SupportRequestBody)
        assert (reader.me in {s.member for s in body.seals}) is can_read
        assert (ASK_1.encode() in canonical(body)) is False
        text = open_request(state.keys, p.m1.me, body)
        assert text == (ASK_1 if can_read else None)
    for seal in body.seals:
        with pytest.raises(CryptoError):
            crypto.unseal(p.m3._state.keys.box, seal.box)
    assert {s.member for s in body.seals} == {p.s1.me, p.s2.me, p.m1.me}

    # Nor can the relay: no form of either request anywhere in its data directory.
    raw = b"".join(f.read_bytes() for f in Path(relay.data_dir).rglob("*") if f.is_file())
    assert len(raw) > 10_000
    for secret in (ASK_1, ASK_2):
        hits = [name for name, form in _forms(secret) if form in raw]
        assert hits == [], (secret, hits)

    # s1 claims r1: a buddy chat opens, m1's SDK joins it by itself, everyone sees it taken.
    buddy = await p.s1.claim(r1.id)
    assert buddy.kind == "buddy"
    assert p.s1.support_request(r1.id).buddy_room_id == buddy.id
    claimed = await p.watchers[3].wait(SupportClaimed, lambda e: e.request_id == r1.id)
    assert (claimed.supporter, claimed.requester, claimed.buddy_room_id) == (
        p.s1.me,
        p.m1.me,
        buddy.id,
    )
    for watcher in (p.watchers[2], p.watchers[4], p.watchers[5]):
        other = await watcher.wait(SupportClaimed, lambda e: e.request_id == r1.id)
        assert (other.supporter, other.buddy_room_id) == (p.s1.me, None)
    mine = await p.m1.buddy_chat(r1.id)
    assert mine.id == buddy.id
    await until(lambda: _is(len(buddy.members) == 2 and len(mine.members) == 2))
    assert set(buddy.members) == {buddy.me, mine.me}

    hello = await buddy.send("I'm here. Take your time.")
    thanks = await mine.send("thank you, I needed this")
    await p.watchers[3].wait(MessageReceived, lambda e: e.message.id == hello)
    await p.watchers[1].wait(MessageReceived, lambda e: e.message.id == thanks)
    assert [m.text for m in await mine.messages()] == [m.text for m in await buddy.messages()]

    # The others see it taken; m2 moves up; a second claim is refused.
    await synced(*p.rooms)
    for room in p.rooms:
        view = room.support_request(r1.id)
        assert (view.status, view.supporter, view.position) == ("claimed", p.s1.me, None)
        assert room.queue_position(r2.id) == 1
    with pytest.raises(SupportError) as taken:
        await p.s2.claim(r1.id)
    assert taken.value.code == "support.taken"

    # s1 is at its cap of one; s2 goes away; members cannot claim at all.
    assert p.s1.open_support_chats == 1
    with pytest.raises(SupportError) as full:
        await p.s1.claim(r2.id)
    assert full.value.code == "support.at_capacity"
    await p.s2.set_availability(False)
    with pytest.raises(SupportError) as away:
        await p.s2.claim(r2.id)
    assert away.value.code == "support.away"
    await p.watchers[4].wait(SupporterStatusChanged, lambda e: not e.available)
    assert {s.member: s.available for s in p.m2.supporters} == {p.s1.me: True, p.s2.me: False}
    for room in (p.m3, p.owner):
        with pytest.raises(SupportError) as not_supporter:
            await room.claim(r2.id)
        assert not_supporter.value.code == "support.not_supporter"
    with pytest.raises(SupportError) as own:
        await p.m2.withdraw_request(r1.id)
    assert own.value.code == "support.not_requester"
    assert p.m2.queue_position(r2.id) == 1

    # m1 leaves the buddy chat: it closes, and s1 may take the next request.
    await mine.leave()
    await until(lambda: _is(len(buddy.members) == 1))
    assert p.s1.open_support_chats == 0
    second = await p.s1.claim(r2.id)
    assert second.id != buddy.id
    assert p.s1.open_support_chats == 1
    assert p.s1.support_queue == []
    for room in p.rooms:
        assert not room.alarms


async def test_two_claims_race_and_the_first_in_room_order_wins(
    open_client: OpenClient,
) -> None:
    # s2 follows no live stream: it claims on a view that has not seen s1's claim.
    p = await program_of(open_client, offline=frozenset({"s2"}))
    await p.s1.set_availability(True)
    await p.s2.set_availability(True)
    request = await p.m1.request_support(ASK_3)
    await synced(p.s1, p.s2)
    assert p.s2.queue_position(request.id) == 1

    won = await p.s1.claim(request.id)
    assert p.s2.support_request(request.id).status == "waiting"  # s2 has not read it yet
    with pytest.raises(SupportError) as lost:
        await p.s2.claim(request.id)
    assert lost.value.code == "support.taken"

    # Both claims are in the room; every client folds them alike: s1's came first.
    await synced(*p.rooms)
    for room in p.rooms:
        view = room.support_request(request.id)
        assert (view.status, view.supporter) == ("claimed", p.s1.me)
    assert p.m1.support_request(request.id).buddy_room_id == won.id
    buddy = await p.m1.buddy_chat(request.id)
    assert buddy.id == won.id
    # The loser left the chat it opened and carries nothing open.
    assert p.s2.open_support_chats == 0
    lost_rooms = [r for r in p.clients[2].rooms if r.kind == "buddy"]
    assert lost_rooms == []
    assert [e for e in p.watchers[3].events if isinstance(e, SupportClaimed)] == [
        SupportClaimed(
            room_id=p.m1.id,
            request_id=request.id,
            requester=p.m1.me,
            supporter=p.s1.me,
            buddy_room_id=won.id,
        )
    ]


async def test_a_forged_claim_is_ignored_and_a_request_can_be_withdrawn(
    open_client: OpenClient,
) -> None:
    p = await program_of(open_client)
    await p.s1.set_availability(True, max_open=2)
    first = await p.m1.request_support(ASK_1)
    second = await p.m2.request_support(ASK_2)

    # m3 (a member) sends a claim its own SDK would refuse: everyone ignores it.
    forged = await p.m3._driver.send(SupportClaimBody(request=first.id, invite=b"\x00" * 80))
    # The owner's claim counts no more: only supporters take requests.
    await p.owner._driver.send(SupportClaimBody(request=first.id, invite=b"\x00" * 80))
    marker = await p.s2.send("marker")
    for watcher in p.watchers:
        await watcher.wait(MessageReceived, lambda e: e.message.id == marker)
    assert forged
    for room in p.rooms:
        assert room.support_request(first.id).status == "waiting"
        assert room.queue_position(first.id) == 1
        assert not room.alarms
    assert not [e for w in p.watchers for e in w.events if isinstance(e, SupportClaimed)]
    assert [r.kind for r in p.clients[3].rooms] == ["program"]

    # m1 withdraws: m2 moves up; nobody can claim a withdrawn request.
    await p.m1.withdraw_request(first.id)
    await synced(*p.rooms)
    for room in p.rooms:
        assert room.support_request(first.id).status == "withdrawn"
        assert room.queue_position(first.id) is None
        assert room.queue_position(second.id) == 1
    with pytest.raises(SupportError) as withdrawn:
        await p.s1.claim(first.id)
    assert withdrawn.value.code == "support.withdrawn"
    with pytest.raises(SupportError) as twice:
        await p.m1.withdraw_request(first.id)
    assert twice.value.code == "support.withdrawn"

    # A newcomer cannot read earlier messages: supporters send their status again,
    # with the queue as they see it, so the newcomer's place is right.
    late = await open_client(Identity.generate(), "late")
    late_room = await late.join(await p.owner.create_invite())
    await until(lambda: _is(any(s.available for s in late_room.supporters)))
    assert {s.member: s.available for s in late_room.supporters} == {
        p.s1.me: True,
        p.s2.me: False,
    }
    await until(lambda: _is([r.id for r in late_room.support_queue] == [second.id]))
    earlier = late_room.support_request(second.id)
    assert (earlier.requester, earlier.text, earlier.sent_at) == (p.m2.me, None, None)
    own = await late_room.request_support(ASK_3)
    assert own.position == 2
    await synced(*p.rooms)
    assert [p.s1.queue_position(r) for r in (second.id, own.id)] == [1, 2]
    assert p.s1.support_request(own.id).text == ASK_3
    await p.s1.claim(second.id)
    await synced(late_room)
    assert late_room.queue_position(own.id) == 1

    # Outside programs, and with nobody to ask, requests are refused with stable codes.
    group = await p.clients[3].create_group("not a program")
    with pytest.raises(SupportError) as not_program:
        await group.request_support("hello")
    assert not_program.value.code == "support.not_program"
    lonely = await p.clients[3].create_program("no supporters yet")
    with pytest.raises(SupportError) as nobody:
        await lonely.request_support("hello")
    assert nobody.value.code == "support.no_supporters"
    with pytest.raises(SupportError) as cap:
        await p.s1.set_availability(True, max_open=0)
    assert cap.value.code == "support.bad_cap"
    with pytest.raises(SupportError) as unknown:
        await p.s1.claim(MessageId("A" * 22))
    assert unknown.value.code == "support.unknown_request"


async def test_the_queue_and_availability_survive_a_restart(open_client: OpenClient) -> None:
    p = await program_of(open_client)
    await p.s1.set_availability(True, max_open=4)
    request = await p.m1.request_support(ASK_2)
    await synced(p.s1)
    s1 = p.s1.me
    for client, name, room in ((p.clients[3], "m1", p.m1), (p.clients[1], "s1", p.s1)):
        await client.close()
        again = await open_client(client.identity, name)
        reopened = again.room(room.id)
        assert reopened.queue_position(request.id) == 1
        assert reopened.support_request(request.id).text == ASK_2
        assert {s.member: (s.available, s.max_open) for s in reopened.supporters}[s1] == (
            True,
            4,
        )
        if name == "s1":
            buddy = await reopened.claim(request.id)
            assert buddy.kind == "buddy"
            assert reopened.open_support_chats == 1

    # A requester who leaves the program no longer waits.
    gone = await p.m2.request_support(ASK_3)
    await synced(p.m3)
    assert p.m3.queue_position(gone.id) == 1
    await p.m2.leave()
    await synced(p.m3, p.owner)
    for room in (p.m3, p.owner):
        assert room.support_request(gone.id).status == "withdrawn"
        assert room.support_queue == []


async def test_supporters_who_arrive_later_can_read_the_waiting_requests(
    open_client: OpenClient,
) -> None:
    p = await program_of(open_client)
    await p.s1.set_availability(True)
    request = await p.m1.request_support(ASK_1)
    claimed = await p.m2.request_support(ASK_2)
    await synced(p.s1)
    await p.s1.claim(claimed.id)

    # A new supporter joins: the queue snapshot places the request, m1 seals it again.
    s3 = await open_client(Identity.generate(), "s3")
    s3_room = await s3.join(await p.owner.create_invite(role="supporter"))
    await until(lambda: _is(_text(s3_room, request.id) == ASK_1))
    assert [r.id for r in s3_room.support_queue] == [request.id]
    # A member made a supporter can read it too; m2's claimed request is not resealed.
    await p.owner.set_role(p.m3.me, "supporter")
    await until(lambda: _is(_text(p.m3, request.id) == ASK_1))
    assert p.m3.support_request(claimed.id).text is None
    # Everyone else still cannot; the queue did not change.
    await synced(*p.rooms)
    assert p.m2.support_request(request.id).text is None
    assert p.owner.support_request(request.id).text is None
    for room in (*p.rooms, s3_room):
        assert room.queue_position(request.id) == 1
        assert not room.alarms
    await s3_room.set_availability(True)
    buddy = await s3_room.claim(request.id)
    assert (await p.m1.buddy_chat(request.id)).id == buddy.id


def _text(room: Room, request: MessageId) -> str | None:
    try:
        return room.support_request(request).text
    except SupportError:
        return None


async def test_a_claim_counts_by_the_role_its_sender_had_in_room_order(
    open_client: OpenClient,
) -> None:
    # The owner follows no stream: it demotes s1 before it has read s1's claim, and
    # its own log runs ahead of what it has read. It must still fold like the others.
    p = await program_of(open_client, offline=frozenset({"owner"}))
    await p.s1.set_availability(True)
    request = await p.m1.request_support(ASK_1)
    await synced(p.s1)
    buddy = await p.s1.claim(request.id)
    await p.owner.set_role(p.s1.me, "member")
    assert p.owner.members[p.s1.me] == "member"
    await synced(*p.rooms)
    for room in p.rooms:
        view = room.support_request(request.id)
        assert (view.status, view.supporter) == ("claimed", p.s1.me), room
    assert (await p.m1.buddy_chat(request.id)).id == buddy.id


async def test_a_buddy_chat_not_joined_before_a_restart_is_joined_on_reopening(
    open_client: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = await program_of(open_client, offline=frozenset({"m1"}))
    await p.s1.set_availability(True)
    await synced(p.m1)
    request = await p.m1.request_support(ASK_2)
    await synced(p.s1)
    buddy = await p.s1.claim(request.id)

    # The app closes right after reading the claim, before the background join ran.
    handle = _Host.follow_up

    def no_join(host: _Host, slot: Slot, item: FollowUp) -> None:
        if not isinstance(item, JoinBuddy):  # every other follow-up still runs
            handle(host, slot, item)

    monkeypatch.setattr(_Host, "follow_up", no_join)
    m1 = p.clients[3]
    await m1.sync()
    assert p.m1.support_request(request.id).buddy_room_id == buddy.id
    assert buddy.id not in [r.id for r in m1.rooms]
    await m1.close()
    monkeypatch.undo()

    again = await open_client(m1.identity, "m1", live=False)
    await until(lambda: _is(buddy.id in [r.id for r in again.rooms]))
    chat = again.room(buddy.id)
    await until(lambda: _is(len(chat.members) == 2))
    assert chat.members[buddy.me] == "owner"
