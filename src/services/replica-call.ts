import { QuorumTracker } from "../core/cache/quorum";

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

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no reply within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** Rejects with TimeoutError if `p` has not settled in `ms`; the timer never outlives the call. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Calls replicas of a preference list until `needed` of them answer. Each call has its own timeout
 * so a slow replica is skipped, never waited on; every call's timeout is capped by the time left
 * before `deadlineMs`, so the whole call ends by then.
 * `eager` contacts every replica at once (writes); otherwise only as many as still needed (reads),
 * adding the next replica of the list each time one fails.
 */
export function callQuorum<T>(
  replicas: readonly string[],
  needed: number,
  eager: boolean,
  call: (shard: string) => Promise<T>,
  timeoutMs: number,
  deadlineMs: number,
  now: () => number = Date.now,
): Promise<QuorumResult<T>> {
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
        const attempt = (async () => call(shard))();
        launched.push(
          // Each call's timeout is capped by what is left of the deadline, so the whole call ends by
          // the deadline without a timer of its own.
          withTimeout(attempt, Math.max(1, Math.min(timeoutMs, deadlineAt - now()))).then(
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
        // A call that lost the race to its timeout still settles later; keep it from surfacing as unhandled.
        attempt.catch(() => undefined);
      }
      if (tracker.outcome() !== "pending") finish();
    };
    pump();
  });
}
