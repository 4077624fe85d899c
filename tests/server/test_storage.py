"""The Storage interface on each backend: migrations, seqs, compare-and-swap, errors.

On PostgreSQL, "two instances" are two :class:`PostgresStorage` objects over one
schema, each with its own connection pool: what two relay processes have. Writes
race through ``asyncio.gather``, so the database, not a Python lock, has to keep
the guarantees.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import server.storage.sqlite
from protocol.encoding import canonical
from protocol.ids import MemberId
from server.errors import RelayError, StorageError
from server.storage import (
    PG_SCHEMA_VERSION,
    SCHEMA_VERSION,
    ChallengeRecord,
    PostgresStorage,
    SqliteStorage,
)
from tests.protocol.builders import Room
from tests.server.backends import BACKENDS, postgres_schema
from tests.server.helpers import digest
from tests.server.storage_kit import Opener, members, new_room, storages


@pytest.fixture(params=BACKENDS)
async def open_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens storages over one database (SQLite: one file; PostgreSQL: one schema)."""
    async with storages(request.param, tmp_path) as opener:
        yield opener


async def test_migrates_once_and_refuses_a_newer_schema(
    open_storage: Opener, tmp_path: Path
) -> None:
    first = await open_storage()
    again = await open_storage()  # a second instance starting: nothing left to migrate
    await again.ping()
    if isinstance(first, PostgresStorage):
        assert await first.schema_version() == PG_SCHEMA_VERSION
        pool = first._live_pool()
        await pool.execute("UPDATE schema_version SET version = 99")
        url = first._url
        with pytest.raises(StorageError, match="newer than this relay"):
            await PostgresStorage(url).open()
    else:
        assert (await first.pragmas())["user_version"] == SCHEMA_VERSION
        await first.close()
        await again.close()
        with sqlite3.connect(tmp_path / "hearth.db") as db:
            db.execute("PRAGMA user_version = 99")
        with pytest.raises(StorageError, match="newer than this relay"):
            await SqliteStorage(tmp_path / "hearth.db").open()


async def test_a_data_directory_of_protocol_version_1_is_refused_by_name(
    open_storage: Opener, tmp_path: Path
) -> None:
    first = await open_storage()
    await new_room(first)  # a version-2 room: the storage reopens
    old = "A" * 22  # a version-1 room id, bound to no genesis
    insert = "INSERT INTO rooms (id, created_at, last_seq, last_ts) VALUES ('{}', 0, 0, 0)"
    if isinstance(first, PostgresStorage):
        pool = first._live_pool()
        await pool.execute(insert.format(old))
        await pool.execute("UPDATE schema_version SET version = version - 1")
        url = first._url
        with pytest.raises(StorageError) as info:
            await PostgresStorage(url).open()
        # Refused before any migration: the last one was not applied again.
        assert await pool.fetchval("SELECT max(version) FROM schema_version") == (
            PG_SCHEMA_VERSION - 1
        )
    else:
        await first.close()
        with sqlite3.connect(tmp_path / "hearth.db") as db:
            db.execute(insert.format(old))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
        with pytest.raises(StorageError) as info:
            await SqliteStorage(tmp_path / "hearth.db").open()
        with sqlite3.connect(tmp_path / "hearth.db") as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    assert info.value.code == "storage.old_version"
    assert "protocol version 1" in info.value.message
    assert "protocol version 2" in info.value.message


async def test_seqs_stay_contiguous_with_two_writers(open_storage: Opener) -> None:
    """Two instances send into one room at once: every seq once, no gap."""
    a = await open_storage()
    b = await open_storage() if isinstance(a, PostgresStorage) else a
    room = await new_room(a)
    room.add("owner", "bob")
    await a.append_op(room.room, room.log.ops[-1], ts=1000, members=members(room.log))
    envelopes = [room.send("owner" if i % 2 else "bob", f"m{i}") for i in range(40)]
    events = await asyncio.gather(
        *(
            (a if i % 2 else b).add_message(e, ts=2000 + i, digest=digest(e))
            for i, e in enumerate(envelopes)
        )
    )
    assert sorted(e.seq for e in events) == list(range(3, 43))
    stored = await b.events_after(room.room, 0, 100)
    assert [e.seq for e in stored] == list(range(1, 43))
    assert [e.ts for e in stored] == sorted(e.ts for e in stored)  # never backwards
    info = await a.room_info(room.room)
    assert info is not None
    assert info.last_seq == 42


async def test_log_compare_and_swap_across_instances(open_storage: Opener) -> None:
    """Two operations race for one index from two instances: one wins, one conflicts."""
    a = await open_storage()
    b = await open_storage() if isinstance(a, PostgresStorage) else a
    room = await new_room(a)
    first = room.add("owner", "bob", apply=False)
    second = room.add("owner", "carol", apply=False)
    assert first.content.index == second.content.index == 1
    outcomes = await asyncio.gather(
        a.append_op(room.room, first, ts=1000, members={}),
        b.append_op(room.room, second, ts=1000, members={}),
        return_exceptions=True,
    )
    conflicts = [o for o in outcomes if isinstance(o, RelayError)]
    assert len(conflicts) == 1
    assert conflicts[0].code == "log.conflict"
    assert len(await a.load_ops(room.room)) == 2
    info = await b.room_info(room.room)
    assert info is not None
    assert info.last_seq == 2


async def test_a_room_id_is_taken_once(open_storage: Opener) -> None:
    a = await open_storage()
    room = await new_room(a)
    with pytest.raises(RelayError) as caught:
        await new_room(a, room)
    assert caught.value.code == "log.conflict"


async def test_sends_are_unique_by_id(open_storage: Opener) -> None:
    a = await open_storage()
    room = await new_room(a)
    envelope = room.send("owner", "once")
    event = await a.add_message(envelope, ts=1, digest=digest(envelope))
    with pytest.raises(RelayError) as caught:
        await a.add_message(envelope, ts=2, digest=digest(envelope))
    assert caught.value.code == "msg.duplicate_id"
    record = await a.find_message(room.room, envelope.header.id)
    assert record is not None
    assert (record.seq, record.digest) == (event.seq, digest(envelope))


async def test_a_write_against_an_outgrown_log_is_refused(open_storage: Opener) -> None:
    """The relay verified against index 0, another instance appended index 1 meanwhile."""
    a = await open_storage()
    b = await open_storage() if isinstance(a, PostgresStorage) else a
    room = await new_room(a)
    envelope = room.send("owner", "verified against index 0")
    room.add("owner", "bob")
    await b.append_op(room.room, room.log.ops[1], ts=1000, members=members(room.log))
    with pytest.raises(RelayError) as caught:
        await a.add_message(envelope, ts=1, digest=digest(envelope), log_index=0)
    assert caught.value.code == "log.conflict"
    assert await a.find_message(room.room, envelope.header.id) is None
    event = await a.add_message(envelope, ts=1, digest=digest(envelope), log_index=1)
    assert event.seq == 3  # the refused write took no number


async def test_a_challenge_is_answered_once_at_any_instance(open_storage: Opener) -> None:
    a = await open_storage()
    b = await open_storage() if isinstance(a, PostgresStorage) else a
    record = ChallengeRecord(expires_at=5000, pow_difficulty=3)
    await a.put_challenge(b"c" * 32, record, now=1000)
    taken = await asyncio.gather(*(s.take_challenge(b"c" * 32) for s in (a, b, b)))
    assert [t for t in taken if t is not None] == [record]


async def test_closed_storage_says_so(open_storage: Opener) -> None:
    storage = await open_storage()
    await storage.close()
    with pytest.raises(StorageError) as caught:
        await storage.ping()
    assert caught.value.closed


async def test_unreachable_postgres_is_a_storage_error() -> None:
    # A port nothing listens on: the refusal is asyncpg's/the OS's, translated.
    with pytest.raises(StorageError) as caught:
        await PostgresStorage("postgresql://nobody@127.0.0.1:9/none").open()
    assert not caught.value.closed
    assert "127.0.0.1" not in caught.value.message


async def test_postgres_errors_are_translated_without_values() -> None:
    async with postgres_schema() as (url, _):
        storage = PostgresStorage(url)
        await storage.open()
        try:
            pool = storage._live_pool()
            await pool.execute("ALTER TABLE revoked ADD CONSTRAINT tiny CHECK (until < 10)")
            with pytest.raises(StorageError) as caught:
                await storage.revoke_tokens(MemberId("secret-key"), until=99)
            assert "secret-key" not in caught.value.message
            assert isinstance(caught.value.__cause__, asyncpg.CheckViolationError)
        finally:
            await storage.close()


async def test_postgres_migrates_a_version_1_database_with_rooms_in_it() -> None:
    """Version 2 moved the log's last index onto the room's row; old rooms get theirs."""
    from server.storage._pg_schema import MIGRATIONS  # noqa: PLC0415

    async with postgres_schema() as (url, _):
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            for statement in MIGRATIONS[0]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version VALUES (1)")
        finally:
            await conn.close()
        old = PostgresStorage(url)
        # What a version-1 relay wrote (its _next_seq knew no log_index column).
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        room = Room()
        room.add("owner", "bob")
        async with pool.acquire() as conn:
            await conn.execute("INSERT INTO rooms VALUES ($1, 1, 2, 1, 0, NULL)", room.room)
            for seq, op in enumerate(room.log.ops, start=1):
                await conn.execute(
                    "INSERT INTO events (room, seq, ts, kind, op_index, sender, data)"
                    " VALUES ($1, $2, 1, 'log', $3, $4, $5)",
                    room.room,
                    seq,
                    op.content.index,
                    op.content.author,
                    canonical(op),
                )
        await pool.close()
        await old.open()
        try:
            assert await old.schema_version() == PG_SCHEMA_VERSION == 7
            envelope = room.send("owner", "after the upgrade")
            with pytest.raises(RelayError):
                await old.add_message(envelope, ts=2, digest=digest(envelope), log_index=0)
            event = await old.add_message(envelope, ts=2, digest=digest(envelope), log_index=1)
            assert event.seq == 3
        finally:
            await old.close()


async def test_sqlite_checkpoints_the_wal_beside_the_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits leave the WAL alone; a background checkpoint copies it into the file."""
    monkeypatch.setattr(server.storage.sqlite, "CHECKPOINT_INTERVAL", 3600.0)
    path = tmp_path / "hearth.db"
    storage = SqliteStorage(path)
    await storage.open()
    try:
        room = await new_room(storage)
        envelopes = [room.send("owner", "x" * 1000 + str(i)) for i in range(2000)]
        for i in range(0, len(envelopes), 20):  # well past the default 1,000-page threshold
            chunk = envelopes[i : i + 20]
            await storage.add_messages([(e, digest(e), None) for e in chunk], ts=2000 + i)
        assert path.with_name("hearth.db-wal").stat().st_size > 1000 * 4096
        before = path.stat().st_size
        # The checkpointer's round, as its task runs it.
        conn = storage._checkpoint_conn
        assert conn is not None
        await asyncio.get_running_loop().run_in_executor(
            storage._checkpoint_thread, server.storage.sqlite._checkpoint, conn
        )
        assert path.stat().st_size > before + 2000 * 2048
        stored = await storage.events_after(room.room, 1999, 500)
        assert [e.seq for e in stored] == [2000, 2001]
    finally:
        await storage.close()


async def test_sqlite_checkpoint_task_runs_and_stops_with_the_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.storage.sqlite, "CHECKPOINT_INTERVAL", 0.01)
    rounds: list[int] = []
    real = server.storage.sqlite._checkpoint

    def counting(conn: sqlite3.Connection) -> None:
        rounds.append(1)
        real(conn)

    monkeypatch.setattr(server.storage.sqlite, "_checkpoint", counting)
    storage = SqliteStorage(tmp_path / "hearth.db")
    await storage.open()
    async with asyncio.timeout(10):
        while len(rounds) < 3:
            await asyncio.sleep(0.01)
    await storage.close()
    done = len(rounds)
    await asyncio.sleep(0.1)
    assert len(rounds) == done
