import { DurableObject } from "cloudflare:workers";
import { bindJob, type Entry, type JobParams } from "../src/core/mapreduce/jobs";
import type { InputSplit } from "../src/core/mapreduce/partition";
import { type MapRun, type MapTaskCounters, runMapTask, runReduceTask } from "../src/core/mapreduce/pipeline";
import { executeTask, type TaskIo, type TaskResult, type TaskSpec } from "../src/core/tasks";
import { getConfig } from "../src/config";
import { retentionSweepAt } from "../src/core/timers/retention";
import { withTimeout } from "../src/services/replica-call";
import { coordinatorStub } from "./job-coordinator";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";

/**
 * Where a job's input split is stored: on the executor that received it at submission (the split's
 * home, where the scheduler prefers to run its map task). Stored once, read where the map runs.
 */
export interface SplitRef {
  /** The upload that stored it (one per POST /jobs: a retried submission never mixes its splits with another's). */
  upload: string;
  index: number;
  executor: string;
  /** UTF-8 bytes of the split. */
  bytes: number;
}

/** A MapReduce map task: map one split, keep its R sorted runs here until the reducers fetch them. */
export interface MapWork {
  kind: "map";
  job: JobParams;
  input: SplitRef;
}

/** A MapReduce reduce task: fetch partition `partition` of every map output, reduce it. */
export interface ReduceWork {
  kind: "reduce";
  job: JobParams;
  partition: number;
  /** Where each map task's counted output is: the executor and the attempt that wrote it. */
  sources: MapOutputRef[];
}

/** The output of one map attempt, kept by the executor that ran it. */
export interface MapOutputRef {
  executor: string;
  attemptId: string;
  counters: MapTaskCounters;
}

export type Work = TaskSpec | MapWork | ReduceWork;

/** One attempt handed to an executor: run `spec`, report to the coordinator object `coordinator`. */
export interface Assignment {
  coordinator: string;
  taskId: string;
  attemptId: string;
  spec: Work;
}

/** An attempt as an executor stores it until reported. */
type StoredAttempt = Assignment & { executor: string; acceptedAt?: number; reportFailures?: number };

/** After this many undelivered reports of an attempt, it reports a failure instead (its output could not be taken). */
const MAX_REPORT_FAILURES = 5;
/** How much longer than the retention an upload may stay before the sweep takes it for an orphan. */
const ORPHAN_MARGIN_MS = 86_400_000;
/** A map run (one partition of one map's output, as JSON text) must stay one storable value (Cloudflare: 2 MiB). */
const MAX_RUN_CHARS = 2_000_000;

/** An attempt that starts this long after it was accepted first sends the coordinator a heartbeat. */
const HEARTBEAT_AFTER_MS = 10_000;

/** A reduce attempt's output: the partition's entries, sorted by key. */
export interface ReduceOutput {
  partition: number;
  /** The partition's entries, sorted by key, as JSON text (one string crosses RPC and storage far faster than nested arrays). */
  entriesJson: string;
  records: number;
  bytesShuffled: number;
}

export type AttemptResult = TaskResult | MapOutputRef | ReduceOutput;

export type AttemptReport = { ok: true; result: AttemptResult } | { ok: false; error: string };

/** Attempts run at once by one executor (sleep tasks overlap; CPU tasks take turns anyway). */
const CONCURRENT_ATTEMPTS = 32;
/** Map outputs a reducer fetches at once, and how often it retries one before failing the attempt. */
const FETCH_CONCURRENCY = 6;
const FETCH_RETRIES = 3;
/** An attempt's error is cut to this many characters (the coordinator keeps one per attempt in its state). */
export const ERROR_CHARS = 120;
/** A report call that has not answered in this long is given up (and retried from the alarm). */
const REPORT_TIMEOUT_MS = 5_000;
/** Stored attempts not yet reported are looked at again this long after the last assignment. */
const SAFETY_ALARM_MS = 2_000;
/** A report that could not be delivered is tried again after this long. */
const REPORT_RETRY_MS = 1_000;

/** What the task kinds need from the runtime. */
const TASK_IO: TaskIo = { sha256: (b) => crypto.subtle.digest("SHA-256", b), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/**
 * Reads something another executor stores, with a timeout and a few retries with a back-off: a source
 * that is restarting or busy is not a reason to fail the attempt. null (not stored there) fails at once.
 */
async function fetchRetrying<T>(read: () => Promise<T | null>, what: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const value = await withTimeout(read(), REPORT_TIMEOUT_MS);
      if (value === null) throw new MissingData(`${what} is missing`);
      return value;
    } catch (err) {
      if (err instanceof MissingData || attempt >= FETCH_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

class MissingData extends Error {}

export function executorStub(env: Cloudflare.Env, name: string): DurableObjectStub<TaskExecutor> {
  return objectStub(env, "executor", name);
}

/**
 * One worker of the fixed executor pool. It accepts an attempt at once (stored, then run after the
 * call has answered), so the coordinator never holds a connection open while a task runs, and reports
 * the outcome back by RPC. Assignments are stored until reported: an executor that crashes mid-task
 * runs them again when its safety alarm fires after the restart (tasks are pure functions of their arguments, so a
 * second run gives the same result; the coordinator counts only the first completion).
 */
export class TaskExecutor extends DurableObject<Cloudflare.Env> {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "executor"); // billed usage: stub calls it makes, alarms, storage rows
  }

  private readonly running = new Set<string>();
  /** Test hook: the next this-many attempts throw instead of running. */
  private failNext = 0;

  /** Takes attempts; returns once they are stored. */
  async accept(name: string, batch: Assignment[]): Promise<{ accepted: number }> {
    const now = Date.now();
    const stored = batch.map((a): StoredAttempt => ({ ...a, executor: name, acceptedAt: now }));
    for (let i = 0; i < stored.length; i += 128) await this.ctx.storage.put(Object.fromEntries(stored.slice(i, i + 128).map((a) => [`a:${a.attemptId}`, a])));
    // The alarm is the safety net (after a crash, or a report that could not be delivered): set it
    // unless one is due sooner. The attempts themselves start now, after this call has answered.
    const current = await this.ctx.storage.getAlarm();
    const safety = Date.now() + SAFETY_ALARM_MS;
    if (current === null || current > safety) await this.ctx.storage.setAlarm(safety);
    for (const a of stored) if (this.running.size < CONCURRENT_ATTEMPTS && !this.running.has(a.attemptId)) void this.runOne(a).then(() => this.disarmIfDrained()).catch(() => undefined);
    return { accepted: stored.length };
  }

  /**
   * Once every stored attempt is reported, the safety alarm guards nothing: it is moved to the next
   * orphan sweep, or removed, instead of firing once more for nothing (each alarm is a billed request).
   * The attempts are listed last, with nothing awaited between that and the alarm change, so an
   * accept() racing with this either is seen here or sets its own safety alarm after this one.
   */
  private async disarmIfDrained(): Promise<void> {
    if (this.running.size > 0) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null) return;
    const sweepAt = await this.nextSweepAt();
    if (sweepAt !== null && current >= sweepAt) return;
    if (this.running.size > 0 || (await this.ctx.storage.list({ prefix: "a:", limit: 1 })).size > 0) return;
    if (sweepAt === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(sweepAt);
  }

  /** When the oldest upload stored here becomes an orphan to sweep (null: none stored). */
  private async nextSweepAt(): Promise<number | null> {
    let oldest: number | null = null;
    for (const storedAt of (await this.ctx.storage.list<number>({ prefix: "up:" })).values()) oldest = Math.min(oldest ?? storedAt, storedAt);
    return oldest === null ? null : retentionSweepAt(oldest + this.orphanAfterMs());
  }

  /**
   * Partition `partition` of each of these map attempts' outputs, as the JSON text of a MapRun each (a
   * reducer's fetch); null if this executor lacks any.
   */
  async mapRuns(attemptIds: string[], partition: number): Promise<string[] | null> {
    const keys = attemptIds.map((id) => `run:${id}:${partition}`);
    const found = new Map<string, string>();
    for (let i = 0; i < keys.length; i += 128) for (const [k, v] of await this.ctx.storage.get<string>(keys.slice(i, i + 128))) found.set(k, v);
    const runs = keys.map((k) => found.get(k));
    return runs.every((r) => r !== undefined) ? (runs as string[]) : null;
  }

  /** Stores one input split of a job (at submission, before the job exists); its map task prefers to run here. */
  async stashSplit(upload: string, split: InputSplit): Promise<void> {
    // `up:<upload>` dates the upload: if its job never drops it (the request died before the job was
    // started, or every cleanup call failed), the sweep in the alarm does, once it is surely orphaned.
    const now = Date.now();
    await this.ctx.storage.put({ [`in:${upload}:${split.index}`]: split, [`up:${upload}`]: now });
    const current = await this.ctx.storage.getAlarm();
    const sweep = retentionSweepAt(now + this.orphanAfterMs());
    if (current === null || current > sweep) await this.ctx.storage.setAlarm(sweep);
  }

  /** An upload untouched this long belongs to no job any more: every job has ended and been deleted by then. */
  private orphanAfterMs(): number {
    return getConfig(this.env).tasks.retentionMs + ORPHAN_MARGIN_MS;
  }

  /** Drops the input splits of uploads older than orphanAfterMs; answers when the next one becomes due (or null). */
  private async sweepOrphans(): Promise<number | null> {
    const uploads = await this.ctx.storage.list<number>({ prefix: "up:" });
    const cutoff = Date.now() - this.orphanAfterMs();
    let next: number | null = null;
    for (const [key, storedAt] of uploads) {
      if (storedAt <= cutoff) await this.dropJob(key.slice(3), []);
      else next = Math.min(next ?? Number.POSITIVE_INFINITY, retentionSweepAt(storedAt + this.orphanAfterMs()));
    }
    return next;
  }

  /** One stored input split (a map task running on another executor reads it); null if absent. */
  async inputSplit(upload: string, index: number): Promise<InputSplit | null> {
    return (await this.ctx.storage.get<InputSplit>(`in:${upload}:${index}`)) ?? null;
  }

  /** Drops what a job left here: its input splits and its attempts' map outputs (after it ends or is deleted, or a failed upload). */
  async dropJob(upload: string | null, attemptIds: string[]): Promise<void> {
    await this.dropPrefixes([...(upload === null ? [] : [`in:${upload}:`]), ...attemptIds.map((id) => `run:${id}:`)]);
    if (upload === null) return;
    await this.ctx.storage.delete(`up:${upload}`);
    // Its sweep alarm may have been the only one left.
    await this.disarmIfDrained();
  }

  /** Deletes every row under these prefixes, listing a few at a time (an input split is up to 1 MB: listing loads values). */
  private async dropPrefixes(prefixes: string[]): Promise<void> {
    for (const prefix of prefixes) {
      for (;;) {
        const keys = [...(await this.ctx.storage.list({ prefix, limit: 16 })).keys()];
        if (keys.length === 0) break;
        await this.ctx.storage.delete(keys);
      }
    }
  }

  /** Runs one task right here and answers its result: no coordinator, no storage (the benchmark's baseline). */
  async runDirect(spec: TaskSpec): Promise<TaskResult> {
    return executeTask(spec, TASK_IO);
  }

  /** Drops an attempt whose result is no longer wanted (best effort: it may already be running). */
  async release(attemptId: string): Promise<void> {
    await this.ctx.storage.delete(`a:${attemptId}`);
  }

  /** Attempts stored and not yet reported (for tests and the dashboard). */
  async pending(): Promise<string[]> {
    return [...(await this.ctx.storage.list<Assignment>({ prefix: "a:" })).values()].map((a) => a.attemptId);
  }

  /** Fault injection for tests: the next `n` attempts fail with an error. */
  failAttempts(n: number): void {
    this.failNext = n;
  }

  /** Fault injection: crash now (memory lost, stored attempts kept). */
  async crash(): Promise<void> {
    await this.ctx.storage.sync();
    this.ctx.abort("crashed on request");
  }

  override async alarm(): Promise<void> {
    const stored = await this.ctx.storage.list<StoredAttempt>({ prefix: "a:", limit: CONCURRENT_ATTEMPTS * 4 });
    const todo = [...stored.values()].filter((a) => !this.running.has(a.attemptId)).slice(0, CONCURRENT_ATTEMPTS);
    const reported = await Promise.all(todo.map((a) => this.runOne(a)));
    const left = await this.ctx.storage.list({ prefix: "a:", limit: 1 });
    // Right away only for a backlog that did not get to run; after failed reports, wait (no tight loop).
    const failedReports = reported.some((ok) => !ok);
    const retryAt = left.size > 0 ? Date.now() + (todo.length === 0 || failedReports ? REPORT_RETRY_MS : 0) : null;
    const sweepAt = await this.sweepOrphans();
    const at = Math.min(retryAt ?? Number.POSITIVE_INFINITY, sweepAt ?? Number.POSITIVE_INFINITY);
    if (Number.isFinite(at)) await this.ctx.storage.setAlarm(at);
  }

  /** Runs one attempt's work: a task, or a map or reduce task of a MapReduce job. */
  private async execute(a: StoredAttempt): Promise<AttemptResult> {
    const w = a.spec;
    if (w.kind === "map") {
      const { upload, index, executor } = w.input;
      const split =
        executor === a.executor
          ? await this.ctx.storage.get<InputSplit>(`in:${upload}:${index}`)
          : await fetchRetrying<InputSplit>(() => executorStub(this.env, executor).inputSplit(upload, index), `input split ${index} on ${executor}`);
      if (split === undefined) throw new Error(`input split ${index} is missing on ${executor}`);
      const out = runMapTask(bindJob(w.job), split, w.job.R, w.job.combiner);
      // Each run is stored as JSON text: a string is copied, not walked, by storage and RPC.
      const rows: Record<string, string> = {};
      out.runs.forEach((run, p) => (rows[`run:${a.attemptId}:${p}`] = JSON.stringify(run)));
      for (const [key, text] of Object.entries(rows)) {
        if (text.length > MAX_RUN_CHARS) throw new Error(`map output for partition ${key.slice(key.lastIndexOf(":") + 1)} is ${text.length} chars, over a stored value: raise R or M`);
      }
      const entries = Object.entries(rows);
      for (let i = 0; i < entries.length; i += 128) await this.ctx.storage.put(Object.fromEntries(entries.slice(i, i + 128)));
      return { executor: a.executor, attemptId: a.attemptId, counters: out.counters } satisfies MapOutputRef;
    }
    if (w.kind === "reduce") {
      // One call per source executor for all the map outputs it holds (not one per map task), a few
      // executors at a time (Workers' simultaneous-connection limit), each retried with a back-off.
      const byExecutor = new Map<string, MapOutputRef[]>();
      for (const src of w.sources) byExecutor.set(src.executor, [...(byExecutor.get(src.executor) ?? []), src]);
      const groups = [...byExecutor];
      const texts: string[] = [];
      for (let i = 0; i < groups.length; i += FETCH_CONCURRENCY) {
        const fetched = await Promise.all(
          groups.slice(i, i + FETCH_CONCURRENCY).map(([executor, srcs]) =>
            fetchRetrying<string[]>(() => executorStub(this.env, executor).mapRuns(srcs.map((s) => s.attemptId), w.partition), `map outputs of ${srcs.length} tasks on ${executor}`),
          ),
        );
        for (const group of fetched) texts.push(...group);
      }
      const entries = runReduceTask(bindJob(w.job), texts.map((t) => JSON.parse(t) as MapRun));
      const bytesShuffled = texts.reduce((n, t) => n + t.length, 0);
      return { partition: w.partition, entriesJson: JSON.stringify(entries), records: entries.length, bytesShuffled } satisfies ReduceOutput;
    }
    return executeTask(w, TASK_IO);
  }

  /** Runs one stored attempt and reports it; false if the report could not be delivered (it stays stored). */
  private async runOne(a: StoredAttempt): Promise<boolean> {
    this.running.add(a.attemptId);
    try {
      // It waited in the queue: tell the coordinator it is alive, so it is not taken for crashed. Not
      // when it is being re-run after undelivered reports: heartbeats would keep an attempt whose report
      // can never be taken alive forever; the coordinator's attempt timeout must be able to end it.
      const failures = a.reportFailures ?? 0;
      if (failures === 0 && Date.now() - (a.acceptedAt ?? Date.now()) > HEARTBEAT_AFTER_MS) {
        void withTimeout(coordinatorStub(this.env, a.coordinator).heartbeat(a.taskId, a.attemptId), REPORT_TIMEOUT_MS).catch(() => undefined);
      }
      let report: AttemptReport;
      try {
        if (this.failNext > 0) {
          this.failNext--;
          throw new Error("injected failure");
        }
        report = { ok: true, result: await this.execute(a) };
      } catch (err) {
        report = { ok: false, error: (err instanceof Error ? err.message : String(err)).slice(0, ERROR_CHARS) };
      }
      if (failures >= MAX_REPORT_FAILURES && report.ok) report = { ok: false, error: `its report was not taken ${failures} times (an output too large to store?)` };
      // Released meanwhile (superseded or cancelled): nobody wants the answer.
      // A map attempt's runs are dropped then, and when they do not count (another attempt won, or the job is gone).
      const unwanted = () => (a.spec.kind === "map" ? this.dropPrefixes([`run:${a.attemptId}:`]) : Promise.resolve());
      if ((await this.ctx.storage.get(`a:${a.attemptId}`)) === undefined) {
        await unwanted();
        return true;
      }
      try {
        const counts = await withTimeout(coordinatorStub(this.env, a.coordinator).report(a.taskId, a.attemptId, report), REPORT_TIMEOUT_MS);
        await this.ctx.storage.delete(`a:${a.attemptId}`);
        if (!counts) await unwanted();
        return true;
      } catch {
        // Kept: the alarm runs it again and reports then (the coordinator ignores a second completion).
        if ((await this.ctx.storage.get(`a:${a.attemptId}`)) !== undefined) await this.ctx.storage.put(`a:${a.attemptId}`, { ...a, reportFailures: failures + 1 });
        return false;
      }
    } finally {
      this.running.delete(a.attemptId);
    }
  }
}
