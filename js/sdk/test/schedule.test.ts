/**
 * Schedules: the next meetings and the iCalendar export, held to what
 * `client_sdk/_schedule.py` answers for the same schedules (byte for byte for the
 * export), across daylight-saving changes, odd offsets, abolished DST and the month
 * ends RFC 5545 skips; and the start and zone checks receivers apply.
 */

import { describe, expect, test } from "vitest";

import { exportIcal, knownZone, occurrences, parseStart, requireZone, validSchedule, wallClock } from "../src/schedule.js";
import { ScheduleError } from "../src/sdkErrors.js";
import type { ScheduleBody } from "../src/wire/schema.gen.js";
import { python } from "./python.js";

function schedule(fields: Partial<ScheduleBody>): ScheduleBody {
  return {
    type: "schedule",
    title: "Evening circle",
    frequency: "weekly",
    start: "2026-10-20T19:00",
    timezone: "Europe/Berlin",
    duration_minutes: 90,
    description: "",
    active: true,
    ...fields,
  };
}

const SCHEDULES: ScheduleBody[] = [
  schedule({}),
  schedule({ frequency: "fortnightly", start: "2026-03-29T02:30", duration_minutes: 60 }), // in the spring gap
  schedule({ frequency: "weekly", start: "2026-10-25T02:30", duration_minutes: 45 }), // repeated in the autumn
  schedule({ timezone: "America/New_York", start: "2026-03-08T02:30", frequency: "weekly" }),
  schedule({ timezone: "America/New_York", start: "2026-11-01T01:30", frequency: "weekly", duration_minutes: 120 }),
  schedule({ timezone: "Australia/Sydney", start: "2027-01-31T18:00", frequency: "monthly" }), // skips short months
  schedule({ timezone: "Australia/Lord_Howe", start: "2026-04-05T01:45", frequency: "weekly" }), // 30-minute DST
  schedule({ timezone: "Asia/Kolkata", start: "2026-02-28T20:00", frequency: "monthly", duration_minutes: 1440 }),
  schedule({ timezone: "UTC", start: "2028-02-29T12:00", frequency: "monthly", active: false }),
  schedule({ timezone: "Europe/Dublin", start: "2026-01-15T18:30" }), // negative DST in the database
  schedule({ timezone: "Europe/Moscow", start: "2010-06-01T10:00", frequency: "monthly" }), // 2011 and 2014 changes
  schedule({ timezone: "America/Sao_Paulo", start: "2018-10-01T19:00", frequency: "fortnightly" }), // DST abolished 2019
  schedule({ timezone: "Africa/Casablanca", start: "2026-02-01T21:00" }), // Ramadan changes
  schedule({ timezone: "Pacific/Chatham", start: "2026-09-27T03:45" }),
  schedule({ timezone: "America/St_Johns", start: "2026-03-08T02:00" }),
  schedule({ timezone: "Asia/Tehran", start: "2021-03-01T19:00" }),
  schedule({ timezone: "Etc/GMT+5", start: "2026-05-05T05:05" }),
  schedule({ timezone: "Pacific/Apia", start: "2011-12-29T10:00" }), // the day Samoa skipped
  schedule({
    timezone: "Europe/London",
    title: "Circle; with, commas\\backslashes\nand a new line, and a title long enough to fold: \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9 \ud83c\udf3f\ud83c\udf3f\ud83c\udf3f",
    description: "Line one\r\nLine two; bring tea, biscuits\u2026 \u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587",
    start: "2026-12-31T23:59",
    frequency: "monthly",
  }),
];

const PY_HEADER =
  "import msgspec\nfrom datetime import datetime, UTC\nfrom client_sdk._schedule import export_ical, occurrences\nfrom protocol.messages import ScheduleBody\n";

describe("exportIcal", () => {
  test("writes Python's bytes for every schedule", () => {
    const now = new Date(Date.UTC(2026, 9, 1, 8, 30, 15, 999));
    const theirs = python<string[]>(
      PY_HEADER +
        "now = datetime.fromtimestamp(data['now'] / 1000, tz=UTC)\n" +
        "print(json.dumps([export_ical(msgspec.convert(s, ScheduleBody), uid='room@hearth', now=now) for s in data['schedules']]))",
      { now: now.getTime(), schedules: SCHEDULES },
    );
    const ours = SCHEDULES.map((s) => exportIcal(s, { uid: "room@hearth", now }));
    for (let i = 0; i < SCHEDULES.length; i++) expect([SCHEDULES[i]!.timezone, ours[i]]).toEqual([SCHEDULES[i]!.timezone, theirs[i]]);
  });

  test("the export's structure: CRLF, folded at 75 octets, the zone's observances", () => {
    const ics = exportIcal(schedule({}), { uid: "r@hearth", now: new Date(Date.UTC(2026, 0, 1)) });
    expect(ics.endsWith("END:VCALENDAR\r\n")).toBe(true);
    expect(ics.split("\r\n").every((l) => new TextEncoder().encode(l).length <= 75)).toBe(true);
    expect(ics).toContain("BEGIN:DAYLIGHT\r\nDTSTART:20260329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT");
    expect(ics).toContain("DTSTART;TZID=Europe/Berlin:20261020T190000\r\nDURATION:PT90M\r\nRRULE:FREQ=WEEKLY\r\n");
  });
});

describe("occurrences", () => {
  test("the next meetings are Python's, start and end, wall clock and offset", () => {
    const afters = [Date.UTC(2026, 0, 1), Date.UTC(2026, 9, 24, 23, 0), Date.UTC(2027, 2, 1), Date.UTC(2040, 5, 1)];
    const theirs = python<string[][][][]>(
      PY_HEADER +
        "out = []\nfor s in data['schedules']:\n  body = msgspec.convert(s, ScheduleBody)\n" +
        "  out.append([[[m.title, m.start.isoformat(), m.end.isoformat()] for m in occurrences(body, 6, after=datetime.fromtimestamp(a / 1000, tz=UTC))] for a in data['afters']])\n" +
        "print(json.dumps(out))",
      { schedules: SCHEDULES, afters },
    );
    const ours = SCHEDULES.map((s) => afters.map((a) => occurrences(s, 6, new Date(a)).map((m) => [m.title, m.startLocal, m.endLocal])));
    for (let i = 0; i < SCHEDULES.length; i++) expect([SCHEDULES[i]!.timezone, ours[i]]).toEqual([SCHEDULES[i]!.timezone, theirs[i]]);
  });

  test("meetings keep their wall-clock time across a change, and the instants are right", () => {
    const meetings = occurrences(schedule({}), 3, new Date(Date.UTC(2026, 9, 20)));
    expect(meetings.map((m) => m.startLocal)).toEqual(["2026-10-20T19:00:00+02:00", "2026-10-27T19:00:00+01:00", "2026-11-03T19:00:00+01:00"]);
    expect(meetings[0]!.start.toISOString()).toBe("2026-10-20T17:00:00.000Z");
    expect(meetings[1]!.end.getTime() - meetings[1]!.start.getTime()).toBe(90 * 60_000);
    expect(meetings[0]!.timezone).toBe("Europe/Berlin");
    const monthly = occurrences(schedule({ frequency: "monthly", start: "2026-01-31T10:00" }), 4, new Date(Date.UTC(2026, 0, 1)));
    expect(monthly.map((m) => m.startLocal.slice(0, 10))).toEqual(["2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31"]);
    expect(occurrences(schedule({ active: false }), 3, new Date(0))).toEqual([]);
    expect(occurrences(schedule({}), 0, new Date(0))).toEqual([]);
  });

  test("an aware start becomes the zone's wall clock, as Python's set_schedule converts it", () => {
    expect(wallClock(new Date(Date.UTC(2026, 9, 20, 17, 0, 59)), "Europe/Berlin")).toBe("2026-10-20T19:00");
    expect(wallClock(new Date(Date.UTC(2026, 0, 1, 0, 0)), "America/St_Johns")).toBe("2025-12-31T20:30");
    expect(() => wallClock(new Date(), "Mars/Olympus")).toThrow(ScheduleError);
  });
});

describe("what receivers accept", () => {
  const starts = [
    "2026-10-20T19:00",
    "2026-10-20t19:00",
    "2026-10- 5T19:00",
    "2026-02-29T19:00",
    "2028-02-29T19:00",
    "2026-04-31T10:00",
    "2026-13-01T10:00",
    "2026-10-20T24:00",
    "2026-10-20T19:60",
    "0000-01-01T00:00",
    "0001-01-01T00:00",
    "2026-10-20 19:00",
    "2026-10-20T19:00Z",
    "20261020T1900",
    "\u0662\u0660\u0662\u0666-\u0661\u0660-\u0662\u0660T\u0661\u0669:\u0660\u0660",
    "\uff12\uff10\uff12\uff16-10-20T19:00",
    "2026-1-5T9:5",
    "",
  ];

  test("a start parses exactly when Python's strptime parses it, to the same time", () => {
    const theirs = python<(number[] | null)[]>(
      "from client_sdk._schedule import parse_start\nfrom client_sdk.errors import ScheduleError\nout = []\n" +
        "for s in data:\n  try:\n    d = parse_start(s)\n    out.append([d.year, d.month, d.day, d.hour, d.minute])\n  except ScheduleError:\n    out.append(None)\n" +
        "print(json.dumps(out))",
      starts,
    );
    const ours = starts.map((s) => {
      const p = parseStart(s);
      return p === null ? null : [p.year, p.month, p.day, p.hour, p.minute];
    });
    expect(ours).toEqual(theirs);
  });

  test("a zone is known exactly when Python's zoneinfo knows it", () => {
    const zones = ["Europe/Berlin", "europe/berlin", "UTC", "Etc/UTC", "US/Eastern", "Mars/Olympus", "", " Europe/Berlin", "EST5EDT", "Asia/Calcutta", "../etc/passwd"];
    const theirs = python<boolean[]>(
      "from client_sdk._schedule import zone\nfrom client_sdk.errors import ScheduleError\nout = []\n" +
        "for z in data:\n  try:\n    zone(z)\n    out.append(True)\n  except ScheduleError:\n    out.append(False)\nprint(json.dumps(out))",
      zones,
    );
    expect(zones.map(knownZone)).toEqual(theirs);
    expect(() => requireZone("Mars/Olympus")).toThrow(expect.objectContaining({ code: "schedule.bad_zone" }));
    expect(validSchedule(schedule({ timezone: "europe/berlin" }))).toBe(false);
    expect(validSchedule(schedule({ start: "2026-02-30T10:00" }))).toBe(false);
    expect(validSchedule(schedule({}))).toBe(true);
    expect(() => exportIcal(schedule({ start: "nope" }), { uid: "x", now: new Date() })).toThrow(expect.objectContaining({ code: "schedule.bad_start" }));
  });
});
