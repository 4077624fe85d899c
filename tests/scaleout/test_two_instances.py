"""Two ``hearth serve`` processes, one PostgreSQL, one Redis: what a client must not notice.

1. Senders on both instances at once, subscribers on both: every subscriber sees
   every event of the room once, in seq order, and every acknowledgement names the
   seq the event has everywhere. A login whose challenge and answer reach different
   instances works (no sticky sessions).
2. SDK clients behind a non-sticky balancer keep talking while one instance is
   SIGKILLed: they reconnect to the other, resume from their positions, and each
   ends with every message exactly once, in order.

Skipped, saying which, unless HEARTH_TEST_POSTGRES_URL and HEARTH_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from client_sdk import HearthClient, Identity, MessageReceived
from protocol import ManualClock
from protocol.api import EventFrame, MessageAck, ServerFrame
from protocol.encoding import from_json
from tests.protocol.builders import Room as Builder
from tests.scaleout.cluster import Instance, cluster
from tests.server.helpers import create, join, login, post

TIMEOUT = 20.0


async def stream(instance: Instance, token: str, room: str, position: int) -> ClientConnection:
    ws = await connect(instance.ws_url, open_timeout=TIMEOUT)
    await ws.send(json.dumps({"type": "auth", "tokens": [token]}))
    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "ready"
    await ws.send(json.dumps({"type": "subscribe", "positions": {room: position}}))
    return ws


async def collect(ws: ClientConnection, upto: int, start: int = 0) -> list[int]:
    """Event seqs until ``upto``; then make sure nothing (a duplicate) follows."""
    seqs: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        while not seqs or seqs[-1] < upto:
            frame = from_json(await ws.recv(), ServerFrame)  # type: ignore[arg-type]
            if isinstance(frame, EventFrame):
                seqs.append(frame.event.seq)
    try:
        extra = await asyncio.wait_for(ws.recv(), 0.5)
    except TimeoutError:
        extra = None
    assert extra is None, extra
    await ws.close()
    return seqs


async def test_concurrent_senders_on_both_instances(tmp_path: Path) -> None:
    clock = ManualClock()
    async with cluster(tmp_path) as found:
        a, b = found.instances
        room, owner = await create(a, clock)
        bob = await join(b, room, owner, "bob")  # invited and joined through the other one
        carol = await join(a, room, owner, "carol")
        tokens = {"owner": owner, "bob": bob, "carol": carol}
        start = room.log.index + 1  # events so far: the log
        early = [await stream(a, owner, room.room, 0), await stream(b, bob, room.room, 0)]
        per_sender = 30
        acks: list[MessageAck] = []

        async def sender(name: str) -> None:
            for i in range(per_sender):
                target = (a, b)[i % 2]  # every sender alternates instances
                envelope = room.send(name, f"{name} {i}")
                r = await post(
                    target.http, f"/v1/rooms/{room.room}/messages", envelope, tokens[name]
                )
                assert r.status_code == 200, r.text
                acks.append(from_json(r.content, MessageAck))

        senders = [asyncio.create_task(sender(n)) for n in tokens]
        await asyncio.sleep(0.2)
        late = await stream(b, carol, room.room, 0)  # subscribes mid-stream
        await asyncio.gather(*senders)
        total = start + per_sender * len(tokens)
        for ws in (*early, late):
            assert await collect(ws, total) == list(range(1, total + 1))
        assert sorted(ack.seq for ack in acks) == list(range(start + 1, total + 1))
        r = await post(b.http, "/v1/sync", {"positions": {room.room: 0}, "limit": 1000}, owner)
        stored = {
            e["envelope"]["header"]["id"]: e["seq"]
            for e in r.json()["rooms"][0]["events"]
            if e["type"] == "msg"
        }
        assert stored == {ack.id: ack.seq for ack in acks}


async def test_challenge_at_one_instance_answered_at_the_other(tmp_path: Path) -> None:
    async with cluster(tmp_path) as found:
        a, b = found.instances

        class Split:  # challenge to A, answer to B
            def __init__(self) -> None:
                self.calls = 0

            async def post(self, url: str, **kwargs: Any) -> httpx.Response:
                self.calls += 1
                target = a if self.calls == 1 else b
                return await target.http.post(url, **kwargs)

        keys = Builder().keys("owner")
        session = await login(Split(), keys)  # type: ignore[arg-type]
        assert session.can_create  # B took A's challenge, with its proof of work
        r = await post(a.http, "/v1/sync", {"positions": {}, "limit": 10}, session.token)
        assert r.status_code == 200, r.text  # and A knows B's session


async def next_messages(client: HearthClient, count: int, seen: list[Any]) -> None:
    async with asyncio.timeout(TIMEOUT):
        async for event in client.events():
            if isinstance(event, MessageReceived) and not event.message.mine:
                seen.append(event.message)
                if len(seen) >= count:
                    return


async def test_clients_resume_on_the_other_instance_after_sigkill(tmp_path: Path) -> None:
    async with cluster(tmp_path) as found:
        assert found.balancer is not None
        url = found.balancer.base_url
        ana_id, ben_id = Identity.generate(), Identity.generate()
        quick = {"reconnect_delay": (0.05, 0.5), "timeout": 10.0}
        async with (
            HearthClient(url, ana_id, store_path=tmp_path / "ana.db", **quick) as ana,
            HearthClient(url, ben_id, store_path=tmp_path / "ben.db", **quick) as ben,
        ):
            ana_room = await ana.create_group("scale-out circle")
            link = await ana_room.create_invite(max_uses=1, expires_in=600)
            ben_room = await ben.join(link)
            ana_seen: list[Any] = []
            ben_seen: list[Any] = []
            rounds = 10

            async def talk(room: Any, name: str, first: int) -> None:
                for i in range(first, first + rounds):
                    await room.send(f"{name} {i}")

            await asyncio.gather(talk(ana_room, "ana", 0), talk(ben_room, "ben", 0))
            await asyncio.gather(
                next_messages(ana, rounds, ana_seen), next_messages(ben, rounds, ben_seen)
            )
            # The instance holding more connections dies without a word; they drop.
            victim = max(found.instances, key=lambda i: found.balancer.active[i.port])
            assert found.balancer.active[victim.port] > 0
            victim.kill()
            await asyncio.gather(talk(ana_room, "ana", rounds), talk(ben_room, "ben", rounds))
            await ana.flush()
            await ben.flush()
            await asyncio.gather(
                next_messages(ana, 2 * rounds, ana_seen), next_messages(ben, 2 * rounds, ben_seen)
            )
            for room, other in ((ana_room, "ben"), (ben_room, "ana")):
                texts = [m.text for m in await room.messages(limit=100)]
                assert texts.count(f"{other} 0") == 1
                theirs = [t for t in texts if t.startswith(other)]
                assert theirs == [f"{other} {i}" for i in range(2 * rounds)]  # once each, in order
                seqs = [m.seq for m in await room.messages(limit=100)]
                assert seqs == sorted(seqs)
                assert len(set(seqs)) == len(seqs)
            assert [m.text for m in ben_seen] == [f"ana {i}" for i in range(2 * rounds)]
            assert [m.text for m in ana_seen] == [f"ben {i}" for i in range(2 * rounds)]
