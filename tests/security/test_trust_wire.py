"""Issue 17, item 9 and spec 9.1/2.2: the edges of the wire, attacked for real.

- A websocket that has authenticated cannot hold a half-sent frame or message for
  ever (a raw socket trickles one, answering pings where it can): the relay fails it
  with 1008 within ``ws_frame_timeout``, while an idle stream that answers pings
  stays up well past that bound.
- The relay refuses integers written as strings or floats (``"v": "1"``,
  ``"epoch": 1.0``) in HTTP bodies and websocket frames, with ``wire.malformed``
  naming the failing path (protocol.md 1.2, 2.2).
- A hostile proxy rewrites the challenge's ``origin``: the SDK signs nothing and
  refuses with ``auth.origin_mismatch`` (protocol.md 9.1).
- Every answer to a challenge that decodes uses the challenge up, a 400 as much as a
  401; a body that does not decode touches none (protocol.md 9.1).
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from client_sdk import HearthClient, Identity, RelayError
from protocol import ManualClock, RootSeed, sign_auth
from protocol.api import Challenge
from protocol.encoding import from_json, to_json
from server.websocket import FRAME_TIMEOUT_CLOSE
from tests.client_sdk.conftest import RelayProcess
from tests.protocol.builders import some_room_id
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_websocket_robustness import _frame, _handshake, _read_frame, _text
from tests.server.helpers import b64, create, error, login, new_room, post

__all__ = ["proxied"]

FRAME_TIMEOUT = 1.0
PING = 0.2
PING_TIMEOUT = 30.0
"""Far above FRAME_TIMEOUT: a close within the bound is the deadline's, not the keepalive's."""


def _port(relay: Any) -> int:
    return int(relay.base_url.rsplit(":", 1)[1])


async def _authenticated(
    relay: Any, clock: ManualClock, token: str | None = None
) -> tuple[Any, Any]:
    if token is None:
        _, token = await create(relay, clock)
    reader, writer = await _handshake(_port(relay), "")
    writer.write(_text(json.dumps({"type": "auth", "tokens": [token]})))
    while True:
        opcode, payload = await _read_frame(reader)
        if opcode == 0x9:
            writer.write(_frame(0xA, payload))
        elif opcode == 0x1:
            assert json.loads(payload)["type"] == "ready"
            return reader, writer


async def _close(reader: Any, writer: Any | None) -> tuple[int | None, str]:
    """Read until the relay's close: its code, and the messages of the error frames before it.

    Answers pings on the way if ``writer`` is given.
    """
    messages = ""
    while True:
        try:
            opcode, payload = await _read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None, ""
        if opcode == 0x8:
            if len(payload) < 2:
                return None, messages
            return int(struct.unpack("!H", payload[:2])[0]), messages
        if opcode == 0x1 and json.loads(payload)["type"] == "error":
            messages += json.loads(payload)["message"]
        if opcode == 0x9 and writer is not None:
            writer.write(_frame(0xA, payload))


async def _close_code(reader: Any, writer: Any | None) -> int | None:
    return (await _close(reader, writer))[0]


def _settings() -> dict[str, Any]:
    return {
        "live": True,
        "ws_frame_timeout": FRAME_TIMEOUT,
        "ws_ping_interval": PING,
        "ws_ping_timeout": PING_TIMEOUT,
    }


async def test_a_frame_trickled_after_auth_is_cut_off(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(**_settings()) as relay:
        reader, writer = await _authenticated(relay, clock)
        frame = _text(json.dumps({"type": "subscribe", "positions": {}}))

        async def trickle() -> None:
            for byte in frame[:-1]:  # never the last byte
                writer.write(bytes([byte]))
                await asyncio.sleep(FRAME_TIMEOUT / 8)

        started = time.monotonic()
        sender = asyncio.create_task(trickle())
        try:
            code = await asyncio.wait_for(_close_code(reader, None), FRAME_TIMEOUT * 10)
        finally:
            sender.cancel()
            writer.close()
        assert code == FRAME_TIMEOUT_CLOSE
        assert time.monotonic() - started < PING_TIMEOUT


async def test_a_fragmented_message_kept_open_while_answering_pings_is_cut_off(
    make_relay: Any, clock: ManualClock
) -> None:
    # Whole fragments, pongs between them: the keepalive alone never closes this.
    async with make_relay(**_settings()) as relay:
        reader, writer = await _authenticated(relay, clock)

        async def fragments() -> None:
            writer.write(_frame(0x1, b'{"type": ', fin=False))
            while True:
                await asyncio.sleep(FRAME_TIMEOUT / 8)
                writer.write(_frame(0x0, b" ", fin=False))

        sender = asyncio.create_task(fragments())
        try:
            code = await asyncio.wait_for(_close_code(reader, writer), FRAME_TIMEOUT * 10)
        finally:
            sender.cancel()
            writer.close()
        assert code == FRAME_TIMEOUT_CLOSE


async def test_an_idle_stream_that_answers_pings_stays_open(
    make_relay: Any, clock: ManualClock
) -> None:
    async with make_relay(**_settings()) as relay:
        reader, writer = await _authenticated(relay, clock)
        started = time.monotonic()
        pings = 0
        # Nothing but pongs, until well past the frame deadline (counted in pings).
        while time.monotonic() - started < FRAME_TIMEOUT * 3 or pings < 5:
            opcode, payload = await asyncio.wait_for(_read_frame(reader), PING * 20)
            assert opcode == 0x9, (opcode, payload)
            writer.write(_frame(0xA, payload))
            pings += 1
        # Still the live stream: a frame that does not decode gets the stream's answer.
        writer.write(_text('{"type": "subscribe", "positions": 5}'))
        code = await asyncio.wait_for(_close_code(reader, writer), PING * 20)
        writer.close()
        assert code == 4400


# -- strict integers and the failing path ------------------------------------------------


async def test_integers_as_strings_or_floats_are_refused_over_http(
    relay: Any, clock: ManualClock
) -> None:
    room = new_room(clock)
    token = (await login(relay.http, room.keys("owner"))).token
    create_op = json.loads(to_json(room.log.ops[0]))
    for path, value in ((("content", "v"), "1"), (("content", "v"), 1.0)):
        body = json.loads(json.dumps(create_op))
        body[path[0]][path[1]] = value
        r = await post(relay.http, "/v1/rooms", json.dumps(body).encode(), token)
        assert (r.status_code, error(r).code) == (400, "wire.malformed"), r.text
        assert "$.content.v" in error(r).message, error(r).message
    assert await relay.storage.room_info(room.room) is None  # nothing stored
    # An integer written as a float in an auth answer: refused, naming the field.
    k = RootSeed.generate().room_keys(some_room_id())
    r = await post(relay.http, "/v1/auth/challenge", {"key": k.member})
    ch = from_json(r.content, Challenge)
    sig = sign_auth(k, origin=ch.origin, challenge=ch.challenge, expires_at=ch.expires_at)
    answer = {"key": k.member, "challenge": b64(ch.challenge), "sig": b64(sig)}
    r = await post(relay.http, "/v1/auth/session", json.dumps(answer | {"pow_nonce": 0.0}).encode())
    assert (r.status_code, error(r).code) == (400, "wire.malformed")
    assert "$.pow_nonce" in error(r).message
    # The control: the same answer with an integer is a session.
    r = await post(relay.http, "/v1/auth/session", json.dumps(answer | {"pow_nonce": 0}).encode())
    assert r.status_code == 200, r.text


async def test_integers_as_strings_or_floats_are_refused_on_the_stream(
    make_relay: Any, clock: ManualClock
) -> None:
    async with make_relay(live=True) as relay:
        room, token = await create(relay, clock)
        sealed = room.send("owner", "hello")
        envelope = json.loads(to_json(sealed))
        for value in ("1", 1.0):
            reader, writer = await _authenticated(relay, clock, token)
            frame = {"type": "send", "envelope": json.loads(json.dumps(envelope))}
            frame["envelope"]["header"]["epoch"] = value
            writer.write(_text(json.dumps(frame)))
            code, message = await asyncio.wait_for(_close(reader, writer), 10)
            writer.close()
            assert code == 4400, value
            assert "$.envelope.header.epoch" in message, message
        assert await relay.storage.find_message(room.room, sealed.header.id) is None
        # The control: the same frame with an integer epoch is stored.
        reader, writer = await _authenticated(relay, clock, token)
        writer.write(_text(json.dumps({"type": "send", "envelope": envelope})))
        while (stored := await relay.storage.find_message(room.room, sealed.header.id)) is None:
            opcode, payload = await asyncio.wait_for(_read_frame(reader), 10)
            assert opcode in (0x1, 0x9), (opcode, payload)
        writer.close()
        assert stored.sender == room.member("owner")


# -- the origin ------------------------------------------------------------------------


async def test_a_rewritten_origin_is_refused_before_signing(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> None:
    _, proxy = proxied
    seen: list[str] = []

    async def rewrite(method: str, path: str, status: int, body: bytes) -> bytes:
        seen.append(path)
        if path.endswith("/v1/auth/challenge") and status == 200:
            challenge = json.loads(body)
            challenge["origin"] = "http://other-relay.example"
            return json.dumps(challenge).encode()
        return body

    proxy.on_response = rewrite
    client = HearthClient(proxy.url, Identity.generate(), store_path=tmp_path / "me.db", live=False)
    async with client:
        with pytest.raises(RelayError) as caught:
            await client.create_group("anything")
    assert caught.value.code == "auth.origin_mismatch"
    assert any(p.endswith("/v1/auth/challenge") for p in seen)
    assert not any(p.endswith("/v1/auth/session") for p in seen)  # nothing was signed


# -- challenges are used up --------------------------------------------------------------


async def test_an_answer_that_decodes_uses_the_challenge_up(relay: Any) -> None:
    k = RootSeed.generate().room_keys(some_room_id())

    async def fresh() -> tuple[Challenge, dict[str, Any]]:
        r = await post(relay.http, "/v1/auth/challenge", {"key": k.member})
        ch = from_json(r.content, Challenge)
        sig = sign_auth(k, origin=ch.origin, challenge=ch.challenge, expires_at=ch.expires_at)
        return ch, {"key": k.member, "challenge": b64(ch.challenge), "sig": b64(sig)}

    # 400 for a key of the right shape that names no key (the spare low bits of its
    # last character set): the body decodes, so the challenge is used up all the same.
    _, answer = await fresh()
    r = await post(relay.http, "/v1/auth/session", answer | {"key": "A" * 42 + "B"})
    assert (r.status_code, error(r).code) == (400, "wire.malformed")
    r = await post(relay.http, "/v1/auth/session", answer)
    assert (r.status_code, error(r).code) == (401, "auth.invalid")
    # 401 for a bad signature: used up too.
    _, answer = await fresh()
    r = await post(relay.http, "/v1/auth/session", answer | {"sig": b64(bytes(64))})
    assert (r.status_code, error(r).code) == (401, "auth.bad_signature")
    r = await post(relay.http, "/v1/auth/session", answer)
    assert (r.status_code, error(r).code) == (401, "auth.invalid")
    # A body that does not decode names no challenge the relay could read: none is used.
    _, answer = await fresh()
    r = await post(relay.http, "/v1/auth/session", json.dumps(answer | {"pow_nonce": "0"}).encode())
    assert (r.status_code, error(r).code) == (400, "wire.malformed")
    r = await post(relay.http, "/v1/auth/session", answer)
    assert r.status_code == 200, r.text
