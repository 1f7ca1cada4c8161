// When a load-balancer pool runs its active health checks. Every check round is an alarm invocation,
// and on Cloudflare each one is a billed request that also keeps the object awake, so a pool nobody
// sends requests to should not be checked every few seconds forever: checks run at the pool's own
// interval while it has had traffic recently, then fall to an idle cadence (or stop).
import type { PoolHealth } from "./pool-health";

export interface CheckCadence {
  /** The pool's configured interval between rounds while it is in use. */
  intervalMs: number;
  /** A pool with no traffic for this long is idle. */
  idleAfterMs: number;
  /** Interval between rounds while idle; 0: no rounds at all while idle. */
  idleIntervalMs: number;
}

/** Whether the pool counts as in use at `now`: traffic (`lastTrafficAt`, null = none seen) within idleAfterMs. */
export function isActive(lastTrafficAt: number | null, now: number, c: CheckCadence): boolean {
  return lastTrafficAt !== null && now - lastTrafficAt < c.idleAfterMs;
}

/**
 * When the round after one that ended at `now` is due: one interval later while the pool is in use;
 * while idle, the idle interval (never shorter than the pool's own), or null for no further round.
 * Decided when a round ends, so a pool checks on for at most one interval past idleAfterMs.
 */
export function nextRoundAt(lastTrafficAt: number | null, now: number, c: CheckCadence): number | null {
  if (isActive(lastTrafficAt, now, c)) return now + c.intervalMs;
  return c.idleIntervalMs > 0 ? now + Math.max(c.intervalMs, c.idleIntervalMs) : null;
}

/**
 * When a request arriving at `now` wants the next round: checks resume at once if the last round
 * (`lastRoundAt`, null = none in memory) is an interval old or older, else one interval after it.
 * The caller arms this only if its alarm is not already due sooner.
 */
export function wakeRoundAt(lastRoundAt: number | null, now: number, c: CheckCadence): number {
  return lastRoundAt === null ? now : Math.max(now, lastRoundAt + c.intervalMs);
}

/**
 * The pool's health as if the checker's pause (from `pausedAt` to `now`) had not happened. Phi-accrual
 * reads a long silence as a failure, but while a pool is idle the silence is the checker's own: each
 * upstream's detector clock skips the pause (its last heartbeat moves forward by the pause's length,
 * never past `now`), so the first request after an idle spell is routed by what the checks last said,
 * and the round it wakes brings fresh verdicts. Nothing else (rise/fall, ejections, breakers) changes.
 */
export function skipPause(health: PoolHealth, pausedAt: number, now: number): PoolHealth {
  const pause = Math.max(0, now - pausedAt);
  if (pause === 0) return health;
  const upstreams: PoolHealth["upstreams"] = {};
  for (const [id, u] of Object.entries(health.upstreams)) {
    const last = u.phi.lastArrival;
    upstreams[id] = last === null ? u : { ...u, phi: { ...u.phi, lastArrival: Math.min(now, last + pause) } };
  }
  return { ...health, upstreams };
}
