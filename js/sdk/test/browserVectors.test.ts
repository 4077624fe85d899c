import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

import { browserPage, CHROMIUM, haveChromium } from "./chromium.js";

const here = dirname(fileURLToPath(import.meta.url));

describe.skipIf(!haveChromium)(`in Chromium (${CHROMIUM})`, () => {
  it("holds the vectors and keeps its store on the browser's IndexedDB", async () => {
    const page = await browserPage(join(here, "browser", "vectors.ts"));
    try {
      const report = await page.run<{ ok: boolean; checks: number; failures: string[]; error?: string }>({});
      expect(report.error).toBeUndefined();
      expect(report.failures).toEqual([]);
      expect(report.checks).toBeGreaterThan(20);
      expect(report.ok).toBe(true);
    } finally {
      await page.close();
    }
  });
});

if (!haveChromium) {
  it.skip(`Chromium is not installed at ${CHROMIUM}: the browser tests skip (apt-get install chromium)`, () => {});
}
