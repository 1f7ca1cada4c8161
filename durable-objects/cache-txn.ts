import type { ParticipantView, PreparedTxn } from "../src/core/txn/participant";
import type { Outcome } from "../src/core/txn/types";
import { retentionSweepAt } from "../src/core/timers/retention";

/** How long a participant remembers a finished transaction, so a late PREPARE or decision for it changes nothing. */
export const FINISHED_RETENTION_MS = 24 * 60 * 60 * 1000;

interface PreparedRow extends Record<string, SqlStorageValue> {
  txn: string;
  coordinator: string;
  keys: string;
  prepared_at: number;
  next_inquiry_at: number;
  inquiries: number;
}

/**
 * A CacheShard's two-phase-commit state: transactions prepared here (voted yes, outcome unknown) with
 * the keys they lock, and recently finished ones. Everything is in SQLite and changes in the caller's
 * transaction; the lock table is derived from the prepared rows and kept in memory (it is small) so
 * plain reads check it for free, and readers waiting for a lock are woken when it is released.
 *
 * Rows written are billed, index entries included: the lock table is not stored (a prepared row
 * already names its keys, and a key is locked by at most one prepared transaction), and both tables
 * are WITHOUT ROWID, so a TEXT primary key costs no separate index entry per insert.
 */
export class TxnParticipantStore implements ParticipantView {
  private readonly locks = new Map<string, string>();
  private readonly preparedTxns = new Map<string, PreparedTxn & { coordinator: string }>();
  private readonly waiters = new Map<string, (() => void)[]>();
  /** Wait-die priorities of the transactions prepared here (memory only: after a restart they are unknown, and treated as oldest). */
  private readonly priorities = new Map<string, number>();

  private readonly sql: SqlStorage;

  constructor(storage: Pick<DurableObjectStorage, "sql" | "transactionSync">) {
    const sql = (this.sql = storage.sql);
    storage.transactionSync(() => {
      createWithoutRowid(sql, "txn_prepared", `txn TEXT PRIMARY KEY, coordinator TEXT NOT NULL, keys TEXT NOT NULL,
        prepared_at INTEGER NOT NULL, next_inquiry_at INTEGER NOT NULL, inquiries INTEGER NOT NULL`);
      createWithoutRowid(sql, "txn_finished", "txn TEXT PRIMARY KEY, outcome TEXT NOT NULL, at INTEGER NOT NULL");
      sql.exec("CREATE INDEX IF NOT EXISTS txn_finished_at ON txn_finished (at)");
      // Earlier versions stored the lock table too; it always matched the prepared rows.
      sql.exec("DROP TABLE IF EXISTS txn_locks");
    });
    this.reload();
  }

  /** Rebuilds the memory mirrors of the prepared table and its locks (at start, and after a failed storage transaction). */
  reload(): void {
    this.locks.clear();
    this.preparedTxns.clear();
    for (const row of this.sql.exec<PreparedRow>("SELECT * FROM txn_prepared")) {
      const p = { ...toPrepared(row), coordinator: row.coordinator };
      this.preparedTxns.set(row.txn, p);
      for (const key of p.keys) this.locks.set(key, p.txn);
    }
  }

  get lockCount(): number {
    return this.locks.size;
  }

  lockHolder(key: string): string | undefined {
    return this.locks.get(key);
  }

  prepared(txn: string): PreparedTxn | undefined {
    return this.preparedTxns.get(txn);
  }

  /** The coordinator object a transaction prepared here answers to. */
  coordinatorOf(txn: string): string | undefined {
    return this.preparedTxns.get(txn)?.coordinator;
  }

  finished(txn: string): Outcome | undefined {
    return this.sql.exec<{ outcome: Outcome }>("SELECT outcome FROM txn_finished WHERE txn = ?", txn).toArray()[0]?.outcome;
  }

  /** Every transaction in doubt here, with the name of the coordinator object to ask. */
  allPrepared(): (PreparedTxn & { coordinator: string })[] {
    return [...this.preparedTxns.values()];
  }

  priorityOf(txn: string): number | undefined {
    return this.priorities.get(txn);
  }

  /** Records PREPARED and takes the locks (call inside a storage transaction; the memory mirror follows at once). */
  recordPrepared(p: PreparedTxn, coordinator: string, priority?: number): void {
    if (priority !== undefined) this.priorities.set(p.txn, priority);
    this.sql.exec(
      "INSERT INTO txn_prepared (txn, coordinator, keys, prepared_at, next_inquiry_at, inquiries) VALUES (?, ?, ?, ?, ?, ?)",
      p.txn, coordinator, JSON.stringify(p.keys), p.preparedAt, p.nextInquiryAt, p.inquiries,
    );
    this.preparedTxns.set(p.txn, { ...p, coordinator });
    for (const key of p.keys) this.locks.set(key, p.txn);
  }

  /** Updates when an in-doubt transaction's coordinator is asked next. */
  rescheduleInquiry(txn: string, nextAt: number, inquiries: number): void {
    this.sql.exec("UPDATE txn_prepared SET next_inquiry_at = ?, inquiries = ? WHERE txn = ?", nextAt, inquiries, txn);
    const p = this.preparedTxns.get(txn);
    if (p) this.preparedTxns.set(txn, { ...p, nextInquiryAt: nextAt, inquiries });
  }

  /** Forgets PREPARED, releases the transaction's locks and remembers the outcome (call inside a storage transaction). */
  recordFinished(txn: string, outcome: Outcome, now: number, keys: readonly string[]): void {
    this.sql.exec("DELETE FROM txn_prepared WHERE txn = ?", txn);
    this.preparedTxns.delete(txn);
    this.priorities.delete(txn);
    this.sql.exec("INSERT OR REPLACE INTO txn_finished (txn, outcome, at) VALUES (?, ?, ?)", txn, outcome, now);
    for (const key of keys) if (this.locks.get(key) === txn) this.locks.delete(key);
  }

  /** Wakes the plain reads and writes waiting for these keys (call once their release is applied). */
  wake(keys: readonly string[]): void {
    for (const key of keys) {
      if (this.locks.has(key)) continue;
      const waiting = this.waiters.get(key);
      this.waiters.delete(key);
      for (const wake of waiting ?? []) wake();
    }
  }

  /** Waits up to `ms` for `key` to be unlocked; answers the holder if it still is. */
  async waitUnlocked(key: string, ms: number): Promise<string | undefined> {
    const until = Date.now() + ms;
    for (;;) {
      const holder = this.locks.get(key);
      const left = until - Date.now();
      if (holder === undefined || left <= 0) return holder;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        const list = this.waiters.get(key) ?? [];
        list.push(() => (clearTimeout(timer), resolve()));
        this.waiters.set(key, list);
      });
    }
  }

  nextInquiryDue(): number | null {
    let at: number | null = null;
    for (const p of this.preparedTxns.values()) if (at === null || p.nextInquiryAt < at) at = p.nextInquiryAt;
    return at;
  }

  /** When the oldest finished record is forgotten (at the end of its retention slot, with the others of that slot). */
  nextForgetDue(): number | null {
    const at = this.sql.exec<{ at: number | null }>("SELECT MIN(at) AS at FROM txn_finished").one().at;
    return at === null ? null : retentionSweepAt(at + FINISHED_RETENTION_MS);
  }

  forgetFinished(now: number): void {
    this.sql.exec("DELETE FROM txn_finished WHERE at <= ?", now - FINISHED_RETENTION_MS);
  }

  counts(): { locks: number; prepared: number; finished: number } {
    return {
      locks: this.locks.size,
      prepared: this.preparedTxns.size,
      finished: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM txn_finished").one().n,
    };
  }
}

function toPrepared(row: PreparedRow): PreparedTxn {
  return { txn: row.txn, keys: JSON.parse(row.keys) as string[], preparedAt: row.prepared_at, nextInquiryAt: row.next_inquiry_at, inquiries: row.inquiries };
}

/**
 * Creates `table` WITHOUT ROWID, or rebuilds one an earlier version made as a rowid table (there its
 * TEXT primary key was an index of its own: one more row written per insert). Rows are copied over;
 * the old table's indexes go with it, so create them after this.
 */
function createWithoutRowid(sql: SqlStorage, table: string, columns: string): void {
  const existing = sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray()[0];
  if (existing && /WITHOUT\s+ROWID\s*$/i.test(existing.sql)) return;
  if (existing) sql.exec(`ALTER TABLE ${table} RENAME TO ${table}_rowid`);
  sql.exec(`CREATE TABLE ${table} (${columns}) WITHOUT ROWID`);
  if (!existing) return;
  sql.exec(`INSERT INTO ${table} SELECT * FROM ${table}_rowid`);
  sql.exec(`DROP TABLE ${table}_rowid`);
}
