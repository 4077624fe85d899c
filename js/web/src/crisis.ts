/**
 * Crisis help: the lines, the emergency advice first, shown before anything else
 * on a first run, and one button ("Help now", always on screen) or one key (F1)
 * away from every screen, the lock screen included (docs/front-ends.md, "Crisis help").
 *
 * The SDK's built-in lines (`DEFAULT_CRISIS_RESOURCES`) are in the app's own bundle,
 * so they show with no network and before any sign-in. The relay's whole list is
 * fetched without identity (`fetchCrisisDirectory`: no sign-in, no region sent) and
 * kept on the device (`keyValueCrisisCache(localStorage)`: it is public), so later
 * visits show it before unlocking and offline; when it cannot be fetched, the help
 * says so. The region is chosen on the device and filters there
 * (`CrisisDirectory.forRegion`, lines for everywhere always stay); it is kept in
 * the SDK's encrypted store (`setCrisisRegion`) once a session is open, never in
 * the clear.
 */

import {
  type CrisisResource,
  CrisisDirectory,
  EMERGENCY_ADVICE,
  fetchCrisisDirectory,
  keyValueCrisisCache,
} from "@hearth/sdk";

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
  const item = el("li", resource.name === EMERGENCY_ADVICE.name ? { className: "emergency" } : {});
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

let directory = new CrisisDirectory();
let source = "These are the lines built into the app.";
let region: string | null = null;
let keepRegion: ((region: string | null) => Promise<void>) | null = null;
const lists = new Set<HTMLUListElement>();

/** The emergency advice first, then the directory's order (the relay's lines, then the built-in ones). */
function fill(list: HTMLUListElement): void {
  const lines = directory.forRegion(region);
  const advice = lines.filter((r) => r.name === EMERGENCY_ADVICE.name);
  list.replaceChildren(...[...advice, ...lines.filter((r) => r.name !== EMERGENCY_ADVICE.name)].map(crisisItem));
}

function refill(): void {
  for (const list of [...lists]) {
    if (list.isConnected || list.closest("main") !== null) fill(list);
    else lists.delete(list);
  }
}

/**
 * Show the relay's list: first the copy kept from an earlier visit, then a fresh
 * fetch (kept for next time). Never fails: the built-in lines stay, and the help says
 * where its lines come from.
 */
export async function loadCrisisDirectory(relay: string): Promise<void> {
  let cache;
  try {
    cache = keyValueCrisisCache(localStorage);
  } catch {
    cache = undefined; // storage refused: fetch only
  }
  if (cache !== undefined) {
    const kept = await CrisisDirectory.load(cache, { relayUrl: relay });
    if (kept.fetchedAt !== null) {
      directory = kept;
      source = `Lines from your relay (kept from ${new Date(kept.fetchedAt * 1000).toLocaleDateString()}) and built into the app.`;
      refill();
    }
  }
  try {
    directory = await fetchCrisisDirectory(relay, { timeout: 10, ...(cache !== undefined ? { cache } : {}) });
    source =
      directory.relayResources.length > 0
        ? "Lines from your relay and built into the app."
        : "Your relay lists no lines of its own: these are the lines built into the app.";
  } catch {
    if (directory.fetchedAt === null) source = "Your relay's list could not be fetched: these are the lines built into the app.";
  }
  refill();
}

/**
 * The first line listed for the chosen region, in a few words ("Samaritans: call
 * 116 123 (24/7)"), as the terminal app's `first_line`: with a region its own lines
 * come first, with none the lines for everywhere; the emergency advice is not a line.
 */
export function firstListedLine(): string {
  const lines = directory.forRegion(region).filter((r) => r.name !== EMERGENCY_ADVICE.name);
  const later = (r: CrisisResource) => r.regions.includes("*") === (region !== null);
  for (const resource of [...lines.filter((r) => !later(r)), ...lines.filter(later)]) {
    const contact = resource.phone ? `call ${resource.phone}` : resource.sms ? `text ${resource.sms}` : resource.url;
    if (contact) return `${resource.name}: ${contact}${resource.hours ? ` (${resource.hours})` : ""}`;
  }
  return "Call your local emergency number";
}

/** Where the chosen region is kept once a session is open (the SDK's encrypted store). */
export function useRegionStore(current: string | null, keep: (region: string | null) => Promise<void>): void {
  region = current;
  keepRegion = keep;
  refill();
}

/** The list of lines for the chosen region, the emergency advice first; it follows changes. */
export function crisisList(): HTMLUListElement {
  const list = el("ul", { className: "crisis" });
  fill(list);
  lists.add(list);
  return list;
}

function regionPicker(): HTMLElement {
  const select = el("select");
  select.name = "crisis-region";
  const every = el("option", { text: "Every region" });
  every.value = "";
  select.append(every);
  for (const code of directory.regions) {
    const option = el("option", { text: code });
    option.value = code;
    option.selected = code === region;
    select.append(option);
  }
  select.addEventListener("change", () => {
    region = select.value === "" ? null : select.value;
    refill();
    void keepRegion?.(region).catch(() => {});
  });
  const label = el("label", { text: "Show lines for" });
  select.id = "crisis-region";
  label.htmlFor = select.id;
  return el("div", { className: "field" }, label, select, el("p", { className: "hint", text: "Chosen on this device; it is never sent." }));
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
      body: [el("p", { className: "hint", text: source }), regionPicker(), crisisList()],
      cancelText: "Close help",
      focus: "cancel",
      restoreFocus: true,
      className: "dialog crisis-dialog",
      helpButton: false,
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
