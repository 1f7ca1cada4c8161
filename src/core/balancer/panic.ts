/**
 * Envoy's panic threshold (`healthy_panic_threshold`, default 50 %): when the share of upstreams the
 * balancer may route to falls below the threshold, the health verdicts are more likely wrong (or
 * manipulated) than half the pool really gone, and concentrating all traffic on the few left would
 * overload them. In panic, traffic goes to every upstream again.
 *
 * One deviation from Envoy, on purpose: panic overrides the passive verdicts only (outlier ejection
 * and open breakers, both fed by the answers to requests that clients choose), not the pool's own
 * active health checks, which no client can influence. An upstream whose checks fail stays out even
 * in panic; so a pool whose every upstream fails its checks still answers 503 at once.
 */
import type { Upstream } from "./types";

/** An upstream as the pool state describes it before the panic rule. */
export interface PanicInput extends Upstream {
  /** Healthy by the pool's active checks (true when the pool has none). */
  readonly checked: boolean;
}

/** True when fewer than `thresholdPercent` % of the upstreams are available (0 turns panic off). */
export function inPanic(upstreams: readonly Pick<Upstream, "available">[], thresholdPercent: number): boolean {
  if (thresholdPercent <= 0 || upstreams.length === 0) return false;
  const available = upstreams.filter((u) => u.available).length;
  return (100 * available) / upstreams.length < thresholdPercent;
}

/** The upstreams to pick from: as given, or in panic every one its active checks do not rule out. */
export function withPanic(upstreams: readonly PanicInput[], thresholdPercent: number): { upstreams: Upstream[]; panic: boolean } {
  const strip = ({ checked: _checked, ...u }: PanicInput): Upstream => u;
  if (!inPanic(upstreams, thresholdPercent)) return { upstreams: upstreams.map(strip), panic: false };
  return { upstreams: upstreams.map((u) => ({ ...strip(u), available: u.checked })), panic: true };
}
