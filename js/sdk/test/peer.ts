/**
 * A Python SDK user beside the TypeScript one: `tests/js/peer.py` in a child process,
 * driven by JSON lines (one request, one answer, in order). See that file for the
 * requests it takes.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { pythonCommand } from "./relay.js";
import { REPO } from "./vectors.js";

export class PythonPeer {
  private readonly child: ChildProcess;
  private readonly answers: Array<(line: string) => void> = [];
  private readonly early: string[] = [];
  private stderr = "";
  private ended: Error | null = null;

  private constructor(child: ChildProcess) {
    this.child = child;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const waiter = this.answers.shift();
      if (waiter !== undefined) waiter(line);
      else this.early.push(line);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    child.once("exit", (code, signal) => {
      this.ended = new Error(`the Python peer exited (${code ?? signal}):\n${this.stderr}`);
      for (const waiter of this.answers.splice(0)) waiter("");
    });
  }

  /** Start a peer that uses the relay at `url`, once it says it is ready. */
  static async start(url: string): Promise<PythonPeer> {
    const child = spawn(pythonCommand(), [join(REPO, "tests", "js", "peer.py"), url], {
      cwd: REPO,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, PYTHONPATH: REPO },
    });
    const peer = new PythonPeer(child);
    const ready = await peer.next();
    if (!(ready as { ready?: boolean }).ready) throw new Error(`the Python peer did not start: ${JSON.stringify(ready)}`);
    return peer;
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const take = (line: string) => {
        if (line === "") reject(this.ended ?? new Error("the Python peer closed its output"));
        else resolve(JSON.parse(line) as Record<string, unknown>);
      };
      const early = this.early.shift();
      if (early !== undefined) take(early);
      else if (this.ended !== null) reject(this.ended);
      else this.answers.push(take);
    });
  }

  /** Send one request and return its answer; an `error` answer throws. */
  async call<T = Record<string, unknown>>(request: Record<string, unknown>): Promise<T> {
    this.child.stdin!.write(JSON.stringify(request) + "\n");
    const answer = await this.next();
    if ("error" in answer) throw new Error(`the Python peer refused ${JSON.stringify(request)}: ${JSON.stringify(answer)}`);
    return answer as T;
  }

  /** Quit and wait for the process to end. */
  async close(): Promise<void> {
    if (this.ended !== null) return;
    const done = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin!.end(JSON.stringify({ op: "quit" }) + "\n");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await done;
    clearTimeout(timer);
  }
}
