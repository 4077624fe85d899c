// Crisis help in the web app (docs/front-ends.md, "Crisis help"): the relay's whole
// list, fetched with no sign-in, shown with the built-in lines and the emergency
// advice first; kept on the device, so a later visit shows it when the relay's list
// cannot be fetched; with nothing kept and no list, the built-in lines with a note
// saying so; a region chosen on the device filters there (lines for everywhere
// stay), and once signed in it is kept for the next visit.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CRISIS_TOML } from "../../sdk/test/crisisFixture.js";
import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";
import { buildApp, expectClean, haveChromium, launch, onboard, PASSPHRASE, person } from "./harness.js";

async function openHelp(page: Page) {
  await page.getByRole("button", { name: "Help now" }).click();
  const help = page.getByRole("dialog", { name: "If you need help now" });
  await help.waitFor();
  return help;
}

describe.skipIf(!haveChromium)("crisis help in the web app", () => {
  let built: ReturnType<typeof buildApp>;
  let relay: RelayProcess;
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    built = buildApp();
    dir = mkdtempSync(join(tmpdir(), "hearth-web-crisis-"));
    const config = join(dir, "relay.toml");
    // The fixture's lines overlap the built-in ones; this one is the relay's alone.
    writeFileSync(config, `${CRISIS_TOML}\n[[crisis]]\nname = "Harbour Town Warmline"\nregions = ["GB"]\nphone = "0800 000 000"\n`);
    relay = await startRelay({ env: { HEARTH_WEB_ROOT: built.dist, HEARTH_CONFIG: config } });
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
    built?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the relay's whole list before sign-in, keeps it, filters by a region chosen on the device, and keeps the region", async () => {
    const ana = await person(browser);
    const page = ana.page;
    const crisisRequests: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/v1/crisis")) crisisRequests.push(r.url());
    });
    await page.goto(relay.url + "/");
    await expect.poll(() => page.locator(".help-first .crisis .name").allTextContents()).toContain("Harbour Town Warmline");
    const names = await page.locator(".help-first .crisis .name").allTextContents();
    expect(names[0]).toBe("Emergency services");
    expect(names).toContain("Find A Helpline");
    expect(crisisRequests).toEqual([`${relay.url}/v1/crisis`]); // no region, no identity

    let help = await openHelp(page);
    expect(await help.textContent()).toContain("Lines from your relay");
    await help.getByLabel("Show lines for").selectOption("US");
    const shown = () => help.locator(".crisis .name").allTextContents();
    await expect.poll(shown).toContain("988 Suicide & Crisis Lifeline");
    expect(await shown()).not.toContain("Harbour Town Warmline");
    expect((await shown())[0]).toBe("Emergency services");
    expect(await shown()).toContain("Befrienders Worldwide");
    await help.getByRole("button", { name: "Close help" }).click();

    // Kept: with the relay's list unreachable, the next visit shows the kept copy.
    await page.route("**/v1/crisis", (route) => route.abort());
    await page.reload();
    help = await openHelp(page);
    await expect.poll(() => help.textContent()).toContain("kept from");
    expect(await help.locator(".crisis .name").allTextContents()).toContain("Harbour Town Warmline");
    await help.getByRole("button", { name: "Close help" }).click();
    await page.unroute("**/v1/crisis");

    // Signed in, the chosen region is kept (in the SDK's encrypted store) for the next visit.
    await page.reload();
    await onboard(page);
    help = await openHelp(page);
    await help.getByLabel("Show lines for").selectOption("GB");
    await expect.poll(() => help.locator(".crisis .name").allTextContents()).toContain("Harbour Town Warmline");
    await help.getByRole("button", { name: "Close help" }).click();
    await page.reload();
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
    help = await openHelp(page);
    expect(await help.getByLabel("Show lines for").inputValue()).toBe("GB");
    expect(await help.locator(".crisis .name").allTextContents()).not.toContain("988 Suicide & Crisis Lifeline");
    await expectClean(ana);
  });

  it("with nothing kept and the relay's list out of reach, shows the built-in lines and says so", async () => {
    const bo = await person(browser);
    await bo.page.route("**/v1/crisis", (route) => route.abort());
    await bo.page.goto(relay.url + "/");
    const help = await openHelp(bo.page);
    await expect.poll(() => help.textContent()).toContain("could not be fetched");
    const names = await help.locator(".crisis .name").allTextContents();
    expect(names[0]).toBe("Emergency services");
    expect(names).toContain("Find A Helpline");
    expect(names).not.toContain("Harbour Town Warmline");
  });
});
