// npm run cost — what the cluster would cost on Cloudflare, from the billed events it counts itself
// (dc_usage_* in GET /metrics: RPC calls on stubs, alarm invocations, SQLite rows, active seconds).
// Under Miniflare (the worker and every object share one isolate locally, so one scrape sees all):
//   1. idle: a first touch of each capability (cache, redis, kv through Raft, a transaction, a task
//      batch), SETTLE seconds for the burst's follow-up work, then IDLE minutes of nothing;
//   2. traffic: RATE requests/s of mixed traffic (cache GET/PUT, redis INCR, kv PUT/GET, /txn) for
//      TRAFFIC seconds, open-loop;
//   3. baseline: the idle phase again in a fresh worker with RAFT_QUIESCE=false (today's always-on
//      Raft heartbeats).
// Counters are read before and after each phase; each phase's counts are scaled to a day and priced on
// the Workers Free and Paid plans (the table printed at the end, with its source).
//
//   npm run cost -- --idle-minutes 10 --traffic-seconds 120 --rate 100 --settle-seconds 30
//   npm run cost -- --no-baseline           (skip phase 3)
//   npm run cost -- --baseline-traffic      (phase 2 in the baseline worker too)
import { parseArgs } from "node:util";
import { mulberry32 } from "../test/support/prng";
import { CLOUDFLARE_PRICES, freePlan, gbSecondsOf, ITEM_LABEL, paidPlan, perDay, USAGE_ITEMS, type DailyUsage } from "../src/core/metrics/pricing";
import { scrapeMetrics, type Metrics } from "./lib/cluster-watch";
import { createClient, describe, group, type Client } from "./lib/http";
import { OpenLoop, type RouteSpec } from "./lib/open-loop";
import { startWorker, type RunningWorker } from "./lib/worker";

const { values: args } = parseArgs({
  options: {
    "idle-minutes": { type: "string", default: "1" },
    "traffic-seconds": { type: "string", default: "60" },
    rate: { type: "string", default: "100" },
    "settle-seconds": { type: "string", default: "30" },
    "no-baseline": { type: "boolean", default: false },
    "baseline-traffic": { type: "boolean", default: false },
    seed: { type: "string" },
  },
});
const IDLE_SECONDS = Number(args["idle-minutes"]) * 60;
const TRAFFIC_SECONDS = Number(args["traffic-seconds"]);
const RATE = Number(args.rate);
const SETTLE_SECONDS = Number(args["settle-seconds"]);
const SEED = Number(args.seed ?? Date.now() % 1_000_000);
for (const [name, v] of Object.entries({ IDLE_SECONDS, TRAFFIC_SECONDS, RATE, SETTLE_SECONDS })) if (!(v >= 0) || (name !== "SETTLE_SECONDS" && !(v > 0))) throw new Error(`${name}: a positive number is needed (got ${v})`);

const API = { authorization: "Bearer bench-api" };
const JSON_API = { ...API, "content-type": "application/json" };
const RUN = Date.now().toString(36);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rng = mulberry32(SEED);
const int = (n: number) => Math.floor(rng() * n);

/** What one phase cost, from the counters before and after it. */
interface PhaseUsage {
  name: string;
  seconds: number;
  /** Billed Durable Object requests: RPC calls made by the worker and by objects, and alarms (the scrape's own calls apart). */
  doRequests: number;
  alarms: number;
  objectToObject: number;
  fromWorker: number;
  /** Calls the /metrics scrapes of this bench made (billed too, but not the workload's). */
  scrapeCalls: number;
  rowsRead: number;
  rowsWritten: number;
  activeSeconds: number;
  workerRequests: number;
  /** Requests (calls + alarms) per called kind. */
  byKind: Map<string, number>;
  alarmsByKind: Map<string, number>;
  rowsWrittenByKind: Map<string, number>;
}

/** What one GET /metrics costs by itself: its calls are labelled apart, but the rows and active time they cause are not. */
interface ScrapeCost {
  calls: number;
  rowsRead: number;
  rowsWritten: number;
  activeSeconds: number;
}

async function read(client: Client): Promise<Metrics> {
  const m = await scrapeMetrics(client, API);
  if (!m || !m.has("dc_usage_rpc_calls_total")) throw new Error("GET /metrics has no dc_usage_* counters");
  return m;
}

function byLabel(m: Metrics, name: string, label: string, where: (l: Record<string, string>) => boolean = () => true): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of m.series(name)) if (where(s.labels)) out.set(s.labels[label] ?? "", (out.get(s.labels[label] ?? "") ?? 0) + s.value);
  return out;
}

function diffMaps(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of b) if (v - (a.get(k) ?? 0) !== 0) out.set(k, v - (a.get(k) ?? 0));
  return out;
}

/** The cost of the scrape that produced `again`, from the one just before it (nothing else running between). */
function scrapeCostOf(previous: Metrics, again: Metrics): ScrapeCost {
  const d = (metric: string, where?: (l: Record<string, string>) => boolean) => again.sum(metric, where) - previous.sum(metric, where);
  return {
    calls: d("dc_usage_rpc_calls_total", (l) => l.caller === "metrics"),
    rowsRead: d("dc_usage_rows_read_total"),
    rowsWritten: d("dc_usage_rows_written_total"),
    activeSeconds: d("dc_usage_active_seconds_total"),
  };
}

/**
 * The phase between two scrapes. The `after` scrape's own object calls happened before it rendered,
 * so the delta holds one scrape's rows and activity: `scrape` (measured right after) is taken off.
 */
function usageBetween(name: string, before: Metrics, after: Metrics, seconds: number, scrape: ScrapeCost): PhaseUsage {
  const d = (metric: string, where?: (l: Record<string, string>) => boolean) => after.sum(metric, where) - before.sum(metric, where);
  const notScrape = (l: Record<string, string>) => l.caller !== "metrics";
  const calls = d("dc_usage_rpc_calls_total", notScrape);
  const alarms = d("dc_usage_alarms_total");
  const byKind = diffMaps(byLabel(before, "dc_usage_rpc_calls_total", "kind", notScrape), byLabel(after, "dc_usage_rpc_calls_total", "kind", notScrape));
  const alarmsByKind = diffMaps(byLabel(before, "dc_usage_alarms_total", "kind"), byLabel(after, "dc_usage_alarms_total", "kind"));
  for (const [k, v] of alarmsByKind) byKind.set(k, (byKind.get(k) ?? 0) + v);
  return {
    name,
    seconds,
    doRequests: calls + alarms,
    alarms,
    objectToObject: d("dc_usage_rpc_calls_total", (l) => l.caller !== "metrics" && l.caller !== "worker"),
    fromWorker: d("dc_usage_rpc_calls_total", (l) => l.caller === "worker"),
    scrapeCalls: d("dc_usage_rpc_calls_total", (l) => l.caller === "metrics"),
    rowsRead: Math.max(0, d("dc_usage_rows_read_total") - scrape.rowsRead),
    rowsWritten: Math.max(0, d("dc_usage_rows_written_total") - scrape.rowsWritten),
    activeSeconds: Math.max(0, d("dc_usage_active_seconds_total") - scrape.activeSeconds),
    workerRequests: d("dc_http_requests_total", (l) => l.route !== "/metrics"),
    byKind,
    alarmsByKind,
    rowsWrittenByKind: diffMaps(byLabel(before, "dc_usage_rows_written_total", "kind"), byLabel(after, "dc_usage_rows_written_total", "kind")),
  };
}

const scrapeCosts: ScrapeCost[] = [];

/** Reads the counters after a phase, then once more to learn what that read itself cost. */
async function readAfter(client: Client): Promise<{ after: Metrics; scrape: ScrapeCost }> {
  const after = await read(client);
  const scrape = scrapeCostOf(after, await read(client));
  scrapeCosts.push(scrape);
  return { after, scrape };
}

function daily(u: PhaseUsage): DailyUsage {
  return {
    doRequests: perDay(u.doRequests, u.seconds),
    gbSeconds: perDay(gbSecondsOf(u.activeSeconds), u.seconds),
    rowsRead: perDay(u.rowsRead, u.seconds),
    rowsWritten: perDay(u.rowsWritten, u.seconds),
    workerRequests: perDay(u.workerRequests, u.seconds),
  };
}

/** One request to each capability, so every kind of object exists and has done its first work. */
async function touchEverything(client: Client): Promise<void> {
  const must = async (method: string, path: string, body?: unknown, headers: Record<string, string> = JSON_API) => {
    const r = await client.send(method, path, { headers, ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }) });
    if (r.status >= 300) throw new Error(`touch ${method} ${path}: ${describe(r)}`);
  };
  await must("PUT", `/cache/cost-${RUN}-touch`, "v", API);
  await must("GET", `/cache/cost-${RUN}-touch`, undefined, API);
  await must("POST", "/redis", ["INCR", `cost-${RUN}-redis-touch`]);
  await must("PUT", `/kv/cost-${RUN}-touch`, "v", API);
  await must("GET", `/kv/cost-${RUN}-touch`, undefined, API);
  await must("POST", "/txn", { ops: [{ op: "set", key: `cost-${RUN}-a`, value: "1" }, { op: "set", key: `cost-${RUN}-b`, value: "2" }] });
  await must("POST", "/tasks", { tasks: [{ kind: "fibonacci", args: { n: 20 } }, { kind: "sha256", args: { data: "cost" } }] });
}

const CACHE_KEYS = 500;
const KV_KEYS = 100;
const COUNTERS = 1000;
const ACCOUNTS = 200;
const VALUE = "c".repeat(100);

const routes: RouteSpec[] = [
  { name: "GET /cache/{key}", weight: 30, documented4xx: [404, 409], build: () => ({ method: "GET", path: `/cache/cost-${RUN}-${int(CACHE_KEYS)}`, headers: API }) },
  { name: "PUT /cache/{key}", weight: 15, documented4xx: [409], build: () => ({ method: "PUT", path: `/cache/cost-${RUN}-${int(CACHE_KEYS)}`, headers: API, body: VALUE }) },
  { name: "/redis INCR", weight: 20, build: () => ({ method: "POST", path: "/redis", headers: JSON_API, body: JSON.stringify(["INCR", `cost-${RUN}-ctr-${int(COUNTERS)}`]) }) },
  { name: "PUT /kv/{key}", weight: 10, build: () => ({ method: "PUT", path: `/kv/cost-${RUN}-${int(KV_KEYS)}`, headers: API, body: VALUE }) },
  { name: "GET /kv/{key}", weight: 15, documented4xx: [404], build: () => ({ method: "GET", path: `/kv/cost-${RUN}-${int(KV_KEYS)}`, headers: API }) },
  {
    name: "POST /txn transfer",
    weight: 10,
    documented4xx: [409],
    build: () => {
      const a = int(ACCOUNTS);
      const b = (a + 1 + int(ACCOUNTS - 1)) % ACCOUNTS;
      return { method: "POST", path: "/txn", headers: JSON_API, body: JSON.stringify({ ops: [{ op: "incr", key: `cost-${RUN}-acct-${a}`, by: -1 }, { op: "incr", key: `cost-${RUN}-acct-${b}`, by: 1 }] }) };
    },
  },
];

async function idlePhase(client: Client, name: string): Promise<PhaseUsage> {
  await touchEverything(client);
  console.log(`  ${name}: touched every capability; settling ${SETTLE_SECONDS} s, then ${IDLE_SECONDS / 60} idle minute(s)`);
  await sleep(SETTLE_SECONDS * 1000);
  const before = await read(client);
  const t0 = performance.now();
  await sleep(IDLE_SECONDS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const { after, scrape } = await readAfter(client);
  return usageBetween(name, before, after, seconds, scrape);
}

async function trafficPhase(client: Client, name: string): Promise<{ usage: PhaseUsage; answers: Array<[string, number]> }> {
  const labels: string[] = [];
  const loop = new OpenLoop({ client, routes, timeoutMs: 10_000, maxInFlight: 512, rng, onLabel: (route, kind, reply) => labels.push(`${routes[route]!.name} ${kind}: ${describe(reply)}`) });
  console.log(`  ${name}: ${RATE} requests/s for ${TRAFFIC_SECONDS} s`);
  const before = await read(client);
  await loop.run(0, RATE, TRAFFIC_SECONDS);
  const drainFrom = performance.now();
  await loop.drain();
  const drainSeconds = (performance.now() - drainFrom) / 1000;
  const { after, scrape } = await readAfter(client);
  const ok = loop.records.filter((r) => r.kind === "ok" || r.kind === "documented4xx").length;
  console.log(`  ${name}: sent ${loop.records.length}; the last answered ${drainSeconds.toFixed(1)} s after the window, its work counted with it`);
  // Scaled over the offered window: the work of its requests (finished while draining) at RATE per second.
  return { usage: usageBetween(name, before, after, TRAFFIC_SECONDS, scrape), answers: [[`2xx or documented 4xx`, ok], ...group(labels)] };
}

async function withWorker<T>(bindings: Record<string, string>, fn: (client: Client) => Promise<T>): Promise<T> {
  const worker: RunningWorker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api", ...bindings });
  const client = createClient(worker.url, 64);
  try {
    return await fn(client);
  } finally {
    client.close();
    await worker.stop();
  }
}

// ---- report ----

const n = (v: number, digits = 0) => v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (v: number) => `$${v.toFixed(2)}`;
const compact = (v: number) => (v >= 1e9 ? `${n(v / 1e9, 2)} B` : v >= 1e6 ? `${n(v / 1e6, 2)} M` : n(v, v < 10 ? 2 : 0));

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? "=" : "∞";
  return `${(a / b).toFixed(a / b < 0.1 ? 3 : 2)}x`;
}

function phaseTable(phases: PhaseUsage[]): void {
  console.table(
    phases.map((p) => ({
      phase: p.name,
      seconds: n(p.seconds),
      "DO requests": n(p.doRequests),
      "…alarms": n(p.alarms),
      "…object→object": n(p.objectToObject),
      "…worker→object": n(p.fromWorker),
      "rows read": n(p.rowsRead),
      "rows written": n(p.rowsWritten),
      "active s": n(p.activeSeconds, 1),
      "worker requests": n(p.workerRequests),
      "scrape calls (apart)": n(p.scrapeCalls),
    })),
  );
}

function perMinuteByKind(p: PhaseUsage): string {
  const parts = [...p.byKind].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${n((v * 60) / p.seconds, 1)}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

function costTable(phases: PhaseUsage[], baselineOf: (p: PhaseUsage) => PhaseUsage | undefined): void {
  console.table(
    phases.map((p) => {
      const day = daily(p);
      const free = freePlan(day);
      const paid = paidPlan(day);
      const base = baselineOf(p);
      const baseDay = base ? daily(base) : undefined;
      return {
        phase: p.name,
        "DO requests/day": compact(day.doRequests),
        "GB-s/day": compact(day.gbSeconds),
        "rows read/day": compact(day.rowsRead),
        "rows written/day": compact(day.rowsWritten),
        "worker requests/day": compact(day.workerRequests),
        "Free plan": free.fits ? "fits" : `${ITEM_LABEL[free.firstLimit!.item]} run out after ${hoursText(free.firstLimit!.afterHours)}`,
        "Paid $/month": usd(paid.totalUsd),
        "DO requests vs always-on": base && baseDay ? ratio(day.doRequests, baseDay.doRequests) : "",
        "$ vs always-on": base && baseDay ? ratio(paid.totalUsd, paidPlan(baseDay).totalUsd) : "",
      };
    }),
  );
}

function hoursText(h: number): string {
  return h < 1 ? `${n(h * 60, 1)} min` : `${n(h, 1)} h`;
}

function paidBreakdown(p: PhaseUsage): void {
  const bill = paidPlan(daily(p));
  console.log(`\n  Paid plan, "${p.name}" sustained for a month:`);
  console.table(
    bill.lines.map((l) => ({
      item: ITEM_LABEL[l.item],
      "per month": compact(l.perMonth),
      included: compact(l.includedPerMonth),
      billable: compact(l.billable),
      "USD/month": usd(l.usd),
    })),
  );
  console.log(`  subscription ${usd(CLOUDFLARE_PRICES.paidBaseUsdPerMonth)} + usage ${usd(bill.usageUsd)} = ${usd(bill.totalUsd)} a month`);
}

function priceTable(): void {
  const t = CLOUDFLARE_PRICES;
  console.log(`\nPrice table used (read ${t.readOn}):`);
  for (const s of t.sources) console.log(`  ${s}`);
  console.table(
    USAGE_ITEMS.map((item) => ({
      item: ITEM_LABEL[item],
      "Workers Free (per day; past it, operations fail)": n(t.freePerDay[item]),
      "Workers Paid: included per month": n(t.paid[item].includedPerMonth),
      "then USD per million": t.paid[item].usdPerMillion,
    })),
  );
  console.log(`  Paid plan: ${usd(t.paidBaseUsdPerMonth)}/month minimum; a month is ${t.daysPerMonth} days; duration bills ${t.gbPerObject * 1000} MB per active object (128 MB / 1 GB, as the pricing page's examples compute it).`);
}

// ---- run ----

console.log(`npm run cost — seed ${SEED}; idle ${IDLE_SECONDS / 60} min after ${SETTLE_SECONDS} s settle; traffic ${RATE} req/s for ${TRAFFIC_SECONDS} s\n`);

const phases: PhaseUsage[] = [];
const answers: Array<[string, Array<[string, number]>]> = [];
console.log(`worker with RAFT_QUIESCE=true (quiet when idle):`);
await withWorker({ RAFT_QUIESCE: "true" }, async (client) => {
  phases.push(await idlePhase(client, "idle (quiescent)"));
  const t = await trafficPhase(client, `${RATE} req/s mixed (quiescent)`);
  phases.push(t.usage);
  answers.push([t.usage.name, t.answers]);
});
const baselines: PhaseUsage[] = [];
if (!args["no-baseline"]) {
  console.log(`worker with RAFT_QUIESCE=false (today's always-on heartbeats):`);
  await withWorker({ RAFT_QUIESCE: "false" }, async (client) => {
    baselines.push(await idlePhase(client, "idle (always-on heartbeats)"));
    if (args["baseline-traffic"]) {
      const t = await trafficPhase(client, `${RATE} req/s mixed (always-on heartbeats)`);
      baselines.push(t.usage);
      answers.push([t.usage.name, t.answers]);
    }
  });
}

const all = [...phases, ...baselines];
console.log("\nCounted (dc_usage_* deltas; the scrapes' own object calls are shown apart and left out of every figure):");
phaseTable(all);
console.log("\nDurable Object requests per minute, by called kind (calls + alarms):");
for (const p of all) console.log(`  ${p.name}: ${perMinuteByKind(p)}`);
console.log("SQLite rows written per minute, by kind (index rows and each setAlarm() included):");
for (const p of all) console.log(`  ${p.name}: ${[...p.rowsWrittenByKind].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${n((v * 60) / p.seconds, 1)}`).join(", ") || "none"}`);
for (const p of all) if (p.workerRequests > 0) console.log(`  ${p.name}: ${n(p.doRequests / p.workerRequests, 2)} Durable Object requests and ${n(p.rowsWritten / p.workerRequests, 1)} rows written per Worker request`);
if (scrapeCosts.length > 0) {
  const last = scrapeCosts[scrapeCosts.length - 1]!;
  console.log(`One GET /metrics itself: ${n(last.calls)} object calls (caller="metrics"), ${n(last.rowsRead)} rows read, ${n(last.rowsWritten)} written, ${n(last.activeSeconds, 3)} active s (taken off each phase above); scraped every 15 s that is ${compact(perDay(last.calls, 15))} Durable Object requests/day.`);
}
const idle = phases[0]!;
const alarmsPerMin = (idle.alarms * 60) / idle.seconds;
const o2oPerMin = (idle.objectToObject * 60) / idle.seconds;
console.log(`\nissue 15 idle figure: alarm invocations/min ${n(alarmsPerMin, 2)} (target 0) ${alarmsPerMin === 0 ? "PASS" : "MISS"}; object-to-object calls/min ${n(o2oPerMin, 2)} (target 0) ${o2oPerMin === 0 ? "PASS" : "MISS"}`);
if (idle.alarmsByKind.size > 0) console.log(`  idle alarms by kind: ${[...idle.alarmsByKind].map(([k, v]) => `${k} ${v}`).join(", ")}`);

console.log("\nPer day and per month at these rates (the always-on idle phase is the baseline for the ratios):");
const baseIdle = baselines[0];
costTable(all, (p) => (p === idle || p === baseIdle ? baseIdle : baselines.find((b) => b.name.startsWith(`${RATE} req/s`))));
for (const p of all) paidBreakdown(p);

console.log(`
Duration model: an object is billed while it has at least one event in flight: a call to it (from the
worker or another object, measured from call to settle at the caller), an alarm run, or a call of its
own in flight; overlapping events count once (dc_usage_active_seconds_total). GB-s = active seconds x
0.128 GB. Idle time an object cannot hibernate through (a pending timer, an open socket) is not seen:
a floor for such objects. An object that never hibernated would cost 86,400 s x 0.128 = ${n(gbSecondsOf(86_400))} GB-s/day
(five always-awake Raft members: ${n(5 * gbSecondsOf(86_400))} GB-s/day, ${usd(paidPlan({ doRequests: 0, gbSeconds: 5 * gbSecondsOf(86_400), rowsRead: 0, rowsWritten: 0, workerRequests: 0 }).usageUsd)}/month on Paid).
Worker CPU time is not measured here and not priced. Rows of the KV-style storage API are estimated
one per key; SQL rows are the cursors' own rowsRead/rowsWritten.`);
priceTable();
for (const [name, list] of answers) {
  console.log(`\nanswers during "${name}":`);
  for (const [label, count] of list.slice(0, 8)) console.log(`  ${n(count)}  ${label}`);
}
