/**
 * The shared health of one load-balancer pool: what the UpstreamPool Durable Object keeps and hands
 * out. It ties the single-purpose cores together per upstream — rise/fall active checks, a phi-accrual
 * detector, Envoy-style outlier ejection, a circuit breaker and a peak-EWMA latency — and derives one
 * answer from them: may traffic go to this upstream now?
 *
 * Inputs are traffic outcomes reported (in batches) by the isolates that proxy, and active check
 * results from the object's alarm. Everything is plain JSON and a pure function of (state, event, now).
 */
import { type PeakEwma, observeLatency, estimateAt } from "../balancer/ewma";
import type { PoolConfig } from "../balancer/pool-config";
import { blameConfigOf, breakerConfigOf, outlierConfigOf, phiConfigOf, riseFallConfigOf } from "../balancer/pool-config";
import * as breaker from "./circuit-breaker";
import * as outlier from "./outlier";
import * as blame from "./path-blame";
import * as phiAccrual from "./phi-accrual";
import * as riseFall from "./rise-fall";

/** How a proxied try ended, as the proxy classifies it. */
export type OutcomeKind = "success" | "status-5xx" | "status-gateway" | "timeout" | "connect-error";

/** One proxied try, reported by an isolate. */
export interface Outcome {
  upstream: string;
  kind: OutcomeKind;
  /** Time to response headers (ms); null when no response came. */
  latencyMs: number | null;
  /** When the try ended, on the reporting isolate's clock. */
  at: number;
  /** The try was a half-open breaker probe granted by acquireProbe. */
  probe: boolean;
  /** The path below the pool (no query), for path-blame; absent: judged on the upstream alone. */
  path?: string;
}

/** One active health check's result. */
export interface CheckResult {
  ok: boolean;
  status: number | null;
  latencyMs: number | null;
  error: string | null;
}

export interface Counts {
  requests: number;
  successes: number;
  failures: number;
  timeouts: number;
  connectErrors: number;
  status5xx: number;
}

export interface UpstreamHealth {
  /** Fingerprint of the upstream's definition: a changed URL starts its health afresh. */
  url: string;
  checks: riseFall.RiseFallState | null;
  phi: phiAccrual.PhiState;
  breaker: breaker.BreakerState;
  ewma: PeakEwma | null;
  counts: Counts;
  lastCheck: (CheckResult & { at: number }) | null;
}

export interface PoolHealth {
  upstreams: Record<string, UpstreamHealth>;
  outlier: outlier.OutlierState;
  /** Which failures were the path's, not the upstream's (absent in health stored by earlier versions). */
  blame?: blame.BlameState;
}

/** What an isolate needs to route: per upstream, whether the object lets traffic go there, and the breaker. */
export interface UpstreamView {
  id: string;
  /** Healthy by checks and phi, and not ejected. The breaker is separate (the isolate merges its own copy). */
  admitted: boolean;
  /** When an unadmitted upstream may come back (ejection end), for Retry-After; null if unknown. */
  until: number | null;
  /** Healthy by the active checks alone (true without checks): what panic routing still respects. */
  checked: boolean;
  breaker: breaker.BreakerState;
}

const ZERO_COUNTS: Counts = { requests: 0, successes: 0, failures: 0, timeouts: 0, connectErrors: 0, status5xx: 0 };

function freshUpstream(config: PoolConfig, url: string): UpstreamHealth {
  return {
    url,
    checks: config.healthCheck === null ? null : riseFall.createRiseFall(riseFallConfigOf(config)),
    phi: phiAccrual.createPhiDetector(phiConfigOf(config)),
    breaker: breaker.createBreaker(breakerConfigOf(config)),
    ewma: null,
    counts: { ...ZERO_COUNTS },
    lastCheck: null,
  };
}

/** The health of a newly configured pool: every upstream healthy until shown otherwise. */
export function createPoolHealth(config: PoolConfig): PoolHealth {
  return reconcile({ upstreams: {}, outlier: outlier.createOutlierDetector(outlierConfigOf(config)) }, config);
}

/**
 * Adapts the health to a new configuration: upstreams that stay (same id and URL) keep their history
 * under the new detector settings; new or re-pointed ones start fresh; removed ones are dropped.
 */
export function reconcile(health: PoolHealth, config: PoolConfig): PoolHealth {
  const upstreams: Record<string, UpstreamHealth> = {};
  for (const u of config.upstreams) {
    const old = Object.hasOwn(health.upstreams, u.id) ? health.upstreams[u.id] : undefined;
    const fresh = freshUpstream(config, u.url);
    if (old === undefined || old.url !== u.url) {
      upstreams[u.id] = fresh;
      continue;
    }
    upstreams[u.id] = {
      ...old,
      checks: fresh.checks === null ? null : old.checks === null ? fresh.checks : { ...old.checks, config: fresh.checks.config },
      phi: { ...old.phi, config: fresh.phi.config },
      breaker: sameJson(old.breaker.config, fresh.breaker.config) ? old.breaker : fresh.breaker,
    };
  }
  const ids = config.upstreams.map((u) => u.id);
  const kept = outlier.retain(health.outlier, ids);
  const blamed = blame.prune(health.blame ?? blame.createBlame(), blameConfigOf(config), ids, Number.NEGATIVE_INFINITY);
  return { upstreams, outlier: { ...kept, config: outlier.createOutlierDetector(outlierConfigOf(config)).config }, blame: blamed };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function entry(health: PoolHealth, id: string): UpstreamHealth | undefined {
  return Object.hasOwn(health.upstreams, id) ? health.upstreams[id] : undefined;
}

function withUpstream(health: PoolHealth, id: string, u: UpstreamHealth): PoolHealth {
  return { ...health, upstreams: { ...health.upstreams, [id]: u } };
}

/** True when the try counts against the upstream (breaker failure, outlier failure). */
export function isFailure(kind: OutcomeKind): boolean {
  return kind !== "success";
}

function outlierKind(kind: OutcomeKind, verdict: blame.Verdict): outlier.OutlierResult {
  if (verdict === "success") return "success";
  return kind === "status-5xx" ? "5xx" : "gateway";
}

/**
 * Judges one outcome (src/core/health/path-blame.ts). Shared by the object and the isolates' own
 * copies of the breakers, so both judge the same way.
 */
export function judgeOutcome(state: blame.BlameState, config: PoolConfig, o: Outcome, now: number): { state: blame.BlameState; verdict: blame.Verdict } {
  return blame.judge(state, blameConfigOf(config), { upstream: o.upstream, path: o.path, kind: o.kind }, config.upstreams.map((u) => u.id), now);
}

/** The breaker after a judged try (at `at`): a "neutral" try (the path's fault, or not known yet) counts neither way. */
export function breakerAfter(b: breaker.BreakerState, verdict: blame.Verdict, at: number, probe: boolean): breaker.BreakerState {
  if (verdict === "neutral") return breaker.onNeutral(b, at, probe);
  return verdict === "failure" ? breaker.onFailure(b, at, probe) : breaker.onSuccess(b, at, probe);
}

/**
 * Applies a batch of reported outcomes at `now` (the object's clock). Outcomes for upstreams no longer
 * in the pool are ignored. Any HTTP answer, even a 5xx, is a phi heartbeat: the process is alive;
 * timeouts and refused connections are not.
 */
export function applyOutcomes(health: PoolHealth, config: PoolConfig, outcomes: readonly Outcome[], now: number): PoolHealth {
  let h = health;
  const poolSize = config.upstreams.length;
  const heard = new Set<string>();
  let judged = blame.prune(h.blame ?? blame.createBlame(), blameConfigOf(config), config.upstreams.map((u) => u.id), now);
  for (const o of outcomes) {
    const u = entry(h, o.upstream);
    if (u === undefined) continue;
    const failed = isFailure(o.kind);
    // The breaker and ejection run on the object's clock: reports from isolates arrive late and out
    // of order, and an isolate's clock is not the object's. They see the try as judged by path-blame.
    const j = judgeOutcome(judged, config, o, now);
    judged = j.state;
    const b = breakerAfter(u.breaker, j.verdict, now, o.probe);
    const c = u.counts;
    const counts: Counts = {
      requests: c.requests + 1,
      successes: c.successes + (failed ? 0 : 1),
      failures: c.failures + (failed ? 1 : 0),
      timeouts: c.timeouts + (o.kind === "timeout" ? 1 : 0),
      connectErrors: c.connectErrors + (o.kind === "connect-error" ? 1 : 0),
      status5xx: c.status5xx + (o.kind === "status-5xx" || o.kind === "status-gateway" ? 1 : 0),
    };
    const ewma = o.latencyMs === null ? u.ewma : observeLatency(u.ewma ?? undefined, o.latencyMs, o.at);
    if (o.latencyMs !== null) heard.add(o.upstream);
    h = withUpstream(h, o.upstream, { ...u, breaker: b, counts, ewma });
    if (j.verdict !== "neutral") h = { ...h, outlier: outlier.onResult(h.outlier, o.upstream, outlierKind(o.kind, j.verdict), now, poolSize).state };
  }
  h = { ...h, blame: judged };
  for (const id of heard) {
    const u = entry(h, id);
    if (u !== undefined) h = withUpstream(h, id, { ...u, phi: phiAccrual.heartbeat(u.phi, now) });
  }
  return h;
}

/**
 * Applies one active check at `now`. A pass is a phi heartbeat, and un-ejects an ejected upstream
 * once rise/fall counts it healthy again (as Envoy does after a successful active check).
 */
export function applyCheck(health: PoolHealth, id: string, result: CheckResult, now: number): PoolHealth {
  const u = entry(health, id);
  if (u === undefined) return health;
  const checks = u.checks === null ? null : riseFall.recordCheck(u.checks, result.ok).state;
  const phi = result.ok ? phiAccrual.heartbeat(u.phi, now) : u.phi;
  let h = withUpstream(health, id, { ...u, checks, phi, lastCheck: { ...result, at: now } });
  if (result.ok && checks !== null && riseFall.isHealthy(checks)) h = { ...h, outlier: outlier.uneject(h.outlier, id, now) };
  return h;
}

/** Grants (or refuses) a half-open probe slot on `id`'s breaker at `now`. The object is the only grantor. */
export function acquireProbe(health: PoolHealth, id: string, now: number): { health: PoolHealth; allowed: boolean; probe: boolean } {
  const u = entry(health, id);
  if (u === undefined) return { health, allowed: false, probe: false };
  const a = breaker.tryAcquire(u.breaker, now);
  return { health: withUpstream(health, id, { ...u, breaker: a.state }), allowed: a.allowed, probe: a.probe };
}

/** Healthy by active checks (when configured) and by phi (only meaningful with checks: they are the steady heartbeat). */
function checkedHealthy(config: PoolConfig, u: UpstreamHealth, now: number): boolean {
  if (u.checks === null || config.healthCheck === null) return true;
  return riseFall.isHealthy(u.checks) && phiAccrual.phi(u.phi, now) < config.phiThreshold;
}

/** What isolates route with, as of `now`. */
export function viewOf(health: PoolHealth, config: PoolConfig, now: number): UpstreamView[] {
  return config.upstreams.map((cu) => {
    const u = entry(health, cu.id) ?? freshUpstream(config, cu.url);
    const ejected = outlier.isEjected(health.outlier, cu.id, now);
    const checked = checkedHealthy(config, u, now);
    const admitted = !ejected && checked;
    const until = ejected ? outlier.upstreamState(health.outlier, cu.id).ejectedUntil : null;
    return { id: cu.id, admitted, until, checked, breaker: u.breaker };
  });
}

export interface UpstreamStatus {
  id: string;
  url: string;
  weight: number;
  available: boolean;
  health: "healthy" | "unhealthy";
  phi: number | null;
  ejected: boolean;
  ejectedUntil: number | null;
  ejections: number;
  breaker: { status: breaker.BreakerStatus; openUntil: number | null };
  inFlight: number;
  ewmaMs: number | null;
  counts: Counts;
  lastCheck: (CheckResult & { at: number }) | null;
}

/** The operator's view of every upstream at `now`; `inFlight` is supplied by the shell (it is per isolate). */
export function statusOf(health: PoolHealth, config: PoolConfig, now: number, inFlight: (id: string) => number): UpstreamStatus[] {
  const views = new Map(viewOf(health, config, now).map((v) => [v.id, v]));
  return config.upstreams.map((cu) => {
    const u = entry(health, cu.id) ?? freshUpstream(config, cu.url);
    const v = views.get(cu.id);
    const breakerStatus = breaker.statusAt(u.breaker, now);
    const ejected = outlier.isEjected(health.outlier, cu.id, now);
    const o = outlier.upstreamState(health.outlier, cu.id);
    return {
      id: cu.id,
      url: cu.url,
      weight: cu.weight,
      available: (v?.admitted ?? false) && breakerStatus !== "open",
      health: checkedHealthy(config, u, now) ? "healthy" : "unhealthy",
      phi: u.phi.lastArrival === null ? null : round3(phiAccrual.phi(u.phi, now)),
      ejected,
      ejectedUntil: ejected ? o.ejectedUntil : null,
      ejections: o.ejections,
      breaker: { status: breakerStatus, openUntil: breakerStatus === "closed" ? null : u.breaker.openUntil },
      inFlight: inFlight(cu.id),
      ewmaMs: u.ewma === null ? null : round3(estimateAt(u.ewma, Math.max(now, u.ewma.lastAt)) ?? 0),
      counts: u.counts,
      lastCheck: u.lastCheck,
    };
  });
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
