"""Fixtures: the real relay app over a real SQLite file in ``tmp_path``, and over PostgreSQL.

Every fixture that builds a relay runs each test twice: on SQLite, and on a fresh
PostgreSQL schema with LISTEN/NOTIFY fan-out (skipped, saying so, unless
``HEARTH_TEST_POSTGRES_URL`` is set; see ``tests/server/backends.py``).

``relay`` drives the app in-process through httpx's ASGI transport. ``live`` runs the same
app under uvicorn on a free loopback port inside the test's event loop, for what
needs real sockets and real concurrency: websocket back-pressure, frame limits and
concurrent commits. ``make_client`` builds more of either with other settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from protocol import ManualClock
from server.app import create_app, default_storage
from server.config import Config, Rate
from server.limits import http_protocol_class
from server.storage import Storage
from server.websocket import protocol_class
from tests.server.backends import BACKENDS, config_changes

GENEROUS = {
    b: Rate(10_000.0, 10_000) for b in ("send", "join", "auth", "register", "subscribe", "request")
}


def make_config(tmp_path: Path, **changes: Any) -> Config:
    base = Config(
        data_dir=tmp_path / "data",
        pow_difficulty=4,
        origin="http://relay.test",
        rate_limits=GENEROUS,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """The config settings of this run's storage backend (each test gets its own database)."""
    async with config_changes(request.param) as changes:
        yield changes


@pytest.fixture
def config(tmp_path: Path, backend: dict[str, Any]) -> Config:
    return make_config(tmp_path, **backend)


@dataclasses.dataclass
class Relay:
    """A running app with its storage (to look inside) and an HTTP client."""

    app: Litestar
    storage: Storage
    http: httpx.AsyncClient
    base_url: str = "http://testserver.local"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/v1/stream"


@asynccontextmanager
async def test_client(config: Config, clock: ManualClock) -> AsyncIterator[Relay]:
    # The app runs in the test's own event loop (httpx's ASGI transport and the app's
    # lifespan), not in AsyncTestClient's portal thread: tests then share one loop
    # with the relay's locks and may look inside its storage.
    storage = default_storage(config)
    app = create_app(config, storage, clock=clock)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http,
    ):
        yield Relay(app, storage, http)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Drive the ASGI lifespan protocol from one task, as a server does."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, str]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    task = asyncio.create_task(app({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await outbox.get()
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await task


@asynccontextmanager
async def live_server(
    config: Config, clock: ManualClock, *, sndbuf: int | None = None
) -> AsyncIterator[Relay]:
    storage = default_storage(config)
    app = create_app(config, storage, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_max_size=config.max_frame_bytes,
            ws_ping_interval=config.ws_ping_interval,
            ws_ping_timeout=config.ws_ping_timeout,
            ws=protocol_class(config.ws_frame_timeout),
            http=http_protocol_class(config.header_timeout),
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield Relay(app, storage, http, base)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.fixture
async def relay(config: Config, clock: ManualClock) -> AsyncIterator[Relay]:
    async with test_client(config, clock) as r:
        yield r


@pytest.fixture
async def live(config: Config, clock: ManualClock) -> AsyncIterator[Relay]:
    async with live_server(config, clock) as r:
        yield r


@pytest.fixture
def make_relay(tmp_path: Path, clock: ManualClock, backend: dict[str, Any]) -> Callable[..., Any]:
    """``async with make_relay(live=False, **config_changes) as relay`` (same database)."""

    def factory(*, live: bool = False, sndbuf: int | None = None, **changes: Any) -> Any:
        config = make_config(tmp_path, **{**backend, **changes})
        return live_server(config, clock, sndbuf=sndbuf) if live else test_client(config, clock)

    return factory
