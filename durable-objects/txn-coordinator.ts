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

/** How long a finished transaction is remembered: its outcome answers GET /txn/{id} and retries with the same id. */
export const TXN_RETENTION_MS = 24 * 60 * 60 * 1000;
const RESEND_MAX_MS = 30_000;

/** Where a test can make the coordinator crash (ctx.abort) during the protocol. */
export type CoordinatorCrashPoint = "after-prepare-sent" | "after-decision-logged" | "before-end";

export interface TxnRequest {
  id: string;
  ops: TxnOp[];
  conditions: TxnCondition[];
  participants: ParticipantPlan[];
}

/** What the coordinator reports about a transaction (also its durable record, minus nothing secret). */
export type TxnView = Omit<CoordinatorState, "nextResendAt" | "resends" | "voteDeadline"> & { resends: number };

export type RunResult = { ok: true; view: TxnView } | { ok: false; error: "id_reused" };

/**
 * The coordinator of one transaction (the object is named by the transaction id): a thin shell
 * around src/core/txn/coordinator. Every step persists its state first, then sends what it causes.
 * The alarm drives an unfinished transaction to its end after a crash: one still preparing is
 * aborted (presumed abort), a decided one has its decision resent until every participant acks.
 */
export class TxnCoordinator extends DurableObject<Cloudflare.Env> {
  private readonly sql: SqlStorage;
  private state: CoordinatorState | null = null;
  /** Votes' records (memory only) and the promise of a run in progress in this incarnation. */
  private records: VoteRecords = new Map();
  private running: Promise<void> | null = null;
  private crashPoint: CoordinatorCrashPoint | null = null;
  private clock: VersionClock | undefined;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS txn (name TEXT PRIMARY KEY, json TEXT NOT NULL)");
    const row = this.sql.exec<{ json: string }>("SELECT json FROM txn WHERE name = 'state'").toArray()[0];
    this.state = row ? (JSON.parse(row.json) as CoordinatorState) : null;
  }

  private get timings(): CoordTimings {
    const t = getConfig(this.env).txn;
    return { voteTimeoutMs: t.voteTimeoutMs, resendBaseMs: t.resendMs, resendMaxMs: RESEND_MAX_MS };
  }

  /**
   * Crashes here if a test asked for it. Storage is synced first: a write is durable only once the
   * output gate confirms it (and the gate also holds back outgoing messages until then), so "after X
   * is logged" means after X is on disk.
   */
  private async crashAt(point: CoordinatorCrashPoint): Promise<void> {
    if (this.crashPoint !== point) return;
    this.crashPoint = null;
    await this.ctx.storage.sync();
    this.ctx.abort(`crash injected at ${point}`);
  }

  private mintVersion = (seen: Version[]): Version => {
    this.clock ??= new VersionClock(crypto.getRandomValues(new Uint32Array(1))[0] ?? 0);
    for (const v of seen) this.clock.observe(v);
    return this.clock.next(Date.now());
  };

  /** Persists the state, then (re)arms the alarm for what is left to do. */
  private async persist(): Promise<void> {
    const s = this.state;
    if (!s) return;
    this.sql.exec("INSERT OR REPLACE INTO txn (name, json) VALUES ('state', ?)", JSON.stringify(s));
    const wake = nextWake(s) ?? (s.endedAt ?? Date.now()) + TXN_RETENTION_MS;
    await this.ctx.storage.setAlarm(wake);
  }

  /** Executes a core step: persist first, then send. Replies feed back into the core. */
  private async execute(step: Step): Promise<void> {
    if (step.persist) {
      if (step.decides) await this.crashAt("after-prepare-sent");
      await this.persist();
      if (step.decides) await this.crashAt("after-decision-logged");
    }
    await Promise.all(step.send.map((m) => this.send(m)));
  }

  private shard(name: string) {
    return this.env.CACHE_SHARD.get(this.env.CACHE_SHARD.idFromName(name));
  }

  private async send(m: CoordMessage): Promise<void> {
    const s = this.state!;
    const t = this.timings;
    if (m.type === "prepare") {
      const left = Math.max(1, s.voteDeadline - Date.now());
      try {
        const prepare = async (): Promise<Vote> => (await this.shard(m.shard).txnPrepare(s.id, m.shard, m.keys, m.valueKeys)) as Vote;
        const vote = await withTimeout(prepare(), left);
        await this.execute(onVote(s, this.records, m.shard, vote, Date.now(), t, this.mintVersion));
      } catch (err) {
        await this.execute(onVoteFailed(s, m.shard, err instanceof Error ? err.message : String(err), Date.now(), t));
      }
      return;
    }
    try {
      await withTimeout(this.shard(m.shard).txnDecide(s.id, m.shard, m.outcome, m.writes), getConfig(this.env).cache.replicaTimeoutMs);
    } catch {
      return; // Not acknowledged: the alarm resends it.
    }
    const step = onAck(s, m.shard, Date.now());
    if (step.persist && s.endedAt !== null) await this.crashAt("before-end");
    await this.execute(step);
  }

  /**
   * Runs the transaction to its outcome (idempotent on the id: a retry with the same operations gets
   * the recorded outcome; with different ones, `id_reused`). Answers once every participant has
   * acknowledged the decision or the acknowledgements time out (the alarm then finishes phase 2).
   */
  async run(req: TxnRequest): Promise<RunResult> {
    if (this.state) {
      if (JSON.stringify([this.state.ops, this.state.conditions]) !== JSON.stringify([req.ops, req.conditions]) && this.state.reason?.code !== "presumed_abort")
        return { ok: false, error: "id_reused" };
      // A run of this incarnation is awaited; otherwise the coordinator restarted: it presumes abort
      // if it had not decided, or finishes phase 2 now, so the answer comes after the decision is applied.
      if (!this.running && this.state.endedAt === null) this.running = this.execute(onRecover(this.state, Date.now(), this.timings));
      await this.running?.catch(() => undefined);
      return { ok: true, view: this.view() };
    }
    const { state, step } = begin(req.id, req.ops, req.conditions, req.participants, Date.now(), this.timings);
    this.state = state;
    this.running = this.execute(step);
    await this.running;
    return { ok: true, view: this.view() };
  }

  /** An in-doubt participant asks for the outcome. An unknown transaction is presumed aborted, and that is recorded. */
  async inquire(txn: string, shard: string): Promise<InquiryAnswer> {
    const now = Date.now();
    if (!this.state) {
      this.state = {
        id: txn, ops: [], conditions: [], phase: "aborted", participants: [], startedAt: now, voteDeadline: now,
        decidedAt: now, endedAt: now, reason: { code: "presumed_abort", message: "unknown to its coordinator: presumed aborted" },
        writes: null, results: null, nextResendAt: null, resends: 0,
      };
      await this.persist();
      return { state: "aborted", writes: [] };
    }
    if (this.state.phase === "preparing" && !this.running) await this.execute(onRecover(this.state, now, this.timings));
    const { answer, step } = onInquiry(this.state, shard, now, this.timings);
    await this.execute(step);
    return answer;
  }

  async status(): Promise<TxnView | null> {
    return this.state ? this.view() : null;
  }

  /** Test hook: crash the next time the protocol reaches `point` (memory only, so it fires once). */
  async armCrash(point: CoordinatorCrashPoint | null): Promise<void> {
    this.crashPoint = point;
  }

  override async alarm(): Promise<void> {
    const s = this.state;
    if (!s) return;
    const now = Date.now();
    if (s.endedAt !== null && now >= s.endedAt + TXN_RETENTION_MS) {
      await this.ctx.storage.deleteAll();
      this.state = null;
      return;
    }
    // A transaction still preparing with no run in this incarnation lost its votes in a crash.
    const step = s.phase === "preparing" && !this.running ? onRecover(s, now, this.timings) : onTick(s, now, this.timings);
    if (!step.persist) await this.persist();
    await this.execute(step);
  }

  private view(): TxnView {
    const { nextResendAt: _n, voteDeadline: _v, ...rest } = this.state!;
    return rest;
  }
}
