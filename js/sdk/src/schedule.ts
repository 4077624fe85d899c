/**
 * Recurring meetings: occurrences and RFC 5545 export, pure functions, no I/O
 * (mirrors `client_sdk/_schedule.py`).
 *
 * A `ScheduleBody` fixes the first meeting's wall-clock time (`YYYY-MM-DDTHH:MM`) in
 * an IANA time zone. Occurrences keep that wall-clock time (a 19:00 meeting stays at
 * 19:00 across a daylight-saving change), which is also what an iCalendar `RRULE`
 * with `DTSTART;TZID=...` means, so the SDK's list and any calendar that imports the
 * export agree. Monthly meetings on a day a month lacks are skipped, as RFC 5545
 * skips invalid dates.
 *
 * Python reads zones with `zoneinfo`; here the offsets come from the platform's
 * `Intl` (ICU's copy of the same IANA database) and the abbreviations and DST flags
 * that `Intl` does not expose from `zones.gen.ts`, a table read from `zoneinfo` by
 * `scripts/gen_ts_zones.py`. So `exportIcal` writes Python's bytes for the same
 * schedule, and a zone is known here exactly when Python's `zoneinfo` knew it when
 * the table was made (and `Intl` knows it too). A wall-clock time a daylight-saving
 * change skips or repeats resolves as Python's `fold=0` does: with the offset in
 * force before the change.
 */

import { ScheduleError } from "./sdkErrors.js";
import type { ScheduleBody } from "./wire/schema.gen.js";
import { ZONES } from "./zones.gen.js";

export type { ScheduleBody } from "./wire/schema.gen.js";

/** How often a meeting recurs. */
export type Frequency = ScheduleBody["frequency"];

const RRULE: Readonly<Record<Frequency, string>> = {
  weekly: "FREQ=WEEKLY",
  fortnightly: "FREQ=WEEKLY;INTERVAL=2",
  monthly: "FREQ=MONTHLY",
};

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** One occurrence (Python's `Meeting`, whose times are aware datetimes in the zone). */
export interface Meeting {
  readonly title: string;
  /** The instant it starts. */
  readonly start: Date;
  /** The instant it ends. */
  readonly end: Date;
  /** The schedule's IANA zone, to show the times in. */
  readonly timezone: string;
  /** The start as Python's `start.isoformat()` writes it: wall clock and offset. */
  readonly startLocal: string;
  /** The end as Python's `end.isoformat()` writes it. */
  readonly endLocal: string;
}

/** Wall-clock date and time parts. */
export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

// -- parsing the start, as Python's strptime("%Y-%m-%dT%H:%M") does ---------------------

// CPython's _strptime patterns for %Y, %m, %d, %H and %M, case-insensitive. \d there is
// any Unicode decimal digit, which int() reads; so it is here (\p{Nd}).
const D = "\\p{Nd}";
const START = new RegExp(
  `^(${D}${D}${D}${D})-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]${D}|0[1-9]|[1-9]| [1-9])[Tt](2[0-3]|[0-1]${D}|${D}):([0-5]${D}|${D})$`,
  "u",
);
const DECIMAL = /^\p{Nd}$/u;

/** The value of one decimal digit of any script: Unicode keeps each 0-9 run contiguous. */
function digitValue(char: string): number {
  let cp = char.codePointAt(0)!;
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  let run = 0;
  while (DECIMAL.test(String.fromCodePoint(cp - 1))) {
    cp -= 1;
    run += 1;
  }
  return run % 10;
}

function number(text: string): number {
  let value = 0;
  for (const char of text) if (char !== " ") value = value * 10 + digitValue(char);
  return value;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** The wall-clock parts of `YYYY-MM-DDTHH:MM`, or null if it is not a real date and time. */
export function parseStart(value: string): WallTime | null {
  const m = START.exec(value);
  if (m === null) return null;
  const [year, month, day, hour, minute] = m.slice(1).map(number) as [number, number, number, number, number];
  if (year < 1 || day > daysIn(year, month)) return null;
  return { year, month, day, hour, minute };
}

function requireStart(value: string): WallTime {
  const start = parseStart(value);
  if (start === null) throw new ScheduleError(`malformed start ${JSON.stringify(value)}`, "schedule.bad_start");
  return start;
}

// -- zones ------------------------------------------------------------------------------

interface ZoneState {
  readonly offset: number; // seconds east of UTC
  readonly dst: boolean;
  readonly name: string;
}

interface Era {
  readonly since: number; // ms since 1970 (-Infinity for the first)
  readonly states: ReadonlyMap<number, { dst: boolean; name: string | null }>;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const eraCache = new Map<string, readonly Era[]>();

function formatter(zone: string): Intl.DateTimeFormat | null {
  let found = formatters.get(zone);
  if (found === undefined) {
    try {
      found = new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        era: "short",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch {
      return null;
    }
    formatters.set(zone, found);
  }
  return found;
}

/** True if `name` is a time zone Python's `zoneinfo` knows (case included) and `Intl` too. */
export function knownZone(name: string): boolean {
  return Object.hasOwn(ZONES, name) && formatter(name) !== null;
}

/**
 * Check a zone name as Python's `zone()` does.
 *
 * @throws ScheduleError `schedule.bad_zone` for a zone unknown here.
 */
export function requireZone(name: string): string {
  if (!knownZone(name)) throw new ScheduleError(`unknown time zone ${JSON.stringify(name)}`, "schedule.bad_zone");
  return name;
}

/** True if the start parses and the zone is known here (else receivers ignore it). */
export function validSchedule(schedule: ScheduleBody): boolean {
  return parseStart(schedule.start) !== null && knownZone(schedule.timezone);
}

/** Milliseconds since 1970 of a UTC wall time (years 1 to 99 included, unlike `Date.UTC`). */
function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** The zone's offset from UTC at an instant, in seconds. */
function offsetAt(zone: string, ms: number): number {
  const parts = formatter(zone)!.formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "0";
  let year = Number(get("year"));
  if (get("era") === "BC" || get("era") === "B") year = 1 - year;
  const local = utcMs(year, Number(get("month")), Number(get("day")), Number(get("hour")), Number(get("minute")), Number(get("second")));
  return Math.round((local - Math.floor(ms / 1000) * 1000) / 1000);
}

function eras(zone: string): readonly Era[] {
  let found = eraCache.get(zone);
  if (found === undefined) {
    found = (ZONES[zone] ?? "").split("|").map((text) => {
      const at = text.indexOf("@");
      const since = at < 0 ? -Infinity : Number(text.slice(0, at)) * HOUR;
      const states = new Map<number, { dst: boolean; name: string | null }>();
      for (const item of text.slice(at + 1).split(",")) {
        const m = /^(-?\d+)(d?)(?::(.*))?$/.exec(item);
        if (m !== null) states.set(Number(m[1]) * 60, { dst: m[2] === "d", name: m[3] ?? null });
      }
      return { since, states };
    });
    eraCache.set(zone, found);
  }
  return found;
}

/** How the database writes an abbreviation it has no letters for (`+0530`, `-03`). */
function numericName(offset: number): string {
  const minutes = Math.floor(Math.abs(offset) / 60);
  const hh = String(Math.floor(minutes / 60)).padStart(2, "0");
  const mm = minutes % 60 === 0 ? "" : String(minutes % 60).padStart(2, "0");
  return (offset >= 0 ? "+" : "-") + hh + mm;
}

/** The zone's offset, DST flag and abbreviation at an instant, as zoneinfo gives them. */
function stateAt(zone: string, ms: number): ZoneState {
  const offset = offsetAt(zone, ms);
  let era: Era | undefined;
  for (const candidate of eras(zone)) if (candidate.since <= ms) era = candidate;
  const known = era?.states.get(offset);
  // An offset the table does not list (the platform's database is newer than the
  // table's): standard time, named by its offset.
  return { offset, dst: known?.dst ?? false, name: known?.name ?? numericName(offset) };
}

/**
 * The offset (seconds) Python's zoneinfo gives a wall-clock time with `fold=0`: the
 * offset before a change for a time the change skips or repeats.
 */
function wallOffset(zone: string, wall: number): number {
  const before = offsetAt(zone, wall - DAY);
  const after = offsetAt(zone, wall + DAY);
  // A wall time is on the earlier side of a change T if it is before T plus the
  // larger of the two offsets (zoneinfo's fold=0 table of local transition times).
  const larger = Math.max(before, after) * 1000;
  return offsetAt(zone, wall - larger) === before ? before : after;
}

// -- occurrences -------------------------------------------------------------------------

function wallOf(start: WallTime): number {
  return utcMs(start.year, start.month, start.day, start.hour, start.minute);
}

function* localStarts(schedule: ScheduleBody): Generator<number> {
  const first = requireStart(schedule.start);
  if (schedule.frequency === "weekly" || schedule.frequency === "fortnightly") {
    const step = (schedule.frequency === "weekly" ? 7 : 14) * DAY;
    const last = utcMs(9999, 12, 31, 23, 59);
    for (let current = wallOf(first); current <= last; current += step) yield current;
    return;
  }
  let { year, month } = first;
  while (year <= 9999) {
    if (first.day <= daysIn(year, month)) yield utcMs(year, month, first.day, first.hour, first.minute);
    // else: no such day this month; skipped, as RFC 5545 does
    [year, month] = month === 12 ? [year + 1, 1] : [year, month + 1];
  }
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** A wall time (ms as UTC) and its offset as Python's `isoformat()` writes an aware datetime. */
function isoformat(wall: number, offset: number): string {
  const d = new Date(wall);
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  const seconds = abs % 60 === 0 ? "" : `:${pad(abs % 60)}`;
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}${seconds}`
  );
}

/**
 * The next `n` meetings that end after `after`.
 *
 * @throws ScheduleError `schedule.bad_zone`, `schedule.bad_start`.
 */
export function occurrences(schedule: ScheduleBody, n: number, after: Date): Meeting[] {
  if (schedule.active === false || n <= 0) return [];
  const zone = requireZone(schedule.timezone);
  const length = schedule.duration_minutes * MINUTE;
  const found: Meeting[] = [];
  for (const wall of localStarts(schedule)) {
    const offset = wallOffset(zone, wall);
    const start = wall - offset * 1000;
    const end = start + length;
    if (end > after.getTime()) {
      const endOffset = offsetAt(zone, end);
      found.push(
        Object.freeze({
          title: schedule.title,
          start: new Date(start),
          end: new Date(end),
          timezone: zone,
          startLocal: isoformat(wall, offset),
          endLocal: isoformat(end + endOffset * 1000, endOffset),
        }),
      );
      if (found.length === n) break;
    }
  }
  return found;
}

/**
 * The wall-clock time `start` shows in `zone`, as `YYYY-MM-DDTHH:MM` (seconds
 * dropped, as Python's `strftime("%Y-%m-%dT%H:%M")` drops them).
 *
 * @throws ScheduleError `schedule.bad_zone`.
 */
export function wallClock(start: Date, zone: string): string {
  requireZone(zone);
  const ms = start.getTime();
  const d = new Date(ms + offsetAt(zone, ms) * 1000);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

// -- iCalendar ---------------------------------------------------------------------------

function escapeText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r\n/g, "\\n").replace(/\n/g, "\\n");
}

const encoder = new TextEncoder();

/** Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence. */
function fold(line: string): string {
  const out: string[] = [];
  let current = "";
  let size = 0;
  for (const char of line) {
    const width = encoder.encode(char).length;
    if (size + width > 75) {
      out.push(current);
      current = " ";
      size = 1;
    }
    current += char;
    size += width;
  }
  out.push(current);
  return out.join("\r\n");
}

function offsetText(seconds: number): string {
  const sign = seconds >= 0 ? "+" : "-";
  const abs = Math.abs(seconds);
  return `${sign}${pad(Math.floor(abs / 3600))}${pad(Math.floor((abs % 3600) / 60))}`;
}

function stamp(ms: number): string {
  const d = new Date(ms);
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
  );
}

/**
 * A VTIMEZONE with one observance per offset change in `years` years from `firstYear`.
 *
 * Python walks the years hour by hour; this samples every six hours and walks the
 * hours only where the offset changed, which finds the same hours (no zone changes
 * its offset twice within six hours).
 */
function vtimezone(zone: string, firstYear: number, years = 3): string[] {
  const lines = ["BEGIN:VTIMEZONE", `TZID:${zone}`];
  const end = utcMs(firstYear + years, 1, 1);
  const coarse = 6 * HOUR;
  let moment = utcMs(firstYear, 1, 1);
  let before = stateAt(zone, moment);
  let observances = 0;
  while (moment < end) {
    const next = Math.min(moment + coarse, end);
    if (offsetAt(zone, next) === before.offset && next !== end) {
      moment = next;
      continue;
    }
    for (let later = moment + HOUR; later <= next; later += HOUR) {
      const after = stateAt(zone, later);
      if (after.offset !== before.offset) {
        const kind = after.dst ? "DAYLIGHT" : "STANDARD";
        lines.push(
          `BEGIN:${kind}`,
          `DTSTART:${stamp(later + before.offset * 1000)}`,
          `TZOFFSETFROM:${offsetText(before.offset)}`,
          `TZOFFSETTO:${offsetText(after.offset)}`,
          `TZNAME:${after.name || zone}`,
          `END:${kind}`,
        );
        observances += 1;
      }
      before = after;
    }
    moment = next;
  }
  if (observances === 0) {
    const offset = offsetText(before.offset);
    lines.push(
      "BEGIN:STANDARD",
      "DTSTART:19700101T000000",
      `TZOFFSETFROM:${offset}`,
      `TZOFFSETTO:${offset}`,
      `TZNAME:${before.name || zone}`,
      "END:STANDARD",
    );
  }
  lines.push("END:VTIMEZONE");
  return lines;
}

/**
 * The schedule as an RFC 5545 VCALENDAR (CRLF line ends, folded at 75 octets), byte
 * for byte what the Python SDK writes for it.
 *
 * @param uid The event's `UID` (`{room}@hearth` for a room's schedule).
 * @param now The `DTSTAMP`.
 * @throws ScheduleError `schedule.bad_zone`, `schedule.bad_start`.
 */
export function exportIcal(schedule: ScheduleBody, options: { readonly uid: string; readonly now: Date }): string {
  const first = requireStart(schedule.start);
  const zone = requireZone(schedule.timezone);
  const lines = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Hearth//client_sdk//EN",
    "CALSCALE:GREGORIAN",
    ...vtimezone(zone, first.year),
    "BEGIN:VEVENT",
    `UID:${options.uid}`,
    `DTSTAMP:${stamp(Math.floor(options.now.getTime() / 1000) * 1000)}Z`,
    `DTSTART;TZID=${schedule.timezone}:${stamp(wallOf(first))}`,
    `DURATION:PT${schedule.duration_minutes}M`,
    `RRULE:${RRULE[schedule.frequency]}`,
    `SUMMARY:${escapeText(schedule.title)}`,
  ];
  if (schedule.description) lines.push(`DESCRIPTION:${escapeText(schedule.description)}`);
  if (schedule.active === false) lines.push("STATUS:CANCELLED");
  lines.push("END:VEVENT", "END:VCALENDAR");
  return lines.map((line) => fold(line) + "\r\n").join("");
}
