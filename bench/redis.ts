// bench:redis — the Redis REST endpoint (what @upstash/redis sends) next to the native /cache API, in
// the same run, under Miniflare. Targets: a single-command GET >= 0.9x the ops/s of GET /cache/{key};
// a pipeline of 100 GETs >= 10x the ops/s of single-command GETs.
import { load, type LoadResult } from "./lib/load";
import { startWorker } from "./lib/worker";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KEYS = 1000;
const PIPELINE = 100;
const API = { authorization: "Bearer bench-api" };
const JSON_API = { ...API, "content-type": "application/json" };
const VALUE = "x".repeat(100);

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const { url } = worker;
const key = () => `bench-key-${Math.floor(Math.random() * KEYS)}`;

for (let i = 0; i < KEYS; i += 50) {
  await Promise.all(
    Array.from({ length: 50 }, async (_, j) => {
      const r = await fetch(`${url}/cache/bench-key-${i + j}?w=3`, { method: "PUT", body: VALUE, headers: API });
      if (r.status !== 200) throw new Error(`preload failed: ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    }),
  );
}

const base = { url, seconds: SECONDS, connections: CONNECTIONS };
const scenarios: Record<string, () => Promise<LoadResult>> = {
  cacheGet: () => load({ ...base, name: "GET /cache/{key} (R=2)", headers: API, next: () => ({ path: `/cache/${key()}` }) }),
  redisGet: () => load({ ...base, name: "POST /redis GET", method: "POST", headers: JSON_API, next: () => ({ path: "/redis", body: JSON.stringify(["GET", key()]) }) }),
  redisPipeline: () =>
    load({
      ...base,
      name: `POST /redis/pipeline, ${PIPELINE} GETs`,
      method: "POST",
      headers: JSON_API,
      next: () => ({ path: "/redis/pipeline", body: JSON.stringify(Array.from({ length: PIPELINE }, () => ["GET", key()])) }),
    }),
  cacheSet: () => load({ ...base, name: "PUT /cache/{key} (W=2)", method: "PUT", headers: API, next: () => ({ path: `/cache/${key()}`, body: VALUE }) }),
  redisSet: () => load({ ...base, name: "POST /redis SET", method: "POST", headers: JSON_API, next: () => ({ path: "/redis", body: JSON.stringify(["SET", key(), VALUE]) }) }),
};

// Interleaved rounds; each figure is the median round, so drift of a shared machine hits all alike.
const runs: Record<string, LoadResult[]> = {};
const only = process.env.BENCH_SCENARIOS?.split(",");
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(scenarios)) if (!only || only.includes(name)) (runs[name] ??= []).push(await run());
}
const median = (list: LoadResult[]) => [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)]!;
const r = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
const ops = (name: string) => (r[name] ? r[name]!.rps * (name === "redisPipeline" ? PIPELINE : 1) : NaN);

console.log(`\nbench:redis (Miniflare, loopback): ${CONNECTIONS} connections, median of ${ROUNDS} interleaved rounds of ${SECONDS}s, ${KEYS} keys of ${VALUE.length} B, 8 shards, N=3`);
console.table(
  Object.entries(r).map(([name, x]) => ({
    scenario: x.name,
    "req/s": Math.round(x.rps),
    "ops/s": Math.round(ops(name)),
    "p50 ms": x.p50,
    "p99 ms": x.p99,
    "vs /cache": name.startsWith("redisGet") || name === "redisPipeline" ? `${(ops(name) / ops("cacheGet")).toFixed(2)}x` : name === "redisSet" ? `${(ops(name) / ops("cacheSet")).toFixed(2)}x` : "1.00x",
    errors: x.errors + x.non2xx,
  })),
);
const getRatio = ops("redisGet") / ops("cacheGet");
const pipeRatio = ops("redisPipeline") / ops("redisGet");
console.log(`target: single-command GET >= 0.9x of /cache GET -> ${getRatio.toFixed(2)}x ${getRatio >= 0.9 ? "PASS" : "MISS"}`);
console.log(`target: pipeline of ${PIPELINE} GETs >= 10x the ops/s of single GETs -> ${pipeRatio.toFixed(1)}x ${pipeRatio >= 10 ? "PASS" : "MISS"}`);
await worker.stop();
