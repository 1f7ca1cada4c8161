import { z } from "zod";
import type { AdmissionConfig } from "./core/admission/limiter";
import { DEFAULT_BREAKER_CONFIG, type BreakerConfig } from "./core/health/circuit-breaker";
import { JURISDICTIONS, type Jurisdiction, LOCATION_HINTS, type LocationHint, type PlacementConfig, parseLocationList } from "./core/placement/locations";
import { PLACEMENT_RTT_MS, placementForLocations, RAFT_PLACEMENTS, type RaftPlacement, raftTimingForRtt } from "./core/placement/raft-timing";
import { planRing } from "./core/ring/hash-ring";
import { HttpError } from "./http/errors";

/** Named limits of the cache API (documented in the README, enforced with a 4xx). */
export const LIMITS = {
  keyBytes: 512,
  valueBytes: 1024 * 1024,
  batchKeys: 100,
  batchBodyBytes: 8 * 1024 * 1024,
  batchResponseBytes: 8 * 1024 * 1024,
  /** Any JSON body without a larger limit of its own (src/routes/body-limits.ts). */
  jsonBodyBytes: 64 * 1024,
  maxTtlMs: 365 * 24 * 60 * 60 * 1000,
  /** A Raft KV value (it travels in log entries and Append messages). */
  raftValueBytes: 64 * 1024,
  raftListLimit: 1000,
  /** Operations (and, separately, conditions) in one transaction. */
  txnOps: 64,
  /** Bytes of all values in one transaction (its coordinator keeps them in its log until every replica has them). */
  txnValueBytes: 256 * 1024,
  /** A transaction's JSON body. */
  txnBodyBytes: 2 * 1024 * 1024,
  /** A task submission's JSON body (a batch of up to 1,000 tasks; one sha256 task alone may carry 1 MiB). */
  tasksBodyBytes: 8 * 1024 * 1024,
  /** A job's inline JSON body (a streamed raw input has its own limit: src/routes/jobs.ts). */
  jobsBodyBytes: 8 * 1024 * 1024,
} as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const ShardWeights = z
  .string()
  .default("{}")
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "must be a JSON object of shard id -> weight" });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string(), z.number().positive()));

/** Raft's ms settings in ticks of tickMs (a heartbeat is at least one tick). */
function raftTicks(tickMs: number, electionMinMs: number, electionMaxMs: number, heartbeatMs: number) {
  return {
    election: Math.round(electionMinMs / tickMs),
    maxElection: Math.round(electionMaxMs / tickMs),
    heartbeat: Math.max(1, Math.round(heartbeatMs / tickMs)),
  };
}

/** A comma list of location hints ("" = none); an unknown hint is an error naming it. */
const LocationList = z
  .string()
  .default("")
  .transform((s, ctx): LocationHint[] => {
    const { hints, unknown } = parseLocationList(s);
    if (unknown.length === 0) return hints;
    ctx.addIssue({ code: "custom", message: `unknown location hint ${unknown.map((u) => JSON.stringify(u)).join(", ")} (valid: ${LOCATION_HINTS.join(", ")})` });
    return z.NEVER;
  });

const JurisdictionVar = z
  .string()
  .optional()
  .transform((s, ctx): Jurisdiction | undefined => {
    const j = s?.trim() ?? "";
    if (j === "") return undefined;
    if ((JURISDICTIONS as readonly string[]).includes(j)) return j as Jurisdiction;
    ctx.addIssue({ code: "custom", message: `unknown jurisdiction ${JSON.stringify(j)} (valid: ${JURISDICTIONS.join(", ")})` });
    return z.NEVER;
  });

/**
 * Raft's effective timing: derived from RAFT_RTT_MS, else from the RAFT_PLACEMENT preset, else from the
 * preset RAFT_LOCATIONS implies (none: local, today's timing); each RAFT_*_MS variable that is set wins.
 */
function raftTiming(c: { RAFT_PLACEMENT?: RaftPlacement | undefined; RAFT_RTT_MS?: number | undefined; RAFT_LOCATIONS: LocationHint[]; RAFT_TICK_MS?: number | undefined; RAFT_HEARTBEAT_MS?: number | undefined; RAFT_ELECTION_MIN_MS?: number | undefined; RAFT_ELECTION_MAX_MS?: number | undefined; RAFT_REQUEST_DEADLINE_MS?: number | undefined }) {
  const placement = c.RAFT_PLACEMENT ?? placementForLocations(c.RAFT_LOCATIONS);
  const rttMs = c.RAFT_RTT_MS ?? PLACEMENT_RTT_MS[placement];
  const derived = raftTimingForRtt(rttMs);
  const electionMinMs = c.RAFT_ELECTION_MIN_MS ?? derived.electionMinMs;
  const electionMaxMs = c.RAFT_ELECTION_MAX_MS ?? (c.RAFT_ELECTION_MIN_MS === undefined ? derived.electionMaxMs : 2 * electionMinMs);
  return {
    placement,
    rttMs,
    tickMs: c.RAFT_TICK_MS ?? derived.tickMs,
    heartbeatMs: c.RAFT_HEARTBEAT_MS ?? derived.heartbeatMs,
    electionMinMs,
    // An explicit minimum alone keeps the maximum at twice it.
    electionMaxMs,
    // The request deadline spans one failover of the timing in effect (explicit election settings included).
    deadlineMs: c.RAFT_REQUEST_DEADLINE_MS ?? Math.max(derived.requestDeadlineMs, 2 * electionMaxMs),
  };
}

const ConfigSchema = z
  .object({
    CACHE_SHARDS: int(1, 1024).default(8),
    CACHE_VNODES: int(1, 4096).optional(),
    CACHE_SHARD_WEIGHTS: ShardWeights,
    CACHE_REPLICAS: int(1, 7).default(3),
    CACHE_READ_QUORUM: int(1, 7).default(2),
    CACHE_WRITE_QUORUM: int(1, 7).default(2),
    CACHE_REPLICA_TIMEOUT_MS: int(10, 60_000).default(1000),
    CACHE_REQUEST_DEADLINE_MS: int(10, 120_000).default(3000),
    CACHE_SHARD_CAPACITY_BYTES: int(LIMITS.valueBytes * 2, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    RAFT_GROUP: z.string().regex(/^[a-z0-9-]{1,32}$/).default("main"),
    RAFT_MEMBERS: int(1, 9).default(5),
    // Where the members live and how far apart (src/core/placement): the timing below is derived from
    // the round trip unless set explicitly.
    RAFT_PLACEMENT: z.enum(RAFT_PLACEMENTS, { error: `must be one of ${RAFT_PLACEMENTS.join(", ")}` }).optional(),
    RAFT_RTT_MS: int(1, 5000).optional(),
    RAFT_LOCATIONS: LocationList,
    CACHE_LOCATIONS: LocationList,
    TXN_LOCATIONS: LocationList,
    DO_JURISDICTION: JurisdictionVar,
    RAFT_ELECTION_MIN_MS: int(20, 60_000).optional(),
    RAFT_ELECTION_MAX_MS: int(21, 120_000).optional(),
    RAFT_HEARTBEAT_MS: int(5, 30_000).optional(),
    // Raft counts time in ticks of each member's alarm (a late alarm is one tick); the ms knobs above are
    // converted to ticks of this length.
    RAFT_TICK_MS: int(5, 10_000).optional(),
    RAFT_REQUEST_DEADLINE_MS: int(100, 120_000).optional(),
    RAFT_COMPACT_EVERY: int(10, 1_000_000).default(1000),
    // Quiescence: an idle group stops its heartbeats and election timers after this many idle ticks.
    RAFT_QUIESCE: z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("true"),
    RAFT_QUIESCE_TICKS: int(1, 10_000).default(6),
    TXN_VOTE_TIMEOUT_MS: int(50, 60_000).default(2000),
    TXN_LOCK_WAIT_MS: int(0, 10_000).default(100),
    TXN_INQUIRY_AFTER_MS: int(50, 600_000).default(1000),
    TXN_RESEND_MS: int(10, 60_000).default(1000),
    TXN_COORDINATORS: int(0, 4096).default(8),
    // At most 20 s: a delayed report runs in waitUntil, which Cloudflare ends 30 s after the response.
    LB_STATE_TTL_MS: int(10, 20_000).default(1000),
    // Active health checks run at a pool's own interval while it has had traffic within this long, then
    // every LB_IDLE_CHECK_MS (0: not at all) until a request comes (src/core/health/check-cadence.ts).
    LB_ACTIVE_CHECK_IDLE_AFTER_MS: int(1000, 86_400_000).default(30_000),
    LB_IDLE_CHECK_MS: int(0, 86_400_000).default(0),
    TASK_EXECUTORS: int(1, 256).default(4),
    // At most 4: a batch's scheduler state (1,000 tasks, their attempts) is one stored value, under 2 MiB.
    TASK_MAX_ATTEMPTS: int(1, 4).default(3),
    // Longer than the longest task (sleep: 60 s): an attempt silent this long is presumed crashed.
    TASK_ATTEMPT_TIMEOUT_MS: int(100, 600_000).default(90_000),
    // Map or reduce attempts an executor is given at once (plain tasks: 16, for sleeps to overlap).
    TASK_JOB_SLOTS: int(1, 64).default(2),
    // A finished batch or job (its tasks, results, output) is deleted this long after it ended.
    TASK_RETENTION_S: int(1, 30 * 86_400).default(86_400),
    // The breaker in front of the worker's own calls to Durable Objects (src/services/do-guard.ts).
    DO_BREAKER_FAILURES: int(1, 1000).default(5),
    DO_BREAKER_FAILURE_RATE: z.coerce.number().gt(0).max(1).default(0.5),
    DO_BREAKER_MIN_REQUESTS: int(1, 100_000).default(20),
    DO_BREAKER_WINDOW_MS: int(100, 600_000).default(10_000),
    DO_BREAKER_OPEN_MS: int(10, 600_000).default(2000),
    DO_BREAKER_MAX_OPEN_MS: int(10, 3_600_000).default(30_000),
    // Admission control in front of each Durable Object, per isolate (src/services/admission.ts).
    ADMISSION_INITIAL_LIMIT: int(1, 10_000).default(20),
    ADMISSION_MIN_LIMIT: int(1, 10_000).default(2),
    ADMISSION_MAX_LIMIT: int(1, 10_000).default(200),
    ADMISSION_MAX_QUEUE: int(0, 100_000).default(1000),
    // The front door: concurrent requests per capability per isolate (AIMD on request latency).
    FRONT_DOOR_INITIAL_LIMIT: int(1, 100_000).default(256),
    FRONT_DOOR_MAX_LIMIT: int(1, 100_000).default(4096),
    FRONT_DOOR_LATENCY_TARGET_MS: int(10, 120_000).default(3000),
  })
  .superRefine((c, ctx) => {
    if (c.CACHE_REPLICAS > c.CACHE_SHARDS)
      ctx.addIssue({ code: "custom", path: ["CACHE_REPLICAS"], message: "N cannot exceed the shard count" });
    if (c.CACHE_READ_QUORUM > c.CACHE_REPLICAS)
      ctx.addIssue({ code: "custom", path: ["CACHE_READ_QUORUM"], message: "R cannot exceed N" });
    if (c.CACHE_WRITE_QUORUM > c.CACHE_REPLICAS)
      ctx.addIssue({ code: "custom", path: ["CACHE_WRITE_QUORUM"], message: "W cannot exceed N" });
    const rt = raftTiming(c);
    if (rt.electionMaxMs <= rt.electionMinMs)
      ctx.addIssue({ code: "custom", path: ["RAFT_ELECTION_MAX_MS"], message: `must be above RAFT_ELECTION_MIN_MS (${rt.electionMinMs})` });
    if (rt.heartbeatMs >= rt.electionMinMs)
      ctx.addIssue({ code: "custom", path: ["RAFT_HEARTBEAT_MS"], message: `must be below RAFT_ELECTION_MIN_MS (${rt.electionMinMs})` });
    if (c.CACHE_LOCATIONS.length > c.CACHE_SHARDS)
      ctx.addIssue({ code: "custom", path: ["CACHE_LOCATIONS"], message: `${c.CACHE_LOCATIONS.length} entries for ${c.CACHE_SHARDS} shards` });
    if (c.TXN_LOCATIONS.length > 0 && c.TXN_COORDINATORS === 0)
      ctx.addIssue({ code: "custom", path: ["TXN_LOCATIONS"], message: "TXN_COORDINATORS=0 gives each transaction its own coordinator, placed near its first caller: no list applies" });
    else if (c.TXN_LOCATIONS.length > c.TXN_COORDINATORS)
      ctx.addIssue({ code: "custom", path: ["TXN_LOCATIONS"], message: `${c.TXN_LOCATIONS.length} entries for ${c.TXN_COORDINATORS} coordinators` });
    const ticks = raftTicks(rt.tickMs, rt.electionMinMs, rt.electionMaxMs, rt.heartbeatMs);
    if (!(ticks.election >= 2 && ticks.maxElection > ticks.election && ticks.heartbeat < ticks.election))
      ctx.addIssue({ code: "custom", path: ["RAFT_TICK_MS"], message: "in ticks of RAFT_TICK_MS, need election min >= 2 ticks, max > min, heartbeat < election min" });
    if (!(c.ADMISSION_MIN_LIMIT <= c.ADMISSION_INITIAL_LIMIT && c.ADMISSION_INITIAL_LIMIT <= c.ADMISSION_MAX_LIMIT))
      ctx.addIssue({ code: "custom", path: ["ADMISSION_INITIAL_LIMIT"], message: "must be between ADMISSION_MIN_LIMIT and ADMISSION_MAX_LIMIT" });
    if (c.DO_BREAKER_MAX_OPEN_MS < c.DO_BREAKER_OPEN_MS)
      ctx.addIssue({ code: "custom", path: ["DO_BREAKER_MAX_OPEN_MS"], message: "must be at least DO_BREAKER_OPEN_MS" });
    for (const id of Object.keys(c.CACHE_SHARD_WEIGHTS)) {
      if (!/^shard-\d+$/.test(id) || Number(id.slice(6)) >= c.CACHE_SHARDS)
        ctx.addIssue({ code: "custom", path: ["CACHE_SHARD_WEIGHTS", id], message: "unknown shard id" });
    }
  });

export interface CacheConfig {
  shards: { id: string; weight: number }[];
  vnodes: number | undefined;
  replicas: number;
  readQuorum: number;
  writeQuorum: number;
  replicaTimeoutMs: number;
  deadlineMs: number;
  shardCapacityBytes: number;
}

export interface RaftConfig {
  group: string;
  /** The preset the timing was derived from (RAFT_PLACEMENT, or implied by RAFT_LOCATIONS), and its round trip or RAFT_RTT_MS. */
  placement: RaftPlacement;
  rttMs: number;
  /** Initial voters: n1..nK. */
  members: string[];
  electionMinMs: number;
  electionMaxMs: number;
  heartbeatMs: number;
  /** The members' clock: one tick per alarm, at least this many ms apart. */
  tickMs: number;
  /** The ms settings above in ticks (rounded): election timeout in (electionTicks, maxElectionTicks]. */
  electionTicks: number;
  maxElectionTicks: number;
  heartbeatTicks: number;
  deadlineMs: number;
  compactEvery: number;
  /** Ticks without client activity after which an idle, caught-up group quiesces; 0 when RAFT_QUIESCE is "false". */
  quiesceTicks: number;
}

export interface TxnConfig {
  /** A transaction not fully voted on by then is aborted. */
  voteTimeoutMs: number;
  /** How long a plain read or write of a locked key waits for the lock before answering 409. */
  lockWaitMs: number;
  /** How long a participant stays in doubt before asking the coordinator (then backing off). */
  inquiryAfterMs: number;
  /** First delay before a coordinator resends an unacknowledged decision (then doubling, to 30 s). */
  resendMs: number;
  /** Coordinator objects the transactions are spread over (by a hash of the id); 0 = one object per transaction. */
  coordinators: number;
}

export interface LbConfig {
  /** How long an isolate routes with its cached copy of a pool's shared state before refreshing it. */
  stateTtlMs: number;
  /** A pool with no traffic for this long is idle: its active checks fall to idleCheckMs. */
  activeCheckIdleAfterMs: number;
  /** Interval of a pool's active checks while it is idle; 0 = none until the next request. */
  idleCheckMs: number;
}

export interface TasksConfig {
  /** The fixed pool of executor objects: executor-0 .. executor-(N-1). */
  executors: string[];
  maxAttempts: number;
  attemptTimeoutMs: number;
  /** A finished batch or job is deleted this long after it ended. */
  retentionMs: number;
  /** Map or reduce attempts an executor is given at once. */
  jobSlots: number;
}

export interface Config {
  tasks: TasksConfig;
  cache: CacheConfig;
  raft: RaftConfig;
  txn: TxnConfig;
  /** Location hints per Raft member, cache shard and transaction coordinator; the jurisdiction of every object. */
  placement: PlacementConfig;
  lb: LbConfig;
  /** The breaker of every Durable Object the worker calls (one per object, per isolate). */
  doBreaker: BreakerConfig;
  /** Admission control in front of every Durable Object the worker calls (one gate per object, per isolate). */
  admission: AdmissionConfig;
  /** The front door: a concurrency limit on requests per capability, per isolate (no queue). */
  frontDoor: AdmissionConfig;
}

/** Parses and checks the cluster shape from `[vars]`; throws a readable error listing every bad variable. */
export function parseConfig(env: Record<string, unknown>): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  const c = parsed.data;
  const rt = raftTiming(c);
  const shards = Array.from({ length: c.CACHE_SHARDS }, (_, i) => {
    const id = `shard-${i}`;
    return { id, weight: c.CACHE_SHARD_WEIGHTS[id] ?? 1 };
  });
  try {
    // Checking the ring's shape here turns an impossible one (e.g. a weight that needs millions of
    // virtual nodes) into a config error rather than a failure of the first request.
    planRing(shards, c.CACHE_VNODES === undefined ? {} : { vnodes: c.CACHE_VNODES });
  } catch (err) {
    throw new Error(`invalid configuration: CACHE_SHARD_WEIGHTS/CACHE_VNODES: ${(err as Error).message}`);
  }
  return {
    cache: {
      shards,
      vnodes: c.CACHE_VNODES,
      replicas: c.CACHE_REPLICAS,
      readQuorum: c.CACHE_READ_QUORUM,
      writeQuorum: c.CACHE_WRITE_QUORUM,
      replicaTimeoutMs: c.CACHE_REPLICA_TIMEOUT_MS,
      deadlineMs: c.CACHE_REQUEST_DEADLINE_MS,
      shardCapacityBytes: c.CACHE_SHARD_CAPACITY_BYTES,
    },
    raft: {
      group: c.RAFT_GROUP,
      members: Array.from({ length: c.RAFT_MEMBERS }, (_, i) => `n${i + 1}`),
      placement: rt.placement,
      rttMs: rt.rttMs,
      electionMinMs: rt.electionMinMs,
      electionMaxMs: rt.electionMaxMs,
      heartbeatMs: rt.heartbeatMs,
      tickMs: rt.tickMs,
      ...(({ election, maxElection, heartbeat }) => ({ electionTicks: election, maxElectionTicks: maxElection, heartbeatTicks: heartbeat }))(
        raftTicks(rt.tickMs, rt.electionMinMs, rt.electionMaxMs, rt.heartbeatMs),
      ),
      deadlineMs: rt.deadlineMs,
      compactEvery: c.RAFT_COMPACT_EVERY,
      quiesceTicks: c.RAFT_QUIESCE === "true" ? c.RAFT_QUIESCE_TICKS : 0,
    },
    txn: {
      voteTimeoutMs: c.TXN_VOTE_TIMEOUT_MS,
      lockWaitMs: c.TXN_LOCK_WAIT_MS,
      inquiryAfterMs: c.TXN_INQUIRY_AFTER_MS,
      resendMs: c.TXN_RESEND_MS,
      coordinators: c.TXN_COORDINATORS,
    },
    placement: { jurisdiction: c.DO_JURISDICTION, raft: c.RAFT_LOCATIONS, cache: c.CACHE_LOCATIONS, txn: c.TXN_LOCATIONS },
    lb: { stateTtlMs: c.LB_STATE_TTL_MS, activeCheckIdleAfterMs: c.LB_ACTIVE_CHECK_IDLE_AFTER_MS, idleCheckMs: c.LB_IDLE_CHECK_MS },
    tasks: {
      executors: Array.from({ length: c.TASK_EXECUTORS }, (_, i) => `executor-${i}`),
      maxAttempts: c.TASK_MAX_ATTEMPTS,
      attemptTimeoutMs: c.TASK_ATTEMPT_TIMEOUT_MS,
      retentionMs: c.TASK_RETENTION_S * 1000,
      jobSlots: c.TASK_JOB_SLOTS,
    },
    doBreaker: {
      ...DEFAULT_BREAKER_CONFIG,
      consecutiveFailures: c.DO_BREAKER_FAILURES,
      failureRateThreshold: c.DO_BREAKER_FAILURE_RATE,
      minimumRequests: c.DO_BREAKER_MIN_REQUESTS,
      windowMs: c.DO_BREAKER_WINDOW_MS,
      openMs: c.DO_BREAKER_OPEN_MS,
      // Each opening in a row without a close lasts twice the one before, up to the maximum.
      openBackoffMultiplier: 2,
      maxOpenMs: c.DO_BREAKER_MAX_OPEN_MS,
      // One probe at a time; one success closes. Every guarded call reports its outcome (its timeout
      // bounds it), so a probe slot's own expiry matters only if the isolate dies mid-call, and then
      // the registry goes with it.
      halfOpenMaxProbes: 1,
      successThreshold: 1,
      probeTimeoutMs: 120_000,
    },
    admission: {
      limiter: { initialLimit: c.ADMISSION_INITIAL_LIMIT, minLimit: c.ADMISSION_MIN_LIMIT, maxLimit: c.ADMISSION_MAX_LIMIT },
      maxQueue: c.ADMISSION_MAX_QUEUE,
    },
    frontDoor: {
      limiter: { initialLimit: Math.min(c.FRONT_DOOR_INITIAL_LIMIT, c.FRONT_DOOR_MAX_LIMIT), minLimit: Math.min(16, c.FRONT_DOOR_INITIAL_LIMIT, c.FRONT_DOOR_MAX_LIMIT), maxLimit: c.FRONT_DOOR_MAX_LIMIT, latencyTargetMs: c.FRONT_DOOR_LATENCY_TARGET_MS },
      maxQueue: 0,
    },
  };
}

// The env object is stable per isolate, so the config is parsed once per isolate.
const cache = new WeakMap<object, Config>();

export function getConfig(env: Cloudflare.Env): Config {
  let config = cache.get(env);
  if (!config) {
    try {
      config = parseConfig(env as unknown as Record<string, unknown>);
    } catch (err) {
      throw new HttpError(500, "config_invalid", (err as Error).message);
    }
    cache.set(env, config);
  }
  return config;
}
