// Build the web app into dist/, byte for byte the same from the same sources and
// lockfile, then write dist/release.json (docs/security.md, "How the release hash is
// computed").
//
//   node scripts/build.mjs [--out DIR] [--src DIR]
//
// What makes it reproducible:
// - fixed output names (index.html, app.js, sw.js, app.css, manifest.webmanifest,
//   icon.svg, icon-192.png, icon-512.png), no timestamps, no absolute paths: esbuild
//   minifies (no path comments), writes no source map, and keeps libraries' legal
//   comments at the end of app.js ("eof"); the PNG icons are committed files
//   (scripts/icons.mjs renders them from icon.svg), copied as they are;
// - sw.js, the service worker, is built last: it carries every other served file's
//   SHA-256 (its offline shell, src/sw.ts), so any change to the app is a new worker;
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
const STATIC = ["app.css", "icon-192.png", "icon-512.png", "icon.svg", "index.html", "manifest.webmanifest"];
/** Entry points of src/ that are not inputs of app.js. */
const WORKER = "sw.ts";

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

/** One esbuild bundle, as bytes. */
async function bundle(entry, outfile, format, define) {
  const result = await build({
    entryPoints: [join(src, entry)],
    bundle: true,
    platform: "browser",
    format,
    target: "es2022",
    minify: true,
    sourcemap: false,
    legalComments: "eof",
    charset: "utf8",
    write: false,
    outfile,
    absWorkingDir: web,
    define,
    plugins: [sdkSource],
    // Libraries resolve from the workspace, also for a --src tree copied elsewhere.
    nodePaths: [join(web, "node_modules"), join(web, "..", "node_modules")],
    logLevel: "silent",
  });
  if (result.outputFiles.length !== 1) throw new Error(`esbuild wrote more than ${outfile}`);
  return Buffer.from(result.outputFiles[0].contents);
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

const contents = new Map([
  ["app.js", await bundle("main.ts", "app.js", "esm", { __HEARTH_WEB_VERSION__: JSON.stringify(version) })],
]);
for (const name of STATIC) contents.set(name, readFileSync(join(src, name)));
const unknown = readdirSync(src).filter((name) => !STATIC.includes(name) && !name.endsWith(".ts"));
if (unknown.length > 0) throw new Error(`src/ holds files the build does not know: ${unknown.sort().join(", ")}`);

// The service worker's shell: every other file, sorted, with its hash; the cache is
// named after the list, so two releases never share one.
const shellFiles = {};
for (const name of [...contents.keys()].sort()) shellFiles[name] = sha256(contents.get(name));
const shell = { cache: `hearth-shell-${releaseHash(shellFiles).slice(0, 32)}`, files: shellFiles };
// A classic script (not a module): every browser with service workers runs one.
contents.set("sw.js", await bundle(WORKER, "sw.js", "iife", { __HEARTH_SHELL__: JSON.stringify(shell) }));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = {};
for (const name of [...contents.keys()].sort()) {
  writeFileSync(join(out, name), contents.get(name));
  files[name] = sha256(contents.get(name));
}
const release = { format: "hearth-web-release", version, files, release: releaseHash(files) };
writeFileSync(join(out, "release.json"), `${JSON.stringify(release, null, 2)}\n`);
console.log(`built ${out}: version ${version}, release ${release.release}`);
