import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { coordinatorStub, type JobStatus, type Submitted } from "../../durable-objects/job-coordinator";
import { executorStub, type SplitRef } from "../../durable-objects/task-executor";
import { getConfig, LIMITS } from "../config";
import { LINEAR_REGEX_FLAGS, MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE } from "../core/text/linear-regex";
import { DEFAULT_MAP_SPLITS, JOB_KIND_NAMES, type JobParams, jobParamsFromQuery, MAX_MAP_SPLITS, parseJobSpec } from "../core/mapreduce/jobs";
import { type InputSplit, splitDocuments } from "../core/mapreduce/partition";
import { referenceRun } from "../core/mapreduce/reference";
import { StreamSplitError, StreamSplitter } from "../core/mapreduce/stream-split";
import { forEachWord } from "../core/mapreduce/tokenize";
import { type AppEnv, createRouter } from "../http/app-env";
import { requireToken } from "../http/auth";
import { HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { incompleteBody, limitParam, readJsonBody } from "../http/validation";
import { withTimeout } from "../services/replica-call";
import { call, IdempotencyHeaders, overRecent, randomId, recordWork, refusedSubmission, schedulerConfig, sha256Hex, submissionId } from "./tasks";

/**
 * MapReduce jobs (Dean & Ghemawat) on the task executor's scheduler: POST /jobs with inline documents
 * (JSON) or a large text as a streamed body, GET /jobs/{id} for progress, GET /jobs/{id}/result for the
 * sorted output, DELETE to cancel and clean up. A JobCoordinator object per job is the master; map and
 * reduce tasks run on the TaskExecutor pool.
 *
 * Input is cut into splits here, as it arrives, and each split is stored once, on executor i mod N (its
 * home, where the scheduler prefers to run its map task: the paper's locality). Neither this worker nor
 * any object holds the whole input: at most a split being cut and a few being stored.
 */
export const jobRoutes = createRouter();

/** Inline input: the body of POST /jobs as JSON. */
export const JOBS_BODY_BYTES = LIMITS.jobsBodyBytes;
const JOB_ID_RE = /^j[0-9a-f]{20}$/;
const PAGE_MAX = 1_000;
/**
 * Largest split (UTF-8 bytes per map task): one stored value under Cloudflare's 2 MiB (2,097,152 bytes)
 * even in the worst case, where V8 stores a mostly-ASCII string with one character above U+00FF at two
 * bytes per character: 2,000,000 bytes plus the split's few fields.
 */
export const MAX_SPLIT_BYTES = 1_000_000;
/** A streamed body without M is cut into splits of about this size (room under MAX_SPLIT_BYTES for the last line). */
const AUTO_SPLIT_BYTES = 768 * 1024;
/** Largest streamed input: MAX_MAP_SPLITS splits of MAX_SPLIT_BYTES (Cloudflare's own cap is 100 MB on Free and Pro plans). */
export const MAX_STREAMED_BYTES = MAX_MAP_SPLITS * MAX_SPLIT_BYTES;
/** Splits being stored at once (Workers allow six simultaneous outgoing connections per request). */
const STASH_CONCURRENCY = 4;
const STASH_TIMEOUT_MS = 10_000;

function jobId(raw: string | undefined): string {
  if (raw === undefined || !JOB_ID_RE.test(raw)) throw new HttpError(404, "not_found", `no job ${JSON.stringify(raw ?? "")}`);
  return raw;
}

/** Media types read as plain text (curl's --data-binary sends application/x-www-form-urlencoded). */
const TEXT_TYPES = /^(text\/[-+.\w]+|application\/octet-stream|application\/x-www-form-urlencoded)$/;

function mediaType(req: Request): string {
  return (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/** True for a job input sent as a raw body (not JSON): it streams past the global body ceiling. */
export function isStreamedJobUpload(req: Request, path: string): boolean {
  return req.method === "POST" && (path === "/jobs" || path === "/admin/jobs/reference") && mediaType(req) !== "application/json";
}

/**
 * Stores one upload's input splits on the executors as they are cut: split i on executor i mod N (its
 * home), under the upload's own id, so a retried submission never mixes or drops another's splits.
 */
class InputStash {
  readonly refs: SplitRef[] = [];
  readonly upload = randomId("u");
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(private readonly env: Cloudflare.Env, private readonly executors: readonly string[]) {}

  /** Starts storing one split; waits while STASH_CONCURRENCY are in flight (back-pressure on the upload). */
  async add(split: InputSplit): Promise<void> {
    const executor = this.executors[split.index % this.executors.length]!;
    this.refs.push({ upload: this.upload, index: split.index, executor, bytes: split.bytes });
    const p: Promise<void> = withTimeout(executorStub(this.env, executor).stashSplit(this.upload, split), STASH_TIMEOUT_MS)
      .then(() => undefined, (err: unknown) => void (this.failure ??= err))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    while (this.inFlight.size >= STASH_CONCURRENCY) await Promise.race(this.inFlight);
    this.check();
  }

  /** Waits for every split to be stored. */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.check();
  }

  /** Best effort: drops what was stored of an upload that was refused, cut off, or not needed (a retry). */
  async discard(): Promise<void> {
    await Promise.all(this.inFlight);
    await Promise.all(this.executors.map((ex) => executorStub(this.env, ex).dropJob(this.upload, []).catch(() => undefined)));
  }

  private check(): void {
    if (this.failure === null) return;
    const why = this.failure instanceof Error ? this.failure.message : String(this.failure);
    throw new HttpError(503, "unavailable", `an executor did not store the input: ${why}`, undefined, { "Retry-After": "1" });
  }
}

/**
 * Stores the input that `produce` cuts, then starts the job on its coordinator: 202 with its status.
 * With an Idempotency-Key, a retry of a submission that got through is answered before its body is read
 * (Idempotent-Replayed: true); the same key with other parameters is a 422, after a DELETE a 409.
 */
async function submit(c: Context<AppEnv>, params: JobParams, produce: (stash: InputStash) => Promise<number | void>, identity: unknown = params): Promise<Response> {
  const { id, keyed } = await submissionId(c.req.raw, "j");
  const stub = () => coordinatorStub(c.env, id);
  // What a retry must repeat to be a retry: the parameters, and inline documents too (a streamed body
  // is answered before it is read, so only its parameters can be compared).
  const fingerprint = await sha256Hex(JSON.stringify(identity));
  const replay = (status: JobStatus) => c.json(status, 202, { Location: `/jobs/${id}`, "Idempotent-Replayed": "true" });
  if (keyed) {
    const found = await call(stub().lookupJob(fingerprint));
    if (found.claim === "mismatch" || found.claim === "gone") throw refusedSubmission(found.claim, "job");
    if (found.claim === "exists" && found.status !== null) return replay(found.status);
  }
  // Map and reduce tasks are CPU-bound: an executor runs one at a time anyway, so a second one queued
  // keeps it busy while the coordinator hands out the next; more only hold more splits in memory.
  const config = { ...schedulerConfig(c.env), maxPerExecutor: getConfig(c.env).tasks.jobSlots };
  const stash = new InputStash(c.env, config.executors);
  try {
    await produce(stash);
    await stash.flush();
  } catch (err) {
    // In waitUntil: a client that went away (the usual cause of a cut-off upload) may end the request.
    const discarded = stash.discard();
    c.executionCtx.waitUntil(discarded);
    await discarded;
    throw err;
  }
  // M is the number of splits cut (a streamed body without a Content-Length decides it only at its end).
  const job: JobParams = { ...params, M: stash.refs.length };
  const submitted = await call(stub().submitJob(id, job, stash.refs, config, fingerprint, stash.upload) as unknown as Promise<Submitted<JobStatus>>);
  if (submitted.outcome !== "created") {
    // A concurrent retry started the job first (or the key is refused): this upload is not used.
    await stash.discard();
    if (submitted.outcome === "replayed") return replay(submitted.value);
    throw refusedSubmission(submitted.outcome, "job");
  }
  await recordWork(c.env, { id, type: "job", kind: job.kind, size: job.M, createdAt: submitted.value.createdAt });
  return c.json(submitted.value, 202, { Location: `/jobs/${id}` });
}

/**
 * Bytes asked of the body per read. A request body arrives in ~4 KiB chunks; read one by one, 50 MB
 * cost ~450 ms of the isolate's time, read 256 KiB at a time (workerd's readAtLeast) ~50 ms.
 */
const READ_BYTES = 256 * 1024;

/** Feeds a streamed body through a splitter; a splitter's 4xx and a body cut off mid-way become HTTP errors. */
async function streamSplits(req: Request, splitter: StreamSplitter, onSplit: (split: InputSplit) => Promise<void> | void): Promise<void> {
  const reader = req.body?.getReader({ mode: "byob" });
  try {
    if (reader !== undefined) {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          // A fresh buffer each time: the splitter keeps views of what it was given.
          chunk = await reader.readAtLeast(READ_BYTES, new Uint8Array(READ_BYTES));
        } catch (err) {
          throw incompleteBody(err);
        }
        if (chunk.value !== undefined && chunk.value.length > 0) for (const split of splitter.push(chunk.value)) await onSplit(split);
        if (chunk.done) break;
      }
    }
    for (const split of splitter.end()) await onSplit(split);
  } catch (err) {
    if (err instanceof StreamSplitError) throw new HttpError(err.status, err.status === 413 ? "payload_too_large" : "invalid_request", err.message, { field: err.field });
    throw err;
  } finally {
    reader?.releaseLock();
  }
}

/** The splitter of a streamed body: M splits of a body with a Content-Length, splits of up to MAX_SPLIT_BYTES of one without. */
function splitterFor(c: Context<AppEnv>, explicitM: boolean, M: number): StreamSplitter {
  const type = mediaType(c.req.raw);
  if (type !== "" && !TEXT_TYPES.test(type)) {
    throw new HttpError(415, "unsupported_media_type", `a job's input is JSON (application/json) or raw text (text/plain, application/octet-stream); got ${type}`);
  }
  const rawLength = c.req.header("content-length");
  const totalBytes = rawLength !== undefined && /^\d{1,15}$/.test(rawLength) ? Number(rawLength) : null;
  if (totalBytes !== null && totalBytes > MAX_STREAMED_BYTES) {
    throw new HttpError(413, "payload_too_large", `the body is ${totalBytes} bytes; a streamed input is at most ${MAX_STREAMED_BYTES} (${MAX_MAP_SPLITS} splits of ${MAX_SPLIT_BYTES})`, { field: "body" });
  }
  if (totalBytes === null) {
    if (explicitM) throw new HttpError(400, "invalid_request", `M: needs the body's Content-Length; without one the body is cut into splits of up to ${MAX_SPLIT_BYTES} bytes`, { field: "M" });
    return new StreamSplitter({ M: null, totalBytes: null, maxSplitBytes: MAX_SPLIT_BYTES, maxSplits: MAX_MAP_SPLITS });
  }
  const m = explicitM ? M : Math.min(MAX_MAP_SPLITS, Math.max(DEFAULT_MAP_SPLITS, Math.ceil(totalBytes / AUTO_SPLIT_BYTES)));
  return new StreamSplitter({ M: m, totalBytes, maxSplitBytes: MAX_SPLIT_BYTES, maxSplits: MAX_MAP_SPLITS });
}

function paramsFromQuery(c: Context<AppEnv>): JobParams {
  const parsed = jobParamsFromQuery(c.req.query());
  if (!parsed.ok) throw new HttpError(400, "invalid_request", parsed.error.message, { field: parsed.error.field });
  return parsed.spec;
}

jobRoutes.post("/jobs", async (c) => {
  if (isStreamedJobUpload(c.req.raw, c.req.path)) {
    // A large text as a streamed body; the job's parameters are in the query string.
    const params = paramsFromQuery(c);
    const splitter = splitterFor(c, c.req.query("M") !== undefined, params.M);
    return submit(c, params, (stash) => streamSplits(c.req.raw, splitter, (split) => stash.add(split)));
  }
  const body = await readJsonBody(c.req.raw, JOBS_BODY_BYTES);
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new HttpError(400, "invalid_request", parsed.error.message, { field: parsed.error.field });
  const { input, ...params } = parsed.spec;
  const splits = splitDocuments(input.documents, params.M);
  // A split is stored as one value (and read by its map task in one call): Cloudflare caps values at 2 MiB.
  const biggest = Math.max(...splits.map((sp) => sp.bytes));
  if (biggest > MAX_SPLIT_BYTES) throw new HttpError(413, "payload_too_large", `a split of ${biggest} bytes is over ${MAX_SPLIT_BYTES}: raise M (now ${params.M})`, { field: "M" });
  return submit(c, params, async (stash) => {
    for (const split of splits) await stash.add(split);
  }, parsed.spec);
});

jobRoutes.get("/jobs", async (c) => {
  // The newest jobs first, each without its per-task list (GET /jobs/{id} has it).
  const limit = limitParam(c, 20, 100);
  const { found } = await overRecent(c.env, "job", async (e) => {
    const st = await coordinatorStub(c.env, e.id).jobStatus();
    if (st === null) return [];
    const { tasks: _tasks, ...summary } = st;
    return [summary];
  }, limit);
  return c.json({ jobs: found.slice(0, limit) }, 200);
});

jobRoutes.get("/jobs/:id", async (c) => {
  const id = jobId(c.req.param("id"));
  const status = await call(coordinatorStub(c.env, id).jobStatus());
  if (status === null) throw new HttpError(404, "not_found", `no job ${id}`);
  return c.json(status, 200);
});

jobRoutes.get("/jobs/:id/result", async (c) => {
  const id = jobId(c.req.param("id"));
  const limit = limitParam(c, 100, PAGE_MAX);
  const stub = coordinatorStub(c.env, id);
  const status = await call(stub.jobStatus());
  if (status === null) throw new HttpError(404, "not_found", `no job ${id}`);
  if (status.phase !== "done") throw new HttpError(409, "not_finished", `the job is ${status.phase}; its result exists once it is done`, { phase: status.phase });
  // RPC typing cannot see through `unknown` values; the page is plain JSON.
  const page = await call(stub.resultPage(c.req.query("after") ?? null, limit) as unknown as Promise<{ entries: [string, unknown][]; next: string | null; badCursor?: boolean } | null>);
  if (page === null) throw new HttpError(404, "not_found", `no job ${id}`);
  if (page.badCursor === true) throw new HttpError(400, "invalid_request", "after: the `next` of the previous page (for top-k, an index)");
  return c.json({ id, kind: status.kind, entries: page.entries, next: page.next }, 200);
});

jobRoutes.delete("/jobs/:id", async (c) => {
  const id = jobId(c.req.param("id"));
  if (!(await call(coordinatorStub(c.env, id).deleteJob()))) throw new HttpError(404, "not_found", `no job ${id}`);
  return c.json({ id, deleted: true }, 200);
});

jobRoutes.use("/admin/jobs/*", requireToken("ADMIN_TOKEN"));
// The same job run start to end in this one isolate with the single-process reference (no splits, no
// executors, no storage): the baseline of bench:mapreduce. The admin token guards it.
jobRoutes.post("/admin/jobs/reference", async (c) => {
  if (isStreamedJobUpload(c.req.raw, c.req.path)) {
    // A streamed body: word count only, counted as the body arrives (the whole text is never held).
    const params = paramsFromQuery(c);
    if (params.kind !== "wordcount") throw new HttpError(400, "invalid_request", "kind: the streamed reference runs wordcount only", { field: "kind" });
    const counts = new Map<string, number>();
    const splitter = new StreamSplitter({ M: null, totalBytes: null, maxSplitBytes: MAX_SPLIT_BYTES, maxSplits: Number.MAX_SAFE_INTEGER });
    await streamSplits(c.req.raw, splitter, (split) => {
      for (const piece of split.pieces) forEachWord(piece.text, params.options, (w) => counts.set(w, (counts.get(w) ?? 0) + 1));
    });
    return c.json({ kind: params.kind, outputRecords: counts.size }, 200);
  }
  const body = await readJsonBody(c.req.raw, JOBS_BODY_BYTES);
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new HttpError(400, "invalid_request", parsed.error.message, { field: parsed.error.field });
  const entries = referenceRun(parsed.spec);
  return c.json({ kind: parsed.spec.kind, outputRecords: entries.length }, 200);
});

const registry = jobRoutes.openAPIRegistry;
const JobDoc = z
  .object({
    kind: z.enum(JOB_KIND_NAMES as [string, ...string[]]),
    options: z.record(z.string(), z.unknown()).optional(),
    input: z.object({ documents: z.array(z.object({ id: z.string(), text: z.string() })) }),
    M: z.number().int().optional(),
    R: z.number().int().optional(),
    combiner: z.boolean().optional(),
  })
  .openapi("JobSpec", { example: { kind: "wordcount", input: { documents: [{ id: "d1", text: "Hello world hello python" }] }, M: 2, R: 2 } });
registry.registerPath({
  method: "post", path: "/jobs", tags: ["jobs"],
  summary: "Start a MapReduce job (wordcount, inverted-index, grep, top-k) with M map splits and R reduce partitions: inline documents as JSON, or a large text as a streamed raw body (text/plain or application/octet-stream) with the parameters in the query string",
  request: {
    headers: IdempotencyHeaders,
    query: z.object({
      kind: z.string().optional().openapi({ description: "streamed body only: the job kind" }),
      M: z.string().optional().openapi({ description: "streamed body only: map splits (needs a Content-Length; default about one per 768 KiB)" }),
      R: z.string().optional(), combiner: z.string().optional(), unicode: z.string().optional(), k: z.string().optional(), pattern: z.string().optional().openapi({ description: `grep: an RE2 regular expression (no backreferences or lookaround; at most ${MAX_PATTERN_LENGTH} characters and ${MAX_PROGRAM_SIZE} compiled instructions)` }),
      flags: z.string().optional().openapi({ description: `grep: flags among ${LINEAR_REGEX_FLAGS}` }),
    }),
    body: { required: true, content: { "application/json": { schema: JobDoc }, "text/plain": { schema: z.string().openapi({ description: `the input text, up to ${MAX_STREAMED_BYTES} bytes, cut into line-aligned splits as it arrives` }) } } },
  },
  responses: {
    202: { description: "Accepted: the job's status" },
    409: { description: "The job submitted with this Idempotency-Key was deleted" },
    415: { description: "A body that is neither JSON nor raw text (e.g. multipart/form-data)" },
    422: { description: "This Idempotency-Key was used for a job with other parameters" },
    ...errorResponses(400, 401, 413, 503),
  },
});
registry.registerPath({
  method: "get", path: "/jobs", tags: ["jobs"], summary: "The newest jobs first (?limit= 1..100, default 20), each as GET /jobs/{id} answers it without the per-task list",
  request: { query: z.object({ limit: z.string().optional() }) },
  responses: { 200: { description: "{jobs: [...]}" }, ...errorResponses(400, 401, 503) },
});
registry.registerPath({
  method: "get", path: "/jobs/{id}", tags: ["jobs"], summary: "Phase, per-phase progress, per-task states and timings, counters, the error if it failed",
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: { description: "The job" }, ...errorResponses(401, 404, 503) },
});
registry.registerPath({
  method: "get", path: "/jobs/{id}/result", tags: ["jobs"], summary: "The output, sorted by key (top-k: by rank), a page at a time (?after=<next>&limit=)",
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }), query: z.object({ after: z.string().optional(), limit: z.string().optional() }) },
  responses: { 200: { description: "A page of entries and the cursor of the next" }, 409: { description: "The job has not finished" }, ...errorResponses(400, 401, 404, 503) },
});
registry.registerPath({
  method: "delete", path: "/jobs/{id}", tags: ["jobs"], summary: "Cancel a running job and delete its storage (coordinator and executors)",
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: { description: "Deleted" }, ...errorResponses(401, 404, 503) },
});
