"""Two real ``hearth serve`` processes over one PostgreSQL schema and one Redis channel.

:class:`Cluster` starts the instances (each its own OS process, as an operator runs
them), and :class:`Balancer` stands in front of them like a TCP load balancer:
each new connection goes to the next instance that accepts it, round robin, with no
stickiness, so one client's HTTP requests and its websocket may land on different
instances, and when an instance dies its connections drop and new ones go to the
other. Nothing here is mocked: clients speak HTTP and websockets to real relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.server.backends import postgres_schema, redis_url, unique_name
from tests.server.helpers import free_port

STARTUP = 30.0


@dataclass
class Instance:
    port: int
    proc: subprocess.Popen[bytes]
    http: httpx.AsyncClient
    base_url: str = ""
    ws_url: str = ""

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/stream"

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, connections just drop."""
        self.proc.kill()
        self.proc.communicate(timeout=10)


class Balancer:
    """A round-robin TCP forwarder on a loopback port (no stickiness, no health checks)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self._next = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.active = dict.fromkeys(ports, 0)
        """Open connections per instance port."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _upstream(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.ports)):
            port = self.ports[self._next % len(self.ports)]
            self._next += 1
            try:
                return port, *await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that instance is gone: the next one
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._upstream()
        if upstream is None:
            writer.close()
            return
        port, up_reader, up_writer = upstream
        self.active[port] += 1

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        tasks = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ]
        self._pipes.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._pipes.difference_update(tasks)
            self.active[port] -= 1


@dataclass
class Cluster:
    instances: list[Instance] = field(default_factory=list)
    balancer: Balancer | None = None


async def _serve(data: Path, port: int, env: dict[str, str]) -> Instance:
    data.mkdir(parents=True, exist_ok=True)
    log = data / "relay.log"  # a file, not a pipe nobody reads: a full pipe stalls the relay
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "server.cli", "serve"),
                *("--port", str(port), "--data-dir", str(data)),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), STARTUP)
    if b"listening on" not in line:
        _end(proc)
        raise AssertionError(f"hearth serve did not start: {line!r} {log.read_bytes()[-2000:]!r}")
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    return Instance(port, proc, http)


@asynccontextmanager
async def cluster(tmp_path: Path, *, count: int = 2) -> AsyncIterator[Cluster]:
    """``count`` relays sharing a fresh schema and a fresh Redis channel, behind a balancer."""
    redis = redis_url()
    async with postgres_schema() as (database_url, _):
        ports = [free_port() for _ in range(count)]
        balancer = Balancer(ports)
        env = {
            **os.environ,
            "HEARTH_DATABASE_URL": database_url,
            "HEARTH_PUBSUB": "redis",
            "HEARTH_PUBSUB_URL": redis,
            "HEARTH_PUBSUB_CHANNEL": unique_name("hearth_scale"),
            # Every instance signs challenges for the address clients use: the balancer's.
            "HEARTH_ORIGIN": balancer.base_url,
            "HEARTH_POW_DIFFICULTY": "4",
            "HEARTH_LOG_LEVEL": "warning",
            **{
                f"HEARTH_RATE_{b.upper()}": "10000/10000"
                for b in ("send", "join", "auth", "register", "subscribe", "request")
            },
        }
        found = Cluster(balancer=balancer)
        try:
            found.instances = list(
                await asyncio.gather(
                    *(_serve(tmp_path / f"data{i}", port, env) for i, port in enumerate(ports))
                )
            )
            await balancer.start()
            yield found
        finally:
            await balancer.stop()
            for instance in found.instances:
                await instance.http.aclose()
                await asyncio.to_thread(_end, instance.proc)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop gracefully (SIGTERM), or for good, and close the pipe."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)
