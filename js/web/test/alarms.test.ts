// A security alarm in the browser stays until the person dismisses it (docs/
// front-ends.md, "Nothing the app opens for the person vanishes unseen"). The page
// and its relay sit behind tests/security's hostile proxy (a man in the middle in
// front of a real relay, which also serves the app): once the browser person is in
// the room, the proxy rewrites the sender of a message on their live stream, as
// tests/interop/test_hostile_relay_ts.py does to the TypeScript SDK, and the SDK
// raises a `bad_message` SecurityAlarm. The app shows it as a banner and a dialog;
// Escape closes the dialog but not the banner, a reload brings both back (the SDK
// keeps the alarm), the quick exit hides both and unlocking opens the dialog again,
// and only "I have read this" dismisses it, for good.
import { createServer } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";
import { buildApp, expectClean, haveChromium, launch, onboard, PASSPHRASE, person, seriousViolations } from "./harness.js";

const HOSTILE = `
import asyncio, tempfile
from pathlib import Path
import msgspec
from client_sdk import HearthClient, Identity
from tests.security.proxy import HostileProxy

class Proxy(HostileProxy):
    # httpx unpacks gzip but the proxy keeps the header: ask the relay for plain bodies
    # (httpx would ask for gzip by itself).
    async def _forward_http(self, scope, receive, send):
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
        scope["headers"] = [*headers, (b"accept-encoding", b"identity")]
        await super()._forward_http(scope, receive, send)

async def main():
    loop = asyncio.get_running_loop()
    line = lambda: loop.run_in_executor(None, sys.stdin.readline)
    proxy = Proxy(data["relay"])
    proxy.port = data["port"]
    proxy.url = f"http://127.0.0.1:{proxy.port}"
    await proxy.start()
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-web-peer-") as tmp:
            async with (
                HearthClient(proxy.url, Identity.generate(), store_path=Path(tmp) / "a.db", live=False) as a,
                HearthClient(proxy.url, Identity.generate(), store_path=Path(tmp) / "c.db", live=False) as c,
            ):
                room = await a.create_group("Watchful group")
                await room.set_name("Ana")
                await c.join(await room.create_invite(max_uses=1))
                carol = c.room(room.id).me
                print(json.dumps({"link": await room.create_invite(max_uses=1)}), flush=True)
                await line()  # the browser person is in, and following the stream
                await room.send("Said before the lie")
                await line()  # they saw it

                async def reattribute(frame):
                    data = msgspec.json.decode(frame)
                    event = data.get("event") if data.get("type") == "event" else None
                    if event and event.get("type") == "msg":
                        event["envelope"]["header"]["sender"] = carol
                        proxy.reset()  # one lie is enough
                    return [msgspec.json.encode(data).decode()]

                proxy.on_frame = reattribute
                await room.send("Not from Carol, whatever it says")
                print(json.dumps({"sent": True}), flush=True)
                await line()
    finally:
        await proxy.stop()

asyncio.run(main())
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

describe.skipIf(!haveChromium)("security alarms in the web app", () => {
  let built: ReturnType<typeof buildApp>;
  let relay: RelayProcess;
  let browser: Browser;
  let port: number;
  beforeAll(async () => {
    built = buildApp();
    port = await freePort();
    // The relay's origin is the proxy's: the page, and every sign-in, come through it.
    relay = await startRelay({ env: { HEARTH_WEB_ROOT: built.dist, HEARTH_ORIGIN: `http://127.0.0.1:${port}` } });
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
    built?.dispose();
  });

  it("shows a SecurityAlarm as an alarm that stays, across Escape, the quick exit and a reload, until dismissed", async () => {
    const hostile = new PythonScript(HOSTILE, { relay: relay.url, port });
    try {
      const { link } = await hostile.next<{ link: string }>();
      const lee = await person(browser);
      const page = lee.page;
      await page.goto(`http://127.0.0.1:${port}/`);
      await onboard(page);
      await page.getByLabel("Invite link").fill(link);
      await page.getByRole("button", { name: "Join", exact: true }).click();
      // The owner is not following the stream: the room's name reaches the newcomer with its next message.
      await page.locator(".timeline .notice", { hasText: "(you, member) joined as member" }).waitFor({ timeout: 60_000 });
      await expect.poll(() => page.locator(".connection").textContent(), { timeout: 60_000 }).toBe("Online");
      hostile.send("go");
      await page.locator(".timeline .message", { hasText: "Said before the lie" }).waitFor({ timeout: 60_000 });
      await page.locator("#room-title", { hasText: "Watchful group" }).waitFor({ timeout: 60_000 });
      hostile.send("go");
      await hostile.next();

      // The alarm: a banner, and its dialog opened by itself.
      const banner = page.getByRole("alert", { name: "Security alarms" });
      await banner.getByText("A message failed verification").waitFor({ timeout: 60_000 });
      expect(await banner.textContent()).toContain("Security alarm in Watchful group: A message failed verification");
      const dialog = page.getByRole("dialog", { name: "Security alarm: A message failed verification" });
      await dialog.waitFor();
      expect(await dialog.textContent()).toContain("It was dropped and you never saw it.");
      expect(await page.locator(".timeline").textContent()).not.toContain("Not from Carol");
      const axe = { "alarm dialog": await seriousViolations(page), "alarm banner": [] as string[] };

      // Escape closes the dialog, never the alarm.
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      expect(await banner.isVisible()).toBe(true);
      axe["alarm banner"] = await seriousViolations(page);
      expect(axe).toEqual({ "alarm dialog": [], "alarm banner": [] });

      // A reload: the SDK kept the alarm, so it is there again, dialog and all.
      await page.reload();
      await page.getByLabel("Passphrase").fill(PASSPHRASE);
      await page.getByRole("button", { name: "Open" }).click();
      await dialog.waitFor({ timeout: 60_000 });
      expect(await banner.textContent()).toContain("A message failed verification");
      // The quick exit hides it with everything else; unlocking opens it again.
      await page.keyboard.press("Escape");
      await page.keyboard.press("Escape");
      await page.getByLabel("Passphrase").waitFor();
      expect(await page.locator("dialog").count()).toBe(0);
      expect(await page.locator("#alarms").count()).toBe(0);
      await page.getByLabel("Passphrase").fill(PASSPHRASE);
      await page.getByRole("button", { name: "Open" }).click();
      await dialog.waitFor({ timeout: 60_000 });
      await dialog.getByRole("button", { name: "Not now" }).click();
      expect(await banner.isVisible()).toBe(true);

      // Only the person's own "I have read this" dismisses it, and then for good.
      await banner.getByRole("button", { name: "Read and dismiss…" }).click();
      await dialog.getByRole("button", { name: "I have read this: dismiss" }).click();
      await expect.poll(() => banner.isVisible()).toBe(false);
      await page.reload();
      await page.getByLabel("Passphrase").fill(PASSPHRASE);
      await page.getByRole("button", { name: "Open" }).click();
      await page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
      await page.getByRole("button", { name: "Watchful group" }).click({ timeout: 60_000 });
      await page.locator(".timeline .message", { hasText: "Said before the lie" }).waitFor({ timeout: 60_000 });
      expect(await page.locator("#alarms").isVisible()).toBe(false);
      await expectClean(lee);
    } finally {
      hostile.send("quit");
      await hostile.done();
    }
  });
});
