/**
 * What a browser loads of the store, identity and invite links bundles without Node:
 * esbuild for platform "browser" with no polyfills fails on any `node:` import the
 * entry reaches. The Node entry (`@hearth/sdk/node`) is the control: it must fail.
 */
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

function bundle(contents: string) {
  return build({
    stdin: { contents, resolveDir: src, loader: "ts" },
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
}

describe("the store's browser side", () => {
  it("bundles for a browser with no Node polyfills", async () => {
    const result = await bundle(
      [
        'export * from "./store.js";',
        'export * from "./storage/backend.js";',
        'export * from "./storage/memory.js";',
        'export * from "./storage/indexeddb.js";',
        'export * from "./identity.js";',
        'export * from "./inviteLinks.js";',
      ].join("\n"),
    );
    expect(result.errors).toEqual([]);
    expect(result.outputFiles[0]!.text).toContain("IndexedDB");
  });

  it("refuses the Node entry (the check does catch node: imports)", async () => {
    await expect(bundle('export * from "./node/index.js";')).rejects.toThrow(/node:/);
  });
});
