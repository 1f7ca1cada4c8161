import { DurableObject } from "cloudflare:workers";
import { isExpired, shouldApply } from "../src/core/cache/replica-state";
import { getConfig } from "../src/config";

/** How long a delete (or an expiry) is remembered so that an older copy on another replica cannot resurrect the key. */
export const TOMBSTONE_GRACE_MS = 24 * 60 * 60 * 1000;
/** Rows handled per alarm run, so one sweep never runs long; a backlog reschedules the alarm at once. */
const SWEEP_BATCH = 500;

/** A replica's answer for one key (see ReplicaRecord in src/core/cache). */
export interface ShardRecord {
  version: string | null;
  live: boolean;
  value?: Uint8Array;
  contentType?: string;
  expiresAt?: number | null;
}

/** A versioned write as the router sends it to each replica; `value: null` is a delete (tombstone). */
export interface ShardWrite {
  key: string;
  version: string;
  value: Uint8Array | null;
  contentType: string;
  expiresAt: number | null;
}

export interface ShardStats {
  keys: number;
  bytes: number;
  capacityBytes: number;
  tombstones: number;
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  writes: number;
  staleWritesIgnored: number;
  countersSince: number;
  fault: ShardFault;
}

export interface ShardFault {
  mode: "healthy" | "down" | "slow";
  delayMs: number;
}

interface Row extends Record<string, SqlStorageValue> {
  version: string;
  deleted: number;
  value: ArrayBuffer | null;
  content_type: string | null;
  expires_at: number | null;
}

const encoder = new TextEncoder();

/**
 * One shard of the cache: entries with a version, TTL (lazy expiry + alarm sweep) and LRU eviction
 * at a byte capacity. Recency of reads is tracked in memory (a read never writes storage); after a
 * restart the order falls back to the last write of each entry.
 */
export class CacheShard extends DurableObject<Cloudflare.Env> {
  private readonly sql: SqlStorage;
  /** Live entries in least- to most-recently-used order -> their size in bytes. */
  private readonly lru = new Map<string, number>();
  private totalBytes = 0;
  private alarmAt: number | null = null;
  private fault: ShardFault = { mode: "healthy", delayMs: 0 };
  private readonly counters = { hits: 0, misses: 0, evictions: 0, expirations: 0, writes: 0, staleWritesIgnored: 0 };
  private readonly countersSince = Date.now();

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY, value BLOB, content_type TEXT, version TEXT NOT NULL,
      expires_at INTEGER, deleted INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL, touched_at INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL");
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    for (const row of this.sql.exec<{ key: string; size: number }>(
      "SELECT key, size FROM entries WHERE deleted = 0 ORDER BY touched_at",
    )) {
      this.lru.set(row.key, row.size);
      this.totalBytes += row.size;
    }
    const fault = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE name = 'fault'").toArray()[0];
    if (fault) this.fault = JSON.parse(fault.value) as ShardFault;
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private get capacity(): number {
    return getConfig(this.env).cache.shardCapacityBytes;
  }

  /** Fault injection: a "down" shard refuses every call, a "slow" one answers after a delay. */
  private async guard(): Promise<void> {
    if (this.fault.mode === "down") throw new Error("shard is down (fault injected)");
    if (this.fault.mode === "slow") await new Promise((r) => setTimeout(r, this.fault.delayMs));
  }

  async get(key: string): Promise<ShardRecord> {
    await this.guard();
    return this.read(key, Date.now());
  }

  async getMany(keys: string[]): Promise<ShardRecord[]> {
    await this.guard();
    const now = Date.now();
    return keys.map((k) => this.read(k, now));
  }

  private read(key: string, now: number): ShardRecord {
    const row = this.sql
      .exec<Row>("SELECT version, deleted, value, content_type, expires_at FROM entries WHERE key = ?", key)
      .toArray()[0];
    if (!row) {
      this.counters.misses++;
      return { version: null, live: false };
    }
    if (row.deleted) {
      this.counters.misses++;
      return { version: row.version, live: false };
    }
    if (isExpired(row.expires_at, now)) {
      this.expire(key, now);
      this.counters.misses++;
      return { version: row.version, live: false };
    }
    const size = this.lru.get(key);
    if (size !== undefined) {
      this.lru.delete(key);
      this.lru.set(key, size);
    }
    this.counters.hits++;
    return {
      version: row.version,
      live: true,
      value: new Uint8Array(row.value ?? new ArrayBuffer(0)),
      contentType: row.content_type ?? "application/octet-stream",
      expiresAt: row.expires_at,
    };
  }

  /** Applies a versioned write if it is newer than what this replica holds (last writer wins; replays are no-ops). */
  async put(write: ShardWrite): Promise<{ applied: boolean; version: string | null }> {
    await this.guard();
    const now = Date.now();
    const current = this.sql.exec<{ version: string }>("SELECT version FROM entries WHERE key = ?", write.key).toArray()[0];
    if (current && !shouldApply(current.version, write.version)) {
      this.counters.staleWritesIgnored++;
      return { applied: false, version: current.version };
    }
    this.counters.writes++;
    if (write.value === null || isExpired(write.expiresAt, now)) {
      this.writeTombstone(write.key, write.version, now);
    } else {
      const size = encoder.encode(write.key).byteLength + write.value.byteLength;
      if (size > this.capacity) throw new Error(`entry of ${size} bytes exceeds the shard capacity`);
      this.forget(write.key);
      this.evictFor(size);
      this.sql.exec(
        `INSERT OR REPLACE INTO entries (key, value, content_type, version, expires_at, deleted, size, touched_at)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
        write.key,
        write.value,
        write.contentType,
        write.version,
        write.expiresAt,
        size,
        now,
      );
      this.lru.set(write.key, size);
      this.totalBytes += size;
      if (write.expiresAt !== null) await this.scheduleSweep(write.expiresAt);
    }
    return { applied: true, version: write.version };
  }

  private writeTombstone(key: string, version: string, now: number): void {
    this.forget(key);
    const forgetAt = now + TOMBSTONE_GRACE_MS;
    this.sql.exec(
      `INSERT OR REPLACE INTO entries (key, value, content_type, version, expires_at, deleted, size, touched_at)
       VALUES (?, NULL, NULL, ?, ?, 1, 0, ?)`,
      key,
      version,
      forgetAt,
      now,
    );
    void this.scheduleSweep(forgetAt);
  }

  /** An expired entry becomes a tombstone with the same version, so an older copy elsewhere cannot win a read. */
  private expire(key: string, now: number): void {
    const row = this.sql.exec<{ version: string }>("SELECT version FROM entries WHERE key = ?", key).toArray()[0];
    if (!row) return;
    this.writeTombstone(key, row.version, now);
    this.counters.expirations++;
  }

  private forget(key: string): void {
    const size = this.lru.get(key);
    if (size !== undefined) {
      this.lru.delete(key);
      this.totalBytes -= size;
    }
  }

  /** Evicts least-recently-used entries until `incoming` more bytes fit. Evicted keys are forgotten, not tombstoned. */
  private evictFor(incoming: number): void {
    const capacity = this.capacity;
    for (const [key, size] of this.lru) {
      if (this.totalBytes + incoming <= capacity) break;
      this.lru.delete(key);
      this.totalBytes -= size;
      this.sql.exec("DELETE FROM entries WHERE key = ?", key);
      this.counters.evictions++;
    }
  }

  private async scheduleSweep(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /** The sweep: expire due entries, forget old tombstones, then re-arm for the next due row. Idempotent. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.alarmAt = null;
    const due = this.sql
      .exec<{ key: string; deleted: number }>(
        "SELECT key, deleted FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?",
        now,
        SWEEP_BATCH,
      )
      .toArray();
    for (const row of due) {
      if (row.deleted) this.sql.exec("DELETE FROM entries WHERE key = ?", row.key);
      else this.expire(row.key, now);
    }
    const next = this.sql
      .exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM entries WHERE expires_at IS NOT NULL")
      .one().at;
    if (next !== null) {
      this.alarmAt = Math.max(next, now);
      await this.ctx.storage.setAlarm(this.alarmAt);
    }
  }

  async stats(): Promise<ShardStats> {
    await this.guard();
    const tombstones = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries WHERE deleted = 1").one().n;
    return {
      keys: this.lru.size,
      bytes: this.totalBytes,
      capacityBytes: this.capacity,
      tombstones,
      ...this.counters,
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
