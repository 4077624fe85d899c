"""ChannelsHub over real Redis and PostgreSQL: two hubs stand for two relay instances.

Each test gets a channel (and on PostgreSQL a schema) of its own. Losses are made
for real: the subscription's connection is killed on the server side, and the hub
must notice, reconnect and tell its listeners to catch up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
import redis.asyncio

from protocol.api import EventFrame, MessageEvent
from protocol.encoding import from_json
from protocol.ids import RoomId
from server.config import Config
from server.hub import Hub
from server.pubsub import NOTIFY_PAYLOAD_MAX, ChannelsHub, make_hub
from server.storage import PostgresStorage
from tests.protocol.builders import Room
from tests.server.backends import postgres_schema, redis_url, unique_name

PUBSUBS = ("redis", "postgres")
TIMEOUT = 10.0


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[RoomId, int, bytes]] = []
        self.losses = 0
        self.changed = asyncio.Event()

    def deliver(self, room: RoomId, seq: int, frame: bytes) -> None:
        self.events.append((room, seq, frame))
        self.changed.set()

    def lost(self) -> None:
        self.losses += 1
        self.changed.set()

    async def wait(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not done():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def two_hubs(kind: str, **hub_args: Any) -> AsyncIterator[tuple[ChannelsHub, ...]]:
    async with postgres_schema() as (url, schema):
        storage = PostgresStorage(url, pool_size=2)
        await storage.open()
        changes: dict[str, Any] = {"database_url": url, "pubsub": kind, "pubsub_channel": schema}
        if kind == "redis":
            changes["pubsub_url"] = redis_url()
        config = Config(**changes)
        hubs = []
        try:
            for _ in range(2):
                hub = make_hub(config, storage)
                assert isinstance(hub, ChannelsHub)
                hub._heartbeat = hub_args.get("heartbeat", hub._heartbeat)
                hub._timeout = hub_args.get("timeout", hub._timeout)
                await hub.start()
                hubs.append(hub)
            yield tuple(hubs)
        finally:
            for hub in hubs:
                await hub.stop()
            await storage.close()


def frame(room: RoomId, seq: int, size: int = 10) -> bytes:
    return b'{"type":"event","room":"%s","seq":%d,"pad":"%s"}' % (room.encode(), seq, b"x" * size)


@pytest.mark.parametrize("kind", PUBSUBS)
async def test_events_reach_the_other_instance_in_order(kind: str) -> None:
    async with two_hubs(kind) as (a, b):
        room, other = RoomId("r" * 22), RoomId("o" * 22)
        here, there = Recorder(), Recorder()
        a.subscribe(room, here)
        b.subscribe(room, there)
        logs: list[RoomId | None] = []
        b.watch_logs(logs.append)
        for seq in range(1, 51):
            a.publish(room, seq, frame(room, seq), log=seq == 7)
            a.publish(other, seq, frame(other, seq))
        await there.wait(lambda: len(there.events) == 50)
        assert [s for _, s, _ in there.events] == list(range(1, 51))
        assert [f for _, _, f in there.events] == [frame(room, s) for s in range(1, 51)]
        assert [s for _, s, _ in here.events] == list(range(1, 51))  # local, directly
        assert logs == [room]
        assert there.losses == here.losses == 0
        await asyncio.sleep(0.2)
        assert len(here.events) == 50  # its own events do not come back twice


async def test_large_events_travel_by_reference_on_postgres() -> None:
    """NOTIFY carries under 8000 bytes: a big event is read from storage by the receiver."""
    async with two_hubs("postgres") as (a, b):
        builder = Room()
        storage = a._storage
        await storage.create_room(
            builder.log.ops[0],
            ts=1,
            retention_days=None,
            members={builder.member("owner"): "owner"},
        )
        envelope = builder.send("owner", "x" * 9000)
        event = await storage.add_message(envelope, ts=2, digest=b"d" * 32)
        big = EventFrame(room=builder.room, event=event)
        from protocol.encoding import to_json  # noqa: PLC0415

        data = to_json(big)
        assert len(data) > NOTIFY_PAYLOAD_MAX
        there = Recorder()
        b.subscribe(builder.room, there)
        a.publish(builder.room, event.seq, data)
        await there.wait(lambda: len(there.events) == 1)
        got = from_json(there.events[0][2], EventFrame)
        assert isinstance(got.event, MessageEvent)
        assert got.event.envelope == envelope


async def kill_subscriber(kind: str, hub: ChannelsHub) -> None:
    """Cut the hub's subscription on the server side, as a network failure would."""
    if kind == "redis":
        client = redis.asyncio.Redis.from_url(redis_url())
        try:
            for entry in await client.client_list(_type="pubsub"):
                await client.client_kill_filter(_id=entry["id"])
        finally:
            await client.aclose()
    else:
        base = hub._connect()._dsn  # type: ignore[attr-defined]
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
            )
        finally:
            await conn.close()


@pytest.mark.parametrize("kind", PUBSUBS)
async def test_a_broken_subscription_is_noticed_and_listeners_catch_up(kind: str) -> None:
    async with two_hubs(kind, heartbeat=0.1, timeout=0.5) as (a, b):
        room = RoomId("r" * 22)
        there = Recorder()
        b.subscribe(room, there)
        a.publish(room, 1, frame(room, 1))
        await there.wait(lambda: len(there.events) == 1)
        await kill_subscriber(kind, b)
        # Down (catch up), then back (catch up again for what passed meanwhile).
        await there.wait(lambda: there.losses >= 2 and b.up)
        a.publish(room, 2, frame(room, 2))
        await there.wait(lambda: [s for _, s, _ in there.events][-1:] == [2])


@pytest.mark.parametrize("kind", PUBSUBS)
async def test_a_skipped_counter_means_lost_events(kind: str) -> None:
    async with two_hubs(kind) as (a, b):
        room = RoomId("r" * 22)
        there = Recorder()
        b.subscribe(room, there)
        a.publish(room, 1, frame(room, 1))
        await there.wait(lambda: len(there.events) == 1)
        a._published += 3  # as if three messages never made it out
        a.publish(room, 5, frame(room, 5))
        await there.wait(lambda: there.losses == 1 and len(there.events) == 2)


async def test_memory_is_the_default() -> None:
    hub: Hub = make_hub(Config(), None)  # type: ignore[arg-type]
    assert type(hub).__name__ == "MemoryHub"


def test_channel_names_are_checked() -> None:
    with pytest.raises(Exception, match="pubsub_channel"):
        Config(pubsub_channel="a b")
    assert unique_name()
