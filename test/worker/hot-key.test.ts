// Hot keys queue instead of failing (issue 14): concurrent read-modify-writes of one key are ordered
// in one place per key and batched, so none answers "locked", and every one is counted exactly once.
// Multi-key transactions that meet a lock wait for it (wait-die) instead of failing at once.
import { describe, expect, it } from "vitest";
import { guardStatus, shardGuardName } from "../../src/services/do-guard";
import { ALL_SHARDS, call, json } from "./helpers";

const redis = (cmd: unknown[]) => call("/redis", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(cmd) });

async function answer(res: Response): Promise<{ status: number; body: { result?: unknown; error?: string } }> {
  return { status: res.status, body: await json<{ result?: unknown; error?: string }>(res) };
}

describe("a hot key under concurrent read-modify-writes", () => {
  it("50 concurrent INCR on one key all succeed, with 50 distinct results 1..50, and the final value is 50", async () => {
    const key = "hot-incr";
    const answers = await Promise.all(Array.from({ length: 50 }, async () => answer(await redis(["INCR", key]))));
    const errors = answers.filter((a) => a.status !== 200);
    expect(errors).toEqual([]);
    // Each increment saw its own predecessor: the results are exactly 1..50, none lost, none doubled.
    expect(answers.map((a) => Number(a.body.result)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await answer(await redis(["GET", key]))).body.result).toBe("50");
  });

  it("mixed read-modify-writes of one key (INCRBY, DECR, APPEND on another, HINCRBY, SETNX, GETSET) in parallel keep Redis's sequential result", async () => {
    const runs = await Promise.all([
      ...Array.from({ length: 20 }, () => redis(["INCRBY", "hot-mixed", "5"])),
      ...Array.from({ length: 10 }, () => redis(["DECR", "hot-mixed"])),
      ...Array.from({ length: 15 }, () => redis(["APPEND", "hot-append", "x"])),
      ...Array.from({ length: 25 }, () => redis(["HINCRBY", "hot-hash", "f", "2"])),
      ...Array.from({ length: 10 }, () => redis(["SETNX", "hot-once", "v"])),
    ]);
    const answers = await Promise.all(runs.map(answer));
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect((await answer(await redis(["GET", "hot-mixed"]))).body.result).toBe(String(20 * 5 - 10));
    expect((await answer(await redis(["GET", "hot-append"]))).body.result).toBe("x".repeat(15));
    expect((await answer(await redis(["HGET", "hot-hash", "f"]))).body.result).toBe("50");
    // SETNX: exactly one of the ten set it.
    expect(answers.slice(70).filter((a) => a.body.result === 1)).toHaveLength(1);
  });

  it("a command that fails in a batch (INCR of a non-integer) gets its own error and the others still apply", async () => {
    await redis(["SET", "hot-typed", "abc"]);
    const results = await Promise.all([redis(["INCR", "hot-typed"]), redis(["APPEND", "hot-typed", "d"]), redis(["INCR", "hot-typed"])].map(async (p) => answer(await p)));
    const errors = results.filter((r) => r.status === 400);
    expect(errors.length).toBe(2);
    for (const e of errors) expect(e.body.error).toMatch(/not an integer/);
    expect((await answer(await redis(["GET", "hot-typed"]))).body.result).toBe("abcd");
  });

  it("MULTI/EXEC blocks on the same two keys run concurrently without a 'locked' answer, and all apply", async () => {
    const block = () => call("/redis/multi-exec", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([["INCR", "pair-a"], ["INCR", "pair-b"]]) });
    const answers = await Promise.all(Array.from({ length: 20 }, async () => ({ status: (await block()).status })));
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect((await answer(await redis(["GET", "pair-a"]))).body.result).toBe("20");
    expect((await answer(await redis(["GET", "pair-b"]))).body.result).toBe("20");
    // Contention is not failure: no shard's breaker opened.
    for (const s of ALL_SHARDS) expect(guardStatus(shardGuardName(s)).status).toBe("closed");
  });

  it("concurrent POST /txn increments of one key wait their turn: none answers 409; past the deadline a 503 with Retry-After, never applied; the final value counts exactly the 200s", async () => {
    const txn = () => call("/txn", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ops: [{ op: "incr", key: "hot-txn", by: 1 }] }) });
    const run = (n: number) =>
      Promise.all(Array.from({ length: n }, async () => {
        const res = await txn();
        return { status: res.status, retryAfter: res.headers.get("retry-after"), code: res.status === 200 ? null : (await json<{ error: { code: string } }>(res)).error.code };
      }));
    // However many fit in one deadline on this machine commit in turn; the rest are refused before they ran.
    const all = [...(await run(10)), ...(await run(40))];
    const committed = all.filter((s) => s.status === 200).length;
    expect(committed).toBeGreaterThan(0);
    for (const s of all.filter((s) => s.status !== 200)) expect(s).toMatchObject({ status: 503, code: "overloaded", retryAfter: "1" });
    expect((await answer(await redis(["GET", "hot-txn"]))).body.result).toBe(String(committed));
  });
});
