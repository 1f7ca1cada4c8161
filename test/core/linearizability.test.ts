import { describe, expect, test } from "vitest";
import { type CheckResult, checkLinearizable } from "../../src/core/linearizability/check";
import { formatCheckResult, formatOperation, formatTimeline } from "../../src/core/linearizability/format";
import { HistoryRecorder, type Operation, operation, validateHistory } from "../../src/core/linearizability/history";

/** Hand-built histories: each helper takes [invokedAt, completedAt | null]; null = unknown outcome. */
function builder() {
  let id = 0;
  const ops: Operation[] = [];
  const add = (o: Operation): Operation => (ops.push(o), o);
  return {
    ops,
    put: (client: string, key: string, value: string, from: number, to: number | null) =>
      add(operation(id++, client, { type: "put", key, value }, from, to, to === null ? null : { ok: true })),
    get: (client: string, key: string, value: string | null, from: number, to: number | null) =>
      add(operation(id++, client, { type: "get", key }, from, to, to === null ? null : { value })),
    del: (client: string, key: string, from: number, to: number | null) =>
      add(operation(id++, client, { type: "delete", key }, from, to, to === null ? null : { ok: true })),
    cas: (client: string, key: string, expected: string | null, value: string, ok: boolean | null, from: number, to: number | null) =>
      add(operation(id++, client, { type: "cas", key, expected, value }, from, to, ok === null ? null : { ok })),
  };
}

const expectOk = (r: CheckResult): void => expect(r.ok, formatCheckResult(r)).toBe(true);
function expectViolation(r: CheckResult): Extract<CheckResult, { ok: false }> {
  if (r.ok !== false) throw new Error(`expected a violation, got ${formatCheckResult(r)}`);
  return r;
}
const ids = (ops: readonly Operation[]): number[] => ops.map((o) => o.id).sort((a, b) => a - b);

describe("linearizable histories are accepted", () => {
  test("a sequential history of every operation type", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.get("c1", "x", "a", 3, 4);
    b.put("c2", "x", "b", 5, 6);
    b.get("c1", "x", "b", 7, 8);
    b.del("c2", "x", 9, 10);
    b.get("c1", "x", null, 11, 12);
    b.cas("c1", "x", null, "c", true, 13, 14);
    b.cas("c2", "x", "a", "d", false, 15, 16);
    b.get("c2", "x", "c", 17, 18);
    b.cas("c2", "x", "c", "e", true, 19, 20);
    b.get("c1", "x", "e", 21, 22);
    expectOk(checkLinearizable(b.ops));
  });

  test("the empty history, and a key never written reads as absent", () => {
    expectOk(checkLinearizable([]));
    const b = builder();
    b.get("c1", "x", null, 1, 2);
    expectOk(checkLinearizable(b.ops));
  });

  test.each(["a", "b"])("two overlapping writes may take effect in either order (a later read sees %s)", (seen) => {
    const b = builder();
    b.put("c1", "x", "a", 1, 10);
    b.put("c2", "x", "b", 2, 9);
    b.get("c3", "x", seen, 11, 12);
    b.get("c3", "x", seen, 13, 14);
    expectOk(checkLinearizable(b.ops));
  });

  test.each(["a", "b"])("a read concurrent with a write may return the old or the new value (%s)", (seen) => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c1", "x", "b", 3, 10);
    b.get("c2", "x", seen, 4, 5);
    expectOk(checkLinearizable(b.ops));
  });

  test("concurrent reads may see old and new in either real-time-unordered order", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c1", "x", "b", 3, 10);
    b.get("c2", "x", "b", 4, 7);
    b.get("c3", "x", "a", 5, 8); // overlaps the first read, so it may be ordered before it
    expectOk(checkLinearizable(b.ops));
  });

  test("events at the same timestamp count as concurrent", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 5);
    b.get("c2", "x", null, 5, 6); // invoked at the instant the put returned: may precede it
    expectOk(checkLinearizable(b.ops));
  });

  test("an unknown-outcome write may have taken effect", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c2", "x", "b", 3, null);
    b.get("c1", "x", "b", 10, 11);
    expectOk(checkLinearizable(b.ops));
  });

  test("an unknown-outcome write may never have taken effect", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c2", "x", "b", 3, null);
    b.get("c1", "x", "a", 10, 11);
    b.get("c1", "x", "a", 1000, 1001);
    expectOk(checkLinearizable(b.ops));
  });

  test("an unknown-outcome write may take effect long after its client gave up", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c2", "x", "b", 3, null);
    b.get("c1", "x", "a", 10, 11);
    b.put("c1", "x", "c", 12, 13);
    b.get("c1", "x", "b", 20, 21); // the stale proposal was applied at last
    expectOk(checkLinearizable(b.ops));
  });

  test("unknown-outcome delete and cas are each optional", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.del("c2", "x", 3, null);
    b.cas("c3", "x", "a", "z", null, 4, null);
    b.get("c1", "x", "a", 10, 11);
    b.get("c1", "x", "z", 12, 13);
    b.get("c1", "x", null, 14, 15);
    expectOk(checkLinearizable(b.ops));
  });

  test("an unknown-outcome get constrains nothing", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.get("c2", "x", null, 3, null);
    expectOk(checkLinearizable(b.ops));
  });

  test("many unknown-outcome writes stay cheap (dominance pruning)", () => {
    const b = builder();
    for (let i = 0; i < 60; i++) b.put(`u${i}`, "x", `u${i}`, i, null);
    for (let i = 0; i < 30; i++) b.get("r", "x", i % 2 === 0 ? `u${59 - i}` : `u${i}`, 100 + 2 * i, 101 + 2 * i);
    expectOk(checkLinearizable(b.ops, { maxStates: 200_000 }));
  });

  test("initialValues seed each key's register", () => {
    const b = builder();
    b.get("c1", "x", "seeded", 1, 2);
    expectViolation(checkLinearizable(b.ops));
    expectOk(checkLinearizable(b.ops, { initialValues: new Map([["x", "seeded"]]) }));
  });
});

describe("non-linearizable histories are rejected with a minimal witness", () => {
  test("a stale read after a completed write", () => {
    const b = builder();
    const a = b.put("c1", "x", "a", 1, 2);
    const bb = b.put("c1", "x", "b", 3, 4);
    const read = b.get("c2", "x", "a", 5, 6);
    b.get("c2", "x", "b", 7, 8);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(r.key).toBe("x");
    expect(r.failedAt).toBe(6);
    expect(ids(r.witness)).toEqual(ids([a, bb, read]));
  });

  test("a read of the initial value after a completed write", () => {
    const b = builder();
    const w = b.put("c1", "x", "a", 1, 2);
    const read = b.get("c2", "x", null, 3, 4);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(ids(r.witness)).toEqual(ids([w, read]));
  });

  test("read inversion: two sequential reads see the new value, then the old one", () => {
    const b = builder();
    const a = b.put("c1", "x", "a", 1, 2);
    const bb = b.put("c1", "x", "b", 3, 20); // still in flight during both reads
    const first = b.get("c2", "x", "b", 4, 5);
    const second = b.get("c3", "x", "a", 6, 7);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(r.failedAt).toBe(7);
    expect(ids(r.witness)).toEqual(ids([a, bb, first, second]));
  });

  test("a read returning a value never written", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    const read = b.get("c2", "x", "ghost", 3, 4);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(ids(r.witness)).toEqual([read.id]);
    expect(r.reason).toContain("no operation ever wrote");
  });

  test("a read of a value whose write was invoked after the read returned", () => {
    const b = builder();
    const read = b.get("c1", "x", "future", 1, 2);
    const w = b.put("c2", "x", "future", 3, 4);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(ids(r.witness)).toEqual(ids([read, w]));
  });

  test("a cas that succeeded although its expected value could not be current", () => {
    const b = builder();
    const a = b.put("c1", "x", "a", 1, 2);
    const bb = b.put("c1", "x", "b", 3, 4);
    const cas = b.cas("c2", "x", "a", "c", true, 5, 6);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(ids(r.witness)).toEqual(ids([a, bb, cas]));
  });

  test("a cas that failed although its expected value was certainly current", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    const cas = b.cas("c2", "x", "a", "c", false, 3, 4);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(r.witness.map((o) => o.id)).toContain(cas.id);
  });

  test("two successful cas from the same expected value (lost update)", () => {
    const b = builder();
    b.put("c1", "x", "0", 1, 2);
    b.cas("c2", "x", "0", "1", true, 3, 10);
    b.cas("c3", "x", "0", "2", true, 4, 11);
    expectViolation(checkLinearizable(b.ops));
  });

  test("a write that completed before another began cannot be reordered after it", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c2", "x", "b", 3, 4);
    b.get("c3", "x", "a", 5, 6);
    expect(checkLinearizable(b.ops).ok).toBe(false);
  });
});

describe("unknown outcomes: may happen at any time after invocation, or never", () => {
  test("once its effect was observed, it cannot be un-done without another write", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c2", "x", "b", 3, null);
    b.get("c1", "x", "b", 10, 11);
    b.get("c1", "x", "a", 12, 13);
    expectViolation(checkLinearizable(b.ops));
  });

  test("it cannot take effect before it was invoked", () => {
    const b = builder();
    const read = b.get("c1", "x", "b", 1, 2);
    const w = b.put("c2", "x", "b", 5, null);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(ids(r.witness)).toEqual(ids([read, w]));
  });

  test("it takes effect at most once", () => {
    const b = builder();
    b.put("c1", "x", "b", 1, null);
    b.get("c2", "x", "b", 2, 3);
    b.put("c2", "x", "c", 4, 5);
    b.get("c2", "x", "b", 6, 7); // would need the unknown put to apply a second time
    expectViolation(checkLinearizable(b.ops));
  });

  test("an unknown cas may only take effect when its expected value is current", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.cas("c2", "x", "zzz", "b", null, 3, null);
    b.get("c1", "x", "b", 10, 11);
    expectViolation(checkLinearizable(b.ops));
  });

  test("a completed operation is still bounded by its completion even if others are unknown", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, null);
    b.put("c2", "x", "b", 2, 3);
    b.get("c3", "x", "a", 4, 5); // fine: the unknown put a may land after put b
    expectOk(checkLinearizable(b.ops));
    b.get("c3", "x", "b", 6, 7); // but then b cannot come back
    expectViolation(checkLinearizable(b.ops));
  });
});

describe("per-key independence (P-compositionality)", () => {
  test("operations on different keys do not constrain each other", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c1", "y", "b", 3, 4);
    b.get("c2", "x", "a", 5, 6);
    b.get("c2", "y", "b", 5, 6);
    b.get("c2", "z", null, 7, 8);
    expectOk(checkLinearizable(b.ops));
  });

  test("a violation is reported on its own key, with a witness from that key only", () => {
    const b = builder();
    b.put("c1", "good", "1", 1, 2);
    b.put("c1", "bad", "1", 1, 2);
    b.put("c1", "bad", "2", 3, 4);
    b.get("c2", "good", "1", 5, 6);
    b.get("c2", "bad", "1", 5, 6);
    const r = expectViolation(checkLinearizable(b.ops));
    expect(r.key).toBe("bad");
    expect(r.witness.every((o) => o.op.key === "bad")).toBe(true);
  });

  test("the same value on two keys is not confused", () => {
    const b = builder();
    b.put("c1", "x", "v", 1, 2);
    b.get("c2", "y", "v", 3, 4); // y was never written
    expect(expectViolation(checkLinearizable(b.ops)).key).toBe("y");
  });
});

describe("budget, validation, recording and printing", () => {
  test("over the state budget the answer is unknown, never a guess", () => {
    const b = builder();
    for (let i = 0; i < 12; i++) b.put(`c${i}`, "x", `v${i}`, 1, 100);
    b.get("r", "x", "v3", 101, 102);
    const r = checkLinearizable(b.ops, { maxStates: 5 });
    expect(r).toEqual({ ok: "unknown", key: "x", reason: "search budget exceeded" });
    expectOk(checkLinearizable(b.ops));
  });

  test("malformed histories are refused", () => {
    const b = builder();
    b.put("c1", "x", "a", 5, 4);
    expect(() => checkLinearizable(b.ops)).toThrow(RangeError);
    const dup = [operation(1, "c", { type: "get", key: "x" }, 1, 2, { value: null }), operation(1, "c", { type: "get", key: "x" }, 3, 4, { value: null })];
    expect(() => validateHistory(dup)).toThrow(/duplicate/);
    const wrongShape = [operation(1, "c", { type: "get", key: "x" }, 1, 2, { ok: true } as unknown as { value: null })];
    expect(() => validateHistory(wrongShape)).toThrow(TypeError);
  });

  test("HistoryRecorder: complete, failUnknown, discard, and in-flight operations become unknown", () => {
    const rec = new HistoryRecorder();
    const a = rec.invoke("c1", { type: "put", key: "x", value: "a" }, 1);
    const lost = rec.invoke("c2", { type: "put", key: "x", value: "b" }, 2);
    const rejected = rec.invoke("c3", { type: "put", key: "x", value: "zzz" }, 2);
    const read = rec.invoke("c1", { type: "get", key: "x" }, 4);
    const pending = rec.invoke("c4", { type: "delete", key: "x" }, 5);
    rec.complete(a, { ok: true }, 3);
    rec.failUnknown(lost);
    rec.discard(rejected);
    rec.complete(read, { value: "b" }, 6);
    expect(() => rec.complete(a, { ok: true }, 7)).toThrow(/already completed/);
    expect(() => rec.complete(pending, { value: "x" }, 7)).toThrow(TypeError);
    expect(() => rec.complete(pending, { ok: true }, 4)).toThrow(RangeError);
    const h = rec.history();
    expect(h.map((o) => o.id)).toEqual([a, lost, read, pending]);
    expect(h.find((o) => o.id === pending)).toMatchObject({ completedAt: null, result: null });
    expect(h.find((o) => o.id === lost)).toMatchObject({ completedAt: null, result: null });
    expectOk(checkLinearizable(h));
  });

  test("the failure message names the key, the operations and draws a timeline", () => {
    const b = builder();
    b.put("c1", "x", "a", 1, 2);
    b.put("c1", "x", "b", 3, 4);
    b.get("c2", "x", "a", 5, 6);
    b.cas("c3", "x", null, "q", null, 5, null);
    const r = expectViolation(checkLinearizable(b.ops));
    const text = formatCheckResult(r);
    console.log(text);
    expect(text).toContain('key "x"');
    expect(text).toContain('#2 c2 get → "a"');
    expect(text.split("\n")).toHaveLength(1 + 1 + r.witness.length);
    expect(formatTimeline(b.ops)).toMatch(/\|=*\?/); // the unknown cas runs off the end
    expect(formatOperation(b.ops[3]!)).toBe('#3 c3 cas ∅→"q" (outcome unknown)');
  });
});
