// The rooms screen's "Notifications" choice, end to end: the built app served by a
// real relay (push on for the stand-in push service of pushService.ts, whose
// `PushManager` the page uses since Chromium cannot reach a real one here), a person
// in headless Chromium with the notification permission granted, and a Python SDK
// peer. Checking the box registers the room; the peer writes while the person's page
// is closed, and the stand-in gets an empty VAPID-signed POST for that room; the
// choice is kept on reload (the box checked, the room registered again), and
// unchecking drops the browser's push registrations. A person whose browser blocks
// notifications is told so, and so is one whose relay sends no push. axe-core
// checks the rooms screen with the section.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";
import { appRelay, buildApp, createGroup, expectClean, haveChromium, invite, launch, onboard, PASSPHRASE, person, seriousViolations } from "./harness.js";
import { type Received, fakePushService, standIn, verifiedClaims } from "./pushService.js";

const WAIT = { timeout: 60_000 };
const LABEL = "Tell me when something new arrives (the notification names no room, person or words)";

const PEER = `
import asyncio, tempfile
from pathlib import Path
from client_sdk import HearthClient, Identity

async def main():
    with tempfile.TemporaryDirectory(prefix="hearth-web-peer-") as tmp:
        async with HearthClient(data["relay"], Identity.generate(), store_path=Path(tmp) / "p.db") as client:
            room = await client.join(sys.stdin.readline().strip())
            await room.accept_rules()
            print(json.dumps({"joined": True}), flush=True)
            loop = asyncio.get_running_loop()
            while True:
                line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
                if line in ("", "quit"):
                    break
                await room.send(line)
                print(json.dumps({"sent": line}), flush=True)

asyncio.run(main())
`;

/** The app opened again: the saved identity opens with the passphrase. */
async function unlock(page: Page): Promise<void> {
  await page.getByLabel("Passphrase").fill(PASSPHRASE);
  await page.getByRole("button", { name: "Open" }).click();
  await page.getByRole("heading", { name: "Your rooms" }).waitFor(WAIT);
}

/** The page's push registrations: scope and (stand-in) endpoint. */
function pushRegistrations(page: Page): Promise<{ scope: string; endpoint: string | null }[]> {
  return page.evaluate(async () => {
    const all = await navigator.serviceWorker.getRegistrations();
    const push = all.filter((r) => new URL(r.scope).pathname.startsWith("/push/"));
    return Promise.all(push.map(async (r) => ({ scope: r.scope, endpoint: (await r.pushManager.getSubscription())?.endpoint ?? null })));
  });
}

describe.skipIf(!haveChromium)("notifications in the web app", () => {
  let built: ReturnType<typeof buildApp>;
  let relay: RelayProcess;
  let browser: Browser;
  let service: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    built = buildApp();
    service = await standIn();
    relay = await startRelay({
      env: {
        HEARTH_WEB_ROOT: built.dist,
        HEARTH_PUSH_ALLOWLIST: "127.0.0.1",
        HEARTH_PUSH_ALLOW_PRIVATE: "true",
        HEARTH_PUSH_ALLOW_HTTP: "true",
        HEARTH_PUSH_DELAY: "0.2",
        HEARTH_PUSH_WINDOW: "3600",
        HEARTH_PUSH_CONTACT: "mailto:relay-admin@example.org",
      },
    });
    browser = await launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
    service?.server.close();
    built?.dispose();
  });

  it("checked, a room's message while the app is closed brings an empty signed push; kept on reload; unchecked, the registrations go", async () => {
    const ana = await person(browser);
    await ana.context.grantPermissions(["notifications"], { origin: relay.url });
    await ana.context.addInitScript(fakePushService, service.base);
    let page = ana.page;
    await page.goto(relay.url + "/");
    await onboard(page);
    await createGroup(page, "Night circle");
    const link = await invite(page);
    await page.getByRole("button", { name: "Done" }).click();
    await page.getByRole("button", { name: "‹ Rooms" }).click();

    const box = page.getByLabel(LABEL);
    expect(await box.isChecked()).toBe(false);
    await box.check();
    await page.locator("#notifications-status", { hasText: "On." }).waitFor(WAIT);
    expect(await page.evaluate(() => localStorage.getItem("hearth.notifications"))).toBe("on");
    const registered = await pushRegistrations(page);
    expect(registered).toHaveLength(1);
    expect(registered[0]!.endpoint).toMatch(new RegExp(`^${service.base}/subscription-\\d+$`));
    const path = new URL(registered[0]!.endpoint!).pathname;
    expect(await seriousViolations(page)).toEqual([]);
    await expectClean(ana);

    const peer = new PythonScript(PEER, { relay: relay.url });
    try {
      peer.send(link);
      await peer.next<{ joined: boolean }>();
      await page.close(); // the app is closed: no stream, so the relay pushes
      const published = (await (await fetch(`${relay.url}/v1/push/vapid`)).json()) as { key: string };
      const key = Buffer.from(published.key, "base64url");
      let push: Received | null = null;
      for (let attempt = 0; attempt < 10 && push === null; attempt++) {
        peer.send(`are you around tonight? (${attempt})`);
        await peer.next<{ sent: string }>();
        push = await service.next(path, 2000);
      }
      expect(push, `what the push service got: ${JSON.stringify(service.received.map((r) => r.path))}`).not.toBeNull();
      expect([push!.method, push!.body]).toEqual(["POST", ""]);
      const claims = verifiedClaims(String(push!.headers["authorization"]), key);
      expect(claims.aud).toBe(service.base);
      expect(JSON.stringify(push!.headers)).not.toContain("tonight");
    } finally {
      peer.send("quit");
      await peer.done();
    }

    // Opened again: the choice is kept and the room registered again, without a word.
    page = await ana.context.newPage();
    await page.goto(relay.url + "/");
    await unlock(page);
    const again = page.getByLabel(LABEL);
    expect(await again.isChecked()).toBe(true);
    await expect.poll(async () => (await pushRegistrations(page)).map((r) => r.endpoint !== null), WAIT).toEqual([true]);

    await again.uncheck();
    await page.locator("#notifications-status", { hasText: "Off." }).waitFor(WAIT);
    expect(await pushRegistrations(page)).toEqual([]);
    expect(await page.evaluate(() => localStorage.getItem("hearth.notifications"))).toBeNull();
    await page.reload();
    await unlock(page);
    expect(await page.getByLabel(LABEL).isChecked()).toBe(false);
    await ana.context.close();
  });

  it("on a relay that sends no push, the box stays unchecked and says so", async () => {
    const quiet = await appRelay(built.dist);
    const cy = await person(browser);
    try {
      await cy.context.grantPermissions(["notifications"], { origin: quiet.url });
      await cy.context.addInitScript(fakePushService, service.base);
      await cy.page.goto(quiet.url + "/");
      await onboard(cy.page);
      await createGroup(cy.page, "Quiet circle");
      await cy.page.getByRole("button", { name: "‹ Rooms" }).click();
      const box = cy.page.getByLabel(LABEL);
      await box.click();
      await cy.page.locator("#notifications-status", { hasText: "This relay does not send notifications." }).waitFor(WAIT);
      expect(await box.isChecked()).toBe(false);
      expect(await cy.page.evaluate(() => localStorage.getItem("hearth.notifications"))).toBeNull();
      await expectClean(cy);
    } finally {
      await cy.context.close();
      await quiet.dispose();
    }
  });

  it("when the browser blocks notifications, the box stays unchecked and says where to change it", async () => {
    const bo = await person(browser);
    await bo.context.addInitScript(fakePushService, service.base);
    await bo.context.addInitScript(() => {
      Object.defineProperty(Notification, "permission", { get: () => "denied" });
      Notification.requestPermission = async () => "denied";
    });
    await bo.page.goto(relay.url + "/");
    await onboard(bo.page);
    const box = bo.page.getByLabel(LABEL);
    await box.click();
    await bo.page.locator("#notifications-status", { hasText: "Notifications are blocked for this site in the browser's settings." }).waitFor(WAIT);
    expect(await box.isChecked()).toBe(false);
    expect(await bo.page.evaluate(() => localStorage.getItem("hearth.notifications"))).toBeNull();
    expect(await seriousViolations(bo.page)).toEqual([]);
    await expectClean(bo);
    await bo.context.close();
  });
});
