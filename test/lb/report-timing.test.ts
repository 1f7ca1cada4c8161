// How an isolate's outcomes reach the UpstreamPool object and how its copy of the shared state follows
// the object's (src/services/lb-state.ts). The object is a stand-in that keeps the pool's health with
// the real core (src/core/health/pool-health.ts) and answers each report when the test says, on a fake
// clock: the races between a report in flight and tries that end meanwhile, or a report that reaches
// the object in the next window bucket, are played out deterministically instead of by timing luck.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// lb-state imports the object's module for poolStub(); its base class comes from the Workers runtime.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

const { candidates, forget, install, local, maybeFlush, record } = await import("../../src/services/lb-state");
const { normalizePoolConfig } = await import("../../src/core/balancer/pool-config");
const { statusAt, windowCounts } = await import("../../src/core/health/circuit-breaker");
const { applyOutcomes, createPoolHealth, viewOf } = await import("../../src/core/health/pool-health");
type Outcome = import("../../src/core/health/pool-health").Outcome;
type PoolConfig = import("../../src/core/balancer/pool-config").PoolConfig;
type PoolSnapshot = import("../../durable-objects/upstream-pool").PoolSnapshot;

const TTL_MS = 100;
const POOL = "report-timing";
const UPSTREAM = { id: "a", url: "http://127.0.0.1:9" };

/** The pool object's stand-in: each report() is applied and answered (at the clock of then) when the test says. */
function fakePool(config: PoolConfig = normalizePoolConfig({ upstreams: [UPSTREAM] })) {
  let health = createPoolHealth(config);
  const snapshot = (): PoolSnapshot => ({ pool: POOL, version: 1, config, upstreams: viewOf(health, config, Date.now()), at: Date.now() });
  const reports: Array<{ outcomes: Outcome[]; answer: () => void }> = [];
  const stub = {
    report: (_isolate: string, outcomes: Outcome[]) =>
      new Promise<PoolSnapshot>((resolve) =>
        reports.push({
          outcomes,
          answer: () => {
            health = applyOutcomes(health, config, outcomes, Date.now());
            resolve(snapshot());
          },
        }),
      ),
  };
  const env = { UPSTREAM_POOL: { idFromName: (name: string) => name, get: () => stub } } as unknown as Cloudflare.Env;
  return { env, reports, snapshot };
}

const success = (at: number): Outcome => ({ upstream: "a", kind: "success", latencyMs: 1, at, probe: false });
const failure = (at: number): Outcome => ({ upstream: "a", kind: "status-gateway", latencyMs: 1, at, probe: false });
const waitUntil = (p: Promise<unknown>) => void p;

describe("outcome reports", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.useRealTimers();
    forget(POOL);
  });

  it("a success that ends while a report is in flight is reported within a TTL after that report, with no further request", async () => {
    const { env, reports, snapshot } = fakePool();
    const e = install(POOL, snapshot(), Date.now());
    record(e, success(Date.now()));
    maybeFlush(env, POOL, e, TTL_MS, waitUntil);
    await vi.advanceTimersByTimeAsync(TTL_MS);
    expect(reports).toHaveLength(1); // the delayed report of the first success, now in flight
    record(e, success(Date.now()));
    maybeFlush(env, POOL, e, TTL_MS, waitUntil); // the burst's last try ends meanwhile
    reports[0]!.answer();
    await vi.advanceTimersByTimeAsync(2 * TTL_MS);
    expect(reports.map((r) => r.outcomes.length)).toEqual([1, 1]);
  });

  it("a failure that ends while a report is in flight is sent right after that report is back", async () => {
    const { env, reports, snapshot } = fakePool();
    const e = install(POOL, snapshot(), Date.now());
    record(e, failure(Date.now()));
    maybeFlush(env, POOL, e, TTL_MS, waitUntil);
    await vi.advanceTimersByTimeAsync(0);
    expect(reports).toHaveLength(1); // failures are sent at once
    record(e, failure(Date.now()));
    maybeFlush(env, POOL, e, TTL_MS, waitUntil);
    await vi.advanceTimersByTimeAsync(TTL_MS / 2);
    expect(reports).toHaveLength(1); // one report at a time
    reports[0]!.answer();
    await vi.advanceTimersByTimeAsync(10); // not a TTL later: a failure is not batched
    expect(reports.map((r) => r.outcomes.map((o) => o.kind))).toEqual([["status-gateway"], ["status-gateway"]]);
  });

  it("successes of a burst are batched: one report per TTL, the last one at most a TTL after the burst", async () => {
    const { env, reports, snapshot } = fakePool();
    const e = install(POOL, snapshot(), Date.now());
    for (let i = 0; i < 25; i++) {
      record(e, success(Date.now()));
      maybeFlush(env, POOL, e, TTL_MS, waitUntil);
      await vi.advanceTimersByTimeAsync(10);
      for (const r of reports) r.answer();
    }
    await vi.advanceTimersByTimeAsync(TTL_MS);
    for (const r of reports) r.answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(reports.reduce((n, r) => n + r.outcomes.length, 0)).toBe(25);
    expect(reports.length).toBeLessThanOrEqual(4); // 250 ms of traffic, a TTL of 100 ms
  });
});

describe("this isolate's copy of a breaker", () => {
  /** The failure-rate rule alone: 4 outcomes in the 10 s window (buckets of 1 s), half of them failures, open it. */
  const rateOnly = normalizePoolConfig({ upstreams: [UPSTREAM], breaker: { consecutiveFailures: 1000, minimumRequests: 4, failureRateThreshold: 0.5, windowMs: 10_000 } });

  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.useRealTimers();
    forget(POOL);
  });

  it("counts a failure once though the object files it in a later window bucket than the isolate did", async () => {
    vi.setSystemTime(9_998); // the tries end in the bucket [9 s, 10 s) ...
    const { env, reports, snapshot } = fakePool(rateOnly);
    const e = install(POOL, snapshot(), Date.now());
    record(e, failure(Date.now()));
    record(e, failure(Date.now()));
    maybeFlush(env, POOL, e, TTL_MS, waitUntil);
    await vi.advanceTimersByTimeAsync(3); // ... and their report reaches the object in [10 s, 11 s)
    reports[0]!.answer();
    await vi.advanceTimersByTimeAsync(0);
    const now = Date.now();
    const a = local(e, "a").breaker;
    expect(windowCounts(a, now)).toEqual({ successes: 0, failures: 2 }); // not 4: 2 in each bucket
    expect(statusAt(a, now)).toBe("closed");
    expect(candidates(e, now).find((u) => u.id === "a")?.available).toBe(true);
  });

  it("keeps the isolate's own outcomes not yet reported on top of the object's state", async () => {
    const { env, reports, snapshot } = fakePool(rateOnly);
    const e = install(POOL, snapshot(), Date.now());
    record(e, failure(Date.now()));
    record(e, failure(Date.now()));
    maybeFlush(env, POOL, e, TTL_MS, waitUntil);
    await vi.advanceTimersByTimeAsync(1);
    reports[0]!.answer(); // the object has the 2 failures
    await vi.advanceTimersByTimeAsync(1);
    record(e, success(Date.now()));
    record(e, success(Date.now())); // 4 outcomes, half failures: open here at once, unreported yet
    expect(statusAt(local(e, "a").breaker, Date.now())).toBe("open");
    install(POOL, snapshot(), Date.now()); // a snapshot from elsewhere (a probe, a refresh): without the 2 successes
    expect(statusAt(local(e, "a").breaker, Date.now())).toBe("open");
    expect(e.pending).toHaveLength(2);
  });
});
