"""Log lines that say a cause once, then at most once a minute while it lasts.

A failing disk or database fails every request: logged per request, it buries the
operator's log in identical lines (hundreds a second under load). :class:`Repeats`
logs a cause the first time it appears, again only when it changes, then a summary
at most every ``every`` seconds (how many times it happened meanwhile), and one line
when it is over.
"""

from __future__ import annotations

import logging
from typing import Final, final

from protocol.clock import SYSTEM_CLOCK, Clock

__all__ = ["REPEAT_EVERY", "Repeats"]

REPEAT_EVERY: Final = 60.0
"""Seconds between two lines about one lasting cause."""


@final
class Repeats:
    """One rate-limited condition of ``logger`` (a failing disk, a failing checkpoint)."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        level: int = logging.ERROR,
        every: float = REPEAT_EVERY,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._logger = logger
        self._what = what
        self._level = level
        self._every = every
        self._clock = clock
        self._key: str | None = None
        self._text: str | None = None
        self._logged_at = 0.0
        self._since = 0
        """Occurrences not logged since the last line."""

    @property
    def cause(self) -> str | None:
        """The cause that lasts, as first said, or ``None`` once it is over."""
        return self._text

    @property
    def key(self) -> str | None:
        """What identifies the cause that lasts (see :meth:`failed`)."""
        return self._key

    def failed(self, key: str, text: str | None = None) -> None:
        """Another occurrence of the cause ``key`` (said as ``text``, by default ``key``):
        logged if new, summarised if it lasts."""
        now = self._clock.monotonic()
        if key != self._key:
            self._key, self._text = key, text or key
            self._logged_at, self._since = now, 0
            self._logger.log(self._level, "%s: %s", self._what, self._text)
            return
        self._since += 1
        if now - self._logged_at >= self._every:
            self._logger.log(
                self._level,
                "%s: %s (still; %d more times since the last line)",
                self._what,
                self._text,
                self._since,
            )
            self._logged_at, self._since = now, 0

    def ok(self) -> None:
        """The condition is over (logged once, if there was one)."""
        if self._key is not None:
            self._logger.warning("%s: recovered (was: %s)", self._what, self._text)
            self._key, self._text, self._since = None, None, 0
