// bench:redis — the Redis REST endpoint (what @upstash/redis sends) next to the native /cache API, in
// the same run, under Miniflare. Targets: a single-command GET >= 0.9x the ops/s of GET /cache/{key};
// a pipeline of 100 GETs >= 10x the ops/s of single-command GETs; a @upstash/ratelimit sliding-window
// limit() on ONE identifier >= 0.5x the rate of a plain INCR on distinct keys (both through the
// official clients, the same number of concurrent callers). Also printed: ZADD/ZRANGE, LPUSH/LRANGE
// and EVALSHA next to SET/GET.
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
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

// Sorted sets and lists of 100 members each, and a script, for the family scenarios.
const FAMILY_KEYS = 100;
const redisCall = async (command: unknown[]): Promise<unknown> => {
  const res = await fetch(`${url}/redis`, { method: "POST", headers: JSON_API, body: JSON.stringify(command) });
  const body = (await res.json()) as { result?: unknown; error?: string };
  if (body.error !== undefined) throw new Error(`${JSON.stringify(command).slice(0, 80)}: ${body.error}`);
  return body.result;
};
const only = process.env.BENCH_SCENARIOS?.split(",");
const wants = (...names: string[]) => !only || names.some((n) => only.includes(n));
for (let i = 0; wants("zadd", "zrange", "lpush", "lrange") && i < FAMILY_KEYS; i += 10) {
  await Promise.all(
    Array.from({ length: 10 }, async (_, j) => {
      const n = i + j;
      await redisCall(["ZADD", `bench-z-${n}`, ...Array.from({ length: 100 }, (_, m) => [m, `member-${m}`]).flat()]);
      await redisCall(["RPUSH", `bench-l-${n}`, ...Array.from({ length: 100 }, (_, m) => `item-${m}`)]);
    }),
  );
}
const SCRIPT = "return redis.call('INCR', KEYS[1])";
const sha = wants("evalsha") ? ((await redisCall(["SCRIPT", "LOAD", SCRIPT])) as string) : "";
const familyKey = (prefix: string) => `${prefix}-${Math.floor(Math.random() * FAMILY_KEYS)}`;
const member = () => `member-${Math.floor(Math.random() * 1000)}`;
const distinct = () => `bench-incr-${crypto.randomUUID()}`;

const base = { url, seconds: SECONDS, connections: CONNECTIONS };
const command = (name: string, build: () => unknown[]) => () =>
  load({ ...base, name, method: "POST", headers: JSON_API, next: () => ({ path: "/redis", body: JSON.stringify(build()) }) });

/**
 * A closed loop of CONNECTIONS callers through the official client, for what only a client does (a
 * rate limiter's EVALSHA with its NOSCRIPT fallback): calls/s, and every call must succeed.
 */
async function clientLoop(name: string, call: () => Promise<unknown>): Promise<LoadResult> {
  const until = Date.now() + SECONDS * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < until) {
        const start = performance.now();
        try {
          await call();
          latencies.push(performance.now() - start);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN);
  return { name, rps: latencies.length / ((Date.now() - t0) / 1000), mean: NaN, p50: at(0.5), p99: at(0.99), errors, non2xx: 0 };
}
const client = new Redis({ url: `${url}/redis`, token: "bench-api", enableAutoPipelining: false });
// The default limiter of the library's README: a sliding window; a limit no caller reaches, so every call counts (writes).
const limiter = new Ratelimit({ redis: client, limiter: Ratelimit.slidingWindow(1_000_000_000, "60 s") });

const scenarios: Record<string, () => Promise<LoadResult>> = {
  cacheGet: () => load({ ...base, name: "GET /cache/{key} (R=2)", headers: API, next: () => ({ path: `/cache/${key()}` }) }),
  redisGet: () => load({ ...base, name: "POST /redis GET", method: "POST", headers: JSON_API, next: () => ({ path: "/redis", body: JSON.stringify(["GET", key()]) }) }),
  // The path form (GET /redis/get/{key}): the same command without a request body, to tell the body's cost from the rest.
  redisPathGet: () => load({ ...base, name: "GET /redis/get/{key}", headers: API, next: () => ({ path: `/redis/get/${key()}` }) }),
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
  zadd: command("ZADD (100-member sets)", () => ["ZADD", familyKey("bench-z"), Math.floor(Math.random() * 1000), member()]),
  zrange: command("ZRANGE 0 9 WITHSCORES", () => ["ZRANGE", familyKey("bench-z"), 0, 9, "WITHSCORES"]),
  lpush: command("LPUSH (100-item lists)", () => ["LPUSH", familyKey("bench-l"), VALUE]),
  lrange: command("LRANGE 0 9", () => ["LRANGE", familyKey("bench-l"), 0, 9]),
  incr: command("INCR", () => ["INCR", familyKey("bench-e")]),
  evalsha: command("EVALSHA (INCR in Lua)", () => ["EVALSHA", sha, 1, familyKey("bench-e")]),
  clientIncr: () => clientLoop("client INCR, distinct keys", () => client.incr(distinct())),
  slidingLimit: () => clientLoop("ratelimit slidingWindow limit(), one id", () => limiter.limit("bench-one-identifier")),
};

// Interleaved rounds; each figure is the median round, so drift of a shared machine hits all alike.
const runs: Record<string, LoadResult[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(scenarios)) if (!only || only.includes(name)) (runs[name] ??= []).push(await run());
}
const median = (list: LoadResult[]) => [...list].sort((a, b) => a.rps - b.rps)[Math.floor(list.length / 2)]!;
const r = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
const ops = (name: string) => (r[name] ? r[name]!.rps * (name === "redisPipeline" ? PIPELINE : 1) : NaN);
/** Each figure next to the baseline of the same run it is judged by. */
const BASELINES: Record<string, string> = { redisGet: "cacheGet", redisPathGet: "cacheGet", redisPipeline: "cacheGet", redisSet: "cacheSet", zadd: "redisSet", lpush: "redisSet", evalsha: "incr", zrange: "redisGet", lrange: "redisGet", slidingLimit: "clientIncr" };
const vsBaseline = (name: string) => {
  const b = BASELINES[name];
  return b === undefined || r[b] === undefined ? "(baseline)" : `${(ops(name) / ops(b)).toFixed(2)}x ${b}`;
};

console.log(`\nbench:redis (Miniflare, loopback): ${CONNECTIONS} connections, median of ${ROUNDS} interleaved rounds of ${SECONDS}s, ${KEYS} keys of ${VALUE.length} B, 8 shards, N=3`);
console.table(
  Object.entries(r).map(([name, x]) => ({
    scenario: x.name,
    "req/s": Math.round(x.rps),
    "ops/s": Math.round(ops(name)),
    "p50 ms": x.p50,
    "p99 ms": x.p99,
    "vs baseline": vsBaseline(name),
    errors: x.errors + x.non2xx,
  })),
);
const getRatio = ops("redisGet") / ops("cacheGet");
const limitRatio = ops("slidingLimit") / ops("clientIncr");
const pipeRatio = ops("redisPipeline") / ops("redisGet");
console.log(`target: single-command GET >= 0.9x of /cache GET -> ${getRatio.toFixed(2)}x ${getRatio >= 0.9 ? "PASS" : "MISS"}`);
console.log(`target: pipeline of ${PIPELINE} GETs >= 10x the ops/s of single GETs -> ${pipeRatio.toFixed(1)}x ${pipeRatio >= 10 ? "PASS" : "MISS"}`);
console.log(`target: sliding-window limit() on one identifier >= 0.5x client INCR on distinct keys -> ${limitRatio.toFixed(2)}x ${limitRatio >= 0.5 ? "PASS" : "MISS"}`);
await worker.stop();
