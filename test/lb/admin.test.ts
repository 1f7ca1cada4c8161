// Issue 6, "Pools and proxying": the admin API of pools — normalization with defaults, versions,
// validation with clear 400s naming the field, 404s, delete — and the shape of /lb/pools/{pool}.
import { describe, expect, it } from "vitest";
import { ADMIN, eventually, setupLb, type ErrorBody, type PoolConfig, type PoolStatus } from "./harness";

const lb = setupLb(["a", "b"] as const);

async function expect400(name: string, body: unknown, field: RegExp): Promise<void> {
  const res = await lb.putPoolRaw(name, body);
  const text = await res.text();
  expect(res.status, text).toBe(400);
  const err = JSON.parse(text) as ErrorBody;
  expect(err.error.code).toBe("invalid_request");
  expect(err.error.message, "the message names the field").toMatch(field);
}

describe("PUT /admin/lb/pools/{pool}", () => {
  it("fills every default of the contract and starts at a version", async () => {
    const pool = lb.pool("defaults");
    const view = await lb.putPool(pool, { upstreams: [{ url: lb.up.a.url }, { url: `${lb.up.b.url}/base` }] });
    expect(view.pool).toBe(pool);
    expect(view.version).toEqual(expect.any(Number));
    const expected: PoolConfig = {
      algorithm: "round-robin",
      upstreams: [
        { id: "u0", url: lb.up.a.url, weight: 1, maxInFlight: null },
        { id: "u1", url: `${lb.up.b.url}/base`, weight: 1, maxInFlight: null },
      ],
      affinity: { header: null, cookie: null },
      healthCheck: null,
      phiThreshold: 8,
      healthyPanicThreshold: 50,
      outlier: { consecutive5xx: 5, consecutiveGatewayFailure: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50, countServerErrors: true, minFailingPaths: 3, blameWindowMs: 30_000 },
      breaker: { consecutiveFailures: 5, failureRateThreshold: 0.5, minimumRequests: 20, windowMs: 10_000, openMs: 5000, halfOpenMaxProbes: 1, successThreshold: 1 },
      retry: { attempts: 3, retryOn: [502, 503, 504], nonIdempotent: false, perTryTimeoutMs: 5000, deadlineMs: 15_000, budgetPercent: 20, minRetriesPerSecond: 10 },
      forward: { authorization: false, cookie: false, setCookie: false },
    };
    expect(view.config).toEqual(expected);
  });

  it("a health check given as {} gets the default path, interval, timeout, status and rise/fall", async () => {
    const view = await lb.putPool(lb.pool("hc-defaults"), { upstreams: lb.upstreams("a"), healthCheck: {} });
    expect(view.config.healthCheck).toEqual({ path: "/health", intervalMs: 5000, timeoutMs: 1000, expectedStatus: 200, rise: 2, fall: 3 });
  });

  it("GET returns what PUT stored; a second PUT replaces it with a higher version", async () => {
    const pool = lb.pool("versions");
    const first = await lb.putPool(pool, { upstreams: lb.upstreams("a") });
    const got = await lb.admin("GET", `/admin/lb/pools/${pool}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(first);
    const second = await lb.putPool(pool, { algorithm: "least-connections", upstreams: lb.upstreams("a", "b") });
    expect(second.version).toBeGreaterThan(first.version);
    expect(second.config.algorithm).toBe("least-connections");
    expect(second.config.upstreams.map((u) => u.id)).toEqual(["a", "b"]);
  });

  it("a new config reaches the proxy within the state TTL", async () => {
    const pool = lb.pool("switch");
    await lb.putPool(pool, { upstreams: lb.upstreams("a") });
    expect((await lb.hit(pool)).upstream).toBe("a");
    await lb.putPool(pool, { upstreams: lb.upstreams("b") });
    await eventually("the proxy uses the new upstream", async () => (await lb.hit(pool)).upstream === "b", 5000);
  });

  it("rejects bad upstream URLs", async () => {
    const pool = lb.pool("bad-url");
    for (const url of ["not a url", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1:1/", `${lb.up.a.url}/?q=1`, `${lb.up.a.url}/#frag`, ""]) {
      await expect400(pool, { upstreams: [{ url }] }, /url/i);
    }
  });

  it("rejects weights <= 0 and weights that are not numbers", async () => {
    const pool = lb.pool("bad-weight");
    for (const weight of [0, -1, "2", null]) await expect400(pool, { upstreams: [{ url: lb.up.a.url, weight }] }, /weight/i);
  });

  it("rejects an unknown algorithm", async () => {
    await expect400(lb.pool("bad-algo"), { algorithm: "fastest-first", upstreams: lb.upstreams("a") }, /algorithm/i);
  });

  it("rejects an empty pool, a missing upstream list and more than 64 upstreams", async () => {
    const pool = lb.pool("bad-size");
    await expect400(pool, { upstreams: [] }, /upstreams/i);
    await expect400(pool, { algorithm: "random" }, /upstreams/i);
    const many = Array.from({ length: 65 }, (_, i) => ({ url: `http://127.0.0.1:${10_000 + i}` }));
    await expect400(pool, { upstreams: many }, /upstreams/i);
  });

  it("rejects duplicate upstream ids", async () => {
    await expect400(lb.pool("dup-ids"), { upstreams: [{ id: "x", url: lb.up.a.url }, { id: "x", url: lb.up.b.url }] }, /\bids?\b/i);
  });

  it("rejects health-check timings out of range (interval < 50 ms, timeout >= interval)", async () => {
    const pool = lb.pool("bad-hc");
    await expect400(pool, { upstreams: lb.upstreams("a"), healthCheck: { intervalMs: 10 } }, /interval/i);
    await expect400(pool, { upstreams: lb.upstreams("a"), healthCheck: { intervalMs: 100, timeoutMs: 100 } }, /timeout/i);
  });

  it("rejects retry attempts outside 1..10", async () => {
    const pool = lb.pool("bad-retry");
    await expect400(pool, { upstreams: lb.upstreams("a"), retry: { attempts: 0 } }, /attempts/i);
    await expect400(pool, { upstreams: lb.upstreams("a"), retry: { attempts: 11 } }, /attempts/i);
  });

  it("rejects a body that is not JSON, and bad pool names", async () => {
    const res = await lb.putPoolRaw(lb.pool("not-json"), "{nope");
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.code).toEqual(expect.any(String)); // malformed_json elsewhere in this API
    for (const name of ["Upper", "-dash-first", "x".repeat(65), "pools"]) {
      const r = await lb.putPoolRaw(name, { upstreams: lb.upstreams("a") });
      expect(r.status, name).toBe(400);
      await r.arrayBuffer();
    }
  });

  it("needs the admin token", async () => {
    const pool = lb.pool("auth");
    const none = await lb.putPoolRaw(pool, { upstreams: lb.upstreams("a") }, {});
    expect(none.status).toBe(401);
    await none.arrayBuffer();
    const wrong = await lb.putPoolRaw(pool, { upstreams: lb.upstreams("a") }, { authorization: "Bearer wrong" });
    expect([401, 403]).toContain(wrong.status);
    await wrong.arrayBuffer();
    const crash = await fetch(`${lb.url}/admin/lb/pools/${pool}/crash`, { method: "POST" });
    expect(crash.status).toBe(401);
    await crash.arrayBuffer();
  });
});

describe("unknown pools and DELETE", () => {
  it("404 for an unknown pool: admin GET and DELETE, status, and proxying", async () => {
    for (const [method, path] of [
      ["GET", "/admin/lb/pools/nope"],
      ["DELETE", "/admin/lb/pools/nope"],
      ["GET", "/lb/pools/nope"],
      ["GET", "/lb/nope/anything"],
      ["POST", "/lb/nope/anything"],
    ] as const) {
      const res = await fetch(`${lb.url}${path}`, { method, headers: ADMIN });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as ErrorBody).error.code).toEqual(expect.any(String));
    }
  });

  it("DELETE removes the pool: 200 {pool, deleted: true}, then 404 everywhere", async () => {
    const pool = lb.pool("deleted");
    await lb.putPool(pool, { upstreams: lb.upstreams("a") });
    expect((await lb.hit(pool)).status).toBe(200);
    const res = await lb.admin("DELETE", `/admin/lb/pools/${pool}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ pool, deleted: true });
    expect((await lb.admin("GET", `/admin/lb/pools/${pool}`)).status).toBe(404);
    await eventually("the proxy forgot the pool", async () => (await lb.hit(pool)).status === 404, 5000);
  });
});

describe("GET /lb/pools/{pool}", () => {
  it("reports each upstream's health, phi, ejection, breaker, in-flight, EWMA and counts", async () => {
    const pool = lb.pool("status");
    await lb.putPool(pool, { algorithm: "p2c-ewma", upstreams: [...lb.upstreams("a"), { id: "b", url: lb.up.b.url, weight: 3 }] });
    for (let i = 0; i < 10; i++) expect((await lb.hit(pool)).status).toBe(200);
    await eventually("the counts reached the pool object", async () => {
      const s = await lb.status(pool);
      return s.upstreams.reduce((n, u) => n + u.counts.requests, 0) >= 10;
    });
    const s: PoolStatus = await lb.status(pool);
    expect(s).toMatchObject({ pool, algorithm: "p2c-ewma", version: expect.any(Number) });
    expect(s.upstreams.map((u) => [u.id, u.url, u.weight])).toEqual([["a", lb.up.a.url, 1], ["b", lb.up.b.url, 3]]);
    for (const u of s.upstreams) {
      expect(u).toMatchObject({
        available: true,
        health: "healthy",
        ejected: false,
        ejectedUntil: null,
        breaker: { status: "closed", openUntil: null },
        inFlight: 0,
        lastCheck: null, // no active checks configured
      });
      expect(u.phi === null || typeof u.phi === "number").toBe(true);
      expect(u.counts).toEqual({ requests: expect.any(Number), successes: expect.any(Number), failures: 0, timeouts: 0, connectErrors: 0, status5xx: 0 });
      expect(u.counts.successes).toBe(u.counts.requests);
      if (u.counts.requests > 0) expect(u.ewmaMs).toEqual(expect.any(Number));
    }
  });
});
