import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../src/config";
import { VersionClock, type Version } from "../src/core/cache/version";
import {
  begin, nextWake, onAck, onInquiry, onRecover, onTick, onVote, onVoteFailed,
  type CoordinatorState, type CoordMessage, type CoordTimings, type Step, type VoteRecords,
} from "../src/core/txn/coordinator";
import type { ParticipantPlan } from "../src/core/txn/plan";
import type { InquiryAnswer, TxnCondition, TxnOp, Vote } from "../src/core/txn/types";
import { withTimeout } from "../src/services/replica-call";
import type { CacheShard } from "./cache-shard";
import { GroupCommit } from "./group-commit";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";
import { retentionSweepAt } from "../src/core/timers/retention";

/** How long a finished transaction is remembered: its outcome answers GET /txn/{id} and retries with the same id. */
export const TXN_RETENTION_MS = 24 * 60 * 60 * 1000;
const RESEND_MAX_MS = 30_000;
/** Transactions handled per alarm run, so one run stays short; a backlog re-arms the alarm at once. */
const ALARM_BATCH = 100;
/** End records of transactions finished within this window are written together. */
const END_FLUSH_MS = 20;
/** A PREPARE stops waiting for locks this long before the vote deadline, so its "no" still arrives in time. */
const PREPARE_WAIT_MARGIN_MS = 200;

/** Where a test can make the coordinator crash (ctx.abort) during the protocol. */
export type CoordinatorCrashPoint = "after-prepare-sent" | "after-decision-logged" | "before-end";

export interface TxnRequest {
  id: string;
  /** The name of the coordinator object running it (participants ask it when in doubt). */
  coordinator: string;
  ops: TxnOp[];
  conditions: TxnCondition[];
  participants: ParticipantPlan[];
  /** Wait-die priority: when the client's first attempt started (a retry keeps it); default: now. */
  priority?: number;
}

/** What the coordinator reports about a transaction. */
export type TxnView = Omit<CoordinatorState, "nextResendAt" | "voteDeadline">;

/** A transaction as a list shows it: its state and participants, without its values. */
export type TxnSummary = Pick<TxnView, "id" | "phase" | "participants" | "startedAt" | "decidedAt" | "endedAt" | "reason" | "resends"> & { ops: number };

function summaryOf(v: TxnView): TxnSummary {
  return { id: v.id, phase: v.phase, participants: v.participants, startedAt: v.startedAt, decidedAt: v.decidedAt, endedAt: v.endedAt, reason: v.reason, resends: v.resends, ops: v.ops.length };
}

export type RunResult = { ok: true; view: TxnView } | { ok: false; error: "id_reused" };

/** A transaction this incarnation is working on: its state, its votes' records (memory only) and its run. */
interface Live {
  state: CoordinatorState;
  records: VoteRecords;
  running: Promise<void> | null;
  /** This object's name as the router gave it (participants store it to ask this object when in doubt). */
  coordinator: string;
  /** The decision's row has been written (from then on the output gate holds any answer that reveals it until it is durable). */
  logged: boolean;
  /** Wait-die priority sent with each PREPARE (memory only: a PREPARE resent after a restart carries none, and does not wait). */
  priority?: number;
}

/**
 * A two-phase-commit coordinator: a thin shell around src/core/txn/coordinator, hosting the decision
 * log of the transactions routed to it (one row each). Every step persists first, then sends what it
 * causes. The one alarm drives unfinished transactions to their end after a crash: one still
 * preparing is aborted (presumed abort), a decided one has its decision resent until every
 * participant acknowledges it; finished ones are forgotten after TXN_RETENTION_MS.
 */
export class TxnCoordinator extends DurableObject<Cloudflare.Env> {
  private readonly sql: SqlStorage;
  private readonly live = new Map<string, Live>();
  private readonly crashPoints = new Map<string, CoordinatorCrashPoint>();
  private alarmAt: number | null = null;
  /** Rows of concurrent transactions are written in one storage transaction (one durable commit). */
  private readonly commits = new GroupCommit<void>((fn) => this.ctx.storage.transactionSync(() => fn()));
  private clock: VersionClock | undefined;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "txn"); // billed usage: stub calls it makes, alarms, storage rows
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS txns (id TEXT PRIMARY KEY, state TEXT NOT NULL, wake_at INTEGER NOT NULL)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS txns_wake ON txns (wake_at)");
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private get timings(): CoordTimings {
    const t = getConfig(this.env).txn;
    return { voteTimeoutMs: t.voteTimeoutMs, resendBaseMs: t.resendMs, resendMaxMs: RESEND_MAX_MS };
  }

  /** The transaction in memory, or loaded from its row (after a restart); undefined if unknown here. */
  private load(id: string): Live | undefined {
    let l = this.live.get(id);
    if (l) return l;
    const row = this.sql.exec<{ state: string }>("SELECT state FROM txns WHERE id = ?", id).toArray()[0];
    if (!row) return undefined;
    const state = JSON.parse(row.state) as CoordinatorState;
    l = { state, records: new Map(), running: null, coordinator: "", logged: state.phase !== "preparing" };
    this.live.set(id, l);
    return l;
  }

  /**
   * Crashes here if a test asked for it. Storage is synced first: a write is durable only once the
   * output gate confirms it (and the gate also holds back outgoing messages until then), so "after X
   * is logged" means after X is on disk.
   */
  private async crashAt(id: string, point: CoordinatorCrashPoint): Promise<void> {
    if (this.crashPoints.get(id) !== point) return;
    this.crashPoints.delete(id);
    await this.ctx.storage.sync();
    this.ctx.abort(`crash injected at ${point}`);
  }

  private mintVersion = (seen: Version[]): Version => {
    this.clock ??= new VersionClock(crypto.getRandomValues(new Uint32Array(1))[0] ?? 0);
    for (const v of seen) this.clock.observe(v);
    return this.clock.next(Date.now());
  };

  private async scheduleAt(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }

  /** Writes the transaction's row; the alarm is armed for what is left to do (or for forgetting it). */
  private async persist(s: CoordinatorState): Promise<void> {
    const wake = wakeAt(s);
    const row = JSON.stringify(s);
    await this.commits.run(() => this.sql.exec("INSERT OR REPLACE INTO txns (id, state, wake_at) VALUES (?, ?, ?)", s.id, row, wake));
    await this.scheduleAt(wake);
  }

  /** Executes a core step: persist first, then send. Replies feed back into the core. */
  private async execute(l: Live, step: Step): Promise<void> {
    const id = l.state.id;
    if (step.persist) {
      if (step.decides) await this.crashAt(id, "after-prepare-sent");
      try {
        await this.persist(l.state);
      } catch (err) {
        // Fail-stop: memory must never run ahead of the log (a decision only in memory could be
        // answered, then forgotten). After the restart, presumed abort or the logged decision rules.
        this.ctx.abort(`transaction log write failed: ${(err as Error).message}`);
        throw err;
      }
      if (step.decides) l.logged = true;
      if (step.decides) await this.crashAt(id, "after-decision-logged");
    }
    await Promise.all(step.send.map((m) => this.send(l, m)));
  }

  private shard(name: string): DurableObjectStub<CacheShard> {
    // A fresh stub per call: a cached one stays broken after its object restarts (crash, deploy, eviction).
    return objectStub(this.env, "cache", name);
  }

  private async send(l: Live, m: CoordMessage): Promise<void> {
    const s = l.state;
    const t = this.timings;
    if (m.type === "prepare") {
      const left = Math.max(1, s.voteDeadline - Date.now());
      // An older transaction may wait at the participant for younger holders, until shortly before its vote deadline.
      const wait = l.priority === undefined ? undefined : { priority: l.priority, waitMs: Math.max(0, left - PREPARE_WAIT_MARGIN_MS) };
      const prepare = async (): Promise<Vote> => (await this.shard(m.shard).txnPrepare(s.id, m.shard, m.keys, m.valueKeys, l.coordinator, wait)) as Vote;
      let vote: Vote;
      try {
        vote = await withTimeout(prepare(), left);
      } catch (err) {
        return this.execute(l, onVoteFailed(s, m.shard, err instanceof Error ? err.message : String(err), Date.now(), t));
      }
      return this.execute(l, onVote(s, l.records, m.shard, vote, Date.now(), t, this.mintVersion));
    }
    try {
      await withTimeout(this.shard(m.shard).txnDecide(s.id, m.shard, m.outcome, m.writes), getConfig(this.env).cache.replicaTimeoutMs);
    } catch {
      return; // Not acknowledged: the alarm resends it.
    }
    const step = onAck(s, m.shard, Date.now());
    if (!step.persist || s.endedAt === null) return this.execute(l, step);
    await this.crashAt(s.id, "before-end");
    this.endLater(l);
  }

  /**
   * End records are written in batches, off the answer's path: the end only stops resends, so one
   * lost in a crash costs a resend that participants acknowledge again, never correctness.
   */
  private readonly pendingEnds = new Map<string, Live>();
  private endFlushArmed = false;
  private endLater(l: Live): void {
    this.pendingEnds.set(l.state.id, l);
    if (this.endFlushArmed) return;
    this.endFlushArmed = true;
    setTimeout(() => void this.flushEnds(), END_FLUSH_MS);
  }

  private async flushEnds(): Promise<void> {
    this.endFlushArmed = false;
    const batch = [...this.pendingEnds.values()];
    try {
      await Promise.all(batch.map((l) => this.persist(l.state)));
    } catch {
      return; // persist has reset the object; the alarm writes the ends after the restart
    }
    for (const l of batch) {
      // A newer end for the same id cannot exist (an end is final); the entry is done.
      this.pendingEnds.delete(l.state.id);
      this.release(l.state.id);
    }
  }

  /** Forgets a finished transaction's memory (its row stays) unless its end record is still to be written. */
  private release(id: string): void {
    const l = this.live.get(id);
    if (l && l.state.endedAt !== null && !this.pendingEnds.has(id)) this.live.delete(id);
  }

  /**
   * Runs the transaction to its outcome (idempotent on the id: a retry with the same operations gets
   * the recorded outcome; with different ones, `id_reused`). Answers once every participant has
   * acknowledged the decision or the acknowledgements time out (the alarm then finishes phase 2).
   */
  async run(req: TxnRequest): Promise<RunResult> {
    const known = this.load(req.id);
    if (known) {
      const s = known.state;
      if (JSON.stringify([s.ops, s.conditions]) !== JSON.stringify([req.ops, req.conditions]) && s.reason?.code !== "presumed_abort")
        return { ok: false, error: "id_reused" };
      // A run of this incarnation is awaited; otherwise the coordinator restarted: it presumes abort
      // if it had not decided, or finishes phase 2 now, so the answer comes after the decision is applied.
      if (!known.running && s.endedAt === null) known.running = this.execute(known, onRecover(s, Date.now(), this.timings));
      await known.running?.catch(() => undefined);
      this.release(req.id);
      return { ok: true, view: view(s) };
    }
    const { state, step } = begin(req.id, req.ops, req.conditions, req.participants, Date.now(), this.timings);
    const l: Live = { state, records: new Map(), running: null, coordinator: req.coordinator, logged: false, priority: req.priority ?? state.startedAt };
    this.live.set(req.id, l);
    l.running = this.execute(l, step);
    try {
      await l.running;
    } finally {
      // Finished (or left to the alarm): only the row is kept.
      this.release(req.id);
    }
    return { ok: true, view: view(state) };
  }

  /** An in-doubt participant asks for the outcome. An unknown transaction is presumed aborted, and that is recorded. */
  async inquire(txn: string, shard: string): Promise<InquiryAnswer> {
    const now = Date.now();
    const l = this.load(txn);
    if (!l) {
      const state: CoordinatorState = {
        id: txn, ops: [], conditions: [], phase: "aborted", participants: [], startedAt: now, voteDeadline: now,
        decidedAt: now, endedAt: now, reason: { code: "presumed_abort", message: "unknown to its coordinator: presumed aborted" },
        writes: null, results: null, nextResendAt: null, resends: 0,
      };
      // Written synchronously, before any await: a run() of the same id arriving meanwhile must find
      // this record (and answer "aborted") instead of starting the transaction afresh.
      this.sql.exec("INSERT OR REPLACE INTO txns (id, state, wake_at) VALUES (?, ?, ?)", txn, JSON.stringify(state), wakeAt(state));
      await this.scheduleAt(wakeAt(state));
      return { state: "aborted", writes: [] };
    }
    if (l.state.phase === "preparing" && !l.running) await this.execute(l, onRecover(l.state, now, this.timings));
    const { answer, step } = onInquiry(l.state, shard, now, this.timings);
    await this.execute(l, step);
    if (!l.running) this.release(txn);
    // A decision taken in memory but not yet written is not an answer yet: ask again later.
    if (answer.state !== "pending" && !l.logged) return { state: "pending" };
    return answer;
  }

  async status(id: string): Promise<TxnView | null> {
    const l = this.live.get(id);
    // A decision not yet written is not reported: it is still "preparing" to anyone outside.
    if (l) return view(l.logged || l.state.phase === "preparing" ? l.state : { ...l.state, phase: "preparing", decidedAt: null, reason: null, writes: null, results: null });
    const row = this.sql.exec<{ state: string }>("SELECT state FROM txns WHERE id = ?", id).toArray()[0];
    return row ? view(JSON.parse(row.state) as CoordinatorState) : null;
  }

  /**
   * The newest `limit` transactions this object knows, newest first, without their values: those in
   * memory (as status() shows them: a decision not yet written is still "preparing") and those written.
   */
  async recent(limit: number): Promise<TxnSummary[]> {
    const rows = this.sql.exec<{ state: string }>("SELECT state FROM txns ORDER BY json_extract(state, '$.startedAt') DESC LIMIT ?", limit).toArray();
    const byId = new Map<string, TxnView>();
    for (const r of rows) {
      const v = view(JSON.parse(r.state) as CoordinatorState);
      byId.set(v.id, v);
    }
    for (const id of this.live.keys()) {
      const v = await this.status(id);
      if (v !== null) byId.set(id, v);
    }
    return [...byId.values()].sort((a, b) => b.startedAt - a.startedAt).slice(0, limit).map(summaryOf);
  }

  /** Test hook: how many transactions this incarnation still holds in memory (finished ones must not stay). */
  async inMemory(): Promise<{ live: number; pendingEnds: number }> {
    return { live: this.live.size, pendingEnds: this.pendingEnds.size };
  }

  /** Test hook: crash the next time transaction `id` reaches `point` (memory only, so it fires once). */
  async armCrash(id: string, point: CoordinatorCrashPoint | null): Promise<void> {
    if (point === null) this.crashPoints.delete(id);
    else this.crashPoints.set(id, point);
  }

  /** The one alarm: every transaction whose timer is due takes its step (recover, resend, or be forgotten). */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    try {
      const due = this.sql.exec<{ id: string }>("SELECT id FROM txns WHERE wake_at <= ? ORDER BY wake_at LIMIT ?", now, ALARM_BATCH).toArray();
      await Promise.all(due.map(({ id }) => this.wake(id, now)));
    } finally {
      const next = this.sql.exec<{ at: number | null }>("SELECT MIN(wake_at) AS at FROM txns").one().at;
      if (next !== null) await this.scheduleAt(Math.max(next, Date.now()));
    }
  }

  private async wake(id: string, now: number): Promise<void> {
    const l = this.load(id);
    if (!l) return;
    const s = l.state;
    if (s.endedAt !== null) {
      if (now >= s.endedAt + TXN_RETENTION_MS) {
        this.sql.exec("DELETE FROM txns WHERE id = ?", id);
        this.live.delete(id);
      } else await this.persist(s);
      return;
    }
    // A transaction still preparing with no run in this incarnation lost its votes in a crash.
    const step = s.phase === "preparing" && !l.running ? onRecover(s, now, this.timings) : onTick(s, now, this.timings);
    if (!step.persist) await this.persist(s);
    await this.execute(l, step);
    if (!l.running) this.release(id);
  }
}

/**
 * When the transaction's row wants the alarm: its next timer, or when it is forgotten (at the end of
 * its retention slot, so the transactions of a burst are forgotten by one alarm, not one each).
 */
function wakeAt(s: CoordinatorState): number {
  return nextWake(s) ?? retentionSweepAt((s.endedAt ?? s.startedAt) + TXN_RETENTION_MS);
}

function view(s: CoordinatorState): TxnView {
  const { nextResendAt: _n, voteDeadline: _v, ...rest } = s;
  return rest;
}
