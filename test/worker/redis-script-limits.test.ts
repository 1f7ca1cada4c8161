// Limits found in review of issue 17, through the real endpoint: runaway scripts in a pipeline are each
// stopped (they share one time budget: a pipeline of them was each one's 5 s in turn), and a write over
// more keys than a transaction holds is refused before anything is read.
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { SCRIPT_INSTRUCTION_LIMIT, SCRIPT_TIME_LIMIT_MS } from "../../src/core/redis/lua-vm";
import { call, json } from "./helpers";

type Answer = { result?: unknown; error?: string };
const post = (path: string, body: unknown) => call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("limits of scripts and multi-key writes", () => {
  it("a pipeline of runaway read-only scripts: each is stopped with nothing applied, and the endpoint answers the next request", async () => {
    // That they share one time budget is checked in test/core/redis-scripting.test.ts (scriptUse): at
    // 250,000 instructions a script stops in milliseconds, and the request budget admits ~220 scripts.
    const spin = ["EVAL_RO", "local i = 0 while true do i = i + 1 end", "0"];
    const res = await post("/redis/pipeline", Array.from({ length: 40 }, () => spin));
    const out = await json<Answer[]>(res);
    expect(res.status).toBe(200);
    expect(out).toHaveLength(40);
    for (const o of out) expect(o.error).toMatch(new RegExp(`^ERR (Script ran past its limit of (${SCRIPT_INSTRUCTION_LIMIT} Lua instructions|${SCRIPT_TIME_LIMIT_MS} ms)|this request's scripts have run their)`));
    expect(await json<Answer>(await post("/redis", ["PING"]))).toEqual({ result: "PONG" });
  });

  it(`a write naming more than ${LIMITS.txnOps} keys is refused before it reads them; a read of as many works`, async () => {
    const keys = Array.from({ length: LIMITS.txnOps + 1 }, (_, i) => `wide:${i}`);
    const store = await json<Answer>(await post("/redis", ["SUNIONSTORE", "wide:dest", ...keys.slice(1)]));
    expect(store.error).toBe(`ERR a write may touch at most ${LIMITS.txnOps} keys, what one transaction holds (this one names ${LIMITS.txnOps + 1})`);
    expect(await json<Answer>(await post("/redis", ["SUNION", ...keys]))).toEqual({ result: [] });
  });
});
