// Runs the deploy bundle under Miniflare 4 directly (not `wrangler dev`, whose dev proxy caps
// throughput near 500 req/s on this kind of machine; see TOOLCHAIN.md).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Log, LogLevel, Miniflare } from "miniflare";

export interface RunningWorker {
  url: string;
  stop: () => Promise<void>;
}

/** Builds the bundle with `wrangler deploy --dry-run` and serves it on a free loopback port. */
export async function startWorker(bindings: Record<string, string>): Promise<RunningWorker> {
  // Inside the project: workerd refuses module paths that climb out of its starting directory.
  const outdir = join("dist", `bench-${process.pid}`);
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const mf = new Miniflare({
    scriptPath: join(outdir, "index.js"),
    modules: true,
    // wrangler.toml's [[rules]]: the files /docs serves are text modules of the bundle.
    modulesRules: [{ type: "Text", include: ["**/*swagger-ui-bundle.js", "**/*swagger-ui.css"] }],
    compatibilityDate: "2026-08-01",
    durableObjects: {
      CACHE_SHARD: { className: "CacheShard", useSQLite: true },
      RAFT_NODE: { className: "RaftNode", useSQLite: true },
      TXN_COORDINATOR: { className: "TxnCoordinator", useSQLite: true },
      UPSTREAM_POOL: { className: "UpstreamPool", useSQLite: true },
      JOB_COORDINATOR: { className: "JobCoordinator", useSQLite: true },
      TASK_EXECUTOR: { className: "TaskExecutor", useSQLite: true },
      WORK_REGISTRY: { className: "WorkRegistry", useSQLite: true },
    },
    // BENCH_VARS='{"TXN_COORDINATORS":"8"}' tries another cluster shape without editing wrangler.toml.
    bindings: { LOG_REQUESTS: "false", PUBLIC_DATA_ROUTES: "true", ...bindings, ...(process.env.BENCH_VARS ? (JSON.parse(process.env.BENCH_VARS) as Record<string, string>) : {}) },
    host: "127.0.0.1",
    port: 0,
    // BENCH_VERBOSE=1: Miniflare's debug log and workerd's own (--verbose), each line with a wall-clock time,
    // to line up the runtime's reports (exceptions, restarts, cancelled requests) with what the client saw.
    // Costly: Miniflare then logs every request through its Node loopback, which cuts throughput several-fold.
    ...(process.env.BENCH_VERBOSE === "1" ? { log: new Log(LogLevel.DEBUG), verbose: true, handleRuntimeStdio: stampLines } : {}),
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return {
    url,
    stop: async () => {
      await mf.dispose();
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}

function stampLines(stdout: Readable, stderr: Readable): void {
  for (const [stream, name] of [[stdout, "out"], [stderr, "err"]] as const) {
    createInterface({ input: stream }).on("line", (line) => process.stderr.write(`[workerd ${name} ${new Date().toISOString()}] ${line}\n`));
  }
}
