/**
 * This isolate's copy of each pool's shared state, and the reports that keep the UpstreamPool object
 * informed. Isolates share no memory, so each one routes with a snapshot it got from the object and
 * refreshes it every LB_STATE_TTL_MS — never with a Durable Object round trip per proxied request.
 *
 * - Outcomes of proxied tries are applied at once to the isolate's own copy (its breakers and latency
 *   estimates react on the next request) and queued for the object: failures and probe results are
 *   sent right away (in waitUntil, after the response), successes in batches at most every TTL.
 * - Each report comes back with the object's merged verdicts (ejections, checks, breakers fed by every
 *   isolate), which this isolate merges into its copy: the breakers' state is a join-semilattice
 *   (src/core/health/circuit-breaker.ts `merge`), so copies that cross in flight are harmless.
 * - If the object cannot be reached, the isolate keeps routing with the last snapshot (fail static).
 */
import { type UpstreamPool, type PoolSnapshot, poolStub } from "../../durable-objects/upstream-pool";
import { createPicker, type Picker, type Upstream } from "../core/balancer";
import { estimateAt, observeLatency, type PeakEwma } from "../core/balancer/ewma";
import { retryBudgetConfigOf } from "../core/balancer/pool-config";
import { createRetryBudget, type RetryBudgetState } from "../core/balancer/retry-budget";
import * as breaker from "../core/health/circuit-breaker";
import { isFailure, type Outcome } from "../core/health/pool-health";
import { HttpError } from "../http/errors";
import { withTimeout } from "./replica-call";

/** What an isolate keeps per upstream: its own in-flight count and latency, its copy of the breaker. */
export interface LocalUpstream {
  inFlight: number;
  ewma: PeakEwma | undefined;
  breaker: breaker.BreakerState;
}

export interface PoolEntry {
  snapshot: PoolSnapshot;
  fetchedAt: number;
  picker: Picker;
  local: Map<string, LocalUpstream>;
  pending: Outcome[];
  lastFlush: number;
  flushing: boolean;
  /** A delayed report is already waiting to be sent. */
  scheduled: boolean;
  budget: RetryBudgetState;
}

/** A call to the pool object that takes longer than this is given up (the proxy keeps its last snapshot). */
const POOL_CALL_TIMEOUT_MS = 2_000;
/** Successes queued beyond this are sent without waiting for the TTL. */
const MAX_PENDING = 256;
/** A snapshot this many TTLs old is not trusted without asking the object first. */
const HARD_STALE_TTLS = 30;

const pools = new Map<string, PoolEntry>();
let isolateId: string | undefined;

/** A random name for this isolate, so the pool object can sum in-flight counts per isolate. */
function isolate(): string {
  // Lazily: Workers forbid random values at global scope.
  isolateId ??= crypto.randomUUID();
  return isolateId;
}

/** The pool's entry, fetching or refreshing the snapshot as needed. Throws 404 for an unknown pool. */
export async function poolEntry(env: Cloudflare.Env, pool: string, ttlMs: number, waitUntil: (p: Promise<unknown>) => void): Promise<PoolEntry> {
  const now = Date.now();
  const e = pools.get(pool);
  if (e === undefined || now - e.fetchedAt > ttlMs * HARD_STALE_TTLS) {
    let snap: PoolSnapshot | null;
    try {
      snap = await withTimeout(poolStub(env, pool).snapshot(), POOL_CALL_TIMEOUT_MS);
    } catch (err) {
      if (e !== undefined) return e; // fail static: route with what we knew
      throw new HttpError(503, "pool_unavailable", `the pool's state could not be read: ${err instanceof Error ? err.message : String(err)}`, undefined, { "Retry-After": "1" });
    }
    if (snap === null) {
      pools.delete(pool);
      throw new HttpError(404, "not_found", `no load-balancer pool named ${JSON.stringify(pool)}`);
    }
    return install(pool, snap, now);
  }
  if (now - e.fetchedAt > ttlMs && !e.flushing) waitUntil(flush(env, pool, e));
  return e;
}

/**
 * Installs a snapshot from the object. A new config version rebuilds the picker and takes the object's
 * breakers as they are (their settings may have changed); otherwise breakers are merged. The entry and
 * its per-upstream objects are updated in place: requests in flight hold them and count down on them.
 */
export function install(pool: string, snap: PoolSnapshot, now: number): PoolEntry {
  const e = pools.get(pool);
  if (e === undefined) {
    const local = new Map(snap.upstreams.map((v): [string, LocalUpstream] => [v.id, { inFlight: 0, ewma: undefined, breaker: v.breaker }]));
    const budget = createRetryBudget(retryBudgetConfigOf(snap.config));
    const fresh: PoolEntry = { snapshot: snap, fetchedAt: now, picker: createPicker(snap.config.algorithm), local, pending: [], lastFlush: now, flushing: false, scheduled: false, budget };
    pools.set(pool, fresh);
    return fresh;
  }
  const reconfigured = e.snapshot.version !== snap.version;
  if (reconfigured) {
    e.picker = createPicker(snap.config.algorithm);
    e.budget = createRetryBudget(retryBudgetConfigOf(snap.config));
    const ids = new Set(snap.upstreams.map((v) => v.id));
    for (const id of [...e.local.keys()]) if (!ids.has(id)) e.local.delete(id);
  }
  e.snapshot = snap;
  e.fetchedAt = now;
  for (const v of snap.upstreams) {
    const l = e.local.get(v.id);
    if (l === undefined) e.local.set(v.id, { inFlight: 0, ewma: undefined, breaker: v.breaker });
    else l.breaker = reconfigured ? v.breaker : breaker.merge(l.breaker, v.breaker);
  }
  return e;
}

/** Forgets this isolate's copy (after the pool is deleted or replaced through this isolate). */
export function forget(pool: string): void {
  pools.delete(pool);
}

/** The upstreams as the picker sees them at `now`: half-open ones count as available (a probe slot is asked for on pick). */
export function candidates(e: PoolEntry, now: number): Upstream[] {
  const views = new Map(e.snapshot.upstreams.map((v) => [v.id, v]));
  return e.snapshot.config.upstreams.map((cu) => {
    const l = local(e, cu.id);
    const v = views.get(cu.id);
    const status = breaker.statusAt(l.breaker, now);
    return {
      id: cu.id,
      weight: cu.weight,
      inFlight: l.inFlight,
      ...(cu.maxInFlight === null ? {} : { maxInFlight: cu.maxInFlight }),
      ...(l.ewma === undefined ? {} : { ewmaMs: estimateAt(l.ewma, Math.max(now, l.ewma.lastAt)) }),
      available: (v?.admitted ?? false) && status !== "open",
    };
  });
}

export function local(e: PoolEntry, id: string): LocalUpstream {
  let l = e.local.get(id);
  if (l === undefined) {
    const v = e.snapshot.upstreams.find((x) => x.id === id);
    l = { inFlight: 0, ewma: undefined, breaker: v?.breaker ?? breaker.createBreaker() };
    e.local.set(id, l);
  }
  return l;
}

/** Whether `id`'s breaker lets a request through now; in half-open, asks the pool object for a probe slot. */
export async function admit(env: Cloudflare.Env, pool: string, e: PoolEntry, id: string, now: number): Promise<{ allowed: boolean; probe: boolean }> {
  const l = local(e, id);
  const status = breaker.statusAt(l.breaker, now);
  if (status === "closed") return { allowed: true, probe: false };
  if (status === "open") return { allowed: false, probe: false };
  try {
    const r = await withTimeout(poolStub(env, pool).probe(id), POOL_CALL_TIMEOUT_MS);
    if (r.snapshot !== null) install(pool, r.snapshot, Date.now());
    return { allowed: r.allowed, probe: r.allowed };
  } catch {
    return { allowed: false, probe: false };
  }
}

/** Records one finished try in this isolate's copy and queues it for the pool object. */
export function record(e: PoolEntry, outcome: Outcome): void {
  const l = local(e, outcome.upstream);
  const failed = isFailure(outcome.kind);
  l.breaker = failed ? breaker.onFailure(l.breaker, outcome.at, outcome.probe) : breaker.onSuccess(l.breaker, outcome.at, outcome.probe);
  if (outcome.latencyMs !== null) l.ewma = observeLatency(l.ewma, outcome.latencyMs, outcome.at);
  e.pending.push(outcome);
}

/**
 * Sends queued outcomes when one is urgent (a failure or probe) or many are queued; otherwise no later
 * than one TTL after the previous report (a delayed send in waitUntil, so the last requests of a burst
 * are reported too, not only when the next request comes).
 */
export function maybeFlush(env: Cloudflare.Env, pool: string, e: PoolEntry, ttlMs: number, waitUntil: (p: Promise<unknown>) => void): void {
  if (e.flushing || e.pending.length === 0) return;
  const urgent = e.pending.some((o) => o.probe || isFailure(o.kind));
  const wait = e.lastFlush + ttlMs - Date.now();
  if (urgent || e.pending.length >= MAX_PENDING || wait <= 0) {
    waitUntil(flush(env, pool, e));
    return;
  }
  if (e.scheduled) return;
  e.scheduled = true;
  waitUntil(
    new Promise((r) => setTimeout(r, wait)).then(() => {
      e.scheduled = false;
      return e.flushing || e.pending.length === 0 ? undefined : flush(env, pool, e);
    }),
  );
}

/** Reports the queued outcomes (and in-flight counts) and installs the snapshot that comes back. */
async function flush(env: Cloudflare.Env, pool: string, e: PoolEntry): Promise<void> {
  e.flushing = true;
  const batch = e.pending.splice(0, e.pending.length);
  const inFlight: Record<string, number> = {};
  for (const [id, l] of e.local) inFlight[id] = l.inFlight;
  e.lastFlush = Date.now();
  try {
    const stub: DurableObjectStub<UpstreamPool> = poolStub(env, pool);
    const snap = await withTimeout(stub.report(isolate(), batch, inFlight), POOL_CALL_TIMEOUT_MS);
    if (snap === null) forget(pool);
    else install(pool, snap, Date.now());
  } catch {
    // Dropped: outcomes are statistics, and the next report carries newer ones. Retrying could count twice.
  } finally {
    e.flushing = false;
  }
}
