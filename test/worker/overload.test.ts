// Overload ends in a shed request with Retry-After, never a 500 or a hang (issue 14): the front door
// per capability, and admission control in front of each object, configured tiny so that a handful
// of concurrent requests exceed them. The requests go through the app with an env of their own.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import app from "../../src/index";
import { guardStatus, shardGuardName } from "../../src/services/do-guard";
import { ALL_SHARDS, call, replicasOf, setFault } from "./helpers";

const waits: Promise<unknown>[] = [];
const ctx = { waitUntil: (p: Promise<unknown>) => void waits.push(p.catch(() => undefined)), passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;

describe("the front door", () => {
  it("beyond its limit, requests are refused at once with 503 + Retry-After (BUSY on /redis), the others answer, and nothing is half done", async () => {
    const tight = { ...env, FRONT_DOOR_INITIAL_LIMIT: "3", FRONT_DOOR_MAX_LIMIT: "3" };
    const incr = () => app.request("/redis", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(["INCR", "front-door-ctr"]) }, tight, ctx);
    const answers = await Promise.all(Array.from({ length: 12 }, async () => {
      const res = await incr();
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as { result?: number; error?: string } };
    }));
    const ok = answers.filter((a) => a.status === 200);
    const shed = answers.filter((a) => a.status !== 200);
    expect(ok.length).toBeGreaterThanOrEqual(3);
    expect(shed.length).toBeGreaterThan(0);
    for (const s of shed) expect(s).toMatchObject({ status: 503, retryAfter: "1", body: { error: expect.stringMatching(/^BUSY/) } });
    // Exactly the admitted increments happened.
    await Promise.all(waits);
    const get = await app.request("/redis", { method: "POST", body: JSON.stringify(["GET", "front-door-ctr"]) }, env, ctx);
    expect(((await get.json()) as { result: string }).result).toBe(String(ok.length));
  });

  it("routes outside the gated capabilities (health, metrics) are never refused", async () => {
    const closed = { ...env, FRONT_DOOR_INITIAL_LIMIT: "1", FRONT_DOOR_MAX_LIMIT: "1" };
    const statuses = await Promise.all(Array.from({ length: 8 }, async () => (await app.request("/healthz", {}, closed, ctx)).status));
    expect(statuses.every((s) => s === 200)).toBe(true);
  });
});

describe("admission control in front of each object", () => {
  it("calls beyond an object's limit and queue are shed: the request answers 503 overloaded with Retry-After, and no breaker opens", async () => {
    const tiny = { ...env, ADMISSION_INITIAL_LIMIT: "1", ADMISSION_MIN_LIMIT: "1", ADMISSION_MAX_LIMIT: "1", ADMISSION_MAX_QUEUE: "0" };
    const answers = await Promise.all(Array.from({ length: 16 }, async (_, i) => {
      const res = await app.request(`/cache/shed-${i % 4}`, { method: "PUT", body: "v" }, tiny, ctx);
      return { status: res.status, retryAfter: res.headers.get("retry-after"), code: res.status === 200 ? null : ((await res.json()) as { error: { code: string } }).error.code };
    }));
    const shed = answers.filter((a) => a.status !== 200);
    expect(shed.length).toBeGreaterThan(0);
    for (const s of shed) expect(s).toMatchObject({ status: 503, code: "overloaded" });
    for (const s of shed) expect(Number(s.retryAfter)).toBeGreaterThanOrEqual(1);
    await Promise.all(waits);
    for (const s of ALL_SHARDS) expect(guardStatus(shardGuardName(s)).status).toBe("closed");
  });
});

describe("a replica down under a read-modify-write", () => {
  it("is the cluster's trouble, not the client's: 503 with Retry-After (nothing applied), and the next INCR after healing applies once", async () => {
    const key = "rmw-replica-down";
    const [first] = await replicasOf(key);
    await setFault(first!, "down");
    try {
      const res = await call("/redis", { method: "POST", body: JSON.stringify(["INCR", key]) });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(((await res.json()) as { error: string }).error).toMatch(/^ERR .*did not vote/);
    } finally {
      await setFault(first!, "healthy");
    }
    const again = await call("/redis", { method: "POST", body: JSON.stringify(["INCR", key]) });
    expect(await again.json()).toEqual({ result: 1 });
  });
});
