/**
 * Moderation in the web app: the moderator's inbox of reports, the room's
 * moderation history, and the confirmed actions on a member or a message (delete,
 * mute, ban, remove, block), whether they start from the inbox, a message's menu or
 * the members list.
 *
 * Invariants (docs/front-ends.md):
 * - every destructive action asks, Cancel focused, and its button names it;
 * - what a moderator does is a line in the room's timeline for every member, drawn
 *   from the SDK's `moderationHistory` (timeline.ts), so it survives a reload;
 * - a block or an unblock redraws the open room at once, so the timeline never keeps
 *   showing what the person just asked not to see (or hides what they asked back);
 * - reports are kept for the session only, as the SDK hands them over
 *   (`ReportReceived`, with the evidence it checked): nothing is written to disk.
 */

import {
  type Event,
  memberDisplay,
  type MemberId,
  type MessageId,
  type ReportReceived,
  ROLE_RANK,
  type Room,
  type RoomId,
  type RoomMember,
} from "@hearth/sdk";

import { confirmAction, showDialog } from "./dialog.js";
import { button, describe, el, field, input } from "./dom.js";
import { roomFingerprintDialog, safetyNumberDialog } from "./safety.js";
import type { Session } from "./session.js";
import { moderationLine } from "./timeline.js";

interface Report {
  readonly event: ReportReceived;
  readonly done: string[];
}

let session: Session | null = null;
let refreshOpenRoom: () => void = () => {};
const reports = new Map<RoomId, Report[]>();
/** The open room's "Safety" button, whose label counts the reports. */
let reportsButton: { room: RoomId; node: HTMLButtonElement } | null = null;

/** Keep the session's reports, and redraw the open room after a block (app.ts calls this once). */
export function installModeration(current: Session, refresh: () => void): void {
  session = current;
  refreshOpenRoom = refresh;
  current.on((event: Event) => {
    if (event.type !== "ReportReceived") return;
    const list = reports.get(event.roomId) ?? [];
    list.push({ event, done: [] });
    reports.set(event.roomId, list);
    updateReportsButton();
    const room = current.client.rooms.find((r) => r.id === event.roomId);
    say(`New report in ${room?.name ?? "a room"}: Safety, then Reports, shows it.`);
  });
}

/** Say something politely in the open room's status line (for screen readers too). */
export function say(text: string): void {
  const line = document.querySelector(".action-status");
  if (line !== null) line.textContent = text;
}

function label(room: Room, member: MemberId): RoomMember {
  return room.member(member);
}

/** Whether this person may delete, mute, ban and remove `member` here (outranks them as moderator or owner). */
export function canModerate(room: Room, member: MemberId): boolean {
  const mine = room.role;
  if (mine !== "owner" && mine !== "moderator") return false;
  if (member === room.me) return false;
  const theirs = room.members.get(member);
  return theirs === undefined || ROLE_RANK[mine] > ROLE_RANK[theirs];
}

function staff(room: Room): boolean {
  return room.role === "owner" || room.role === "moderator" || room.role === "supporter";
}

/** Delete a message (one's own, or as a moderator anyone's), after asking. */
export async function deleteMessage(room: Room, messageId: MessageId, senderWho: string | null, quoted: string): Promise<boolean> {
  const sure = await confirmAction(
    senderWho === null ? "Delete your message?" : `Delete ${senderWho}'s message for everyone?`,
    senderWho === null
      ? `“${quoted}” will be deleted for everyone in ${room.name}.`
      : `“${quoted}” will be deleted for everyone in ${room.name}. In its place everyone sees a line saying a moderator removed it.`,
    "Delete message",
  );
  if (!sure) return false;
  try {
    await room.delete(messageId);
    return true;
  } catch (exc) {
    say(`Could not delete it: ${describe(exc)}`);
    return false;
  } finally {
    refreshOpenRoom();
  }
}

/** Block a member after asking (they are not told); the open room shows at once without them. */
export async function askBlock(room: Room, member: MemberId): Promise<void> {
  const info = label(room, member);
  const who = memberDisplay(info);
  const sure = await confirmAction(
    `Block ${who}?`,
    `You will no longer see messages from ${who}, in ${room.name} and wherever this key speaks. They are not told. You can unblock them from the people list.`,
    `Block ${info.label}`,
  );
  if (!sure || session === null) return;
  try {
    await session.client.block(member);
  } catch (exc) {
    say(`Could not block: ${describe(exc)}`);
  }
  blockChanged();
}

/** Whether this person blocked `member`. */
export function isBlocked(member: MemberId): boolean {
  return session?.client.blocked.has(member) ?? false;
}

/** The block list changed: draw the open room as it now is. */
export function blockChanged(): void {
  refreshOpenRoom();
}

const WHAT: Record<"mute" | "ban" | "remove", (who: string, room: string) => string> = {
  mute: (who, room) => `${who} can still read ${room} but cannot post until a moderator unmutes them. Everyone sees a line saying you muted them, with your reason.`,
  ban: (who, room) =>
    `${who} will be removed from ${room} and this key kept out, through any invite, until a moderator lifts the ban. Everyone sees a line saying you banned them, with your reason.`,
  remove: (who, room) => `${who} will be removed from ${room}: they can no longer read what is said after this, and everyone sees a line saying you removed them.`,
};

const VERB = { mute: "Mute", ban: "Ban", remove: "Remove" } as const;

/** Mute, ban or remove a member after asking, Cancel focused (mute and ban take a reason). */
export async function memberAction(room: Room, kind: "mute" | "ban" | "remove", member: MemberId): Promise<boolean> {
  const info = label(room, member);
  const who = memberDisplay(info);
  const reason = input("text", "moderation-reason");
  reason.maxLength = 500;
  const body: (Node | string)[] = [WHAT[kind](who, room.name)];
  if (kind !== "remove") body.push(field("Reason (members see it)", reason));
  const answer = await showDialog({
    title: `${VERB[kind]} ${who}?`,
    body,
    actions: [{ text: kind === "remove" ? "Remove from room" : `${VERB[kind]} ${info.label}`, value: "yes", className: "danger" }],
    focus: "cancel",
  });
  if (answer !== "yes") return false;
  try {
    if (kind === "mute") await room.mute(member, reason.value.trim());
    else if (kind === "ban") await room.ban(member, reason.value.trim());
    else await room.remove(member);
    return true;
  } catch (exc) {
    say(`Could not ${VERB[kind].toLowerCase()}: ${describe(exc)}`);
    return false;
  } finally {
    refreshOpenRoom();
  }
}

function safetyLabel(room: RoomId): string {
  const count = reports.get(room)?.length ?? 0;
  return count === 0 ? "Safety" : `Safety (${count} ${count === 1 ? "report" : "reports"})`;
}

function updateReportsButton(): void {
  if (reportsButton === null || !reportsButton.node.isConnected) return;
  reportsButton.node.textContent = safetyLabel(reportsButton.room);
}

/** One report in the inbox: who reported what, why, and the actions on it. */
function reportItem(room: Room, report: Report, close: () => void): HTMLElement {
  const e = report.event;
  const sender = label(room, e.sender);
  const item = el(
    "li",
    { className: "report" },
    el("p", { text: `${memberDisplay(label(room, e.reporter))} reported a message from ${memberDisplay(sender)}`, className: "report-who" }),
    el("blockquote", { className: "quote", text: e.text ?? "(the message cannot be read on this device)" }),
    el("p", { text: `Reason: ${e.reason || "(none given)"}` }),
  );
  if (report.done.length > 0) item.append(el("p", { className: "hint", text: `Done: ${report.done.join(", ")}` }));
  if (canModerate(room, e.sender)) {
    const act = (what: string, run: () => Promise<boolean>) => () => {
      close();
      void run().then((ok) => {
        if (ok) report.done.push(what);
      });
    };
    item.append(
      el(
        "div",
        { className: "report-actions" },
        button("Delete the message", act("deleted", () => deleteMessage(room, e.messageId, memberDisplay(sender), e.text ?? "the reported message"))),
        button(`Mute ${sender.label}`, act("muted", () => memberAction(room, "mute", e.sender))),
        button(`Ban ${sender.label}`, act("banned", () => memberAction(room, "ban", e.sender))),
        button(`Remove ${sender.label}`, act("removed", () => memberAction(room, "remove", e.sender))),
      ),
    );
  } else if (room.role === "supporter") {
    item.append(el("p", { className: "hint", text: "A moderator or owner acts on reports; you can support the people involved." }));
  }
  return item;
}

/** The reports that reached this person in `room` this session, newest first. */
export async function reportsDialog(room: Room): Promise<void> {
  let close: (value: string | null) => void = () => {};
  const list = el("ol", { className: "reports" });
  list.setAttribute("aria-label", "Reports");
  const mine = [...(reports.get(room.id) ?? [])].reverse();
  for (const report of mine) list.append(reportItem(room, report, () => close(null)));
  await showDialog({
    title: `Reports in ${room.name}`,
    body: [
      mine.length === 0 ? el("p", { text: "No reports reached you here in this session." }) : list,
      el("p", { className: "hint", text: "Reports are kept only while this page is open. Every action you take is a line in the room everyone sees." }),
    ],
    cancelText: "Close",
    opened: (finish) => {
      close = finish;
    },
  });
}

/** The room's moderation as every member can verify it, oldest first. */
export async function historyDialog(room: Room): Promise<void> {
  const entries = room.moderationHistory();
  const list = el("ol", { className: "history" });
  list.setAttribute("aria-label", "Moderation history");
  for (const entry of entries) {
    const time = el("time", { text: new Date(entry.at).toLocaleString(), className: "hint" });
    time.dateTime = new Date(entry.at).toISOString();
    list.append(el("li", {}, el("span", { text: moderationLine(room, entry) }), " ", time));
  }
  await showDialog({
    title: `Moderation history of ${room.name}`,
    body: [entries.length === 0 ? el("p", { text: "Nobody has been muted, banned or removed here, and no message was deleted by a moderator." }) : list],
    cancelText: "Close",
  });
}

/**
 * The open room's one extra button, "Safety" (one button, so that a phone keeps
 * room for the messages): it opens a menu of the reports (for those they reach, its
 * label counting them), the moderation history and the room fingerprint.
 */
export function roomMenuExtras(room: Room): HTMLElement[] {
  const node = button("Safety", () => void safetyMenu(room));
  reportsButton = { room: room.id, node };
  queueMicrotask(updateReportsButton);
  return [node];
}

async function safetyMenu(room: Room): Promise<void> {
  const count = reports.get(room.id)?.length ?? 0;
  const actions = [
    ...(staff(room) ? [{ text: count === 0 ? "Reports" : `Reports (${count})`, value: "reports" }] : []),
    { text: "Moderation history", value: "history" },
    { text: "Room fingerprint", value: "fingerprint" },
  ];
  const choice = await showDialog({
    title: `Safety in ${room.name}`,
    body: ["Safety numbers are in People, beside each member."],
    actions,
    cancelText: "Close",
    className: "dialog menu",
  });
  if (choice === "reports") await reportsDialog(room);
  else if (choice === "history") await historyDialog(room);
  else if (choice === "fingerprint") await roomFingerprintDialog(room);
}

/** A member row's extra buttons in the people list: the safety number, and mute or unmute and ban for those who may. */
export function memberExtras(room: Room, member: RoomMember, done: () => void): HTMLElement[] {
  const extras: HTMLElement[] = [
    button(`Safety number with ${member.label}`, () => {
      done();
      void safetyNumberDialog(room, member);
    }),
  ];
  if (!canModerate(room, member.id)) return extras;
  if (room.muted.has(member.id)) {
    extras.push(
      button(`Unmute ${member.label}`, () => {
        done();
        room.unmute(member.id).then(refreshOpenRoom, (exc: unknown) => say(`Could not unmute: ${describe(exc)}`));
      }),
    );
  } else {
    extras.push(
      button(`Mute ${member.label}`, () => {
        done();
        void memberAction(room, "mute", member.id);
      }),
    );
  }
  extras.push(
    button(`Ban ${member.label}`, () => {
      done();
      void memberAction(room, "ban", member.id);
    }),
  );
  return extras;
}
