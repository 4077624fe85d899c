// Every screen of the web app through axe-core (injected with `page.evaluate`, which
// the page's policy does not govern, so the app itself runs under its real CSP):
// no serious or critical violation on the first screen, choosing a passphrase, the
// recovery phrase, the rooms, a room (empty and with a message), each dialog
// (invite, people, name, rules, leave, delete, crisis help), the lock screen,
// unlocking and restoring; at 360x640, a phone.
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, invite, PASSPHRASE, person, send, seriousViolations, useApp } from "./harness.js";

describe.skipIf(!haveChromium)("the web app's accessibility", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("has no serious or critical axe violation on any screen", async () => {
    const me = await person(browser, { clipboard: relay.url });
    const page = me.page;
    const found: Record<string, string[]> = {};
    const check = async (screen: string, p: Page = page) => {
      found[screen] = await seriousViolations(p);
    };

    await page.goto(relay.url + "/");
    await page.locator(".crisis li").first().waitFor();
    await check("first screen");
    await page.getByRole("button", { name: "Help now" }).click();
    await check("crisis help");
    await page.getByRole("button", { name: "Close help" }).click();
    await page.getByRole("button", { name: "I have a recovery phrase" }).click();
    await check("restore");
    await page.reload();
    await page.getByRole("button", { name: "Start: choose a passphrase" }).click();
    await page.getByLabel("Passphrase", { exact: true }).fill(PASSPHRASE);
    await check("choose a passphrase");
    await page.getByLabel("The same passphrase again").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Save and continue" }).click();
    await page.locator("#recovery-phrase").waitFor({ timeout: 60_000 });
    await check("recovery phrase");
    await page.getByLabel("I have written it down").check();
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
    await check("rooms");
    await createGroup(page, "Checked group");
    await check("room");
    await send(page, "A message to check");
    await check("room with a message");
    await page.getByRole("button", { name: "Delete your message" }).click();
    await check("delete");
    await page.getByRole("button", { name: "Cancel" }).click();
    await invite(page);
    await check("invite");
    await page.getByRole("button", { name: "Done" }).click();
    await page.getByRole("button", { name: "People" }).click();
    await check("people");
    await page.getByRole("button", { name: "Close" }).click();
    await page.getByRole("button", { name: "My name here" }).click();
    await check("name");
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("button", { name: "Leave room" }).click();
    await check("leave");
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.keyboard.press("Escape");
    await page.keyboard.press("Escape");
    await page.locator("#lock").waitFor();
    await check("lock");
    await page.reload();
    await page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await check("unlock");

    // The rules dialog is a joiner's: a second person opens the invite.
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByRole("button", { name: "Checked group" }).click();
    const link = await invite(page);
    const other = await person(browser);
    await other.page.goto(link);
    await other.page.getByRole("button", { name: "Start: choose a passphrase" }).click();
    await other.page.getByLabel("Passphrase", { exact: true }).fill(PASSPHRASE);
    await other.page.getByLabel("The same passphrase again").fill(PASSPHRASE);
    await other.page.getByRole("button", { name: "Save and continue" }).click();
    await other.page.getByLabel("I have written it down").check({ timeout: 60_000 });
    await other.page.getByRole("button", { name: "Continue" }).click();
    await other.page.locator("#room-title", { hasText: "Checked group" }).waitFor({ timeout: 60_000 });
    await other.page.locator("textarea.composer").fill("hello");
    await other.page.locator("textarea.composer").press("Enter");
    await other.page.getByRole("button", { name: "Accept rules" }).waitFor();
    await check("rules", other.page);

    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((k) => [k, []])));
    await expectClean(me);
    await expectClean(other);
  });
});
