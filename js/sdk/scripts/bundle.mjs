// Build the SDK for a browser, as a front end's bundler would, and report its size.
//
// esbuild with platform "browser" and no polyfills: a Node-only import anywhere in
// what the entry point reaches fails the build. Prints the minified and gzipped
// sizes of the SDK with its crypto (docs/performance.md quotes them).
//
//   node scripts/bundle.mjs [--out FILE] [--json]
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const result = await build({
  entryPoints: [join(here, "..", "src", "index.ts")],
  bundle: true,
  platform: "browser",
  format: "esm",
  minify: true,
  write: outIndex >= 0,
  outfile: outIndex >= 0 ? args[outIndex + 1] : join(here, "..", "dist", "browser.js"),
  logLevel: "silent",
  metafile: true,
});
const code = result.outputFiles ? result.outputFiles[0].contents : null;
const bytes = code ?? (await import("node:fs")).readFileSync(args[outIndex + 1]);
const report = { minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
if (args.includes("--json")) console.log(JSON.stringify(report));
else console.log(`browser bundle: ${(report.minified / 1024).toFixed(1)} KiB minified, ${(report.gzip / 1024).toFixed(1)} KiB gzip`);
