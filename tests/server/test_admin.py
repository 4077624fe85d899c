"""``hearth admin freeze``/``unfreeze`` and ``hearth backup``, on the data the relay serves.

A freeze is written by the operator's command into the database the relay runs on
(not through the relay), and a running relay honours it at its next write: the
check sits in each write's own transaction. Both backends.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import InviteKey, ManualClock, sign_delete
from protocol.ids import MessageId
from server.admin import backup, set_frozen
from server.config import Config
from server.storage.sqlite import SqliteStorage
from tests.server.conftest import Relay
from tests.server.helpers import append, create, error, headers, join, post, send


async def test_a_frozen_room_refuses_sends_and_log_operations_until_unfrozen(
    relay: Relay, config: Config, clock: ManualClock
) -> None:
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    kept = await send(relay, room, "bob", bob, "before the freeze")
    stored = room.send("owner", "stored before the freeze")
    url = f"/v1/rooms/{room.room}/messages"
    assert (await post(relay.http, url, stored, token)).status_code == 200

    assert await set_frozen(config, room.room, frozen=True, clock=clock)
    r = await post(relay.http, url, room.send("owner", "during"), token)
    assert (r.status_code, error(r).code) == (423, "room.frozen")
    op = room.invite("owner", InviteKey.generate(), apply=False)
    r = await append(relay, room, op, token)
    assert (r.status_code, error(r).code) == (423, "room.frozen")
    # A retry of a message stored before the freeze still gets its answer.
    assert (await post(relay.http, url, stored, token)).status_code == 200
    # Members can still read, and remove what is there.
    r = await relay.http.get(url, params={"limit": 10}, headers=headers(bob))
    assert r.status_code == 200
    request = sign_delete(
        room.keys("bob"),
        target=MessageId(kept.id),
        sender=room.member("bob"),
        device=bytes(16),
        counter=1,
        at=clock.now_ms(),
    )
    r = await post(relay.http, f"/v1/rooms/{room.room}/deletions", request, bob)
    assert r.status_code == 200, r.text
    leave = room.leave("bob", apply=False)  # leaving a frozen room works
    assert (await append(relay, room, leave, bob)).status_code == 200
    room.apply(leave)

    assert await set_frozen(config, room.room, frozen=False, clock=clock)
    room.rotate("owner")  # after bob's leave (a rotation is refused while frozen)
    assert (await append(relay, room, room.log.ops[-1], token)).status_code == 200
    await send(relay, room, "owner", token, "after the freeze")


async def test_freezing_an_unknown_room(relay: Relay, config: Config) -> None:
    assert not await set_frozen(config, "A" * 32, frozen=True)


def _hearth(*args: str) -> subprocess.CompletedProcess[str]:
    """``hearth ARGS`` in a process of its own (it sets up the process's logging)."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _hearth("admin", "freeze", "A" * 32, "--data-dir", str(data))
    assert done.returncode == 2
    assert "no database" in done.stderr  # never creates one on a wrong path
    assert not data.exists()
    asyncio.run(_new_database(data / "hearth.db"))
    done = _hearth("admin", "freeze", "not a room id", "--data-dir", str(data))
    assert (done.returncode, "room.not_found" in done.stderr) == (2, True)
    assert _hearth("admin", "freeze", "-" * 32, "--data-dir", str(data)).returncode == 1
    assert _hearth("admin", "unfreeze", "A" * 32, "--data-dir", str(data)).returncode == 1
    dest = tmp_path / "backup.db"
    done = _hearth("backup", str(dest), "--data-dir", str(data))
    assert (done.returncode, "backed up" in done.stdout) == (0, True), done.stderr
    with sqlite3.connect(dest) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = _hearth("backup", str(dest), "--data-dir", str(data))
    assert (done.returncode, "exists" in done.stderr) == (2, True)  # never overwrites


async def _new_database(path: Path) -> None:
    storage = SqliteStorage(path)
    await storage.open()
    await storage.close()


def test_backup_of_a_postgres_relay_points_to_pg_dump(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, database_url="postgresql://x@127.0.0.1/none")
    with pytest.raises(Exception, match="pg_dump"):
        backup(config, tmp_path / "b.db")
