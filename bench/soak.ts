// bench:soak — a mixed workload on every capability at once, open-loop (offered rates, not a fixed
// number of connections), under Miniflare, with real node:http upstreams behind the load balancer:
//   1. step-up: the offered rate grows by SOAK_STEP_FACTOR every 1 + SOAK_STEP_SECONDS until goodput
//      (2xx answers/s arriving in the step's last SOAK_STEP_SECONDS: the first second lets the queue
//      reach its steady state) falls below 85% of what is offered without beating the best step so far
//      by 10% (a plateau); peak goodput G = the best step. A few seconds of warm-up come first;
//   2. reference: SOAK_PRE_SECONDS at G/2 (the "normal" load: its last half is the baseline for recovery);
//   3. overload: 2 x G offered for SOAK_SECONDS (default 180);
//   4. recovery: back to G/2 for SOAK_RECOVER_SECONDS.
// Targets (issue 14), each printed next to its measured figure: goodput at 2x peak >= 80% of peak;
// every answer 2xx, a documented 4xx, or 429/503 with Retry-After; 0 breaker openings on healthy
// objects (no faults are injected, so every object is healthy); 0 Raft leader changes; full goodput
// within 2 s after the overload ends.
import { fileURLToPath } from "node:url";
import { spawnFarm } from "../test/support/upstream-farm";
import { mulberry32 } from "../test/support/prng";
import { growthByLabel, RaftWatcher, scrapeMetrics, type Metrics } from "./lib/cluster-watch";
import { createClient, describe, normalize, percentile, redisBatchErrors, type Reply } from "./lib/http";
import { classifyDefault, OpenLoop, type Kind, type Rec, type RouteSpec } from "./lib/open-loop";
import { startWorker } from "./lib/worker";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const HOLD_SECONDS = env("SOAK_SECONDS", 180);
const STEP_SECONDS = env("SOAK_STEP_SECONDS", 4);
const START_RATE = env("SOAK_START_RATE", 10);
const STEP_FACTOR = env("SOAK_STEP_FACTOR", 1.6);
const MAX_STEPS = env("SOAK_MAX_STEPS", 9);
const PRE_SECONDS = env("SOAK_PRE_SECONDS", 8);
const RECOVER_SECONDS = env("SOAK_RECOVER_SECONDS", 12);
const TIMEOUT_MS = env("SOAK_TIMEOUT_MS", 10_000);
const SEED = env("SOAK_SEED", Date.now() % 1_000_000);

const API = { authorization: "Bearer bench-api" };
const JSON_API = { ...API, "content-type": "application/json" };
const ADMIN_JSON = { authorization: "Bearer bench-admin", "content-type": "application/json" };
const RUN = Date.now().toString(36);
const VALUE = "s".repeat(100);
const CACHE_KEYS = 500;
const KV_KEYS = 100;
const CAS_KEYS = 40;
const ACCOUNTS = 200;
const COUNTERS = 5000;

const rng = mulberry32(SEED);
const int = (n: number) => Math.floor(rng() * n);
const cacheKey = () => `soak-${RUN}-${int(CACHE_KEYS)}`;
const kvKey = () => `soak-${RUN}-${int(KV_KEYS)}`;
const casRevisions = new Map<string, number>();
const casBusy = new Set<string>();
let casNext = 0;
let seq = 0;

/** The revision in a /kv answer: `revision` of a 200, `error.details.current.revision` of a 409. */
function revisionIn(body: string): number | null {
  try {
    const b = JSON.parse(body) as { revision?: number; error?: { details?: { current?: { revision?: number } | null } } };
    if (typeof b.revision === "number") return b.revision;
    const cur = b.error?.details?.current;
    if (cur === null) return 0;
    return typeof cur?.revision === "number" ? cur.revision : null;
  } catch {
    return null;
  }
}

const redisOk = (r: Reply, documented: number[] = []): Kind => (r.status === 200 && redisBatchErrors(r).length > 0 ? "outside" : classifyDefault(r, documented));

const routes: RouteSpec[] = [
  { name: "GET /cache/{key}", weight: 20, documented4xx: [404, 409], build: () => ({ method: "GET", path: `/cache/${cacheKey()}`, headers: API }) },
  { name: "PUT /cache/{key}", weight: 10, documented4xx: [409], build: () => ({ method: "PUT", path: `/cache/${cacheKey()}`, headers: API, body: VALUE }) },
  { name: "/redis INCR hot key", weight: 6, build: () => ({ method: "POST", path: "/redis", headers: JSON_API, body: JSON.stringify(["INCR", `soak-hot-${RUN}`]) }) },
  { name: "/redis INCR distinct", weight: 6, build: () => ({ method: "POST", path: "/redis", headers: JSON_API, body: JSON.stringify(["INCR", `soak-ctr-${RUN}-${seq++ % COUNTERS}`]) }) },
  {
    name: "/redis/pipeline (10)",
    weight: 5,
    classify: (r) => redisOk(r),
    build: () => ({
      method: "POST",
      path: "/redis/pipeline",
      headers: JSON_API,
      body: JSON.stringify([
        ...Array.from({ length: 5 }, () => ["GET", cacheKey()]),
        ...Array.from({ length: 3 }, () => ["SET", `soak-pipe-${RUN}-${int(CACHE_KEYS)}`, VALUE]),
        ...Array.from({ length: 2 }, () => ["INCR", `soak-ctr-${RUN}-${seq++ % COUNTERS}`]),
      ]),
    }),
  },
  {
    name: "/redis/multi-exec (2 INCR)",
    weight: 5,
    classify: (r) => redisOk(r),
    build: () => {
      const a = int(1000);
      const b = (a + 1 + int(999)) % 1000;
      return { method: "POST", path: "/redis/multi-exec", headers: JSON_API, body: JSON.stringify([["INCR", `soak-m-${RUN}-${a}`], ["INCR", `soak-m-${RUN}-${b}`]]) };
    },
  },
  {
    name: "POST /txn transfer",
    weight: 5,
    documented4xx: [409],
    build: () => {
      const a = int(ACCOUNTS);
      const b = (a + 1 + int(ACCOUNTS - 1)) % ACCOUNTS;
      return { method: "POST", path: "/txn", headers: JSON_API, body: JSON.stringify({ ops: [{ op: "incr", key: `acct-${RUN}-${a}`, by: -1 }, { op: "incr", key: `acct-${RUN}-${b}`, by: 1 }] }) };
    },
  },
  { name: "GET /kv/{key}", weight: 12, documented4xx: [404], build: () => ({ method: "GET", path: `/kv/${kvKey()}`, headers: API }) },
  { name: "PUT /kv/{key}", weight: 8, build: () => ({ method: "PUT", path: `/kv/${kvKey()}`, headers: API, body: VALUE }) },
  {
    name: "POST /kv/cas",
    weight: 5,
    documented4xx: [409],
    build: () => {
      // A key with no CAS of ours in flight, so its expected revision is the last one we saw.
      let key = `cas-${RUN}-${casNext++ % CAS_KEYS}`;
      for (let i = 0; i < CAS_KEYS && casBusy.has(key); i++) key = `cas-${RUN}-${casNext++ % CAS_KEYS}`;
      casBusy.add(key);
      return { method: "POST", path: "/kv/cas", headers: JSON_API, body: JSON.stringify({ key, value: `v${seq++}`, expectedRevision: casRevisions.get(key) ?? 0 }) };
    },
    onReply: (reply, built) => {
      const { key } = JSON.parse(built.body ?? "{}") as { key: string };
      casBusy.delete(key);
      const rev = revisionIn(reply.body);
      if (rev !== null) casRevisions.set(key, rev);
    },
  },
  { name: "GET /lb/soak/* (2 upstreams)", weight: 18, build: () => ({ method: "GET", path: `/lb/soak/item/${int(1000)}`, headers: {} }) },
];

const PHASE = { warmup: 0, pre: 1, hold: 2, recover: 3, step: (i: number) => 100 + i } as const;
const labels = routes.map(() => new Map<string, number>());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const farm = await spawnFarm(["up1", "up2"] as const, { script: fileURLToPath(new URL("./upstream-farm.mjs", import.meta.url)) });
const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" }).catch(async (err: unknown) => {
  await farm.close();
  throw err;
});
const client = createClient(worker.url, 512);
const watchClient = createClient(worker.url, 4);
const raft = new RaftWatcher(watchClient, API, 500);

async function must(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<Reply> {
  for (let attempt = 0; ; attempt++) {
    const r = await client.send(method, path, { headers, ...(body === undefined ? {} : { body }) });
    if (r.status === 200) return r;
    if (attempt >= 5) throw new Error(`${method} ${path} failed during setup: ${describe(r)}`);
    await sleep(500);
  }
}

async function preload(): Promise<void> {
  const { up1, up2 } = farm.servers;
  await must("PUT", "/admin/lb/pools/soak", JSON.stringify({ algorithm: "round-robin", upstreams: [{ id: "up1", url: up1.url }, { id: "up2", url: up2.url }] }), ADMIN_JSON);
  const jobs: Array<() => Promise<unknown>> = [
    ...Array.from({ length: CACHE_KEYS }, (_, i) => () => must("PUT", `/cache/soak-${RUN}-${i}`, VALUE, API)),
    ...Array.from({ length: KV_KEYS }, (_, i) => () => must("PUT", `/kv/soak-${RUN}-${i}`, VALUE, API)),
    ...Array.from({ length: CAS_KEYS }, (_, i) => async () => {
      const r = await must("PUT", `/kv/cas-${RUN}-${i}`, "v0", API);
      casRevisions.set(`cas-${RUN}-${i}`, revisionIn(r.body) ?? 0);
    }),
  ];
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < jobs.length) await jobs[next++]!();
  }));
}

interface Stats {
  sent: number;
  ok: number;
  documented4xx: number;
  shed: number;
  outside: number;
  p50: number;
  p99: number;
}

function stats(recs: Rec[]): Stats {
  const ms = recs.map((r) => r.end - r.at);
  const count = (k: Kind) => recs.filter((r) => r.kind === k).length;
  return { sent: recs.length, ok: count("ok"), documented4xx: count("documented4xx"), shed: count("shed"), outside: count("outside"), p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** 2xx answers per second that arrived within [from, to). */
function goodput(recs: Rec[], from: number, to: number, route?: number): number {
  const n = recs.filter((r) => r.kind === "ok" && r.end >= from && r.end < to && (route === undefined || r.route === route)).length;
  return n / ((to - from) / 1000);
}

const loop = new OpenLoop({
  client,
  routes,
  timeoutMs: TIMEOUT_MS,
  maxInFlight: 5000,
  rng,
  onLabel: (route, kind, reply) => {
    const batch = redisBatchErrors(reply);
    const text = reply.status === 200 && batch.length > 0 ? `200 with ERR: ${normalize(batch[0]!).slice(0, 90)}` : describe(reply);
    const label = `${kind === "shed" ? "[shed] " : kind === "documented4xx" ? "[documented] " : ""}${text}`;
    labels[route]!.set(label, (labels[route]!.get(label) ?? 0) + 1);
  },
});

const scrapes: Array<{ at: string; m: Metrics | null }> = [];
const scrape = async (at: string) => scrapes.push({ at, m: await scrapeMetrics(watchClient, API) });

try {
  await preload();
  console.log(`soak: seed ${SEED}; ${routes.length} routes; preloaded ${CACHE_KEYS} cache keys, ${KV_KEYS + CAS_KEYS} KV keys, an LB pool of 2 upstreams`);
  raft.start();
  await scrape("start");
  const runStart = performance.now();

  // 1. Step up until goodput stops following the offered rate.
  const steps: Array<{ rate: number; goodput: number; start: number; end: number; p99: number }> = [];
  let rate = START_RATE;
  // Warm-up (JIT, sockets, objects woken up): not measured.
  await loop.run(PHASE.warmup, START_RATE, 3);
  for (let i = 0; i < MAX_STEPS; i++) {
    const run = await loop.run(PHASE.step(i), rate, STEP_SECONDS + 1);
    const w = { start: run.start + 1000, end: run.end };
    const g = goodput(loop.records, w.start, w.end);
    const st = stats(loop.records.filter((r) => r.phase === PHASE.step(i)));
    steps.push({ rate, goodput: g, start: w.start, end: w.end, p99: st.p99 });
    console.log(`step ${i + 1}: offered ${rate.toFixed(0)} req/s -> goodput ${g.toFixed(0)}/s, p99 ${st.p99.toFixed(0)} ms, shed ${st.shed}, outside the contract ${st.outside}, in flight ${loop.inFlight}`);
    const best = Math.max(0, ...steps.slice(0, -1).map((s) => s.goodput));
    if (g < 0.85 * rate && g < 1.1 * best) break;
    rate *= STEP_FACTOR;
  }
  const peak = steps.reduce((a, b) => (b.goodput > a.goodput ? b : a));
  const G = peak.goodput;
  const low = G / 2;
  const high = 2 * G;
  // The saturated last step leaves a queue: let it drain (up to the client deadline) before the reference.
  await Promise.race([loop.drain(), sleep(TIMEOUT_MS)]);
  await scrape("after step-up");

  // 2. Reference at G/2.
  const pre = await loop.run(PHASE.pre, low, PRE_SECONDS);
  await scrape("after reference");
  console.log(`reference: ${low.toFixed(0)} req/s for ${PRE_SECONDS} s; overload: ${high.toFixed(0)} req/s for ${HOLD_SECONDS} s`);

  // 3. Overload at 2x peak goodput, with a progress line every 10 s.
  const progress = setInterval(() => {
    const now = performance.now();
    const recent = loop.records.filter((r) => r.end >= now - 10_000 && r.phase === PHASE.hold);
    const st = stats(recent);
    console.log(`  overload: last 10 s goodput ${(st.ok / 10).toFixed(0)}/s, shed ${st.shed}, outside the contract ${st.outside}, in flight ${loop.inFlight}`);
  }, 10_000);
  const hold = await loop.run(PHASE.hold, high, HOLD_SECONDS).finally(() => clearInterval(progress));
  await scrape("after overload");

  // 4. Back to G/2.
  const rec = await loop.run(PHASE.recover, low, RECOVER_SECONDS);
  await loop.drain();
  await raft.stop();
  await scrape("end");
  const runEnd = performance.now();

  // ---- report ----------------------------------------------------------------------------------
  const R = loop.records;
  const inPhase = (p: number, route?: number) => R.filter((r) => r.phase === p && (route === undefined || r.route === route));
  const holdGoodput = goodput(R, hold.start, hold.end);
  const ratio = holdGoodput / G;

  console.log(`\nbench:soak (Miniflare, loopback, upstreams in a child process), seed ${SEED}; open-loop; client deadline ${TIMEOUT_MS} ms`);
  console.log(`step-up: ${steps.map((s) => `${s.rate.toFixed(0)}->${s.goodput.toFixed(0)}`).join(", ")} (offered -> goodput, req/s); peak goodput G = ${G.toFixed(0)}/s at ${peak.rate.toFixed(0)} offered`);
  const phaseRow = (name: string, p: number | number[], offered: number, w: { start: number; end: number }) => {
    const recs = R.filter((r) => (Array.isArray(p) ? p.includes(r.phase) : r.phase === p));
    const st = stats(recs);
    return { phase: name, "offered/s": Math.round(offered), "goodput/s": Math.round(goodput(R, w.start, w.end)), "vs peak": `${(goodput(R, w.start, w.end) / G).toFixed(2)}x`, sent: st.sent, "2xx": st.ok, "doc 4xx": st.documented4xx, "shed (429/503+RA)": st.shed, "outside contract": st.outside, "p50 ms": Math.round(st.p50), "p99 ms": Math.round(st.p99) };
  };
  console.table([
    phaseRow(`peak step (baseline)`, PHASE.step(steps.indexOf(peak)), peak.rate, peak),
    phaseRow(`reference, G/2, ${PRE_SECONDS} s`, PHASE.pre, low, pre),
    phaseRow(`overload, 2G, ${HOLD_SECONDS} s`, PHASE.hold, high, hold),
    phaseRow(`recovery, G/2, ${RECOVER_SECONDS} s`, PHASE.recover, low, rec),
  ]);

  console.log(`per route during the overload (goodput by answers arriving in the window; peak = the same route in the peak step):`);
  console.table(
    routes.map((route, i) => {
      const st = stats(inPhase(PHASE.hold, i));
      const pk = goodput(R, peak.start, peak.end, i);
      const hg = goodput(R, hold.start, hold.end, i);
      return { route: route.name, "peak goodput/s": pk.toFixed(1), "overload goodput/s": hg.toFixed(1), "vs peak": pk > 0 ? `${(hg / pk).toFixed(2)}x` : "-", sent: st.sent, "2xx": st.ok, "doc 4xx": st.documented4xx, shed: st.shed, "outside": st.outside, "p50 ms": Math.round(st.p50), "p99 ms": Math.round(st.p99) };
    }),
  );
  for (const [i, route] of routes.entries()) {
    const top = [...labels[i]!].sort((a, b) => b[1] - a[1]).slice(0, 4);
    if (top.length > 0) console.log(`  ${route.name}: ${top.map(([l, n]) => `${n} x ${l}`).join("; ")}`);
  }

  // Overload every 30 s: does goodput hold or collapse as the backlog grows?
  const slices: string[] = [];
  for (let t = hold.start; t < hold.end; t += 30_000) slices.push(`${goodput(R, t, Math.min(t + 30_000, hold.end)).toFixed(0)}`);
  console.log(`overload goodput per 30 s: ${slices.join(", ")} /s`);

  // Recovery: requests sent after the overload, in buckets by send time (500 ms, or wider so that a
  // bucket holds about 20 requests at G/2). A request is good when
  // it is 2xx within L = 2 x the reference p99, kept within [500 ms, 2 s]; a bucket has full goodput when its share
  // of good requests is >= 95% of the reference's share. Recovered = from the first bucket after which
  // every bucket has full goodput.
  const ref = R.filter((r) => r.phase === PHASE.pre && r.at >= pre.start + (PRE_SECONDS * 1000) / 2);
  const L = Math.min(2000, Math.max(500, 2 * percentile(ref.map((r) => r.end - r.at), 99)));
  const good = (r: Rec) => r.kind === "ok" && r.end - r.at <= L;
  const refShare = ref.filter(good).length / Math.max(1, ref.length);
  const recRecs = inPhase(PHASE.recover);
  const BUCKET_MS = Math.max(500, Math.ceil((20 / low) * 4) * 250);
  const buckets: number[] = [];
  for (let t = rec.start; t + BUCKET_MS <= rec.end + 1; t += BUCKET_MS) {
    const inBucket = recRecs.filter((r) => r.at >= t && r.at < t + BUCKET_MS);
    buckets.push(inBucket.length === 0 ? NaN : inBucket.filter(good).length / inBucket.length);
  }
  let firstGood = buckets.length;
  for (let b = buckets.length - 1; b >= 0; b--) {
    if (!(buckets[b]! >= 0.95 * refShare)) break;
    firstGood = b;
  }
  const recoverySeconds = firstGood < buckets.length ? (firstGood * BUCKET_MS) / 1000 : null;
  console.log(`recovery: reference share of 2xx within L=${L.toFixed(0)} ms: ${(100 * refShare).toFixed(1)}%; share per ${BUCKET_MS} ms bucket after the overload: ${buckets.slice(0, 24).map((x) => (Number.isNaN(x) ? "-" : `${Math.round(100 * x)}`)).join(" ")} %`);

  // Breakers, shedding and Raft, from /metrics when the worker has it; Raft also from /raft/status samples.
  const first = scrapes[0]!.m;
  const last = scrapes.at(-1)!.m;
  const hasMetrics = last !== null;
  const openings = growthByLabel(first, last, "dc_do_breaker_openings_total", "object");
  const openingsTotal = [...openings.values()].reduce((a, b) => a + b, 0);
  const fromBodies = new Map<string, number>();
  for (const m of labels) for (const [l, n] of m) {
    const o = /circuit open for (\S+?):/.exec(l)?.[1];
    if (o) fromBodies.set(o, (fromBodies.get(o) ?? 0) + n);
  }
  const raftMetric = growthByLabel(first, last, "dc_raft_leader_changes_total", "node");
  const raftChangesMetric = hasMetrics && last.has("dc_raft_leader_changes_total") ? Math.max(0, ...raftMetric.values()) : null;
  const raftAll = raft.summary(runStart, runEnd);
  const raftHold = raft.summary(hold.start, hold.end);
  const shedMetric = growthByLabel(first, last, "dc_admission_shed_total", "object");
  const shedTotal = R.filter((r) => r.kind === "shed").length;
  console.log(
    hasMetrics
      ? `/metrics: breaker openings ${[...openings].map(([o, n]) => `${o} ${n}`).join(", ") || "0"}; admission shed ${[...shedMetric].map(([o, n]) => `${o} ${n}`).join(", ") || "0"}; Raft leader changes (max over members) ${raftChangesMetric ?? "n/a"}`
      : `/metrics: not available on this worker (404); breaker openings estimated from "circuit open" answers: ${[...fromBodies].map(([o, n]) => `${o} (${n} answers)`).join(", ") || "none seen"}`,
  );
  console.log(`Raft (/raft/status every 500 ms, ${raftAll.samples} samples, ${raft.failedSamples} failed): leader changes ${raftAll.changes} over the run (${raftHold.changes} during the overload), term ${raftAll.termFrom} -> ${raftAll.termTo}, ${raftAll.leaderless} samples without a leader`);
  console.log(`answers shed with 429/503 + Retry-After: ${shedTotal}; client-side drops (over 5000 in flight): ${loop.clientDrops}`);

  const outside = R.filter((r) => r.kind === "outside").length;
  const breakerCount = hasMetrics ? openingsTotal : fromBodies.size;
  const leaderChanges = raftChangesMetric ?? raftAll.changes;
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  console.log(`target: goodput at 2x peak >= 80% of peak -> ${holdGoodput.toFixed(0)}/s of ${G.toFixed(0)}/s = ${ratio.toFixed(2)}x ${verdict(ratio >= 0.8)}`);
  console.log(`target: every answer 2xx, a documented 4xx, or 429/503 with Retry-After -> ${outside} of ${R.length} outside the contract ${verdict(outside === 0)}`);
  console.log(`target: 0 breaker openings on healthy objects -> ${breakerCount}${hasMetrics ? "" : " objects seen refusing with an open circuit (no /metrics)"} ${verdict(breakerCount === 0)}`);
  console.log(`target: 0 Raft leader changes without a fault -> ${leaderChanges}${raftChangesMetric === null ? " (sampled)" : " (/metrics)"} ${verdict(leaderChanges === 0)}`);
  console.log(`target: full goodput within 2 s after the overload ends -> ${recoverySeconds === null ? `not within ${RECOVER_SECONDS} s` : `${recoverySeconds.toFixed(1)} s (resolution ${BUCKET_MS} ms)`} ${verdict(recoverySeconds !== null && recoverySeconds <= 2)}`);
  console.log(`total runtime of the load: ${((runEnd - runStart) / 1000).toFixed(0)} s`);
} finally {
  await raft.stop();
  client.close();
  watchClient.close();
  await worker.stop();
  await farm.close();
}
