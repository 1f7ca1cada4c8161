// Lists, sets and sorted sets are read-modify-writes of one stored entry: concurrent callers on one key
// queue and are all applied exactly once (issue 14's hot-key rule), and a MULTI/EXEC block across
// shards mixing them is all-or-nothing on every replica with a shard crashing at any 2PC point.
import { describe, expect, it } from "vitest";
import type { ParticipantCrashPoint } from "../../durable-objects/cache-shard-txn";
import { guardStatus, shardGuardName } from "../../src/services/do-guard";
import { ALL_SHARDS, call, json, replicasOf, shard } from "./helpers";
import { keysOnDistinctShards, locksReleased, replicaValues } from "./txn-support";

type Answer = { result?: unknown; error?: string };
const post = (path: string, body: unknown) => call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
async function redis(cmd: unknown[]): Promise<{ status: number; body: Answer }> {
  const res = await post("/redis", cmd);
  return { status: res.status, body: await json<Answer>(res) };
}

describe("a hot list, set and sorted set under concurrent writers", () => {
  it("50 concurrent RPUSH, SADD and ZINCRBY on one key each: all succeed and none is lost or doubled", async () => {
    const n = 50;
    const answers = await Promise.all([
      ...Array.from({ length: n }, (_, i) => redis(["RPUSH", "hot-list", `item-${i}`])),
      ...Array.from({ length: n }, (_, i) => redis(["SADD", "hot-set", `m-${i}`])),
      ...Array.from({ length: n }, () => redis(["ZINCRBY", "hot-zset", "1", "member"])),
    ]);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    // Each RPUSH saw its predecessors: its reply (the new length) is distinct, 1..50.
    expect(answers.slice(0, n).map((a) => Number(a.body.result)).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const list = (await redis(["LRANGE", "hot-list", "0", "-1"])).body.result as string[];
    expect([...list].sort()).toEqual(Array.from({ length: n }, (_, i) => `item-${i}`).sort());
    expect((await redis(["SCARD", "hot-set"])).body.result).toBe(n);
    expect((await redis(["ZSCORE", "hot-zset", "member"])).body.result).toBe(String(n));
    for (const s of ALL_SHARDS) expect(guardStatus(shardGuardName(s)).status).toBe("closed");
  });

  it("LMOVE between two lists by concurrent callers never loses or duplicates an item", async () => {
    const items = Array.from({ length: 20 }, (_, i) => `x${i}`);
    expect((await redis(["RPUSH", "move-src", ...items])).body.result).toBe(20);
    const answers = await Promise.all(Array.from({ length: 30 }, () => redis(["LMOVE", "move-src", "move-dst", "LEFT", "RIGHT"])));
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(answers.filter((a) => a.body.result === null)).toHaveLength(10);
    expect((await redis(["LLEN", "move-src"])).body.result).toBe(0);
    expect((await redis(["LRANGE", "move-dst", "0", "-1"])).body.result).toEqual(items);
  });
});

describe("MULTI/EXEC over a list, a set and a sorted set on distinct shards, with a shard crashing", () => {
  const points: ParticipantCrashPoint[] = ["before-vote", "after-prepared", "before-apply"];
  for (const point of points) {
    it(`crashing ${point}: the block is applied to every key or to none`, async () => {
      const [l, s, z] = keysOnDistinctShards(`fam-${point}`, 3) as [string, string, string];
      expect((await post("/redis/pipeline", [["RPUSH", l, "a"], ["SADD", s, "a"], ["ZADD", z, "1", "a"]])).status).toBe(200);
      const victim = (await replicasOf(s))[0]!;
      await shard(victim).armTxnCrash(point);
      const res = await post("/redis/multi-exec", [["RPUSH", l, "b"], ["SADD", s, "b"], ["ZADD", z, "2", "b"]]);
      const out = await json<Answer[]>(res);
      await locksReleased();
      const committed = out.every((o) => "result" in o);
      if (committed) expect(res.status).toBe(200);
      else expect([res.status, res.headers.get("retry-after")]).toEqual([503, "1"]);
      // Every replica of every key holds the new value, or every one the old (their stored JSON).
      const stored = async (key: string) => new Set((await replicaValues(key)).map((r) => r.value));
      const expected = committed ? [['["a","b"]'], ['["a","b"]'], ['[["a",1],["b",2]]']] : [['["a"]'], ['["a"]'], ['[["a",1]]']];
      expect([await stored(l), await stored(s), await stored(z)]).toEqual(expected.map((v) => new Set(v)));
      // And the Redis endpoint reads the same.
      expect((await redis(["LRANGE", l, "0", "-1"])).body.result).toEqual(committed ? ["a", "b"] : ["a"]);
    });
  }
});
