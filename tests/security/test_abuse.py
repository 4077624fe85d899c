"""Abuse: floods are rate limited with a reason, and a reader that stops is cut off.

Each flood runs against a relay whose one bucket under test is tight (the others
generous) and checks the machine-readable answer: over HTTP ``429`` with
``Retry-After`` and ``detail.reason`` naming the bucket; on the stream the code of
the table in ``server.errors`` (an ``error`` frame for a send, which keeps the
stream; close 4429 for a subscription flood).

The slow consumer: three healthy subscribers measure send-to-receive latency (the
median over a fixed number of messages, each sent after the previous one reached
everyone) before and while a fourth subscriber stops reading. The relay must close
that one with 4409 once its backlog passes the queue cap, and the others' median
must stay within twice the baseline.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from typing import Any

from websockets.asyncio.client import ClientConnection

from protocol import InviteKey, ManualClock, sign_auth
from protocol.api import Challenge, ServerFrame
from protocol.encoding import from_json, to_json
from server.config import Rate
from server.errors import close_code
from tests.server.conftest import GENEROUS, Relay
from tests.server.helpers import b64, create, error, login, new_room, post
from tests.server.test_stream import closed_with, frame, open_stream, subscribe


def _tight(bucket: str, burst: int) -> dict[str, Rate]:
    return {**GENEROUS, bucket: Rate(0.001, burst)}


def _assert_limited(response: Any, reason: str) -> None:
    assert response.status_code == 429, response.text
    body = error(response)
    assert body.code == "rate.limited"
    assert body.detail is not None
    assert body.detail["reason"] == reason
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_send_flood_is_limited(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(live=True, rate_limits=_tight("send", 5)) as relay:
        room, token = await create(relay, clock)
        url = f"/v1/rooms/{room.room}/messages"
        answers = [
            (await post(relay.http, url, room.send("owner", f"m{i}"), token)).status_code
            for i in range(5)
        ]
        assert answers == [200] * 5
        _assert_limited(await post(relay.http, url, room.send("owner", "more"), token), "send")
        # The same key over the stream: an error frame with the code, the stream stays.
        ws = await open_stream(relay, token)
        envelope = room.send("owner", "and more")
        await ws.send(to_json({"type": "send", "envelope": envelope}).decode())
        refused = await frame(ws)
        assert (refused.code, refused.id) == ("rate.limited", envelope.header.id)
        assert close_code("rate.limited") == 4429
        await subscribe(ws, {room.room: 0})
        assert (await frame(ws)).event.seq == 1  # still served
        await ws.close()


async def test_a_join_flood_is_limited(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(rate_limits=_tight("join", 3)) as relay:
        room, _ = await create(relay, clock)
        keys = room.keys("mallory")
        token = (await login(relay.http, keys, create=False)).token
        invite = InviteKey.generate()
        body = {
            "invite_key": b64(invite.public),
            "reader": keys.member,
            "at": clock.now_ms(),
            "sig": b64(invite.prove_read(room=room.room, reader=keys.member, at=clock.now_ms())),
        }
        url = f"/v1/rooms/{room.room}/invite-log"
        answers = [(await post(relay.http, url, body, token)).status_code for _ in range(3)]
        assert answers == [404] * 3  # no such invite: each still costs a token
        _assert_limited(await post(relay.http, url, body, token), "join")
        join_op = room.join("mallory", invite, apply=False)
        r = await post(relay.http, f"/v1/rooms/{room.room}/log", join_op, token)
        _assert_limited(r, "join")


async def test_a_subscription_flood_closes_the_stream(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(live=True, rate_limits=_tight("subscribe", 3)) as relay:
        room, token = await create(relay, clock)
        ws = await open_stream(relay, token)
        for _ in range(3):
            await subscribe(ws, {room.room: 0})
        await subscribe(ws, {room.room: 0})
        assert await closed_with(ws) == (close_code("rate.limited"), "rate.limited")


async def _answer(relay: Relay, room: Any, name: str, **extra: Any) -> Any:
    keys = room.keys(name)
    r = await post(relay.http, "/v1/auth/challenge", {"key": keys.member})
    if r.status_code != 200:
        return r
    ch = from_json(r.content, Challenge)
    sig = sign_auth(keys, origin=ch.origin, challenge=ch.challenge, expires_at=ch.expires_at)
    body = {"key": keys.member, "challenge": b64(ch.challenge), "sig": b64(sig), **extra}
    return await post(relay.http, "/v1/auth/session", body)


async def test_registration_floods_are_limited(make_relay: Any, clock: ManualClock) -> None:
    # Without proof of work: only sessions that may join, charged to the auth bucket.
    async with make_relay(rate_limits=_tight("auth", 6)) as relay:
        room, _ = await create(relay, clock)  # two auth hits of the address
        answers = [(await _answer(relay, room, f"bot{i}")).status_code for i in range(2)]
        assert answers == [200, 200]
        _assert_limited(await _answer(relay, room, "bot9"), "auth")
    # Claiming a proof of work (here a bogus one): the register bucket on top.
    async with make_relay(rate_limits=_tight("register", 2)) as relay:
        room = new_room(clock)
        answers = [
            (await _answer(relay, room, f"bot{i}", pow_nonce=12345)).status_code for i in range(2)
        ]
        assert answers == [200, 200]  # sessions that may not create rooms
        _assert_limited(await _answer(relay, room, "bot9", pow_nonce=12345), "register")


# -- a consumer that stops reading ------------------------------------------------

MESSAGES = 40
HEALTHY = 3
PAYLOAD = "x" * 20_000  # a 32 KiB bucket: buffers fill within a few messages


async def _round(
    relay: Relay, room: Any, token: str, readers: list[ClientConnection]
) -> list[float]:
    envelope = room.send("owner", PAYLOAD)
    started = time.perf_counter()
    r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
    assert r.status_code == 200, r.text

    async def arrival(ws: ClientConnection) -> float:
        while True:
            got = from_json(await asyncio.wait_for(ws.recv(), 10), ServerFrame)  # type: ignore[arg-type]
            if getattr(got, "event", None) is not None:
                return time.perf_counter() - started

    return list(await asyncio.gather(*(arrival(ws) for ws in readers)))


async def test_a_reader_that_stops_is_cut_off_and_others_keep_pace(
    make_relay: Any, clock: ManualClock
) -> None:
    async with make_relay(live=True, sndbuf=4096, stream_queue_cap=8) as relay:
        room, token = await create(relay, clock)
        readers = []
        for _ in range(HEALTHY):
            ws = await open_stream(relay, token)
            await subscribe(ws, {room.room: 1})
            readers.append(ws)
        for _ in range(3):  # warm up
            await _round(relay, room, token, readers)
        baseline = [x for _ in range(MESSAGES) for x in await _round(relay, room, token, readers)]

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(relay.base_url.rsplit(":", 1)[1])))
        slow = await open_stream(relay, token, sock=sock, max_queue=1)
        await subscribe(slow, {room.room: 1})
        hub = relay.app.state.hub
        during: list[float] = []
        stuck: list[float] = []  # the rounds while the relay still served the stuck reader
        for _ in range(MESSAGES):
            attached = hub.listener_count(room.room) > HEALTHY
            latencies = await _round(relay, room, token, readers)
            during += latencies
            if attached:
                stuck += latencies
        code, reason = await closed_with(slow)
        for ws in readers:
            await ws.close()

    base, loaded = statistics.median(baseline), statistics.median(during)
    attached = statistics.median(stuck)
    print(
        f"slow consumer: closed {code} {reason} after {len(stuck) // HEALTHY} messages; "
        f"median send-to-receive latency of {HEALTHY} readers over {MESSAGES} messages: "
        f"{base * 1000:.2f} ms before, {loaded * 1000:.2f} ms after it joined "
        f"({loaded / base:.2f}x), {attached * 1000:.2f} ms while it was attached "
        f"({attached / base:.2f}x)"
    )
    assert (code, reason) == (close_code("stream.behind"), "stream.behind")
    assert 0 < len(stuck) < len(during)  # it was served for a while, then cut off
    assert loaded <= 2 * base, (base, loaded)
    assert attached <= 2 * base, (base, attached)
