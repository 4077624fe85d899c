"""``/readyz`` tells the truth: a full disk, pub/sub down, and a log that says why once.

The full disk is real: a small tmpfs mounted for the test (so it needs root on Linux,
and skips saying so elsewhere), filled with a file until the kernel answers ENOSPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from protocol import ManualClock
from tests.server import conftest
from tests.server.backends import postgres_schema, redis_url
from tests.server.conftest import make_config
from tests.server.helpers import create, post

WAIT = 20.0
"""The longest any condition below may take (a bound, not a pace)."""


@contextlib.contextmanager
def small_disk(path: Path, size: str = "3m") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path``, unmounted afterwards."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """A file that takes every free byte of ``disk``."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):  # down to the last byte
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``check()`` is true (polling; bounded by WAIT, then fail naming ``what``)."""
    try:
        async with asyncio.timeout(WAIT):
            while not await check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"not within {WAIT} s: {what}")


def lines(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.ERROR) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


async def test_a_full_disk_fails_readyz_with_its_cause_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hearth")
    clock = ManualClock()
    with small_disk(tmp_path / "disk") as disk:
        config = make_config(disk, health_probe_interval=0.05)
        async with conftest.test_client(config, clock) as relay:
            room, token = await create(relay, clock)
            r = await relay.http.get("/readyz")
            assert (r.status_code, r.json()) == (200, {"status": "ok"})

            filler = fill(disk)
            statuses: list[int] = []
            for _ in range(500):  # writes until the disk's lack of room shows
                envelope = room.send("owner", "a message that has to be stored " * 20)
                r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
                statuses.append(r.status_code)
                if r.status_code != 200:
                    break
            assert statuses[-1] == 503, statuses
            assert r.json()["code"] == "storage.unavailable"

            r = await relay.http.get("/readyz")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "unavailable"
            assert "no space left on device" in body["reasons"][0], body

            # More failing requests, and the probes meanwhile, add no line.
            for _ in range(20):
                envelope = room.send("owner", "another")
                r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
                assert r.status_code == 503
            said = lines(caplog, "no space left on device")
            assert len(said) == 1, said
            assert str(disk / "data" / "hearth.db") in said[0]
            assert lines(caplog, "storage failure") == []

            filler.unlink()

            async def ready() -> bool:
                return (await relay.http.get("/readyz")).status_code == 200

            await until(ready, "readyz is 200 again")
            envelope = room.send("owner", "after the disk has room")
            r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
            assert r.status_code == 200, r.text
            assert lines(caplog, "recovered", logging.WARNING)


class Proxy:
    """A TCP proxy to ``target`` on a fixed local port that can be cut and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def stall(self) -> None:
        """Keep every connection open but forward nothing, as a network that drops packets."""
        self._flowing.clear()

    def flow(self) -> None:
        """Forward again what waited."""
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop accepting and drop every connection, as a Redis that went away."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    await self._flowing.wait()
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


async def test_readyz_says_degraded_while_pubsub_is_down_and_recovers(tmp_path: Path) -> None:
    redis = urlsplit(redis_url())
    proxy = Proxy((redis.hostname or "127.0.0.1", redis.port or 6379))
    await proxy.start()
    try:
        await degraded_and_back(tmp_path, proxy, redis.path)
    finally:
        await proxy.cut()


async def degraded_and_back(tmp_path: Path, proxy: Proxy, db: str) -> None:
    clock = ManualClock()
    async with postgres_schema() as (url, schema):
        config = make_config(
            tmp_path,
            database_url=url,
            pubsub="redis",
            pubsub_url=f"redis://127.0.0.1:{proxy.port}{db}",
            pubsub_channel=schema,
        )
        async with conftest.test_client(config, clock) as relay:

            async def status(wanted: str) -> bool:
                r = await relay.http.get("/readyz")
                assert r.status_code == 200, r.text
                return bool(r.json()["status"] == wanted)

            await until(lambda: status("ok"), "pub/sub is up")
            await proxy.cut()
            await until(lambda: status("degraded"), "pub/sub is down")
            body = (await relay.http.get("/readyz")).json()
            assert body["reasons"][0].startswith("pub/sub is down ("), body
            await proxy.start()
            await until(lambda: status("ok"), "pub/sub is back")


async def test_an_unreachable_database_fails_readyz_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hearth")
    async with postgres_schema() as (url, _):
        parts = urlsplit(url)
        proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        await proxy.start()
        netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else ""
        through = parts._replace(netloc=netloc or f"127.0.0.1:{proxy.port}").geturl()
        try:
            await unreachable_and_back(tmp_path, proxy, through, caplog)
        finally:
            await proxy.cut()


async def unreachable_and_back(
    tmp_path: Path, proxy: Proxy, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    config = make_config(tmp_path, database_url=url, health_probe_interval=0.05)
    async with conftest.test_client(config, clock) as relay:
        room, token = await create(relay, clock)

        async def readyz(status: int, reason: str = "") -> bool:
            r = await relay.http.get("/readyz")
            return r.status_code == status and reason in " ".join(r.json().get("reasons", []))

        await until(lambda: readyz(200), "ready")
        await proxy.cut()
        await until(lambda: readyz(503, "the database is unreachable"), "unavailable")
        for _ in range(20):
            envelope = room.send("owner", "while the database is away")
            r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
            assert r.status_code == 503
        said = lines(caplog, "the database is unreachable")
        assert len(said) == 1, said

        await proxy.start()
        await until(lambda: readyz(200), "ready again")
        envelope = room.send("owner", "the database is back")
        r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
        assert r.status_code == 200, r.text


async def test_a_database_that_stops_answering_fails_readyz_without_hanging(
    tmp_path: Path,
) -> None:
    """Connections stay open but nothing comes back: /readyz answers 503 in time."""
    async with postgres_schema() as (url, _):
        parts = urlsplit(url)
        proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        await proxy.start()
        netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else ""
        through = parts._replace(netloc=netloc or f"127.0.0.1:{proxy.port}").geturl()
        try:
            config = make_config(tmp_path, database_url=through, health_probe_interval=3600)
            async with conftest.test_client(config, ManualClock()) as relay:
                r = await relay.http.get("/readyz")
                assert r.status_code == 200, r.text
                proxy.stall()
                async with asyncio.timeout(30):  # a hang guard: the bound itself is 2 s
                    r = await relay.http.get("/readyz")
                assert r.status_code == 503
                assert "storage does not answer: no answer within 2 s" in r.json()["reasons"]
                proxy.flow()
                await until(lambda: _ready(relay), "ready again")
        finally:
            proxy.flow()
            await proxy.cut()


async def _ready(relay: conftest.Relay) -> bool:
    return (await relay.http.get("/readyz")).status_code == 200
