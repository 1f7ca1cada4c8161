// Retention sweeps (forgetting tombstones, finished transactions, orphaned uploads) are the one kind
// of timer whose exact moment does not matter: a row kept a little longer changes no answer. Each
// alarm invocation is a billed request, so retention ends are rounded up to the end of a slot: rows
// whose retention ends within one slot are forgotten by one alarm, instead of one alarm each (a burst
// of 1,000 deletes would otherwise cost up to 1,000 alarms a day later).

/** Retention ends are rounded up to a multiple of this: at most one retention alarm per object per hour. */
export const RETENTION_SLOT_MS = 60 * 60 * 1000;

/** When something whose retention ends at `at` is swept: the end of its slot (never earlier than `at`). */
export function retentionSweepAt(at: number, slotMs: number = RETENTION_SLOT_MS): number {
  return Math.ceil(at / slotMs) * slotMs;
}
