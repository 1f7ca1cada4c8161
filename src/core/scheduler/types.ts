/**
 * Vocabulary of the scheduler core: the master of the MapReduce paper (Dean & Ghemawat, OSDI 2004,
 * §3.1-3.3 and §3.6) for one job or one batch of tasks. The state is plain JSON, so the Durable Object
 * that owns it can store it as is.
 */

/** A stage of work: a job runs "map" then "reduce" (§3.1); a plain task batch has the one stage "run". */
export type StageName = "map" | "reduce" | "run";

/** Where the whole job is: its current stage, or how it ended. */
export type JobPhase = StageName | "done" | "failed" | "cancelled";

/** What kind of work this master schedules; decides the stages and what one task's failure means. */
export type WorkKind = "job" | "batch";

/**
 * A task's state (§3.2: idle, in-progress, completed), plus "waiting" (its stage has not started: a reduce
 * task before every map output exists) and "failed" (out of attempts).
 */
export type TaskState = "waiting" | "idle" | "in-progress" | "completed" | "failed";

/**
 * How one attempt ended. "timed-out": the executor went silent for attemptTimeoutMs and the task was
 * re-executed (a late completion of it is still accepted while the task is not completed);
 * "superseded": another attempt of the task completed first; "cancelled": the job ended under it.
 */
export type AttemptOutcome = "running" | "completed" | "failed" | "timed-out" | "superseded" | "cancelled";

/** One execution of a task on one executor. */
export interface Attempt {
  /** `<taskId>#<n>`, n counting from 1: unique within the job, so the executor can echo it back. */
  id: string;
  executor: string;
  /** A backup execution of a straggler (§3.6), not a re-execution after a failure. */
  backup: boolean;
  startedAt: number;
  /** Last sign of life: the start, or the latest heartbeat. The timeout counts from here. */
  lastHeardAt: number;
  endedAt: number | null;
  outcome: AttemptOutcome;
  error: string | null;
}

export interface TaskRecord {
  id: string;
  stage: StageName;
  state: TaskState;
  attempts: Attempt[];
  /** The winning attempt's output (e.g. a storage key); null until the task is completed. */
  resultRef: string | null;
  /** The attempt whose completion counted (the first one to complete). */
  completedBy: string | null;
  completedAt: number | null;
  /** Last error seen (the failure reason once the task has failed). */
  error: string | null;
  /** The executor holding the task's input (a map task's split), preferred when it has room; absent: none. */
  home?: string;
}

export interface StageRecord {
  name: StageName;
  taskIds: string[];
  startedAt: number | null;
  endedAt: number | null;
}

/** An executor of the fixed pool as the master sees it. */
export interface ExecutorRecord {
  name: string;
  /** Attempts running on it now (the least-loaded policy's measure). */
  inFlight: number;
  assigned: number;
  completed: number;
  failed: number;
  timedOut: number;
}

/** When stragglers get a backup execution (§3.6). */
export interface BackupPolicy {
  /** The stage is near its end once at most this many of its tasks are not completed ... */
  remainingAtMost: number;
  /** ... or once at least this fraction of them is completed (0.9 = 90 %). */
  completedFractionAtLeast: number;
  /** An attempt is a straggler once it has run this many times the stage's median completed duration ... */
  stragglerFactor: number;
  /** ... and at least this long (so a stage of millisecond tasks does not back up everything). */
  minRunMs: number;
}

export interface SchedulerConfig {
  /** The fixed pool of N executor names. Their order is the tie-break of the least-loaded choice. */
  executors: string[];
  /** Failed (or timed-out) attempts a task may have; at that many, with none still running, it fails. */
  maxAttempts: number;
  /** An attempt not heard from for this long is presumed crashed and its task re-executed (§3.3). */
  attemptTimeoutMs: number;
  /** Attempts one executor runs at once. */
  maxPerExecutor: number;
  /** null: no backup tasks. */
  backup: BackupPolicy | null;
}

/**
 * How much one step (one alarm invocation) may do. Each assignment is one subrequest from the master to
 * an executor object, so these keep an invocation inside Workers' limits (see DEFAULT_TICK_BUDGET).
 */
export interface TickBudget {
  /** Assignments (new attempts, backups included) per step. */
  maxAssignments: number;
  /** Attempts running at once over the whole pool. */
  maxInFlight: number;
}

/** Why the job failed: the task that ran out of attempts and its last error. */
export interface SchedulerError {
  taskId: string;
  attempts: number;
  message: string;
}

/** Counters for the report; `ignoredCompletions` is where duplicates went instead of being double counted. */
export interface SchedulerCounters {
  assignments: number;
  reExecutions: number;
  backups: number;
  backupWins: number;
  timeouts: number;
  failures: number;
  ignoredCompletions: number;
}

/** The master's record of one job: persisted before any effect of a step is carried out. */
export interface SchedulerState {
  id: string;
  kind: WorkKind;
  config: SchedulerConfig;
  phase: JobPhase;
  stages: StageRecord[];
  /** Index into stages of the stage running now (stages.length once the job has ended well). */
  stageIndex: number;
  tasks: TaskRecord[];
  executors: ExecutorRecord[];
  createdAt: number;
  /** Time of the latest event applied: "now" as far as nextWakeAt is concerned. */
  updatedAt: number;
  endedAt: number | null;
  error: SchedulerError | null;
  counters: SchedulerCounters;
}

/** Why the master tells an executor to drop an attempt. */
export type ReleaseReason = "superseded" | "cancelled" | "job-failed";

/** What the shell must do once the state of the step is durable. */
export type SchedulerEffect =
  /** Hand the task to the executor; it reports back with taskCompleted / taskFailed quoting attemptId. */
  | { type: "assign"; taskId: string; attemptId: string; executor: string; stage: StageName; backup: boolean }
  /** Best effort: the attempt's work is no longer wanted (its result would be ignored anyway). */
  | { type: "release"; taskId: string; attemptId: string; executor: string; reason: ReleaseReason }
  /** The job has ended; nothing more will be assigned. */
  | { type: "finished"; phase: "done" | "failed" | "cancelled"; error: SchedulerError | null };

export interface Step {
  /** The state changed and must be on disk before the effects are carried out. */
  persist: boolean;
  effects: SchedulerEffect[];
}
