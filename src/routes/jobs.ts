import { z } from "@hono/zod-openapi";
import { coordinatorStub } from "../../durable-objects/job-coordinator";
import { LIMITS } from "../config";
import { JOB_KIND_NAMES, type JobParams, parseJobSpec } from "../core/mapreduce/jobs";
import { splitDocuments } from "../core/mapreduce/partition";
import { referenceRun } from "../core/mapreduce/reference";
import { createRouter } from "../http/app-env";
import { requireToken } from "../http/auth";
import { HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { readJsonBody } from "../http/validation";
import { call, schedulerConfig } from "./tasks";

/**
 * MapReduce jobs (Dean & Ghemawat) on the task executor's scheduler: POST /jobs with inline documents,
 * GET /jobs/{id} for progress, GET /jobs/{id}/result for the sorted output, DELETE to cancel and clean up.
 * A JobCoordinator object per job is the master; map and reduce tasks run on the TaskExecutor pool.
 */
export const jobRoutes = createRouter();

/** Inline input: the body of POST /jobs (a streamed body for larger inputs is not built yet). */
export const JOBS_BODY_BYTES = LIMITS.batchBodyBytes;
const JOB_ID_RE = /^j[0-9a-f]{20}$/;
const PAGE_MAX = 1_000;
/** Largest split (input bytes per map task): one stored value, under Cloudflare's 2 MiB with room for UTF-16. */
export const MAX_SPLIT_BYTES = 1024 * 1024;

function jobId(raw: string | undefined): string {
  if (raw === undefined || !JOB_ID_RE.test(raw)) throw new HttpError(404, "not_found", `no job ${JSON.stringify(raw ?? "")}`);
  return raw;
}

jobRoutes.post("/jobs", async (c) => {
  const body = await readJsonBody(c.req.raw, JOBS_BODY_BYTES);
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new HttpError(400, "invalid_request", parsed.error.message, { field: parsed.error.field });
  const { input, ...params } = parsed.spec;
  const job: JobParams = params;
  const splits = splitDocuments(input.documents, job.M);
  // A split is stored as one value (and handed to an executor in one call): Cloudflare caps values at 2 MiB.
  const biggest = Math.max(...splits.map((sp) => sp.bytes));
  if (biggest > MAX_SPLIT_BYTES) throw new HttpError(413, "payload_too_large", `a split of ${biggest} bytes is over ${MAX_SPLIT_BYTES}: raise M (now ${job.M})`, { field: "M" });
  const id = `j${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
  const status = await call(coordinatorStub(c.env, id).submitJob(id, job, splits, schedulerConfig(c.env)));
  return c.json(status, 202, { Location: `/jobs/${id}` });
});

jobRoutes.get("/jobs/:id", async (c) => {
  const id = jobId(c.req.param("id"));
  const status = await call(coordinatorStub(c.env, id).jobStatus());
  if (status === null) throw new HttpError(404, "not_found", `no job ${id}`);
  return c.json(status, 200);
});

jobRoutes.get("/jobs/:id/result", async (c) => {
  const id = jobId(c.req.param("id"));
  const limitRaw = c.req.query("limit") ?? "100";
  if (!/^\d{1,4}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > PAGE_MAX) throw new HttpError(400, "invalid_request", `limit: 1..${PAGE_MAX}`);
  const stub = coordinatorStub(c.env, id);
  const status = await call(stub.jobStatus());
  if (status === null) throw new HttpError(404, "not_found", `no job ${id}`);
  if (status.phase !== "done") throw new HttpError(409, "not_finished", `the job is ${status.phase}; its result exists once it is done`, { phase: status.phase });
  // RPC typing cannot see through `unknown` values; the page is plain JSON.
  const page = await call(stub.resultPage(c.req.query("after") ?? null, Number(limitRaw)) as unknown as Promise<{ entries: [string, unknown][]; next: string | null; badCursor?: boolean } | null>);
  if (page === null) throw new HttpError(404, "not_found", `no job ${id}`);
  if (page.badCursor === true) throw new HttpError(400, "invalid_request", "after: the `next` of the previous page (for top-k, an index)");
  return c.json({ id, kind: status.kind, entries: page.entries, next: page.next }, 200);
});

jobRoutes.delete("/jobs/:id", async (c) => {
  const id = jobId(c.req.param("id"));
  if (!(await call(coordinatorStub(c.env, id).deleteJob()))) throw new HttpError(404, "not_found", `no job ${id}`);
  return c.json({ id, deleted: true }, 200);
});

jobRoutes.use("/admin/jobs/*", requireToken("ADMIN_TOKEN", true));
// The same job run start to end in this one isolate with the single-process reference (no splits, no
// executors, no storage): the baseline of bench:mapreduce. The admin token guards it.
jobRoutes.post("/admin/jobs/reference", async (c) => {
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
  method: "post", path: "/jobs", tags: ["jobs"], summary: "Start a MapReduce job: wordcount, inverted-index, grep or top-k over inline documents, with M map splits and R reduce partitions",
  request: { body: { required: true, content: { "application/json": { schema: JobDoc } } } },
  responses: { 202: { description: "Accepted: the job's status" }, ...errorResponses(400, 401, 413, 503) },
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
