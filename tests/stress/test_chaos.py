"""Chaos: the relay killed under SDK load, and its disk filled up, while people send.

Two faults an operator meets, each ending with the same audit: every message a
sender was told is stored is there exactly once, in the order its sender sent it.

- **kill -9 under SDK load.** A real ``hearth serve`` on a data directory, several
  :class:`client_sdk.HearthClient` senders in one room, and the relay killed with
  SIGKILL :data:`ROUNDS` times, each after a fresh stretch of sends, then started
  again on the same directory. The senders go on throughout (the SDK queues what
  it cannot deliver and resends on reconnect). At the end every sender's outbox
  drains, and a member that sent nothing, opened afresh, reads the room's history:
  each message once, each sender's in its order; the relay's own store holds no
  message id twice and its sequence numbers are contiguous.
- **A full disk.** The data directory is a small tmpfs (``mount -t tmpfs``, so
  root: CI runs as root; elsewhere the test skips and says why). Filled with a
  ballast file, the relay refuses sends with ``503 storage.unavailable`` (not a
  500, not a hang), keeps serving reads, and once the ballast is gone takes the
  refused messages again; every message it acknowledged, before, during or after,
  is stored exactly once.

Marked ``stress`` (about a minute in all on the 2-core CI machine): ``.ci/run``
runs them in the step ``make test ARGS="-m stress tests/stress"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from client_sdk import HearthClient, Identity, Room
from protocol import ManualClock
from protocol.messages import Envelope
from tests.client_sdk.conftest import RelayProcess, free_port
from tests.security.test_crash_durability import _integrity, _LogRoomRef, _stored, _token
from tests.server.helpers import Room as LogRoom
from tests.server.helpers import new_room, post

pytestmark = pytest.mark.stress

ROUNDS = 4
"""Kills of the relay under load."""
SENDERS = 4
SENDS_PER_ROUND = 40
"""Sends (acknowledged or queued) between two kills, over all senders."""
DEADLINE = 120.0
"""Seconds the whole kill run may take before it counts as a hang."""


@dataclass
class _Sender:
    name: str
    client: HearthClient
    room: Room
    sent: list[str] = field(default_factory=list)
    """Texts whose ``send`` returned: acknowledged, or safely in the outbox."""


@pytest.fixture
async def chaos_relay(tmp_path: Path) -> AsyncIterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data, HEARTH_RATE_SEND="100000/100000")
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


def _client(relay: RelayProcess, identity: Identity, store: Path) -> HearthClient:
    return HearthClient(
        relay.url,
        identity,
        store_path=store,
        live=False,
        timeout=5.0,
        reconnect_delay=(0.05, 0.5),
    )


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Wait for ``check()`` to hold, bounded by ``timeout``."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_relay_killed_under_sdk_load_keeps_every_message_once(
    chaos_relay: RelayProcess, tmp_path: Path
) -> None:
    relay = chaos_relay
    async with contextlib.AsyncExitStack() as stack:
        owner_id = Identity.generate()
        owner = await stack.enter_async_context(_client(relay, owner_id, tmp_path / "owner.db"))
        group = await owner.create_group("Night shift")
        link = await group.create_invite(max_uses=SENDERS + 1, expires_in=3600)
        senders = [_Sender("owner", owner, group)]
        for i in range(1, SENDERS):
            client = await stack.enter_async_context(
                _client(relay, Identity.generate(), tmp_path / f"s{i}.db")
            )
            senders.append(_Sender(f"s{i}", client, await client.join(link)))
        reader_id = Identity.generate()
        async with _client(relay, reader_id, tmp_path / "reader.db") as reader:
            room_id = (await reader.join(link)).id
        for s in senders:
            await s.client.sync()

        stop = asyncio.Event()
        progress = asyncio.Condition()

        async def send_loop(s: _Sender) -> None:
            n = 0
            while not stop.is_set():
                text = f"{s.name}-{n}"
                await s.room.send(text)
                s.sent.append(text)
                n += 1
                async with progress:
                    progress.notify_all()

        def total() -> int:
            return sum(len(s.sent) for s in senders)

        started = time.monotonic()
        tasks = [asyncio.create_task(send_loop(s)) for s in senders]
        try:
            async with asyncio.timeout(DEADLINE):
                for _ in range(ROUNDS):
                    target = total() + SENDS_PER_ROUND
                    async with progress:
                        await progress.wait_for(lambda t=target: total() >= t)
                    relay.kill()  # kill -9 in the middle of the senders' traffic
                    await asyncio.to_thread(relay.start)
                target = total() + SENDS_PER_ROUND  # a stretch after the last restart
                async with progress:
                    await progress.wait_for(lambda t=target: total() >= t)
        finally:
            stop.set()
            done, _ = await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            assert task in done, "a sender hung"
            task.result()

        async def drained() -> bool:
            return all([await s.client.flush() == 0 for s in senders])

        await _until(drained)  # every outbox drains after the last restart
        elapsed = time.monotonic() - started

    # A member that sent nothing, opened afresh, reads everything from the relay.
    async with _client(relay, reader_id, tmp_path / "reader.db") as reader:
        await reader.sync()
        history = [m.text for m in await reader.room(room_id).messages(limit=10_000)]
    counts = Counter(history)
    for s in senders:
        assert [t for t in history if t.startswith(f"{s.name}-")] == s.sent, (
            f"{s.name}'s messages must be there once each, in the order sent"
        )
        assert all(counts[t] == 1 for t in s.sent)

    assert await asyncio.to_thread(_integrity, relay.data_dir / "hearth.db") == "ok"
    _, ids, seqs = await _stored(relay.data_dir, _LogRoomRef(room_id))
    assert seqs == list(range(1, len(seqs) + 1)), "sequence numbers stay contiguous"
    assert [m for m, n in Counter(ids).items() if n > 1] == []
    print(
        f"chaos: {ROUNDS} kills, {sum(len(s.sent) for s in senders)} messages from"
        f" {SENDERS} SDK senders, {elapsed:.1f} s"
    )


# -- a full disk ------------------------------------------------------------------------

DISK = "8m"
"""The tmpfs the relay's data directory lives on."""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of :data:`DISK` mounted at ``tmp_path / "relay-data"``."""
    mount = tmp_path / "relay-data"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a tmpfs, which needs root (CI runs as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): no full-disk test")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> int:
    """Write ``path`` until the file system is full; return the bytes written."""
    chunk, written = b"\0" * 65536, 0
    with path.open("wb", buffering=0) as f:
        for size in (len(chunk), 512):  # down to the last block the big writes left
            while True:
                try:
                    written += f.write(chunk[:size])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


async def _send(
    http: httpx.AsyncClient, room: LogRoom, token: str, envelope: Envelope
) -> httpx.Response:
    return await post(http, f"/v1/rooms/{room.room}/messages", envelope, token)


async def test_full_disk_refuses_sends_typed_then_resumes(small_disk: Path, tmp_path: Path) -> None:
    metrics_port = free_port()
    relay = RelayProcess(
        small_disk, HEARTH_RATE_SEND="100000/100000", HEARTH_METRICS_PORT=str(metrics_port)
    )
    await asyncio.to_thread(relay.start)
    try:
        room = new_room(ManualClock())
        owner = await _token(relay.url, room, "owner")
        acked: list[Envelope] = []
        refused: list[Envelope] = []
        async with httpx.AsyncClient(base_url=relay.url, timeout=10) as http:
            r = await post(http, "/v1/rooms", room.log.ops[0], owner)
            assert r.status_code == 201, r.text
            for i in range(50):
                envelope = room.send("owner", f"before {i}")
                assert (await _send(http, room, owner, envelope)).status_code == 200
                acked.append(envelope)

            ballast = small_disk / "ballast"
            await asyncio.to_thread(_fill, ballast)
            # The database's own files may still have free pages or WAL frames to
            # reuse: send until a write needs new space (bounded; 8 MB of messages
            # is far beyond it).
            for i in range(5000):
                envelope = room.send("owner", f"full {i}")
                r = await _send(http, room, owner, envelope)
                if r.status_code == 200:
                    acked.append(envelope)
                    continue
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "storage.unavailable", r.text
                refused.append(envelope)
                if len(refused) >= 5:
                    break
            assert len(refused) >= 5, "a full disk must refuse sends"
            # The operator sees it in the metrics: 503s, and the commits that failed.
            r = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            lines = dict(line.split(" ") for line in r.text.splitlines() if line[0] != "#")
            assert float(lines["hearth_storage_errors_total"]) == len(refused)
            assert float(lines["hearth_commit_failures_total"]) >= 1
            # Reads go on while the disk is full.
            r = await http.get("/healthz")
            assert r.status_code == 200

            await asyncio.to_thread(ballast.unlink)
            for envelope in refused:  # the same envelopes again: sends are idempotent
                r = await _send(http, room, owner, envelope)
                assert r.status_code == 200, r.text
                acked.append(envelope)
            for i in range(20):
                envelope = room.send("owner", f"after {i}")
                assert (await _send(http, room, owner, envelope)).status_code == 200
                acked.append(envelope)
    finally:
        await asyncio.to_thread(relay.stop)

    assert await asyncio.to_thread(_integrity, small_disk / "hearth.db") == "ok"
    _, ids, seqs = await _stored(small_disk, room)
    assert seqs == list(range(1, len(seqs) + 1))
    assert ids == [e.header.id for e in acked], "every acknowledged message, once, in order"
    # The relay restarts on the directory the full disk left behind.
    await asyncio.to_thread(relay.start)
    await asyncio.to_thread(relay.stop)
