/**
 * A room's unresolved security alarms: raised by every check, resolved by the
 * person (mirrors `client_sdk/_core/alarms.py`).
 *
 * While any alarm is open the room refuses to send; an alarm raised by a refused log
 * operation also *freezes* the room at its position (later operations cannot chain
 * onto a log we refused) until it is acknowledged. Alarm ids are numbered per room
 * and never reused (the next id is persisted with the snapshot).
 */

import type { AlarmKind, SecurityAlarm } from "../events.js";
import type { RoomId } from "../ids.js";
import type { Step } from "./step.js";

export class Alarms {
  /** Open alarms by id, each with whether it freezes the room (insertion order: oldest first). */
  readonly open = new Map<number, readonly [SecurityAlarm, boolean]>();
  nextId = 1;

  constructor(readonly room: RoomId) {}

  /** Open a new alarm and announce it in `step`. */
  raise(step: Step, kind: AlarmKind, detail: string, code: string | null, options: { freezes?: boolean } = {}): void {
    const alarm: SecurityAlarm = { type: "SecurityAlarm", roomId: this.room, kind, detail, alarmId: this.nextId, code };
    this.open.set(alarm.alarmId, [alarm, options.freezes ?? false]);
    this.nextId += 1;
    step.items.push(alarm);
  }

  /** Reopen a persisted alarm as it was. */
  restore(alarm: SecurityAlarm, freezes: boolean): void {
    this.open.set(alarm.alarmId, [alarm, freezes]);
  }

  /** Unacknowledged alarms, oldest first. */
  get listed(): readonly SecurityAlarm[] {
    return [...this.open.values()].map(([a]) => a);
  }

  /** True while a refused log operation holds the room at its position. */
  get frozen(): boolean {
    for (const [, freezes] of this.open.values()) if (freezes) return true;
    return false;
  }

  /** Resolve alarms (all if `alarmIds` is null/undefined); return the ids resolved, sorted. */
  acknowledge(alarmIds?: Iterable<number> | null): number[] {
    const wanted = alarmIds == null ? [...this.open.keys()] : [...new Set(alarmIds)].filter((id) => this.open.has(id));
    for (const id of wanted) this.open.delete(id);
    return wanted.sort((a, b) => a - b);
  }
}
