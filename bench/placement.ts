// sim:placement — what placement across regions costs a Raft group, in the deterministic simulation of
// the real core (test/sim/raft-sim.ts) with a latency matrix between location hints (test/sim/regions.ts:
// Azure's published inter-region round trips standing in for Cloudflare's, which are not published).
// Per placement, with the timing src/config.ts derives for it (RAFT_LOCATIONS -> preset -> etcd's rule),
// over many seeds of a calm network (no loss, no faults) under 4 closed-loop clients:
//   - commit latency at the leader: from the leader sending a new entry to the moment the acks of a
//     quorum have reached it (what a client next to the leader waits, less its own hop);
//   - failover: the leader is cut off (every message to and from it lost, which is what its peers see
//     of a crash) once the group has run for a while; the time until another member leads (its first
//     Append), and until that leader has committed its first entry (the group takes writes again).
//   - leader changes per minute with no crash at all, on a lossy network (the simulation's random
//     weather: loss, duplication, and some messages held back 50-400 ms): what a timing too tight for
//     the distance costs.
// Every run also keeps the simulation's own checks: Figure 3 after every step, convergence after the
// links heal, linearizability of every client history.
//
//   npm run sim:placement [-- --seeds 200]
import { parseArgs } from "node:util";
import { parseConfig } from "../src/config";
import type { LocationHint } from "../src/core/placement/locations";
import type { Message, NodeId } from "../src/core/raft/types";
import { type SimOptions, simulate } from "../test/sim/raft-sim";
import { maxRttMs, regionLatency, SAME_REGION_RTT_MS, STAND_IN } from "../test/sim/regions";

interface Placement {
  name: string;
  hints: LocationHint[];
  /** Extra [vars] (e.g. to show what the local timing does at a distance). */
  vars?: Record<string, string>;
}

const GLOBAL5: LocationHint[] = ["wnam", "enam", "weur", "eeur", "apac"];
const PLACEMENTS: Placement[] = [
  { name: "one region", hints: ["enam", "enam", "enam", "enam", "enam"] },
  { name: "3 US/EU regions", hints: ["wnam", "enam", "weur"] },
  { name: "5 US/EU regions", hints: ["wnam", "enam", "weur", "eeur", "enam"] },
  { name: "5 global", hints: GLOBAL5 },
  { name: "5 global, local timing", hints: GLOBAL5, vars: { RAFT_PLACEMENT: "local" } },
];

/** How long the group runs with its first leader before that leader is cut off (ms of simulated time). */
const STEADY_MS = 3_000;

interface Ack {
  from: NodeId;
  match: number;
  arrival: number;
}

/** Watches the messages of one run through the latency hook, and cuts the leader off at the chosen time. */
class Watch {
  readonly leaderOf = new Map<number, NodeId>();
  readonly termStart = new Map<number, number>();
  /** First send of each entry by its own term's leader: "term/index" -> ms. */
  readonly proposed = new Map<string, { term: number; index: number; at: number }>();
  /** Successful AppendResps, per term, with their arrival time at the leader. */
  readonly acks = new Map<number, Ack[]>();
  firstLeaderAt: number | null = null;
  crashAt: number | null = null;
  dead: NodeId | null = null;
  deadTerm = 0;
  private maxTerm = 0;
  private readonly link: (m: Message, at: number, rng: () => number) => number;

  constructor(
    hints: LocationHint[],
    private readonly healAt: number,
  ) {
    this.link = regionLatency(hints);
  }

  readonly latency = (m: Message, at: number, rng: () => number): number | null => {
    if (m.type === "Append" && !this.leaderOf.has(m.term)) {
      this.leaderOf.set(m.term, m.from);
      this.termStart.set(m.term, at);
      this.firstLeaderAt ??= at;
      this.maxTerm = Math.max(this.maxTerm, m.term);
    }
    if (this.crashAt === null && this.firstLeaderAt !== null && at >= this.firstLeaderAt + STEADY_MS) {
      this.crashAt = at;
      this.deadTerm = this.maxTerm;
      this.dead = this.leaderOf.get(this.maxTerm)!;
    }
    if (this.dead !== null && at < this.healAt && (m.from === this.dead || m.to === this.dead)) return null;
    const d = this.link(m, at, rng);
    if (m.type === "Append" && this.leaderOf.get(m.term) === m.from) {
      for (const e of m.entries) {
        const key = `${e.term}/${e.index}`;
        if (e.term === m.term && !this.proposed.has(key)) this.proposed.set(key, { term: e.term, index: e.index, at });
      }
    }
    if (m.type === "AppendResp" && m.success && this.leaderOf.get(m.term) === m.to) {
      const list = this.acks.get(m.term) ?? [];
      // + 2: the calm weather's own 1-3 ms on top of the link (known to +-1 ms)
      list.push({ from: m.from, match: m.matchIndex, arrival: at + d + 2 });
      this.acks.set(m.term, list);
    }
    return d;
  };

  /** When the leader of `term` knew entry `index` committed: the (quorum - 1)-th follower ack covering it. */
  commitAt(term: number, index: number, quorum: number): number | null {
    const byFollower = new Map<NodeId, number>();
    for (const a of this.acks.get(term) ?? []) {
      if (a.match < index) continue;
      const t = byFollower.get(a.from);
      if (t === undefined || a.arrival < t) byFollower.set(a.from, a.arrival);
    }
    const times = [...byFollower.values()].sort((x, y) => x - y);
    return times[quorum - 2] ?? null;
  }
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

interface Row {
  placement: Placement;
  rtt: number;
  timing: string;
  commits: number[];
  elected: number[];
  writable: number[];
  leaderChangesBeforeCrash: number;
  noFailover: number;
  /** Leader changes per simulated minute on a lossy network without crashes. */
  lossyChangesPerMin: number;
  seeds: number;
  failed: string[];
}

function runPlacement(p: Placement, seeds: number, from: number): Row {
  const n = p.hints.length;
  const quorum = Math.floor(n / 2) + 1;
  const raft = parseConfig({ RAFT_MEMBERS: String(n), RAFT_LOCATIONS: p.hints.join(","), ...p.vars }).raft;
  const chaosMs = 4 * raft.electionMaxMs + STEADY_MS + 4 * raft.electionMaxMs + 2_000;
  const row: Row = {
    placement: p,
    rtt: maxRttMs(p.hints),
    timing: `${raft.placement}: tick ${raft.tickMs}, election ${raft.electionMinMs}-${raft.electionMaxMs}`,
    commits: [],
    elected: [],
    writable: [],
    leaderChangesBeforeCrash: 0,
    noFailover: 0,
    lossyChangesPerMin: 0,
    seeds: 0,
    failed: [],
  };
  const options: SimOptions = {
    nodes: n,
    faults: false,
    transfers: false,
    // An active group (clients never pause, so it never quiesces): what a failover costs under traffic.
    quiesceTicks: 0,
    settleMs: Math.max(2_000, 3 * raft.electionMaxMs),
    raft: { tickMs: raft.tickMs, electionTicks: raft.electionTicks, maxElectionTicks: raft.maxElectionTicks, heartbeatTicks: raft.heartbeatTicks },
  };
  for (let seed = from; seed < from + seeds; seed++) {
    const watch = new Watch(p.hints, chaosMs);
    const r = simulate(seed, { ...options, network: "calm", chaosMs, latency: watch.latency });
    row.seeds++;
    if (!r.ok) row.failed.push(`seed ${seed}: ${r.violations[0]?.property}: ${r.violations[0]?.message.split("\n")[0]}`);
    const { crashAt, dead, deadTerm, firstLeaderAt } = watch;
    if (crashAt === null || dead === null || firstLeaderAt === null) {
      row.noFailover++;
      continue;
    }
    // Commit latency over the steady stretch, after the first second of it (clients warmed up).
    for (const e of watch.proposed.values()) {
      if (e.at < firstLeaderAt + 1_000 || e.at >= crashAt) continue;
      const c = watch.commitAt(e.term, e.index, quorum);
      if (c !== null && c <= crashAt) row.commits.push(c - e.at);
    }
    row.leaderChangesBeforeCrash += [...watch.termStart.entries()].filter(([t, at]) => at < crashAt && t !== deadTerm && at > firstLeaderAt).length;
    const next = [...watch.termStart.entries()].filter(([t, at]) => t > deadTerm && at >= crashAt && watch.leaderOf.get(t) !== dead).sort((a, b) => a[0] - b[0])[0];
    if (next === undefined) {
      row.noFailover++;
      continue;
    }
    const [term, at] = next;
    row.elected.push(at - crashAt);
    const first = [...watch.proposed.values()].filter((e) => e.term === term).sort((a, b) => a.index - b.index)[0];
    const c = first === undefined ? null : watch.commitAt(term, first.index, quorum);
    if (c !== null) row.writable.push(c - crashAt);
  }
  // No crash, a lossy network: every leader after the first is a spurious election.
  // 10 s of running after time for a first election (longer runs of a busy, duplicating network can
  // pass the simulation's step budget).
  const steadyMs = 10_000;
  let changes = 0;
  for (let seed = from; seed < from + seeds; seed++) {
    const r = simulate(seed, { ...options, network: "random", chaosMs: 2 * raft.electionMaxMs + steadyMs, latency: regionLatency(p.hints) });
    row.seeds++;
    if (!r.ok) row.failed.push(`lossy seed ${seed}: ${r.violations[0]?.property}: ${r.violations[0]?.message.split("\n")[0]}`);
    changes += Math.max(0, r.stats.leadersElected - 1);
  }
  row.lossyChangesPerMin = (changes / (seeds * steadyMs)) * 60_000;
  return row;
}

function main(): void {
  const { values } = parseArgs({ options: { seeds: { type: "string", default: "100" }, from: { type: "string", default: "1" } } });
  const seeds = Number(values.seeds);
  const from = Number(values.from);
  const ms = (x: number) => (Number.isNaN(x) ? "–" : `${Math.round(x)}`);
  console.log(`sim:placement — ${seeds} seeds per placement (from ${from}), calm network, 4 clients; round trips from Azure's published P50 table (test/sim/regions.ts), same hint = ${SAME_REGION_RTT_MS} ms`);
  console.log(`stand-ins: ${Object.entries(STAND_IN).map(([h, a]) => `${h}=${a}`).join(", ")}\n`);
  console.log("| placement | members | slowest RTT (ms) | timing (ms) | commit p50 / p99 (ms) | new leader after crash p50 / p99 (ms) | writable again p50 / p99 (ms) | extra elections before crash | leader changes/min, lossy, no crash | runs passing the checks (calm + lossy) |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  const failures: string[] = [];
  for (const p of PLACEMENTS) {
    const started = performance.now();
    const r = runPlacement(p, seeds, from);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `| ${p.name} | ${p.hints.join(", ")} | ${r.rtt} | ${r.timing} | ${ms(pct(r.commits, 50))} / ${ms(pct(r.commits, 99))} | ${ms(pct(r.elected, 50))} / ${ms(pct(r.elected, 99))} | ${ms(pct(r.writable, 50))} / ${ms(pct(r.writable, 99))} | ${r.leaderChangesBeforeCrash} | ${r.lossyChangesPerMin.toFixed(2)} | ${r.seeds - r.failed.length}/${r.seeds}${r.noFailover > 0 ? ` (${r.noFailover} without a failover)` : ""} |`,
    );
    failures.push(...r.failed.map((f) => `${p.name}: ${f} (${secs} s)`));
    if (process.env.PLACEMENT_VERBOSE) console.error(`${p.name}: ${r.commits.length} commits, ${r.elected.length} failovers in ${secs} s`);
  }
  if (failures.length > 0) {
    console.log(`\n${failures.length} runs failed a check:`);
    for (const f of failures.slice(0, 20)) console.log(`  ${f}`);
    process.exitCode = 1;
  }
}

main();
