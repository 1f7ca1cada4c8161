// The task executor's coordinator and executors under crashes and failing reports. (Each of these once
// went wrong: a completion lost with the batch's last step, an executor re-running in a tight loop.)
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { coordinatorStub, JobCoordinator, type TaskStatus } from "../../durable-objects/job-coordinator";
import { ERROR_CHARS, executorStub } from "../../durable-objects/task-executor";
import { createBatch, DEFAULT_BACKUP_POLICY, taskFailed, tick, type SchedulerConfig } from "../../src/core/scheduler";
import { sleep } from "./helpers";

const batchId = () => `b${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
const config = (maxAttempts = 3): SchedulerConfig => ({
  executors: ["executor-0", "executor-1", "executor-2", "executor-3"],
  maxAttempts,
  attemptTimeoutMs: 90_000,
  maxPerExecutor: 16,
  backup: DEFAULT_BACKUP_POLICY,
});

describe("the coordinator's state under a crash", () => {
  it("the batch's last completion is written before its end is acted on: a crash right after keeps it completed", async () => {
    const id = batchId();
    const stub = coordinatorStub(env, id);
    await stub.submitBatch(id, [{ kind: "sleep", args: { ms: 30_000 } }], config(), "fingerprint");
    let t: TaskStatus | null = null;
    for (let i = 0; i < 100 && t?.status !== "in-progress"; i++) {
      await sleep(10);
      t = await stub.task(`${id}.0`);
    }
    expect(t!.status).toBe("in-progress");
    const attempt = t!.attemptLog[0]!;
    // What the executor does after a delivered report: its stored attempt is gone.
    await executorStub(env, attempt.executor).release(attempt.id);
    await stub.report(`${id}.0`, attempt.id, { ok: true, result: { ms: 30_000 } });
    expect((await stub.task(`${id}.0`))!.status).toBe("completed");
    // The report's alarm (+20 ms) runs: the batch is finished in memory, so afterStep sets only the
    // retention alarm, without writing the state (tick says persist: false).
    await runDurableObjectAlarm(stub);
    await stub.crash().catch(() => undefined); // e.g. a deploy or an isolate reset, within 50 ms
    const fresh = () => coordinatorStub(env, id);
    const after = (await fresh().task(`${id}.0`))!;
    const alarm = await runInDurableObject(fresh(), (_: JobCoordinator, state) => state.storage.getAlarm());
    expect(after.status).toBe("completed");
    // Only the retention alarm is left: the finished batch is deleted TASK_RETENTION_S (a day) after it ended.
    expect(alarm).toBeGreaterThan(Date.now() + 23 * 3600_000);
  });

  it("a 1,000-task batch's state stays one storage value under 2 MiB at the most attempts allowed, with errors at their cap", () => {
    const id = "b".padEnd(21, "0");
    const { state: s } = createBatch(id, Array.from({ length: 1000 }, (_, i) => `${id}.${i}`), { ...config(4), maxPerExecutor: 10_000, backup: null }, Date.now());
    let now = Date.now();
    for (let round = 0; round < 4; round++) {
      tick(s, now, { maxAssignments: 100_000, maxInFlight: 100_000 });
      for (const t of s.tasks) for (const a of t.attempts) if (a.outcome === "running") taskFailed(s, t.id, a.id, now + 1, "x".repeat(ERROR_CHARS));
      now += 90_001;
    }
    expect(s.tasks.every((t) => t.attempts.length === 4)).toBe(true);
    expect(JSON.stringify(s).length).toBeLessThan(2 * 1024 * 1024);
  });
});

describe("a coordinator that crashed between writing its state and sending the assignments", () => {
  it("sends the attempts it recorded as running again on restart, instead of waiting out the attempt timeout", async () => {
    const id = batchId();
    const taskId = `${id}.0`;
    // The state as it was written just before the crash: the attempt is recorded, never sent.
    const { state } = createBatch(id, [taskId], config(), Date.now());
    const step = tick(state, Date.now());
    expect(step.effects.filter((e) => e.type === "assign")).toHaveLength(1);
    await runInDurableObject(coordinatorStub(env, id), async (_: JobCoordinator, ctx) => {
      await ctx.storage.put({ state, [`spec:${taskId}`]: { kind: "fibonacci", args: { n: 12 } } });
      await ctx.storage.setAlarm(Date.now());
    });
    await coordinatorStub(env, id).crash().catch(() => undefined);
    await runDurableObjectAlarm(coordinatorStub(env, id));
    let t: TaskStatus | null = null;
    for (let i = 0; i < 60 && t?.status !== "completed"; i++) {
      await sleep(50);
      t = await coordinatorStub(env, id).task(taskId);
    }
    expect(t?.status).toBe("completed");
    expect(t?.result).toMatchObject({ value: "144" });
    expect(t?.attempts).toBe(1);
  });
});

describe("an executor whose reports fail", () => {
  it("retries its report about once a second, not in a tight loop", async () => {
    // A coordinator whose report() throws (stands for one that is overloaded or unreachable). Planted
    // here, in the test file, so the runtime's report of the exception names this file as its source
    // (test/support/uncaught-guard.ts allows those and fails the run on any other).
    const coord = batchId();
    const proto = JobCoordinator.prototype as unknown as { report: (taskId: string, ...rest: unknown[]) => Promise<boolean> };
    const report = proto.report;
    proto.report = async function (this: unknown, taskId: string, ...rest: unknown[]) {
      if (taskId.startsWith(coord)) throw new Error("report refused (planted by the test)");
      return report.call(this, taskId, ...rest);
    };
    const name = `executor-review-${coord}`;
    const ex = executorStub(env, name);
    let runs: number;
    try {
      await ex.failAttempts(1_000_000);
      await ex.accept(name, [{ coordinator: coord, taskId: `${coord}.0`, attemptId: `${coord}.0#1`, spec: { kind: "fibonacci", args: { n: 10 } } }]);
      await sleep(4_000);
      runs = await runInDurableObject(ex, (inst: unknown) => 1_000_000 - (inst as { failNext: number }).failNext);
      await ex.release(`${coord}.0#1`);
    } finally {
      proto.report = report;
    }
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(8);
  }, 10_000);
});
