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
