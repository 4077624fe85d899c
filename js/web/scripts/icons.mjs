// Render src/icon.svg to the PNG icons the manifest lists (src/icon-192.png,
// src/icon-512.png), in headless Chromium. Run it when icon.svg changes and commit
// the PNGs: the build copies them as they are, so it needs no browser and stays byte
// for byte the same (a renderer's output may differ between Chromium versions).
//
//   node scripts/icons.mjs [chromium-path]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const src = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), "src");
const svg = readFileSync(join(src, "icon.svg"), "utf8");
const browser = await chromium.launch({ executablePath: process.argv[2] ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  for (const size of [192, 512]) {
    const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: 1 });
    const sized = svg.replace("<svg ", `<svg width="${size}" height="${size}" `);
    await page.setContent(`<style>html,body{margin:0;background:transparent}svg{display:block}</style>${sized}`);
    writeFileSync(join(src, `icon-${size}.png`), await page.screenshot({ omitBackground: true, type: "png" }));
    await page.close();
  }
} finally {
  await browser.close();
}
