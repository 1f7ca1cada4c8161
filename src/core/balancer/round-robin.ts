/** Plain round-robin: each eligible upstream in list order, one after another; weights are ignored. */
import { assertUpstreams, isEligible } from "./eligibility";
import type { PickContext, Picker, Upstream } from "./types";

export class RoundRobinPicker implements Picker {
  readonly algorithm = "round-robin" as const;
  /** Id of the last upstream picked: the next pick starts just after it, wherever it now sits. */
  private lastId: string | null = null;
  /** Its index at that time: if it has since left the list, whoever slid into that slot is next. */
  private lastIndex = 0;

  /** The next eligible upstream after the previously picked one, wrapping; null if none is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null {
    assertUpstreams(upstreams);
    const n = upstreams.length;
    if (n === 0) return null;
    // Resuming after the last id (not a bare index) keeps the rotation fair when upstreams are added
    // or removed in front of the cursor.
    const found = this.lastId === null ? -1 : upstreams.findIndex((u) => u.id === this.lastId);
    const start = found >= 0 ? found + 1 : this.lastIndex;
    for (let step = 0; step < n; step++) {
      const index = (start + step) % n;
      const u = upstreams[index]!;
      if (isEligible(u, ctx.exclude)) {
        this.lastId = u.id;
        this.lastIndex = index;
        return u.id;
      }
    }
    return null;
  }
}
