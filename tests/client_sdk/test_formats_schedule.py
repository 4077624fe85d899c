"""Scheduled meetings: occurrences, RFC 5545 export, and the encrypted schedule (issue 7, item 5).

The occurrence and export tests are pure; the last test publishes a schedule
through a real relay and reads it on another member's device.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest

from client_sdk import Identity, ScheduleChanged, ScheduleError
from client_sdk._schedule import export_ical, occurrences
from protocol.encoding import canonical
from protocol.messages import ScheduleBody
from tests.client_sdk.test_client import OpenClient, Watcher, open_client, until

__all__ = ["open_client"]

BERLIN = ZoneInfo("Europe/Berlin")
EARLY = datetime(2000, 1, 1, tzinfo=UTC)


def body(frequency: str, start: str, **extra: object) -> ScheduleBody:
    return msgspec.convert(
        {
            "type": "schedule",
            "title": "Evening circle",
            "frequency": frequency,
            "start": start,
            "timezone": "Europe/Berlin",
            "duration_minutes": 90,
            **extra,
        },
        ScheduleBody,
    )


def test_the_schedule_tag_is_stable() -> None:
    decoded = msgspec.msgpack.decode(canonical(body("weekly", "2026-10-20T19:00")))
    assert next(iter(decoded.items())) == ("type", "schedule")


def test_weekly_meetings_keep_their_wall_clock_time_across_a_dst_change() -> None:
    got = occurrences(body("weekly", "2026-10-20T19:00"), 3, after=EARLY)
    assert [m.start for m in got] == [
        datetime(2026, 10, 20, 19, 0, tzinfo=BERLIN),
        datetime(2026, 10, 27, 19, 0, tzinfo=BERLIN),
        datetime(2026, 11, 3, 19, 0, tzinfo=BERLIN),
    ]
    assert [m.start.utcoffset() for m in got] == [
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    assert all(m.end - m.start == timedelta(minutes=90) for m in got)
    # ``after`` skips meetings already over, keeps one still running.
    running = datetime(2026, 10, 27, 19, 30, tzinfo=BERLIN)
    assert occurrences(body("weekly", "2026-10-20T19:00"), 1, after=running)[0] == got[1]


def test_fortnightly_and_monthly_meetings() -> None:
    fortnightly = occurrences(body("fortnightly", "2026-12-29T18:30"), 3, after=EARLY)
    assert [m.start.date().isoformat() for m in fortnightly] == [
        "2026-12-29",
        "2027-01-12",
        "2027-01-26",
    ]
    monthly = occurrences(body("monthly", "2027-01-31T10:00"), 4, after=EARLY)
    # Months without a 31st are skipped, as an RFC 5545 RRULE:FREQ=MONTHLY does.
    assert [m.start.date().isoformat() for m in monthly] == [
        "2027-01-31",
        "2027-03-31",
        "2027-05-31",
        "2027-07-31",
    ]
    assert occurrences(body("weekly", "2026-10-20T19:00", active=False), 3, after=EARLY) == []


def parse_ical(text: str) -> list[tuple[str, dict[str, str], str]]:
    """A strict reader of what RFC 5545 requires of our output."""
    assert text.endswith("\r\n")
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, line
        assert "\n" not in line
        assert "\r" not in line
    logical: list[str] = []
    for line in physical:
        if line.startswith(" "):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    parsed = []
    stack: list[str] = []
    for line in logical:
        match = re.fullmatch(r"([A-Z-]+)((?:;[A-Z-]+=[^;:]+)*):(.*)", line)
        assert match, line
        name, params, value = match.groups()
        param_map = dict(p.split("=", 1) for p in params.split(";")[1:])
        if name == "BEGIN":
            stack.append(value)
        elif name == "END":
            assert stack.pop() == value
        parsed.append((name, param_map, value))
    assert stack == []
    return parsed


def test_the_ical_export_is_strict_rfc_5545() -> None:
    title = "Abendkreis für Angehörige; Trauer, Verlust und Hoffnung — " * 3
    schedule = body("fortnightly", "2026-10-20T19:00", title=title.strip())
    text = export_ical(schedule, uid="room@hearth", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    lines = parse_ical(text)
    props = {name: (params, value) for name, params, value in lines}
    assert lines[0] == ("BEGIN", {}, "VCALENDAR")
    assert props["VERSION"][1] == "2.0"
    assert props["PRODID"][1]
    assert props["UID"][1] == "room@hearth"
    assert props["DTSTAMP"][1] == "20260102T030405Z"
    assert props["DTSTART"] == ({"TZID": "Europe/Berlin"}, "20261020T190000")
    assert props["RRULE"][1] == "FREQ=WEEKLY;INTERVAL=2"
    assert props["DURATION"][1] == "PT90M"
    unescaped = props["SUMMARY"][1].replace("\\;", ";").replace("\\,", ",")
    assert unescaped == title.strip()
    assert ("TZID", {}, "Europe/Berlin") in lines
    offsets = [v for n, _, v in lines if n in {"TZOFFSETFROM", "TZOFFSETTO"}]
    assert set(offsets) == {"+0100", "+0200"}
    assert any(len(line.encode()) == 75 for line in text.split("\r\n"))  # folding happened
    for frequency, rule in (("weekly", "FREQ=WEEKLY"), ("monthly", "FREQ=MONTHLY")):
        other = parse_ical(export_ical(body(frequency, "2026-10-20T19:00"), uid="u", now=EARLY))
        assert ("RRULE", {}, rule) in other


async def test_a_schedule_travels_encrypted_and_every_member_lists_the_same_meetings(
    open_client: OpenClient,
) -> None:
    a = await open_client(Identity.generate(), "a")
    b = await open_client(Identity.generate(), "b")
    wb = Watcher(b)
    ra = await a.create_group("Evening circle")
    with pytest.raises(ScheduleError) as none:
        ra.export_ical()
    assert none.value.code == "schedule.none"
    with pytest.raises(ScheduleError):
        await ra.set_schedule(
            "x",
            frequency="weekly",
            start=datetime(2026, 10, 20, 19),
            timezone="Mars/Olympus",
            duration=timedelta(hours=1),
        )
    await ra.set_schedule(
        "Evening circle",
        frequency="weekly",
        start=datetime(2026, 10, 20, 19, 0),
        timezone="Europe/Berlin",
        duration=timedelta(minutes=90),
    )
    assert ra.schedule is not None
    # A newcomer gets the schedule re-sent, like the profile and the rules.
    rb = await b.join(await ra.create_invite())
    changed = await wb.wait(ScheduleChanged)
    assert changed.by == ra.me
    assert rb.schedule == ra.schedule
    after = datetime(2026, 10, 1, tzinfo=UTC)
    assert rb.next_meetings(3, after=after) == ra.next_meetings(3, after=after)
    assert rb.next_meetings(1, after=after)[0].start == datetime(2026, 10, 20, 19, tzinfo=BERLIN)
    assert "RRULE:FREQ=WEEKLY\r\n" in rb.export_ical()

    # A plain member's schedule is ignored by everyone.
    await rb.send("hi")
    await b._driver(rb.id).send(body("monthly", "2030-01-01T00:00"))
    await ra.cancel_schedule()
    await until(lambda: _is(rb.schedule is not None and not rb.schedule.active))
    assert rb.next_meetings(3) == []
    assert ra.schedule == rb.schedule


async def _is(value: bool) -> bool:
    return value
