// The app as the relay serves it (server/webapp.py), in headless Chromium: the
// relay's Content-Security-Policy header narrows the page's own policy to the relay
// alone (a request to any other origin is refused by the browser, and reported),
// the page may still call the relay, and an invite link opened in the browser
// reaches the app with its secret, which the relay never saw. Skips, saying so,
// without Chromium.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type RelayProcess, startRelay } from "../../sdk/test/relay.js";

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The same files from a static host that sends no header at all: the controls. */
async function bareHost(dist: string): Promise<{ url: string; server: Server }> {
  const types: Record<string, string> = { html: "text/html", js: "text/javascript", css: "text/css" };
  const server = createServer((req, res) => {
    const name = req.url === "/" ? "index.html" : (req.url ?? "").slice(1).split("?")[0]!;
    if (!/^[a-z.]+$/.test(name) || !existsSync(join(dist, name))) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[name.split(".").pop()!] ?? "application/octet-stream" });
    res.end(readFileSync(join(dist, name)));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

/** In the page: fetch `target` and the page's own `/v1/crisis`, with the policy's reports. */
async function tryFetches(target: string): Promise<{ away: string; violations: string[] }> {
  const violations: string[] = [];
  document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective));
  let away = "sent";
  try {
    await fetch(target);
  } catch {
    away = "refused";
  }
  await new Promise((done) => setTimeout(done, 0)); // the violation event is queued as a task
  return { away, violations };
}

describe.skipIf(!existsSync(CHROMIUM))(`the app served by the relay (${CHROMIUM})`, () => {
  const temp = mkdtempSync(join(tmpdir(), "hearth-web-relay-"));
  const dist = join(temp, "dist");
  let relay: RelayProcess;
  beforeAll(async () => {
    execFileSync(process.execPath, [join(web, "scripts", "build.mjs"), "--out", dist], { stdio: "pipe" });
    relay = await startRelay({ env: { HEARTH_WEB_ROOT: dist } });
  });
  afterAll(async () => {
    await relay?.dispose();
    rmSync(temp, { recursive: true, force: true });
  });

  it("keeps the page to the relay: another origin is refused, the relay answers", async () => {
    // Another loopback origin that would answer anything: only the policy stops the page.
    let reached = 0;
    const other = createServer((_, res) => {
      reached += 1;
      res.writeHead(200, { "access-control-allow-origin": "*" }).end("{}");
    });
    await new Promise<void>((done) => other.listen(0, "127.0.0.1", done));
    const elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const response = await page.goto(relay.url + "/");
      expect(response?.headers()["content-security-policy"]).toContain("connect-src 'self'");
      expect(response?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
      await page.waitForSelector(".crisis li");
      expect(await page.evaluate(tryFetches, elsewhere)).toEqual({ away: "refused", violations: ["connect-src"] });
      expect(await page.evaluate(async () => (await fetch("/v1/crisis")).status)).toBe(200);
      expect(reached).toBe(0);
      // The control: the same files from a host that sends no header reach it, as
      // the page's own policy lets a copy hosted elsewhere reach its relay.
      const bare = await bareHost(dist);
      try {
        await page.goto(bare.url);
        await page.waitForSelector(".crisis li");
        expect(await page.evaluate(tryFetches, elsewhere)).toEqual({ away: "sent", violations: [] });
        expect(reached).toBe(1);
      } finally {
        bare.server.close();
      }

    } finally {
      await browser.close();
      other.close();
    }
  });

  it("refuses to be framed by another page", async () => {
    let framedUrl = `${relay.url}/`;
    const framer = createServer((_, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end(`<iframe src="${framedUrl}"></iframe>`);
    });
    await new Promise<void>((done) => framer.listen(0, "127.0.0.1", done));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const framerUrl = `http://127.0.0.1:${(framer.address() as AddressInfo).port}/`;
      // Chromium replaces a refused frame with its error page: the app never runs in it.
      await page.goto(framerUrl, { waitUntil: "load" });
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(frame?.url()).toMatch(/^chrome-error:/);
      // The control: the same files from a host that sends no header run in a frame.
      const bare = await bareHost(dist);
      try {
        framedUrl = bare.url;
        await page.goto(framerUrl, { waitUntil: "load" });
        const framed = page.frames().find((f) => f !== page.mainFrame());
        await framed?.waitForSelector(".crisis li");
        expect(framed?.url()).toBe(bare.url);
      } finally {
        bare.server.close();
      }
    } finally {
      await browser.close();
      framer.close();
    }
  });

  it("sends an invite link on to the app, keeping the secret the relay never saw", async () => {
    const room = "A".repeat(31) + "_";
    const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I";
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const paths: string[] = [];
      page.on("request", (r) => paths.push(r.url()));
      await page.goto(`${relay.url}/join/${room}#${secret}`);
      await page.waitForSelector(".crisis li");
      // Either still in the address (an app that has not taken it yet) or taken and
      // cleaned: never sent to the relay in any request.
      for (const url of paths) expect(url).not.toContain(secret);
      expect(paths[0]).toBe(`${relay.url}/join/${room}`);
      expect(paths).toContain(`${relay.url}/?join=${room}`);
    } finally {
      await browser.close();
    }
  });
});
