// The Redis endpoint driven by the official @upstash/redis client, unchanged and with its defaults
// (auto-pipelining, base64 responses, read-your-writes), against `npm run dev`.
import { Redis } from "@upstash/redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { summarize } from "../support/uncaught-guard";
import { startDevServer, type DevServer } from "./dev-server";

let server: DevServer;
let redis: Redis;
const TOKEN = "dev-admin-token"; // .dev.vars.example: the admin token (FLUSHDB needs it); data routes are open locally

beforeAll(async () => {
  server = await startDevServer();
  redis = new Redis({ url: `${server.url}/redis`, token: TOKEN });
});
afterAll(async () => {
  await server?.stop();
});
// No call may end in an exception in the server (test/support/uncaught-guard.ts).
afterEach(() => {
  const unexpected = server.newUnexpectedExceptions();
  expect(unexpected, summarize(unexpected)).toEqual([]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("@upstash/redis against the cluster", () => {
  it("PING, ECHO, SET/GET with strings, numbers, JSON objects, emoji and binary-looking text", async () => {
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.echo("hello")).toBe("hello");
    expect(await redis.set("s:plain", "hello world")).toBe("OK");
    expect(await redis.get("s:plain")).toBe("hello world");
    await redis.set("s:num", 42);
    expect(await redis.get("s:num")).toBe(42);
    await redis.set("s:obj", { name: "Ada", tags: ["x", "y"], n: 1.5 });
    expect(await redis.get("s:obj")).toEqual({ name: "Ada", tags: ["x", "y"], n: 1.5 });
    await redis.set("s:emoji", "héllo 🌍 中文");
    expect(await redis.get("s:emoji")).toBe("héllo 🌍 中文");
    const bin = "\u0000\u0001\u00ff binary";
    await redis.set("s:bin", bin);
    expect(await redis.get("s:bin")).toBe(bin);
    expect(await redis.get("s:missing")).toBeNull();
  });

  it("SET options: NX, XX, GET, EX, PX, KEEPTTL; SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX", async () => {
    expect(await redis.set("o:k", "1", { nx: true })).toBe("OK");
    expect(await redis.set("o:k", "2", { nx: true })).toBeNull();
    expect(await redis.set("o:k", "3", { xx: true })).toBe("OK");
    expect(await redis.set("o:absent", "x", { xx: true })).toBeNull();
    expect(await redis.set("o:k", "4", { get: true })).toBe(3);
    await redis.set("o:ttl", "v", { ex: 100 });
    expect(await redis.ttl("o:ttl")).toBeGreaterThan(90);
    await redis.set("o:ttl", "w", { keepTtl: true });
    expect(await redis.ttl("o:ttl")).toBeGreaterThan(90);
    await redis.set("o:px", "v", { px: 100_000 });
    expect(await redis.pttl("o:px")).toBeGreaterThan(90_000);
    expect(await redis.setnx("o:nx", "a")).toBe(1);
    expect(await redis.setnx("o:nx", "b")).toBe(0);
    expect(await redis.setex("o:ex", 100, "v")).toBe("OK");
    expect(await redis.psetex("o:pex", 100_000, "v")).toBe("OK");
    expect(await redis.getset("o:nx", "c")).toBe("a");
    expect(await redis.getdel("o:nx")).toBe("c");
    expect(await redis.get("o:nx")).toBeNull();
    await redis.set("o:getex", "v");
    expect(await redis.getex("o:getex", { ex: 50 })).toBe("v");
    expect(await redis.ttl("o:getex")).toBeGreaterThan(40);
  });

  it("TTL expiry: a key set with PX disappears", async () => {
    // Long enough for a loaded machine to read it back first; then awaited until it has expired.
    await redis.set("t:short", "v", { px: 2000 });
    expect(await redis.get("t:short")).toBe("v");
    const until = Date.now() + 15_000;
    while ((await redis.get("t:short")) !== null && Date.now() < until) await sleep(100);
    expect(await redis.get("t:short")).toBeNull();
    expect(await redis.ttl("t:short")).toBe(-2);
  });

  it("MGET, MSET, MSETNX (atomic), DEL, UNLINK, EXISTS, TOUCH, TYPE", async () => {
    expect(await redis.mset({ "m:a": "1", "m:b": "2", "m:c": "3" })).toBe("OK");
    expect(await redis.mget("m:a", "m:b", "m:zz")).toEqual([1, 2, null]);
    expect(await redis.msetnx({ "m:a": "x", "m:new": "y" })).toBe(0);
    expect(await redis.get("m:new")).toBeNull();
    expect(await redis.msetnx({ "m:new": "y", "m:new2": "z" })).toBe(1);
    expect(await redis.exists("m:a", "m:b", "m:nope")).toBe(2);
    expect(await redis.touch("m:a", "m:nope")).toBe(1);
    expect(await redis.type("m:a")).toBe("string");
    expect(await redis.type("m:nope")).toBe("none");
    expect(await redis.del("m:a", "m:b", "m:nope")).toBe(2);
    expect(await redis.unlink("m:c")).toBe(1);
    expect(await redis.exists("m:a")).toBe(0);
  });

  it("EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX/XX/GT/LT, TTL, PTTL, PERSIST", async () => {
    await redis.set("e:k", "v");
    expect(await redis.ttl("e:k")).toBe(-1);
    expect(await redis.expire("e:k", 100, "XX")).toBe(0);
    expect(await redis.expire("e:k", 100, "NX")).toBe(1);
    expect(await redis.expire("e:k", 50, "GT")).toBe(0);
    expect(await redis.expire("e:k", 200, "GT")).toBe(1);
    expect(await redis.pexpire("e:k", 150_000, "LT")).toBe(1);
    expect(await redis.pttl("e:k")).toBeLessThanOrEqual(150_000);
    const at = Math.floor(Date.now() / 1000) + 300;
    expect(await redis.expireat("e:k", at)).toBe(1);
    expect(await redis.ttl("e:k")).toBeGreaterThan(250);
    expect(await redis.pexpireat("e:k", Date.now() + 400_000)).toBe(1);
    expect(await redis.persist("e:k")).toBe(1);
    expect(await redis.ttl("e:k")).toBe(-1);
    expect(await redis.expire("e:absent", 10)).toBe(0);
  });

  it("INCR, INCRBY, INCRBYFLOAT, DECR, DECRBY, APPEND, STRLEN, GETRANGE, SETRANGE", async () => {
    expect(await redis.incr("n:c")).toBe(1);
    expect(await redis.incrby("n:c", 10)).toBe(11);
    expect(await redis.decr("n:c")).toBe(10);
    expect(await redis.decrby("n:c", 4)).toBe(6);
    expect(await redis.incrbyfloat("n:f", 1.5)).toBe(1.5);
    expect(await redis.incrbyfloat("n:f", 2)).toBe(3.5);
    expect(await redis.append("n:s", "Hello")).toBe(5);
    expect(await redis.append("n:s", " World")).toBe(11);
    expect(await redis.strlen("n:s")).toBe(11);
    expect(await redis.getrange("n:s", 0, 4)).toBe("Hello");
    expect(await redis.getrange("n:s", -5, -1)).toBe("World");
    expect(await redis.setrange("n:s", 6, "Redis")).toBe(11);
    expect(await redis.get("n:s")).toBe("Hello Redis");
    expect(await redis.strlen("n:emoji")).toBe(0);
    await redis.set("n:emoji", "🌍");
    expect(await redis.strlen("n:emoji")).toBe(4);
  });

  it("hashes: HSET, HGET, HMGET, HGETALL, HDEL, HEXISTS, HINCRBY, HLEN, HKEYS, HVALS", async () => {
    expect(await redis.hset("h:user", { name: "Ada", age: 36 })).toBe(2);
    expect(await redis.hget("h:user", "name")).toBe("Ada");
    expect(await redis.hmget("h:user", "name", "nope")).toEqual({ name: "Ada", nope: null });
    expect(await redis.hgetall("h:user")).toEqual({ name: "Ada", age: 36 });
    expect(await redis.hexists("h:user", "age")).toBe(1);
    expect(await redis.hincrby("h:user", "age", 1)).toBe(37);
    expect(await redis.hlen("h:user")).toBe(2);
    expect((await redis.hkeys("h:user")).sort()).toEqual(["age", "name"]);
    expect((await redis.hvals("h:user")).length).toBe(2);
    expect(await redis.hdel("h:user", "age", "nope")).toBe(1);
    expect(await redis.type("h:user")).toBe("hash");
  });

  it("errors carry Redis's own texts: WRONGTYPE, not an integer, unknown and unsupported commands", async () => {
    await redis.hset("err:h", { f: "v" });
    await expect(redis.get("err:h")).rejects.toThrow(/WRONGTYPE Operation against a key holding the wrong kind of value/);
    await redis.set("err:s", "abc");
    await expect(redis.incr("err:s")).rejects.toThrow(/ERR value is not an integer or out of range/);
    await expect(redis.hget("err:s", "f")).rejects.toThrow(/WRONGTYPE/);
    await expect(redis.xadd("err:x", "*", { f: "v" })).rejects.toThrow(/unsupported command 'xadd'/);
  });

  it("pipelines: one result per command, failures do not stop the others", async () => {
    const p = redis.pipeline();
    p.set("p:a", "1");
    p.incr("p:a");
    p.hset("p:h", { f: "v" });
    p.incr("p:h");
    p.get("p:a");
    const out = await p.exec({ keepErrors: true });
    expect(out.map((r) => r.error ?? null)).toEqual([null, null, null, expect.stringMatching(/WRONGTYPE/), null]);
    expect(out[4]!.result).toBe(2);
  });

  it("auto-pipelining: many concurrent commands, answered in order", async () => {
    const n = 50;
    await Promise.all(Array.from({ length: n }, (_, i) => redis.set(`ap:${i}`, i)));
    const got = await Promise.all(Array.from({ length: n }, (_, i) => redis.get<number>(`ap:${i}`)));
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it("multi(): a transaction across shards commits all or nothing", async () => {
    const tx = redis.multi();
    tx.set("x:a", "1");
    tx.set("x:b", "2");
    tx.incr("x:counter");
    tx.hset("x:h", { f: "v" });
    expect(await tx.exec()).toEqual(["OK", "OK", 1, 1]);
    expect(await redis.mget("x:a", "x:b", "x:counter")).toEqual([1, 2, 1]);
  });

  it("SCAN walks every shard with MATCH and COUNT; KEYS and DBSIZE see the same keys; FLUSHDB needs the admin token", async () => {
    await redis.mset(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`scan:${i}`, i])));
    const seen = new Set<string>();
    let cursor: string | number = 0;
    do {
      const [next, keys]: [string | number, string[]] = await redis.scan(cursor, { match: "scan:*", count: 7 });
      for (const k of keys) seen.add(k);
      cursor = next;
    } while (String(cursor) !== "0");
    expect(seen.size).toBe(30);
    expect((await redis.keys("scan:*")).length).toBe(30);
    expect(await redis.dbsize()).toBeGreaterThanOrEqual(30);
    const anon = new Redis({ url: `${server.url}/redis`, token: "not-the-admin" });
    await expect(anon.flushdb()).rejects.toThrow(/admin token/);
    expect(await redis.flushdb()).toBe("OK");
    expect(await redis.dbsize()).toBe(0);
  });

  it("the REST protocol itself: path form, base64, sync token, nil as null, and a clean 4xx for garbage", async () => {
    const path = await fetch(`${server.url}/redis/set/rest:k/hello`);
    expect(await path.json()).toEqual({ result: "OK" });
    const get = await fetch(`${server.url}/redis/get/rest:k`);
    expect(await get.json()).toEqual({ result: "hello" });
    const b64 = await fetch(`${server.url}/redis`, { method: "POST", headers: { "upstash-encoding": "base64" }, body: JSON.stringify(["GET", "rest:k"]) });
    expect(await b64.json()).toEqual({ result: btoa("hello") });
    const w1 = await fetch(`${server.url}/redis`, { method: "POST", body: JSON.stringify(["SET", "rest:k", "a"]) });
    const w2 = await fetch(`${server.url}/redis`, { method: "POST", body: JSON.stringify(["SET", "rest:k", "b"]) });
    expect(w1.headers.get("upstash-sync-token")).toBeTruthy();
    expect(w2.headers.get("upstash-sync-token")).not.toBe(w1.headers.get("upstash-sync-token"));
    const nil = await fetch(`${server.url}/redis`, { method: "POST", body: JSON.stringify(["GET", "rest:none"]) });
    expect(await nil.json()).toEqual({ result: null });
    const arity = await fetch(`${server.url}/redis`, { method: "POST", body: JSON.stringify(["GET"]) });
    expect(arity.status).toBe(400);
    expect(await arity.json()).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
    for (const body of ["not json", "{}", "[]", "[[1]]", '[{"a":1}]']) {
      const res = await fetch(`${server.url}/redis`, { method: "POST", body });
      expect(res.status, body).toBe(400);
      expect(typeof ((await res.json()) as { error: unknown }).error).toBe("string");
    }
  });
});

describe("@upstash/redis: hash-field TTLs, HRANDFIELD, RANDOMKEY, COPY, SCAN withType", () => {
  it("hexpire, httl, hpersist, hgetex, hsetex, hgetdel answer the shapes the client parses", async () => {
    expect(await redis.hset("ft:h", { a: "1", b: "2" })).toBe(2);
    expect(await redis.hexpire("ft:h", ["a", "zz"], 100)).toEqual([1, -2]);
    expect(await redis.hexpire("ft:h", "a", 50, "GT")).toEqual([0]);
    const [ttlA, ...rest] = (await redis.httl("ft:h", ["a", "b", "zz"])) as number[];
    expect(rest).toEqual([-1, -2]);
    expect(ttlA).toBeGreaterThan(0);
    expect(ttlA).toBeLessThanOrEqual(100);
    expect(await redis.hpersist("ft:h", ["a", "b"])).toEqual([1, -1]);
    expect(await redis.hsetex("ft:h", { expiration: { px: 60_000 } }, { c: "3" })).toBe(1);
    expect(await redis.hsetex("ft:h", { conditional: "FNX" }, { c: "x" })).toBe(0);
    const pttl = (await redis.hpttl("ft:h", "c")) as number[];
    expect(pttl[0]).toBeGreaterThan(0);
    expect(pttl[0]).toBeLessThanOrEqual(60_000);
    expect(await redis.hgetex("ft:h", { ex: 30 }, "a", "zz")).toEqual({ a: 1, zz: null });
    const [ttl30] = (await redis.httl("ft:h", "a")) as number[];
    expect(ttl30).toBeGreaterThan(0);
    expect(ttl30).toBeLessThanOrEqual(30);
    expect(await redis.hgetex("ft:h", { persist: true }, "a")).toEqual({ a: 1 });
    expect(await redis.hexpireat("ft:h", "b", 1)).toEqual([2]);
    expect(await redis.hgetall("ft:h")).toEqual({ a: 1, c: 3 });
    expect(await redis.hgetdel("ft:h", "a", "c")).toEqual({ a: 1, c: 3 });
    expect(await redis.exists("ft:h")).toBe(0);
  });

  it("hrandfield with and without a count and values; randomkey answers a key that exists", async () => {
    await redis.hset("rf:h", { a: "1", b: "2", c: "3" });
    expect(["a", "b", "c"]).toContain(await redis.hrandfield("rf:h"));
    const two = (await redis.hrandfield("rf:h", 2)) as string[];
    expect(new Set(two).size).toBe(2);
    const withValues = (await redis.hrandfield("rf:h", 5, true)) as Record<string, unknown>;
    expect(withValues).toEqual({ a: 1, b: 2, c: 3 });
    expect(((await redis.hrandfield("rf:h", -6)) as string[]).length).toBe(6);
    const key = await redis.randomkey();
    expect(typeof key).toBe("string");
    expect(await redis.exists(key as string)).toBe(1);
  });

  it("copy maps 1/0 to COPIED/NOT_COPIED for hashes, lists and sets; scan withType pairs keys with their types", async () => {
    await redis.hset("cw:h", { f: "v" });
    await redis.rpush("cw:l", "a", "b");
    await redis.sadd("cw:s", "m");
    for (const k of ["cw:h", "cw:l", "cw:s"]) expect(await redis.copy(k, `${k}2`)).toBe("COPIED");
    expect(await redis.copy("cw:l", "cw:l2")).toBe("NOT_COPIED");
    expect(await redis.copy("cw:l", "cw:l2", { replace: true })).toBe("COPIED");
    await redis.rpush("cw:l", "c");
    expect(await redis.lrange("cw:l2", 0, -1)).toEqual(["a", "b"]);
    const found: { key: string; type: string }[] = [];
    let cursor = "0";
    do {
      const [next, page] = await redis.scan(cursor, { match: "cw:*", count: 1000, withType: true });
      found.push(...page);
      cursor = String(next);
    } while (cursor !== "0");
    expect(found.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: "cw:h", type: "hash" },
      { key: "cw:h2", type: "hash" },
      { key: "cw:l", type: "list" },
      { key: "cw:l2", type: "list" },
      { key: "cw:s", type: "set" },
      { key: "cw:s2", type: "set" },
    ]);
    const lists: string[] = [];
    cursor = "0";
    do {
      const [next, page] = await redis.scan(cursor, { match: "cw:*", count: 1000, type: "list" });
      lists.push(...page);
      cursor = String(next);
    } while (cursor !== "0");
    expect(lists.sort()).toEqual(["cw:l", "cw:l2"]);
  });
});
