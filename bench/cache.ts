// bench:cache — GET and SET through the quorum router versus one direct CacheShard call, in the
// same run, under Miniflare. Target: router GET at R=1 >= 0.85x the direct GET.
import { makeVersion } from "../src/core/cache/version.ts";
import { load, type LoadResult } from "./lib/load.ts";
import { startWorker } from "./lib/worker.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const KEYS = 1000;
const ADMIN = { authorization: "Bearer bench-admin" };
const VALUE = "x".repeat(100);

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin" });
const { url } = worker;
let counter = 0;
const nextVersion = () => makeVersion(Date.now(), counter++ % 0xffffff, 0xbe9c);
const key = () => `bench-key-${Math.floor(Math.random() * KEYS)}`;

async function preload(): Promise<void> {
  for (let i = 0; i < KEYS; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, async (_, j) => {
        const k = `bench-key-${i + j}`;
        const r1 = await fetch(`${url}/cache/${k}?w=3`, { method: "PUT", body: VALUE });
        const r2 = await fetch(`${url}/admin/cache/shards/shard-0/keys/${k}?version=${nextVersion()}`, { method: "PUT", body: VALUE, headers: ADMIN });
        if (r1.status !== 200 || r2.status !== 200) throw new Error(`preload failed: ${r1.status} ${r2.status}`);
        await r1.arrayBuffer();
        await r2.arrayBuffer();
      }),
    );
  }
}

const base = { url, seconds: SECONDS, connections: CONNECTIONS };
const scenarios = {
  directGet: () => load({ ...base, name: "direct GET (one shard)", headers: ADMIN, next: () => ({ path: `/admin/cache/shards/shard-0/keys/${key()}` }) }),
  routerGetR1: () => load({ ...base, name: "router GET R=1", next: () => ({ path: `/cache/${key()}?r=1` }) }),
  routerGetR2: () => load({ ...base, name: "router GET R=2", next: () => ({ path: `/cache/${key()}?r=2` }) }),
  directSet: () => load({ ...base, name: "direct SET (one shard)", method: "PUT", headers: ADMIN, next: () => ({ path: `/admin/cache/shards/shard-0/keys/${key()}?version=${nextVersion()}`, body: VALUE }) }),
  routerSetW1: () => load({ ...base, name: "router SET W=1 (N=3)", method: "PUT", next: () => ({ path: `/cache/${key()}?w=1`, body: VALUE }) }),
  routerSetW2: () => load({ ...base, name: "router SET W=2 (N=3)", method: "PUT", next: () => ({ path: `/cache/${key()}?w=2`, body: VALUE }) }),
};

try {
  await preload();
  // Warm up both paths, then measure baseline and router back to back.
  await load({ ...base, seconds: 2, name: "warmup", next: () => ({ path: `/cache/${key()}?r=1` }) });
  const results: Record<string, LoadResult> = {};
  for (const [name, run] of Object.entries(scenarios)) results[name] = await run();
  const row = (r: LoadResult, baseline: LoadResult) => ({
    scenario: r.name,
    "req/s": Math.round(r.rps),
    "p50 ms": r.p50,
    "p99 ms": r.p99,
    "vs baseline": `${(r.rps / baseline.rps).toFixed(2)}x`,
    errors: r.errors + r.non2xx,
  });
  const g = results.directGet!;
  const s = results.directSet!;
  console.log(`\nbench:cache — ${CONNECTIONS} connections, ${SECONDS}s per scenario, ${KEYS} keys of ${VALUE.length} B, 8 shards, N=3`);
  console.table([row(g, g), row(results.routerGetR1!, g), row(results.routerGetR2!, g), row(s, s), row(results.routerSetW1!, s), row(results.routerSetW2!, s)]);
  const ratio = results.routerGetR1!.rps / g.rps;
  console.log(`target: router GET R=1 >= 0.85x direct GET -> ${ratio.toFixed(2)}x ${ratio >= 0.85 ? "PASS" : "MISS"}`);
} finally {
  await worker.stop();
}
