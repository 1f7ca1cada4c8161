/** Delay before the n-th retry of a hint (n = 0 is the first delivery): 1 s doubling to at most 5 minutes. */
export function hintRetryDelay(attempts: number): number {
  return Math.min(1000 * 2 ** Math.min(attempts, 20), 5 * 60 * 1000);
}

/**
 * When the object's single alarm should fire next: the earliest of its timers (null entries are
 * timers not set), never in the past. Null when no timer is set.
 */
export function nextDue(timers: ReadonlyArray<number | null>, nowMs: number): number | null {
  let next: number | null = null;
  for (const t of timers) if (t !== null && (next === null || t < next)) next = t;
  return next === null ? null : Math.max(next, nowMs);
}
