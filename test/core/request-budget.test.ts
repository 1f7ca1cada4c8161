// What one request may make the cluster do (issue 16, item 2: task and job sizes per request).
import { describe, expect, it } from "vitest";
import { MAX_BATCH_SLEEP_MS, MAX_TASK_BATCH, parseTaskSubmission, SLEEP_MAX_MS } from "../../src/core/tasks";

const sleeps = (count: number, ms: number) => ({ tasks: Array.from({ length: count }, () => ({ kind: "sleep", args: { ms } })) });

describe("a task batch's sleeps are bounded in sum", () => {
  it("1,000 sleeps of a minute (16 hours of executor time from one request) are refused, naming the limit", () => {
    const out = parseTaskSubmission(sleeps(MAX_TASK_BATCH, SLEEP_MAX_MS));
    expect(out.ok).toBe(false);
    expect(!out.ok && out.field).toBe("tasks");
    expect(!out.ok && out.message).toBe(`its sleep tasks add up to ${MAX_TASK_BATCH * SLEEP_MAX_MS} ms; a batch may sleep at most ${MAX_BATCH_SLEEP_MS} ms in all (MAX_BATCH_SLEEP_MS)`);
  });
  it("a batch at the limit is accepted, and other kinds do not count", () => {
    expect(parseTaskSubmission(sleeps(10, SLEEP_MAX_MS)).ok).toBe(true);
    expect(parseTaskSubmission(sleeps(11, SLEEP_MAX_MS)).ok).toBe(false);
    const mixed = { tasks: [...sleeps(10, SLEEP_MAX_MS).tasks, ...Array.from({ length: 900 }, () => ({ kind: "fibonacci", args: { n: 100_000 } }))] };
    expect(parseTaskSubmission(mixed).ok).toBe(true);
  });
});
