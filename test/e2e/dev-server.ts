import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { freePort } from "../support/free-port";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unexpectedExceptions, type ExceptionOptions } from "../support/uncaught-guard";

export interface DevServer {
  url: string;
  port: number;
  /** Everything `wrangler dev` (and workerd under it) printed so far, colours stripped. */
  output: () => string;
  /**
   * workerd's reports of calls that ended in an exception ("uncaught exception; source = Uncaught (in
   * promise)"), beyond the faults a test injected (see test/support/uncaught-guard.ts).
   */
  unexpectedExceptions: (options?: ExceptionOptions) => string[];
  /** Those of unexpectedExceptions() not returned by an earlier call of this: what the last test added. */
  newUnexpectedExceptions: () => string[];
  stop: () => Promise<void>;
}


/** Starts the README's own `npm run dev` (with a fresh state directory) on a free port and waits for /healthz. */
export async function startDevServer(): Promise<DevServer> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "durable-cluster-e2e-"));
  const child: ChildProcess = spawn("npm", ["run", "dev", "--", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state], {
    // WRANGLER_LOG=debug: only then does wrangler pass on workerd's "uncaught exception; source =
    // Uncaught (in promise)" lines, which unexpectedExceptions() looks for.
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", BROWSER: "none", WRANGLER_LOG: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`wrangler dev did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const clean = () => output.replace(/\x1b\[[0-9;]*m/g, "");
  let reported = 0;
  return {
    url,
    port,
    output: clean,
    unexpectedExceptions: (options) => unexpectedExceptions(output, options),
    newUnexpectedExceptions: () => {
      const all = unexpectedExceptions(output);
      const fresh = all.slice(reported);
      reported = all.length;
      return fresh;
    },
    stop: async () => {
      if (child.pid !== undefined && child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        process.kill(-child.pid, "SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      rmSync(state, { recursive: true, force: true });
    },
  };
}
