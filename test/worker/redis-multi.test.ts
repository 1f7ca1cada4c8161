// MULTI/EXEC through the Redis endpoint is one two-phase-commit transaction across shards: with a
// shard crashing at any point of the protocol, the block is applied on every replica or on none.
import { describe, expect, it } from "vitest";
import type { ParticipantCrashPoint } from "../../durable-objects/cache-shard-txn";
import { call, replicasOf, shard } from "./helpers";
import { keysOnDistinctShards, locksReleased, replicaValues } from "./txn-support";

const redis = (path: string, body: unknown) => call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

async function values(keys: string[]): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (const k of keys) for (const r of await replicaValues(k)) out.push(r.value);
  return out;
}

describe("MULTI/EXEC across shards under crashes", () => {
  const points: ParticipantCrashPoint[] = ["before-vote", "after-prepared", "before-apply"];
  for (const point of points) {
    it(`a shard crashing ${point} leaves the block all-or-nothing on every replica`, async () => {
      const keys = keysOnDistinctShards(`multi-${point}`, 3);
      expect((await redis("/redis/pipeline", keys.map((k) => ["SET", k, "old"]))).status).toBe(200);
      const victim = (await replicasOf(keys[1]!))[0]!;
      await shard(victim).armTxnCrash(point);
      const res = await redis("/redis/multi-exec", [...keys.map((k) => ["SET", k, "new"]), ["INCR", `${keys[0]}:n`]]);
      const out = (await res.json()) as ({ result: unknown } | { error: string })[];
      await locksReleased();
      const all = await values(keys);
      const committed = out.every((o) => "result" in o);
      // Committed: 200. Aborted because the crashed replica did not vote: the cluster's trouble, a 503 with Retry-After.
      if (committed) expect(res.status).toBe(200);
      else expect([res.status, res.headers.get("retry-after")]).toEqual([503, "1"]);
      // Either every replica of every key has the new value, or none has.
      expect(new Set(all)).toEqual(new Set([committed ? "new" : "old"]));
      if (!committed) for (const o of out) expect("error" in o && o.error).toMatch(/^ERR /);
    });
  }

  it("errors inside a block are per command; the block's writes still commit together", async () => {
    const res = await redis("/redis/multi-exec", [["SET", "mx:a", "1"], ["HSET", "mx:a", "f", "v"], ["SET", "mx:b", "2"]]);
    const out = (await res.json()) as ({ result: unknown } | { error: string })[];
    expect(out[0]).toEqual({ result: "OK" });
    expect(out[1]).toEqual({ error: "WRONGTYPE Operation against a key holding the wrong kind of value" });
    expect(out[2]).toEqual({ result: "OK" });
  });
});
