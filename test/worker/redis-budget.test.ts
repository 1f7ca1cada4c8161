// Issue 16, item 2 on the Redis endpoint: every request has a cost budget, checked before any of it
// runs, and work stops when the caller has gone. The object calls a request makes are counted from
// the billed-usage counters of GET /metrics (calls the worker made on Durable Object stubs).
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { REDIS_BUDGET } from "../../src/core/redis/budget";
import app from "../../src/index";
import { ALL_SHARDS, call, eventually, parseSamples, scrapeMetrics, setFault, shard, sleep } from "./helpers";

const JSON_HEADERS = { "content-type": "application/json" };
const post = (path: string, body: unknown, init: RequestInit = {}) => call(path, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body), ...init });

/** Object calls made by the worker so far (this isolate). */
async function workerCalls(): Promise<number> {
  const { samples } = await scrapeMetrics();
  let n = 0;
  for (const [series, value] of samples) if (series.startsWith("dc_usage_rpc_calls_total{") && series.includes('caller="worker"')) n += value;
  return n;
}

/** The worker's object calls made while `fn` ran (nothing else runs in this file meanwhile). */
async function callsDuring<T>(fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
  const before = await workerCalls();
  const value = await fn();
  // A scrape makes calls of its own, labelled caller="metrics": they are not counted here.
  return { value, calls: (await workerCalls()) - before };
}

afterEach(async () => {
  for (const s of ALL_SHARDS) await setFault(s, "healthy");
});

describe("a request over its budget is refused before any object call (issue 16: no cost cap on /redis)", () => {
  it("a 1,000-command pipeline of KEYS * (~8,000 shard calls, 66 s in the report) answers 400 naming the limit, with no object call", async () => {
    const { value: res, calls } = await callsDuring(() => post("/redis/pipeline", Array.from({ length: 1000 }, () => ["KEYS", "*"])));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "ERR request budget exceeded: 1000 walks of the whole keyspace (KEYS, DBSIZE, FLUSHDB) > 1 (pipeline of 1000 commands; use SCAN; see the README's Redis limits)" });
    expect(calls).toBe(0);
  });

  it("MGET of 50,000 keys (13.6 s in the report) answers 400 naming the per-command limit, with no object call", async () => {
    const keys = Array.from({ length: 50_000 }, (_, i) => `mget:${i}`);
    const { value: res, calls } = await callsDuring(() => post("/redis", ["MGET", ...keys]));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe(`ERR request budget exceeded: MGET names 50000 keys > ${REDIS_BUDGET.keysPerCommand} per command (split it; see the README's Redis limits)`);
    expect(calls).toBe(0);
  });

  it("in a pipeline, a command over the per-command limit gets its own error and the others run", async () => {
    const big = ["DEL", ...Array.from({ length: REDIS_BUDGET.keysPerCommand + 1 }, (_, i) => `del:${i}`)];
    const res = await post("/redis/pipeline", [["SET", "budget:a", "1"], big, ["GET", "budget:a"]]);
    expect(res.status).toBe(200);
    const out = (await res.json()) as { result?: unknown; error?: string }[];
    expect(out[0]).toEqual({ result: "OK" });
    expect(out[1]!.error).toMatch(/^ERR request budget exceeded: DEL names 1001 keys > 1000 per command/);
    expect(out[2]).toEqual({ result: "1" });
  });

  it("a pipeline naming more keys in all than a request may is refused whole, before any object call", async () => {
    const mget = ["MGET", ...Array.from({ length: 1000 }, (_, i) => `many:${i}`)];
    const { value: res, calls } = await callsDuring(() => post("/redis/pipeline", Array.from({ length: 6 }, () => mget)));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe(`ERR request budget exceeded: 6000 keys > ${REDIS_BUDGET.keysPerRequest} (pipeline of 6 commands; see the README's Redis limits)`);
    expect(calls).toBe(0);
  });

  it("a MULTI over the budget is refused whole, before any object call", async () => {
    const mget = ["MGET", ...Array.from({ length: 1000 }, (_, i) => `multi:${i}`)];
    const { value: res, calls } = await callsDuring(() => post("/redis/multi-exec", Array.from({ length: 6 }, () => mget)));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^ERR request budget exceeded: 6000 keys > 5000 \(multi of 6 commands/);
    expect(calls).toBe(0);
  });

  it("what real clients send fits: 1,000 GETs, an auto-pipeline of 100 SETs, a rate limiter's INCR + PEXPIRE for 50 callers", async () => {
    const gets = await post("/redis/pipeline", Array.from({ length: 1000 }, (_, i) => ["GET", `fit:${i}`]));
    expect(gets.status).toBe(200);
    expect(((await gets.json()) as unknown[]).length).toBe(1000);
    const sets = await post("/redis/pipeline", Array.from({ length: 100 }, (_, i) => ["SET", `fit:${i}`, String(i)]));
    expect(((await sets.json()) as { result?: unknown }[]).every((o) => o.result === "OK")).toBe(true);
    const limiter = Array.from({ length: 50 }, (_, i) => [["INCR", `rl:${i}`], ["PEXPIRE", `rl:${i}`, "60000"]]).flat();
    const res = await post("/redis/pipeline", limiter);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { error?: string }[]).filter((o) => o.error !== undefined)).toEqual([]);
  });
});

describe("KEYS and DBSIZE examine a bounded part of the keyspace (issue 16: KEYS work per call)", () => {
  /** Entries written straight into one shard's table (30,001 keys through the API would take minutes). */
  async function fill(total: number): Promise<void> {
    await runInDurableObject(shard("shard-3"), (_instance, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO entries (key, value, content_type, version, expires_at, state, size, touched_at)
         SELECT printf('walk:%06d', i), x'', 'text/plain', '0000000000000-000000-00000000', NULL, 0, 0, 0 FROM n`,
        total,
      );
    });
  }
  const empty = () => runInDurableObject(shard("shard-3"), (_instance, state) => void state.storage.sql.exec("DELETE FROM entries WHERE key LIKE 'walk:%'"));
  const limitError = (name: string, examined: number, limit: number) =>
    `ERR request budget exceeded: ${name} examined ${examined} entries > ${limit} (use SCAN to walk a large keyspace; see the README's Redis limits)`;

  it("over more stored entries than a walk may examine, KEYS answers an error naming the limit after a bounded number of calls; DBSIZE (it only counts) and SCAN still walk it", async () => {
    const total = REDIS_BUDGET.walkEntries + 1;
    const before = ((await (await post("/redis", ["DBSIZE"])).json()) as { result: number }).result;
    await fill(total);
    try {
      const pages = Math.ceil(REDIS_BUDGET.walkEntries / REDIS_BUDGET.scanCount) + 1;
      const { value: res, calls } = await callsDuring(() => post("/redis", ["KEYS", "walk:*"]));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe(limitError("KEYS", total, REDIS_BUDGET.walkEntries));
      // At most every shard once, and the pages of the big one.
      expect(calls).toBeLessThanOrEqual(ALL_SHARDS.length + pages);
      // DBSIZE counts the keys whose first replica is shard-3 (the walk lists each key once, at its primary).
      const { HashRing } = await import("../../src/core/ring/hash-ring");
      const { getConfig } = await import("../../src/config");
      const cfg = getConfig(env).cache;
      const ring = new HashRing(cfg.shards, cfg.vnodes === undefined ? {} : { vnodes: cfg.vnodes });
      let primaries = 0;
      for (let i = 1; i <= total; i++) if (ring.lookup(`walk:${String(i).padStart(6, "0")}`) === "shard-3") primaries++;
      expect(primaries).toBeGreaterThan(0);
      const size = await post("/redis", ["DBSIZE"]);
      expect(size.status).toBe(200);
      // Every walk key at its primary, plus what earlier tests left (some of which may expire meanwhile).
      const counted = ((await size.json()) as { result: number }).result;
      expect(counted).toBeGreaterThanOrEqual(primaries);
      expect(counted).toBeLessThanOrEqual(before + primaries);
      // SCAN with a huge COUNT reads a page per shard at most.
      const { value: scan, calls: scanCalls } = await callsDuring(() => post("/redis", ["SCAN", "0", "MATCH", "walk:*", "COUNT", "100000000"]));
      expect(scan.status).toBe(200);
      const [, keys] = ((await scan.json()) as { result: [string, string[]] }).result;
      expect(keys.length).toBeLessThanOrEqual(REDIS_BUDGET.scanCount * ALL_SHARDS.length);
      expect(scanCalls).toBeLessThanOrEqual(ALL_SHARDS.length);
    } finally {
      await empty();
    }
  });

  it("DBSIZE over more stored entries than it may count answers an error naming its own limit, after a bounded number of calls", async () => {
    const total = REDIS_BUDGET.countEntries + 1;
    await fill(total);
    try {
      const pages = Math.ceil(REDIS_BUDGET.countEntries / REDIS_BUDGET.scanCount) + 1;
      const { value: res, calls } = await callsDuring(() => post("/redis", ["DBSIZE"]));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe(limitError("DBSIZE", total, REDIS_BUDGET.countEntries));
      expect(calls).toBeLessThanOrEqual(ALL_SHARDS.length + pages);
    } finally {
      await empty();
    }
  });
});

describe("work stops when nobody waits for it any more (issue 16: the KEYS pipeline kept running after the client left)", () => {
  it("a pipeline still running at the request's deadline answers its remaining commands with an error naming it, and stops issuing object calls", async () => {
    // The request deadline is ten of the cache's (30 s by default): 300 ms here makes it 3 s.
    const short = { ...env, CACHE_REQUEST_DEADLINE_MS: "300" };
    const ctx = { waitUntil: () => undefined, passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;
    const request = (path: string, init?: RequestInit) => app.request(path, init, short, ctx);
    const calls = async () => {
      let n = 0;
      for (const [series, value] of parseSamples(await (await request("/metrics")).text())) if (series.startsWith("dc_usage_rpc_calls_total{") && series.includes('caller="worker"')) n += value;
      return n;
    };
    // Every shard answers after 40 ms, so the 200 SCAN steps (8 calls each) would take over a minute.
    // (SCAN: a request may walk the whole keyspace with KEYS only once.)
    for (const s of ALL_SHARDS) await setFault(s, "slow", 40);
    const commands = 200;
    const before = await calls();
    const res = await request("/redis/pipeline", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(Array.from({ length: commands }, () => ["SCAN", "0"])) });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { result?: unknown; error?: string }[];
    expect(out.length).toBe(commands);
    const made = (await calls()) - before;
    const stopped = out.findIndex((o) => o.error !== undefined);
    expect(stopped).toBeGreaterThanOrEqual(0);
    // The commands before the deadline ran; every one after it has the deadline's error (a walk under
    // way at the deadline may end with it too).
    expect(out.slice(0, stopped).every((o) => Array.isArray(o.result))).toBe(true);
    expect(out.slice(stopped).every((o) => o.error === "ERR request deadline of 3000 ms passed before this command ran (see the README's Redis limits)")).toBe(true);
    expect(made).toBeLessThan(commands * ALL_SHARDS.length);
    // No call after the answer: nothing goes on in the background.
    await sleep(1000);
    expect((await calls()) - before).toBe(made);
  });

  it("a pipeline whose client disconnects mid-way stops issuing object calls (workerd cancels the invocation when it sees the client go)", async () => {
    for (const s of ALL_SHARDS) await setFault(s, "slow", 40);
    const commands = 200;
    const before = await workerCalls();
    const abort = new AbortController();
    const pending = post("/redis/pipeline", Array.from({ length: commands }, () => ["SCAN", "0"]), { signal: abort.signal }).then(
      (res) => res.body?.cancel(),
      () => undefined,
    );
    await eventually(async () => (await workerCalls()) - before >= 8, 30_000);
    abort.abort();
    await pending;
    // The calls stop growing, well short of the whole pipeline.
    let last = -1;
    let now = (await workerCalls()) - before;
    const until = Date.now() + 30_000;
    while (now !== last && Date.now() < until) {
      last = now;
      await sleep(500);
      now = (await workerCalls()) - before;
    }
    expect(now).toBe(last);
    expect(now).toBeLessThanOrEqual(4 * ALL_SHARDS.length);
  });
});
