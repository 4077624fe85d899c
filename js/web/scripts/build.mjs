// Build the web app into dist/, byte for byte the same from the same sources and
// lockfile, then write dist/release.json (docs/security.md, "How the release hash is
// computed").
//
//   node scripts/build.mjs [--out DIR] [--src DIR]
//
// What makes it reproducible:
// - fixed output names (index.html, app.js, app.css, manifest.webmanifest, icon.svg),
//   no timestamps, no absolute paths: esbuild minifies (no path comments), writes no
//   source map, and keeps libraries' legal comments at the end of app.js ("eof");
// - the SDK is bundled from its TypeScript source (js/sdk/src), not from a prior
//   tsc build whose output could differ;
// - files are read and written in sorted order, and release.json is written with a
//   fixed key order, two-space indentation and one trailing newline;
// - the output directory is emptied first, so nothing from an earlier build stays.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, "..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? resolve(args[at + 1]) : fallback;
};
const src = option("--src", join(web, "src"));
const out = option("--out", join(web, "dist"));
const sdkEntry = resolve(web, "..", "sdk", "src", "index.ts");
const { version } = JSON.parse(readFileSync(join(web, "package.json"), "utf8"));

/** Copied as they are; everything else in src/ is an input of app.js. */
const STATIC = ["app.css", "icon.svg", "index.html", "manifest.webmanifest"];

/** The release hash over sorted (path, SHA-256) pairs: see docs/security.md. */
function releaseHash(files) {
  const paths = Object.keys(files).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  let text = "hearth-web-release-v1\n";
  for (const path of paths) text += `${path} ${files[path]}\n`;
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const sdkSource = {
  name: "hearth-sdk-source",
  setup(b) {
    b.onResolve({ filter: /^@hearth\/sdk$/ }, () => ({ path: sdkEntry }));
  },
};

const bundled = await build({
  entryPoints: [join(src, "main.ts")],
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  write: false,
  outfile: "app.js",
  absWorkingDir: web,
  define: { __HEARTH_WEB_VERSION__: JSON.stringify(version) },
  plugins: [sdkSource],
  // Libraries resolve from the workspace, also for a --src tree copied elsewhere.
  nodePaths: [join(web, "node_modules"), join(web, "..", "node_modules")],
  logLevel: "silent",
});
if (bundled.outputFiles.length !== 1) throw new Error("esbuild wrote more than app.js");

const contents = new Map([["app.js", Buffer.from(bundled.outputFiles[0].contents)]]);
for (const name of STATIC) contents.set(name, readFileSync(join(src, name)));
const unknown = readdirSync(src).filter((name) => !STATIC.includes(name) && !name.endsWith(".ts"));
if (unknown.length > 0) throw new Error(`src/ holds files the build does not know: ${unknown.sort().join(", ")}`);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = {};
for (const name of [...contents.keys()].sort()) {
  writeFileSync(join(out, name), contents.get(name));
  files[name] = createHash("sha256").update(contents.get(name)).digest("hex");
}
const release = { format: "hearth-web-release", version, files, release: releaseHash(files) };
writeFileSync(join(out, "release.json"), `${JSON.stringify(release, null, 2)}\n`);
console.log(`built ${out}: version ${version}, release ${release.release}`);
