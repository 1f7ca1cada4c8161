// The Redis endpoint's protocol edges inside workerd: auth with a configured token (Bearer or
// ?_token=), limits with their error texts, and garbage that must get a clean 4xx, never a 500.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import app from "../../src/index";
import { mulberry32 } from "../support/prng";
import { call } from "./helpers";

const ctx = { waitUntil: () => undefined, passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;
const withToken = { ...env, API_TOKEN: "redis-secret" };
const post = (path: string, body: string, headers: Record<string, string> = {}) => call(path, { method: "POST", headers, body });

describe("auth when API_TOKEN is configured", () => {
  it("a missing or wrong token is 401 WRONGPASS; the right one as Bearer or ?_token= works; the admin token works too", async () => {
    const cmd = JSON.stringify(["PING"]);
    const missing = await app.request("/redis", { method: "POST", body: cmd }, withToken, ctx);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: "WRONGPASS invalid or missing auth token" });
    const wrong = await app.request("/redis", { method: "POST", body: cmd, headers: { authorization: "Bearer nope" } }, withToken, ctx);
    expect(wrong.status).toBe(401);
    const bearer = await app.request("/redis", { method: "POST", body: cmd, headers: { authorization: "Bearer redis-secret" } }, withToken, ctx);
    expect(await bearer.json()).toEqual({ result: "PONG" });
    const query = await app.request("/redis/ping?_token=redis-secret", {}, withToken, ctx);
    expect(await query.json()).toEqual({ result: "PONG" });
    const admin = await app.request("/redis/ping", { headers: { authorization: "Bearer test-admin-token" } }, withToken, ctx);
    expect(await admin.json()).toEqual({ result: "PONG" });
  });
});

describe("limits, with Upstash-like texts", () => {
  it("a key over 512 bytes, a value over 1 MiB, a pipeline over 1,000 commands", async () => {
    const longKey = await post("/redis", JSON.stringify(["SET", "k".repeat(513), "v"]));
    expect(longKey.status).toBe(400);
    expect(await longKey.json()).toEqual({ error: "ERR max key size exceeded. Limit: 512 bytes" });
    const bigValue = await post("/redis", JSON.stringify(["SET", "k", "v".repeat(1024 * 1024 + 1)]));
    expect(await bigValue.json()).toEqual({ error: "ERR max value size exceeded. Limit: 1048576 bytes" });
    const many = await post("/redis/pipeline", JSON.stringify(Array.from({ length: 1001 }, () => ["PING"])));
    expect(many.status).toBe(400);
    expect(((await many.json()) as { error: string }).error).toMatch(/too many commands/);
  });

  it("a request over 4 MiB is refused with the size in the error", async () => {
    const res = await post("/redis", JSON.stringify(["SET", "k", "v".repeat(5 * 1024 * 1024)]));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/ERR max request size exceeded/);
  });
});

describe("garbage gets a clean 4xx (or a per-command error), never a 500", () => {
  it("random JSON and random commands on all three endpoints", async () => {
    const rng = mulberry32(20261126);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
    const atoms: unknown[] = ["", "x", "GET", "set", "EX", "-1", "99999999999999999999", 1.5, -3, true, null, {}, [], ["GET", "k"], "\u0000", "🌍", "hset", "incr", "scan", "0", "MATCH", "*[", "keys", "flushdb", "multi", "append"];
    const randomCommand = () => Array.from({ length: Math.floor(rng() * 6) }, () => pick(atoms));
    for (let i = 0; i < 150; i++) {
      const kind = pick(["single", "pipeline", "multi", "raw"] as const);
      const body =
        kind === "raw" ? pick(["", "[", "{}", "null", "42", '"GET"', "[[[]]]", "[1,2]"]) :
        kind === "single" ? JSON.stringify(randomCommand()) :
        JSON.stringify(Array.from({ length: 1 + Math.floor(rng() * 4) }, randomCommand));
      const path = kind === "pipeline" ? "/redis/pipeline" : kind === "multi" ? "/redis/multi-exec" : "/redis";
      const res = await post(path, body);
      expect(res.status, `${path} ${body}`).toBeLessThan(500);
      const out = (await res.json()) as unknown;
      if (res.status !== 200) expect(typeof (out as { error: unknown }).error, `${path} ${body}`).toBe("string");
    }
  });
});

describe("review findings (each failed before its fix)", () => {
  const one = async (cmd: unknown[]) => (await post("/redis", JSON.stringify(cmd))).json() as Promise<{ result?: unknown; error?: string }>;

  it("a write too big for one transaction is refused, and transactions keep working afterwards", async () => {
    const big = await one(["SETRANGE", "big-nul", "200000", "x"]);
    expect(big.error).toMatch(/as JSON/);
    expect(await one(["INCR", "after-big"])).toEqual({ result: 1 });
  });

  it("a read-modify-write keeps an absolute expiry exactly (it used to drift later on every write)", async () => {
    const at = Date.now() + 3_600_000;
    await one(["SET", "exact-ttl", "a"]);
    expect(await one(["PEXPIREAT", "exact-ttl", at])).toEqual({ result: 1 });
    for (let i = 0; i < 3; i++) await one(["APPEND", "exact-ttl", "b"]);
    expect(await one(["PEXPIRETIME", "exact-ttl"])).toEqual({ result: at });
  });

  it("MULTI with a command that cannot be queued runs nothing (EXECABORT)", async () => {
    const res = await post("/redis/multi-exec", JSON.stringify([["SET", "ea:k", "1"], ["GET"], ["SET", "ea:j", "2"]]));
    const out = (await res.json()) as { error?: string }[];
    expect(out[1]!.error).toBe("ERR wrong number of arguments for 'get' command");
    expect(out[0]!.error).toMatch(/^EXECABORT/);
    expect(await one(["EXISTS", "ea:k", "ea:j"])).toEqual({ result: 0 });
  });

  it("in a pipeline, a command over a limit gets its own error and the others run", async () => {
    const res = await post("/redis/pipeline", JSON.stringify([["SET", "pl:a", "1"], ["SET", "k".repeat(600), "x"], ["GET", "pl:a"]]));
    const out = (await res.json()) as { result?: unknown; error?: string }[];
    expect(res.status).toBe(200);
    expect(out[0]).toEqual({ result: "OK" });
    expect(out[1]!.error).toMatch(/max key size/);
    expect(out[2]).toEqual({ result: "1" });
  });

  it("a reply over the response budget is an error, not an exhausted isolate", async () => {
    await one(["SET", "wide", "w".repeat(1024 * 1024 - 10)]);
    const res = await post("/redis", JSON.stringify(["MGET", ...Array.from({ length: 40 }, () => "wide")]));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/max response size exceeded/);
  });

  it("a plain SET of a key locked by a deciding transaction waits for it instead of failing", async () => {
    const { shard, replicasOf } = await import("./helpers");
    const { coordinatorOf } = await import("./txn-support");
    for (const s of await replicasOf("set-locked")) await shard(s).txnPrepare("set-locked-txn", s, ["set-locked"], [], coordinatorOf("set-locked-txn"));
    // The holder's coordinator never heard of it: presumed abort releases the locks within ~200 ms.
    expect(await one(["SET", "set-locked", "v"])).toEqual({ result: "OK" });
    expect(await one(["GET", "set-locked"])).toEqual({ result: "v" });
  });

  it("a value stored under the hash content type that is not a hash of strings reads as a string, never a 500", async () => {
    await call("/cache/not-a-hash", { method: "PUT", headers: { "content-type": "application/vnd.durable-cluster.redis-hash+json" }, body: "null" });
    const res = await post("/redis", JSON.stringify(["HGETALL", "not-a-hash"]));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^WRONGTYPE/);
  });

  it("the empty key is a key like any other, SCAN included; a key with a lone surrogate is refused", async () => {
    expect(await one(["SET", "", "empty"])).toEqual({ result: "OK" });
    expect(await one(["GET", ""])).toEqual({ result: "empty" });
    expect((await one(["KEYS", "*"])).result).toContain("");
    expect((await one(["GET", "\ud800"])).error).toMatch(/well-formed/);
  });
});

describe("SCAN under change", () => {
  it("keys present for the whole walk are all returned, even when keys already returned are deleted meanwhile", async () => {
    const one = async (cmd: unknown[]) => (await post("/redis", JSON.stringify(cmd))).json() as Promise<{ result?: unknown; error?: string }>;
    const keys = Array.from({ length: 60 }, (_, i) => `walk:${String(i).padStart(2, "0")}`);
    await post("/redis", JSON.stringify(["MSET", ...keys.flatMap((k) => [k, "v"])]));
    const seen = new Set<string>();
    const deleted = new Set<string>();
    let cursor = "0";
    do {
      const { result } = (await one(["SCAN", cursor, "MATCH", "walk:*", "COUNT", 4])) as { result: [string, string[]] };
      for (const k of result[1]) seen.add(k);
      // Delete what this step returned: positions of the keys still to come shift.
      if (result[1].length > 0) {
        await one(["DEL", ...result[1]]);
        for (const k of result[1]) deleted.add(k);
      }
      cursor = result[0];
    } while (cursor !== "0");
    for (const k of keys) expect(seen.has(k), k).toBe(true);
    expect((await one(["SCAN", "999999999", "COUNT", 5])).error).toBe("ERR invalid cursor");
  });
});

describe("pipelines and failing replicas", () => {
  it("in a pipeline of reads, a key whose replicas are down gets its own error; the other reads answer", async () => {
    const { replicasOf, setFault } = await import("./helpers");
    await post("/redis", JSON.stringify(["SET", "pf:ok", "fine"]));
    // A key none of whose replicas is shared with pf:ok's.
    const okReplicas = new Set(await replicasOf("pf:ok"));
    let bad = "";
    for (let i = 0; !bad; i++) if ((await replicasOf(`pf:bad-${i}`)).filter((s) => okReplicas.has(s)).length === 0) bad = `pf:bad-${i}`;
    const down = await replicasOf(bad);
    for (const s of down) await setFault(s, "down");
    try {
      const res = await post("/redis/pipeline", JSON.stringify([["GET", "pf:ok"], ["GET", bad], ["STRLEN", "pf:ok"]]));
      const out = (await res.json()) as { result?: unknown; error?: string }[];
      expect(out[0]).toEqual({ result: "fine" });
      expect(out[1]!.error).toMatch(/^ERR /);
      expect(out[2]).toEqual({ result: 4 });
    } finally {
      for (const s of down) await setFault(s, "healthy");
    }
  });
});

describe("OpenAPI", () => {
  it("/openapi.json describes the Redis endpoint and the transactions", async () => {
    const doc = (await (await call("/openapi.json")).json()) as { paths: Record<string, unknown> };
    for (const path of ["/redis", "/redis/pipeline", "/redis/multi-exec", "/redis/{command}", "/txn", "/txn/{id}"]) expect(Object.keys(doc.paths), path).toContain(path);
  });
});

describe("lists and sets through the endpoint", () => {
  type Out = { result?: unknown; error?: string };
  const one = async (cmd: unknown[]) => (await post("/redis", JSON.stringify(cmd))).json() as Promise<Out>;
  const sorted = (out: Out) => [...(out.result as string[])].sort();

  it("a list is pushed, read, popped and moved between keys; an emptied list is gone", async () => {
    expect(await one(["RPUSH", "ls:l", "a", "b", "c"])).toEqual({ result: 3 });
    expect(await one(["LPUSH", "ls:l", "z"])).toEqual({ result: 4 });
    expect(await one(["LRANGE", "ls:l", 0, -1])).toEqual({ result: ["z", "a", "b", "c"] });
    expect(await one(["RPOPLPUSH", "ls:l", "ls:d"])).toEqual({ result: "c" });
    expect(await one(["LMOVE", "ls:l", "ls:l", "LEFT", "RIGHT"])).toEqual({ result: "z" });
    expect(await one(["LRANGE", "ls:l", 0, -1])).toEqual({ result: ["a", "b", "z"] });
    expect(await one(["LPOP", "ls:l", 5])).toEqual({ result: ["a", "b", "z"] });
    expect(await one(["EXISTS", "ls:l"])).toEqual({ result: 0 });
    expect(await one(["LPOP", "ls:l", 5])).toEqual({ result: null });
    expect(await one(["LRANGE", "ls:d", 0, -1])).toEqual({ result: ["c"] });
    expect(await one(["TYPE", "ls:d"])).toEqual({ result: "list" });
    expect((await one(["GET", "ls:d"])).error).toBe("WRONGTYPE Operation against a key holding the wrong kind of value");
  });

  it("sets are added to, combined across keys and stored; an empty result deletes the destination", async () => {
    expect(await one(["SADD", "ls:a", "1", "2", "3", "x"])).toEqual({ result: 4 });
    expect(await one(["SADD", "ls:b", "2", "3", "y"])).toEqual({ result: 3 });
    expect(sorted(await one(["SMEMBERS", "ls:a"]))).toEqual(["1", "2", "3", "x"]);
    expect(sorted(await one(["SINTER", "ls:a", "ls:b"]))).toEqual(["2", "3"]);
    expect(await one(["SINTERCARD", 2, "ls:a", "ls:b", "LIMIT", 1])).toEqual({ result: 1 });
    expect(await one(["SUNIONSTORE", "ls:u", "ls:a", "ls:b"])).toEqual({ result: 5 });
    expect(await one(["SCARD", "ls:u"])).toEqual({ result: 5 });
    expect(await one(["SMOVE", "ls:a", "ls:b", "x"])).toEqual({ result: 1 });
    expect(await one(["SMISMEMBER", "ls:b", "x", "1"])).toEqual({ result: [1, 0] });
    expect(await one(["SDIFFSTORE", "ls:u", "ls:a", "ls:u"])).toEqual({ result: 0 });
    expect(await one(["EXISTS", "ls:u"])).toEqual({ result: 0 });
    const popped = (await one(["SPOP", "ls:a", 10])).result as string[];
    expect([...popped].sort()).toEqual(["1", "2", "3"]);
    expect(await one(["EXISTS", "ls:a"])).toEqual({ result: 0 });
  });

  it("in a pipeline each list or set command answers in place, WRONGTYPE included", async () => {
    const res = await post("/redis/pipeline", JSON.stringify([["RPUSH", "ls:p", "a", "b"], ["SADD", "ls:ps", "m"], ["LLEN", "ls:p"], ["SPOP", "ls:p"], ["SISMEMBER", "ls:ps", "m"], ["LPOS", "ls:p", "b"]]));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      { result: 2 },
      { result: 1 },
      { result: 2 },
      { error: "WRONGTYPE Operation against a key holding the wrong kind of value" },
      { result: 1 },
      { result: 1 },
    ]);
  });

  it("a MULTI/EXEC block moves list items and set members between keys together", async () => {
    await post("/redis/pipeline", JSON.stringify([["RPUSH", "ls:ml", "a", "b"], ["SADD", "ls:ms", "m"]]));
    const res = await post("/redis/multi-exec", JSON.stringify([["LMOVE", "ls:ml", "ls:ml2", "LEFT", "LEFT"], ["SMOVE", "ls:ms", "ls:ms2", "m"], ["LRANGE", "ls:ml2", 0, -1], ["SMEMBERS", "ls:ms2"], ["EXISTS", "ls:ms"]]));
    expect(await res.json()).toEqual([{ result: "a" }, { result: 1 }, { result: ["a"] }, { result: ["m"] }, { result: 0 }]);
  });

  it("a list grown past the value-size limit is refused and left as it was", async () => {
    expect(await one(["RPUSH", "ls:big", "small"])).toEqual({ result: 1 });
    const big = "v".repeat(400 * 1024);
    expect((await one(["RPUSH", "ls:big", big, big, big])).error).toMatch(/^ERR the value of 'ls:big' would take \d+ bytes stored/);
    expect(await one(["LRANGE", "ls:big", 0, -1])).toEqual({ result: ["small"] });
  });
});

describe("bitmaps and HyperLogLog through the endpoint (binary values in storage)", () => {
  type Out = { result?: unknown; error?: string };
  const one = async (cmd: unknown[], headers: Record<string, string> = {}) => (await post("/redis", JSON.stringify(cmd), headers)).json() as Promise<Out>;
  const b64 = { "upstash-encoding": "base64" };

  it("SETBIT writes bytes that are not UTF-8; each request reads them back from the shards exactly", async () => {
    expect(await one(["SETBIT", "bm:k", 0, 1])).toEqual({ result: 0 });
    expect(await one(["SETBIT", "bm:k", 9, 1])).toEqual({ result: 0 });
    expect(await one(["SETBIT", "bm:k", 23, 1])).toEqual({ result: 0 });
    expect(await one(["SETBIT", "bm:k", 23, 1])).toEqual({ result: 1 });
    expect(await one(["GETBIT", "bm:k", 9])).toEqual({ result: 1 });
    expect(await one(["GETBIT", "bm:k", 10])).toEqual({ result: 0 });
    expect(await one(["BITCOUNT", "bm:k"])).toEqual({ result: 3 });
    expect(await one(["STRLEN", "bm:k"])).toEqual({ result: 3 });
    expect(await one(["BITPOS", "bm:k", 1, 1])).toEqual({ result: 9 });
    // 0x80 0x40 0x01: base64 carries the exact bytes; plain JSON can only carry text (0x80 -> U+FFFD).
    expect(await one(["GET", "bm:k"], b64)).toEqual({ result: btoa("\x80\x40\x01") });
    expect(await one(["GET", "bm:k"])).toEqual({ result: "\ufffd@\u0001" });
    expect(await one(["BITOP", "NOT", "bm:n", "bm:k"])).toEqual({ result: 3 });
    expect(await one(["GET", "bm:n"], b64)).toEqual({ result: btoa("\x7f\xbf\xfe") });
    expect(await one(["APPEND", "bm:k", "a"])).toEqual({ result: 4 });
    expect(await one(["GETRANGE", "bm:k", 0, 0], b64)).toEqual({ result: btoa("\x80") });
    expect(await one(["GET", "bm:k"], b64)).toEqual({ result: btoa("\x80\x40\x01a") });
  });

  it("an argument's lone surrogates U+DC80..U+DCFF are bytes: SET (the blind write too) and SETRANGE store them exactly", async () => {
    expect(await one(["SET", "bm:raw", "\udcff\udc80a"])).toEqual({ result: "OK" });
    expect(await one(["STRLEN", "bm:raw"])).toEqual({ result: 3 });
    expect(await one(["GET", "bm:raw"], b64)).toEqual({ result: btoa("\xff\x80a") });
    expect(await one(["SETRANGE", "bm:raw", 1, "\udcfe"])).toEqual({ result: 3 });
    expect(await one(["GETBIT", "bm:raw", 15])).toEqual({ result: 0 });
    expect(await one(["GET", "bm:raw"], b64)).toEqual({ result: btoa("\xff\xfea") });
  });

  it("a text value is still stored and answered as text", async () => {
    expect(await one(["SET", "bm:t", "héllo"])).toEqual({ result: "OK" });
    expect(await one(["SETBIT", "bm:t", 7, 0])).toEqual({ result: 0 });
    expect(await one(["GET", "bm:t"])).toEqual({ result: "héllo" });
    expect(await one(["GET", "bm:t"], b64)).toEqual({ result: btoa("h\xc3\xa9llo") });
  });

  it("an HLL is a string in storage; its count is Redis's", async () => {
    const elements = Array.from({ length: 1000 }, (_, i) => String(i + 1));
    expect(await one(["PFADD", "bm:h", ...elements])).toEqual({ result: 1 });
    expect(await one(["PFADD", "bm:h", "1", "2"])).toEqual({ result: 0 });
    expect(await one(["PFCOUNT", "bm:h"])).toEqual({ result: 1001 }); // redis-server 7.0.15's estimate
    expect(await one(["TYPE", "bm:h"])).toEqual({ result: "string" });
    expect(await one(["PFMERGE", "bm:m", "bm:h", "bm:none"])).toEqual({ result: "OK" });
    expect(await one(["PFCOUNT", "bm:m", "bm:h"])).toEqual({ result: 1001 });
    expect(await one(["PFADD", "bm:t", "x"])).toEqual({ error: "WRONGTYPE Key is not a valid HyperLogLog string value." });
  });
});

describe("RANDOMKEY, SCAN TYPE / WITHTYPE and COPY over every type", () => {
  type Out = { result?: unknown; error?: string };
  const one = async (cmd: unknown[]) => (await post("/redis", JSON.stringify(cmd))).json() as Promise<Out>;
  const admin = { authorization: "Bearer test-admin-token" };
  /** Writes a value through /cache with a Redis content type (a sorted set: no ZADD needed). */
  const putTyped = async (key: string, contentType: string, body: string) => {
    const res = await call(`/cache/${encodeURIComponent(key)}`, { method: "PUT", headers: { "content-type": contentType }, body });
    expect(res.status).toBe(200);
  };
  /** A whole SCAN iteration with these options: the flat key (or key, type) lists of every step. */
  const scanAll = async (...options: unknown[]) => {
    const out: string[] = [];
    let cursor = "0";
    do {
      const step = (await one(["SCAN", cursor, "COUNT", 1000, ...options])).result as [string, string[]];
      out.push(...step[1]);
      cursor = step[0];
    } while (cursor !== "0");
    return out;
  };
  const pairs = (flat: string[]) => Array.from({ length: flat.length / 2 }, (_, i) => `${flat[2 * i]}=${flat[2 * i + 1]}`).sort();

  it("RANDOMKEY answers nil on an empty database, then only keys that exist, each of them in time", async () => {
    expect((await post("/redis", JSON.stringify(["FLUSHDB"]), admin).then((r) => r.json()))).toEqual({ result: "OK" });
    expect(await one(["RANDOMKEY"])).toEqual({ result: null });
    const keys = ["rk:a", "rk:b", "rk:c"];
    for (const k of keys) expect(await one(["SET", k, "v"])).toEqual({ result: "OK" });
    const seen = new Set<string>();
    // Each call starts at a random shard (1 in 8 lands before any given key's): 200 calls miss a key with odds ~(7/8)^200.
    for (let i = 0; i < 200 && seen.size < keys.length; i++) {
      const { result } = await one(["RANDOMKEY"]);
      expect(keys).toContain(result);
      seen.add(result as string);
    }
    expect([...seen].sort()).toEqual(keys);
    expect((await one(["RANDOMKEY", "x"])).error).toBe("ERR wrong number of arguments for 'randomkey' command");
  });

  it("several RANDOMKEYs fit in one pipeline (each reads at most a page per shard, not a walk)", async () => {
    const res = await post("/redis/pipeline", JSON.stringify([["RANDOMKEY"], ["RANDOMKEY"], ["RANDOMKEY"], ["KEYS", "rk:*"]]));
    expect(res.status).toBe(200);
    const out = (await res.json()) as Out[];
    for (const o of out.slice(0, 3)) expect(["rk:a", "rk:b", "rk:c"]).toContain(o.result);
    expect((out[3]!.result as string[]).sort()).toEqual(["rk:a", "rk:b", "rk:c"]);
  });

  it("SCAN TYPE finds each type, and WITHTYPE (what @upstash/redis sends for withType) pairs each key with its type", async () => {
    const { HASH_TTL_CONTENT_TYPE, ZSET_CONTENT_TYPE } = await import("../../src/core/redis/types");
    await post("/redis", JSON.stringify(["FLUSHDB"]), admin);
    expect(await one(["SET", "ty:s", "v"])).toEqual({ result: "OK" });
    expect(await one(["HSET", "ty:h", "f", "v"])).toEqual({ result: 1 });
    expect(await one(["RPUSH", "ty:l", "a"])).toEqual({ result: 1 });
    expect(await one(["SADD", "ty:set", "m"])).toEqual({ result: 1 });
    await putTyped("ty:z", ZSET_CONTENT_TYPE, JSON.stringify([["m", 1.5]]));
    // A hash whose every field has expired is stored until written again, but no longer exists.
    await putTyped("ty:gone", HASH_TTL_CONTENT_TYPE, JSON.stringify({ fields: { f: "v" }, expires: { f: 1000 } }));
    expect(await one(["TYPE", "ty:z"])).toEqual({ result: "zset" });
    expect(await one(["TYPE", "ty:gone"])).toEqual({ result: "none" });
    for (const [type, key] of [["string", "ty:s"], ["hash", "ty:h"], ["list", "ty:l"], ["set", "ty:set"], ["zset", "ty:z"]] as const) {
      expect(await scanAll("TYPE", type), type).toEqual([key]);
      expect(await scanAll("TYPE", type.toUpperCase()), type).toEqual([key]);
    }
    expect(await scanAll("TYPE", "stream")).toEqual([]);
    expect(pairs(await scanAll("WITHTYPE"))).toEqual(["ty:h=hash", "ty:l=list", "ty:s=string", "ty:set=set", "ty:z=zset"]);
    expect(pairs(await scanAll("MATCH", "ty:s*", "WITHTYPE"))).toEqual(["ty:s=string", "ty:set=set"]);
    expect((await one(["SCAN", 0, "WITHTYPE", "x"])).error).toBe("ERR syntax error");
  });

  it("COPY deep-copies every type (the source changing later leaves the copy alone), field TTLs included; 1 or 0 as @upstash/redis expects", async () => {
    const { ZSET_CONTENT_TYPE } = await import("../../src/core/redis/types");
    await putTyped("cp:z", ZSET_CONTENT_TYPE, JSON.stringify([["m", 1]]));
    expect(await one(["RPUSH", "cp:l", "a"])).toEqual({ result: 1 });
    expect(await one(["SADD", "cp:s", "a"])).toEqual({ result: 1 });
    expect(await one(["HSET", "cp:h", "a", "1", "b", "2"])).toEqual({ result: 2 });
    expect(await one(["HEXPIRE", "cp:h", 1000, "FIELDS", 1, "a"])).toEqual({ result: [1] });
    const expiresAt = (await one(["HPEXPIRETIME", "cp:h", "FIELDS", 1, "a"])).result as number[];
    for (const k of ["cp:z", "cp:l", "cp:s", "cp:h"]) expect(await one(["COPY", k, `${k}2`])).toEqual({ result: 1 });
    expect(await one(["COPY", "cp:l", "cp:l2"])).toEqual({ result: 0 });
    expect(await one(["COPY", "cp:nope", "cp:x"])).toEqual({ result: 0 });
    expect(await one(["RPUSH", "cp:l", "b"])).toEqual({ result: 2 });
    expect(await one(["SADD", "cp:s", "b"])).toEqual({ result: 1 });
    expect(await one(["HPERSIST", "cp:h", "FIELDS", 1, "a"])).toEqual({ result: [1] });
    expect(await one(["LRANGE", "cp:l2", 0, -1])).toEqual({ result: ["a"] });
    expect(await one(["SMEMBERS", "cp:s2"])).toEqual({ result: ["a"] });
    expect(await one(["TYPE", "cp:z2"])).toEqual({ result: "zset" });
    expect(await one(["HPEXPIRETIME", "cp:h2", "FIELDS", 2, "a", "b"])).toEqual({ result: [expiresAt[0], -1] });
    expect(await one(["HTTL", "cp:h", "FIELDS", 1, "a"])).toEqual({ result: [-1] });
  });

  it("hash-field TTLs through the endpoint: HSETEX, HGETEX, HGETDEL; a field whose time has passed is gone", async () => {
    expect(await one(["HSETEX", "ft:h", "PX", 100_000, "FIELDS", 2, "a", "1", "b", "2"])).toEqual({ result: 1 });
    expect(await one(["HGETEX", "ft:h", "PERSIST", "FIELDS", 1, "a"])).toEqual({ result: ["1"] });
    const ttl = (await one(["HPTTL", "ft:h", "FIELDS", 2, "a", "b"])).result as number[];
    expect(ttl[0]).toBe(-1);
    expect(ttl[1]).toBeGreaterThan(0);
    expect(ttl[1]).toBeLessThanOrEqual(100_000);
    expect(await one(["HPEXPIREAT", "ft:h", 1000, "FIELDS", 1, "b"])).toEqual({ result: [2] });
    expect(await one(["HGETDEL", "ft:h", "FIELDS", 2, "a", "b"])).toEqual({ result: ["1", null] });
    expect(await one(["EXISTS", "ft:h"])).toEqual({ result: 0 });
    expect(await one(["HRANDFIELD", "ft:h"])).toEqual({ result: null });
  });
});

describe("sorted sets through the endpoint", () => {
  const one = async (cmd: unknown[]) => (await post("/redis", JSON.stringify(cmd))).json() as Promise<{ result?: unknown; error?: string }>;

  it("ZADD stores scores that ZRANGE WITHSCORES replies as Redis 7.0 prints them, in (score, member) order", async () => {
    expect(await one(["ZADD", "zs:k", 0.1, "a", "inf", "b", 1e20, "c", 1, "d", 1, "c0"])).toEqual({ result: 5 });
    expect(await one(["ZRANGE", "zs:k", 0, -1, "WITHSCORES"])).toEqual({ result: ["a", "0.10000000000000001", "c0", "1", "d", "1", "c", "1e+20", "b", "inf"] });
    expect(await one(["ZADD", "zs:k", "XX", "NX", 1, "a"])).toEqual({ error: "ERR XX and NX options at the same time are not compatible" });
    expect(await one(["ZPOPMAX", "zs:k", 4])).toEqual({ result: ["b", "inf", "c", "1e+20", "d", "1", "c0", "1"] });
    expect(await one(["ZPOPMIN", "zs:k"])).toEqual({ result: ["a", "0.10000000000000001"] });
    expect(await one(["EXISTS", "zs:k"])).toEqual({ result: 0 });
  });
});
