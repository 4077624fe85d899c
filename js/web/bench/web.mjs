// The browser's side of bench/web.py: headless Chromium (HEARTH_CHROMIUM, else
// /usr/bin/chromium) driven by playwright-core against a relay that bench/web.py
// started and that serves a fresh build of the web app. Each mode prints one JSON
// line on stdout.
//
//   node bench/web.mjs first-load URL LOADS   bytes of a first load, then LOADS cold loads timed
//   node bench/web.mjs sdk-size DIR           app.js with the whole SDK and libsodium, into DIR
//   node bench/web.mjs page DIR               writes the catch-up page into the web root DIR
//   node bench/web.mjs catchup URL PROFILE FRAGMENT [--bypass-csp]
//                                             opens bench-catchup.html#FRAGMENT in the
//                                             browser profile PROFILE (kept between runs);
//                                             --bypass-csp: the page's content security
//                                             policy is not enforced (bench/web.py says
//                                             when and why)
//
// Nothing waits a fixed time: every wait is on an event or a condition in the page.
import { build } from "esbuild";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, "..");
const sdkEntry = resolve(web, "..", "sdk", "src", "index.ts");
const CHROMIUM = process.env.HEARTH_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = ["--no-sandbox"];
const HEADING = "If you need help now";
/** Long enough for a 10,000-message catch-up on a loaded two-core machine. */
const CATCHUP_TIMEOUT_MS = 30 * 60_000;

/** The app's build options (scripts/build.mjs), the SDK bundled from its source. */
const sdkSource = {
  name: "hearth-sdk-source",
  setup(b) {
    b.onResolve({ filter: /^@hearth\/sdk$/ }, () => ({ path: sdkEntry }));
  },
};
const { version } = JSON.parse(readFileSync(join(web, "package.json"), "utf8"));
const appOptions = {
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  write: false,
  absWorkingDir: web,
  define: { __HEARTH_WEB_VERSION__: JSON.stringify(version) },
  plugins: [sdkSource],
  logLevel: "silent",
};

// Runs in every page before its own scripts (playwright injects it over the
// devtools protocol, so the app's content security policy does not apply to it).
// It records when the first screen's heading is in the document and visible
// (`dom`), the end of the first frame after that (`frame`: the animation frame's
// callback, then a task queued from it, which runs once that frame is painted), and
// the heading's paint time as Chromium's Element Timing reports it (`paint`).
function firstScreenProbe(heading) {
  const w = window;
  const done = { dom: null, frame: null, paint: null };
  const finish = () => {
    if (done.frame !== null && done.paint !== null) w.__firstScreen = done;
  };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.identifier === "hearth-first-screen" && done.paint === null) {
        done.paint = entry.renderTime || entry.loadTime;
        finish();
      }
    }
  }).observe({ type: "element", buffered: true });
  const visible = () =>
    [...document.querySelectorAll("h2")].find((h) => h.textContent.trim() === heading && h.checkVisibility());
  const observer = new MutationObserver(() => {
    const found = visible();
    if (found === undefined) return;
    observer.disconnect();
    done.dom = performance.now();
    found.setAttribute("elementtiming", "hearth-first-screen");
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        done.frame = performance.now();
        finish();
      };
      channel.port2.postMessage(null);
    });
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
}

async function waitFirstScreen(page) {
  await page.waitForFunction(() => window.__firstScreen !== undefined, null, { timeout: 60_000 });
  return page.evaluate(() => {
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return { ...window.__firstScreen, fcp: fcp ? fcp.startTime : null };
  });
}

/** One load in a fresh context: every response's sizes, until nothing is in flight. */
async function firstLoad(browser, url) {
  const context = await browser.newContext();
  await context.addInitScript(firstScreenProbe, HEADING);
  const finished = [];
  let inFlight = 0;
  let idle = null;
  const settle = () => {
    if (inFlight === 0 && idle !== null) idle();
  };
  context.on("request", () => inFlight++);
  context.on("requestfinished", (request) => {
    finished.push(request);
    inFlight--;
    settle();
  });
  context.on("requestfailed", (request) => {
    finished.push(request);
    inFlight--;
    settle();
  });
  const page = await context.newPage();
  // networkidle: no request of the page's for 500 ms, which is how one knows that
  // nothing more is coming; a service worker's own fetches are the context's.
  await page.goto(url, { waitUntil: "networkidle" });
  const screen = await waitFirstScreen(page);
  const worker = await page.evaluate(async () => {
    if (!("serviceWorker" in navigator)) return false;
    const registration = await navigator.serviceWorker.getRegistration();
    if (registration === undefined) return false;
    await navigator.serviceWorker.ready; // installed: whatever it caches is fetched
    return true;
  });
  if (inFlight > 0) await new Promise((resolve) => (idle = resolve));
  const files = [];
  for (const request of finished) {
    const response = await request.response();
    const sizes = await request.sizes();
    const headers = response ? await response.allHeaders() : {};
    let decoded = null;
    try {
      decoded = response ? (await response.body()).length : null;
    } catch {
      decoded = null; // a body the browser no longer holds (a redirect, a 304)
    }
    files.push({
      url: request.url(),
      status: response ? response.status() : null,
      failure: request.failure()?.errorText ?? null,
      encoding: headers["content-encoding"] ?? null,
      contentLength: headers["content-length"] !== undefined ? Number(headers["content-length"]) : null,
      body: sizes.responseBodySize,
      headers: sizes.responseHeadersSize,
      decoded,
      serviceWorker: request.serviceWorker() !== null,
    });
  }
  await context.close();
  return { files, screen, worker };
}

async function firstLoadMode(url, loads) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const bytes = await firstLoad(browser, url);
    const timed = [];
    for (let i = 0; i < loads; i++) {
      const context = await browser.newContext();
      await context.addInitScript(firstScreenProbe, HEADING);
      const page = await context.newPage();
      await page.goto(url, { waitUntil: "commit" });
      timed.push(await waitFirstScreen(page));
      await context.close();
    }
    return { chromium: browser.version(), node: process.version, ...bytes, loads: timed };
  } finally {
    await browser.close();
  }
}

/**
 * The app's bundle as the build makes it, with every export of the SDK kept, and the
 * SDK alone, written into DIR (app.js, app-with-sdk.js, sdk.js) for bench/web.py to
 * compress as the relay does.
 */
async function sdkSizeMode(dir) {
  const entries = {
    "app.js": 'import "./src/main.ts";',
    "app-with-sdk.js": 'import "./src/main.ts";\nexport * from "@hearth/sdk";',
    "sdk.js": 'export * from "@hearth/sdk";',
  };
  const sizes = {};
  for (const [name, contents] of Object.entries(entries)) {
    const result = await build({ ...appOptions, stdin: { contents, resolveDir: web, loader: "ts" }, outfile: name });
    writeFileSync(join(dir, name), result.outputFiles[0].contents);
    sizes[name] = result.outputFiles[0].contents.length;
  }
  return sizes;
}

async function pageMode(dir) {
  const result = await build({ ...appOptions, entryPoints: [join(here, "catchup.ts")], outfile: "bench-catchup.js" });
  writeFileSync(join(dir, "bench-catchup.js"), result.outputFiles[0].contents);
  writeFileSync(
    join(dir, "bench-catchup.html"),
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Hearth catch-up bench</title>' +
      '<script type="module" src="bench-catchup.js"></script></head><body></body></html>\n',
  );
  return { bytes: result.outputFiles[0].contents.length };
}

async function catchupMode(url, profile, fragment, bypassCSP) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, bypassCSP });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const started = performance.now();
    await page.goto(`${url}/bench-catchup.html#${fragment}`, { waitUntil: "commit" });
    await page.waitForFunction(() => window.__bench !== undefined, null, {
      timeout: CATCHUP_TIMEOUT_MS,
      polling: 100,
    });
    const wall = performance.now() - started;
    const result = await page.evaluate(() => window.__bench);
    if (result.error !== undefined) return { ...result, pageErrors: errors };
    const out = { ...result, wall, pageErrors: errors };
    if (result.read !== undefined) {
      const cdp = await context.newCDPSession(page);
      out.heap = await cdp.send("Runtime.getHeapUsage");
      await cdp.send("HeapProfiler.collectGarbage");
      out.heapAfterGc = await cdp.send("Runtime.getHeapUsage");
      await page.evaluate(() => window.__benchClose());
    }
    return out;
  } finally {
    await context.close();
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (!existsSync(CHROMIUM) && mode !== "sdk-size" && mode !== "page") {
  throw new Error(`Chromium is not at ${CHROMIUM} (set HEARTH_CHROMIUM)`);
}
let out;
if (mode === "first-load") out = await firstLoadMode(rest[0], Number(rest[1]));
else if (mode === "sdk-size") out = await sdkSizeMode(rest[0]);
else if (mode === "page") out = await pageMode(rest[0]);
else if (mode === "catchup") out = await catchupMode(rest[0], rest[1], rest[2], rest[3] === "--bypass-csp");
else throw new Error(`unknown mode ${mode}`);
console.log(JSON.stringify(out));
