/**
 * The web app's first screen: crisis help, before any sign-in and with no network,
 * then what this copy says it is (docs/security.md, "The web app").
 *
 * Everything on it is built with DOM calls and `textContent` (no `innerHTML`, no
 * inline script or style), so the page runs under `script-src 'self'; style-src
 * 'self'`. The crisis lines are the SDK's built-in ones (`DEFAULT_CRISIS_RESOURCES`,
 * the emergency advice first): they are in this file's bundle, so they show even when
 * nothing else can be fetched.
 */

import { DEFAULT_CRISIS_RESOURCES, EMERGENCY_ADVICE, type CrisisResource } from "@hearth/sdk";
import "./pwa.js";

/** Set by scripts/build.mjs from package.json (so it is part of the hashed bundle). */
declare const __HEARTH_WEB_VERSION__: string;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

function link(href: string, text: string): HTMLAnchorElement {
  const a = el("a", text);
  a.href = href;
  if (href.startsWith("https:")) a.rel = "noopener noreferrer";
  return a;
}

function regionsText(regions: readonly string[]): string {
  return regions.includes("*") ? "Everywhere" : `For: ${regions.join(", ")}`;
}

function crisisItem(resource: CrisisResource): HTMLLIElement {
  const item = el("li", undefined, resource === EMERGENCY_ADVICE ? "emergency" : undefined);
  item.append(el("div", resource.name, "name"), el("div", regionsText(resource.regions), "regions"));
  if (resource.description) item.append(el("p", resource.description));
  const ways = el("div");
  if (resource.phone) ways.append(link(`tel:${resource.phone.replace(/\s+/g, "")}`, `Call ${resource.phone}`));
  if (resource.sms) ways.append(link(`sms:${resource.sms.replace(/\s+/g, "")}`, `Text ${resource.sms}`));
  if (resource.url) ways.append(link(resource.url, resource.url.replace(/^https:\/\//, "")));
  if (ways.childNodes.length > 0) item.append(ways);
  if (resource.hours) item.append(el("div", `Hours: ${resource.hours}`, "regions"));
  return item;
}

function crisisSection(): HTMLElement {
  const section = el("section");
  section.setAttribute("aria-labelledby", "help");
  const heading = el("h2", "If you need help now");
  heading.id = "help";
  const list = el("ul", undefined, "crisis");
  for (const resource of DEFAULT_CRISIS_RESOURCES) list.append(crisisItem(resource));
  section.append(heading, list);
  return section;
}

/** The release hash as release.json (same origin) lists it, or null when it cannot be read. */
async function releaseHash(): Promise<string | null> {
  try {
    const response = await fetch("release.json", { cache: "no-store", credentials: "omit" });
    if (!response.ok) return null;
    const release: unknown = await response.json();
    const hash = (release as { release?: unknown }).release;
    return typeof hash === "string" && /^[0-9a-f]{64}$/.test(hash) ? hash : null;
  } catch {
    return null;
  }
}

function aboutSection(): { section: HTMLElement; hash: HTMLElement } {
  const section = el("section", undefined, "about");
  section.append(el("h2", "About this app"));
  const line = el("p", `Hearth web app, version ${__HEARTH_WEB_VERSION__}. Release hash: `);
  const hash = el("code", "not known (release.json could not be read)");
  line.append(hash);
  section.append(
    line,
    el(
      "p",
      "This hash is for comparing notes and bug reports, not a guarantee: a changed copy can show any hash it likes. " +
        "To know whether this address serves the published release, run `hearth web-check` against it from another network.",
    ),
  );
  return { section, hash };
}

function start(): void {
  const root = document.getElementById("app") ?? document.body;
  root.append(crisisSection());
  const about = aboutSection();
  root.append(about.section);
  void releaseHash().then((hash) => {
    if (hash !== null) about.hash.textContent = hash;
  });
}

start();
