import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executorStub } from "../../durable-objects/task-executor";
import type { Entry } from "../../src/core/mapreduce/jobs";
import { schedulerConfig } from "../../src/routes/tasks";
import { call, json, jobWhenFinished, sleep } from "./helpers";

/**
 * Issue 16, item 1, through the real worker and Durable Objects: a grep job with a pattern that makes
 * a backtracking engine take exponential time (`^(a+)+$` on a 30-byte line kept one map task busy
 * 9.4 s and /healthz waited 9.1 s) finishes, and /healthz keeps answering meanwhile. On the old code
 * the map task never ends (the 40-character line alone would take hours) and the test times out.
 */

const EXECUTORS = schedulerConfig(env).executors;
/** A ceiling for a stuck request, not a claim about speed: the old engine took 9 s on 30 bytes, then doubled per byte. */
const HEALTHZ_CEILING_MS = 3_000;

interface JobStatus {
  id: string;
  phase: string;
  finished: boolean;
  error: { message: string } | null;
}

interface ErrorBody {
  error: { code: string; message: string; details?: { field?: string } };
}

/** Polls /healthz every ~20 ms until `stop` resolves; returns every latency seen. */
async function healthzWhile<T>(work: Promise<T>): Promise<{ value: T; latencies: number[] }> {
  const latencies: number[] = [];
  let finished = false;
  const poll = (async () => {
    while (!finished) {
      const start = Date.now();
      const res = await call("/healthz");
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      latencies.push(Date.now() - start);
      await sleep(20);
    }
  })();
  try {
    return { value: await work, latencies };
  } finally {
    finished = true;
    await poll;
  }
}

async function result(id: string): Promise<Entry<{ line: number; text: string }>[]> {
  const res = await call(`/jobs/${id}/result?limit=1000`);
  const page = await json<{ entries: Entry<{ line: number; text: string }>[]; next: string | null }>(res);
  expect(res.status, JSON.stringify(page)).toBe(200);
  expect(page.next).toBeNull();
  return page.entries;
}

async function expectError(res: Response, status: number, field: string): Promise<string> {
  const body = await json<ErrorBody>(res);
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body.error.code).toBe("invalid_request");
  expect(body.error.details?.field, JSON.stringify(body)).toBe(field);
  return body.error.message;
}

async function storedSplits(): Promise<string[]> {
  const keys: string[] = [];
  for (const ex of EXECUTORS) {
    keys.push(...(await runInDurableObject(executorStub(env, ex), async (_: unknown, ctx: DurableObjectState) => [...(await ctx.storage.list({ prefix: "in:" })).keys()])));
  }
  return keys;
}

/** Lines of a's ending in b (no match for ^(a+)+$), and one line of a's only (a match), as line 3. */
const pathologicalText = [`${"a".repeat(29)}b`, `${"a".repeat(40)}b`, "a".repeat(64), `${"a".repeat(200_000)}b`, "b"].join("\n");

describe("issue 16 #1: a ReDoS grep pattern runs in linear time on the worker", () => {
  it("^(a+)+$ as a JSON job (lines of a's ending in b, one 200 KB) is done, with the one matching line, while /healthz keeps answering", async () => {
    const run = (async () => {
      const res = await call("/jobs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ kind: "grep", options: { pattern: "^(a+)+$" }, input: { documents: [{ id: "doc", text: pathologicalText }] }, M: 2, R: 1 }),
      });
      const started = await json<JobStatus>(res);
      expect(res.status, JSON.stringify(started)).toBe(202);
      return jobWhenFinished<JobStatus>(started.id, 60_000);
    })();
    const { value: st, latencies } = await healthzWhile(run);
    expect(st.phase, JSON.stringify(st.error)).toBe("done");
    const entries = await result(st.id);
    expect(entries.map(([key, match]) => [key, match.line, match.text])).toEqual([["doc:0000000003", 3, "a".repeat(64)]]);
    expect(latencies.length).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(HEALTHZ_CEILING_MS);
  });

  it("(a|aa)+$ as a streamed job over a 300 KB line is done, with no match, while /healthz keeps answering", async () => {
    const run = (async () => {
      const res = await call(`/jobs?kind=grep&pattern=${encodeURIComponent("(a|aa)+$")}&M=1&R=1`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: `${"a".repeat(300_000)}b\n`,
      });
      const started = await json<JobStatus>(res);
      expect(res.status, JSON.stringify(started)).toBe(202);
      return jobWhenFinished<JobStatus>(started.id, 60_000);
    })();
    const { value: st, latencies } = await healthzWhile(run);
    expect(st.phase, JSON.stringify(st.error)).toBe("done");
    expect(await result(st.id)).toEqual([]);
    expect(Math.max(...latencies)).toBeLessThan(HEALTHZ_CEILING_MS);
  });
});

describe("issue 16 #1: a pattern RE2 cannot run is a 400 naming the construct, before any work", () => {
  const docs = { documents: [{ id: "d", text: "abab\n" }] };

  it.each([
    ["(a)\\1", "uses a backreference `\\1`, which RE2 does not support"],
    ["(?=a)b", "uses a lookahead `(?=`"],
    ["(?<!a)b", "uses a negative lookbehind `(?<!`"],
    ["a++", "uses a possessive quantifier `++`"],
    ["(a{1000}){1000}", "repeats too many times"],
  ])("JSON form: %s -> 400 on options.pattern: %s", async (pattern, message) => {
    const res = await call("/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ kind: "grep", options: { pattern }, input: docs }) });
    expect(await expectError(res, 400, "options.pattern")).toContain(message);
  });

  it("JSON form: flags v -> 400 on options.flags naming the flag", async () => {
    const res = await call("/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ kind: "grep", options: { pattern: "a", flags: "v" }, input: docs }) });
    expect(await expectError(res, 400, "options.flags")).toMatch(/^options\.flags: flag "v"/);
  });

  it("streamed form: the query is refused (400 naming the construct or flag) and no input split is stored", async () => {
    for (const [query, field, message] of [
      [`kind=grep&pattern=${encodeURIComponent("(?<=a)b")}`, "pattern", "pattern: uses a lookbehind `(?<=`"],
      [`kind=grep&pattern=${encodeURIComponent("(x)\\1")}`, "pattern", "pattern: uses a backreference `\\1`"],
      ["kind=grep&pattern=a&flags=g", "flags", 'flags: flag "g"'],
    ] as const) {
      // The body ends a second after it starts, or once the answer is in: the query alone decides.
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const writer = writable.getWriter();
      void writer.write(new TextEncoder().encode("abab\n".repeat(1000))).catch(() => undefined);
      const ended = sleep(1000).then(() => writer.close()).catch(() => undefined);
      const res = await call(`/jobs?${query}`, { method: "POST", headers: { "content-type": "text/plain" }, body: readable });
      expect(await expectError(res, 400, field)).toContain(message);
      await ended;
    }
    expect(await storedSplits()).toEqual([]);
  });
});
