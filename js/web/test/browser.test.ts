// The built app in a real browser (headless Chromium, as js/sdk's browser tests):
// its first screen shows crisis help with nothing but its own files, the emergency
// advice first, runs under its content security policy with no violation, and says
// what it is (the version, the release hash from release.json, and that the hash is
// no guarantee). Skips, saying so, without Chromium.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";

const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webmanifest": "application/manifest+json",
};

async function serve(dir: string, withRelease: boolean): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const name = req.url === "/" ? "index.html" : (req.url ?? "").slice(1);
    const path = join(dir, name);
    if (!/^[a-z0-9.-]+$/.test(name) || !existsSync(path) || (name === "release.json" && !withRelease)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(name)] ?? "application/octet-stream",
      "content-security-policy": "frame-ancestors 'none'",
    });
    res.end(readFileSync(path));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe.skipIf(!existsSync(CHROMIUM))("the web app in Chromium", () => {
  const temp = mkdtempSync(join(tmpdir(), "hearth-web-browser-"));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));
  const out = join(temp, "dist");
  execFileSync(process.execPath, [join(web, "scripts", "build.mjs"), "--out", out], { stdio: "pipe" });
  const release = JSON.parse(readFileSync(join(out, "release.json"), "utf8")) as { release: string; version: string };

  for (const withRelease of [true, false]) {
    it(`shows crisis help first and says what it is (${withRelease ? "with" : "without"} release.json)`, async () => {
      const { url, server } = await serve(out, withRelease);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on("pageerror", (e) => problems.push(String(e)));
        page.on("console", (m) => {
          if (m.type() === "error" && !m.text().includes("404")) problems.push(m.text());
        });
        await page.route((target) => !target.href.startsWith(url), (route) => route.abort());
        await page.goto(url);
        await page.waitForSelector(".crisis li");
        const names = await page.locator(".crisis .name").allTextContents();
        expect(names[0]).toBe("Emergency services");
        expect(names).toContain("Find A Helpline");
        expect(await page.locator(".crisis li").first().textContent()).toContain("112");
        const about = page.locator(".about");
        await expect.poll(() => about.locator("code").textContent()).toBe(
          withRelease ? release.release : "not known (release.json could not be read)",
        );
        const text = (await about.textContent()) ?? "";
        expect(text).toContain(`version ${release.version}`);
        expect(text).toContain("not a guarantee");
        expect(text).toContain("hearth web-check");
        expect(problems).toEqual([]);
      } finally {
        await browser.close();
        server.close();
      }
    });
  }
});
