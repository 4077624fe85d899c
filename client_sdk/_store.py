"""The local store: one SQLite file per identity and device, through aiosqlite.

One piece past 600 lines because it is one class over one connection: each method
is one transaction over the tables below, and the encryption at rest that every
one of them applies is the same few helpers.

What is on disk, and how (format 2):

- ``meta``: the format number (clear), a check value, this device's secret and
  its own settings (the draft-check opt-in), encrypted;
- ``rooms``: each room's id and :class:`RoomSnapshot` (positions, profile, rules,
  counters, open alarms), encrypted;
- ``ops``: the verified log operations, encrypted;
- ``secrets``: epoch secrets, encrypted;
- ``messages``: verified messages; the id, the sender and everything the sender
  wrote are encrypted;
- ``outbox``: messages sealed for sending, with their plaintext and envelope
  (encrypted), so a restart resends the identical envelope and a stale epoch can
  be re-sealed;
- ``personal``: each personal document as last read from the relay (``base``, at
  ``version``) and as this device has it (``local``, ``dirty`` until the relay
  took it), both encrypted, so offline edits survive a restart.

No room id, member id, message id or log operation is on disk in the clear: rows
are keyed by a 16-byte keyed BLAKE2b of the room id, message id or sender
(``PERSON_LOCAL_INDEX``, under a key derived from the store key), which only the
holder of the root can compute. What stays in clear: row counts, log indices and
epoch numbers, each message's relay sequence number and the relay's receive time
(``ts``), so a room's retention purges the local copy without decrypting anything.
``secure_delete`` is on: a purged or deleted row is overwritten in the file, not
merely unlinked.

The store key is derived from the root (``PERSON_LOCAL_STORE``); every encrypted
value is XChaCha20-Poly1305 with its table and row key as associated data, so a
value moved to another row does not decrypt. A stolen store without the recovery
phrase (or the keystore's passphrase) names no room and no key. A store of
another format is refused (``store.version``), never read as this one. Writes
that belong together (a batch of events and the position after them) are one
transaction. sqlite errors become :class:`StoreError` here and go no further.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, final

import aiosqlite
import msgspec

from client_sdk._core.persistence import RoomSnapshot
from client_sdk.errors import StoreError
from protocol import crypto
from protocol.encoding import canonical, from_msgpack
from protocol.errors import CryptoError, DecodeError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.ops import SignedOp

__all__ = ["FORMAT", "OutboxEntry", "Store", "StoredMessage"]

FORMAT: Final = 2
"""The store's format. 1: room ids, member and message ids, log operations and
outbox envelopes in clear (refused since format 2)."""
_AD_PREFIX: Final = b"hearth/v2/local-store\x00"
_CHECK: Final = b"hearth local store v2"
_INDEX_BYTES: Final = 16
_ID_CHUNK: Final = 500
"""Ids per ``IN`` list (SQLite allows 999 parameters in older builds)."""
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
    rk BLOB PRIMARY KEY, created INTEGER NOT NULL, name BLOB NOT NULL, snapshot BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ops (
    rk BLOB NOT NULL, idx INTEGER NOT NULL, op BLOB NOT NULL, PRIMARY KEY (rk, idx));
CREATE TABLE IF NOT EXISTS secrets (
    rk BLOB NOT NULL, epoch INTEGER NOT NULL, secret BLOB NOT NULL,
    PRIMARY KEY (rk, epoch));
CREATE TABLE IF NOT EXISTS messages (
    rk BLOB NOT NULL, id BLOB NOT NULL, seq INTEGER NOT NULL, sender BLOB NOT NULL,
    body BLOB NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (rk, id));
CREATE INDEX IF NOT EXISTS messages_by_seq ON messages (rk, seq);
CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (rk, ts);
CREATE TABLE IF NOT EXISTS personal (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, base BLOB NOT NULL, local BLOB NOT NULL,
    dirty INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT, rk BLOB NOT NULL, id BLOB NOT NULL UNIQUE,
    plaintext BLOB NOT NULL, envelope BLOB NOT NULL, failed TEXT);
"""


class _Body(msgspec.Struct, frozen=True, array_like=True):
    id: str
    sender: str
    text: str
    content_warning: str | None
    reply_to: str | None
    sent_at: int
    ts: int
    edited: bool
    mine: bool
    edited_seq: int = 0
    revealed: bool = False
    reactions: list[tuple[str, str]] = []


class _Queued(msgspec.Struct, frozen=True, array_like=True):
    room: str
    id: str
    plaintext: bytes


@final
class StoredMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A verified text message as the store keeps it.

    A Struct, not a frozen dataclass: a sync builds one per message, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost more than
    the rest of storing it. Change copies with ``msgspec.structs.replace``.
    """

    room: RoomId
    id: MessageId
    seq: int
    sender: MemberId
    text: str
    content_warning: str | None
    reply_to: MessageId | None
    sent_at: int
    ts: int
    edited: bool
    mine: bool
    edited_seq: int = 0
    """``seq`` of the edit that set ``text`` (an older edit never overwrites a newer one)."""
    revealed: bool = False
    """The person opened its content warning on this device."""
    reactions: tuple[tuple[str, MemberId], ...] = ()
    """(emoji, member) pairs, sorted."""
    update: bool = False
    """This copy changes a stored message (edit, reaction): it replaces the stored one.

    A copy without it (the original arriving again through history) never
    overwrites what is stored."""


@final
@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A sealed message waiting for the relay's acknowledgement."""

    room: RoomId
    id: MessageId
    plaintext: bytes
    envelope: bytes
    failed: str | None


@asynccontextmanager
async def _translated(action: str) -> AsyncIterator[None]:
    try:
        yield
    except (sqlite3.Error, ValueError, OSError) as exc:
        raise StoreError(f"local store failed to {action}: {exc}", code="store.io") from exc


@final
class Store:
    """The SQLite file of one identity on one device. Open with :meth:`open`."""

    def __init__(self, db: aiosqlite.Connection, key: bytes, device: bytes) -> None:
        self._db = db
        self._key = key
        self._index_key = crypto.kdf(key, b"index", person=crypto.PERSON_LOCAL_INDEX)
        self.device = device
        """This device's random secret: its id in each room derives from it
        (:func:`protocol.messages.room_device_id`); it never leaves the device."""

    @classmethod
    async def open(cls, path: str | os.PathLike[str], key: bytes) -> Store:
        """Open or create the store at ``path`` for the identity whose store key is ``key``.

        Raises:
            StoreError: ``store.wrong_identity`` if another identity created it,
                ``store.version`` if it is of another format (an older SDK's).
        """
        async with _translated("open"):
            db = await aiosqlite.connect(os.fspath(path))
        try:
            async with _translated("open"):
                await cls._require_format(db)
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA synchronous=FULL")
                await db.execute("PRAGMA secure_delete=ON")
                await db.executescript(_SCHEMA)
                check = await cls._meta(db, "check")
                if check is None:
                    device = crypto.random_bytes(16)
                    await db.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [
                            ("format", str(FORMAT).encode()),
                            ("check", _encrypt(key, b"meta", b"check", _CHECK)),
                            ("device", _encrypt(key, b"meta", b"device", device)),
                        ],
                    )
                    await db.commit()
                else:
                    try:
                        ok = _decrypt(key, b"meta", b"check", check) == _CHECK
                    except StoreError:
                        ok = False
                    if not ok:
                        raise StoreError(
                            "this store belongs to another identity", code="store.wrong_identity"
                        )
                    sealed = await cls._meta(db, "device")
                    device = _decrypt(key, b"meta", b"device", sealed or b"")
        except BaseException:
            await db.close()
            raise
        return cls(db, key, device)

    @classmethod
    async def _require_format(cls, db: aiosqlite.Connection) -> None:
        """Refuse a store of another format before anything is written to it."""
        async with db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ) as cur:
            if await cur.fetchone() is None:
                return  # a new file
        written = await cls._meta(db, "format")
        if written is None and await cls._meta(db, "check") is None:
            return  # created, never initialised
        found = "1" if written is None else written.decode("ascii", "replace")
        if found != str(FORMAT):
            raise StoreError(
                f"this local store is format {found}; this SDK reads format {FORMAT} only."
                " Move the person to a new store: restore from the recovery phrase (or link"
                " this device again) with a new store file",
                code="store.version",
            )

    @staticmethod
    async def _meta(db: aiosqlite.Connection, key: str) -> bytes | None:
        async with db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return None if row is None else bytes(row[0])

    async def close(self) -> None:
        """Close the database file."""
        async with _translated("close"):
            await self._db.close()

    # -- encryption at rest ------------------------------------------------------

    def _seal(self, table: bytes, row: bytes, data: bytes) -> bytes:
        return _encrypt(self._key, table, row, data)

    def _open(self, table: bytes, row: bytes, data: bytes) -> bytes:
        return _decrypt(self._key, table, row, data)

    def _index(self, kind: bytes, value: str) -> bytes:
        """The row key of a room, message or member id: keyed BLAKE2b, 16 bytes."""
        return crypto.kdf(
            self._index_key,
            kind + b"\x00" + value.encode(),
            person=crypto.PERSON_LOCAL_INDEX,
            size=_INDEX_BYTES,
        )

    def _rk(self, room: RoomId) -> bytes:
        return self._index(b"room", room)

    def _mk(self, message_id: str) -> bytes:
        return self._index(b"message", message_id)

    def _sk(self, member: str) -> bytes:
        return self._index(b"member", member)

    # -- rooms -------------------------------------------------------------------

    async def room_ids(self) -> list[RoomId]:
        """Every room in the store, oldest first."""
        async with (
            _translated("list rooms"),
            self._db.execute("SELECT rk, name FROM rooms ORDER BY created, rk") as cur,
        ):
            rows = await cur.fetchall()
        return [
            RoomId(self._open(b"rooms", bytes(rk) + b"/name", bytes(n)).decode()) for rk, n in rows
        ]

    async def load_room(
        self, room: RoomId
    ) -> tuple[list[SignedOp], dict[int, bytes], RoomSnapshot]:
        """A room's stored log, epoch secrets and snapshot."""
        r = self._rk(room)
        async with _translated("load a room"):
            async with self._db.execute(
                "SELECT idx, op FROM ops WHERE rk = ? ORDER BY idx", (r,)
            ) as cur:
                rows = await cur.fetchall()
            async with self._db.execute(
                "SELECT epoch, secret FROM secrets WHERE rk = ?", (r,)
            ) as cur:
                secrets = {
                    int(e): self._open(b"secrets", r + b"/" + str(e).encode(), bytes(s))
                    for e, s in await cur.fetchall()
                }
            async with self._db.execute("SELECT snapshot FROM rooms WHERE rk = ?", (r,)) as cur:
                row = await cur.fetchone()
        if row is None:
            raise StoreError(f"no room {room} in the store", code="store.corrupt")
        try:
            ops = [
                from_msgpack(self._open(b"ops", r + b"/" + str(i).encode(), bytes(op)), SignedOp)
                for i, op in rows
            ]
            snapshot = from_msgpack(self._open(b"rooms", r, bytes(row[0])), RoomSnapshot)
        except DecodeError as exc:
            raise StoreError("a stored room does not decode", code="store.corrupt") from exc
        return ops, secrets, snapshot

    async def save_room(
        self,
        room: RoomId,
        snapshot: RoomSnapshot,
        *,
        ops: Iterable[tuple[int, SignedOp]] = (),
        secrets: Mapping[int, bytes] | None = None,
        messages: Iterable[StoredMessage] = (),
        deleted: Iterable[MessageId] = (),
        outbox_add: OutboxEntry | None = None,
        outbox_done: Iterable[MessageId] = (),
        now: int = 0,
    ) -> list[MessageId]:
        """Write one batch for ``room`` in one transaction; return the ids of new messages.

        A message whose id is already stored is replaced only if the new copy
        differs (an edit); it does not count as new.
        """
        r = self._rk(room)
        new: list[MessageId] = []
        async with _translated("save a room"):
            try:
                await self._db.execute(
                    "INSERT INTO rooms VALUES (?, ?, ?, ?) ON CONFLICT (rk) DO UPDATE"
                    " SET snapshot = excluded.snapshot",
                    (
                        r,
                        now,
                        self._seal(b"rooms", r + b"/name", room.encode()),
                        self._seal(b"rooms", r, canonical(snapshot)),
                    ),
                )
                await self._db.executemany(
                    "INSERT OR IGNORE INTO ops VALUES (?, ?, ?)",
                    [
                        (
                            r,
                            index,
                            self._seal(b"ops", r + b"/" + str(index).encode(), canonical(op)),
                        )
                        for index, op in ops
                    ],
                )
                await self._db.executemany(
                    "INSERT OR IGNORE INTO secrets VALUES (?, ?, ?)",
                    [
                        (r, e, self._seal(b"secrets", r + b"/" + str(e).encode(), s))
                        for e, s in (secrets or {}).items()
                    ],
                )
                batch = list(messages)
                stored = await self._stored_ids(r, [m.id for m in batch])
                inserts: list[tuple[bytes, bytes, int, bytes, bytes, int]] = []
                updates: list[tuple[bytes, bytes, bytes]] = []
                for m in batch:
                    mk = self._mk(m.id)
                    sealed = self._seal_message(r, mk, m)
                    if m.id in stored:
                        if m.update:
                            updates.append((sealed, r, mk))
                        continue
                    inserts.append((r, mk, m.seq, self._sk(m.sender), sealed, m.ts))
                    stored.add(m.id)
                    new.append(m.id)
                # One statement per kind for the whole batch: a page of a thousand
                # messages costs a handful of hand-offs to the database thread, not
                # two per message. Inserts go first so that an update may follow an
                # insert of the same id in this batch.
                await self._db.executemany(
                    "INSERT INTO messages (rk, id, seq, sender, body, ts)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    inserts,
                )
                await self._db.executemany(
                    "UPDATE messages SET body = ? WHERE rk = ? AND id = ?", updates
                )
                await self._db.executemany(
                    "DELETE FROM messages WHERE rk = ? AND id = ?",
                    [(r, self._mk(target)) for target in deleted],
                )
                if outbox_add is not None:
                    e = outbox_add
                    mk = self._mk(e.id)
                    queued = _Queued(room=room, id=e.id, plaintext=e.plaintext)
                    await self._db.execute(
                        "INSERT INTO outbox (rk, id, plaintext, envelope, failed)"
                        " VALUES (?, ?, ?, ?, NULL)",
                        (
                            r,
                            mk,
                            self._seal(b"outbox", mk, canonical(queued)),
                            self._seal(b"outbox", mk + b"/envelope", e.envelope),
                        ),
                    )
                await self._db.executemany(
                    "DELETE FROM outbox WHERE id = ?", [(self._mk(i),) for i in outbox_done]
                )
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
        return new

    async def _stored_ids(self, r: bytes, ids: list[MessageId]) -> set[str]:
        """Which of ``ids`` the store holds for room key ``r`` (inside the caller's transaction)."""
        found: set[str] = set()
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = {self._mk(i): i for i in ids[start : start + _ID_CHUNK]}
            marks = ",".join("?" * len(chunk))  # placeholders only: the ids are parameters
            rows = await self._db.execute_fetchall(
                f"SELECT id FROM messages WHERE rk = ? AND id IN ({marks})",  # noqa: S608
                (r, *chunk),
            )
            found.update(chunk[bytes(row[0])] for row in rows)
        return found

    # -- messages ----------------------------------------------------------------

    def _seal_message(self, r: bytes, mk: bytes, m: StoredMessage) -> bytes:
        body = _Body(
            m.id,
            m.sender,
            m.text,
            m.content_warning,
            m.reply_to,
            m.sent_at,
            m.ts,
            m.edited,
            m.mine,
            m.edited_seq,
            m.revealed,
            [(e, str(who)) for e, who in m.reactions],
        )
        return self._seal(b"messages", r + b"/" + mk, canonical(body))

    async def update_message(self, message: StoredMessage) -> None:
        """Replace a stored message's encrypted body (a reveal); a missing one stays missing."""
        r, mk = self._rk(message.room), self._mk(message.id)
        async with _translated("update a message"):
            await self._db.execute(
                "UPDATE messages SET body = ? WHERE rk = ? AND id = ?",
                (self._seal_message(r, mk, message), r, mk),
            )
            await self._db.commit()

    async def purge_messages(self, room: RoomId, *, before_ts: int) -> list[MessageId]:
        """Delete messages the relay stored before ``before_ts``; return their ids.

        With ``secure_delete`` their bytes are overwritten in the file, not unlinked.
        """
        r = self._rk(room)
        async with _translated("purge messages"):
            async with self._db.execute(
                "SELECT id, seq, body FROM messages WHERE rk = ? AND ts < ? ORDER BY seq",
                (r, before_ts),
            ) as cur:
                rows = list(await cur.fetchall())
            ids = [self._message(room, r, (bytes(mk), seq, bytes(b))).id for mk, seq, b in rows]
            if ids:
                await self._db.execute(
                    "DELETE FROM messages WHERE rk = ? AND ts < ?", (r, before_ts)
                )
                await self._db.commit()
        return ids

    def _message(self, room: RoomId, r: bytes, row: tuple[bytes, int, bytes]) -> StoredMessage:
        mk, seq, blob = row
        plain = self._open(b"messages", r + b"/" + mk, blob)
        try:
            b = from_msgpack(plain, _Body)
        except DecodeError as exc:
            raise StoreError("a stored message does not decode", code="store.corrupt") from exc
        return StoredMessage(
            room=room,
            id=MessageId(b.id),
            seq=seq,
            sender=MemberId(b.sender),
            text=b.text,
            content_warning=b.content_warning,
            reply_to=MessageId(b.reply_to) if b.reply_to else None,
            sent_at=b.sent_at,
            ts=b.ts,
            edited=b.edited,
            mine=b.mine,
            edited_seq=b.edited_seq,
            revealed=b.revealed,
            reactions=tuple((e, MemberId(who)) for e, who in b.reactions),
        )

    async def message(self, room: RoomId, message_id: MessageId) -> StoredMessage | None:
        """One stored message, if we have it."""
        r = self._rk(room)
        async with (
            _translated("read a message"),
            self._db.execute(
                "SELECT id, seq, body FROM messages WHERE rk = ? AND id = ?",
                (r, self._mk(message_id)),
            ) as cur,
        ):
            row = await cur.fetchone()
        return None if row is None else self._message(room, r, (bytes(row[0]), row[1], row[2]))

    async def messages(
        self,
        room: RoomId,
        *,
        limit: int,
        before_seq: int | None = None,
        without: Iterable[MemberId] = (),
    ) -> list[StoredMessage]:
        """The newest ``limit`` messages with ``seq < before_seq``, oldest first.

        Messages from the senders in ``without`` (blocked) are skipped, so the page
        still holds ``limit`` messages if the store has them.
        """
        bound = before_seq if before_seq is not None else 2**63 - 1
        skip = sorted(self._sk(m) for m in without)
        marks = ",".join("?" * len(skip))  # placeholders only: the keys are parameters
        query = (
            "SELECT id, seq, body FROM messages WHERE rk = ? AND seq < ?"  # noqa: S608
            f" AND sender NOT IN ({marks}) ORDER BY seq DESC LIMIT ?"
        )
        r = self._rk(room)
        async with (
            _translated("read messages"),
            self._db.execute(query, (r, bound, *skip, limit)) as cur,
        ):
            rows = list(await cur.fetchall())
        return [self._message(room, r, (bytes(i), s, bytes(b))) for i, s, b in reversed(rows)]

    # -- personal documents ---------------------------------------------------------

    async def personal_load(self, name: str) -> tuple[int, bytes, bytes, bool] | None:
        """A personal document's (version, base, local, dirty), or None if never stored."""
        async with (
            _translated("read a personal document"),
            self._db.execute(
                "SELECT version, base, local, dirty FROM personal WHERE name = ?", (name,)
            ) as cur,
        ):
            row = await cur.fetchone()
        if row is None:
            return None
        n = name.encode()
        return (
            int(row[0]),
            self._open(b"personal", n + b"/base", bytes(row[1])),
            self._open(b"personal", n + b"/local", bytes(row[2])),
            bool(row[3]),
        )

    async def personal_save(
        self, name: str, *, version: int, base: bytes, local: bytes, dirty: bool
    ) -> None:
        """Store a personal document's state in one transaction."""
        n = name.encode()
        async with _translated("save a personal document"):
            await self._db.execute(
                "INSERT INTO personal VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " version = excluded.version, base = excluded.base, local = excluded.local,"
                " dirty = excluded.dirty",
                (
                    name,
                    version,
                    self._seal(b"personal", n + b"/base", base),
                    self._seal(b"personal", n + b"/local", local),
                    int(dirty),
                ),
            )
            await self._db.commit()

    # -- settings of this device alone ------------------------------------------------

    async def device_setting(self, name: str) -> bytes | None:
        """A setting kept on this device only (encrypted in ``meta``), if set."""
        async with _translated("read a setting"):
            value = await self._meta(self._db, "setting:" + name)
        return None if value is None else self._open(b"meta", name.encode(), value)

    async def put_device_setting(self, name: str, value: bytes) -> None:
        """Set a setting kept on this device only, encrypted."""
        async with _translated("write a setting"):
            await self._db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value",
                ("setting:" + name, self._seal(b"meta", name.encode(), value)),
            )
            await self._db.commit()

    # -- outbox ------------------------------------------------------------------

    async def outbox(self, room: RoomId | None = None) -> list[OutboxEntry]:
        """Messages not yet acknowledged, in the order they were sent."""
        query = "SELECT id, plaintext, envelope, failed FROM outbox"
        args: tuple[bytes, ...] = ()
        if room is not None:
            query += " WHERE rk = ?"
            args = (self._rk(room),)
        async with (
            _translated("read the outbox"),
            self._db.execute(query + " ORDER BY n", args) as cur,
        ):
            rows = await cur.fetchall()
        entries = []
        for mk, plaintext, envelope, failed in rows:
            try:
                queued = from_msgpack(self._open(b"outbox", bytes(mk), bytes(plaintext)), _Queued)
            except DecodeError as exc:
                raise StoreError("an outbox entry does not decode", code="store.corrupt") from exc
            entries.append(
                OutboxEntry(
                    room=RoomId(queued.room),
                    id=MessageId(queued.id),
                    plaintext=queued.plaintext,
                    envelope=self._open(b"outbox", bytes(mk) + b"/envelope", bytes(envelope)),
                    failed=failed,
                )
            )
        return entries

    async def outbox_replace(self, message_id: MessageId, envelope: bytes) -> None:
        """Store a re-sealed envelope under the same message id."""
        mk = self._mk(message_id)
        async with _translated("update the outbox"):
            await self._db.execute(
                "UPDATE outbox SET envelope = ? WHERE id = ?",
                (self._seal(b"outbox", mk + b"/envelope", envelope), mk),
            )
            await self._db.commit()

    async def outbox_fail(self, message_id: MessageId, code: str) -> None:
        """Mark an entry the relay refused for good; it is not retried."""
        async with _translated("update the outbox"):
            await self._db.execute(
                "UPDATE outbox SET failed = ? WHERE id = ?", (code, self._mk(message_id))
            )
            await self._db.commit()


def _ad(table: bytes, row: bytes) -> bytes:
    return _AD_PREFIX + table + b"\x00" + row


def _encrypt(key: bytes, table: bytes, row: bytes, data: bytes) -> bytes:
    nonce = crypto.random_bytes(crypto.AEAD_NONCE_BYTES)
    return nonce + crypto.aead_encrypt(key, nonce, data, _ad(table, row))


def _decrypt(key: bytes, table: bytes, row: bytes, data: bytes) -> bytes:
    nonce, body = data[: crypto.AEAD_NONCE_BYTES], data[crypto.AEAD_NONCE_BYTES :]
    try:
        return crypto.aead_decrypt(key, nonce, body, _ad(table, row))
    except CryptoError as exc:
        raise StoreError("a stored value does not decrypt", code="store.corrupt") from exc
