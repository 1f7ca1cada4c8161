import { hintRetryDelay } from "../src/core/cache/timers";
import { withTimeout } from "../src/services/replica-call";
import type { CacheShard, ShardWrite } from "./cache-shard";

/** Hints handed off per alarm run. */
const HINT_BATCH = 20;

/**
 * Hinted handoff storage for a CacheShard: which replica (`target`) missed which key's write. One
 * hint per (target, key); it only ever moves forward to a newer version.
 */
export function createHintTables(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS hints (
    target TEXT NOT NULL, key TEXT NOT NULL, version TEXT NOT NULL, due_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL, give_up_at INTEGER NOT NULL, PRIMARY KEY (target, key))`);
  sql.exec("CREATE INDEX IF NOT EXISTS hints_due ON hints (due_at)");
}

/** Records that `targets` missed `version` of `key`; answers when the first delivery is due. */
export function recordHints(sql: SqlStorage, key: string, version: string, targets: string[], now: number, giveUpAt: number): number {
  const dueAt = now + hintRetryDelay(0);
  for (const target of targets) {
    // A late, older hint changes nothing.
    sql.exec(
      `INSERT INTO hints (target, key, version, due_at, attempts, give_up_at) VALUES (?, ?, ?, ?, 0, ?)
       ON CONFLICT (target, key) DO UPDATE SET version = excluded.version, due_at = excluded.due_at,
         attempts = 0, give_up_at = excluded.give_up_at WHERE excluded.version > hints.version`,
      target, key, version, dueAt, giveUpAt,
    );
  }
  return dueAt;
}

export function pendingHints(sql: SqlStorage): number {
  return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM hints").one().n;
}

export function nextHintDue(sql: SqlStorage): number | null {
  return sql.exec<{ at: number | null }>("SELECT MIN(due_at) AS at FROM hints").one().at;
}

/**
 * Sends each due hint's target this replica's newest copy of the key (`copyOf`; null when there is
 * nothing worth handing off, e.g. only an eviction marker). Delivered hints are removed up to the
 * version sent, so a hint replaced by a newer write during the delivery stays; failed ones back off.
 * Answers how many were delivered.
 */
export async function deliverDueHints(
  sql: SqlStorage,
  shard: (target: string) => DurableObjectStub<CacheShard>,
  copyOf: (key: string) => ShardWrite | null,
  now: number,
  timeoutMs: number,
): Promise<number> {
  const due = sql
    .exec<{ target: string; key: string; version: string; attempts: number; give_up_at: number }>(
      "SELECT target, key, version, attempts, give_up_at FROM hints WHERE due_at <= ? ORDER BY due_at LIMIT ?",
      now, HINT_BATCH,
    )
    .toArray();
  let delivered = 0;
  await Promise.all(
    due.map(async (hint) => {
      const write = copyOf(hint.key);
      if (write === null || hint.give_up_at <= now) {
        sql.exec("DELETE FROM hints WHERE target = ? AND key = ? AND version = ?", hint.target, hint.key, hint.version);
        return;
      }
      try {
        const res = await withTimeout(shard(hint.target).put(write), timeoutMs);
        // A key locked by a transaction took nothing: keep the hint and try again later.
        if (res.locked !== undefined) throw new Error(`locked by ${res.locked}`);
        sql.exec("DELETE FROM hints WHERE target = ? AND key = ? AND version <= ?", hint.target, hint.key, write.version);
        delivered++;
      } catch {
        sql.exec(
          "UPDATE hints SET attempts = attempts + 1, due_at = ? WHERE target = ? AND key = ? AND version = ?",
          Date.now() + hintRetryDelay(hint.attempts + 1), hint.target, hint.key, hint.version,
        );
      }
    }),
  );
  return delivered;
}
