// bench:redis-budget — issue 16's figure for the Redis endpoint: a 1,000-command pipeline of `KEYS *`
// (and MGET of 50,000 keys) is answered with a limit error in under 1 s while /healthz, polled every
// ~20 ms, answers in under 100 ms. Baselines in the same run: /healthz with no load, and the latency
// of normal 100-command pipelines. Under Miniflare (the deploy bundle), 8 shards, N=3.
import { createClient, type Client, type Reply } from "./lib/http";
import { scrapeMetrics } from "./lib/cluster-watch";
import { startWorker } from "./lib/worker";

const API = { authorization: "Bearer bench-api", "content-type": "application/json" };
const KEYS = 1000;
const REPEATS = Number(process.env.BENCH_REPEATS ?? 10);
const POLL_MS = 20;

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const client = createClient(worker.url, 16);
const probe = createClient(worker.url, 2);

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

/** Object calls the worker made so far (the scrape's own are labelled apart). */
async function workerCalls(): Promise<number> {
  const m = await scrapeMetrics(client, API);
  if (!m) throw new Error("GET /metrics failed");
  return m.sum("dc_usage_rpc_calls_total", (l) => l.caller === "worker");
}

/** Polls /healthz every POLL_MS on its own connection while `work` runs; its latencies. */
async function healthzDuring<T>(work: () => Promise<T>, minMs = 0): Promise<{ value: T; healthz: number[] }> {
  const healthz: number[] = [];
  let done = false;
  const poller = (async () => {
    const started = performance.now();
    while (!done || performance.now() - started < minMs) {
      const r = await probe.send("GET", "/healthz", { timeoutMs: 10_000 });
      if (r.status !== 200) throw new Error(`/healthz answered ${r.status}`);
      healthz.push(r.ms);
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
  })();
  try {
    return { value: await work(), healthz };
  } finally {
    done = true;
    await poller;
  }
}

const post = (c: Client, path: string, body: unknown) => c.send("POST", path, { body: JSON.stringify(body), headers: API, timeoutMs: 120_000 });

try {
  await probe.warm(2);
  await client.warm(16);
  // Keys to find: KEYS * has a keyspace to walk, MGET some hits.
  for (let i = 0; i < KEYS; i += 100) {
    const r = await post(client, "/redis/pipeline", Array.from({ length: 100 }, (_, j) => ["SET", `budget:${i + j}`, "x".repeat(100)]));
    if (r.status !== 200) throw new Error(`preload: ${r.status} ${r.body.slice(0, 200)}`);
  }

  const rows: Record<string, string | number>[] = [];
  const idle = await healthzDuring(async () => undefined, 3000);
  rows.push({ scenario: "baseline: /healthz, no load", answers: "-", "answer p50": "-", "answer max": "-", "object calls": 0, "/healthz p50": ms(percentile(idle.healthz, 0.5)), "/healthz max": ms(Math.max(...idle.healthz)) });

  const scenarios: [string, string, () => unknown][] = [
    ["baseline: pipeline of 100 GETs", "/redis/pipeline", () => Array.from({ length: 100 }, (_, i) => ["GET", `budget:${i}`])],
    ["baseline: pipeline of 100 SETs", "/redis/pipeline", () => Array.from({ length: 100 }, (_, i) => ["SET", `budget:${i}`, "y"])],
    ["baseline: KEYS * (1,000 keys)", "/redis", () => ["KEYS", "*"]],
    ["pipeline of 1,000 x KEYS *", "/redis/pipeline", () => Array.from({ length: 1000 }, () => ["KEYS", "*"])],
    ["MGET of 50,000 keys", "/redis", () => ["MGET", ...Array.from({ length: 50_000 }, (_, i) => `budget:${i}`)]],
  ];
  const failures: string[] = [];
  for (const [name, path, body] of scenarios) {
    const payload = body();
    const before = await workerCalls();
    // An over-budget request is sent back to back for a while (it answers in milliseconds), so /healthz is sampled under it.
    const forMs = name.startsWith("baseline") ? 0 : 3000;
    const { value: replies, healthz } = await healthzDuring(async () => {
      const out: Reply[] = [];
      const started = performance.now();
      while (out.length < REPEATS || performance.now() - started < forMs) out.push(await post(client, path, payload));
      return out;
    });
    const calls = (await workerCalls()) - before;
    const statuses = [...new Set(replies.map((r) => r.status))].join(",");
    const times = replies.map((r) => r.ms);
    rows.push({
      scenario: name,
      answers: `${replies.length} x ${statuses}`,
      "answer p50": ms(percentile(times, 0.5)),
      "answer max": ms(Math.max(...times)),
      "object calls": Math.round((calls / replies.length) * 10) / 10,
      "/healthz p50": ms(percentile(healthz, 0.5)),
      "/healthz max": ms(Math.max(...healthz)),
    });
    if (!name.startsWith("baseline")) {
      const error = (JSON.parse(replies[0]!.body) as { error?: string }).error ?? "(no error)";
      console.log(`${name}: ${replies[0]!.status} ${error}`);
      if (statuses !== "400") failures.push(`${name}: answered ${statuses}, not 400`);
      if (Math.max(...times) >= 1000) failures.push(`${name}: an answer took ${ms(Math.max(...times))} (target < 1 s)`);
      if (Math.max(...healthz) >= 100) failures.push(`${name}: /healthz took ${ms(Math.max(...healthz))} meanwhile (target < 100 ms)`);
      if (calls !== 0) failures.push(`${name}: ${calls} object calls (target 0: refused before any work)`);
    }
  }
  console.log(`\nbench:redis-budget (Miniflare, loopback): each request sent ${REPEATS} times in a row (an over-budget one back to back for 3 s); /healthz polled every ${POLL_MS} ms on its own connection meanwhile; ${KEYS} keys stored, 8 shards, N=3`);
  console.table(rows);
  console.log(failures.length === 0 ? "targets met: each over-budget request answered 400 in < 1 s with no object call, /healthz < 100 ms meanwhile" : `targets missed:\n  ${failures.join("\n  ")}`);
  if (failures.length > 0) process.exitCode = 1;
} finally {
  client.close();
  probe.close();
  await worker.stop();
}
