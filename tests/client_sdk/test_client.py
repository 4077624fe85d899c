"""The SDK against a real relay process with real SQLite: no mocks of our own relay.

Each test starts ``hearth serve`` on a free port (see conftest.py), opens real
clients with their own local stores, and checks what people would see.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest

import client_sdk._syncpass as syncpass_module
from client_sdk import (
    Event,
    HearthClient,
    Identity,
    InviteError,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    ProfileChanged,
    Room,
    RoomBlocked,
    RoomInactive,
    SecurityAlarm,
    StoreError,
)
from client_sdk._store import Store
from tests.client_sdk.conftest import RelayProcess

E = TypeVar("E")
OpenClient = Callable[..., Awaitable[HearthClient]]


class Watcher:
    """Collects one client's events in the background."""

    def __init__(self, client: HearthClient) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(client))

    async def _run(self, client: HearthClient) -> None:
        async for event in client.events():
            self.events.append(event)
            self._changed.set()

    async def wait(
        self, kind: type[E], pred: Callable[[E], bool] = lambda _: True, timeout: float = 15
    ) -> E:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if isinstance(event, kind) and pred(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def texts(self, room: Room | None = None) -> list[str]:
        return [
            e.message.text
            for e in self.events
            if isinstance(e, MessageReceived) and (room is None or e.room_id == room.id)
        ]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def texts(room: Room) -> list[str]:
    return [m.text for m in await room.messages(limit=1000)]


@pytest.fixture
async def open_client(relay: RelayProcess, tmp_path: Path) -> AsyncIterator[OpenClient]:
    async with AsyncExitStack() as stack:

        async def open_(identity: Identity, name: str, **options: Any) -> HearthClient:
            client = HearthClient(
                relay.url,
                identity,
                store_path=tmp_path / f"{name}.db",
                reconnect_delay=(0.05, 0.5),
                **options,
            )
            await stack.enter_async_context(client)
            return client

        yield open_


async def group_of_three(
    open_client: OpenClient, **options: Any
) -> tuple[list[HearthClient], list[Room], list[Watcher]]:
    ids = [Identity.generate() for _ in range(3)]
    clients = [await open_client(i, n, **options) for i, n in zip(ids, "abc", strict=True)]
    watchers = [Watcher(c) for c in clients]
    room = await clients[0].create_group("Anxiety circle", topic="evenings", rules="Be kind.")
    link = await room.create_invite(max_uses=5, expires_in=3600)
    rooms = [room, await clients[1].join(link), await clients[2].join(link)]
    await until(lambda: _all_members(rooms, 3))
    # The inviter re-sends profile and rules to each newcomer; let that settle.
    await until(lambda: _async(all(r.rules == "Be kind." for r in rooms)))
    for joined in rooms[1:]:
        await joined.accept_rules()  # posting waits for the ground rules
    await until(lambda: _pending_is(room, 0))
    return clients, rooms, watchers


async def _all_members(rooms: list[Room], n: int) -> bool:
    return all(len(r.members) == n for r in rooms)


# -- the scenarios of issue 4 -----------------------------------------------------------


async def test_three_clients_create_invite_join_and_chat(open_client: OpenClient) -> None:
    (a, b, c), (ra, rb, rc), (wa, wb, wc) = await group_of_three(open_client)
    assert "#" in (await ra.create_invite()).split("/join/")[1]
    assert dict(ra.members) == dict(rb.members) == dict(rc.members)
    assert ra.members[ra.me] == "owner"
    assert rb.members[rb.me] == rc.members[rc.me] == "member"
    assert ra.epoch == rb.epoch == rc.epoch == 3

    first = await ra.send("hello, welcome both of you")
    await wb.wait(MessageReceived, lambda e: e.message.id == first)
    await rb.send("thanks, glad to be here", reply_to=first)
    await wc.wait(MessageReceived, lambda e: e.message.sender == rb.me)
    await rc.send("rough week", content_warning="panic attack")

    expected = ["hello, welcome both of you", "thanks, glad to be here", "rough week"]
    # The warned message reaches the others collapsed: no text until they open it.
    collapsed = [*expected[:2], ""]
    await until(lambda: _texts_are(rc, expected))
    for room in (ra, rb):
        await until(lambda room=room: _texts_are(room, collapsed))  # type: ignore[misc]
        warned = (await room.messages())[2]
        assert warned.collapsed
        assert warned.content_warning == "panic attack"
        assert (await room.reveal(warned.id)).text == "rough week"
        assert await _texts_are(room, expected)
    messages = await rc.messages()
    assert [m.sender for m in messages] == [ra.me, rb.me, rc.me]
    assert messages[1].reply_to == first
    assert messages[2].content_warning == "panic attack"
    assert messages[2].mine
    assert not messages[0].mine
    # Each client announced each message exactly once.
    for watcher, seen in ((wa, collapsed), (wb, collapsed), (wc, expected)):
        await until(lambda w=watcher: _async(len(w.texts()) == 3))  # type: ignore[misc]
        assert sorted(watcher.texts()) == sorted(seen)

    # The newcomers learn the room's name and rules: the inviter re-sends them.
    await wb.wait(ProfileChanged)
    assert (rb.name, rb.topic, rb.rules) == ("Anxiety circle", "evenings", "Be kind.")
    await until(lambda: _async(rc.rules == "Be kind."))
    joined = [e.member for e in wa.events if isinstance(e, MemberJoined)]
    assert joined == [rb.me, rc.me]
    # Safety numbers: both sides compute the same digits from the verified log.
    assert ra.safety_number(rb.me) == rb.safety_number(ra.me)
    assert ra.safety_number(rb.me) != ra.safety_number(rc.me)
    assert not (ra.alarms)
    assert not (rb.alarms)
    assert not (rc.alarms)
    assert {r.id for r in a.rooms} == {r.id for r in b.rooms} == {r.id for r in c.rooms}


async def test_catch_up_across_many_pages_and_an_epoch_change(
    open_client: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of three: the sync asks for each page while storing the one before, and
    # opens its messages in a worker thread, many times over.
    monkeypatch.setattr(syncpass_module, "_SYNC_PAGE", 3)
    monkeypatch.setattr(syncpass_module, "_OPEN_AHEAD_MIN", 1)
    (_a, _b, c), (ra, rb, rc), _ = await group_of_three(open_client)
    identity_c = c.identity
    await c.close()
    sent = [await ra.send(f"before the rotation {i}") for i in range(5)]
    # A new epoch mid-way: the page asked ahead of it cannot open what follows.
    await rb.rotate()
    sent += [await rb.send(f"after the rotation {i}") for i in range(5)]
    await ra.edit(sent[1], "before the rotation 1, edited")
    await rb.delete(sent[6])
    del sent[6]
    c2 = await open_client(identity_c, "c", live=False)
    watcher = Watcher(c2)
    room = c2.room(rc.id)
    await c2.sync()
    got = await room.messages()
    assert [m.id for m in got] == sent
    assert got[1].text == "before the rotation 1, edited"
    assert room.epoch == ra.epoch == 4
    assert not room.alarms
    await watcher.wait(MessageReceived, lambda e: e.message.id == sent[-1])
    announced = [e.message.id for e in watcher.events if isinstance(e, MessageReceived)]
    assert len(announced) == len(set(announced))  # each at most once
    assert set(sent) <= set(announced)


async def _texts_are(room: Room, expected: list[str]) -> bool:
    return await texts(room) == expected


async def _async(value: bool) -> bool:
    return value


async def test_offline_member_catches_up(open_client: OpenClient) -> None:
    (_a, _b, c), (ra, rb, rc), _ = await group_of_three(open_client)
    identity_c = c.identity
    await c.close()
    sent = []
    for i in range(6):
        sent.append(await (ra if i % 2 else rb).send(f"while carol is away {i}"))
    # Carol comes back without the live stream, as a background fetch would.
    c2 = await open_client(identity_c, "c", live=False)
    watcher = Watcher(c2)
    room = c2.room(rc.id)
    await c2.sync()
    got = await room.messages()
    assert [m.id for m in got] == sent
    await until(lambda: _async(len(watcher.texts()) == 6))
    assert watcher.texts() == [f"while carol is away {i}" for i in range(6)]
    await c2.sync()  # a second pass finds nothing new and announces nothing twice
    await asyncio.sleep(0.2)
    assert len(watcher.texts()) == 6
    assert not room.alarms


async def test_relay_restart_mid_conversation_loses_and_duplicates_nothing(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    a_id, b_id = Identity.generate(), Identity.generate()
    a, b = await open_client(a_id, "a"), await open_client(b_id, "b")
    wa, wb = Watcher(a), Watcher(b)
    ra = await a.create_group("Night owls")
    rb = await b.join(await ra.create_invite())
    await until(lambda: _async(a.online and b.online))
    for i in range(3):
        await ra.send(f"before {i}")
    await until(lambda: _async(len(wb.texts()) == 3))

    relay.stop()
    await until(lambda: _async(not a.online and not b.online))
    for i in range(2):
        await ra.send(f"during {i}")  # queued: the relay is down
    await rb.send("bob, during")
    assert await ra.pending() == 2
    relay.start()

    expected_b = ["before 0", "before 1", "before 2", "during 0", "during 1", "bob, during"]
    await until(lambda: _async(sorted(wb.texts()) == sorted(expected_b)), timeout=30)
    await until(lambda: _async(sorted(wa.texts()) == sorted(expected_b)), timeout=30)
    for room in (ra, rb):
        got = await room.messages()
        assert len({m.id for m in got}) == len(got) == 6
        assert sorted(m.text for m in got) == sorted(expected_b)
    assert await ra.pending() == await rb.pending() == 0
    assert not (ra.alarms)
    assert not (rb.alarms)


async def test_removed_member_cannot_read_what_follows(open_client: OpenClient) -> None:
    (_a, _b, c), (ra, _rb, rc), (_wa, wb, wc) = await group_of_three(open_client)
    before = ra.epoch
    await ra.remove(rc.me)
    assert ra.epoch == before + 1
    assert rc.me not in ra.members
    await ra.send("said after carol was removed")
    await wb.wait(MessageReceived, lambda e: e.message.text.startswith("said after"))
    assert isinstance(await wb.wait(MemberRemoved), MemberRemoved)

    await c.sync()  # the relay no longer serves carol the room
    assert rc.status in ("removed", "unreachable")
    assert "said after carol was removed" not in await texts(rc)
    assert "said after carol was removed" not in wc.texts()
    with pytest.raises(RoomInactive):
        await rc.send("let me back in")
    # Cryptographically: carol holds no secret of the epoch the message used.
    state = c._driver(rc.id).state
    assert ra.epoch not in state.secrets
    assert rc not in c.rooms


async def test_outbox_survives_a_client_restart(
    open_client: OpenClient, relay: RelayProcess, tmp_path: Path
) -> None:
    a_id, b_id = Identity.generate(), Identity.generate()
    a, b = await open_client(a_id, "a"), await open_client(b_id, "b")
    wb = Watcher(b)
    ra = await a.create_group("Outbox")
    rb = await b.join(await ra.create_invite())
    await ra.send("online")
    await wb.wait(MessageReceived, lambda e: e.message.text == "online")
    await wb.wait(ProfileChanged)  # alice re-sent the profile for bob: her outbox is empty

    relay.stop()
    await until(lambda: _async(not a.online))
    ids = [await ra.send(f"offline {i}") for i in range(3)]
    assert await ra.pending() == 3
    await a.close()  # closed with three unsent messages

    relay.start()
    a2 = await open_client(a_id, "a")
    assert await a2.room(ra.id).pending() in (0, 3)
    await until(lambda: _pending_is(a2.room(ra.id), 0), timeout=30)
    await until(lambda: _async(len(wb.texts(rb)) == 4), timeout=30)
    assert wb.texts(rb) == ["online", "offline 0", "offline 1", "offline 2"]
    got = await rb.messages()
    assert [m.id for m in got][1:] == ids
    await asyncio.sleep(0.5)
    assert len(wb.texts(rb)) == 4  # exactly once


async def _pending_is(room: Room, n: int) -> bool:
    return await room.pending() == n


async def test_leave_forces_a_rotation_before_the_next_send(open_client: OpenClient) -> None:
    (_a, b, _c), (ra, rb, rc), (wa, _wb, wc) = await group_of_three(open_client)
    epoch = ra.epoch
    await rb.leave()
    assert rb.status == "left"
    assert rb not in b.rooms
    await wa.wait(MemberLeft)
    await ra.send("after bob left")
    assert ra.epoch == epoch + 1  # the send committed the rotation first
    await wc.wait(MessageReceived, lambda e: e.message.text == "after bob left")
    assert rc.epoch == ra.epoch
    assert ra.epoch not in b._driver(rb.id).state.secrets


async def test_concurrent_commits_rebase_and_retry(open_client: OpenClient) -> None:
    (_a, _b, _c), (ra, rb, rc), _ = await group_of_three(open_client)
    epoch = ra.epoch
    await asyncio.gather(ra.rotate(), rb.rotate(), rc.rotate())
    await until(lambda: _async(ra.epoch == rb.epoch == rc.epoch == epoch + 3))
    await rc.send("still talking")
    await until(lambda: _texts_are(ra, ["still talking"]))


async def test_stale_epoch_is_resealed_under_the_same_id(open_client: OpenClient) -> None:
    a_id, b_id = Identity.generate(), Identity.generate()
    a = await open_client(a_id, "a", live=False)
    b = await open_client(b_id, "b")
    wb = Watcher(b)
    ra = await a.create_group("Stale")
    rb = await b.join(await ra.create_invite())
    await rb.rotate()  # alice, offline from the stream, has not seen this rotation
    epoch_seen_by_alice = ra.epoch
    message_id = await ra.send("sealed under an old epoch")
    received = await wb.wait(MessageReceived, lambda e: e.message.id == message_id)
    assert received.message.text == "sealed under an old epoch"
    assert ra.epoch == rb.epoch > epoch_seen_by_alice


async def test_scheduled_rotation_by_message_count(open_client: OpenClient) -> None:
    a = await open_client(Identity.generate(), "a", rotate_every=3)
    room = await a.create_group("Rotating")  # the profile message is the first
    start = room.epoch
    for i in range(5):
        await room.send(f"m{i}")
    await until(lambda: _async(room.epoch >= start + 1))
    await until(lambda: _async(len(a._driver(room.id).state.secrets) == room.epoch))


async def test_edits_and_deletions_reach_others(open_client: OpenClient) -> None:
    a, b = await open_client(Identity.generate(), "a"), await open_client(Identity.generate(), "b")
    wb = Watcher(b)
    ra = await a.create_group("Edits")
    rb = await b.join(await ra.create_invite())
    first = await ra.send("tpyo")
    await ra.edit(first, "typo")
    edited = await wb.wait(MessageEdited)
    assert edited.message.text == "typo"
    assert edited.message.edited
    # Bob cannot edit Alice's message: his edit is ignored by everyone.
    await rb.edit(first, "hijacked")
    second = await rb.send("marker")
    await until(lambda: _texts_are(ra, ["typo", "marker"]))
    await ra.delete(second)  # the owner removes Bob's message
    deleted = await wb.wait(MessageDeleted)
    assert deleted.message_id == second
    assert await texts(rb) == ["typo"]


async def test_history_is_backfilled_lazily_where_the_room_shares_it(
    open_client: OpenClient,
) -> None:
    a, b = await open_client(Identity.generate(), "a"), await open_client(Identity.generate(), "b")
    ra = await a.create_group("Shared past", share_history=True)
    for i in range(3):
        await ra.send(f"old {i}")
    rb = await b.join(await ra.create_invite())
    assert await texts(rb) == []  # the join's own epoch: the past is not readable yet
    await ra.rotate()  # alice's commit passes the earlier epoch secrets on
    await until(lambda: _async(rb.epoch == ra.epoch))
    await until(lambda: _texts_are(rb, ["old 0", "old 1", "old 2"]))
    latest = await rb.messages(limit=2)
    assert [m.text for m in latest] == ["old 1", "old 2"]
    older = await rb.messages(limit=5, before=latest[0].id)
    assert [m.text for m in older] == ["old 0"]


async def test_withheld_message_raises_an_alarm_and_blocks_the_room(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    a, b = await open_client(Identity.generate(), "a"), await open_client(Identity.generate(), "b")
    wb = Watcher(b)
    ra = await a.create_group("Withheld")
    rb = await b.join(await ra.create_invite())
    await ra.send("one")
    await wb.wait(MessageReceived, lambda e: e.message.text == "one")
    relay.stop()
    await until(lambda: _async(not b.online))
    identity_b = b.identity
    await b.close()  # bob is away while the next messages go out
    relay.start()
    await until(lambda: _async(a.online))
    hidden = await ra.send("two")
    await ra.send("three")
    relay.stop()
    # A relay that withholds "two" from bob: it drops the event from its database.
    with sqlite3.connect(relay.data_dir / "hearth.db") as db:
        db.execute("DELETE FROM events WHERE msg_id = ?", (hidden,))
    relay.start()

    b2 = await open_client(identity_b, "b", live=False)
    watcher = Watcher(b2)
    await b2.sync()
    alarm = await watcher.wait(SecurityAlarm)
    assert alarm.kind == "withheld"
    room = b2.room(rb.id)
    assert await texts(room) == ["one", "three"]
    assert room.blocked
    with pytest.raises(RoomBlocked) as info:
        await room.send("can I still talk?")
    assert info.value.code == "room.blocked"
    assert await room.acknowledge_alarms() == [alarm.alarm_id]
    await room.send("acknowledged")
    # The alarm persists across a restart until acknowledged, and not after.
    assert not b2.room(rb.id).alarms


async def test_join_errors_and_store_identity(open_client: OpenClient, tmp_path: Path) -> None:
    a = await open_client(Identity.generate(), "a")
    b = await open_client(Identity.generate(), "b")
    room = await a.create_group("Invite only")
    link = await room.create_invite(max_uses=1)
    with pytest.raises(InviteError) as info:
        await b.join("https://example.org/not-an-invite")
    assert info.value.code == "invite.malformed"
    await b.join(link)
    c = await open_client(Identity.generate(), "c")
    with pytest.raises(InviteError) as info:
        await c.join(link)  # used up
    assert info.value.code == "invite.unknown"
    with pytest.raises(StoreError) as error:
        await Store.open(tmp_path / "a.db", Identity.generate().store_key())
    assert error.value.code == "store.wrong_identity"


async def test_local_store_holds_no_plaintext(open_client: OpenClient, tmp_path: Path) -> None:
    a = await open_client(Identity.generate(), "a")
    room = await a.create_group("Very private name", rules="Private rules text")
    await room.send("a very private sentence")
    await a.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    for secret in (b"Very private name", b"Private rules text", b"a very private sentence"):
        assert secret not in raw


async def test_offline_send_after_a_leave_waits_unsealed_for_the_rotation(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    (_a, _b, c), (ra, rb, rc), (wa, _wb, wc) = await group_of_three(open_client)
    epoch = ra.epoch
    await rb.leave()
    await wa.wait(MemberLeft)
    relay.stop()
    await until(lambda: _async(not c.online))
    # The log requires a rotation before anyone sends, and the relay is down:
    # the message is queued unsealed rather than sealed under bob's epoch.
    await ra.send("bob must not read this")
    assert await ra.pending() == 1
    assert ra.epoch == epoch
    relay.start()
    await wc.wait(MessageReceived, lambda e: e.message.text == "bob must not read this", timeout=30)
    assert ra.epoch == rc.epoch == epoch + 1
    assert not (ra.alarms)
    assert not (rc.alarms)


async def test_a_lost_store_rejoins_from_the_recovery_phrase_and_the_link(
    open_client: OpenClient,
) -> None:
    a = await open_client(Identity.generate(), "a")
    bob = Identity.generate()
    b = await open_client(bob, "b")
    ra = await a.create_group("Recovery")
    link = await ra.create_invite(max_uses=1)
    rb = await b.join(link)
    await ra.send("sent while bob was in")
    await until(lambda: _texts_are(rb, ["sent while bob was in"]))
    bob_in_room = rb.me
    await b.close()
    # Bob's phone is lost: the phrase restores his keys, the used-up link names the room.
    restored = Identity.from_recovery_phrase(bob.recovery_phrase)
    b2 = await open_client(restored, "b-new-phone", live=False)
    room = await b2.join(link)
    assert room.me == bob_in_room
    await b2.sync()
    assert await texts(room) == ["sent while bob was in"]
    await room.send("back again")
    await until(lambda: _texts_are(ra, ["sent while bob was in", "back again"]))
    assert not room.alarms
