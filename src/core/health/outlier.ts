import { requireFinite, requireInt, requirePositive } from "./checks";

/**
 * Passive outlier detection after Envoy's consecutive-error detectors
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier, and
 * source/common/upstream/outlier_detection_impl.cc). Per upstream of one pool:
 *
 * - Consecutive 5xx: every failure ("5xx" or "gateway") counts; `consecutive5xx` in a row eject.
 * - Consecutive gateway failure: "gateway" (502/503/504, connect error, timeout) counts, a non-gateway
 *   5xx resets it; `consecutiveGatewayFailure` in a row eject. (Envoy defaults this detector to not
 *   enforcing; here it always enforces.)
 * - A success resets both counters. Results reported for an upstream while it is ejected (requests
 *   sent before the ejection) are ignored: Envoy resets the counters on un-ejection anyway.
 * - Ejection time: base_ejection_time × the host's ejection multiplier, capped by max_ejection_time.
 *   The multiplier grows by one at each ejection (while multiplier × base < max + base, as Envoy) and
 *   decays by one per `multiplierDecayMs` (Envoy's `interval`) the upstream spends un-ejected; Envoy
 *   does that on a timer, here it is computed lazily from the time of the last un-ejection.
 * - The cap (current Envoy, `DetectorImpl::ejectHost`): an ejection happens only if
 *   100 × (ejectedNow + 1) / poolSize <= maxEjectionPercent, in floating point with no rounding; with
 *   `alwaysEjectOneHost` (Envoy's always_eject_one_host, added in v1.31) the first ejection happens
 *   regardless (ejectedNow === 0). Older Envoy (and gRPC's A50, which copied it) compared
 *   100 × ejectedNow / poolSize < max, which always allowed one ejection and could overshoot the cap
 *   by one; older docs described max_ejection_percent as "will eject at least one host regardless of
 *   the value". alwaysEjectOneHost = true gives that guarantee without the overshoot. Unlike Envoy,
 *   the last upstream not ejected is never ejected (ejectionAllowed), even at maxEjectionPercent 100.
 * - When an ejection is attempted (made or refused by the cap) the counter(s) that reached their
 *   threshold are reset, as Envoy does, so a refused upstream needs a fresh run of failures to retry.
 * - Un-ejection is automatic once the ejection time has passed: `isEjected` compares with `now`.
 */

export type OutlierResult = "success" | "5xx" | "gateway";

export interface OutlierConfig {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  alwaysEjectOneHost: boolean;
  /** Envoy's `interval`: the multiplier drops by one per this much un-ejected time. */
  multiplierDecayMs: number;
}

/**
 * Envoy's defaults (5, 5, 30 s, 300 s, 10 %, 10 s) except alwaysEjectOneHost (Envoy: false): our pools
 * have a handful of upstreams, and with 10 % and fewer than 10 upstreams nothing could ever be ejected.
 */
export const DEFAULT_OUTLIER_CONFIG: Readonly<OutlierConfig> = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
  alwaysEjectOneHost: true,
  multiplierDecayMs: 10_000,
};

export interface UpstreamOutlierState {
  consecutive5xx: number;
  consecutiveGateway: number;
  /** Ejection-time multiplier as of `ejectedUntil` (Envoy: ejectTimeBackoff). */
  multiplier: number;
  ejectedAt: number | null;
  /** End of the current or last ejection, null if never ejected. */
  ejectedUntil: number | null;
  /** Ejections so far (for statistics). */
  ejections: number;
}

/** One pool's outlier state: plain JSON, keyed by upstream id. */
export interface OutlierState {
  config: OutlierConfig;
  upstreams: Record<string, UpstreamOutlierState>;
}

export type OutlierEvent = "none" | "ejected" | "overflow";

export interface OutlierStep {
  state: OutlierState;
  /** "ejected": this result ejected the upstream; "overflow": it qualified but the max-percent cap refused. */
  event: OutlierEvent;
}

function validateConfig(c: OutlierConfig): void {
  requireInt("consecutive5xx", c.consecutive5xx, 1);
  requireInt("consecutiveGatewayFailure", c.consecutiveGatewayFailure, 1);
  requirePositive("baseEjectionMs", c.baseEjectionMs);
  requirePositive("maxEjectionMs", c.maxEjectionMs);
  if (c.maxEjectionMs < c.baseEjectionMs) throw new RangeError("maxEjectionMs cannot be smaller than baseEjectionMs (Envoy rejects it too)");
  requirePositive("maxEjectionPercent", c.maxEjectionPercent, true);
  if (c.maxEjectionPercent > 100) throw new RangeError(`maxEjectionPercent must be <= 100, got ${c.maxEjectionPercent}`);
  requirePositive("multiplierDecayMs", c.multiplierDecayMs);
}

/** A pool with no history. Throws RangeError on an invalid configuration. */
export function createOutlierDetector(config: Partial<OutlierConfig> = {}): OutlierState {
  const full: OutlierConfig = { ...DEFAULT_OUTLIER_CONFIG, ...config };
  validateConfig(full);
  return { config: full, upstreams: {} };
}

const FRESH: UpstreamOutlierState = { consecutive5xx: 0, consecutiveGateway: 0, multiplier: 0, ejectedAt: null, ejectedUntil: null, ejections: 0 };

/** The upstream's record (own properties only: an id such as "__proto__" must not reach Object.prototype). */
export function upstreamState(state: OutlierState, id: string): UpstreamOutlierState {
  return Object.hasOwn(state.upstreams, id) ? (state.upstreams[id] ?? FRESH) : FRESH;
}

function ejectedNow(u: UpstreamOutlierState, now: number): boolean {
  return u.ejectedUntil !== null && now < u.ejectedUntil;
}

/** Whether `id` is ejected at `now`. */
export function isEjected(state: OutlierState, id: string, now: number): boolean {
  return ejectedNow(upstreamState(state, id), now);
}

/** Ids ejected at `now`, sorted. */
export function ejected(state: OutlierState, now: number): string[] {
  return Object.keys(state.upstreams)
    .filter((id) => ejectedNow(upstreamState(state, id), now))
    .sort();
}

/** The multiplier at `now` for an upstream not currently ejected: one less per multiplierDecayMs since it returned. */
export function effectiveMultiplier(c: OutlierConfig, u: UpstreamOutlierState, now: number): number {
  if (u.ejectedUntil === null || u.multiplier === 0) return u.multiplier;
  const healthyFor = Math.max(0, now - u.ejectedUntil);
  return Math.max(0, u.multiplier - Math.floor(healthyFor / c.multiplierDecayMs));
}

/** How long an ejection starting now would last, and the multiplier it leaves. */
export function nextEjection(c: OutlierConfig, u: UpstreamOutlierState, now: number): { durationMs: number; multiplier: number } {
  let m = effectiveMultiplier(c, u, now);
  if (m * c.baseEjectionMs < c.maxEjectionMs + c.baseEjectionMs) m += 1;
  return { durationMs: Math.min(c.baseEjectionMs * m, c.maxEjectionMs), multiplier: m };
}

/**
 * Envoy's cap: may one more upstream be ejected from a pool of poolSize with `active` already out?
 * Never the last one: whatever the percentage, at least one upstream stays routable (a pool of one
 * is never ejected from), so answers to client-chosen requests cannot empty the pool.
 */
export function ejectionAllowed(c: OutlierConfig, active: number, poolSize: number): boolean {
  if (active + 1 >= poolSize) return false;
  if (c.alwaysEjectOneHost && active === 0) return true;
  return (100 * (active + 1)) / poolSize <= c.maxEjectionPercent;
}

function put(state: OutlierState, id: string, u: UpstreamOutlierState): OutlierState {
  return { config: state.config, upstreams: { ...state.upstreams, [id]: u } };
}

/**
 * Records the outcome of one request to `upstreamId` at `now`, in a pool of `poolSize` upstreams
 * (the pool's current membership; upstreams ejected at `now` are counted from the state).
 */
export function onResult(state: OutlierState, upstreamId: string, kind: OutlierResult, now: number, poolSize: number): OutlierStep {
  requireFinite("now", now);
  requireInt("poolSize", poolSize, 1);
  const c = state.config;
  const u = upstreamState(state, upstreamId);
  if (ejectedNow(u, now)) return { state, event: "none" };

  if (kind === "success") {
    if (u.consecutive5xx === 0 && u.consecutiveGateway === 0) return { state, event: "none" };
    return { state: put(state, upstreamId, { ...u, consecutive5xx: 0, consecutiveGateway: 0 }), event: "none" };
  }

  const c5 = u.consecutive5xx + 1;
  const cg = kind === "gateway" ? u.consecutiveGateway + 1 : 0;
  const hit5xx = c5 >= c.consecutive5xx;
  const hitGateway = cg >= c.consecutiveGatewayFailure;
  if (!hit5xx && !hitGateway) return { state: put(state, upstreamId, { ...u, consecutive5xx: c5, consecutiveGateway: cg }), event: "none" };

  const active = ejected(state, now).length;
  if (!ejectionAllowed(c, active, poolSize)) {
    const refused = { ...u, consecutive5xx: hit5xx ? 0 : c5, consecutiveGateway: hitGateway ? 0 : cg };
    return { state: put(state, upstreamId, refused), event: "overflow" };
  }
  const { durationMs, multiplier } = nextEjection(c, u, now);
  const out: UpstreamOutlierState = {
    consecutive5xx: 0,
    consecutiveGateway: 0,
    multiplier,
    ejectedAt: now,
    ejectedUntil: now + durationMs,
    ejections: u.ejections + 1,
  };
  return { state: put(state, upstreamId, out), event: "ejected" };
}

/**
 * Returns an ejected upstream to service early (Envoy: a passed active health check un-ejects, unless
 * successful_active_health_check_uneject_host is false). The multiplier starts decaying from `now`.
 */
export function uneject(state: OutlierState, id: string, now: number): OutlierState {
  requireFinite("now", now);
  const u = upstreamState(state, id);
  if (!ejectedNow(u, now)) return state;
  return put(state, id, { ...u, consecutive5xx: 0, consecutiveGateway: 0, ejectedUntil: now });
}

/** Drops upstreams no longer in the pool, so they neither count towards the cap nor grow the state. */
export function retain(state: OutlierState, ids: readonly string[]): OutlierState {
  const keep = new Set(ids);
  // fromEntries defines own properties, so even an id like "__proto__" stays a plain key.
  const upstreams = Object.fromEntries(Object.keys(state.upstreams).filter((id) => keep.has(id)).map((id) => [id, upstreamState(state, id)]));
  return { config: state.config, upstreams };
}
