"""Disappearing messages against a real relay (issue 7, item 8).

An owner changes the room's retention with a signed ``room.retention`` in the
log; every member's SDK verifies it and drops its local copies older than the
retention, which the test checks by reading the SQLite file itself. The relay's
own purge of the same room (both storage backends) is in
tests/server/test_sync.py; telling a purge from withheld messages by the
low-water mark is in tests/client_sdk/test_roomstate.py.

The clients' retention clock is moved forward two days: every client the test
opens builds its inbox with the test's clock. Only the inbox's: with
``HearthClient(clock=...)`` the whole client would sign its sign-ins and log
operations two days ahead of the relay, which stays on real time and would refuse
them. That is the only stand-in here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from client_sdk import (
    Identity,
    MessageReceived,
    MessagesExpired,
    RetentionChanged,
    _inbox,
    client,
)
from protocol import SYSTEM_CLOCK
from protocol.errors import LogError
from tests.client_sdk.test_client import OpenClient, Watcher, _async, open_client, until

__all__ = ["open_client"]

DAY_MS = 24 * 3600 * 1000


class _Clock:
    """The real clock, shifted by ``offset`` milliseconds on the wall."""

    def __init__(self) -> None:
        self.offset = 0

    def now_ms(self) -> int:
        return SYSTEM_CLOCK.now_ms() + self.offset

    def monotonic(self) -> float:
        return SYSTEM_CLOCK.monotonic()


def _inboxes_on(clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client opened from now on builds its inbox with ``clock``."""

    def inbox(*args: Any, **kwargs: Any) -> _inbox.Inbox:
        return _inbox.Inbox(*args, **{**kwargs, "clock": clock})  # instead of the client's

    monkeypatch.setattr(client, "Inbox", inbox)


def _ids_on_disk(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT id FROM messages ORDER BY seq")]


async def test_every_member_purges_what_the_retention_expired(
    open_client: OpenClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    _inboxes_on(clock, monkeypatch)
    ben_id = Identity.generate()
    ana = await open_client(Identity.generate(), "ana")
    ben = await open_client(ben_id, "ben")
    wben = Watcher(ben)
    room = await ana.create_group("Night owls")
    assert room.retention_days is None
    ben_room = await ben.join(await room.create_invite())
    old = [await room.send("I relapsed last night."), await ben_room.send("Thank you for saying.")]
    await wben.wait(MessageReceived, lambda e: e.message.id == old[0])
    await until(lambda: _async(len(_ids_on_disk(tmp_path / "ben.db")) == 2))

    # Only an owner may change it; the SDK says so before the relay would.
    with pytest.raises(LogError) as refused:
        await ben_room.set_retention(1)
    assert refused.value.code == "log.unauthorized"
    with pytest.raises(LogError) as bad:
        await room.set_retention(0)
    assert bad.value.code == "log.invalid"

    clock.offset = 2 * DAY_MS  # two days later
    await room.set_retention(1)
    assert room.retention_days == 1
    assert await room.messages() == []  # the owner's device purged at once
    changed = await wben.wait(RetentionChanged)
    assert (changed.retention_days, changed.by) == (1, room.me)
    expired = await wben.wait(MessagesExpired)
    assert set(expired.message_ids) == set(old)
    assert ben_room.retention_days == 1
    assert await ben_room.messages() == []
    # Gone from the file itself, not hidden.
    assert _ids_on_disk(tmp_path / "ben.db") == []
    assert _ids_on_disk(tmp_path / "ana.db") == []

    # New messages stay until they are a day old.
    clock.offset = 0
    fresh = await room.send("Still here.")
    await wben.wait(MessageReceived, lambda e: e.message.id == fresh)
    assert [m.text for m in await ben_room.messages()] == ["Still here."]
    # A restarted client purges on open too.
    await ben.close()
    with sqlite3.connect(tmp_path / "ben.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = (tmp_path / "ben.db").read_bytes()
    assert all(i.encode() not in raw for i in old)  # secure_delete overwrote them
    clock.offset = 2 * DAY_MS
    ben = await open_client(ben_id, "ben")
    assert _ids_on_disk(tmp_path / "ben.db") == []
    assert await ben.room(ben_room.id).messages() == []


async def test_an_old_message_is_never_stored_once_expired(
    open_client: OpenClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    _inboxes_on(clock, monkeypatch)
    ana = await open_client(Identity.generate(), "ana")
    ben = await open_client(Identity.generate(), "ben", live=False)
    room = await ana.create_group("Short memory", retention_days=1)
    ben_room = await ben.join(await room.create_invite())
    await ben.sync()
    await room.send("said while Ben was away")
    # Ben syncs two days later: the relay still holds it (its pass has not run),
    # but Ben's SDK does not store what the retention already expired.
    clock.offset = 2 * DAY_MS
    await ben.sync()
    assert await ben_room.messages() == []
    assert _ids_on_disk(tmp_path / "ben.db") == []
    assert not ben_room.alarms
    # The same sync path stores what has not expired.
    clock.offset = 0
    await room.send("said today")
    await ben.sync()
    assert [m.text for m in await ben_room.messages()] == ["said today"]
