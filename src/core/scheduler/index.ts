/** The MapReduce master (Dean & Ghemawat 2004) as a pure core for one job or one batch of tasks; time passed in. */
export * from "./types";
export {
  DEFAULT_BACKUP_POLICY,
  DEFAULT_TICK_BUDGET,
  assertSchedulerConfig,
  assertTickBudget,
  cancel,
  createBatch,
  createJob,
  currentStageTasks,
  findTask,
  isFinished,
  nextWakeAt,
  resultRefs,
  taskCompleted,
  taskFailed,
  taskHeartbeat,
  tick,
} from "./scheduler";
export { backupAfterMs, medianCompletedMs } from "./backup";
export { hasRoom, leastLoadedExecutor } from "./executors";
export { type AttemptView, checkInvariants, type ProgressView, progressView, type StageView, type TaskView } from "./progress";
