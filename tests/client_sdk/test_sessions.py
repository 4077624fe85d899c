"""The sign-in pacer: one client's sign-ins take turns, spaced out at random."""

from __future__ import annotations

import asyncio
import itertools
import time

from client_sdk._sessions import PACE_S, SignInPacer


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
