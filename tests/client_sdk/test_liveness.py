"""Liveness (issue 20): an outbox that drains by itself, a storage failure told apart
from "offline", sends that never wait on a stream already gone, and a graceful
restart's "come back in N ms".

Every test runs a real relay: ``hearth serve`` in a subprocess (conftest.py), or,
where the relay's storage must fail on demand, the same application under uvicorn
in the test's event loop with its storage's write failing as a full disk makes it
fail. Waits are on events, each under a bound that only guards against a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

import client_sdk._transport as transport_module
from client_sdk import (
    ConnectionChanged,
    HearthClient,
    Identity,
    MessageReceived,
    OutboxChanged,
    RelayError,
)
from client_sdk._live import LiveStream
from client_sdk._transport import Transport
from protocol.api import RoomEvent
from protocol.encoding import from_json
from protocol.errors import HearthError
from protocol.ids import RoomId
from protocol.messages import Envelope
from server.app import create_app, default_storage
from server.config import Config
from server.errors import StorageError
from server.websocket import protocol_class
from tests.client_sdk.conftest import RelayProcess, client_of
from tests.client_sdk.test_client import Watcher

QUICK = (0.05, 0.5)
"""Reconnect and retry delays small enough for a test."""


async def until(check: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


# -- the outbox retries by itself -------------------------------------------------


@pytest.mark.parametrize("queued_offline", [False, True], ids=["online", "offline-then-back"])
async def test_a_rate_limited_outbox_drains_by_itself_while_online(
    tmp_path: Path, queued_offline: bool
) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    # Two messages a second after a burst of three: most of the ten are refused
    # with rate.limited and a retry_after at first.
    relay = RelayProcess(data, HEARTH_RATE_SEND="2/3")
    relay.start()
    try:
        async with HearthClient(
            relay.url, Identity.generate(), store_path=tmp_path / "a.db", reconnect_delay=QUICK
        ) as client:
            watcher = Watcher(client)
            room = await client.create_group("Busy evening")
            await until(lambda: client.online)
            if queued_offline:
                relay.stop()
                await until(lambda: not client.online)
            ids = [await room.send(f"message {i}") for i in range(10)]
            if queued_offline:
                assert await room.pending() == 10
                relay.start()

            # The app never calls flush(): the SDK tries again by itself.
            waiting = await watcher.wait(OutboxChanged, lambda e: e.state == "retrying", timeout=30)
            assert waiting.room_id == room.id
            assert waiting.pending > 0
            assert waiting.retry_in is not None
            assert waiting.retry_in >= 1  # the relay's retry_after (whole seconds)
            await watcher.wait(OutboxChanged, lambda e: e.state == "sent", timeout=60)
            assert await room.pending() == 0
            stored = [m for m in await room.messages(limit=50) if m.text.startswith("message")]
            assert [m.id for m in stored] == ids  # in order, each exactly once
    finally:
        relay.stop()


# -- a relay that cannot store -----------------------------------------------------


@dataclasses.dataclass
class InProcessRelay:
    url: str
    failing: bool = False
    """While set, the relay's storage fails every message write (a full disk)."""


@contextlib.asynccontextmanager
async def relay_in_process(tmp_path: Path, **changes: Any) -> AsyncIterator[InProcessRelay]:
    """The relay application under uvicorn in this loop, its message writes switchable
    to fail as a full disk fails them (``StorageError``, answered ``storage.unavailable``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config = Config(data_dir=tmp_path / "relay-data", pow_difficulty=4, origin=url, **changes)
    storage = default_storage(config)
    handle = InProcessRelay(url)
    original = storage.add_messages

    async def add_messages(*args: Any, **kwargs: Any) -> Any:
        if handle.failing:
            raise StorageError("the disk is full")
        return await original(*args, **kwargs)

    storage.add_messages = add_messages  # type: ignore[method-assign]
    app = create_app(config, storage)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws=protocol_class(config.ws_frame_timeout, config.restart_spread),
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done())
        if task.done():
            task.result()
        yield handle
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


async def test_a_relay_that_cannot_store_is_told_apart_and_the_message_goes_once_it_can(
    tmp_path: Path,
) -> None:
    async with (
        relay_in_process(tmp_path) as relay,
        HearthClient(
            relay.url, Identity.generate(), store_path=tmp_path / "a.db", reconnect_delay=QUICK
        ) as client,
    ):
        watcher = Watcher(client)
        room = await client.create_group("Disk full")
        await until(lambda: client.online)
        relay.failing = True
        async with asyncio.timeout(5):  # a hang guard: the old send waited out 10 s
            message_id = await room.send("said while the disk is full")
        stalled = await watcher.wait(OutboxChanged, lambda e: e.state == "storage", timeout=30)
        assert stalled.pending == 1
        assert all(e.state != "offline" for e in watcher.of(OutboxChanged))
        assert await room.pending() == 1

        relay.failing = False  # the operator freed space; the app does nothing
        await watcher.wait(OutboxChanged, lambda e: e.state == "sent", timeout=30)
        assert await room.pending() == 0
        mine = [m for m in await room.messages() if m.text == "said while the disk is full"]
        assert [m.id for m in mine] == [message_id]  # delivered, exactly once
        assert not [e for e in watcher.of(MessageReceived) if e.message.id == message_id][
            1:
        ]  # and announced once


@dataclasses.dataclass
class _Host:
    """A stream host whose catch-up sends a message over the stream: what the
    client's ``stream_ready`` does when it flushes its outbox on connecting."""

    room: RoomId
    token: str
    envelope: Envelope
    live: LiveStream | None = None
    result: list[object] = dataclasses.field(default_factory=list)
    sent: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def stream_tokens(self) -> dict[RoomId, str]:
        return {self.room: self.token}

    async def stream_ready(self) -> dict[RoomId, int]:
        assert self.live is not None
        if not self.sent.is_set():
            self.result.append(await self.live.send(self.envelope))
            self.sent.set()
        return {}

    async def stream_events(self, room: RoomId, events: Sequence[RoomEvent]) -> None:
        pass

    def stream_online(self, online: bool) -> None:
        pass

    def stream_refused(self) -> None:
        pass


async def test_a_stream_closed_during_the_connect_flush_wakes_its_waiting_send_at_once(
    tmp_path: Path,
) -> None:
    async with relay_in_process(tmp_path) as relay:
        async with HearthClient(
            relay.url, Identity.generate(), store_path=tmp_path / "a.db", live=False
        ) as client:
            room = await client.create_group("Closed under us")
            token = await client._driver(room.id).token()
            relay.failing = True
            await room.send("queued")  # over HTTP: 503, so it stays in the outbox
            store = client_of(room)._store
            assert store is not None
            (entry,) = await store.outbox(room.id)
            envelope = from_json(entry.envelope, Envelope)

        # The relay fails the write and closes the stream (1011) while the send waits
        # for its acknowledgement, and while the stream's own loop is busy in the
        # host's catch-up: the send must learn it from the close, not from a timeout.
        transport = Transport(relay.url, timeout=5)
        host = _Host(room.id, token, envelope)
        live = LiveStream(transport, host, reconnect_delay=QUICK, timeout=5)
        host.live = live
        task = asyncio.create_task(live.run())
        try:
            async with asyncio.timeout(5):  # a hang guard; the ack timeout is 10 s
                await host.sent.wait()
            assert host.result == [None]  # not carried: the caller goes over HTTP
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await transport.close()


# -- a graceful restart says when to come back ---------------------------------------


def test_a_shutdown_close_reason_carries_its_comeback_and_storage_is_not_offline() -> None:
    def closed(code: int, reason: str) -> Exception:
        return transport_module._closed(ConnectionClosed(Close(code, reason), None))

    shutdown = closed(1012, "stream.shutdown retry_ms=2500")
    assert isinstance(shutdown, RelayError)
    assert (shutdown.code, shutdown.retry_after) == ("stream.shutdown", 2.5)
    plain = closed(1012, "")  # an older relay, or uvicorn's own close
    assert isinstance(plain, RelayError)
    assert (plain.code, plain.retry_after) == ("stream.shutdown", None)
    storage = closed(1011, "storage.unavailable")
    assert isinstance(storage, RelayError)
    assert storage.code == "storage.unavailable"
    assert storage.retryable
    for junk in (
        "stream.shutdown retry_ms=",
        "stream.shutdown retry_ms=-5",
        "x retry_ms=1e9",
        "x retry_ms=²",
    ):
        got = closed(1012, junk)
        assert isinstance(got, RelayError)
        assert got.retry_after is None


async def test_a_client_told_when_to_come_back_reconnects_after_that_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    relay = RelayProcess(data, HEARTH_RESTART_SPREAD="2")
    relay.start()
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    ends: list[tuple[float, HearthError]] = []
    connect_once = LiveStream._connect_once

    async def recorded(self: LiveStream) -> None:
        """The rooms' stream: when each connection began, and how each one ended."""
        starts.append(loop.time())
        try:
            await connect_once(self)
        except HearthError as exc:
            ends.append((loop.time(), exc))
            raise

    identity = Identity.generate()
    try:
        async with HearthClient(relay.url, identity, store_path=tmp_path / "a.db") as client:
            await client.create_group("Upgrade night")
        monkeypatch.setattr(LiveStream, "_connect_once", recorded)
        # Opened with its room already there, the stream connects once and stays; a
        # backoff this quick would be back within 50 ms: only the hint holds it off.
        async with HearthClient(
            relay.url, identity, store_path=tmp_path / "a.db", reconnect_delay=(0.05, 10.0)
        ) as client:
            watcher = Watcher(client)
            await until(lambda: client.online)
            await asyncio.to_thread(relay.restart)  # SIGTERM, then the same port and data
            await watcher.wait(ConnectionChanged, lambda e: not e.online, timeout=30)
            await until(lambda: client.online)
            told = [
                (at, exc.retry_after)
                for at, exc in ends
                if isinstance(exc, RelayError) and exc.code == "stream.shutdown"
            ]
            assert len(told) == 1, ends
            closed_at, hint = told[0]
            assert hint is not None
            assert 0 <= hint <= 2
            # Ordered, not timed: the next connection began once the hinted moment
            # had passed, never before it.
            after = [t for t in starts if t > closed_at]
            assert after, "the client reconnected"
            assert after[0] >= closed_at + hint - 0.01
    finally:
        relay.stop()
