// Issue 6, Proof: failures of real upstreams — refused connections, failing health checks, failing
// traffic, hangs — and what clients see meanwhile: idempotent requests fail over with no visible
// error, non-idempotent ones are tried once unless the pool allows more, and a pool with nothing left
// answers 503 at once instead of hanging.
import { describe, expect, it } from "vitest";
import { echoOf, eventually, failures, setupLb, sleep, STATE_TTL_MS, tally, type ErrorBody, type UpstreamStatus } from "./harness";

const lb = setupLb(["a", "b", "c"] as const);

/**
 * Active checks every 200 ms; two failures mark an upstream unhealthy, two successes healthy again.
 * The check timeout (150 ms) leaves a loaded machine room to answer a check of a healthy upstream:
 * at 80 ms, two late answers in a row marked a live upstream unhealthy at a load average of 10.
 */
const FAST_CHECKS = { path: "/health", intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2 };

/** Until `n` sequential GETs all take one attempt and avoid `down`: this isolate routes around it (round-robin would give it one in `n`). */
async function routedAround(pool: string, down: string, n: number): Promise<void> {
  await eventually(`the worker routes around ${down}`, async () => (await lb.sequential(pool, n)).every((h) => h.status === 200 && h.attempts === 1 && h.upstream !== down));
}

describe("an upstream that dies", () => {
  it("is ejected, GETs fail over with no client-visible error, and it is readmitted after it comes back", async () => {
    const pool = lb.pool("dies");
    await lb.putPool(pool, {
      upstreams: lb.upstreams("a", "b", "c"),
      healthCheck: FAST_CHECKS,
      outlier: { consecutiveGatewayFailure: 2, baseEjectionMs: 500, maxEjectionMs: 2000 },
      breaker: { openMs: 500 },
    });
    const before = await lb.sequential(pool, 9);
    expect(failures(before)).toEqual([]);
    expect(tally(before)).toEqual({ a: 3, b: 3, c: 3 });

    await lb.up.a.down();
    // Every GET while a is down and while the balancer learns it: 200, served by b or c.
    const during = await lb.sequential(pool, 60, "x", 10);
    expect(failures(during)).toEqual([]);
    expect(during.every((h) => h.upstream !== "a")).toBe(true);

    await eventually("a is unhealthy and unavailable", async () => {
      const a = await lb.upstreamStatus(pool, "a");
      return a.health === "unhealthy" && !a.available;
    });
    const a = await lb.upstreamStatus(pool, "a");
    expect(a.lastCheck).toMatchObject({ ok: false });
    expect(a.counts.connectErrors).toBeGreaterThan(0);
    // Once known to be down (the isolate's copy of the pool's state refreshed), a is not even tried: one attempt per request.
    await routedAround(pool, "a", 3);
    const known = await lb.sequential(pool, 30);
    expect(failures(known)).toEqual([]);
    expect(known.map((h) => h.attempts)).toEqual(known.map(() => 1));

    await lb.up.a.up();
    await eventually("a is healthy and available again", async () => {
      const s = await lb.upstreamStatus(pool, "a");
      return s.health === "healthy" && s.available;
    }, 10_000);
    await sleep(2 * STATE_TTL_MS);
    // a's counters run from the start of the test: so far it received exactly the 3 GETs it answered
    // before it died (refused connections never reach it). Zeroed here so the next check is about `after`.
    expect((await lb.up.a.stats()).traffic).toBe(tally(before).a);
    await lb.up.a.reset();
    const after = await lb.sequential(pool, 30);
    expect(failures(after)).toEqual([]);
    expect(tally(after).a ?? 0).toBeGreaterThanOrEqual(5);
    // Every GET a received after its return was answered by a: no try of it failed and went elsewhere.
    expect((await lb.up.a.stats()).traffic).toBe(tally(after).a);
  });

  it("failing health checks alone take an upstream out of rotation (its traffic still works) until they pass again", async () => {
    const pool = lb.pool("health-only");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), healthCheck: FAST_CHECKS });
    await lb.up.a.set({ health: { status: 503 } });
    await eventually("a is unhealthy", async () => (await lb.upstreamStatus(pool, "a")).health === "unhealthy");
    expect((await lb.upstreamStatus(pool, "a")).lastCheck).toMatchObject({ ok: false, status: 503 });
    await routedAround(pool, "a", 2);
    await lb.up.a.reset();
    const hits = await lb.sequential(pool, 20);
    expect(failures(hits)).toEqual([]);
    expect((await lb.up.a.stats()).traffic).toBe(0);

    await lb.up.a.set({ health: null });
    await eventually("a is healthy again", async () => (await lb.upstreamStatus(pool, "a")).health === "healthy");
    const s = await lb.upstreamStatus(pool, "a");
    expect(s.lastCheck).toMatchObject({ ok: true, status: 200, error: null });
    expect(s.lastCheck?.latencyMs).toEqual(expect.any(Number));
  });

  it("failing traffic alone gets an upstream ejected (passive detection) even while its health checks pass", async () => {
    const pool = lb.pool("traffic-only");
    // A passing active check readmits an ejected upstream early (README "Failure detection", Envoy's
    // successful_active_health_check_uneject_host): with checks every 100 ms the ejection would last
    // until the next one, and seeing it would be a race. So checks run every 10 s: the first one at
    // once (traffic waits for it to pass), the next long after the ejection has been looked at.
    await lb.putPool(pool, {
      upstreams: lb.upstreams("a", "b"),
      healthCheck: { ...FAST_CHECKS, intervalMs: 10_000, timeoutMs: 1000 },
      outlier: { consecutive5xx: 3, baseEjectionMs: 30_000 },
      breaker: { consecutiveFailures: 100, minimumRequests: 1000 },
    });
    await lb.up.a.set({ status: 503, health: { status: 200 } });
    await eventually("a's first health check passed", async () => (await lb.upstreamStatus(pool, "a")).lastCheck?.ok === true);
    const hits = await lb.sequential(pool, 20);
    expect(failures(hits)).toEqual([]); // 503 is in retryOn: GETs went on to b
    let a: UpstreamStatus | undefined;
    await eventually("a is ejected", async () => (a = await lb.upstreamStatus(pool, "a")).ejected);
    // All from the one status that showed the ejection: ejected by traffic while its checks pass.
    expect(a).toMatchObject({ ejected: true, available: false, health: "healthy", lastCheck: { ok: true, status: 200 } });
    expect(a?.ejectedUntil).toBeGreaterThan(Date.now());
    expect(a?.counts.status5xx).toBeGreaterThanOrEqual(3);
  });
});

describe("nothing left to send to", () => {
  it("all upstreams down and known to be: 503 no_upstream with Retry-After, at once", async () => {
    const pool = lb.pool("all-down");
    // deadlineMs must be >= perTryTimeoutMs (default 5000): both set, as in the next test.
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), healthCheck: FAST_CHECKS, retry: { deadlineMs: 2000, perTryTimeoutMs: 500 } });
    await lb.up.a.down();
    await lb.up.b.down();
    await eventually("both unavailable", async () => (await lb.status(pool)).upstreams.every((u) => !u.available));
    // Until this isolate's copy of the pool's state says so too (refreshed in the background after STATE_TTL_MS).
    let res = await lb.proxy(pool, "x");
    await eventually("a request tries neither", async () => {
      if (res.headers.get("x-lb-attempts") === "0") return true;
      await res.arrayBuffer();
      res = await lb.proxy(pool, "x");
      return false;
    });
    const body = (await res.json()) as ErrorBody;
    expect(res.status).toBe(503);
    expect(body.error.code).toBe("no_upstream");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("x-lb-attempts")).toBe("0"); // "at once": known to be down, neither is tried
  });

  it("all upstreams down but not yet known: the request still ends within the deadline with a JSON error", async () => {
    const pool = lb.pool("all-down-fresh");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), retry: { deadlineMs: 2000, perTryTimeoutMs: 500 } });
    await lb.up.a.down();
    await lb.up.b.down();
    const t0 = performance.now();
    const res = await lb.proxy(pool, "x");
    const body = (await res.json()) as ErrorBody;
    // Within the deadline, with room for a loaded machine's own delays.
    expect(performance.now() - t0).toBeLessThan(2000 + 2000);
    // The contract names 503 no_upstream for "all unavailable"; every try refused is a gateway error.
    expect([502, 503]).toContain(res.status);
    expect(body.error.code).toEqual(expect.any(String));
  });

  it("all upstreams hanging: the overall deadline ends the request, never a hang", async () => {
    const pool = lb.pool("all-hang");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b", "c"), retry: { attempts: 10, perTryTimeoutMs: 400, deadlineMs: 1000 } });
    for (const s of [lb.up.a, lb.up.b, lb.up.c]) await s.set("hang");
    const t0 = performance.now();
    const res = await lb.proxy(pool, "x");
    const elapsed = performance.now() - t0;
    const body = (await res.json()) as ErrorBody;
    // 10 tries of 400 ms would take 4 s: well under that, the deadline ended it (with room for a loaded machine).
    expect(elapsed).toBeLessThan(1000 + 2000);
    expect([503, 504]).toContain(res.status);
    expect(body.error.code).toEqual(expect.any(String));
  });
});

describe("per-try timeout", () => {
  it("a hanging upstream is abandoned after perTryTimeoutMs and the GET is answered by another", async () => {
    const pool = lb.pool("per-try");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), retry: { perTryTimeoutMs: 300, deadlineMs: 5000 } });
    await lb.up.a.set("hang");
    const hits = await lb.sequential(pool, 6);
    expect(failures(hits)).toEqual([]);
    expect(hits.every((h) => h.upstream === "b")).toBe(true);
    // Abandoned after the per-try timeout, not at the 5 s deadline (with room for a loaded machine).
    expect(hits.every((h) => h.ms < 300 + 2500)).toBe(true);
    const retried = hits.filter((h) => h.attempts === 2);
    expect(retried.length).toBeGreaterThanOrEqual(1);
    expect(retried.every((h) => h.ms >= 280)).toBe(true);
    const a = await lb.upstreamStatus(pool, "a");
    expect(a.counts.timeouts).toBeGreaterThanOrEqual(1);
  });
});

describe("retries and idempotency", () => {
  const post = (pool: string, i: number) => lb.hit(pool, `orders/${i}`, { method: "POST", body: `order ${i}`, headers: { "content-type": "text/plain" } });

  it("a POST is not retried by default: one try, and a 503 from the upstream reaches the client", async () => {
    const pool = lb.pool("post-once");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), breaker: { consecutiveFailures: 100, minimumRequests: 1000 }, outlier: { consecutive5xx: 100 } });
    await lb.up.a.set({ status: 503 });
    const hits = [];
    for (let i = 0; i < 4; i++) hits.push(await post(pool, i));
    expect(hits.every((h) => h.attempts === 1)).toBe(true);
    const fromA = hits.filter((h) => h.upstream === "a");
    expect(fromA.length).toBeGreaterThanOrEqual(1); // round-robin sends every other one to a
    expect(fromA.every((h) => h.status === 503 && echoOf(h).upstream === "a")).toBe(true);
    // Each order reached exactly one upstream, once.
    const received = { ...(await lb.up.a.stats()).byPath };
    for (const [path, n] of Object.entries((await lb.up.b.stats()).byPath)) received[path] = (received[path] ?? 0) + n;
    expect(received).toEqual({ "/orders/0": 1, "/orders/1": 1, "/orders/2": 1, "/orders/3": 1 });
  });

  it("with nonIdempotent: true a POST is retried on another upstream like a GET", async () => {
    const pool = lb.pool("post-retry");
    await lb.putPool(pool, {
      upstreams: lb.upstreams("a", "b"),
      retry: { nonIdempotent: true },
      breaker: { consecutiveFailures: 100, minimumRequests: 1000 },
      outlier: { consecutive5xx: 100 },
    });
    await lb.up.a.set({ status: 503 });
    const hits = [];
    for (let i = 0; i < 4; i++) hits.push(await post(pool, i));
    expect(failures(hits)).toEqual([]);
    expect(hits.every((h) => h.upstream === "b" && echoOf(h).body.startsWith("order "))).toBe(true);
    expect(hits.some((h) => h.attempts === 2)).toBe(true);
    expect((await lb.up.a.stats()).traffic).toBeGreaterThanOrEqual(1);
  });

  it("a GET that gets a retryable status is retried; the client sees the good answer", async () => {
    const pool = lb.pool("get-retry");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), breaker: { consecutiveFailures: 100, minimumRequests: 1000 }, outlier: { consecutive5xx: 100 } });
    await lb.up.a.set({ status: 502 });
    const hits = await lb.sequential(pool, 4);
    expect(failures(hits)).toEqual([]);
    expect(hits.filter((h) => h.attempts === 2).length).toBeGreaterThanOrEqual(1);
  });

  it("a status outside retryOn is passed through, not retried", async () => {
    const pool = lb.pool("no-retry-500");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b"), breaker: { consecutiveFailures: 100, minimumRequests: 1000 }, outlier: { consecutive5xx: 100 } });
    await lb.up.a.set({ status: 500 });
    const hits = await lb.sequential(pool, 4);
    const fromA = hits.filter((h) => h.upstream === "a");
    expect(fromA.length).toBeGreaterThanOrEqual(1);
    expect(fromA.every((h) => h.status === 500 && h.attempts === 1)).toBe(true);
  });
});
