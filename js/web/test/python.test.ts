// A person in the web app and a person on the Python SDK, through the real relay
// (which serves the app): the Python person creates a group with ground rules and
// an invite granting `supporter`; the browser person pastes the link (wrapped over
// lines, as a copy by hand brings it) into "Join with a link", accepts the rules,
// and they talk, each seeing the other by name with the log's role.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";

import { PythonScript } from "../../sdk/test/python.js";
import type { RelayProcess } from "../../sdk/test/relay.js";
import { expectClean, haveChromium, onboard, person, send, setName, useApp } from "./harness.js";

const PEER = `
import asyncio, tempfile
from pathlib import Path
from client_sdk import HearthClient, Identity, MessageReceived

async def main():
    with tempfile.TemporaryDirectory(prefix="hearth-web-peer-") as tmp:
        async with HearthClient(data["relay"], Identity.generate(), store_path=Path(tmp) / "p.db") as client:
            room = await client.create_group("Python circle", rules="Listen first.")
            await room.accept_rules()
            await room.set_name("Priya")
            link = await room.create_invite(role="supporter")
            print(json.dumps({"link": link}), flush=True)
            async for event in client.events():
                if isinstance(event, MessageReceived) and not event.message.mine:
                    print(json.dumps({"text": event.message.text, "sender": event.message.sender_display}), flush=True)
                    await room.send("Hello from Python")
                    break
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

asyncio.run(main())
`;

describe.skipIf(!haveChromium)("the web app and the Python SDK", () => {
  let relay: RelayProcess;
  let browser: Browser;
  useApp((app) => ({ relay, browser } = app));

  it("a browser person joins a Python person's group by a pasted link and they talk by name and role", async () => {
    const peer = new PythonScript(PEER, { relay: relay.url });
    try {
      const { link } = await peer.next<{ link: string }>();
      const lee = await person(browser);
      await lee.page.goto(relay.url + "/");
      await onboard(lee.page);
      // Pasted as a copy by hand brings it: broken over lines, with spaces.
      const wrapped = `  ${link.slice(0, 30)}\n   ${link.slice(30, 70)} \r\n${link.slice(70)}\n`;
      await lee.page.getByLabel("Invite link").fill(wrapped);
      await lee.page.getByRole("button", { name: "Join", exact: true }).click();
      await lee.page.locator("#room-title", { hasText: "Python circle" }).waitFor({ timeout: 60_000 });
      await setName(lee.page, "Lee");
      await send(lee.page, "Hello from the browser");
      const heard = await peer.next<{ text: string; sender: string }>();
      expect(heard).toEqual({ text: "Hello from the browser", sender: "Lee (supporter)" });
      const theirs = lee.page.locator(".timeline .message", { hasText: "Hello from Python" });
      await theirs.waitFor({ timeout: 60_000 });
      await expect.poll(() => theirs.locator(".sender").textContent()).toBe("Priya (owner)");
      await expect.poll(() => lee.page.locator(".timeline .message", { hasText: "Hello from the browser" }).locator(".sender").textContent()).toBe(
        "Lee (you, supporter)",
      );
      await expectClean(lee);
    } finally {
      peer.send("quit");
      await peer.done();
    }
  });
});
