/**
 * Running a few lines of the Python SDK from a test, to pin the TypeScript port to
 * what Python answers for the same inputs (the venv's Python, as `test/relay.ts`
 * finds it). The script reads JSON from stdin (`data`) and prints JSON.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";

import { pythonCommand } from "./relay.js";
import { REPO } from "./vectors.js";

/** Run `script` with `data` (JSON) bound to the name `data`; return what it printed, parsed. */
export function python<T = unknown>(script: string, data: unknown = null): T {
  const wrapped = `import json, sys\ndata = json.loads(sys.stdin.read())\n${script}`;
  const run = spawnSync(pythonCommand(), ["-c", wrapped], { cwd: REPO, input: JSON.stringify(data), encoding: "utf8" });
  if (run.status !== 0) throw new Error(`python failed (${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/**
 * A Python script that talks in lines while it runs: `next()` reads the next JSON line
 * it printed, `send()` writes one line to its stdin. `data` is bound as in `python`.
 */
export class PythonScript {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(line: string | null) => void> = [];
  #stderr = "";
  #ended = false;

  constructor(script: string, data: unknown = null) {
    const wrapped = `import json, sys\ndata = json.loads(${JSON.stringify(JSON.stringify(data))})\n${script}`;
    this.#child = spawn(pythonCommand(), ["-c", wrapped], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
    let buffer = "";
    this.#child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        const waiter = this.#waiters.shift();
        if (waiter !== undefined) waiter(line);
        else this.#lines.push(line);
      }
    });
    this.#child.stderr!.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    this.#child.once("exit", () => {
      this.#ended = true;
      for (const waiter of this.#waiters.splice(0)) waiter(null);
    });
  }

  /** The next line the script printed, parsed. */
  async next<T = any>(): Promise<T> {
    const line = this.#lines.shift() ?? (this.#ended ? null : await new Promise<string | null>((resolve) => this.#waiters.push(resolve)));
    if (line === null) throw new Error(`the Python script ended:\n${this.#stderr}`);
    return JSON.parse(line) as T;
  }

  /** Write one line to the script's stdin. */
  send(line: string): void {
    this.#child.stdin!.write(line + "\n");
  }

  /** Wait for the script to exit (killed after `seconds`). */
  async done(seconds = 30): Promise<number | null> {
    if (this.#ended) return this.#child.exitCode;
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), seconds * 1000);
    await new Promise((resolve) => this.#child.once("exit", resolve));
    clearTimeout(timer);
    return this.#child.exitCode;
  }
}
