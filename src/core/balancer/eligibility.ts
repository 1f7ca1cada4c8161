/** Which upstreams a pick may choose from, and the input checks every algorithm shares. */
import type { PickContext, Upstream } from "./types";

/** True when `u` may take this request: available, not already tried, below its maxInFlight. */
export function isEligible(u: Upstream, exclude: ReadonlySet<string> | undefined): boolean {
  if (!u.available) return false;
  if (exclude !== undefined && exclude.has(u.id)) return false;
  return u.maxInFlight === undefined || u.inFlight < u.maxInFlight;
}

/**
 * The eligible upstreams in list order. Throws RangeError on a malformed list (see assertUpstreams):
 * that is the pool's bug, not a runtime condition to route around.
 */
export function eligibleUpstreams(upstreams: readonly Upstream[], ctx: PickContext): Upstream[] {
  assertUpstreams(upstreams);
  return upstreams.filter((u) => isEligible(u, ctx.exclude));
}

/**
 * Throws RangeError unless ids are unique and non-empty, weight is finite and > 0, inFlight is finite
 * and >= 0, and maxInFlight / ewmaMs, when present, are >= 0.
 */
export function assertUpstreams(upstreams: readonly Upstream[]): void {
  const seen = new Set<string>();
  for (const u of upstreams) {
    if (typeof u.id !== "string" || u.id.length === 0) throw new RangeError("upstream id must be a non-empty string");
    if (seen.has(u.id)) throw new RangeError(`duplicate upstream id ${JSON.stringify(u.id)}`);
    seen.add(u.id);
    if (!Number.isFinite(u.weight) || u.weight <= 0) {
      throw new RangeError(`upstream ${JSON.stringify(u.id)}: weight must be finite and > 0, got ${String(u.weight)}`);
    }
    if (!Number.isFinite(u.inFlight) || u.inFlight < 0) {
      throw new RangeError(`upstream ${JSON.stringify(u.id)}: inFlight must be finite and >= 0, got ${String(u.inFlight)}`);
    }
    if (u.maxInFlight !== undefined && !(u.maxInFlight >= 0)) {
      throw new RangeError(`upstream ${JSON.stringify(u.id)}: maxInFlight must be >= 0, got ${String(u.maxInFlight)}`);
    }
    if (u.ewmaMs !== undefined && !(Number.isFinite(u.ewmaMs) && u.ewmaMs >= 0)) {
      throw new RangeError(`upstream ${JSON.stringify(u.id)}: ewmaMs must be finite and >= 0, got ${String(u.ewmaMs)}`);
    }
  }
}

/** One draw of `rng`; throws RangeError if it is outside [0, 1) (a broken rng must not pick silently). */
export function draw(rng: () => number): number {
  const r = rng();
  if (!(r >= 0 && r < 1)) throw new RangeError(`rng must return a number in [0, 1), got ${String(r)}`);
  return r;
}

/** A uniform index in [0, n) from one draw of `rng`. */
export function randomIndex(rng: () => number, n: number): number {
  // min() guards n * r rounding up to n for r just below 1.
  return Math.min(n - 1, Math.floor(draw(rng) * n));
}
