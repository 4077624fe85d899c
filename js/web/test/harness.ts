/**
 * The web app's browser tests' harness: the app built fresh from js/web/src, served
 * by the real relay itself at `/` (`HEARTH_WEB_ROOT`), so the page and the relay are
 * one origin exactly as in production; headless Chromium (`/usr/bin/chromium`, or
 * `HEARTH_CHROMIUM`) driven by playwright-core; and the steps a person takes, as
 * the person takes them (labels, buttons, keys), waiting on what the page shows,
 * never on a fixed delay.
 *
 * Every page fails its test on a page error or a content security policy
 * violation (`securitypolicyviolation` events, collected in the page).
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";

import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";

export const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping the web app's browser tests: no Chromium at ${CHROMIUM} (set HEARTH_CHROMIUM)`);

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require_ = (path: string) => readFileSync(path, "utf8");

/** The axe-core source, injected into a page for an accessibility check. */
export const AXE_SOURCE = require_(join(web, "..", "node_modules", "axe-core", "axe.min.js"));

/** The jsQR source, injected into a page to read back a QR code the app drew. */
const JSQR_SOURCE = require_(join(web, "..", "node_modules", "jsqr", "dist", "jsQR.js"));

/**
 * Read the QR code the app drew in `svg.qr`: its squares (the path's `M{x} {y}h1v1h-1z`)
 * painted on a canvas at 8 pixels a module, then decoded by jsQR. Returns the text.
 */
export async function readQr(page: Page): Promise<string | null> {
  await page.evaluate(JSQR_SOURCE);
  return page.evaluate(() => {
    const svg = document.querySelector("svg.qr")!;
    const size = Number(svg.getAttribute("viewBox")!.split(" ")[2]);
    const scale = 8;
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = size * scale;
    const g = canvas.getContext("2d")!;
    g.fillStyle = "#fff";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = "#000";
    for (const m of svg.querySelector("path")!.getAttribute("d")!.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) {
      g.fillRect(Number(m[1]) * scale, Number(m[2]) * scale, scale, scale);
    }
    const image = g.getImageData(0, 0, canvas.width, canvas.height);
    const jsQR = (window as unknown as { jsQR: (d: Uint8ClampedArray, w: number, h: number) => { data: string } | null }).jsQR;
    return jsQR(image.data, image.width, image.height)?.data ?? null;
  });
}

/** Build the app into a temporary directory; returns it and a cleanup. */
export function buildApp(): { dist: string; dispose: () => void } {
  const temp = mkdtempSync(join(tmpdir(), "hearth-web-app-"));
  const dist = join(temp, "dist");
  execFileSync(process.execPath, [join(web, "scripts", "build.mjs"), "--out", dist], { stdio: "pipe" });
  return { dist, dispose: () => rmSync(temp, { recursive: true, force: true }) };
}

/** A relay that serves `dist` at `/`. */
export async function appRelay(dist: string): Promise<RelayProcess> {
  const relay = await startRelay({ env: { HEARTH_WEB_ROOT: dist } });
  const page = await fetch(relay.url + "/");
  const text = await page.text();
  if (!text.includes('src="app.js"')) throw new Error(`the relay does not serve the app at /:\n${text.slice(0, 300)}`);
  return relay;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/**
 * A suite's app, relay and browser: the app built fresh, the relay serving it and
 * Chromium launched before the suite's tests (a minute allowed, on a machine running
 * other suites), all disposed after. `started` hands them to the suite's variables.
 */
export function useApp(started: (app: { relay: RelayProcess; browser: Browser; dist: string }) => void): void {
  let built: ReturnType<typeof buildApp> | undefined;
  let relay: RelayProcess | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    built = buildApp();
    relay = await appRelay(built.dist);
    browser = await launch();
    started({ relay, browser, dist: built.dist });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
    built?.dispose();
  });
}

/** One person: a browser context of their own (their own IndexedDB), and a page. */
export interface Person {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Page errors and CSP violations seen so far. */
  readonly problems: string[];
}

export async function person(browser: Browser, options: { bypassCSP?: boolean; clipboard?: string } = {}): Promise<Person> {
  const context = await browser.newContext({
    viewport: { width: 360, height: 640 },
    ...(options.bypassCSP ? { bypassCSP: true } : {}),
  });
  if (options.clipboard !== undefined) {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: options.clipboard });
  }
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${String(e)}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      const w = window as unknown as { __csp?: string[] };
      (w.__csp ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { context, page, problems };
}

/** Fail on any page error or CSP violation the page met. */
export async function expectClean(p: Person): Promise<void> {
  const csp = await p.page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
  expect([...p.problems, ...csp]).toEqual([]);
}

export const PASSPHRASE = "correct horse battery staple river";

/** First run: help first, then a passphrase (twice), then the recovery phrase kept. Returns the phrase. */
export async function onboard(page: Page, passphrase = PASSPHRASE): Promise<string> {
  await page.getByRole("button", { name: "Start: choose a passphrase" }).click();
  await page.getByLabel("Passphrase", { exact: true }).fill(passphrase);
  await page.getByLabel("The same passphrase again").fill(passphrase);
  await page.getByRole("button", { name: "Save and continue" }).click();
  const phrase = (await page.locator("#recovery-phrase").textContent({ timeout: 60_000 })) ?? "";
  expect(phrase).toMatch(/^[A-Z0-9]{4}(-[A-Z0-9]{4}){13}$/);
  await page.getByLabel("I have written it down").check();
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
  return phrase;
}

/** Create a group with ground rules from the rooms screen; the room opens. */
export async function createGroup(page: Page, name: string, rules = "Be kind."): Promise<void> {
  await page.getByLabel("Group name").fill(name);
  await page.getByLabel("Ground rules").fill(rules);
  await page.getByRole("button", { name: "Create group" }).click();
  await page.locator("#room-title", { hasText: name }).waitFor({ timeout: 60_000 });
}

/** Write and send a message in the open room (accepting the rules if asked). */
export async function send(page: Page, text: string): Promise<void> {
  const composer = page.locator("textarea.composer");
  await composer.fill(text);
  await composer.press("Enter");
  const rules = page.getByRole("button", { name: "Accept rules" });
  const sent = page.locator(".timeline .message .text", { hasText: text });
  await Promise.race([rules.waitFor({ timeout: 60_000 }).then(() => rules.click()), sent.first().waitFor({ timeout: 60_000 })]);
  await sent.first().waitFor({ timeout: 60_000 });
}

/** Choose one's own name in the open room. */
export async function setName(page: Page, name: string): Promise<void> {
  await page.getByRole("button", { name: "My name here" }).click();
  await page.getByLabel("Your name in this room").fill(name);
  await page.getByRole("button", { name: "Save name" }).click();
  await page.getByLabel("Your name in this room").waitFor({ state: "detached" });
}

/** Make an invite in the open room and read the whole link from the dialog. */
export async function invite(page: Page, role = "member"): Promise<string> {
  await page.getByRole("button", { name: "Invite" }).click();
  await page.getByLabel("The role it grants").selectOption(role);
  await page.getByRole("button", { name: "Make the link" }).click();
  const link = (await page.locator("#invite-link").textContent({ timeout: 60_000 })) ?? "";
  return link;
}

/** Run axe-core on the page as it is; returns the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  type Result = { passes: unknown[]; violations: { id: string; impact: string; nodes: { target: string[] }[] }[] };
  const result = (await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<unknown> } }).axe;
    return axe.run(document, { resultTypes: ["violations"] });
  })) as Result;
  if (result.passes.length === 0) throw new Error("axe-core checked nothing on this page");
  const all = result.violations.map((v) => `${v.id} (${v.impact})`);
  if (all.length > 0) console.log(`axe, every impact, at ${page.url()}: ${all.join(", ")}`);
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
