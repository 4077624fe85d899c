"""The SQLite implementation of :class:`~server.storage.base.Storage` (aiosqlite).

One piece past 600 lines because it is one class, the whole ``Storage`` interface over
one writer lock and its connections: what remains is each method's SQL and
transaction, the rules they apply being ``_rules.py``'s and the schema
``_sqlite_schema.py``'s.

One file, ``hearth.db``, in WAL mode with ``synchronous=FULL``: a transaction that
committed survives a crash or power loss, which is what lets the relay acknowledge
a message right after the commit. Two connections: one writer, behind an
``asyncio.Lock`` so that the statements of one transaction never interleave with
another's (aiosqlite runs every call of a connection on one thread, in order, but
coroutines could otherwise interleave statements), and one reader, which WAL lets
run beside the writer.

Attachments live in the same database rather than in files: they are small (the
operator caps them), they are then covered by the same online backup and the same
transactions (deleting a key's data drops its blobs atomically), and there is no
second store to keep consistent.

Pending auth challenges stay in this process's memory: a SQLite relay is one
process, and a challenge is worthless after a restart anyway. So does presence
(which keys hold a live stream, for push): it describes this process's sockets.

Schema versions are ``PRAGMA user_version``; ``_sqlite_schema.MIGRATIONS`` lists every step,
each run in its own transaction together with the version bump. Every sqlite3 error
becomes :class:`~server.errors.StorageError`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, final

import aiosqlite

from protocol.api import (
    ErasedEvent,
    LogEvent,
    MessageEvent,
    RoomEvent,
    TombstoneEvent,
)
from protocol.encoding import canonical
from protocol.ids import ROOM_ID_CHARS, MemberId, MessageId, RoomId
from protocol.messages import DeleteRequest, Envelope, EraseRequest
from protocol.ops import Policy, Role, SignedOp
from server.errors import RelayError, StorageError
from server.repeats import Repeats
from server.storage import _rules as rules
from server.storage._sqlite_schema import MIGRATIONS as _MIGRATIONS
from server.storage.base import (
    ChallengeRecord,
    MessageRecord,
    PersonalRecord,
    PushTarget,
    RoomInfo,
    Storage,
    day_floor,
    refuse_old_rooms,
)

__all__ = ["SCHEMA_VERSION", "SqliteStorage"]

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this code writes (``PRAGMA user_version``)."""

_OLD_ROOMS: Final = "SELECT count(*) FROM rooms WHERE length(id) <> ?"
"""Rooms whose id is not a version-2 room id (protocol version 1's were 22 characters)."""

_PRAGMAS: Final = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)

_log = logging.getLogger("hearth.storage")

_WRITER_PRAGMAS: Final = (
    # Checkpoints run on a connection and thread of their own (_checkpoints), not
    # inside the commit that crosses the threshold: a commit that also copies the
    # WAL into the database and syncs it took 6-8 ms instead of 0.2. The writers
    # keep a far threshold as a backstop, should the checkpointer fall behind.
    "PRAGMA wal_autocheckpoint = 16384",
)
CHECKPOINT_INTERVAL: Final = 1.0
"""Seconds between the background checkpoints of the WAL into the database."""

_MAX_CHALLENGES: Final = 100_000


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    """Turn every sqlite3 error raised inside into StorageError."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as exc:
        cause = _cause(exc)
        raise StorageError(f"{what} failed: {cause}", cause=cause) from exc
    except ValueError as exc:  # aiosqlite: "Connection closed" under a call in flight
        raise StorageError(f"{what} failed: the database is closed", closed=True) from exc


_CAUSES: Final = {
    "SQLITE_FULL": "no space left on device",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_CORRUPT": "the database file is corrupt",
    "SQLITE_CANTOPEN": "cannot open the database file",
    "SQLITE_NOTADB": "the file is not a database",
    "SQLITE_BUSY": "the database is locked",
    "SQLITE_LOCKED": "the database is locked",
    "SQLITE_IOERR": "an I/O error",
    "SQLITE_PERM": "permission denied",
}
"""What an operator reads for SQLite's primary result codes (the extended name follows)."""


def _cause(exc: sqlite3.Error) -> str:
    """The cause of a SQLite error in words, with SQLite's name for it (no statement data)."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    primary = "_".join(name.split("_")[:2])
    words = _CAUSES.get(primary)
    if words is None:
        return f"{type(exc).__name__} ({name or 'no code'})"
    return f"{words} ({name})"


@final
class SqliteStorage(Storage):
    """Hearth's storage in one SQLite file."""

    group_commit = True

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        # Reads are serial on the reader's thread anyway; the lock lets close() wait
        # for the one in flight (aiosqlite never resolves a call queued behind close).
        self._read_lock = asyncio.Lock()
        self._closed = False
        self._batch_thread: ThreadPoolExecutor | None = None
        self._batch_conn: sqlite3.Connection | None = None
        self._checkpoint_thread: ThreadPoolExecutor | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._challenges: dict[bytes, ChallengeRecord] = {}
        self._presence: dict[tuple[MemberId, str], int] = {}
        self._probes = 0
        self._checkpoint_trouble = Repeats(_log, "WAL checkpoint failing", level=logging.WARNING)

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self._path.parent}: {exc.strerror}") from exc
        async with _translated("opening the database"):
            self._writer = await self._connect(_WRITER_PRAGMAS)
            try:
                await self._migrate(self._writer)
            except BaseException:
                await self._writer.close()
                self._writer = None
                raise
            self._reader = await self._connect()
        self._batch_thread = ThreadPoolExecutor(1, thread_name_prefix="hearth-sqlite-batch")
        self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="hearth-checkpoint")
        loop = asyncio.get_running_loop()
        async with _translated("opening the database"):
            self._batch_conn = await loop.run_in_executor(
                self._batch_thread, _connect_on_thread, self._path
            )
            self._checkpoint_conn = await loop.run_in_executor(
                self._checkpoint_thread, _connect_on_thread, self._path
            )
        self._checkpointer = asyncio.create_task(self._checkpoints(), name="hearth-checkpoints")

    async def _checkpoints(self) -> None:
        """Copy the WAL into the database every second, beside the writers (PASSIVE)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            conn, thread = self._checkpoint_conn, self._checkpoint_thread
            if conn is None or thread is None:
                return
            try:
                await loop.run_in_executor(thread, _checkpoint, conn)
            except sqlite3.Error as exc:
                # Busy or failing now: the next round, or the writers' backstop, retries.
                # Said once per cause and then once a minute, not every second.
                self._checkpoint_trouble.failed(f"{_cause(exc)} at {self._path}")
            else:
                self._checkpoint_trouble.ok()

    async def _connect(self, extra: Iterable[str] = ()) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        for pragma in (*_PRAGMAS, *extra):
            await conn.execute(pragma)
        return conn

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        version = await self._scalar(conn, "PRAGMA user_version")
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the database has schema {version}, newer than this relay's {SCHEMA_VERSION}:"
                " upgrade Hearth"
            )
        if version > 0:  # before any migration: a refused directory is left as it was
            refuse_old_rooms(await self._scalar(conn, _OLD_ROOMS, (ROOM_ID_CHARS,)))
        for number, statements in enumerate(_MIGRATIONS[version:], start=version + 1):
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {number}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        # Taking the locks waits for the transaction in flight to commit.
        async with self._write_lock, self._read_lock:
            self._closed = True
            for conn in (self._reader, self._writer):
                if conn is not None:
                    async with _translated("closing the database"):
                        await conn.close()
            self._reader = self._writer = None
            if self._checkpointer is not None:
                # asyncio.wait, not ``suppress(CancelledError)``: a close that is
                # itself cancelled must not swallow its own cancellation.
                self._checkpointer.cancel()
                await asyncio.wait([self._checkpointer])
                self._checkpointer = None
            await _close_on_thread(self._checkpoint_thread, self._checkpoint_conn)
            await _close_on_thread(self._batch_thread, self._batch_conn)
            self._checkpoint_thread = self._batch_thread = None
            self._checkpoint_conn = self._batch_conn = None

    async def ping(self) -> None:
        await self._read_scalar("SELECT 1")

    async def probe_write(self) -> None:
        self._probes += 1
        async with self._transaction("a write probe") as conn:
            # Two values in turn, so that every probe changes a page.
            await conn.execute(
                "INSERT INTO secrets (name, value) VALUES ('probe', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (bytes([self._probes % 2]),),
            )

    @property
    def location(self) -> str:
        return f"SQLite {self._path}"

    async def pragmas(self) -> dict[str, Any]:
        """The durability settings the writers run with (for tests and diagnostics).

        ``synchronous`` is the weakest of the two connections that commit: the
        writer's (log operations and the rest) and the batch connection's (messages).
        """
        async with self._write_lock, _translated("reading pragmas"):
            conn = self._conn(self._writer)
            found = {
                name: await self._scalar(conn, f"PRAGMA {name}")
                for name in ("journal_mode", "synchronous", "foreign_keys", "user_version")
            }
            batch, thread = self._batch_conn, self._batch_thread
            if batch is not None and thread is not None:
                level = await asyncio.get_running_loop().run_in_executor(
                    thread, _synchronous, batch
                )
                found["synchronous"] = min(found["synchronous"], level)
            return found

    # -- plumbing ----------------------------------------------------------

    def _conn(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if self._closed:
            raise StorageError("the storage is closed", closed=True)
        if conn is None:
            raise StorageError("the storage is not open")
        return conn

    @staticmethod
    async def _scalar(conn: aiosqlite.Connection, sql: str, args: Iterable[Any] = ()) -> Any:
        async with conn.execute(sql, tuple(args)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._read_lock:
            conn = self._conn(self._reader)
            async with _translated("a read"):
                # One call to the database thread (execute, fetch and close in one).
                return list(await conn.execute_fetchall(sql, tuple(args)))

    async def _read_scalar(self, sql: str, args: Iterable[Any] = ()) -> Any:
        rows = await self._read(sql, args)
        return rows[0][0] if rows else None

    @asynccontextmanager
    async def _transaction(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            conn = self._conn(self._writer)
            with self._watching_write():
                async with _translated(what):
                    await conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn
                        await conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            await conn.execute("ROLLBACK")
                        raise

    @staticmethod
    async def _next_seq(
        conn: aiosqlite.Connection,
        room: RoomId,
        ts: int,
        log_index: int | None = None,
        *,
        frozen_ok: bool = False,
    ) -> tuple[int, int]:
        """Advance the room's counters inside the caller's transaction.

        ``frozen_ok``: the write only removes (a deletion, an erasure), so a frozen
        room takes it; otherwise a frozen room refuses it (the caller rolls back).
        """
        async with conn.execute(
            "UPDATE rooms SET last_seq = last_seq + 1, last_ts = max(last_ts, ?)"
            " WHERE id = ? RETURNING last_seq, last_ts, frozen_at",
            (ts, room),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise rules.room_not_found()
        if row[2] is not None and not frozen_ok:
            raise rules.room_frozen()
        if log_index is not None:
            current = await SqliteStorage._scalar(
                conn, "SELECT max(op_index) FROM events WHERE room = ? AND kind = 'log'", (room,)
            )
            rules.check_log_index(current, log_index)
        return int(row[0]), int(row[1])

    @staticmethod
    async def _set_members(
        conn: aiosqlite.Connection, room: RoomId, members: Mapping[MemberId, Role]
    ) -> None:
        await conn.execute("DELETE FROM members WHERE room = ?", (room,))
        await conn.executemany(
            "INSERT INTO members (room, member, role) VALUES (?, ?, ?)",
            [(room, m, r) for m, r in sorted(members.items())],
        )

    # -- rooms and logs ----------------------------------------------------

    async def create_room(
        self,
        op: SignedOp,
        *,
        ts: int,
        retention_days: int | None,
        members: Mapping[MemberId, Role],
    ) -> LogEvent:
        room = op.content.room
        try:
            async with self._transaction("creating a room") as conn:
                await conn.execute(
                    "INSERT INTO rooms (id, created_at, last_seq, last_ts, retention_days)"
                    " VALUES (?, ?, 0, ?, ?)",
                    (room, ts, ts, retention_days),
                )
                event = await self._insert_op(conn, room, op, ts)
                await self._set_members(conn, room, members)
        except sqlite3.IntegrityError as exc:
            raise rules.room_taken() from exc
        return event

    async def _insert_op(
        self, conn: aiosqlite.Connection, room: RoomId, op: SignedOp, ts: int
    ) -> LogEvent:
        seq, ts = await self._next_seq(conn, room, ts, frozen_ok=rules.only_removes(op))
        await conn.execute(
            "INSERT INTO events (room, seq, ts, kind, op_index, sender, data)"
            " VALUES (?, ?, ?, 'log', ?, ?, ?)",
            (room, seq, ts, op.content.index, op.content.author, canonical(op)),
        )
        return LogEvent(seq=seq, ts=ts, op=op)

    async def append_op(
        self,
        room: RoomId,
        op: SignedOp,
        *,
        ts: int,
        members: Mapping[MemberId, Role],
        policy: Policy | None = None,
    ) -> LogEvent:
        try:
            async with self._transaction("appending an operation") as conn:
                event = await self._insert_op(conn, room, op, ts)
                await self._set_members(conn, room, members)
                if policy is not None:
                    await conn.execute(
                        "UPDATE rooms SET retention_days = ? WHERE id = ?",
                        (policy.retention_days, room),
                    )
        except sqlite3.IntegrityError as exc:
            raise rules.op_index_taken() from exc
        return event

    async def load_ops(self, room: RoomId) -> list[SignedOp]:
        rows = await self._read(
            "SELECT data FROM events WHERE room = ? AND kind = 'log' ORDER BY op_index", (room,)
        )
        return [rules.decode(row[0], SignedOp) for row in rows]

    async def op_seqs(self, room: RoomId, indexes: Sequence[int]) -> dict[int, int]:
        if not indexes:
            return {}
        marks = ",".join("?" * len(indexes))
        rows = await self._read(
            f"SELECT op_index, seq FROM events WHERE room = ? AND kind = 'log'"  # noqa: S608
            f" AND op_index IN ({marks})",
            (room, *indexes),
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def room_info(self, room: RoomId) -> RoomInfo | None:
        rows = await self._read(
            "SELECT last_seq, low_water, retention_days FROM rooms WHERE id = ?", (room,)
        )
        if not rows:
            return None
        last_seq, low_water, days = rows[0]
        return RoomInfo(room=room, last_seq=last_seq, low_water=low_water, retention_days=days)

    async def rooms_of(self, member: MemberId) -> list[RoomId]:
        rows = await self._read(
            "SELECT room FROM members WHERE member = ? ORDER BY room", (member,)
        )
        return [RoomId(r[0]) for r in rows]

    async def set_frozen(self, room: RoomId, at: int | None) -> bool:
        async with self._transaction("freezing a room") as conn:
            found = await self._scalar(
                conn, "UPDATE rooms SET frozen_at = ? WHERE id = ? RETURNING id", (at, room)
            )
        return found is not None

    async def retention_rooms(self) -> list[tuple[RoomId, int]]:
        rows = await self._read(
            "SELECT id, retention_days FROM rooms WHERE retention_days IS NOT NULL ORDER BY id"
        )
        return [(RoomId(r[0]), int(r[1])) for r in rows]

    # -- messages and events -----------------------------------------------

    async def find_message(self, room: RoomId, message: MessageId) -> MessageRecord | None:
        rows = await self._read(
            "SELECT seq, ts, sender, digest, ref FROM events"
            " WHERE room = ? AND kind = 'msg' AND msg_id = ?",
            (room, message),
        )
        return rules.message_record(*rows[0]) if rows else None

    async def add_messages(
        self, batch: Sequence[tuple[Envelope, bytes, int | None]], *, ts: int
    ) -> list[MessageEvent | MessageRecord | RelayError]:
        # The whole transaction is one call to its own thread and connection: every
        # call to aiosqlite's thread is a hand-off there and back (two thread wake-ups
        # and a turn for the GIL), and a transaction of five statements paid five.
        async with self._write_lock:
            conn = self._batch_conn
            if self._closed or conn is None or self._batch_thread is None:
                raise StorageError(
                    "the storage is closed" if self._closed else "the storage is not open",
                    closed=self._closed,
                )
            try:
                with self._watching_write():
                    async with _translated("storing messages"):
                        return await asyncio.get_running_loop().run_in_executor(
                            self._batch_thread, _store_messages, conn, batch, ts
                        )
            except sqlite3.IntegrityError as exc:  # the lookup in _store_messages rules it out
                raise StorageError("storing messages failed: IntegrityError") from exc

    async def add_message(
        self, envelope: Envelope, *, ts: int, digest: bytes, log_index: int | None = None
    ) -> MessageEvent:
        header = envelope.header
        try:
            async with self._transaction("storing a message") as conn:
                seq, ts = await self._next_seq(conn, header.room, ts, log_index)
                await conn.execute(
                    "INSERT INTO events (room, seq, ts, kind, msg_id, sender, digest, data)"
                    " VALUES (?, ?, ?, 'msg', ?, ?, ?, ?)",
                    (header.room, seq, ts, header.id, header.sender, digest, canonical(envelope)),
                )
        except sqlite3.IntegrityError as exc:
            raise rules.message_taken() from exc
        return MessageEvent(seq=seq, ts=ts, envelope=envelope)

    async def delete_message(
        self, room: RoomId, request: DeleteRequest, *, ts: int, log_index: int | None = None
    ) -> TombstoneEvent:
        target = request.content.target
        async with self._transaction("deleting a message") as conn:
            async with conn.execute(
                "SELECT seq FROM events WHERE room = ? AND kind = 'msg' AND msg_id = ?"
                " AND ref IS NULL",
                (room, target),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise rules.message_not_found()
            seq, ts = await self._next_seq(conn, room, ts, log_index, frozen_ok=True)
            await conn.execute(
                "INSERT INTO events (room, seq, ts, kind, msg_id, sender, data, ref)"
                " VALUES (?, ?, ?, 'tombstone', ?, ?, ?, ?)",
                (room, seq, ts, target, request.content.author, canonical(request), row[0]),
            )
            await conn.execute(
                "UPDATE events SET data = NULL, ref = ? WHERE room = ? AND seq = ?",
                (seq, room, row[0]),
            )
        return TombstoneEvent(seq=seq, ts=ts, target=target, request=request)

    async def tombstone_at(self, room: RoomId, seq: int) -> TombstoneEvent | None:
        rows = await self._read(
            f"SELECT {rules.EVENT_COLUMNS} FROM events"  # noqa: S608
            " WHERE room = ? AND seq = ? AND kind = 'tombstone'",
            (room, seq),
        )
        if not rows:
            return None
        event = rules.event(rows[0])
        return event if isinstance(event, TombstoneEvent) else None

    async def erase_member(
        self, room: RoomId, member: MemberId, *, ts: int, request: EraseRequest | None = None
    ) -> tuple[ErasedEvent, int] | None:
        async with self._transaction("erasing a member's messages") as conn:
            async with conn.execute(
                "SELECT count(*), max(seq) FROM events"
                " WHERE room = ? AND kind = 'msg' AND sender = ? AND ref IS NULL",
                (room, member),
            ) as cur:
                row = await cur.fetchone()
            count, last = (int(row[0]), row[1]) if row else (0, None)
            through = rules.erasure_span(count, last)
            if through is None:
                return None
            seq, ts = await self._next_seq(conn, room, ts, frozen_ok=True)
            await conn.execute(
                "INSERT INTO events (room, seq, ts, kind, sender, ref, data)"
                " VALUES (?, ?, ?, 'erased', ?, ?, ?)",
                (room, seq, ts, member, through, None if request is None else canonical(request)),
            )
            await conn.execute(
                "UPDATE events SET data = NULL, ref = ?"
                " WHERE room = ? AND kind = 'msg' AND sender = ? AND ref IS NULL AND seq < ?",
                (seq, room, member, seq),
            )
        erased = ErasedEvent(seq=seq, ts=ts, member=member, through=through, request=request)
        return erased, count

    async def message_rooms(self, member: MemberId) -> list[RoomId]:
        rows = await self._read(
            "SELECT DISTINCT room FROM events WHERE kind = 'msg' AND sender = ? AND ref IS NULL"
            " ORDER BY room",
            (member,),
        )
        return [RoomId(r[0]) for r in rows]

    async def events_after(self, room: RoomId, after: int, limit: int) -> list[RoomEvent]:
        rows = await self._read(
            f"SELECT {rules.EVENT_COLUMNS} FROM events"  # noqa: S608
            " WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room, after, limit),
        )
        return [rules.event(row) for row in rows]

    async def events_before(self, room: RoomId, before: int, limit: int) -> list[RoomEvent]:
        rows = await self._read(
            f"SELECT {rules.EVENT_COLUMNS} FROM events"  # noqa: S608
            " WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (room, before, limit),
        )
        return [rules.event(row) for row in reversed(rows)]

    async def purge(self, room: RoomId, *, before_ts: int) -> int:
        async with self._transaction("purging expired events") as conn:
            first_young = await self._scalar(
                conn,
                "SELECT min(seq) FROM events WHERE room = ? AND kind != 'log' AND ts >= ?",
                (room, before_ts),
            )
            last_seq = await self._scalar(conn, "SELECT last_seq FROM rooms WHERE id = ?", (room,))
            if last_seq is None:
                return 0
            low = await self._scalar(conn, "SELECT low_water FROM rooms WHERE id = ?", (room,))
            mark = rules.purge_mark(first_young, int(last_seq), int(low))
            if mark is None:
                return int(low)
            await conn.execute(
                "DELETE FROM events WHERE room = ? AND kind != 'log' AND seq <= ?", (room, mark)
            )
            await conn.execute("UPDATE rooms SET low_water = ? WHERE id = ?", (mark, room))
        return mark

    # -- sessions ----------------------------------------------------------

    async def token_secret(self, fresh: bytes) -> bytes:
        return await self._secret("token", fresh)

    async def vapid_secret(self, fresh: bytes) -> bytes:
        return await self._secret("vapid", fresh)

    async def _secret(self, name: str, fresh: bytes) -> bytes:
        async with self._transaction(f"storing the {name} secret") as conn:
            await conn.execute(
                "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, fresh),
            )
            rows = list(
                await conn.execute_fetchall("SELECT value FROM secrets WHERE name = ?", (name,))
            )
        return bytes(rows[0][0])

    async def revoke_tokens(self, member: MemberId, *, until: int) -> None:
        async with self._transaction("revoking tokens") as conn:
            await conn.execute(
                "INSERT INTO revoked (member, until) VALUES (?, ?)"
                " ON CONFLICT (member) DO UPDATE SET until = max(until, excluded.until)",
                (member, until),
            )

    async def revoked_until(self, member: MemberId) -> int | None:
        rows = await self._read("SELECT until FROM revoked WHERE member = ?", (member,))
        return int(rows[0][0]) if rows else None

    async def purge_sessions(self, *, now: int) -> int:
        async with self._transaction("purging revocations") as conn:
            cur = await conn.execute("DELETE FROM revoked WHERE until < ?", (now,))
            return int(cur.rowcount)

    # -- challenges --------------------------------------------------------

    async def put_challenge(self, challenge: bytes, record: ChallengeRecord, *, now: int) -> None:
        if len(self._challenges) >= _MAX_CHALLENGES:
            for old in [c for c, r in self._challenges.items() if r.expires_at < now]:
                del self._challenges[old]
            if len(self._challenges) >= _MAX_CHALLENGES:
                wait = max(1, (min(r.expires_at for r in self._challenges.values()) - now) // 1000)
                raise RelayError(
                    "too many pending challenges",
                    code="rate.limited",
                    detail={"reason": "auth", "retry_after": wait},
                    retry_after=wait,
                )
        self._challenges[challenge] = record

    async def take_challenge(self, challenge: bytes) -> ChallengeRecord | None:
        return self._challenges.pop(challenge, None)

    # -- blobs -------------------------------------------------------------

    async def put_blob(
        self, room: RoomId, blob: str, *, owner: MemberId, data: bytes, ts: int
    ) -> None:
        async with self._transaction("storing a blob") as conn:
            await conn.execute(
                "INSERT INTO blobs (room, id, owner, size, created_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (room, blob, owner, len(data), ts, data),
            )

    async def get_blob(self, room: RoomId, blob: str) -> bytes | None:
        data = await self._read_scalar(
            "SELECT data FROM blobs WHERE room = ? AND id = ?", (room, blob)
        )
        return bytes(data) if data is not None else None

    async def purge_blobs(self, room: RoomId, *, before_ts: int) -> int:
        async with self._transaction("purging blobs") as conn:
            cur = await conn.execute(
                "DELETE FROM blobs WHERE room = ? AND created_at < ?", (room, before_ts)
            )
            return int(cur.rowcount)

    # -- linking devices ---------------------------------------------------

    async def put_link(
        self,
        link: str,
        *,
        owner: MemberId,
        data: bytes,
        now: int,
        expires_at: int,
        max_pending: int,
    ) -> None:
        try:
            async with self._transaction("storing a link offer") as conn:
                # Expired offers lose their ciphertext here too, not only at retention.
                await conn.execute(
                    "UPDATE link_offers SET data = NULL WHERE expires_at <= ? AND data IS NOT NULL",
                    (now,),
                )
                pending = await self._scalar(
                    conn,
                    "SELECT count(*) FROM link_offers"
                    " WHERE owner = ? AND data IS NOT NULL AND expires_at > ?",
                    (owner, now),
                )
                rules.check_link_pending(int(pending), max_pending)
                await conn.execute(
                    "INSERT INTO link_offers (id, owner, created_at, expires_at, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (link, owner, now, expires_at, data),
                )
        except sqlite3.IntegrityError as exc:
            raise rules.link_exists() from exc

    async def claim_link(self, link: str, *, now: int) -> bytes:
        async with self._transaction("claiming a link offer") as conn:
            async with conn.execute(
                "SELECT expires_at, claimed_at, data FROM link_offers WHERE id = ?", (link,)
            ) as cur:
                row = await cur.fetchone()
            offer = None if row is None else (int(row[0]), row[1], row[2])
            data = rules.claim_outcome(offer, now)
            if data is None:
                await conn.execute("UPDATE link_offers SET data = NULL WHERE id = ?", (link,))
            else:
                await conn.execute(
                    "UPDATE link_offers SET data = NULL, claimed_at = ? WHERE id = ?", (now, link)
                )
        if data is None:
            # Refused after the commit: raising inside would roll the erasure back.
            raise rules.link_expired()
        return data

    async def purge_links(self, *, now: int, keep_ms: int) -> int:
        async with self._transaction("purging link offers") as conn:
            await conn.execute(
                "UPDATE link_offers SET data = NULL WHERE expires_at <= ? AND data IS NOT NULL",
                (now,),
            )
            cur = await conn.execute(
                "DELETE FROM link_offers WHERE expires_at <= ?", (now - keep_ms,)
            )
            return int(cur.rowcount)

    # -- personal stores ---------------------------------------------------

    async def personal_index(self, owner: MemberId) -> list[PersonalRecord]:
        rows = await self._read(
            "SELECT id, version, size FROM personal_docs WHERE owner = ? ORDER BY id", (owner,)
        )
        return [PersonalRecord(doc=r[0], version=int(r[1]), size=int(r[2])) for r in rows]

    async def get_personal(self, owner: MemberId, doc: str) -> PersonalRecord | None:
        rows = await self._read(
            "SELECT version, size, data FROM personal_docs WHERE owner = ? AND id = ?",
            (owner, doc),
        )
        if not rows:
            return None
        version, size, data = rows[0]
        return PersonalRecord(doc=doc, version=int(version), size=int(size), data=bytes(data))

    async def put_personal(
        self,
        owner: MemberId,
        doc: str,
        *,
        expected: int,
        data: bytes,
        now: int,
        max_docs: int,
        max_bytes: int,
    ) -> int:
        async with self._transaction("storing a personal document") as conn:
            async with conn.execute(
                "SELECT version, size FROM personal_docs WHERE owner = ? AND id = ?",
                (owner, doc),
            ) as cur:
                row = await cur.fetchone()
            async with conn.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM personal_docs WHERE owner = ?",
                (owner,),
            ) as cur:
                totals = await cur.fetchone()
            version = rules.personal_write(
                (int(row[0]), int(row[1])) if row else None,
                (int(totals[0]), int(totals[1])) if totals else (0, 0),
                expected=expected,
                size=len(data),
                max_docs=max_docs,
                max_bytes=max_bytes,
            )
            if row is None:
                await conn.execute(
                    "INSERT INTO personal_docs (owner, id, version, size, updated_at, data)"
                    " VALUES (?, ?, 1, ?, ?, ?)",
                    (owner, doc, len(data), day_floor(now), data),
                )
            else:
                await conn.execute(
                    "UPDATE personal_docs SET version = ?, size = ?, updated_at = ?, data = ?"
                    " WHERE owner = ? AND id = ?",
                    (version, len(data), day_floor(now), data, owner, doc),
                )
        return version

    # -- account -----------------------------------------------------------

    async def forget_member(self, member: MemberId) -> int:
        async with self._transaction("forgetting a key") as conn:
            await conn.execute("DELETE FROM push_endpoints WHERE member = ?", (member,))
            await conn.execute("DELETE FROM link_offers WHERE owner = ?", (member,))
            await conn.execute("DELETE FROM personal_docs WHERE owner = ?", (member,))
            cur = await conn.execute("DELETE FROM blobs WHERE owner = ?", (member,))
            return int(cur.rowcount)

    # -- push --------------------------------------------------------------

    async def put_push(
        self,
        member: MemberId,
        device: str,
        endpoint: str,
        *,
        ts: int,
        limit: int,
        web_push: bool = False,
    ) -> None:
        async with self._transaction("registering a push endpoint") as conn:
            rows = await conn.execute_fetchall(
                "SELECT count(*), coalesce(sum(device = ?), 0) FROM push_endpoints"
                " WHERE member = ?",
                (device, member),
            )
            count, mine = next(iter(rows))
            rules.check_push_limit(int(count), int(mine), limit)
            await conn.execute(
                "INSERT INTO push_endpoints (member, device, endpoint, created_at, web_push)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (member, device)"
                " DO UPDATE SET endpoint = excluded.endpoint, created_at = excluded.created_at,"
                " web_push = excluded.web_push",
                (member, device, endpoint, day_floor(ts), int(web_push)),
            )

    async def delete_push(self, member: MemberId, device: str) -> None:
        async with self._transaction("removing a push endpoint") as conn:
            await conn.execute(
                "DELETE FROM push_endpoints WHERE member = ? AND device = ?", (member, device)
            )

    async def push_targets(self, members: Sequence[MemberId]) -> list[PushTarget]:
        targets: list[PushTarget] = []
        unique = sorted(set(members))
        for start in range(0, len(unique), 500):  # SQLite binds at most 999 parameters
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._read(
                "SELECT member, device, endpoint, web_push FROM push_endpoints"  # noqa: S608
                f" WHERE member IN ({marks}) ORDER BY member, device",
                chunk,
            )
            targets.extend(PushTarget(MemberId(r[0]), r[1], r[2], bool(r[3])) for r in rows)
        return targets

    async def drop_push(self, endpoint: str, targets: Sequence[PushTarget]) -> int:
        dropped = 0
        async with self._transaction("dropping a push endpoint") as conn:
            for target in targets:
                cur = await conn.execute(
                    "DELETE FROM push_endpoints WHERE member = ? AND device = ? AND endpoint = ?",
                    (target.member, target.device, endpoint),
                )
                dropped += int(cur.rowcount)
        return dropped

    async def set_presence(
        self, instance: str, members: Sequence[MemberId], *, expires_at: int
    ) -> None:
        for member in members:
            self._presence[(member, instance)] = expires_at

    async def clear_presence(self, instance: str, members: Sequence[MemberId]) -> None:
        for member in members:
            self._presence.pop((member, instance), None)

    async def present(self, members: Sequence[MemberId], *, now: int) -> set[MemberId]:
        wanted = set(members)
        return {m for (m, _), until in self._presence.items() if m in wanted and until > now}


async def _close_on_thread(
    thread: ThreadPoolExecutor | None, conn: sqlite3.Connection | None
) -> None:
    """Close a connection on the thread that uses it, then let the thread go."""
    if thread is None:
        return
    if conn is not None:
        async with _translated("closing the database"):
            await asyncio.get_running_loop().run_in_executor(thread, conn.close)
    thread.shutdown(wait=False)


def _connect_on_thread(path: Path) -> sqlite3.Connection:
    """A connection of its own thread: message batches, or checkpoints."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (*_PRAGMAS, *_WRITER_PRAGMAS):
        conn.execute(pragma)
    return conn


def _synchronous(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _store_messages(
    conn: sqlite3.Connection, batch: Sequence[tuple[Envelope, bytes, int | None]], ts: int
) -> list[MessageEvent | MessageRecord | RelayError]:
    """Store a batch of checked messages in one transaction (on the batch thread)."""
    rooms: dict[RoomId, list[int]] = {}
    for i, (envelope, _, _) in enumerate(batch):
        rooms.setdefault(envelope.header.room, []).append(i)
    results: list[MessageEvent | MessageRecord | RelayError | None] = [None] * len(batch)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for room, indexes in rooms.items():
            _store_room_messages(conn, room, batch, indexes, ts=ts, results=results)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return [r for r in results if r is not None]


def _store_room_messages(
    conn: sqlite3.Connection,
    room: RoomId,
    batch: Sequence[tuple[Envelope, bytes, int | None]],
    indexes: list[int],
    *,
    ts: int,
    results: list[MessageEvent | MessageRecord | RelayError | None],
) -> None:
    if any(batch[i][2] is not None for i in indexes):
        current = conn.execute(
            "SELECT max(op_index) FROM events WHERE room = ? AND kind = 'log'", (room,)
        ).fetchone()[0]
        for i in indexes:
            if batch[i][2] is not None and batch[i][2] != current:
                results[i] = rules.log_moved_on()
    # INDEXED BY: with an IN list the planner would otherwise walk the whole room
    # by primary key, reading every stored message to find a few ids.
    ids = [batch[i][0].header.id for i in indexes]
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "SELECT msg_id, seq, ts, sender, digest, ref FROM events INDEXED BY events_msg"  # noqa: S608
        f" WHERE room = ? AND kind = 'msg' AND msg_id IN ({marks})",
        (room, *ids),
    ).fetchall()
    known: dict[str, MessageRecord] = {
        r[0]: MessageRecord(seq=r[1], ts=r[2], sender=MemberId(r[3]), digest=r[4], removed_by=r[5])
        for r in rows
    }
    fresh: list[int] = []
    first: dict[str, int] = {}
    for i in indexes:
        message_id = batch[i][0].header.id
        if message_id in known:
            results[i] = known[message_id]  # a retry: answered even if the log moved on
        elif results[i] is not None or message_id in first:
            continue  # refused above, or a second envelope under an id of this batch
        else:
            first[message_id] = i
            fresh.append(i)
    if fresh:
        counters = conn.execute(
            "UPDATE rooms SET last_seq = last_seq + ?, last_ts = max(last_ts, ?)"
            " WHERE id = ? AND frozen_at IS NULL RETURNING last_seq, last_ts",
            (len(fresh), ts, room),
        ).fetchall()
        if not counters:
            if conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room,)).fetchone() is None:
                raise rules.room_not_found()
            for i in indexes:  # frozen: the new ones are refused, retries still answered
                if results[i] is None:
                    results[i] = rules.room_frozen()
            return
        last_seq, event_ts = (int(v) for v in counters[0])
        seq = last_seq - len(fresh)
        rows_out = []
        for i in fresh:
            envelope, digest, _ = batch[i]
            header = envelope.header
            seq += 1
            results[i] = MessageEvent(seq=seq, ts=event_ts, envelope=envelope)
            rows_out.append(
                (room, seq, event_ts, header.id, header.sender, digest, canonical(envelope))
            )
        conn.executemany(
            "INSERT INTO events (room, seq, ts, kind, msg_id, sender, digest, data)"
            " VALUES (?, ?, ?, 'msg', ?, ?, ?, ?)",
            rows_out,
        )
    for i in indexes:
        if results[i] is None:
            stored = results[first[batch[i][0].header.id]]
            assert isinstance(stored, MessageEvent)
            header = stored.envelope.header
            results[i] = MessageRecord(
                seq=stored.seq,
                ts=stored.ts,
                sender=header.sender,
                digest=batch[first[header.id]][1],
                removed_by=None,
            )
