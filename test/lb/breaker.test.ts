// Issue 6, Proof: the circuit breaker opens, half-opens and closes as configured, as observed by a
// client of the pool (traffic to the upstream stops, a limited probe goes through) and in
// /lb/pools/{pool}; and the UpstreamPool object keeps config and breaker state across a real crash.
import { describe, expect, it } from "vitest";
import { eventually, failures, setupLb, sleep, STATE_TTL_MS, type PoolConfigInput } from "./harness";

const lb = setupLb(["a", "b"] as const);

const OPEN_MS = 2000;
/** Breaker alone: outlier ejection and the failure-rate rule are set out of reach. */
const breakerOnly = (openMs = OPEN_MS): PoolConfigInput => ({
  upstreams: lb.upstreams("a", "b"),
  breaker: { consecutiveFailures: 3, minimumRequests: 1000, openMs, halfOpenMaxProbes: 1, successThreshold: 1 },
  outlier: { consecutive5xx: 100, consecutiveGatewayFailure: 100 },
  retry: { perTryTimeoutMs: 1000 },
});

async function openBreakerOfA(pool: string): Promise<void> {
  await lb.up.a.set({ status: 503 });
  // Round-robin: a is tried on every other request, so 12 GETs give it 6 failures (>= 3 in a row).
  const hits = await lb.sequential(pool, 12);
  expect(failures(hits)).toEqual([]); // 503 is retried on b
  await eventually("a's breaker is open", async () => (await lb.upstreamStatus(pool, "a")).breaker.status === "open");
}

describe("circuit breaker", () => {
  it("opens after consecutiveFailures, keeps traffic away while open, half-opens after openMs with one probe, and closes on success", async () => {
    const pool = lb.pool("breaker");
    await lb.putPool(pool, breakerOnly());
    await openBreakerOfA(pool);
    const opened = await lb.upstreamStatus(pool, "a");
    expect(opened.available).toBe(false);
    expect(opened.breaker.openUntil).toBeGreaterThan(Date.now());
    expect(opened.breaker.openUntil).toBeLessThanOrEqual(Date.now() + OPEN_MS + 100);

    // Open: no traffic at all to a.
    await sleep(STATE_TTL_MS);
    await lb.up.a.reset();
    const whileOpen = await lb.sequential(pool, 10);
    expect(failures(whileOpen)).toEqual([]);
    expect(whileOpen.every((h) => h.upstream === "b" && h.attempts === 1)).toBe(true);
    expect((await lb.up.a.stats()).traffic).toBe(0);

    // openMs later it may be probed: one request only (halfOpenMaxProbes 1); the probe fails -> open again.
    await sleep(Math.max(0, (opened.breaker.openUntil ?? 0) - Date.now()) + 100);
    const due = await lb.upstreamStatus(pool, "a");
    expect(due.breaker.status === "half-open" || (due.breaker.status === "open" && (due.breaker.openUntil ?? Infinity) <= Date.now())).toBe(true);
    await lb.up.a.reset();
    const probing = await lb.sequential(pool, 10);
    expect(failures(probing)).toEqual([]);
    expect((await lb.up.a.stats()).traffic).toBe(1);
    await eventually("a's breaker re-opened after the failed probe", async () => {
      const s = await lb.upstreamStatus(pool, "a");
      return s.breaker.status === "open" && (s.breaker.openUntil ?? 0) > Date.now();
    });

    // a recovers; the next probe succeeds (successThreshold 1) and the breaker closes.
    await lb.up.a.set("ok");
    const reopened = await lb.upstreamStatus(pool, "a");
    await sleep(Math.max(0, (reopened.breaker.openUntil ?? 0) - Date.now()) + 100);
    const recovering = await lb.sequential(pool, 10);
    expect(failures(recovering)).toEqual([]);
    expect(recovering.some((h) => h.upstream === "a")).toBe(true);
    await eventually("a's breaker closed", async () => (await lb.upstreamStatus(pool, "a")).breaker.status === "closed");
    const closed = await lb.upstreamStatus(pool, "a");
    expect(closed).toMatchObject({ available: true, breaker: { status: "closed", openUntil: null } });
    await sleep(STATE_TTL_MS);
    const after = await lb.sequential(pool, 10);
    expect(after.filter((h) => h.upstream === "a").length).toBeGreaterThanOrEqual(4); // back to its round-robin share
  });

  it("a failure-rate breaker waits for minimumRequests in the window, then opens on the failure share", async () => {
    const pool = lb.pool("rate");
    await lb.putPool(pool, {
      upstreams: lb.upstreams("a", "b"),
      breaker: { consecutiveFailures: 1000, failureRateThreshold: 0.5, minimumRequests: 6, windowMs: 10_000, openMs: 5000 },
      outlier: { consecutive5xx: 100, consecutiveGatewayFailure: 100 },
    });
    await lb.up.a.set({ status: 503 });
    const traffic = async () => (await lb.up.a.stats()).traffic;
    // a's first failure on the path is not counted (path-blame: nothing is known about the path yet);
    // from the second on the path is known to work on b, so each failure counts against a.
    while ((await traffic()) < 6) expect((await lb.hit(pool)).status).toBe(200);
    await sleep(STATE_TTL_MS);
    expect((await lb.upstreamStatus(pool, "a")).breaker.status).toBe("closed"); // 5 counted < minimumRequests
    for (let i = 0; i < 10 && (await traffic()) < 7; i++) expect((await lb.hit(pool)).status).toBe(200);
    expect(await traffic()).toBe(7);
    await eventually("a's breaker is open on its failure rate", async () => (await lb.upstreamStatus(pool, "a")).breaker.status === "open");
  });
});

describe("crash of the UpstreamPool object", () => {
  it("keeps the pool's config and version and the breaker's state; traffic still avoids the open upstream", async () => {
    const pool = lb.pool("crash");
    const view = await lb.putPool(pool, breakerOnly(60_000));
    await openBreakerOfA(pool);
    const before = await lb.upstreamStatus(pool, "a");

    await lb.crashPool(pool);

    const after = await lb.upstreamStatus(pool, "a");
    expect(after.breaker).toEqual(before.breaker);
    expect(after.available).toBe(false);
    const res = await lb.admin("GET", `/admin/lb/pools/${pool}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(view);
    await lb.up.a.set("ok");
    await lb.up.a.reset();
    await sleep(2 * STATE_TTL_MS);
    const hits = await lb.sequential(pool, 10);
    expect(failures(hits)).toEqual([]);
    expect((await lb.up.a.stats()).traffic).toBe(0);
  });

  it("active health checks resume after a crash (the check alarm survives it)", async () => {
    const pool = lb.pool("crash-checks");
    await lb.putPool(pool, { upstreams: lb.upstreams("a"), healthCheck: { intervalMs: 100, timeoutMs: 80 } });
    await eventually("a first check", async () => (await lb.upstreamStatus(pool, "a")).lastCheck !== null);
    await lb.crashPool(pool);
    const crashedAt = Date.now();
    await eventually("a check after the crash", async () => ((await lb.upstreamStatus(pool, "a")).lastCheck?.at ?? 0) > crashedAt);
    expect((await lb.up.a.stats()).byPath["/health"]).toBeGreaterThan(1);
  });
});
