import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../src/config";
import { isExpired, shouldApply } from "../src/core/cache/replica-state";
import { compareVersions, versionAfter } from "../src/core/cache/version";
import { nextDue } from "../src/core/cache/timers";
import type { TxnWrite, Vote } from "../src/core/txn/types";
import { createHintTables, deliverDueHints, nextHintDue, pendingHints, recordHints } from "./cache-hints";
import { resolveInDoubt, shardPrepare, shardDecide, type ParticipantCrashPoint, type ParticipantHost } from "./cache-shard-txn";
import { TxnParticipantStore } from "./cache-txn";
import { GroupCommit } from "./group-commit";

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
/** Reads remember recency in memory and write it to storage in batches of this many keys. */
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

export interface ShardFault {
  mode: "healthy" | "down" | "slow";
  delayMs: number;
}

export interface ShardStats {
  keys: number;
  bytes: number;
  capacityBytes: number;
  tombstones: number;
  pendingHints: number;
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  writes: number;
  staleWritesIgnored: number;
  hintsDelivered: number;
  txnLocks: number;
  txnPrepared: number;
  countersSince: number;
  fault: ShardFault;
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

/** Row counts and bytes, kept in `meta` and changed in the same transaction as the rows. */
interface Accounting {
  liveKeys: number;
  liveBytes: number;
  deadRows: number;
  deadBytes: number;
}

const encoder = new TextEncoder();
/** A key is stored twice: in its row and in the primary-key index. */
const keyCost = (key: string) => 2 * encoder.encode(key).byteLength;

/**
 * One shard of the cache: versioned entries with TTL (lazy expiry + alarm sweep), LRU eviction at a
 * byte capacity, tombstones, and hinted handoff for replicas that missed a write. All state lives in
 * SQLite; memory holds only counters and a bounded batch of read-recency updates.
 */
export class CacheShard extends DurableObject<Cloudflare.Env> {
  private readonly sql: SqlStorage;
  private acc: Accounting;
  private alarmAt: number | null = null;
  private fault: ShardFault = { mode: "healthy", delayMs: 0 };
  private readonly touches = new Map<string, number>();
  private readonly counters = { hits: 0, misses: 0, evictions: 0, expirations: 0, writes: 0, staleWritesIgnored: 0, hintsDelivered: 0 };
  private readonly countersSince = Date.now();
  /** The earliest expiry written by the last transaction: armed after it commits (never inside it). */
  private txDue: number | null = null;
  private readonly txns: TxnParticipantStore;
  private readonly commits = new GroupCommit<Accounting>((fn) => this.tx(fn), () => this.txns.reload());
  private crashPoint: ParticipantCrashPoint | null = null;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY, value BLOB, content_type TEXT, version TEXT NOT NULL,
      expires_at INTEGER, state INTEGER NOT NULL, size INTEGER NOT NULL, touched_at INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL");
    this.sql.exec("CREATE INDEX IF NOT EXISTS entries_lru ON entries (touched_at) WHERE state = 0");
    createHintTables(this.sql);
    this.sql.exec("CREATE TABLE IF NOT EXISTS scan_pages (id INTEGER PRIMARY KEY AUTOINCREMENT, after TEXT NOT NULL, created_at INTEGER NOT NULL)");
    this.txns = new TxnParticipantStore(this.sql);
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.acc = this.meta<Accounting>("accounting") ?? { liveKeys: 0, liveBytes: 0, deadRows: 0, deadBytes: 0 };
    this.fault = this.meta<ShardFault>("fault") ?? this.fault;
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      // A crash between PREPARED and arming its inquiry timer must not leave the transaction in doubt unasked.
      const inquiry = this.txns.nextInquiryDue();
      if (inquiry !== null) await this.scheduleAt(inquiry);
    });
  }

  private meta<T>(name: string): T | undefined {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE name = ?", name).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  private get capacity(): number {
    return getConfig(this.env).cache.shardCapacityBytes;
  }

  /** Runs `fn` as one SQLite transaction; the accounting in memory changes only if it commits. */
  private tx<T>(fn: (acc: Accounting) => T): T {
    const acc = { ...this.acc };

    const result = this.ctx.storage.transactionSync(() => {
      const r = fn(acc);
      this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('accounting', ?)", JSON.stringify(acc));
      return r;
    });
    this.acc = acc;
    return result;
  }

  /** Replaces (or with `next: null` forgets) one row, keeping the accounting exact. */
  private setRow(acc: Accounting, key: string, next: NewRow | null, now: number): void {
    const old = this.sql.exec<{ state: number; size: number }>("SELECT state, size FROM entries WHERE key = ?", key).toArray()[0];
    if (old) {
      if (old.state === RowState.Live) (acc.liveKeys--, (acc.liveBytes -= old.size));
      else (acc.deadRows--, (acc.deadBytes -= old.size));
    }
    if (next === null) {
      if (old) this.sql.exec("DELETE FROM entries WHERE key = ?", key);
      return;
    }
    this.sql.exec(
      "INSERT OR REPLACE INTO entries (key, value, content_type, version, expires_at, state, size, touched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      key, next.value, next.contentType, next.version, next.expiresAt, next.state, next.size, now,
    );
    if (next.state === RowState.Live) (acc.liveKeys++, (acc.liveBytes += next.size));
    else (acc.deadRows++, (acc.deadBytes += next.size));
    if (next.expiresAt !== null && (this.txDue === null || next.expiresAt < this.txDue)) this.txDue = next.expiresAt;
  }

  /** Arms the alarm for what the last transaction wrote (expiries, tombstones, eviction markers). */
  private async armAfterTx(): Promise<void> {
    const due = this.txDue;
    this.txDue = null;
    if (due !== null) await this.scheduleAt(due);
  }

  /** A row that remembers only a version: a tombstone (deleted or expired) or an eviction marker. */
  private deadRow(state: RowState, key: string, version: string, now: number): NewRow {
    return { state, version, value: null, contentType: null, expiresAt: now + TOMBSTONE_GRACE_MS, size: keyCost(key) + ROW_OVERHEAD_BYTES };
  }

  /** Fault injection: a "down" shard refuses every call, a "slow" one answers after a delay. */
  private async guard(): Promise<void> {
    if (this.fault.mode === "slow") await new Promise((r) => setTimeout(r, this.fault.delayMs));
    // Checked after the delay too, so calls already waiting fail once the shard is marked down.
    if (this.fault.mode === "down") throw new Error("shard is down (fault injected)");
  }

  async get(key: string): Promise<ShardRecord> {
    await this.guard();
    const locked = await this.lockedAfterWait(key);
    if (locked !== undefined) return { version: null, live: false, locked };
    const record = this.read(key, Date.now());
    await this.armAfterTx();
    return record;
  }

  async getMany(keys: string[]): Promise<ShardRecord[]> {
    await this.guard();
    const locked = await Promise.all(keys.map((k) => this.lockedAfterWait(k)));
    const now = Date.now();
    const records = keys.map((k, i): ShardRecord => {
      // Checked again now: a key found free while the call waited for another may have been locked since.
      const holder = locked[i] ?? this.txns.lockHolder(k);
      return holder === undefined ? this.read(k, now) : { version: null, live: false, locked: holder };
    });
    await this.armAfterTx();
    return records;
  }

  /**
   * A key locked by a prepared transaction is neither read nor written by plain calls (they would see
   * or overwrite a state the transaction is about to change): they wait briefly for the decision, then
   * give up with the holder's id.
   */
  private async lockedAfterWait(key: string): Promise<string | undefined> {
    if (this.txns.lockCount === 0) return undefined;
    return this.txns.waitUnlocked(key, getConfig(this.env).txn.lockWaitMs);
  }

  private read(key: string, now: number): ShardRecord {
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

  private flushTouches(): void {
    if (this.touches.size === 0) return;
    this.ctx.storage.transactionSync(() => {
      for (const [key, at] of this.touches) this.sql.exec("UPDATE entries SET touched_at = ? WHERE key = ? AND state = 0", at, key);
    });
    this.touches.clear();
  }

  /**
   * Applies a versioned write if it is newer than what this replica holds (last writer wins; replays
   * are no-ops). Answers the version the replica holds afterwards.
   */
  async put(write: ShardWrite): Promise<{ applied: boolean; version: string | null; locked?: string }> {
    await this.guard();
    const locked = await this.lockedAfterWait(write.key);
    if (locked !== undefined) return { applied: false, version: null, locked };
    const now = Date.now();
    const applied = this.tx((acc) => this.applyWrite(acc, write, now));
    if (!applied.applied) {
      this.txDue = null;
      this.counters.staleWritesIgnored++;
      return applied;
    }
    this.counters.writes++;
    await this.armAfterTx();
    return applied;
  }

  /** Last-writer-wins apply of one versioned write, inside the caller's transaction. */
  private applyWrite(acc: Accounting, write: ShardWrite, now: number): { applied: boolean; version: string | null } {
    // A pending read-recency update older than this write must not roll its recency back.
    this.touches.delete(write.key);
    const current = this.sql.exec<{ version: string }>("SELECT version FROM entries WHERE key = ?", write.key).toArray()[0];
    if (current && !shouldApply(current.version, write.version)) return { applied: false, version: current.version };
    if (write.value === null || isExpired(write.expiresAt, now)) {
      const tombstone = this.deadRow(RowState.Tombstone, write.key, write.version, now);
      this.setRow(acc, write.key, null, now);
      this.makeRoom(acc, tombstone.size, now);
      this.setRow(acc, write.key, tombstone, now);
    } else {
      const size = keyCost(write.key) + write.value.byteLength + write.contentType.length + ROW_OVERHEAD_BYTES;
      if (size > this.capacity) throw new Error(`entry of ${size} bytes exceeds the shard capacity`);
      this.setRow(acc, write.key, null, now);
      this.makeRoom(acc, size, now);
      this.setRow(acc, write.key, { state: RowState.Live, version: write.version, value: write.value, contentType: write.contentType, expiresAt: write.expiresAt, size }, now);
    }
    return { applied: true, version: write.version };
  }

  // --- two-phase commit participant (protocol in src/core/txn, plumbing in cache-shard-txn.ts) ---

  private host: ParticipantHost | undefined;
  private get txnHost(): ParticipantHost {
    return (this.host ??= {
      store: this.txns,
      config: getConfig(this.env).txn,
      crashAt: async (point) => {
        if (this.crashPoint !== point) return;
        this.crashPoint = null;
        // What was written so far is made durable first (see TxnCoordinator.crashAt).
        await this.ctx.storage.sync();
        this.ctx.abort(`crash injected at ${point}`);
      },
      read: (key, withValue) => {
        const r = this.read(key, Date.now());
        return withValue ? r : { version: r.version, live: r.live, ...(r.evicted ? { evicted: true } : {}), expiresAt: r.expiresAt ?? null };
      },
      group: (fn) => this.commits.run((acc) => fn((w) => this.applyWrite(acc, w, Date.now()))),
      afterTransact: () => this.armAfterTx(),
      schedule: (at) => this.scheduleAt(at),
      coordinator: (name) => this.env.TXN_COORDINATOR.get(this.env.TXN_COORDINATOR.idFromName(name)),
      shardName: () => this.shardName,
    });
  }

  /** The shard's own name, learned from the router's calls and kept, so the alarm can name this shard after a restart. */
  private knownName: string | undefined;
  private get shardName(): string {
    return (this.knownName ??= this.meta<string>("name") ?? "");
  }

  private set shardName(name: string) {
    if (this.shardName === name) return;
    this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('name', ?)", JSON.stringify(name));
    this.knownName = name;
  }

  /** PREPARE: lock the keys, record PREPARED durably, then vote with each key's current record. */
  async txnPrepare(txn: string, shard: string, keys: string[], valueKeys: string[], coordinator: string): Promise<Vote> {
    await this.guard();
    this.shardName = shard;
    return shardPrepare(this.txnHost, txn, keys, valueKeys, coordinator);
  }

  /** COMMIT or ABORT: apply the writes (if committed) and release the locks in one durable step. Idempotent. */
  async txnDecide(txn: string, shard: string, outcome: "committed" | "aborted", writes: TxnWrite[]): Promise<{ ack: true }> {
    await this.guard();
    this.shardName = shard;
    return shardDecide(this.txnHost, txn, outcome, writes);
  }

  /** Test hook: crash (ctx.abort) the next time the protocol reaches `point`. In memory only, so it fires once. */
  async armTxnCrash(point: ParticipantCrashPoint | null): Promise<void> {
    this.crashPoint = point;
  }

  /** Test and operator view of the 2PC state: locks held and transactions in doubt. */
  async txnState(): Promise<{ locks: Record<string, string>; prepared: string[] }> {
    const locks: Record<string, string> = {};
    for (const p of this.txns.allPrepared()) for (const k of p.keys) locks[k] = p.txn;
    return { locks, prepared: this.txns.allPrepared().map((p) => p.txn) };
  }

  /**
   * Makes room for `incoming` more bytes. Eviction leaves a version-only marker (so an older copy
   * elsewhere cannot win a read), so dead rows (markers and tombstones) are capped at DEAD_SHARE of
   * the capacity: above it the oldest are forgotten early; below it the least recently used live
   * entry is evicted.
   */
  private makeRoom(acc: Accounting, incoming: number, now: number): void {
    const capacity = this.capacity;
    const fits = () => acc.liveBytes + acc.deadBytes + incoming <= capacity;
    if (fits()) return;
    this.flushTouches();
    while (!fits()) {
      const forgetDead = acc.deadBytes > capacity * DEAD_SHARE || acc.liveKeys === 0;
      if (forgetDead) {
        const dead = this.sql.exec<{ key: string }>("SELECT key FROM entries WHERE state != 0 ORDER BY expires_at LIMIT 32").toArray();
        if (dead.length === 0) return;
        for (const row of dead) {
          if (fits() || (acc.liveKeys > 0 && acc.deadBytes <= capacity * DEAD_SHARE)) break;
          this.setRow(acc, row.key, null, now);
        }
        continue;
      }
      const live = this.sql
        .exec<{ key: string; version: string; expires_at: number | null }>(
          "SELECT key, version, expires_at FROM entries WHERE state = 0 ORDER BY touched_at LIMIT 32",
        )
        .toArray();
      if (live.length === 0) return;
      for (const row of live) {
        if (fits() || acc.deadBytes > capacity * DEAD_SHARE) break;
        const expired = isExpired(row.expires_at, now);
        this.setRow(acc, row.key, this.deadRow(expired ? RowState.Tombstone : RowState.Evicted, row.key, row.version, now), now);
        this.counters[expired ? "expirations" : "evictions"]++;
      }
    }
  }

  /**
   * Hinted handoff: remember that `targets` missed this key's latest write; the alarm sends them
   * this replica's newest copy until they take it (or the tombstone grace runs out).
   */
  async addHints(key: string, version: string, targets: string[]): Promise<void> {
    await this.guard();
    const now = Date.now();
    await this.scheduleAt(recordHints(this.sql, key, version, targets, now, now + TOMBSTONE_GRACE_MS));
  }

  private async scheduleAt(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }

  /** The one alarm: sweeps expiries and forgets old tombstones, delivers due hints, then re-arms. Idempotent. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.alarmAt = null;
    try {
      this.flushTouches();
      this.sweep(now);
      await this.deliverHints(now);
      await resolveInDoubt(this.txnHost, now);
      this.txns.forgetFinished(now);
    } finally {
      // Re-armed from storage whatever happened above, so a failed run never leaves only a later alarm.
      this.txDue = null;
      const expiry = this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM entries WHERE expires_at IS NOT NULL").one().at;
      const hint = nextHintDue(this.sql);
      const next = nextDue([expiry, hint, this.txns.nextInquiryDue(), this.txns.nextForgetDue()], Date.now());
      if (next !== null) await this.scheduleAt(next);
    }
  }

  private sweep(now: number): void {
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

  private async deliverHints(now: number): Promise<void> {
    const shard = (target: string) => this.env.CACHE_SHARD.get(this.env.CACHE_SHARD.idFromName(target));
    const timeout = getConfig(this.env).cache.replicaTimeoutMs;
    this.counters.hintsDelivered += await deliverDueHints(this.sql, shard, (key) => this.handoffCopy(key), now, timeout);
  }

  /** This replica's newest copy of a key as a write to hand off; null for nothing or only an eviction marker. */
  private handoffCopy(key: string): ShardWrite | null {
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

  /** Live keys in key order after `after` (for SCAN/KEYS), at most `limit`; expired entries are skipped. */
  async scanKeys(after: string | null, limit: number): Promise<{ keys: string[]; done: boolean }> {
    await this.guard();
    const rows = this.sql
      .exec<{ key: string }>(
        "SELECT key FROM entries WHERE state = 0 AND (?1 IS NULL OR key > ?1) AND (expires_at IS NULL OR expires_at > ?2) ORDER BY key LIMIT ?3",
        after, Date.now(), limit + 1,
      )
      .toArray();
    return { keys: rows.slice(0, limit).map((r) => r.key), done: rows.length <= limit };
  }

  /**
   * One step of a SCAN over this shard: the keys after where page `page` stopped (null: from the
   * start), and the id of the page that continues after them (null: this shard is done). Pages are
   * kept for an hour; an unknown one answers null (the client's cursor is invalid).
   */
  async scanPage(page: number | null, limit: number): Promise<{ keys: string[]; next: number | null } | null> {
    await this.guard();
    let after: string | null = null;
    if (page !== null) {
      const row = this.sql.exec<{ after: string }>("SELECT after FROM scan_pages WHERE id = ?", page).toArray()[0];
      if (!row) return null;
      after = row.after;
    }
    const { keys, done } = await this.scanKeys(after, limit);
    if (done || keys.length === 0) return { keys, next: null };
    const now = Date.now();
    this.sql.exec("DELETE FROM scan_pages WHERE created_at < ?", now - SCAN_PAGE_TTL_MS);
    const id = this.sql.exec<{ id: number }>("INSERT INTO scan_pages (after, created_at) VALUES (?, ?) RETURNING id", keys.at(-1)!, now).one().id;
    return { keys, next: id };
  }

  /**
   * FLUSHDB on this shard: every live entry becomes a tombstone at `version` (so an older copy cannot
   * come back through read repair or a hint). Keys locked by a transaction are left alone. Paged by
   * the caller (`limit` keys after `after` per call); answers how many entries were flushed.
   */
  async flush(version: string, after: string | null, limit: number): Promise<{ flushed: number; locked: number; last: string | null; done: boolean }> {
    await this.guard();
    const now = Date.now();
    const rows = this.sql.exec<{ key: string }>("SELECT key FROM entries WHERE state = 0 AND (?1 IS NULL OR key > ?1) ORDER BY key LIMIT ?2", after, limit + 1).toArray();
    let flushed = 0;
    let locked = 0;
    this.tx((acc) => {
      for (const { key } of rows.slice(0, limit)) {
        if (this.txns.lockHolder(key) !== undefined) {
          locked++;
          continue;
        }
        // Above the entry's own version too: a write stamped by a clock ahead of the flusher's is still flushed.
        const current = this.sql.exec<{ version: string }>("SELECT version FROM entries WHERE key = ?", key).one().version;
        const v = compareVersions(version, current) > 0 ? version : versionAfter(current);
        if (this.applyWrite(acc, { key, version: v, value: null, contentType: "application/octet-stream", expiresAt: null }, now).applied) flushed++;
      }
    });
    await this.armAfterTx();
    return { flushed, locked, last: rows.slice(0, limit).at(-1)?.key ?? after, done: rows.length <= limit };
  }

  async stats(): Promise<ShardStats> {
    await this.guard();
    return {
      keys: this.acc.liveKeys,
      bytes: this.acc.liveBytes + this.acc.deadBytes,
      capacityBytes: this.capacity,
      tombstones: this.acc.deadRows,
      pendingHints: pendingHints(this.sql),
      ...this.counters,
      txnLocks: this.txns.lockCount,
      txnPrepared: this.txns.counts().prepared,
      countersSince: this.countersSince,
      fault: this.fault,
    };
  }

  /** Fault injection (admin only): persisted, so a "down" shard stays down across restarts until healed. */
  async setFault(fault: ShardFault): Promise<ShardFault> {
    this.fault = fault;
    this.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('fault', ?)", JSON.stringify(fault));
    return fault;
  }

  /** Crash injection: resets the object (memory gone, storage kept), as a machine failure would. */
  async crash(): Promise<void> {
    this.ctx.abort("crash injected");
  }
}
