// The connection and the outbox as the room's status line tells them (docs/front-ends.md,
// "The connection state is what is known", "Sending says what is happening"): never
// "offline" while the relay is up; offline when it goes down; a message sent then is
// shown as waiting, queued in the browser; when the relay is back it goes out, shows in
// the timeline, and the status clears. Rate-limited, it says when it tries again.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, onboard, person, useApp } from "./harness.js";

describe.skipIf(!haveChromium)("the web app's connection and outbox", () => {
  let relay: RelayProcess;
  let browser: Browser;
  let dist: string;
  useApp((app) => ({ relay, browser, dist } = app));

  it("says connecting or online while the relay is up, offline when it is down, and what waits until it is sent", async () => {
    const jo = await person(browser);
    const page = jo.page;
    // Every status the line shows, from the start, as the page records it.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { __seen: string[] }).__seen = seen;
      new MutationObserver(() => {
        const text = document.querySelector(".connection")?.textContent;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    await page.goto(relay.url + "/");
    await onboard(page);
    await createGroup(page, "Quiet group");
    const connection = page.locator(".connection");
    const outbox = page.locator(".outbox");
    await expect.poll(() => connection.textContent(), { timeout: 60_000 }).toBe("Online");
    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    expect(seen.filter((s) => s.startsWith("Offline"))).toEqual([]);

    await relay.stop();
    await expect.poll(() => connection.textContent(), { timeout: 60_000 }).toMatch(/^Offline/);
    const composer = page.locator("textarea.composer");
    await composer.fill("Written while offline");
    await composer.press("Enter");
    await expect.poll(() => outbox.textContent(), { timeout: 60_000 }).toMatch(/^1 message (waits|queued)/);
    expect(await composer.inputValue()).toBe("");

    await relay.start();
    await page.locator(".timeline .message", { hasText: "Written while offline" }).waitFor({ timeout: 60_000 });
    await expect.poll(() => connection.textContent(), { timeout: 60_000 }).toBe("Online");
    await expect.poll(() => outbox.textContent(), { timeout: 60_000 }).toBe("");
    await expectClean(jo);
  });

  it("a rate-limited outbox says when it tries again, and clears once all is sent", async () => {
    const slow = await startRelay({ env: { HEARTH_WEB_ROOT: dist, HEARTH_RATE_SEND: "1/1" } }); // one message a second
    try {
      const lu = await person(browser);
      const page = lu.page;
      await page.goto(slow.url + "/");
      await onboard(page);
      await createGroup(page, "Slow lane");
      const composer = page.locator("textarea.composer");
      const outbox = page.locator(".outbox");
      await expect.poll(() => page.locator(".connection").textContent(), { timeout: 60_000 }).toBe("Online");
      for (let i = 0; i < 4; i++) {
        await composer.fill(`quick ${i}`);
        await composer.press("Enter");
      }
      await expect.poll(() => outbox.textContent(), { timeout: 60_000 }).toMatch(/next try in \d+ s/);
      // Nothing but time: the SDK retries by itself and the line clears.
      for (let i = 0; i < 4; i++) await page.locator(".timeline .message .text", { hasText: `quick ${i}` }).waitFor({ timeout: 60_000 });
      await expect.poll(() => outbox.textContent(), { timeout: 60_000 }).toBe("");
      await expectClean(lu);
    } finally {
      await slow.dispose();
    }
  });
});
