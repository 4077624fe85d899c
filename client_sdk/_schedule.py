"""Recurring meetings: occurrences and RFC 5545 export, pure functions, no I/O.

A :class:`protocol.messages.ScheduleBody` fixes the first meeting's wall-clock
time in an IANA time zone. Occurrences keep that wall-clock time (a 19:00
meeting stays at 19:00 across a daylight-saving change), which is also what an
iCalendar ``RRULE`` with ``DTSTART;TZID=...`` means, so the SDK's list and any
calendar that imports the export agree. Monthly meetings on a day a month lacks
are skipped, as RFC 5545 skips invalid dates.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from client_sdk.errors import ScheduleError
from protocol.messages import ScheduleBody

__all__ = ["Meeting", "export_ical", "occurrences", "parse_start", "valid_schedule", "zone"]

_RRULE: Final = {
    "weekly": "FREQ=WEEKLY",
    "fortnightly": "FREQ=WEEKLY;INTERVAL=2",
    "monthly": "FREQ=MONTHLY",
}


@final
@dataclass(frozen=True, slots=True)
class Meeting:
    """One occurrence: aware start and end in the schedule's time zone."""

    title: str
    start: datetime
    end: datetime


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or :class:`ScheduleError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}", code="schedule.bad_zone") from exc


def parse_start(value: str) -> datetime:
    """``YYYY-MM-DDTHH:MM`` as a naive wall-clock datetime."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M")  # wall clock, zoned later
    except ValueError as exc:
        raise ScheduleError(f"malformed start {value!r}", code="schedule.bad_start") from exc


def valid_schedule(schedule: ScheduleBody) -> bool:
    """True if the start parses and the zone is known here (else receivers ignore it)."""
    try:
        parse_start(schedule.start)
        zone(schedule.timezone)
    except ScheduleError:
        return False
    return True


def _local_starts(schedule: ScheduleBody) -> Iterator[datetime]:
    first = parse_start(schedule.start)
    if schedule.frequency in {"weekly", "fortnightly"}:
        step = timedelta(weeks=1 if schedule.frequency == "weekly" else 2)
        current = first
        while True:
            yield current
            current += step
    year, month = first.year, first.month
    while year <= 9999:
        if first.day <= calendar.monthrange(year, month)[1]:
            yield first.replace(year=year, month=month)
        # else: no such day this month; skipped, as RFC 5545 does
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def occurrences(schedule: ScheduleBody, n: int, *, after: datetime) -> list[Meeting]:
    """The next ``n`` meetings that end after ``after`` (an aware datetime)."""
    if not schedule.active or n <= 0:
        return []
    tz = zone(schedule.timezone)
    length = timedelta(minutes=schedule.duration_minutes)
    found: list[Meeting] = []
    for local in _local_starts(schedule):
        start = local.replace(tzinfo=tz)
        # Arithmetic on aware datetimes in one zone is wall-clock; go via UTC for the end.
        end = (start.astimezone(UTC) + length).astimezone(tz)
        if end > after:
            found.append(Meeting(schedule.title, start, end))
            if len(found) == n:
                break
    return found


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def _offset(delta: timedelta | None) -> str:
    seconds = int((delta or timedelta()).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}{seconds % 3600 // 60:02d}"


def _vtimezone(name: str, first: date, years: int = 3) -> list[str]:
    """A VTIMEZONE with one observance per offset change in ``years`` years from ``first``."""
    tz = zone(name)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{name}"]
    moment = datetime(first.year, 1, 1, tzinfo=UTC)
    end = datetime(first.year + years, 1, 1, tzinfo=UTC)
    before = moment.astimezone(tz)
    observances = 0
    while moment < end:
        later = moment + timedelta(hours=1)
        after = later.astimezone(tz)
        if after.utcoffset() != before.utcoffset():
            kind = "DAYLIGHT" if after.dst() else "STANDARD"
            wall = (later.replace(tzinfo=None) + (before.utcoffset() or timedelta())).strftime(
                "%Y%m%dT%H%M%S"
            )
            lines += [
                f"BEGIN:{kind}",
                f"DTSTART:{wall}",
                f"TZOFFSETFROM:{_offset(before.utcoffset())}",
                f"TZOFFSETTO:{_offset(after.utcoffset())}",
                f"TZNAME:{after.tzname() or name}",
                f"END:{kind}",
            ]
            observances += 1
        moment, before = later, after
    if not observances:
        offset = _offset(before.utcoffset())
        lines += [
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}",
            f"TZNAME:{before.tzname() or name}",
            "END:STANDARD",
        ]
    lines.append("END:VTIMEZONE")
    return lines


def export_ical(schedule: ScheduleBody, *, uid: str, now: datetime) -> str:
    """The schedule as an RFC 5545 VCALENDAR (CRLF line ends, folded at 75 octets)."""
    first = parse_start(schedule.start)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Hearth//client_sdk//EN",
        "CALSCALE:GREGORIAN",
        *_vtimezone(schedule.timezone, first.date()),
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}",
        f"DTSTART;TZID={schedule.timezone}:{first.strftime('%Y%m%dT%H%M%S')}",
        f"DURATION:PT{schedule.duration_minutes}M",
        f"RRULE:{_RRULE[schedule.frequency]}",
        f"SUMMARY:{_escape(schedule.title)}",
    ]
    if schedule.description:
        lines.append(f"DESCRIPTION:{_escape(schedule.description)}")
    if not schedule.active:
        lines.append("STATUS:CANCELLED")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(_fold(line) + "\r\n" for line in lines)
