/** Uniform random choice among the eligible upstreams; weights are ignored. */
import { eligibleUpstreams, randomIndex } from "./eligibility";
import type { PickContext, Picker, Upstream } from "./types";

export class RandomPicker implements Picker {
  readonly algorithm = "random" as const;

  /** One eligible upstream drawn uniformly with ctx.rng; null if none is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null {
    const eligible = eligibleUpstreams(upstreams, ctx);
    if (eligible.length === 0) return null;
    return eligible[randomIndex(ctx.rng, eligible.length)]!.id;
  }
}
