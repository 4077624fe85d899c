"""Token-bucket limits answer 429 with Retry-After and the bucket's name."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import ManualClock
from server.config import Rate
from server.errors import RelayError
from server.ratelimit import RateLimiter
from tests.server.conftest import GENEROUS
from tests.server.helpers import create, error, post


async def test_send_limit(make_relay: Any, clock: ManualClock) -> None:
    rates = {**GENEROUS, "send": Rate(0.01, 2)}
    async with make_relay(rate_limits=rates) as relay:
        room, token = await create(relay, clock)
        url = f"/v1/rooms/{room.room}/messages"
        for _ in range(2):
            assert (await post(relay.http, url, room.send("owner", "x"), token)).status_code == 200
        r = await post(relay.http, url, room.send("owner", "x"), token)
        assert (r.status_code, error(r).code) == (429, "rate.limited")
        assert error(r).detail == {"reason": "send", "retry_after": 100}
        assert r.headers["retry-after"] == "100"


async def test_request_limit_per_address(make_relay: Any) -> None:
    rates = {**GENEROUS, "request": Rate(0.5, 3)}
    async with make_relay(rate_limits=rates) as relay:
        codes = [(await relay.http.get("/v1/crisis")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = await relay.http.get("/v1/crisis")
        assert error(r).detail == {"reason": "request", "retry_after": 2}


async def test_buckets_refill_by_the_relays_injected_clock(
    make_relay: Any, clock: ManualClock
) -> None:
    rates = {**GENEROUS, "request": Rate(0.5, 1)}
    async with make_relay(rate_limits=rates) as relay:
        assert (await relay.http.get("/v1/crisis")).status_code == 200
        assert (await relay.http.get("/v1/crisis")).status_code == 429
        clock.advance(1.9)
        assert (await relay.http.get("/v1/crisis")).status_code == 429  # 0.95 of a token
        clock.advance(0.1)
        assert (await relay.http.get("/v1/crisis")).status_code == 200


async def test_auth_limit(make_relay: Any) -> None:
    rates = {**GENEROUS, "auth": Rate(0.1, 1)}
    async with make_relay(rate_limits=rates) as relay:
        body = {"key": "A" * 43}
        assert (await post(relay.http, "/v1/auth/challenge", body)).status_code == 200
        r = await post(relay.http, "/v1/auth/challenge", body)
        assert (r.status_code, error(r).detail) == (429, {"reason": "auth", "retry_after": 10})


def test_buckets_refill_and_refusals_cost_nothing() -> None:
    clock = ManualClock()
    limiter = RateLimiter({"send": Rate(1.0, 2)}, clock=clock)
    limiter.hit("send", "a", "b")
    limiter.hit("send", "a")
    with pytest.raises(RelayError) as info:
        limiter.hit("send", "a", "b")
    assert info.value.retry_after == 1
    limiter.hit("send", "b")  # the refused request took nothing from b
    clock.advance(1.0)
    limiter.hit("send", "a")


def test_memory_is_bounded() -> None:
    limiter = RateLimiter({"request": Rate(1.0, 1)}, max_subjects=10)
    for i in range(100):
        limiter.hit("request", f"addr:{i}")
    assert len(limiter._buckets["request"]) == 10
