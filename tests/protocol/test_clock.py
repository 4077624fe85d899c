"""The clocks: the system's reads the machine, a manual one moves only when told."""

from __future__ import annotations

import time

import pytest

from protocol import SYSTEM_CLOCK, Clock, ManualClock


def test_the_system_clock_reads_the_machine() -> None:
    before = time.time_ns() // 1_000_000
    now = SYSTEM_CLOCK.now_ms()
    after = time.time_ns() // 1_000_000
    assert before <= now <= after
    first = SYSTEM_CLOCK.monotonic()
    assert SYSTEM_CLOCK.monotonic() >= first


def test_a_manual_clock_moves_only_when_told() -> None:
    manual = ManualClock(1_000_000, monotonic=5.0)
    clock: Clock = manual  # it is a Clock
    assert (clock.now_ms(), clock.monotonic()) == (1_000_000, 5.0)
    assert (clock.now_ms(), clock.monotonic()) == (1_000_000, 5.0)
    manual.advance(1.5)
    assert (clock.now_ms(), clock.monotonic()) == (1_001_500, 6.5)
    manual.set(10)  # a wall clock may jump back; the monotonic one does not
    assert (clock.now_ms(), clock.monotonic()) == (10, 6.5)
    with pytest.raises(ValueError, match="forward"):
        manual.advance(-1)
    assert (clock.now_ms(), clock.monotonic()) == (10, 6.5)


def test_a_manual_clock_starts_at_the_real_now_by_default() -> None:
    before = SYSTEM_CLOCK.now_ms()
    clock = ManualClock()
    assert before <= clock.now_ms() <= SYSTEM_CLOCK.now_ms()
    assert clock.monotonic() == 0.0
