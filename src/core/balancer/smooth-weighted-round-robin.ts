/**
 * Smooth weighted round-robin, exactly nginx's (ngx_http_upstream_get_peer in
 * src/http/ngx_http_upstream_round_robin.c, introduced in nginx 1.3.1): on every pick each eligible
 * peer's `current` grows by its weight, the peer with the largest `current` wins (the first in list
 * order on a tie) and the winner's `current` drops by the sum of the weights that took part. Over any
 * run of sum(weights) picks with a stable set each peer is chosen exactly `weight` times, and the
 * choices are interleaved: weights 5:1:1 give a a b a c a a, not a a a a a b c.
 *
 * nginx also lowers a peer's effective weight after failures and lets it climb back by one per pick;
 * here failures make an upstream unavailable instead (health, breaker), so effective weight = weight.
 *
 * `current` is kept per id, so upstreams can come and go: a new one starts at 0, a removed one's state
 * is dropped, and an unavailable or excluded one sits out (its `current` frozen) the way nginx skips
 * `down`, failed and already-tried peers.
 */
import { assertUpstreams, isEligible } from "./eligibility";
import type { PickContext, Picker, Upstream } from "./types";

export class SmoothWeightedRoundRobinPicker implements Picker {
  readonly algorithm = "weighted-round-robin" as const;
  private readonly current = new Map<string, number>();

  /** nginx's smooth weighted round-robin step; null if no upstream is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null {
    assertUpstreams(upstreams);
    this.forgetRemoved(upstreams);
    let best: Upstream | null = null;
    let bestCurrent = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (const u of upstreams) {
      if (!isEligible(u, ctx.exclude)) continue;
      const next = (this.current.get(u.id) ?? 0) + u.weight;
      this.current.set(u.id, next);
      total += u.weight;
      if (best === null || next > bestCurrent) {
        best = u;
        bestCurrent = next;
      }
    }
    if (best === null) return null;
    this.current.set(best.id, bestCurrent - total);
    return best.id;
  }

  /** The `current` weight of each upstream seen (for tests and diagnostics). */
  currentWeights(): Map<string, number> {
    return new Map(this.current);
  }

  private forgetRemoved(upstreams: readonly Upstream[]): void {
    const present = new Set(upstreams.map((u) => u.id));
    for (const id of this.current.keys()) if (!present.has(id)) this.current.delete(id);
  }
}
