/** The report of a job (GET /jobs/{id}, /tasks/{id}): per-stage counts, per-task states, timings and attempts. */
import { findTask, isFinished } from "./scheduler";
import type { AttemptOutcome, ExecutorRecord, JobPhase, SchedulerCounters, SchedulerError, SchedulerState, StageName, TaskRecord, TaskState, WorkKind } from "./types";

export interface AttemptView {
  id: string;
  executor: string;
  backup: boolean;
  startedAt: number;
  endedAt: number | null;
  /** endedAt - startedAt, or how long it has run so far. */
  durationMs: number;
  outcome: AttemptOutcome;
  error: string | null;
}

export interface TaskView {
  id: string;
  stage: StageName;
  state: TaskState;
  attempts: number;
  /** The executor whose attempt counted, else the one running it now (the latest), else null. */
  executor: string | null;
  /** Start of its first attempt. */
  startedAt: number | null;
  /** When it completed, or when its last attempt ended if it failed. */
  endedAt: number | null;
  /** The counted attempt's run time once completed. */
  durationMs: number | null;
  resultRef: string | null;
  error: string | null;
  attemptLog: AttemptView[];
}

export interface StageView {
  name: StageName;
  total: number;
  waiting: number;
  idle: number;
  inProgress: number;
  completed: number;
  failed: number;
  /** completed / total (1 for an empty stage). */
  fractionCompleted: number;
  startedAt: number | null;
  endedAt: number | null;
}

export interface ProgressView {
  id: string;
  kind: WorkKind;
  phase: JobPhase;
  finished: boolean;
  createdAt: number;
  endedAt: number | null;
  error: SchedulerError | null;
  stages: StageView[];
  tasks: TaskView[];
  executors: ExecutorRecord[];
  counters: SchedulerCounters;
}

function taskView(t: TaskRecord, now: number): TaskView {
  const attemptLog: AttemptView[] = t.attempts.map((a) => ({
    id: a.id,
    executor: a.executor,
    backup: a.backup,
    startedAt: a.startedAt,
    endedAt: a.endedAt,
    durationMs: (a.endedAt ?? now) - a.startedAt,
    outcome: a.outcome,
    error: a.error,
  }));
  const winner = attemptLog.find((a) => a.id === t.completedBy);
  const latestRunning = attemptLog.findLast((a) => a.outcome === "running");
  const last = attemptLog.at(-1);
  return {
    id: t.id,
    stage: t.stage,
    state: t.state,
    attempts: t.attempts.length,
    executor: winner?.executor ?? latestRunning?.executor ?? null,
    startedAt: attemptLog[0]?.startedAt ?? null,
    endedAt: t.state === "completed" ? t.completedAt : t.state === "failed" ? (last?.endedAt ?? null) : null,
    durationMs: winner?.durationMs ?? null,
    resultRef: t.resultRef,
    error: t.error,
    attemptLog,
  };
}

/** The whole report at time `now` (which only sets the running attempts' durations so far). */
export function progressView(s: SchedulerState, now: number = s.updatedAt): ProgressView {
  const stages: StageView[] = s.stages.map((stage) => {
    const counts: Record<TaskState, number> = { waiting: 0, idle: 0, "in-progress": 0, completed: 0, failed: 0 };
    for (const id of stage.taskIds) counts[findTask(s, id)!.state] += 1;
    const total = stage.taskIds.length;
    return {
      name: stage.name,
      total,
      waiting: counts.waiting,
      idle: counts.idle,
      inProgress: counts["in-progress"],
      completed: counts.completed,
      failed: counts.failed,
      fractionCompleted: total === 0 ? 1 : counts.completed / total,
      startedAt: stage.startedAt,
      endedAt: stage.endedAt,
    };
  });
  return {
    id: s.id,
    kind: s.kind,
    phase: s.phase,
    finished: isFinished(s),
    createdAt: s.createdAt,
    endedAt: s.endedAt,
    error: s.error,
    stages,
    tasks: s.tasks.map((t) => taskView(t, now)),
    executors: s.executors.map((e) => ({ ...e })),
    counters: { ...s.counters },
  };
}

/**
 * The state's invariants, as a list of violations (empty when sound), for tests and simulations: loads
 * match the running attempts, a task is in progress exactly while an attempt of it runs, a completed task
 * was completed by exactly one attempt, and no stage starts before the one before it has finished.
 */
export function checkInvariants(s: SchedulerState): string[] {
  const bad: string[] = [];
  const load = new Map<string, number>(s.executors.map((e) => [e.name, 0]));
  for (const t of s.tasks) {
    const runningNow = t.attempts.filter((a) => a.outcome === "running");
    for (const a of runningNow) load.set(a.executor, (load.get(a.executor) ?? 0) + 1);
    if ((t.state === "in-progress") !== runningNow.length > 0) bad.push(`task ${t.id} is ${t.state} with ${runningNow.length} attempts running`);
    const completed = t.attempts.filter((a) => a.outcome === "completed");
    if (t.state === "completed") {
      if (completed.length !== 1 || completed[0]!.id !== t.completedBy || t.resultRef === null) bad.push(`task ${t.id} is completed by ${completed.map((a) => a.id).join(", ") || "no attempt"} (recorded ${t.completedBy})`);
    } else if (completed.length > 0 || t.resultRef !== null) bad.push(`task ${t.id} is ${t.state} yet has a completed attempt or a result`);
    if (t.attempts.filter((a) => a.backup).length > 1) bad.push(`task ${t.id} has more than one backup`);
    if (new Set(t.attempts.map((a) => a.id)).size !== t.attempts.length) bad.push(`task ${t.id} reuses an attempt id`);
  }
  for (const e of s.executors) {
    if (e.inFlight !== load.get(e.name)) bad.push(`executor ${e.name} counts ${e.inFlight} in flight, runs ${load.get(e.name)}`);
    if (e.inFlight > s.config.maxPerExecutor) bad.push(`executor ${e.name} runs ${e.inFlight} > maxPerExecutor ${s.config.maxPerExecutor}`);
  }
  s.stages.forEach((stage, i) => {
    for (const id of stage.taskIds) {
      const t = findTask(s, id)!;
      if (i > s.stageIndex && t.state !== "waiting") bad.push(`task ${id} of a later stage (${stage.name}) is ${t.state}`);
      if (i < s.stageIndex && t.state !== "completed" && t.state !== "failed") bad.push(`task ${id} of an ended stage (${stage.name}) is ${t.state}`);
      if (i === s.stageIndex && !isFinished(s) && t.state === "waiting") bad.push(`task ${id} of the current stage is still waiting`);
    }
  });
  if (isFinished(s) && s.tasks.some((t) => t.attempts.some((a) => a.outcome === "running"))) bad.push(`the job is ${s.phase} with attempts still running`);
  if (s.phase === "done" && s.tasks.some((t) => t.state !== "completed" && !(s.kind === "batch" && t.state === "failed"))) bad.push("the job is done with tasks not completed");
  return bad;
}
