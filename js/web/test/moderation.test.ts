// Moderation, reports and per-message features in the browser (docs/front-ends.md,
// "Moderation and safety"): Ana owns a group, Sam (a second browser) and Kit (a
// Python SDK person) are members. Replies, reactions and content warnings go
// between the two browsers, and Sam deletes a message of his own; Sam blocks and
// unblocks Kit and the room shows it at once; both compare safety numbers and the
// room fingerprint; Sam reports Kit's message, Ana deletes it and mutes Kit from her
// inbox, each after a question with Cancel focused, and Sam's timeline and the
// moderation history show both, after a reload too; then Ana bans Kit from the
// people list. Each menu offers only what its person may do. axe-core checks each
// new screen and dialog on the way.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import type { RelayProcess } from "../../sdk/test/relay.js";
import {
  appRelay,
  buildApp,
  createGroup,
  expectClean,
  haveChromium,
  invite,
  launch,
  onboard,
  type Person,
  person,
  send,
  seriousViolations,
  setName,
} from "./harness.js";

const KIT = `
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
            await room.set_name("Kit")
            await room.send("Kit here")
            await room.send("Nobody here cares about you")
            print(json.dumps({"joined": room.id}), flush=True)
            await line()

asyncio.run(main())
`;

const SAM_PASSPHRASE = "another passphrase for sam here";

const focused = (page: Page) => page.evaluate(() => document.activeElement?.textContent ?? document.activeElement?.className);
const notices = (page: Page) => page.locator(".timeline .notice").allTextContents();
const message = (page: Page, text: string) => page.locator(".timeline .message", { hasText: text });

/** Open a message's actions menu with the keyboard (Enter on the message); Cancel holds the focus. */
async function openMenu(page: Page, text: string): Promise<void> {
  await message(page, text).focus();
  await page.keyboard.press("Enter");
  await page.locator("dialog.menu").waitFor();
  expect(await focused(page)).toBe("Cancel");
}

describe.skipIf(!haveChromium)("moderation and per-message features in the web app", () => {
  let built: ReturnType<typeof buildApp>;
  let relay: RelayProcess;
  let browser: Browser;
  let ana: Person;
  let sam: Person;
  let kit: PythonScript;
  const axe: Record<string, string[]> = {};
  const check = async (screen: string, page: Page) => {
    axe[screen] = await seriousViolations(page);
  };

  beforeAll(async () => {
    built = buildApp();
    relay = await appRelay(built.dist);
    browser = await launch();
    ana = await person(browser);
    await ana.page.goto(relay.url + "/");
    await onboard(ana.page);
    await createGroup(ana.page, "Harbour group");
    await setName(ana.page, "Ana");
    const forSam = await invite(ana.page);
    await ana.page.getByRole("button", { name: "Done" }).click();
    const forKit = await invite(ana.page);
    await ana.page.getByRole("button", { name: "Done" }).click();
    // Sam joins first: newcomers do not see what was said before they came.
    sam = await person(browser);
    await sam.page.goto(forSam);
    await onboard(sam.page, SAM_PASSPHRASE);
    await sam.page.locator("#room-title", { hasText: "Harbour group" }).waitFor({ timeout: 60_000 });
    await setName(sam.page, "Sam");
    await send(sam.page, "Hi, I am Sam.");
    await message(ana.page, "Hi, I am Sam.").waitFor({ timeout: 60_000 });
    kit = new PythonScript(KIT, { relay: relay.url });
    kit.send(forKit);
    await kit.next();
    await send(ana.page, "Welcome, everyone.");
    await message(sam.page, "Welcome, everyone.").waitFor({ timeout: 60_000 });
    await message(sam.page, "Nobody here cares about you").waitFor({ timeout: 60_000 });
  }, 300_000);

  afterAll(async () => {
    kit?.send("quit");
    await kit?.done();
    await browser?.close();
    await relay?.dispose();
    built?.dispose();
  });

  it("round-trips a reply, a reaction and a content warning between two people", async () => {
    // The menu: on a message (reached with the arrows), Tab reaches its Actions
    // button; the menu opens with Cancel focused, and a stray Enter does nothing.
    // (openMenu below opens it with Enter on the message itself.)
    await sam.page.locator("textarea.composer").focus();
    await sam.page.keyboard.press("Shift+Tab");
    await sam.page.keyboard.press("End");
    expect(await sam.page.evaluate(() => document.activeElement?.textContent)).toContain("Welcome, everyone.");
    await sam.page.keyboard.press("Tab");
    expect(await sam.page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe(
      "Actions for the message from Ana (owner): Welcome, everyone.",
    );
    await sam.page.keyboard.press("Enter");
    await sam.page.locator("dialog.menu").waitFor();
    expect(await focused(sam.page)).toBe("Cancel");
    await check("message actions menu", sam.page);
    await sam.page.keyboard.press("Enter");
    await sam.page.locator("dialog.menu").waitFor({ state: "detached" });
    await expect.poll(() => sam.page.evaluate(() => document.activeElement?.className)).toBe("composer");

    // Reply: the bar says what the next message answers; the message shows it on both sides.
    await openMenu(sam.page, "Welcome, everyone.");
    await sam.page.getByRole("button", { name: "Reply", exact: true }).click();
    await sam.page.getByText("Replying to Ana (owner): Welcome, everyone.").waitFor();
    await send(sam.page, "Thank you, Ana.");
    await expect.poll(() => message(ana.page, "Thank you, Ana.").locator(".reply-to").textContent(), { timeout: 60_000 }).toBe(
      "In reply to Ana (you, owner): Welcome, everyone.",
    );
    expect(await message(sam.page, "Thank you, Ana.").locator(".reply-to").textContent()).toBe("In reply to Ana (owner): Welcome, everyone.");
    expect(await sam.page.locator(".replying").count()).toBe(0);

    // React: counts on both sides; a press on the count adds one's own.
    await openMenu(ana.page, "Thank you, Ana.");
    await ana.page.getByRole("button", { name: "React…" }).click();
    await ana.page.getByRole("dialog", { name: "React to the message" }).waitFor();
    await check("react dialog", ana.page);
    await ana.page.getByRole("button", { name: "🤗" }).click();
    const chip = (page: Page) => message(page, "Thank you, Ana.").locator(".reactions button");
    await expect.poll(() => chip(sam.page).textContent(), { timeout: 60_000 }).toBe("🤗 1");
    await expect.poll(() => chip(ana.page).getAttribute("aria-label"), { timeout: 60_000 }).toBe("🤗 1 reaction, yours among them: press to take yours back");
    await chip(sam.page).click();
    await expect.poll(() => chip(ana.page).textContent(), { timeout: 60_000 }).toBe("🤗 2");
    await expect.poll(() => chip(sam.page).textContent(), { timeout: 60_000 }).toBe("🤗 2");

    // A content warning: chosen before sending, shown under the composer, and the
    // other side sees only the warning until they open it (Enter on it); opened,
    // it still shows what it answers.
    await openMenu(ana.page, "Thank you, Ana.");
    await ana.page.getByRole("button", { name: "Reply", exact: true }).click();
    await ana.page.getByRole("button", { name: "Add a content warning" }).click();
    await ana.page.getByLabel("Content warning", { exact: true }).fill("loss of a pet");
    await check("content warning dialog", ana.page);
    await ana.page.getByLabel("Content warning", { exact: true }).press("Enter");
    await ana.page.getByText("Sent behind a content warning: loss of a pet").waitFor();
    await send(ana.page, "My dog died this morning.");
    const shut = sam.page.getByRole("button", { name: "Content warning: loss of a pet. Show" });
    await shut.waitFor({ timeout: 60_000 });
    expect(await sam.page.locator(".timeline").textContent()).not.toContain("My dog died");
    // With the keyboard alone: Shift+Tab from the composer reaches the messages, End
    // the newest, Enter on it opens the warning.
    await sam.page.locator("textarea.composer").focus();
    await sam.page.keyboard.press("Shift+Tab");
    expect(await sam.page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Messages in Harbour group");
    await sam.page.keyboard.press("End");
    expect(await sam.page.evaluate(() => document.activeElement?.textContent)).toContain("Content warning: loss of a pet. Show");
    await sam.page.keyboard.press("Enter");
    await message(sam.page, "My dog died this morning.").waitFor();
    expect(await message(sam.page, "My dog died this morning.").locator(".reply-to").textContent()).toBe("In reply to Sam (you, member): Thank you, Ana.");
    expect(await ana.page.getByText("Sent behind a content warning").count()).toBe(0);

    // Deleting one's own message asks first, Cancel focused; then it is gone on both sides.
    await send(sam.page, "Sorry, wrong room.");
    await message(ana.page, "Sorry, wrong room.").waitFor({ timeout: 60_000 });
    await openMenu(sam.page, "Sorry, wrong room.");
    expect(await sam.page.locator("dialog.menu button:not(.dialog-help)").allTextContents()).toEqual(["Cancel", "Reply", "React…", "Delete…"]);
    expect(await sam.page.locator("dialog.menu button.dialog-help").allTextContents()).toEqual(["Help now"]); // help in every dialog
    await sam.page.getByRole("button", { name: "Delete…" }).click();
    const ask = sam.page.getByRole("dialog", { name: "Delete your message?" });
    await ask.waitFor();
    expect(await focused(sam.page)).toBe("Cancel");
    await ask.getByRole("button", { name: "Delete message" }).click();
    await expect.poll(() => message(sam.page, "Sorry, wrong room.").count(), { timeout: 60_000 }).toBe(0);
    await expect.poll(() => message(ana.page, "Sorry, wrong room.").count(), { timeout: 60_000 }).toBe(0);
    await expectClean(ana);
    await expectClean(sam);
  });

  it("blocking and unblocking show at once, from the people list or a message's menu", async () => {
    const page = sam.page;
    await page.getByRole("button", { name: "People" }).click();
    await page.getByRole("button", { name: "Block Kit" }).click();
    const ask = page.getByRole("dialog", { name: "Block Kit (member)?" });
    await ask.waitFor();
    expect(await focused(page)).toBe("Cancel");
    await ask.getByRole("button", { name: "Block Kit" }).click();
    await expect.poll(() => message(page, "Kit here").count()).toBe(0);
    expect(await message(page, "Nobody here cares").count()).toBe(0);

    await page.getByRole("button", { name: "People" }).click();
    await page.getByRole("button", { name: "Unblock Kit" }).click();
    await message(page, "Kit here").waitFor();

    await openMenu(page, "Kit here");
    await page.getByRole("button", { name: "Block sender…" }).click();
    const again = page.getByRole("dialog", { name: "Block Kit (member)?" });
    await again.waitFor();
    expect(await focused(page)).toBe("Cancel");
    await again.getByRole("button", { name: "Block Kit" }).click();
    await expect.poll(() => message(page, "Kit here").count()).toBe(0);
    await page.getByRole("button", { name: "People" }).click();
    await page.getByRole("button", { name: "Unblock Kit" }).click();
    await message(page, "Nobody here cares about you").waitFor();
    await expectClean(sam);
  });

  it("shows the same safety number and room fingerprint on both people's screens", async () => {
    const read = async (page: Page, button: string, id: string) => {
      await page.getByRole("button", { name: "People" }).click();
      await page.getByRole("button", { name: button }).click();
      const digits = (await page.locator(`#${id}`).innerText()).trim();
      await check(`${button} dialog`, page);
      await page.getByRole("button", { name: "Close" }).click();
      return digits;
    };
    const anaSees = await read(ana.page, "Safety number with Sam", "safety-number");
    const samSees = await read(sam.page, "Safety number with Ana", "safety-number");
    expect(anaSees).toMatch(/^(\d{5} \d{5} \d{5} \d{5}\n){2}\d{5} \d{5} \d{5} \d{5}$/);
    expect(samSees).toBe(anaSees);
    expect(await read(sam.page, "Safety number with Kit", "safety-number")).not.toBe(anaSees);

    const fingerprint = async (page: Page) => {
      await page.getByRole("button", { name: "Safety", exact: true }).click();
      await check("safety menu", page);
      await page.getByRole("button", { name: "Room fingerprint" }).click();
      const shown = `${await page.locator(".fingerprint-index").textContent()}\n${(await page.locator("#room-fingerprint").innerText()).trim()}`;
      await check("room fingerprint dialog", page);
      await page.getByRole("button", { name: "Close" }).click();
      return shown;
    };
    const anaPrint = await fingerprint(ana.page);
    expect(anaPrint).toMatch(/^Change number \d+\n/);
    expect(await fingerprint(sam.page)).toBe(anaPrint);
  });

  it("a member reports a message; the owner deletes it and mutes its sender from the inbox; lines and history survive a reload", async () => {
    // Sam reports Kit's message, with a reason.
    await openMenu(sam.page, "Nobody here cares about you");
    await sam.page.getByRole("button", { name: "Report to moderators…" }).click();
    await sam.page.getByLabel("Why are you reporting it? (they read this)").fill("Cruel to people who are struggling");
    await check("report dialog", sam.page);
    await sam.page.getByRole("button", { name: "Send report" }).click();
    await sam.page.getByText("Report sent to the room's moderators.").waitFor({ timeout: 60_000 });

    // Ana's inbox shows the report with the reported message.
    // The room's Safety button counts the reports; its menu leads to them.
    const safety = ana.page.getByRole("button", { name: "Safety (1 report)" });
    await safety.waitFor({ timeout: 60_000 });
    const reports = {
      click: async () => {
        await safety.click();
        await ana.page.getByRole("button", { name: "Reports (1)" }).click();
      },
    };
    await reports.click();
    const inbox = ana.page.getByRole("dialog", { name: "Reports in Harbour group" });
    await inbox.waitFor();
    expect(await inbox.locator(".report-who").textContent()).toBe("Sam (member) reported a message from Kit (member)");
    expect(await inbox.locator(".quote").textContent()).toBe("Nobody here cares about you");
    expect(await inbox.textContent()).toContain("Reason: Cruel to people who are struggling");
    await check("reports inbox", ana.page);

    // Delete: asks, Cancel focused; a stray Enter cancels; then done for real.
    await inbox.getByRole("button", { name: "Delete the message" }).click();
    const ask = ana.page.getByRole("dialog", { name: "Delete Kit (member)'s message for everyone?" });
    await ask.waitFor();
    expect(await focused(ana.page)).toBe("Cancel");
    await check("delete question", ana.page);
    await ana.page.keyboard.press("Enter");
    await ask.waitFor({ state: "detached" });
    expect(await message(ana.page, "Nobody here cares about you").count()).toBe(1);
    await reports.click();
    await inbox.getByRole("button", { name: "Delete the message" }).click();
    await ask.getByRole("button", { name: "Delete message" }).click();
    const removed = "A message from Kit (member) was removed by a moderator, Ana (you, owner)";
    await expect.poll(() => notices(ana.page), { timeout: 60_000 }).toContain(removed);
    expect(await message(ana.page, "Nobody here cares about you").count()).toBe(0);

    // Mute, with a reason, from the inbox (which now says what was done).
    await reports.click();
    expect(await inbox.textContent()).toContain("Done: deleted");
    await inbox.getByRole("button", { name: "Mute Kit" }).click();
    const mute = ana.page.getByRole("dialog", { name: "Mute Kit (member)?" });
    await mute.waitFor();
    expect(await focused(ana.page)).toBe("Cancel");
    await check("mute question", ana.page);
    await mute.getByLabel("Reason (members see it)").fill("a day to cool off");
    await mute.getByRole("button", { name: "Mute Kit" }).click();
    await expect.poll(() => notices(ana.page), { timeout: 60_000 }).toContain("Ana (you, owner) muted Kit (member) (a day to cool off)");

    // The member's timeline shows both lines; the message is gone there too.
    const samLines = ["A message from Kit (member) was removed by a moderator, Ana (owner)", "Ana (owner) muted Kit (member) (a day to cool off)"];
    for (const line of samLines) await expect.poll(() => notices(sam.page), { timeout: 60_000 }).toContain(line);
    expect(await message(sam.page, "Nobody here cares about you").count()).toBe(0);

    // The moderation history lists both.
    const history = async () => {
      await sam.page.getByRole("button", { name: "Safety", exact: true }).click();
      expect(await sam.page.locator("dialog.menu button:not(.dialog-help)").allTextContents()).toEqual(["Close", "Moderation history", "Room fingerprint"]);
      await sam.page.getByRole("button", { name: "Moderation history" }).click();
      const dialog = sam.page.getByRole("dialog", { name: "Moderation history of Harbour group" });
      const items = await dialog.locator(".history li span").allTextContents();
      return { dialog, items };
    };
    const first = await history();
    expect(first.items).toEqual(samLines);
    await check("moderation history", sam.page);
    await first.dialog.getByRole("button", { name: "Close" }).click();

    // After a reload the lines and the history are rebuilt from what the SDK keeps.
    await sam.page.reload();
    await sam.page.getByLabel("Passphrase").fill(SAM_PASSPHRASE);
    await sam.page.getByRole("button", { name: "Open" }).click();
    await sam.page.getByRole("button", { name: "Harbour group" }).click({ timeout: 60_000 });
    for (const line of samLines) await expect.poll(() => notices(sam.page), { timeout: 60_000 }).toContain(line);
    expect((await history()).items).toEqual(samLines);
    await check("the room with moderation lines", sam.page);
    await sam.page.getByRole("button", { name: "Close" }).click();

    // A member sees no moderator's actions on someone else's message: report and block only.
    await send(ana.page, "One more thing from Ana.");
    await openMenu(sam.page, "One more thing from Ana.");
    expect(await sam.page.locator("dialog.menu button:not(.dialog-help)").allTextContents()).toEqual(["Cancel", "Reply", "React…", "Report to moderators…", "Block sender…"]);
    await sam.page.keyboard.press("Escape");

    // A ban from the people list asks too, with a reason, and is a line for everyone.
    await ana.page.getByRole("button", { name: "People" }).click();
    await ana.page.getByRole("button", { name: "Ban Kit" }).click();
    const ban = ana.page.getByRole("dialog", { name: "Ban Kit (member)?" });
    await ban.waitFor();
    expect(await focused(ana.page)).toBe("Cancel");
    await ban.getByLabel("Reason (members see it)").fill("repeated cruelty");
    await ban.getByRole("button", { name: "Ban Kit" }).click();
    await expect.poll(async () => (await notices(sam.page)).some((line) => /^Ana \(owner\) banned Kit \((member|left)\) \(repeated cruelty\)$/.test(line)), { timeout: 60_000 }).toBe(true);
    await expectClean(ana);
    await expectClean(sam);
  });

  it("has no serious or critical axe violation on the new screens and dialogs", () => {
    expect(Object.keys(axe).length).toBeGreaterThanOrEqual(10);
    expect(axe).toEqual(Object.fromEntries(Object.keys(axe).map((k) => [k, []])));
  });
});
