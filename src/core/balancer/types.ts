/** Shared vocabulary of the load-balancing algorithms: what an upstream looks like to a picker. */

/** An upstream as the algorithms see it: a snapshot taken by the pool just before the pick. */
export interface Upstream {
  readonly id: string;
  /** Relative share of traffic for the weighted algorithms; finite and > 0. */
  readonly weight: number;
  /** Requests currently outstanding on this upstream (from this balancer's point of view). */
  readonly inFlight: number;
  /** An upstream with inFlight >= maxInFlight is skipped, like nginx's `max_conns`. */
  readonly maxInFlight?: number;
  /** Peak-EWMA latency estimate at pick time (see ewma.ts `estimateAt`); absent until a first sample. */
  readonly ewmaMs?: number;
  /** False when ejected, unhealthy or its breaker is open: never picked. */
  readonly available: boolean;
}

/** Everything a pick may depend on besides the upstreams: injected so the cores stay deterministic. */
export interface PickContext {
  /** Uniform random numbers in [0, 1). */
  readonly rng: () => number;
  /** Current time in ms (the caller's clock). */
  readonly now: number;
  /** Key for session affinity (consistent-hash); ignored by the other algorithms. */
  readonly affinityKey?: string;
  /** Upstreams already tried by this request's earlier attempts: never picked again. */
  readonly exclude?: ReadonlySet<string>;
}

/** A load-balancing algorithm. Some keep state between picks (cursor, current weights, ring). */
export interface Picker {
  readonly algorithm: BalancerAlgorithm;
  /** The id of the upstream to send the request to, or null when none is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null;
}

/** Every algorithm name, e.g. for validating configuration. */
export const BALANCER_ALGORITHMS = [
  "round-robin",
  "random",
  "least-connections",
  "weighted-round-robin",
  "p2c-ewma",
  "consistent-hash",
] as const;

export type BalancerAlgorithm = (typeof BALANCER_ALGORITHMS)[number];

/** True when `name` is one of BALANCER_ALGORITHMS. */
export function isBalancerAlgorithm(name: string): name is BalancerAlgorithm {
  return (BALANCER_ALGORITHMS as readonly string[]).includes(name);
}
