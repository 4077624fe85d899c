"""The local store: one SQLite file per identity and device, through aiosqlite.

What is on disk, and how:

- ``rooms``: each room's :class:`RoomSnapshot` (positions, profile, rules, counters,
  open alarms), encrypted;
- ``ops``: the verified log operations, as canonical bytes (the relay holds them
  too; they carry no plaintext);
- ``secrets``: epoch secrets, encrypted;
- ``messages``: verified messages; the text and everything else the sender wrote
  is encrypted, only the relay-visible routing data (id, seq, sender) is not;
- ``outbox``: messages sealed for sending, with their plaintext (encrypted), so a
  restart resends the identical envelope and a stale epoch can be re-sealed;
- ``personal``: each personal document as last read from the relay (``base``, at
  ``version``) and as this device has it (``local``, ``dirty`` until the relay
  took it), both encrypted, so offline edits survive a restart.

The relay's receive time of each message (``ts``) is kept in clear too (the relay
knows it), so a room's retention purges the local copy without decrypting
anything. ``secure_delete`` is on: a purged or deleted row is overwritten in the
file, not merely unlinked. Settings of this device alone (the draft-check opt-in)
are encrypted rows of ``meta``.

The store key is derived from the root (``PERSON_LOCAL_STORE``); every encrypted
value is XChaCha20-Poly1305 with its table, room and row key as associated data,
so a value moved to another row does not decrypt. A stolen store without the
recovery phrase shows what the relay knows and nothing more. Writes that belong
together (a batch of events and the position after them) are one transaction.
sqlite errors become :class:`StoreError` here and go no further.
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

from client_sdk._roomstate import RoomSnapshot
from client_sdk.errors import StoreError
from protocol import crypto
from protocol.encoding import canonical, from_msgpack
from protocol.errors import CryptoError, DecodeError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.ops import SignedOp

__all__ = ["OutboxEntry", "Store", "StoredMessage"]

_AD_PREFIX: Final = b"hearth/v1/local-store\x00"
_CHECK: Final = b"hearth local store v1"
_ID_CHUNK: Final = 500
"""Ids per ``IN`` list (SQLite allows 999 parameters in older builds)."""
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
    room TEXT PRIMARY KEY, created INTEGER NOT NULL, snapshot BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ops (
    room TEXT NOT NULL, idx INTEGER NOT NULL, op BLOB NOT NULL, PRIMARY KEY (room, idx));
CREATE TABLE IF NOT EXISTS secrets (
    room TEXT NOT NULL, epoch INTEGER NOT NULL, secret BLOB NOT NULL,
    PRIMARY KEY (room, epoch));
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL,
    body BLOB NOT NULL, ts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room, id));
CREATE INDEX IF NOT EXISTS messages_by_seq ON messages (room, seq);
CREATE TABLE IF NOT EXISTS personal (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, base BLOB NOT NULL, local BLOB NOT NULL,
    dirty INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, id TEXT NOT NULL UNIQUE,
    plaintext BLOB NOT NULL, envelope BLOB NOT NULL, failed TEXT);
"""


class _Body(msgspec.Struct, frozen=True, array_like=True):
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
        self.device = device
        """This device's random id (inside every plaintext it sends)."""

    @classmethod
    async def open(cls, path: str | os.PathLike[str], key: bytes) -> Store:
        """Open or create the store at ``path`` for the identity whose store key is ``key``.

        Raises:
            StoreError: ``store.wrong_identity`` if another identity created it.
        """
        async with _translated("open"):
            db = await aiosqlite.connect(os.fspath(path))
        try:
            async with _translated("open"):
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA synchronous=FULL")
                await db.execute("PRAGMA secure_delete=ON")
                await db.executescript(_SCHEMA)
                check = await cls._meta(db, "check")
                if check is None:
                    device = crypto.random_bytes(16)
                    await db.execute(
                        "INSERT INTO meta VALUES ('check', ?), ('device', ?)",
                        (_encrypt(key, b"meta", b"check", _CHECK), device),
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
                    device = await cls._meta(db, "device") or b""
                    await cls._migrate(db, key)
                await db.execute("CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (room, ts)")
        except BaseException:
            await db.close()
            raise
        return cls(db, key, device)

    @staticmethod
    async def _migrate(db: aiosqlite.Connection, key: bytes) -> None:
        """Bring a store written by an older SDK up to this schema."""
        async with db.execute("SELECT name FROM pragma_table_info('messages')") as cur:
            columns = {r[0] for r in await cur.fetchall()}
        if "ts" in columns:
            return
        # Older stores kept the relay's time only inside the encrypted body.
        await db.execute("ALTER TABLE messages ADD COLUMN ts INTEGER NOT NULL DEFAULT 0")
        async with db.execute("SELECT room, id, body FROM messages") as cur:
            rows = list(await cur.fetchall())
        for room, mid, blob in rows:
            plain = _decrypt(key, b"messages", f"{room}/{mid}".encode(), bytes(blob))
            ts = from_msgpack(plain, _Body).ts
            await db.execute(
                "UPDATE messages SET ts = ? WHERE room = ? AND id = ?", (ts, room, mid)
            )
        await db.commit()

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

    # -- rooms -------------------------------------------------------------------

    async def room_ids(self) -> list[RoomId]:
        """Every room in the store, oldest first."""
        async with (
            _translated("list rooms"),
            self._db.execute("SELECT room FROM rooms ORDER BY created, room") as cur,
        ):
            return [RoomId(r[0]) for r in await cur.fetchall()]

    async def load_room(
        self, room: RoomId
    ) -> tuple[list[SignedOp], dict[int, bytes], RoomSnapshot]:
        """A room's stored log, epoch secrets and snapshot."""
        r = room.encode()
        async with _translated("load a room"):
            async with self._db.execute(
                "SELECT op FROM ops WHERE room = ? ORDER BY idx", (room,)
            ) as cur:
                ops = [from_msgpack(bytes(row[0]), SignedOp) for row in await cur.fetchall()]
            async with self._db.execute(
                "SELECT epoch, secret FROM secrets WHERE room = ?", (room,)
            ) as cur:
                secrets = {
                    int(e): self._open(b"secrets", r + b"/" + str(e).encode(), bytes(s))
                    for e, s in await cur.fetchall()
                }
            async with self._db.execute(
                "SELECT snapshot FROM rooms WHERE room = ?", (room,)
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            raise StoreError(f"no room {room} in the store", code="store.corrupt")
        try:
            snapshot = from_msgpack(self._open(b"rooms", r, bytes(row[0])), RoomSnapshot)
        except DecodeError as exc:
            raise StoreError("a room snapshot does not decode", code="store.corrupt") from exc
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
        r = room.encode()
        new: list[MessageId] = []
        async with _translated("save a room"):
            try:
                await self._db.execute(
                    "INSERT INTO rooms VALUES (?, ?, ?) ON CONFLICT (room) DO UPDATE"
                    " SET snapshot = excluded.snapshot",
                    (room, now, self._seal(b"rooms", r, canonical(snapshot))),
                )
                await self._db.executemany(
                    "INSERT OR IGNORE INTO ops VALUES (?, ?, ?)",
                    [(room, index, canonical(op)) for index, op in ops],
                )
                await self._db.executemany(
                    "INSERT OR IGNORE INTO secrets VALUES (?, ?, ?)",
                    [
                        (room, e, self._seal(b"secrets", r + b"/" + str(e).encode(), s))
                        for e, s in (secrets or {}).items()
                    ],
                )
                batch = list(messages)
                stored = await self._stored_ids(room, [m.id for m in batch])
                inserts: list[tuple[str, str, int, str, bytes, int]] = []
                updates: list[tuple[bytes, str, str]] = []
                for m in batch:
                    sealed = self._seal_message(m)
                    if m.id in stored:
                        if m.update:
                            updates.append((sealed, room, m.id))
                        continue
                    inserts.append((room, m.id, m.seq, m.sender, sealed, m.ts))
                    stored.add(m.id)
                    new.append(m.id)
                # One statement per kind for the whole batch: a page of a thousand
                # messages costs a handful of hand-offs to the database thread, not
                # two per message. Inserts go first so that an update may follow an
                # insert of the same id in this batch.
                await self._db.executemany(
                    "INSERT INTO messages (room, id, seq, sender, body, ts)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    inserts,
                )
                await self._db.executemany(
                    "UPDATE messages SET body = ? WHERE room = ? AND id = ?", updates
                )
                await self._db.executemany(
                    "DELETE FROM messages WHERE room = ? AND id = ?",
                    [(room, target) for target in deleted],
                )
                if outbox_add is not None:
                    e = outbox_add
                    await self._db.execute(
                        "INSERT INTO outbox (room, id, plaintext, envelope, failed)"
                        " VALUES (?, ?, ?, ?, NULL)",
                        (
                            room,
                            e.id,
                            self._seal(b"outbox", e.id.encode(), e.plaintext),
                            e.envelope,
                        ),
                    )
                await self._db.executemany(
                    "DELETE FROM outbox WHERE id = ?", [(i,) for i in outbox_done]
                )
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
        return new

    async def _stored_ids(self, room: RoomId, ids: list[MessageId]) -> set[str]:
        """Which of ``ids`` the store holds for ``room`` (inside the caller's transaction)."""
        found: set[str] = set()
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))  # placeholders only: the ids are parameters
            rows = await self._db.execute_fetchall(
                f"SELECT id FROM messages WHERE room = ? AND id IN ({marks})",  # noqa: S608
                (room, *chunk),
            )
            found.update(str(row[0]) for row in rows)
        return found

    # -- messages ----------------------------------------------------------------

    def _seal_message(self, m: StoredMessage) -> bytes:
        body = _Body(
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
        return self._seal(b"messages", m.room.encode() + b"/" + m.id.encode(), canonical(body))

    async def update_message(self, message: StoredMessage) -> None:
        """Replace a stored message's encrypted body (a reveal); a missing one stays missing."""
        async with _translated("update a message"):
            await self._db.execute(
                "UPDATE messages SET body = ? WHERE room = ? AND id = ?",
                (self._seal_message(message), message.room, message.id),
            )
            await self._db.commit()

    async def purge_messages(self, room: RoomId, *, before_ts: int) -> list[MessageId]:
        """Delete messages the relay stored before ``before_ts``; return their ids.

        With ``secure_delete`` their bytes are overwritten in the file, not unlinked.
        """
        async with _translated("purge messages"):
            async with self._db.execute(
                "SELECT id FROM messages WHERE room = ? AND ts < ? ORDER BY seq",
                (room, before_ts),
            ) as cur:
                ids = [MessageId(r[0]) for r in await cur.fetchall()]
            if ids:
                await self._db.execute(
                    "DELETE FROM messages WHERE room = ? AND ts < ?", (room, before_ts)
                )
                await self._db.commit()
        return ids

    def _message(self, row: tuple[str, str, int, str, bytes]) -> StoredMessage:
        room, mid, seq, sender, blob = row
        plain = self._open(b"messages", room.encode() + b"/" + mid.encode(), bytes(blob))
        try:
            b = from_msgpack(plain, _Body)
        except DecodeError as exc:
            raise StoreError("a stored message does not decode", code="store.corrupt") from exc
        return StoredMessage(
            room=RoomId(room),
            id=MessageId(mid),
            seq=seq,
            sender=MemberId(sender),
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
        async with (
            _translated("read a message"),
            self._db.execute(
                "SELECT room, id, seq, sender, body FROM messages WHERE room = ? AND id = ?",
                (room, message_id),
            ) as cur,
        ):
            row = await cur.fetchone()
        return None if row is None else self._message(tuple(row))

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
        skip = sorted(without)
        marks = ",".join("?" * len(skip))  # placeholders only: the ids are parameters
        query = (
            "SELECT room, id, seq, sender, body FROM messages WHERE room = ? AND seq < ?"  # noqa: S608
            f" AND sender NOT IN ({marks}) ORDER BY seq DESC LIMIT ?"
        )
        async with (
            _translated("read messages"),
            self._db.execute(query, (room, bound, *skip, limit)) as cur,
        ):
            rows = list(await cur.fetchall())
        return [self._message(tuple(r)) for r in reversed(rows)]

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
        query = "SELECT room, id, plaintext, envelope, failed FROM outbox"
        args: tuple[str, ...] = ()
        if room is not None:
            query += " WHERE room = ?"
            args = (room,)
        async with (
            _translated("read the outbox"),
            self._db.execute(query + " ORDER BY n", args) as cur,
        ):
            rows = await cur.fetchall()
        return [
            OutboxEntry(
                room=RoomId(r[0]),
                id=MessageId(r[1]),
                plaintext=self._open(b"outbox", r[1].encode(), bytes(r[2])),
                envelope=bytes(r[3]),
                failed=r[4],
            )
            for r in rows
        ]

    async def outbox_replace(self, message_id: MessageId, envelope: bytes) -> None:
        """Store a re-sealed envelope under the same message id."""
        async with _translated("update the outbox"):
            await self._db.execute(
                "UPDATE outbox SET envelope = ? WHERE id = ?", (envelope, message_id)
            )
            await self._db.commit()

    async def outbox_fail(self, message_id: MessageId, code: str) -> None:
        """Mark an entry the relay refused for good; it is not retried."""
        async with _translated("update the outbox"):
            await self._db.execute("UPDATE outbox SET failed = ? WHERE id = ?", (code, message_id))
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
