// Phone-size (360x640) screenshots of the web app's main screens, for the docs:
// `make screens` writes docs/screens/web-*.png (HEARTH_SCREENS_OUT changes where).
// Not part of `make test`: it drives the same steps as the browser tests, through a
// real relay serving a fresh build, and only saves what the screen shows.
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { appRelay, buildApp, createGroup, haveChromium, invite, launch, onboard, person, send, setName } from "../test/harness.js";

const here = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(process.env.HEARTH_SCREENS_OUT ?? join(here, "..", "..", "..", "docs", "screens"));

async function shot(page: Page, name: string): Promise<void> {
  // Nothing blinking or moving in a saved picture: no caret, no animation.
  await page.screenshot({ path: join(OUT, `web-${name}.png`), animations: "disabled", caret: "hide" });
}

describe.skipIf(!haveChromium)("the web app's screens", () => {
  let built: ReturnType<typeof buildApp>;
  let relay: RelayProcess;
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    built = buildApp();
    relay = await appRelay(built.dist);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
    built?.dispose();
  });

  it("saves each main screen at 360x640", async () => {
    const ana = await person(browser, { clipboard: relay.url });
    await ana.page.goto(relay.url + "/");
    await ana.page.locator(".crisis li").first().waitFor();
    await shot(ana.page, "welcome");

    await ana.page.getByRole("button", { name: "Help now" }).first().click();
    await ana.page.getByRole("button", { name: "Close help" }).waitFor();
    await shot(ana.page, "help");
    await ana.page.getByRole("button", { name: "Close help" }).click();

    // The recovery phrase screen, then on as onboard() goes.
    await ana.page.getByRole("button", { name: "Start: choose a passphrase" }).click();
    await ana.page.getByLabel("Passphrase", { exact: true }).fill("correct horse battery staple river");
    await ana.page.getByLabel("The same passphrase again").fill("correct horse battery staple river");
    await ana.page.getByRole("button", { name: "Save and continue" }).click();
    await ana.page.locator("#recovery-phrase").waitFor({ timeout: 60_000 });
    await shot(ana.page, "recovery");
    await ana.page.getByLabel("I have written it down").check();
    await ana.page.getByRole("button", { name: "Continue" }).click();
    await ana.page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
    await shot(ana.page, "rooms");

    await createGroup(ana.page, "Tuesday circle", "Be kind. What is said here stays here.");
    await setName(ana.page, "Ana");
    const link = await invite(ana.page, "member");
    await ana.page.locator("svg.qr").waitFor();
    await shot(ana.page, "invite");
    await ana.page.getByRole("button", { name: "Done" }).click();

    const sam = await person(browser);
    await sam.page.goto(link);
    await sam.page.locator(".crisis li").first().waitFor();
    await onboard(sam.page, "another passphrase for sam here");
    await sam.page.locator("#room-title", { hasText: "Tuesday circle" }).waitFor({ timeout: 60_000 });
    await setName(sam.page, "Sam");
    await send(sam.page, "Hi, first time here. It has been a hard week.");
    await ana.page.locator(".timeline .message .text", { hasText: "hard week" }).waitFor({ timeout: 60_000 });
    await send(ana.page, "Welcome, Sam. Take your time; we are glad you came.");
    await sam.page.locator(".timeline .message .text", { hasText: "glad you came" }).waitFor({ timeout: 60_000 });
    await shot(sam.page, "room");
  });
});
