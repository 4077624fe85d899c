// Linking a second device in the web app, with two browser contexts through the real
// relay serving the built app: Ana, signed in and in a group, opens "Link a device",
// which shows a code and a QR code of it; a fresh browser takes the code on "Link to
// my other device" with a passphrase of its own and shows six digits; Ana's dialog
// shows the same digits, and only "The same: link it" links; the new browser then
// is Ana, her group in its list and her messages her own, and it opens with its
// own passphrase after a reload. axe-core checks both sides' screens.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, onboard, person, readQr, send, seriousViolations, useApp } from "./harness.js";

const WAIT = { timeout: 60_000 };

describe.skipIf(!haveChromium)("linking a device in the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("a signed-in browser shows a code and its QR code, the new browser enters it, both show the same digits, and the new one shows the rooms", async () => {
    const ana = await person(browser);
    await ana.page.goto(relay.url + "/");
    await onboard(ana.page);
    await createGroup(ana.page, "Linked circle");
    await send(ana.page, "said before the link");
    await ana.page.getByRole("button", { name: "‹ Rooms" }).click();
    await ana.page.getByRole("button", { name: "Link a device" }).click();
    const dialog = ana.page.getByRole("dialog", { name: "Link a device" });
    const code = (await dialog.locator("#device-link-code").textContent(WAIT)) ?? "";
    expect(code).toMatch(/^HL2-/);
    expect(await readQr(ana.page)).toBe(code);
    // On a phone the code wraps inside the dialog rather than running off the screen.
    expect(await dialog.locator("#device-link-code").evaluate((n) => n.scrollWidth <= n.clientWidth && n.getBoundingClientRect().right <= 360)).toBe(true);
    expect(await ana.page.evaluate(() => document.activeElement?.textContent)).toBe("Close");
    expect(await seriousViolations(ana.page)).toEqual([]);

    const bo = await person(browser);
    await bo.page.goto(relay.url + "/");
    await bo.page.getByRole("button", { name: "Link to my other device" }).click();
    await bo.page.getByLabel("Code from your other device").fill(code);
    await bo.page.getByLabel("A passphrase for this browser").fill("the second browser's passphrase");
    await bo.page.getByRole("button", { name: "Link this browser" }).click();
    await bo.page.locator("#device-short-code").or(bo.page.getByText(/^Not linked/)).waitFor(WAIT);
    expect(bo.problems).toEqual([]);
    expect(await bo.page.getByText(/^Not linked/).count(), (await bo.page.getByText(/^Not linked/).allTextContents()).join()).toBe(0);
    const boDigits = (await bo.page.locator("#device-short-code").textContent(WAIT)) ?? "";
    expect(boDigits).toMatch(/^\d{3} \d{3}$/);
    expect(await seriousViolations(bo.page)).toEqual([]);

    await expect.poll(() => dialog.locator("#device-short-code").textContent(), WAIT).toBe(boDigits);
    expect(await seriousViolations(ana.page)).toEqual([]);
    await dialog.getByRole("button", { name: "The same: link it" }).click();
    await dialog.getByText("Linked. The new device opens your rooms now.").waitFor(WAIT);
    await dialog.getByRole("button", { name: "Close" }).click();

    await bo.page.getByRole("heading", { name: "Your rooms" }).waitFor(WAIT);
    const room = bo.page.getByRole("list", { name: "Your rooms" }).getByRole("button", { name: "Linked circle" });
    await room.waitFor(WAIT);
    await room.click();
    await bo.page.locator(".timeline .message", { hasText: "said before the link" }).waitFor(WAIT);

    // The same person: what one device sends, the other shows as its own.
    await send(bo.page, "sent from the second browser");
    await ana.page.getByRole("list", { name: "Your rooms" }).getByRole("button", { name: "Linked circle" }).click();
    await ana.page.locator(".timeline .message.mine", { hasText: "sent from the second browser" }).waitFor(WAIT);

    // The new browser opens with its own passphrase after a reload.
    await bo.page.reload();
    await bo.page.getByLabel("Passphrase").fill("the second browser's passphrase");
    await bo.page.getByRole("button", { name: "Open" }).click();
    await bo.page.getByRole("list", { name: "Your rooms" }).getByRole("button", { name: "Linked circle" }).waitFor(WAIT);
    await expectClean(ana);
    await expectClean(bo);
  });
});
