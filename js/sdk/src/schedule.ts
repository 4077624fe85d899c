/**
 * Recurring meetings (mirrors the receiving half of `client_sdk/_schedule.py`): whether
 * a published schedule is one this device can use.
 *
 * A `ScheduleBody` fixes the first meeting's wall-clock time (`YYYY-MM-DDTHH:MM`) in
 * an IANA time zone. Receivers ignore a schedule whose start does not parse or whose
 * zone is unknown here, as the Python SDK does. The zone is checked against the
 * platform's time-zone database (`Intl`), Python's against `zoneinfo`: both are the
 * IANA database, so they agree on every zone name either knows unless one of them is
 * older than the name.
 */

import type { ScheduleBody } from "./wire/schema.gen.js";

const START = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/;

/** The wall-clock parts of `YYYY-MM-DDTHH:MM`, or null if it is not a real date and time. */
export function parseStart(value: string): { year: number; month: number; day: number; hour: number; minute: number } | null {
  const m = START.exec(value);
  if (m === null) return null;
  const [year, month, day, hour, minute] = m.slice(1).map(Number) as [number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || hour > 23 || minute > 59) return null;
  const days = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // days in `month` of a leap year
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day < 1 || day > (month === 2 && !leap ? 28 : days)) return null;
  return { year, month, day, hour, minute };
}

/** True if `name` is a time zone this platform knows. */
export function knownZone(name: string): boolean {
  if (name === "" || name !== name.trim()) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** True if the start parses and the zone is known here (else receivers ignore it). */
export function validSchedule(schedule: ScheduleBody): boolean {
  return parseStart(schedule.start) !== null && knownZone(schedule.timezone);
}
