// Two people in two browsers through the real relay, which serves the app at `/`
// (one origin): one onboards, creates a group, copies the invite link; the other
// opens it, onboards, joins and both chat, each shown by name with the log's role.
// The invite's secret is gone from the address bar as soon as the app read it.
import { describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, invite, onboard, person, readQr, send, setName, useApp } from "./harness.js";

describe.skipIf(!haveChromium)("two people in the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("one creates a group and invites, the other opens the link, joins, and they talk by name and role", async () => {
    const ana = await person(browser, { clipboard: relay.url });
    await ana.page.goto(relay.url + "/");
    await ana.page.locator(".crisis li").first().waitFor();
    await onboard(ana.page);
    await createGroup(ana.page, "Tuesday circle", "Be kind. What is said here stays here.");
    await setName(ana.page, "Ana");
    const link = await invite(ana.page, "member");
    expect(link).toMatch(new RegExp(`^${relay.url}/join/[A-Za-z0-9_-]{32}#[A-Za-z0-9_-]{43}$`));
    await expect.poll(() => ana.page.locator(".dialog-body").textContent()).toContain("join as member");
    await ana.page.getByRole("button", { name: "Copy link" }).click();
    await ana.page.getByText("Copied.").waitFor();
    expect(await ana.page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    expect(await readQr(ana.page)).toBe(link); // the QR code on screen reads back as the whole link
    await ana.page.getByRole("button", { name: "Done" }).click();
    await expect.poll(() => ana.page.evaluate(() => document.activeElement?.className)).toBe("composer");

    const sam = await person(browser);
    await sam.page.goto(link);
    // The relay sent /join/ROOM on to /?join=ROOM; the app read the secret and dropped it.
    await sam.page.locator(".crisis li").first().waitFor();
    const address = sam.page.url();
    expect(address).toBe(relay.url + "/");
    expect(address).not.toContain(link.split("#")[1]!);
    expect(await sam.page.evaluate(() => history.length)).toBeGreaterThan(0);
    await onboard(sam.page, "another passphrase for sam here");
    await sam.page.locator("#room-title", { hasText: "Tuesday circle" }).waitFor({ timeout: 60_000 });
    await setName(sam.page, "Sam");
    // A member of a group whose policy lets moderators invite is offered no Invite.
    expect(await sam.page.getByRole("button", { name: "Invite" }).count()).toBe(0);
    // The ground rules come before a first message: "Not now" keeps the draft,
    // "Accept rules" (focused) accepts and sends what waited.
    const composer = sam.page.locator("textarea.composer");
    await composer.fill("Hi, first time here.");
    await composer.press("Enter");
    const rules = sam.page.getByRole("dialog", { name: "Ground rules of Tuesday circle" });
    await rules.waitFor({ timeout: 60_000 });
    expect(await rules.textContent()).toContain("What is said here stays here.");
    await rules.getByRole("button", { name: "Not now" }).click();
    await rules.waitFor({ state: "detached" });
    expect(await composer.inputValue()).toBe("Hi, first time here.");
    await composer.press("Enter");
    await rules.waitFor();
    expect(await sam.page.evaluate(() => document.activeElement?.textContent)).toBe("Accept rules");
    await sam.page.keyboard.press("Enter");
    await sam.page.locator(".timeline .message", { hasText: "Hi, first time here." }).waitFor({ timeout: 60_000 });
    expect(await composer.inputValue()).toBe("");
    await ana.page.locator(".timeline .message", { hasText: "Hi, first time here." }).waitFor({ timeout: 60_000 });
    await send(ana.page, "Welcome, Sam.");
    await sam.page.locator(".timeline .message", { hasText: "Welcome, Sam." }).waitFor({ timeout: 60_000 });

    // Names with the log's role, member shown too; "you" marks oneself.
    await expect.poll(() => ana.page.locator(".timeline .message", { hasText: "Hi, first time here." }).locator(".sender").textContent()).toBe("Sam (member)");
    await expect.poll(() => sam.page.locator(".timeline .message", { hasText: "Welcome, Sam." }).locator(".sender").textContent()).toBe("Ana (owner)");
    await expect.poll(() => sam.page.locator(".timeline .message", { hasText: "Hi, first time here." }).locator(".sender").textContent()).toBe("Sam (you, member)");
    // The join is a line in the timeline, from the log.
    await expect.poll(() => ana.page.locator(".timeline .notice").allTextContents()).toContain("Sam (member) joined as member");
    await expectClean(ana);
    await expectClean(sam);
  });

  it("a returning person who opens a link joins once the passphrase opens the app", async () => {
    const host = await person(browser);
    await host.page.goto(relay.url + "/");
    await onboard(host.page);
    await createGroup(host.page, "Thursday circle");
    const link = await invite(host.page);

    const guest = await person(browser);
    await guest.page.goto(relay.url + "/");
    await onboard(guest.page, "the guest's own passphrase");
    await guest.page.goto(link);
    await guest.page.getByRole("heading", { name: "Welcome back" }).waitFor();
    expect(guest.page.url()).toBe(relay.url + "/");
    await guest.page.getByText("You opened an invite link.").waitFor();
    await guest.page.getByLabel("Passphrase").fill("the guest's own passphrase");
    await guest.page.getByRole("button", { name: "Open" }).click();
    await guest.page.locator("#room-title", { hasText: "Thursday circle" }).waitFor({ timeout: 60_000 });
    await expect.poll(() => host.page.locator(".timeline .notice").allTextContents(), { timeout: 60_000 }).toContainEqual(
      expect.stringMatching(/ \(member\) joined as member$/),
    );
    await expectClean(host);
    await expectClean(guest);
  });
});
