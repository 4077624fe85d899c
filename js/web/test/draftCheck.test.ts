// The opt-in draft check in the web app, through the real relay serving the built
// app: off by default, a message with crisis words goes out with no suggestion; once
// the person turns it on (and chose their region in the help), the same words bring
// a note naming the first line the help lists for that region, and the message
// still goes out as written. axe-core checks the setting and the room with the note.
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, onboard, person, send, seriousViolations, useApp } from "./harness.js";

const WAIT = { timeout: 60_000 };

/** The first line the help lists for the chosen region: its own lines before those for everywhere. */
async function firstRegionalLine(page: Page): Promise<string> {
  await page.getByRole("button", { name: "Help now" }).first().click();
  const help = page.getByRole("dialog", { name: "If you need help now" });
  await help.waitFor(WAIT);
  await help.getByLabel("Show lines for").selectOption("GB");
  await expect.poll(() => help.locator(".crisis li .regions").allTextContents(), WAIT).not.toContain("For: US");
  const items = await help.locator(".crisis li:not(.emergency)").evaluateAll((nodes) =>
    nodes.map((n) => ({ name: n.querySelector(".name")?.textContent ?? "", regions: n.querySelector(".regions")?.textContent ?? "", reach: n.querySelector("a") !== null })),
  );
  await help.getByRole("button", { name: "Close help" }).click();
  const first = items.find((item) => item.regions !== "Everywhere" && item.reach);
  expect(first?.regions).toContain("GB");
  return first!.name;
}

describe.skipIf(!haveChromium)("the draft check in the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("once turned on, crisis words bring a note naming the first line listed for the person's region, and the message goes out as written", async () => {
    const ana = await person(browser);
    const page = ana.page;
    await page.goto(relay.url + "/");
    await onboard(page);
    const setting = page.getByLabel("When what I write sounds like a crisis, show me a line I can call");
    expect(await setting.isChecked()).toBe(false);
    await createGroup(page, "Late circle");
    await send(page, "I can't go on like this");
    expect(await page.locator(".draft-suggestion").isVisible()).toBe(false);

    await page.getByRole("button", { name: "‹ Rooms" }).click();
    await setting.check();
    await page.getByText("On. It reads your messages on this device only").waitFor(WAIT);
    expect(await seriousViolations(page)).toEqual([]);
    const line = await firstRegionalLine(page);

    await page.getByRole("list", { name: "Your rooms" }).getByRole("button", { name: "Late circle" }).click();
    await send(page, "honestly I can't go on anymore");
    const note = page.locator(".draft-suggestion");
    await note.waitFor(WAIT);
    const said = (await note.textContent()) ?? "";
    expect(said).toContain("You are not alone.");
    expect(said).toContain(`${line}: call `);
    expect(said).toContain("“Help now” (F1)");
    await page.locator(".timeline .message .text", { hasText: "honestly I can't go on anymore" }).waitFor(WAIT);
    expect(await seriousViolations(page)).toEqual([]);
    await note.getByRole("button", { name: "Dismiss" }).click();
    await note.waitFor({ state: "hidden" });
    await expectClean(ana);
  });
});
