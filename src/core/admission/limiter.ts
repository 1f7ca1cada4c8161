// An adaptive concurrency limit, after Netflix's concurrency-limits AIMD limiter: while the limit is in
// use and calls succeed it grows by one per success (additive increase); a drop (a call timed out, the
// runtime said the object is overloaded, or a call took longer than the latency target) cuts it by
// `backoffRatio`, at most once per round trip (multiplicative decrease). Latency is tracked (a long-
// and a short-term average) to estimate how fast a queue drains, but it moves the limit only through
// the target: on this runtime every object's latency rises together when the shared event loop is busy,
// so a per-object latency gradient (Gradient2) shrinks every limit at once and starves the process;
// measured here, a 120-request burst then took twice as long and shed half of itself.
// Pure: time comes in as arguments.

export interface LimiterConfig {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** A success slower than this counts as a drop (null: latency never moves the limit). */
  latencyTargetMs: number | null;
  /** Samples in the long-term window (the EWMA's equivalent length). */
  longWindow: number;
  /** Samples in the short-term window. */
  shortWindow: number;
  /** Factor applied to the limit on a drop. */
  backoffRatio: number;
}

export const DEFAULT_LIMITER_CONFIG: Readonly<LimiterConfig> = {
  initialLimit: 20,
  minLimit: 2,
  maxLimit: 200,
  latencyTargetMs: null,
  longWindow: 600,
  shortWindow: 10,
  backoffRatio: 0.9,
};

/** Admission in front of one object: its limiter, and how many calls may wait for a slot. */
export interface AdmissionConfig {
  limiter: Partial<LimiterConfig>;
  /** Calls that may wait for a slot of one object; more are shed at once. */
  maxQueue: number;
}

export interface LimiterState {
  config: LimiterConfig;
  /** The current limit (fractional; callers use its floor, at least minLimit). */
  limit: number;
  /** EWMA of latency over the long window, ms (null before the first sample). */
  longRttMs: number | null;
  /** EWMA over the short window, ms. */
  shortRttMs: number | null;
  samples: number;
  drops: number;
  /** When the limit was last cut for a drop: one cut per short-term round trip, so a burst of timeouts is one signal. */
  lastDropAt: number | null;
}

/** A limiter at its initial limit with no samples. Throws RangeError on an invalid configuration. */
export function createLimiter(config: Partial<LimiterConfig> = {}): LimiterState {
  const c: LimiterConfig = { ...DEFAULT_LIMITER_CONFIG, ...config };
  if (!(c.minLimit >= 1 && c.maxLimit >= c.minLimit && c.initialLimit >= c.minLimit && c.initialLimit <= c.maxLimit))
    throw new RangeError(`limits must satisfy 1 <= min <= initial <= max, got ${c.minLimit} ${c.initialLimit} ${c.maxLimit}`);
  if (!(c.backoffRatio > 0 && c.backoffRatio < 1)) throw new RangeError("backoffRatio must be in (0, 1)");
  if (c.latencyTargetMs !== null && !(c.latencyTargetMs > 0)) throw new RangeError("latencyTargetMs must be positive");
  if (!(c.longWindow >= 1 && c.shortWindow >= 1)) throw new RangeError("windows must be >= 1 sample");
  return { config: c, limit: c.initialLimit, longRttMs: null, shortRttMs: null, samples: 0, drops: 0, lastDropAt: null };
}

/** The number of calls that may be in flight now. */
export function currentLimit(s: LimiterState): number {
  return Math.max(s.config.minLimit, Math.floor(s.limit));
}

function ewma(prev: number | null, sample: number, window: number): number {
  if (prev === null) return sample;
  const alpha = 2 / (window + 1);
  return prev + alpha * (sample - prev);
}

const clamp = (c: LimiterConfig, v: number) => Math.min(c.maxLimit, Math.max(c.minLimit, v));

/**
 * A call answered after `rttMs` at `now` while `inflight` calls (itself included) were out. The limit
 * grows only when it was in use (inflight at least half of it): an idle object proves nothing about
 * more. A success slower than the latency target is a drop.
 */
export function onSample(s: LimiterState, rttMs: number, inflight: number, now = 0): LimiterState {
  const c = s.config;
  const rtt = Math.max(0, rttMs);
  const next = { ...s, shortRttMs: ewma(s.shortRttMs, rtt, c.shortWindow), longRttMs: ewma(s.longRttMs, rtt, c.longWindow), samples: s.samples + 1 };
  if (c.latencyTargetMs !== null && rtt > c.latencyTargetMs) return onDrop(next, now);
  if (inflight * 2 < s.limit) return next;
  return { ...next, limit: clamp(c, s.limit + 1) };
}

/** A call was dropped at `now` (timed out, or the runtime reported the object overloaded). */
export function onDrop(s: LimiterState, now: number): LimiterState {
  const c = s.config;
  const window = Math.max(s.shortRttMs ?? 0, 10);
  if (s.lastDropAt !== null && now - s.lastDropAt < window) return { ...s, drops: s.drops + 1 };
  return { ...s, limit: clamp(c, s.limit * c.backoffRatio), drops: s.drops + 1, lastDropAt: now };
}

/**
 * Whether a call that would wait behind `queued` others can still be admitted before `deadlineAt`:
 * the queue drains about `limit` calls per short-term round trip. Unknown latency admits. Only the
 * wait is predicted: a call that starts in time is given its chance (its own timeout bounds it).
 */
export function canMeetDeadline(s: LimiterState, queued: number, now: number, deadlineAt: number): boolean {
  if (deadlineAt <= now) return false;
  if (s.shortRttMs === null) return true;
  const rounds = Math.floor(queued / currentLimit(s));
  return now + rounds * s.shortRttMs < deadlineAt;
}
