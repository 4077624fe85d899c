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
  /** Load the page and call the functions its script put on `window.__api`, one by one. */
  open(): Promise<Api>;
  close(): Promise<void>;
}

/** A loaded page's `window.__api`: each call runs in the browser; errors come back as `{error, code}`. */
export interface Api {
  call<T>(name: string, ...args: unknown[]): Promise<T>;
  /** What the page printed to its console, for a failing test's message. */
  readonly console: string[];
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
    async open(): Promise<Api> {
      globals = "{}";
      const page = await browser.newPage();
      const lines: string[] = [];
      page.on("console", (m) => lines.push(m.text()));
      page.on("pageerror", (e) => lines.push(`page error: ${String(e)}`));
      await page.goto(origin);
      await page.waitForFunction(() => (window as unknown as { __api?: unknown }).__api !== undefined, null, {
        timeout: 60_000,
      });
      return {
        console: lines,
        async call<T>(name: string, ...args: unknown[]): Promise<T> {
          const answer = (await page.evaluate(
            async ([n, a]) => {
              const api = (window as unknown as { __api: Record<string, (...x: unknown[]) => Promise<unknown>> }).__api;
              try {
                return { ok: true, value: await api[n as string]!(...(a as unknown[])) };
              } catch (e) {
                const err = e as { message?: string; code?: string; name?: string };
                return { ok: false, error: `${err.name}: ${err.message}`, code: err.code ?? null };
              }
            },
            [name, args] as const,
          )) as { ok: true; value: T } | { ok: false; error: string; code: string | null };
          if (!answer.ok) {
            const error = new Error(`${name} failed in the browser: ${answer.error}`) as Error & { code: string | null };
            error.code = answer.code;
            throw error;
          }
          return answer.value;
        },
      };
    },
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
