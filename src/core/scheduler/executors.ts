/**
 * Which executor of the fixed pool gets an attempt: the least-loaded one, by the balancer's rules of
 * eligibility (src/core/balancer: below its max in flight, not excluded).
 *
 * Ties go to the pool's order, not to the weighted random draw of LeastConnectionsPicker: that draw
 * stops many isolates that each pick independently from herding onto one upstream, but here a single
 * master per job does every pick and knows the exact load, so filling the least-loaded executors in a
 * stable order already spreads the work, and the step stays replayable without an rng in its state.
 * (A shell that runs many jobs on one pool can rotate the pool per job to spread their first picks.)
 */
import { eligibleUpstreams } from "../balancer/eligibility";
import type { Upstream } from "../balancer/types";
import type { ExecutorRecord } from "./types";

/** The executors as upstreams: equal weight, loaded by their attempts in flight. */
function asUpstreams(executors: readonly ExecutorRecord[], maxPerExecutor: number): Upstream[] {
  return executors.map((e) => ({ id: e.name, weight: 1, inFlight: e.inFlight, maxInFlight: maxPerExecutor, available: true }));
}

function fewestInFlight(candidates: readonly Upstream[]): string | null {
  let best: Upstream | null = null;
  for (const u of candidates) if (best === null || u.inFlight < best.inFlight) best = u;
  return best === null ? null : best.id;
}

/**
 * The executor with the fewest attempts in flight and room for one more (ties: pool order), never one
 * in `exclude`, and one outside `avoid` when there is any; null when no executor may take it. `home`
 * (the executor holding the task's input) wins whenever it may take the task and is not avoided.
 */
export function leastLoadedExecutor(executors: readonly ExecutorRecord[], maxPerExecutor: number, exclude: ReadonlySet<string>, avoid: ReadonlySet<string> = new Set(), home?: string): string | null {
  const pool = asUpstreams(executors, maxPerExecutor);
  const allowed = eligibleUpstreams(pool, { rng: () => 0, now: 0, exclude });
  const preferred = allowed.filter((u) => !avoid.has(u.id));
  if (home !== undefined && preferred.some((u) => u.id === home)) return home;
  return fewestInFlight(preferred) ?? fewestInFlight(allowed);
}

/** True when some executor outside `exclude` has room for another attempt. */
export function hasRoom(executors: readonly ExecutorRecord[], maxPerExecutor: number, exclude: ReadonlySet<string> = new Set()): boolean {
  return executors.some((e) => e.inFlight < maxPerExecutor && !exclude.has(e.name));
}
