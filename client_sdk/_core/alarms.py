"""A room's unresolved security alarms: raised by every check, resolved by the person.

While any alarm is open the room refuses to send; an alarm raised by a refused log
operation also *freezes* the room at its position (later operations cannot chain
onto a log we refused) until it is acknowledged. Alarm ids are numbered per room
and never reused (the next id is persisted with the snapshot).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import final

from client_sdk._core.step import Step
from client_sdk.events import AlarmKind, SecurityAlarm
from protocol.ids import RoomId

__all__ = ["Alarms"]


@final
class Alarms:
    """The open alarms of one room, oldest first."""

    def __init__(self, room: RoomId) -> None:
        self.room = room
        self.open: dict[int, tuple[SecurityAlarm, bool]] = {}
        """Open alarms by id, each with whether it freezes the room."""
        self.next_id = 1

    def raise_(
        self, step: Step, kind: AlarmKind, detail: str, code: str | None, *, freezes: bool = False
    ) -> None:
        """Open a new alarm and announce it in ``step``."""
        alarm = SecurityAlarm(
            room_id=self.room, kind=kind, detail=detail, alarm_id=self.next_id, code=code
        )
        self.open[alarm.alarm_id] = (alarm, freezes)
        self.next_id += 1
        step.items.append(alarm)

    def restore(self, alarm: SecurityAlarm, freezes: bool) -> None:
        """Reopen a persisted alarm as it was."""
        self.open[alarm.alarm_id] = (alarm, freezes)

    @property
    def listed(self) -> tuple[SecurityAlarm, ...]:
        """Unacknowledged alarms, oldest first."""
        return tuple(a for a, _ in self.open.values())

    @property
    def frozen(self) -> bool:
        """True while a refused log operation holds the room at its position."""
        return any(freezes for _, freezes in self.open.values())

    def acknowledge(self, alarm_ids: Iterable[int] | None = None) -> list[int]:
        """Resolve alarms (all if ``alarm_ids`` is None); return the ids resolved."""
        wanted = set(self.open) if alarm_ids is None else set(alarm_ids) & set(self.open)
        for alarm_id in wanted:
            del self.open[alarm_id]
        return sorted(wanted)
