// bench:raft-load — does Raft keep its leader while the worker is busy with traffic that never touches
// Raft? Under Miniflare: first a quiet baseline (no load), then 64 connections on GET /cache/k1 for 60 s;
// in both, /raft/status is sampled every ~250 ms and a lease read of /kv is probed beside it.
// Target (issue 14): at most one leader change under load.
import { load, type LoadResult } from "./lib/load";
import { startWorker } from "./lib/worker";

const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const QUIET_SECONDS = Number(process.env.BENCH_QUIET_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const SAMPLE_MS = 250;
/** A status sample that takes longer than this counts as unanswered (the worker's queue is that long). */
const SAMPLE_TIMEOUT_MS = 5000;
const API = { authorization: "Bearer bench-api" };

interface MemberStatus {
  node: string;
  reachable: boolean;
  status?: { role: string; term: number; leader: string | null; electionsStarted?: number; leaderChanges?: number; ticks?: number };
}
interface StatusBody {
  leader: string | null;
  members: MemberStatus[];
}

interface Phase {
  name: string;
  samples: number;
  unanswered: number;
  noLeader: number;
  termBefore: number;
  termAfter: number;
  /** Distinct (leader, term) pairs seen, in order. */
  leaders: string[];
  electionsBefore: number | null;
  electionsAfter: number | null;
  /** Members' ticks summed, and when (ms), at the start and the end: the rate of their clocks. */
  ticks: { before: number | null; after: number | null; from: number; to: number };
  lease: Map<string, number>;
  /** How long each status sample took: how far behind the isolate's queue was. */
  sampleMs: number[];
  load?: LoadResult;
}

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const { url } = worker;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function status(): Promise<StatusBody | null> {
  try {
    const res = await fetch(`${url}/raft/status`, { headers: API, signal: AbortSignal.timeout(SAMPLE_TIMEOUT_MS) });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return null;
    }
    return (await res.json()) as StatusBody;
  } catch {
    return null;
  }
}

/** The highest term any reachable member reports. */
const termOf = (s: StatusBody): number => Math.max(0, ...s.members.map((m) => m.status?.term ?? 0));
/** A status field summed over members (null when a member lacks it: before the counters existed). */
function sumOf(s: StatusBody, field: "electionsStarted" | "ticks"): number | null {
  let sum = 0;
  for (const m of s.members) {
    const n = m.status?.[field];
    if (n === undefined) return null;
    sum += n;
  }
  return sum;
}
const electionsOf = (s: StatusBody) => sumOf(s, "electionsStarted");

async function leaseProbe(): Promise<string> {
  try {
    const res = await fetch(`${url}/kv/probe?consistency=lease`, { headers: API, signal: AbortSignal.timeout(SAMPLE_TIMEOUT_MS) });
    await res.arrayBuffer();
    return String(res.status);
  } catch {
    return "timeout";
  }
}

async function waitForLeader(): Promise<StatusBody> {
  for (;;) {
    const s = await status();
    if (s?.leader) return s;
    await sleep(50);
  }
}

/** Samples status (and a lease read) every SAMPLE_MS until `stop` resolves. */
async function observe(name: string, during: Promise<LoadResult | undefined>): Promise<Phase> {
  const first = await waitForLeader();
  const phase: Phase = {
    name,
    samples: 0,
    unanswered: 0,
    noLeader: 0,
    termBefore: termOf(first),
    termAfter: termOf(first),
    leaders: [`${first.leader}@${termOf(first)}`],
    electionsBefore: electionsOf(first),
    electionsAfter: null,
    ticks: { before: sumOf(first, "ticks"), after: null, from: performance.now(), to: 0 },
    lease: new Map(),
    sampleMs: [],
  };
  let done = false;
  const finished = during.then((r) => {
    done = true;
    if (r) phase.load = r;
  });
  while (!done) {
    const started = performance.now();
    const [s, lease] = await Promise.all([status(), leaseProbe()]);
    phase.sampleMs.push(performance.now() - started);
    phase.samples++;
    phase.lease.set(lease, (phase.lease.get(lease) ?? 0) + 1);
    if (s === null) phase.unanswered++;
    else {
      phase.termAfter = Math.max(phase.termAfter, termOf(s));
      if (!s.leader) phase.noLeader++;
      else {
        const leaderTerm = s.members.find((m) => m.node === s.leader)?.status?.term ?? 0;
        const key = `${s.leader}@${leaderTerm}`;
        if (phase.leaders.at(-1) !== key) phase.leaders.push(key);
      }
    }
    await sleep(Math.max(0, SAMPLE_MS - (performance.now() - started)));
  }
  await finished;
  const last = await waitForLeader();
  phase.termAfter = Math.max(phase.termAfter, termOf(last));
  phase.electionsAfter = electionsOf(last);
  phase.ticks.after = sumOf(last, "ticks");
  phase.ticks.to = performance.now();
  return phase;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function row(p: Phase): Record<string, string | number> {
  const elections = p.electionsBefore !== null && p.electionsAfter !== null ? p.electionsAfter - p.electionsBefore : "n/a";
  return {
    phase: p.name,
    samples: p.samples,
    "term before": p.termBefore,
    "term after": p.termAfter,
    "leader changes": p.leaders.length - 1,
    "no leader": `${((100 * p.noLeader) / Math.max(1, p.samples)).toFixed(1)}%`,
    unanswered: p.unanswered,
    "status p50 ms": Math.round(median(p.sampleMs)),
    // A member ticks every 50 ms when its isolate is idle (20/s); fewer when its event loop is busy.
    "ticks/s per member": p.ticks.before !== null && p.ticks.after !== null ? ((p.ticks.after - p.ticks.before) / ((p.ticks.to - p.ticks.from) / 1000) / 5).toFixed(1) : "n/a",
    "elections started": elections,
    "lease reads": [...p.lease].map(([k, v]) => `${k}:${v}`).join(" "),
  };
}

try {
  await waitForLeader();
  for (const [path, body] of [["/cache/k1", "v1"], ["/kv/probe", "p"]] as const) {
    const res = await fetch(`${url}${path}`, { method: "PUT", body, headers: API });
    if (res.status !== 200) throw new Error(`preload ${path}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  console.log(`\nbench:raft-load (Miniflare, loopback, 5 members): /raft/status and a lease read of /kv sampled every ${SAMPLE_MS} ms`);
  const quiet = await observe(`quiet, ${QUIET_SECONDS} s (baseline)`, sleep(QUIET_SECONDS * 1000).then(() => undefined));
  const busy = await observe(
    `${CONNECTIONS} connections on GET /cache/k1, ${LOAD_SECONDS} s`,
    load({ url, seconds: LOAD_SECONDS, connections: CONNECTIONS, name: "GET /cache/k1", headers: API, next: () => ({ path: "/cache/k1" }) }),
  );
  console.table([quiet, busy].map(row));
  if (busy.load) console.log(`load: ${Math.round(busy.load.rps)} req/s, p50 ${busy.load.p50} ms, p99 ${busy.load.p99} ms, errors ${busy.load.errors}, non-2xx ${busy.load.non2xx}`);
  console.log(`leaders seen under load: ${busy.leaders.join(" -> ")}`);
  const changes = busy.leaders.length - 1;
  console.log(`target: at most one leader change under load -> ${changes} ${changes <= 1 ? "PASS" : "MISS"}`);
} finally {
  await worker.stop();
}
