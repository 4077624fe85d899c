/**
 * A room's message retention: how long its messages are kept, said under the
 * room's status line while it is set, and changed by the room's owners (the only
 * ones the log lets sign `room.retention`: `Room.setRetention`).
 *
 * Shortening it takes messages away from every member's device, so it asks first,
 * Cancel focused, saying how many messages on this device go at once. Lengthening
 * it or keeping messages until deleted takes nothing away and acts at once.
 *
 * Messages the SDK drops under the retention (`MessagesExpired`, while the app is
 * open or at the next catch-up) leave the timeline as it is drawn again, and a line
 * for the session says how many went and why.
 */

import type { Event, Room, RoomId } from "@hearth/sdk";

import { type AddonLine, extendRooms } from "./addons.js";
import { confirmAction, showDialog } from "./dialog.js";
import { button, describe, el, field, status } from "./dom.js";
import type { Session } from "./session.js";

const DAY_MS = 86_400_000;
const CHOICES: readonly (number | null)[] = [null, 1, 7, 30, 90, 365];

/** Expiry lines per room, for the session. */
const expired = new Map<RoomId, AddonLine[]>();
const followed = new WeakSet<Session>();

function days(n: number): string {
  return n === 1 ? "1 day" : `${n} days`;
}

function describeRetention(value: number | null): string {
  return value === null ? "Messages here are kept until someone deletes them." : `Messages here disappear after ${days(value)}.`;
}

function follow(session: Session): void {
  if (followed.has(session)) return;
  followed.add(session);
  session.on((event: Event) => {
    if (event.type !== "MessagesExpired") return;
    const room = session.client.rooms.find((r) => r.id === event.roomId);
    const n = event.messageIds.length;
    const kept = room?.retentionDays;
    const why = kept === null || kept === undefined ? "under the room's retention" : `older than ${days(kept)}, as the room's retention says`;
    const lines = expired.get(event.roomId) ?? [];
    lines.push({ at: Date.now(), text: `${n} ${n === 1 ? "message" : "messages"} ${why}, ${n === 1 ? "was" : "were"} removed from this device.` });
    expired.set(event.roomId, lines);
  });
}

/** How many messages this device holds that a retention of `value` days drops now. */
async function goingNow(room: Room, value: number): Promise<number> {
  const cutoff = Date.now() - value * DAY_MS;
  const messages = await room.messages({ limit: 10_000 });
  return messages.filter((message) => message.sentAt.getTime() < cutoff).length;
}

async function retentionDialog(room: Room): Promise<void> {
  const current = room.retentionDays;
  if (room.role !== "owner") {
    await showDialog({
      title: "Keeping messages",
      body: [describeRetention(current), "Only the room's owners can change this."],
      cancelText: "Close",
    });
    return;
  }
  const choice = el("select");
  choice.name = "retention";
  for (const value of CHOICES) {
    const option = el("option", { text: value === null ? "Until someone deletes them" : `For ${days(value)}` });
    option.value = value === null ? "" : String(value);
    option.selected = value === current;
    choice.append(option);
  }
  const answer = await showDialog({
    title: "Keeping messages",
    body: [
      describeRetention(current),
      field("Keep messages", choice, "Older messages disappear from every member's device, this one included."),
    ],
    actions: [{ text: "Change retention", value: "change" }],
  });
  if (answer !== "change") return;
  const next = choice.value === "" ? null : Number(choice.value);
  if (next === current) return;
  if (next !== null && (current === null || next < current)) {
    const now = await goingNow(room, next).catch(() => 0);
    const sure = await confirmAction(
      `Keep messages for ${days(next)}?`,
      `Messages older than ${days(next)} disappear from every member's device, now and from then on, and cannot be brought back. ` +
        (now === 0
          ? `On this device nothing is older than that yet.`
          : `On this device ${now} ${now === 1 ? "message goes" : "messages go"} at once.`),
      `Keep ${days(next)}`,
    );
    if (!sure) return;
  }
  try {
    await room.setRetention(next);
  } catch (exc) {
    await showDialog({ title: "Not changed", body: [`The retention could not be changed: ${describe(exc)}`], cancelText: "Close" });
  }
}

extendRooms((room, session) => {
  if (room.kind === "buddy") return null;
  follow(session);
  const banner = status("hint retention");
  const show = () => {
    const value = room.retentionDays;
    banner.textContent = value === null ? "" : describeRetention(value);
    banner.hidden = value === null;
  };
  show();
  return {
    actions: [button("Keeping messages", () => void retentionDialog(room))],
    banner,
    lines: () => expired.get(room.id) ?? [],
    refresh: show,
  };
});
