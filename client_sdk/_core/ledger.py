"""The verified log as the room core reads it: who stood where, at every log index.

:class:`Ledger` holds the verified :class:`protocol.RoomLog` and, for every log
index, the room's state once that operation applied (:class:`Standing`: epoch,
pending rotation, members, supporters), where each epoch started, how far the
relay's event sequence has reached in the log (:attr:`Ledger.seq_index`) and
where the operations sit in that sequence. From these it answers a message's
*place* in room order and a member's role there (:meth:`Ledger.place`,
:meth:`Ledger.role_at`): room-level messages count only if their sender had the
authority at that place, never as the log stands now.

It also holds a head this person verified before (a restore, a linked device):
the log must reach it, and nothing is signed or sealed until it does
(:meth:`Ledger.pin`).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Literal, final

from client_sdk._core.alarms import Alarms
from client_sdk._core.step import Step
from client_sdk.message import MembershipEntry
from protocol.errors import ForkDetected
from protocol.ids import MemberId
from protocol.ops import (
    ROLE_RANK,
    AddOp,
    CreateOp,
    JoinOp,
    LeaveOp,
    RemoveOp,
    RetentionOp,
    Role,
    SignedOp,
)
from protocol.personal import VerifiedHead, check_verified_head
from protocol.roomlog import RoomLog

__all__ = ["Ledger", "Standing", "Status"]

Status = Literal["active", "left", "removed", "unreachable"]
"""Where this member stands in the room."""


@final
@dataclass(frozen=True, slots=True)
class Standing:
    """Room state once the operation at one index applied (a ``protocol.envelope.LogPlace``)."""

    epoch: int
    needs_rotation: bool
    members: frozenset[MemberId]
    supporters: frozenset[MemberId]
    """Members whose role is ``supporter``: who may claim, in room order."""


@final
class Ledger:
    """The verified log, with the room's standing at every index. See the module docstring."""

    def __init__(self, alarms: Alarms) -> None:
        self.alarms = alarms
        self.log = RoomLog()
        self.seq_index = 0
        """The newest log index the event sequence has reached (ops may apply earlier)."""
        self.standings: list[Standing] = []
        self.epoch_starts: list[int] = []  # log index where each epoch started
        self.op_seqs: list[int] = []
        self.op_indexes: list[int] = []
        """Where log operations sit in the event sequence: (seq, index), sorted by seq."""
        self.pinned: VerifiedHead | None = None
        """A head this person verified on another device (or before a restore) that
        the log does not reach yet: nothing is signed or sealed here until it does."""

    def append(self, op: SignedOp) -> None:
        """Verify and apply ``op`` (raises as :meth:`RoomLog.append`)."""
        before = self.log.epoch
        self.log.append(op)
        members = frozenset(self.log.members)
        supporters = frozenset(m.id for m in self.log.members.values() if m.role == "supporter")
        if self.standings and self.standings[-1].members == members:
            members = self.standings[-1].members  # share the set: most operations keep it
        if self.standings and self.standings[-1].supporters == supporters:
            supporters = self.standings[-1].supporters
        self.standings.append(
            Standing(self.log.epoch, self.log.needs_rotation, members, supporters)
        )
        if self.log.epoch != before:
            self.epoch_starts.append(self.log.index)

    def members_at(self, index: int) -> frozenset[MemberId]:
        """Who was a member once the operation at ``index`` applied."""
        return self.standings[index].members

    def epoch_started_at(self) -> int:
        """The author's clock (ms) on the operation that started the current epoch."""
        if not self.epoch_starts:
            return 0
        return self.log.ops[self.epoch_starts[-1]].content.at

    # -- a room event's place in room order ---------------------------------------

    def note_op_seq(self, seq: int, index: int) -> None:
        """Record that the operation at log ``index`` sits at ``seq`` in the event sequence."""
        at = bisect_left(self.op_seqs, seq)
        if at < len(self.op_seqs) and self.op_seqs[at] == seq:
            return
        self.op_seqs.insert(at, seq)
        self.op_indexes.insert(at, index)

    def place(self, seq: int, head_index: int, *, forward: bool) -> tuple[int, int]:
        """The log indexes a room event at ``seq`` may sit after, as (first, last).

        Going forward it is exact: the sequence has reached ``seq_index``. In history
        it is fixed by the first operation recorded after ``seq`` (the log stood just
        before it); without one, the span reaches our current head, and a role is
        then judged by the lowest it held over the span: never more authority than
        the sender had at the message's place.
        """
        if forward:
            return self.seq_index, self.seq_index
        at = bisect_left(self.op_seqs, seq)
        last = self.op_indexes[at] - 1 if at < len(self.op_seqs) else self.log.index
        first = max(head_index, self.op_indexes[at - 1] if at else 0)
        return min(first, last), last

    def role_at(self, member: MemberId, place: tuple[int, int], *, lowest: bool) -> Role | None:
        """``member``'s role at ``place``: the lowest (or highest) held over its span."""
        roles = self.log.roles_between(member, *place)
        held = [r for r in roles if r is not None]
        if lowest and len(held) != len(roles):
            return None  # not a member somewhere in the span
        if not held:
            return None
        pick = min if lowest else max
        return pick(held, key=ROLE_RANK.__getitem__)

    # -- what the log says about one member ----------------------------------------

    def entry_index(self, me: MemberId) -> int | None:
        """The log index of ``me``'s latest join (None: we created the room)."""
        for op in reversed(self.log.ops):
            if isinstance(op.content.body, JoinOp) and op.content.author == me:
                return op.content.index
        return None

    def entered_at(self, me: MemberId) -> int:
        """Our clock on our latest join or create: at least the relay's time before it."""
        for op in reversed(self.log.ops):
            c = op.content
            if isinstance(c.body, JoinOp | CreateOp) and c.author == me:
                return c.at
        return 0

    def departed_at(self, member: MemberId) -> int:
        """The log index of ``member``'s latest leave or removal up to ``seq_index``."""
        for op in reversed(self.log.ops[: self.seq_index + 1]):
            c = op.content
            if (isinstance(c.body, LeaveOp) and c.author == member) or (
                isinstance(c.body, RemoveOp) and c.body.member == member
            ):
                return c.index
        return 0

    def membership_history(self) -> list[MembershipEntry]:
        """Every join, addition and leave in the verified log, in log order."""
        entries: list[MembershipEntry] = []
        log = self.log
        for op in log.ops:
            c = op.content
            if isinstance(c.body, JoinOp | CreateOp):
                role = log.role_at(c.author, c.index)
                entries.append(MembershipEntry(action="join", member=c.author, role=role, at=c.at))
            elif isinstance(c.body, AddOp):
                entries.append(
                    MembershipEntry(
                        action="add", member=c.body.member, by=c.author, role=c.body.role, at=c.at
                    )
                )
            elif isinstance(c.body, LeaveOp):
                role = log.role_at(c.author, c.index - 1)
                entries.append(MembershipEntry(action="leave", member=c.author, role=role, at=c.at))
        return entries

    def retention_since(self, index: int) -> int | None:
        """The shortest retention (days) the verified log had in force from ``index`` on."""
        days: int | None = None
        shortest: int | None = None
        for op in self.log.ops:
            body = op.content.body
            if isinstance(body, CreateOp):
                days = body.policy.retention_days
            elif isinstance(body, RetentionOp):
                days = body.retention_days
            else:
                continue
            if op.content.index < index:
                shortest = days  # the value in force when ``index`` was reached (so far)
            elif days is not None:
                shortest = days if shortest is None else min(shortest, days)
        return shortest

    # -- a head verified before (a restore, a linked device) --------------------------

    def pin(self, verified: VerifiedHead) -> Step:
        """Require the log to hold ``verified`` (from the personal store or a link offer).

        Checked at once and again as the log grows: a log that ends before it
        raises a ``fork`` alarm (``log.behind_verified_head``) and the room
        refuses to sign or seal anything until the log reaches it; another
        operation at its index raises a ``fork`` alarm that freezes the room.
        """
        step = Step()
        if self.log.index >= verified.index:
            try:
                check_verified_head(self.log, verified)
            except ForkDetected as exc:
                self.alarms.raise_(step, "fork", exc.message, exc.code, freezes=True)
            return step
        behind_already = self.pinned is not None  # one alarm says it
        if self.pinned is None or verified.index >= self.pinned.index:
            self.pinned = verified
        if not behind_already:
            self.check_pin(step, alarm_if_behind=True)
        return step

    def check_pin(self, step: Step, *, alarm_if_behind: bool = False) -> None:
        """Once the log reaches the pinned head, check it holds it (then forget it)."""
        pinned = self.pinned
        if pinned is None or (self.log.index < pinned.index and not alarm_if_behind):
            return
        try:
            check_verified_head(self.log, pinned)
        except ForkDetected as exc:
            frozen = exc.code != "log.behind_verified_head"
            self.alarms.raise_(step, "fork", exc.message, exc.code, freezes=frozen)
            return
        self.pinned = None

    @property
    def verified_head(self) -> VerifiedHead | None:
        """The head to publish as this person's last verified one (None while unsure)."""
        if self.pinned is not None or self.alarms.frozen or self.log.index < 0:
            return None
        return VerifiedHead(index=self.log.index, head=self.log.head)
