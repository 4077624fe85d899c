"""Per-device message counters: noticing a message the relay withheld.

Each sending device numbers its messages in a room 1, 2, 3 ... inside the
encrypted plaintext. A receiver records what it has seen per (sender, device).
A counter seen twice is a replay; counters skipped over are *missing* until they
arrive (history may be fetched out of order) or the caller decides they never will
(after a full sync), which is the withheld-message alarm.

Each stream has a *floor* (protocol.md section 8.6): the first counter a receiver
reads from a device sets it to ``counter - 1``, since what that device sent before
is from before the receiver could read the room (it joined later). Only missing
counters above the floor are :meth:`CounterTracker.gaps`. A signed statement (a
deletion, the sender's own list of refused counters) :meth:`CounterTracker.excuse`
exactly one counter, now or once the stream reaches it; a purge or an erasure
raises the floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

from protocol.errors import EnvelopeError
from protocol.ids import MemberId

__all__ = ["MAX_GAP", "CounterTracker"]

MAX_GAP = 100_000
"""A jump larger than this is refused outright (``msg.counter_jump``)."""

Key = tuple[MemberId, bytes]


@dataclass(slots=True)
class _Stream:
    highest: int = 0
    floor: int = 0
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

    __slots__ = ("_ahead", "_streams")

    def __init__(self) -> None:
        self._streams: dict[Key, _Stream] = {}
        self._ahead: dict[Key, set[int]] = {}
        """Excused counters the stream has not reached yet."""

    def observe(self, sender: MemberId, device: bytes, counter: int) -> None:
        """Record a counter; the first one of a stream sets its floor to ``counter - 1``.

        Raises:
            EnvelopeError: ``msg.replay`` if this counter was already seen (or
                excused), ``msg.counter_jump`` if it skips more than :data:`MAX_GAP`.
        """
        key = (sender, device)
        stream = self._streams.get(key)
        new = stream is None
        if stream is None:
            stream = _Stream()
        if counter - stream.highest > MAX_GAP:
            raise EnvelopeError(
                f"{sender} skipped {counter - stream.highest - 1} messages", code="msg.counter_jump"
            )
        if counter in self._ahead.get(key, ()):
            raise EnvelopeError(f"counter {counter} from {sender} was excused", code="msg.replay")
        if counter > stream.highest:
            if counter > stream.highest + 1:
                stream.missing.append([stream.highest + 1, counter])
            stream.highest = counter
        elif not stream.fill(counter):
            raise EnvelopeError(f"counter {counter} seen twice from {sender}", code="msg.replay")
        if new:
            stream.floor = counter - 1
        self._streams[key] = stream
        ahead = self._ahead.get(key)
        if ahead:
            for c in sorted(c for c in ahead if c <= stream.highest):
                ahead.discard(c)
                stream.fill(c)
            if not ahead:
                del self._ahead[key]

    def excuse(self, sender: MemberId, device: bytes, counter: int) -> None:
        """A signed statement says this counter never arrives: stop expecting it.

        A missing counter is no longer missing; one the stream has not reached yet
        is excused when it does; one already seen (or below the floor) needs nothing.
        """
        key = (sender, device)
        stream = self._streams.get(key)
        if stream is not None and counter <= stream.highest:
            stream.fill(counter)
            return
        self._ahead.setdefault(key, set()).add(counter)

    def raise_floor(self, sender: MemberId, device: bytes, floor: int) -> None:
        """Expect nothing at or below ``floor`` from this stream any more."""
        stream = self._streams.get((sender, device))
        if stream is not None:
            stream.floor = max(stream.floor, floor)

    def floor(self, sender: MemberId, device: bytes) -> int:
        """Counters at or below this are not expected (0 for an unknown stream)."""
        stream = self._streams.get((sender, device))
        return stream.floor if stream else 0

    def streams(self) -> list[Key]:
        """Every (sender, device) seen, in first-seen order."""
        return list(self._streams)

    def excused_ahead(self) -> list[tuple[MemberId, bytes, int]]:
        """Excused counters no stream has reached yet (to persist them)."""
        return sorted((s, d, c) for (s, d), counters in self._ahead.items() for c in counters)

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

    def missing(self) -> dict[Key, list[int]]:
        """Counters skipped so far, per (sender, device)."""
        return {
            k: [c for lo, hi in s.missing for c in range(lo, hi)]
            for k, s in self._streams.items()
            if s.missing
        }

    def gaps(self) -> dict[Key, list[int]]:
        """Counters skipped so far above each stream's floor: what may be withheld."""
        out = {
            k: [c for lo, hi in s.missing for c in range(max(lo, s.floor + 1), hi)]
            for k, s in self._streams.items()
            if s.missing
        }
        return {k: v for k, v in out.items() if v}

    def highest(self, sender: MemberId, device: bytes) -> int:
        """The highest counter seen from this device (0 if none)."""
        stream = self._streams.get((sender, device))
        return stream.highest if stream else 0
