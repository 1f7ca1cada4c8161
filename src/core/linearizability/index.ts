/** Linearizability checking for KV histories: record with HistoryRecorder, check, print the witness. */
export { type CheckOptions, type CheckResult, checkLinearizable, DEFAULT_MAX_STATES } from "./check";
export { formatCheckResult, formatOperation, formatTimeline } from "./format";
export * from "./history";
