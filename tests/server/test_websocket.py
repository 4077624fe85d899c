"""The relay's websocket protocol on a graceful shutdown: every stream is told when to
come back (``server.websocket``; protocol.md, the close codes), each its own moment.

A real ``hearth serve`` takes the connections and a real SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.errors import STATUS, shutdown_reason
from tests.client_sdk.conftest import RelayProcess

CLIENTS = 8


def test_the_shutdown_reason_names_the_code_and_the_milliseconds() -> None:
    assert shutdown_reason(1834) == "stream.shutdown retry_ms=1834"
    assert shutdown_reason(-3) == "stream.shutdown retry_ms=0"
    assert STATUS["stream.shutdown"].close == 1012


async def test_a_graceful_shutdown_tells_each_stream_its_own_moment_to_come_back(
    tmp_path: Path,
) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    relay = RelayProcess(data, HEARTH_RESTART_SPREAD="3")
    relay.start()
    url = relay.url.replace("http", "ws", 1) + "/v1/stream"
    try:
        sockets = [await connect(url) for _ in range(CLIENTS)]
        await asyncio.to_thread(relay.stop)  # SIGTERM: uvicorn's graceful shutdown
        reasons: list[tuple[int | None, str]] = []
        for ws in sockets:
            async with asyncio.timeout(10):  # a hang guard
                try:
                    await ws.recv()
                except ConnectionClosed as exc:
                    frame = exc.rcvd
                    reasons.append((frame.code, frame.reason) if frame else (None, ""))
        moments = []
        for code, reason in reasons:
            assert code == 1012
            name, _, hint = reason.partition(" retry_ms=")
            assert name == "stream.shutdown"
            assert hint.isdigit()
            moments.append(int(hint))
        assert all(0 <= m <= 3000 for m in moments)
        assert len(set(moments)) > 1  # spread out, not all at once
    finally:
        relay.stop()
