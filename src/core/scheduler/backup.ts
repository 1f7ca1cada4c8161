/** When a straggler gets a backup execution (§3.6): near the end of its stage, past a multiple of the median. */
import type { SchedulerState, TaskRecord } from "./types";

/** Median duration of the winning attempts of the stage's completed tasks; null before any completes. */
export function medianCompletedMs(tasks: readonly TaskRecord[]): number | null {
  const d: number[] = [];
  for (const t of tasks) {
    const a = t.attempts.find((x) => x.id === t.completedBy);
    if (t.state === "completed" && a !== undefined && a.endedAt !== null) d.push(a.endedAt - a.startedAt);
  }
  if (d.length === 0) return null;
  d.sort((x, y) => x - y);
  const mid = d.length >> 1;
  return d.length % 2 === 1 ? d[mid]! : (d[mid - 1]! + d[mid]!) / 2;
}

/**
 * When a straggling attempt of the stage deserves a backup, counted from its start (§3.6): only near the
 * end of the stage, and only once some task has completed to measure against. null: no backups now.
 */
export function backupAfterMs(s: SchedulerState, tasks: readonly TaskRecord[]): number | null {
  const policy = s.config.backup;
  if (policy === null || tasks.length === 0) return null;
  const done = tasks.filter((t) => t.state === "completed").length;
  const nearEnd = tasks.length - done <= policy.remainingAtMost || done / tasks.length >= policy.completedFractionAtLeast;
  const median = medianCompletedMs(tasks);
  if (!nearEnd || median === null) return null;
  return Math.max(policy.stragglerFactor * median, policy.minRunMs);
}
