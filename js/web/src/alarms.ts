/**
 * Security alarms: what the SDK's verification refused (`SecurityAlarm`), shown
 * until the person dismisses each one themselves.
 *
 * Invariants (docs/front-ends.md, "Nothing the app opens for the person vanishes
 * unseen"):
 * - every open alarm is a banner at the top of the app (`role="alert"`) until the
 *   person says they read it; only then does the app acknowledge it to the SDK
 *   (`Room.acknowledgeAlarms`), which lets the room send again;
 * - its dialog opens by itself when the alarm arrives (once per page); Escape or
 *   "Not now" close the dialog but never the alarm: the banner stays, with its
 *   button to read it again; after every unlock (the quick exit closes every
 *   dialog) the dialog of an open alarm opens again;
 * - alarms the SDK still holds (`Room.alarms`) are shown again after a reload;
 * - nothing shows while the app is locked (its tree is out of the page).
 */

import type { AlarmKind, Event, Room, RoomId } from "@hearth/sdk";

import { showDialog } from "./dialog.js";
import { button, el, replace } from "./dom.js";
import type { Session } from "./session.js";

/** What each alarm means for the person, in words (hearth_chat/texts.py's, for the web app). */
export const ALARM_TEXT: Record<AlarmKind, [string, string]> = {
  fork: [
    "The relay showed two different histories of this room",
    "Someone (most likely the relay) showed you a version of this room that other members may not see: it could be trying to split the conversation or slip in a listener. The room will not send until you dismiss this. Before you trust it again, compare safety numbers (People) and the room fingerprint with other members in person or by phone.",
  ],
  withheld: [
    "A message was held back",
    "A member sent a message that never reached you, even after a full catch-up. The relay (or the network) withheld it. What you see may be missing part of the conversation. Ask the others whether they see a gap.",
  ],
  log_invalid: [
    "A change to this room failed verification",
    "A change to who is in this room (or to its keys) did not carry a valid signature or did not follow from the history you verified. Hearth refused it and froze the room at the last point it could verify. Someone may have tried to add a hidden member or forge a change. Compare safety numbers before trusting the room again.",
  ],
  unknown_epoch: [
    "A message used a key this room never had",
    "A message arrived sealed under a key that the verified history of this room never started. It was dropped unread. It may be a forgery the relay passed on.",
  ],
  bad_message: [
    "A message failed verification",
    "A message did not verify: a forged or altered signature, a sender who is not a member, or a replay of an old message. It was dropped and you never saw it.",
  ],
};

interface Open {
  readonly room: Room;
  readonly alarmId: number;
  readonly kind: AlarmKind;
}

const open: Open[] = [];
let banner: HTMLElement | null = null;
let root: HTMLElement | null = null;
let showing = false;

function key(room: RoomId, alarmId: number): string {
  return `${room}:${alarmId}`;
}

/** Keep an alarm; true if it is new to this page. */
function add(room: Room, alarmId: number, kind: AlarmKind): boolean {
  if (open.some((a) => key(a.room.id, a.alarmId) === key(room.id, alarmId))) return false;
  open.push({ room, alarmId, kind });
  return true;
}

function draw(): void {
  if (banner === null) return;
  if (open.length === 0) {
    banner.hidden = true;
    replace(banner);
    return;
  }
  banner.hidden = false;
  replace(
    banner,
    ...open.map((alarm) =>
      el(
        "p",
        { className: "alarm" },
        el("strong", { text: `Security alarm in ${alarm.room.name || "a room"}: ` }),
        el("span", { text: ALARM_TEXT[alarm.kind][0] }),
        " ",
        button("Read and dismiss…", () => void show(alarm)),
      ),
    ),
  );
}

async function show(alarm: Open): Promise<void> {
  if (showing || !open.includes(alarm)) return;
  showing = true;
  const [title, meaning] = ALARM_TEXT[alarm.kind];
  let answer: string | null;
  try {
    answer = await showDialog({
      title: `Security alarm: ${title}`,
      body: [el("p", { text: `In ${alarm.room.name || "a room"}.` }), meaning, "It stays at the top of the app until you dismiss it."],
      actions: [{ text: "I have read this: dismiss", value: "dismiss" }],
      cancelText: "Not now",
      className: "dialog alarm-dialog",
    });
  } finally {
    showing = false;
  }
  if (answer !== "dismiss") return; // put off: the banner keeps it
  await alarm.room.acknowledgeAlarms([alarm.alarmId]);
  open.splice(open.indexOf(alarm), 1);
  draw();
  showNext();
}

/** Open the next alarm's dialog, if one is open and the app is on screen (else on unlock). */
function showNext(): void {
  const next = open[0];
  if (next === undefined || root === null || !root.isConnected) return;
  void show(next);
}

/** Follow the session's alarms (app.ts calls this once, with the app's tree and its screen). */
export function installAlarms(session: Session, appRoot: HTMLElement, screen: HTMLElement): void {
  root = appRoot;
  banner = el("section", { className: "alarms", id: "alarms" });
  banner.setAttribute("role", "alert");
  banner.setAttribute("aria-label", "Security alarms");
  banner.hidden = true;
  appRoot.insertBefore(banner, screen);
  const gather = () => {
    let fresh = false;
    for (const room of session.client.rooms) for (const alarm of room.alarms) fresh = add(room, alarm.alarmId, alarm.kind) || fresh;
    draw();
    if (fresh) showNext();
  };
  session.on((event: Event) => {
    if (event.type === "SecurityAlarm") {
      const room = session.client.rooms.find((r) => r.id === event.roomId);
      if (room === undefined) return;
      if (add(room, event.alarmId, event.kind)) {
        draw();
        showNext();
      }
    } else if (event.type === "PersonalDataChanged") {
      gather(); // after a catch-up: alarms the SDK kept from before a reload
    }
  });
  gather();
}

/** The app was unlocked: an alarm that waited opens now. */
export function alarmsUnlocked(): void {
  showNext();
}
