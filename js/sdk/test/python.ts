/**
 * Running a few lines of the Python SDK from a test, to pin the TypeScript port to
 * what Python answers for the same inputs (the venv's Python, as `test/relay.ts`
 * finds it). The script reads JSON from stdin (`data`) and prints JSON.
 */

import { spawnSync } from "node:child_process";

import { pythonCommand } from "./relay.js";
import { REPO } from "./vectors.js";

/** Run `script` with `data` (JSON) bound to the name `data`; return what it printed, parsed. */
export function python<T = unknown>(script: string, data: unknown = null): T {
  const wrapped = `import json, sys\ndata = json.loads(sys.stdin.read())\n${script}`;
  const run = spawnSync(pythonCommand(), ["-c", wrapped], { cwd: REPO, input: JSON.stringify(data), encoding: "utf8" });
  if (run.status !== 0) throw new Error(`python failed (${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}
