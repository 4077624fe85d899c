"""A hostile relay excuses what it withholds with statements it made up (issue 17, break 2).

Each scenario runs SDK clients (public API, ``live=False``) through
:class:`tests.security.proxy.HostileProxy` in front of a real ``hearth serve``. The
relay hides some of Alice's messages from Bob and serves an excuse for the gap:

(a) a deletion placeholder (``removed``) that no signed deletion backs, or that
    points at a real deletion of another message;
(b) an ``erased`` statement for a member who erased nothing;
(c) a low-water mark above Bob's position in a room whose policy keeps everything.

Each time Bob's SDK raises the typed ``withheld`` alarm and the room refuses to
send. The genuine cases (a signed deletion, a member's signed account erasure, a
purge the room's retention allows) raise nothing, so the fix is not "always alarm".

Item 9 and spec 8.6: a message the relay refused for good leaves no false alarm
(its sender's next message lists it), backfilled history served out of its place
(moved, or a live message replayed as history) is refused, and a member who joins
late raises no false alarm while a gap after its first message still does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import msgspec
import pytest

from client_sdk import HearthClient, RelayError, RoomBlocked
from protocol import SYSTEM_CLOCK, ManualClock
from protocol.api import (
    ErasedEvent,
    ErrorBody,
    HistoryPage,
    MessageEvent,
    RemovedEvent,
    RoomEvent,
    SyncResponse,
)
from protocol.encoding import from_json, to_json
from protocol.ids import RoomId
from protocol.signing import sign_erase
from server.storage.sqlite import SqliteStorage
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_hostile_relay import _group, _stored_log, proxied, world
from tests.server.helpers import login, post

__all__ = ["proxied", "world"]

World = tuple[RelayProcess, HostileProxy, dict[str, HearthClient]]
Rewrite = Callable[[RoomId, list[RoomEvent]], list[RoomEvent]]
DAY_MS = 24 * 3600 * 1000


def _serve_sync(proxy: HostileProxy, rewrite: Rewrite, *, low_water: int | None = None) -> None:
    """Rewrite every room's events (and, if given, its low-water mark) in sync answers."""

    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "POST" or path != "/v1/sync" or status != 200:
            return body
        answer = from_json(body, SyncResponse)
        rooms = []
        for page in answer.rooms:
            events = rewrite(page.room, list(page.events))
            mark = page.low_water if low_water is None else max(page.low_water, low_water)
            rooms.append(msgspec.structs.replace(page, events=events, low_water=mark))
        return to_json(msgspec.structs.replace(answer, rooms=rooms))

    proxy.on_response = hook


async def _events(relay: RelayProcess, room: RoomId, after: int) -> list[RoomEvent]:
    """What the relay really stored after ``after`` (read from its database)."""
    storage = SqliteStorage(relay.data_dir / "hearth.db")
    await storage.open()
    try:
        return await storage.events_after(room, after, 10_000)
    finally:
        await storage.close()


async def _seqs(client: HearthClient, room: RoomId) -> dict[str, int]:
    return {m.text: m.seq for m in await client.room(room).messages(limit=100)}


def _kinds(client: HearthClient, room: RoomId) -> list[str]:
    return [a.kind for a in client.room(room).alarms]


async def _bob_heard_one(people: dict[str, HearthClient], *more: str) -> RoomId:
    """Alice and Bob in a group; Bob has read "one"; Alice then says ``more``."""
    room = await _group(people, "bob")
    alice = people["alice"].room(room)
    await alice.send("one")
    await people["bob"].sync()
    for text in more:
        await alice.send(text)
    return room


async def _assert_withheld(bob: HearthClient, room: RoomId) -> None:
    assert "withheld" in _kinds(bob, room)
    assert {a.code for a in bob.room(room).alarms if a.kind == "withheld"} == {"msg.withheld"}
    with pytest.raises(RoomBlocked):
        await bob.room(room).send("is anyone there?")


# -- (a) deletion placeholders -----------------------------------------------------------


async def test_a_placeholder_no_signed_deletion_backs_raises_withheld(world: World) -> None:
    _relay, proxy, people = world
    room = await _bob_heard_one(people, "two", "three")
    seqs = await _seqs(people["alice"], room)

    def hide_two(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            e = event
            if isinstance(e, MessageEvent) and e.seq == seqs["two"]:
                h = e.envelope.header
                e = RemovedEvent(seq=e.seq, ts=e.ts, id=h.id, sender=h.sender, by=seqs["three"])
            out.append(e)
        return out

    _serve_sync(proxy, hide_two)
    await people["bob"].sync()
    proxy.reset()
    assert [m.text for m in await people["bob"].room(room).messages()] == ["one", "three"]
    await _assert_withheld(people["bob"], room)


async def test_a_real_deletion_of_another_message_excuses_nothing(world: World) -> None:
    _relay, proxy, people = world
    room = await _bob_heard_one(people, "two", "three")
    seqs = await _seqs(people["alice"], room)
    alice = people["alice"].room(room)
    one = next(m for m in await alice.messages() if m.text == "one")
    await alice.delete(one.id)  # genuine, signed, of a message Bob read already
    tomb = max(seqs.values()) + 1

    def hide_two(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            e = event
            if isinstance(e, MessageEvent) and e.seq == seqs["two"]:
                # The placeholder names the real deletion (of "one") as its cause.
                e = RemovedEvent(seq=e.seq, ts=e.ts, id=one.id, sender=one.sender, by=tomb)
            out.append(e)
        return out

    _serve_sync(proxy, hide_two)
    await people["bob"].sync()
    proxy.reset()
    assert [m.text for m in await people["bob"].room(room).messages()] == ["three"]
    await _assert_withheld(people["bob"], room)


async def test_a_signed_deletion_raises_nothing(world: World) -> None:
    _relay, _proxy, people = world
    room = await _bob_heard_one(people, "two", "three")
    alice = people["alice"].room(room)
    two = next(m for m in await alice.messages() if m.text == "two")
    await alice.delete(two.id)
    await people["bob"].sync()
    bob = people["bob"].room(room)
    assert [m.text for m in await bob.messages()] == ["one", "three"]
    assert bob.alarms == ()
    await bob.send("still here")


# -- (b) erasure statements ----------------------------------------------------------------


async def test_an_erasure_alice_did_not_sign_raises_withheld(world: World) -> None:
    _relay, proxy, people = world
    room = await _bob_heard_one(people, "two", "three", "four")
    seqs = await _seqs(people["alice"], room)
    me = people["alice"].room(room).me

    def erase_alice(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            e = event
            if isinstance(e, MessageEvent) and e.seq == seqs["two"]:
                h = e.envelope.header
                e = RemovedEvent(seq=e.seq, ts=e.ts, id=h.id, sender=me, by=seqs["three"])
            elif isinstance(e, MessageEvent) and e.seq == seqs["three"]:
                e = ErasedEvent(seq=e.seq, ts=e.ts, member=me, through=seqs["two"])
            out.append(e)
        return out

    _serve_sync(proxy, erase_alice)
    await people["bob"].sync()
    proxy.reset()
    assert [m.text for m in await people["bob"].room(room).messages()] == ["one", "four"]
    await _assert_withheld(people["bob"], room)


async def test_a_signed_account_erasure_raises_nothing(world: World) -> None:
    relay, proxy, people = world
    room = await _group(people, "bob", "carol")
    bob = people["bob"].room(room)
    await bob.send("one")
    await people["carol"].sync()
    await bob.send("two")  # Carol never reads these: erased first
    await bob.send("three")
    keys = people["bob"].identity.room_keys(room)
    await bob.leave()
    log, _ = await _stored_log(relay, room)
    erase = sign_erase(keys, index=log.index, at=time.time_ns() // 1_000_000)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=30) as http:
        session = await login(http, keys, create=False)
        r = await post(http, "/v1/account/delete", {"erase": erase}, session.token)
        assert r.status_code == 200, r.text
    stored = await _events(relay, room, 0)
    assert any(isinstance(e, ErasedEvent) and e.request == erase for e in stored)
    await people["carol"].sync()
    carol = people["carol"].room(room)
    assert carol.alarms == ()
    await carol.send("still here")


# -- (c) low-water marks ---------------------------------------------------------------------


def _purge_through(seqs: dict[str, int], *texts: str) -> Rewrite:
    gone = {seqs[t] for t in texts}

    def purge(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        return [e for e in events if e.seq not in gone]

    return purge


async def test_a_low_water_mark_in_a_room_without_retention_raises_withheld(
    world: World,
) -> None:
    _relay, proxy, people = world
    room = await _bob_heard_one(people, "two", "three", "four")
    seqs = await _seqs(people["alice"], room)
    assert people["alice"].room(room).retention_days is None
    _serve_sync(proxy, _purge_through(seqs, "two", "three"), low_water=seqs["three"])
    await people["bob"].sync()
    proxy.reset()
    assert [m.text for m in await people["bob"].room(room).messages()] == ["one", "four"]
    await _assert_withheld(people["bob"], room)


@pytest.mark.parametrize("days_later", [0, 2])
async def test_a_purge_only_the_rooms_retention_allows_raises_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, days_later: int
) -> None:
    _relay, proxy, people = world
    room = await _bob_heard_one(people)
    alice = people["alice"].room(room)
    await alice.set_retention(1)
    await people["bob"].sync()
    for text in ("two", "three", "four"):
        await alice.send(text)
    seqs = await _seqs(people["alice"], room)
    # Bob syncs ``days_later`` days on (the relay's own purge runs on its real clock,
    # so the proxy serves the purge a one-day retention makes by then).
    # Bob's inbox judges the purge by his clock, moved on. Only his inbox's clock: his
    # whole client on it (HearthClient(clock=...)) would sign in days ahead of the relay.
    bob_inbox = people["bob"]._inbox
    monkeypatch.setattr(
        bob_inbox, "_clock", ManualClock(SYSTEM_CLOCK.now_ms() + days_later * DAY_MS)
    )
    _serve_sync(proxy, _purge_through(seqs, "two", "three"), low_water=seqs["three"])
    await people["bob"].sync()
    proxy.reset()
    kinds = set(_kinds(people["bob"], room))
    if days_later:
        assert kinds == set()  # "two" and "three" were a day old: the retention took them
    else:
        assert kinds == {"withheld"}  # said a moment ago: no one-day retention took them


# -- item 9: messages the relay refused for good ------------------------------------------


async def test_a_message_the_relay_refused_for_good_raises_no_false_alarm(world: World) -> None:
    _relay, proxy, people = world
    room = await _bob_heard_one(people)
    alice = people["alice"].room(room)
    refused: list[str] = []

    async def refuse_once(method: str, path: str, body: bytes) -> tuple[int, bytes] | None:
        if method == "POST" and path == f"/v1/rooms/{room}/messages" and not refused:
            refused.append(path)
            return 400, to_json(ErrorBody(code="msg.bad_size", message="not this one"))
        return None

    proxy.on_request = refuse_once
    with pytest.raises(RelayError) as info:
        await alice.send("two")  # counter 2 is used, and never stored
    assert info.value.code == "msg.bad_size"
    proxy.reset()
    await alice.send("three")  # lists counter 2 as refused, inside the signed ciphertext
    await people["bob"].sync()
    bob = people["bob"].room(room)
    assert [m.text for m in await bob.messages()] == ["one", "three"]
    assert bob.alarms == ()
    # The refusal excuses exactly that counter: a message withheld after it still alarms.
    await alice.send("four")
    await alice.send("five")
    seqs = await _seqs(people["alice"], room)
    _serve_sync(proxy, _purge_through(seqs, "four"))
    await people["bob"].sync()
    proxy.reset()
    assert [m.text for m in await bob.messages()] == ["one", "three", "five"]
    await _assert_withheld(people["bob"], room)


# -- item 9: history backfill ------------------------------------------------------------------


def _serve_history(proxy: HostileProxy, room: RoomId, rewrite: Rewrite) -> None:
    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "GET" or path != f"/v1/rooms/{room}/messages" or status != 200:
            return body
        page = from_json(body, HistoryPage)
        return to_json(msgspec.structs.replace(page, events=rewrite(room, list(page.events))))

    proxy.on_response = hook


async def _shared_past(relay: RelayProcess, people: dict[str, HearthClient]) -> RoomId:
    """Alice said "old 0..2" in a room that shares history; Bob joined, can read it."""
    alice = await people["alice"].create_group("Shared past", share_history=True)
    for i in range(3):
        await alice.send(f"old {i}")
    await people["bob"].join(await alice.create_invite())
    await people["alice"].sync()
    await alice.rotate()  # passes the earlier epochs' secrets on
    await alice.send("new")
    await people["bob"].sync()  # Bob reads "new" live, not the past yet
    return alice.id


@pytest.mark.parametrize("attack", ["moved", "replayed"])
async def test_history_serving_a_message_out_of_its_place_is_refused(
    world: World, attack: str
) -> None:
    relay, proxy, people = world
    room = await _shared_past(relay, people)
    seqs = await _seqs(people["alice"], room)
    stored = {e.seq: e for e in await _events(relay, room, 0) if isinstance(e, MessageEvent)}

    def misplace(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            e = event
            if isinstance(e, MessageEvent) and attack == "moved":
                # "old 0" and "old 1" trade places: each still names a head it knew.
                swap = {seqs["old 0"]: seqs["old 1"], seqs["old 1"]: seqs["old 0"]}
                if e.seq in swap:
                    e = MessageEvent(seq=e.seq, ts=e.ts, envelope=stored[swap[e.seq]].envelope)
            elif isinstance(e, MessageEvent) and e.seq == seqs["old 1"]:
                # A message Bob read live, served again as old history.
                e = MessageEvent(seq=e.seq, ts=e.ts, envelope=stored[seqs["new"]].envelope)
            out.append(e)
        return out

    _serve_history(proxy, room, misplace)
    bob = people["bob"].room(room)
    texts = [m.text for m in await bob.messages(limit=10)]
    proxy.reset()
    assert {(a.kind, a.code) for a in bob.alarms} == {("bad_message", "msg.replay")}
    assert texts.count("new") == 1
    if attack == "moved":
        assert "old 1" not in texts
    with pytest.raises(RoomBlocked):
        await bob.send("is this our past?")


async def test_history_served_in_its_place_raises_nothing(world: World) -> None:
    relay, _proxy, people = world
    room = await _shared_past(relay, people)
    bob = people["bob"].room(room)
    texts = [m.text for m in await bob.messages(limit=10)]
    assert texts == ["old 0", "old 1", "old 2", "new"]
    assert bob.alarms == ()


# -- spec 8.6: a member who joins later ---------------------------------------------------------


async def test_a_later_joiner_starts_each_stream_at_its_first_message(world: World) -> None:
    _relay, proxy, people = world
    room = await _group(people, "bob")
    alice, bob = people["alice"].room(room), people["bob"].room(room)
    for i in range(5):  # counters Carol will never see: before her join
        await alice.send(f"before {i}")
        await bob.send(f"before {i}")
    await people["carol"].join(await alice.create_invite())
    for name in ("alice", "bob"):
        await people[name].sync()
    await alice.send("after 0")
    await bob.send("after 0")
    await people["carol"].sync()
    carol = people["carol"].room(room)
    assert [m.text for m in await carol.messages()] == ["after 0", "after 0"]
    assert carol.alarms == ()  # a literal reading of 8.6 saw 1..6 missing
    # Her streams start there: a gap after it is withheld.
    await alice.send("after 1")
    await alice.send("after 2")
    seqs = await _seqs(people["alice"], room)
    _serve_sync(proxy, _purge_through(seqs, "after 1"))
    await people["carol"].sync()
    proxy.reset()
    await _assert_withheld(people["carol"], room)
