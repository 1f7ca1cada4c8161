// bench:cache — GET and SET through the quorum router versus one direct CacheShard call, in the
// same run, under Miniflare. Target: router GET at R=1 >= 0.85x the direct GET.
// The baseline reads/writes the key's owner shard directly (one RPC, no ring walk, no quorum), so
// the ratio is the router's own cost. Both paths pay one bearer-token check.
import { parseConfig } from "../src/config";
import { makeVersion } from "../src/core/cache/version";
import { HashRing } from "../src/core/ring/hash-ring";
import { load, type LoadResult } from "./lib/load";
import { startWorker } from "./lib/worker";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KEYS = 1000;
const ADMIN = { authorization: "Bearer bench-admin" };
const API = { authorization: "Bearer bench-api" };
const ring = new HashRing(parseConfig({}).cache.shards);
const owner = new Map<string, string>();
const VALUE = "x".repeat(100);

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const { url } = worker;
let counter = 0;
const nextVersion = () => makeVersion(Date.now(), counter++ % 0xffffff, 0xbe9c);
const key = () => `bench-key-${Math.floor(Math.random() * KEYS)}`;
for (let i = 0; i < KEYS; i++) owner.set(`bench-key-${i}`, ring.lookup(`bench-key-${i}`));
const direct = (k: string) => `/admin/cache/shards/${owner.get(k)}/keys/${k}`;

async function preload(): Promise<void> {
  for (let i = 0; i < KEYS; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, async (_, j) => {
        const k = `bench-key-${i + j}`;
        const r = await fetch(`${url}/cache/${k}?w=3`, { method: "PUT", body: VALUE, headers: API });
        if (r.status !== 200) throw new Error(`preload failed: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }),
    );
  }
}

function scenarios(connections: number, seconds: number) {
  const base = { url, seconds, connections };
  return {
    directGet: () => load({ ...base, name: "direct GET (owner shard)", headers: ADMIN, next: () => ({ path: direct(key()) }) }),
    routerGetR1: () => load({ ...base, name: "router GET R=1", headers: API, next: () => ({ path: `/cache/${key()}?r=1` }) }),
    routerGetR2: () => load({ ...base, name: "router GET R=2", headers: API, next: () => ({ path: `/cache/${key()}?r=2` }) }),
    directSet: () => load({ ...base, name: "direct SET (owner shard)", method: "PUT", headers: ADMIN, next: () => { const k = key(); return { path: `${direct(k)}?version=${nextVersion()}`, body: VALUE }; } }),
    routerSetW1: () => load({ ...base, name: "router SET W=1 (N=3)", method: "PUT", headers: API, next: () => ({ path: `/cache/${key()}?w=1`, body: VALUE }) }),
    routerSetW2: () => load({ ...base, name: "router SET W=2 (N=3)", method: "PUT", headers: API, next: () => ({ path: `/cache/${key()}?w=2`, body: VALUE }) }),
  };
}

const row = (r: LoadResult, baseline: LoadResult) => ({
  scenario: r.name,
  "req/s": Math.round(r.rps),
  "mean ms": r.mean.toFixed(2),
  "p50 ms": r.p50,
  "p99 ms": r.p99,
  "vs baseline": `${(r.rps / baseline.rps).toFixed(2)}x`,
  errors: r.errors + r.non2xx,
});

async function runAll(connections: number, seconds: number): Promise<Record<string, LoadResult>> {
  // Rounds interleave baseline and router runs, and each figure is the median round, so drift of a
  // shared machine hits both sides alike.
  const runs: Record<string, LoadResult[]> = {};
  const only = process.env.BENCH_SCENARIOS?.split(",");
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(scenarios(connections, seconds))) {
      if (!only || only.includes(name)) (runs[name] ??= []).push(await run());
    }
  }
  const results: Record<string, LoadResult> = {};
  for (const [name, list] of Object.entries(runs)) {
    results[name] = [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)]!;
  }
  const g = results.directGet ?? results.routerGetR1!;
  const s = results.directSet ?? results.routerSetW2!;
  console.log(`\n${connections} connection(s), median of ${ROUNDS} interleaved rounds of ${seconds}s, ${KEYS} keys of ${VALUE.length} B, 8 shards, N=3 (ratios: throughput vs the direct baseline)`);
  const rows = [];
  for (const [name, r] of Object.entries(results)) rows.push(row(r, name.includes("Get") ? g : s));
  console.table(rows);
  return results;
}

try {
  await preload();
  await load({ url, seconds: 2, connections: CONNECTIONS, name: "warmup", headers: API, next: () => ({ path: `/cache/${key()}?r=1` }) });
  console.log("\nbench:cache (Miniflare, loopback; baseline = one direct RPC to the key's owner shard)");
  const saturated = await runAll(CONNECTIONS, SECONDS);
  await runAll(1, Math.max(2, Math.round(SECONDS / 2)));
  const ratio = (saturated.routerGetR1?.rps ?? NaN) / (saturated.directGet?.rps ?? NaN);
  console.log(`target: router GET R=1 >= 0.85x direct GET (at ${CONNECTIONS} connections) -> ${ratio.toFixed(2)}x ${ratio >= 0.85 ? "PASS" : "MISS"}`);
} finally {
  await worker.stop();
}
