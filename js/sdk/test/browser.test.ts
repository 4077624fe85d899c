import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));

describe("the browser bundle", () => {
  it("builds for a browser with no Node polyfills", () => {
    // esbuild fails on any Node-only import the entry point reaches.
    const out = execFileSync(process.execPath, [join(here, "..", "scripts", "bundle.mjs"), "--json"], {
      encoding: "utf8",
    });
    const report = JSON.parse(out) as { minified: number; gzip: number };
    expect(report.gzip).toBeGreaterThan(100_000); // libsodium's WebAssembly is in it
  });
});
