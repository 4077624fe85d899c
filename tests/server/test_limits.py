"""Connection hygiene with real sockets: request heads on a deadline, streams capped.

A raw asyncio TCP client that sends a partial head, or trickles one, is closed within
``header_timeout``; the wait is on the close itself, bounded by a guard well above the
limit (a broken deadline fails at the guard, never by a timed assertion). Streams past
``ws_max_per_key`` or ``ws_max_per_address`` are closed with 4430 ``stream.too_many``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from protocol import ManualClock
from server.errors import close_code
from tests.server.conftest import Relay
from tests.server.helpers import create, join
from tests.server.test_stream import closed_with, open_stream

GUARD = 15.0
"""The longest a close may take here before the test fails (the limit is 0.5 s)."""

HEAD_LIMIT = 0.5


async def raw(relay: Relay) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = relay.base_url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def closed_by_relay(reader: asyncio.StreamReader) -> bytes:
    """Everything the relay sent until it closed the connection (bounded by GUARD)."""
    async with asyncio.timeout(GUARD):
        return await reader.read()


async def test_a_partial_request_head_is_closed_within_the_limit(make_relay: Any) -> None:
    async with make_relay(live=True, header_timeout=HEAD_LIMIT) as relay:
        idle = [await raw(relay) for _ in range(20)]  # connected, nothing sent
        reader, writer = await raw(relay)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay.test\r\n")
        await writer.drain()
        assert await closed_by_relay(reader) == b""
        for r, _ in idle:
            assert await closed_by_relay(r) == b""
        for _, w in [*idle, (reader, writer)]:
            w.close()
        # A whole request still gets its answer.
        assert (await relay.http.get("/healthz")).status_code == 200


async def test_a_trickled_request_head_is_closed_within_the_limit(make_relay: Any) -> None:
    async with make_relay(live=True, header_timeout=HEAD_LIMIT) as relay:
        reader, writer = await raw(relay)
        head = b"GET /healthz HTTP/1.1\r\nHost: relay.test\r\nX-Slow: " + b"a" * 10_000

        async def trickle() -> int:
            sent = 0
            with contextlib.suppress(OSError):
                for byte in head:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    sent += 1
                    await asyncio.sleep(0.02)  # pacing the attack, not waiting for anything
            return sent

        trickler = asyncio.create_task(trickle())
        assert await closed_by_relay(reader) == b""
        trickler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trickler
        writer.close()


async def test_a_kept_alive_connection_gets_a_new_deadline_per_request(make_relay: Any) -> None:
    async with make_relay(live=True, header_timeout=HEAD_LIMIT) as relay:
        reader, writer = await raw(relay)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay.test\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(GUARD):
            status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        writer.write(b"GET /healthz HTTP/1.1\r\n")  # the next head never ends
        await writer.drain()
        rest = await closed_by_relay(reader)
        assert b"HTTP/1.1" not in rest.split(b"\r\n\r\n", 1)[-1]
        writer.close()


async def test_an_upgraded_stream_outlives_the_head_deadline(make_relay: Any) -> None:
    clock = ManualClock()
    async with make_relay(live=True, header_timeout=HEAD_LIMIT) as relay:
        room, token = await create(relay, clock)
        ws = await open_stream(relay, token)
        # A connection opened after the stream, closed at its deadline: the stream's
        # own deadline (had it one) has passed by then too.
        reader, writer = await raw(relay)
        assert await closed_by_relay(reader) == b""
        writer.close()
        await ws.send(json.dumps({"type": "subscribe", "positions": {room.room: 0}}))
        async with asyncio.timeout(GUARD):
            frame = json.loads(await ws.recv())
        assert frame["type"] == "event", frame
        await ws.close()


async def test_streams_per_key_are_capped_with_a_typed_close(make_relay: Any) -> None:
    clock = ManualClock()
    async with make_relay(live=True, ws_max_per_key=2) as relay:
        room, token = await create(relay, clock)
        bob = await join(relay, room, token, "bob")
        first = await open_stream(relay, token)
        second = await open_stream(relay, token, bob)
        third = await open_stream(relay)
        await third.send(json.dumps({"type": "auth", "tokens": [token]}))
        assert await closed_with(third) == (close_code("stream.too_many"), "stream.too_many")
        assert close_code("stream.too_many") == 4430
        # Bob's key has one stream: a stream for both keys is refused as a whole.
        both = await open_stream(relay)
        await both.send(json.dumps({"type": "auth", "tokens": [bob, token]}))
        assert await closed_with(both) == (4430, "stream.too_many")
        await open_stream(relay, bob)  # bob alone: his second
        # A stream that ends gives its place back.
        await first.close()
        await reopened(relay, token)
        await second.close()


async def reopened(relay: Relay, token: str) -> ClientConnection:
    """A stream for ``token``, retried while the relay still counts a closed one."""
    async with asyncio.timeout(GUARD):
        while True:
            ws = await open_stream(relay)
            await ws.send(json.dumps({"type": "auth", "tokens": [token]}))
            with contextlib.suppress(ConnectionClosed):
                if json.loads(await ws.recv())["type"] == "ready":
                    return ws
            assert ws.close_code == 4430, ws.close_code
            await asyncio.sleep(0.02)


async def test_streams_per_address_are_capped_with_a_typed_close(make_relay: Any) -> None:
    async with make_relay(live=True, ws_max_per_address=3) as relay:
        held = [await open_stream(relay) for _ in range(3)]  # not even authenticated
        extra = await open_stream(relay)
        assert await closed_with(extra) == (4430, "stream.too_many")
        for ws in held:
            await ws.close()
