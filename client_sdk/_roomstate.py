"""One room as one client sees it: plain state, no I/O.

:class:`RoomState` folds what the relay serves into what the app may see. It holds
the verified :class:`protocol.RoomLog`, the epoch secrets this member unsealed,
which members and epoch were in force at every log index, a
:class:`protocol.CounterTracker` per room, the unresolved security alarms and the
room's position in the relay's event sequence. Every input goes through it:

- ``receive(event)`` takes the next room event in sequence order (``seq``).
  Operations go through ``RoomLog.append``; messages through the head, epoch,
  membership, signature, decryption and counter checks, in that order. What
  passes comes back in a :class:`Step` for the driver to store and announce.
- ``open_ahead(room, events, secrets)`` verifies and decrypts a page's messages
  before ``receive`` reaches them (the driver runs it in a worker thread while the
  event loop stores the previous page). It is pure and decides nothing: ``receive``
  uses a result only for the very envelope object and epoch secret it was made
  with, at the point where it would have called ``open_message`` itself, so every
  check keeps its order and a refusal is the same refusal.
- ``check_withheld()`` runs after a complete sync: a counter gap still open is a
  message the relay withheld.
- the ``*_op`` builders make this member's own signed operations, sealing every
  commit only to the X25519 keys of the verified log.

Room-level messages (moderation, profile, rules, schedule, deletions) count only if
their sender had the authority at the message's place in room order: the log as it
stood after the operations that precede the message in ``seq`` order
(:meth:`RoomLog.role_at`), never as it stands now. A moderator demoted later keeps
what they decided before; a member promoted later does not gain what they claimed
before; a removed moderator's messages replayed after the removal count for nothing.
Bans are log operations (``room.ban``): the log decides who is banned.

Invariants: nothing reaches :attr:`Step.accepted` or :attr:`Step.events` unless it
verified; a refused log operation freezes the room at its position (later
operations cannot chain onto a log we refused) until the alarm is acknowledged;
while any alarm is open the room refuses to send (:meth:`seal`, the op builders).
The driver (``client.py``) persists a :meth:`snapshot` after each step.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, final

import msgspec

from client_sdk._schedule import valid_schedule
from client_sdk._support import (
    SupportBook,
    SupportSnapshot,
    open_invite,
    open_request,
    open_request_content,
)
from client_sdk.errors import (
    InviteError,
    PostingMuted,
    RoomBlocked,
    RoomInactive,
    RulesNotAccepted,
)
from client_sdk.events import (
    AlarmKind,
    Event,
    MemberJoined,
    MemberLeft,
    MemberModerated,
    MemberRemoved,
    ProfileChanged,
    ReportReceived,
    RetentionChanged,
    RoleChanged,
    RulesAccepted,
    RulesChanged,
    ScheduleChanged,
    SecurityAlarm,
)
from client_sdk.message import ModerationEntry
from protocol import crypto
from protocol.api import (
    ErasedEvent,
    LogEvent,
    MessageEvent,
    RemovedEvent,
    RoomEvent,
    TombstoneEvent,
)
from protocol.counters import CounterTracker
from protocol.directed import open_directed
from protocol.envelope import check_place, open_message, seal_message, verify_signature
from protocol.epochs import make_commit, message_key, open_commit, open_history
from protocol.errors import CryptoError, DecodeError, EnvelopeError, ForkDetected, LogError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.keys import GenesisKey, RoomKeys
from protocol.messages import (
    Body,
    EditBody,
    Envelope,
    EnvelopeHeader,
    ModerationBody,
    Plaintext,
    ProfileBody,
    ReactionBody,
    ReportBody,
    RulesAcceptBody,
    RulesBody,
    ScheduleBody,
    SupportClaimBody,
    SupporterStatusBody,
    SupportInvite,
    SupportRequestBody,
    SupportResealBody,
    SupportWithdrawBody,
    TextBody,
)
from protocol.ops import (
    ROLE_RANK,
    AddOp,
    BanOp,
    Commit,
    CreateOp,
    InviteCreateOp,
    InviteRevokeOp,
    JoinOp,
    LeaveOp,
    OpContent,
    Policy,
    RemoveOp,
    RetentionOp,
    Role,
    RoleOp,
    RotateOp,
    SignedOp,
    UnbanOp,
)
from protocol.personal import VerifiedHead, check_verified_head
from protocol.roomlog import ZERO_HASH, RoomLog
from protocol.signing import InviteKey, sign_op, verify_delete, verify_erase

__all__ = [
    "Accepted",
    "Deletion",
    "Opened",
    "RoomSnapshot",
    "RoomState",
    "Status",
    "Step",
    "create_op",
    "open_ahead",
]

Status = Literal["active", "left", "removed", "unreachable"]

_MODERATOR: Final = ROLE_RANK["moderator"]
_DAY_MS: Final = 24 * 3600 * 1000
MAX_SKIPPED: Final = 64
"""Refused counters one plaintext can announce (``Plaintext.skipped``)."""
PURGE_SKEW_MS: Final = 3600 * 1000
"""How far the relay's clock may run ahead of ours when we judge a retention purge."""
_INACTIVE: Final[dict[Status, str]] = {
    "active": "",
    "left": "you left this room",
    "removed": "you were removed from this room",
    "unreachable": "the relay no longer serves this room to you",
}


@final
@dataclass(frozen=True, slots=True)
class Accepted:
    """A message that passed every check, with the relay's ``seq`` and time."""

    seq: int
    ts: int
    header: EnvelopeHeader
    plaintext: Plaintext


@final
@dataclass(frozen=True, slots=True)
class Deletion:
    """A verified deletion request; ``moderator`` if its author outranks senders."""

    target: MessageId
    by: MemberId
    moderator: bool


@final
@dataclass(frozen=True, slots=True)
class Opened:
    """``open_message`` of one envelope, done ahead (see :func:`open_ahead`)."""

    envelope: Envelope
    secret: bytes
    result: Plaintext | EnvelopeError


def open_ahead(
    room: RoomId, events: Iterable[RoomEvent], secrets: Mapping[int, bytes]
) -> dict[int, Opened]:
    """Verify and decrypt the messages of ``events`` whose epoch secret is known.

    Pure and thread-safe (``secrets`` must not change meanwhile: pass a copy). The
    result, by ``seq``, goes to :meth:`RoomState.receive`, which still makes every
    check of its own and calls ``open_message`` itself for whatever is missing here.
    """
    opened: dict[int, Opened] = {}
    keys: dict[int, bytes] = {}
    for event in events:
        if not isinstance(event, MessageEvent) or event.envelope.header.room != room:
            continue
        epoch = event.envelope.header.epoch
        secret = secrets.get(epoch)
        if secret is None:
            continue
        key = keys.get(epoch)
        if key is None:
            key = keys[epoch] = message_key(secret)
        result: Plaintext | EnvelopeError
        try:
            result = open_message(event.envelope, epoch_secret=secret, key=key)
        except EnvelopeError as exc:
            result = exc
        opened[event.seq] = Opened(event.envelope, secret, result)
    return opened


@dataclass(slots=True)
class Step:
    """What one input did, in order: for the driver to persist, then announce."""

    items: list[Event | Accepted | Deletion] = field(default_factory=list)
    secrets: dict[int, bytes] = field(default_factory=dict)
    ops: list[SignedOp] = field(default_factory=list)
    need_log: bool = False
    """A message names a head beyond our log: fetch the log, then feed it again."""
    republish: bool = False
    """Someone joined with our invite: send them the room's profile and rules again.

    They joined under a new epoch and cannot read the earlier copies (nobody
    added reads what came before), so the inviter re-sends them.
    """
    restatus: bool = False
    """Someone joined a program where we are a supporter: re-send our availability."""
    buddy: list[MessageId] = field(default_factory=list)
    """Our support requests a supporter claimed: join the buddy chat the claim names."""
    reseal: list[tuple[MessageId, str, list[MemberId]]] = field(default_factory=list)
    """Our waiting requests to seal again for supporters who arrived since."""
    abandon: list[MessageId] = field(default_factory=list)
    """Requests another supporter claimed before us: leave the chat we opened."""

    @property
    def events(self) -> list[Event]:
        return [i for i in self.items if not isinstance(i, Accepted | Deletion)]

    @property
    def accepted(self) -> list[Accepted]:
        return [i for i in self.items if isinstance(i, Accepted)]

    @property
    def deletions(self) -> list[Deletion]:
        return [i for i in self.items if isinstance(i, Deletion)]

    def extend(self, other: Step) -> None:
        self.items += other.items
        self.secrets.update(other.secrets)
        self.ops += other.ops
        self.need_log = self.need_log or other.need_log
        self.republish = self.republish or other.republish
        self.restatus = self.restatus or other.restatus
        self.buddy += other.buddy
        self.reseal += other.reseal
        self.abandon += other.abandon


@dataclass(frozen=True, slots=True)
class _At:
    """Room state once the operation at one index applied (a ``protocol.envelope.LogPlace``)."""

    epoch: int
    needs_rotation: bool
    members: frozenset[MemberId]
    supporters: frozenset[MemberId]
    """Members whose role is ``supporter``: who may claim, in room order."""


@dataclass(slots=True)
class _Walk:
    """What backfill checks history against, per (sender, device) stream."""

    first: dict[tuple[MemberId, bytes], int] = field(default_factory=dict)
    """The first counter read forward from each stream (the lowest one)."""
    low: dict[tuple[MemberId, bytes], int] = field(default_factory=dict)
    """The lowest counter the current backfill walk read from each stream."""
    next: int | None = None
    """Log index of the lowest operation the walk has passed (None: unknown)."""


# -- persisted form -------------------------------------------------------------


class _Stream(msgspec.Struct, frozen=True, array_like=True):
    sender: str
    device: bytes
    highest: int
    missing: list[int]
    forgiven: int


class _Alarm(msgspec.Struct, frozen=True, array_like=True):
    alarm_id: int
    kind: str
    detail: str
    code: str | None
    freezes: bool


class _Mod(msgspec.Struct, frozen=True, array_like=True):
    action: str
    member: str | None
    by: str
    at: int
    reason: str
    message_id: str | None


class RoomSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything of a room's state that is not its log or epoch secrets."""

    position: int = 0
    seq_index: int = 0
    floor: int = 1
    start_seq: int = 1
    low_water: int = 0
    status: Status = "active"
    joined_epoch: int = 1
    profile: ProfileBody | None = None
    rules: RulesBody | None = None
    schedule: ScheduleBody | None = None
    accepted: dict[str, int] = {}
    muted: list[str] = []
    banned: list[str] = []
    moderation: list[_Mod] = []
    send_counter: int = 0
    refused: list[int] = []
    epoch_messages: int = 0
    streams: list[_Stream] = []
    allowance: dict[str, int] = {}
    """Erased messages of each member we never read, proven by its signed erasure."""
    excused: list[tuple[str, bytes, int]] = []
    placeholders: list[tuple[int, str, str, int]] = []
    position_ts: int = 0
    purge: tuple[int, int, int, int] | None = None
    purge_highs: list[tuple[str, bytes, int]] = []
    first: list[tuple[str, bytes, int]] = []
    back_low: list[tuple[str, bytes, int]] = []
    back_next: int | None = None
    rebase: list[str] = []
    alarmed: list[tuple[str, bytes, int]] = []
    alarms: list[_Alarm] = []
    next_alarm: int = 1
    support: SupportSnapshot | None = None
    op_seqs: list[tuple[int, int]] = []
    """(seq, log index) of the operations seen in the room's event sequence."""
    pinned: VerifiedHead | None = None


# -- the state ------------------------------------------------------------------


@final
class RoomState:
    """A room's verified state as this member sees it. See the module docstring."""

    def __init__(self, keys: RoomKeys) -> None:
        self.keys = keys
        self.log = RoomLog()
        self.secrets: dict[int, bytes] = {}
        self.tracker = CounterTracker()
        self.position = 0
        self.seq_index = 0
        """The newest log index the event sequence has reached (ops may apply earlier)."""
        self.floor = 1
        """Events below this ``seq`` have not been looked at (lazy backfill goes down)."""
        self.start_seq = 1
        """Where forward processing began (our join); backfill restarts here on new keys."""
        self.low_water = 0
        self.status: Status = "active"
        self.joined_epoch = 1
        self.profile: ProfileBody | None = None
        self.rules: RulesBody | None = None
        self.schedule: ScheduleBody | None = None
        self.accepted: dict[MemberId, int] = {}
        """The newest rules version each member accepted (or published), from signed messages."""
        self.muted: set[MemberId] = set()
        self._moderation: list[_Mod] = []
        """Moderation read from messages (mutes, deletions, the reasons given for bans);
        log operations are added on read."""
        self._op_seqs: list[int] = []
        self._op_indexes: list[int] = []
        """Where log operations sit in the event sequence: (seq, index), sorted by seq."""
        self.send_counter = 0
        self.refused: set[int] = set()
        """Our counters the relay refused for good, not yet announced in a delivered message."""
        self.epoch_messages = 0
        self._at: list[_At] = []
        self._epoch_starts: list[int] = []  # log index where each epoch started
        self._allowance: dict[MemberId, int] = {}
        """Erased messages of each member we never read (each excuses one gap, once)."""
        self._placeholders: dict[int, tuple[int, MessageId, MemberId]] = {}
        """``removed`` events waiting for what removed them: seq -> (by, id, sender)."""
        self.position_ts = 0
        """The relay's ``ts`` on the event at :attr:`position`."""
        self._purge: tuple[int, int, int, int] | None = None
        """A low-water mark above our position, to judge: (position, ts, low_water, index)."""
        self._purge_highs: dict[tuple[MemberId, bytes], int] = {}
        """Each stream's highest counter when that mark arrived."""
        self._walk = _Walk()
        self._rebase: set[MemberId] = set()
        self._alarmed: set[tuple[MemberId, bytes, int]] = set()
        self._alarms: dict[int, tuple[SecurityAlarm, bool]] = {}
        self._next_alarm = 1
        self.pinned: VerifiedHead | None = None
        """A head this person verified on another device (or before a restore) that
        the log does not reach yet: nothing is signed or sealed here until it does."""
        self.support = SupportBook(keys.room, keys.member)
        """A program room's support queue (empty in other rooms)."""

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
            state._append(op)
        state.secrets = dict(secrets)
        state.position = snapshot.position
        state.seq_index = snapshot.seq_index
        state.floor = snapshot.floor
        state.start_seq = snapshot.start_seq
        state.low_water = snapshot.low_water
        state.status = snapshot.status
        state.joined_epoch = snapshot.joined_epoch
        state.profile = snapshot.profile
        state.rules = snapshot.rules
        state.schedule = snapshot.schedule
        state.accepted = {MemberId(k): v for k, v in snapshot.accepted.items()}
        state.muted = {MemberId(m) for m in snapshot.muted}
        # ``snapshot.banned`` is not read back: the verified log says who is banned.
        for seq, index in snapshot.op_seqs:
            state._note_op_seq(seq, index)
        state._moderation = list(snapshot.moderation)
        state.send_counter = snapshot.send_counter
        state.refused = set(snapshot.refused)
        state.epoch_messages = snapshot.epoch_messages
        for s in snapshot.streams:
            sender, missing = MemberId(s.sender), set(s.missing)
            # Replaying the counters rebuilds the tracker through its public API.
            # Forgiven gaps were stored as seen: they never raise an alarm anyway.
            for counter in range(1, s.highest + 1):
                if counter not in missing:
                    state.tracker.observe(sender, s.device, counter)
            state.tracker.raise_floor(sender, s.device, s.forgiven)
        state._allowance = {MemberId(k): v for k, v in snapshot.allowance.items()}
        for m, d, c in snapshot.excused:
            state.tracker.excuse(MemberId(m), d, c)
        state._placeholders = {
            seq: (by, MessageId(i), MemberId(m)) for seq, i, m, by in snapshot.placeholders
        }
        state.position_ts = snapshot.position_ts
        state._purge = snapshot.purge
        state._purge_highs = {(MemberId(m), d): c for m, d, c in snapshot.purge_highs}
        state._walk = _Walk(
            {(MemberId(m), d): c for m, d, c in snapshot.first},
            {(MemberId(m), d): c for m, d, c in snapshot.back_low},
            snapshot.back_next,
        )
        state._rebase = {MemberId(m) for m in snapshot.rebase}
        state._alarmed = {(MemberId(m), d, c) for m, d, c in snapshot.alarmed}
        for a in snapshot.alarms:
            alarm = SecurityAlarm(
                room_id=keys.room,
                kind=a.kind,  # type: ignore[arg-type]  # written from an AlarmKind
                detail=a.detail,
                alarm_id=a.alarm_id,
                code=a.code,
            )
            state._alarms[a.alarm_id] = (alarm, a.freezes)
        state._next_alarm = snapshot.next_alarm
        state.pinned = snapshot.pinned
        if snapshot.support is not None:
            state.support = SupportBook.restore(keys.room, keys.member, snapshot.support)
        return state

    def snapshot(self) -> RoomSnapshot:
        """The persisted form of everything but the log and the secrets."""
        missing = self.tracker.missing()
        streams = [
            _Stream(
                sender=sender,
                device=device,
                highest=self.tracker.highest(sender, device),
                missing=[c for c in missing.get((sender, device), []) if c > floor],
                forgiven=floor,
            )
            for sender, device in sorted(self.tracker.streams())
            for floor in (self.tracker.floor(sender, device),)
        ]
        return RoomSnapshot(
            position=self.position,
            seq_index=self.seq_index,
            floor=self.floor,
            start_seq=self.start_seq,
            low_water=self.low_water,
            status=self.status,
            joined_epoch=self.joined_epoch,
            profile=self.profile,
            rules=self.rules,
            schedule=self.schedule,
            accepted={str(k): v for k, v in self.accepted.items()},
            muted=sorted(self.muted),
            banned=sorted(self.banned),
            moderation=self._moderation,
            send_counter=self.send_counter,
            refused=sorted(self.refused),
            epoch_messages=self.epoch_messages,
            streams=streams,
            allowance={str(k): v for k, v in self._allowance.items()},
            excused=[(str(m), d, c) for m, d, c in self.tracker.excused_ahead()],
            placeholders=sorted(
                (seq, str(i), str(m), by) for seq, (by, i, m) in self._placeholders.items()
            ),
            position_ts=self.position_ts,
            purge=self._purge,
            purge_highs=sorted((str(m), d, c) for (m, d), c in self._purge_highs.items()),
            first=sorted((str(m), d, c) for (m, d), c in self._walk.first.items()),
            back_low=sorted((str(m), d, c) for (m, d), c in self._walk.low.items()),
            back_next=self._walk.next,
            rebase=sorted(self._rebase),
            alarmed=sorted(self._alarmed),
            alarms=[
                _Alarm(a.alarm_id, a.kind, a.detail, a.code, freezes)
                for a, freezes in self._alarms.values()
            ],
            next_alarm=self._next_alarm,
            pinned=self.pinned,
            support=None if self.support.empty else self.support.snapshot(),
            op_seqs=list(zip(self._op_seqs, self._op_indexes, strict=True)),
        )

    # -- read-only views --------------------------------------------------------

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
        return tuple(a for a, _ in self._alarms.values())

    @property
    def blocked(self) -> bool:
        """True while an alarm is open, or the log is behind a head this person
        verified before: the room refuses to send."""
        return bool(self._alarms) or self.pinned is not None

    @property
    def frozen(self) -> bool:
        """True while a refused log operation holds the room at its position."""
        return any(freezes for _, freezes in self._alarms.values())

    def members_at(self, index: int) -> frozenset[MemberId]:
        """Who was a member once the operation at ``index`` applied."""
        return self._at[index].members

    def epoch_started_at(self) -> int:
        """The author's clock (ms) on the operation that started the current epoch."""
        if not self._epoch_starts:
            return 0
        return self.log.ops[self._epoch_starts[-1]].content.at

    def rotation_due(self, *, now: int, max_age_ms: int, max_messages: int) -> bool:
        """True if the next send must first commit a ``room.rotate``.

        After a leave the log requires it (the leaver knows the epoch secret);
        otherwise the schedule does: the epoch is older than ``max_age_ms`` or
        carried ``max_messages`` messages.
        """
        if self.log.needs_rotation:
            return True
        return now - self.epoch_started_at() >= max_age_ms or self.epoch_messages >= max_messages

    # -- alarms -------------------------------------------------------------------

    def _alarm(
        self, step: Step, kind: AlarmKind, detail: str, code: str | None, *, freezes: bool = False
    ) -> None:
        alarm = SecurityAlarm(
            room_id=self.room, kind=kind, detail=detail, alarm_id=self._next_alarm, code=code
        )
        self._alarms[alarm.alarm_id] = (alarm, freezes)
        self._next_alarm += 1
        step.items.append(alarm)

    def acknowledge(self, alarm_ids: Iterable[int] | None = None) -> list[int]:
        """Resolve alarms (all if ``alarm_ids`` is None); return the ids resolved.

        Acknowledging an alarm that froze the room lets the next sync fetch the
        refused events again: if the relay now serves a log that verifies, the
        room goes on; if not, a new alarm is raised.
        """
        wanted = set(self._alarms) if alarm_ids is None else set(alarm_ids) & set(self._alarms)
        for alarm_id in wanted:
            del self._alarms[alarm_id]
        return sorted(wanted)

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
                self._alarm(step, "fork", exc.message, exc.code, freezes=True)
            return step
        behind_already = self.pinned is not None  # one alarm says it
        if self.pinned is None or verified.index >= self.pinned.index:
            self.pinned = verified
        if not behind_already:
            self._check_pin(step, alarm_if_behind=True)
        return step

    def _check_pin(self, step: Step, *, alarm_if_behind: bool = False) -> None:
        pinned = self.pinned
        if pinned is None or (self.log.index < pinned.index and not alarm_if_behind):
            return
        try:
            check_verified_head(self.log, pinned)
        except ForkDetected as exc:
            frozen = exc.code != "log.behind_verified_head"
            self._alarm(step, "fork", exc.message, exc.code, freezes=frozen)
            return
        self.pinned = None

    @property
    def verified_head(self) -> VerifiedHead | None:
        """The head to publish as this person's last verified one (None while unsure)."""
        if self.pinned is not None or self.frozen or self.log.index < 0:
            return None
        return VerifiedHead(index=self.log.index, head=self.log.head)

    # -- the log -----------------------------------------------------------------

    def _append(self, op: SignedOp) -> None:
        before = self.log.epoch
        self.log.append(op)
        members = frozenset(self.log.members)
        supporters = frozenset(m.id for m in self.log.members.values() if m.role == "supporter")
        if self._at and self._at[-1].members == members:
            members = self._at[-1].members  # share the set: most operations keep it
        if self._at and self._at[-1].supporters == supporters:
            supporters = self._at[-1].supporters
        self._at.append(_At(self.log.epoch, self.log.needs_rotation, members, supporters))
        if self.log.epoch != before:
            self._epoch_starts.append(self.log.index)

    def load_log(self, ops: Iterable[SignedOp]) -> None:
        """Verify a log read before joining (no events: it is the room's past).

        Raises:
            LogError, ForkDetected: The relay served a log that does not verify.
        """
        for op in ops:
            self._append(op)

    def apply_op(self, op: SignedOp) -> Step:
        """Verify and apply the next log operation; unseal its commit if it has our share."""
        step = Step()
        if self.frozen:
            return step
        try:
            self._append(op)
        except ForkDetected as exc:
            self._alarm(step, "fork", exc.message, exc.code, freezes=True)
            return step
        except LogError as exc:
            if exc.code != "log.replay":
                self._alarm(step, "log_invalid", exc.message, exc.code, freezes=True)
            return step
        step.ops.append(op)
        if self.pinned is not None:
            self._check_pin(step)
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
                    self._alarm(step, "log_invalid", exc.message, exc.code)
                else:
                    new = {e: s for e, s in history.items() if e not in self.secrets}
                    if new:
                        # Older epochs became readable: look at the past again, with
                        # a fresh walk (it checks each event's place as it goes down).
                        if self.floor < self.start_seq:
                            self._walk = _Walk(first=self._walk.first)
                        self.floor = max(self.floor, self.start_seq)
                    new[commit.epoch] = secret
                    self.secrets.update(new)
                    step.secrets.update(new)
        self._op_events(step, c)
        self._program_followups(step, body)
        return step

    def _op_events(self, step: Step, c: OpContent) -> None:
        """What an applied operation tells the app (and the status it gives us)."""
        body = c.body
        if isinstance(body, JoinOp | CreateOp) and c.author != self.me:
            role = self.log.role_of(c.author) or "member"
            step.items.append(MemberJoined(room_id=self.room, member=c.author, role=role))
            if isinstance(body, JoinOp):
                step.republish = self._should_republish(body.invite_key)
        elif isinstance(body, AddOp):
            step.items.append(
                MemberJoined(room_id=self.room, member=body.member, role=body.role, by=c.author)
            )
        elif isinstance(body, RemoveOp):
            step.items.append(MemberRemoved(room_id=self.room, member=body.member, by=c.author))
            if body.member == self.me:
                self.status = "removed"
        elif isinstance(body, BanOp):
            if body.commit is not None:  # they were a member: the ban removed them
                step.items.append(MemberRemoved(room_id=self.room, member=body.member, by=c.author))
                if body.member == self.me:
                    self.status = "removed"
            reason = self._reason("ban", body.member, c.author)
            step.items.append(
                MemberModerated(
                    room_id=self.room, action="ban", member=body.member, by=c.author, reason=reason
                )
            )
        elif isinstance(body, UnbanOp):
            reason = self._reason("unban", body.member, c.author)
            step.items.append(
                MemberModerated(
                    room_id=self.room,
                    action="unban",
                    member=body.member,
                    by=c.author,
                    reason=reason,
                )
            )
        elif isinstance(body, LeaveOp):
            step.items.append(MemberLeft(room_id=self.room, member=c.author))
            if c.author == self.me:
                self.status = "left"
        elif isinstance(body, RoleOp):
            step.items.append(
                RoleChanged(room_id=self.room, member=body.member, role=body.role, by=c.author)
            )
        elif isinstance(body, RetentionOp):
            step.items.append(
                RetentionChanged(room_id=self.room, retention_days=body.retention_days, by=c.author)
            )

    def _program_followups(self, step: Step, body: object) -> None:
        """What a new member or supporter asks of this member in a program room."""
        step.restatus = isinstance(body, JoinOp | AddOp) and self._should_restatus()
        if isinstance(body, RoleOp) and body.role == "supporter":
            step.reseal += self._reseal_due()

    def _reseal_due(self) -> list[tuple[MessageId, str, list[MemberId]]]:
        if self.status != "active" or self.policy.kind != "program":
            return []
        return self.support.reseal_due(
            m.id for m in self.log.members.values() if m.role == "supporter"
        )

    def _outranks(self, member: MemberId) -> bool:
        mine = ROLE_RANK[self.log.role_of(self.me) or "member"]
        theirs = ROLE_RANK[self.log.role_of(member) or "member"]
        return self.status == "active" and mine >= _MODERATOR and mine > theirs

    def _should_restatus(self) -> bool:
        # Newcomers cannot read earlier statuses and requests (they joined under a
        # new epoch): supporters tell them, with the queue as they see it.
        return (
            self.status == "active"
            and self.policy.kind == "program"
            and self.log.role_of(self.me) == "supporter"
            and (self.support.my_status() is not None or bool(self.support.queue()))
        )

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
            self.seq_index = max(self.seq_index, event.op.content.index)
            self._note_op_seq(event.seq, event.op.content.index)
            self._support_op(step, event.op)
        elif isinstance(event, MessageEvent):
            step = self._message(event, log_synced=log_synced, forward=True, opened=opened)
            if step.need_log:
                return step
        elif isinstance(event, TombstoneEvent):
            step = self._tombstone(event, forward=True)
        elif isinstance(event, RemovedEvent):
            # A message deleted before we saw it. The placeholder itself excuses
            # nothing: the event it names must prove the deletion (_backed).
            step = Step()
            if event.by <= event.seq:
                self._unbacked(step, event.seq, event.sender)
            else:
                self._placeholders[event.seq] = (event.by, event.id, event.sender)
        else:
            step = self._erased(event)
        self._backed(step, event)
        self.position = event.seq
        self.position_ts = event.ts
        return step

    def _unbacked(self, step: Step, seq: int, sender: MemberId) -> None:
        self._alarm(
            step,
            "withheld",
            f"the relay put a deletion placeholder at seq {seq} (a message from {sender})"
            " that no signed deletion or erasure backs",
            "msg.withheld",
        )

    def _backed(self, step: Step, event: RoomEvent) -> None:
        """Judge the placeholders that name this ``seq`` (or an earlier one) as their cause.

        A verified tombstone backs the one placeholder of its target; a verified
        erasure backs each placeholder of its member up to ``through``. Anything
        else (or nothing, at a ``seq`` the relay skipped) backs none.
        """
        due = sorted(seq for seq, (by, _, _) in self._placeholders.items() if by <= event.seq)
        used = False
        verified = not step.events  # the event's own check raised no alarm
        for seq in due:
            by, target, sender = self._placeholders.pop(seq)
            ok = False
            proven = by == event.seq and verified
            if proven and isinstance(event, TombstoneEvent):
                c = event.request.content
                ok = not used and event.target == target and c.sender == sender
                used = used or ok
            elif proven and isinstance(event, ErasedEvent):
                ok = event.request is not None and event.member == sender and seq <= event.through
                if ok:
                    self._allowance[sender] = self._allowance.get(sender, 0) + 1
            if not ok:
                self._unbacked(step, seq, sender)

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
                self._alarm(
                    step,
                    "bad_message",
                    f"history served seq {event.seq} out of place (below {top}, in order)",
                    "msg.replay",
                )
                continue
            placed.append(event)
        if self._walk.next is None and self.floor == self.start_seq:
            self._walk.next = self._entry_index()
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

    def _entry_index(self) -> int | None:
        """The log index of our own latest join: the operation at :attr:`start_seq`."""
        for op in reversed(self.log.ops):
            if isinstance(op.content.body, JoinOp) and op.content.author == self.me:
                return op.content.index
        return None

    def _history_event(self, event: RoomEvent) -> Step:
        if isinstance(event, LogEvent):
            step = Step()
            index = event.op.content.index
            expected = None if self._walk.next is None else self._walk.next - 1
            held = self.log.ops[index] if index < len(self.log.ops) else None
            if held != event.op or (expected is not None and index != expected):
                self._alarm(
                    step,
                    "fork",
                    f"history served log index {index} at seq {event.seq}, out of its place"
                    " or unlike the operation our log holds there",
                    "log.fork",
                )
                self._walk.next = None  # no longer know where we are: check less, not wrongly
                return step
            self._walk.next = index
            return step
        if isinstance(event, MessageEvent):
            stored_at = None if self._walk.next is None else self._walk.next - 1
            return self._message(event, log_synced=True, forward=False, stored_at=stored_at)
        if isinstance(event, TombstoneEvent):
            return self._tombstone(event, forward=False)
        return Step()

    def note_history_ops(self, events: Iterable[RoomEvent]) -> None:
        """Record where a backfilled page's operations sit, before reading its messages.

        Call it with the whole page first: a message's place is fixed by the first
        operation after it, which may come later in the same page.
        """
        for event in events:
            if isinstance(event, LogEvent):
                self._note_op_seq(event.seq, event.op.content.index)

    # -- a message's place in room order ----------------------------------------------

    def _note_op_seq(self, seq: int, index: int) -> None:
        at = bisect_left(self._op_seqs, seq)
        if at < len(self._op_seqs) and self._op_seqs[at] == seq:
            return
        self._op_seqs.insert(at, seq)
        self._op_indexes.insert(at, index)

    def _place(self, seq: int, head_index: int, *, forward: bool) -> tuple[int, int]:
        """The log indexes a room event at ``seq`` may sit after, as (first, last).

        Going forward it is exact: the sequence has reached ``seq_index``. In history
        it is fixed by the first operation recorded after ``seq`` (the log stood just
        before it); without one, the span reaches our current head, and a role is
        then judged by the lowest it held over the span: never more authority than
        the sender had at the message's place.
        """
        if forward:
            return self.seq_index, self.seq_index
        at = bisect_left(self._op_seqs, seq)
        last = self._op_indexes[at] - 1 if at < len(self._op_seqs) else self.log.index
        first = max(head_index, self._op_indexes[at - 1] if at else 0)
        return min(first, last), last

    def _role_at(self, member: MemberId, place: tuple[int, int], *, lowest: bool) -> Role | None:
        """``member``'s role at ``place``: the lowest (or highest) held over its span."""
        roles = self.log.roles_between(member, *place)
        held = [r for r in roles if r is not None]
        if lowest and len(held) != len(roles):
            return None  # not a member somewhere in the span
        if not held:
            return None
        pick = min if lowest else max
        return pick(held, key=ROLE_RANK.__getitem__)

    def note_low_water(self, low_water: int) -> None:
        """The relay says it purged events up to ``low_water`` under the room's retention.

        Below our position this changes nothing. Above it, it would excuse the
        messages we never saw; whether it may is judged once the sync is complete
        and the log current (:meth:`check_withheld`, :meth:`_judge_purge`).
        """
        self.low_water = max(self.low_water, low_water)
        if low_water > self.position:
            if self._purge is None:
                ts = self.position_ts or self._entered_at()
                self._purge = (self.position, ts, low_water, self.seq_index)
                self._purge_highs = {
                    (sender, device): self.tracker.highest(sender, device)
                    for sender, device in self.tracker.streams()
                }
            else:
                p = self._purge
                self._purge = (p[0], p[1], max(p[2], low_water), p[3])

    def _entered_at(self) -> int:
        """Our clock on our latest join or create: at least the relay's time before it."""
        for op in reversed(self.log.ops):
            c = op.content
            if isinstance(c.body, JoinOp | CreateOp) and c.author == self.me:
                return c.at
        return 0

    def _retention_since(self, index: int) -> int | None:
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

    def _judge_purge(self, step: Step, now: int) -> None:
        """Excuse what a low-water mark above our position hid, or raise ``withheld``.

        Only the room's own retention may purge, so the mark excuses gaps only if the
        verified log had a retention in force since our position, and that retention
        could have purged the event right after our position by now: that event is no
        older than the one at our position, whose relay ``ts`` we kept, so that ``ts``
        must be older than the cut-off (give or take :data:`PURGE_SKEW_MS`).
        """
        if self._purge is None:
            return
        position, position_ts, low_water, index = self._purge
        highs, self._purge, self._purge_highs = self._purge_highs, None, {}
        days = self._retention_since(min(index, self.log.index))
        if days is None:
            self._alarm(
                step,
                "withheld",
                f"the relay says it purged events up to seq {low_water}, past our position"
                f" {position}, in a room whose policy keeps everything",
                "msg.withheld",
            )
            return
        cutoff = now - days * _DAY_MS
        if position_ts > cutoff + PURGE_SKEW_MS:
            self._alarm(
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
                self._rebase.add(sender)
            else:
                self.tracker.raise_floor(sender, device, after - 1)

    def _forgive_all(self, member: MemberId | None = None) -> None:
        for sender, device in self.tracker.streams():
            if member is None or sender == member:
                self.tracker.raise_floor(sender, device, self.tracker.highest(sender, device))

    def _erased(self, event: ErasedEvent) -> Step:
        """A member's signed erasure: every message it sent before is gone.

        It excuses the gaps its streams have now (all sent before it left) and, one
        each, the messages whose placeholders name it (:meth:`_backed`). The relay's
        bare statement excuses nothing.
        """
        step = Step()
        request = event.request
        if request is None:
            return step  # nothing proven: placeholders naming it raise ``withheld``
        c = request.content
        try:
            verify_erase(request)
            if c.room != self.room or c.member != event.member:
                raise EnvelopeError("erasure names another room or member", code="msg.bad_room")
            if event.member in self._at[self.seq_index].members:
                raise EnvelopeError(
                    f"erasure of {event.member}, who is a member here", code="msg.not_member"
                )
            if self._departed_at(event.member) > c.index:
                raise EnvelopeError(
                    f"erasure of {event.member} signed before its latest departure",
                    code="msg.replay",
                )
        except EnvelopeError as exc:
            self._alarm(step, "bad_message", exc.message, exc.code)
            return step
        self._forgive_all(event.member)
        return step

    def _departed_at(self, member: MemberId) -> int:
        """The log index of ``member``'s latest leave or removal up to ``seq_index``."""
        for op in reversed(self.log.ops[: self.seq_index + 1]):
            c = op.content
            if (isinstance(c.body, LeaveOp) and c.author == member) or (
                isinstance(c.body, RemoveOp) and c.body.member == member
            ):
                return c.index
        return 0

    def _tombstone(self, event: TombstoneEvent, *, forward: bool) -> Step:
        step = Step()
        request = event.request
        content = request.content
        try:
            verify_delete(request)
            if content.room != self.room or content.target != event.target:
                raise EnvelopeError("deletion names another message", code="msg.bad_room")
            # The author's standing at the deletion's place in room order.
            place = self._place(event.seq, 0, forward=forward)
            role = self._role_at(content.author, place, lowest=True)
            if role is None and self._role_at(content.author, place, lowest=False) is None:
                raise EnvelopeError("deletion by a non-member", code="msg.not_member")
            role = role or "member"
            moderator = ROLE_RANK[role] >= _MODERATOR
            if not moderator and content.author != content.sender:
                raise EnvelopeError(
                    "deletion of another member's message by a non-moderator",
                    code="auth.forbidden",
                )
        except EnvelopeError as exc:
            self._alarm(step, "bad_message", exc.message, exc.code)
            return step
        # The signed request names the one counter it excuses (section 8.6).
        self.tracker.excuse(content.sender, content.device, content.counter)
        if moderator:
            mod = _Mod("delete", None, content.author, content.at, "", event.target)
            self._moderation.append(mod)
        step.items.append(Deletion(event.target, content.author, moderator))
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
        envelope = event.envelope
        h = envelope.header
        try:
            if h.room != self.room:
                raise EnvelopeError("message names another room", code="msg.bad_room")
            try:
                known = self.log.check_head(h.head_index, h.head)
            except ForkDetected as exc:
                self._alarm(
                    step, "fork", f"message {h.id} names a head we hold otherwise", exc.code
                )
                return step
            if not known:
                if not log_synced:
                    step.need_log = True
                    return step
                self._alarm(
                    step,
                    "fork",
                    f"message {h.id} names log index {h.head_index}, beyond the relay's log",
                    "msg.unknown_head",
                )
                return step
            if h.epoch > self.log.epoch:
                self._alarm(
                    step,
                    "unknown_epoch",
                    f"message {h.id} uses epoch {h.epoch}; the log is at {self.log.epoch}",
                    "msg.unknown_epoch",
                )
                return step
            if forward:
                if h.head_index > self.seq_index:
                    self._alarm(
                        step,
                        "fork",
                        f"message {h.id} names log index {h.head_index}, which the relay's"
                        f" sequence had not reached (index {self.seq_index})",
                        "msg.unknown_head",
                    )
                    return step
                # What the relay's own check_envelope saw when it stored the message:
                # in sequence order the log was exactly at ``seq_index``.
                check_place(h, self._at[self.seq_index], "when the relay stored it")
            elif stored_at is not None and 0 <= stored_at < len(self._at):
                self._check_history_place(h, stored_at)
            check_place(h, self._at[h.head_index], "at the head it names")
            secret = self.secrets.get(h.epoch)
            if secret is None:
                # An epoch from before we joined (or while we were out): not ours to
                # read. The sender's counters restart from what we see next.
                if forward:
                    self._rebase.add(h.sender)
                return step
            if opened is None or opened.envelope is not envelope or opened.secret != secret:
                plaintext = open_message(envelope, epoch_secret=secret)
            elif isinstance(opened.result, EnvelopeError):
                raise opened.result
            else:
                plaintext = opened.result
            if forward:
                self._observe(h.sender, plaintext.device, plaintext.counter, plaintext.skipped)
            else:
                self._place_back(h.sender, plaintext.device, plaintext.counter, h.id)
        except EnvelopeError as exc:
            self._alarm(step, "bad_message", exc.message, exc.code)
            return step
        if forward and h.epoch == self.log.epoch:
            self.epoch_messages += 1
        if isinstance(plaintext.body, _SUPPORT_BODIES):
            if forward and self.policy.kind == "program":
                self._support(step, h.sender, plaintext, h.id, event.seq)
        else:
            place = self._place(event.seq, h.head_index, forward=forward)
            self._room_body(step, h.sender, plaintext, h.id, place)
        if _is_post(plaintext.body) and (h.sender in self.muted or h.sender in self.banned):
            return step  # counted (device, counter) above, never shown
        step.items.append(Accepted(event.seq, event.ts, h, plaintext))
        return step

    def _check_history_place(self, h: EnvelopeHeader, stored_at: int) -> None:
        """The relay's admission check for history: the log as it stood at the message's seq."""
        if h.head_index > stored_at:
            raise EnvelopeError(
                f"message {h.id} names log index {h.head_index}, beyond the log"
                f" at its place in history (index {stored_at})",
                code="msg.replay",
            )
        check_place(h, self._at[stored_at], "at its place in history")

    def _place_back(self, sender: MemberId, device: bytes, counter: int, mid: MessageId) -> None:
        """A backfilled message's counter is below all its device sent after it."""
        key = (sender, device)
        low = self._walk.low.get(key, self._walk.first.get(key))
        if low is not None and counter >= low:
            raise EnvelopeError(
                f"message {mid} in history carries counter {counter} of a device whose"
                f" later messages start at {low}: replayed or moved",
                code="msg.replay",
            )
        self._walk.low[key] = counter

    def _observe(
        self, sender: MemberId, device: bytes, counter: int, skipped: Iterable[int] = ()
    ) -> None:
        key = (sender, device)
        self.tracker.observe(sender, device, counter)  # a new stream's floor: counter - 1
        if key not in self._walk.first:
            self._walk.first[key] = counter
        if sender in self._rebase:
            self.tracker.raise_floor(sender, device, counter - 1)
            self._rebase.discard(sender)
        # What the sender itself says the relay refused for good (never stored).
        for c in skipped:
            if c < counter:
                self.tracker.excuse(sender, device, c)

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
            self._report(step, sender, body, message_id)
            return
        if isinstance(body, ModerationBody):
            if self._apply_moderation(sender, body, plaintext.sent_at, message_id, place):
                step.items.append(
                    MemberModerated(
                        room_id=self.room,
                        action=body.action,
                        member=body.member,
                        by=sender,
                        reason=body.reason,
                    )
                )
            return
        if isinstance(body, RulesAcceptBody):
            if self._note_acceptance(sender, body.version):
                step.items.append(
                    RulesAccepted(room_id=self.room, member=sender, version=body.version)
                )
            return
        if not isinstance(body, ProfileBody | RulesBody | ScheduleBody):
            return
        role = self._role_at(sender, place, lowest=True)
        if role is None or ROLE_RANK[role] < _MODERATOR:
            return  # only moderators and owners speak for the room, at the message's place
        if isinstance(body, ScheduleBody):
            if not valid_schedule(body):
                return
            self.schedule = body
            step.items.append(ScheduleChanged(room_id=self.room, schedule=body, by=sender))
            return
        if isinstance(body, ProfileBody):
            self.profile = body
            step.items.append(
                ProfileChanged(
                    room_id=self.room,
                    name=body.name,
                    topic=body.topic,
                    description=body.description,
                    by=sender,
                )
            )
            return
        # Publishing a version of the rules is accepting it.
        self._note_acceptance(sender, body.version)
        if self.rules is None or body.version > self.rules.version:
            self.rules = body
            step.items.append(
                RulesChanged(room_id=self.room, version=body.version, text=body.text, by=sender)
            )

    def _support_op(self, step: Step, op: SignedOp) -> None:
        """A requester who left or was removed no longer waits (in room order)."""
        c = op.content
        gone = (
            c.body.member
            if isinstance(c.body, RemoveOp | BanOp)
            else c.author
            if isinstance(c.body, LeaveOp)
            else None
        )
        if gone is not None and self.policy.kind == "program":
            step.items += self.support.member_gone(gone)

    def _support(
        self, step: Step, sender: MemberId, plaintext: Plaintext, message_id: MessageId, seq: int
    ) -> None:
        """Fold a support message, in room order (see ``_support.py``).

        The sender's role is the one the log had at this point of the event
        sequence (``seq_index``), not our current log, which our own and
        caught-up operations may have moved ahead: every member decides alike.
        """
        body = plaintext.body
        book = self.support
        role: Role | None = "supporter" if sender in self._at[self.seq_index].supporters else None
        event: Event | None = None
        if isinstance(body, SupportRequestBody):
            text: str | None = None
            readers: list[MemberId] | None = None
            try:
                if sender == self.me:
                    content = open_request_content(self.keys, sender, body)
                    if content is not None:
                        text, readers = content.text, list(content.recipients)
                else:
                    text = open_request(self.keys, sender, body)
            except (CryptoError, DecodeError, EnvelopeError) as exc:
                # It still takes its place in the queue: every member counts it.
                self._alarm(
                    step, "bad_message", f"support request {message_id}: {exc.message}", exc.code
                )
            event = book.request(
                message_id=message_id,
                requester=sender,
                seq=seq,
                sent_at=plaintext.sent_at,
                text=text,
                readers=readers,
            )
        elif isinstance(body, SupportResealBody):
            try:
                text = open_request(self.keys, sender, body)
            except (CryptoError, DecodeError, EnvelopeError) as exc:
                detail = f"support reseal {message_id}: {exc.message}"
                self._alarm(step, "bad_message", detail, exc.code)
                text = None
            event = book.resealed(sender=sender, request_id=body.request, text=text)
        elif isinstance(body, SupportClaimBody):
            invite: SupportInvite | None = None
            if book.requester_of(body.request) == self.me and role == "supporter":
                try:
                    invite = open_invite(self.keys, sender, body)
                except (CryptoError, DecodeError, EnvelopeError) as exc:
                    self._alarm(
                        step, "bad_message", f"support claim {message_id}: {exc.message}", exc.code
                    )
            claimed = book.claim(
                supporter=sender, role=role, request_id=body.request, invite=invite
            )
            if sender == self.me and body.request in book.lost:
                step.abandon.append(body.request)
            if claimed is not None and claimed.requester == self.me and invite is not None:
                step.buddy.append(body.request)
            event = claimed
        elif isinstance(body, SupportWithdrawBody):
            event = book.withdraw(sender=sender, request_id=body.request)
        elif isinstance(body, SupporterStatusBody):
            step.items += book.status(member=sender, role=role, body=body)
            if body.queue is not None and role == "supporter":
                step.reseal += self._reseal_due()  # sent for a newcomer: it may be a supporter
        if event is not None:
            step.items.append(event)

    def _report(self, step: Step, sender: MemberId, body: ReportBody, report_id: MessageId) -> None:
        try:
            c = open_directed(self.keys, sender, body)
            if c is None:
                return  # not ours to read
            evidence = c.evidence
            verify_signature(evidence)
            if evidence.header.room != self.room or evidence.header.id != c.target:
                raise EnvelopeError("report evidence is another message", code="msg.bad_room")
            text: str | None = None
            secret = self.secrets.get(evidence.header.epoch)
            if secret is not None:
                reported = open_message(evidence, epoch_secret=secret).body
                if isinstance(reported, TextBody):
                    text = reported.text
        except (CryptoError, DecodeError, EnvelopeError) as exc:
            self._alarm(step, "bad_message", f"report {report_id}: {exc.message}", exc.code)
            return
        step.items.append(
            ReportReceived(
                room_id=self.room,
                report_id=report_id,
                reporter=sender,
                message_id=c.target,
                sender=evidence.header.sender,
                reason=c.reason,
                text=text,
                recipients=tuple(c.recipients),
                evidence=evidence,
            )
        )

    def _apply_moderation(
        self,
        sender: MemberId,
        body: ModerationBody,
        at: int,
        message_id: MessageId,
        place: tuple[int, int],
    ) -> bool:
        """Fold a moderation message judged at ``place``; True if it is announced.

        ``ban`` and ``unban`` messages only give the reason for the ``room.ban`` or
        ``room.unban`` operation of the same author: the log alone says who is banned.
        """
        if any(m.message_id == message_id for m in self._moderation):
            return False  # our own, applied when sent
        role = self._role_at(sender, place, lowest=True)
        if role is None or ROLE_RANK[role] < _MODERATOR:
            return False
        target = self._role_at(body.member, place, lowest=False)
        if target is not None and ROLE_RANK[target] >= ROLE_RANK[role]:
            return False  # nobody mutes or bans their equal or better
        if body.action == "mute":
            self.muted.add(body.member)
        elif body.action == "unmute":
            self.muted.discard(body.member)
        self._moderation.append(_Mod(body.action, body.member, sender, at, body.reason, message_id))
        return body.action not in ("ban", "unban")

    def _reason(self, action: str, member: MemberId, by: MemberId) -> str:
        """The reason ``by`` gave in a ``moderation`` message for a ban or unban of ``member``."""
        for m in reversed(self._moderation):
            if (m.action, m.member, m.by) == (action, member, by):
                return m.reason
        return ""

    def moderation_history(self) -> list[ModerationEntry]:
        """Every moderation step this member can verify, oldest first.

        Removals and role changes come from the signed log (complete, for every
        member); mutes, bans and moderators' deletions from signed messages this
        member could read (from its join on).
        """
        entries = [
            ModerationEntry(
                action=m.action,  # type: ignore[arg-type]  # written from a ModerationKind
                member=MemberId(m.member) if m.member else None,
                by=MemberId(m.by),
                at=m.at,
                reason=m.reason,
                message_id=MessageId(m.message_id) if m.message_id else None,
            )
            for m in self._moderation
            if m.action not in ("ban", "unban")  # reasons: shown with the log operation
        ]
        for op in self.log.ops:
            c = op.content
            if isinstance(c.body, RemoveOp):
                entries.append(
                    ModerationEntry(action="remove", member=c.body.member, by=c.author, at=c.at)
                )
            elif isinstance(c.body, RoleOp):
                entries.append(
                    ModerationEntry(
                        action="role", member=c.body.member, by=c.author, at=c.at, role=c.body.role
                    )
                )
            elif isinstance(c.body, BanOp | UnbanOp):
                action: Literal["ban", "unban"] = "ban" if isinstance(c.body, BanOp) else "unban"
                entries.append(
                    ModerationEntry(
                        action=action,
                        member=c.body.member,
                        by=c.author,
                        at=c.at,
                        reason=self._reason(action, c.body.member, c.author),
                    )
                )
        entries.sort(key=lambda e: e.at)
        return entries

    def _note_acceptance(self, member: MemberId, version: int) -> bool:
        if version <= self.accepted.get(member, 0):
            return False
        self.accepted[member] = version
        return True

    def note_sent(self, body: Body, *, message_id: MessageId, at: int) -> None:
        """Apply our own room-level body at once, before the relay echoes it back.

        The echo goes through :meth:`_room_body` again and changes nothing; applying
        it now lets ``accept_rules`` be followed by ``send`` without a round trip.
        """
        if isinstance(body, RulesAcceptBody):
            self._note_acceptance(self.me, body.version)
        elif isinstance(body, ModerationBody):
            here = (self.log.index, self.log.index)
            self._apply_moderation(self.me, body, at, message_id, here)
        elif isinstance(body, SupporterStatusBody):
            if self.policy.kind == "program" and self.log.role_of(self.me) == "supporter":
                self.support.note_status(body)
        elif isinstance(body, RulesBody | ProfileBody | ScheduleBody):
            role = self.log.role_of(self.me)
            if role is None or ROLE_RANK[role] < _MODERATOR:
                return
            if isinstance(body, ScheduleBody):
                self.schedule = body
                return
            if isinstance(body, ProfileBody):
                self.profile = body
                return
            self._note_acceptance(self.me, body.version)
            if self.rules is None or body.version > self.rules.version:
                self.rules = body

    def require_may_post(self, body: Body) -> None:
        """Raise unless ``body`` is not a post, or we are unmuted and accepted the rules.

        Raises:
            PostingMuted: ``room.muted``.
            RulesNotAccepted: ``rules.not_accepted``.
        """
        if not _is_post(body):
            return
        if self.me in self.muted:
            raise PostingMuted("a moderator muted you in this room", code="room.muted")
        if self.rules is None:
            return
        if self.accepted.get(self.me, 0) < self.rules.version:
            raise RulesNotAccepted(
                f"accept version {self.rules.version} of the ground rules before posting",
                code="rules.not_accepted",
            )

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
        self._judge_purge(step, time.time_ns() // 1_000_000 if now is None else now)
        open_gaps: dict[MemberId, list[tuple[MemberId, bytes, int]]] = {}
        for (sender, device), counters in self.tracker.gaps().items():
            for counter in counters:
                item = (sender, device, counter)
                if item not in self._alarmed:
                    open_gaps.setdefault(sender, []).append(item)
        for sender, gaps in sorted(open_gaps.items()):
            # A signed erasure's placeholders: each excuses one gap, once.
            erased = min(self._allowance.get(sender, 0), len(gaps))
            for s_, d, c in gaps[:erased]:
                self.tracker.excuse(s_, d, c)
            if erased:
                self._allowance[sender] -= erased
            items = gaps[erased:]
            if items:
                self._alarmed.update(items)
                self._alarm(
                    step,
                    "withheld",
                    f"{len(items)} message(s) from {sender} never arrived",
                    "msg.withheld",
                )
        return step

    # -- this member's own messages and operations ----------------------------------

    def require_sendable(self) -> None:
        """Raise unless this member may send in the room now."""
        if self.status != "active":
            raise RoomInactive(_INACTIVE[self.status], code=f"room.{self.status}")
        if self._alarms:
            raise RoomBlocked(
                f"room has {len(self._alarms)} unacknowledged security alarm(s)",
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
        self.send_counter += 1
        return self.send_counter

    def note_refused(self, counter: int) -> None:
        """The relay refused our message with this counter for good: it was never stored.

        The counter stays used (later messages may be sealed already); our next
        delivered messages list it in ``Plaintext.skipped`` so receivers stop
        expecting it (protocol.md section 8.6). Only the newest
        :data:`MAX_SKIPPED` are kept.
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

    def _sign(self, body: object, now: int) -> SignedOp:
        return sign_op(
            self.keys,
            index=self.log.index + 1,
            prev=self.log.head,
            at=now,
            body=body,  # type: ignore[arg-type]  # every caller passes an OpBody
        )

    def _commit(self, recipients: Mapping[MemberId, bytes], rng: crypto.Rng) -> Commit:
        history = dict(self.secrets) if self.policy.share_history else None
        commit, _ = make_commit(
            room=self.room,
            epoch=self.log.epoch + 1,
            prev=self.log.head,
            recipients=recipients,
            history=history,
            rng=rng,
        )
        return commit

    def _recipients(self, without: MemberId | None = None) -> dict[MemberId, bytes]:
        # Only keys from the verified log: never a key the relay named.
        return {m.id: m.box_key for m in self.log.members.values() if m.id != without}

    def rotate_op(self, *, now: int, rng: crypto.Rng = crypto.random_bytes) -> SignedOp:
        """A ``room.rotate``: a fresh epoch for the members the log has now."""
        self.require_sendable()
        return self._sign(RotateOp(commit=self._commit(self._recipients(), rng)), now)

    def remove_op(
        self, member: MemberId, *, now: int, rng: crypto.Rng = crypto.random_bytes
    ) -> SignedOp:
        """A ``room.remove`` of ``member``, with the epoch the rest move to."""
        self.require_sendable()
        if member not in self.log.members:
            raise LogError(f"{member} is not a member", code="log.not_member")
        commit = self._commit(self._recipients(without=member), rng)
        return self._sign(RemoveOp(member=member, commit=commit), now)

    def ban_op(
        self, member: MemberId, *, now: int, rng: crypto.Rng = crypto.random_bytes
    ) -> SignedOp:
        """A ``room.ban`` of ``member``; if they are a member, with the epoch the rest move to."""
        self.require_sendable()
        if member in self.log.banned:
            raise LogError(f"{member} is banned already", code="log.invalid")
        commit = None
        if member in self.log.members:
            commit = self._commit(self._recipients(without=member), rng)
        return self._sign(BanOp(member=member, commit=commit), now)

    def unban_op(self, member: MemberId, *, now: int) -> SignedOp:
        """A ``room.unban`` lifting the ban on ``member``."""
        self.require_sendable()
        if member not in self.log.banned:
            raise LogError(f"{member} is not banned", code="log.invalid")
        return self._sign(UnbanOp(member=member), now)

    def leave_op(self, *, now: int) -> SignedOp:
        """A ``room.leave``; the next remaining member to act rotates."""
        if self.status != "active":
            raise RoomInactive(_INACTIVE[self.status], code=f"room.{self.status}")
        return self._sign(LeaveOp(), now)

    def role_op(self, member: MemberId, role: Role, *, now: int) -> SignedOp:
        """A ``room.role`` giving ``member`` the role ``role``."""
        self.require_sendable()
        return self._sign(RoleOp(member=member, role=role), now)

    def retention_op(self, days: int | None, *, now: int) -> SignedOp:
        """A ``room.retention`` setting the policy's ``retention_days`` (owners only).

        Raises:
            LogError: ``log.unauthorized`` unless we own the room, ``log.invalid``
                for a number of days outside 1..36500.
        """
        self.require_sendable()
        if self.log.role_of(self.me) != "owner":
            raise LogError("only an owner changes the retention", code="log.unauthorized")
        if days is not None and not 1 <= days <= 36_500:
            raise LogError("retention is 1 to 36500 days, or None", code="log.invalid")
        return self._sign(RetentionOp(retention_days=days), now)

    def require_space(self) -> None:
        """Raise if the policy's member cap is reached (a buddy chat holds two).

        The log verifier refuses a join or add beyond the cap anyway (the relay's
        and every member's); refusing here keeps a client from handing out an
        invite nobody could use, or signing a join nobody would accept.

        Raises:
            InviteError: ``invite.room_full``.
        """
        cap = self.policy.max_members
        if cap is not None and len(self.log.members) >= cap:
            what = "a buddy chat" if self.policy.kind == "buddy" else "this room"
            raise InviteError(f"{what} holds at most {cap} members", code="invite.room_full")

    def invite_op(
        self, invite: InviteKey, *, role: Role, max_uses: int, expires_at: int, now: int
    ) -> SignedOp:
        """A ``room.invite.create`` registering the public half of ``invite``."""
        self.require_sendable()
        self.require_space()
        body = InviteCreateOp(
            invite_key=invite.public, role=role, max_uses=max_uses, expires_at=expires_at
        )
        return self._sign(body, now)

    def revoke_op(self, invite_key: bytes, *, now: int) -> SignedOp:
        """A ``room.invite.revoke``."""
        self.require_sendable()
        return self._sign(InviteRevokeOp(invite_key=invite_key), now)

    def join_op(
        self, invite: InviteKey, *, now: int, rng: crypto.Rng = crypto.random_bytes
    ) -> SignedOp:
        """A ``room.join`` with ``invite``, committing a new epoch to the log's members and us.

        Raises:
            InviteError: The verified log holds no live invite for this key
                (``invite.unknown``, ``invite.revoked``, ``invite.used_up``,
                ``invite.expired``).
        """
        registered = self.log.invites.get(invite.public)
        if registered is None:
            raise InviteError("this room has no such invite", code="invite.unknown")
        if self.me in self.log.banned:
            raise InviteError("a moderator banned you from this room", code="invite.banned")
        if registered.revoked or not self.log.may_grant(registered.created_by, registered.role):
            # Revoked, or its creator was removed, banned, demoted or left.
            raise InviteError("this invite was revoked", code="invite.revoked")
        if registered.uses >= registered.max_uses:
            raise InviteError("this invite has been used up", code="invite.used_up")
        if now > registered.expires_at:
            raise InviteError("this invite has expired", code="invite.expired")
        self.require_space()
        index = self.log.index + 1
        recipients = self._recipients()
        recipients[self.me] = self.keys.box_public
        body = JoinOp(
            invite_key=invite.public,
            invite_proof=invite.prove(
                room=self.room, index=index, joiner=self.me, box_key=self.keys.box_public
            ),
            box_key=self.keys.box_public,
            binding=self.keys.binding(),
            commit=self._commit(recipients, rng),
        )
        return self._sign(body, now)


_SUPPORT_BODIES: Final = (
    SupportRequestBody,
    SupportResealBody,
    SupportClaimBody,
    SupportWithdrawBody,
    SupporterStatusBody,
)


def _is_post(body: Body) -> bool:
    return isinstance(body, TextBody | EditBody | ReactionBody)


def create_op(
    genesis: GenesisKey,
    keys: RoomKeys,
    policy: Policy,
    *,
    now: int,
    rng: crypto.Rng = crypto.random_bytes,
) -> SignedOp:
    """The ``room.create`` of a new room: ``keys.member`` is its first owner."""
    if keys.room != genesis.room:
        raise ValueError("the room keys are not for this genesis key's room")
    commit, _ = make_commit(
        room=keys.room, epoch=1, prev=ZERO_HASH, recipients={keys.member: keys.box_public}, rng=rng
    )
    body = CreateOp(
        genesis=genesis.prove(keys.member),
        policy=policy,
        box_key=keys.box_public,
        binding=keys.binding(),
        commit=commit,
    )
    return sign_op(keys, index=0, prev=ZERO_HASH, at=now, body=body)
