"""Counters and what excuses their gaps: how the core notices a withheld message.

Every device numbers its messages in a room; :class:`Counters` holds the
:class:`protocol.CounterTracker` of every (sender, device) stream and everything
that may excuse a gap in one (protocol.md section 8.6), each proven by a signed
statement or the room's own retention, never by the relay's word:

- a verified deletion names exactly the counter it excuses (``admission.py``);
- a sender's later message lists counters the relay refused for good;
- a member's signed erasure excuses its streams' gaps, and each ``removed``
  placeholder it backs excuses one gap, once (:attr:`Counters.allowance`);
- a low-water mark above our position excuses the gap it hid only if the
  verified log's retention could have purged that far (:meth:`Counters.judge_purge`).

A ``removed`` placeholder itself excuses nothing: the event it names must back it
(:meth:`Counters.backed`). What nothing explains after a complete sync becomes a
``withheld`` alarm (:meth:`Counters.check_withheld`). Backfill checks history's
counters against what was read forward (:class:`Walk`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, final

from client_sdk._core.alarms import Alarms
from client_sdk._core.ledger import Ledger
from client_sdk._core.step import Step
from protocol.api import ErasedEvent, RoomEvent, TombstoneEvent
from protocol.counters import CounterTracker
from protocol.errors import EnvelopeError
from protocol.ids import MemberId, MessageId

__all__ = ["PURGE_SKEW_MS", "Counters", "Walk"]

_DAY_MS: Final = 24 * 3600 * 1000
PURGE_SKEW_MS: Final = 3600 * 1000
"""How far the relay's clock may run ahead of ours when we judge a retention purge."""


@dataclass(slots=True)
class Walk:
    """What backfill checks history against, per (sender, device) stream."""

    first: dict[tuple[MemberId, bytes], int] = field(default_factory=dict)
    """The first counter read forward from each stream (the lowest one)."""
    low: dict[tuple[MemberId, bytes], int] = field(default_factory=dict)
    """The lowest counter the current backfill walk read from each stream."""
    next: int | None = None
    """Log index of the lowest operation the walk has passed (None: unknown)."""


@final
class Counters:
    """Every stream's counters and the proofs that excuse their gaps. See the module docstring."""

    def __init__(self, ledger: Ledger, alarms: Alarms) -> None:
        self.ledger = ledger
        self.alarms = alarms
        self.tracker = CounterTracker()
        self.allowance: dict[MemberId, int] = {}
        """Erased messages of each member we never read (each excuses one gap, once)."""
        self.placeholders: dict[int, tuple[int, MessageId, MemberId]] = {}
        """``removed`` events waiting for what removed them: seq -> (by, id, sender)."""
        self.purge: tuple[int, int, int, int] | None = None
        """A low-water mark above our position, to judge: (position, ts, low_water, index)."""
        self.purge_highs: dict[tuple[MemberId, bytes], int] = {}
        """Each stream's highest counter when that mark arrived."""
        self.walk = Walk()
        self.rebase: set[MemberId] = set()
        """Senders whose counters restart from the next one we read (we could not read some)."""
        self.alarmed: set[tuple[MemberId, bytes, int]] = set()
        """Gaps a ``withheld`` alarm named already."""

    # -- reading forward and back ----------------------------------------------------

    def observe(
        self, sender: MemberId, device: bytes, counter: int, skipped: Iterable[int] = ()
    ) -> None:
        """A message read forward: count it, and excuse what its sender says was refused."""
        key = (sender, device)
        self.tracker.observe(sender, device, counter)  # a new stream's floor: counter - 1
        if key not in self.walk.first:
            self.walk.first[key] = counter
        if sender in self.rebase:
            self.tracker.raise_floor(sender, device, counter - 1)
            self.rebase.discard(sender)
        # What the sender itself says the relay refused for good (never stored).
        for c in skipped:
            if c < counter:
                self.tracker.excuse(sender, device, c)

    def place_back(self, sender: MemberId, device: bytes, counter: int, mid: MessageId) -> None:
        """A backfilled message's counter is below all its device sent after it."""
        key = (sender, device)
        low = self.walk.low.get(key, self.walk.first.get(key))
        if low is not None and counter >= low:
            raise EnvelopeError(
                f"message {mid} in history carries counter {counter} of a device whose"
                f" later messages start at {low}: replayed or moved",
                code="msg.replay",
            )
        self.walk.low[key] = counter

    def restart_walk(self) -> None:
        """Older epochs became readable: backfill walks down again from our join."""
        self.walk = Walk(first=self.walk.first)

    # -- deletion placeholders ---------------------------------------------------------

    def placeholder(
        self, step: Step, seq: int, by: int, target: MessageId, sender: MemberId
    ) -> None:
        """A ``removed`` event at ``seq``: judged when the event ``by`` names is read."""
        if by <= seq:
            self.unbacked(step, seq, sender)
        else:
            self.placeholders[seq] = (by, target, sender)

    def unbacked(self, step: Step, seq: int, sender: MemberId) -> None:
        self.alarms.raise_(
            step,
            "withheld",
            f"the relay put a deletion placeholder at seq {seq} (a message from {sender})"
            " that no signed deletion or erasure backs",
            "msg.withheld",
        )

    def backed(self, step: Step, event: RoomEvent) -> None:
        """Judge the placeholders that name this ``seq`` (or an earlier one) as their cause.

        A verified tombstone backs the one placeholder of its target; a verified
        erasure backs each placeholder of its member up to ``through``. Anything
        else (or nothing, at a ``seq`` the relay skipped) backs none.
        """
        due = sorted(seq for seq, (by, _, _) in self.placeholders.items() if by <= event.seq)
        used = False
        verified = not step.events  # the event's own check raised no alarm
        for seq in due:
            by, target, sender = self.placeholders.pop(seq)
            ok = False
            proven = by == event.seq and verified
            if proven and isinstance(event, TombstoneEvent):
                c = event.request.content
                ok = not used and event.target == target and c.sender == sender
                used = used or ok
            elif proven and isinstance(event, ErasedEvent):
                ok = event.request is not None and event.member == sender and seq <= event.through
                if ok:
                    self.allowance[sender] = self.allowance.get(sender, 0) + 1
            if not ok:
                self.unbacked(step, seq, sender)

    def forgive_all(self, member: MemberId | None = None) -> None:
        """Excuse every gap the streams of ``member`` (of everyone: None) have now."""
        for sender, device in self.tracker.streams():
            if member is None or sender == member:
                self.tracker.raise_floor(sender, device, self.tracker.highest(sender, device))

    # -- low-water marks and the room's retention --------------------------------------

    def note_purge(self, position: int, position_ts: int, low_water: int, seq_index: int) -> None:
        """A low-water mark above our ``position``: remember it, to judge after the sync."""
        if self.purge is None:
            self.purge = (position, position_ts, low_water, seq_index)
            self.purge_highs = {
                (sender, device): self.tracker.highest(sender, device)
                for sender, device in self.tracker.streams()
            }
        else:
            p = self.purge
            self.purge = (p[0], p[1], max(p[2], low_water), p[3])

    def judge_purge(self, step: Step, now: int) -> None:
        """Excuse what a low-water mark above our position hid, or raise ``withheld``.

        Only the room's own retention may purge, so the mark excuses gaps only if the
        verified log had a retention in force since our position, and that retention
        could have purged the event right after our position by now: that event is no
        older than the one at our position, whose relay ``ts`` we kept, so that ``ts``
        must be older than the cut-off (give or take :data:`PURGE_SKEW_MS`).
        """
        if self.purge is None:
            return
        position, position_ts, low_water, index = self.purge
        highs, self.purge, self.purge_highs = self.purge_highs, None, {}
        days = self.ledger.retention_since(min(index, self.ledger.log.index))
        if days is None:
            self.alarms.raise_(
                step,
                "withheld",
                f"the relay says it purged events up to seq {low_water}, past our position"
                f" {position}, in a room whose policy keeps everything",
                "msg.withheld",
            )
            return
        cutoff = now - days * _DAY_MS
        if position_ts > cutoff + PURGE_SKEW_MS:
            self.alarms.raise_(
                step,
                "withheld",
                f"the relay says it purged events up to seq {low_water}, but the room's"
                f" {days}-day retention could not have reached past our position {position} yet",
                "msg.withheld",
            )
            return
        # We never saw what was purged: forgive, for each stream, the gap from where
        # it stood when the mark arrived up to the next counter read after it (now,
        # or from the next message on). Nothing later: those events were served.
        for (sender, device), high in highs.items():
            after = self.tracker.seen_after(sender, device, high)
            if after is None:
                self.tracker.raise_floor(sender, device, high)
                self.rebase.add(sender)
            else:
                self.tracker.raise_floor(sender, device, after - 1)

    def check_withheld(self, step: Step, now: int) -> None:
        """After a complete sync: raise ``withheld`` for counter gaps nothing explains.

        The low-water mark is judged first (:meth:`judge_purge`); then each open gap
        not alarmed yet is excused by its member's erasure allowance (one
        placeholder, one gap) or named in one ``withheld`` alarm per sender.
        """
        self.judge_purge(step, now)
        open_gaps: dict[MemberId, list[tuple[MemberId, bytes, int]]] = {}
        for (sender, device), counters in self.tracker.gaps().items():
            for counter in counters:
                item = (sender, device, counter)
                if item not in self.alarmed:
                    open_gaps.setdefault(sender, []).append(item)
        for sender, gaps in sorted(open_gaps.items()):
            # A signed erasure's placeholders: each excuses one gap, once.
            erased = min(self.allowance.get(sender, 0), len(gaps))
            for s_, d, c in gaps[:erased]:
                self.tracker.excuse(s_, d, c)
            if erased:
                self.allowance[sender] -= erased
            items = gaps[erased:]
            if items:
                self.alarmed.update(items)
                self.alarms.raise_(
                    step,
                    "withheld",
                    f"{len(items)} message(s) from {sender} never arrived",
                    "msg.withheld",
                )
