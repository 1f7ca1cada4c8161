import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../src/config";
import { nextDue } from "../src/core/cache/timers";
import type { LockWait } from "../src/core/txn/participant";
import type { TxnWrite, Vote } from "../src/core/txn/types";
import { createHintTables, deliverDueHints, nextHintDue, pendingHints, recordHints } from "./cache-hints";
import { resolveInDoubt, shardPrepare, shardDecide, type ParticipantCrashPoint, type ParticipantHost } from "./cache-shard-txn";
import { ShardStore, TOMBSTONE_GRACE_MS, type Accounting, type ShardRecord, type ShardWrite } from "./cache-store";
import { TxnParticipantStore } from "./cache-txn";
import { GroupCommit } from "./group-commit";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";

export { DEAD_SHARE, ROW_OVERHEAD_BYTES, TOMBSTONE_GRACE_MS, type ShardRecord, type ShardWrite } from "./cache-store";

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

/**
 * One shard of the cache: versioned entries with TTL (lazy expiry + alarm sweep), LRU eviction at a
 * byte capacity, tombstones, and hinted handoff for replicas that missed a write. All state lives in
 * SQLite (except reads' LRU recency, kept in memory until eviction needs it); the entries themselves
 * are kept by ShardStore (cache-store.ts). This object adds fault
 * injection, lock waits, the alarm and the 2PC participant.
 */
export class CacheShard extends DurableObject<Cloudflare.Env> {
  private readonly sql: SqlStorage;
  private readonly store: ShardStore;
  private alarmAt: number | null = null;
  private fault: ShardFault = { mode: "healthy", delayMs: 0 };
  private readonly counters = { writes: 0, staleWritesIgnored: 0, hintsDelivered: 0 };
  private readonly countersSince = Date.now();
  private readonly txns: TxnParticipantStore;
  private readonly commits = new GroupCommit<Accounting>((fn) => this.store.tx(fn), () => this.txns.reload());
  private crashPoint: ParticipantCrashPoint | null = null;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "cache"); // billed usage: stub calls it makes, alarms, storage rows
    this.sql = ctx.storage.sql;
    this.store = new ShardStore(ctx.storage, () => this.capacity);
    createHintTables(this.sql);
    this.txns = new TxnParticipantStore(ctx.storage);
    this.fault = this.store.meta<ShardFault>("fault") ?? this.fault;
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      // A crash between PREPARED and arming its inquiry timer must not leave the transaction in doubt unasked.
      const inquiry = this.txns.nextInquiryDue();
      if (inquiry !== null) await this.scheduleAt(inquiry);
    });
  }

  private get capacity(): number {
    return getConfig(this.env).cache.shardCapacityBytes;
  }

  /** Arms the alarm for what the last transaction wrote (expiries, tombstones, eviction markers). */
  private async armAfterTx(): Promise<void> {
    const due = this.store.takeDue();
    if (due !== null) await this.scheduleAt(due);
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
    const record = this.store.read(key, Date.now());
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
      return holder === undefined ? this.store.read(k, now) : { version: null, live: false, locked: holder };
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

  /**
   * Applies a versioned write if it is newer than what this replica holds (last writer wins; replays
   * are no-ops). Answers the version the replica holds afterwards.
   */
  async put(write: ShardWrite): Promise<{ applied: boolean; version: string | null; locked?: string }> {
    await this.guard();
    const locked = await this.lockedAfterWait(write.key);
    if (locked !== undefined) return { applied: false, version: null, locked };
    const now = Date.now();
    const applied = this.store.tx((acc) => this.store.applyWrite(acc, write, now));
    if (!applied.applied) {
      this.store.takeDue(); // nothing was written, so there is nothing to arm
      this.counters.staleWritesIgnored++;
      return applied;
    }
    this.counters.writes++;
    await this.armAfterTx();
    return applied;
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
        const r = this.store.read(key, Date.now());
        return withValue ? r : { version: r.version, live: r.live, ...(r.evicted ? { evicted: true } : {}), expiresAt: r.expiresAt ?? null };
      },
      group: (fn) => this.commits.run((acc) => fn((w) => this.store.applyWrite(acc, w, Date.now()))),
      afterTransact: () => this.armAfterTx(),
      schedule: (at) => this.scheduleAt(at),
      coordinator: (name) => objectStub(this.env, "txn", name),
      shardName: () => this.shardName,
    });
  }

  /** The shard's own name, learned from the router's calls and kept, so the alarm can name this shard after a restart. */
  private knownName: string | undefined;
  private get shardName(): string {
    return (this.knownName ??= this.store.meta<string>("name") ?? "");
  }

  private set shardName(name: string) {
    if (this.shardName === name) return;
    this.store.setMeta("name", name);
    this.knownName = name;
  }

  /** PREPARE: lock the keys, record PREPARED durably, then vote with each key's current record. */
  async txnPrepare(txn: string, shard: string, keys: string[], valueKeys: string[], coordinator: string, wait?: LockWait): Promise<Vote> {
    await this.guard();
    this.shardName = shard;
    return shardPrepare(this.txnHost, txn, keys, valueKeys, coordinator, wait);
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
      // Reads' recency is not written here: it stays in memory until eviction needs it (see ShardStore).
      this.store.sweep(now);
      await this.deliverHints(now);
      await resolveInDoubt(this.txnHost, now);
      this.txns.forgetFinished(now);
    } finally {
      // Re-armed from storage whatever happened above, so a failed run never leaves only a later alarm.
      this.store.takeDue();
      const expiry = this.store.nextExpiry();
      const hint = nextHintDue(this.sql);
      const next = nextDue([expiry, hint, this.txns.nextInquiryDue(), this.txns.nextForgetDue()], Date.now());
      if (next !== null) await this.scheduleAt(next);
    }
  }

  private async deliverHints(now: number): Promise<void> {
    const shard = (target: string) => objectStub(this.env, "cache", target);
    const timeout = getConfig(this.env).cache.replicaTimeoutMs;
    this.counters.hintsDelivered += await deliverDueHints(this.sql, shard, (key) => this.store.handoffCopy(key), now, timeout);
  }

  /** Live keys in key order after `after` (for SCAN/KEYS), at most `limit`; expired entries are skipped. */
  async scanKeys(after: string | null, limit: number): Promise<{ keys: string[]; done: boolean }> {
    await this.guard();
    return this.store.scanKeys(after, limit, Date.now());
  }

  /**
   * One step of a SCAN over this shard: the keys after where page `page` stopped (null: from the
   * start), and the id of the page that continues after them (null: this shard is done). Pages are
   * kept for an hour; an unknown one answers null (the client's cursor is invalid).
   */
  async scanPage(page: number | null, limit: number): Promise<{ keys: string[]; next: number | null } | null> {
    await this.guard();
    const start = page === null ? { after: null } : this.store.scanPageStart(page);
    if (start === null) return null;
    const { keys, done } = this.store.scanKeys(start.after, limit, Date.now());
    if (done || keys.length === 0) return { keys, next: null };
    return { keys, next: this.store.openScanPage(keys.at(-1)!, Date.now()) };
  }

  /**
   * FLUSHDB on this shard: every live entry becomes a tombstone at `version` (so an older copy cannot
   * come back through read repair or a hint). Keys locked by a transaction are left alone. Paged by
   * the caller (`limit` keys after `after` per call); answers how many entries were flushed.
   */
  async flush(version: string, after: string | null, limit: number): Promise<{ flushed: number; locked: number; last: string | null; done: boolean }> {
    await this.guard();
    const result = this.store.flushRows(version, after, limit, (key) => this.txns.lockHolder(key) !== undefined, Date.now());
    await this.armAfterTx();
    return result;
  }

  async stats(): Promise<ShardStats> {
    await this.guard();
    const acc = this.store.accounting;
    return {
      keys: acc.liveKeys,
      bytes: acc.liveBytes + acc.deadBytes,
      capacityBytes: this.capacity,
      tombstones: acc.deadRows,
      pendingHints: pendingHints(this.sql),
      ...this.store.counters,
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
    this.store.setMeta("fault", fault);
    return fault;
  }

  /** Crash injection: resets the object (memory gone, storage kept), as a machine failure would. */
  async crash(): Promise<void> {
    this.ctx.abort("crash injected");
  }
}
