"""The upgrade path: a data directory written by the previous release, opened by this one.

``fixtures/upgrade-schema4/hearth.db`` is what commit 73c2b7e's relay (SQLite
schema 4, the last before schema 5) left after two members talked in a group;
``scripts/make_upgrade_fixture.py`` wrote it. The current ``hearth serve`` starts
on a copy, migrates it, and each member, restored on a new device from nothing
but their recovery phrase, reads every message back through the SDK.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from client_sdk import HearthClient, Identity
from scripts.make_upgrade_fixture import PHRASES, TEXTS
from server.storage.sqlite import SCHEMA_VERSION
from tests.client_sdk.conftest import RelayProcess

FIXTURE = Path(__file__).with_name("fixtures") / "upgrade-schema4" / "hearth.db"


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_the_previous_release_data_opens_and_reads_back(tmp_path: Path) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    shutil.copyfile(FIXTURE, data / "hearth.db")
    assert _user_version(data / "hearth.db") == 4 < SCHEMA_VERSION
    relay = RelayProcess(data)
    await asyncio.to_thread(relay.start)
    try:
        assert _user_version(data / "hearth.db") == SCHEMA_VERSION
        expected = sorted(TEXTS["ana"] + TEXTS["ben"])
        for name, phrase in PHRASES.items():  # ana, then ben (who also sees ana's new one)
            me = Identity.from_recovery_phrase(phrase)
            async with HearthClient(
                relay.url, me, store_path=tmp_path / f"{name}.db", live=False
            ) as client:
                await client.sync()
                assert len(client.rooms) == 1, f"{name}'s room is restored"
                room = client.rooms[0]
                assert room.name == "Upgrade circle"
                texts = [m.text for m in await room.messages(limit=100)]
                assert sorted(texts) == expected
                await room.send(f"{name} after the upgrade")
                expected = sorted([*expected, f"{name} after the upgrade"])
                assert await room.pending() == 0
    finally:
        await asyncio.to_thread(relay.stop)
