import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { HearthClient, Identity, MemoryBackend, cryptoReady } from "../src/index.js";
import { type Api, browserPage, CHROMIUM, haveChromium, type Page } from "./chromium.js";
import { type RelayProcess, startRelay } from "./relay.js";

const here = dirname(fileURLToPath(import.meta.url));

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(!haveChromium)(`a browser page talks through a relay on another origin (${CHROMIUM})`, () => {
  let page: Page;
  let relay: RelayProcess;
  let other: RelayProcess;

  beforeAll(async () => {
    await cryptoReady();
    page = await browserPage(join(here, "browser", "conversation.ts"));
    relay = await startRelay({ env: { HEARTH_ALLOWED_ORIGINS: page.origin } });
    other = await startRelay(); // no allowed origins: today's behaviour
  });
  afterAll(async () => {
    await page?.close();
    await relay?.dispose();
    await other?.dispose();
  });

  it("creates a group in the browser, a Node client joins, and they talk both ways live", async () => {
    const browser: Api = await page.open();
    await browser.call("open", relay.url, null);
    const { room, link } = await browser.call<{ room: string; link: string }>("createGroup", "Browser circle");
    await until(() => browser.call<boolean>("online"), "the browser's live stream");

    const node = await HearthClient.open({ relay: relay.url, identity: Identity.generate(), store: new MemoryBackend(), webSocket: WebSocket });
    try {
      const joined = await node.join(link);
      expect(joined.id).toBe(room);
      await until(() => joined.rules === "Be kind.", "the rules");
      await joined.acceptRules();
      await joined.send("hello from Node");
      expect(await browser.call<boolean>("waitText", "hello from Node", 20_000)).toBe(true);

      await browser.call("send", room, "hello from the browser");
      await until(async () => (await joined.messages({ limit: 50 })).some((m) => m.text === "hello from the browser"), "the browser's message");
      expect(await browser.call<string[]>("members", room)).toContain(joined.me);
      expect(await browser.call<string[]>("messages", room)).toEqual(["hello from Node", "hello from the browser"]);
    } finally {
      await node.close();
      await browser.call("close");
    }
  }, 120_000);

  it("cannot reach a relay that does not list its origin", async () => {
    const browser: Api = await page.open();
    // The browser itself blocks the answers: no Access-Control-Allow-Origin for this page.
    await expect(browser.call("open", other.url, null).then(() => browser.call("createGroup", "x"))).rejects.toMatchObject({
      code: "net.unavailable",
    });
    await browser.call("close");
  });
});

if (!haveChromium) {
  it.skip(`Chromium is not installed at ${CHROMIUM}: the browser tests skip (apt-get install chromium)`, () => {});
}
