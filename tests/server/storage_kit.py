"""What the storage contract tests share: storages opened over one database, on a backend.

Each backend of ``BACKENDS`` runs every contract test: SQLite over one file,
PostgreSQL over a fresh schema (two openers there are two relay instances).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from protocol import RoomLog
from protocol.ids import MemberId
from protocol.ops import Role
from server.storage import PostgresStorage, SqliteStorage, Storage
from tests.protocol.builders import Room
from tests.server.backends import postgres_schema

Opener = Callable[[], Awaitable[Storage]]


@asynccontextmanager
async def storages(backend: str, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens storages over one database (SQLite: one file; PostgreSQL: one schema)."""
    opened: list[Storage] = []

    @asynccontextmanager
    async def run(make: Callable[[], Storage]) -> AsyncIterator[Opener]:
        async def opener() -> Storage:
            storage = make()
            await storage.open()
            opened.append(storage)
            return storage

        try:
            yield opener
        finally:
            for storage in opened:
                await storage.close()

    if backend == "sqlite":
        async with run(lambda: SqliteStorage(tmp_path / "hearth.db")) as opener:
            yield opener
    else:
        async with (
            postgres_schema() as (url, _),
            run(lambda: PostgresStorage(url, pool_size=4)) as opener,
        ):
            yield opener


def members(log: RoomLog) -> dict[MemberId, Role]:
    return {m: v.role for m, v in log.members.items()}


async def new_room(storage: Storage, room: Room | None = None) -> Room:
    room = room or Room()
    log = RoomLog.from_ops(room.log.ops[:1])
    event = await storage.create_room(
        room.log.ops[0], ts=1000, retention_days=None, members=members(log)
    )
    assert event.seq == 1
    for op in room.log.ops[1:]:
        log.append(op)
        await storage.append_op(room.room, op, ts=1000, members=members(log))
    return room
