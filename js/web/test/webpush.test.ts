// Web Push end to end, with everything real but the browser's push service: the built
// app served by a relay (`hearth serve`, push on for a stand-in push service on
// loopback), a person in headless Chromium whose rooms subscribe through
// js/web/src/webpush.ts, and a Node client who writes while the person's app is
// closed. Chromium cannot reach a real push service here, so `PushManager.subscribe`
// is replaced in the page by one that hands out endpoints on the stand-in; the test
// then plays the push service: it checks what the relay sent (empty, signed with the
// key the page subscribed with) and delivers the push to that room's worker, which
// shows the notification that names nothing. Skips, saying so, without Chromium.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { HearthClient, Identity, MemoryBackend, cryptoReady } from "../../sdk/src/index.js";
import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";
import { NOTIFICATION_BODY, NOTIFICATION_TITLE } from "../src/notification.js";
import { type Received, fakePushService, standIn, verifiedClaims } from "./pushService.js";

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");

async function call<T>(page: Page, name: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(
    async ([n, a]) => {
      const api = (window as unknown as { __api: Record<string, (...x: unknown[]) => Promise<unknown>> }).__api;
      return api[n as string]!(...(a as unknown[]));
    },
    [name, args] as const,
  ) as Promise<T>;
}

describe.skipIf(!existsSync(CHROMIUM))("Web Push from a relay to a closed web app, one subscription per room", () => {
  const temp = mkdtempSync(join(tmpdir(), "hearth-web-push-"));
  const root = join(temp, "dist");
  let relay: RelayProcess;
  let context: BrowserContext;
  let service: Awaited<ReturnType<typeof standIn>>;
  let pageScript: Buffer;

  beforeAll(async () => {
    await cryptoReady();
    execFileSync(process.execPath, [join(web, "scripts", "build.mjs"), "--out", root], { stdio: "pipe" });
    // The test's page: on the relay's origin (where the app's sw.js is), but handed to
    // the browser by the test (below), since it is no file of the release.
    const page = await build({
      entryPoints: [join(web, "test", "browser", "pushPage.ts")],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      logLevel: "silent",
      plugins: [{ name: "sdk", setup: (b) => b.onResolve({ filter: /^@hearth\/sdk$/ }, () => ({ path: resolve(web, "..", "sdk", "src", "index.ts") })) }],
    });
    pageScript = Buffer.from(page.outputFiles[0]!.contents);
    service = await standIn();
    relay = await startRelay({
      env: {
        HEARTH_WEB_ROOT: root,
        HEARTH_PUSH_ALLOWLIST: "127.0.0.1",
        HEARTH_PUSH_ALLOW_PRIVATE: "true",
        HEARTH_PUSH_ALLOW_HTTP: "true",
        HEARTH_PUSH_DELAY: "0.2",
        HEARTH_PUSH_WINDOW: "3600",
        HEARTH_PUSH_CONTACT: "mailto:relay-admin@example.org",
      },
    });
    context = await chromium.launchPersistentContext(join(temp, "profile"), { executablePath: CHROMIUM, args: ["--no-sandbox"] });
    await context.grantPermissions(["notifications"], { origin: relay.url });
    await context.addInitScript(fakePushService, service.base);
    await context.route(`${relay.url}/push-test.html`, (route) =>
      route.fulfill({ contentType: "text/html", body: '<!doctype html><meta charset="utf-8"><title>t</title><script type="module" src="push-test.js"></script>' }),
    );
    await context.route(`${relay.url}/push-test.js`, (route) => route.fulfill({ contentType: "text/javascript", body: pageScript }));
  });
  afterAll(async () => {
    await context?.close();
    await relay?.dispose();
    service?.server.close();
    rmSync(temp, { recursive: true, force: true });
  });

  it("subscribes each room apart, and a message while the app is closed wakes only that room's worker, naming nothing", async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${relay.url}/push-test.html`);
    await page.waitForFunction(() => (window as unknown as { __api?: unknown }).__api !== undefined);
    await call(page, "open", relay.url);
    const first = await call<{ room: string; link: string }>(page, "createGroup", "Evening circle");
    const second = await call<{ room: string; link: string }>(page, "createGroup", "Another room");
    const rooms = await call<{ room: string; scope: string; endpoint: string }[]>(page, "enable");

    // One browser registration and one endpoint per room, under scopes that name no room.
    expect(rooms.map((r) => r.room).sort()).toEqual([first.room, second.room].sort());
    expect(new Set(rooms.map((r) => r.scope)).size).toBe(2);
    expect(new Set(rooms.map((r) => r.endpoint)).size).toBe(2);
    for (const { scope } of rooms) {
      expect(scope).toMatch(new RegExp(`^${relay.url}/push/[A-Za-z0-9_-]{22}/$`));
      for (const id of [first.room, second.room]) expect(scope).not.toContain(id);
    }
    // Each was subscribed with the key the relay publishes, visible only to the user.
    const published = (await (await fetch(`${relay.url}/v1/push/vapid`)).json()) as { key: string };
    const key = Buffer.from(published.key, "base64url");
    const subscribedWith = await page.evaluate(() => (window as unknown as { __subscribedWith: string[] }).__subscribedWith);
    expect(subscribedWith).toEqual([key.toString("base64"), key.toString("base64")]);
    // The rooms' workers keep nothing: the only cache is the app's own shell, if any.
    const kept: string[] = await page.evaluate(() => caches.keys());
    expect(kept.every((name) => name.startsWith("hearth-shell-"))).toBe(true);

    await call(page, "close"); // the app is closed: no stream, so the relay pushes
    const node = await HearthClient.open({ relay: relay.url, identity: Identity.generate(), store: new MemoryBackend(), webSocket: WebSocket });
    try {
      const joined = await node.join(first.link);
      const target = rooms.find((r) => r.room === first.room)!;
      const path = new URL(target.endpoint).pathname;
      // The relay learns of the closed stream a moment after it closed: write until it pushes.
      let push: Received | null = null;
      for (let attempt = 0; attempt < 10 && push === null; attempt++) {
        await joined.send(`how was your evening? (${attempt})`);
        push = await service.next(path, 2000);
      }
      expect(push, `what the push service got: ${JSON.stringify(service.received.map((r) => r.path))}`).not.toBeNull();
      expect([push!.method, push!.body]).toEqual(["POST", ""]);
      const claims = verifiedClaims(String(push!.headers["authorization"]), key);
      expect(claims.aud).toBe(service.base);
      expect(claims.sub).toBe("mailto:relay-admin@example.org");
      const seen = JSON.stringify(push!.headers) + JSON.stringify(claims);
      for (const secret of [first.room, second.room, joined.me, "evening"]) expect(seen).not.toContain(secret);
      // Nothing for the room where nothing happened.
      const other = rooms.find((r) => r.room === second.room)!;
      expect(service.received.filter((r) => r.path === new URL(other.endpoint).pathname)).toEqual([]);

      // The push service delivers it: that room's worker shows the neutral notification.
      const cdp = await context.newCDPSession(page);
      const registrations: { registrationId: string; scopeURL: string }[] = [];
      cdp.on("ServiceWorker.workerRegistrationUpdated", (event: { registrations: { registrationId: string; scopeURL: string }[] }) => {
        registrations.push(...event.registrations);
      });
      await cdp.send("ServiceWorker.enable");
      await expect.poll(() => registrations.find((r) => r.scopeURL === target.scope), { timeout: 20_000 }).toBeDefined();
      const { registrationId } = registrations.find((r) => r.scopeURL === target.scope)!;
      await cdp.send("ServiceWorker.deliverPushMessage", { origin: relay.url, registrationId, data: push!.body });
      const shown = () =>
        page.evaluate(async (scope) => {
          const registration = await navigator.serviceWorker.getRegistration(scope);
          return (await registration!.getNotifications()).map((n) => [n.title, n.body]);
        }, target.scope);
      await expect.poll(shown, { timeout: 20_000 }).toEqual([[NOTIFICATION_TITLE, NOTIFICATION_BODY]]);
      await cdp.detach();
    } finally {
      await node.close();
    }
  });
});
