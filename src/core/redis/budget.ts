/**
 * What one request to the Redis endpoint may make the cluster do, checked before any of it runs.
 * A command names keys, and every key read or written costs Durable Object calls (billed requests,
 * and subrequests of the Worker invocation: 10,000 per request on Workers Paid, 50 on Free); a walk
 * over the keyspace (KEYS, SCAN, DBSIZE, FLUSHDB) calls every shard. Without a budget, a 14 KB
 * pipeline of 1,000 `KEYS *` made ~8,000 shard calls and ran for a minute. Pure: the cluster's shape
 * is passed in.
 */
import { isKeyspaceCommand, isReadOnly, keysOf } from "./spec";
import type { Command } from "./types";

/** The limits (the README's "Redis limits" table lists them). */
export const REDIS_BUDGET = {
  /**
   * Keys one command may name (MGET, MSET, DEL, EXISTS, UNLINK, TOUCH, …). Ten times the /cache batch
   * routes' 100: a multi-key command reads or writes its keys with one call per shard whatever their
   * number (so its calls do not grow with it), and 1,000 keys answer in a few hundred milliseconds.
   */
  keysPerCommand: 1000,
  /** Keys named by all the commands of one pipeline or MULTI together (a key named twice counts twice). */
  keysPerRequest: 5000,
  /**
   * Object calls one pipeline or MULTI is estimated to make (`estimateCalls`), on the cluster's shape,
   * counting the calls objects make to each other for it (each one is billed). On the default shape
   * (8 shards, N=3, R=2): 1,000 GETs cost 8, a SET 3, an INCR 9, a `KEYS *` up to 38 (8 shards, then
   * pages of `scanCount` up to `walkEntries`).
   */
  callsPerRequest: 2000,
  /**
   * How long one request may go on starting commands, in units of the cache's deadline for one
   * operation (CACHE_REQUEST_DEADLINE_MS, 3 s by default: 30 s). A pipeline past it answers its
   * remaining commands with an error instead of running them (a command already started finishes
   * within its own deadline); a KEYS or DBSIZE walk past it stops with an error, a SCAN step with
   * fewer keys. Generous: the budget above already bounds the work, and a pipeline of a few hundred
   * read-modify-writes (one transaction each, ~40 ms here under load) must not be cut short.
   */
  requestDeadlines: 10,
  /**
   * Stored entries (every replica's copy counts) one KEYS or DBSIZE may examine. Past it the command
   * answers an error naming the limit rather than a partial list a caller would take for the whole
   * keyspace; SCAN walks a keyspace of any size a page at a time.
   */
  walkEntries: 30_000,
  /**
   * Stored entries DBSIZE may examine: it only counts (nothing held grows with the keyspace), so ten
   * times KEYS's, about 100,000 keys at N=3, for up to 300 page calls.
   */
  countEntries: 300_000,
  /** Entries one SCAN step reads from a shard: SCAN's COUNT is a hint, and a larger one is read as this. */
  scanCount: 1000,
} as const;

/**
 * Pages a KEYS, DBSIZE or FLUSHDB walk may read beyond its first call to each shard: it pages through up
 * to `walkEntries` entries, `scanCount` at a time (found in review: charged one call per shard, 250
 * `KEYS *` passed the budget and made ~8,000 calls).
 */
const WALK_PAGES = Math.ceil(REDIS_BUDGET.walkEntries / REDIS_BUDGET.scanCount);
/** Pages DBSIZE may read: it counts up to `countEntries`. */
const COUNT_PAGES = Math.ceil(REDIS_BUDGET.countEntries / REDIS_BUDGET.scanCount);

/**
 * Whether a command walks the whole keyspace (KEYS, DBSIZE, FLUSHDB, FLUSHALL). SCAN reads one page
 * per shard at most, and RANDOMKEY at most one page of each shard: both cost `shards` calls.
 */
export function isKeyspaceWalk(cmd: Command): boolean {
  return isKeyspaceCommand(cmd.name) && cmd.name !== "scan" && cmd.name !== "randomkey";
}

/** Walks of the whole keyspace (KEYS, DBSIZE, FLUSHDB) one pipeline or MULTI may hold: each may return up to `walkEntries` keys, held in memory until the answer goes out. */
export const WALKS_PER_REQUEST = 1;

/** The cluster's shape, as far as the cost of a command depends on it. */
export interface ClusterShape {
  shards: number;
  /** N: copies of each key. */
  replicas: number;
  /** R: replicas a read asks. */
  readQuorum: number;
}

/** Shards touched when `keys` keys are sent to `copies` replicas each, one call per shard. */
function shardCalls(keys: number, copies: number, shape: ClusterShape): number {
  return keys === 0 ? 0 : Math.min(keys * copies, shape.shards);
}

/** Whether a pipeline reads this command together with its neighbours (a run of single-key reads: one call per shard for the run). */
export function isBatchedRead(cmd: Command): boolean {
  return isReadOnly(cmd) && !isKeyspaceCommand(cmd.name) && !isScript(cmd) && new Set(keysOf(cmd)).size <= 1;
}

/**
 * EVAL and its kin. A read-only script is not read with its neighbours: each runs on its own, so a
 * pipeline checks its deadline and yields between scripts (a run of them was one synchronous block).
 * Its cost is a write's over at least one key, whatever it declares (a keyless script cost 0 calls in
 * the estimate); the SCAN steps scripts may take are bounded per request (MAX_SCRIPT_SCAN_STEPS).
 */
function isScript(cmd: Command): boolean {
  return cmd.name === "eval" || cmd.name === "evalsha" || cmd.name === "eval_ro" || cmd.name === "evalsha_ro";
}

/** A blind write (`SET k v` with no option but EX/PX): one write to each replica, no read, no transaction. */
function isBlindSet(cmd: Command): boolean {
  return cmd.name === "set" && (cmd.args.length === 2 || (cmd.args.length === 4 && /^[ep]x$/i.test(cmd.args[2]!)));
}

/**
 * Object calls one command costs when nothing conflicts: a walk calls each shard at least once; a
 * read asks R replicas of each key, grouped by shard (twice for several keys: the second read checks
 * they were one snapshot); a write reads, then commits through a coordinator that prepares and
 * commits on each replica's shard; a blind SET writes each replica. Retries and read repair are not
 * counted (the deadline bounds those).
 */
export function estimateCalls(cmd: Command, shape: ClusterShape): number {
  if (isKeyspaceCommand(cmd.name)) return !isKeyspaceWalk(cmd) ? shape.shards : shape.shards + (cmd.name === "dbsize" ? COUNT_PAGES : WALK_PAGES);
  if (isScript(cmd)) {
    const keys = Math.max(1, new Set(keysOf(cmd)).size);
    return shardCalls(keys, shape.readQuorum, shape) + 1 + 2 * shardCalls(keys, shape.replicas, shape);
  }
  const keys = new Set(keysOf(cmd)).size;
  if (keys === 0) return 0;
  if (isBlindSet(cmd)) return shape.replicas;
  const read = shardCalls(keys, shape.readQuorum, shape);
  if (isReadOnly(cmd)) return keys > 1 ? 2 * read : read;
  return read + 1 + 2 * shardCalls(keys, shape.replicas, shape);
}

/** Calls of a pipeline: each command on its own, except that a run of single-key reads is read together. */
export function estimatePipelineCalls(cmds: readonly Command[], shape: ClusterShape): number {
  let calls = 0;
  for (let i = 0; i < cmds.length; ) {
    if (!isBatchedRead(cmds[i]!)) {
      calls += estimateCalls(cmds[i]!, shape);
      i++;
      continue;
    }
    const keys = new Set<string>();
    for (; i < cmds.length && isBatchedRead(cmds[i]!); i++) for (const k of keysOf(cmds[i]!)) keys.add(k);
    calls += shardCalls(keys.size, shape.readQuorum, shape);
  }
  return calls;
}

/** Calls of a MULTI: one atomic unit over all its keys (one read, one commit). */
export function estimateMultiCalls(cmds: readonly Command[], shape: ClusterShape): number {
  const named = new Set(cmds.flatMap((c) => keysOf(c))).size;
  const keys = cmds.some(isScript) ? Math.max(1, named) : named;
  if (keys === 0) return 0;
  const read = shardCalls(keys, shape.readQuorum, shape);
  if (cmds.every(isReadOnly)) return keys > 1 ? 2 * read : read;
  return read + 1 + 2 * shardCalls(keys, shape.replicas, shape);
}

const SEE = "see the README's Redis limits";

/** The error for a command naming more keys than one command may; null when within. */
export function commandOverBudget(cmd: Command): string | null {
  const keys = keysOf(cmd).length;
  if (keys <= REDIS_BUDGET.keysPerCommand) return null;
  return `ERR request budget exceeded: ${cmd.name.toUpperCase()} names ${keys} keys > ${REDIS_BUDGET.keysPerCommand} per command (split it; ${SEE})`;
}

/**
 * The error for a pipeline or MULTI whose commands together name too many keys or would make too
 * many object calls; null when within. Checked before any command runs: the whole request is refused,
 * since Upstash's clients match replies to commands by position and a half-run pipeline is worse.
 */
export function requestOverBudget(kind: "pipeline" | "multi", cmds: readonly Command[], shape: ClusterShape): string | null {
  const what = `${kind} of ${cmds.length} command${cmds.length === 1 ? "" : "s"}`;
  const walks = cmds.filter(isKeyspaceWalk).length;
  if (walks > WALKS_PER_REQUEST) return `ERR request budget exceeded: ${walks} walks of the whole keyspace (KEYS, DBSIZE, FLUSHDB) > ${WALKS_PER_REQUEST} (${what}; use SCAN; ${SEE})`;
  const keys = cmds.reduce((n, c) => n + keysOf(c).length, 0);
  if (keys > REDIS_BUDGET.keysPerRequest) return `ERR request budget exceeded: ${keys} keys > ${REDIS_BUDGET.keysPerRequest} (${what}; ${SEE})`;
  const calls = kind === "pipeline" ? estimatePipelineCalls(cmds, shape) : estimateMultiCalls(cmds, shape);
  if (calls > REDIS_BUDGET.callsPerRequest) return `ERR request budget exceeded: ${calls} object calls > ${REDIS_BUDGET.callsPerRequest} (${what}; ${SEE})`;
  return null;
}

/** The error a KEYS or DBSIZE answers when its walk passed the entries it may examine. */
export function walkOverBudget(name: string, examined: number, limit: number = REDIS_BUDGET.walkEntries): string {
  return `ERR request budget exceeded: ${name.toUpperCase()} examined ${examined} entries > ${limit} (use SCAN to walk a large keyspace; ${SEE})`;
}

/** How long a request may go on starting commands, given the cache's deadline for one operation. */
export function requestDeadlineMs(cacheDeadlineMs: number): number {
  return REDIS_BUDGET.requestDeadlines * cacheDeadlineMs;
}

/** The error of a command a pipeline did not run (or a walk it stopped) because the request's deadline passed. */
export function deadlineError(deadlineMs: number): string {
  return `ERR request deadline of ${deadlineMs} ms passed before this command ran (${SEE})`;
}
