// A room's message retention in the web app, through the real relay serving the
// built app: the owner sees it is unset, shortens it to a day (the question says
// what goes, Cancel holds the focus, a stray Enter changes nothing), the room then
// says how long it keeps messages, and once a day has passed on the page's clock the
// SDK's MessagesExpired takes the old messages out of the timeline, with a line
// saying so. axe-core checks the retention screens.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, onboard, PASSPHRASE, person, send, seriousViolations, useApp } from "./harness.js";

const WAIT = { timeout: 60_000 };

describe.skipIf(!haveChromium)("message retention in the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("an owner shortens the retention after a question with Cancel focused, and expired messages leave the timeline", async () => {
    const ana = await person(browser);
    const page = ana.page;
    await page.clock.install(); // the page's clock runs as usual until the test moves it on
    await page.goto(relay.url + "/");
    await onboard(page);
    await createGroup(page, "Friday circle");
    await send(page, "first thing said");
    await send(page, "second thing said");

    await page.getByRole("button", { name: "Keeping messages" }).click();
    let dialog = page.getByRole("dialog", { name: "Keeping messages" });
    await dialog.getByText("Messages here are kept until someone deletes them.").waitFor(WAIT);
    await dialog.getByLabel("Keep messages").selectOption({ label: "For 1 day" });
    expect(await seriousViolations(page)).toEqual([]);
    await dialog.getByRole("button", { name: "Change retention" }).click();
    const ask = page.getByRole("dialog", { name: "Keep messages for 1 day?" });
    await ask.waitFor(WAIT);
    expect(await ask.textContent()).toContain("Messages older than 1 day disappear from every member's device");
    expect(await ask.textContent()).toContain("On this device nothing is older than that yet.");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    expect(await seriousViolations(page)).toEqual([]);
    await page.keyboard.press("Enter"); // a stray Enter cancels
    await ask.waitFor({ state: "detached" });
    expect(await page.locator(".retention").isVisible()).toBe(false);

    await page.getByRole("button", { name: "Keeping messages" }).click();
    dialog = page.getByRole("dialog", { name: "Keeping messages" });
    await dialog.getByLabel("Keep messages").selectOption({ label: "For 1 day" });
    await dialog.getByRole("button", { name: "Change retention" }).click();
    await ask.getByRole("button", { name: "Keep 1 day" }).click();
    await page.locator(".retention", { hasText: "Messages here disappear after 1 day." }).waitFor(WAIT);
    expect(await page.locator(".timeline .message").count()).toBe(2);

    // A day and an hour later (the page's clock), the SDK drops them on its own round.
    await page.clock.fastForward("25:00:00");
    // The idle lock's timer fires on the way, as it should after a day: the passphrase opens it.
    await page.locator("#lock").waitFor(WAIT);
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Open" }).click();
    await page.locator("#room-title", { hasText: "Friday circle" }).waitFor(WAIT);
    await page.locator(".timeline .notice", { hasText: "2 messages older than 1 day, as the room's retention says, were removed from this device." }).waitFor(WAIT);
    expect(await page.locator(".timeline .message").count()).toBe(0);
    await expectClean(ana);
  });
});
