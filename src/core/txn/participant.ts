import type { AbortReason, Outcome } from "./types";

/** What a participant remembers durably about a transaction it voted yes on and has not yet learned the outcome of. */
export interface PreparedTxn {
  txn: string;
  keys: string[];
  preparedAt: number;
  nextInquiryAt: number;
  inquiries: number;
}

/** What a participant looks up to answer a message (its lock table, prepared and finished transactions). */
export interface ParticipantView {
  lockHolder(key: string): string | undefined;
  prepared(txn: string): PreparedTxn | undefined;
  finished(txn: string): Outcome | undefined;
}

export type PrepareAction =
  | { action: "lock"; prepared: PreparedTxn }
  /** Already prepared (a duplicate PREPARE): vote yes again, nothing new to persist. */
  | { action: "revote" }
  | { action: "refuse"; reason: AbortReason };

/**
 * PREPARE, no-wait locking: a key locked by another transaction makes the vote "no" at once, so no
 * transaction ever waits for another and deadlock is impossible (the cost: an abort under contention,
 * which the client retries). A transaction already decided here (its decision overtook the PREPARE,
 * or the PREPARE is a late duplicate) is never prepared again.
 */
export function onPrepare(view: ParticipantView, txn: string, keys: readonly string[], now: number, inquiryAfterMs: number): PrepareAction {
  const done = view.finished(txn);
  if (done !== undefined) return { action: "refuse", reason: { code: "presumed_abort", message: `transaction already ${done} here` } };
  const prepared = view.prepared(txn);
  if (prepared) {
    // The same transaction asking again (a duplicate, or a retry after its coordinator restarted);
    // with other keys it is not the same transaction, and the locks it holds here do not cover them.
    const same = prepared.keys.length === keys.length && keys.every((k) => prepared.keys.includes(k));
    return same ? { action: "revote" } : { action: "refuse", reason: { code: "conflict", message: "already prepared here with other keys" } };
  }
  for (const key of keys) {
    const holder = view.lockHolder(key);
    if (holder !== undefined && holder !== txn)
      return { action: "refuse", reason: { code: "conflict", message: `"${key}" is locked by another transaction (${holder}); retry`, key } };
  }
  return { action: "lock", prepared: { txn, keys: [...keys], preparedAt: now, nextInquiryAt: now + inquiryAfterMs, inquiries: 0 } };
}

/** How long a PREPARE may wait for locks, and its transaction's age (wait-die). */
export interface LockWait {
  /** The transaction's priority: its first attempt's start time; smaller is older. */
  priority: number;
  /** How long this PREPARE may wait for locks held by younger transactions. */
  waitMs: number;
}

export type LockWaitAction =
  /** No key is held by another transaction: prepare now. */
  | { action: "proceed" }
  /** A key is held by a younger transaction: the older one waits for its release. */
  | { action: "wait"; key: string }
  /** A key is held by an older transaction, or one of unknown age: the younger one dies (is refused), so no cycle of waits can form. */
  | { action: "die"; key: string; holder: string };

/**
 * Wait-die (Rosenkrantz, Stearns and Lewis, 1978): a transaction meeting a lock waits only if it is
 * OLDER than the holder; a younger one is refused at once and retried by its client with its original
 * priority, so it ages until it is the oldest and waits instead. Waits only ever point from older to
 * younger transactions, so they cannot form a cycle: no deadlock, and no starvation. A holder whose
 * age is unknown here (prepared before this object restarted) is treated as older.
 */
export function onLockWait(view: ParticipantView & { priorityOf(txn: string): number | undefined }, txn: string, keys: readonly string[], wait: LockWait | undefined): LockWaitAction {
  for (const key of keys) {
    const holder = view.lockHolder(key);
    if (holder === undefined || holder === txn) continue;
    const theirs = view.priorityOf(holder);
    if (wait === undefined || wait.waitMs <= 0 || theirs === undefined || !(wait.priority < theirs || (wait.priority === theirs && txn < holder))) return { action: "die", key, holder };
    return { action: "wait", key };
  }
  return { action: "proceed" };
}

export type DecisionAction =
  /** Prepared here: apply the writes (if committed) and release the locks, in one durable step. */
  | { action: "apply"; prepared: PreparedTxn }
  /** Never prepared here (the decision overtook the PREPARE, or the vote was lost): remember the outcome so a late PREPARE is refused; a commit's writes are applied by version, which is safe without a lock. */
  | { action: "fence" }
  /** Already applied: a duplicate; acknowledge again. */
  | { action: "ack" };

/** A decision (COMMIT/ABORT) arrives. Idempotent: duplicates and late copies only acknowledge. */
export function onDecision(view: ParticipantView, txn: string): DecisionAction {
  const prepared = view.prepared(txn);
  if (prepared) return { action: "apply", prepared };
  if (view.finished(txn) !== undefined) return { action: "ack" };
  return { action: "fence" };
}

/** Delay before the n-th inquiry of an in-doubt transaction: from `base`, doubling, capped. */
export function inquiryDelay(base: number, inquiries: number, maxMs: number): number {
  return Math.min(base * 2 ** Math.min(inquiries, 20), maxMs);
}

/** In-doubt transactions whose coordinator should be asked now. A participant that voted yes never decides alone. */
export function dueInquiries<T extends PreparedTxn>(prepared: Iterable<T>, now: number): T[] {
  const out: T[] = [];
  for (const p of prepared) if (p.nextInquiryAt <= now) out.push(p);
  return out;
}
