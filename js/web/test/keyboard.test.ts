// The web app with the keyboard alone (docs/front-ends.md, "No harm from a stray
// key"): onboarding, creating a group and sending, with Tab, Space, Enter and
// typing only; a sentence typed with the focus on the messages or on a button goes
// to the composer and does nothing else; leaving asks with Cancel focused, so a
// stray Enter cancels, and focus returns to the composer.
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, PASSPHRASE, person, useApp } from "./harness.js";

/** What has the focus: its accessible-ish name (label, text or name attribute). */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const a = document.activeElement as HTMLElement | null;
    if (a === null) return "";
    const label = a.id ? document.querySelector(`label[for="${a.id}"]`)?.textContent : null;
    return (label ?? a.getAttribute("aria-label") ?? a.getAttribute("name") ?? a.textContent ?? "").trim();
  });
}

/** Press Tab until the focus is on `name` (the keyboard alone: no click, no focus call). */
async function tabTo(page: Page, name: string, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if ((await focused(page)) === name) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${name}; the focus is on ${await focused(page)}`);
}

describe.skipIf(!haveChromium)("the web app with the keyboard alone", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("onboards, creates a group and sends without the mouse; stray keys go to the composer; leaving asks with Cancel focused", async () => {
    const kim = await person(browser);
    const page = kim.page;
    const keys = page.keyboard;
    await page.goto(relay.url + "/");
    await page.locator(".crisis li").first().waitFor();

    await tabTo(page, "Start: choose a passphrase");
    await keys.press("Enter");
    await page.getByLabel("Passphrase", { exact: true }).waitFor();
    expect(await focused(page)).toBe("Passphrase");
    await keys.type(PASSPHRASE);
    await tabTo(page, "The same passphrase again");
    await keys.type(PASSPHRASE);
    await keys.press("Enter");
    await page.locator("#recovery-phrase").waitFor({ timeout: 60_000 });
    expect(await focused(page)).toBe("I have written it down");
    await keys.press("Space");
    await tabTo(page, "Continue");
    await keys.press("Enter");
    await page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });

    await tabTo(page, "Group name");
    await keys.type("Keyboard group");
    await tabTo(page, "Create group");
    await keys.press("Enter");
    await page.locator("#room-title", { hasText: "Keyboard group" }).waitFor({ timeout: 60_000 });
    expect(await focused(page)).toBe("Message to Keyboard group");
    await keys.type("Typed, not clicked");
    await keys.press("Enter"); // the creator published the rules, which counts as accepting them
    await page.locator(".timeline .message", { hasText: "Typed, not clicked" }).waitFor({ timeout: 60_000 });
    await expect.poll(() => focused(page)).toBe("Message to Keyboard group");

    // Shift+Tab from the composer reaches the messages (as its placeholder says);
    // a sentence typed there goes to the composer.
    expect(await page.locator("textarea.composer").getAttribute("placeholder")).toContain("Shift+Tab reaches the messages");
    await keys.press("Shift+Tab");
    expect(await page.evaluate(() => document.activeElement?.closest(".timeline")?.getAttribute("aria-label"))).toBe(
      "Messages in Keyboard group",
    );
    await keys.type("I am still here");
    expect(await page.locator("textarea.composer").inputValue()).toBe("I am still here");
    // ... and on a button too, without pressing it.
    await page.locator("textarea.composer").fill("");
    await tabTo(page, "Leave room");
    await keys.type("Leave me be");
    expect(await page.locator("dialog").count()).toBe(0);
    expect(await page.locator("textarea.composer").inputValue()).toBe("Leave me be");

    // Leaving asks, Cancel focused: a stray Enter cancels, and the focus is back in the composer.
    await tabTo(page, "Leave room");
    await keys.press("Enter");
    const question = page.getByRole("dialog", { name: "Leave Keyboard group?" });
    await question.waitFor();
    expect(await focused(page)).toBe("Cancel");
    expect(await question.getByRole("button", { name: "Leave room" }).count()).toBe(1);
    await keys.press("Enter");
    await question.waitFor({ state: "detached" });
    await expect.poll(() => focused(page)).toBe("Message to Keyboard group");
    expect(await page.locator("#room-title").textContent()).toBe("Keyboard group");
    expect(await page.locator("textarea.composer").inputValue()).toBe("Leave me be");

    // Drafts are kept per room.
    await page.getByRole("button", { name: "‹ Rooms" }).click();
    await createGroup(page, "Second group");
    await page.locator("textarea.composer").fill("the second room's draft");
    await page.getByRole("button", { name: "‹ Rooms" }).click();
    await page.getByRole("button", { name: "Keyboard group" }).click();
    expect(await page.locator("textarea.composer").inputValue()).toBe("Leave me be");
    await page.getByRole("button", { name: "‹ Rooms" }).click();
    await page.getByRole("button", { name: "Second group" }).click();
    expect(await page.locator("textarea.composer").inputValue()).toBe("the second room's draft");

    // F1 is help from the room, and closing it returns where the person was.
    await keys.press("F1");
    await page.getByRole("dialog", { name: "If you need help now" }).waitFor();
    await keys.press("Enter"); // "Close help" has the focus
    await page.getByRole("dialog").waitFor({ state: "detached" });
    await expect.poll(() => focused(page)).toBe("Message to Second group");
    await expectClean(kim);
  });
});
