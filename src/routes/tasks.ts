import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { coordinatorStub, type Submitted, type TaskStatus } from "../../durable-objects/job-coordinator";
import { executorStub } from "../../durable-objects/task-executor";
import { registryStub, type WorkEntry } from "../../durable-objects/work-registry";
import { getConfig, LIMITS } from "../config";
import { DEFAULT_BACKUP_POLICY, type ProgressView, type SchedulerConfig, type TaskState } from "../core/scheduler";
import { parseTaskSubmission, TASK_KINDS, type TaskResult } from "../core/tasks";
import { toHex } from "../core/tasks/sha256";
import { createRouter, type AppEnv } from "../http/app-env";
import { requireToken } from "../http/auth";
import { HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { limitParam, readJsonBody } from "../http/validation";
import { withTimeout } from "../services/replica-call";

/**
 * The distributed task executor: POST /tasks submits one task or a batch, run by a fixed pool of
 * TaskExecutor objects under a JobCoordinator (one per batch) that re-runs what fails or goes silent.
 * Plain Hono routes validated by the core (which names the failing field); OpenAPI registered below.
 */
export const taskRoutes = createRouter();

/** A submission's body (a batch of up to 1,000 tasks; one sha256 task alone may carry 1 MiB). */
export const TASKS_BODY_BYTES = LIMITS.tasksBodyBytes;
/** Longest `?wait=` a GET may block for. */
const MAX_WAIT_MS = 30_000;
const CALL_TIMEOUT_MS = 10_000;
/** Newest batches (or jobs) a list across them looks at, and coordinators asked at once. */
const RECENT_SEARCHED = 100;
const LIST_CONCURRENCY = 6;
const BATCH_RE = /^b[0-9a-f]{20}$/;
const TASK_ID_RE = /^(b[0-9a-f]{20})\.(\d{1,4})$/;
const STATES: readonly TaskState[] = ["waiting", "idle", "in-progress", "completed", "failed"];

/** The scheduler settings of a batch or job, from the TASK_* vars (shared with /jobs). */
export function schedulerConfig(env: Cloudflare.Env): SchedulerConfig {
  const c = getConfig(env).tasks;
  return { executors: c.executors, maxAttempts: c.maxAttempts, attemptTimeoutMs: c.attemptTimeoutMs, maxPerExecutor: 16, backup: DEFAULT_BACKUP_POLICY };
}

/** A call to a JobCoordinator (batch or job): an object that does not answer in time is a 503 with Retry-After. */
export async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await withTimeout(p, CALL_TIMEOUT_MS);
  } catch (err) {
    throw new HttpError(503, "unavailable", `the coordinator did not answer: ${err instanceof Error ? err.message : String(err)}`, undefined, { "Retry-After": "1" });
  }
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** Hex SHA-256 of a text (ids from Idempotency-Keys, fingerprints of submissions). */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** A fresh id: `prefix` and 20 random hex digits (batches "b…", jobs "j…", uploads "u…"). */
export function randomId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
}

/**
 * The id of a new batch or job: random, or derived from the request's Idempotency-Key (SHA-256 of the
 * scope and the key), so a retried submission names the same coordinator, which starts it only once.
 */
export async function submissionId(req: Request, prefix: "b" | "j"): Promise<{ id: string; keyed: boolean }> {
  const key = req.headers.get("idempotency-key");
  if (key === null) return { id: randomId(prefix), keyed: false };
  if (!IDEMPOTENCY_KEY_RE.test(key)) throw new HttpError(400, "invalid_request", "Idempotency-Key: 1..255 visible ASCII characters", { field: "Idempotency-Key" });
  return { id: prefix + (await sha256Hex(`${prefix}\n${key}`)).slice(0, 20), keyed: true };
}

/** The answer to a submission its coordinator refused: the key was used for other parameters, or its batch or job was deleted. */
export function refusedSubmission(outcome: "mismatch" | "gone", what: "batch" | "job"): HttpError {
  return outcome === "mismatch"
    ? new HttpError(422, "idempotency_key_reused", `this Idempotency-Key was used for a ${what} with other parameters`, { field: "Idempotency-Key" })
    : new HttpError(409, "gone", `the ${what} submitted with this Idempotency-Key was deleted; use a new key`, { field: "Idempotency-Key" });
}

function waitParam(c: Context<AppEnv>): number {
  const raw = c.req.query("wait");
  if (raw === undefined) return 0;
  const ms = Number(raw);
  if (!/^\d{1,6}$/.test(raw) || ms > MAX_WAIT_MS) throw new HttpError(400, "invalid_request", `wait: whole milliseconds, 0..${MAX_WAIT_MS}`);
  return ms;
}

const finished = (t: TaskStatus) => t.status === "completed" || t.status === "failed";

taskRoutes.post("/tasks", async (c) => {
  const body = await readJsonBody(c.req.raw, TASKS_BODY_BYTES);
  const parsed = parseTaskSubmission(body);
  if (!parsed.ok) throw new HttpError(400, "invalid_request", parsed.field === "" ? parsed.message : `${parsed.field}: ${parsed.message}`, { field: parsed.field });
  const { id: batch } = await submissionId(c.req.raw, "b");
  const fingerprint = await sha256Hex(JSON.stringify(parsed.tasks));
  const submitted = await call(coordinatorStub(c.env, batch).submitBatch(batch, parsed.tasks, schedulerConfig(c.env), fingerprint) as unknown as Promise<Submitted<ProgressView>>);
  if (!("value" in submitted)) throw refusedSubmission(submitted.outcome, "batch");
  const view = submitted.value;
  const replayed: Record<string, string> = submitted.outcome === "replayed" ? { "Idempotent-Replayed": "true" } : {};
  if (submitted.outcome === "created") await recordWork(c.env, { id: batch, type: "batch", kind: "tasks", size: parsed.tasks.length, createdAt: view.createdAt });
  const tasks = view.tasks.map((t, i) => ({ id: t.id, kind: parsed.tasks[i]?.kind, status: t.state }));
  if (!parsed.batch) return c.json({ ...tasks[0], batch }, 202, { Location: `/tasks/${tasks[0]?.id}`, ...replayed });
  return c.json({ batch, tasks }, 202, { Location: `/tasks?batch=${batch}`, ...replayed });
});

taskRoutes.get("/tasks/:id", async (c) => {
  const id = c.req.param("id");
  const m = TASK_ID_RE.exec(id);
  if (m === null) throw new HttpError(404, "not_found", `no task ${JSON.stringify(id)} (task ids look like b0123456789abcdef0123.0)`);
  const wait = waitParam(c);
  const stub = () => coordinatorStub(c.env, m[1]!);
  const until = Date.now() + wait;
  // Polls back off from 50 ms to 1 s: a 30 s wait costs about 40 calls, not 600.
  for (let pause = 50; ; pause = Math.min(1_000, Math.round(pause * 1.5))) {
    const task = await call(stub().task(id));
    if (task === null) throw new HttpError(404, "not_found", `no task ${id}`);
    const left = until - Date.now();
    if (finished(task) || left <= 0) return c.json(task, 200);
    await new Promise((r) => setTimeout(r, Math.min(pause, left)));
  }
});

/** Lists the registry's newest batches or jobs, and asks each coordinator `ask`, a few at a time, until `enough` have been found. */
export async function overRecent<T>(env: Cloudflare.Env, type: WorkEntry["type"], ask: (e: WorkEntry) => Promise<T[]>, enough: number): Promise<{ found: T[]; searched: number }> {
  const entries = await call(registryStub(env).recent(type, RECENT_SEARCHED));
  const found: T[] = [];
  let searched = 0;
  for (let i = 0; i < entries.length && found.length < enough; i += LIST_CONCURRENCY) {
    const chunk = entries.slice(i, i + LIST_CONCURRENCY);
    for (const part of await Promise.all(chunk.map((e) => call(ask(e))))) found.push(...part);
    searched += chunk.length;
  }
  return { found, searched };
}

/** Best effort: a batch or job missing from the registry is still reachable by its id. */
export async function recordWork(env: Cloudflare.Env, entry: WorkEntry): Promise<void> {
  await withTimeout(registryStub(env).record(entry), CALL_TIMEOUT_MS).catch((err: unknown) => console.error(JSON.stringify({ msg: "work registry: not recorded", id: entry.id, err: String(err) })));
}

taskRoutes.get("/tasks", async (c) => {
  const batch = c.req.query("batch");
  const status = c.req.query("status") ?? null;
  if (status !== null && !STATES.includes(status as TaskState)) throw new HttpError(400, "invalid_request", `status: one of ${STATES.join(", ")}`, { field: "status" });
  if (batch === undefined) {
    // Across batches: the newest RECENT_SEARCHED batches, newest first, until `limit` tasks are found.
    const limit = limitParam(c, 100, 1_000);
    const { found, searched } = await overRecent(c.env, "batch", async (e) => {
      const r = await coordinatorStub(c.env, e.id).tasks(status as TaskState | null);
      return r === null ? [] : r.tasks.map((t) => ({ ...t, batch: e.id }));
    }, limit + 1);
    return c.json({ status, tasks: found.slice(0, limit), batchesSearched: searched, truncated: found.length > limit }, 200);
  }
  if (!BATCH_RE.test(batch)) throw new HttpError(400, "invalid_request", "batch: a batch id as POST /tasks returned it", { field: "batch" });
  const found = await call(coordinatorStub(c.env, batch).tasks(status as TaskState | null));
  if (found === null) throw new HttpError(404, "not_found", `no batch ${batch}`);
  const b = found.batch;
  return c.json({ batch, phase: b.phase, finished: b.finished, stages: b.stages, counters: b.counters, executors: b.executors, tasks: found.tasks }, 200);
});

taskRoutes.use("/admin/tasks/*", requireToken("ADMIN_TOKEN"));
// One task run at once on executor-0, answered in the response: no coordinator, no storage, no
// retries. For comparison (bench:tasks) and debugging; the admin token guards it.
taskRoutes.post("/admin/tasks/direct", async (c) => {
  const body = await readJsonBody(c.req.raw, TASKS_BODY_BYTES);
  const parsed = parseTaskSubmission(body);
  if (!parsed.ok || parsed.batch) throw new HttpError(400, "invalid_request", parsed.ok ? "one task, not a batch" : `${parsed.field}: ${parsed.message}`);
  const executor = getConfig(c.env).tasks.executors[0]!;
  const result: TaskResult = await call(executorStub(c.env, executor).runDirect(parsed.tasks[0]!) as Promise<TaskResult>);
  return c.json({ node: executor, result }, 200);
});

const registry = taskRoutes.openAPIRegistry;
const TaskSpecDoc = z
  .object({ kind: z.enum(TASK_KINDS), args: z.record(z.string(), z.unknown()) })
  .openapi("TaskSpec", { example: { kind: "prime-check", args: { n: "18446744073709551557" } } });
/** The Idempotency-Key header of POST /tasks and /jobs, for the OpenAPI document. */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z.string().optional().openapi({ description: "1..255 visible ASCII characters: a retry with the same key names the same submission (Idempotent-Replayed: true); other parameters under the key are a 422, a deleted one a 409" }),
});
registry.registerPath({
  method: "post", path: "/tasks", tags: ["tasks"],
  summary: "Submit one task or a batch ({tasks: [...]}, up to 1,000): fibonacci {n}, prime-check {n}, sha256 {data, encoding?}, sleep {ms}",
  request: { headers: IdempotencyHeaders, body: { required: true, content: { "application/json": { schema: z.union([TaskSpecDoc, z.object({ tasks: z.array(TaskSpecDoc) })]) } } } },
  responses: {
    202: { description: "Accepted: the task ids (and the batch id) to poll" },
    409: { description: "The batch submitted with this Idempotency-Key was deleted" },
    422: { description: "This Idempotency-Key was used for other tasks" },
    ...errorResponses(400, 401, 413, 503),
  },
});
registry.registerPath({
  method: "get", path: "/tasks/{id}", tags: ["tasks"], summary: "A task's status, the node that ran it, attempts, result or error (?wait=ms blocks until it ends)",
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }), query: z.object({ wait: z.string().optional() }) },
  responses: { 200: { description: "The task" }, ...errorResponses(400, 401, 404, 503) },
});
registry.registerPath({
  method: "get", path: "/tasks", tags: ["tasks"],
  summary: "A batch's tasks (?batch=), or, without it, tasks of the 100 newest batches, newest first, up to ?limit= (1..1000, default 100); optionally only those with ?status=",
  request: { query: z.object({ batch: z.string().optional(), status: z.enum(["waiting", "idle", "in-progress", "completed", "failed"]).optional(), limit: z.string().optional() }) },
  responses: { 200: { description: "The batch's progress and tasks, or {status, tasks (each with its batch), batchesSearched, truncated}" }, ...errorResponses(400, 401, 404, 503) },
});
