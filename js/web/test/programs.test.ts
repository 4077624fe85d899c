// A community program in three browsers through the real relay, which serves the
// app: its owner (Olu) creates it and invites a supporter (Sam) and a member (Mia)
// with the invite dialog. Mia asks for 1:1 support while nobody is available and is
// told so with a listed crisis line beside her place; Sam, still away, is told to set
// himself available before claiming; Sam goes available (Olu's count follows while he
// types), claims, and the buddy chat opens by itself for both, listed apart from the
// rooms under the other person's name and role; they talk there. Then the risk path:
// Olu writes the program's risk plan, Sam raises the alert from the buddy chat (the
// dialog says what it does, Cancel focused, Enter in the note raises nothing), both
// see the program's help beside their own lines and a line in the chat, Olu is
// alerted, and Mia is not shown the alert. axe-core checks every new screen.
//
// The `it`s run in order on one program: each is one rule, and each later one starts
// where the one before it left the three people.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { RelayProcess } from "../../sdk/test/relay.js";
import { appRelay, buildApp, expectClean, haveChromium, invite, launch, onboard, type Person, person, send, seriousViolations, setName } from "./harness.js";

const WAIT = { timeout: 60_000 };

describe.skipIf(!haveChromium)("programs and buddy chats in the web app", () => {
  let built: ReturnType<typeof buildApp>;
  let relay: RelayProcess;
  let browser: Browser;
  let olu: Person;
  let sam: Person;
  let mia: Person;
  const axe: Record<string, string[]> = {};
  const check = async (page: Page, screen: string) => {
    axe[screen] = await seriousViolations(page);
  };

  beforeAll(async () => {
    built = buildApp();
    relay = await appRelay(built.dist);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
    built?.dispose();
  });

  const supportDialog = (page: Page) => page.getByRole("dialog", { name: "1:1 support in Peer line" });
  const openSupport = async (page: Page) => {
    await page.getByRole("button", { name: "1:1 support" }).click();
    await supportDialog(page).waitFor(WAIT);
  };
  const openRoom = async (page: Page, name: string | RegExp) => {
    await page.getByRole("button", { name: "‹ Rooms" }).click();
    await page.getByRole("button", { name }).first().click();
  };

  it("the empty queue names help: before asking and while waiting, a listed crisis line beside the place", async () => {
    olu = await person(browser, { clipboard: relay.url });
    await olu.page.goto(relay.url + "/");
    await onboard(olu.page);
    await check(olu.page, "rooms with programs and 1:1 chats");
    await olu.page.getByLabel("Program name").fill("Peer line");
    await olu.page.getByRole("button", { name: "Create program" }).click();
    await olu.page.locator("#room-title", { hasText: "Peer line" }).waitFor(WAIT);
    await setName(olu.page, "Olu");
    const supporterLink = await invite(olu.page, "supporter");
    await expect.poll(() => olu.page.locator(".dialog-body").textContent()).toContain("join as supporter");
    await olu.page.getByRole("button", { name: "Done" }).click();
    const memberLink = await invite(olu.page, "member");
    await olu.page.getByRole("button", { name: "Done" }).click();

    sam = await person(browser);
    await sam.page.goto(supporterLink);
    await onboard(sam.page, "sam's own long passphrase here");
    await sam.page.locator("#room-title", { hasText: "Peer line" }).waitFor(WAIT);
    await setName(sam.page, "Sam");

    mia = await person(browser);
    await mia.page.goto(memberLink);
    await onboard(mia.page, "mia's own long passphrase here");
    await mia.page.locator("#room-title", { hasText: "Peer line" }).waitFor(WAIT);
    await setName(mia.page, "Mia");

    // Before asking: the program room says nobody is available, with a listed line.
    const banner = mia.page.locator(".queue-note");
    await expect.poll(() => banner.textContent(), WAIT).toContain("No supporter is available right now.");
    expect(await banner.textContent()).toContain("Find A Helpline: https://findahelpline.com");
    await check(mia.page, "a program room, as a member");
    await openSupport(mia.page);
    const dialog = supportDialog(mia.page);
    await expect.poll(() => dialog.locator(".on-duty").textContent(), WAIT).toBe("0 of 1 supporter is available now.");
    expect(await dialog.locator(".meanwhile").textContent()).toContain("If you need someone now: Find A Helpline");
    await check(mia.page, "the support panel, as a member");
    // The note is optional; this one says what Mia would like to talk about.
    await dialog.getByLabel("What you would like to talk about (optional)").fill("can't sleep, scared");
    await dialog.getByRole("button", { name: "Ask for 1:1 support" }).click();
    // While waiting: the place, and the line beside it.
    await expect.poll(() => dialog.locator(".place").textContent(), WAIT).toContain("you are number 1 in the queue");
    // The form hid under the focus: the place takes it, so it is read out.
    await expect.poll(() => mia.page.evaluate(() => document.activeElement?.className)).toBe("place");
    expect(await dialog.locator(".place").textContent()).toContain("You keep your place");
    expect(await dialog.locator(".meanwhile").textContent()).toContain("If you need someone now: Find A Helpline");
    await dialog.getByRole("button", { name: "Close" }).click();
    await expect.poll(() => banner.textContent(), WAIT).toContain("you are number 1 in the queue");
    expect(await banner.textContent()).toContain("No supporter is available right now. If you need someone now: Find A Helpline");
    await expectClean(mia);
  });

  it("claiming while away says to set oneself available first, not an error code", async () => {
    await expect.poll(() => sam.page.locator(".queue-note").textContent(), WAIT).toBe("You are away. Support queue: 1 waiting.");
    await openSupport(sam.page);
    const dialog = supportDialog(sam.page);
    const request = dialog.locator(".support-queue li", { hasText: "Mia (member)" });
    await request.waitFor(WAIT);
    // The supporter reads the note; the claim button names whose request it is.
    expect(await request.locator(".request-text").textContent()).toBe("can't sleep, scared");
    await check(sam.page, "the support panel, as a supporter");
    await dialog.getByRole("button", { name: "Claim the request from Mia (member)" }).click();
    const said = dialog.locator(".support-said");
    await expect.poll(() => said.textContent()).toContain("You are set as away, so you cannot take a request yet. Press “Set me available” first");
    expect(await said.textContent()).not.toContain("support.");
    // Nothing was claimed: the request still waits.
    expect(await dialog.locator(".support-queue li").count()).toBe(1);
    await expectClean(sam);
  });

  it("a program request is claimed: counts follow statuses, keeping what is typed, and both chat in the buddy chat that opens by itself", async () => {
    // Olu (the owner, not a supporter) starts writing a request of his own.
    await openSupport(olu.page);
    const oluDialog = supportDialog(olu.page);
    const oluNote = oluDialog.getByLabel("What you would like to talk about (optional)");
    await oluNote.fill("half a thought");
    await expect.poll(() => oluDialog.locator(".on-duty").textContent(), WAIT).toBe("0 of 1 supporter is available now.");
    // Mia is writing to the whole program room meanwhile.
    await mia.page.locator("textarea.composer").fill("does anyone else feel like this");

    const samDialog = supportDialog(sam.page);
    await samDialog.getByRole("button", { name: "Set me available" }).click();
    await expect.poll(() => samDialog.locator(".availability").textContent(), WAIT).toBe("You are available for 1:1 chats.");
    // Olu's count follows at once; what he typed stays, and so does his focus.
    await expect.poll(() => oluDialog.locator(".on-duty").textContent(), WAIT).toBe("1 of 1 supporter is available now.");
    expect(await oluDialog.locator(".meanwhile").isHidden()).toBe(true);
    expect(await oluNote.inputValue()).toBe("half a thought");
    await expect.poll(() => olu.page.evaluate(() => (document.activeElement as HTMLTextAreaElement | null)?.name)).toBe("request-text");
    await oluDialog.getByRole("button", { name: "Close" }).click();
    // Mia's banner no longer says nobody is there.
    await expect.poll(() => mia.page.locator(".queue-note").textContent(), WAIT).toBe("You asked for 1:1 support: you are number 1 in the queue.");

    // With the keyboard alone: from the availability button, past the limit, to Claim.
    await expect.poll(() => sam.page.evaluate(() => document.activeElement?.textContent)).toBe("Set me away");
    for (const _ of [1, 2, 3]) await sam.page.keyboard.press("Tab");
    await expect.poll(() => sam.page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Claim the request from Mia (member)");
    await sam.page.keyboard.press("Enter");
    await samDialog.waitFor({ state: "detached", ...WAIT });
    // The chat opened for both, each naming the other with their program role.
    await expect.poll(() => sam.page.locator(".buddy-note").textContent(), WAIT).toContain("1:1 with Mia (member)");
    await expect.poll(() => mia.page.locator(".buddy-note").textContent(), WAIT).toContain("1:1 with Sam (supporter)");
    // It opened by itself for Mia with no draft: Enter sends nothing there.
    const miaComposer = mia.page.locator("textarea.composer");
    expect(await miaComposer.inputValue()).toBe("");
    await miaComposer.press("Enter");
    expect(await mia.page.locator(".timeline .message").count()).toBe(0);
    await check(mia.page, "a buddy chat, as the person who asked");
    await check(sam.page, "a buddy chat, as the supporter");

    await send(sam.page, "Hi Mia, I'm Sam. I'm here.");
    await mia.page.locator(".timeline .message", { hasText: "Hi Mia, I'm Sam. I'm here." }).waitFor(WAIT);
    await send(mia.page, "Thank you for coming.");
    await sam.page.locator(".timeline .message", { hasText: "Thank you for coming." }).waitFor(WAIT);

    // Buddy chats are listed apart from the rooms, by the other person's name and role.
    await mia.page.getByRole("button", { name: "‹ Rooms" }).click();
    const chats = mia.page.getByRole("list", { name: "Your 1:1 chats" });
    await expect.poll(() => chats.getByRole("button").allTextContents(), WAIT).toEqual(["1:1 with Sam (supporter)"]);
    await check(mia.page, "rooms with a 1:1 chat");
    expect(await mia.page.getByRole("list", { name: "Your rooms" }).getByRole("button").allTextContents()).toEqual(["Peer line"]);
    // The draft stayed with the program room where it was written.
    await mia.page.getByRole("button", { name: "Peer line" }).click();
    await expect.poll(() => miaComposer.inputValue(), WAIT).toBe("does anyone else feel like this");
    await openRoom(mia.page, "1:1 with Sam (supporter)");
    await mia.page.locator(".timeline .message", { hasText: "Thank you for coming." }).waitFor(WAIT);
    await expectClean(olu);
    await expectClean(sam);
    await expectClean(mia);
  });

  it("the risk action shows the program's help to both and alerts the moderators, not the person at risk", async () => {
    // Olu, the owner, writes the program's risk plan.
    await openSupport(olu.page);
    await supportDialog(olu.page).getByRole("button", { name: "Risk plan (none yet)…" }).click();
    const planDialog = olu.page.getByRole("dialog", { name: "Risk plan of Peer line" });
    await planDialog.waitFor(WAIT);
    await planDialog.getByLabel("What supporters do, and what the person can do").fill("Stay with them. Peer line's duty desk answers day and night.");
    await planDialog.getByLabel("Help lines, one per line").fill("Peer line duty desk | 0800 555 0100\nNot a region | 123 | GBR");
    await check(olu.page, "the risk plan");
    await planDialog.getByRole("button", { name: "Publish the plan" }).click();
    await expect.poll(() => planDialog.locator(".status").textContent()).toContain("“GBR” is not a two-letter region code");
    await planDialog.getByLabel("Help lines, one per line").fill("Peer line duty desk | 0800 555 0100");
    await planDialog.getByRole("button", { name: "Publish the plan" }).click();
    await planDialog.waitFor({ state: "detached", ...WAIT });
    await expect.poll(() => supportDialog(olu.page).getByRole("button", { name: /^Risk plan/ }).textContent(), WAIT).toBe("Risk plan (published)…");
    await supportDialog(olu.page).getByRole("button", { name: "Close" }).click();
    await expect.poll(() => sam.page.evaluate(() => document.querySelector(".buddy-note")?.textContent ?? ""), WAIT).toContain("Imminent risk");

    // Only the supporter whose claim opened the chat is offered the action.
    expect(await mia.page.getByRole("button", { name: "Imminent risk…" }).isHidden()).toBe(true);
    await sam.page.getByRole("button", { name: "Imminent risk…" }).click();
    const risk = sam.page.getByRole("dialog", { name: "Imminent risk" });
    await risk.waitFor(WAIT);
    const question = (await risk.textContent()) ?? "";
    expect(question).toContain("Do you believe Mia (member) is at imminent risk?");
    expect(question).toContain("to both of you in this chat now");
    expect(question).toContain("the program's moderators (1)");
    // Cancel holds the focus; Enter in the note raises nothing.
    await expect.poll(() => sam.page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    await check(sam.page, "the risk dialog");
    const note = risk.getByLabel("Your note for the moderators (optional)");
    await note.fill("said goodbye, has a plan for tonight");
    await note.press("Enter");
    expect(await risk.isVisible()).toBe(true);
    await risk.getByRole("button", { name: "Cancel" }).press("Enter");
    await risk.waitFor({ state: "detached" });
    expect(await sam.page.getByRole("dialog", { name: "Help for right now" }).count()).toBe(0);

    await sam.page.getByRole("button", { name: "Imminent risk…" }).click();
    await risk.waitFor(WAIT);
    await risk.getByLabel("Your note for the moderators (optional)").fill("said goodbye, has a plan for tonight");
    await risk.getByRole("button", { name: "Show help and alert the moderators" }).click();

    // Both see the program's lines first, their own device's beside them.
    for (const p of [sam, mia]) {
      const help = p.page.getByRole("dialog", { name: "Help for right now" });
      await help.waitFor(WAIT);
      expect(await help.locator(".program-words").textContent()).toBe("Stay with them. Peer line's duty desk answers day and night.");
      expect(await help.getByRole("list", { name: "The program's help lines" }).locator("li").first().textContent()).toContain("Peer line duty desk");
      const own = help.getByRole("list", { name: "Help lines on this device" });
      expect(await own.locator("li").first().textContent()).toContain("Emergency services");
      expect(await own.textContent()).toContain("Find A Helpline");
    }
    expect(await mia.page.getByRole("dialog", { name: "Help for right now" }).textContent()).toContain("Sam (supporter) shared help");
    await check(mia.page, "shared help");
    await expect.poll(() => sam.page.locator(".risk-said").textContent(), WAIT).toBe("The help is shown to both of you; 1 moderator alerted. Stay with them in this chat.");
    for (const p of [sam, mia]) {
      await p.page.getByRole("dialog", { name: "Help for right now" }).getByRole("button", { name: "Close help" }).click();
      // The line stays in the chat's timeline after the help closes.
      await expect.poll(() => p.page.locator(".timeline .risk-help").allTextContents(), WAIT).toEqual([
        expect.stringContaining("shared help for right now: “Stay with them. Peer line's duty desk answers day and night.” Peer line duty desk (0800 555 0100)"),
      ]);
    }

    // The owner (the program's only moderator) is told at once, and it is a line in the program room.
    const alert = olu.page.getByRole("dialog", { name: "Risk alert" });
    await alert.waitFor(WAIT);
    const alertText = "RISK ALERT from Sam (supporter), who fears Mia (member) is at imminent risk: “said goodbye, has a plan for tonight”.";
    expect(await alert.textContent()).toContain(alertText);
    // It opened with the focus on its words: a stray key neither closes it nor acts.
    await expect.poll(() => olu.page.evaluate(() => document.activeElement?.className)).toBe("risk-alert");
    await olu.page.keyboard.type("ok ");
    await olu.page.keyboard.press("Enter");
    expect(await alert.isVisible()).toBe(true);
    await check(olu.page, "the risk alert");
    await alert.getByRole("button", { name: "Open Peer line" }).click();
    await expect.poll(() => olu.page.locator(".timeline .risk-alert").allTextContents(), WAIT).toEqual([expect.stringContaining(alertText)]);

    // The person at risk is shown no alert: not in the program room, nowhere.
    await openRoom(mia.page, "Peer line");
    await mia.page.locator("#room-title", { hasText: "Peer line" }).waitFor(WAIT);
    await expect.poll(() => mia.page.locator(".timeline .notice").count(), WAIT).toBeGreaterThan(0);
    expect(await mia.page.locator("body").textContent()).not.toContain("RISK ALERT");
    expect(await mia.page.getByRole("dialog", { name: "Risk alert" }).count()).toBe(0);
    await expectClean(olu);
    await expectClean(sam);
    await expectClean(mia);
  });

  it("has no serious or critical axe violation on the programs' and buddy chats' screens", () => {
    expect(Object.keys(axe).length).toBeGreaterThanOrEqual(11);
    expect(axe).toEqual(Object.fromEntries(Object.keys(axe).map((k) => [k, []])));
  });
});
