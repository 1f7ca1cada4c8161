/**
 * Power of two choices over peak-EWMA cost, as Finagle's P2CPeakEwma balancer (and linkerd's and
 * tower's PeakEwma balancers after it): draw two distinct eligible upstreams at random, send to the
 * cheaper, where cost = latency estimate * (inFlight + 1). Two random choices avoid the herd that
 * "always the global minimum" causes when many balancers share stale numbers, yet the worst upstream
 * can never win a comparison (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing").
 *
 * An upstream without a latency sample costs 0 while idle, so it gets probed at once; while that probe
 * is outstanding it costs a large penalty instead, so a new upstream is not flooded before its
 * latency is known (Finagle's rule). Weights are not used, as in Finagle's P2C.
 */
import { eligibleUpstreams, randomIndex } from "./eligibility";
import type { PickContext, Picker, Upstream } from "./types";

/** Cost of an unsampled upstream with requests outstanding; Finagle uses Long.MaxValue >> 16. */
export const UNSAMPLED_BUSY_PENALTY = 2 ** 47;

/**
 * Default floor on the latency estimate. Workers' clock is coarse (it does not advance while code
 * runs), so fast upstreams can report 0 ms; with a 0 estimate, cost would ignore inFlight entirely.
 */
export const DEFAULT_LATENCY_FLOOR_MS = 1;

export interface P2cEwmaOptions {
  /** Estimates below this count as this (ms, >= 0); default DEFAULT_LATENCY_FLOOR_MS. */
  readonly latencyFloorMs?: number;
}

export class P2cEwmaPicker implements Picker {
  readonly algorithm = "p2c-ewma" as const;
  private readonly latencyFloorMs: number;

  /** Throws RangeError on a negative or non-finite latency floor. */
  constructor(options: P2cEwmaOptions = {}) {
    const floor = options.latencyFloorMs ?? DEFAULT_LATENCY_FLOOR_MS;
    if (!Number.isFinite(floor) || floor < 0) throw new RangeError(`latencyFloorMs must be finite and >= 0, got ${floor}`);
    this.latencyFloorMs = floor;
  }

  /** The cheaper of two distinct eligible upstreams drawn with ctx.rng; null if none is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null {
    const eligible = eligibleUpstreams(upstreams, ctx);
    if (eligible.length === 0) return null;
    if (eligible.length === 1) return eligible[0]!.id;
    const i = randomIndex(ctx.rng, eligible.length);
    let j = randomIndex(ctx.rng, eligible.length - 1);
    if (j >= i) j++;
    const a = eligible[i]!;
    const b = eligible[j]!;
    // On equal cost the first draw wins; the draw order is itself random, so neither side is favoured.
    return this.cost(a) <= this.cost(b) ? a.id : b.id;
  }

  /** Peak-EWMA cost of sending one more request to `u`. */
  cost(u: Upstream): number {
    if (u.ewmaMs === undefined) return u.inFlight === 0 ? 0 : UNSAMPLED_BUSY_PENALTY + u.inFlight;
    return Math.max(u.ewmaMs, this.latencyFloorMs) * (u.inFlight + 1);
  }
}
