/**
 * A program's risk path in the web app (docs/front-ends.md, "Crisis help"):
 *
 * - in a buddy chat this device opened by claiming a request, the supporter has one
 *   action ("Imminent risk…"); its dialog says first what it does (the program's
 *   help to both of them, an alert with the note to the program's moderators, how
 *   many), Cancel holds the focus, and Enter in the note raises nothing;
 * - `RiskHelpShown` opens the crisis screen for both buddies: the program's words
 *   and lines first, this device's own lines beside them (the emergency advice
 *   included), and a line in the chat's timeline keeps what was shared;
 * - `RiskAlertReceived` (the SDK gives it to the program's owners and moderators
 *   alone) is a notice and a line in the program room naming the supporter and the
 *   person with their roles and the note;
 * - a program's moderators and owners write its risk plan.
 *
 * The lines are the session's own record (the SDK keeps no history of these
 * events), like renames. Anything the app opens by itself waits while the app is
 * locked and shows on unlock.
 */

import {
  type CrisisResource,
  type Event,
  type HearthClient,
  memberDisplay,
  type Room,
  type RoomId,
  type SupportRequest,
} from "@hearth/sdk";

import type { AddonLine } from "./addons.js";
import { buddyMember } from "./buddy.js";
import { crisisList } from "./crisis.js";
import { showDialog } from "./dialog.js";
import { describe, el, field } from "./dom.js";

const lines = new Map<RoomId, AddonLine[]>();

function who(room: Room, member: string): string {
  try {
    return memberDisplay(room.member(member));
  } catch {
    return "someone who left";
  }
}

function link(href: string, text: string): HTMLAnchorElement {
  const a = el("a", { text });
  a.href = href;
  if (href.startsWith("https:")) a.rel = "noopener noreferrer";
  return a;
}

/** One of the program's lines, as the crisis screen shows a line (`crisis.ts`). */
function programLine(resource: CrisisResource): HTMLLIElement {
  const regions = resource.regions.includes("*") ? "Everywhere" : `For: ${resource.regions.join(", ")}`;
  const item = el("li", {}, el("div", { text: resource.name, className: "name" }), el("div", { text: regions, className: "regions" }));
  if (resource.description) item.append(el("p", { text: resource.description }));
  const ways = el("div");
  if (resource.phone) ways.append(link(`tel:${resource.phone.replace(/\s+/g, "")}`, `Call ${resource.phone}`));
  if (resource.sms) ways.append(link(`sms:${resource.sms.replace(/\s+/g, "")}`, `Text ${resource.sms}`));
  if (resource.url && /^https?:\/\//.test(resource.url)) ways.append(link(resource.url, resource.url.replace(/^https?:\/\//, "")));
  if (ways.childNodes.length > 0) item.append(ways);
  if (resource.hours) item.append(el("div", { text: `Hours: ${resource.hours}`, className: "regions" }));
  return item;
}

function lineText(resource: CrisisResource): string {
  const contact = resource.phone ?? resource.sms ?? resource.url;
  return contact ? `${resource.name} (${contact})` : resource.name;
}

/** The timeline's words for a risk event (null for any other event). */
export function riskLineText(client: HearthClient, event: Event): string | null {
  if (event.type === "RiskHelpShown") {
    const chat = client.room(event.roomId);
    const shared = event.lines.map(lineText).join("; ") || "the lines built into your app";
    const words = event.text ? ` “${event.text}”` : "";
    return `${buddyMember(client, chat, event.by)} shared help for right now:${words} ${shared} (Help now: more)`;
  }
  if (event.type === "RiskAlertReceived") {
    const program = client.room(event.roomId);
    const note = event.note ? `: “${event.note}”` : "";
    return (
      `RISK ALERT from ${who(program, event.supporter)}, who fears ${who(program, event.member)} is at imminent risk${note}. ` +
      "They are in a private 1:1 chat together."
    );
  }
  if (event.type === "RiskPlanChanged") {
    return `${who(client.room(event.roomId), event.by)} published the program's risk plan`;
  }
  return null;
}

/** Keep a line for every risk event of any room, open or not. */
export function recordRiskEvent(client: HearthClient, event: Event): void {
  const text = riskLineText(client, event);
  if (text === null || !("roomId" in event)) return;
  const kept = lines.get(event.roomId) ?? [];
  kept.push({ at: Date.now(), text, className: event.type === "RiskAlertReceived" ? "risk-alert" : "risk-help" });
  lines.set(event.roomId, kept);
}

/** The risk lines of `room` this session saw. */
export function riskLines(room: RoomId): readonly AddonLine[] {
  return lines.get(room) ?? [];
}

/** The shared help over whatever is showing: the program's lines first, then this device's own. */
export async function showSharedHelp(client: HearthClient, event: Extract<Event, { type: "RiskHelpShown" }>): Promise<void> {
  const chat = client.room(event.roomId);
  const by = event.by === chat.me ? "You" : buddyMember(client, chat, event.by);
  // The focus starts on the first words, not on "Close help" at the end of a long
  // list, so the program's help is what shows first on a phone.
  const intro = el("p", { text: `${by} shared help for right now, in your 1:1 chat.`, className: "shared-intro" });
  intro.tabIndex = -1;
  const body: (Node | string)[] = [intro];
  if (event.text) body.push(el("p", { text: event.text, className: "rules program-words" }));
  if (event.lines.length > 0) {
    const programLines = el("ul", { className: "crisis program-lines" });
    programLines.setAttribute("aria-label", "The program's help lines");
    for (const resource of event.lines) programLines.append(programLine(resource));
    body.push(el("h3", { text: "The program's help lines" }), programLines);
  }
  const own = crisisList();
  own.setAttribute("aria-label", "Help lines on this device");
  body.push(el("h3", { text: "Help lines on this device" }), own);
  await showDialog({
    title: "Help for right now",
    body,
    cancelText: "Close help",
    focus: intro,
    className: "dialog crisis-dialog shared-help",
  });
}

/** The moderators' notice of an alert (the line in the program room stays after it closes). */
export async function showAlert(client: HearthClient, event: Extract<Event, { type: "RiskAlertReceived" }>, open: (room: Room) => void): Promise<void> {
  const program = client.room(event.roomId);
  const text = riskLineText(client, event) ?? "";
  // The focus starts on the words, not on a button: a key someone was typing when
  // it opened neither closes it unread nor acts.
  const words = el("p", { text, className: "risk-alert" });
  words.tabIndex = -1;
  const answer = await showDialog({
    title: "Risk alert",
    body: [words, `It is also a line in ${program.name || "the program room"}.`],
    actions: [{ text: `Open ${program.name || "the program room"}`, value: "open" }],
    cancelText: "Close",
    focus: words,
    className: "dialog risk-alert-dialog",
  });
  if (answer === "open") open(program);
}

/** How many of the program's owners and moderators an alert reaches (ourselves excluded). */
export function moderatorCount(program: Room): number {
  return program.membersInfo.filter((m) => !m.isMe && (m.role === "owner" || m.role === "moderator")).length;
}

/**
 * The supporter's action, said in full before it happens. Resolves with the note
 * (maybe empty) once they confirm, null if not.
 */
export async function riskDialog(program: Room, request: SupportRequest): Promise<string | null> {
  const person = who(program, request.requester);
  const moderators = moderatorCount(program);
  const shown =
    program.riskPlan !== null
      ? `${program.name || "the program"}'s help lines and its words for this moment`
      : "help lines (the program has published no plan, so each of you sees the lines built into your own app)";
  const note = el("textarea");
  note.name = "risk-note";
  note.rows = 3;
  // Enter in the note raises nothing: only the button does.
  note.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) event.preventDefault();
  });
  const answer = await showDialog({
    title: "Imminent risk",
    body: [
      `Do you believe ${person} is at imminent risk? This shows ${shown} to both of you in this chat now, and sends an alert with your note to the program's moderators (${moderators}). Only they can read the alert; the relay cannot.`,
      field("Your note for the moderators (optional)", note, "What makes you fear for them. Enter does not send; use the button."),
    ],
    actions: [{ text: "Show help and alert the moderators", value: "raise", className: "danger" }],
    focus: "cancel",
    className: "dialog risk-dialog",
  });
  return answer === "raise" ? note.value.trim() : null;
}

/** Raise the alert a `riskDialog` confirmed; what to tell the supporter. */
export async function raiseAlert(chat: Room, note: string): Promise<string> {
  try {
    const alert = await chat.raiseRiskAlert(note);
    const n = alert.moderators.length;
    return `The help is shown to both of you; ${n} ${n === 1 ? "moderator" : "moderators"} alerted. Stay with them in this chat.`;
  } catch (exc) {
    if ((exc as { code?: string }).code === "support.no_moderators") {
      return "The help lines are shown to both of you, but this program has no moderator to alert. Stay with them, and call the emergency number if their life is in danger now.";
    }
    return `The alert did not go out: ${describe(exc)}. Stay with them.`;
  }
}

const MAX_PLAN_LINES = 50;

/** Help lines as a moderator types them: `name | phone or https://… | GB, IE` (no regions: everywhere). */
export function parsePlanLines(text: string): CrisisResource[] {
  const out: CrisisResource[] = [];
  text.split("\n").forEach((row, index) => {
    if (row.trim() === "") return;
    const parts = row.split("|").map((part) => part.trim());
    if (parts.length > 3 || parts[0] === "") throw new RangeError(`line ${index + 1}: write it as “name | phone or web address | regions”`);
    const [name = "", contact = "", regions = ""] = parts;
    const codes = regions
      .replace(/;/g, ",")
      .split(",")
      .map((c) => c.trim().toUpperCase())
      .filter((c) => c !== "");
    for (const code of codes) if (!/^[A-Z]{2}$/.test(code)) throw new RangeError(`line ${index + 1}: “${code}” is not a two-letter region code`);
    const reach = contact === "" ? {} : /^https?:\/\//.test(contact) ? { url: contact } : { phone: contact };
    out.push({ name, regions: codes.length > 0 ? codes : ["*"], ...reach });
  });
  if (out.length > MAX_PLAN_LINES) throw new RangeError(`a plan holds at most ${MAX_PLAN_LINES} lines`);
  return out;
}

function formatPlanLines(resources: readonly CrisisResource[]): string {
  return resources
    .map((line) => {
      const regions = line.regions.includes("*") ? "" : line.regions.join(", ");
      return [line.name, line.phone ?? line.url ?? line.sms ?? "", regions].filter((part) => part !== "").join(" | ");
    })
    .join("\n");
}

/** A program's moderator or owner writes its path for a member at imminent risk. */
export async function riskPlanDialog(program: Room): Promise<boolean> {
  const plan = program.riskPlan;
  const text = el("textarea");
  text.name = "plan-text";
  text.rows = 4;
  text.value = plan?.text ?? "";
  const planLines = el("textarea");
  planLines.name = "plan-lines";
  planLines.rows = 4;
  planLines.spellcheck = false;
  planLines.value = formatPlanLines(plan?.lines ?? []);
  const said = el("p", { className: "status error" });
  said.setAttribute("role", "status");
  let close: (value: string | null) => void = () => {};
  const publish = el("button", { text: "Publish the plan", className: "primary" });
  publish.type = "button";
  publish.addEventListener("click", () => {
    let resources: CrisisResource[];
    try {
      resources = parsePlanLines(planLines.value);
    } catch (exc) {
      said.textContent = describe(exc);
      planLines.focus();
      return;
    }
    if (text.value.trim() === "" && resources.length === 0) {
      said.textContent = "Write what supporters do, or list at least one help line.";
      text.focus();
      return;
    }
    publish.disabled = true;
    said.textContent = "Publishing…";
    program.setRiskPlan(text.value.trim(), resources).then(
      () => close("published"),
      (exc: unknown) => {
        publish.disabled = false;
        said.textContent = `Not published: ${describe(exc)}`;
      },
    );
  });
  const answer = await showDialog({
    title: `Risk plan of ${program.name || "this program"}`,
    body: [
      "When a supporter fears someone is at imminent risk, both of them see these words and lines, beside the lines of each one's own app, and you moderators get an alert. Encrypted: only members read it.",
      field("What supporters do, and what the person can do", text),
      field("Help lines, one per line", planLines, "name | phone or web address | regions (two-letter codes, comma-separated; none: everywhere)"),
      publish,
      said,
    ],
    focus: text,
    opened: (finish) => {
      close = finish;
    },
  });
  return answer === "published";
}
