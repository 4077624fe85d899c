"""This device's own message counters in a room, and the ones the relay refused.

Every message this device seals takes the next counter. A counter the relay
refused for good stays used (later messages may be sealed already); our next
delivered messages list it in ``Plaintext.skipped`` so receivers stop expecting
it (protocol.md section 8.6), until a message announcing it is acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, final

__all__ = ["MAX_SKIPPED", "Outgoing"]

MAX_SKIPPED: Final = 64
"""Refused counters one plaintext can announce (``Plaintext.skipped``)."""


@final
class Outgoing:
    """Our send counter and the refused counters still to announce."""

    def __init__(self) -> None:
        self.send_counter = 0
        self.refused: set[int] = set()
        """Our counters the relay refused for good, not yet announced in a delivered message."""

    def next_counter(self) -> int:
        """Number this device's next message in the room."""
        self.send_counter += 1
        return self.send_counter

    def note_refused(self, counter: int) -> None:
        """The relay refused our message with this counter for good: it was never stored.

        Only the newest :data:`MAX_SKIPPED` are kept.
        """
        self.refused.add(counter)
        while len(self.refused) > MAX_SKIPPED:
            self.refused.discard(min(self.refused))

    def skipped_for(self, counter: int) -> list[int]:
        """What a message of ours with ``counter`` must announce as refused."""
        return sorted(c for c in self.refused if c < counter)

    def announced(self, counters: Iterable[int]) -> None:
        """A message listing these refused counters was acknowledged: receivers know."""
        self.refused.difference_update(counters)
