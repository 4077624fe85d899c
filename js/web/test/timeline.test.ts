// The timeline tells the truth, in the browser (docs/front-ends.md): a join, a
// rename and a removal are lines in the room, the join and the removal rebuilt from
// the SDK's histories after a reload; blocking and removing ask first with Cancel
// focused and return the focus to the composer. And a restore from the recovery
// phrase in a fresh browser brings the room back by itself, saying it will.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import type { RelayProcess } from "../../sdk/test/relay.js";
import { createGroup, expectClean, haveChromium, invite, onboard, PASSPHRASE, person, send, setName, useApp } from "./harness.js";

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
            await room.set_name("Kit")
            await room.send("Kit here")
            print(json.dumps({"joined": room.id}), flush=True)
            await line()

asyncio.run(main())
`;

describe.skipIf(!haveChromium)("the web app's timeline", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("shows joins, renames, removals and deletions as lines, asks before delete, block and remove, and keeps the lines after a reload", async () => {
    const ana = await person(browser);
    const page = ana.page;
    await page.goto(relay.url + "/");
    await onboard(page);
    await createGroup(page, "Harbour group");
    // Choosing one's name says that other rooms do not see it; a refused name says why and the dialog stays.
    await page.getByRole("button", { name: "My name here" }).click();
    const nameDialog = page.getByRole("dialog", { name: "Your name in Harbour group" });
    expect(await nameDialog.textContent()).toContain("your other rooms do not");
    await page.getByLabel("Your name in this room").fill("Ana\u202e");
    await page.getByRole("button", { name: "Save name" }).click();
    await nameDialog.getByText("That name cannot be used").waitFor();
    await page.getByRole("button", { name: "Cancel" }).click();
    await setName(page, "Ana");
    const link = await invite(page);
    await page.getByRole("button", { name: "Done" }).click();
    const peer = new PythonScript(PEER, { relay: relay.url });
    try {
      peer.send(link);
      await peer.next();
      const kit = page.locator(".timeline .message", { hasText: "Kit here" });
      await kit.waitFor({ timeout: 60_000 });
      await expect.poll(() => kit.locator(".sender").textContent()).toBe("Kit (member)");
      const notices = () => page.locator(".timeline .notice").allTextContents();
      await expect.poll(notices).toContain("Kit (member) joined as member");
      await expect.poll(async () => (await notices()).some((line) => / is now Kit \(member\)$/.test(line))).toBe(true);

      // Deleting asks, Cancel focused; a moderator's deletion leaves a line; one's own just goes.
      await kit.getByRole("button", { name: "Delete the message from Kit (member)" }).click();
      const del = page.getByRole("dialog", { name: "Delete this message?" });
      await del.waitFor();
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
      await del.getByRole("button", { name: "Delete message" }).click();
      await kit.waitFor({ state: "detached", timeout: 60_000 });
      await expect.poll(notices).toContain("A message from Kit (member) was removed by a moderator, Ana (you, owner)");
      await expect.poll(() => page.evaluate(() => document.activeElement?.className)).toBe("composer");
      await send(page, "A slip of the thumb");
      const slip = page.locator(".timeline .message", { hasText: "A slip of the thumb" });
      await slip.getByRole("button", { name: "Delete your message" }).click();
      await page.getByRole("dialog", { name: "Delete your message?" }).getByRole("button", { name: "Delete message" }).click();
      await slip.waitFor({ state: "detached", timeout: 60_000 });

      // Block asks, Cancel focused; Enter cancels; the focus is back in the composer.
      await page.getByRole("button", { name: "People" }).click();
      const people = page.getByRole("dialog", { name: "People in Harbour group" });
      await people.getByText("Ana (you, owner)").waitFor();
      // Help is one tap away inside a dialog too, and closes back to it.
      await people.getByRole("button", { name: "Help now" }).click();
      await page.getByRole("button", { name: "Close help" }).click();
      await page.getByRole("dialog", { name: "If you need help now" }).waitFor({ state: "detached" });
      expect(await people.isVisible()).toBe(true);
      await page.getByRole("button", { name: "Block Kit" }).click();
      const block = page.getByRole("dialog", { name: "Block Kit (member)?" });
      await block.waitFor();
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
      await page.keyboard.press("Enter");
      await block.waitFor({ state: "detached" });
      await expect.poll(() => page.evaluate(() => document.activeElement?.className)).toBe("composer");

      // Remove asks too; confirmed, it is a line in the room.
      await page.getByRole("button", { name: "People" }).click();
      await page.getByRole("button", { name: "Remove Kit" }).click();
      const remove = page.getByRole("dialog", { name: "Remove Kit (member)?" });
      await remove.waitFor();
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
      await remove.getByRole("button", { name: "Remove from room" }).click();
      await expect.poll(async () => (await notices()).some((line) => /^Kit \(left\) was removed by Ana \(you, owner\)$/.test(line)), { timeout: 60_000 }).toBe(true);
      await expect.poll(() => page.evaluate(() => document.activeElement?.className)).toBe("composer");

      // After a reload the join and the removal are still lines: rebuilt from the SDK's histories.
      await page.reload();
      await page.getByLabel("Passphrase").fill(PASSPHRASE);
      await page.getByRole("button", { name: "Open" }).click();
      await page.getByRole("button", { name: "Harbour group" }).click();
      await expect.poll(notices, { timeout: 60_000 }).toContain("Kit (left) joined as member");
      expect(await notices()).toContain("Kit (left) was removed by Ana (you, owner)");
      await expectClean(ana);
    } finally {
      peer.send("quit");
      await peer.done();
    }
  });

  it("a restore from the recovery phrase in a fresh browser brings the room back by itself", async () => {
    const first = await person(browser);
    await first.page.goto(relay.url + "/");
    const phrase = await onboard(first.page);
    await createGroup(first.page, "Lighthouse group");
    await send(first.page, "Before the restore");

    const second = await person(browser);
    await second.page.goto(relay.url + "/");
    await second.page.getByRole("button", { name: "I have a recovery phrase" }).click();
    const said = await second.page.locator("main").textContent();
    expect(said).toContain("Your rooms come back by themselves");
    await second.page.getByLabel("Recovery phrase").fill(phrase.toLowerCase().replaceAll("-", " "));
    await second.page.getByLabel("A passphrase for this browser").fill("a new passphrase for this one");
    await second.page.getByRole("button", { name: "Restore" }).click();
    await second.page.getByRole("heading", { name: "Your rooms" }).waitFor({ timeout: 60_000 });
    expect((await second.page.locator("main").textContent()) ?? "").not.toMatch(/\blost\b/i);
    await second.page.getByRole("button", { name: "Lighthouse group" }).click({ timeout: 60_000 });
    await send(second.page, "After the restore");
    await first.page.locator(".timeline .message", { hasText: "After the restore" }).waitFor({ timeout: 60_000 });
    await expectClean(first);
    await expectClean(second);
  });
});
