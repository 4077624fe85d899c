"""Backoff: every delay under its doubling, capped bound; reset starts over; seeded runs repeat."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import Backoff
from protocol.backoff import DEFAULT_CAP, DEFAULT_LOW, ceiling, full_jitter
from tests.protocol.builders import FAST

lows = st.floats(min_value=1e-3, max_value=10.0)
factors = st.floats(min_value=1.0, max_value=1e4)
attempts = st.integers(min_value=0, max_value=80)


@FAST
@given(lows, factors, attempts, st.integers(min_value=0, max_value=2**32))
def test_every_delay_is_under_its_capped_doubling_bound(
    low: float, factor: float, n: int, seed: int
) -> None:
    high = low * factor
    backoff = Backoff(low, high, rng=random.Random(seed))
    for attempt in range(n + 1):
        assert backoff.attempt == attempt
        delay = backoff.next_delay()
        assert 0.0 <= delay <= min(high, low * 2**attempt)
    assert backoff.attempt == n + 1


@FAST
@given(lows, factors, attempts)
def test_the_bounds_are_reached_at_both_ends_of_the_rng(low: float, factor: float, n: int) -> None:
    high = low * factor
    assert Backoff(low, high, rng=lambda: 0.0).next_delay() == 0.0
    top = Backoff(low, high, rng=lambda: 1.0)  # an rng's supremum: the bound itself
    delays = [top.next_delay() for _ in range(n + 1)]
    assert delays == [min(high, low * 2**a) for a in range(n + 1)]


@FAST
@given(lows, factors, attempts)
def test_reset_returns_to_the_first_bound(low: float, factor: float, n: int) -> None:
    backoff = Backoff(low, low * factor, rng=lambda: 1.0)
    for _ in range(n):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == low
    assert backoff.attempt == 1


@FAST
@given(lows, factors, st.integers(min_value=0, max_value=2**32))
def test_an_injected_rng_gives_the_same_delays_every_run(
    low: float, factor: float, seed: int
) -> None:
    def run(rng: random.Random | None = None) -> list[float]:
        generator = random.Random(seed)
        backoff = Backoff(low, low * factor, rng=rng if rng is not None else generator.random)
        return [backoff.next_delay() for _ in range(12)]

    assert run() == run() == run(random.Random(seed))  # a function, or a Random
    assert run() != run(random.Random(seed + 1))


def test_the_jitter_is_full_not_a_fixed_fraction() -> None:
    backoff = Backoff(1.0, 1.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    assert min(delays) < 0.1
    assert max(delays) > 0.9
    assert len(set(delays)) == 200


def test_the_pure_form_matches_the_helper() -> None:
    ours, theirs = random.Random(3), random.Random(3)
    backoff = Backoff(0.25, 30.0, rng=ours)
    for attempt in range(20):
        assert backoff.next_delay() == full_jitter(attempt, low=0.25, high=30.0, rng=theirs)


def test_a_long_outage_never_overflows() -> None:
    # ``low * 2**attempt`` raises OverflowError from attempt 1024 on: hours of
    # reconnecting at a 30 s cap would have ended the loop that computed it.
    assert ceiling(5000, low=0.25, high=30.0) == 30.0
    backoff = Backoff(0.25, 30.0, rng=lambda: 0.5)
    for _ in range(2000):
        delay = backoff.next_delay()
    assert delay == 15.0


@pytest.mark.parametrize(("low", "high"), [(-1.0, 1.0), (2.0, 1.0), (float("nan"), 1.0)])
def test_bounds_are_checked(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="low <= high"):
        Backoff(low, high)


def test_a_zero_first_bound_retries_at_once() -> None:
    backoff = Backoff(0.0, 0.0, rng=lambda: 0.9)
    assert [backoff.next_delay() for _ in range(3)] == [0.0, 0.0, 0.0]


@FAST
@given(st.integers(min_value=0, max_value=2**32), attempts)
def test_the_default_schedule_is_full_jitter_under_a_ten_second_cap(seed: int, n: int) -> None:
    backoff = Backoff(rng=random.Random(seed))
    assert (backoff.low, backoff.high) == (DEFAULT_LOW, DEFAULT_CAP) == (0.25, 10.0)
    for attempt in range(n + 1):
        assert 0.0 <= backoff.next_delay() <= min(10.0, 0.25 * 2**attempt)


@FAST
@given(st.floats(min_value=-1e6, max_value=1e6), attempts)
def test_a_named_moment_replaces_the_draw_within_the_cap_and_counts_no_attempt(
    hint: float, n: int
) -> None:
    backoff = Backoff(0.25, 10.0, rng=lambda: 1.0)
    for _ in range(n):
        backoff.next_delay()
    assert backoff.next_delay(hint) == min(max(hint, 0.0), 10.0)
    assert backoff.attempt == n
