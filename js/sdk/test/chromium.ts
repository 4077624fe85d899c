/**
 * Run a script in a real browser: headless Chromium from the distribution
 * (`/usr/bin/chromium`, or `HEARTH_CHROMIUM`), driven by playwright-core, on a page
 * served from loopback. The script is bundled by esbuild for the browser, with no
 * Node polyfills, as a front end's bundler would bundle the SDK.
 */

import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { build } from "esbuild";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

export interface Page {
  /** The page's origin, e.g. `http://127.0.0.1:41234`, for the relay's allowed origins. */
  readonly origin: string;
  /** Load the page with these globals set and wait for `window.__hearth`. */
  run<T>(globals: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Serve `entry` bundled for the browser on loopback; nothing runs until `run`. */
export async function browserPage(entry: string): Promise<Page> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  const code = bundle.outputFiles[0]!.text;
  let globals = "{}";
  const server: Server = createServer((req, res) => {
    if (req.url === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(code);
      return;
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end(
      `<!doctype html><meta charset="utf-8"><title>hearth</title>` +
        `<script>window.__globals = ${globals};</script><script type="module" src="/app.js"></script>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  return {
    origin,
    async run<T>(values: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
      globals = JSON.stringify(values);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(origin);
      try {
        await page.waitForFunction(() => (window as unknown as { __hearth?: unknown }).__hearth !== undefined, null, {
          timeout: timeoutMs,
        });
      } catch (exc) {
        throw new Error(`the page did not report: ${String(exc)}; page errors: ${errors.join("; ")}`);
      }
      const result = (await page.evaluate(() => (window as unknown as { __hearth: unknown }).__hearth)) as T;
      await page.close();
      return result;
    },
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
