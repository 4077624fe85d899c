"""A bare forwarding relay: the ceiling of ``bench/relay.py`` on this machine.

It speaks just enough of Hearth's ``/v1/stream`` (docs/api.md) for the same load
generator to drive it: ``auth`` is answered ``ready`` without looking at the
tokens, ``subscribe`` adds the connection to the rooms it names, and ``send`` is
forwarded, as the very frame text received, to every other connection of the
envelope's room, then answered with an ``ack`` carrying a per-room counter as its
``seq``. Nothing is stored, nothing is verified, nothing is queued: each frame is
written to the receivers' sockets in turn before the ack, so a slow receiver
slows its senders instead of growing a queue.

It runs on the same Python, event loop and websocket library as the Hearth relay
(uvloop where it is installed, as ``hearth serve`` does, and ``websockets``),
without compression, so the gap between the two is what Hearth does with a
message: authorising, verifying, storing durably, encoding events and queueing
them per connection.

Run: ``python bench/baseline_relay.py --port 8765`` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

import msgspec
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class _Header(msgspec.Struct):
    room: str
    id: str


class _Envelope(msgspec.Struct):
    header: _Header


class _Frame(msgspec.Struct):
    type: str
    envelope: _Envelope | None = None
    positions: dict[str, int] | None = None


_decode = msgspec.json.Decoder(_Frame).decode
_rooms: dict[str, set[ServerConnection]] = {}
_seqs: dict[str, int] = {}


async def _handle(ws: ServerConnection) -> None:
    joined: list[str] = []
    try:
        async for text in ws:
            frame = _decode(text)
            if frame.type == "send" and frame.envelope is not None:
                header = frame.envelope.header
                room = header.room
                seq = _seqs[room] = _seqs.get(room, 0) + 1
                for other in tuple(_rooms.get(room, ())):
                    if other is not ws:
                        with contextlib.suppress(ConnectionClosed):
                            await other.send(text)
                ts = time.time_ns() // 1_000_000
                await ws.send(
                    f'{{"type":"ack","room":"{room}","id":"{header.id}","seq":{seq},"ts":{ts}}}'
                )
            elif frame.type == "subscribe" and frame.positions is not None:
                for room in frame.positions:
                    _rooms.setdefault(room, set()).add(ws)
                    joined.append(room)
            elif frame.type == "auth":
                await ws.send('{"type":"ready","members":[]}')
    except ConnectionClosed:
        pass
    finally:
        for room in joined:
            _rooms.get(room, set()).discard(ws)


async def _main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        _handle, "127.0.0.1", port, compression=None, max_size=256 * 1024, ping_interval=None
    ):
        print(f"baseline relay listening on ws://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    # The relay's own loop choice (server/cli.py): uvloop where installed.
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(parser.parse_args().port))
    else:
        uvloop.run(_main(parser.parse_args().port))
