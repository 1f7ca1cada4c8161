import { z } from "zod";
import { requireFinite, requireInt, requirePositive } from "./checks";

// Why not cockatiel (DESIGN.md prefers a well-kept library): cockatiel's CircuitBreakerPolicy keeps its
// state (status, failure counts, timers) in the memory of the process that created it, and changes it
// by side effect. Our breaker is shared by every isolate that proxies to a pool, so its state must be a
// plain JSON value that the UpstreamPool Durable Object can persist and hand out, and its transitions
// pure functions of (state, event, now) that can run identically anywhere. cockatiel is not a
// dependency of this project (package.json), and none is added for this.

/**
 * A circuit breaker: closed → open → half-open → closed | open.
 *
 * - closed: every request is allowed. It opens on `consecutiveFailures` failures in a row, or when the
 *   rolling window (`windowMs`, in `buckets` buckets) holds at least `minimumRequests` outcomes and
 *   the failure rate is >= `failureRateThreshold`.
 * - open: every request is refused until `openUntil`. The n-th opening in a row (no close in between)
 *   lasts openMs · openBackoffMultiplier^(n-1), at most maxOpenMs.
 * - half-open: entered lazily by the first tryAcquire at or after `openUntil`. At most
 *   `halfOpenMaxProbes` probe requests are in flight at once; `successThreshold` probe successes close
 *   it (window and counters cleared), one probe failure re-opens it for longer. A probe whose result
 *   never arrives (its isolate died) frees its slot after `probeTimeoutMs`, so the breaker cannot stay
 *   half-open and refuse everything forever.
 *
 * Sharing across isolates: the Durable Object is the single writer. It applies every reported outcome
 * and hands out snapshots; an isolate may answer tryAcquire from its cached snapshot while closed or
 * while open before openUntil (neither changes state), and must ask the object for half-open probe
 * slots, so the probe limit holds globally. `merge` folds two copies of the state into one: the later
 * generation (one per transition) wins; copies of the same generation are joined field by field with
 * max, which is commutative, associative and idempotent, so snapshots that arrive twice, late or out of
 * order are harmless (at worst an undercount of concurrent outcomes, never a double count).
 */

export type BreakerStatus = "closed" | "open" | "half-open";

export interface BreakerConfig {
  /** Consecutive failures that open a closed breaker. */
  consecutiveFailures: number;
  /** Failure rate in (0, 1] over the rolling window that opens it, once minimumRequests is reached. */
  failureRateThreshold: number;
  /** Outcomes the window must hold before the failure rate is considered. */
  minimumRequests: number;
  /** Length of the rolling window. */
  windowMs: number;
  /** Buckets the window is divided into; outcomes leave the window a bucket at a time. */
  buckets: number;
  /** Duration of the first opening. */
  openMs: number;
  /** Each further opening without a close in between lasts this many times longer (1: constant). */
  openBackoffMultiplier: number;
  /** Cap on the open duration. */
  maxOpenMs: number;
  /** Probe requests admitted concurrently while half-open. */
  halfOpenMaxProbes: number;
  /** Probe successes that close the breaker. */
  successThreshold: number;
  /** A probe that has not reported after this long no longer holds a slot. */
  probeTimeoutMs: number;
}

export const DEFAULT_BREAKER_CONFIG: Readonly<BreakerConfig> = {
  consecutiveFailures: 5,
  failureRateThreshold: 0.5,
  minimumRequests: 20,
  windowMs: 10_000,
  buckets: 10,
  openMs: 5_000,
  openBackoffMultiplier: 2,
  maxOpenMs: 60_000,
  halfOpenMaxProbes: 1,
  successThreshold: 1,
  probeTimeoutMs: 30_000,
};

/** One bucket of the rolling window: outcomes recorded while floor(now / bucketMs) === epoch. */
export interface WindowBucket {
  epoch: number;
  successes: number;
  failures: number;
}

/** The breaker's whole state: plain JSON (no Map, no Date, no class), safe to store and send. */
export interface BreakerState {
  config: BreakerConfig;
  status: BreakerStatus;
  /** Incremented on every status transition; orders copies for `merge`. */
  generation: number;
  consecutiveFailures: number;
  /** Non-empty buckets of the rolling window, oldest first, at most config.buckets. */
  window: WindowBucket[];
  /** Openings since the last close; drives the open-duration backoff. */
  openings: number;
  openedAt: number | null;
  openUntil: number | null;
  /** Acquisition times of the half-open probes in flight. */
  probes: number[];
  /** Probe successes in the current half-open period. */
  probeSuccesses: number;
}

export interface Acquisition {
  allowed: boolean;
  state: BreakerState;
  /** The request is a half-open probe: report its outcome with probe = true. */
  probe: boolean;
}

const configSchema = z.object({
  consecutiveFailures: z.number().int().min(1),
  failureRateThreshold: z.number().gt(0).max(1),
  minimumRequests: z.number().int().min(1),
  windowMs: z.number().positive().finite(),
  buckets: z.number().int().min(1),
  openMs: z.number().positive().finite(),
  openBackoffMultiplier: z.number().min(1).finite(),
  maxOpenMs: z.number().positive().finite(),
  halfOpenMaxProbes: z.number().int().min(1),
  successThreshold: z.number().int().min(1),
  probeTimeoutMs: z.number().positive().finite(),
});

const count = z.number().int().nonnegative();
const time = z.number().finite();

/** Schema of a snapshot received from elsewhere (another isolate, storage written by an older build). */
export const breakerStateSchema = z.object({
  config: configSchema,
  status: z.enum(["closed", "open", "half-open"]),
  generation: count,
  consecutiveFailures: count,
  window: z.array(z.object({ epoch: z.number().int(), successes: count, failures: count })),
  openings: count,
  openedAt: time.nullable(),
  openUntil: time.nullable(),
  probes: z.array(time),
  probeSuccesses: count,
});

function validateConfig(c: BreakerConfig): void {
  requireInt("consecutiveFailures", c.consecutiveFailures, 1);
  requirePositive("failureRateThreshold", c.failureRateThreshold);
  if (c.failureRateThreshold > 1) throw new RangeError(`failureRateThreshold must be <= 1, got ${c.failureRateThreshold}`);
  requireInt("minimumRequests", c.minimumRequests, 1);
  requirePositive("windowMs", c.windowMs);
  requireInt("buckets", c.buckets, 1);
  requirePositive("openMs", c.openMs);
  requireFinite("openBackoffMultiplier", c.openBackoffMultiplier);
  if (c.openBackoffMultiplier < 1) throw new RangeError(`openBackoffMultiplier must be >= 1, got ${c.openBackoffMultiplier}`);
  requirePositive("maxOpenMs", c.maxOpenMs);
  requireInt("halfOpenMaxProbes", c.halfOpenMaxProbes, 1);
  requireInt("successThreshold", c.successThreshold, 1);
  requirePositive("probeTimeoutMs", c.probeTimeoutMs);
}

/** A closed breaker with an empty window. Throws RangeError on an invalid configuration. */
export function createBreaker(config: Partial<BreakerConfig> = {}): BreakerState {
  const full: BreakerConfig = { ...DEFAULT_BREAKER_CONFIG, ...config };
  validateConfig(full);
  return { config: full, generation: 0, ...CLOSED };
}

/** What a closed breaker starts from: no failures, an empty window, no openings, no probes. */
const CLOSED = {
  status: "closed",
  consecutiveFailures: 0,
  window: [],
  openings: 0,
  openedAt: null,
  openUntil: null,
  probes: [],
  probeSuccesses: 0,
} as const satisfies Omit<BreakerState, "config" | "generation">;

function epochOf(c: BreakerConfig, now: number): number {
  return Math.floor(now / (c.windowMs / c.buckets));
}

/** The buckets still inside the window at `now` (a clock slightly behind keeps newer buckets). */
function liveBuckets(c: BreakerConfig, window: readonly WindowBucket[], now: number): WindowBucket[] {
  const oldest = epochOf(c, now) - c.buckets + 1;
  const live = window.filter((b) => b.epoch >= oldest);
  return live.length > c.buckets ? live.slice(live.length - c.buckets) : live;
}

function record(c: BreakerConfig, window: readonly WindowBucket[], now: number, failed: boolean): WindowBucket[] {
  const epoch = epochOf(c, now);
  const live = liveBuckets(c, window, now);
  const at = live.findIndex((b) => b.epoch >= epoch);
  const add = (b: WindowBucket): WindowBucket => (failed ? { ...b, failures: b.failures + 1 } : { ...b, successes: b.successes + 1 });
  if (at >= 0 && live[at]?.epoch === epoch) return live.map((b, i) => (i === at ? add(b) : b));
  const fresh = add({ epoch, successes: 0, failures: 0 });
  const next = at < 0 ? [...live, fresh] : [...live.slice(0, at), fresh, ...live.slice(at)];
  return next.length > c.buckets ? next.slice(next.length - c.buckets) : next;
}

/** Outcomes in the rolling window at `now`. */
export function windowCounts(state: BreakerState, now: number): { successes: number; failures: number } {
  let successes = 0;
  let failures = 0;
  for (const b of liveBuckets(state.config, state.window, now)) {
    successes += b.successes;
    failures += b.failures;
  }
  return { successes, failures };
}

/** How long the next opening lasts, given the openings already made since the last close. */
export function openDuration(c: BreakerConfig, previousOpenings: number): number {
  return Math.min(c.openMs * c.openBackoffMultiplier ** Math.min(previousOpenings, 1_000), c.maxOpenMs);
}

function open(state: BreakerState, now: number): BreakerState {
  return {
    ...state,
    status: "open",
    generation: state.generation + 1,
    consecutiveFailures: 0,
    openings: state.openings + 1,
    openedAt: now,
    openUntil: now + openDuration(state.config, state.openings),
    probes: [],
    probeSuccesses: 0,
  };
}

function close(state: BreakerState): BreakerState {
  return { ...state, ...CLOSED, generation: state.generation + 1 };
}

function shouldTrip(state: BreakerState, now: number): boolean {
  const c = state.config;
  if (state.consecutiveFailures >= c.consecutiveFailures) return true;
  const { successes, failures } = windowCounts(state, now);
  const total = successes + failures;
  return total >= c.minimumRequests && failures / total >= c.failureRateThreshold;
}

/**
 * Whether an open breaker still refuses at `now`: before openUntil, and never for longer than
 * maxOpenMs from `now` (a clock read behind the one that opened it, as clocks of different request
 * contexts can be, must not stretch an opening past the configured maximum).
 */
function stillOpen(state: BreakerState, now: number): boolean {
  return state.openUntil !== null && now < state.openUntil && state.openUntil - now <= state.config.maxOpenMs;
}

/** The status as of `now`: an open breaker whose time is up reports half-open (without changing state). */
export function statusAt(state: BreakerState, now: number): BreakerStatus {
  if (state.status === "open" && !stillOpen(state, now)) return "half-open";
  return state.status;
}

/** Milliseconds until a refused request could be admitted (0 if it could be now): for Retry-After. */
export function retryAfterMs(state: BreakerState, now: number): number {
  if (state.status === "open" && state.openUntil !== null) return stillOpen(state, now) ? state.openUntil - now : 0;
  if (state.status === "half-open") {
    const live = state.probes.filter((t) => now - t < state.config.probeTimeoutMs);
    if (live.length < state.config.halfOpenMaxProbes) return 0;
    return Math.max(0, Math.min(...live) + state.config.probeTimeoutMs - now);
  }
  return 0;
}

/** Asks to send a request at `now`. Closed: allowed. Open: refused until openUntil. Half-open: a probe, if a slot is free. */
export function tryAcquire(state: BreakerState, now: number): Acquisition {
  requireFinite("now", now);
  let s = state;
  if (s.status === "closed") return { allowed: true, state: s, probe: false };
  if (s.status === "open") {
    if (stillOpen(s, now)) return { allowed: false, state: s, probe: false };
    s = { ...s, status: "half-open", generation: s.generation + 1, probes: [], probeSuccesses: 0 };
  }
  const probes = s.probes.filter((t) => now - t < s.config.probeTimeoutMs);
  if (probes.length >= s.config.halfOpenMaxProbes) {
    return { allowed: false, state: probes.length === s.probes.length ? s : { ...s, probes }, probe: false };
  }
  return { allowed: true, state: { ...s, probes: [...probes, now] }, probe: true };
}

/** Frees the slot of one probe (the oldest: probes are interchangeable). */
function releaseProbe(probes: readonly number[]): number[] {
  return probes.length === 0 ? [] : probes.slice(1);
}

/**
 * Reports a success at `now`. A probe success while half-open counts towards closing. A success that
 * arrives while open (a request admitted before it opened) changes nothing.
 */
export function onSuccess(state: BreakerState, now: number, probe: boolean): BreakerState {
  requireFinite("now", now);
  if (state.status === "half-open") {
    if (!probe) return state;
    const s: BreakerState = { ...state, probes: releaseProbe(state.probes), probeSuccesses: state.probeSuccesses + 1 };
    return s.probeSuccesses >= s.config.successThreshold ? close(s) : s;
  }
  if (state.status === "open") return state;
  const s: BreakerState = { ...state, consecutiveFailures: 0, window: record(state.config, state.window, now, false) };
  // A success can complete the minimum volume over a window that is already failing too often.
  return shouldTrip(s, now) ? open(s, now) : s;
}

/**
 * Reports a failure at `now`. A probe failure while half-open re-opens the breaker for longer. A
 * failure that arrives while open changes nothing (the breaker already stopped traffic).
 */
export function onFailure(state: BreakerState, now: number, probe: boolean): BreakerState {
  requireFinite("now", now);
  if (state.status === "half-open") return probe ? open(state, now) : state;
  if (state.status === "open") return state;
  const s: BreakerState = {
    ...state,
    consecutiveFailures: state.consecutiveFailures + 1,
    window: record(state.config, state.window, now, true),
  };
  return shouldTrip(s, now) ? open(s, now) : s;
}

/**
 * Reports a try that says nothing about the upstream (judged the request's fault: see path-blame.ts).
 * It counts neither way; a probe's slot is freed so another probe can decide.
 */
export function onNeutral(state: BreakerState, now: number, probe: boolean): BreakerState {
  requireFinite("now", now);
  if (state.status !== "half-open" || !probe) return state;
  return { ...state, probes: releaseProbe(state.probes) };
}

/** A deep copy that is plain JSON: what the Durable Object stores and sends to isolates. */
export function snapshot(state: BreakerState): BreakerState {
  return {
    ...state,
    config: { ...state.config },
    window: state.window.map((b) => ({ ...b })),
    probes: [...state.probes],
  };
}

/** Parses a snapshot from untrusted or older input (JSON from another isolate, storage). Throws a ZodError if malformed. */
export function parseBreakerState(input: unknown): BreakerState {
  const parsed = breakerStateSchema.parse(input);
  validateConfig(parsed.config);
  return parsed;
}

const STATUS_RANK: Record<BreakerStatus, number> = { closed: 0, "half-open": 1, open: 2 };

function maxNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function mergeWindows(a: readonly WindowBucket[], b: readonly WindowBucket[], buckets: number): WindowBucket[] {
  const byEpoch = new Map<number, WindowBucket>();
  for (const x of [...a, ...b]) {
    const y = byEpoch.get(x.epoch);
    byEpoch.set(x.epoch, y === undefined ? { ...x } : { epoch: x.epoch, successes: Math.max(x.successes, y.successes), failures: Math.max(x.failures, y.failures) });
  }
  const merged = [...byEpoch.values()].sort((x, y) => x.epoch - y.epoch);
  return merged.length > buckets ? merged.slice(merged.length - buckets) : merged;
}

/**
 * Joins two copies of one breaker's state. The later generation wins outright; at equal generation
 * the more cautious status wins (open > half-open > closed: two copies that diverged from the same
 * half-open state, one closing and one re-opening, settle on open), and copies with the same status
 * are joined field by field with max. Commutative, associative and idempotent.
 */
export function merge(a: BreakerState, b: BreakerState): BreakerState {
  if (a.generation !== b.generation) return snapshot(a.generation > b.generation ? a : b);
  if (a.status !== b.status) return snapshot(STATUS_RANK[a.status] > STATUS_RANK[b.status] ? a : b);
  // Same generation, same status: configs should match; if a deploy changed one, pick deterministically.
  const ca = JSON.stringify(a.config);
  const cb = JSON.stringify(b.config);
  const config = ca >= cb ? { ...a.config } : { ...b.config };
  return {
    config,
    status: a.status,
    generation: a.generation,
    consecutiveFailures: Math.max(a.consecutiveFailures, b.consecutiveFailures),
    window: mergeWindows(a.window, b.window, config.buckets),
    openings: Math.max(a.openings, b.openings),
    openedAt: maxNullable(a.openedAt, b.openedAt),
    openUntil: maxNullable(a.openUntil, b.openUntil),
    // Probe slots: keep the copy that holds more (the cautious choice); ties keep the later times.
    probes: [...pickProbes(a.probes, b.probes)],
    probeSuccesses: Math.max(a.probeSuccesses, b.probeSuccesses),
  };
}

function pickProbes(a: readonly number[], b: readonly number[]): readonly number[] {
  if (a.length !== b.length) return a.length > b.length ? a : b;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y ? a : b;
  }
  return a;
}
