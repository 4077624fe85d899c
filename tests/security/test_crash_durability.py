"""Crash durability: ``kill -9`` the relay under load, then count what survived.

A real ``hearth serve`` subprocess takes messages from several concurrent senders
(raw HTTP with envelopes sealed by the protocol builders, so the test knows the
exact moment each message was acknowledged) and a log operation in flight; at a
random moment it is killed with SIGKILL. Then, on the files exactly as the kill
left them:

- ``PRAGMA integrity_check`` is ``ok``;
- the room log the relay stored verifies from its first operation
  (``protocol.RoomLog.from_ops``), and the sequence numbers are contiguous;
- every message the relay acknowledged is stored, and no message id twice.

The relay restarts, the senders resend every message not acknowledged (the same
envelope: sends are idempotent by message id) and the round checks that the room
holds each of its messages exactly once. The default suite runs
``HEARTH_CRASH_ROUNDS`` rounds (3) of 1,000 messages; the full 20 rounds take
about three and a half minutes on the CI machine, so they are
``tests/stress/test_relay_crash.py`` (marker ``stress``, its own step in .ci/run).

The relay's ``synchronous=FULL`` is asserted by
``tests/server/test_public.py::test_database_is_wal_with_full_sync``; the client
half of this test (killed between the relay's commit and the acknowledgement)
is in ``test_client_killed_between_commit_and_ack``.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from client_sdk import HearthClient, Identity
from protocol import InviteKey, ManualClock, RoomLog
from protocol.api import MessageEvent
from protocol.ids import MessageId, RoomId
from protocol.messages import Envelope
from server.storage.sqlite import SqliteStorage
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.server.helpers import Room as LogRoom
from tests.server.helpers import login, new_room, post

MESSAGES_PER_ROUND = 1000
SENDERS = 8
FIGURES: dict[str, float] = {}


@dataclass
class Ledger:
    """What the test knows: what it sent, what the relay acknowledged."""

    sent: dict[MessageId, Envelope] = field(default_factory=dict)
    acked: set[MessageId] = field(default_factory=set)


@pytest.fixture
async def crash_relay(tmp_path: Path) -> AsyncIterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data, HEARTH_RATE_SEND="100000/100000")
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _token(url: str, room: LogRoom, name: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return (await login(http, room.keys(name), create=name == "owner")).token


async def _append(url: str, room: LogRoom, op: object, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await post(http, f"/v1/rooms/{room.room}/log", op, token)


async def _send_all(
    url: str, room: LogRoom, token: str, pending: list[Envelope], ledger: Ledger
) -> None:
    """Send ``pending`` from ``SENDERS`` connections until done or the relay dies."""
    queue = list(reversed(pending))

    async def sender() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            while queue:
                envelope = queue.pop()
                try:
                    r = await post(http, f"/v1/rooms/{room.room}/messages", envelope, token)
                except httpx.HTTPError:
                    return  # the relay is gone; this one's fate is unknown
                assert r.status_code == 200, r.text
                ledger.acked.add(envelope.header.id)

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


async def _stored(
    data_dir: Path, room: LogRoom | _LogRoomRef
) -> tuple[RoomLog, list[MessageId], list[int]]:
    """The verified log, the message ids (with repeats) and all sequence numbers stored."""
    storage = SqliteStorage(data_dir / "hearth.db")
    await storage.open()
    try:
        log = RoomLog.from_ops(await storage.load_ops(room.room))
        events, after = [], 0
        while page := await storage.events_after(room.room, after, 1000):
            events.extend(page)
            after = page[-1].seq
    finally:
        await storage.close()
    ids = [e.envelope.header.id for e in events if isinstance(e, MessageEvent)]
    return log, ids, [e.seq for e in events]


async def _check(relay: RelayProcess, room: LogRoom, ledger: Ledger) -> list[MessageId]:
    assert await asyncio.to_thread(_integrity, relay.data_dir / "hearth.db") == "ok"
    log, ids, seqs = await _stored(relay.data_dir, room)
    assert seqs == list(range(1, len(seqs) + 1)), "sequence numbers must stay contiguous"
    assert log.index >= 0
    duplicates = [m for m, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    lost = ledger.acked - set(ids)
    assert lost == set(), f"{len(lost)} acknowledged messages lost"
    assert set(ids) <= set(ledger.sent)
    return ids


async def crash_relay_rounds(relay: RelayProcess, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    clock = ManualClock()
    room = new_room(clock)
    owner = await _token(relay.url, room, "owner")
    async with httpx.AsyncClient(base_url=relay.url, timeout=10) as http:
        r = await post(http, "/v1/rooms", room.log.ops[0], owner)
        assert r.status_code == 201, r.text
    ledger = Ledger()
    started = time.monotonic()
    for _ in range(rounds):
        room.now = _now_ms()
        room.rotate("owner")  # a new epoch per round: the log grows under load too
        r = await _append(relay.url, room, room.log.ops[-1], owner)
        assert r.status_code == 200, r.text
        batch = [room.send("owner", f"m{i}") for i in range(MESSAGES_PER_ROUND)]
        ledger.sent.update((e.header.id, e) for e in batch)
        room.now = _now_ms()
        invite = room.invite("owner", InviteKey.generate(), apply=False)
        kill_after = rng.randrange(MESSAGES_PER_ROUND // 10, MESSAGES_PER_ROUND * 9 // 10)
        acked_before = len(ledger.acked)

        async def killer(kill_after: int = kill_after, acked_before: int = acked_before) -> None:
            while len(ledger.acked) - acked_before < kill_after:
                await asyncio.sleep(0.001)
            await asyncio.sleep(rng.random() * 0.01)  # somewhere inside a write
            relay.kill()

        async def op_writer(invite: object = invite, token: str = owner) -> httpx.Response | None:
            await asyncio.sleep(rng.random() * 0.2)
            try:
                return await _append(relay.url, room, invite, token)
            except httpx.HTTPError:
                return None

        _, _, answer = await asyncio.gather(
            _send_all(relay.url, room, owner, batch, ledger), killer(), op_writer()
        )
        ids = await _check(relay, room, ledger)
        stored_ops = len((await _stored(relay.data_dir, room))[0].ops)
        if answer is not None and answer.status_code == 200:
            assert stored_ops == len(room.log.ops) + 1, "an acknowledged operation was lost"

        await asyncio.to_thread(relay.start)
        owner = await _token(relay.url, room, "owner")
        if stored_ops == len(room.log.ops) + 1:
            room.apply(invite)  # type: ignore[arg-type]
        else:
            r = await _append(relay.url, room, invite, owner)
            assert r.status_code == 200, r.text
            room.apply(invite)  # type: ignore[arg-type]
        # Every message not acknowledged goes again, also those the relay stored just
        # before it died: the retry must be answered with an ack, never a duplicate.
        retry = [e for e in batch if e.header.id not in ledger.acked]
        FIGURES["stored_unacked"] = FIGURES.get("stored_unacked", 0) + len(
            {e.header.id for e in retry} & set(ids)
        )
        await _send_all(relay.url, room, owner, retry, ledger)
        assert {e.header.id for e in batch} <= ledger.acked
        ids = await _check(relay, room, ledger)
        assert set(ids) == set(ledger.sent)
        assert len(ids) == len(ledger.sent)
    elapsed = time.monotonic() - started
    FIGURES.update(rounds=rounds, messages=len(ledger.sent), seconds=round(elapsed, 1))
    print(f"crash durability: {FIGURES}")


async def test_relay_killed_under_load_loses_and_duplicates_nothing(
    crash_relay: RelayProcess,
) -> None:
    rounds = int(os.environ.get("HEARTH_CRASH_ROUNDS", "3"))
    await crash_relay_rounds(crash_relay, rounds, seed=rounds)


# -- the client killed between the relay's commit and the acknowledgement --------------

_CHILD = """
import asyncio, os, sys
from client_sdk import HearthClient, Identity

async def main() -> None:
    me = Identity.from_recovery_phrase(os.environ["PHRASE"])
    async with HearthClient(sys.argv[1], me, store_path=sys.argv[2], live=False) as client:
        print("open", flush=True)
        await client.rooms[0].send(sys.argv[3])
        print("acknowledged", flush=True)

asyncio.run(main())
"""


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[RelayProcess, HostileProxy]]:
    data = tmp_path / "relay-data"
    data.mkdir()
    proxy = HostileProxy()
    process = RelayProcess(data, HEARTH_ORIGIN=proxy.url)
    await asyncio.to_thread(process.start)
    proxy.upstream = process.url
    await proxy.start()
    try:
        yield process, proxy
    finally:
        await proxy.stop()
        await asyncio.to_thread(process.stop)


async def test_client_killed_between_commit_and_ack(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> None:
    relay, proxy = proxied
    me = Identity.generate()
    store = tmp_path / "me.db"
    async with HearthClient(proxy.url, me, store_path=store, live=False) as client:
        room = await client.create_group("Night shift")
        room_id = room.id
        before = len(await room.messages(limit=100))
    _, stored_before, _ = await _stored(relay.data_dir, _LogRoomRef(room_id))

    committed, released = asyncio.Event(), asyncio.Event()

    async def hold_the_ack(method: str, path: str, status: int, body: bytes) -> bytes:
        if method == "POST" and path == f"/v1/rooms/{room_id}/messages" and status == 200:
            committed.set()  # the relay answered 200: the message is durable there
            await released.wait()  # ... and the client dies before it hears so
        return body

    proxy.on_response = hold_the_ack
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        proxy.url,
        str(store),
        "between commit and ack",
        env={**os.environ, "PHRASE": me.recovery_phrase},
        stdout=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        await committed.wait()
    child.kill()  # kill -9 while the acknowledgement is in flight
    out, _ = await child.communicate()
    assert b"acknowledged" not in out
    released.set()
    proxy.reset()

    log, ids, _ = await _stored(relay.data_dir, _LogRoomRef(room_id))
    assert log.index >= 0
    new = set(ids) - set(stored_before)
    assert len(new) == 1, "the relay committed the message before the client died"

    async with HearthClient(proxy.url, me, store_path=store, live=False) as client:
        room = client.room(room_id)
        await client.sync()
        assert await room.pending() == 0
        texts = [m.text for m in await room.messages(limit=100)]
    assert texts.count("between commit and ack") == 1
    assert len(texts) == before + 1
    _, ids, _ = await _stored(relay.data_dir, _LogRoomRef(room_id))
    assert len(ids) == len(set(ids)) == len(stored_before) + 1


@dataclass
class _LogRoomRef:
    room: RoomId
