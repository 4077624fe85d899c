/**
 * What a person does with one message: its actions menu, and what a message shows
 * besides its text (the message it answers, its reactions).
 *
 * Invariants (docs/front-ends.md, "No harm from a stray key"):
 * - every message carries one "Actions" button; the menu it opens is a dialog with
 *   Cancel focused, so no single key acts: a stray Enter cancels;
 * - the menu offers only what this person may do with this message (their own:
 *   reply, react, delete; someone else's: reply, react, report, block, and as a
 *   moderator or owner who outranks the sender delete, mute, ban and remove);
 * - each destructive choice asks again, Cancel focused (`moderation.ts`);
 * - the composer's extras (what the next message answers, its content warning) are
 *   kept per room for the session and shown above the composer until sent or
 *   dropped, so nothing is sent with a warning or a reply the person cannot see.
 */

import type { MessageId, Message, Room, RoomId } from "@hearth/sdk";
import { senderDisplay } from "@hearth/sdk";

import { showDialog } from "./dialog.js";
import { button, describe, el, field, form, input, replace, status, submitButton } from "./dom.js";
import { askBlock, canModerate, deleteMessage, isBlocked, memberAction, say } from "./moderation.js";

/** The emoji a person can react with (the terminal app offers the same few). */
export const REACTIONS = ["🙏", "❤️", "🤗", "👍", "😢"] as const;

interface Extras {
  replyTo: { id: MessageId; quote: string } | null;
  contentWarning: string | null;
}

const extras = new Map<RoomId, Extras>();
/** Messages drawn this session (already in memory), for what a reply answers. */
const seen = new Map<MessageId, Message>();
/** Redraws the open room's compose bar after its extras change. */
let redrawBar: (() => void) | null = null;

function extrasOf(room: RoomId): Extras {
  let found = extras.get(room);
  if (found === undefined) {
    found = { replyTo: null, contentWarning: null };
    extras.set(room, found);
  }
  return found;
}

/** A short quote of a message for menus and reply lines. */
export function quote(message: Message): string {
  if (message.collapsed) return `(behind a content warning: ${message.contentWarning ?? ""})`;
  const text = message.text.replace(/\s+/g, " ").trim();
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** What `room.send` takes for the next message of `room` (its reply and warning). */
export function composeOptions(room: RoomId): { replyTo: MessageId | null; contentWarning: string | null } {
  const found = extrasOf(room);
  return { replyTo: found.replyTo?.id ?? null, contentWarning: found.contentWarning };
}

/** The message went out: drop its reply and warning. */
export function composeSent(room: RoomId): void {
  extras.delete(room);
  redrawBar?.();
}

/**
 * The bar above the composer: what the next message answers and its content
 * warning, each with a button to drop it, and "Add a content warning".
 */
export function composeBar(room: Room, composer: HTMLTextAreaElement): HTMLElement {
  const bar = el("div", { className: "compose-extras" });
  const said = status("status action-status");
  const draw = () => {
    const found = extrasOf(room.id);
    const parts: HTMLElement[] = [];
    if (found.replyTo !== null) {
      parts.push(
        el(
          "p",
          { className: "replying" },
          el("span", { text: `Replying to ${found.replyTo.quote}` }),
          " ",
          button("Drop the reply", () => {
            found.replyTo = null;
            draw();
            composer.focus();
          }),
        ),
      );
    }
    if (found.contentWarning !== null) {
      parts.push(
        el(
          "p",
          { className: "warning-set" },
          el("span", { text: `Sent behind a content warning: ${found.contentWarning}` }),
          " ",
          button("Drop the warning", () => {
            found.contentWarning = null;
            draw();
            composer.focus();
          }),
        ),
      );
    } else {
      parts.push(el("p", {}, button("Add a content warning", () => void warningDialog(room))));
    }
    replace(bar, ...parts, said);
  };
  redrawBar = () => {
    if (bar.isConnected) draw();
  };
  draw();
  return bar;
}

/** Ask for the content warning the next message goes behind. */
async function warningDialog(room: Room): Promise<void> {
  const text = input("text", "content-warning");
  text.maxLength = 200;
  text.value = extrasOf(room.id).contentWarning ?? "";
  let close: (value: string | null) => void = () => {};
  const body = form(
    () => {
      if (text.value.trim() !== "") close("set");
    },
    field("Content warning", text, "Others see only these words until they choose to open the message."),
    submitButton("Use this warning"),
  );
  const answer = await showDialog({
    title: "Content warning for your next message",
    body: [body],
    focus: text,
    opened: (finish) => {
      close = finish;
    },
  });
  if (answer === "set") {
    extrasOf(room.id).contentWarning = text.value.trim();
    redrawBar?.();
  }
}

function reactionsList(room: Room, message: Message): HTMLElement | null {
  if (message.reactions.size === 0) return null;
  const list = el("ul", { className: "reactions" });
  list.setAttribute("aria-label", "Reactions");
  for (const [emoji, members] of message.reactions) {
    if (members.length === 0) continue;
    const mine = members.includes(room.me);
    const chip = button(`${emoji} ${members.length}`, () => {
      const change = mine ? room.unreact(message.id, emoji) : room.react(message.id, emoji);
      change.catch((exc: unknown) => say(`Could not change your reaction: ${describe(exc)}`));
    }, mine ? "reaction mine" : "reaction");
    chip.setAttribute(
      "aria-label",
      `${emoji} ${members.length} ${members.length === 1 ? "reaction" : "reactions"}${mine ? ", yours among them: press to take yours back" : ": press to add yours"}`,
    );
    list.append(el("li", {}, chip));
  }
  return list;
}

/**
 * Add what a message shows besides its text: the message it answers (above), its
 * reactions and its "Actions" button (below). `shown` holds the messages on screen.
 */
export function decorateMessage(room: Room, message: Message, item: HTMLElement, shown: ReadonlyMap<MessageId, Message>): void {
  seen.set(message.id, message);
  if (message.replyTo !== null) {
    // A message drawn alone (opened from behind its warning) finds what it answers
    // among those drawn before; never a key this person blocked.
    const earlier = seen.get(message.replyTo);
    const answered = shown.get(message.replyTo) ?? (earlier !== undefined && !isBlocked(earlier.sender) ? earlier : undefined);
    const text = answered === undefined ? "a message no longer shown here" : `${senderDisplay(answered)}: ${quote(answered)}`;
    const line = el("p", { className: "reply-to hint", text: `In reply to ${text}` });
    item.querySelector(".sender")?.after(line);
  }
  const reactions = reactionsList(room, message);
  if (reactions !== null) item.append(reactions);
  const actions = button("Actions", () => void messageMenu(room, message), "message-actions");
  actions.setAttribute("aria-label", `Actions for the message from ${senderDisplay(message)}: ${quote(message)}`);
  item.append(actions);
  // Out of the Tab order until the message itself has the focus (messageKeys).
  item.dataset["id"] = message.id;
  for (const control of item.querySelectorAll("button")) control.tabIndex = -1;
}

function messagesOf(timeline: HTMLElement): HTMLElement[] {
  return [...timeline.querySelectorAll<HTMLElement>(":scope > li.message")];
}

function tabbable(item: HTMLElement, on: boolean): void {
  for (const control of item.querySelectorAll("button")) control.tabIndex = on ? 0 : -1;
}

/**
 * The keyboard in the messages: the list is one Tab stop (Shift+Tab from the
 * composer reaches it); the arrows, Home and End move between messages; on a
 * message, Tab reaches its own buttons, and Enter opens what it hides behind a
 * content warning, or else its actions menu (Cancel focused). A message that keeps
 * the focus keeps it when the timeline is drawn again (a new message, a reveal).
 */
export function installMessageKeys(timeline: HTMLElement): void {
  let current: string | null = null;
  timeline.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const items = messagesOf(timeline);
    if (items.length === 0) return;
    const target = event.target as HTMLElement;
    const item = target.closest<HTMLElement>("li.message");
    const at = item === null ? -1 : items.indexOf(item);
    let next: HTMLElement | undefined;
    switch (event.key) {
      case "ArrowUp":
        next = at < 0 ? items[items.length - 1] : items[Math.max(0, at - 1)];
        break;
      case "ArrowDown":
        next = at < 0 ? items[0] : items[Math.min(items.length - 1, at + 1)];
        break;
      case "Home":
        next = items[0];
        break;
      case "End":
        next = items[items.length - 1];
        break;
      case "Enter":
        if (item !== null && target === item) {
          event.preventDefault();
          // Enter opens a message behind its warning, else its actions (never Delete).
          const shut = item.querySelector<HTMLButtonElement>(":scope > button.reveal");
          (shut ?? item.querySelector<HTMLButtonElement>("button.message-actions"))?.click();
        }
        return;
      default:
        return;
    }
    event.preventDefault();
    next?.focus();
  });
  timeline.addEventListener("focusin", (event) => {
    const item = (event.target as HTMLElement).closest<HTMLElement>("li.message");
    if (item === null) return;
    current = item.dataset["id"] ?? null;
    tabbable(item, true);
  });
  timeline.addEventListener("focusout", (event) => {
    const item = (event.target as HTMLElement).closest<HTMLElement>("li.message");
    const to = event.relatedTarget as Node | null;
    if (item !== null && (to === null || !item.contains(to))) tabbable(item, false);
    if (to === null || !timeline.contains(to)) current = to === null ? current : null;
  });
  // The timeline is drawn again as a whole: the message that had the focus keeps it.
  new MutationObserver(() => {
    if (current === null || (document.activeElement !== document.body && document.activeElement !== null)) return;
    const again = messagesOf(timeline).find((item) => item.dataset["id"] === current);
    if (again !== undefined) again.focus();
    else current = null;
  }).observe(timeline, { childList: true });
}

type Choice = "reply" | "react" | "delete" | "report" | "block" | "mute" | "ban" | "remove";

/** The choices this person has on `message`, in the menu's order. */
export function offered(room: Room, message: Message): [Choice, string][] {
  const offer: [Choice, string][] = [
    ["reply", "Reply"],
    ["react", "React…"],
  ];
  if (message.mine) return [...offer, ["delete", "Delete…"]];
  offer.push(["report", "Report to moderators…"]);
  if (canModerate(room, message.sender)) {
    offer.push(["delete", "Delete for everyone…"], ["mute", "Mute sender…"], ["ban", "Ban sender…"], ["remove", "Remove sender…"]);
  }
  offer.push(["block", "Block sender…"]);
  return offer;
}

/** The message's actions menu: a dialog, Cancel focused. */
export async function messageMenu(room: Room, message: Message): Promise<void> {
  const choice = (await showDialog({
    title: `Message from ${senderDisplay(message)}`,
    body: [el("blockquote", { className: "quote", text: quote(message) })],
    actions: offered(room, message).map(([value, text]) => ({ text, value })),
    className: "dialog menu",
  })) as Choice | null;
  switch (choice) {
    case null:
      return;
    case "reply":
      extrasOf(room.id).replyTo = { id: message.id, quote: `${senderDisplay(message)}: ${quote(message)}` };
      redrawBar?.();
      return;
    case "react":
      return reactDialog(room, message);
    case "delete":
      await deleteMessage(room, message.id, message.mine ? null : senderDisplay(message), quote(message));
      return;
    case "report":
      return reportDialog(room, message);
    case "block":
      return askBlock(room, message.sender);
    case "mute":
    case "ban":
    case "remove":
      await memberAction(room, choice, message.sender);
      return;
  }
}

async function reactDialog(room: Room, message: Message): Promise<void> {
  const emoji = await showDialog({
    title: "React to the message",
    body: [el("blockquote", { className: "quote", text: quote(message) })],
    actions: REACTIONS.map((e) => ({ text: e, value: e, className: "reaction-choice" })),
  });
  if (emoji === null) return;
  try {
    await room.react(message.id, emoji);
  } catch (exc) {
    say(`Could not react: ${describe(exc)}`);
  }
}

/** Report a message, with a reason; the SDK attaches the signed message as evidence. */
async function reportDialog(room: Room, message: Message): Promise<void> {
  const reason = el("textarea");
  reason.name = "report-reason";
  reason.rows = 3;
  const said = status("status error");
  let close: (value: string | null) => void = () => {};
  const sendIt = submitButton("Send report");
  const body = form(
    () => {
      sendIt.disabled = true;
      said.textContent = "Sending…";
      room.report(message.id, reason.value.trim()).then(
        () => close("sent"),
        (exc: unknown) => {
          sendIt.disabled = false;
          said.textContent = `Not sent: ${describe(exc)}`;
        },
      );
    },
    el("blockquote", { className: "quote", text: `${senderDisplay(message)}: ${quote(message)}` }),
    el("p", {
      text: "Your report and the signed message go only to this room's moderators, owners and supporters. Other members can see that a report was sent, not what it says.",
    }),
    field("Why are you reporting it? (they read this)", reason),
    sendIt,
    said,
  );
  const answer = await showDialog({
    title: "Report this message",
    body: [body],
    focus: reason,
    opened: (finish) => {
      close = finish;
    },
  });
  if (answer === "sent") say("Report sent to the room's moderators.");
}
