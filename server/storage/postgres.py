"""The PostgreSQL implementation of :class:`~server.storage.base.Storage` (asyncpg).

One piece past 600 lines because it is one class, the whole ``Storage`` interface over
one connection pool: what remains is each method's SQL and transaction, the rules
they apply being ``_rules.py``'s and the schema ``_pg_schema.py``'s.

For several relay instances over one database. The semantics are SQLite's exactly,
but they must now hold between processes, not only between coroutines:

- A room's ``seq`` comes from ``UPDATE rooms SET last_seq = last_seq + 1 ...
  RETURNING``, in the transaction that inserts the event. The update locks the room's
  row until commit, so writers to one room, on any instance, queue on that row: seqs
  stay contiguous (a rolled-back write gives its number back) and each room's writes
  are serialised. Every transaction that writes a room takes that row lock first, so
  no two of them wait on each other in opposite orders.
- Compare-and-swap on the log is the unique index on ``(room, op_index)``: a second
  operation at one index, from whichever instance, violates it and becomes
  ``log.conflict``. Idempotent sends are the unique ``(room, msg_id)``.
- ``log_index`` on a message or deletion is checked under the row lock: a write that
  an instance verified against a log another instance has since extended is refused
  with ``log.conflict``, and the relay reloads the log and verifies again.
- Presence (which instance holds a live stream of which key, for push) is an
  UNLOGGED table too, rows with an expiry that each instance renews.
- Pending auth challenges live in an UNLOGGED table, so a challenge issued by one
  instance is answered at another (no sticky sessions); UNLOGGED because they are
  worthless after a crash and need no write-ahead log or replica.

Schema versions are the one row of ``schema_version``; :data:`_MIGRATIONS` lists
every step, each applied in one transaction with the version bump, under an
advisory lock so that instances starting together migrate once. The tables live in
the connection's ``search_path`` (``?search_path=...`` in the URL picks a schema).

Every asyncpg error, and every network error under it, becomes
:class:`~server.errors.StorageError`; unique violations that mean a conflict become
the relay's ``log.conflict`` / ``msg.duplicate_id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias, final
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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
from server.storage import _rules as rules
from server.storage._pg_schema import MIGRATIONS as _MIGRATIONS
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

__all__ = ["PG_SCHEMA_VERSION", "PostgresStorage"]

PG_SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this code writes (the row of ``schema_version``)."""

_OLD_ROOMS: Final = "SELECT count(*) FROM rooms WHERE length(id) <> $1"
"""Rooms whose id is not a version-2 room id (protocol version 1's were 22 characters)."""

_Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

_MIGRATION_LOCK: Final = 0x4845_4152_5448  # "HEARTH": one advisory lock id for migrations
_COMMAND_TIMEOUT: Final = 30.0
_CHALLENGE_SWEEP_EVERY: Final = 256
"""Expired challenges are deleted on every this many new ones (and by retention)."""

# Which unique index a violation names decides what the relay answers.
_CONFLICTS: Final[Mapping[str, Callable[[], RelayError]]] = {
    "rooms_pkey": rules.room_taken,
    "events_op": rules.op_index_taken,
    "events_msg": rules.message_taken,
    "link_offers_pkey": rules.link_exists,
}

_CONNECTION_ERRORS: Final = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
    asyncpg.exceptions.InternalClientError,
)


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    """Turn every asyncpg and network error raised inside into the relay's errors."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        conflict = _CONFLICTS.get(exc.constraint_name or "")
        if conflict is None:
            raise StorageError(f"{what} failed: {type(exc).__name__}") from exc
        raise conflict() from exc
    except asyncpg.InterfaceError as exc:
        closed = "closed" in str(exc) or "closing" in str(exc)
        cause = _cause(exc)
        raise StorageError(f"{what} failed: {cause}", closed=closed, cause=cause) from exc
    except _CONNECTION_ERRORS as exc:
        # The type only: a server message may quote the values of the statement.
        cause = _cause(exc)
        raise StorageError(f"{what} failed: {cause}", cause=cause) from exc


def _cause(exc: BaseException) -> str:
    """The cause of a failure in words, with the exception's type (never its message)."""
    name = type(exc).__name__
    if isinstance(exc, asyncpg.DiskFullError):
        return f"no space left on device on the database server ({name})"
    if isinstance(exc, asyncpg.ConnectionDoesNotExistError):
        return f"the connection to the database was lost ({name})"
    if isinstance(exc, OSError | TimeoutError | asyncpg.CannotConnectNowError):
        return f"the database is unreachable ({name})"
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return f"the database is read-only ({name})"
    return name


def _count(status: str) -> int:
    """The row count of a command status such as ``DELETE 3``."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


@final
class PostgresStorage(Storage):
    """Hearth's storage in PostgreSQL, shared by any number of relay instances.

    Args:
        url: A ``postgresql://`` URL. Query parameters asyncpg does not know become
            server settings, e.g. ``?search_path=hearth``.
        pool_size: Connections this instance keeps at most.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self._url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._closed = False
        self._challenges_added = 0
        self._probes = 0

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        async with _translated("connecting to PostgreSQL"):
            pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=_COMMAND_TIMEOUT,
                # Pinned per connection, whatever the database's default: the relay
                # acknowledges a write once its COMMIT returned, which means "on
                # disk" only with synchronous_commit on (off is a common speed knob).
                server_settings={"application_name": "hearth", "synchronous_commit": "on"},
            )
        try:
            # Before any migration: a refused database is left as it was.
            async with _translated("checking the rooms' protocol version"):
                if await pool.fetchval("SELECT to_regclass('rooms') IS NOT NULL"):
                    refuse_old_rooms(await pool.fetchval(_OLD_ROOMS, ROOM_ID_CHARS))
            await self._migrate(pool)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def _migrate(self, pool: asyncpg.Pool) -> None:
        async with _translated("migrating the schema"), pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
                    )
                    version = int(
                        await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
                    )
                    if version > PG_SCHEMA_VERSION:
                        raise StorageError(
                            f"the database has schema {version}, newer than this relay's"
                            f" {PG_SCHEMA_VERSION}: upgrade Hearth"
                        )
                    if version == PG_SCHEMA_VERSION:
                        return
                    for statement in _MIGRATIONS[version]:
                        await conn.execute(statement)
                    await conn.execute("DELETE FROM schema_version")
                    await conn.execute(
                        "INSERT INTO schema_version (version) VALUES ($1)", version + 1
                    )

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            # Waits for every connection to be released: the write in flight commits.
            async with _translated("closing the database"):
                await pool.close()

    async def ping(self) -> None:
        await self._fetchval("SELECT 1")

    async def probe_write(self) -> None:
        self._probes += 1
        async with self._transaction("a write probe") as conn:
            # Two values in turn, so that every probe changes the row.
            await conn.execute(
                "INSERT INTO secrets (name, value) VALUES ('probe', $1)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                bytes([self._probes % 2]),
            )

    @property
    def location(self) -> str:
        parts = urlsplit(self._url)
        return f"PostgreSQL {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"

    async def durability(self) -> dict[str, str]:
        """``synchronous_commit`` and ``fsync`` as the relay's connections see them.

        Both ``on`` is what makes an acknowledgement mean "on disk": a commit
        returns only after its WAL record was flushed (docs/operator.md).
        """
        async with (
            _translated("reading the durability settings"),
            self._live_pool().acquire() as conn,
        ):
            return {
                name: str(await conn.fetchval(f"SHOW {name}"))
                for name in ("synchronous_commit", "fsync")
            }

    async def schema_version(self) -> int:
        """The schema version the database is at (for tests and diagnostics)."""
        return int(await self._fetchval("SELECT max(version) FROM schema_version"))

    # -- plumbing ----------------------------------------------------------

    def _live_pool(self) -> asyncpg.Pool:
        if self._closed:
            raise StorageError("the storage is closed", closed=True)
        if self._pool is None:
            raise StorageError("the storage is not open")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with _translated("a read"):
            return list(await self._live_pool().fetch(sql, *args))

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with _translated("a read"):
            return await self._live_pool().fetchval(sql, *args)

    @asynccontextmanager
    async def _transaction(self, what: str) -> AsyncIterator[_Conn]:
        pool = self._live_pool()
        with self._watching_write():
            async with _translated(what), pool.acquire() as conn, conn.transaction():
                yield conn

    @staticmethod
    async def _next_seq(
        conn: _Conn,
        room: RoomId,
        ts: int,
        log_index: int | None = None,
        *,
        op_index: int | None = None,
        frozen_ok: bool = False,
    ) -> tuple[int, int]:
        """Advance the room's counters, locking its row until the caller commits.

        ``op_index``: the event is that log operation (the room's log now ends there).
        ``frozen_ok``: the write only removes (a deletion, an erasure), so a frozen
        room takes it; otherwise a frozen room refuses it (the transaction rolls back).
        """
        row = await conn.fetchrow(
            "UPDATE rooms SET last_seq = last_seq + 1, last_ts = greatest(last_ts, $2),"
            " log_index = coalesce($3, log_index) WHERE id = $1"
            " RETURNING last_seq, last_ts, log_index, frozen_at",
            room,
            ts,
            op_index,
        )
        if row is None:
            raise rules.room_not_found()
        if row[3] is not None and not frozen_ok:
            raise rules.room_frozen()
        # RETURNING reads the row version this statement locked: no other instance
        # can append an operation to the room until the caller commits.
        rules.check_log_index(row[2], log_index)
        return int(row[0]), int(row[1])

    @staticmethod
    async def _set_members(conn: _Conn, room: RoomId, members: Mapping[MemberId, Role]) -> None:
        await conn.execute("DELETE FROM members WHERE room = $1", room)
        await conn.executemany(
            "INSERT INTO members (room, member, role) VALUES ($1, $2, $3)",
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
        async with self._transaction("creating a room") as conn:
            await conn.execute(
                "INSERT INTO rooms (id, created_at, last_seq, last_ts, retention_days)"
                " VALUES ($1, $2, 0, $2, $3)",
                room,
                ts,
                retention_days,
            )
            event = await self._insert_op(conn, room, op, ts)
            await self._set_members(conn, room, members)
        return event

    async def _insert_op(self, conn: _Conn, room: RoomId, op: SignedOp, ts: int) -> LogEvent:
        seq, ts = await self._next_seq(
            conn, room, ts, op_index=op.content.index, frozen_ok=rules.only_removes(op)
        )
        await conn.execute(
            "INSERT INTO events (room, seq, ts, kind, op_index, sender, data)"
            " VALUES ($1, $2, $3, 'log', $4, $5, $6)",
            room,
            seq,
            ts,
            op.content.index,
            op.content.author,
            canonical(op),
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
        async with self._transaction("appending an operation") as conn:
            event = await self._insert_op(conn, room, op, ts)
            await self._set_members(conn, room, members)
            if policy is not None:
                await conn.execute(
                    "UPDATE rooms SET retention_days = $1 WHERE id = $2",
                    policy.retention_days,
                    room,
                )
        return event

    async def load_ops(self, room: RoomId) -> list[SignedOp]:
        rows = await self._fetch(
            "SELECT data FROM events WHERE room = $1 AND kind = 'log' ORDER BY op_index", room
        )
        return [rules.decode(row[0], SignedOp) for row in rows]

    async def op_seqs(self, room: RoomId, indexes: Sequence[int]) -> dict[int, int]:
        if not indexes:
            return {}
        rows = await self._fetch(
            "SELECT op_index, seq FROM events WHERE room = $1 AND kind = 'log'"
            " AND op_index = ANY($2::integer[])",
            room,
            list(indexes),
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def room_info(self, room: RoomId) -> RoomInfo | None:
        rows = await self._fetch(
            "SELECT last_seq, low_water, retention_days FROM rooms WHERE id = $1", room
        )
        if not rows:
            return None
        last_seq, low_water, days = rows[0]
        return RoomInfo(
            room=room, last_seq=int(last_seq), low_water=int(low_water), retention_days=days
        )

    async def rooms_of(self, member: MemberId) -> list[RoomId]:
        rows = await self._fetch("SELECT room FROM members WHERE member = $1 ORDER BY room", member)
        return [RoomId(r[0]) for r in rows]

    async def set_frozen(self, room: RoomId, at: int | None) -> bool:
        found = await self._fetchval(
            "UPDATE rooms SET frozen_at = $2 WHERE id = $1 RETURNING id", room, at
        )
        return found is not None

    async def retention_rooms(self) -> list[tuple[RoomId, int]]:
        rows = await self._fetch(
            "SELECT id, retention_days FROM rooms WHERE retention_days IS NOT NULL ORDER BY id"
        )
        return [(RoomId(r[0]), int(r[1])) for r in rows]

    # -- messages and events -----------------------------------------------

    async def find_message(self, room: RoomId, message: MessageId) -> MessageRecord | None:
        rows = await self._fetch(
            "SELECT seq, ts, sender, digest, ref FROM events"
            " WHERE room = $1 AND kind = 'msg' AND msg_id = $2",
            room,
            message,
        )
        return rules.message_record(*rows[0]) if rows else None

    async def _store_message(
        self, envelope: Envelope, ts: int, digest: bytes, log_index: int | None
    ) -> asyncpg.Record | None:
        header = envelope.header
        async with _translated("storing a message"):
            return await self._live_pool().fetchrow(
                "WITH next AS ("
                " UPDATE rooms SET last_seq = last_seq + 1, last_ts = greatest(last_ts, $2)"
                " WHERE id = $1 AND ($7::integer IS NULL OR log_index = $7)"
                " AND frozen_at IS NULL"
                " RETURNING last_seq, last_ts)"
                " INSERT INTO events (room, seq, ts, kind, msg_id, sender, digest, data)"
                " SELECT $1, last_seq, last_ts, 'msg', $3, $4, $5, $6 FROM next"
                " RETURNING seq, ts",
                header.room,
                ts,
                header.id,
                header.sender,
                digest,
                canonical(envelope),
                log_index,
            )

    async def add_message(
        self, envelope: Envelope, *, ts: int, digest: bytes, log_index: int | None = None
    ) -> MessageEvent:
        # The hot path, so one statement (one round trip, its own transaction): lock
        # the room's row and take the next seq only while the log still ends at
        # ``log_index``, and insert the event with that seq. A refused row changes
        # nothing, so no seq is lost; what refused it is looked up only then.
        header = envelope.header
        with self._watching_write():
            row = await self._store_message(envelope, ts, digest, log_index)
        if row is None:
            found = await self._fetch("SELECT frozen_at FROM rooms WHERE id = $1", header.room)
            if not found:
                raise rules.room_not_found()
            if found[0][0] is not None:
                raise rules.room_frozen()
            raise rules.log_moved_on()
        return MessageEvent(seq=int(row[0]), ts=int(row[1]), envelope=envelope)

    async def delete_message(
        self, room: RoomId, request: DeleteRequest, *, ts: int, log_index: int | None = None
    ) -> TombstoneEvent:
        target = request.content.target
        async with self._transaction("deleting a message") as conn:
            # The row lock first, then the target: a concurrent deletion of the same
            # message on another instance waits here and then finds it deleted.
            seq, ts = await self._next_seq(conn, room, ts, log_index, frozen_ok=True)
            victim = await conn.fetchval(
                "SELECT seq FROM events WHERE room = $1 AND kind = 'msg' AND msg_id = $2"
                " AND ref IS NULL",
                room,
                target,
            )
            if victim is None:
                raise rules.message_not_found()
            await conn.execute(
                "INSERT INTO events (room, seq, ts, kind, msg_id, sender, data, ref)"
                " VALUES ($1, $2, $3, 'tombstone', $4, $5, $6, $7)",
                room,
                seq,
                ts,
                target,
                request.content.author,
                canonical(request),
                victim,
            )
            await conn.execute(
                "UPDATE events SET data = NULL, ref = $1 WHERE room = $2 AND seq = $3",
                seq,
                room,
                victim,
            )
        return TombstoneEvent(seq=seq, ts=ts, target=target, request=request)

    async def tombstone_at(self, room: RoomId, seq: int) -> TombstoneEvent | None:
        rows = await self._fetch(
            f"SELECT {rules.EVENT_COLUMNS} FROM events"  # noqa: S608
            " WHERE room = $1 AND seq = $2 AND kind = 'tombstone'",
            room,
            seq,
        )
        if not rows:
            return None
        event = rules.event(rows[0])
        return event if isinstance(event, TombstoneEvent) else None

    async def erase_member(
        self, room: RoomId, member: MemberId, *, ts: int, request: EraseRequest | None = None
    ) -> tuple[ErasedEvent, int] | None:
        async with self._transaction("erasing a member's messages") as conn:
            await conn.execute("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", room)
            row = await conn.fetchrow(
                "SELECT count(*), max(seq) FROM events"
                " WHERE room = $1 AND kind = 'msg' AND sender = $2 AND ref IS NULL",
                room,
                member,
            )
            count, last = (int(row[0]), row[1]) if row else (0, None)
            through = rules.erasure_span(count, last)
            if through is None:
                return None
            seq, ts = await self._next_seq(conn, room, ts, frozen_ok=True)
            await conn.execute(
                "INSERT INTO events (room, seq, ts, kind, sender, ref, data)"
                " VALUES ($1, $2, $3, 'erased', $4, $5, $6)",
                room,
                seq,
                ts,
                member,
                through,
                None if request is None else canonical(request),
            )
            await conn.execute(
                "UPDATE events SET data = NULL, ref = $1 WHERE room = $2 AND kind = 'msg'"
                " AND sender = $3 AND ref IS NULL AND seq < $1",
                seq,
                room,
                member,
            )
        erased = ErasedEvent(seq=seq, ts=ts, member=member, through=through, request=request)
        return erased, count

    async def message_rooms(self, member: MemberId) -> list[RoomId]:
        rows = await self._fetch(
            "SELECT DISTINCT room FROM events WHERE kind = 'msg' AND sender = $1 AND ref IS NULL"
            " ORDER BY room",
            member,
        )
        return [RoomId(r[0]) for r in rows]

    async def events_after(self, room: RoomId, after: int, limit: int) -> list[RoomEvent]:
        rows = await self._fetch(
            f"SELECT {rules.EVENT_COLUMNS} FROM events"  # noqa: S608
            " WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            room,
            after,
            limit,
        )
        return [rules.event(row) for row in rows]

    async def events_before(self, room: RoomId, before: int, limit: int) -> list[RoomEvent]:
        rows = await self._fetch(
            f"SELECT {rules.EVENT_COLUMNS} FROM events"  # noqa: S608
            " WHERE room = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            room,
            before,
            limit,
        )
        return [rules.event(row) for row in reversed(rows)]

    async def purge(self, room: RoomId, *, before_ts: int) -> int:
        async with self._transaction("purging expired events") as conn:
            # Every instance runs retention: the row lock makes their passes take turns.
            row = await conn.fetchrow(
                "SELECT last_seq, low_water FROM rooms WHERE id = $1 FOR UPDATE", room
            )
            if row is None:
                return 0
            last_seq, low = int(row[0]), int(row[1])
            first_young = await conn.fetchval(
                "SELECT min(seq) FROM events WHERE room = $1 AND kind != 'log' AND ts >= $2",
                room,
                before_ts,
            )
            mark = rules.purge_mark(
                None if first_young is None else int(first_young), last_seq, low
            )
            if mark is None:
                return low
            await conn.execute(
                "DELETE FROM events WHERE room = $1 AND kind != 'log' AND seq <= $2", room, mark
            )
            await conn.execute("UPDATE rooms SET low_water = $1 WHERE id = $2", mark, room)
        return mark

    # -- sessions ----------------------------------------------------------

    async def token_secret(self, fresh: bytes) -> bytes:
        return await self._secret("token", fresh)

    async def vapid_secret(self, fresh: bytes) -> bytes:
        return await self._secret("vapid", fresh)

    async def _secret(self, name: str, fresh: bytes) -> bytes:
        async with self._transaction(f"storing the {name} secret") as conn:
            await conn.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                name,
                fresh,
            )
            value = await conn.fetchval("SELECT value FROM secrets WHERE name = $1", name)
        return bytes(value)

    async def revoke_tokens(self, member: MemberId, *, until: int) -> None:
        async with self._transaction("revoking tokens") as conn:
            await conn.execute(
                "INSERT INTO revoked (member, until) VALUES ($1, $2) ON CONFLICT (member)"
                " DO UPDATE SET until = greatest(revoked.until, excluded.until)",
                member,
                until,
            )

    async def revoked_until(self, member: MemberId) -> int | None:
        found = await self._fetchval("SELECT until FROM revoked WHERE member = $1", member)
        return int(found) if found is not None else None

    async def purge_sessions(self, *, now: int) -> int:
        async with self._transaction("purging revocations") as conn:
            await conn.execute("DELETE FROM challenges WHERE expires_at < $1", now)
            # Presence an instance left behind when it died.
            await conn.execute("DELETE FROM presence WHERE expires_at < $1", now)
            return _count(await conn.execute("DELETE FROM revoked WHERE until < $1", now))

    # -- challenges --------------------------------------------------------

    async def put_challenge(self, challenge: bytes, record: ChallengeRecord, *, now: int) -> None:
        self._challenges_added += 1
        sweep = self._challenges_added % _CHALLENGE_SWEEP_EVERY == 0
        async with self._transaction("storing a challenge") as conn:
            if sweep:
                await conn.execute("DELETE FROM challenges WHERE expires_at < $1", now)
            await conn.execute(
                "INSERT INTO challenges (challenge, expires_at, pow_difficulty)"
                " VALUES ($1, $2, $3)",
                challenge,
                record.expires_at,
                record.pow_difficulty,
            )

    async def take_challenge(self, challenge: bytes) -> ChallengeRecord | None:
        # DELETE ... RETURNING: of two instances answering one challenge, one wins.
        async with self._transaction("taking a challenge") as conn:
            row = await conn.fetchrow(
                "DELETE FROM challenges WHERE challenge = $1 RETURNING expires_at, pow_difficulty",
                challenge,
            )
        if row is None:
            return None
        return ChallengeRecord(expires_at=int(row[0]), pow_difficulty=int(row[1]))

    # -- blobs -------------------------------------------------------------

    async def put_blob(
        self, room: RoomId, blob: str, *, owner: MemberId, data: bytes, ts: int
    ) -> None:
        async with self._transaction("storing a blob") as conn:
            await conn.execute(
                "INSERT INTO blobs (room, id, owner, size, created_at, data)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                room,
                blob,
                owner,
                len(data),
                ts,
                data,
            )

    async def get_blob(self, room: RoomId, blob: str) -> bytes | None:
        data = await self._fetchval(
            "SELECT data FROM blobs WHERE room = $1 AND id = $2", room, blob
        )
        return bytes(data) if data is not None else None

    async def purge_blobs(self, room: RoomId, *, before_ts: int) -> int:
        async with self._transaction("purging blobs") as conn:
            return _count(
                await conn.execute(
                    "DELETE FROM blobs WHERE room = $1 AND created_at < $2", room, before_ts
                )
            )

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
        async with self._transaction("storing a link offer") as conn:
            # The owner's offers are counted under a lock on the owner, so two
            # instances cannot both slip under the cap.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", owner)
            # Expired offers lose their ciphertext here too, not only at retention.
            await conn.execute(
                "UPDATE link_offers SET data = NULL WHERE expires_at <= $1 AND data IS NOT NULL",
                now,
            )
            pending = await conn.fetchval(
                "SELECT count(*) FROM link_offers"
                " WHERE owner = $1 AND data IS NOT NULL AND expires_at > $2",
                owner,
                now,
            )
            rules.check_link_pending(int(pending), max_pending)
            await conn.execute(
                "INSERT INTO link_offers (id, owner, created_at, expires_at, data)"
                " VALUES ($1, $2, $3, $4, $5)",
                link,
                owner,
                now,
                expires_at,
                data,
            )

    async def claim_link(self, link: str, *, now: int) -> bytes:
        async with self._transaction("claiming a link offer") as conn:
            # The row lock makes a claim single-use across instances: the second
            # claimer waits, then sees claimed_at set.
            row = await conn.fetchrow(
                "SELECT expires_at, claimed_at, data FROM link_offers WHERE id = $1 FOR UPDATE",
                link,
            )
            offer = None if row is None else (int(row[0]), row[1], row[2])
            data = rules.claim_outcome(offer, now)
            if data is None:
                await conn.execute("UPDATE link_offers SET data = NULL WHERE id = $1", link)
            else:
                await conn.execute(
                    "UPDATE link_offers SET data = NULL, claimed_at = $1 WHERE id = $2", now, link
                )
        if data is None:
            # Refused after the commit: raising inside would roll the erasure back.
            raise rules.link_expired()
        return data

    async def purge_links(self, *, now: int, keep_ms: int) -> int:
        async with self._transaction("purging link offers") as conn:
            await conn.execute(
                "UPDATE link_offers SET data = NULL WHERE expires_at <= $1 AND data IS NOT NULL",
                now,
            )
            return _count(
                await conn.execute("DELETE FROM link_offers WHERE expires_at <= $1", now - keep_ms)
            )

    # -- personal stores ---------------------------------------------------

    async def personal_index(self, owner: MemberId) -> list[PersonalRecord]:
        rows = await self._fetch(
            "SELECT id, version, size FROM personal_docs WHERE owner = $1 ORDER BY id", owner
        )
        return [PersonalRecord(doc=r[0], version=int(r[1]), size=int(r[2])) for r in rows]

    async def get_personal(self, owner: MemberId, doc: str) -> PersonalRecord | None:
        rows = await self._fetch(
            "SELECT version, size, data FROM personal_docs WHERE owner = $1 AND id = $2",
            owner,
            doc,
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
            # One writer per store at a time, on any instance: the version check and
            # the quota below then see every committed write.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", owner)
            row = await conn.fetchrow(
                "SELECT version, size FROM personal_docs WHERE owner = $1 AND id = $2",
                owner,
                doc,
            )
            totals = await conn.fetchrow(
                "SELECT count(*), coalesce(sum(size), 0) FROM personal_docs WHERE owner = $1",
                owner,
            )
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
                    " VALUES ($1, $2, 1, $3, $4, $5)",
                    owner,
                    doc,
                    len(data),
                    day_floor(now),
                    data,
                )
            else:
                await conn.execute(
                    "UPDATE personal_docs SET version = $1, size = $2, updated_at = $3, data = $4"
                    " WHERE owner = $5 AND id = $6",
                    version,
                    len(data),
                    day_floor(now),
                    data,
                    owner,
                    doc,
                )
        return version

    # -- account -----------------------------------------------------------

    async def forget_member(self, member: MemberId) -> int:
        async with self._transaction("forgetting a key") as conn:
            await conn.execute("DELETE FROM push_endpoints WHERE member = $1", member)
            await conn.execute("DELETE FROM link_offers WHERE owner = $1", member)
            await conn.execute("DELETE FROM personal_docs WHERE owner = $1", member)
            return _count(await conn.execute("DELETE FROM blobs WHERE owner = $1", member))

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
            # Two instances registering for one key at once must not both pass the count.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "push:" + member)
            row = await conn.fetchrow(
                "SELECT count(*), count(*) FILTER (WHERE device = $2) FROM push_endpoints"
                " WHERE member = $1",
                member,
                device,
            )
            count, mine = (int(row[0]), int(row[1])) if row else (0, 0)
            rules.check_push_limit(count, mine, limit)
            await conn.execute(
                "INSERT INTO push_endpoints (member, device, endpoint, created_at, web_push)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member, device)"
                " DO UPDATE SET endpoint = excluded.endpoint, created_at = excluded.created_at,"
                " web_push = excluded.web_push",
                member,
                device,
                endpoint,
                day_floor(ts),
                web_push,
            )

    async def delete_push(self, member: MemberId, device: str) -> None:
        async with self._transaction("removing a push endpoint") as conn:
            await conn.execute(
                "DELETE FROM push_endpoints WHERE member = $1 AND device = $2", member, device
            )

    async def push_targets(self, members: Sequence[MemberId]) -> list[PushTarget]:
        rows = await self._fetch(
            "SELECT member, device, endpoint, web_push FROM push_endpoints"
            " WHERE member = ANY($1::text[]) ORDER BY member, device",
            sorted(set(members)),
        )
        return [PushTarget(MemberId(r[0]), r[1], r[2], bool(r[3])) for r in rows]

    async def drop_push(self, endpoint: str, targets: Sequence[PushTarget]) -> int:
        async with self._transaction("dropping a push endpoint") as conn:
            return _count(
                await conn.execute(
                    "DELETE FROM push_endpoints WHERE endpoint = $1"
                    " AND (member, device) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
                    endpoint,
                    [t.member for t in targets],
                    [t.device for t in targets],
                )
            )

    async def set_presence(
        self, instance: str, members: Sequence[MemberId], *, expires_at: int
    ) -> None:
        if not members:
            return
        async with self._transaction("recording presence") as conn:
            await conn.execute(
                "INSERT INTO presence (member, instance, expires_at)"
                " SELECT m, $2, $3 FROM unnest($1::text[]) AS m"
                " ON CONFLICT (member, instance) DO UPDATE SET expires_at = excluded.expires_at",
                sorted(set(members)),
                instance,
                expires_at,
            )

    async def clear_presence(self, instance: str, members: Sequence[MemberId]) -> None:
        if not members:
            return
        async with self._transaction("clearing presence") as conn:
            await conn.execute(
                "DELETE FROM presence WHERE instance = $1 AND member = ANY($2::text[])",
                instance,
                sorted(set(members)),
            )

    async def present(self, members: Sequence[MemberId], *, now: int) -> set[MemberId]:
        rows = await self._fetch(
            "SELECT DISTINCT member FROM presence WHERE member = ANY($1::text[])"
            " AND expires_at > $2",
            sorted(set(members)),
            now,
        )
        return {MemberId(r[0]) for r in rows}
