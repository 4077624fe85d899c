"""The websocket stream over a real uvicorn: auth, replay, live, hand-over, back-pressure."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import ManualClock
from protocol.api import ServerFrame
from protocol.encoding import from_json, to_json
from server.stream import BATCH_BYTES, BATCH_EVENTS
from tests.server.conftest import Relay
from tests.server.helpers import create, join, post, send

TIMEOUT = 10


async def open_stream(
    relay: Relay, *tokens: str, query: str = "", batch: bool = False, **kwargs: Any
) -> ClientConnection:
    ws = await connect(relay.ws_url + query, open_timeout=TIMEOUT, **kwargs)
    if tokens:
        auth: dict[str, Any] = {"type": "auth", "tokens": list(tokens)}
        if batch:
            auth["batch"] = True
        await ws.send(json.dumps(auth))
        ready = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert ready["type"] == "ready", ready
    return ws


async def frame(ws: ClientConnection) -> Any:
    return from_json(await asyncio.wait_for(ws.recv(), TIMEOUT), ServerFrame)  # type: ignore[arg-type]


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)

    with pytest.raises(ConnectionClosed):
        await drain()
    return ws.close_code, ws.close_reason


async def subscribe(ws: ClientConnection, positions: dict[str, int]) -> None:
    await ws.send(json.dumps({"type": "subscribe", "positions": positions}))


async def event_seqs(
    ws: ClientConnection, count: int, shapes: list[str] | None = None
) -> list[int]:
    """The seqs of the next ``count`` events, from ``event`` and ``events`` frames alike."""
    seqs: list[int] = []
    while len(seqs) < count:
        got = await frame(ws)
        if shapes is not None:
            shapes.append(type(got).__name__)
        events = got.events if type(got).__name__ == "EventsFrame" else [got.event]
        seqs += [e.seq for e in events]
    return seqs


async def test_replay_then_live_and_send_with_ack(live: Relay, clock: ManualClock) -> None:
    room, token = await create(live, clock)
    for i in range(3):
        await send(live, room, "owner", token, f"before {i}")
    ws = await open_stream(live, token)
    await subscribe(ws, {room.room: 1})
    assert [(await frame(ws)).event.seq for _ in range(3)] == [2, 3, 4]
    await send(live, room, "owner", token, "live")
    assert (await frame(ws)).event.seq == 5
    envelope = room.send("owner", "over the socket")
    await ws.send(to_json({"type": "send", "envelope": envelope}).decode())
    got = [await frame(ws) for _ in range(2)]
    ack = next(f for f in got if type(f).__name__ == "AckFrame")
    event = next(f for f in got if type(f).__name__ == "EventFrame")
    assert (ack.id, ack.seq) == (envelope.header.id, 6)
    assert event.event.seq == 6
    # A failed send answers an error frame naming the message, and the stream goes on.
    await ws.send(to_json({"type": "send", "envelope": envelope}).decode())
    again = await frame(ws)
    assert (type(again).__name__, again.seq) == ("AckFrame", 6)
    stale = room.send("owner", "future", epoch=2, secret=bytes(32))
    await ws.send(to_json({"type": "send", "envelope": stale}).decode())
    err = await frame(ws)
    assert (err.code, err.id) == ("msg.stale_epoch", stale.header.id)
    await ws.close()


async def test_subscribe_to_a_room_of_no_key(live: Relay, clock: ManualClock) -> None:
    room, token = await create(live, clock)
    other, _ = await create(live, clock)
    ws = await open_stream(live, token)
    await subscribe(ws, {other.room: 0, room.room: 0})
    first = await frame(ws)
    assert (type(first).__name__, first.code) == ("ErrorFrame", "room.not_found")
    assert (await frame(ws)).event.seq == 1
    await ws.close()


async def test_authentication_failures(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(live=True, auth_timeout=0.3) as relay:
        room, token = await create(relay, clock)
        ws = await open_stream(relay, query="?token=" + token)
        assert await closed_with(ws) == (4401, "auth.token_in_url")
        ws = await open_stream(relay)
        assert await closed_with(ws) == (4401, "auth.required")  # nothing within the timeout
        ws = await open_stream(relay)
        await subscribe(ws, {room.room: 0})
        assert await closed_with(ws) == (4401, "auth.required")
        ws = await open_stream(relay)
        await ws.send(json.dumps({"type": "auth", "tokens": ["nope"]}))
        assert await closed_with(ws) == (4401, "auth.invalid")


async def test_malformed_and_oversized_frames(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(live=True, max_frame_bytes=4096) as relay:
        _, token = await create(relay, clock)
        for bad in ("not json", '{"type": "dance"}', '{"type": "subscribe", "positions": 5}'):
            ws = await open_stream(relay, token)
            await ws.send(bad)
            assert await closed_with(ws) == (4400, "wire.malformed")
        ws = await open_stream(relay, token)
        await ws.send(b"\x00binary")
        assert await closed_with(ws) == (4400, "wire.malformed")
        ws = await open_stream(relay, token)
        await ws.send("x" * 5000)
        code, _ = await closed_with(ws)
        assert code == 1009


@pytest.mark.parametrize("batch", [False, True])
async def test_hand_over_under_concurrent_sends(
    live: Relay, clock: ManualClock, batch: bool
) -> None:
    """Several senders; a subscriber joins mid-stream and sees every seq once, in order."""
    room, token = await create(live, clock)
    tokens = {"owner": token}
    for name in ("bob", "carol"):
        tokens[name] = await join(live, room, token, name)
    start = room.log.index + 1  # log events so far take seq 1..start
    per_sender = 25

    async def sender(name: str) -> None:
        for i in range(per_sender):
            r = await post(
                live.http,
                f"/v1/rooms/{room.room}/messages",
                room.send(name, f"{name} {i}"),
                tokens[name],
            )
            assert r.status_code == 200, r.text

    senders = [asyncio.create_task(sender(n)) for n in tokens]
    await asyncio.sleep(0.05)
    ws = await open_stream(live, token, batch=batch)
    await subscribe(ws, {room.room: 0})
    await asyncio.gather(*senders)
    total = start + per_sender * len(tokens)
    assert await event_seqs(ws, total) == list(range(1, total + 1))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.3)  # and nothing twice after the last
    await ws.close()


async def test_slow_consumer_is_closed_while_others_keep_receiving(
    make_relay: Any, clock: ManualClock
) -> None:
    async with make_relay(live=True, sndbuf=4096, stream_queue_cap=4) as relay:
        room, token = await create(relay, clock)
        fast = await open_stream(relay, token)
        await subscribe(fast, {room.room: 1})
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(
            relay.base_url.removeprefix("http://").split(":")[0:1][0]
            and ("127.0.0.1", int(relay.base_url.rsplit(":", 1)[1]))
        )
        slow = await open_stream(relay, token, sock=sock, max_queue=1)
        await subscribe(slow, {room.room: 1})
        count = 40
        big = "x" * 20_000
        received: list[int] = []

        async def drain() -> None:
            while len(received) < count:
                received.append((await frame(fast)).event.seq)

        reader = asyncio.create_task(drain())
        for _ in range(count):
            await send(relay, room, "owner", token, big)
        await asyncio.wait_for(reader, 30)
        assert received == list(range(2, count + 2))
        # The slow one gets what was already in flight, then 4409: resume from there.
        code, reason = await closed_with(slow)
        assert (code, reason) == (4409, "stream.behind")
        await fast.close()


async def test_removed_member_stops_receiving(live: Relay, clock: ManualClock) -> None:
    room, token = await create(live, clock)
    bob = await join(live, room, token, "bob")
    ws = await open_stream(live, bob)
    await subscribe(ws, {room.room: room.log.index + 1})
    remove = room.remove("owner", "bob", apply=False)
    r = await post(live.http, f"/v1/rooms/{room.room}/log", remove, token)
    assert r.status_code == 200
    room.apply(remove)
    await send(live, room, "owner", token, "after bob left")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.5)
    await ws.close()


async def test_pings_drop_a_dead_peer(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(live=True, ws_ping_interval=0.2, ws_ping_timeout=0.3) as relay:
        room, token = await create(relay, clock)
        ws = await open_stream(relay, token)
        await subscribe(ws, {room.room: 1})
        hub = relay.app.state.hub
        for _ in range(100):
            if hub.listener_count(room.room) == 1:
                break
            await asyncio.sleep(0.02)
        assert hub.listener_count(room.room) == 1
        ws.transport.pause_reading()  # the peer goes silent: it answers no ping
        for _ in range(200):
            if hub.listener_count(room.room) == 0:
                break
            await asyncio.sleep(0.05)
        assert hub.listener_count(room.room) == 0
        ws.transport.abort()


async def test_a_send_whose_caller_went_away_is_still_published(
    live: Relay, clock: ManualClock
) -> None:
    room, token = await create(live, clock)
    ws = await open_stream(live, token)
    await subscribe(ws, {room.room: 1})
    await send(live, room, "owner", token, "first")
    assert (await frame(ws)).event.seq == 2
    # Messages are written in batches (server.committer): hold the batch's write.
    original = live.storage.add_messages
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await gate.wait()
        return await original(*args, **kwargs)

    live.storage.add_messages = slow  # type: ignore[method-assign]
    envelope = room.send("owner", "the caller hangs up mid-commit")
    relay = live.app.state.relay
    task = asyncio.create_task(relay.send(room.member("owner"), room.room, envelope))
    await entered.wait()
    task.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    got = await frame(ws)
    assert (got.event.seq, got.event.envelope.header.id) == (3, envelope.header.id)
    await ws.close()


async def test_a_batching_client_gets_the_events_queued_together_in_one_frame(
    live: Relay, clock: ManualClock
) -> None:
    room, token = await create(live, clock)
    batching = await open_stream(live, token, batch=True)
    plain = await open_stream(live, token)
    for ws in (batching, plain):
        await subscribe(ws, {room.room: 1})
    count = 30
    url = f"/v1/rooms/{room.room}/messages"
    shapes: list[str] = []
    plain_shapes: list[str] = []
    first = 2
    # Sent at once, the messages are committed a few at a time, so they reach each
    # connection's queue together. That they arrive together is up to the machine's
    # scheduling (on a loaded machine each may be committed alone), so a burst that
    # happened to arrive one by one is sent again, up to five times; every burst must
    # be delivered whole, in order, once, to both connections either way.
    for _ in range(5):
        envelopes = [room.send("owner", f"m{first + i}") for i in range(count)]
        replies = await asyncio.gather(*(post(live.http, url, e, token) for e in envelopes))
        assert all(r.status_code == 200 for r in replies)
        expected = list(range(first, first + count))
        assert await event_seqs(batching, count, shapes) == expected
        assert await event_seqs(plain, count, plain_shapes) == expected
        first += count
        if "EventsFrame" in shapes:
            break
    assert "EventsFrame" in shapes
    assert len(shapes) < first - 2
    assert set(plain_shapes) == {"EventFrame"}
    for ws in (batching, plain):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)  # nothing twice
        await ws.close()


async def test_a_batching_client_gets_the_replay_in_events_frames(
    live: Relay, clock: ManualClock
) -> None:
    room, token = await create(live, clock)
    count = 150  # more than two full frames' worth
    for i in range(count):
        await send(live, room, "owner", token, f"stored before anyone follows {i:03}" * 20)
    batching = await open_stream(live, token, batch=True)
    plain = await open_stream(live, token)
    raw: list[bytes] = []
    for ws in (batching, plain):
        await subscribe(ws, {room.room: 1})
    expected = list(range(2, count + 2))
    seqs: list[int] = []
    while len(seqs) < count:
        data = await asyncio.wait_for(batching.recv(), TIMEOUT)
        raw.append(data.encode() if isinstance(data, str) else data)
        got = from_json(raw[-1], ServerFrame)  # type: ignore[arg-type]
        assert type(got).__name__ == "EventsFrame"
        seqs += [e.seq for e in got.events]
    assert seqs == expected  # in order, none missing, none twice
    assert all(len(json.loads(f)["events"]) <= BATCH_EVENTS for f in raw)
    assert all(len(f) <= BATCH_BYTES + 256 for f in raw)  # the frame's own wrapping
    assert len(raw) >= 3
    plain_shapes: list[str] = []
    assert await event_seqs(plain, count, plain_shapes) == expected
    assert set(plain_shapes) == {"EventFrame"}
    # Live events follow the replay without a gap or a repeat.
    await send(live, room, "owner", token, "live")
    for ws in (batching, plain):
        assert await event_seqs(ws, 1) == [count + 2]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)  # nothing twice
        await ws.close()
