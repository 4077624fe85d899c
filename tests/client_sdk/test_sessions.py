"""Sessions and the sign-in pacer: sign-ins take turns, spaced out at random, by the
driver's injected clock; a token is used until a minute before it expires."""

from __future__ import annotations

import asyncio
import itertools
import time

from client_sdk import Identity
from client_sdk._sessions import PACE_S, Sessions, SignInPacer
from client_sdk._transport import Transport
from protocol import ManualClock
from server.config import Config
from tests.client_sdk.conftest import RelayProcess
from tests.protocol.builders import some_room_id


async def test_sign_ins_take_turns_with_a_random_pause_between_close_ones() -> None:
    pacer = SignInPacer()
    inside = 0
    most = 0
    spans: list[tuple[float, float]] = []

    async def sign_in() -> None:
        nonlocal inside, most
        async with pacer.turn():
            inside += 1
            most = max(most, inside)
            start = time.monotonic()
            await asyncio.sleep(0)  # a sign-in's round trips
            spans.append((start, time.monotonic()))
            inside -= 1

    await asyncio.gather(*(sign_in() for _ in range(5)))  # five keys at once: a burst
    assert most == 1
    spans.sort()
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(spans)]
    assert all(gap >= PACE_S / 4 for gap in gaps), gaps
    assert len({round(gap, 3) for gap in gaps}) > 1  # random, not one fixed delay


async def test_a_lone_sign_in_does_not_wait() -> None:
    pacer = SignInPacer()
    start = time.monotonic()
    async with pacer.turn():
        pass
    assert time.monotonic() - start < PACE_S / 4


async def test_close_sign_ins_are_judged_by_the_injected_clock() -> None:
    clock = ManualClock()
    pacer = SignInPacer(clock=clock)
    loop = asyncio.get_running_loop()
    async with pacer.turn():
        pass
    start = loop.time()
    async with pacer.turn():  # no time passed on the pacer's clock: a close one
        pass
    assert loop.time() - start >= PACE_S / 4
    clock.advance(PACE_S)  # by its clock the last sign-in is a pace ago: no wait
    start = loop.time()
    async with pacer.turn():
        pass
    assert loop.time() - start < PACE_S / 4


async def test_a_token_is_renewed_a_minute_before_expiry_by_the_injected_clock(
    relay: RelayProcess,
) -> None:
    clock = ManualClock()
    transport = Transport(relay.url, timeout=15.0)
    sessions = Sessions(transport, registration_token=None, clock=clock)
    keys = Identity.generate().room_keys(some_room_id())
    try:
        first = await sessions.token(keys)
        assert await sessions.token(keys) == first
        clock.advance(Config().token_ttl - 65)  # 65 s (and the sign-in's round trip) left
        assert await sessions.token(keys) == first
        clock.advance(10)  # under a minute left by our clock: sign in again
        assert await sessions.token(keys) != first
    finally:
        await transport.close()
