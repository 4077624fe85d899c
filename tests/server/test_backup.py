"""The backup and restore drill, as docs/operator.md tells an operator to do it.

A real ``hearth serve`` takes messages from 8 concurrent senders; in the middle,
``hearth backup DEST`` runs as its own process beside it. The backup goes back as
``hearth.db`` of a new data directory, a second relay starts on that, and a
member reads the room there: every message acknowledged before the backup began
is there, once, with contiguous sequence numbers, and the room still takes sends.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path

import httpx

from protocol import ManualClock
from protocol.api import HistoryPage, MessageEvent
from protocol.encoding import from_json
from protocol.ids import MessageId
from tests.client_sdk.conftest import RelayProcess
from tests.security.test_crash_durability import _integrity, _token
from tests.server.helpers import headers, new_room, post

SENDERS = 8
MESSAGES = 1500


async def _backup(data_dir: Path, dest: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from server.cli import main; sys.exit(main())",
        "backup",
        str(dest),
        "--data-dir",
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"backed up" in out


async def _history(url: str, room: str, token: str) -> list[MessageEvent]:
    events: list[MessageEvent] = []
    before: int | None = None
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while True:
            params = {"limit": 500} | ({"before": before} if before is not None else {})
            r = await http.get(f"/v1/rooms/{room}/messages", params=params, headers=headers(token))
            assert r.status_code == 200, r.text
            page = from_json(r.content, HistoryPage)
            events[:0] = [e for e in page.events if isinstance(e, MessageEvent)]
            if not page.more or not page.events:
                return events
            before = page.events[0].seq


async def test_backup_while_sending_then_restore(tmp_path: Path) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    relay = RelayProcess(data, HEARTH_RATE_SEND="100000/100000")
    await asyncio.to_thread(relay.start)
    try:
        room = new_room(ManualClock())
        owner = await _token(relay.url, room, "owner")
        queue = [room.send("owner", f"m{i}") for i in range(MESSAGES)]
        queue.reverse()
        acked: list[MessageId] = []
        async with httpx.AsyncClient(base_url=relay.url, timeout=10) as http:
            r = await post(http, "/v1/rooms", room.log.ops[0], owner)
            assert r.status_code == 201, r.text

            async def sender() -> None:
                async with httpx.AsyncClient(base_url=relay.url, timeout=10) as mine:
                    while queue:
                        envelope = queue.pop()
                        url = f"/v1/rooms/{room.room}/messages"
                        r = await post(mine, url, envelope, owner)
                        assert r.status_code == 200, r.text
                        acked.append(envelope.header.id)

            async def backup_midway() -> set[MessageId]:
                while len(acked) < MESSAGES // 3:
                    await asyncio.sleep(0.005)
                before = set(acked)  # acknowledged before the backup began
                await _backup(data, tmp_path / "backup.db")
                assert queue, "the senders were still sending during the backup"
                return before

            *_, before = await asyncio.gather(*(sender() for _ in range(SENDERS)), backup_midway())
    finally:
        await asyncio.to_thread(relay.stop)

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(tmp_path / "backup.db", restored / "hearth.db")
    assert await asyncio.to_thread(_integrity, restored / "hearth.db") == "ok"
    again = RelayProcess(restored, HEARTH_RATE_SEND="100000/100000")
    await asyncio.to_thread(again.start)
    try:
        token = await _token(again.url, room, "owner")
        events = await _history(again.url, room.room, token)
        ids = [e.envelope.header.id for e in events]
        assert before <= set(ids), f"{len(before - set(ids))} acknowledged messages missing"
        assert [m for m, n in Counter(ids).items() if n > 1] == []
        seqs = [e.seq for e in events]
        assert seqs == list(range(2, len(seqs) + 2))  # after the room's creation, contiguous
        assert len(ids) < MESSAGES  # a snapshot from the middle, not the end
        async with httpx.AsyncClient(base_url=again.url, timeout=10) as http:
            r = await post(http, f"/v1/rooms/{room.room}/messages", room.send("owner", "x"), token)
        assert r.status_code == 200, r.text
    finally:
        await asyncio.to_thread(again.stop)
