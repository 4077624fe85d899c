"""Two relay instances in one test: one PostgreSQL schema, one pub/sub channel, two apps.

Each instance is the real app under uvicorn with its own caches, locks and hub,
exactly as in two processes (tests/scaleout runs real processes). Here the tests
aim at what a lagging cache of another instance's log could get wrong: a member
who joined through B reading through A, appends racing for one index, a rotation
committed through B followed by a message sent through A, a removal through B
that A must honour at once, and live events from B reaching A's subscribers.
Run over Redis (LISTEN/NOTIFY between two hubs is in test_pubsub.py, and every relay
test runs on it with one instance), and "deaf": with no fan-out at all,
so nothing but the relay's own freshness checks keeps A's cache honest (what a
pub/sub outage, or an event still in flight, leaves).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from protocol import ManualClock
from protocol.api import AppendResult, ErrorBody, EventFrame, LogPage, ServerFrame
from protocol.encoding import from_json
from tests.server.backends import postgres_schema, redis_url
from tests.server.conftest import Relay, live_server, make_config
from tests.server.helpers import append, create, join, post, send

TIMEOUT = 10


async def drain(ws: Any, seconds: float) -> list[Any]:
    """Every frame that arrives within ``seconds``."""
    frames: list[Any] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                frames.append(from_json(await ws.recv(), ServerFrame))  # type: ignore[arg-type]
    except TimeoutError:
        return frames


@pytest.fixture(params=["redis", "deaf"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[tuple[Relay, Relay]]:
    async with postgres_schema() as (url, schema), AsyncExitStack() as stack:
        changes: dict[str, Any] = {
            "database_url": url,
            "pubsub": "memory" if request.param == "deaf" else request.param,
            "pubsub_channel": schema,
        }
        if request.param == "redis":
            changes["pubsub_url"] = redis_url()
        relays = [
            await stack.enter_async_context(
                live_server(make_config(tmp_path / name, **changes), clock)
            )
            for name in ("a", "b")
        ]
        yield relays[0], relays[1]


async def test_joined_through_b_reads_through_a_at_once(
    pair: tuple[Relay, Relay], clock: ManualClock
) -> None:
    a, b = pair
    room, owner = await create(a, clock)
    await a.http.get(
        f"/v1/rooms/{room.room}/log?after=-1&limit=10", headers={"Authorization": f"Bearer {owner}"}
    )
    bob = await join(b, room, owner, "bob")  # A has the room cached without bob
    r = await a.http.get(
        f"/v1/rooms/{room.room}/log?after=-1&limit=10", headers={"Authorization": f"Bearer {bob}"}
    )
    assert r.status_code == 200, r.text
    assert from_json(r.content, LogPage).ops == list(room.log.ops)
    await send(a, room, "bob", bob, "through A right after joining through B")


async def test_appends_racing_on_two_instances(
    pair: tuple[Relay, Relay], clock: ManualClock
) -> None:
    a, b = pair
    room, owner = await create(a, clock)
    await send(b, room, "owner", owner, "B caches the room")
    first = room.add("owner", "bob", apply=False)
    second = room.add("owner", "carol", apply=False)
    answers = await asyncio.gather(append(a, room, first, owner), append(b, room, second, owner))
    assert sorted(r.status_code for r in answers) == [200, 409]
    won = first if answers[0].status_code == 200 else second
    room.apply(won)
    lost = next(r for r in answers if r.status_code == 409)
    body = from_json(lost.content, ErrorBody)
    assert body.code == "log.conflict"
    assert body.detail is not None
    assert body.detail["index"] == 1  # the current head, not a stale one
    # Either instance takes the next index now; the retry of the winner is a no-op.
    again = await append(b if answers[0].status_code == 200 else a, room, won, owner)
    assert from_json(again.content, AppendResult).index == 1
    nxt = room.add("owner", "dave", apply=False)
    r = await append(b, room, nxt, owner)
    assert r.status_code == 200, r.text


async def test_message_after_a_rotation_through_the_other_instance(
    pair: tuple[Relay, Relay], clock: ManualClock
) -> None:
    a, b = pair
    room, owner = await create(a, clock)
    await send(a, room, "owner", owner, "A caches epoch 1")
    rotate = room.rotate("owner", apply=False)
    r = await append(b, room, rotate, owner)
    assert r.status_code == 200, r.text
    room.apply(rotate)
    ack = await send(a, room, "owner", owner, "under the new epoch, through A")
    assert ack.seq == 4


async def test_removed_through_b_is_refused_and_unserved_by_a(
    pair: tuple[Relay, Relay], clock: ManualClock
) -> None:
    a, b = pair
    room, owner = await create(a, clock)
    bob = await join(a, room, owner, "bob")
    ws = await connect(a.ws_url, open_timeout=TIMEOUT)
    await ws.send(json.dumps({"type": "auth", "tokens": [bob]}))
    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "ready"
    await ws.send(json.dumps({"type": "subscribe", "positions": {room.room: room.log.index + 1}}))
    stale = room.send("bob", "sealed before the removal")
    remove = room.remove("owner", "bob", apply=False)
    assert (await append(b, room, remove, owner)).status_code == 200
    room.apply(remove)
    r = await post(a.http, f"/v1/rooms/{room.room}/messages", stale, bob)
    assert (r.status_code, from_json(r.content, ErrorBody).code) == (404, "room.not_found")
    await send(b, room, "owner", owner, "bob must not get this")
    events = [f for f in await drain(ws, 1.5) if isinstance(f, EventFrame)]
    assert events == []  # neither the removal nor anything after it
    await ws.close()


async def test_live_events_from_b_reach_a_in_order(
    pair: tuple[Relay, Relay], clock: ManualClock, request: pytest.FixtureRequest
) -> None:
    if "deaf" in request.node.callspec.id:
        pytest.skip("no fan-out between deaf instances, by design")
    a, b = pair
    room, owner = await create(a, clock)
    bob = await join(b, room, owner, "bob")
    start = room.log.index + 1
    ws = await connect(a.ws_url, open_timeout=TIMEOUT)
    await ws.send(json.dumps({"type": "auth", "tokens": [owner]}))
    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "ready"
    await ws.send(json.dumps({"type": "subscribe", "positions": {room.room: start}}))

    async def sender(relay: Relay, name: str, token: str) -> None:
        for i in range(20):
            await send(relay, room, name, token, f"{name} {i}" + "x" * (i * 500))

    await asyncio.gather(sender(a, "owner", owner), sender(b, "bob", bob))
    seqs: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        while len(seqs) < 40:
            seqs.append(from_json(await ws.recv(), ServerFrame).event.seq)  # type: ignore[arg-type,attr-defined]
    assert seqs == list(range(start + 1, start + 41))
    await ws.close()


async def test_postgres_and_redis_never_see_plaintext(
    pair: tuple[Relay, Relay], clock: ManualClock, request: pytest.FixtureRequest
) -> None:
    """The privacy audit of tests/server/test_cli.py, for the shared database and Redis."""
    if "deaf" in request.node.callspec.id:
        pytest.skip("no Redis between deaf instances")
    import asyncpg  # noqa: PLC0415
    import redis.asyncio  # noqa: PLC0415

    a, b = pair
    config = a.app.state.relay.config
    secrets = ["I relapsed on Friday and told nobody", "my sponsor is Dana, 555-0142"]
    listener = redis.asyncio.Redis.from_url(config.pubsub_url)
    captured: list[bytes] = []
    pubsub = listener.pubsub()
    await pubsub.subscribe(config.pubsub_channel)

    async def capture() -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                captured.append(message["data"])

    task = asyncio.create_task(capture())
    try:
        room, owner = await create(a, clock)
        bob = await join(b, room, owner, "bob")
        for text in secrets:
            await send(b, room, "bob", bob, text)
            await send(a, room, "owner", owner, text[::-1])
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.aclose()
        await listener.aclose()
    assert any(room.room.encode() in m for m in captured)  # the capture saw the traffic
    conn = await asyncpg.connect(config.database_url)
    try:
        dump = b""
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table[0]}"'):
                dump += repr(tuple(row)).encode()
    finally:
        await conn.close()
    assert room.member("bob").encode() in dump  # the dump holds what the relay may know
    for text in secrets:
        for needle in (text.encode(), text[::-1].encode()):
            assert needle not in dump
            assert not any(needle in m for m in captured)
    for token in (owner, bob):
        assert token.encode() not in dump
