"""An acknowledgement means "on disk": past a power cut, not only past ``kill -9``.

``kill -9`` (tests/security/test_crash_durability.py, tests/stress/test_chaos.py)
keeps everything the kernel already had, synced or not; a power cut keeps only
what was synced. Python's sqlite3 has no test VFS that drops unsynced writes, so
the argument is made at the storage boundary, in two halves that together say
an acknowledged message is on disk:

1. **A commit returns only once synced.** SQLite: every connection that commits
   runs WAL with ``synchronous=FULL`` (the WAL is fsynced at each commit).
   PostgreSQL: the relay's connections run ``synchronous_commit=on`` even when the
   database's default is off, and the server runs ``fsync=on``.
2. **The acknowledgement follows the commit.** With real senders over real
   sockets, every message's ``200`` reaches its sender only after the storage's
   commit of that message returned (recorded by wrapping the storage's
   ``add_messages``, the one call that stores messages, around the real thing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from protocol import ManualClock
from protocol.ids import MessageId
from protocol.messages import Envelope
from server.storage.postgres import PostgresStorage
from server.storage.sqlite import SqliteStorage
from tests.server.backends import postgres_schema
from tests.server.conftest import Relay
from tests.server.helpers import create, post

SENDERS = 8
MESSAGES = 200


async def test_every_ack_follows_its_commit(live: Relay, clock: ManualClock) -> None:
    storage = live.storage
    order: list[tuple[str, MessageId]] = []
    store = storage.add_messages

    async def recorded(batch: Sequence[tuple[Envelope, bytes, int | None]], *, ts: int) -> Any:
        results = await store(batch, ts=ts)
        order.extend(("committed", envelope.header.id) for envelope, _, _ in batch)
        return results

    # An instance attribute over the real method: the committer looks it up per call.
    storage.add_messages = recorded  # type: ignore[method-assign]
    room, token = await create(live, clock)
    queue = [room.send("owner", f"m{i}") for i in range(MESSAGES)]
    url = f"/v1/rooms/{room.room}/messages"

    async def sender() -> None:
        while queue:
            envelope = queue.pop()
            r = await post(live.http, url, envelope, token)
            assert r.status_code == 200, r.text
            order.append(("acked", envelope.header.id))

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    committed = {m: i for i, (what, m) in enumerate(order) if what == "committed"}
    acked = {m: i for i, (what, m) in enumerate(order) if what == "acked"}
    assert len(acked) == MESSAGES
    early = [m for m, i in acked.items() if m not in committed or committed[m] > i]
    assert early == [], f"{len(early)} messages acknowledged before their commit returned"


async def test_commits_are_synced(live: Relay) -> None:
    storage = live.storage
    if isinstance(storage, SqliteStorage):
        pragmas = await storage.pragmas()  # the weakest of the committing connections
        assert pragmas["journal_mode"] == "wal"
        assert pragmas["synchronous"] == 2  # FULL: the WAL is fsynced at every commit
    else:
        assert isinstance(storage, PostgresStorage)
        settings = await storage.durability()
        if settings["fsync"] != "on":
            pytest.skip("this test PostgreSQL runs fsync=off: it cannot keep any promise")
        assert settings == {"synchronous_commit": "on", "fsync": "on"}


async def test_postgres_pins_synchronous_commit_over_the_database_default() -> None:
    async with postgres_schema() as (url, _):
        # asyncpg passes unknown URL parameters as session settings: this is the
        # connection a database (or role) defaulting to synchronous_commit=off gives.
        storage = PostgresStorage(url + "&synchronous_commit=off")
        await storage.open()
        try:
            assert (await storage.durability())["synchronous_commit"] == "on"
        finally:
            await storage.close()
