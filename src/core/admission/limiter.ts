// An adaptive concurrency limit for the calls one isolate makes to one object, after Netflix's
// concurrency-limits Gradient2 limiter: the limit follows the ratio of a long-term latency average
// (what the object costs when it is not queueing) to a short-term one (what it costs now). When the
// short-term latency rises above the long-term one times a tolerance, the limit shrinks towards the
// concurrency the object serves without queueing; while latency stays flat, it grows by a queue
// allowance (sqrt of the limit) per sample. A drop (the call timed out or the runtime said the object
// is overloaded) cuts the limit multiplicatively, as AIMD does. Pure: time comes in as arguments.

export interface LimiterConfig {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** Short-term latency above long-term × tolerance shrinks the limit. */
  tolerance: number;
  /** Weight of a new limit estimate (0..1]: smaller moves slower. */
  smoothing: number;
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
  tolerance: 2,
  smoothing: 0.2,
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
  if (!(c.tolerance >= 1) || !(c.smoothing > 0 && c.smoothing <= 1) || !(c.backoffRatio > 0 && c.backoffRatio < 1))
    throw new RangeError("tolerance >= 1, smoothing in (0, 1], backoffRatio in (0, 1)");
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
 * A call answered after `rttMs` while `inflight` calls (itself included) were out. The limit grows
 * only when it was in use (inflight at least half of it): an idle object proves nothing about more.
 */
export function onSample(s: LimiterState, rttMs: number, inflight: number): LimiterState {
  const c = s.config;
  const rtt = Math.max(0, rttMs);
  const shortRttMs = ewma(s.shortRttMs, rtt, c.shortWindow);
  let longRttMs = ewma(s.longRttMs, rtt, c.longWindow);
  // The long average drifts up under sustained load; pull it back so the limit can recover (Gradient2).
  if (longRttMs / Math.max(shortRttMs, 0.001) > 2) longRttMs *= 0.95;
  const next = { ...s, shortRttMs, longRttMs, samples: s.samples + 1 };
  if (inflight < s.limit / 2) return next;
  // The latency floor (1 ms) keeps sub-millisecond noise from swinging the gradient.
  const gradient = Math.max(0.5, Math.min(1, (c.tolerance * Math.max(longRttMs, 1)) / Math.max(shortRttMs, 1)));
  const estimate = s.limit * gradient + Math.sqrt(s.limit);
  return { ...next, limit: clamp(c, s.limit * (1 - c.smoothing) + estimate * c.smoothing) };
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
 * the queue drains about `limit` calls per short-term round trip. Unknown latency admits.
 */
export function canMeetDeadline(s: LimiterState, queued: number, now: number, deadlineAt: number): boolean {
  if (deadlineAt <= now) return false;
  if (s.shortRttMs === null) return true;
  const rounds = Math.floor(queued / currentLimit(s)) + 1;
  // The wait until a slot frees, plus the call itself.
  return now + rounds * s.shortRttMs <= deadlineAt;
}
