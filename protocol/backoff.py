"""Exponential backoff with full jitter: the one retry schedule of the relay and the SDK.

Attempt ``n`` (from 0) waits a delay drawn uniformly from ``[0, min(high, low * 2**n))``:
the bound doubles from ``low`` up to ``high``, and the delay is anywhere below it
("full jitter"). Many clients that lost the relay at the same moment (a restart)
then come back spread over the whole interval instead of in synchronised waves, and
the expected total wait stays half of plain doubling's.

The default bounds are :data:`DEFAULT_LOW` (0.25 s) and :data:`DEFAULT_CAP` (10 s):
a client that lost the relay is back at most about 10 s after the relay is, and
while the relay is down each client tries on average once per 5 s at worst, so
the attempts a restarting relay sees per second stay near ``clients / 5``
(docs/performance.md, the reconnect benchmark).

This module only computes delays; it never sleeps. A caller waits as it sees fit
(``await asyncio.sleep(delay)``, or on an event with ``delay`` as its timeout) and
calls :meth:`Backoff.reset` once a connection works again. The randomness is a
parameter (any ``() -> float`` in ``[0, 1)``, or a :class:`random.Random`), so a test
gets the same delays every run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final, final

__all__ = ["DEFAULT_CAP", "DEFAULT_LOW", "Backoff", "Rng", "ceiling", "full_jitter"]

Rng = Callable[[], float] | random.Random
"""Where a delay's randomness comes from: a function returning ``[0, 1)``, or a Random."""

DEFAULT_LOW: Final = 0.25
"""The first attempt's bound by default, seconds."""

DEFAULT_CAP: Final = 10.0
"""The largest bound by default, seconds: no retry ever waits longer."""

_MAX_EXPONENT: Final = 1023
"""``2.0**1024`` overflows a float; past this the bound is ``high`` anyway."""


def _draw(rng: Rng) -> Callable[[], float]:
    return rng.random if isinstance(rng, random.Random) else rng


def ceiling(attempt: int, *, low: float, high: float) -> float:
    """The bound of attempt ``attempt``'s delay: ``min(high, low * 2**attempt)``.

    Any attempt number works: the exponent is capped before it can overflow (a
    plain ``low * 2**attempt`` raises ``OverflowError`` from attempt 1024 on).
    """
    return min(high, low * 2.0 ** min(attempt, _MAX_EXPONENT))


def full_jitter(attempt: int, *, low: float, high: float, rng: Rng = random.random) -> float:
    """Attempt ``attempt``'s delay: uniform in ``[0, min(high, low * 2**attempt))``.

    The pure form of :class:`Backoff`, for a caller that keeps the attempt count
    itself (the relay's push schedule keeps one per endpoint).
    """
    return ceiling(attempt, low=low, high=high) * _draw(rng)()


@final
class Backoff:
    """Successive retry delays: exponential, capped, with full jitter.

    Args:
        low: The first attempt's bound, seconds (>= 0; 0 retries at once, every time).
        high: The largest bound, the cap, seconds (>= ``low``).
        rng: The randomness (default: the ``random`` module's generator; not
            secret, delays need none).

    Raises:
        ValueError: ``low`` is negative or ``high`` is below it.
    """

    __slots__ = ("_attempt", "_draw", "high", "low")

    def __init__(
        self, low: float = DEFAULT_LOW, high: float = DEFAULT_CAP, *, rng: Rng = random.random
    ) -> None:
        if not 0 <= low <= high:
            raise ValueError(f"backoff needs 0 <= low <= high, not ({low}, {high})")
        self.low = low
        self.high = high
        self._draw = _draw(rng)
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last :meth:`reset`."""
        return self._attempt

    def next_delay(self, hint: float | None = None) -> float:
        """The delay before the next attempt, in seconds; counts one attempt.

        Args:
            hint: The moment the other side named for coming back (a relay going
                down gracefully spreads its clients' return so), in seconds: the
                delay is the hint, at most the cap, and no attempt is counted.
        """
        if hint is not None:
            return min(max(hint, 0.0), self.high)
        delay = ceiling(self._attempt, low=self.low, high=self.high) * self._draw()
        self._attempt += 1
        return delay

    def reset(self) -> None:
        """It worked: the next delay is drawn from the first bound, ``[0, low)``, again."""
        self._attempt = 0

    def __repr__(self) -> str:
        return f"Backoff(low={self.low}, high={self.high}, attempt={self._attempt})"
