/**
 * Peak-EWMA latency estimator, as Finagle's PeakEwma load metric (finagle-core
 * com.twitter.finagle.loadbalancer.PeakEwma): a sample above the estimate replaces it at once (peak
 * sensitivity: a slowing upstream is noticed on its first slow reply), a sample below it is blended in
 * with weight 1 - exp(-elapsed / tau), so the estimate comes down only as fast as time passes.
 *
 * Between samples the estimate decays towards 0 (Finagle's load read does observe(0)): an upstream
 * that stopped being picked because it looked slow becomes cheap again and gets re-probed. Unlike
 * Finagle, reading does not write the decay back: the estimate depends only on the samples and the
 * time, not on how often someone looked, which keeps the pool's state replayable.
 */

/** Estimator state: the estimate in ms as of `lastAt` (ms, the caller's clock). */
export interface PeakEwma {
  readonly value: number;
  readonly lastAt: number;
}

/** Default decay time constant: an old estimate keeps weight 1/e after 10 s. */
export const DEFAULT_EWMA_TAU_MS = 10_000;

/** The estimate after one latency sample taken at `now`; `state` undefined means no sample yet. */
export function observeLatency(
  state: PeakEwma | undefined,
  sampleMs: number,
  now: number,
  tauMs: number = DEFAULT_EWMA_TAU_MS,
): PeakEwma {
  if (!Number.isFinite(sampleMs) || sampleMs < 0) throw new RangeError(`latency sample must be finite and >= 0, got ${sampleMs}`);
  assertTime(now);
  assertTau(tauMs);
  if (state === undefined) return { value: sampleMs, lastAt: now };
  // A clock that steps back yields no decay rather than growth; lastAt never moves backwards.
  const lastAt = Math.max(state.lastAt, now);
  if (sampleMs > state.value) return { value: sampleMs, lastAt };
  const keep = Math.exp(-Math.max(0, now - state.lastAt) / tauMs);
  return { value: state.value * keep + sampleMs * (1 - keep), lastAt };
}

/** The estimate as of `now`, decayed towards 0 since the last sample; undefined if never sampled. */
export function estimateAt(state: PeakEwma | undefined, now: number, tauMs: number = DEFAULT_EWMA_TAU_MS): number | undefined {
  assertTime(now);
  assertTau(tauMs);
  if (state === undefined) return undefined;
  return state.value * Math.exp(-Math.max(0, now - state.lastAt) / tauMs);
}

function assertTau(tauMs: number): void {
  if (!Number.isFinite(tauMs) || tauMs <= 0) throw new RangeError(`tau must be finite and > 0, got ${tauMs}`);
}

function assertTime(now: number): void {
  if (!Number.isFinite(now)) throw new RangeError(`now must be finite, got ${now}`);
}
