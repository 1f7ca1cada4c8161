import { DurableObject } from "cloudflare:workers";
import {
  cancel, createBatch, createJob, isFinished, nextWakeAt, progressView, resultRefs, taskCompleted, taskFailed, taskHeartbeat, tick,
  type ProgressView, type SchedulerConfig, type SchedulerEffect, type SchedulerState, type Step, type TaskView,
} from "../src/core/scheduler";
import type { TaskResult, TaskSpec } from "../src/core/tasks";
import { getConfig } from "../src/config";
import { utf8Length } from "../src/core/text/utf8";
import { registryStub } from "./work-registry";
import { withTimeout } from "../src/services/replica-call";
import { bindJob, type Entry, type JobParams } from "../src/core/mapreduce/jobs";
import { finalizeJob } from "../src/core/mapreduce/pipeline";
import { ERROR_CHARS, executorStub, type AttemptReport, type MapOutputRef, type MapWork, type ReduceOutput, type ReduceWork, type SplitRef, type Work, type Assignment } from "./task-executor";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";

/** Calls to executors at once: Workers allow six simultaneous outgoing connections per invocation. */
const ASSIGN_CONCURRENCY = 6;
/** After a report, the next step waits this long, so one step assigns the work many reports freed. */
const TICK_COALESCE_MS = 20;
/** Reports' state changes are written together at most this often. */
const REPORT_FLUSH_MS = 50;
/** An executor that does not take an assignment in this long is treated as having failed it. */
const ASSIGN_TIMEOUT_MS = 5_000;

/** What a deleted coordinator keeps: when, and the executors still holding rows of its job. */
interface Tombstone {
  at: number;
  upload: string | null;
  /** executor -> map attempt ids whose runs it may hold (its input splits too). */
  pending: Record<string, string[]>;
  tries: number;
}
/** Attempts at cleaning the executors after a delete (1 s, 2 s, 4 s ... apart). */
const CLEANUP_TRIES = 8;

/** Cloudflare's limits on one stored row: 2 KiB keys, 2 MiB values (kept under, with room for encoding). */
const MAX_KEY_BYTES = 2048;
const MAX_VALUE_CHARS = 2_000_000;

/** Why an output row cannot be stored on Cloudflare, or null. */
function unstorableRow(key: string, value: unknown): string | null {
  const keyBytes = utf8Length(key);
  if (keyBytes > MAX_KEY_BYTES) return `an output key is ${keyBytes} bytes, over the 2 KiB key limit (a token that long?)`;
  const chars = JSON.stringify(value).length;
  if (chars > MAX_VALUE_CHARS) return `the output of ${JSON.stringify(key.slice(4, 40))} is ${chars} chars, over a stored value (2 MiB)`;
  return null;
}

export function coordinatorStub(env: Cloudflare.Env, name: string): DurableObjectStub<JobCoordinator> {
  return objectStub(env, "job", name);
}

/** The answer to a submission: started now, the same one already here, or refused (see JobCoordinator.claim). */
export type Submitted<T> = { outcome: "created" | "replayed"; value: T } | { outcome: "mismatch" | "gone" };

/** A MapReduce job as the API reports it. */
export interface JobStatus {
  id: string;
  kind: JobParams["kind"];
  M: number;
  R: number;
  combiner: boolean;
  phase: ProgressView["phase"];
  finished: boolean;
  error: ProgressView["error"];
  createdAt: number;
  endedAt: number | null;
  stages: ProgressView["stages"];
  counters: Record<string, number>;
  tasks: Pick<TaskView, "id" | "stage" | "state" | "executor" | "attempts" | "startedAt" | "endedAt" | "durationMs" | "error">[];
}

/** A task as the API reports it. */
export interface TaskStatus {
  id: string;
  kind: string;
  status: TaskView["state"];
  node: string | null;
  attempts: number;
  result: TaskResult | null;
  error: string | null;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  attemptLog: TaskView["attemptLog"];
}

/**
 * The master of one batch of tasks (and, later, of one MapReduce job): a thin shell around
 * src/core/scheduler. Every step is persisted before its effects are carried out; the alarm drives
 * assignments, timeouts and backups in bounded steps. Task specs and results live in their own rows
 * (a batch may carry up to 1,000 tasks of up to 1 MiB each); the scheduler's state is one JSON value.
 */
export class JobCoordinator extends DurableObject<Cloudflare.Env> {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "job"); // billed usage: stub calls it makes, alarms, storage rows
  }

  private state: SchedulerState | null = null;
  private loaded = false;

  private async load(): Promise<SchedulerState | null> {
    if (!this.loaded) {
      this.state = (await this.ctx.storage.get<SchedulerState>("state")) ?? null;
      this.loaded = true;
      // After a restart: attempts recorded as running may never have been sent (a crash between writing
      // the state and assigning). Sending them again is harmless (an executor keeps one copy per attempt
      // id, and only the first completion counts) and spares them the attempt timeout.
      if (this.state !== null && !isFinished(this.state)) this.resendRunning = true;
    }
    return this.state;
  }

  /** Set on the first load after a (re)start: the next alarm step re-sends the running attempts. */
  private resendRunning = false;

  /**
   * Whether this coordinator may start a submission with this fingerprint (a hash of its parameters):
   * "none" (never used), "exists" (a retry: the same submission is here), "mismatch" (its id, from an
   * Idempotency-Key, was used for other parameters), "gone" (it was deleted; the id is not reused, so a
   * straggler of the old one can never be taken for the new one's).
   */
  private async claim(fingerprint: string): Promise<"none" | "exists" | "mismatch" | "gone"> {
    if ((await this.load()) !== null) return (await this.ctx.storage.get<string>("fingerprint")) === fingerprint ? "exists" : "mismatch";
    return (await this.ctx.storage.get("deleted")) === undefined ? "none" : "gone";
  }

  /** Starts a batch; a retry with the same fingerprint changes nothing and answers the batch as it is. */
  async submitBatch(id: string, specs: TaskSpec[], config: SchedulerConfig, fingerprint: string): Promise<Submitted<ProgressView>> {
    const claim = await this.claim(fingerprint);
    if (claim === "exists") return { outcome: "replayed", value: progressView(this.state!, Date.now()) };
    if (claim !== "none") return { outcome: claim };
    const taskIds = specs.map((_, i) => `${id}.${i}`);
    const { state } = createBatch(id, taskIds, config, Date.now());
    // Specs first, the state last: until the state is stored the batch does not exist, so a failure
    // half way leaves no batch that looks runnable. put() takes at most 128 entries at a time.
    const entries: [string, unknown][] = [["fingerprint", fingerprint], ...specs.map((spec, i): [string, TaskSpec] => [`spec:${taskIds[i]}`, spec])];
    for (let i = 0; i < entries.length; i += 128) await this.ctx.storage.put(Object.fromEntries(entries.slice(i, i + 128)));
    await this.ctx.storage.put("state", state);
    this.state = state;
    await this.ctx.storage.setAlarm(Date.now());
    return { outcome: "created", value: progressView(state, Date.now()) };
  }

  /**
   * An executor's report of one attempt. Duplicates and late reports are absorbed by the core. Answers
   * whether the attempt's output counts: false when another attempt won, or the batch or job is gone.
   */
  async report(taskId: string, attemptId: string, outcome: AttemptReport): Promise<boolean> {
    const s = await this.load();
    // No such batch or job (deleted): the executor drops what the attempt stored.
    if (s === null) return false;
    const now = Date.now();
    let step: Step;
    if (outcome.ok) {
      const ref = `result:${taskId}`;
      // The result is stored BEFORE the task is marked completed: if a write fails, the report fails
      // and the executor sends it again, instead of a completed task whose output was never stored.
      // Only a completion that will count is stored (first one wins); its keys are deterministic, so
      // writing them again is harmless.
      const task = s.tasks.find((t) => t.id === taskId);
      const willCount = task !== undefined && task.state !== "completed" && task.state !== "failed" && task.attempts.some((a) => a.id === attemptId) && !isFinished(s);
      let unstorable: string | null = null;
      if (willCount) {
        const r = outcome.result;
        if ("entriesJson" in r) {
          // A reducer's partition: its keys are disjoint from the other partitions', so as rows they
          // merge into one keyspace, listed in key order (UTF-8 byte order, as the core sorts).
          const rows = (JSON.parse(r.entriesJson) as Entry<unknown>[]).map(([k, v]): [string, unknown] => [`out:${k}`, v]);
          // Checked here, not left to the storage: Miniflare does not enforce Cloudflare's limits, and an
          // output that can never be stored must fail its task with a reason, not fail its report forever.
          unstorable = rows.map(([key, value]) => unstorableRow(key, value)).find((why) => why !== null) ?? null;
          if (unstorable === null) {
            for (let i = 0; i < rows.length; i += 128) await this.ctx.storage.put(Object.fromEntries(rows.slice(i, i + 128)));
            await this.ctx.storage.put(ref, { partition: r.partition, records: r.records, bytesShuffled: r.bytesShuffled });
          }
        } else {
          await this.ctx.storage.put(ref, r);
        }
      }
      step = unstorable === null ? taskCompleted(s, taskId, attemptId, now, ref) : taskFailed(s, taskId, attemptId, now, unstorable.slice(0, ERROR_CHARS));
    } else {
      step = taskFailed(s, taskId, attemptId, now, outcome.error);
    }
    // A report's state change is written with the next ones (within REPORT_FLUSH_MS) rather than on
    // its own: the state of a 1,000-task batch is large, and writing it per report was the ceiling.
    // Safe: nothing is assigned before the state is written (the alarm step writes first), and a
    // completion lost in a crash only leaves its attempt silent, so it is re-run (tasks are pure).
    if (step.persist) this.dirty = true;
    // The batch's end is written before anything else happens (nothing would come back to write it).
    if (step.effects.some((e) => e.type === "finished")) {
      if (s.kind === "job" && s.phase === "done") await this.finalizeIfNeeded();
      await this.flushNow();
      // The shuffle data is no longer needed once the job has ended: the reducers' output is stored here.
      if (s.kind === "job") void this.dropMapOutputs(s);
    }
    else if (this.dirty) this.scheduleFlush();
    this.release(step.effects);
    // The next step comes soon (the slot this report freed is refilled there). Working out exactly when
    // (nextWakeAt) costs a pass over every task; per report that was a fifth of the CPU of a big batch.
    // Once the batch has ended nothing is left to step: only its retention is due (a late report of a
    // backup or superseded attempt must not cost an alarm invocation of its own).
    const current = await this.ctx.storage.getAlarm();
    if (isFinished(s) && s.endedAt !== null) {
      // Replaces an earlier timer too (an attempt's timeout): nothing is left to time out.
      const retention = s.endedAt + getConfig(this.env).tasks.retentionMs;
      if (current !== retention) await this.ctx.storage.setAlarm(retention);
    } else {
      const at = Date.now() + TICK_COALESCE_MS;
      if (current === null || current > at) await this.ctx.storage.setAlarm(at);
    }
    // True while this attempt's output is the one that counts and is still needed (the executor keeps
    // its map runs for the reducers); once the job has ended, nothing is.
    return !isFinished(s) && s.tasks.find((t) => t.id === taskId)?.completedBy === attemptId;
  }

  private flushTimer: ReturnType<typeof setTimeout> | null = null;

  /** The state in memory has changes not yet written. */
  private dirty = false;

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => void this.flushNow(), REPORT_FLUSH_MS);
  }

  /** Writes the state now if it has unwritten changes. */
  private async flushNow(): Promise<void> {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.dirty || this.state === null) return;
    this.dirty = false;
    await this.ctx.storage.put("state", this.state);
  }

  /** One task's status, or null if this batch has no such task. */
  async task(taskId: string): Promise<TaskStatus | null> {
    const s = await this.load();
    if (s === null) return null;
    const view = progressView(s, Date.now()).tasks.find((t) => t.id === taskId);
    if (view === undefined) return null;
    return this.statusOf(view);
  }

  /** Every task of the batch, optionally only those in `status`. */
  async tasks(status: TaskView["state"] | null): Promise<{ batch: ProgressView; tasks: TaskStatus[] } | null> {
    const s = await this.load();
    if (s === null) return null;
    const view = progressView(s, Date.now());
    const chosen = view.tasks.filter((t) => status === null || t.state === status);
    return { batch: { ...view, tasks: [] }, tasks: await Promise.all(chosen.map((t) => this.statusOf(t))) };
  }

  /** A batch's or job's phase and per-stage counts without its tasks: one small answer for the dashboard. */
  async summary(): Promise<Omit<ProgressView, "tasks" | "executors"> | null> {
    const s = await this.load();
    if (s === null) return null;
    const { tasks: _tasks, executors: _executors, ...rest } = progressView(s, Date.now());
    return rest;
  }

  private async statusOf(v: TaskView): Promise<TaskStatus> {
    const spec = await this.ctx.storage.get<TaskSpec>(`spec:${v.id}`);
    const result = v.resultRef === null ? null : ((await this.ctx.storage.get<TaskResult>(v.resultRef)) ?? null);
    return {
      id: v.id, kind: spec?.kind ?? "unknown", status: v.state, node: v.executor, attempts: v.attempts,
      result, error: v.error, startedAt: v.startedAt, endedAt: v.endedAt, durationMs: v.durationMs, attemptLog: v.attemptLog,
    };
  }

  /** Before an upload: whether a job with this fingerprint may be started here (see claim), and its status if it exists. */
  async lookupJob(fingerprint: string): Promise<{ claim: "none" | "exists" | "mismatch" | "gone"; status: JobStatus | null }> {
    const claim = await this.claim(fingerprint);
    return { claim, status: claim === "exists" ? await this.jobStatus() : null };
  }

  /**
   * Starts a MapReduce job over its input splits, already stored on the executors by one upload
   * (`inputs[i]` is map task i's split and where it is: its home). A retry with the same fingerprint
   * answers the job as it is ("replayed": the caller drops its own upload).
   */
  async submitJob(id: string, job: JobParams, inputs: SplitRef[], config: SchedulerConfig, fingerprint: string, upload: string): Promise<Submitted<JobStatus>> {
    const claim = await this.claim(fingerprint);
    if (claim === "exists") return { outcome: "replayed", value: (await this.jobStatus())! };
    if (claim !== "none") return { outcome: claim };
    const mapIds = inputs.map((_, i) => `${id}.m${i}`);
    const reduceIds = Array.from({ length: job.R }, (_, j) => `${id}.r${j}`);
    const homes = Object.fromEntries(inputs.map((ref, i) => [mapIds[i], ref.executor]));
    const { state } = createJob(id, mapIds, reduceIds, config, Date.now(), homes);
    const entries: [string, unknown][] = [
      ["job", job],
      ["fingerprint", fingerprint],
      ["upload", upload],
      ...inputs.map((input, i): [string, MapWork] => [`spec:${mapIds[i]}`, { kind: "map", job, input }]),
      ...reduceIds.map((rid, j): [string, ReduceWork] => [`spec:${rid}`, { kind: "reduce", job, partition: j, sources: [] }]),
    ];
    for (let i = 0; i < entries.length; i += 128) await this.ctx.storage.put(Object.fromEntries(entries.slice(i, i + 128)));
    await this.ctx.storage.put("state", state);
    this.state = state;
    await this.ctx.storage.setAlarm(Date.now());
    return { outcome: "created", value: (await this.jobStatus())! };
  }

  /** The job's phase, per-phase progress, per-task states and timings, counters; null if there is none. */
  async jobStatus(): Promise<JobStatus | null> {
    const s = await this.load();
    const job = await this.ctx.storage.get<JobParams>("job");
    if (s === null || job === undefined) return null;
    const view = progressView(s, Date.now());
    const results = await this.ctx.storage.list<Record<string, unknown>>({ prefix: "result:" });
    let recordsIn = 0;
    let mapOut = 0;
    let shuffledRecords = 0;
    let recordsOut = 0;
    let bytesShuffled = 0;
    for (const r of results.values()) {
      const c = r.counters as { inputLines?: number; mapOutputRecords?: number; shuffledRecords?: number } | undefined;
      recordsIn += c?.inputLines ?? 0;
      mapOut += c?.mapOutputRecords ?? 0;
      shuffledRecords += c?.shuffledRecords ?? 0;
      recordsOut += typeof r.records === "number" ? r.records : 0;
      bytesShuffled += typeof r.bytesShuffled === "number" ? r.bytesShuffled : 0;
    }
    return {
      id: s.id, kind: job.kind, M: s.stages[0]?.taskIds.length ?? 0, R: job.R, combiner: job.combiner,
      phase: view.phase, finished: view.finished, error: view.error, createdAt: view.createdAt, endedAt: view.endedAt,
      stages: view.stages,
      counters: { inputLines: recordsIn, mapOutputRecords: mapOut, shuffledRecords, outputRecords: recordsOut, bytesShuffled, ...view.counters },
      tasks: view.tasks.map((t) => ({ id: t.id, stage: t.stage, state: t.state, executor: t.executor, attempts: t.attempts, startedAt: t.startedAt, endedAt: t.endedAt, durationMs: t.durationMs, error: t.error })),
    };
  }

  /** A page of the job's output in key order (top-k: in rank order), after `after` (a key, or an index for top-k). */
  async resultPage(after: string | null, limit: number): Promise<{ entries: Entry<unknown>[]; next: string | null; badCursor?: boolean } | null> {
    const s = await this.load();
    if (s === null || (await this.ctx.storage.get("job")) === undefined) return null;
    if (s.phase === "done") await this.finalizeIfNeeded();
    const final = await this.ctx.storage.get<Entry<unknown>[]>("final");
    if (final !== undefined) {
      if (after !== null && !/^\d{1,9}$/.test(after)) return { entries: [], next: null, badCursor: true };
      const from = after === null ? 0 : Number(after);
      const entries = final.slice(from, from + limit);
      return { entries, next: from + limit < final.length ? String(from + limit) : null };
    }
    const rows = await this.ctx.storage.list<unknown>({ prefix: "out:", ...(after === null ? {} : { startAfter: `out:${after}` }), limit: limit + 1 });
    const entries = [...rows.entries()].slice(0, limit).map(([k, v]): Entry<unknown> => [k.slice(4), v]);
    return { entries, next: rows.size > limit ? (entries.at(-1)?.[0] ?? null) : null };
  }

  /** Cancels the job (if running) and deletes everything it stored, here and on the executors; keeps a tombstone (see claim). */
  async deleteJob(): Promise<boolean> {
    const s = await this.load();
    if (s === null) return false;
    // Gone at once for every call that follows (a report arriving during the awaits below is unwanted).
    this.state = null;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.dirty = false;
    const step = cancel(s, Date.now());
    this.release(step.effects);
    const upload = (await this.ctx.storage.get<string>("upload")) ?? null;
    // The wipe and the tombstone are written together (no await between them): a crash cannot leave
    // the id reusable. The tombstone also lists the executors still to clean, retried from the alarm.
    const tombstone: Tombstone = { at: Date.now(), upload, pending: this.leftOnExecutors(s), tries: 0 };
    await Promise.all([this.ctx.storage.deleteAll(), this.ctx.storage.put("deleted", tombstone)]);
    await this.cleanExecutors(tombstone);
    await registryStub(this.env).forget({ id: s.id, type: s.kind, createdAt: s.createdAt }).catch(() => undefined);
    return true;
  }

  /** What a job's map tasks left on each executor of the pool: the attempts whose runs may be there (every executor may hold input splits). */
  private leftOnExecutors(s: SchedulerState): Record<string, string[]> {
    const left: Record<string, string[]> = Object.fromEntries(s.config.executors.map((ex) => [ex, []]));
    for (const t of s.tasks) if (t.stage === "map") for (const a of t.attempts) (left[a.executor] ??= []).push(a.id);
    return left;
  }

  /** Asks the executors in the tombstone to drop their rows of the job; those that fail are retried from the alarm, with a back-off. */
  private async cleanExecutors(t: Tombstone): Promise<void> {
    const failed: Record<string, string[]> = {};
    await Promise.all(
      Object.entries(t.pending).map(([ex, ids]) =>
        executorStub(this.env, ex).dropJob(t.upload, ids).catch(() => void (failed[ex] = ids)),
      ),
    );
    const next: Tombstone = { ...t, pending: failed, tries: t.tries + 1 };
    await this.ctx.storage.put("deleted", next);
    if (Object.keys(failed).length > 0 && next.tries < CLEANUP_TRIES) await this.ctx.storage.setAlarm(Date.now() + 1_000 * 2 ** next.tries);
    // Nothing left to clean: the retention alarm of the job that was deleted has nothing to do either.
    else await this.ctx.storage.deleteAlarm();
  }

  /** Best effort, at a job's end: asks every executor to drop its input splits and map runs (retention's DELETE retries what this misses). */
  private async dropMapOutputs(s: SchedulerState): Promise<void> {
    const upload = (await this.ctx.storage.get<string>("upload")) ?? null;
    await Promise.all(Object.entries(this.leftOnExecutors(s)).map(([ex, ids]) => executorStub(this.env, ex).dropJob(upload, ids).catch(() => undefined)));
  }

  /** top-k ranks across partitions once every reducer is done (the other kinds' rows are the result). */
  private async finalizeIfNeeded(): Promise<void> {
    const job = await this.ctx.storage.get<JobParams>("job");
    if (job === undefined || job.kind !== "top-k" || (await this.ctx.storage.get("final")) !== undefined) return;
    const rows = await this.ctx.storage.list<unknown>({ prefix: "out:" });
    const entries = [...rows.entries()].map(([k, v]): Entry<unknown> => [k.slice(4), v]);
    await this.ctx.storage.put("final", finalizeJob(bindJob(job), [entries]));
  }

  /** Fault injection: crash now (memory lost, storage kept; the alarm resumes the batch). */
  async crash(): Promise<void> {
    await this.ctx.storage.sync();
    this.ctx.abort("crashed on request");
  }

  override async alarm(): Promise<void> {
    const s = await this.load();
    if (s === null) {
      // Deleted: executors that could not be cleaned then are asked again.
      const t = await this.ctx.storage.get<Tombstone>("deleted");
      if (t !== undefined && Object.keys(t.pending ?? {}).length > 0) await this.cleanExecutors(t);
      return;
    }
    // Kept for TASK_RETENTION_S after it ended, then deleted like a DELETE (the alarm below was set for it).
    if (s.endedAt !== null && Date.now() >= s.endedAt + getConfig(this.env).tasks.retentionMs) {
      await this.deleteJob();
      return;
    }
    if (this.resendRunning) {
      this.resendRunning = false;
      const running = s.tasks.flatMap((t) => t.attempts.filter((a) => a.outcome === "running").map((a) => ({ type: "assign" as const, taskId: t.id, attemptId: a.id, executor: a.executor, stage: t.stage, backup: a.backup })));
      await this.assignAll(running);
    }
    await this.afterStep(tick(s, Date.now()));
  }

  /** An executor saying an attempt is alive (it waited in a queue before starting). */
  async heartbeat(taskId: string, attemptId: string): Promise<void> {
    const s = await this.load();
    if (s !== null) taskHeartbeat(s, taskId, attemptId, Date.now());
  }

  /** Persists the step, carries out its effects, and sets the alarm for the next one. */
  private async afterStep(step: Step): Promise<void> {
    const s = this.state;
    if (s === null) return;
    // Written before any effect, together with reports' changes not yet written.
    if (step.persist) this.dirty = true;
    await this.flushNow();
    const assigns = step.effects.filter((e): e is Extract<SchedulerEffect, { type: "assign" }> => e.type === "assign");
    this.release(step.effects);
    // A job that ended in this step (failed: out of attempts, or timed out) no longer needs its shuffle data.
    if (s.kind === "job" && step.effects.some((e) => e.type === "finished")) void this.dropMapOutputs(s);
    await this.assignAll(assigns);
    const wake = nextWakeAt(s);
    if (wake !== null) await this.ctx.storage.setAlarm(Math.max(wake, Date.now()));
    else if (s.endedAt !== null) await this.ctx.storage.setAlarm(s.endedAt + getConfig(this.env).tasks.retentionMs);
    else await this.ctx.storage.deleteAlarm();
  }

  /** Best effort: tells executors to drop attempts whose result is no longer wanted. */
  private release(effects: readonly SchedulerEffect[]): void {
    for (const e of effects) {
      if (e.type === "release") void executorStub(this.env, e.executor).release(e.attemptId).catch(() => undefined);
    }
  }

  /**
   * Hands attempts to their executors: one call per executor with all of its attempts (a step may
   * assign dozens; one call each kept the alarm waiting on busy executors), at most
   * ASSIGN_CONCURRENCY calls at once. An executor that cannot take them fails those attempts at once.
   */
  private async assignAll(assigns: readonly Extract<SchedulerEffect, { type: "assign" }>[]): Promise<void> {
    const byExecutor = new Map<string, Assignment[]>();
    for (const e of assigns) {
      const a = await this.assignmentOf(e);
      if (a !== null) byExecutor.set(e.executor, [...(byExecutor.get(e.executor) ?? []), a]);
    }
    const groups = [...byExecutor];
    for (let i = 0; i < groups.length; i += ASSIGN_CONCURRENCY) {
      await Promise.all(groups.slice(i, i + ASSIGN_CONCURRENCY).map(([executor, batch]) => this.send(executor, batch)));
    }
  }

  /** The assignment of one attempt, or null if it cannot be run (its failure is already recorded). */
  private async assignmentOf(e: Extract<SchedulerEffect, { type: "assign" }>): Promise<Assignment | null> {
    let spec = await this.ctx.storage.get<Work>(`spec:${e.taskId}`);
    if (spec === undefined) return null;
    if (spec.kind === "reduce" && this.state !== null) {
      // Every map task is complete when a reduce task is assigned (§3.1): point it at their outputs.
      const refs = resultRefs(this.state, "map").map((r) => r.resultRef);
      const found = await Promise.all(refs.map((k) => this.ctx.storage.get<MapOutputRef>(k)));
      const sources = found.filter((x): x is MapOutputRef => x !== undefined);
      const maps = this.state.stages[0]?.taskIds.length ?? 0;
      if (sources.length !== maps) {
        // Never reduce over part of the map outputs (the counts would be silently low).
        const step = taskFailed(this.state, e.taskId, e.attemptId, Date.now(), `${maps - sources.length} of ${maps} map outputs are not recorded`);
        if (step.persist) this.dirty = true;
        await this.flushNow();
        return null;
      }
      spec = { ...spec, sources };
    }
    return { coordinator: this.state?.id ?? "", taskId: e.taskId, attemptId: e.attemptId, spec };
  }

  private async send(executor: string, batch: Assignment[]): Promise<void> {
    try {
      await withTimeout(executorStub(this.env, executor).accept(executor, batch), ASSIGN_TIMEOUT_MS);
    } catch (err) {
      const s = this.state;
      if (s === null) return;
      const why = `executor ${executor} did not take the task: ${err instanceof Error ? err.message : String(err)}`;
      let persist = false;
      for (const a of batch) persist = taskFailed(s, a.taskId, a.attemptId, Date.now(), why.slice(0, ERROR_CHARS)).persist || persist;
      if (persist) this.dirty = true;
      await this.flushNow();
      // Their re-executions are assigned by the next alarm step.
    }
  }
}
