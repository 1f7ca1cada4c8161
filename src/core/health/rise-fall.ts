import { requireInt } from "./checks";

/**
 * Active health-check bookkeeping with rise/fall thresholds, as HAProxy's `rise`/`fall` and Envoy's
 * `healthy_threshold`/`unhealthy_threshold`: an unhealthy upstream becomes healthy after `rise`
 * consecutive passes, a healthy one unhealthy after `fall` consecutive failures. A result of the other
 * kind resets the run. (HAProxy actually keeps one up/down counter rather than two runs; with
 * consecutive runs a flapping upstream never changes state, which is the behaviour specified here.)
 *
 * `initial` is the state of an upstream before any check. `firstPassMarksHealthy` mirrors Envoy: "during
 * startup, only a single successful health check is required to mark a host healthy" — an upstream
 * that starts unhealthy and has never been checked becomes healthy on its first pass.
 */

export type Health = "healthy" | "unhealthy";

export interface RiseFallConfig {
  rise: number;
  fall: number;
  initial: Health;
  firstPassMarksHealthy: boolean;
}

/** rise 2 and fall 3 are HAProxy's defaults; a new upstream starts unhealthy and gets traffic once checks prove it. */
export const DEFAULT_RISE_FALL_CONFIG: Readonly<RiseFallConfig> = { rise: 2, fall: 3, initial: "unhealthy", firstPassMarksHealthy: false };

export interface RiseFallState {
  config: RiseFallConfig;
  health: Health;
  /** Current run of consecutive passes (0 after a failure). */
  passes: number;
  /** Current run of consecutive failures (0 after a pass). */
  failures: number;
  /** Checks recorded so far. */
  checks: number;
}

export interface RiseFallStep {
  state: RiseFallState;
  /** The health changed with this check. */
  changed: boolean;
}

/** An upstream before its first check. Throws RangeError on an invalid configuration. */
export function createRiseFall(config: Partial<RiseFallConfig> = {}): RiseFallState {
  const full: RiseFallConfig = { ...DEFAULT_RISE_FALL_CONFIG, ...config };
  requireInt("rise", full.rise, 1);
  requireInt("fall", full.fall, 1);
  if (full.initial !== "healthy" && full.initial !== "unhealthy") throw new RangeError(`unknown initial health ${String(full.initial)}`);
  return { config: full, health: full.initial, passes: 0, failures: 0, checks: 0 };
}

/** Records one active check result. */
export function recordCheck(state: RiseFallState, passed: boolean): RiseFallStep {
  const c = state.config;
  const checks = state.checks + 1;
  if (passed) {
    const passes = state.passes + 1;
    const rises = state.health === "unhealthy" && (passes >= c.rise || (c.firstPassMarksHealthy && state.checks === 0));
    return { state: { ...state, health: rises ? "healthy" : state.health, passes, failures: 0, checks }, changed: rises };
  }
  const failures = state.failures + 1;
  const falls = state.health === "healthy" && failures >= c.fall;
  return { state: { ...state, health: falls ? "unhealthy" : state.health, passes: 0, failures, checks }, changed: falls };
}

/** Whether the upstream is currently healthy. */
export function isHealthy(state: RiseFallState): boolean {
  return state.health === "healthy";
}
