import type { CacheShard, ShardRecord, ShardStats, ShardWrite } from "../../durable-objects/cache-shard";
import type { CacheConfig } from "../config";
import { newestRecord, staleIndices } from "../core/cache/replica-state";
import { VersionClock } from "../core/cache/version";
import { HashRing } from "../core/ring/hash-ring";
import { HttpError } from "../http/errors";
import { callQuorum, withTimeout, type QuorumResult } from "./replica-call";

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
function nextVersion(): string {
  // Created lazily: Workers forbid random values at global scope. The tag tells isolates apart.
  clock ??= new VersionClock(crypto.getRandomValues(new Uint32Array(1))[0] ?? 0);
  return clock.next(Date.now());
}

export function shardStub(env: Cloudflare.Env, shard: string): DurableObjectStub<CacheShard> {
  return env.CACHE_SHARD.get(env.CACHE_SHARD.idFromName(shard));
}

function quorumError(kind: "read" | "write", q: QuorumResult<unknown>, needed: number, replicas: number): HttpError {
  const acks = q.results.length;
  return new HttpError(
    503,
    "quorum_unavailable",
    `${acks} of ${replicas} replicas answered; the ${kind} quorum is ${needed}`,
    { acks, needed, replicas, failures: q.failures.map((f) => ({ shard: f.shard, reason: f.reason })) },
    { "Retry-After": "1" },
  );
}

function checkQuorum(n: number, requested: number | undefined, fallback: number, what: string): number {
  const q = requested ?? fallback;
  if (q < 1 || q > n) throw new HttpError(400, "invalid_request", `${what} must be between 1 and N=${n}`);
  return q;
}

/** Quorum read: R replies from the key's preference list; the newest version wins; stale replicas are repaired in the background. */
export async function cacheGet(deps: CacheDeps, key: string, r?: number): Promise<ReadOutcome> {
  const { config, env } = deps;
  const replicas = ringFor(config).preferenceList(key, config.replicas);
  const needed = checkQuorum(replicas.length, r, config.readQuorum, "r");
  const q = await callQuorum(replicas, needed, false, (s) => shardStub(env, s).get(key), config.replicaTimeoutMs, config.deadlineMs);
  if (!q.met) throw quorumError("read", q, needed, replicas.length);
  const records = q.results.map((x) => x.value);
  const newest = newestRecord(records) ?? { version: null, live: false };
  const stale = staleIndices(records, newest).map((i) => q.results[i]!.shard);
  if (stale.length > 0 && newest.version !== null) {
    const repair: ShardWrite = {
      key,
      version: newest.version,
      value: newest.live ? (newest.value ?? new Uint8Array(0)) : null,
      contentType: newest.contentType ?? "application/octet-stream",
      expiresAt: newest.expiresAt ?? null,
    };
    deps.waitUntil(Promise.allSettled(stale.map((s) => withTimeout(shardStub(env, s).put(repair), config.replicaTimeoutMs))));
  }
  return { record: newest, acks: q.results.length, needed, replicas: replicas.length, repaired: stale };
}

async function write(deps: CacheDeps, key: string, value: Uint8Array | null, contentType: string, ttlMs: number | null, w?: number): Promise<WriteOutcome> {
  const { config, env } = deps;
  const replicas = ringFor(config).preferenceList(key, config.replicas);
  const needed = checkQuorum(replicas.length, w, config.writeQuorum, "w");
  const version = nextVersion();
  // Expiry is absolute and decided once here, so every replica expires the entry at the same moment.
  const expiresAt = ttlMs === null ? null : Date.now() + ttlMs;
  const req: ShardWrite = { key, version, value, contentType, expiresAt };
  const q = await callQuorum(replicas, needed, true, (s) => shardStub(env, s).put(req), config.replicaTimeoutMs, config.deadlineMs);
  deps.waitUntil(q.rest);
  if (!q.met) {
    // The write may still land on the replicas that had not answered; wait for them (bounded by the
    // replica timeout) so the error reports exactly how many acknowledged.
    throw quorumError("write", { ...q, ...(await q.rest) }, needed, replicas.length);
  }
  return { version, expiresAt, acks: q.results.length, needed, replicas: replicas.length };
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
        return { shard: id, reachable: true, stats: await withTimeout(shardStub(env, id).stats(), config.replicaTimeoutMs) };
      } catch (err) {
        return { shard: id, reachable: false, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}
