import { requireFinite, requireInt, requirePositive } from "./checks";

/**
 * The phi-accrual failure detector: Hayashibara, Défago, Yared, Katayama, "The φ Accrual Failure
 * Detector" (SRDS 2004), with the refinements Akka's `PhiAccrualFailureDetector` adds (and Cassandra
 * shares the idea): a bounded window of inter-arrival times, a floor on the standard deviation, an
 * acceptable heartbeat pause added to the mean, and a bootstrap from an estimated first interval.
 *
 *   phi(now) = -log10(1 - F(now - lastArrival)),  F = CDF of N(mean + acceptablePause, stdDev²)
 *
 * phi = 1 means a 10% chance that the silence so far is normal, phi = 8 a 1e-8 chance.
 *
 * Here a heartbeat is any evidence the upstream is alive: a passed health check or a successful
 * traffic reply. Traffic is bursty and health checks are periodic, so the inter-arrival distribution
 * mixes both; set `acceptableHeartbeatPauseMs` to at least the health-check interval so a quiet
 * spell with no traffic (only checks) is not taken for a failure.
 *
 * Sample counts (documented behaviour):
 * - no heartbeat yet: phi is 0 and the upstream is available (as in Akka: an upstream never heard
 *   from is not suspected; rise/fall on active checks decides its initial health).
 * - first heartbeat: the window is seeded, as Akka does, with two intervals
 *   `firstHeartbeatEstimateMs ± firstHeartbeatEstimateMs / 4` (mean = estimate, std = estimate / 4),
 *   so phi is defined from the first heartbeat on and the estimate fades out as real intervals push
 *   the seeds out of the window.
 * - the window is never empty after that; with `maxSamples = 1` it holds one interval, whose
 *   standard deviation is 0 and is raised to `minStdDeviationMs`.
 *
 * phi is always finite and in [0, MAX_PHI]; time running backwards is clamped, never NaN.
 */

/** Upper bound of phi: the exact value can be +Infinity (1 - CDF underflows); this caps it. */
export const MAX_PHI = 1e6;

export type PhiDistribution = "normal" | "logistic";

export interface PhiConfig {
  /** isAvailable's default threshold, and the one heartbeat() uses to skip post-failure intervals. */
  threshold: number;
  /** Intervals kept in the window (Akka: max-sample-size). */
  maxSamples: number;
  /** Floor on the standard deviation, so a metronome-regular upstream is not convicted after a tiny delay. */
  minStdDeviationMs: number;
  /** Added to the mean: a pause this long is tolerated without phi rising (Akka: acceptable-heartbeat-pause). */
  acceptableHeartbeatPauseMs: number;
  /** Expected interval before any is observed (Akka: heartbeat-interval), seeds the window. */
  firstHeartbeatEstimateMs: number;
  /** "normal": exact normal tail (the paper). "logistic": Akka's logistic approximation of the normal CDF. */
  distribution: PhiDistribution;
}

/** Akka cluster's defaults, except a smaller window: this state is stored and shipped as JSON. */
export const DEFAULT_PHI_CONFIG: Readonly<PhiConfig> = {
  threshold: 8,
  maxSamples: 200,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 3_000,
  firstHeartbeatEstimateMs: 1_000,
  distribution: "normal",
};

/** One upstream's detector state: a plain JSON value. */
export interface PhiState {
  config: PhiConfig;
  /** Inter-arrival times in ms, oldest first, at most config.maxSamples. */
  intervals: number[];
  /** Time of the latest heartbeat, null before the first. */
  lastArrival: number | null;
}

export interface IntervalStats {
  mean: number;
  /** Population standard deviation of the window (before the minStdDeviationMs floor). */
  stdDeviation: number;
}

function validateConfig(c: PhiConfig): void {
  requirePositive("threshold", c.threshold);
  requireInt("maxSamples", c.maxSamples, 1);
  requirePositive("minStdDeviationMs", c.minStdDeviationMs);
  requirePositive("acceptableHeartbeatPauseMs", c.acceptableHeartbeatPauseMs, true);
  requirePositive("firstHeartbeatEstimateMs", c.firstHeartbeatEstimateMs);
  if (c.distribution !== "normal" && c.distribution !== "logistic") throw new RangeError(`unknown distribution ${String(c.distribution)}`);
}

/** A detector that has heard nothing yet. Throws RangeError on an invalid configuration. */
export function createPhiDetector(config: Partial<PhiConfig> = {}): PhiState {
  const full: PhiConfig = { ...DEFAULT_PHI_CONFIG, ...config };
  validateConfig(full);
  return { config: full, intervals: [], lastArrival: null };
}

/** Mean and (population) standard deviation of the window; two-pass, so the variance is never negative. */
export function intervalStats(state: PhiState): IntervalStats | null {
  const n = state.intervals.length;
  if (n === 0) return null;
  let sum = 0;
  for (const x of state.intervals) sum += x;
  const mean = sum / n;
  let squares = 0;
  for (const x of state.intervals) squares += (x - mean) * (x - mean);
  return { mean, stdDeviation: Math.sqrt(squares / n) };
}

function appendBounded(intervals: readonly number[], added: readonly number[], max: number): number[] {
  const all = [...intervals, ...added];
  return all.length > max ? all.slice(all.length - max) : all;
}

/**
 * Records a heartbeat at `now`. As in Akka, the interval that ends a period in which the upstream was
 * already suspected (phi >= threshold) is not added to the window: one long outage would otherwise
 * skew the statistics for the next `maxSamples` heartbeats. A heartbeat older than the latest one
 * (clocks of different isolates, reordered reports) is ignored.
 */
export function heartbeat(state: PhiState, now: number): PhiState {
  requireFinite("now", now);
  const { config } = state;
  if (state.lastArrival === null) {
    const est = config.firstHeartbeatEstimateMs;
    const seeds = [est - est / 4, est + est / 4];
    return { config, intervals: appendBounded([], seeds, config.maxSamples), lastArrival: now };
  }
  if (now < state.lastArrival) return state;
  const interval = now - state.lastArrival;
  const intervals = isAvailable(state, now, config.threshold) ? appendBounded(state.intervals, [interval], config.maxSamples) : [...state.intervals];
  return { config, intervals, lastArrival: now };
}

const LN10 = Math.LN10;
const LN_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln of the standard normal density at y. */
function logDensity(y: number): number {
  return -0.5 * y * y - LN_SQRT_2PI;
}

/**
 * Upper tail Q(y) = 1 - Φ(y) for y >= 2, as exp(log): Laplace's continued fraction for Mills' ratio,
 * Q(y) = φ(y) / (y + 1/(y + 2/(y + 3/(y + …)))), evaluated from the tail. 100 terms give ~1e-15
 * relative error at y = 2 and better beyond; in log form it never underflows.
 */
function logUpperTailLarge(y: number): number {
  let t = y;
  for (let k = 100; k >= 1; k--) t = y + k / t;
  return logDensity(y) - Math.log(t);
}

/** Q(y) for |y| < 2 via Φ(y) = 1/2 + φ(y)(y + y³/3 + y⁵/(3·5) + …) (Marsaglia, "Evaluating the Normal Distribution", JSS 2004). */
function upperTailSmall(y: number): number {
  const y2 = y * y;
  let term = y;
  let sum = y;
  for (let k = 1; k < 200; k++) {
    term *= y2 / (2 * k + 1);
    const next = sum + term;
    if (next === sum) break;
    sum = next;
  }
  return 0.5 - Math.exp(logDensity(y)) * sum;
}

/** ln Q(y), accurate in the far tail where Q itself underflows to 0. */
export function logNormalUpperTail(y: number): number {
  if (y >= 2) return logUpperTailLarge(y);
  if (y <= -2) return Math.log1p(-Math.exp(logUpperTailLarge(-y)));
  return Math.log(upperTailSmall(y));
}

/**
 * -log10 of Akka's logistic approximation of the normal tail, 1 - 1/(1 + e^(-y(1.5976 + 0.070566 y²))),
 * in log form so it stays finite where e^… would underflow or overflow.
 */
function logisticPhi(y: number): number {
  const a = y * (1.5976 + 0.070566 * y * y);
  // 1 - CDF = e^(-a) / (1 + e^(-a)); -log10 of it = (a + ln(1 + e^(-a))) / ln 10, rewritten for a < 0.
  return a >= 0 ? (a + Math.log1p(Math.exp(-a))) / LN10 : Math.log1p(Math.exp(a)) / LN10;
}

function clampPhi(p: number): number {
  if (Number.isNaN(p)) return MAX_PHI; // unreachable with validated inputs; never let NaN out
  return Math.min(MAX_PHI, Math.max(0, p));
}

/** The suspicion level at `now`: 0 before the first heartbeat, otherwise in [0, MAX_PHI]. */
export function phi(state: PhiState, now: number): number {
  requireFinite("now", now);
  if (state.lastArrival === null) return 0;
  const stats = intervalStats(state);
  if (stats === null) return 0;
  const { config } = state;
  const elapsed = Math.max(0, now - state.lastArrival);
  const mean = stats.mean + config.acceptableHeartbeatPauseMs;
  const std = Math.max(stats.stdDeviation, config.minStdDeviationMs);
  const y = (elapsed - mean) / std;
  if (!Number.isFinite(y)) return y > 0 ? MAX_PHI : 0;
  return clampPhi(config.distribution === "logistic" ? logisticPhi(y) : -logNormalUpperTail(y) / LN10);
}

/** Whether the upstream is considered alive at `now`: phi below `threshold` (default: the configured one, 8). */
export function isAvailable(state: PhiState, now: number, threshold: number = state.config.threshold): boolean {
  return phi(state, now) < threshold;
}
