// An EVAL is one two-phase-commit transaction over the keys it declares: with a shard crashing at any
// point of the protocol, a read-modify-write script over keys on different shards applies on every
// replica or on none, and what was acknowledged before it is never lost.
import { describe, expect, it } from "vitest";
import type { ParticipantCrashPoint } from "../../durable-objects/cache-shard-txn";
import { call, replicasOf, shard } from "./helpers";
import { keysOnDistinctShards, locksReleased, replicaValues } from "./txn-support";

const redis = (path: string, body: unknown) => call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Moves one unit from KEYS[1] to each other key (read, check, write): a transfer must never half-apply. */
const TRANSFER = `
local from = tonumber(redis.call('GET', KEYS[1]))
if from < #KEYS - 1 then return redis.error_reply('not enough') end
redis.call('SET', KEYS[1], from - (#KEYS - 1))
for i = 2, #KEYS do redis.call('INCR', KEYS[i]) end
return from`;

async function values(keys: string[]): Promise<(string | null)[][]> {
  const out: (string | null)[][] = [];
  for (const k of keys) out.push((await replicaValues(k)).map((r) => r.value));
  return out;
}

describe("EVAL across shards under crashes", () => {
  const points: ParticipantCrashPoint[] = ["before-vote", "after-prepared", "before-apply"];
  for (const point of points) {
    it(`a shard crashing ${point} leaves a script's writes all-or-nothing on every replica`, async () => {
      const keys = keysOnDistinctShards(`eval-${point}`, 3);
      expect((await redis("/redis/pipeline", [["SET", keys[0], "10"], ["SET", keys[1], "0"], ["SET", keys[2], "0"]])).status).toBe(200);
      const victim = (await replicasOf(keys[1]!))[0]!;
      await shard(victim).armTxnCrash(point);
      const res = await redis("/redis", ["EVAL", TRANSFER, "3", ...keys]);
      const out = (await res.json()) as { result: unknown } | { error: string };
      await locksReleased();
      const committed = "result" in out;
      if (committed) {
        expect([res.status, out]).toEqual([200, { result: 10 }]);
      } else {
        // Aborted because the crashed replica did not vote: the cluster's trouble, a 503 with Retry-After.
        expect([res.status, res.headers.get("retry-after")]).toEqual([503, "1"]);
        expect("error" in out && out.error).toMatch(/^ERR /);
      }
      // Every replica of every key holds the state after the whole script, or the state before it.
      const expected = committed ? ["8", "1", "1"] : ["10", "0", "0"];
      const all = await values(keys);
      all.forEach((replicas, i) => expect(new Set(replicas)).toEqual(new Set([expected[i]])));
      // And the script runs again on what was acknowledged.
      const again = (await (await redis("/redis", ["EVAL", TRANSFER, "3", ...keys])).json()) as { result: unknown };
      expect(again).toEqual({ result: Number(expected[0]) });
      const after = await redis("/redis/pipeline", keys.map((k) => ["GET", k]));
      expect(((await after.json()) as { result: unknown }[]).map((o) => o.result)).toEqual([String(Number(expected[0]) - 2), String(Number(expected[1]) + 1), String(Number(expected[2]) + 1)]);
    });
  }
});
