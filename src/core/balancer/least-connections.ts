/**
 * Least connections: the eligible upstream with the fewest requests in flight.
 *
 * Ties (the common case at low concurrency, where everyone is at 0) go to a weighted random draw
 * among the tied upstreams: probability proportional to weight. A fixed tie-break (by id, or by list
 * order) would send every request of a lightly loaded pool to the same upstream, and each isolate of
 * an edge deployment would pick that same one — a herd. HAProxy's leastconn likewise falls back to
 * round-robin among equals, for the same reason.
 */
import { draw, eligibleUpstreams } from "./eligibility";
import type { PickContext, Picker, Upstream } from "./types";

export class LeastConnectionsPicker implements Picker {
  readonly algorithm = "least-connections" as const;

  /** The eligible upstream with the fewest in flight (ties: weighted random); null if none is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null {
    const eligible = eligibleUpstreams(upstreams, ctx);
    if (eligible.length === 0) return null;
    let fewest = Number.POSITIVE_INFINITY;
    for (const u of eligible) fewest = Math.min(fewest, u.inFlight);
    const tied = eligible.filter((u) => u.inFlight === fewest);
    return weightedDraw(tied, ctx.rng).id;
  }
}

/** One of `candidates` (non-empty) with probability weight / total weight, using one draw of `rng`. */
export function weightedDraw(candidates: readonly Upstream[], rng: () => number): Upstream {
  if (candidates.length === 1) return candidates[0]!;
  const r = draw(rng);
  let total = 0;
  for (const u of candidates) total += u.weight;
  let point = r * total;
  for (const u of candidates) {
    point -= u.weight;
    if (point < 0) return u;
  }
  // Only reachable through floating-point rounding with r just below 1.
  return candidates[candidates.length - 1]!;
}
