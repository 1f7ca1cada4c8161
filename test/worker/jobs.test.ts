import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executorStub } from "../../durable-objects/task-executor";
import { type JobSpec, parseJobSpec } from "../../src/core/mapreduce/jobs";
import { referenceRun } from "../../src/core/mapreduce/reference";
import { ADMIN, call, json, sleep, jobWhenFinished } from "./helpers";

// The seed's four sentences (the chapter's word-count example).
const SEED = ["Hello world hello python", "Python is a programming language", "Hello python world", "Programming with python is fun"];
const docs = (texts: string[]) => texts.map((text, i) => ({ id: `d${i + 1}`, text }));

interface JobStatus {
  id: string;
  phase: string;
  finished: boolean;
  createdAt: number;
  endedAt: number | null;
  error: { message: string } | null;
  counters: Record<string, number>;
  tasks: { id: string; stage: string; state: string; attempts: number; executor: string | null }[];
}

async function start(body: unknown): Promise<JobStatus> {
  const res = await call("/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const out = await json<JobStatus>(res);
  expect(res.status, JSON.stringify(out)).toBe(202);
  return out;
}

const done = (id: string, ms = 15_000) => jobWhenFinished<JobStatus>(id, ms);

/** Every page of the result, following `next`. */
async function result(id: string, limit = 3): Promise<[string, unknown][]> {
  const all: [string, unknown][] = [];
  let after: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const res = await call(`/jobs/${id}/result?limit=${limit}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
    const page = await json<{ entries: [string, unknown][]; next: string | null }>(res);
    expect(res.status, JSON.stringify(page)).toBe(200);
    all.push(...page.entries);
    if (page.next === null) return all;
    after = page.next;
  }
  throw new Error("too many pages");
}

function reference(body: unknown): [string, unknown][] {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw parsed.error;
  return referenceRun(parsed.spec as JobSpec) as [string, unknown][];
}

describe("MapReduce jobs over the executor pool", () => {
  it("word count of the seed's four sentences equals the single-process reference (M=2, R=2), paged in key order", async () => {
    const body = { kind: "wordcount", input: { documents: docs(SEED) }, M: 2, R: 2 };
    const st = await done((await start(body)).id);
    expect(st.phase, JSON.stringify(st.error)).toBe("done");
    const out = await result(st.id);
    expect(out).toEqual(reference(body));
    expect(Object.fromEntries(out)).toMatchObject({ hello: 3, python: 4, world: 2, programming: 2, is: 2 });
    expect(st.tasks.filter((t) => t.stage === "map")).toHaveLength(2);
    expect(st.tasks.filter((t) => t.stage === "reduce")).toHaveLength(2);
    expect(st.counters.inputLines).toBe(4);
    expect(st.counters.outputRecords).toBe(out.length);
  });

  it.each([
    ["inverted-index", {}, 3, 2],
    ["grep", { pattern: "python" , flags: "i" }, 2, 3],
    ["top-k", { k: 3 }, 3, 2],
    ["wordcount", { unicode: true }, 1, 1],
  ])("%s equals the reference (M=%#)", async (kind, options, M, R) => {
    const body = { kind, options, input: { documents: docs([...SEED, "The dog barks; the fox runs!", "我爱北京天安门。"]) }, M, R };
    const st = await done((await start(body)).id);
    expect(st.phase, JSON.stringify(st.error)).toBe("done");
    expect(await result(st.id, 1000)).toEqual(reference(body));
  });

  it("a map task whose first attempt throws is re-executed; the result is exact (no double counting)", async () => {
    // The first assignment of a new job goes to executor-0 (least loaded, ties in pool order).
    await executorStub(env, "executor-0").failAttempts(1);
    const body = { kind: "wordcount", input: { documents: docs(SEED) }, M: 3, R: 2, combiner: false };
    const st = await done((await start(body)).id);
    expect(st.phase, JSON.stringify(st.error)).toBe("done");
    expect(st.tasks.some((t) => t.attempts === 2)).toBe(true);
    expect(await result(st.id, 1000)).toEqual(reference(body));
  });

  it("executors crashed (ctx.abort) while maps and reduces run: the job still completes with exactly the right output", async () => {
    // About 1.5 MB, so the maps take long enough for the crashes to land while they run.
    const text = (i: number) => Array.from({ length: 500 }, (_, j) => `${SEED[(i + j) % 4]} line ${(i * j) % 97}`).join("\n");
    const body = { kind: "wordcount", input: { documents: docs(Array.from({ length: 40 }, (_, i) => text(i))) }, M: 12, R: 4, combiner: false };
    const st = await start(body);
    for (const [ms, ex] of [[5, "executor-1"], [40, "executor-2"], [80, "executor-0"], [120, "executor-3"]] as const) {
      await sleep(ms);
      await executorStub(env, ex).crash().catch(() => undefined);
    }
    const end = await done(st.id, 30_000);
    expect(end.phase, JSON.stringify(end.error)).toBe("done");
    expect(end.endedAt! - end.createdAt).toBeGreaterThan(5);
    expect(await result(st.id, 1000)).toEqual(reference(body));
  }, 40_000);

  it("refuses bad specs with a 400 naming the field, unknown jobs with 404, and a result before the job is done with 409", async () => {
    const bad = async (body: unknown, field: string) => {
      const res = await call("/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const err = await json<{ error: { details?: { field: string } } }>(res);
      expect(res.status, JSON.stringify(err)).toBe(400);
      expect(err.error.details?.field).toBe(field);
    };
    await bad({ kind: "sort", input: { documents: docs(SEED) } }, "kind");
    await bad({ kind: "wordcount", input: { documents: docs(SEED) }, M: 0 }, "M");
    await bad({ kind: "wordcount", input: { documents: docs(SEED) }, R: 65 }, "R");
    await bad({ kind: "grep", options: { pattern: "(" }, input: { documents: docs(SEED) } }, "options.pattern");
    expect((await call("/jobs/nope")).status).toBe(404);
    expect((await call("/jobs/j00000000000000000000")).status).toBe(404);
    expect((await call("/jobs/j00000000000000000000/result")).status).toBe(404);
    const slow = await start({ kind: "wordcount", input: { documents: docs(Array(200).fill(SEED.join("\n"))) }, M: 16, R: 4 });
    const early = await call(`/jobs/${slow.id}/result`);
    expect([200, 409]).toContain(early.status);
    await done(slow.id);
  });

  it("the admin reference route runs the job in this isolate (the benchmark's baseline), and needs the token", async () => {
    const body = JSON.stringify({ kind: "wordcount", input: { documents: docs(SEED) } });
    const res = await call("/admin/jobs/reference", { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ kind: "wordcount", outputRecords: reference(JSON.parse(body)).length });
    expect((await call("/admin/jobs/reference", { method: "POST", body })).status).toBe(401);
  });

  it("refuses a split too big to store (413 naming M) and a top-k cursor that is not an index (400)", async () => {
    const big = { kind: "wordcount", input: { documents: docs(["word ".repeat(240_000)]) }, M: 1 };
    const res = await call("/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(big) });
    expect(res.status).toBe(413);
    expect((await json<{ error: { details?: { field: string } } }>(res)).error.details?.field).toBe("M");
    const st = await done((await start({ kind: "top-k", options: { k: 2 }, input: { documents: docs(SEED) }, M: 2, R: 2 })).id);
    expect(st.phase).toBe("done");
    expect((await call(`/jobs/${st.id}/result?after=abc`)).status).toBe(400);
    expect((await call(`/jobs/${st.id}/result?after=-2`)).status).toBe(400);
    const page = await json<{ entries: [string, number][]; next: string | null }>(await call(`/jobs/${st.id}/result?limit=1`));
    expect(page.entries).toEqual([["python", 4]]);
    expect(page.next).toBe("1");
  });

  it("once a job is done, the executors drop its map outputs (the shuffle data); the result stays readable", async () => {
    const body = { kind: "wordcount", input: { documents: docs(SEED) }, M: 4, R: 2 };
    const st = await done((await start(body)).id);
    expect(st.phase).toBe("done");
    const runsLeft = async () => {
      let n = 0;
      for (const ex of ["executor-0", "executor-1", "executor-2", "executor-3"]) {
        n += await runInDurableObject(executorStub(env, ex), async (_: unknown, ctx: DurableObjectState) => (await ctx.storage.list({ prefix: `run:${st.id}.` })).size);
      }
      return n;
    };
    for (let i = 0; i < 40 && (await runsLeft()) > 0; i++) await sleep(25);
    expect(await runsLeft()).toBe(0);
    expect(await result(st.id, 1000)).toEqual(reference(body));
  });

  it("DELETE cancels a job and deletes what it stored; it is gone afterwards", async () => {
    const st = await start({ kind: "wordcount", input: { documents: docs(SEED) }, M: 2, R: 1 });
    await done(st.id);
    const del = await call(`/jobs/${st.id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect((await call(`/jobs/${st.id}`)).status).toBe(404);
    expect((await call(`/jobs/${st.id}`, { method: "DELETE" })).status).toBe(404);
  });
});
