"""A room's persisted form: :class:`RoomSnapshot`, and moving the core into and out of it.

The snapshot holds everything of a room's state that is not its log or epoch
secrets (those are stored apart, and the log is verified again on every restore:
a store somebody edited cannot smuggle an operation past :class:`RoomLog`).
Its msgpack form is what the local store keeps (``_store.py``): fields only ever
get defaults added, never change meaning. ``banned`` is written but never read
back: the verified log says who is banned. The counter tracker is rebuilt
through its public API by replaying the counters.

:func:`dump` and :func:`load` read and write the facade through
:class:`Persisted`, the attributes they need, so this module does not import
the facade (which imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import msgspec

from client_sdk._core.alarms import Alarms
from client_sdk._core.bodies import Bodies
from client_sdk._core.counters import Counters, Walk
from client_sdk._core.ledger import Ledger, Status
from client_sdk._core.moderation import Mod, Moderation
from client_sdk._core.names import Names
from client_sdk._core.outgoing import Outgoing
from client_sdk._core.programs import Programs
from client_sdk._support import SupportBook, SupportSnapshot
from client_sdk.events import SecurityAlarm
from protocol.ids import MemberId, MessageId
from protocol.keys import RoomKeys
from protocol.messages import ProfileBody, RiskPlanBody, RulesBody, ScheduleBody
from protocol.personal import VerifiedHead

__all__ = ["Persisted", "RoomSnapshot", "dump", "load"]


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
    moderation: list[Mod] = []
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
    risk_plan: RiskPlanBody | None = None
    names: dict[str, str] = {}
    """Each member's display name (``member.profile``); absent in stores from before names."""


class Persisted(Protocol):
    """What :func:`dump` and :func:`load` read and write of the room state."""

    keys: RoomKeys
    position: int
    floor: int
    start_seq: int
    low_water: int
    status: Status
    joined_epoch: int
    epoch_messages: int
    position_ts: int
    ledger: Ledger
    counters: Counters
    alarm_book: Alarms
    moderation: Moderation
    bodies: Bodies
    names: Names
    programs: Programs
    outgoing: Outgoing

    @property
    def secrets(self) -> dict[int, bytes]: ...


def load(state: Persisted, secrets: Mapping[int, bytes], snapshot: RoomSnapshot) -> None:
    """Put a snapshot (and the stored secrets) into a state whose log is loaded already."""
    keys = state.keys
    ledger, counters, bodies = state.ledger, state.counters, state.bodies
    state.secrets.update(secrets)
    state.position = snapshot.position
    ledger.seq_index = snapshot.seq_index
    state.floor = snapshot.floor
    state.start_seq = snapshot.start_seq
    state.low_water = snapshot.low_water
    state.status = snapshot.status
    state.joined_epoch = snapshot.joined_epoch
    bodies.profile = snapshot.profile
    bodies.rules = snapshot.rules
    bodies.schedule = snapshot.schedule
    bodies.risk_plan = snapshot.risk_plan
    bodies.accepted = {MemberId(k): v for k, v in snapshot.accepted.items()}
    state.moderation.muted = {MemberId(m) for m in snapshot.muted}
    # ``snapshot.banned`` is not read back: the verified log says who is banned.
    for seq, index in snapshot.op_seqs:
        ledger.note_op_seq(seq, index)
    state.moderation.records = list(snapshot.moderation)
    state.outgoing.send_counter = snapshot.send_counter
    state.outgoing.refused = set(snapshot.refused)
    state.epoch_messages = snapshot.epoch_messages
    tracker = counters.tracker
    for s in snapshot.streams:
        sender, missing = MemberId(s.sender), set(s.missing)
        # Replaying the counters rebuilds the tracker through its public API.
        # Forgiven gaps were stored as seen: they never raise an alarm anyway.
        for counter in range(1, s.highest + 1):
            if counter not in missing:
                tracker.observe(sender, s.device, counter)
        tracker.raise_floor(sender, s.device, s.forgiven)
    counters.allowance = {MemberId(k): v for k, v in snapshot.allowance.items()}
    for m, d, c in snapshot.excused:
        tracker.excuse(MemberId(m), d, c)
    counters.placeholders = {
        seq: (by, MessageId(i), MemberId(m)) for seq, i, m, by in snapshot.placeholders
    }
    state.position_ts = snapshot.position_ts
    counters.purge = snapshot.purge
    counters.purge_highs = {(MemberId(m), d): c for m, d, c in snapshot.purge_highs}
    counters.walk = Walk(
        {(MemberId(m), d): c for m, d, c in snapshot.first},
        {(MemberId(m), d): c for m, d, c in snapshot.back_low},
        snapshot.back_next,
    )
    counters.rebase = {MemberId(m) for m in snapshot.rebase}
    counters.alarmed = {(MemberId(m), d, c) for m, d, c in snapshot.alarmed}
    for a in snapshot.alarms:
        alarm = SecurityAlarm(
            room_id=keys.room,
            kind=a.kind,  # type: ignore[arg-type]  # written from an AlarmKind
            detail=a.detail,
            alarm_id=a.alarm_id,
            code=a.code,
        )
        state.alarm_book.restore(alarm, a.freezes)
    state.alarm_book.next_id = snapshot.next_alarm
    ledger.pinned = snapshot.pinned
    state.names.restore({MemberId(k): v for k, v in snapshot.names.items()})
    if snapshot.support is not None:
        state.programs.book = SupportBook.restore(keys.room, keys.member, snapshot.support)


def dump(state: Persisted) -> RoomSnapshot:
    """The persisted form of everything but the log and the secrets."""
    ledger, counters, bodies = state.ledger, state.counters, state.bodies
    tracker = counters.tracker
    missing = tracker.missing()
    streams = [
        _Stream(
            sender=sender,
            device=device,
            highest=tracker.highest(sender, device),
            missing=[c for c in missing.get((sender, device), []) if c > floor],
            forgiven=floor,
        )
        for sender, device in sorted(tracker.streams())
        for floor in (tracker.floor(sender, device),)
    ]
    walk = counters.walk
    book = state.programs.book
    return RoomSnapshot(
        position=state.position,
        seq_index=ledger.seq_index,
        floor=state.floor,
        start_seq=state.start_seq,
        low_water=state.low_water,
        status=state.status,
        joined_epoch=state.joined_epoch,
        profile=bodies.profile,
        rules=bodies.rules,
        schedule=bodies.schedule,
        risk_plan=bodies.risk_plan,
        accepted={str(k): v for k, v in bodies.accepted.items()},
        muted=sorted(state.moderation.muted),
        banned=sorted(ledger.log.banned),
        moderation=state.moderation.records,
        send_counter=state.outgoing.send_counter,
        refused=sorted(state.outgoing.refused),
        epoch_messages=state.epoch_messages,
        streams=streams,
        allowance={str(k): v for k, v in counters.allowance.items()},
        excused=[(str(m), d, c) for m, d, c in tracker.excused_ahead()],
        placeholders=sorted(
            (seq, str(i), str(m), by) for seq, (by, i, m) in counters.placeholders.items()
        ),
        position_ts=state.position_ts,
        purge=counters.purge,
        purge_highs=sorted((str(m), d, c) for (m, d), c in counters.purge_highs.items()),
        first=sorted((str(m), d, c) for (m, d), c in walk.first.items()),
        back_low=sorted((str(m), d, c) for (m, d), c in walk.low.items()),
        back_next=walk.next,
        rebase=sorted(counters.rebase),
        alarmed=sorted(counters.alarmed),
        alarms=[
            _Alarm(a.alarm_id, a.kind, a.detail, a.code, freezes)
            for a, freezes in state.alarm_book.open.values()
        ],
        next_alarm=state.alarm_book.next_id,
        pinned=ledger.pinned,
        support=None if book.empty else book.snapshot(),
        op_seqs=list(zip(ledger.op_seqs, ledger.op_indexes, strict=True)),
        names={str(k): v for k, v in sorted(state.names.chosen.items())},
    )
