// The web app builds byte for byte the same from the same tree, and its release hash
// follows every byte of what is served (docs/security.md, "How the release hash is
// computed"): the hash is recomputed here from the definition, not taken from the
// build script.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const temp = mkdtempSync(join(tmpdir(), "hearth-web-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

interface Release {
  format: string;
  version: string;
  files: Record<string, string>;
  release: string;
}

function buildInto(name: string, src?: string): string {
  const out = join(temp, name);
  const args = [join(web, "scripts", "build.mjs"), "--out", out];
  if (src !== undefined) args.push("--src", src);
  execFileSync(process.execPath, args, { cwd: web, stdio: "pipe" });
  return out;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function definitionHash(files: Record<string, string>): string {
  const lines = Object.entries(files)
    .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map(([path, hash]) => `${path} ${hash}\n`);
  return sha256(`hearth-web-release-v1\n${lines.join("")}`);
}

function tree(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((name) => [name, readFileSync(join(dir, name))]));
}

describe("the web app's build", () => {
  const first = buildInto("first");
  const second = buildInto("second");
  const release = JSON.parse(readFileSync(join(first, "release.json"), "utf8")) as Release;

  it("is byte for byte the same twice from the same tree", () => {
    const a = tree(first);
    const b = tree(second);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, bytes] of a) expect(Buffer.compare(bytes, b.get(name)!), name).toBe(0);
  });

  it("lists every served file with its SHA-256 and the release hash over them", () => {
    const served = [...tree(first).keys()].filter((name) => name !== "release.json");
    expect(Object.keys(release.files).sort()).toEqual(served);
    for (const name of served) expect(release.files[name], name).toBe(sha256(readFileSync(join(first, name))));
    expect(release.format).toBe("hearth-web-release");
    expect(release.version).toBe(JSON.parse(readFileSync(join(web, "package.json"), "utf8")).version);
    expect(release.release).toBe(definitionHash(release.files));
  });

  it("changes its release hash when one source byte changes", () => {
    const src = join(temp, "src");
    cpSync(join(web, "src"), src, { recursive: true });
    const css = readFileSync(join(src, "app.css"));
    css[css.length - 2] = css[css.length - 2]! ^ 1;
    writeFileSync(join(src, "app.css"), css);
    const changed = JSON.parse(readFileSync(join(buildInto("changed", src), "release.json"), "utf8")) as Release;
    expect(changed.files["app.css"]).not.toBe(release.files["app.css"]);
    expect(changed.files["app.js"]).toBe(release.files["app.js"]);
    expect(changed.release).not.toBe(release.release);
    // The service worker carries the other files' hashes: a changed file is a new worker.
    expect(changed.files["sw.js"]).not.toBe(release.files["sw.js"]);
  });

  it("bakes every other served file and its hash into the service worker", () => {
    const sw = readFileSync(join(first, "sw.js"), "utf8");
    const listed = [...sw.matchAll(/"([a-z0-9.-]+)":"([0-9a-f]{64})"/g)].map(([, name, hash]) => [name, hash]);
    const others = Object.entries(release.files).filter(([name]) => name !== "sw.js");
    expect(listed).toEqual(others);
    expect(sw).not.toContain(web);
  });

  it("shows crisis help without the network and runs under a CSP with no inline code", () => {
    const html = readFileSync(join(first, "index.html"), "utf8");
    expect(html).toContain('http-equiv="Content-Security-Policy"');
    expect(html).toContain("script-src 'self' 'wasm-unsafe-eval';"); // WebAssembly (libsodium), never JavaScript eval
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/);
    const app = readFileSync(join(first, "app.js"), "utf8");
    expect(app).toContain("Emergency services");
    expect(app).toContain("findahelpline.com");
    expect(app).not.toContain("innerHTML");
    expect(app).not.toContain(web);
  });
});
