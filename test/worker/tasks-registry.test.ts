// The work registry (GET /tasks across batches, GET /jobs), Idempotency-Key on POST /tasks and
// POST /jobs, retention (a finished batch or job is deleted TASK_RETENTION_S after it ended), and an
// executor dropping the map runs nobody wants. Real Durable Objects, no mocks.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { coordinatorStub, type JobCoordinator, type TaskStatus } from "../../durable-objects/job-coordinator";
import { executorStub, type Assignment, type TaskExecutor } from "../../durable-objects/task-executor";
import { registryStub, type WorkEntry } from "../../durable-objects/work-registry";
import { getConfig } from "../../src/config";
import { jobParamsFromQuery } from "../../src/core/mapreduce/jobs";
import type { InputSplit } from "../../src/core/mapreduce/partition";
import type { SchedulerState } from "../../src/core/scheduler";
import { schedulerConfig } from "../../src/routes/tasks";
import { call, eventually, json, sleep, jobWhenFinished } from "./helpers";

const EXECUTORS = schedulerConfig(env).executors;
const RETENTION_MS = getConfig(env).tasks.retentionMs;
const DAY_MS = 86_400_000;
const SEED = ["Hello world hello python", "Python is a programming language", "Hello python world", "Programming with python is fun"];
const docs = (texts: string[]) => texts.map((text, i) => ({ id: `d${i + 1}`, text }));

interface Submitted {
  id?: string;
  batch: string;
  kind?: string;
  tasks?: { id: string; kind: string; status: string }[];
}
type Listed = TaskStatus & { batch: string };
interface TaskList {
  status: string | null;
  tasks: Listed[];
  batchesSearched: number;
  truncated: boolean;
}
interface JobStatus {
  id: string;
  kind: string;
  phase: string;
  finished: boolean;
  createdAt: number;
  endedAt: number | null;
  counters: Record<string, number>;
  stages: unknown[];
  tasks?: { id: string; stage: string; state: string }[];
}
interface ErrorBody {
  error: { code: string; message: string; details?: { field?: string } };
}

const JSON_TYPE = { "content-type": "application/json" };

function postTasks(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return call("/tasks", { method: "POST", headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });
}

async function submit(body: unknown, headers: Record<string, string> = {}): Promise<Submitted> {
  const res = await postTasks(body, headers);
  const out = await json<Submitted>(res);
  expect(res.status, JSON.stringify(out)).toBe(202);
  return out;
}

/** A batch of `n` fibonacci tasks, waited for until every task has ended. */
async function finishedBatch(n: number, from = 20): Promise<Submitted> {
  const b = await submit({ tasks: Array.from({ length: n }, (_, i) => ({ kind: "fibonacci", args: { n: from + i } })) });
  for (const t of b.tasks!) expect((await json<TaskStatus>(await call(`/tasks/${t.id}?wait=10000`))).status).toBe("completed");
  return b;
}

async function listTasks(query: string): Promise<TaskList> {
  const res = await call(`/tasks?${query}`);
  const out = await json<TaskList>(res);
  expect(res.status, JSON.stringify(out)).toBe(200);
  return out;
}

function postJob(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return call("/jobs", { method: "POST", headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });
}

async function startJob(body: unknown, headers: Record<string, string> = {}): Promise<JobStatus> {
  const res = await postJob(body, headers);
  const out = await json<JobStatus>(res);
  expect(res.status, JSON.stringify(out)).toBe(202);
  return out;
}

const jobDone = (id: string, ms = 8_000) => jobWhenFinished<JobStatus>(id, ms, 25);

async function expectError(res: Response, status: number, field: string): Promise<void> {
  const body = await json<ErrorBody>(res);
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body.error.details?.field, JSON.stringify(body)).toBe(field);
}

/** Every registry entry of a type (newest first). */
const registered = (type: WorkEntry["type"]) => registryStub(env).recent(type, 10_000);

/** Keys with `prefix` on every executor, as "<executor> <key>". */
async function executorKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (const ex of EXECUTORS) {
    const here = await runInDurableObject(executorStub(env, ex), async (_: TaskExecutor, ctx) => [...(await ctx.storage.list({ prefix })).keys()]);
    keys.push(...here.map((k) => `${ex} ${k}`));
  }
  return keys;
}

/** Attempts an executor is running right now (in memory: a released attempt keeps running though pending() no longer lists it). */
const runningOn = (name: string) => runInDurableObject(executorStub(env, name), (inst: TaskExecutor) => (inst as unknown as { running: Set<string> }).running.size);

/** Waits until no executor of the pool has an attempt stored (pending) or running. */
async function executorsIdle(ms = 8_000): Promise<void> {
  await eventually(async () => {
    for (const ex of EXECUTORS) if ((await executorStub(env, ex).pending()).length > 0 || (await runningOn(ex)) > 0) return false;
    return true;
  }, ms);
}

/** The coordinator's alarm once it is the retention alarm (the +20 ms step after the last report runs first). */
async function retentionAlarm(id: string): Promise<{ alarm: number; endedAt: number }> {
  let found: { alarm: number | null; endedAt: number | null } = { alarm: null, endedAt: null };
  await eventually(async () => {
    found = await runInDurableObject(coordinatorStub(env, id), async (_: JobCoordinator, ctx) => ({
      alarm: await ctx.storage.getAlarm(),
      endedAt: (await ctx.storage.get<SchedulerState>("state"))?.endedAt ?? null,
    }));
    return found.alarm !== null && found.endedAt !== null && found.alarm > Date.now() + 3_600_000;
  }, 3_000);
  return found as { alarm: number; endedAt: number };
}

/** Makes the coordinator's stored state say it ended `agoMs` ago, and makes the live instance read it again. */
async function endedAgo(id: string, agoMs: number): Promise<void> {
  await runInDurableObject(coordinatorStub(env, id), async (inst: JobCoordinator, ctx) => {
    const s = (await ctx.storage.get<SchedulerState>("state"))!;
    await ctx.storage.put("state", { ...s, endedAt: Date.now() - agoMs });
    (inst as unknown as { loaded: boolean }).loaded = false;
  });
}

const storedKeysOf = (id: string) => runInDurableObject(coordinatorStub(env, id), async (_: JobCoordinator, ctx) => [...(await ctx.storage.list()).keys()]);

describe("GET /tasks without ?batch=: tasks across the newest batches (the work registry)", () => {
  it("?status=completed finds the completed tasks of several recent batches, each with its batch, newest batch first", async () => {
    const batches: Submitted[] = [];
    for (const n of [2, 3, 1]) {
      batches.push(await finishedBatch(n));
      await sleep(5); // distinct createdAt: the registry orders by it
    }
    const list = await listTasks("status=completed");
    expect(list.status).toBe("completed");
    expect(list.truncated).toBe(false);
    expect(list.batchesSearched).toBeGreaterThanOrEqual(3);
    const mine = new Set(batches.map((b) => b.batch));
    const found = list.tasks.filter((t) => mine.has(t.batch));
    const expected = [...batches].reverse().flatMap((b) => b.tasks!.map((t) => ({ id: t.id, batch: b.batch })));
    expect(found.map((t) => ({ id: t.id, batch: t.batch }))).toEqual(expected);
    expect(found.every((t) => t.status === "completed" && t.kind === "fibonacci" && t.result !== null)).toBe(true);
    // Each task carries the batch it belongs to.
    for (const t of found) expect(t.id.startsWith(`${t.batch}.`)).toBe(true);
    // No status: every task of every batch searched.
    const all = await listTasks("");
    expect(all.status).toBeNull();
    expect(all.tasks.filter((t) => mine.has(t.batch))).toHaveLength(6);
  });

  it("?status=failed finds a task whose every attempt failed (the executors' failAttempts hook), and only that one", async () => {
    // Every executor fails its next attempts: the task is tried TASK_MAX_ATTEMPTS times, then fails.
    for (const ex of EXECUTORS) await executorStub(env, ex).failAttempts(10);
    let failed: TaskStatus;
    try {
      const t = await submit({ kind: "fibonacci", args: { n: 7 } });
      failed = await json<TaskStatus>(await call(`/tasks/${t.id}?wait=10000`));
      expect(failed.status).toBe("failed");
      expect(failed.attempts).toBe(getConfig(env).tasks.maxAttempts);
      expect(failed.error).toBe("injected failure");
    } finally {
      for (const ex of EXECUTORS) await executorStub(env, ex).failAttempts(0);
    }
    const list = await listTasks("status=failed");
    expect(list.tasks.map((t) => t.id)).toEqual([failed.id]);
    expect(list.tasks[0]).toMatchObject({ status: "failed", batch: failed.id.split(".")[0], error: "injected failure" });
    // It is not listed as completed.
    expect((await listTasks("status=completed")).tasks.some((t) => t.id === failed.id)).toBe(false);
  });

  it("?limit= returns at most limit tasks, newest first, and says truncated when more were found", async () => {
    const b = await finishedBatch(3, 30);
    const list = await listTasks("status=completed&limit=2");
    expect(list.tasks.map((t) => t.id)).toEqual([`${b.batch}.0`, `${b.batch}.1`]);
    expect(list.truncated).toBe(true);
    const one = await listTasks("limit=1");
    expect(one.tasks).toHaveLength(1);
    expect(one.truncated).toBe(true);
    const wide = await listTasks("status=completed&limit=1000");
    expect(wide.truncated).toBe(false);
    expect(wide.tasks.length).toBeGreaterThan(3);
  });

  it("bad ?status= or ?limit= is a 400 naming the field", async () => {
    await expectError(await call("/tasks?status=sleeping"), 400, "status");
    await expectError(await call("/tasks?status="), 400, "status");
    for (const limit of ["0", "1001", "-1", "1.5", "abc", "", "99999"]) await expectError(await call(`/tasks?limit=${limit}`), 400, "limit");
    await expectError(await call("/tasks?status=completed&limit=0"), 400, "limit");
    await expectError(await call("/tasks?batch=nope"), 400, "batch");
  });

  // BUG (src/routes/tasks.ts:108 and :140): overRecent stops at the first chunk of 6
  // batches that holds `limit` matches and `truncated` is `found.length > limit`, so exactly `limit`
  // matches in the newest chunk answer truncated: false while older batches hold more.
  it("truncated is true when exactly `limit` tasks come from the newest 6 batches and an older batch has more", async () => {
    for (let i = 0; i < 7; i++) {
      await finishedBatch(1, 40 + i);
      await sleep(5);
    }
    const list = await listTasks("status=completed&limit=6");
    expect(list.tasks).toHaveLength(6);
    expect(list.batchesSearched).toBeGreaterThanOrEqual(6);
    // 7 batches just submitted (plus the earlier tests'), each with a completed task: 6 listed, more exist.
    expect(list.truncated).toBe(true);
  });
});

describe("GET /jobs: the newest jobs as summaries", () => {
  it("lists jobs newest first with phase, kind and counters but no per-task list; a deleted job disappears", async () => {
    const a = await jobDone((await startJob({ kind: "wordcount", input: { documents: docs(SEED) }, M: 2, R: 2 })).id);
    await sleep(5);
    const b = await jobDone((await startJob({ kind: "top-k", options: { k: 2 }, input: { documents: docs(SEED) }, M: 2, R: 1 })).id);
    expect([a.phase, b.phase]).toEqual(["done", "done"]);
    const res = await call("/jobs");
    const list = await json<{ jobs: JobStatus[] }>(res);
    expect(res.status).toBe(200);
    const mine = list.jobs.filter((j) => j.id === a.id || j.id === b.id);
    expect(mine.map((j) => j.id)).toEqual([b.id, a.id]);
    expect(mine[0]).toMatchObject({ kind: "top-k", phase: "done", finished: true });
    expect(mine[1]).toMatchObject({ kind: "wordcount", phase: "done", finished: true });
    expect(mine[1]!.counters).toMatchObject({ inputLines: 4, outputRecords: 9 });
    for (const j of list.jobs) expect(j).not.toHaveProperty("tasks");
    // The newest first across the whole list, too.
    const created = list.jobs.map((j) => j.createdAt);
    expect(created).toEqual([...created].sort((x, y) => y - x));
    expect((await json<{ jobs: JobStatus[] }>(await call("/jobs?limit=1"))).jobs.map((j) => j.id)).toEqual([list.jobs[0]!.id]);

    expect((await call(`/jobs/${a.id}`, { method: "DELETE" })).status).toBe(200);
    const after = await json<{ jobs: JobStatus[] }>(await call("/jobs"));
    expect(after.jobs.map((j) => j.id)).toContain(b.id);
    expect(after.jobs.map((j) => j.id)).not.toContain(a.id);
    expect((await registered("job")).map((e) => e.id)).not.toContain(a.id);
  });

  it("bad ?limit= is a 400 naming limit", async () => {
    for (const limit of ["0", "101", "x"]) await expectError(await call(`/jobs?limit=${limit}`), 400, "limit");
  });
});

describe("Idempotency-Key on POST /tasks and POST /jobs", () => {
  const key = (name: string) => `${name}-${crypto.randomUUID()}`;

  it("POST /tasks twice with the same key: the same batch id, one batch's worth of tasks; another key, another batch", async () => {
    const k = key("tasks");
    const body = { tasks: [{ kind: "fibonacci", args: { n: 11 } }, { kind: "sha256", args: { data: "abc" } }] };
    const first = await submit(body, { "Idempotency-Key": k });
    const second = await submit(body, { "Idempotency-Key": k });
    expect(second.batch).toBe(first.batch);
    expect(second.tasks!.map((t) => t.id)).toEqual(first.tasks!.map((t) => t.id));
    const other = await submit(body, { "Idempotency-Key": key("tasks") });
    expect(other.batch).not.toBe(first.batch);
    const unkeyed = await submit(body);
    expect(unkeyed.batch).not.toBe(first.batch);
    for (const t of first.tasks!) expect((await json<TaskStatus>(await call(`/tasks/${t.id}?wait=10000`))).status).toBe("completed");
    const batch = await json<{ tasks: TaskStatus[] }>(await call(`/tasks?batch=${first.batch}`));
    expect(batch.tasks).toHaveLength(2);
    // One registry entry, and the list across batches has its tasks once.
    expect((await registered("batch")).filter((e) => e.id === first.batch)).toHaveLength(1);
    expect((await listTasks("status=completed&limit=1000")).tasks.filter((t) => t.batch === first.batch)).toHaveLength(2);
    // A single task with a key names the same batch again too.
    const single = await submit({ kind: "fibonacci", args: { n: 3 } }, { "Idempotency-Key": k + "-one" });
    expect((await submit({ kind: "fibonacci", args: { n: 3 } }, { "Idempotency-Key": k + "-one" })).id).toBe(single.id);
  });

  it("a key reused for other tasks is a 422; a replay says so; a key whose job was deleted is a 409, never a second job under that id", async () => {
    const k = key("reuse");
    const body = { tasks: [{ kind: "fibonacci", args: { n: 12 } }, { kind: "fibonacci", args: { n: 13 } }] };
    expect((await postTasks(body, { "Idempotency-Key": k })).headers.get("Idempotent-Replayed")).toBeNull();
    expect((await postTasks(body, { "Idempotency-Key": k })).headers.get("Idempotent-Replayed")).toBe("true");
    const other = await postTasks({ tasks: [{ kind: "sleep", args: { ms: 1 } }] }, { "Idempotency-Key": k });
    expect(other.status).toBe(422);
    expect((await json<{ error: { code: string; details: { field: string } } }>(other)).error).toMatchObject({ code: "idempotency_key_reused", details: { field: "Idempotency-Key" } });

    const jk = key("deleted-job");
    const spec = { kind: "wordcount", input: { documents: docs(SEED) }, M: 2, R: 1 };
    const job = await json<JobStatus>(await postJob(spec, { "Idempotency-Key": jk }));
    expect((await call(`/jobs/${job.id}`, { method: "DELETE" })).status).toBe(200);
    const again = await postJob(spec, { "Idempotency-Key": jk });
    expect(again.status).toBe(409);
    expect((await json<{ error: { code: string } }>(again)).error.code).toBe("gone");
    expect((await call(`/jobs/${job.id}`)).status).toBe(404);
  });

  it("POST /jobs (inline JSON) twice with the same key: the same job, the second answered from it with Idempotent-Replayed: true", async () => {
    const k = key("job");
    const body = { kind: "wordcount", input: { documents: docs(SEED) }, M: 2, R: 2 };
    const r1 = await postJob(body, { "Idempotency-Key": k });
    const first = await json<JobStatus>(r1);
    expect(r1.status, JSON.stringify(first)).toBe(202);
    expect(r1.headers.get("Idempotent-Replayed")).toBeNull();
    const r2 = await postJob(body, { "Idempotency-Key": k });
    const second = await json<JobStatus>(r2);
    expect(r2.status, JSON.stringify(second)).toBe(202);
    expect(r2.headers.get("Idempotent-Replayed")).toBe("true");
    expect(r2.headers.get("Location")).toBe(`/jobs/${first.id}`);
    expect(second.id).toBe(first.id);
    expect(second.createdAt).toBe(first.createdAt);
    const other = await startJob(body, { "Idempotency-Key": key("job") });
    expect(other.id).not.toBe(first.id);
    const done = await jobDone(first.id);
    expect(done.phase).toBe("done");
    // Ran once: 2 map tasks, the counts of the four sentences once.
    expect(done.counters.inputLines).toBe(4);
    expect((await registered("job")).filter((e) => e.id === first.id)).toHaveLength(1);
  });

  it("POST /jobs?kind=wordcount (streamed text) twice with the same key: the same job, the second replayed", async () => {
    const k = key("stream");
    const text = "Hello world hello python\nPython is a programming language\n";
    const post = () => call("/jobs?kind=wordcount&M=2&R=1", { method: "POST", headers: { "content-type": "text/plain", "Idempotency-Key": k }, body: text });
    const r1 = await post();
    const first = await json<JobStatus>(r1);
    expect(r1.status, JSON.stringify(first)).toBe(202);
    expect(r1.headers.get("Idempotent-Replayed")).toBeNull();
    const r2 = await post();
    const second = await json<JobStatus>(r2);
    expect(r2.status, JSON.stringify(second)).toBe(202);
    expect(r2.headers.get("Idempotent-Replayed")).toBe("true");
    expect(second.id).toBe(first.id);
    // The same key names the same job in the JSON form too (the key's scope is /jobs): with other
    // parameters (default M and R) it is refused, 422 naming the key; for /tasks it is another id.
    const r3 = await postJob({ kind: "wordcount", input: { documents: docs(SEED) } }, { "Idempotency-Key": k });
    expect(r3.status).toBe(422);
    expect((await json<{ error: { code: string; details: { field: string } } }>(r3)).error).toMatchObject({ code: "idempotency_key_reused", details: { field: "Idempotency-Key" } });
    const asTasks = await submit({ kind: "fibonacci", args: { n: 1 } }, { "Idempotency-Key": k });
    expect(asTasks.batch.slice(1)).not.toBe(first.id.slice(1));
    expect((await jobDone(first.id)).phase).toBe("done");
  });

  it("a bad Idempotency-Key (a space, 256 characters, empty) is a 400 naming Idempotency-Key", async () => {
    for (const bad of ["has space", "x".repeat(256), "tab\there"]) {
      await expectError(await postTasks({ kind: "fibonacci", args: { n: 1 } }, { "Idempotency-Key": bad }), 400, "Idempotency-Key");
      await expectError(await postJob({ kind: "wordcount", input: { documents: docs(SEED) } }, { "Idempotency-Key": bad }), 400, "Idempotency-Key");
      const streamed = await call("/jobs?kind=wordcount", { method: "POST", headers: { "content-type": "text/plain", "Idempotency-Key": bad }, body: "a b\n" });
      await expectError(streamed, 400, "Idempotency-Key");
    }
    await expectError(await postTasks({ kind: "fibonacci", args: { n: 1 } }, { "Idempotency-Key": "" }), 400, "Idempotency-Key");
    // 255 visible ASCII characters is fine.
    expect((await postTasks({ kind: "fibonacci", args: { n: 1 } }, { "Idempotency-Key": "~".repeat(255) })).status).toBe(202);
  });

  // BUG (src/routes/jobs.ts:105-125, submit(): the replay check runs once, before the body is read): a first
  // upload still streaming when its retry (same key) has started the job goes on to store its splits
  // under the same job id after the job ended and dropped its input. They stay until retention (a day;
  // a streamed input may be 256 MiB), and the late request answers as a fresh submission.
  it("an upload still streaming when its retry (same key) already started the job leaves no input split behind", async () => {
    const k = key("slow-first");
    const text = "Hello world hello python\nPython is a programming language\n";
    const bytes = new TextEncoder().encode(text);
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const slowBody = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
    push.enqueue(bytes.slice(0, 10));
    const headers = { "content-type": "text/plain", "Idempotency-Key": k };
    const first = call("/jobs?kind=wordcount&R=1", { method: "POST", headers, body: slowBody });
    await sleep(50);
    // The client gave up on the first request and retried: the retry starts the job, which runs to its end.
    const retry = await call("/jobs?kind=wordcount&R=1", { method: "POST", headers, body: text });
    const started = await json<JobStatus>(retry);
    expect(retry.status, JSON.stringify(started)).toBe(202);
    expect((await jobDone(started.id)).phase).toBe("done");
    await eventually(async () => (await executorKeys("in:")).length === 0, 3_000);
    // Now the first request's body arrives in full.
    push.enqueue(bytes.slice(10));
    push.close();
    const late = await first;
    const lateBody = await json<JobStatus>(late);
    console.log(`the late first request: ${late.status}, Idempotent-Replayed ${late.headers.get("Idempotent-Replayed")}, id ${lateBody.id}`);
    expect(lateBody.id).toBe(started.id);
    await sleep(100);
    // Input rows are keyed by upload, not by job: the late upload's own splits are dropped as unused.
    expect(await executorKeys("in:")).toEqual([]);
  });

  // BUG (src/routes/tasks.ts:78-83): a retry with the same key but another body answers 202 with the
  // stored batch's task ids next to the NEW body's kinds (and its single/batch shape).
  it("a retry with the same key and a different body does not misreport the stored tasks", async () => {
    const k = key("mismatch");
    const first = await submit({ tasks: [{ kind: "fibonacci", args: { n: 5 } }, { kind: "fibonacci", args: { n: 6 } }] }, { "Idempotency-Key": k });
    const res = await postTasks({ kind: "sleep", args: { ms: 1 } }, { "Idempotency-Key": k });
    const replay = await json<Submitted>(res);
    if (res.status === 202) {
      // Answered from the stored batch: its tasks and their kinds as stored.
      expect(replay.batch).toBe(first.batch);
      const listed = replay.tasks ?? [{ id: replay.id!, kind: replay.kind!, status: "" }];
      expect(listed.map((t) => [t.id, t.kind])).toEqual(first.tasks!.map((t) => [t.id, "fibonacci"]));
    } else {
      // Or refused (draft-ietf-httpapi-idempotency-key-header: a reused key with another payload is a 422).
      expect(res.status).toBe(422);
    }
  });
});

describe("retention: a finished batch or job is deleted TASK_RETENTION_S after it ended", () => {
  it("a finished batch's alarm is endedAt + retention; when it runs two days later the batch is gone everywhere", async () => {
    expect(RETENTION_MS).toBe(DAY_MS);
    const b = await finishedBatch(2, 60);
    const { alarm, endedAt } = await retentionAlarm(b.batch);
    expect(alarm).toBe(endedAt + RETENTION_MS);
    // Not due yet: an alarm run now keeps everything and sets the retention alarm again.
    expect(await runDurableObjectAlarm(coordinatorStub(env, b.batch))).toBe(true);
    expect((await call(`/tasks/${b.batch}.0`)).status).toBe(200);
    expect((await runInDurableObject(coordinatorStub(env, b.batch), (_: JobCoordinator, ctx) => ctx.storage.getAlarm()))).toBe(alarm);

    await endedAgo(b.batch, 2 * DAY_MS);
    expect(await runDurableObjectAlarm(coordinatorStub(env, b.batch))).toBe(true);
    expect(await storedKeysOf(b.batch)).toEqual(["deleted"]); // the tombstone: the id is never reused
    expect(await runInDurableObject(coordinatorStub(env, b.batch), (_: JobCoordinator, ctx) => ctx.storage.getAlarm())).toBeNull();
    expect((await call(`/tasks/${b.batch}.0`)).status).toBe(404);
    expect((await call(`/tasks?batch=${b.batch}`)).status).toBe(404);
    expect((await registered("batch")).map((e) => e.id)).not.toContain(b.batch);
    expect((await listTasks("limit=1000")).tasks.some((t) => t.batch === b.batch)).toBe(false);
  });

  it("a finished MapReduce job: retention alarm, then deleted with its output, and nothing left on the executors", async () => {
    const st = await jobDone((await startJob({ kind: "wordcount", input: { documents: docs(SEED) }, M: 4, R: 2 })).id);
    expect(st.phase).toBe("done");
    const { alarm, endedAt } = await retentionAlarm(st.id);
    expect(alarm).toBe(endedAt + RETENTION_MS);
    expect((await call(`/jobs/${st.id}/result`)).status).toBe(200);
    // A leftover on an executor (e.g. a split re-stored by a late retry of the upload): the deletion drops it too.
    const upload = (await runInDurableObject(coordinatorStub(env, st.id), (_: JobCoordinator, ctx) => ctx.storage.get<string>("upload")))!;
    await executorStub(env, EXECUTORS[1]!).stashSplit(upload, { index: 99, bytes: 4, pieces: [{ documentId: "input", firstLine: 1, text: "abc\n" }] });
    expect(await executorKeys(`in:${upload}:`)).toEqual([`${EXECUTORS[1]} in:${upload}:99`]);

    // Crash instead of poking `loaded`: the restarted instance reads the rewritten state.
    await runInDurableObject(coordinatorStub(env, st.id), async (_: JobCoordinator, ctx) => {
      const s = (await ctx.storage.get<SchedulerState>("state"))!;
      await ctx.storage.put("state", { ...s, endedAt: Date.now() - 2 * DAY_MS });
    });
    await coordinatorStub(env, st.id).crash().catch(() => undefined);
    expect(await runDurableObjectAlarm(coordinatorStub(env, st.id))).toBe(true);
    expect(await storedKeysOf(st.id)).toEqual(["deleted"]); // the tombstone: the id is never reused
    expect((await call(`/jobs/${st.id}`)).status).toBe(404);
    expect((await call(`/jobs/${st.id}/result`)).status).toBe(404);
    expect((await json<{ jobs: JobStatus[] }>(await call("/jobs?limit=100"))).jobs.map((j) => j.id)).not.toContain(st.id);
    expect((await registered("job")).map((e) => e.id)).not.toContain(st.id);
    expect(await executorKeys(`in:${upload}:`)).toEqual([]);
    expect(await executorKeys(`run:${st.id}.`)).toEqual([]);
  });
});

describe("an executor drops a map attempt's runs when nobody wants its answer", () => {
  const params = jobParamsFromQuery({ kind: "wordcount", M: "1", R: "3" });
  if (!params.ok) throw params.error;
  const text = SEED.map((l) => `${l}\n`).join("");
  const split: InputSplit = { index: 0, bytes: text.length, pieces: [{ documentId: "input", firstLine: 1, text }] };
  const mapWork = (jobId: string, executor: string): Assignment["spec"] => ({ kind: "map", job: params.spec, input: { upload: jobId, index: 0, executor, bytes: split.bytes } });

  it("the job is gone (report() answers false): the attempt's run rows are dropped", async () => {
    const jobId = `j${"0".repeat(19)}1`; // no coordinator state: deleted while its map ran
    const name = EXECUTORS[2]!;
    const ex = executorStub(env, name);
    await ex.stashSplit(jobId, split);
    await ex.accept(name, [{ coordinator: jobId, taskId: `${jobId}.m0`, attemptId: `${jobId}.m0#1`, spec: mapWork(jobId, name) }]);
    await eventually(async () => (await ex.pending()).length === 0 && (await runningOn(name)) === 0, 3_000);
    expect(await executorKeys(`run:${jobId}.`)).toEqual([]);
    await ex.dropJob(jobId, []);
  });

  it("the attempt was released while it ran (its coordinator still answers): the run rows are dropped, nothing is reported", async () => {
    // A live coordinator that would accept the report (an unknown attempt changes nothing and answers true).
    const b = await finishedBatch(1, 5);
    const jobId = `j${"0".repeat(19)}2`;
    const src = `executor-source-${jobId}`;
    const name = EXECUTORS[3]!;
    await executorStub(env, src).stashSplit(jobId, split);
    // The source is held busy for 300 ms: the map waits on its split fetch while the release arrives.
    const held = runInDurableObject(executorStub(env, src), (_: TaskExecutor, ctx) => ctx.blockConcurrencyWhile(() => sleep(300)));
    await sleep(10);
    const ex = executorStub(env, name);
    const attemptId = `${b.batch}.m0#1`;
    await ex.accept(name, [{ coordinator: b.batch, taskId: `${b.batch}.m0`, attemptId, spec: mapWork(jobId, src) }]);
    expect(await runningOn(name)).toBe(1);
    await ex.release(attemptId);
    await held;
    await eventually(async () => (await runningOn(name)) === 0, 3_000);
    expect(await ex.pending()).toEqual([]);
    expect(await executorKeys(`run:${b.batch}.`)).toEqual([]);
    await executorStub(env, src).dropJob(jobId, []);
  });

  it("DELETE of a job while its maps run: once the executors are idle, none holds a run of the job", async () => {
    // ~6 MiB in 32 splits (8 per executor): the DELETE lands between maps, while others still have to run.
    const line = (i: number) => `${SEED[i % 4]} line ${i % 997} w${(i * 7919) % 5003}\n`;
    const text = Array.from({ length: 150_000 }, (_, i) => line(i)).join("");
    const t0 = Date.now();
    const res = await call("/jobs?kind=wordcount&M=32&R=4&combiner=false", { method: "POST", headers: { "content-type": "text/plain" }, body: text });
    const st = await json<JobStatus>(res);
    expect(res.status, JSON.stringify(st)).toBe(202);
    // Delete it once the coordinator has handed the maps out. (Polling for "in-progress" does not work:
    // the maps' CPU holds up every object of this one-process runtime until most of them are done.)
    await sleep(30);
    const del = await call(`/jobs/${st.id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    console.log(`DELETE answered ${Date.now() - t0} ms after the upload began`);
    await executorsIdle();
    await sleep(100);
    expect(await executorKeys(`run:${st.id}.`)).toEqual([]);
    expect(await executorKeys("in:")).toEqual([]);
    expect(await executorKeys("a:")).toEqual([]);
    expect((await call(`/jobs/${st.id}`)).status).toBe(404);
  }, 20_000);
});
