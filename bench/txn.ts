// bench:txn — cross-shard transactions (POST /txn, two-phase commit) versus plain writes, in the same
// run, under Miniflare. Target: a 2-shard transaction commits at >= 0.33x the single-shard write rate.
// Two baselines: (a) the router's plain PUT /cache/{key} at the default W=2 (what a user does for one
// write), (b) one direct write to the key's owner shard (one RPC, one Durable Object storage write).
// "k-shard" means the keys' PRIMARY owners are k distinct shards; with N replicas per key the 2PC
// touches every replica, so the participant count (printed) is higher.
import autocannon from "autocannon";
import { parseConfig } from "../src/config";
import { makeVersion } from "../src/core/cache/version";
import { HashRing } from "../src/core/ring/hash-ring";
import { planTxn } from "../src/core/txn/plan";
import { load, type LoadResult } from "./lib/load";
import { startWorker } from "./lib/worker";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Key groups per scenario, each of fresh keys, one picked at random per request: no-wait lock conflicts stay rare. */
const GROUPS = 10_000;
const PLAIN_KEYS = 10_000;
const TARGET = 0.33;
const ADMIN = { authorization: "Bearer bench-admin" };
const API = { authorization: "Bearer bench-api" };
const JSON_API = { ...API, "content-type": "application/json" };
const cache = parseConfig({}).cache;
const ring = new HashRing(cache.shards);
const VALUE = "x".repeat(100);

interface KeyGroup {
  keys: string[];
  participants: number;
}

/** `count` groups of `size` fresh keys whose primary owners are `size` distinct shards, drawn at random. */
function keyGroups(prefix: string, size: number, count: number): KeyGroup[] {
  const byPrimary = new Map<string, string[]>(cache.shards.map((s) => [s.id, []]));
  const shardIds = [...byPrimary.keys()];
  let next = 0;
  const take = (shard: string): string => {
    const bucket = byPrimary.get(shard)!;
    while (bucket.length === 0) {
      const k = `${prefix}-${next++}`;
      byPrimary.get(ring.lookup(k))!.push(k);
    }
    return bucket.pop()!;
  };
  const groups: KeyGroup[] = [];
  for (let g = 0; g < count; g++) {
    const shards = [...shardIds];
    for (let i = 0; i < size; i++) {
      const j = i + Math.floor(Math.random() * (shards.length - i));
      [shards[i], shards[j]] = [shards[j]!, shards[i]!];
    }
    shards.length = size;
    const keys = shards.map(take);
    const plan = planTxn({ ops: keys.map((key) => ({ op: "set", key, value: VALUE })), conditions: [] }, (k) => ring.preferenceList(k, cache.replicas));
    if (!plan.ok) throw new Error(plan.message);
    groups.push({ keys, participants: plan.participants.length });
  }
  return groups;
}

const pairs = keyGroups("txn2", 2, GROUPS);
const quads = keyGroups("txn4", 4, GROUPS);
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const txnBody = (g: KeyGroup) => JSON.stringify({ ops: g.keys.map((key) => ({ op: "set", key, value: VALUE })) });

const plainKey = () => `plain-${Math.floor(Math.random() * PLAIN_KEYS)}`;
const owner = new Map<string, string>();
for (let i = 0; i < PLAIN_KEYS; i++) owner.set(`plain-${i}`, ring.lookup(`plain-${i}`));
let counter = 0;
const nextVersion = () => makeVersion(Date.now(), counter++ % 0xffffff, 0xbe9c);
const direct = (k: string) => `/admin/cache/shards/${owner.get(k)}/keys/${k}`;

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const { url } = worker;

interface TxnResult extends LoadResult {
  /** Every response (committed or not) per second; `rps` counts committed ones only. */
  responsesPerSec: number;
  committed: number;
  aborted409: number;
  unavailable503: number;
  /** Other non-2xx statuses and socket errors/timeouts. */
  otherErrors: number;
  reasons: Map<string, number>;
  participants: number;
}

/**
 * POSTs transactions with autocannon. Not lib/load's `load`: it needs POST and a per-status count
 * (a 409 abort is an outcome, not an error); same autocannon settings otherwise. Non-200 bodies are
 * parsed for their abort code; 200 bodies are not (that would spend the cores the server needs).
 */
async function loadTxn(name: string, groups: KeyGroup[], connections: number, seconds: number): Promise<TxnResult> {
  const reasons = new Map<string, number>();
  let sent = 0;
  let participantSum = 0;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: "POST",
        headers: JSON_API,
        setupRequest: (req) => {
          const g = pick(groups);
          sent++;
          participantSum += g.participants;
          return { ...req, path: "/txn", body: txnBody(g) };
        },
        onResponse: (status, body) => {
          if (status === 200) return;
          let code = "?";
          try {
            code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? "?";
          } catch {
            /* not JSON: keep "?" */
          }
          const k = `${status} ${code}`;
          reasons.set(k, (reasons.get(k) ?? 0) + 1);
        },
      },
    ],
  });
  const stats = (result.statusCodeStats ?? {}) as Record<string, { count?: number }>;
  const count = (s: string) => stats[s]?.count ?? 0;
  const total = Object.values(stats).reduce((n, s) => n + (s.count ?? 0), 0);
  const committed = count("200");
  const aborted409 = count("409");
  const unavailable503 = count("503");
  return {
    name,
    // Same basis as lib/load (autocannon's per-second average), scaled to the committed share.
    rps: total === 0 ? 0 : (result.requests.average * committed) / total,
    responsesPerSec: result.requests.average,
    mean: result.latency.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    committed,
    aborted409,
    unavailable503,
    otherErrors: total - committed - aborted409 - unavailable503 + result.errors + result.timeouts,
    reasons,
    participants: sent === 0 ? 0 : participantSum / sent,
  };
}

function scenarios(connections: number, seconds: number) {
  const base = { url, seconds, connections };
  return {
    directSet: () => load({ ...base, name: "(b) direct write (owner shard)", method: "PUT", headers: ADMIN, next: () => { const k = plainKey(); return { path: `${direct(k)}?version=${nextVersion()}`, body: VALUE }; } }),
    routerSetW2: () => load({ ...base, name: "(a) router PUT W=2 (N=3)", method: "PUT", headers: API, next: () => ({ path: `/cache/${plainKey()}`, body: VALUE }) }),
    txn2: () => loadTxn("txn 2 primaries (2 sets)", pairs, connections, seconds),
    txn4: () => loadTxn("txn 4 primaries (4 sets)", quads, connections, seconds),
  };
}

const isTxn = (r: LoadResult | TxnResult): r is TxnResult => "committed" in r;
const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`;

function row(r: LoadResult | TxnResult, a: LoadResult | undefined, b: LoadResult | undefined) {
  const t = isTxn(r) ? r : undefined;
  const done = t ? t.committed + t.aborted409 + t.unavailable503 + t.otherErrors : 0;
  return {
    scenario: r.name,
    "ok/s": Math.round(r.rps),
    "p50 ms": r.p50,
    "p99 ms": r.p99,
    "vs (a)": a ? ratio(r.rps, a.rps) : "-",
    "vs (b)": b ? ratio(r.rps, b.rps) : "-",
    shards: t ? t.participants.toFixed(2) : 1,
    "409 aborts": t ? t.aborted409 : "-",
    "abort %": t ? ((100 * t.aborted409) / Math.max(1, done)).toFixed(2) : "-",
    "503s": t ? t.unavailable503 : "-",
    errors: t ? t.otherErrors : r.errors + r.non2xx,
  };
}

async function runAll(connections: number, seconds: number): Promise<Record<string, LoadResult | TxnResult>> {
  // Rounds interleave baselines and transactions, and each figure is the median round (by committed
  // rate), so drift of a shared machine hits both sides alike.
  const runs: Record<string, Array<LoadResult | TxnResult>> = {};
  const only = process.env.BENCH_SCENARIOS?.split(",");
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(scenarios(connections, seconds))) {
      if (!only || only.includes(name)) (runs[name] ??= []).push(await run());
    }
  }
  const results: Record<string, LoadResult | TxnResult> = {};
  for (const [name, list] of Object.entries(runs)) {
    results[name] = [...list].sort((x, y) => x.rps - y.rps)[Math.floor(list.length / 2)]!;
  }
  console.log(
    `\n${connections} connection(s), median of ${ROUNDS} interleaved rounds of ${seconds}s, ${VALUE.length} B values, ` +
      `${cache.shards.length} shards, N=${cache.replicas}; ok/s = committed txn/s (2xx for baselines); ` +
      `latency over all responses; shards = mean participants (all replicas of all keys); ratios vs (a) and (b)`,
  );
  console.table(Object.values(results).map((r) => row(r, results.routerSetW2, results.directSet)));
  for (const r of Object.values(results)) {
    if (isTxn(r) && r.reasons.size > 0) console.log(`  ${r.name} non-200 (median round): ${[...r.reasons].map(([k, n]) => `${k} x${n}`).join(", ")}`);
  }
  return results;
}

try {
  // Warm-up: every shard object and the coordinator code path are live before the first figure.
  await load({ url, seconds: 2, connections: CONNECTIONS, name: "warmup", method: "PUT", headers: API, next: () => ({ path: `/cache/${plainKey()}`, body: VALUE }) });
  await loadTxn("warmup", pairs, CONNECTIONS, 2);
  console.log(`\nbench:txn (Miniflare, loopback; baselines: (a) router PUT /cache/{key} at W=2, (b) one direct write to the owner shard)`);
  const saturated = await runAll(CONNECTIONS, SECONDS);
  await runAll(1, Math.max(2, Math.round(SECONDS / 2)));
  const t2 = saturated.txn2?.rps ?? NaN;
  for (const [label, base] of [["(b) direct single-shard write", saturated.directSet], ["(a) router PUT W=2", saturated.routerSetW2]] as const) {
    const x = t2 / (base?.rps ?? NaN);
    console.log(`target: 2-shard txn >= ${TARGET}x ${label} (at ${CONNECTIONS} connections) -> ${x.toFixed(2)}x ${x >= TARGET ? "PASS" : "MISS"}`);
  }
} finally {
  await worker.stop();
}
