// Limits found in review of issue 17, through the real endpoint: a request's scripts share one time
// budget (a pipeline of runaway scripts was each one's limit in turn), and a write over more keys than
// a transaction holds is refused before anything is read.
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { SCRIPT_TIME_LIMIT_MS } from "../../src/core/redis/lua-vm";
import { call, json } from "./helpers";

type Answer = { result?: unknown; error?: string };
const post = (path: string, body: unknown) => call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("limits of scripts and multi-key writes", () => {
  it("a pipeline of runaway read-only scripts: each is stopped, and once the request's scripts have run their time, the rest do not run", async () => {
    const spin = ["EVAL_RO", "local i = 0 while true do i = i + 1 end", "0"];
    const res = await post("/redis/pipeline", Array.from({ length: 40 }, () => spin));
    const out = await json<Answer[]>(res);
    expect(res.status).toBe(200);
    expect(out).toHaveLength(40);
    for (const o of out) expect(o.error).toMatch(/^ERR (Script ran past its limit|this request's scripts have run their)/);
    expect(out.filter((o) => o.error?.includes(`have run their ${SCRIPT_TIME_LIMIT_MS} ms`)).length).toBeGreaterThan(0);
  });

  it(`a write naming more than ${LIMITS.txnOps} keys is refused before it reads them; a read of as many works`, async () => {
    const keys = Array.from({ length: LIMITS.txnOps + 1 }, (_, i) => `wide:${i}`);
    const store = await json<Answer>(await post("/redis", ["SUNIONSTORE", "wide:dest", ...keys.slice(1)]));
    expect(store.error).toBe(`ERR a write may touch at most ${LIMITS.txnOps} keys, what one transaction holds (this one names ${LIMITS.txnOps + 1})`);
    expect(await json<Answer>(await post("/redis", ["SUNION", ...keys]))).toEqual({ result: [] });
  });
});
