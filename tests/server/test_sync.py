"""``POST /v1/sync``: positions, pages across rooms, low-water marks, retention."""

from __future__ import annotations

from protocol import ManualClock, Policy
from protocol.api import LogEvent, MessageEvent, SyncResponse
from protocol.encoding import from_json
from protocol.ops import RetentionOp
from server.retention import Retention
from tests.server.conftest import Relay
from tests.server.helpers import append, create, error, join, post, send


async def test_sync_two_rooms_with_two_tokens(relay: Relay, clock: ManualClock) -> None:
    a, ta = await create(relay, clock)
    b, tb = await create(relay, clock)
    for i in range(3):
        await send(relay, a, "owner", ta, f"a{i}")
        await send(relay, b, "owner", tb, f"b{i}")
    body = {"positions": {a.room: 0, b.room: 2}, "limit": 100}
    r = await post(relay.http, "/v1/sync", body, ta, tb)
    assert r.status_code == 200, r.text
    sync = from_json(r.content, SyncResponse)
    assert not sync.more
    pages = {p.room: p for p in sync.rooms}
    assert [e.seq for e in pages[a.room].events] == [1, 2, 3, 4]
    assert isinstance(pages[a.room].events[0], LogEvent)
    assert [e.seq for e in pages[b.room].events] == [3, 4]
    assert all(p.low_water == 0 and p.last_seq == 4 for p in sync.rooms)


async def test_sync_pages_with_limit(relay: Relay, clock: ManualClock) -> None:
    a, ta = await create(relay, clock)
    b, tb = await create(relay, clock)
    for i in range(3):
        await send(relay, a, "owner", ta, f"a{i}")
        await send(relay, b, "owner", tb, f"b{i}")
    positions = {a.room: 0, b.room: 0}
    seen: dict[str, list[int]] = {a.room: [], b.room: []}
    rounds = 0
    while True:
        rounds += 1
        r = await post(relay.http, "/v1/sync", {"positions": positions, "limit": 3}, ta, tb)
        sync = from_json(r.content, SyncResponse)
        assert sum(len(p.events) for p in sync.rooms) <= 3
        for page in sync.rooms:
            seen[page.room] += [e.seq for e in page.events]
            if page.events:
                positions[page.room] = page.events[-1].seq
        if not sync.more:
            break
    assert rounds == 3
    assert seen == {a.room: [1, 2, 3, 4], b.room: [1, 2, 3, 4]}


async def test_sync_refuses_a_room_of_no_presented_key(relay: Relay, clock: ManualClock) -> None:
    a, ta = await create(relay, clock)
    b, _ = await create(relay, clock)
    r = await post(relay.http, "/v1/sync", {"positions": {a.room: 0, b.room: 0}}, ta)
    assert (r.status_code, error(r).code) == (404, "room.not_found")
    assert error(r).detail == {"room": b.room}
    r = await post(relay.http, "/v1/sync", {"positions": {a.room: -1}}, ta)
    assert (r.status_code, error(r).code) == (400, "wire.malformed")


async def test_retention_moves_low_water(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock, Policy(retention_days=1))
    old = [await send(relay, room, "owner", token, f"old{i}") for i in range(3)]
    clock.advance(2 * 24 * 3600)
    room.now = clock.now_ms()
    new = await send(relay, room, "owner", token, "new")
    retention: Retention = relay.app.state.retention
    assert await retention.run_once() == 1
    assert await retention.run_once() == 0  # idempotent
    r = await post(relay.http, "/v1/sync", {"positions": {room.room: 0}}, token)
    page = from_json(r.content, SyncResponse).rooms[0]
    assert page.low_water == old[-1].seq
    # The log stays whole; only messages at or below the mark are gone.
    assert [e.seq for e in page.events] == [1, new.seq]
    assert isinstance(page.events[0], LogEvent)
    assert isinstance(page.events[1], MessageEvent)


async def test_a_retention_op_turns_on_disappearing_messages(
    relay: Relay, clock: ManualClock
) -> None:
    room, token = await create(relay, clock)  # kept until deleted
    old = [await send(relay, room, "owner", token, f"old{i}") for i in range(2)]
    retention: Retention = relay.app.state.retention
    member_token = await join(relay, room, token, "bob")
    # Only an owner may change it: the relay's log verifier refuses anyone else.
    refused = room.sign("bob", RetentionOp(retention_days=1))
    r = await append(relay, room, refused, member_token)
    assert (r.status_code, error(r).code) == (422, "log.unauthorized")
    op = room.sign("owner", RetentionOp(retention_days=1))
    r = await append(relay, room, op, token)
    assert r.status_code == 200, r.text
    room.apply(op)
    assert room.log.policy.retention_days == 1
    info = await relay.storage.room_info(room.room)
    assert info is not None
    assert info.retention_days == 1
    assert (room.room, 1) in await relay.storage.retention_rooms()

    clock.advance(2 * 24 * 3600)
    room.now = clock.now_ms()
    new = await send(relay, room, "owner", token, "new")
    assert await retention.run_once() == 1
    r = await post(relay.http, "/v1/sync", {"positions": {room.room: 0}}, token)
    page = from_json(r.content, SyncResponse).rooms[0]
    assert page.low_water >= old[-1].seq
    messages = [e.seq for e in page.events if isinstance(e, MessageEvent)]
    assert messages == [new.seq]
    assert all(isinstance(e, LogEvent) for e in page.events if e.seq != new.seq)

    # Turning it off again stops the purges.
    off = room.sign("owner", RetentionOp(retention_days=None))
    assert (await append(relay, room, off, token)).status_code == 200
    room.apply(off)
    assert room.room not in dict(await relay.storage.retention_rooms())
    clock.advance(30 * 24 * 3600)
    assert await retention.run_once() == 0
