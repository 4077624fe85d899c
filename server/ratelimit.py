"""Token-bucket rate limits, per member key and per client address, in memory only.

Each bucket kind (``send``, ``join``, ``auth``, ``register``, ``subscribe``,
``request``) has one rate from the config. A request names the subjects it is
charged to (``addr:…``, ``key:…``); it passes only if every subject has a token,
and only then are tokens taken, so a refused request costs nothing. Addresses never
leave this module's memory: nothing here is logged or stored. Memory is bounded:
beyond ``max_subjects`` per bucket kind, the least recently seen subjects are
forgotten (which at worst hands an idle subject a full bucket again).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, final

from protocol.clock import SYSTEM_CLOCK, Clock
from server.config import BUCKETS, Rate
from server.errors import RelayError

__all__ = ["RateLimiter", "address_subject", "key_subject"]

_MAX_SUBJECTS: Final = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@final
class RateLimiter:
    """Token buckets for every kind of bucket and every subject.

    Buckets refill by ``clock.monotonic`` (the relay's :class:`protocol.clock.Clock`).
    """

    def __init__(
        self,
        rates: Mapping[str, Rate],
        *,
        clock: Clock = SYSTEM_CLOCK,
        max_subjects: int = _MAX_SUBJECTS,
        on_refuse: Callable[[str], None] | None = None,
    ) -> None:
        self._rates = dict(rates)
        self._on_refuse = on_refuse or (lambda kind: None)
        """Told the bucket kind of every refusal (the relay's metrics)."""
        self._clock = clock
        self._max = max_subjects
        self._buckets: dict[str, OrderedDict[str, _Bucket]] = {b: OrderedDict() for b in BUCKETS}

    def _bucket(self, kind: str, subject: str, now: float) -> _Bucket:
        rate = self._rates[kind]
        table = self._buckets[kind]
        bucket = table.get(subject)
        if bucket is None:
            bucket = _Bucket(tokens=float(rate.burst), updated=now)
            table[subject] = bucket
            while len(table) > self._max:
                table.popitem(last=False)
        else:
            table.move_to_end(subject)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_second)
            bucket.updated = now
        return bucket

    def hit(self, kind: str, *subjects: str | None) -> None:
        """Take one token of ``kind`` from every subject, or refuse with ``rate.limited``.

        ``None`` subjects are skipped (a request without an address or a key).

        Raises:
            RelayError: ``rate.limited`` with ``retry_after`` seconds and
                ``detail = {"reason": kind, "retry_after": seconds}``.
        """
        if kind not in self._rates:
            return
        now = self._clock.monotonic()
        buckets = [self._bucket(kind, s, now) for s in subjects if s is not None]
        short = [b for b in buckets if b.tokens < 1.0]
        if short:
            rate = self._rates[kind]
            wait = max((1.0 - b.tokens) / rate.per_second for b in short)
            seconds = max(1, math.ceil(wait))
            self._on_refuse(kind)
            raise RelayError(
                f"too many {kind} requests; retry in {seconds} s",
                code="rate.limited",
                detail={"reason": kind, "retry_after": seconds},
                retry_after=seconds,
            )
        for bucket in buckets:
            bucket.tokens -= 1.0


def address_subject(host: str | None) -> str | None:
    """The subject string of a client address (``None`` if unknown)."""
    return f"addr:{host}" if host else None


def key_subject(member: str | None) -> str | None:
    """The subject string of a member key."""
    return f"key:{member}" if member else None
