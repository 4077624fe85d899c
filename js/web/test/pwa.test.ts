// The built app as an installed web app, served by a real relay (`hearth serve` with
// HEARTH_WEB_ROOT) to headless Chromium: the service worker registers and keeps
// exactly the release's files and nothing else; with the network gone a reload still
// shows the crisis help; Chromium finds the manifest installable; and a push shows a
// notification that names nothing, whatever the push carries. Skips, saying so,
// without Chromium.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";
import { NOTIFICATION_BODY, NOTIFICATION_TAG, NOTIFICATION_TITLE } from "../src/notification.js";

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Release {
  version: string;
  files: Record<string, string>;
  release: string;
}

/** The page's service worker once it controls the page (claimed on activation). */
async function controlled(page: Page): Promise<string> {
  return page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (navigator.serviceWorker.controller === null) {
      await new Promise((done) => navigator.serviceWorker.addEventListener("controllerchange", done, { once: true }));
    }
    return navigator.serviceWorker.controller!.scriptURL;
  });
}

/** Every cache the origin holds, with the paths of what each keeps. */
function cached(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(async () => {
    const out: Record<string, string[]> = {};
    for (const name of await caches.keys()) {
      const requests = await (await caches.open(name)).keys();
      out[name] = requests.map((r) => new URL(r.url).pathname).sort();
    }
    return out;
  });
}

describe.skipIf(!existsSync(CHROMIUM))("the web app installed, offline, and woken by a push", () => {
  const temp = mkdtempSync(join(tmpdir(), "hearth-web-pwa-"));
  const out = join(temp, "dist");
  execFileSync(process.execPath, [join(web, "scripts", "build.mjs"), "--out", out], { stdio: "pipe" });
  const release = JSON.parse(readFileSync(join(out, "release.json"), "utf8")) as Release;
  let relay: RelayProcess;
  let context: BrowserContext;
  let page: Page;
  let url: string;
  const problems: string[] = [];

  beforeAll(async () => {
    relay = await startRelay({ env: { HEARTH_WEB_ROOT: out } });
    url = `${relay.url}/`;
    // A profile of its own, as a person's browser has (Chromium installs nothing
    // from an incognito context).
    context = await chromium.launchPersistentContext(join(temp, "profile"), { executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => problems.push(String(e)));
    page.on("console", (m) => {
      // The requests the tests make on purpose fail loudly (offline, a 404); the rest
      // (a content security policy violation above all) must not happen.
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
    });
    await page.goto(url);
  });
  afterAll(async () => {
    await context?.close();
    await relay?.dispose();
    rmSync(temp, { recursive: true, force: true });
  });

  it("registers its service worker, which keeps exactly the release's files and nothing else", async () => {
    expect(await controlled(page)).toBe(`${url}sw.js`);
    const shell = Object.keys(release.files)
      .filter((name) => name !== "sw.js")
      .map((name) => `/${name}`)
      .sort();
    const before = await cached(page);
    expect(Object.values(before)).toEqual([shell]);
    expect(Object.keys(before)[0]).toMatch(/^hearth-shell-[0-9a-f]{32}$/);
    // Answers that are not the app's own files go to the network and are never kept:
    // the relay's API (with or without a session), release.json, an unknown path.
    const statuses = await page.evaluate(async () => {
      const answers = await Promise.all([
        fetch("/v1/crisis"),
        fetch("/v1/sync", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }),
        fetch("release.json"),
        fetch("app.js?v=2"),
        fetch("nothing-here"),
      ]);
      return answers.map((a) => a.status);
    });
    expect([statuses[0], statuses[2], statuses[3], statuses[4]]).toEqual([200, 200, 200, 404]);
    expect(statuses[1]).toBeGreaterThanOrEqual(400); // the relay's typed refusal, passed on
    expect(await cached(page)).toEqual(before);
  });

  it("reloads with the network gone and still shows the crisis help", async () => {
    await controlled(page);
    await context.setOffline(true);
    try {
      for (const target of [url, `${url}?join=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`]) {
        await page.goto(target);
        await page.waitForSelector(".crisis li");
        const names = await page.locator(".crisis .name").allTextContents();
        expect(names[0]).toBe("Emergency services");
        expect(await page.locator(".crisis li").first().textContent()).toContain("112");
        expect(await page.locator(".about").textContent()).toContain(`version ${release.version}`);
      }
      // Nothing but the shell is served offline: the relay's API is simply unreachable.
      expect(await page.evaluate(() => fetch("/v1/crisis").then(() => "answered", () => "failed"))).toBe("failed");
    } finally {
      await context.setOffline(false);
    }
  });

  it("has a manifest Chromium finds installable", async () => {
    await page.goto(url);
    await controlled(page);
    const cdp = await context.newCDPSession(page);
    const manifest = (await cdp.send("Page.getAppManifest")) as { url: string; errors: unknown[]; data?: string };
    expect(manifest.url).toBe(`${url}manifest.webmanifest`);
    expect(manifest.errors).toEqual([]);
    const data = JSON.parse(manifest.data ?? "{}") as { name: string; display: string; start_url: string; icons: { src: string; type: string; sizes: string }[] };
    expect([data.name, data.display, data.start_url]).toEqual(["Hearth", "standalone", "./"]);
    for (const icon of data.icons) {
      const answer = await page.evaluate(async (src) => {
        const r = await fetch(src);
        return [r.status, r.headers.get("content-type")];
      }, icon.src);
      expect(answer).toEqual([200, icon.type]);
    }
    expect(data.icons.map((i) => i.sizes)).toEqual(expect.arrayContaining(["192x192", "512x512"]));
    const { installabilityErrors } = (await cdp.send("Page.getInstallabilityErrors")) as { installabilityErrors: unknown[] };
    expect(installabilityErrors).toEqual([]);
    await cdp.detach();
  });

  it("shows a notification that names nothing when a push arrives, whatever the push holds", async () => {
    await page.goto(url);
    await controlled(page);
    await context.grantPermissions(["notifications"], { origin: relay.url });
    const cdp = await context.newCDPSession(page);
    const registrations: { registrationId: string; scopeURL: string }[] = [];
    cdp.on("ServiceWorker.workerRegistrationUpdated", (event: { registrations: { registrationId: string; scopeURL: string }[] }) => {
      registrations.push(...event.registrations);
    });
    await cdp.send("ServiceWorker.enable");
    await expect.poll(() => registrations.find((r) => r.scopeURL === url), { timeout: 20_000 }).toBeDefined();
    const { registrationId } = registrations.find((r) => r.scopeURL === url)!;
    // An attacker who could get data into a push (the relay never sends any) still
    // gets nothing of it on screen: the worker never reads a push's data.
    const secret = "Anxiety circle: bob wrote 'I relapsed'";
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: relay.url, registrationId, data: secret });
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: relay.url, registrationId, data: "" });
    const shown = async () =>
      page.evaluate(async () => {
        const registration = await navigator.serviceWorker.ready;
        return (await registration.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data as unknown }));
      });
    await expect.poll(shown, { timeout: 20_000 }).toHaveLength(1); // two pushes, one notification (one tag)
    const [notification] = await shown();
    expect(notification).toEqual({ title: NOTIFICATION_TITLE, body: NOTIFICATION_BODY, tag: NOTIFICATION_TAG, data: null });
    for (const word of ["Anxiety", "circle", "bob", "relapsed", "room", "message", "Hearth"]) {
      expect(`${notification!.title} ${notification!.body}`.toLowerCase()).not.toContain(word.toLowerCase());
    }
    await cdp.detach();
    expect(problems).toEqual([]);
  });

  it("refuses to install a shell whose files are not the release's", async () => {
    // A copy whose app.css lost one byte's worth of truth (a half-deployed release, or
    // a tampered host): the worker fetches it, compares it with the hash it carries,
    // and does not install, so nothing of that copy is kept for offline use.
    const tampered = join(temp, "tampered");
    cpSync(out, tampered, { recursive: true });
    const css = readFileSync(join(tampered, "app.css"));
    css[0] = css[0]! ^ 1;
    writeFileSync(join(tampered, "app.css"), css);
    const other = await startRelay({ env: { HEARTH_WEB_ROOT: tampered } });
    const second = await context.newPage();
    try {
      await second.goto(`${other.url}/`);
      await second.waitForSelector(".crisis li"); // the page itself still works online
      const outcome = await second.evaluate(async () => {
        // Register as the page does (again, if its own attempt already ended).
        const registration = await navigator.serviceWorker.register("sw.js", { scope: "./" });
        const worker = registration.installing ?? registration.waiting ?? registration.active;
        if (worker === null) return "none";
        if (worker.state !== "redundant" && worker.state !== "activated") {
          await new Promise<void>((done) => worker.addEventListener("statechange", () => (worker.state === "redundant" || worker.state === "activated") && done()));
        }
        return worker.state;
      });
      expect(outcome).toBe("redundant");
      expect(await cached(second)).toEqual({});
      expect(await second.evaluate(() => navigator.serviceWorker.controller)).toBeNull();
    } finally {
      await second.close();
      await other.dispose();
    }
  });
});
