import type { CacheShard, ShardRecord, ShardStats, ShardWrite } from "../../durable-objects/cache-shard";
import { getConfig, type CacheConfig } from "../config";
import { effectivelyLive, newestRecord, staleIndices } from "../core/cache/replica-state";
import { compareVersions, VersionClock } from "../core/cache/version";
import { HashRing } from "../core/ring/hash-ring";
import { HttpError } from "../http/errors";
import { overloadedError, ShedError } from "./admission";
import { guardedCall, ObjectAnswerError, shardGuardName, type GuardOptions } from "./do-guard";
import { callQuorum, type QuorumResult, type ReplicaGuard } from "./replica-call";
import { objectStub } from "./objects";

/** What a cache operation needs from its surroundings. */
export interface CacheDeps {
  env: Cloudflare.Env;
  config: CacheConfig;
  waitUntil: (p: Promise<unknown>) => void;
}

export interface QuorumInfo {
  acks: number;
  needed: number;
  replicas: number;
}

export interface ReadOutcome extends QuorumInfo {
  record: ShardRecord;
  repaired: string[];
}

export interface WriteOutcome extends QuorumInfo {
  version: string;
  expiresAt: number | null;
}

// One ring per config object (per isolate): the same config yields the same placement everywhere.
const rings = new WeakMap<CacheConfig, HashRing>();
export function ringFor(config: CacheConfig): HashRing {
  let ring = rings.get(config);
  if (!ring) {
    ring = new HashRing(config.shards, config.vnodes === undefined ? {} : { vnodes: config.vnodes });
    rings.set(config, ring);
  }
  return ring;
}

let clock: VersionClock | undefined;
function versionClock(): VersionClock {
  // Created lazily: Workers forbid random values at global scope. The tag tells isolates apart.
  clock ??= new VersionClock(crypto.getRandomValues(new Uint32Array(1))[0] ?? 0);
  return clock;
}

export function shardStub(env: Cloudflare.Env, shard: string): DurableObjectStub<CacheShard> {
  return objectStub(env, "cache", shard);
}

/** The breaker and admission options of shard calls (config: DO_BREAKER_*, ADMISSION_*). */
function shardGuardOptions(env: Cloudflare.Env): GuardOptions {
  const config = getConfig(env);
  return { breaker: config.doBreaker, admission: config.admission };
}

/** Puts every replica call of a quorum under the shard's breaker: an open one is skipped at once. */
function replicaGuard(env: Cloudflare.Env): ReplicaGuard {
  return { name: shardGuardName, options: shardGuardOptions(env) };
}

/**
 * One call to a shard outside a quorum, under the shard's breaker and the timeout: an open breaker
 * refuses at once (CircuitOpenError), which callers treat like any other failed call.
 */
export function shardCall<T>(env: Cloudflare.Env, shard: string, timeoutMs: number, fn: (stub: DurableObjectStub<CacheShard>) => Promise<T>): Promise<T> {
  return guardedCall(shardGuardName(shard), timeoutMs, () => fn(shardStub(env, shard)), shardGuardOptions(env));
}

// The two refusals below are answers of a healthy replica, read from its reply: ObjectAnswerError
// keeps them from counting against the shard's breaker.

/** A replica refused a write because it already holds a newer version of the key. */
class StaleWriteError extends ObjectAnswerError {
  constructor(readonly current: string) {
    super(`replica holds a newer version (${current})`);
    this.name = "StaleWriteError";
  }
}

/** A replica refused a plain write because a prepared transaction holds the key's lock. */
class LockedError extends ObjectAnswerError {
  constructor(readonly txn: string) {
    super(`locked by transaction ${txn}`);
    this.name = "LockedError";
  }
}

/** A key is locked by a transaction that is deciding: the client should retry shortly (it never sees the uncommitted state). */
function lockedError(key: string, txn: string): HttpError {
  return new HttpError(409, "locked", `"${key}" is locked by transaction ${txn}, which is committing or aborting; retry`, { txn }, { "Retry-After": "1" });
}

function quorumError(kind: "read" | "write", q: Pick<QuorumResult<unknown>, "results" | "failures">, needed: number, replicas: number): HttpError {
  const acks = q.results.length;
  // Replicas that were not called because they are busy with this isolate's calls: load, not failure.
  const shed = q.failures.map((f) => f.error).filter((e): e is ShedError => e instanceof ShedError);
  if (shed.length > 0) {
    const busiest = shed.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a));
    const err = overloadedError(busiest);
    return new HttpError(503, "overloaded", `${acks} of ${replicas} replicas answered (the ${kind} quorum is ${needed}): ${busiest.message}`, { acks, needed, replicas, failures: q.failures.map((f) => ({ shard: f.shard, reason: f.reason })) }, err.headers);
  }
  return new HttpError(
    503,
    "quorum_unavailable",
    `${acks} of ${replicas} replicas answered; the ${kind} quorum is ${needed}`,
    { acks, needed, replicas, failures: q.failures.map((f) => ({ shard: f.shard, reason: f.reason })) },
    { "Retry-After": "1" },
  );
}

/** The quorum for one request: the configured one, or the caller's, which must be 1..N. */
export function resolveQuorum(config: CacheConfig, requested: number | undefined, kind: "r" | "w"): number {
  const n = config.replicas;
  const q = requested ?? (kind === "r" ? config.readQuorum : config.writeQuorum);
  if (!Number.isInteger(q) || q < 1 || q > n) throw new HttpError(400, "invalid_request", `query.${kind}: must be between 1 and N=${n}`);
  return q;
}

/** Quorum read: R replies from the key's preference list; the newest version wins; stale replicas are repaired in the background. */
export async function cacheGet(deps: CacheDeps, key: string, r?: number): Promise<ReadOutcome> {
  const { config, env } = deps;
  const replicas = ringFor(config).preferenceList(key, config.replicas);
  const needed = resolveQuorum(config, r, "r");
  const q = await callQuorum(replicas, needed, false, (s) => shardStub(env, s).get(key), config.replicaTimeoutMs, config.deadlineMs, { guard: replicaGuard(env) });
  if (!q.met) throw quorumError("read", q, needed, replicas.length);
  return resolveRead(deps, key, q.results, needed, replicas.length);
}

/** The answer of a quorum read from the replies: newest version wins, stale replicas repaired in the background. */
function resolveRead(deps: CacheDeps, key: string, replies: { shard: string; value: ShardRecord }[], needed: number, replicas: number): ReadOutcome {
  const locked = replies.find((x) => x.value.locked !== undefined);
  if (locked) throw lockedError(key, locked.value.locked!);
  const now = Date.now();
  const records = replies.map((x) => x.value);
  const newest = newestRecord(records, now) ?? { version: null, live: false };
  // Reads advance this isolate's clock too, so a write after a read is ordered after what was read.
  if (newest.version !== null) versionClock().observe(newest.version);
  const stale = staleIndices(records, newest).map((i) => replies[i]!.shard);
  const live = effectivelyLive(newest, now);
  if (stale.length > 0 && newest.version !== null) {
    const repair: ShardWrite = {
      key,
      version: newest.version,
      value: live ? (newest.value ?? new Uint8Array(0)) : null,
      contentType: newest.contentType ?? "application/octet-stream",
      expiresAt: live ? (newest.expiresAt ?? null) : null,
    };
    deps.waitUntil(Promise.allSettled(stale.map((s) => shardCall(deps.env, s, deps.config.replicaTimeoutMs, (stub) => stub.put(repair)))));
  }
  // An eviction marker or an expired copy as the newest version is a miss, never an older value.
  const record: ShardRecord = live ? newest : { version: newest.version, live: false };
  return { record, acks: replies.length, needed, replicas, repaired: stale };
}

/**
 * Quorum reads of many keys with one call per shard: each key is read from the first R replicas of
 * its preference list, grouped by shard (`getMany`). A key whose batch failed on some shard falls
 * back to its own quorum read (which tries the next replicas). Answers per key, in order: its
 * outcome, or the error its own read would have thrown.
 */
export async function cacheGetMany(deps: CacheDeps, keys: readonly string[], r?: number): Promise<(ReadOutcome | HttpError)[]> {
  const { config, env } = deps;
  const ring = ringFor(config);
  const needed = resolveQuorum(config, r, "r");
  const byShard = new Map<string, number[]>();
  const replies: { shard: string; value: ShardRecord }[][] = keys.map(() => []);
  keys.forEach((key, i) => {
    for (const shard of ring.preferenceList(key, config.replicas).slice(0, needed)) {
      let list = byShard.get(shard);
      if (!list) byShard.set(shard, (list = []));
      list.push(i);
    }
  });
  await Promise.all(
    [...byShard].map(async ([shard, indices]) => {
      try {
        const records = await shardCall(env, shard, config.replicaTimeoutMs, (stub) => stub.getMany(indices.map((i) => keys[i]!)));
        indices.forEach((i, j) => replies[i]!.push({ shard, value: records[j]! }));
      } catch {
        // These keys lack a reply from this shard: they fall back below.
      }
    }),
  );
  return Promise.all(
    keys.map(async (key, i) => {
      try {
        const got = replies[i]!;
        if (got.length >= needed) return resolveRead(deps, key, got, needed, config.replicas);
        return await cacheGet(deps, key, r);
      } catch (err) {
        if (err instanceof HttpError) return err;
        throw err;
      }
    }),
  );
}

async function write(deps: CacheDeps, key: string, value: Uint8Array | null, contentType: string, ttlMs: number | null, w?: number): Promise<WriteOutcome> {
  const { config, env } = deps;
  const replicas = ringFor(config).preferenceList(key, config.replicas);
  const needed = resolveQuorum(config, w, "w");
  // Expiry is absolute and decided once here, so every replica expires the entry at the same moment.
  const expiresAt = ttlMs === null ? null : Date.now() + ttlMs;
  for (let attempt = 0; ; attempt++) {
    const version = versionClock().next(Date.now());
    const req: ShardWrite = { key, version, value, contentType, expiresAt };
    const q = await callQuorum(
      replicas,
      needed,
      true,
      async (s) => {
        const res = await shardStub(env, s).put(req);
        if (res.locked !== undefined) throw new LockedError(res.locked);
        // Only a replica that now holds this write acknowledges it.
        if (!res.applied && res.version !== version) throw new StaleWriteError(res.version ?? "");
        return res;
      },
      config.replicaTimeoutMs,
      config.deadlineMs,
      { guard: replicaGuard(env) },
    );
    deps.waitUntil(q.rest.then(({ results, failures }) => handOff(deps, key, version, results, failures)));
    const newer = q.failures.map((f) => f.error).filter((e): e is StaleWriteError => e instanceof StaleWriteError);
    if (q.met && newer.length === 0) return { version, expiresAt, acks: q.results.length, needed, replicas: replicas.length };
    if (newer.length > 0) {
      // A replica holds a version above ours (another writer whose clock is ahead): take it in and
      // write once more above it, so an acknowledged write is the newest one.
      for (const e of newer) versionClock().observe(e.current);
      if (attempt === 0) continue;
      const current = newer.map((e) => e.current).reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
      throw new HttpError(409, "conflict", "a newer write of this key keeps winning; retry", { current }, { "Retry-After": "1" });
    }
    const lock = q.failures.map((f) => f.error).find((e): e is LockedError => e instanceof LockedError);
    if (lock) throw lockedError(key, lock.txn);
    // The write may still land on the replicas that had not answered; wait for them (bounded by the
    // replica timeout) so the error reports exactly how many acknowledged.
    throw quorumError("write", await q.rest, needed, replicas.length);
  }
}

/**
 * Hinted handoff: replicas that missed a write (down, slow) get it later from one that has it, so a
 * delete cannot be lost on a replica that no read happens to repair before tombstones are forgotten.
 */
async function handOff(deps: CacheDeps, key: string, version: string, results: { shard: string }[], failures: { shard: string; error: unknown }[]): Promise<void> {
  const missed = failures.filter((f) => !(f.error instanceof StaleWriteError)).map((f) => f.shard);
  const holder = results[0]?.shard;
  if (missed.length === 0 || holder === undefined) return;
  await shardCall(deps.env, holder, deps.config.replicaTimeoutMs, (stub) => stub.addHints(key, version, missed)).catch(() => undefined);
}

/** Quorum write: sent to all N replicas at once, acknowledged at W. */
export function cacheSet(deps: CacheDeps, key: string, value: Uint8Array, contentType: string, ttlMs: number | null, w?: number): Promise<WriteOutcome> {
  return write(deps, key, value, contentType, ttlMs, w);
}

/** A delete is a versioned tombstone, so it wins over older copies during read repair. */
export function cacheDelete(deps: CacheDeps, key: string, w?: number): Promise<WriteOutcome> {
  return write(deps, key, null, "application/octet-stream", null, w);
}

export interface ShardReport {
  shard: string;
  reachable: boolean;
  stats?: ShardStats;
  error?: string;
}

/** Stats of every shard, asked concurrently; an unreachable shard is reported, not fatal. */
export async function allShardStats(deps: CacheDeps): Promise<ShardReport[]> {
  const { config, env } = deps;
  return Promise.all(
    config.shards.map(async ({ id }): Promise<ShardReport> => {
      try {
        return { shard: id, reachable: true, stats: await shardCall(env, id, config.replicaTimeoutMs, (stub) => stub.stats()) };
      } catch (err) {
        return { shard: id, reachable: false, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}
