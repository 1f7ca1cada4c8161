import type { ShardStats } from "../../durable-objects/cache-shard";
import { coordinatorStub as workStub } from "../../durable-objects/job-coordinator";
import { raftStub, type NodeStatus } from "../../durable-objects/raft-node";
import type { TxnSummary } from "../../durable-objects/txn-coordinator";
import { poolStub, type PoolStatus } from "../../durable-objects/upstream-pool";
import { registryStub, type WorkEntry } from "../../durable-objects/work-registry";
import { getConfig, type Config } from "../config";
import type { PeerProgress } from "../core/raft/ready";
import type { ProgressView } from "../core/scheduler";
import { LastKnown, leaderOf, pickStalest, type Reading } from "../core/status/last-known";
import { ringFor, shardCall } from "./cache";
import { withTimeout } from "./replica-call";
import { coordinatorStub as txnStub } from "./txn";

/**
 * The dashboard's data within the platform's limits: each refresh reads at most ONE object per
 * capability (a Raft member, a cache shard, a transaction coordinator, a pool or the registry, a job or
 * batch coordinator or the registry), so a page view is at most 5 subrequests (Workers Free allows 50),
 * whatever the cluster's size. What is not read this time is shown as last read in this isolate, with
 * its age. Raft: the leader is read (its status carries every follower's match index and last contact),
 * and every FOLLOWER_EVERY-th refresh the member read longest ago, so followers' own terms and indexes
 * (and a leader elected elsewhere) are seen too. The rest rotate: the item read longest ago goes next.
 * A capability read less than MIN_REREAD_MS ago is not read again, so viewers sharing an isolate share reads.
 */

const MIN_REREAD_MS = 500;
/** One refresh in this many reads the Raft member read longest ago instead of the leader. */
const FOLLOWER_EVERY = 4;
const RAFT_TIMEOUT_MS = 1_000;
const CALL_TIMEOUT_MS = 2_000;
export const DASHBOARD_LIMITS = { transactions: 20, pools: 20, jobs: 10, batches: 10 } as const;
const INDEX = "registry";

export interface WorkSummary extends Omit<ProgressView, "tasks" | "executors"> {}
interface Index {
  pools: string[];
  jobs: WorkEntry[];
  batches: WorkEntry[];
}

// This isolate's last readings (module state: it lives as long as the isolate, and is bounded by what
// is listed: members, shards, coordinators, at most DASHBOARD_LIMITS pools, jobs and batches).
const raft = new LastKnown<NodeStatus>();
const shards = new LastKnown<ShardStats>();
const coordinators = new LastKnown<TxnSummary[]>();
const index = new LastKnown<Index>();
const pools = new LastKnown<PoolStatus | null>();
const work = new LastKnown<WorkSummary | null>();
/** Raft reads made by this isolate (every FOLLOWER_EVERY-th reads a follower). */
let raftReads = 0;
/** When each capability was last read in this isolate. */
const lastReadAt = new Map<string, number>();

/** Whether `capability` may be read now; if so, it is marked as read. */
function due(capability: string, now: number): boolean {
  if (now - (lastReadAt.get(capability) ?? -Infinity) < MIN_REREAD_MS) return false;
  lastReadAt.set(capability, now);
  return true;
}

/** The age fields every item carries: when its value was read, when it was last tried, the last try's error. */
export interface Age {
  valueAt: number | null;
  readAt: number | null;
  error: string | null;
}
const age = <T>(r: Reading<T> | undefined): Age => ({ valueAt: r?.valueAt ?? null, readAt: r?.readAt ?? null, error: r?.error ?? null });

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Reads `key` with `read` into `table`, recording a failure as such (never throws). */
async function readInto<T>(table: LastKnown<T>, key: string, read: () => Promise<T>): Promise<void> {
  try {
    const value = await read();
    table.record(key, value, Date.now());
  } catch (err) {
    table.fail(key, message(err), Date.now());
  }
}

export interface DashboardData {
  at: number;
  /** What this refresh read (capability -> object); a capability absent read nothing (all fresh enough). */
  read: Record<string, string>;
  raft: ReturnType<typeof raftView>;
  cacheStats: ReturnType<typeof cacheView>;
  ring: ReturnType<typeof ringView>;
  transactions: ReturnType<typeof txnView>;
  pools: ReturnType<typeof poolsView>;
  jobs: ReturnType<typeof workView>;
  tasks: ReturnType<typeof workView>;
}

/** One refresh: at most one object read per capability, then every section as last known. */
export async function dashboardRound(env: Cloudflare.Env): Promise<DashboardData> {
  const config = getConfig(env);
  const now = Date.now();
  const reads: Promise<void>[] = [];
  const read: Record<string, string> = {};

  const group = config.raft.group;
  const raftTarget = due("raft", now) ? pickRaftMember(config, raftReads++, now) : null;
  if (raftTarget !== null) {
    read.raft = raftTarget;
    reads.push(readInto(raft, raftTarget, () => withTimeout(raftStub(env, group, raftTarget).status({ group, node: raftTarget }), RAFT_TIMEOUT_MS)));
  }

  const shardIds = config.cache.shards.map((s) => s.id);
  shards.retain(shardIds);
  const shard = due("cache", now) ? shards.stalest(shardIds, now, 0) : null;
  if (shard !== null) {
    read.cache = shard;
    reads.push(readInto(shards, shard, () => shardCall(env, shard, config.cache.replicaTimeoutMs, (stub) => stub.stats())));
  }

  const txnNames = Array.from({ length: config.txn.coordinators }, (_, i) => `txn-coordinator-${i}`);
  coordinators.retain(txnNames);
  const coordinator = due("txn", now) ? coordinators.stalest(txnNames, now, 0) : null;
  if (coordinator !== null) {
    read.txn = coordinator;
    reads.push(readInto(coordinators, coordinator, () => withTimeout(txnStub(env, coordinator).recent(DASHBOARD_LIMITS.transactions) as Promise<TxnSummary[]>, CALL_TIMEOUT_MS)));
  }

  // The registry lists pools, jobs and batches in one call: it takes a turn in both rotations, and is
  // read at most once per refresh.
  const listed = index.get(INDEX)?.value ?? { pools: [], jobs: [], batches: [] };
  const poolNames = listed.pools.slice(0, DASHBOARD_LIMITS.pools);
  pools.retain(poolNames);
  const lbPick = !due("lb", now) ? null : pickStalest([{ key: INDEX, readAt: index.readAt(INDEX) }, ...poolNames.map((p) => ({ key: `pool:${p}`, readAt: pools.readAt(p) }))], now, 0);
  const entries = [...listed.jobs, ...listed.batches];
  work.retain(entries.map((e) => e.id));
  // A finished batch or job does not change: read once, it leaves the rotation.
  const unsettled = entries.filter((e) => { const r = work.get(e.id); return r === undefined || r.error !== null || (r.value !== null && !r.value.finished); });
  const workPick = !due("work", now) ? null : pickStalest([...(lbPick === INDEX ? [] : [{ key: INDEX, readAt: index.readAt(INDEX) }]), ...unsettled.map((e) => ({ key: `work:${e.id}`, readAt: work.readAt(e.id) }))], now, 0);
  for (const [capability, pick] of [["lb", lbPick], ["work", workPick]] as const) {
    if (pick === null) continue;
    read[capability] = pick;
    if (pick === INDEX) reads.push(readInto(index, INDEX, () => withTimeout(registryStub(env).overview(DASHBOARD_LIMITS.jobs, DASHBOARD_LIMITS.batches), CALL_TIMEOUT_MS)));
    else if (pick.startsWith("pool:")) {
      const name = pick.slice(5);
      reads.push(readInto(pools, name, () => withTimeout(poolStub(env, name).status(), CALL_TIMEOUT_MS)));
    } else {
      const id = pick.slice(5);
      reads.push(readInto(work, id, () => withTimeout(workStub(env, id).summary(), CALL_TIMEOUT_MS)));
    }
  }

  await Promise.all(reads);
  const listedNow = index.get(INDEX);
  return {
    at: Date.now(),
    read,
    raft: raftView(config),
    cacheStats: cacheView(shardIds),
    ring: ringView(config),
    transactions: txnView(config, txnNames),
    pools: poolsView(listedNow),
    jobs: workView(listedNow, "jobs"),
    tasks: workView(listedNow, "batches"),
  };
}

function raftMembers(config: Config): string[] {
  const all = new Set(config.raft.members);
  // Members added at run time (learners, new voters) are known to the group, not to the config.
  for (const node of all) {
    const m = raft.get(node)?.value?.membership;
    for (const n of [...(m?.voters ?? []), ...(m?.learners ?? [])]) all.add(n);
  }
  return [...all];
}

function raftLeader(members: string[]): { leader: string | null; term: number } {
  const reports = members.flatMap((node) => {
    const r = raft.get(node);
    return r?.value && r.valueAt !== null ? [{ node, term: r.value.term, role: r.value.role, leader: r.value.leader, at: r.valueAt }] : [];
  });
  return leaderOf(reports);
}

/** The leader while it answers as one, else (and every FOLLOWER_EVERY-th refresh) the member read longest ago. */
function pickRaftMember(config: Config, n: number, now: number): string | null {
  const members = raftMembers(config);
  raft.retain(members);
  const { leader } = raftLeader(members);
  const last = leader === null ? undefined : raft.get(leader);
  // leaderOf names no node whose own later report denies leading; a failed read moves the reads on.
  const leaderAnswers = leader !== null && members.includes(leader) && (last?.error ?? null) === null;
  if (leaderAnswers && n % FOLLOWER_EVERY !== FOLLOWER_EVERY - 1) return leader;
  return raft.stalest(members.filter((m) => m !== leader), now, 0);
}

function raftView(config: Config) {
  const members = raftMembers(config);
  const { leader, term } = raftLeader(members);
  const own = leader === null ? undefined : raft.get(leader);
  // The leader's view of its followers (match index, last contact), as of the leader's last read.
  const leaderStatus = own?.value?.role === "leader" ? own.value : null;
  const progress = new Map<string, PeerProgress>((leaderStatus?.progress ?? []).map((p) => [p.id, p]));
  return {
    group: config.raft.group,
    leader,
    term,
    leaderViewAt: leaderStatus === null ? null : (own?.valueAt ?? null),
    members: members.map((node) => {
      const r = raft.get(node);
      return { node, status: r?.value ?? null, ...age(r), leaderView: progress.get(node) ?? null };
    }),
  };
}

function cacheView(ids: string[]) {
  const totals: Record<string, number> = { keys: 0, bytes: 0, hits: 0, misses: 0, evictions: 0, expirations: 0, writes: 0, shardsKnown: 0 };
  const list = ids.map((shard) => {
    const r = shards.get(shard);
    if (r?.value) {
      totals.shardsKnown! += 1;
      for (const k of ["keys", "bytes", "hits", "misses", "evictions", "expirations", "writes"] as const) totals[k]! += r.value[k];
    }
    return { shard, stats: r?.value ?? null, ...age(r) };
  });
  return { shards: list, totals };
}

function ringView(config: Config) {
  const ring = ringFor(config.cache);
  const own = ring.ownership();
  return { shards: ring.shards.map((s) => ({ id: s.id, weight: s.weight, ownership: own.get(s.id) ?? 0 })) };
}

function txnView(config: Config, names: string[]) {
  if (names.length === 0) return { transactions: [], coordinators: [], note: "TXN_COORDINATORS=0: every transaction has an object of its own; there is no list to show" };
  const transactions = names
    .flatMap((name) => {
      const r = coordinators.get(name);
      const at = r?.valueAt ?? 0;
      // In doubt AS READ: not ended when read, past its vote deadline by then (it may have ended since).
      return (r?.value ?? []).map((t) => ({ ...t, coordinator: name, valueAt: at, inDoubt: t.endedAt === null && at - t.startedAt > config.txn.voteTimeoutMs }));
    })
    .sort((a, b) => b.startedAt - a.startedAt)
    .slice(0, DASHBOARD_LIMITS.transactions);
  return { transactions, coordinators: names.map((name) => ({ name, ...age(coordinators.get(name)) })) };
}

function poolsView(listed: Reading<Index> | undefined) {
  const names = listed?.value?.pools ?? [];
  return {
    ...age(listed),
    truncated: names.length > DASHBOARD_LIMITS.pools,
    pools: names.slice(0, DASHBOARD_LIMITS.pools).map((pool) => {
      const r = pools.get(pool);
      return { pool, status: r?.value ?? null, deleted: r?.value === null && r.error === null, ...age(r) };
    }),
  };
}

function workView(listed: Reading<Index> | undefined, list: "jobs" | "batches") {
  return {
    ...age(listed),
    items: (listed?.value?.[list] ?? []).map((entry) => {
      const r = work.get(entry.id);
      return { entry, summary: r?.value ?? null, gone: r?.value === null && r.error === null, ...age(r) };
    }),
  };
}
