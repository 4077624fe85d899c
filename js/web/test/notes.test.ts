// Private notes in the web app, through the real relay serving the built app: a
// person writes a note on the rooms screen; what reaches the relay (every request
// body and websocket frame) never holds its words; after a reload and the
// passphrase the note is there again; deleting it asks, Cancel focused. axe-core
// checks the notes screen.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { expectClean, haveChromium, onboard, PASSPHRASE, person, seriousViolations, useApp } from "./harness.js";

const WAIT = { timeout: 60_000 };

describe.skipIf(!haveChromium)("private notes in the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("a note is saved encrypted, shown again after a reload, and deleting it asks with Cancel focused", async () => {
    const ana = await person(browser);
    const page = ana.page;
    const sent: Buffer[] = [];
    page.on("request", (request) => {
      const body = request.postDataBuffer();
      if (body !== null) sent.push(body);
    });
    page.on("websocket", (ws) => ws.on("framesent", (frame) => sent.push(Buffer.from(frame.payload))));
    await page.goto(relay.url + "/");
    await onboard(page);
    const notes = page.getByRole("list", { name: "Your private notes" });
    await page.getByText("No notes yet.").waitFor(WAIT);
    await page.getByLabel("Title (optional)").fill("Safety plan");
    await page.getByLabel("Note", { exact: true }).fill("Call my sister Rosalind when the evenings get heavy");
    await page.getByRole("button", { name: "Save note" }).click();
    await page.getByText("Saved, encrypted.").waitFor(WAIT);
    await notes.getByText("Call my sister Rosalind when the evenings get heavy").waitFor(WAIT);
    expect(await seriousViolations(page)).toEqual([]);
    // Nothing the page sent to the relay (request bodies, websocket frames) holds the note's words.
    await expect.poll(() => sent.length, WAIT).toBeGreaterThan(0);
    for (const body of sent) {
      expect(body.includes("Rosalind")).toBe(false);
      expect(body.includes("Safety plan")).toBe(false);
    }

    await page.reload();
    await page.getByLabel("Passphrase").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByRole("heading", { name: "Your rooms" }).waitFor(WAIT);
    await notes.getByRole("heading", { name: "Safety plan" }).waitFor(WAIT);
    await notes.getByText("Call my sister Rosalind when the evenings get heavy").waitFor(WAIT);

    await notes.getByRole("button", { name: "Delete the note Safety plan" }).click();
    const ask = page.getByRole("dialog", { name: "Delete this note?" });
    await ask.waitFor(WAIT);
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    expect(await seriousViolations(page)).toEqual([]);
    await page.keyboard.press("Enter");
    await ask.waitFor({ state: "detached" });
    expect(await notes.getByRole("heading", { name: "Safety plan" }).count()).toBe(1);
    await notes.getByRole("button", { name: "Delete the note Safety plan" }).click();
    await ask.getByRole("button", { name: "Delete note" }).click();
    await page.getByText("Note deleted.").waitFor(WAIT);
    await page.getByText("No notes yet.").waitFor(WAIT);
    await expectClean(ana);
  });
});
