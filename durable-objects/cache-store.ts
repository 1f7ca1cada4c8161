import { isExpired, shouldApply } from "../src/core/cache/replica-state";
import { compareVersions, versionAfter } from "../src/core/cache/version";
import { retentionSweepAt } from "../src/core/timers/retention";

/** How long a delete, an expiry or an eviction marker is remembered, so an older copy on another replica cannot win a read. */
export const TOMBSTONE_GRACE_MS = 24 * 60 * 60 * 1000;
/** Bytes every row costs beyond its key (counted twice), value and content type: version, expiry, SQLite row and index overhead. */
export const ROW_OVERHEAD_BYTES = 64;
/** Share of the capacity that tombstones and eviction markers may fill before the oldest are forgotten early. */
export const DEAD_SHARE = 0.25;
/** Rows handled per alarm run, so one sweep never runs long; a backlog re-arms the alarm at once. */
const SWEEP_BATCH = 500;
/** How long a SCAN continuation is kept. */
const SCAN_PAGE_TTL_MS = 60 * 60 * 1000;
/**
 * Reads remember recency in memory only (it is written when eviction reaches the key, see makeRoom);
 * past this many keys remembered, they are written to storage at once, which bounds the memory.
 */
const TOUCH_FLUSH = 1000;

/** A replica's answer for one key (see ReplicaRecord in src/core/cache). */
export interface ShardRecord {
  version: string | null;
  live: boolean;
  evicted?: boolean;
  value?: Uint8Array;
  contentType?: string;
  expiresAt?: number | null;
  /** The transaction holding this key's lock, when a plain read gave up waiting for it. */
  locked?: string;
}

/** A versioned write as the router sends it to each replica; `value: null` is a delete (tombstone). */
export interface ShardWrite {
  key: string;
  version: string;
  value: Uint8Array | null;
  contentType: string;
  expiresAt: number | null;
}

/** Row counts and bytes, kept in `meta` and changed in the same transaction as the rows (written only when they changed). */
export interface Accounting {
  liveKeys: number;
  liveBytes: number;
  deadRows: number;
  deadBytes: number;
}

const RowState = { Live: 0, Tombstone: 1, Evicted: 2 } as const;
type RowState = (typeof RowState)[keyof typeof RowState];

interface Row extends Record<string, SqlStorageValue> {
  version: string;
  state: number;
  value: ArrayBuffer | null;
  content_type: string | null;
  expires_at: number | null;
}

interface NewRow {
  state: RowState;
  version: string;
  value: Uint8Array | null;
  contentType: string | null;
  expiresAt: number | null;
  size: number;
}

const encoder = new TextEncoder();
/** A key is stored twice: in its row and in the primary-key index. */
const keyCost = (key: string) => 2 * encoder.encode(key).byteLength;

/**
 * A shard's entries in SQLite: versioned rows with TTL, tombstones and eviction markers, LRU eviction
 * at a byte capacity, and the exact byte accounting kept beside them. Memory holds only the
 * accounting, the counters below and a bounded batch of read-recency updates.
 *
 * Every row written is billed (each index entry a statement adds counts as one more), so the write
 * path is kept to what must be durable: an overwrite updates its row in place, the accounting row is
 * written only when it changed, and a read writes nothing (its recency stays in memory until
 * eviction needs it; after a crash the LRU order is that of the last writes, an approximation).
 */
export class ShardStore {
  private readonly sql: SqlStorage;
  private acc: Accounting;
  private readonly touches = new Map<string, number>();
  /** The earliest expiry written since it was last taken: the shell arms it after the transaction commits (never inside it). */
  private txDue: number | null = null;
  readonly counters = { hits: 0, misses: 0, evictions: 0, expirations: 0 };

  constructor(
    private readonly storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
    private readonly capacity: () => number,
  ) {
    this.sql = storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY, value BLOB, content_type TEXT, version TEXT NOT NULL,
      expires_at INTEGER, state INTEGER NOT NULL, size INTEGER NOT NULL, touched_at INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL");
    this.sql.exec("CREATE INDEX IF NOT EXISTS entries_lru ON entries (touched_at) WHERE state = 0");
    this.sql.exec("CREATE TABLE IF NOT EXISTS scan_pages (id INTEGER PRIMARY KEY AUTOINCREMENT, after TEXT NOT NULL, created_at INTEGER NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.acc = this.meta<Accounting>("accounting") ?? { liveKeys: 0, liveBytes: 0, deadRows: 0, deadBytes: 0 };
  }

  /** A JSON value kept in `meta` under `name`. */
  meta<T>(name: string): T | undefined {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE name = ?", name).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  setMeta(name: string, value: unknown): void {
    // An upsert: updating the row in place writes 1 row, where INSERT OR REPLACE writes its key index entry again too.
    this.sql.exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, JSON.stringify(value));
  }

  /** The accounting as last committed. */
  get accounting(): Readonly<Accounting> {
    return this.acc;
  }

  /** Answers, and forgets, the earliest expiry written since the last call. */
  takeDue(): number | null {
    const due = this.txDue;
    this.txDue = null;
    return due;
  }

  /** The earliest expiry of any row (live, tombstone or marker), for the alarm. */
  nextExpiry(): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM entries WHERE expires_at IS NOT NULL").one().at;
  }

  /** Runs `fn` as one SQLite transaction; the accounting in memory changes only if it commits. */
  tx<T>(fn: (acc: Accounting) => T): T {
    const acc = { ...this.acc };

    const result = this.storage.transactionSync(() => {
      const r = fn(acc);
      // A transaction that changed no row's size or state (a PREPARE, a stale write) leaves the row alone.
      if (!sameAccounting(acc, this.acc)) this.setMeta("accounting", acc);
      return r;
    });
    this.acc = acc;
    return result;
  }

  /** Replaces (or with `next: null` forgets) one row, keeping the accounting exact. */
  private setRow(acc: Accounting, key: string, next: NewRow | null, now: number): void {
    const had = this.release(acc, key);
    if (next === null) {
      if (had) this.sql.exec("DELETE FROM entries WHERE key = ?", key);
      return;
    }
    this.storeRow(acc, key, next, now);
  }

  /** Takes a key's row out of the accounting without touching storage; answers whether there was one. */
  private release(acc: Accounting, key: string): boolean {
    const old = this.sql.exec<{ state: number; size: number }>("SELECT state, size FROM entries WHERE key = ?", key).toArray()[0];
    if (!old) return false;
    if (old.state === RowState.Live) (acc.liveKeys--, (acc.liveBytes -= old.size));
    else (acc.deadRows--, (acc.deadBytes -= old.size));
    return true;
  }

  /** Writes a key's row (its old one already released) and adds it to the accounting. */
  private storeRow(acc: Accounting, key: string, next: NewRow, now: number): void {
    // An upsert: an existing row is updated in place (the row and the index entries whose columns
    // changed), where INSERT OR REPLACE, or a DELETE then an INSERT, also writes its key index entry again.
    this.sql.exec(
      `INSERT INTO entries (key, value, content_type, version, expires_at, state, size, touched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, content_type = excluded.content_type, version = excluded.version,
         expires_at = excluded.expires_at, state = excluded.state, size = excluded.size, touched_at = excluded.touched_at`,
      key, next.value, next.contentType, next.version, next.expiresAt, next.state, next.size, now,
    );
    if (next.state === RowState.Live) (acc.liveKeys++, (acc.liveBytes += next.size));
    else (acc.deadRows++, (acc.deadBytes += next.size));
    if (next.expiresAt !== null && (this.txDue === null || next.expiresAt < this.txDue)) this.txDue = next.expiresAt;
  }

  /** A row that remembers only a version: a tombstone (deleted or expired) or an eviction marker. */
  private deadRow(state: RowState, key: string, version: string, now: number): NewRow {
    // Forgotten at the end of the grace's retention slot: the dead rows of a burst share one alarm.
    return { state, version, value: null, contentType: null, expiresAt: retentionSweepAt(now + TOMBSTONE_GRACE_MS), size: keyCost(key) + ROW_OVERHEAD_BYTES };
  }

  /** This replica's record for a key; an expired entry becomes a tombstone (in its own transaction), a hit is remembered for LRU. */
  read(key: string, now: number): ShardRecord {
    const row = this.sql
      .exec<Row>("SELECT version, state, value, content_type, expires_at FROM entries WHERE key = ?", key)
      .toArray()[0];
    if (!row || row.state !== RowState.Live) {
      this.counters.misses++;
      if (!row) return { version: null, live: false };
      return row.state === RowState.Evicted ? { version: row.version, live: false, evicted: true } : { version: row.version, live: false };
    }
    if (isExpired(row.expires_at, now)) {
      this.tx((acc) => this.setRow(acc, key, this.deadRow(RowState.Tombstone, key, row.version, now), now));
      this.counters.expirations++;
      this.counters.misses++;
      return { version: row.version, live: false };
    }
    this.touches.set(key, now);
    if (this.touches.size >= TOUCH_FLUSH) this.flushTouches();
    this.counters.hits++;
    return {
      version: row.version,
      live: true,
      value: new Uint8Array(row.value ?? new ArrayBuffer(0)),
      contentType: row.content_type ?? "application/octet-stream",
      expiresAt: row.expires_at,
    };
  }

  /** Writes the read-recency remembered in memory to storage. */
  flushTouches(): void {
    if (this.touches.size === 0) return;
    this.storage.transactionSync(() => {
      for (const [key, at] of this.touches) this.sql.exec("UPDATE entries SET touched_at = ? WHERE key = ? AND state = 0", at, key);
    });
    this.touches.clear();
  }

  /** Last-writer-wins apply of one versioned write, inside the caller's transaction. */
  applyWrite(acc: Accounting, write: ShardWrite, now: number): { applied: boolean; version: string | null } {
    // A pending read-recency update older than this write must not roll its recency back.
    this.touches.delete(write.key);
    const current = this.sql.exec<{ version: string }>("SELECT version FROM entries WHERE key = ?", write.key).toArray()[0];
    if (current && !shouldApply(current.version, write.version)) return { applied: false, version: current.version };
    // The old row leaves the accounting first (its bytes are freed by the write) but stays in storage:
    // the write updates it in place, and makeRoom leaves this key alone.
    if (write.value === null || isExpired(write.expiresAt, now)) {
      const tombstone = this.deadRow(RowState.Tombstone, write.key, write.version, now);
      this.release(acc, write.key);
      this.makeRoom(acc, tombstone.size, now, write.key);
      this.storeRow(acc, write.key, tombstone, now);
    } else {
      const size = keyCost(write.key) + write.value.byteLength + write.contentType.length + ROW_OVERHEAD_BYTES;
      if (size > this.capacity()) throw new Error(`entry of ${size} bytes exceeds the shard capacity`);
      this.release(acc, write.key);
      this.makeRoom(acc, size, now, write.key);
      this.storeRow(acc, write.key, { state: RowState.Live, version: write.version, value: write.value, contentType: write.contentType, expiresAt: write.expiresAt, size }, now);
    }
    return { applied: true, version: write.version };
  }

  /**
   * Makes room for `incoming` more bytes. Eviction leaves a version-only marker (so an older copy
   * elsewhere cannot win a read), so dead rows (markers and tombstones) are capped at DEAD_SHARE of
   * the capacity: above it the oldest are forgotten early; below it the least recently used live
   * entry is evicted. `writing` is the key being written, already out of the accounting: left alone.
   *
   * Recency: a key read since its stored `touched_at` has a newer time in memory. When eviction
   * reaches such a key, that time is written now and the key skipped (it moves up the LRU order),
   * so the order is exact while the object lives and only keys eviction reaches cost a write.
   */
  private makeRoom(acc: Accounting, incoming: number, now: number, writing: string): void {
    const capacity = this.capacity();
    const fits = () => acc.liveBytes + acc.deadBytes + incoming <= capacity;
    if (fits()) return;
    while (!fits()) {
      const forgetDead = acc.deadBytes > capacity * DEAD_SHARE || acc.liveKeys === 0;
      if (forgetDead) {
        const dead = this.sql.exec<{ key: string }>("SELECT key FROM entries WHERE state != 0 AND key != ? ORDER BY expires_at LIMIT 32", writing).toArray();
        if (dead.length === 0) return;
        for (const row of dead) {
          if (fits() || (acc.liveKeys > 0 && acc.deadBytes <= capacity * DEAD_SHARE)) break;
          this.setRow(acc, row.key, null, now);
        }
        continue;
      }
      const live = this.sql
        .exec<{ key: string; version: string; expires_at: number | null; touched_at: number }>(
          "SELECT key, version, expires_at, touched_at FROM entries WHERE state = 0 AND key != ? ORDER BY touched_at LIMIT 32",
          writing,
        )
        .toArray();
      if (live.length === 0) return;
      // The earliest recency written in this batch: a row used later than it is no longer next in line.
      let movedTo = Infinity;
      for (const row of live) {
        if (fits() || acc.deadBytes > capacity * DEAD_SHARE) break;
        if (row.touched_at > movedTo) break; // look again: a key just moved up comes first
        const readAt = this.touches.get(row.key);
        if (readAt !== undefined) {
          this.touches.delete(row.key);
          this.sql.exec("UPDATE entries SET touched_at = ? WHERE key = ?", readAt, row.key);
          movedTo = Math.min(movedTo, readAt);
          continue;
        }
        const expired = isExpired(row.expires_at, now);
        this.setRow(acc, row.key, this.deadRow(expired ? RowState.Tombstone : RowState.Evicted, row.key, row.version, now), now);
        this.counters[expired ? "expirations" : "evictions"]++;
      }
    }
  }

  /** One batch of the alarm's sweep: expired entries become tombstones, tombstones past their grace are forgotten. */
  sweep(now: number): void {
    const due = this.sql
      .exec<{ key: string; state: number; version: string }>(
        "SELECT key, state, version FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?",
        now, SWEEP_BATCH,
      )
      .toArray();
    if (due.length === 0) return;
    this.tx((acc) => {
      for (const row of due) {
        if (row.state === RowState.Live) {
          this.setRow(acc, row.key, this.deadRow(RowState.Tombstone, row.key, row.version, now), now);
          this.counters.expirations++;
        } else {
          this.setRow(acc, row.key, null, now);
        }
      }
    });
  }

  /** This replica's newest copy of a key as a write to hand off; null for nothing or only an eviction marker. */
  handoffCopy(key: string): ShardWrite | null {
    const row = this.sql.exec<Row>("SELECT version, state, value, content_type, expires_at FROM entries WHERE key = ?", key).toArray()[0];
    if (!row || row.state === RowState.Evicted) return null;
    const live = row.state === RowState.Live;
    return {
      key,
      version: row.version,
      value: live ? new Uint8Array(row.value ?? new ArrayBuffer(0)) : null,
      contentType: row.content_type ?? "application/octet-stream",
      expiresAt: live ? row.expires_at : null,
    };
  }

  /** Live keys in key order after `after`, at most `limit`; entries expired at `now` are skipped. */
  scanKeys(after: string | null, limit: number, now: number): { keys: string[]; done: boolean } {
    const rows = this.sql
      .exec<{ key: string }>(
        "SELECT key FROM entries WHERE state = 0 AND (?1 IS NULL OR key > ?1) AND (expires_at IS NULL OR expires_at > ?2) ORDER BY key LIMIT ?3",
        after, now, limit + 1,
      )
      .toArray();
    return { keys: rows.slice(0, limit).map((r) => r.key), done: rows.length <= limit };
  }

  /** Where SCAN page `page` continues from; null for an unknown (or expired) page. */
  scanPageStart(page: number): { after: string } | null {
    const row = this.sql.exec<{ after: string }>("SELECT after FROM scan_pages WHERE id = ?", page).toArray()[0];
    return row ? { after: row.after } : null;
  }

  /** Keeps a SCAN page that continues after `after` (forgetting pages past their time); answers its id. */
  openScanPage(after: string, now: number): number {
    this.sql.exec("DELETE FROM scan_pages WHERE created_at < ?", now - SCAN_PAGE_TTL_MS);
    return this.sql.exec<{ id: number }>("INSERT INTO scan_pages (after, created_at) VALUES (?, ?) RETURNING id", after, now).one().id;
  }

  /**
   * One page of FLUSHDB, in one transaction: every live entry after `after` (at most `limit`) becomes a
   * tombstone at `version` or later, except keys `isLocked` names, which are counted and left alone.
   */
  flushRows(version: string, after: string | null, limit: number, isLocked: (key: string) => boolean, now: number): { flushed: number; locked: number; last: string | null; done: boolean } {
    const rows = this.sql.exec<{ key: string }>("SELECT key FROM entries WHERE state = 0 AND (?1 IS NULL OR key > ?1) ORDER BY key LIMIT ?2", after, limit + 1).toArray();
    let flushed = 0;
    let locked = 0;
    this.tx((acc) => {
      for (const { key } of rows.slice(0, limit)) {
        if (isLocked(key)) {
          locked++;
          continue;
        }
        // Above the entry's own version too: a write stamped by a clock ahead of the flusher's is still flushed.
        const current = this.sql.exec<{ version: string }>("SELECT version FROM entries WHERE key = ?", key).one().version;
        const v = compareVersions(version, current) > 0 ? version : versionAfter(current);
        if (this.applyWrite(acc, { key, version: v, value: null, contentType: "application/octet-stream", expiresAt: null }, now).applied) flushed++;
      }
    });
    return { flushed, locked, last: rows.slice(0, limit).at(-1)?.key ?? after, done: rows.length <= limit };
  }
}

function sameAccounting(a: Accounting, b: Accounting): boolean {
  return a.liveKeys === b.liveKeys && a.liveBytes === b.liveBytes && a.deadRows === b.deadRows && a.deadBytes === b.deadBytes;
}
