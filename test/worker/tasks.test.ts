import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { coordinatorStub, type TaskStatus } from "../../durable-objects/job-coordinator";
import { executorStub } from "../../durable-objects/task-executor";
import { ADMIN, call, eventually, json } from "./helpers";

interface Submitted {
  id?: string;
  batch: string;
  tasks?: { id: string; kind: string; status: string }[];
}

async function submit(body: unknown): Promise<Submitted> {
  const res = await call("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const out = await json<Submitted>(res);
  expect(res.status, JSON.stringify(out)).toBe(202);
  return out;
}

async function finished(id: string): Promise<TaskStatus> {
  const res = await call(`/tasks/${id}?wait=10000`);
  expect(res.status).toBe(200);
  return json<TaskStatus>(res);
}

describe("the task executor: POST /tasks, GET /tasks/{id}, GET /tasks?batch=", () => {
  it("runs one task on an executor of the pool and reports its exact result", async () => {
    const t = await submit({ kind: "fibonacci", args: { n: 100 } });
    expect(t.id).toBe(`${t.batch}.0`);
    const done = await finished(t.id!);
    expect(done).toMatchObject({ status: "completed", kind: "fibonacci", attempts: 1, error: null });
    expect(done.result).toMatchObject({ value: "354224848179261915075" });
    expect(done.node).toMatch(/^executor-\d$/);
  });

  it("runs a batch of every kind; listing by status finds them all completed", async () => {
    const b = await submit({
      tasks: [
        { kind: "fibonacci", args: { n: 10 } },
        { kind: "prime-check", args: { n: "18446744073709551557" } },
        { kind: "prime-check", args: { n: "3825123056546413051" } },
        { kind: "sha256", args: { data: "abc" } },
        { kind: "sleep", args: { ms: 20 } },
      ],
    });
    expect(b.tasks).toHaveLength(5);
    const results = await Promise.all(b.tasks!.map((t) => finished(t.id)));
    expect(results.map((r) => r.status)).toEqual(Array(5).fill("completed"));
    expect(results[0]!.result).toMatchObject({ value: "55" });
    expect(results[1]!.result).toMatchObject({ prime: true });
    expect(results[2]!.result).toMatchObject({ prime: false });
    expect(results[3]!.result).toMatchObject({ digest: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" });
    const list = await json<{ finished: boolean; tasks: TaskStatus[] }>(await call(`/tasks?batch=${b.batch}&status=completed`));
    expect(list.finished).toBe(true);
    expect(list.tasks.map((t) => t.id).sort()).toEqual(b.tasks!.map((t) => t.id).sort());
    // Spread over the pool by the least-loaded policy, not all on one executor.
    expect(new Set(results.map((r) => r.node)).size).toBeGreaterThan(1);
  });

  it.each([
    [{ kind: "fibonacci", args: { n: -1 } }, "args.n"],
    [{ kind: "fibonacci", args: { n: 1.5 } }, "args.n"],
    [{ kind: "fibonacci", args: { n: 100_001 } }, "args.n"],
    [{ kind: "prime-check", args: { n: "18446744073709551616" } }, "args.n"],
    [{ kind: "mine-bitcoin", args: {} }, "kind"],
    [{ kind: "sleep", args: { ms: 10, extra: 1 } }, "args.extra"],
    [{ tasks: [{ kind: "sleep", args: { ms: 1 } }, { kind: "sleep", args: { ms: -5 } }] }, "tasks.1.args.ms"],
  ])("refuses %j with a 400 naming %s", async (body, field) => {
    const res = await call("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const err = await json<{ error: { code: string; details?: { field: string } } }>(res);
    expect(res.status, JSON.stringify(err)).toBe(400);
    expect(err.error.details?.field).toBe(field);
  });

  it("refuses bodies that are not JSON, unknown task ids, bad listing parameters", async () => {
    expect((await call("/tasks", { method: "POST", body: "{nope" })).status).toBe(400);
    expect((await call("/tasks/nope")).status).toBe(404);
    expect((await call("/tasks/b00000000000000000000.0")).status).toBe(404);
    expect((await call("/tasks?batch=nope")).status).toBe(400);
    expect((await call("/tasks?status=sleeping")).status).toBe(400);
    expect((await call("/tasks?limit=0")).status).toBe(400);
    expect((await call("/tasks?batch=b00000000000000000000&status=sleeping")).status).toBe(400);
    expect((await call("/tasks?batch=b00000000000000000000")).status).toBe(404);
    expect((await call("/tasks/b00000000000000000000.0?wait=99999999")).status).toBe(400);
  });

  it("the admin route runs one task directly on executor-0 (the benchmark's baseline), and needs the token", async () => {
    const body = JSON.stringify({ kind: "fibonacci", args: { n: 30 } });
    const res = await call("/admin/tasks/direct", { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ node: "executor-0", result: { value: "832040" } });
    expect((await call("/admin/tasks/direct", { method: "POST", body })).status).toBe(401);
  });

  it("an attempt that fails is re-executed on another executor, and the task completes", async () => {
    // The first assignment of a new batch goes to executor-0 (least loaded, ties in pool order).
    await executorStub(env, "executor-0").failAttempts(1);
    const t = await submit({ kind: "prime-check", args: { n: 561 } });
    const done = await finished(t.id!);
    expect(done.status).toBe("completed");
    expect(done.result).toMatchObject({ prime: false });
    expect(done.attempts).toBe(2);
    expect(done.attemptLog[0]).toMatchObject({ executor: "executor-0", outcome: "failed", error: "injected failure" });
    expect(done.node).not.toBe("executor-0");
  });

  it("an executor crashed (ctx.abort) mid-task: the task still completes, once", async () => {
    // Long enough that it cannot end before the crash, however slow the machine is to start it.
    const t = await submit({ kind: "sleep", args: { ms: 1500 } });
    let view!: TaskStatus;
    await eventually(async () => (view = await json<TaskStatus>(await call(`/tasks/${t.id}`))).status !== "idle" && view.status !== "waiting");
    expect(view.status).toBe("in-progress");
    const node = view.attemptLog.at(-1)!.executor;
    await executorStub(env, node).crash().catch(() => undefined);
    // The executor kept the attempt in storage: its alarm runs it again after the restart.
    const done = await finished(t.id!);
    expect(done.status).toBe("completed");
    expect(done.result).toEqual({ ms: 1500 });
    expect(await executorStub(env, node).pending()).toEqual([]);
  });

  it("a coordinator crashed (ctx.abort) right after the submission resumes from storage and finishes the batch", async () => {
    const b = await submit({ tasks: Array.from({ length: 6 }, (_, i) => ({ kind: "fibonacci", args: { n: 50 + i } })) });
    await coordinatorStub(env, b.batch).crash().catch(() => undefined);
    const results = await Promise.all(b.tasks!.map((t) => finished(t.id)));
    expect(results.every((r) => r.status === "completed")).toBe(true);
    expect(results[0]!.result).toMatchObject({ value: "12586269025" });
  });
});
