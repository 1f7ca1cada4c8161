// A script may SCAN and then use the keys SCAN returned (as @upstash/ratelimit's resetUsedTokens does):
// the service fetches each SCAN step the script asks for, and runs the script again on a snapshot that
// holds the keys found, committing on their revisions. Bounded in SCAN steps and in keys.
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { MAX_SCRIPT_SCAN_STEPS } from "../../src/core/redis/scripting";
import { call } from "./helpers";

const redis = async (path: string, body: unknown): Promise<unknown> => {
  const res = await call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return res.json();
};

/** @upstash/ratelimit's resetScript, as the library sends it. */
const RESET = `
      local pattern = KEYS[1]
      local cursor = "0"
      repeat
          local scan_result = redis.call('SCAN', cursor, 'MATCH', pattern)
          cursor = scan_result[1]
          local keys = scan_result[2]
          for i=1, #keys do
          redis.call('DEL', keys[i])
          end
      until cursor == "0"
    `;

const COUNT = `
local n, cursor = 0, "0"
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', KEYS[1])
  cursor = r[1]
  n = n + #r[2]
until cursor == "0"
return n`;

describe("SCAN inside EVAL", () => {
  it("the reset script deletes exactly the keys its pattern matches", async () => {
    expect(await redis("/redis/pipeline", [["SET", "rl:a:1", "1"], ["SET", "rl:a:2", "2"], ["SET", "rl:b:1", "3"]])).toEqual([{ result: "OK" }, { result: "OK" }, { result: "OK" }]);
    expect(await redis("/redis", ["EVAL_RO", COUNT, "1", "rl:a:*"])).toEqual({ result: 2 });
    expect(await redis("/redis", ["EVAL", RESET, "1", "rl:a:*"])).toEqual({ result: null });
    expect(await redis("/redis/pipeline", [["EXISTS", "rl:a:1"], ["EXISTS", "rl:a:2"], ["GET", "rl:b:1"]])).toEqual([{ result: 0 }, { result: 0 }, { result: "3" }]);
    expect(await redis("/redis", ["EVAL_RO", COUNT, "1", "rl:*"])).toEqual({ result: 1 });
  });

  it("a script that declares no key, and one inside MULTI, may SCAN too", async () => {
    expect(await redis("/redis/pipeline", [["SET", "zero:1", "1"], ["SET", "zero:2", "2"], ["SET", "multi:1", "1"]])).toEqual([{ result: "OK" }, { result: "OK" }, { result: "OK" }]);
    const src = RESET.replace("KEYS[1]", "ARGV[1]");
    expect(await redis("/redis", ["EVAL", src, "0", "zero:*"])).toEqual({ result: null });
    expect(await redis("/redis/multi-exec", [["EVAL", COUNT, "1", "multi:*"], ["EVAL", RESET, "1", "multi:*"], ["EVAL_RO", COUNT, "1", "multi:*"]])).toEqual([{ result: 1 }, { result: null }, { result: 0 }]);
    expect(await redis("/redis", ["EXISTS", "zero:1", "zero:2", "multi:1"])).toEqual({ result: 0 });
  });

  it(`a script taking more than ${MAX_SCRIPT_SCAN_STEPS} SCAN steps is stopped, nothing it wrote applied`, async () => {
    expect(await redis("/redis", ["SET", "steps:w", "before"])).toEqual({ result: "OK" });
    const src = "redis.call('SET', KEYS[1], 'during'); for i = 1, 1000 do redis.call('SCAN', '0', 'COUNT', i) end return 1";
    const out = (await redis("/redis", ["EVAL", src, "1", "steps:w"])) as { error: string };
    expect(out.error).toMatch(new RegExp(`^ERR a request's scripts may take at most ${MAX_SCRIPT_SCAN_STEPS} SCAN steps in all \\(MAX_SCRIPT_SCAN_STEPS\\); nothing the script wrote was applied`));
    expect(await redis("/redis", ["GET", "steps:w"])).toEqual({ result: "before" });
  });

  it(`a script whose SCANs find more keys than a transaction holds (${LIMITS.txnOps}) is stopped`, async () => {
    const n = LIMITS.txnOps + 5;
    const sets = (await redis("/redis/pipeline", Array.from({ length: n }, (_, i) => ["SET", `many:${i}`, "x"]))) as unknown[];
    expect(sets).toEqual(Array.from({ length: n }, () => ({ result: "OK" })));
    const out = (await redis("/redis", ["EVAL", RESET, "1", "many:*"])) as { error: string };
    expect(out.error).toMatch(new RegExp(`^ERR a script's keys \\(declared and found by SCAN\\) may number at most ${LIMITS.txnOps}`));
    expect(await redis("/redis", ["EVAL_RO", COUNT, "1", "many:*"])).toEqual({ error: expect.stringMatching(/at most/) });
    expect(await redis("/redis", ["EXISTS", "many:0", `many:${n - 1}`])).toEqual({ result: 2 });
  });
});
