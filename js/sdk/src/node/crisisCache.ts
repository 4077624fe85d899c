/**
 * The crisis directory's cache in a file (Node), as `CrisisDirectory.save(path)` and
 * `CrisisDirectory.load(path)` keep it in the Python SDK: the same JSON, written to a
 * temporary file in the same folder and renamed over the target, so a reader finds
 * the old list or the new one, never half of one.
 */

import { readFile } from "node:fs/promises";

import type { CrisisCache } from "../crisis.js";
import { writeFileAtomic } from "./atomic.js";

/**
 * A `CrisisCache` in the file at `path` (any file the app chooses; the list is public
 * information). Reading a missing file gives null; `CrisisDirectory.load` turns any
 * read failure into the built-in lines, and `save` any write failure into
 * `StoreError` (`store.io`), leaving the old file and no temporary file behind.
 */
export function fileCrisisCache(path: string): CrisisCache {
  return {
    async read() {
      try {
        return await readFile(path, "utf8");
      } catch (exc) {
        if ((exc as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw exc;
      }
    },
    async write(text) {
      await writeFileAtomic(path, new TextEncoder().encode(text), 0o600);
    },
  };
}
