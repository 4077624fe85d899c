/** Loading the JSON vectors under tests/vectors/, which both SDKs are held to byte for byte. */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export function vectors<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(REPO, "tests", "vectors", `${name}.json`), "utf8")) as T;
}
