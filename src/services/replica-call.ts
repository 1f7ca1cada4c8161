import { QuorumTracker } from "../core/cache/quorum";
import { guardedCall, withTimeout, type GuardOptions } from "./do-guard";

export interface ReplicaSuccess<T> {
  index: number;
  shard: string;
  value: T;
}
export interface ReplicaFailure {
  index: number;
  shard: string;
  reason: string;
  error: unknown;
}
export interface QuorumResult<T> {
  met: boolean;
  results: ReplicaSuccess<T>[];
  failures: ReplicaFailure[];
  /** Settles with every launched call's outcome once all have finished: hand it to waitUntil so late writes still land. */
  rest: Promise<{ results: ReplicaSuccess<T>[]; failures: ReplicaFailure[] }>;
}

// The timeout policy lives with the breaker it feeds (do-guard.ts); re-exported for existing importers.
export { TimeoutError, withTimeout } from "./do-guard";

/** Puts every replica call of a quorum under its object's breaker (do-guard.ts). */
export interface ReplicaGuard {
  /** The breaker's registry name of a replica, e.g. shard-3 -> "cache/shard-3". */
  name: (shard: string) => string;
  options: GuardOptions;
}

/**
 * Calls replicas of a preference list until `needed` of them answer. Each call has its own timeout
 * so a slow replica is skipped, never waited on; every call's timeout is capped by the time left
 * before `deadlineMs`, so the whole call ends by then.
 * `eager` contacts every replica at once (writes); otherwise only as many as still needed (reads),
 * adding the next replica of the list each time one fails.
 * With `guard`, a replica whose breaker is open fails at once (CircuitOpenError), so the next one of
 * the list is tried without waiting for its timeout; every call's outcome is recorded on its breaker.
 */
export function callQuorum<T>(
  replicas: readonly string[],
  needed: number,
  eager: boolean,
  call: (shard: string) => Promise<T>,
  timeoutMs: number,
  deadlineMs: number,
  options: { now?: () => number; guard?: ReplicaGuard } = {},
): Promise<QuorumResult<T>> {
  const { now = Date.now, guard } = options;
  const deadlineAt = now() + deadlineMs;
  return new Promise((resolve) => {
    const tracker = new QuorumTracker(replicas.length, needed, eager);
    const results: ReplicaSuccess<T>[] = [];
    const failures: ReplicaFailure[] = [];
    const launched: Promise<void>[] = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      resolve({
        met: tracker.outcome() === "met",
        results: [...results],
        failures: [...failures],
        rest: Promise.allSettled(launched).then(() => ({ results, failures })),
      });
    };
    const pump = (): void => {
      for (const index of tracker.launch()) {
        const shard = replicas[index] as string;
        // Each call's timeout is capped by what is left of the deadline, so the whole call ends by
        // the deadline without a timer of its own.
        const ms = Math.max(1, Math.min(timeoutMs, deadlineAt - now()));
        // Started only once the breaker (if any) allows it: an open one refuses without calling.
        const start = (): Promise<T> => {
          const attempt = (async () => call(shard))();
          // A call that loses the race to its timeout still settles later; keep it from surfacing as unhandled.
          attempt.catch(() => undefined);
          return attempt;
        };
        // Behind a guard the call may first queue for admission; its timeout starts when it is admitted,
        // and the deadline bounds both.
        const outcome = guard === undefined ? withTimeout(start(), ms) : guardedCall(guard.name(shard), timeoutMs, start, { ...guard.options, deadlineAt });
        launched.push(
          outcome.then(
            (value) => {
              tracker.ack(index);
              results.push({ index, shard, value });
            },
            (err: unknown) => {
              tracker.fail(index);
              failures.push({ index, shard, reason: err instanceof Error ? err.message : String(err), error: err });
            },
          ).then(() => {
            if (settled) return;
            if (tracker.outcome() === "pending") pump();
            else finish();
          }),
        );
      }
      if (tracker.outcome() !== "pending") finish();
    };
    pump();
  });
}
