"""Per-device message counters: noticing a message the relay withheld.

Each sending device numbers its messages in a room 1, 2, 3 ... inside the
encrypted plaintext. A receiver records what it has seen per (sender, device).
A counter seen twice is a replay; counters skipped over are *missing* until they
arrive (history may be fetched out of order) or the caller decides they never will
(after a full sync), which is the withheld-message alarm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

from protocol.errors import EnvelopeError
from protocol.ids import MemberId

__all__ = ["MAX_GAP", "CounterTracker"]

MAX_GAP = 100_000
"""A jump larger than this is refused outright (``msg.counter_jump``)."""


@dataclass(slots=True)
class _Stream:
    highest: int = 0
    # Skipped counters as disjoint half-open ranges [lo, hi), so a sender who
    # jumps ahead costs one range, not one entry per counter it skipped.
    missing: list[list[int]] = field(default_factory=list)

    def fill(self, counter: int) -> bool:
        """Remove ``counter`` from the missing ranges; False if it was not missing."""
        for i, (lo, hi) in enumerate(self.missing):
            if lo <= counter < hi:
                pieces = [r for r in ([lo, counter], [counter + 1, hi]) if r[0] < r[1]]
                self.missing[i : i + 1] = pieces
                return True
        return False


@final
class CounterTracker:
    """What each (sender, device) has been seen to send in one room."""

    __slots__ = ("_streams",)

    def __init__(self) -> None:
        self._streams: dict[tuple[MemberId, bytes], _Stream] = {}

    def observe(self, sender: MemberId, device: bytes, counter: int) -> None:
        """Record a counter.

        Raises:
            EnvelopeError: ``msg.replay`` if this counter was already seen,
                ``msg.counter_jump`` if it skips more than :data:`MAX_GAP`.
        """
        stream = self._streams.get((sender, device)) or _Stream()
        if counter - stream.highest > MAX_GAP:
            raise EnvelopeError(
                f"{sender} skipped {counter - stream.highest - 1} messages", code="msg.counter_jump"
            )
        if counter > stream.highest:
            if counter > stream.highest + 1:
                stream.missing.append([stream.highest + 1, counter])
            stream.highest = counter
        elif not stream.fill(counter):
            raise EnvelopeError(f"counter {counter} seen twice from {sender}", code="msg.replay")
        self._streams[(sender, device)] = stream

    def excuse(self, sender: MemberId, device: bytes, counter: int) -> bool:
        """Stop expecting a missing counter (a signed statement says it never comes).

        Returns False if it was not missing (seen, or beyond ``highest``); then
        nothing changes.
        """
        stream = self._streams.get((sender, device))
        return stream is not None and stream.fill(counter)

    def seen_after(self, sender: MemberId, device: bytes, counter: int) -> int | None:
        """The lowest counter above ``counter`` seen from this device (None if none)."""
        stream = self._streams.get((sender, device))
        if stream is None:
            return None
        candidate = counter + 1
        for lo, hi in sorted(stream.missing):
            if lo <= candidate < hi:
                candidate = hi
        return candidate if candidate <= stream.highest else None

    def missing(self) -> dict[tuple[MemberId, bytes], list[int]]:
        """Counters skipped so far, per (sender, device)."""
        return {
            k: [c for lo, hi in s.missing for c in range(lo, hi)]
            for k, s in self._streams.items()
            if s.missing
        }

    def highest(self, sender: MemberId, device: bytes) -> int:
        """The highest counter seen from this device (0 if none)."""
        stream = self._streams.get((sender, device))
        return stream.highest if stream else 0
