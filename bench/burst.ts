// bench:burst — bursts sent all at once at a healthy cluster, each next to the same requests sent at a
// low concurrency (4) in the same round, under Miniflare:
//   (a) 30 `POST /redis/multi-exec` (two INCRs each) + 90 `POST /redis ["MGET", 10 keys]`;
//   (b) 200 mixed `GET`/`PUT /cache/{key}` (half each);
// and after each burst, 50 plain `PUT /cache/{key}` (4 at a time): nothing is wrong with the cluster,
// so all of them must succeed. Target (issue 14): a burst answers >= 95% of its requests, the rest
// are shed with 429/503 + Retry-After, and the 50 writes right after it all succeed.
import { growthByLabel, scrapeMetrics, type Metrics } from "./lib/cluster-watch";
import { createClient, describe, group, median, normalize, percentile, redisBatchErrors, type Reply } from "./lib/http";
import { startWorker } from "./lib/worker";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BASELINE_CONCURRENCY = Number(process.env.BENCH_BASELINE_CONCURRENCY ?? 4);
const AFTER_WRITES = 50;
const PRELOAD_KEYS = 100;
const API = { authorization: "Bearer bench-api" };
const JSON_API = { ...API, "content-type": "application/json" };
const RUN = Date.now().toString(36);
const VALUE = "v".repeat(100);

interface Req {
  method: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

interface Outcome {
  sent: number;
  ok: number;
  /** Non-2xx answers that are 429/503 with Retry-After. */
  shed: number;
  /** Everything else that is not ok: other statuses, 429/503 without Retry-After, 200 with Redis errors, client errors. */
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: Array<[string, number]>;
}

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const client = createClient(worker.url, 256);
const pick = () => `burst-${RUN}-${Math.floor(Math.random() * PRELOAD_KEYS)}`;

/** A reply, and whether it answers a Redis batch (a 200 whose entries may be errors). */
type Answer = Reply & { batch: boolean };

function isOk(r: Answer): boolean {
  return r.status >= 200 && r.status < 300 && !(r.batch && redisBatchErrors(r).length > 0);
}
function label(r: Answer): string {
  const batchErrors = r.batch ? redisBatchErrors(r) : [];
  if (r.status === 200 && batchErrors.length > 0) return `200 with ERR: ${normalize(batchErrors[0]!).slice(0, 90)}`;
  return describe(r);
}

function summarize(replies: Answer[], seconds: number): Outcome {
  const bad = replies.filter((r) => !isOk(r));
  const shed = bad.filter((r) => (r.status === 429 || r.status === 503) && r.retryAfter !== null).length;
  const ms = replies.map((r) => r.ms);
  return { sent: replies.length, ok: replies.length - bad.length, shed, failed: bad.length - shed, seconds, p50: percentile(ms, 50), p99: percentile(ms, 99), errors: group(bad.map(label)) };
}

/** Sends every request at once (concurrency = all) or `concurrency` at a time, in order. */
async function send(reqs: Req[], concurrency = reqs.length): Promise<Outcome> {
  const replies: Answer[] = new Array(reqs.length);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, reqs.length) }, async () => {
      while (next < reqs.length) {
        const i = next++;
        const q = reqs[i]!;
        const reply = await client.send(q.method, q.path, { headers: q.headers, ...(q.body === undefined ? {} : { body: q.body }), timeoutMs: 30_000 });
        replies[i] = { ...reply, batch: q.path === "/redis/pipeline" || q.path === "/redis/multi-exec" };
      }
    }),
  );
  return summarize(replies, (performance.now() - t0) / 1000);
}

function redisBurst(round: number, tag: string): Req[] {
  const multi = Array.from({ length: 30 }, (_, i): Req => ({
    method: "POST",
    path: "/redis/multi-exec",
    headers: JSON_API,
    body: JSON.stringify([["INCR", `bm-${RUN}-${tag}-${round}-${i}-a`], ["INCR", `bm-${RUN}-${tag}-${round}-${i}-b`]]),
  }));
  const mget = Array.from({ length: 90 }, (): Req => ({ method: "POST", path: "/redis", headers: JSON_API, body: JSON.stringify(["MGET", ...Array.from({ length: 10 }, pick)]) }));
  // Interleaved, as independent clients would arrive.
  return [...mget.keys()].flatMap((i) => (i % 3 === 0 ? [multi[i / 3]!, mget[i]!] : [mget[i]!]));
}

function cacheBurst(): Req[] {
  return Array.from({ length: 200 }, (_, i): Req => (i % 2 === 0 ? { method: "GET", path: `/cache/${pick()}`, headers: API } : { method: "PUT", path: `/cache/${pick()}`, headers: API, body: VALUE }));
}

function plainWrites(round: number, tag: string): Req[] {
  return Array.from({ length: AFTER_WRITES }, (_, i): Req => ({ method: "PUT", path: `/cache/after-${RUN}-${tag}-${round}-${i}`, headers: API, body: VALUE }));
}

interface RoundResult {
  round: number;
  scenario: string;
  baseline: Outcome;
  burst: Outcome;
  after: Outcome;
  openings: Map<string, number>;
  shedByObject: Map<string, number>;
  openAfter: string[];
}

function breakersOpen(m: Metrics | null): string[] {
  return (m?.series("dc_do_breaker_state") ?? []).filter((s) => s.value !== 0).map((s) => s.labels.object ?? "?");
}

const results: RoundResult[] = [];
try {
  for (let i = 0; i < PRELOAD_KEYS; i += 20) {
    const chunk = Array.from({ length: 20 }, (_, j): Req => ({ method: "PUT", path: `/cache/burst-${RUN}-${i + j}?w=3`, headers: API, body: VALUE }));
    const o = await send(chunk);
    if (o.ok !== o.sent) throw new Error(`preload failed: ${o.errors.map(([l, n]) => `${n} x ${l}`).join("; ")}`);
  }
  const scenarios = [
    { name: "30 MULTI/EXEC (2 INCR) + 90 MGET (10 keys)", build: redisBurst },
    { name: "200 mixed GET/PUT /cache", build: () => cacheBurst() },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      const baseline = await send(s.build(round, "base"), BASELINE_CONCURRENCY);
      await client.warm(220);
      const before = await scrapeMetrics(client, API);
      const burst = await send(s.build(round, "burst"));
      const after = await send(plainWrites(round, s === scenarios[0] ? "redis" : "cache"), 4);
      const metrics = await scrapeMetrics(client, API);
      const r: RoundResult = {
        round,
        scenario: s.name,
        baseline,
        burst,
        after,
        openings: growthByLabel(before, metrics, "dc_do_breaker_openings_total", "object"),
        shedByObject: growthByLabel(before, metrics, "dc_admission_shed_total", "object"),
        openAfter: breakersOpen(metrics),
      };
      results.push(r);
      console.log(
        `round ${round + 1}/${ROUNDS}, ${s.name}: burst ${burst.ok}/${burst.sent} ok (${burst.shed} shed, ${burst.failed} failed) in ${burst.seconds.toFixed(2)} s; ` +
          `baseline ${baseline.ok}/${baseline.sent} ok in ${baseline.seconds.toFixed(2)} s; writes after: ${after.ok}/${after.sent}`,
      );
    }
  }
  const hasMetrics = (await scrapeMetrics(client, API)) !== null;

  const pct = (o: Outcome) => `${((100 * o.ok) / o.sent).toFixed(1)}%`;
  console.log(`\nbench:burst (Miniflare, loopback): every request of a burst sent at once; baseline = the same requests ${BASELINE_CONCURRENCY} at a time; ${ROUNDS} rounds`);
  console.table(
    results.flatMap((r) => [
      {
        round: r.round + 1,
        scenario: `${r.scenario} (baseline, ${BASELINE_CONCURRENCY} at a time)`,
        ok: pct(r.baseline),
        shed: r.baseline.shed,
        failed: r.baseline.failed,
        "req/s": Math.round(r.baseline.sent / r.baseline.seconds),
        "p50 ms": Math.round(r.baseline.p50),
        "p99 ms": Math.round(r.baseline.p99),
        "vs baseline": "1.00x",
        "writes after": "",
      },
      {
        round: r.round + 1,
        scenario: `${r.scenario} (burst)`,
        ok: pct(r.burst),
        shed: r.burst.shed,
        failed: r.burst.failed,
        "req/s": Math.round(r.burst.sent / r.burst.seconds),
        "p50 ms": Math.round(r.burst.p50),
        "p99 ms": Math.round(r.burst.p99),
        "vs baseline": `${(r.baseline.seconds / r.burst.seconds).toFixed(2)}x`,
        "writes after": `${r.after.ok}/${r.after.sent}`,
      },
    ]),
  );
  for (const r of results) {
    for (const [what, o] of [["baseline", r.baseline], ["burst", r.burst], ["writes after", r.after]] as const) {
      if (o.errors.length > 0) console.log(`  round ${r.round + 1}, ${r.scenario}, ${what}: ${o.errors.map(([l, n]) => `${n} x ${l}`).join("; ")}`);
    }
    if (hasMetrics) {
      const fmt = (m: Map<string, number>) => [...m].map(([o, n]) => `${o} ${n}`).join(", ") || "0";
      console.log(`  round ${r.round + 1}, ${r.scenario}: /metrics breaker openings ${fmt(r.openings)}; shed ${fmt(r.shedByObject)}; breakers not closed afterwards: ${r.openAfter.join(", ") || "none"}`);
    }
  }
  if (!hasMetrics) console.log("/metrics: not available on this worker (404): breaker openings and shed counts per object not shown");

  const bursts = results.map((r) => r.burst);
  const minOk = Math.min(...bursts.map((o) => o.ok / o.sent));
  const unshed = bursts.reduce((a, o) => a + o.failed, 0);
  const writesOk = results.every((r) => r.after.ok === r.after.sent);
  const medOk = median(bursts.map((o) => o.ok / o.sent));
  console.log(`target: every burst answers >= 95% -> worst ${(100 * minOk).toFixed(1)}%, median ${(100 * medOk).toFixed(1)}% ${minOk >= 0.95 ? "PASS" : "MISS"}`);
  console.log(`target: the rest shed with 429/503 + Retry-After -> ${unshed} answers were neither ok nor shed ${unshed === 0 ? "PASS" : "MISS"}`);
  console.log(`target: the ${AFTER_WRITES} plain writes after each burst all succeed -> ${results.map((r) => r.after.ok).join(", ")} of ${AFTER_WRITES} ${writesOk ? "PASS" : "MISS"}`);
} finally {
  client.close();
  await worker.stop();
}
