// Quick exit and app lock in the browser (docs/front-ends.md, "Quick exit and app
// lock"): Escape twice covers everything with a blank, neutral lock screen (no
// room, message, draft or app name, the tab's title included); a message that
// arrives meanwhile does not show; help opens over the lock and closes back to it;
// Escape never leaves it; a wrong passphrase is refused; the right one returns to
// the same room with the draft and the composer focused. Before unlocking, the quick
// exit locks too, and the passphrase then starts the session. Idle, it locks itself
// after the chosen time.
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, invite, onboard, PASSPHRASE, person, send, useApp } from "./harness.js";

const PEER = `
import asyncio, tempfile
from pathlib import Path
from client_sdk import HearthClient, Identity

async def main():
    loop = asyncio.get_running_loop()
    line = lambda: loop.run_in_executor(None, sys.stdin.readline)
    with tempfile.TemporaryDirectory(prefix="hearth-web-peer-") as tmp:
        async with HearthClient(data["relay"], Identity.generate(), store_path=Path(tmp) / "p.db") as client:
            room = await client.join((await line()).strip())
            await room.accept_rules()
            print(json.dumps({"joined": room.id}), flush=True)
            await line()
            await room.send("While you were away")
            print(json.dumps({"sent": True}), flush=True)
            await line()

asyncio.run(main())
`;

/** What the page shows a person right now, all of it. */
function visible(page: Page): Promise<string> {
  return page.evaluate(() => `${document.title}\n${document.body.innerText}`);
}

async function doubleEscape(page: Page): Promise<void> {
  await page.keyboard.press("Escape");
  await page.keyboard.press("Escape");
  await page.locator("#lock").waitFor();
}

describe.skipIf(!haveChromium)("the quick exit and the app lock", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("Escape twice hides everything, help stays reachable, and only the passphrase returns to the draft", async () => {
    const ana = await person(browser);
    await ana.page.goto(relay.url + "/");
    await onboard(ana.page);
    await createGroup(ana.page, "Evening group");
    await send(ana.page, "Anyone around tonight?");
    const link = await invite(ana.page);
    await ana.page.getByRole("button", { name: "Done" }).click();
    const peer = new PythonScript(PEER, { relay: relay.url });
    try {
      peer.send(link);
      await peer.next();
      const composer = ana.page.locator("textarea.composer");
      await composer.fill("a draft I have not sent");

      await doubleEscape(ana.page);
      const shown = await visible(ana.page);
      for (const secret of ["Evening group", "Anyone around tonight?", "a draft I have not sent", "Hearth"]) {
        expect(shown).not.toContain(secret);
      }
      expect(await ana.page.title()).toBe("Locked");
      expect(await ana.page.locator("#app").count()).toBe(0);

      // A message arrives under the lock: stored, not shown.
      peer.send("send");
      await peer.next();
      expect(await visible(ana.page)).not.toContain("While you were away");

      // Help opens over the lock (F1, or the button) and closes back to it.
      await ana.page.keyboard.press("F1");
      await ana.page.getByRole("dialog", { name: "If you need help now" }).waitFor();
      expect(await ana.page.locator(".crisis-dialog .name").first().textContent()).toBe("Emergency services");
      await ana.page.getByRole("button", { name: "Close help" }).click();
      await ana.page.getByRole("button", { name: "Help now" }).click();
      await ana.page.getByRole("button", { name: "Close help" }).click();
      await ana.page.getByRole("dialog").waitFor({ state: "detached" });
      expect(await ana.page.locator("#lock").count()).toBe(1);

      // Escape never leaves it; a wrong passphrase is refused.
      await ana.page.keyboard.press("Escape");
      await ana.page.keyboard.press("Escape");
      expect(await ana.page.locator("#lock").count()).toBe(1);
      await ana.page.getByLabel("Passphrase").fill("not my passphrase at all");
      await ana.page.getByRole("button", { name: "Open" }).click();
      await ana.page.getByText("That passphrase did not open it.").waitFor({ timeout: 60_000 });
      expect(await visible(ana.page)).not.toContain("Evening group");

      // The right one: the same room, the draft, the composer focused, the message there.
      await ana.page.getByLabel("Passphrase").fill(PASSPHRASE);
      await ana.page.getByRole("button", { name: "Open" }).click();
      await ana.page.locator("#room-title", { hasText: "Evening group" }).waitFor({ timeout: 60_000 });
      expect(await composer.inputValue()).toBe("a draft I have not sent");
      await expect.poll(() => ana.page.evaluate(() => document.activeElement?.className)).toBe("composer");
      await ana.page.locator(".timeline .message", { hasText: "While you were away" }).waitFor({ timeout: 60_000 });
      expect(await ana.page.title()).toBe("Hearth");
      await expectClean(ana);
    } finally {
      peer.send("quit");
      await peer.done();
    }
  });

  it("before unlocking, the quick exit locks and the passphrase starts the session", async () => {
    const bo = await person(browser);
    await bo.page.goto(relay.url + "/");
    const phrase = await onboard(bo.page);
    await createGroup(bo.page, "Morning group");
    await bo.page.reload();
    await bo.page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await bo.page.getByLabel("Passphrase").fill("not the passphrase");
    await bo.page.getByRole("button", { name: "Open" }).click();
    await bo.page.getByText("That passphrase did not open it.").waitFor({ timeout: 60_000 });
    expect(await bo.page.getByRole("heading", { name: "Your rooms" }).count()).toBe(0);
    // Restoring over the saved identity asks first, Cancel focused: Enter changes nothing.
    await bo.page.getByRole("button", { name: "Restore from the recovery phrase" }).click();
    await bo.page.getByLabel("Recovery phrase").fill(phrase);
    await bo.page.getByLabel("A passphrase for this browser").fill("some other passphrase here");
    await bo.page.getByRole("button", { name: "Restore" }).click();
    const replace = bo.page.getByRole("dialog", { name: "Replace the identity saved here?" });
    await replace.waitFor();
    expect(await bo.page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    await bo.page.keyboard.press("Enter");
    await bo.page.getByText("Nothing was changed.").waitFor();
    await doubleEscape(bo.page);
    expect(await visible(bo.page)).not.toContain("Welcome back");
    await bo.page.getByLabel("Passphrase").fill(PASSPHRASE);
    await bo.page.getByRole("button", { name: "Open" }).click();
    await bo.page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
    await bo.page.getByRole("button", { name: "Morning group" }).waitFor();
    await expectClean(bo);
  });

  it("on a first run, with nothing saved, the quick exit blanks the screen too, and during onboarding the passphrase returns to the phrase", async () => {
    const cy = await person(browser);
    await cy.page.goto(relay.url + "/");
    await cy.page.locator(".crisis li").first().waitFor();
    await doubleEscape(cy.page);
    expect(await visible(cy.page)).not.toContain("Hearth");
    await cy.page.getByRole("button", { name: "Help now" }).waitFor();
    await cy.page.getByRole("button", { name: "Continue" }).click();
    await cy.page.getByRole("button", { name: "Start: choose a passphrase" }).click();
    // Locked while the recovery phrase shows: the passphrase returns to that step,
    // which still waits for "I have written it down".
    await cy.page.getByLabel("Passphrase", { exact: true }).fill(PASSPHRASE);
    await cy.page.getByLabel("The same passphrase again").fill(PASSPHRASE);
    await cy.page.getByRole("button", { name: "Save and continue" }).click();
    const phrase = (await cy.page.locator("#recovery-phrase").textContent({ timeout: 60_000 })) ?? "";
    await doubleEscape(cy.page);
    expect(await visible(cy.page)).not.toContain(phrase);
    await cy.page.getByLabel("Passphrase").fill(PASSPHRASE);
    await cy.page.getByRole("button", { name: "Open" }).click();
    await cy.page.locator("#recovery-phrase", { hasText: phrase }).waitFor({ timeout: 60_000 });
    expect(await cy.page.getByRole("heading", { name: "Your rooms" }).count()).toBe(0);
    await cy.page.getByLabel("I have written it down").check();
    await cy.page.getByRole("button", { name: "Continue" }).click();
    await cy.page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
  });

  it("locks itself after the idle time the person chose", async () => {
    const di = await person(browser);
    await di.page.clock.install();
    await di.page.goto(relay.url + "/");
    await onboard(di.page);
    await di.page.getByLabel("Lock the app when idle for").selectOption("1");
    await createGroup(di.page, "Idle group");
    await di.page.locator("textarea.composer").fill("half a thought");
    await di.page.clock.fastForward(30_000);
    expect(await di.page.locator("#lock").count()).toBe(0);
    await di.page.clock.fastForward(31_000);
    await di.page.locator("#lock").waitFor();
    expect(await visible(di.page)).not.toContain("half a thought");
    await di.page.getByLabel("Passphrase").fill(PASSPHRASE);
    await di.page.getByRole("button", { name: "Open" }).click();
    await di.page.locator("#room-title", { hasText: "Idle group" }).waitFor({ timeout: 60_000 });
    expect(await di.page.locator("textarea.composer").inputValue()).toBe("half a thought");
  });
});
