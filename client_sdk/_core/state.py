"""One room as one client sees it: the facade of the pure room core (no I/O).

One piece past 600 lines because it is the one object the drivers hold: it owns the
room's position in the event sequence and routes every input, in the order the
checks must run, to the collaborator that owns each concept; most of its length is
that routing and the thin delegating views the drivers read, and cutting it would
spread one ordering over several files.

:class:`RoomState` folds what the relay serves into what the app may see. The
drivers use only it; it owns the room's position in the relay's event sequence
and the epoch secrets this member unsealed, and hands every concept to the
collaborator that owns its part of the state (see the package docstring):
the verified log and pins (``ledger.py``), admission of messages
(``admission.py``), counters (``counters.py``), alarms (``alarms.py``),
moderation, room bodies, reports, programs, builders and persistence. Every
input goes through it:

- ``receive(event)`` takes the next room event in sequence order (``seq``).
  Operations go through ``RoomLog.append``; messages through the head, epoch,
  membership, signature, decryption and counter checks, in that order. What
  passes comes back in a :class:`Step` for the driver to store and announce,
  with the work it asks for as typed follow-ups (``followups.py``).
- ``open_ahead(room, events, secrets)`` (``step.py``) verifies and decrypts a
  page's messages before ``receive`` reaches them (the driver runs it in a worker
  thread while the event loop stores the previous page). It is pure and decides
  nothing: ``receive`` uses a result only for the very envelope object and epoch
  secret it was made with, at the point where it would have called
  ``open_message`` itself, so every check keeps its order and a refusal is the
  same refusal.
- ``check_withheld()`` runs after a complete sync: a counter gap still open is a
  message the relay withheld.
- the ``*_op`` builders make this member's own signed operations, sealing every
  commit only to the X25519 keys of the verified log.

Room-level messages (moderation, profile, rules, schedule, the risk path,
deletions) count only if their sender had the authority at the message's place in
room order: the log as it stood after the operations that precede the message in
``seq`` order (:meth:`RoomLog.role_at`), never as it stands now. A moderator
demoted later keeps what they decided before; a member promoted later does not
gain what they claimed before; a removed moderator's messages replayed after the
removal count for nothing.
Bans are log operations (``room.ban``): the log decides who is banned.

Invariants: nothing reaches :attr:`Step.accepted` or :attr:`Step.events` unless it
verified; a refused log operation freezes the room at its position (later
operations cannot chain onto a log we refused) until the alarm is acknowledged;
while any alarm is open the room refuses to send (:meth:`seal`, the op builders).
The driver (``client.py``) persists a :meth:`snapshot` after each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, final

from client_sdk._core import persistence
from client_sdk._core.admission import Admission
from client_sdk._core.alarms import Alarms
from client_sdk._core.bodies import Bodies, is_post
from client_sdk._core.builders import OpBuilder
from client_sdk._core.counters import Counters
from client_sdk._core.followups import Republish
from client_sdk._core.ledger import Ledger, Status
from client_sdk._core.moderation import Moderation
from client_sdk._core.names import Names
from client_sdk._core.outgoing import Outgoing
from client_sdk._core.persistence import RoomSnapshot
from client_sdk._core.programs import SUPPORT_BODIES, Programs
from client_sdk._core.reports import read_report
from client_sdk._core.risk import RISK_BODIES, read_risk
from client_sdk._core.step import Accepted, Opened, Step
from client_sdk._support import SupportBook
from client_sdk.errors import RoomBlocked, RoomInactive
from client_sdk.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MemberModerated,
    MemberRemoved,
    MessageDeleted,
    RetentionChanged,
    RoleChanged,
    SecurityAlarm,
)
from client_sdk.message import MembershipEntry, ModerationEntry, RoomMember
from protocol import crypto
from protocol.api import LogEvent, MessageEvent, RemovedEvent, RoomEvent, TombstoneEvent
from protocol.clock import SYSTEM_CLOCK
from protocol.counters import CounterTracker
from protocol.envelope import seal_message
from protocol.epochs import open_commit, open_history
from protocol.errors import ForkDetected, LogError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.keys import RoomKeys
from protocol.messages import (
    Body,
    Envelope,
    MemberProfileBody,
    ModerationBody,
    Plaintext,
    ProfileBody,
    ReportBody,
    RiskPlanBody,
    RulesBody,
    ScheduleBody,
)
from protocol.ops import (
    ROLE_RANK,
    AddOp,
    BanOp,
    Commit,
    CreateOp,
    JoinOp,
    LeaveOp,
    OpContent,
    Policy,
    RemoveOp,
    RetentionOp,
    Role,
    RoleOp,
    SignedOp,
    UnbanOp,
)
from protocol.personal import VerifiedHead
from protocol.roomlog import RoomLog
from protocol.signing import InviteKey

__all__ = ["RoomState"]

_MODERATOR: Final = ROLE_RANK["moderator"]
_INACTIVE: Final[dict[Status, str]] = {
    "active": "",
    "left": "you left this room",
    "removed": "you were removed from this room",
    "unreachable": "the relay no longer serves this room to you",
}


def _departing(c: OpContent) -> MemberId | None:
    """Whom an operation takes out of the room (their role is gone once it applied)."""
    if isinstance(c.body, RemoveOp | BanOp):
        return c.body.member
    if isinstance(c.body, LeaveOp):
        return c.author
    return None


@final
class RoomState:
    """A room's verified state as this member sees it. See the module docstring."""

    def __init__(self, keys: RoomKeys) -> None:
        self.keys = keys
        self._secrets: dict[int, bytes] = {}
        self.position = 0
        self.floor = 1
        """Events below this ``seq`` have not been looked at (lazy backfill goes down)."""
        self.start_seq = 1
        """Where forward processing began (our join); backfill restarts here on new keys."""
        self.low_water = 0
        self.status: Status = "active"
        self.joined_epoch = 1
        self.epoch_messages = 0
        self.position_ts = 0
        """The relay's ``ts`` on the event at :attr:`position`."""
        self.alarm_book = Alarms(keys.room)
        self.ledger = Ledger(self.alarm_book)
        self.counters = Counters(self.ledger, self.alarm_book)
        self.moderation = Moderation(keys.room, self.ledger)
        self.bodies = Bodies(keys.room, self.ledger)
        self.names = Names(keys.room, keys.member, self.ledger)
        self.programs = Programs(keys, self.ledger, self.alarm_book)
        self.outgoing = Outgoing()
        self.builder = OpBuilder(keys, self._secrets, self.ledger)
        self.admission = Admission(
            room=keys.room,
            secrets=self._secrets,
            ledger=self.ledger,
            counters=self.counters,
            moderation=self.moderation,
            alarms=self.alarm_book,
        )

    # -- construction and persistence ---------------------------------------

    @classmethod
    def restore(
        cls,
        keys: RoomKeys,
        ops: Iterable[SignedOp],
        secrets: Mapping[int, bytes],
        snapshot: RoomSnapshot,
    ) -> RoomState:
        """Rebuild a room from its stored log, secrets and snapshot.

        The log is verified again from its first operation: a store somebody
        edited cannot smuggle an operation past :class:`RoomLog`.
        """
        state = cls(keys)
        for op in ops:
            state.ledger.append(op)
        persistence.load(state, secrets, snapshot)
        return state

    def snapshot(self) -> RoomSnapshot:
        """The persisted form of everything but the log and the secrets."""
        return persistence.dump(self)

    # -- read-only views (and the few fields the driver sets) --------------------

    @property
    def secrets(self) -> dict[int, bytes]:
        """The epoch secrets this member holds, by epoch (one dict for the state's life)."""
        return self._secrets

    @secrets.setter
    def secrets(self, secrets: Mapping[int, bytes]) -> None:
        # The collaborators read this very dict: replace its contents, not the dict.
        fresh = dict(secrets)
        self._secrets.clear()
        self._secrets.update(fresh)

    @property
    def log(self) -> RoomLog:
        return self.ledger.log

    @property
    def seq_index(self) -> int:
        """The newest log index the event sequence has reached (ops may apply earlier)."""
        return self.ledger.seq_index

    @seq_index.setter
    def seq_index(self, index: int) -> None:
        self.ledger.seq_index = index

    @property
    def pinned(self) -> VerifiedHead | None:
        """A head verified before that the log does not reach yet (see :meth:`pin`)."""
        return self.ledger.pinned

    @property
    def tracker(self) -> CounterTracker:
        return self.counters.tracker

    @property
    def profile(self) -> ProfileBody | None:
        return self.bodies.profile

    @profile.setter
    def profile(self, profile: ProfileBody | None) -> None:
        self.bodies.profile = profile

    @property
    def rules(self) -> RulesBody | None:
        return self.bodies.rules

    @property
    def schedule(self) -> ScheduleBody | None:
        return self.bodies.schedule

    @property
    def risk_plan(self) -> RiskPlanBody | None:
        """A program's path for a member at imminent risk (``program.risk_plan``)."""
        return self.bodies.risk_plan

    @property
    def accepted(self) -> dict[MemberId, int]:
        """The newest rules version each member accepted (or published), from signed messages."""
        return self.bodies.accepted

    @property
    def muted(self) -> set[MemberId]:
        return self.moderation.muted

    @property
    def support(self) -> SupportBook:
        """A program room's support queue (empty in other rooms)."""
        return self.programs.book

    @property
    def send_counter(self) -> int:
        return self.outgoing.send_counter

    @send_counter.setter
    def send_counter(self, counter: int) -> None:
        self.outgoing.send_counter = counter

    @property
    def refused(self) -> set[int]:
        """Our counters the relay refused for good, not yet announced in a delivered message."""
        return self.outgoing.refused

    @property
    def room(self) -> RoomId:
        return self.keys.room

    @property
    def me(self) -> MemberId:
        return self.keys.member

    @property
    def policy(self) -> Policy:
        return self.log.policy

    @property
    def banned(self) -> frozenset[MemberId]:
        """Keys the verified log bans now (``room.ban`` not lifted by ``room.unban``)."""
        return frozenset(self.log.banned)

    @property
    def alarms(self) -> tuple[SecurityAlarm, ...]:
        """Unacknowledged alarms, oldest first."""
        return self.alarm_book.listed

    @property
    def blocked(self) -> bool:
        """True while an alarm is open, or the log is behind a head this person
        verified before: the room refuses to send."""
        return bool(self.alarm_book.open) or self.pinned is not None

    @property
    def frozen(self) -> bool:
        """True while a refused log operation holds the room at its position."""
        return self.alarm_book.frozen

    @property
    def verified_head(self) -> VerifiedHead | None:
        """The head to publish as this person's last verified one (None while unsure)."""
        return self.ledger.verified_head

    def members_at(self, index: int) -> frozenset[MemberId]:
        """Who was a member once the operation at ``index`` applied."""
        return self.ledger.members_at(index)

    def epoch_started_at(self) -> int:
        """The author's clock (ms) on the operation that started the current epoch."""
        return self.ledger.epoch_started_at()

    def rotation_due(self, *, now: int, max_age_ms: int, max_messages: int) -> bool:
        """True if the next send must first commit a ``room.rotate``.

        After a leave the log requires it (the leaver knows the epoch secret);
        otherwise the schedule does: the epoch is older than ``max_age_ms`` or
        carried ``max_messages`` messages.
        """
        if self.log.needs_rotation:
            return True
        return now - self.epoch_started_at() >= max_age_ms or self.epoch_messages >= max_messages

    def member(self, member: MemberId) -> RoomMember:
        """``member``'s name, label and role in the verified log (``names.py``)."""
        return self.names.member(member)

    def moderation_history(self) -> list[ModerationEntry]:
        """Every moderation step this member can verify, oldest first (``moderation.py``)."""
        return self.moderation.history()

    def membership_history(self) -> list[MembershipEntry]:
        """Every join, addition and leave in the verified log (``ledger.py``)."""
        return self.ledger.membership_history()

    # -- alarms and pins ------------------------------------------------------------

    def acknowledge(self, alarm_ids: Iterable[int] | None = None) -> list[int]:
        """Resolve alarms (all if ``alarm_ids`` is None); return the ids resolved.

        Acknowledging an alarm that froze the room lets the next sync fetch the
        refused events again: if the relay now serves a log that verifies, the
        room goes on; if not, a new alarm is raised.
        """
        return self.alarm_book.acknowledge(alarm_ids)

    def pin(self, verified: VerifiedHead) -> Step:
        """Require the log to hold ``verified`` (see :meth:`Ledger.pin`)."""
        return self.ledger.pin(verified)

    # -- the log -----------------------------------------------------------------

    def load_log(self, ops: Iterable[SignedOp]) -> None:
        """Verify a log read before joining (no events: it is the room's past).

        Raises:
            LogError, ForkDetected: The relay served a log that does not verify.
        """
        for op in ops:
            self.ledger.append(op)

    def apply_op(self, op: SignedOp) -> Step:
        """Verify and apply the next log operation; unseal its commit if it has our share."""
        step = Step()
        if self.frozen:
            return step
        alarms = self.alarm_book
        departing = _departing(op.content)
        prior = None if departing is None else self.log.role_of(departing)
        try:
            self.ledger.append(op)
        except ForkDetected as exc:
            alarms.raise_(step, "fork", exc.message, exc.code, freezes=True)
            return step
        except LogError as exc:
            if exc.code != "log.replay":
                alarms.raise_(step, "log_invalid", exc.message, exc.code, freezes=True)
            return step
        step.ops.append(op)
        if self.pinned is not None:
            self.ledger.check_pin(step)
        c = op.content
        body = c.body
        commit: Commit | None = getattr(body, "commit", None)
        if commit is not None:
            self.epoch_messages = 0
            if any(s.member == self.me for s in commit.shares):
                try:
                    secret = open_commit(commit, prev=c.prev, keys=self.keys)
                    history = open_history(
                        commit, room=self.room, epoch_secret=secret, confirms=self.log.confirms
                    )
                except LogError as exc:
                    alarms.raise_(step, "log_invalid", exc.message, exc.code)
                else:
                    new = {e: s for e, s in history.items() if e not in self.secrets}
                    if new:
                        # Older epochs became readable: look at the past again, with
                        # a fresh walk (it checks each event's place as it goes down).
                        if self.floor < self.start_seq:
                            self.counters.restart_walk()
                        self.floor = max(self.floor, self.start_seq)
                    new[commit.epoch] = secret
                    self.secrets.update(new)
                    step.secrets.update(new)
        self._op_events(step, c, prior)
        self.programs.after_op(step, body, active=self.status == "active")
        step.items = self.names.describe(step.items)
        return step

    def _op_events(self, step: Step, c: OpContent, prior: Role | None) -> None:
        """What an applied operation tells the app (and the status it gives us).

        ``prior``: the role a departing member had before the operation.
        """
        body = c.body
        room = self.room
        active = self.status == "active"
        if isinstance(body, JoinOp | CreateOp) and c.author != self.me:
            role = self.log.role_of(c.author) or "member"
            step.items.append(MemberJoined(room_id=room, member=c.author, role=role))
            if isinstance(body, JoinOp) and self._should_republish(body.invite_key):
                step.follow(Republish())
            self.names.after_join(step, c.author, active=active)
        elif isinstance(body, AddOp):
            step.items.append(
                MemberJoined(room_id=room, member=body.member, role=body.role, by=c.author)
            )
            self.names.after_join(step, body.member, active=active)
        elif isinstance(body, RemoveOp):
            step.items.append(
                MemberRemoved(room_id=room, member=body.member, by=c.author, role=prior)
            )
            if body.member == self.me:
                self.status = "removed"
        elif isinstance(body, BanOp):
            if body.commit is not None:  # they were a member: the ban removed them
                step.items.append(
                    MemberRemoved(room_id=room, member=body.member, by=c.author, role=prior)
                )
                if body.member == self.me:
                    self.status = "removed"
            reason = self.moderation.reason("ban", body.member, c.author)
            step.items.append(
                MemberModerated(
                    room_id=room, action="ban", member=body.member, by=c.author, reason=reason
                )
            )
        elif isinstance(body, UnbanOp):
            reason = self.moderation.reason("unban", body.member, c.author)
            step.items.append(
                MemberModerated(
                    room_id=room, action="unban", member=body.member, by=c.author, reason=reason
                )
            )
        elif isinstance(body, LeaveOp):
            step.items.append(MemberLeft(room_id=room, member=c.author, role=prior))
            if c.author == self.me:
                self.status = "left"
        elif isinstance(body, RoleOp):
            step.items.append(
                RoleChanged(room_id=room, member=body.member, role=body.role, by=c.author)
            )
        elif isinstance(body, RetentionOp):
            step.items.append(
                RetentionChanged(room_id=room, retention_days=body.retention_days, by=c.author)
            )

    def describe(self, event: MessageDeleted) -> MessageDeleted:
        """A deletion event with its author's label and role (``names.py``)."""
        return self.names.named(event)

    def _should_republish(self, invite_key: bytes) -> bool:
        if self.status != "active":
            return False
        mine = ROLE_RANK[self.log.role_of(self.me) or "member"]
        inviter = self.log.invites[invite_key].created_by
        if inviter == self.me:
            return mine >= _MODERATOR
        # An invite from someone whose profile messages nobody honours: owners step in.
        inviter_rank = ROLE_RANK[self.log.role_of(inviter) or "member"]
        return inviter_rank < _MODERATOR and mine == ROLE_RANK["owner"]

    # -- room events in sequence order ----------------------------------------------

    def receive(
        self, event: RoomEvent, *, log_synced: bool = False, opened: Opened | None = None
    ) -> Step:
        """Take the room's next event (``seq`` order); already-seen events are ignored.

        Args:
            event: What the relay served.
            log_synced: The driver fetched the log after a previous
                :attr:`Step.need_log` for this event; an unknown head now is a fork.
            opened: This event's :func:`open_ahead` result, if the driver has one.
        """
        if event.seq <= self.position or self.frozen:
            return Step()
        if isinstance(event, LogEvent):
            step = self.apply_op(event.op)
            if self.frozen:
                return step  # hold the position: the room goes no further
            index = event.op.content.index
            self.ledger.seq_index = max(self.ledger.seq_index, index)
            self.ledger.note_op_seq(event.seq, index)
            self.programs.member_gone(step, event.op)
        elif isinstance(event, MessageEvent):
            step = self._message(event, log_synced=log_synced, forward=True, opened=opened)
            if step.need_log:
                return step
        elif isinstance(event, TombstoneEvent):
            step = self.admission.tombstone(event, forward=True)
        elif isinstance(event, RemovedEvent):
            # A message deleted before we saw it. The placeholder itself excuses
            # nothing: the event it names must prove the deletion (Counters.backed).
            step = Step()
            self.counters.placeholder(step, event.seq, event.by, event.id, event.sender)
        else:
            step = self.admission.erased(event)
        self.counters.backed(step, event)
        self.position = event.seq
        self.position_ts = event.ts
        step.items = self.names.describe(step.items)
        return step

    def receive_history(self, events: Iterable[RoomEvent], *, more: bool) -> Step:
        """Take a page of events older than :attr:`floor` (lazy backfill), oldest first.

        History is checked like live traffic, against its place: every event must
        lie below the floor, in increasing ``seq``; walking down from our join, each
        log operation must be the one our log holds at the next lower index, and a
        message is checked against the log as it stood at its ``seq`` (the relay's
        admission check, as for live messages) as well as at the head it names; its
        counter must be below every counter its device sent later (a replayed or
        moved message is not). Gaps in the past are not alarms, and the log already
        holds every operation. Moves :attr:`floor` down past the page.
        """
        step = Step()
        page = list(events)
        placed: list[RoomEvent] = []
        top = self.floor
        for event in page:
            if event.seq >= top or (placed and event.seq <= placed[-1].seq):
                self.alarm_book.raise_(
                    step,
                    "bad_message",
                    f"history served seq {event.seq} out of place (below {top}, in order)",
                    "msg.replay",
                )
                continue
            placed.append(event)
        walk = self.counters.walk
        if walk.next is None and self.floor == self.start_seq:
            walk.next = self.ledger.entry_index(self.me)
        # A message's place is fixed by the first operation after it, which may come
        # later in this page: record where the page's genuine operations sit first.
        self.note_history_ops(
            e
            for e in placed
            if isinstance(e, LogEvent)
            and e.op.content.index < len(self.log.ops)
            and self.log.ops[e.op.content.index] == e.op
        )
        parts: list[tuple[int, Step]] = []
        for event in reversed(placed):  # down from the floor: what is above is known
            parts.append((event.seq, self._history_event(event)))
        for _, part in sorted(parts, key=lambda p: p[0]):
            step.extend(part)
        # Only down: a page with nothing in its place ends the walk (a relay that
        # serves events above the floor cannot send us round in circles).
        self.floor = placed[0].seq if placed and more else 1
        return step

    def _history_event(self, event: RoomEvent) -> Step:
        walk = self.counters.walk
        if isinstance(event, LogEvent):
            step = Step()
            index = event.op.content.index
            expected = None if walk.next is None else walk.next - 1
            held = self.log.ops[index] if index < len(self.log.ops) else None
            if held != event.op or (expected is not None and index != expected):
                self.alarm_book.raise_(
                    step,
                    "fork",
                    f"history served log index {index} at seq {event.seq}, out of its place"
                    " or unlike the operation our log holds there",
                    "log.fork",
                )
                walk.next = None  # no longer know where we are: check less, not wrongly
                return step
            walk.next = index
            return step
        if isinstance(event, MessageEvent):
            stored_at = None if walk.next is None else walk.next - 1
            return self._message(event, log_synced=True, forward=False, stored_at=stored_at)
        if isinstance(event, TombstoneEvent):
            return self.admission.tombstone(event, forward=False)
        return Step()

    def note_history_ops(self, events: Iterable[RoomEvent]) -> None:
        """Record where a backfilled page's operations sit, before reading its messages.

        Call it with the whole page first: a message's place is fixed by the first
        operation after it, which may come later in the same page.
        """
        for event in events:
            if isinstance(event, LogEvent):
                self.ledger.note_op_seq(event.seq, event.op.content.index)

    def note_low_water(self, low_water: int) -> None:
        """The relay says it purged events up to ``low_water`` under the room's retention.

        Below our position this changes nothing. Above it, it would excuse the
        messages we never saw; whether it may is judged once the sync is complete
        and the log current (:meth:`check_withheld`, :meth:`Counters.judge_purge`).
        """
        self.low_water = max(self.low_water, low_water)
        if low_water > self.position:
            ts = self.position_ts or self.ledger.entered_at(self.me)
            self.counters.note_purge(self.position, ts, low_water, self.seq_index)

    def check_withheld(self, *, now: int | None = None) -> Step:
        """After a complete sync: raise ``withheld`` for counter gaps nothing explains.

        A gap is excused only by what a signed statement proves or the room's own
        retention allows (protocol.md section 8.6): it lies before the first message
        we read from that device after we joined; a verified deletion names exactly
        that counter; the sender's own later message lists it as refused by the
        relay; the member's signed erasure covers it (one erased placeholder, one
        gap); or a low-water mark the room's retention explains came before it.
        """
        step = Step()
        self.counters.check_withheld(step, SYSTEM_CLOCK.now_ms() if now is None else now)
        return step

    def _message(
        self,
        event: MessageEvent,
        *,
        log_synced: bool,
        forward: bool,
        opened: Opened | None = None,
        stored_at: int | None = None,
    ) -> Step:
        step = Step()
        plaintext = self.admission.open(
            step, event, log_synced=log_synced, forward=forward, opened=opened, stored_at=stored_at
        )
        if plaintext is None:
            return step
        h = event.envelope.header
        if forward and h.epoch == self.log.epoch:
            self.epoch_messages += 1
        if isinstance(plaintext.body, MemberProfileBody):
            if forward:  # backfill reads newest first: an older name must not win
                self.names.fold(step, h.sender, plaintext.body)
        elif isinstance(plaintext.body, SUPPORT_BODIES):
            if forward and self.policy.kind == "program":
                active = self.status == "active"
                self.programs.fold(step, h.sender, plaintext, h.id, event.seq, active=active)
        else:
            place = self.ledger.place(event.seq, h.head_index, forward=forward)
            self._room_body(step, h.sender, plaintext, h.id, place)
        if is_post(plaintext.body) and (h.sender in self.muted or h.sender in self.banned):
            return step  # counted (device, counter) above, never shown
        step.items.append(Accepted(event.seq, event.ts, h, plaintext))
        return step

    def _room_body(
        self,
        step: Step,
        sender: MemberId,
        plaintext: Plaintext,
        message_id: MessageId,
        place: tuple[int, int],
    ) -> None:
        body = plaintext.body
        if isinstance(body, ReportBody):
            read_report(
                step,
                self.alarm_book,
                self.keys,
                self.secrets,
                sender=sender,
                body=body,
                report_id=message_id,
            )
        elif isinstance(body, RISK_BODIES):
            read_risk(
                step,
                self.alarm_book,
                self.keys,
                self.ledger,
                sender=sender,
                body=body,
                message_id=message_id,
                place=place,
            )
        elif isinstance(body, ModerationBody):
            self.moderation.fold(
                step, sender, body, at=plaintext.sent_at, message_id=message_id, place=place
            )
        else:
            self.bodies.fold(step, sender, body, place)

    # -- this member's own messages and operations ----------------------------------

    def note_sent(self, body: Body, *, message_id: MessageId, at: int) -> list[Event]:
        """Apply our own room-level body at once, before the relay echoes it back.

        The echo goes through the same fold again and changes nothing; applying
        it now lets ``accept_rules`` be followed by ``send`` without a round trip.
        Returns the events our own body announces (a mute or warning we gave: the
        echo, already applied, announces nothing), for the driver to emit once the
        message is stored.
        """
        if isinstance(body, ModerationBody):
            here = (self.log.index, self.log.index)
            if self.moderation.apply(self.me, body, at, message_id, here):
                event = MemberModerated(
                    room_id=self.room,
                    action=body.action,
                    member=body.member,
                    by=self.me,
                    reason=body.reason,
                )
                return [self.names.named(event)]
        elif isinstance(body, MemberProfileBody):
            self.names.note_sent(body)
        else:
            self.programs.note_sent(body)
            self.bodies.note_sent(self.me, body, self.log.role_of(self.me))
        return []

    def require_may_post(self, body: Body) -> None:
        """Raise unless ``body`` is not a post, or we are unmuted and accepted the rules.

        Raises:
            PostingMuted: ``room.muted``.
            RulesNotAccepted: ``rules.not_accepted``.
        """
        self.bodies.require_may_post(self.me, body, muted=self.me in self.muted)

    def require_sendable(self) -> None:
        """Raise unless this member may send in the room now."""
        if self.status != "active":
            raise RoomInactive(_INACTIVE[self.status], code=f"room.{self.status}")
        if self.alarm_book.open:
            raise RoomBlocked(
                f"room has {len(self.alarm_book.open)} unacknowledged security alarm(s)",
                code="room.blocked",
            )
        if self.pinned is not None:
            raise RoomBlocked(
                f"the relay serves this room's log only up to index {self.log.index};"
                f" this person had verified it up to index {self.pinned.index}",
                code="room.blocked",
            )

    def seal(
        self,
        plaintext: Plaintext,
        *,
        message_id: MessageId | None = None,
        rng: crypto.Rng = crypto.random_bytes,
    ) -> Envelope:
        """Seal ``plaintext`` under the current epoch and head.

        Raises:
            RoomBlocked: An alarm is open.
            RoomInactive: We left or were removed.
            LogError: ``log.needs_rotation`` if a rotation must be committed first.
        """
        self.require_sendable()
        if self.log.needs_rotation:
            raise LogError("commit a rotation before sending", code="log.needs_rotation")
        return seal_message(
            self.keys,
            plaintext,
            epoch=self.log.epoch,
            epoch_secret=self.secrets[self.log.epoch],
            head_index=self.log.index,
            head=self.log.head,
            message_id=message_id,
            rng=rng,
        )

    def next_counter(self) -> int:
        """Number this device's next message in the room."""
        return self.outgoing.next_counter()

    def note_refused(self, counter: int) -> None:
        """The relay refused our message with this counter for good (``outgoing.py``)."""
        self.outgoing.note_refused(counter)

    def skipped_for(self, counter: int) -> list[int]:
        """What a message of ours with ``counter`` must announce as refused."""
        return self.outgoing.skipped_for(counter)

    def announced(self, counters: Iterable[int]) -> None:
        """A message listing these refused counters was acknowledged: receivers know."""
        self.outgoing.announced(counters)

    # The builders (``builders.py``) check what the log says; the room's own
    # standing (status, alarms, pins) is checked here first, in this order.

    def rotate_op(self, *, now: int, rng: crypto.Rng = crypto.random_bytes) -> SignedOp:
        """A ``room.rotate``: a fresh epoch for the members the log has now."""
        self.require_sendable()
        return self.builder.rotate(now=now, rng=rng)

    def remove_op(
        self, member: MemberId, *, now: int, rng: crypto.Rng = crypto.random_bytes
    ) -> SignedOp:
        """A ``room.remove`` of ``member``, with the epoch the rest move to."""
        self.require_sendable()
        return self.builder.remove(member, now=now, rng=rng)

    def ban_op(
        self, member: MemberId, *, now: int, rng: crypto.Rng = crypto.random_bytes
    ) -> SignedOp:
        """A ``room.ban`` of ``member``; if they are a member, with the epoch the rest move to."""
        self.require_sendable()
        return self.builder.ban(member, now=now, rng=rng)

    def unban_op(self, member: MemberId, *, now: int) -> SignedOp:
        """A ``room.unban`` lifting the ban on ``member``."""
        self.require_sendable()
        return self.builder.unban(member, now=now)

    def leave_op(self, *, now: int) -> SignedOp:
        """A ``room.leave``; the next remaining member to act rotates."""
        if self.status != "active":
            raise RoomInactive(_INACTIVE[self.status], code=f"room.{self.status}")
        return self.builder.leave(now=now)

    def role_op(self, member: MemberId, role: Role, *, now: int) -> SignedOp:
        """A ``room.role`` giving ``member`` the role ``role``."""
        self.require_sendable()
        return self.builder.role(member, role, now=now)

    def retention_op(self, days: int | None, *, now: int) -> SignedOp:
        """A ``room.retention`` setting the policy's ``retention_days`` (owners only).

        Raises:
            LogError: ``log.unauthorized`` unless we own the room, ``log.invalid``
                for a number of days outside 1..36500.
        """
        self.require_sendable()
        return self.builder.retention(days, now=now)

    def require_space(self) -> None:
        """Raise if the policy's member cap is reached (``invite.room_full``)."""
        self.builder.require_space()

    def invite_op(
        self, invite: InviteKey, *, role: Role, max_uses: int, expires_at: int, now: int
    ) -> SignedOp:
        """A ``room.invite.create`` registering the public half of ``invite``."""
        self.require_sendable()
        return self.builder.invite(
            invite, role=role, max_uses=max_uses, expires_at=expires_at, now=now
        )

    def revoke_op(self, invite_key: bytes, *, now: int) -> SignedOp:
        """A ``room.invite.revoke``."""
        self.require_sendable()
        return self.builder.revoke(invite_key, now=now)

    def join_op(
        self, invite: InviteKey, *, now: int, rng: crypto.Rng = crypto.random_bytes
    ) -> SignedOp:
        """A ``room.join`` with ``invite``, committing a new epoch to the log's members and us.

        Raises:
            InviteError: The verified log holds no live invite for this key, or the
                room is full (see :meth:`OpBuilder.join`).
        """
        return self.builder.join(invite, now=now, rng=rng)
