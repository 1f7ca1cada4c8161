/**
 * This isolate's copy of each pool's shared state, and the reports that keep the UpstreamPool object
 * informed. Isolates share no memory, so each one routes with a snapshot it got from the object and
 * refreshes it every LB_STATE_TTL_MS — never with a Durable Object round trip per proxied request.
 *
 * - Outcomes of proxied tries are applied at once to the isolate's own copy (its breakers and latency
 *   estimates react on the next request) and queued for the object: failures and probe results are
 *   sent right away (in waitUntil, after the response), successes in batches at most every TTL.
 * - Each report comes back with the object's verdicts (ejections, checks, breakers fed by every
 *   isolate), which replace this isolate's copy; its own outcomes not reported yet are replayed on top
 *   (see `install` for why this is not a merge).
 * - If the object cannot be reached, the isolate keeps routing with the last snapshot (fail static).
 */
import { type UpstreamPool, type PoolSnapshot, poolStub } from "../../durable-objects/upstream-pool";
import { createPicker, type Picker, type Upstream } from "../core/balancer";
import { estimateAt, observeLatency, type PeakEwma } from "../core/balancer/ewma";
import { retryBudgetConfigOf } from "../core/balancer/pool-config";
import { createRetryBudget, type RetryBudgetState } from "../core/balancer/retry-budget";
import { withPanic } from "../core/balancer/panic";
import * as breaker from "../core/health/circuit-breaker";
import { createBlame, type BlameState, type Verdict } from "../core/health/path-blame";
import { breakerAfter, isFailure, judgeOutcome, type Outcome } from "../core/health/pool-health";
import { HttpError } from "../http/errors";
import { withTimeout } from "./replica-call";

/** What an isolate keeps per upstream: its own in-flight count and latency, its copy of the breaker. */
export interface LocalUpstream {
  /** Start times of this isolate's tries in flight, by token (see `hold`). */
  inFlight: Map<number, number>;
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
  /** A report is in flight. */
  flushing: boolean;
  /** A follow-up report is waiting for the queue to be due (one TTL after the last report). */
  scheduled: boolean;
  /** A follow-up report is waiting for the report in flight to come back (the queue is due already). */
  behindReport: boolean;
  budget: RetryBudgetState;
  /** This isolate's path-blame state: its breakers count only what is judged the upstream's fault. */
  blame: BlameState;
  /** The verdict each pending outcome got here, to replay it on a fresh snapshot's breakers. */
  verdicts: WeakMap<Outcome, Verdict>;
}

/** A call to the pool object that takes longer than this is given up (the proxy keeps its last snapshot). */
const POOL_CALL_TIMEOUT_MS = 2_000;
/** Successes queued beyond this are sent without waiting for the TTL. */
const MAX_PENDING = 256;
/** A snapshot this many TTLs old is not trusted without asking the object first. */
const HARD_STALE_TTLS = 30;
/** A try still counted in flight this long after its request's deadline was abandoned. */
const STALE_TRY_GRACE_MS = 1_000;
/** How often a follow-up report looks whether the report in flight is back. */
const REPORT_POLL_MS = 5;

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
      if (e !== undefined) {
        // Fail static: route with what we knew, and do not make every request wait on the object again
        // (background refreshes keep trying; the next blocking one is ten TTLs away).
        e.fetchedAt = now - ttlMs * (HARD_STALE_TTLS - 10);
        return e;
      }
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
 * Installs a snapshot from the object. A new config version rebuilds the picker. Each breaker becomes
 * the object's (which has applied every outcome reported so far, from every isolate) with this
 * isolate's outcomes not yet reported replayed on top. Not `breaker.merge`: the object files an
 * outcome in its rolling window when the report arrives, this isolate when the try ended, so one
 * failure can sit in different buckets of the two copies, and a bucket-wise max counts it twice (enough
 * to open a failure-rate breaker early). The entry and its per-upstream objects are updated in place:
 * requests in flight hold them and count down on them.
 */
export function install(pool: string, snap: PoolSnapshot, now: number): PoolEntry {
  const e = pools.get(pool);
  if (e === undefined) {
    const local = new Map(snap.upstreams.map((v): [string, LocalUpstream] => [v.id, { inFlight: new Map(), ewma: undefined, breaker: v.breaker }])); // nothing pending yet
    const budget = createRetryBudget(retryBudgetConfigOf(snap.config));
    const fresh: PoolEntry = { snapshot: snap, fetchedAt: now, picker: createPicker(snap.config.algorithm), local, pending: [], lastFlush: now, flushing: false, scheduled: false, behindReport: false, budget, blame: createBlame(), verdicts: new WeakMap() };
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
    let b = v.breaker;
    for (const o of e.pending) if (o.upstream === v.id) b = breakerAfter(b, e.verdicts.get(o) ?? (isFailure(o.kind) ? "failure" : "success"), o.at, o.probe);
    const l = e.local.get(v.id);
    if (l === undefined) e.local.set(v.id, { inFlight: new Map(), ewma: undefined, breaker: b });
    else l.breaker = b;
  }
  return e;
}

/** Forgets this isolate's copy (after the pool is deleted or replaced through this isolate). */
export function forget(pool: string): void {
  pools.delete(pool);
}

/** The upstreams as the picker sees them at `now` (see `routing`). */
export function candidates(e: PoolEntry, now: number): Upstream[] {
  return routing(e, now).upstreams;
}

/**
 * The upstreams as the picker sees them at `now`: half-open ones count as available (a probe slot is
 * asked for on pick). In panic (fewer than the pool's healthyPanicThreshold % available: see
 * src/core/balancer/panic.ts) every upstream its active checks do not rule out is available, ejected
 * or with its breaker open, and `panic` tells the caller not to ask the breakers.
 */
export function routing(e: PoolEntry, now: number): { upstreams: Upstream[]; panic: boolean } {
  const views = new Map(e.snapshot.upstreams.map((v) => [v.id, v]));
  const list = e.snapshot.config.upstreams.map((cu) => {
    const l = local(e, cu.id);
    const v = views.get(cu.id);
    const status = breaker.statusAt(l.breaker, now);
    return {
      id: cu.id,
      weight: cu.weight,
      inFlight: inFlightOf(e, l, now),
      ...(cu.maxInFlight === null ? {} : { maxInFlight: cu.maxInFlight }),
      ...(l.ewma === undefined ? {} : { ewmaMs: estimateAt(l.ewma, Math.max(now, l.ewma.lastAt)) }),
      available: (v?.admitted ?? false) && status !== "open",
      checked: v?.checked ?? v?.admitted ?? false,
    };
  });
  return withPanic(list, e.snapshot.config.healthyPanicThreshold ?? 0);
}

let nextToken = 0;

/**
 * Counts a try as in flight on `id` until the returned release is called (idempotent). Tries are
 * remembered with their start: one whose request was abandoned (a client that went away can leave
 * its fetch never settling, so the release never runs) stops counting after the pool's deadline.
 */
export function hold(e: PoolEntry, id: string, now: number): () => void {
  const l = local(e, id);
  const token = nextToken++;
  l.inFlight.set(token, now);
  return () => void l.inFlight.delete(token);
}

/** Tries in flight on this upstream, leaving out (and forgetting) those older than the deadline allows. */
function inFlightOf(e: PoolEntry, l: LocalUpstream, now: number): number {
  const oldest = now - e.snapshot.config.retry.deadlineMs - STALE_TRY_GRACE_MS;
  for (const [token, started] of l.inFlight) if (started < oldest) l.inFlight.delete(token);
  return l.inFlight.size;
}

export function local(e: PoolEntry, id: string): LocalUpstream {
  let l = e.local.get(id);
  if (l === undefined) {
    const v = e.snapshot.upstreams.find((x) => x.id === id);
    l = { inFlight: new Map(), ewma: undefined, breaker: v?.breaker ?? breaker.createBreaker() };
    e.local.set(id, l);
  }
  return l;
}

/** Whether `id`'s breaker lets a request through now; in half-open, asks the pool object for a probe slot. */
export async function admit(env: Cloudflare.Env, pool: string, e: PoolEntry, id: string, now: number, timeLeftMs: number): Promise<{ allowed: boolean; probe: boolean }> {
  const l = local(e, id);
  const status = breaker.statusAt(l.breaker, now);
  if (status === "closed") return { allowed: true, probe: false };
  if (status === "open") return { allowed: false, probe: false };
  // Half-open with every probe slot taken, as far as this isolate's copy knows: refuse without asking
  // (the copy is the object's as of the last snapshot, which shows the slots the object granted).
  if (l.breaker.status === "half-open" && breaker.retryAfterMs(l.breaker, now) > 0) return { allowed: false, probe: false };
  try {
    if (timeLeftMs <= 1) return { allowed: false, probe: false };
    const r = await withTimeout(poolStub(env, pool).probe(id), Math.min(POOL_CALL_TIMEOUT_MS, timeLeftMs));
    if (r.snapshot !== null) install(pool, r.snapshot, Date.now());
    return { allowed: r.allowed, probe: r.allowed };
  } catch {
    return { allowed: false, probe: false };
  }
}

/** Records one finished try in this isolate's copy (judged by path-blame first) and queues it for the pool object. */
export function record(e: PoolEntry, outcome: Outcome): void {
  const l = local(e, outcome.upstream);
  const j = judgeOutcome(e.blame, e.snapshot.config, outcome, outcome.at);
  e.blame = j.state;
  e.verdicts.set(outcome, j.verdict);
  l.breaker = breakerAfter(l.breaker, j.verdict, outcome.at, outcome.probe);
  if (outcome.latencyMs !== null) l.ewma = observeLatency(l.ewma, outcome.latencyMs, outcome.at);
  e.pending.push(outcome);
}

/**
 * Sends queued outcomes when one is urgent (a failure or probe) or many are queued; otherwise no later
 * than one TTL after the previous report (a delayed send in waitUntil, so the last requests of a burst
 * are reported too, not only when the next request comes). A report carries only what was queued when
 * it left: what is queued while it is in flight is sent by a follow-up once it is back.
 */
export function maybeFlush(env: Cloudflare.Env, pool: string, e: PoolEntry, ttlMs: number, waitUntil: (p: Promise<unknown>) => void): void {
  if (e.pending.length === 0) return;
  if (!due(e, ttlMs, Date.now())) {
    if (!e.scheduled) waitUntil(followUp(env, pool, e, ttlMs, "scheduled"));
  } else if (!e.flushing) {
    waitUntil(flush(env, pool, e));
  } else if (!e.behindReport) {
    waitUntil(followUp(env, pool, e, ttlMs, "behindReport"));
  }
}

/** Whether the queue should go now: it holds a failure or probe result, it is long, or a TTL has passed. */
function due(e: PoolEntry, ttlMs: number, now: number): boolean {
  return e.pending.length >= MAX_PENDING || now - e.lastFlush >= ttlMs || e.pending.some((o) => o.probe || isFailure(o.kind));
}

/**
 * A follow-up report, marked by `flag` while it waits: sends the queue once it is due and no report is
 * in flight (nothing, if another report took the queue meanwhile). The report in flight belongs to
 * another request, so it is looked at again after a short sleep rather than awaited: a promise of one
 * request awaited by another is cancelled if the first one ends.
 */
async function followUp(env: Cloudflare.Env, pool: string, e: PoolEntry, ttlMs: number, flag: "scheduled" | "behindReport"): Promise<void> {
  e[flag] = true;
  try {
    for (;;) {
      if (e.pending.length === 0) return;
      const now = Date.now();
      if (!due(e, ttlMs, now)) await sleep(e.lastFlush + ttlMs - now);
      else if (e.flushing) await sleep(REPORT_POLL_MS);
      else break;
    }
  } finally {
    // Cleared before the report leaves: what is queued while it is in flight needs a follow-up of its own.
    e[flag] = false;
  }
  await flush(env, pool, e);
}

/** Reports the queued outcomes (and in-flight counts) and installs the snapshot that comes back. */
async function flush(env: Cloudflare.Env, pool: string, e: PoolEntry): Promise<void> {
  e.flushing = true;
  const batch = e.pending.splice(0, e.pending.length);
  const inFlight: Record<string, number> = {};
  const now = Date.now();
  for (const [id, l] of e.local) inFlight[id] = inFlightOf(e, l, now);
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
