/**
 * An open room: its timeline, its composer and what the room's menu does.
 *
 * The timeline tells the truth (docs/front-ends.md): each message under the SDK's
 * label with the verified log's role ("Sam (supporter)", `member` shown too, never
 * a bare key once a name is known); joins, leaves, removals, role changes, mutes,
 * bans and a moderator's deletions as lines, rebuilt from what the SDK keeps
 * (`membershipHistory`, `moderationHistory`), so they are there again after a
 * reload; renames as lines for the session (the SDK keeps no history of names),
 * with lines already shown taking the new label as the timeline is drawn again.
 *
 * The status line says what is known: connecting, online or offline, and what waits
 * in the outbox (the SDK's `OutboxChanged` states).
 *
 * Drafts are kept per room for the session (never written to disk). A sentence
 * typed with the focus anywhere in the room outside a field goes to the composer.
 */

import {
  type Event,
  memberDisplay,
  type MembershipEntry,
  type Message,
  type ModerationEntry,
  type Room,
  type RoomId,
  senderDisplay,
} from "@hearth/sdk";

import { addonsFor } from "./addons.js";
import { confirmAction, showDialog } from "./dialog.js";
import { button, describe, el, replace, status } from "./dom.js";
import { inviteDialog, mayInvite } from "./invite.js";
import { membersDialog, nameDialog } from "./members.js";
import { composeBar, composeOptions, composeSent, decorateMessage, installMessageKeys } from "./messageActions.js";
import { roomMenuExtras } from "./moderation.js";
import type { Connection, Session } from "./session.js";

const drafts = new Map<RoomId, string>();
/** Rename lines per room, for the session. */
const renames = new Map<RoomId, { at: number; member: string; old: string }[]>();

/** Remember renames of every room, open or not (the timeline shows them when opened). */
export function recordRename(event: Event): void {
  if (event.type !== "MemberRenamed") return;
  const lines = renames.get(event.roomId) ?? [];
  lines.push({ at: Date.now(), member: event.member, old: event.old });
  renames.set(event.roomId, lines);
}

type Line = { at: number; order: number; node: HTMLElement };

function who(room: Room, member: string | null): string {
  if (member === null) return "someone";
  return memberDisplay(room.member(member));
}

function membershipLine(room: Room, entry: MembershipEntry): string {
  const person = who(room, entry.member);
  if (entry.action === "leave") return `${person} left`;
  if (entry.action === "add") return `${person} was added by ${who(room, entry.by)}`;
  return `${person} joined as ${entry.role ?? "member"}`;
}

export function moderationLine(room: Room, entry: ModerationEntry): string {
  const person = who(room, entry.member);
  const by = who(room, entry.by);
  const reason = entry.reason ? ` (${entry.reason})` : "";
  switch (entry.action) {
    case "remove":
      return `${person} was removed by ${by}${reason}`;
    case "role":
      return `${by} made ${person} ${entry.role ?? "a member"}`;
    case "mute":
      return `${by} muted ${person}${reason}`;
    case "unmute":
      return `${by} unmuted ${person}`;
    case "ban":
      return `${by} banned ${person}${reason}`;
    case "unban":
      return `${by} lifted the ban on ${person}`;
    case "delete":
      return `A message from ${person} was removed by a moderator, ${by}${reason}`;
  }
}

function notice(text: string): HTMLElement {
  return el("li", { text, className: "notice" });
}

function messageNode(room: Room, message: Message, shown: ReadonlyMap<Message["id"], Message> = new Map()): HTMLElement {
  const item = el("li", { className: message.mine ? "message mine" : "message" });
  item.tabIndex = -1;
  item.append(el("div", { text: senderDisplay(message), className: "sender" }));
  if (message.collapsed) {
    const open = button(`Content warning: ${message.contentWarning ?? ""}. Show`, () => {
      void room.reveal(message.id).then((shown) => item.replaceWith(messageNode(room, shown)));
    }, "reveal");
    item.append(open);
  } else {
    if (message.contentWarning) item.append(el("div", { text: `Content warning: ${message.contentWarning}`, className: "hint" }));
    item.append(el("p", { text: message.text, className: "text" }));
  }
  const time = el("time", { text: message.sentAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }), className: "hint" });
  time.dateTime = message.sentAt.toISOString();
  item.append(time);
  const moderator = room.role === "owner" || room.role === "moderator";
  if (message.mine || moderator) {
    const remove = button("Delete", () => void deleteMessage(room, message), "small");
    remove.setAttribute("aria-label", message.mine ? "Delete your message" : `Delete the message from ${senderDisplay(message)}`);
    item.append(remove);
  }
  decorateMessage(room, message, item, shown); // reply, reactions, actions (messageActions.ts)
  return item;
}

/** Deleting asks first, Cancel focused; a moderator's deletion leaves a line for everyone. */
async function deleteMessage(room: Room, message: Message): Promise<void> {
  const whose = message.mine ? "your message" : `the message from ${senderDisplay(message)}`;
  const sure = await confirmAction(
    message.mine ? "Delete your message?" : "Delete this message?",
    message.mine
      ? `It is removed for everyone in ${room.name}. This cannot be undone.`
      : `It is removed for everyone in ${room.name}, and a line says that a moderator removed ${whose}. This cannot be undone.`,
    "Delete message",
  );
  if (!sure) return;
  try {
    await room.delete(message.id);
  } catch (exc) {
    await showDialog({ title: "Not deleted", body: [`The message could not be deleted: ${describe(exc)}`], cancelText: "Close" });
  }
}

function outboxText(event: Extract<Event, { type: "OutboxChanged" }>): string {
  const n = `${event.pending} ${event.pending === 1 ? "message waits" : "messages wait"}`;
  switch (event.state) {
    case "retrying":
      return `${n}: sending, next try in ${Math.ceil(event.retryIn ?? 0)} s (the relay asked to slow down).`;
    case "storage":
      return `${n}: the relay cannot store messages right now; the app tries again.`;
    case "offline":
      return `${n}: offline, queued here; they go out when the connection is back.`;
    case "sent":
      return "";
  }
}

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: "Connecting…",
  online: "Online",
  offline: "Offline: new messages wait here and go out when the connection is back",
};

export interface RoomView {
  readonly room: Room;
  readonly composer: HTMLTextAreaElement;
  /** Draw the timeline again (after any event of this room). */
  refresh(): void;
  handle(event: Event): void;
  setConnection(state: Connection): void;
  /** Keep the draft; the app is leaving this room's screen. */
  close(): void;
}

/** Open `room` in `screen`. */
export function roomScreen(screen: HTMLElement, room: Room, session: Session, back: () => void): RoomView {
  const title = el("h2", { text: room.name || "Unnamed room", id: "room-title" });
  const connection = el("span", { className: "connection", text: CONNECTION_TEXT[session.connection] });
  const outbox = el("span", { className: "outbox" });
  const statusLine = status("status room-status");
  statusLine.append(connection, " ", outbox);
  const timeline = el("ol", { className: "timeline" });
  timeline.setAttribute("aria-label", `Messages in ${room.name}`);
  timeline.tabIndex = 0;
  installMessageKeys(timeline); // arrows between messages, Enter on one (messageActions.ts)
  const composer = el("textarea", { className: "composer" });
  composer.name = "composer";
  composer.rows = 2;
  composer.setAttribute("aria-label", `Message to ${room.name}`);
  composer.placeholder = "Write a message (Enter sends, Shift+Enter a new line; Shift+Tab reaches the messages)";
  composer.value = drafts.get(room.id) ?? "";
  composer.addEventListener("input", () => drafts.set(room.id, composer.value));
  const sendSaid = status("status error");

  const showPending = async () => {
    const pending = await room.pending().catch(() => 0);
    if (pending === 0) outbox.textContent = "";
    else if (outbox.textContent === "") outbox.textContent = `${pending} ${pending === 1 ? "message" : "messages"} queued`;
  };

  const sendNow = async (text: string) => {
    sendSaid.textContent = "";
    composer.value = "";
    drafts.delete(room.id);
    try {
      await room.send(text, composeOptions(room.id));
      composeSent(room.id);
    } catch (exc) {
      composer.value = text;
      drafts.set(room.id, text);
      sendSaid.textContent = `Not sent: ${describe(exc)}`;
    }
    await showPending();
    view.refresh();
  };

  const send = async () => {
    const text = composer.value.trim();
    if (text === "") return;
    for (const addon of addons) addon.beforeSend?.(text);
    if (room.rules !== null && !room.rulesAccepted) {
      const accepted = await showDialog({
        title: `Ground rules of ${room.name}`,
        body: [el("p", { text: room.rules, className: "rules" }), "Accept them to post here. Your message waits until you do."],
        actions: [{ text: "Accept rules", value: "accept" }],
        cancelText: "Not now",
        focus: "action",
      });
      if (accepted !== "accept") return;
      try {
        await room.acceptRules();
      } catch (exc) {
        sendSaid.textContent = `Could not accept the rules: ${describe(exc)}`;
        return;
      }
    }
    await sendNow(text);
  };

  composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && !event.isComposing) {
      event.preventDefault();
      void send();
    }
  });
  const sendButton = button("Send", () => void send(), "primary");

  const leave = async () => {
    const sure = await confirmAction(
      `Leave ${room.name}?`,
      `You will stop receiving ${room.name}'s messages, and its members see that you left. To come back you need a new invite.`,
      "Leave room",
    );
    if (!sure) return;
    try {
      await room.leave();
      back();
    } catch (exc) {
      sendSaid.textContent = `Could not leave: ${describe(exc)}`;
    }
  };

  const menu = el(
    "div",
    { className: "room-actions" },
    mayInvite(room) && button("Invite", () => void inviteDialog(room)),
    button("People", () => void membersDialog(room, session)),
    button("My name here", () => void nameDialog(room)),
    ...roomMenuExtras(room),
    button("Leave room", () => void leave(), "danger"),
  );
  const addons = addonsFor(room, session);
  for (const addon of addons) menu.append(...(addon.actions ?? []));
  const header = el("div", { className: "room-header" }, button("‹ Rooms", back, "back"), title);
  const view_ = el("section", { className: "room" }, header, menu, statusLine, ...addons.map((addon) => addon.banner), timeline, sendSaid, el("div", { className: "compose" }, composer, sendButton), composeBar(room, composer));

  // A sentence typed anywhere in the room outside a field goes to the composer.
  view_.addEventListener("keydown", (event) => {
    const target = event.target as HTMLElement;
    if (target === composer || target.closest("input, textarea, select") !== null) return;
    if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (event.key === " " && target.tagName === "BUTTON") event.preventDefault();
      composer.focus();
      if (event.key === " ") composer.setRangeText(" ", composer.selectionStart, composer.selectionEnd, "end");
    }
  });
  replace(screen, view_);

  let drawing: Promise<void> = Promise.resolve();
  let closed = false;
  const draw = async () => {
    const messages = await room.messages({ limit: 200 });
    const lines: Line[] = [];
    let order = 0;
    for (const entry of room.membershipHistory()) lines.push({ at: entry.at, order: order++, node: notice(membershipLine(room, entry)) });
    for (const entry of room.moderationHistory()) lines.push({ at: entry.at, order: order++, node: notice(moderationLine(room, entry)) });
    for (const rename of renames.get(room.id) ?? []) {
      lines.push({ at: rename.at, order: order++, node: notice(`${rename.old || "Someone"} is now ${who(room, rename.member)}`) });
    }
    for (const addon of addons) {
      for (const line of addon.lines?.() ?? []) lines.push({ at: line.at, order: order++, node: el("li", { text: line.text, className: `notice ${line.className ?? ""}`.trim() }) });
    }
    const shown = new Map(messages.map((message) => [message.id, message]));
    for (const message of messages) lines.push({ at: message.receivedAt.getTime(), order: order++, node: messageNode(room, message, shown) });
    lines.sort((a, b) => a.at - b.at || a.order - b.order);
    if (closed) return;
    const atEnd = timeline.scrollTop + timeline.clientHeight >= timeline.scrollHeight - 8;
    replace(timeline, ...lines.map((line) => line.node));
    if (atEnd) timeline.scrollTop = timeline.scrollHeight;
  };

  const view: RoomView = {
    room,
    composer,
    refresh() {
      for (const addon of addons) addon.refresh?.();
      drawing = drawing.then(draw).catch((exc: unknown) => {
        sendSaid.textContent = `Could not show the messages: ${describe(exc)}`;
      });
    },
    handle(event) {
      if (event.type === "OutboxChanged" && event.roomId === room.id) outbox.textContent = outboxText(event);
      if ("roomId" in event && event.roomId === room.id) {
        if (event.type === "ProfileChanged") {
          // A joiner learns the name after the screen is drawn: the labels follow it too.
          title.textContent = event.name;
          timeline.setAttribute("aria-label", `Messages in ${event.name}`);
          composer.setAttribute("aria-label", `Message to ${event.name}`);
        }
        view.refresh();
      }
    },
    setConnection(state) {
      connection.textContent = CONNECTION_TEXT[state];
      if (state === "online") void showPending();
    },
    close() {
      closed = true;
      for (const addon of addons) addon.close?.();
      drafts.set(room.id, composer.value);
    },
  };
  view.refresh();
  void showPending();
  composer.focus();
  return view;
}
