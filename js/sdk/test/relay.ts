/**
 * A real relay for the TypeScript SDK's tests: `hearth serve` in a child process.
 *
 * The relay runs as an operator runs it (its own process, uvicorn, SQLite in a
 * temporary data directory) on a free port, so the tests cross real sockets and a
 * real database, exactly as `tests/client_sdk/conftest.py` does for the Python SDK:
 * rate limits raised and the proof of work lowered (not switched off), so a test can
 * sign in many keys from one address quickly. `RelayProcess` stops (SIGTERM, the
 * graceful 1012 path), kills (SIGKILL: nothing flushed) and starts the relay again
 * on the same port and data directory, which is how the reconnect tests take it
 * down under a live stream.
 *
 * The relay command is `$HEARTH_BIN` if set, else the repository's
 * `.venv/bin/hearth` (`make .venv/.hearth-dev` creates it), else `hearth` on PATH;
 * the Python helpers run on the venv's `python` the same way. Readiness is
 * `/readyz` answering 200, polled under a deadline; a relay that exits first fails
 * the start with the end of its log.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

import { REPO } from "./vectors.js";

/** Every rate-limit bucket far above what a test does, as the Python tests set them. */
export const FAST_RATES: Readonly<Record<string, string>> = Object.fromEntries(
  ["SEND", "JOIN", "AUTH", "REGISTER", "SUBSCRIBE", "REQUEST", "LINK"].map((b) => [`HEARTH_RATE_${b}`, "1000/5000"]),
);

/** The `hearth` command the relay runs as. */
export function hearthCommand(): string {
  if (process.env["HEARTH_BIN"]) return process.env["HEARTH_BIN"];
  const venv = join(REPO, ".venv", "bin", "hearth");
  return existsSync(venv) ? venv : "hearth";
}

/** The Python that runs the Python side of cross-language tests (the relay's venv). */
export function pythonCommand(): string {
  if (process.env["HEARTH_PYTHON"]) return process.env["HEARTH_PYTHON"];
  const venv = join(REPO, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

/** A TCP port nothing listens on right now (the relay binds it a moment later, as in Python). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const LIVE = new Set<ChildProcess>();
let reaping = false;

/** Relays a crashed test run leaves behind are killed with it. */
function reapOnExit(): void {
  if (reaping) return;
  reaping = true;
  process.once("exit", () => {
    for (const child of LIVE) child.kill("SIGKILL");
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** What a relay of a test differs in. */
export interface RelayOptions {
  /** `HEARTH_*` settings beyond the fast rates and a proof of work of 6 bits. */
  env?: Record<string, string>;
  /** `--log-level` (default `warning`). */
  logLevel?: string;
  /** Seconds `start()` waits for `/readyz` (default 30). */
  startTimeout?: number;
}

/** A `hearth serve` child process on a fixed port and data directory. */
export class RelayProcess {
  readonly dir: string;
  readonly dataDir: string;
  readonly port: number;
  readonly url: string;
  readonly logPath: string;
  private readonly env: Record<string, string>;
  private readonly logLevel: string;
  private readonly startTimeout: number;
  private child: ChildProcess | null = null;

  constructor(port: number, options: RelayOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), "hearth-relay-"));
    this.dataDir = join(this.dir, "data");
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.logPath = join(this.dir, "relay.log");
    this.env = { ...FAST_RATES, HEARTH_POW_DIFFICULTY: "6", ...options.env };
    this.logLevel = options.logLevel ?? "warning";
    this.startTimeout = options.startTimeout ?? 30;
  }

  /** Whether the relay process is running. */
  get running(): boolean {
    return this.child !== null;
  }

  /** The end of the relay's log, for a failure message. */
  logTail(chars = 3000): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8").slice(-chars) : "";
  }

  /** Start it and wait until `/readyz` answers 200. */
  async start(): Promise<void> {
    if (this.child !== null) throw new Error("the relay is already running");
    reapOnExit();
    const log = openSync(this.logPath, "a");
    let child: ChildProcess;
    try {
      child = spawn(
        hearthCommand(),
        ["serve", "--host", "127.0.0.1", "--port", String(this.port), "--data-dir", this.dataDir, "--log-level", this.logLevel],
        { env: { ...process.env, ...this.env }, stdio: ["ignore", log, log] },
      );
    } finally {
      closeSync(log);
    }
    this.child = child;
    LIVE.add(child);
    let spawnError: Error | null = null;
    child.once("error", (exc) => {
      spawnError = exc;
    });
    child.once("exit", () => LIVE.delete(child));
    const deadline = Date.now() + this.startTimeout * 1000;
    while (Date.now() < deadline) {
      if (spawnError !== null || child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        throw new Error(
          `hearth serve (${hearthCommand()}) did not start: ${spawnError ?? `exit ${child.exitCode ?? child.signalCode}`}\n` +
            "(make .venv/.hearth-dev creates the relay's venv)\n" +
            this.logTail(),
        );
      }
      try {
        const response = await fetch(this.url + "/readyz", { signal: AbortSignal.timeout(1000) });
        await response.text();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      await delay(50); // the poll's interval, under the deadline above
    }
    await this.kill();
    throw new Error(`the relay did not answer /readyz within ${this.startTimeout} s\n${this.logTail()}`);
  }

  /** SIGTERM, the graceful shutdown (streams close with 1012); SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null) return;
    child.kill("SIGTERM");
    const done = exited(child);
    const gone = await Promise.race([done.then(() => true), delay(15_000).then(() => false)]);
    if (!gone) {
      child.kill("SIGKILL");
      await done;
    }
  }

  /** `kill -9`: no shutdown, no close frames; what a power cut leaves is what stays. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null) return;
    child.kill("SIGKILL");
    await exited(child);
  }

  /** Stop gracefully, then start again on the same port and data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stop it and remove its data directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A started relay on a free port. A port is free when asked and bound a moment
 * later, so another test file's relay may take it in between: a relay that exits
 * because its port is in use is started again on another, at most three times.
 */
export async function startRelay(options: RelayOptions = {}): Promise<RelayProcess> {
  for (let attempt = 1; ; attempt++) {
    const relay = new RelayProcess(await freePort(), options);
    try {
      await relay.start();
      return relay;
    } catch (exc) {
      const taken = /address already in use|Errno 98/i.test(relay.logTail());
      rmSync(relay.dir, { recursive: true, force: true });
      if (!taken || attempt === 3) throw exc;
    }
  }
}
