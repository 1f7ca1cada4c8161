import { createRoute, z } from "@hono/zod-openapi";
import { raftStub, type NodeStatus } from "../../durable-objects/raft-node";
import { getConfig, type Config } from "../config";
import { createRouter } from "../http/app-env";
import { requireToken } from "../http/auth";
import { errorResponses } from "../http/schemas";
import { admissionReport, setShedListener } from "../services/admission";
import { guardStatus, raftGuardName, setBreakerOpenListener, shardGuardName } from "../services/do-guard";
import {
  admissionInflight, admissionLimit, admissionQueue, admissionShed, breakerOpenings, breakerState, metrics, raftCommitIndex, raftElectionsStarted, raftIsLeader, raftLeaderChanges, raftTerm, raftUp, txnCoordinatorsUnreachable, txnInDoubt,
} from "../services/metrics";
import { withTimeout } from "../services/replica-call";
import { recentTxns } from "../services/txn";
import { callerEnv } from "../services/usage";

/** GET /metrics: Prometheus text format, this isolate's counters plus the cluster read at scrape time. */
export const metricsRoutes = createRouter();
metricsRoutes.use("/metrics", requireToken("API_TOKEN"));

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A member's status call during a scrape: short, so one stuck member cannot hold the scrape. */
const RAFT_STATUS_TIMEOUT_MS = 1000;
/** How many of the newest transactions are checked for being in doubt (the most GET /txn lists). */
const IN_DOUBT_WINDOW = 100;

const BREAKER_CODE = { closed: 0, "half-open": 1, open: 2 } as const;

// Events counted as they happen, through the hooks of the breakers and the admission gates.
setBreakerOpenListener((object) => breakerOpenings.inc({ object }));
setShedListener((object, reason) => admissionShed.inc({ object, reason }));

// This isolate's admission gates (every object it has called), as they stand at the scrape.
metrics.collect(() => {
  for (const g of [admissionLimit, admissionInflight, admissionQueue]) g.clear();
  for (const a of admissionReport()) {
    admissionLimit.set({ object: a.name }, a.limit);
    admissionInflight.set({ object: a.name }, a.inflight);
    admissionQueue.set({ object: a.name }, a.queued);
  }
});

/**
 * This isolate's breaker for every object it guards (each cache shard, each Raft member: the names
 * do-guard uses), as it stands now: a stable set of series, 0 for an object never called.
 */
function readBreakers(config: Config, raftNodes: readonly string[]): void {
  breakerState.clear();
  const now = Date.now();
  const names = [...config.cache.shards.map((s) => shardGuardName(s.id)), ...raftNodes.map((n) => raftGuardName(config.raft.group, n))];
  for (const name of names) breakerState.set({ object: name }, BREAKER_CODE[guardStatus(name, now).status]);
}

/** Counts a member may report (fields added to the status over time; absent on older members). */
type MemberCounts = { electionsStarted?: number; leaderChanges?: number };

/**
 * Every member's own status, like GET /raft/status (configured members, then those added at run
 * time), with plain timeouts: a scrape must not count against any breaker.
 */
async function scrapeRaft(config: Config, env: Cloudflare.Env): Promise<string[]> {
  const { group, members } = config.raft;
  const ask = (node: string) =>
    withTimeout(raftStub(env, group, node).status({ group, node }), RAFT_STATUS_TIMEOUT_MS).then(
      (status): [string, NodeStatus | null] => [node, status],
      (): [string, NodeStatus | null] => [node, null],
    );
  const first = await Promise.all(members.map(ask));
  const extra = new Set<string>();
  for (const [, s] of first) for (const n of [...(s?.membership.voters ?? []), ...(s?.membership.learners ?? [])]) extra.add(n);
  for (const n of members) extra.delete(n);
  const all = [...first, ...(await Promise.all([...extra].map(ask)))];
  // Cleared and refilled in one synchronous step, so a member gone since the last scrape leaves no stale series.
  for (const g of [raftUp, raftTerm, raftIsLeader, raftCommitIndex, raftLeaderChanges, raftElectionsStarted]) g.clear();
  for (const [node, status] of all) {
    raftUp.set({ node }, status ? 1 : 0);
    if (!status) continue;
    raftTerm.set({ node }, status.term);
    raftIsLeader.set({ node }, status.role === "leader" ? 1 : 0);
    raftCommitIndex.set({ node }, status.commit);
    const counts = status as NodeStatus & MemberCounts;
    if (typeof counts.leaderChanges === "number") raftLeaderChanges.set({ node }, counts.leaderChanges);
    if (typeof counts.electionsStarted === "number") raftElectionsStarted.set({ node }, counts.electionsStarted);
  }
  return all.map(([node]) => node);
}

/** In-doubt transactions among the newest, through the same listing as GET /txn. */
async function scrapeTxns(config: Config, env: Cloudflare.Env): Promise<void> {
  const recent = await recentTxns(env, config, IN_DOUBT_WINDOW, Date.now());
  txnInDoubt.clear();
  txnCoordinatorsUnreachable.clear();
  // TXN_COORDINATORS=0: every transaction has an object of its own and there is no list to count.
  if (recent === null) return;
  txnInDoubt.set({}, recent.transactions.filter((t) => t.inDoubt).length);
  txnCoordinatorsUnreachable.set({}, recent.unreachable.length);
}

metricsRoutes.openapi(
  createRoute({
    method: "get", path: "/metrics", tags: ["ops"],
    summary: "Prometheus metrics (text format 0.0.4): this isolate's HTTP, breaker, admission, 2PC and billed-usage (dc_usage_*) counters; Raft and in-doubt transactions read from the cluster at scrape time",
    responses: {
      200: { description: "Prometheus text exposition format 0.0.4", content: { [PROMETHEUS_CONTENT_TYPE]: { schema: z.string() } } },
      ...errorResponses(401),
    },
  }),
  async (c) => {
    const config = getConfig(c.env);
    // The scrape's own object calls are billed too: labelled caller="metrics", apart from the traffic's.
    const scrapeEnv = callerEnv(c.env, "metrics");
    const [raftNodes] = await Promise.all([scrapeRaft(config, scrapeEnv), scrapeTxns(config, scrapeEnv)]);
    readBreakers(config, raftNodes);
    return c.text(await metrics.render(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-store" });
  },
);
