/**
 * A room's meetings: "Meetings" in the room's menu lists the next ones from the
 * room's encrypted schedule (`Room.nextMeetings`), offers "Add to calendar", and
 * lets owners and moderators set the schedule (`Room.setSchedule`, as the terminal
 * app's schedule does; others' schedules are ignored by the SDK, so they are not
 * offered the form).
 *
 * "Add to calendar" downloads the SDK's own iCalendar file (`Room.exportIcal`: the
 * meeting's title, times, recurrence and description, nothing from the messages)
 * through a Blob URL and an `<a download>`: a download is no fetch, image or frame,
 * so the page's content security policy needs nothing more for it.
 */

import { type Meeting, type Room } from "@hearth/sdk";

import { extendRooms } from "./addons.js";
import { showDialog } from "./dialog.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";

const FREQUENCIES = [
  ["weekly", "Every week"],
  ["fortnightly", "Every two weeks"],
  ["monthly", "Every month"],
] as const;

function mayPlan(room: Room): boolean {
  return room.role === "owner" || room.role === "moderator";
}

function when(meeting: Meeting): string {
  const day = new Intl.DateTimeFormat([], { timeZone: meeting.timezone, weekday: "long", day: "numeric", month: "long", year: "numeric" });
  const time = new Intl.DateTimeFormat([], { timeZone: meeting.timezone, hour: "2-digit", minute: "2-digit" });
  return `${day.format(meeting.start)}, ${time.format(meeting.start)} to ${time.format(meeting.end)} (${meeting.timezone})`;
}

function fileName(room: Room): string {
  const base = (room.name || "meetings").replace(/[^\p{L}\p{N} _-]+/gu, "").trim().replace(/\s+/g, "-");
  return `${base || "meetings"}.ics`;
}

/** Hand the SDK's iCalendar text to the browser as a file download. */
function download(room: Room): void {
  const url = URL.createObjectURL(new Blob([room.exportIcal()], { type: "text/calendar;charset=utf-8" }));
  const link = el("a");
  link.href = url;
  link.download = fileName(room);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function zoneNow(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** The form an owner or moderator sets the schedule with. */
function planForm(room: Room, redraw: () => void): HTMLElement {
  const current = room.schedule;
  const title = input("text", "meeting-title");
  title.maxLength = 100;
  title.value = current?.title ?? "";
  const start = input("datetime-local", "meeting-start");
  start.value = current?.start ?? "";
  const frequency = el("select");
  frequency.name = "meeting-frequency";
  for (const [value, text] of FREQUENCIES) {
    const option = el("option", { text });
    option.value = value;
    option.selected = value === (current?.frequency ?? "weekly");
    frequency.append(option);
  }
  const duration = input("number", "meeting-duration");
  duration.min = "5";
  duration.max = "1440";
  duration.value = String(current?.duration_minutes ?? 60);
  const zone = input("text", "meeting-zone");
  zone.value = current?.timezone ?? zoneNow();
  const said = status("status error");
  const go = submitButton(current === null ? "Set the meetings" : "Change the meetings");
  return el(
    "section",
    { className: "plan" },
    el("h3", { text: current === null ? "Plan meetings" : "Change the meetings" }),
    form(
      () => {
        const minutes = Number(duration.value);
        if (title.value.trim() === "") {
          said.textContent = "Give the meeting a title.";
          title.focus();
          return;
        }
        if (start.value === "") {
          said.textContent = "Choose when the first meeting starts.";
          start.focus();
          return;
        }
        if (!Number.isInteger(minutes) || minutes < 5 || minutes > 1440) {
          said.textContent = "A meeting lasts from 5 minutes to a day (1440 minutes).";
          duration.focus();
          return;
        }
        go.disabled = true;
        said.textContent = "Saving…";
        room
          .setSchedule(title.value.trim(), {
            frequency: frequency.value as (typeof FREQUENCIES)[number][0],
            start: start.value.slice(0, 16),
            timezone: zone.value.trim(),
            durationMinutes: minutes,
          })
          .then(
            () => {
              go.disabled = false;
              said.textContent = "Saved. Everyone in the room sees the new meetings.";
              redraw();
            },
            (exc: unknown) => {
              go.disabled = false;
              said.textContent = `Not saved: ${describe(exc)}`;
            },
          );
      },
      field("Title", title),
      field("First meeting starts", start, "In the time zone below."),
      field("How often", frequency),
      field("Length in minutes", duration),
      field("Time zone", zone, "A name such as Europe/Berlin."),
      go,
      said,
    ),
  );
}

/** The meetings dialog; `redraw` is kept while it is open so room events update it. */
async function meetingsDialog(room: Room, live: { redraw: (() => void) | null }): Promise<void> {
  const list = el("ul", { className: "meetings" });
  list.setAttribute("aria-label", "Upcoming meetings");
  const summary = el("p");
  const said = status("status");
  const add = button("Add to calendar", () => {
    try {
      download(room);
      said.textContent = `Downloaded ${fileName(room)}: open it to add the meetings to your calendar.`;
    } catch (exc) {
      said.textContent = `Could not make the calendar file: ${describe(exc)}`;
    }
  });
  const plan = el("div");
  const redraw = () => {
    const schedule = room.schedule;
    const active = schedule !== null && schedule.active !== false;
    const meetings = active ? room.nextMeetings(5) : [];
    summary.textContent = active
      ? `${schedule.title}: ${FREQUENCIES.find(([f]) => f === schedule.frequency)?.[1].toLowerCase() ?? schedule.frequency}, ${schedule.duration_minutes} minutes.`
      : "This room has no meetings planned.";
    replace(list, ...meetings.map((meeting) => el("li", { text: when(meeting) })));
    add.hidden = !active;
    if (mayPlan(room) && plan.childElementCount === 0) plan.append(planForm(room, redraw));
  };
  redraw();
  live.redraw = redraw;
  try {
    await showDialog({
      title: `Meetings of ${room.name || "this room"}`,
      body: [summary, list, add, said, plan],
      cancelText: "Close",
      className: "dialog meetings-dialog",
    });
  } finally {
    live.redraw = null;
  }
}

extendRooms((room) => {
  if (room.kind === "buddy") return null;
  const live: { redraw: (() => void) | null } = { redraw: null };
  return {
    actions: [button("Meetings", () => void meetingsDialog(room, live))],
    refresh() {
      live.redraw?.();
    },
  };
});
