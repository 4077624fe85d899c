// A program run on the Python SDK, asked from the web app: the Python owner (Priya)
// publishes a risk plan and takes a supporter (Sam, Python too); the browser person
// (Lee) joins as a member by the link, asks for 1:1 support and waits; Sam claims
// and the buddy chat opens by itself in the browser, where they talk. Then Lee locks
// the app (Escape twice) and Sam raises a risk alert: nothing shows under the lock,
// and the unlock brings up the program's help, beside the device's own lines. The
// alert reaches Priya, never Lee.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import type { RelayProcess } from "../../sdk/test/relay.js";
import { expectClean, haveChromium, onboard, PASSPHRASE, person, send, setName, useApp } from "./harness.js";

const WAIT = { timeout: 60_000 };

const PEERS = `
import asyncio, tempfile
from pathlib import Path
from client_sdk import CrisisResource, HearthClient, Identity, MemberJoined, MessageReceived, RiskAlertReceived, SupportRequested

async def line():
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()

def say(**values):
    print(json.dumps(values), flush=True)

async def main():
    with tempfile.TemporaryDirectory(prefix="hearth-web-program-") as tmp:
        async with (
            HearthClient(data["relay"], Identity.generate(), store_path=Path(tmp) / "owner.db") as owner,
            HearthClient(data["relay"], Identity.generate(), store_path=Path(tmp) / "sam.db") as sam,
        ):
            program = await owner.create_program("Python peer line")
            await program.set_name("Priya")
            await program.set_risk_plan(
                "Stay with them; the desk answers.",
                [CrisisResource(name="Python desk line", regions=["*"], phone="0800 000 111")],
            )
            mine = await sam.join(await program.create_invite(role="supporter"))
            await mine.set_name("Sam")
            say(link=await program.create_invite(role="member"))
            async for event in sam.events():
                if isinstance(event, SupportRequested) and event.room_id == mine.id and not event.request.mine:
                    request = event.request
                    break
            say(asked=request.text, requester=mine.member(request.requester).display)
            assert await line() == "claim"
            await mine.set_availability(True)
            buddy = await mine.claim(request.id)
            # A buddy chat shares no history: write once the person is in.
            async for event in sam.events():
                if isinstance(event, MemberJoined) and event.room_id == buddy.id:
                    break
            await buddy.send("Hello, I'm Sam from the peer line.")
            async for event in sam.events():
                if isinstance(event, MessageReceived) and event.message.room_id == buddy.id and not event.message.mine:
                    say(heard=event.message.text)
                    break
            assert await line() == "raise"
            alert = await buddy.raise_risk_alert("worried about tonight")
            say(alerted=len(alert.moderators))
            async for event in owner.events():
                if isinstance(event, RiskAlertReceived):
                    say(owner=event.note, member=program.member(event.member).display)
                    break
            await line()

asyncio.run(main())
`;

describe.skipIf(!haveChromium)("a Python SDK program, asked from the web app", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("a Python supporter claims a browser member's request, and shared help raised under the lock waits for the unlock", async () => {
    const peers = new PythonScript(PEERS, { relay: relay.url });
    try {
      const { link } = await peers.next<{ link: string }>();
      const lee = await person(browser);
      // What the relay pushes to the page: the shared help reaches it under the lock.
      let frames = 0;
      lee.page.on("websocket", (ws) => ws.on("framereceived", () => (frames += 1)));
      await lee.page.goto(link);
      await onboard(lee.page);
      await lee.page.locator("#room-title", { hasText: "Python peer line" }).waitFor(WAIT);
      await setName(lee.page, "Lee");
      await expect.poll(() => lee.page.locator(".queue-note").textContent(), WAIT).toContain("No supporter is available right now.");
      await lee.page.getByRole("button", { name: "1:1 support" }).click();
      const dialog = lee.page.getByRole("dialog", { name: "1:1 support in Python peer line" });
      await dialog.getByLabel("What you would like to talk about (optional)").fill("exams, can't cope");
      await dialog.getByRole("button", { name: "Ask for 1:1 support" }).click();
      await expect.poll(() => dialog.locator(".place").textContent(), WAIT).toContain("you are number 1 in the queue");
      expect(await peers.next()).toEqual({ asked: "exams, can't cope", requester: "Lee (member)" });

      // The claim opens the chat behind the panel, and the panel says so.
      peers.send("claim");
      await expect.poll(() => dialog.locator(".place").textContent(), WAIT).toContain("A supporter took your request: your private chat is open behind this.");
      await dialog.getByRole("button", { name: "Close" }).click();
      await expect.poll(() => lee.page.locator(".buddy-note").textContent(), WAIT).toContain("1:1 with Sam (supporter)");
      await expect.poll(() => lee.page.evaluate(() => document.activeElement?.className)).toBe("composer");
      await lee.page.locator(".timeline .message", { hasText: "Hello, I'm Sam from the peer line." }).waitFor(WAIT);
      await send(lee.page, "Thanks for taking it.");
      expect(await peers.next()).toEqual({ heard: "Thanks for taking it." });

      // Locked: the shared help arrives and nothing shows until the passphrase.
      await lee.page.keyboard.press("Escape");
      await lee.page.keyboard.press("Escape");
      await lee.page.locator("#lock").waitFor();
      const before = frames;
      peers.send("raise");
      expect(await peers.next()).toEqual({ alerted: 1 });
      expect(await peers.next()).toEqual({ owner: "worried about tonight", member: "Lee (member)" });
      // The relay has pushed the help (and the alert Lee cannot read) to the page ...
      await expect.poll(() => frames, WAIT).toBeGreaterThan(before);
      const help = lee.page.getByRole("dialog", { name: "Help for right now" });
      expect(await help.count()).toBe(0);
      expect(await lee.page.locator("body").textContent()).not.toContain("Python desk line");
      await lee.page.getByLabel("Passphrase").fill(PASSPHRASE);
      await lee.page.getByRole("button", { name: "Open" }).click();
      // ... which shows once the lock opens: the program's line first, the device's beside it.
      await help.waitFor(WAIT);
      expect(await help.getByRole("list", { name: "The program's help lines" }).textContent()).toContain("Python desk line");
      expect(await help.getByRole("list", { name: "Help lines on this device" }).locator("li").first().textContent()).toContain("Emergency services");
      await help.getByRole("button", { name: "Close help" }).click();
      await expect.poll(() => lee.page.locator(".timeline .risk-help").allTextContents(), WAIT).toEqual([
        expect.stringContaining("Sam (supporter) shared help for right now: “Stay with them; the desk answers.” Python desk line (0800 000 111)"),
      ]);
      expect(await lee.page.locator("body").textContent()).not.toContain("RISK ALERT");
      await expectClean(lee);
    } finally {
      peers.send("quit");
      await peers.done();
    }
  });
});
