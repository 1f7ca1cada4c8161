import { KeyLocks, LockWaitDeadlineError } from "../core/sequencer/key-locks";
import { HttpError } from "../http/errors";

/**
 * This isolate's one table of key locks (src/core/sequencer/key-locks.ts): every read-modify-write
 * path (Redis units, /txn) takes its keys here, in sorted order, before its two-phase commit, so work
 * on the same keys in this isolate queues instead of aborting one another, and cannot deadlock.
 * Across isolates the participants' wait-die takes over.
 */
// The core takes time and sleeping as inputs; here they are the runtime's own.
export const keyLocks = new KeyLocks({ now: Date.now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });

export { LockWaitDeadlineError };

/** Runs `fn` holding `keys` (waiting in line until `deadlineAt`; then a 503 with Retry-After). */
export async function withKeys<T>(keys: readonly string[], deadlineAt: number, fn: () => Promise<T>): Promise<T> {
  let release: () => void;
  try {
    release = await keyLocks.acquire(keys, deadlineAt);
  } catch (err) {
    if (err instanceof LockWaitDeadlineError) throw new HttpError(503, "overloaded", `${err.message}; retry`, undefined, { "Retry-After": "1" });
    throw err;
  }
  try {
    return await fn();
  } finally {
    release();
  }
}
