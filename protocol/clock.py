"""The one place that reads the time: a :class:`Clock` the relay and the SDK are given.

Every wall-clock and monotonic read of ``server/`` and ``client_sdk/`` goes through a
:class:`Clock` passed in at construction (default :data:`SYSTEM_CLOCK`), so a test
moves time for the whole relay or a whole SDK driver with a :class:`ManualClock`
instead of patching module functions. ``tests/server/test_architecture.py`` and
``tests/client_sdk/test_architecture.py`` hold every other module to it: none calls
``time.time``, ``time.time_ns``, ``time.monotonic`` or ``datetime.now`` itself.

Reading the clock is the only thing here that touches the outside world; there is no
sleeping or waiting (callers own their event loop). Deadlines that the event loop
itself enforces (``asyncio.timeout``, ``loop.time()``) stay on the loop's clock:
a manual clock cannot make the loop's timers fire.
"""

from __future__ import annotations

import time
from typing import Final, Protocol, final

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where the relay and the SDK read the time."""

    def now_ms(self) -> int:
        """The wall clock: milliseconds since the Unix epoch (may jump either way)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for durations (its origin means nothing)."""
        ...


@final
class SystemClock:
    """The machine's clocks: ``time.time_ns`` and ``time.monotonic``."""

    __slots__ = ()

    def now_ms(self) -> int:
        """The system's wall clock in milliseconds since the Unix epoch."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """The system's monotonic clock in seconds."""
        return time.monotonic()

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


SYSTEM_CLOCK: Final[Clock] = SystemClock()
"""The real clock: the default of every ``clock=`` parameter."""


@final
class ManualClock:
    """A clock that moves only when told to: for tests, and for replaying a scenario.

    Args:
        now_ms: The wall clock's starting reading (default: the system clock's now,
            read once, so signatures and expiries a test makes look current).
        monotonic: The monotonic clock's starting reading, in seconds.
    """

    __slots__ = ("_monotonic", "_now_ms")

    def __init__(self, now_ms: int | None = None, *, monotonic: float = 0.0) -> None:
        self._now_ms = SYSTEM_CLOCK.now_ms() if now_ms is None else now_ms
        self._monotonic = monotonic

    def now_ms(self) -> int:
        """The wall clock's current reading (milliseconds since the Unix epoch)."""
        return self._now_ms

    def monotonic(self) -> float:
        """The monotonic clock's current reading (seconds)."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on both clocks (the wall clock in whole milliseconds).

        Raises:
            ValueError: ``seconds`` is negative (a monotonic clock never goes back;
                use :meth:`set` to move the wall clock backwards).
        """
        if seconds < 0:
            raise ValueError("time only moves forward; use set() to turn the wall clock back")
        self._now_ms += int(seconds * 1000)
        self._monotonic += seconds

    def set(self, now_ms: int) -> None:
        """Set the wall clock, forwards or backwards, as a system clock may jump.

        The monotonic clock does not move.
        """
        self._now_ms = now_ms

    def __repr__(self) -> str:
        return f"ManualClock(now_ms={self._now_ms}, monotonic={self._monotonic})"
