/**
 * The master of the MapReduce paper (Dean & Ghemawat 2004) as a pure state machine, for one job or one
 * batch of tasks: `state + event (+ now) -> state (mutated in place) + effects`. A JobCoordinator Durable
 * Object drives it from its alarm in steps (tick), feeds it the executors' reports (taskCompleted /
 * taskFailed / taskHeartbeat), persists the state when a step says so, THEN carries out the effects, and
 * sets its alarm to nextWakeAt. Time comes in as arguments; nothing here reads a clock or an rng.
 */
import { backupAfterMs } from "./backup";
import { hasRoom, leastLoadedExecutor } from "./executors";
import type { Attempt, BackupPolicy, ExecutorRecord, ReleaseReason, SchedulerConfig, SchedulerEffect, SchedulerError, SchedulerState, StageName, Step, TaskRecord, TickBudget, WorkKind } from "./types";

/**
 * One step's budget by default. Each assignment is one subrequest (an RPC to an executor object), and
 * Workers allow 50 subrequests per invocation on the Free plan (10,000 on Paid): 40 leaves headroom for
 * the step's other calls. The executor only accepts the task and runs it outside that call (from its own
 * alarm), reporting back by RPC, so no connection stays open for a task's duration; the shell still hands
 * a step's assignments out at most 6 at a time, Workers' limit on simultaneous outgoing connections.
 * maxInFlight also bounds a cancel, which releases every running attempt in one invocation: keep it
 * within the same 50.
 */
export const DEFAULT_TICK_BUDGET: TickBudget = { maxAssignments: 40, maxInFlight: 40 };

/** Backups once at most 2 tasks (or 10 %) of a stage remain, for attempts past 2x the median and 1 s (§3.6). */
export const DEFAULT_BACKUP_POLICY: BackupPolicy = { remainingAtMost: 2, completedFractionAtLeast: 0.9, stragglerFactor: 2, minRunMs: 1_000 };

const none: Step = { persist: false, effects: [] };
const STAGES: readonly string[] = ["map", "reduce", "run"];

/** True once the job has ended (done, failed or cancelled): no event changes it any more. */
export function isFinished(s: SchedulerState): boolean {
  return !STAGES.includes(s.phase);
}

/** Throws RangeError unless the pool is non-empty with unique names and every limit is a positive number. */
export function assertSchedulerConfig(c: SchedulerConfig): void {
  if (c.executors.length === 0) throw new RangeError("the executor pool is empty");
  const names = new Set<string>();
  for (const e of c.executors) {
    if (typeof e !== "string" || e.length === 0) throw new RangeError("executor names must be non-empty strings");
    if (names.has(e)) throw new RangeError(`duplicate executor ${JSON.stringify(e)}`);
    names.add(e);
  }
  if (!Number.isInteger(c.maxAttempts) || c.maxAttempts < 1) throw new RangeError(`maxAttempts must be an integer >= 1, got ${c.maxAttempts}`);
  if (!Number.isInteger(c.maxPerExecutor) || c.maxPerExecutor < 1) throw new RangeError(`maxPerExecutor must be an integer >= 1, got ${c.maxPerExecutor}`);
  if (!(Number.isFinite(c.attemptTimeoutMs) && c.attemptTimeoutMs > 0)) throw new RangeError(`attemptTimeoutMs must be finite and > 0, got ${c.attemptTimeoutMs}`);
  const b = c.backup;
  if (b === null) return;
  if (!(Number.isInteger(b.remainingAtMost) && b.remainingAtMost >= 0)) throw new RangeError(`backup.remainingAtMost must be an integer >= 0, got ${b.remainingAtMost}`);
  if (!(b.completedFractionAtLeast > 0 && b.completedFractionAtLeast <= 1)) throw new RangeError(`backup.completedFractionAtLeast must be in (0, 1], got ${b.completedFractionAtLeast}`);
  if (!(Number.isFinite(b.stragglerFactor) && b.stragglerFactor >= 1)) throw new RangeError(`backup.stragglerFactor must be finite and >= 1, got ${b.stragglerFactor}`);
  if (!(Number.isFinite(b.minRunMs) && b.minRunMs >= 0)) throw new RangeError(`backup.minRunMs must be finite and >= 0, got ${b.minRunMs}`);
}

/** Throws RangeError unless both limits of a step are integers >= 1. */
export function assertTickBudget(b: TickBudget): void {
  if (!Number.isInteger(b.maxAssignments) || b.maxAssignments < 1) throw new RangeError(`maxAssignments must be an integer >= 1, got ${b.maxAssignments}`);
  if (!Number.isInteger(b.maxInFlight) || b.maxInFlight < 1) throw new RangeError(`maxInFlight must be an integer >= 1, got ${b.maxInFlight}`);
}

function create(id: string, kind: WorkKind, stages: [StageName, readonly string[]][], config: SchedulerConfig, now: number, homes: Readonly<Record<string, string>> = {}): { state: SchedulerState; step: Step } {
  assertSchedulerConfig(config);
  const seen = new Set<string>();
  const tasks: TaskRecord[] = [];
  for (const [stage, ids] of stages) {
    for (const taskId of ids) {
      if (typeof taskId !== "string" || taskId.length === 0) throw new RangeError("task ids must be non-empty strings");
      if (seen.has(taskId)) throw new RangeError(`duplicate task id ${JSON.stringify(taskId)}`);
      seen.add(taskId);
      const task: TaskRecord = { id: taskId, stage, state: "waiting", attempts: [], resultRef: null, completedBy: null, completedAt: null, error: null };
      const home = Object.hasOwn(homes, taskId) ? homes[taskId] : undefined;
      if (home !== undefined) {
        if (!config.executors.includes(home)) throw new RangeError(`task ${JSON.stringify(taskId)}: home ${JSON.stringify(home)} is not an executor of the pool`);
        task.home = home;
      }
      tasks.push(task);
    }
  }
  const state: SchedulerState = {
    id,
    kind,
    config: { ...config, executors: [...config.executors], backup: config.backup === null ? null : { ...config.backup } },
    phase: stages[0]![0],
    stages: stages.map(([name, ids]) => ({ name, taskIds: [...ids], startedAt: null, endedAt: null })),
    stageIndex: 0,
    tasks,
    executors: config.executors.map((name) => ({ name, inFlight: 0, assigned: 0, completed: 0, failed: 0, timedOut: 0 })),
    createdAt: now,
    updatedAt: now,
    endedAt: null,
    error: null,
    counters: { assignments: 0, reExecutions: 0, backups: 0, backupWins: 0, timeouts: 0, failures: 0, ignoredCompletions: 0 },
  };
  const effects: SchedulerEffect[] = [];
  startStage(state, now);
  settleStages(state, now, effects);
  return { state, step: { persist: true, effects } };
}

/**
 * A MapReduce job (§3.1): M map tasks, then R reduce tasks once every map task has completed. `homes`
 * names, per map task, the executor that holds its input split: the task runs there when that executor
 * has room and has not lost an attempt of it (§3.4, locality), else on the least-loaded executor.
 */
export function createJob(id: string, mapTaskIds: readonly string[], reduceTaskIds: readonly string[], config: SchedulerConfig, now: number, homes: Readonly<Record<string, string>> = {}): { state: SchedulerState; step: Step } {
  return create(id, "job", [["map", mapTaskIds], ["reduce", reduceTaskIds]], config, now, homes);
}

/** A batch of independent tasks: one stage; a task out of attempts fails alone, the others carry on. */
export function createBatch(id: string, taskIds: readonly string[], config: SchedulerConfig, now: number): { state: SchedulerState; step: Step } {
  return create(id, "batch", [["run", taskIds]], config, now);
}

// Tasks never change after creation, so an id index per task list is computed once and memoized.
const indexes = new WeakMap<TaskRecord[], Map<string, TaskRecord>>();

/** The task with this id, or undefined. */
export function findTask(s: SchedulerState, taskId: string): TaskRecord | undefined {
  let index = indexes.get(s.tasks);
  if (index === undefined) {
    index = new Map(s.tasks.map((t) => [t.id, t]));
    indexes.set(s.tasks, index);
  }
  return index.get(taskId);
}

function executorOf(s: SchedulerState, name: string): ExecutorRecord {
  const e = s.executors.find((x) => x.name === name);
  if (e === undefined) throw new Error(`attempt on unknown executor ${JSON.stringify(name)}`);
  return e;
}

/** The tasks of the stage running now (none once the job has ended). */
export function currentStageTasks(s: SchedulerState): TaskRecord[] {
  if (isFinished(s)) return [];
  const stage = s.stages[s.stageIndex];
  return stage === undefined ? [] : stage.taskIds.map((id) => findTask(s, id)!);
}

const isTerminal = (t: TaskRecord): boolean => t.state === "completed" || t.state === "failed";
const running = (t: TaskRecord): Attempt[] => t.attempts.filter((a) => a.outcome === "running");
const failures = (t: TaskRecord): number => t.attempts.filter((a) => a.outcome === "failed" || a.outcome === "timed-out").length;

/** Ends an attempt that was running: it no longer loads its executor. */
function endAttempt(s: SchedulerState, a: Attempt, outcome: Attempt["outcome"], now: number, error: string | null = null): void {
  a.outcome = outcome;
  a.endedAt = now;
  a.error = error;
  executorOf(s, a.executor).inFlight -= 1;
}

function startStage(s: SchedulerState, now: number): void {
  const stage = s.stages[s.stageIndex]!;
  stage.startedAt = now;
  s.phase = stage.name;
  for (const id of stage.taskIds) findTask(s, id)!.state = "idle";
}

/** Ends the job: every running attempt is released (best effort), and nothing is assigned any more. */
function finish(s: SchedulerState, phase: "done" | "failed" | "cancelled", now: number, effects: SchedulerEffect[], error: SchedulerError | null = null): void {
  const reason: ReleaseReason = phase === "failed" ? "job-failed" : "cancelled";
  for (const t of s.tasks) {
    for (const a of running(t)) {
      endAttempt(s, a, "cancelled", now);
      effects.push({ type: "release", taskId: t.id, attemptId: a.id, executor: a.executor, reason });
    }
    if (t.state === "in-progress") t.state = "idle";
  }
  s.phase = phase;
  s.endedAt = now;
  s.error = error;
  effects.push({ type: "finished", phase, error });
}

/**
 * Moves on while the current stage has nothing left to run: the next stage's tasks become idle (reduce
 * waits for every map output, §3.1), or the job is done after the last stage.
 */
function settleStages(s: SchedulerState, now: number, effects: SchedulerEffect[]): void {
  while (!isFinished(s)) {
    const stage = s.stages[s.stageIndex]!;
    if (!stage.taskIds.every((id) => isTerminal(findTask(s, id)!))) return;
    stage.endedAt = now;
    s.stageIndex += 1;
    if (s.stageIndex >= s.stages.length) {
      finish(s, "done", now, effects);
      return;
    }
    startStage(s, now);
  }
}

/**
 * After one of a task's attempts failed or timed out: another running attempt carries on alone; with none,
 * the task is re-executed (idle again, §3.3) unless it is out of attempts. A job fails with its task; in a
 * batch the task fails alone.
 */
function afterAttemptLost(s: SchedulerState, t: TaskRecord, now: number, effects: SchedulerEffect[]): void {
  if (running(t).length > 0) return;
  const n = failures(t);
  if (n < s.config.maxAttempts) {
    t.state = "idle";
    return;
  }
  t.state = "failed";
  if (s.kind === "job") {
    finish(s, "failed", now, effects, { taskId: t.id, attempts: n, message: t.error ?? "failed" });
    return;
  }
  settleStages(s, now, effects);
}

/**
 * An executor reports an attempt's output. The first completion of a task wins; any later one (a backup,
 * a re-execution, a repeated report) is ignored, and the other running attempts are released (§3.3: the
 * master ignores the completion of an already completed task; §3.6). A timed-out attempt that completes
 * late still counts while its task is not completed (a task that failed for good stays failed). Reports
 * of unknown attempts change nothing.
 */
export function taskCompleted(s: SchedulerState, taskId: string, attemptId: string, now: number, resultRef: string): Step {
  if (isFinished(s)) return none;
  const t = findTask(s, taskId);
  const a = t?.attempts.find((x) => x.id === attemptId);
  if (t === undefined || a === undefined) return none;
  s.updatedAt = now;
  if (t.state !== "in-progress" && t.state !== "idle") {
    s.counters.ignoredCompletions += 1;
    return { persist: true, effects: [] };
  }
  if (a.outcome !== "running" && a.outcome !== "timed-out") {
    s.counters.ignoredCompletions += 1;
    return { persist: true, effects: [] };
  }
  const effects: SchedulerEffect[] = [];
  if (a.outcome === "running") endAttempt(s, a, "completed", now);
  else a.outcome = "completed"; // its executor stopped counting it when it timed out; its endedAt is now
  a.endedAt = now;
  executorOf(s, a.executor).completed += 1;
  t.state = "completed";
  t.resultRef = resultRef;
  t.completedBy = a.id;
  t.completedAt = now;
  if (a.backup) s.counters.backupWins += 1;
  for (const other of running(t)) {
    endAttempt(s, other, "superseded", now);
    effects.push({ type: "release", taskId: t.id, attemptId: other.id, executor: other.executor, reason: "superseded" });
  }
  settleStages(s, now, effects);
  return { persist: true, effects };
}

/** An executor reports that an attempt failed (the task threw, or the call to it broke): §3.3 re-execution. */
export function taskFailed(s: SchedulerState, taskId: string, attemptId: string, now: number, error: string): Step {
  if (isFinished(s)) return none;
  const t = findTask(s, taskId);
  const a = t?.attempts.find((x) => x.id === attemptId);
  // A failure of an attempt already ended (timed out, superseded, reported twice) was already accounted for.
  if (t === undefined || a === undefined || a.outcome !== "running") return none;
  s.updatedAt = now;
  const effects: SchedulerEffect[] = [];
  endAttempt(s, a, "failed", now, error);
  executorOf(s, a.executor).failed += 1;
  s.counters.failures += 1;
  t.error = error;
  afterAttemptLost(s, t, now, effects);
  return { persist: true, effects };
}

/**
 * A running attempt's executor says it is alive (the paper's master pings its workers, §3.3): the
 * timeout counts from now. Not worth a write: losing it only makes a timeout come early.
 */
export function taskHeartbeat(s: SchedulerState, taskId: string, attemptId: string, now: number): Step {
  if (isFinished(s)) return none;
  const a = findTask(s, taskId)?.attempts.find((x) => x.id === attemptId);
  if (a === undefined || a.outcome !== "running") return none;
  a.lastHeardAt = Math.max(a.lastHeardAt, now);
  return none;
}

/** Cancels the job: every running attempt is released and nothing more is assigned. */
export function cancel(s: SchedulerState, now: number): Step {
  if (isFinished(s)) return none;
  s.updatedAt = now;
  const effects: SchedulerEffect[] = [];
  finish(s, "cancelled", now, effects);
  return { persist: true, effects };
}

function launch(s: SchedulerState, t: TaskRecord, executor: string, backup: boolean, now: number, effects: SchedulerEffect[]): void {
  const attempt: Attempt = { id: `${t.id}#${t.attempts.length + 1}`, executor, backup, startedAt: now, lastHeardAt: now, endedAt: null, outcome: "running", error: null };
  if (backup) s.counters.backups += 1;
  else if (failures(t) > 0) s.counters.reExecutions += 1;
  t.attempts.push(attempt);
  t.state = "in-progress";
  const e = executorOf(s, executor);
  e.inFlight += 1;
  e.assigned += 1;
  s.counters.assignments += 1;
  effects.push({ type: "assign", taskId: t.id, attemptId: attempt.id, executor, stage: t.stage, backup });
}

/** Executors that already failed this task or went silent on it: avoided when another has room. */
function triedAndLost(t: TaskRecord): Set<string> {
  return new Set(t.attempts.filter((a) => a.outcome === "failed" || a.outcome === "timed-out").map((a) => a.executor));
}

/** The one running attempt of a task that may still get a backup (one backup per task), or null. */
function backupCandidate(t: TaskRecord): Attempt | null {
  if (t.state !== "in-progress" || t.attempts.some((a) => a.backup)) return null;
  const r = running(t);
  return r.length === 1 ? r[0]! : null;
}

const inFlightTotal = (s: SchedulerState): number => s.executors.reduce((n, e) => n + e.inFlight, 0);

/**
 * The alarm's step. In order: attempts silent for attemptTimeoutMs are presumed crashed and their tasks
 * re-executed (§3.3); idle tasks of the current stage go to the least-loaded executors; then stragglers
 * near the end of the stage get one backup each on another executor (§3.6). At most
 * budget.maxAssignments assignments, and never more than budget.maxInFlight attempts running.
 */
export function tick(s: SchedulerState, now: number, budget: TickBudget = DEFAULT_TICK_BUDGET): Step {
  assertTickBudget(budget);
  if (isFinished(s)) return none;
  s.updatedAt = now;
  const effects: SchedulerEffect[] = [];
  let changed = false;
  const timeoutMs = s.config.attemptTimeoutMs;
  for (const t of currentStageTasks(s)) {
    if (t.state !== "in-progress") continue;
    const silent = running(t).filter((a) => now - a.lastHeardAt >= timeoutMs);
    if (silent.length === 0) continue;
    for (const a of silent) {
      endAttempt(s, a, "timed-out", now, `no word from executor ${a.executor} for ${now - a.lastHeardAt} ms`);
      executorOf(s, a.executor).timedOut += 1;
      s.counters.timeouts += 1;
      t.error = a.error;
    }
    changed = true;
    afterAttemptLost(s, t, now, effects);
    if (isFinished(s)) return { persist: true, effects };
  }
  settleStages(s, now, effects);
  if (isFinished(s)) return { persist: true, effects };

  const { maxPerExecutor } = s.config;
  const tasks = currentStageTasks(s);
  let inFlight = inFlightTotal(s);
  let assigned = 0;
  const budgetLeft = () => assigned < budget.maxAssignments && inFlight < budget.maxInFlight;
  // Locality first (§3.4): idle tasks whose home has room go there; then the rest, least-loaded, so an
  // executor that frees a slot takes a task of its own rather than one whose home is merely busy.
  const hasRoomAtHome = (t: TaskRecord) => t.home !== undefined && !triedAndLost(t).has(t.home) && s.executors.some((e) => e.name === t.home && e.inFlight < maxPerExecutor);
  for (const pass of [hasRoomAtHome, () => true]) {
    for (const t of tasks) {
      if (!budgetLeft()) break;
      if (t.state !== "idle" || !pass(t)) continue;
      const executor = leastLoadedExecutor(s.executors, maxPerExecutor, new Set(), triedAndLost(t), t.home);
      if (executor === null) break; // every executor is full
      launch(s, t, executor, false, now, effects);
      assigned += 1;
      inFlight += 1;
    }
  }
  const after = backupAfterMs(s, tasks);
  if (after !== null) {
    for (const t of tasks) {
      if (!budgetLeft()) break;
      const primary = backupCandidate(t);
      if (primary === null || now - primary.startedAt < after) continue;
      const executor = leastLoadedExecutor(s.executors, maxPerExecutor, new Set([primary.executor]), triedAndLost(t));
      if (executor === null) continue;
      launch(s, t, executor, true, now, effects);
      assigned += 1;
      inFlight += 1;
    }
  }
  return { persist: changed || effects.length > 0, effects };
}

/**
 * When the alarm should next run tick (null: the job has ended). `s.updatedAt` (already due) when idle
 * work could be assigned now; otherwise the earliest of attempt timeouts and straggler thresholds. Work
 * blocked on a full pool needs no alarm: the completions or timeouts that free it come first.
 */
export function nextWakeAt(s: SchedulerState, budget: TickBudget = DEFAULT_TICK_BUDGET): number | null {
  if (isFinished(s)) return null;
  const tasks = currentStageTasks(s);
  const { maxPerExecutor, attemptTimeoutMs } = s.config;
  let wake = Number.POSITIVE_INFINITY;
  for (const t of tasks) for (const a of running(t)) wake = Math.min(wake, a.lastHeardAt + attemptTimeoutMs);
  const room = inFlightTotal(s) < budget.maxInFlight;
  if (room && hasRoom(s.executors, maxPerExecutor) && tasks.some((t) => t.state === "idle")) wake = Math.min(wake, s.updatedAt);
  const after = backupAfterMs(s, tasks);
  if (room && after !== null) {
    for (const t of tasks) {
      const primary = backupCandidate(t);
      if (primary !== null && hasRoom(s.executors, maxPerExecutor, new Set([primary.executor]))) wake = Math.min(wake, primary.startedAt + after);
    }
  }
  return Number.isFinite(wake) ? wake : null;
}

/** The output references of a stage's completed tasks, in task order (e.g. the map outputs a reducer reads). */
export function resultRefs(s: SchedulerState, stage: StageName): { taskId: string; resultRef: string }[] {
  return s.tasks.filter((t) => t.stage === stage && t.resultRef !== null).map((t) => ({ taskId: t.id, resultRef: t.resultRef! }));
}
