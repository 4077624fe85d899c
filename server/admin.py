"""Operator actions on a relay's data besides serving it: ``hearth admin``, ``hearth backup``.

**Freezing a room** acts on a harmful room without reading it (nobody on the relay
can): ``hearth admin freeze ROOM_ID`` marks the room in the database, and from
that moment every relay instance on that database refuses new messages and log
operations there with ``room.frozen`` (423), checked inside each write's own
transaction, so a running relay needs no restart or signal. Reads, deletions,
erasures, leaves, removals and bans go on: members can still read, remove and
leave. ``unfreeze`` lifts it. Each action is logged (logger ``hearth.admin``) with
the room id, which the operator typed, and nothing else.

**Backing up** a SQLite relay uses SQLite's online backup API (the same as the
``sqlite3`` shell's ``.backup``): a consistent copy, taken while the relay keeps
serving, that includes what still sits in the WAL. On PostgreSQL the backup is
``pg_dump`` (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

from protocol.clock import SYSTEM_CLOCK, Clock
from server.app import default_storage
from server.config import Config
from server.errors import StorageError
from server.relay import Relay

__all__ = ["backup", "run_set_frozen", "set_frozen"]

_log = logging.getLogger("hearth.admin")


async def set_frozen(
    config: Config, room_text: str, *, frozen: bool, clock: Clock = SYSTEM_CLOCK
) -> bool:
    """Freeze (or unfreeze) a room by id in ``config``'s database; False if there is none.

    Raises:
        HearthError: ``room.not_found`` if ``room_text`` cannot be a room id.
        StorageError: There is no database there (a freeze never creates one), or
            it cannot be opened or written.
    """
    room = Relay.room_id(room_text)
    if not config.database_url and not config.database.exists():
        raise StorageError(f"no database at {config.database}")
    storage = default_storage(config)
    await storage.open()
    try:
        found = await storage.set_frozen(room, clock.now_ms() if frozen else None)
    finally:
        await storage.close()
    if found:
        _log.warning("room %s %s by the operator", room, "frozen" if frozen else "unfrozen")
    return found


def backup(config: Config, dest: Path) -> None:
    """Copy ``config``'s SQLite database to ``dest`` while the relay may be running.

    Raises:
        StorageError: The relay runs on PostgreSQL (use ``pg_dump``), ``dest``
            exists, or either database cannot be opened or written.
    """
    if config.database_url:
        raise StorageError("this relay stores its data in PostgreSQL: back it up with pg_dump")
    if dest.exists():
        raise StorageError(f"{dest} exists: a backup never overwrites a file")
    if not config.database.exists():
        raise StorageError(f"no database at {config.database}")
    try:
        # One step (``pages=-1``): under WAL it holds only a read snapshot, so the
        # relay's writers go on, and no write in between can restart the copy.
        with (
            contextlib.closing(sqlite3.connect(config.database)) as source,
            contextlib.closing(sqlite3.connect(dest)) as target,
        ):
            source.backup(target, pages=-1)
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise StorageError(f"the backup failed: {type(exc).__name__}: {exc}") from exc
    if check != "ok":
        raise StorageError(f"the backup does not check: {check}")
    _log.warning("backed up %s to %s", config.database, dest)


def run_set_frozen(config: Config, room_text: str, *, frozen: bool) -> bool:
    """:func:`set_frozen` from synchronous code (the command line)."""
    return asyncio.run(set_frozen(config, room_text, frozen=frozen))
