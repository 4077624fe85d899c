"""No log line at any level carries a token, a fragment of one, or (unless asked) a key.

``hearth serve --log-level debug`` logs every websocket frame through uvicorn's and
websockets' loggers; a real session (sign-in, a stream that authenticates, subscribes
and sends) then must leave no 8-character slice of a token and no member key in the
log, while the frames themselves are still logged (kind and size).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import connect

from protocol import ManualClock
from protocol.api import SendFrame, SubscribeFrame
from protocol.encoding import to_json
from server.redact import RedactSecrets
from tests.server.helpers import create, free_port, join, send
from tests.server.test_cli import serve, stop

TIMEOUT = 10.0


def slices(secret: str, width: int = 8) -> list[str]:
    return [secret[i : i + width] for i in range(len(secret) - width + 1)]


async def session(data: Path, *args: str) -> tuple[str, list[str], list[str]]:
    """A session on a debug-level relay: its log, the tokens and the keys it used."""
    clock = ManualClock()
    port = free_port()
    async with serve(data, port, "--log-level", "debug", *args) as relay:
        room, token = await create(relay, clock)
        bob = await join(relay, room, token, "bob")
        await send(relay, room, "bob", bob, "over HTTP")
        async with connect(f"ws://127.0.0.1:{port}/v1/stream", open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"type": "auth", "tokens": [token, bob]}))
            ready = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert ready["type"] == "ready", ready
            await ws.send(to_json(SubscribeFrame(positions={room.room: 0})).decode())
            await ws.send(to_json(SendFrame(envelope=room.send("owner", "live"))).decode())
            async with asyncio.timeout(TIMEOUT):
                while json.loads(await ws.recv())["type"] != "ack":
                    pass
        code, _, err = stop(relay.proc)
    assert code == 0
    return err, [token, bob], [room.member("owner"), room.member("bob")]


async def test_debug_logs_hold_no_token_fragment_and_no_key(tmp_path: Path) -> None:
    err, tokens, keys = await session(tmp_path / "data")
    # Frames are still logged, by kind and size.
    assert "< TEXT [" in err
    assert "> TEXT [" in err
    for token in tokens:
        for piece in slices(token):
            assert piece not in err, piece
    for key in keys:
        assert key not in err, key


async def test_log_keys_never_lets_a_token_through(tmp_path: Path) -> None:
    err, tokens, _ = await session(tmp_path / "data", "--log-keys")
    assert "< TEXT [" in err
    for token in tokens:
        for piece in slices(token):
            assert piece not in err, piece


def test_the_backstop_replaces_credential_shaped_runs() -> None:
    token = "AQABAAAAAAAAAAB3hF1" + "x" * 40 + "Zq9_-0123456789abcdefgh"
    key = "mK3" + "a" * 40
    line = f"token {token} key {key} room {'r' * 31}Q and a_plain_identifier_here"
    assert RedactSecrets().redact(line) == (
        "token <redacted> key <redacted> room <redacted> and a_plain_identifier_here"
    )
    assert RedactSecrets(keys=True).redact(line) == (
        f"token <redacted> key {key} room {'r' * 31}Q and a_plain_identifier_here"
    )
