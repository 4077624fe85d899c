/**
 * Crisis help: the lines, the emergency advice first, shown before anything else
 * on a first run, and one button ("Help now", always on screen) or one key (F1)
 * away from every screen, the lock screen included (docs/front-ends.md, "Crisis help").
 *
 * The lines are the SDK's built-in ones (`DEFAULT_CRISIS_RESOURCES`): they are in
 * the app's own bundle, so they show with no network and before any sign-in.
 */

import { DEFAULT_CRISIS_RESOURCES, EMERGENCY_ADVICE, type CrisisResource } from "@hearth/sdk";

import { showDialog } from "./dialog.js";
import { el } from "./dom.js";

function link(href: string, text: string): HTMLAnchorElement {
  const a = el("a", { text });
  a.href = href;
  if (href.startsWith("https:")) a.rel = "noopener noreferrer";
  return a;
}

function regionsText(regions: readonly string[]): string {
  return regions.includes("*") ? "Everywhere" : `For: ${regions.join(", ")}`;
}

function crisisItem(resource: CrisisResource): HTMLLIElement {
  const item = el("li", resource === EMERGENCY_ADVICE ? { className: "emergency" } : {});
  item.append(el("div", { text: resource.name, className: "name" }), el("div", { text: regionsText(resource.regions), className: "regions" }));
  if (resource.description) item.append(el("p", { text: resource.description }));
  const ways = el("div");
  if (resource.phone) ways.append(link(`tel:${resource.phone.replace(/\s+/g, "")}`, `Call ${resource.phone}`));
  if (resource.sms) ways.append(link(`sms:${resource.sms.replace(/\s+/g, "")}`, `Text ${resource.sms}`));
  if (resource.url) ways.append(link(resource.url, resource.url.replace(/^https:\/\//, "")));
  if (ways.childNodes.length > 0) item.append(ways);
  if (resource.hours) item.append(el("div", { text: `Hours: ${resource.hours}`, className: "regions" }));
  return item;
}

/** The list of lines, the emergency advice first. */
export function crisisList(): HTMLUListElement {
  const list = el("ul", { className: "crisis" });
  for (const resource of DEFAULT_CRISIS_RESOURCES) list.append(crisisItem(resource));
  return list;
}

/** The first screen's section: the heading and the whole list. */
export function crisisSection(): HTMLElement {
  const section = el("section", { className: "help-first" });
  const heading = el("h2", { text: "If you need help now", id: "help" });
  section.setAttribute("aria-labelledby", "help");
  section.append(heading, crisisList());
  return section;
}

let showing = false;

/** Open the crisis lines over whatever is showing; closing returns to it. */
export async function showCrisisHelp(): Promise<void> {
  if (showing) return;
  showing = true;
  try {
    await showDialog({
      title: "If you need help now",
      body: [crisisList()],
      cancelText: "Close help",
      focus: "cancel",
      restoreFocus: true,
      className: "dialog crisis-dialog",
    });
  } finally {
    showing = false;
  }
}

/** The "Help now" button that every screen carries. */
export function helpButton(): HTMLButtonElement {
  const node = el("button", { text: "Help now", className: "help-button" });
  node.type = "button";
  node.setAttribute("aria-keyshortcuts", "F1");
  node.addEventListener("click", () => void showCrisisHelp());
  return node;
}

/** F1 opens help from anywhere. */
export function installHelpKey(): void {
  document.addEventListener("keydown", (event) => {
    if (event.key === "F1") {
      event.preventDefault();
      void showCrisisHelp();
    }
  });
}
