import { describe, expect, it } from "vitest";
import { normalizePoolConfig, type PoolConfig } from "../../src/core/balancer/pool-config";
import {
  acquireProbe, applyCheck, applyOutcomes, createPoolHealth, reconcile, statusOf, viewOf,
  type Outcome, type OutcomeKind, type PoolHealth,
} from "../../src/core/health/pool-health";

const T0 = 1_000_000;

function pool(extra: Record<string, unknown> = {}): PoolConfig {
  return normalizePoolConfig({
    upstreams: [{ id: "a", url: "http://127.0.0.1:1" }, { id: "b", url: "http://127.0.0.1:2" }, { id: "c", url: "http://127.0.0.1:3" }],
    ...extra,
  });
}

function outcomes(upstream: string, kind: OutcomeKind, n: number, at: number, latencyMs: number | null = kind === "timeout" || kind === "connect-error" ? null : 5): Outcome[] {
  return Array.from({ length: n }, () => ({ upstream, kind, latencyMs, at, probe: false }));
}

function admitted(h: PoolHealth, config: PoolConfig, now: number): Record<string, boolean> {
  return Object.fromEntries(viewOf(h, config, now).map((v) => [v.id, v.admitted]));
}

describe("pool health: the object's verdict per upstream", () => {
  it("a new pool admits every upstream, with closed breakers and zero counts", () => {
    const config = pool();
    const h = createPoolHealth(config);
    expect(admitted(h, config, T0)).toEqual({ a: true, b: true, c: true });
    const s = statusOf(h, config, T0, () => 0);
    expect(s.map((u) => [u.id, u.available, u.breaker.status, u.counts.requests, u.phi, u.ewmaMs])).toEqual([
      ["a", true, "closed", 0, null, null],
      ["b", true, "closed", 0, null, null],
      ["c", true, "closed", 0, null, null],
    ]);
  });

  it("consecutive gateway failures eject the upstream for the base ejection time, then it is readmitted", () => {
    const config = pool({ outlier: { consecutiveGatewayFailure: 3, consecutive5xx: 10, baseEjectionMs: 1_000, maxEjectionMs: 10_000, maxEjectionPercent: 50 }, breaker: { consecutiveFailures: 100 } });
    let h = createPoolHealth(config);
    h = applyOutcomes(h, config, outcomes("a", "connect-error", 2, T0), T0);
    expect(admitted(h, config, T0).a).toBe(true);
    h = applyOutcomes(h, config, outcomes("a", "connect-error", 1, T0), T0);
    expect(admitted(h, config, T0 + 1).a).toBe(false);
    expect(viewOf(h, config, T0 + 1).find((v) => v.id === "a")?.until).toBe(T0 + 1_000);
    expect(admitted(h, config, T0 + 1_000).a).toBe(true);
    const st = statusOf(h, config, T0 + 1, () => 0).find((u) => u.id === "a")!;
    expect(st.ejected).toBe(true);
    expect(st.counts).toMatchObject({ requests: 3, failures: 3, connectErrors: 3 });
  });

  it("the breaker opens on consecutive failures and its state travels in the view", () => {
    const config = pool({ breaker: { consecutiveFailures: 3, openMs: 500 }, outlier: { consecutive5xx: 100, consecutiveGatewayFailure: 100 } });
    let h = createPoolHealth(config);
    h = applyOutcomes(h, config, outcomes("b", "status-gateway", 3, T0), T0);
    const b = viewOf(h, config, T0).find((v) => v.id === "b")!;
    expect(b.breaker.status).toBe("open");
    expect(b.breaker.openUntil).toBe(T0 + 500);
    expect(statusOf(h, config, T0, () => 0).find((u) => u.id === "b")?.available).toBe(false);
    // After openMs the object grants exactly one probe slot (halfOpenMaxProbes 1), then refuses.
    const first = acquireProbe(h, "b", T0 + 500);
    expect(first).toMatchObject({ allowed: true, probe: true });
    const second = acquireProbe(first.health, "b", T0 + 501);
    expect(second.allowed).toBe(false);
    // The probe's success closes it.
    h = applyOutcomes(second.health, config, [{ upstream: "b", kind: "success", latencyMs: 3, at: T0 + 510, probe: true }], T0 + 510);
    expect(viewOf(h, config, T0 + 510).find((v) => v.id === "b")?.breaker.status).toBe("closed");
  });

  it("a failing probe re-opens the breaker for longer (backoff)", () => {
    const config = pool({ breaker: { consecutiveFailures: 1, openMs: 100 } });
    let h = applyOutcomes(createPoolHealth(config), config, outcomes("a", "timeout", 1, T0), T0);
    const p = acquireProbe(h, "a", T0 + 100);
    expect(p.allowed).toBe(true);
    h = applyOutcomes(p.health, config, [{ upstream: "a", kind: "timeout", latencyMs: null, at: T0 + 150, probe: true }], T0 + 150);
    const b = viewOf(h, config, T0 + 150).find((v) => v.id === "a")!.breaker;
    expect(b.status).toBe("open");
    expect(b.openUntil).toBe(T0 + 150 + 200);
  });

  it("active checks: `fall` failures mark an upstream unhealthy, `rise` passes bring it back (and un-eject it)", () => {
    const config = pool({ healthCheck: { intervalMs: 100, timeoutMs: 50, rise: 2, fall: 2 } });
    let h = createPoolHealth(config);
    const fail = { ok: false, status: 500, latencyMs: 2, error: "status 500" };
    const pass = { ok: true, status: 200, latencyMs: 2, error: null };
    h = applyCheck(h, "c", pass, T0);
    h = applyCheck(h, "c", fail, T0 + 100);
    expect(admitted(h, config, T0 + 100).c).toBe(true);
    h = applyCheck(h, "c", fail, T0 + 200);
    expect(admitted(h, config, T0 + 200).c).toBe(false);
    expect(statusOf(h, config, T0 + 200, () => 0).find((u) => u.id === "c")).toMatchObject({ health: "unhealthy", lastCheck: { ok: false, status: 500, at: T0 + 200 } });
    h = applyCheck(h, "c", pass, T0 + 300);
    expect(admitted(h, config, T0 + 300).c).toBe(false);
    h = applyCheck(h, "c", pass, T0 + 400);
    expect(admitted(h, config, T0 + 400).c).toBe(true);
  });

  it("with active checks, silence raises phi until the upstream is suspected; without checks phi never excludes", () => {
    const checked = pool({ healthCheck: { intervalMs: 100, timeoutMs: 50 }, phiThreshold: 8 });
    let h = createPoolHealth(checked);
    const pass = { ok: true, status: 200, latencyMs: 1, error: null };
    for (let t = 0; t <= 2_000; t += 100) for (const id of ["a", "b", "c"]) h = applyCheck(h, id, pass, T0 + t);
    expect(admitted(h, checked, T0 + 2_100).a).toBe(true);
    // Checks of "a" stop answering (timeouts are not heartbeats) while rise/fall has not yet fallen.
    const later = T0 + 2_000 + 5_000;
    const st = statusOf(h, checked, later, () => 0).find((u) => u.id === "a")!;
    expect(st.phi).toBeGreaterThan(8);
    expect(st.available).toBe(false);

    const unchecked = pool();
    let h2 = applyOutcomes(createPoolHealth(unchecked), unchecked, outcomes("a", "success", 3, T0), T0);
    h2 = applyOutcomes(h2, unchecked, outcomes("a", "success", 1, T0 + 100), T0 + 100);
    expect(admitted(h2, unchecked, T0 + 3_600_000).a).toBe(true);
  });

  it("latency samples feed the peak-EWMA shown in the status; timeouts carry none", () => {
    const config = pool();
    let h = applyOutcomes(createPoolHealth(config), config, [{ upstream: "a", kind: "success", latencyMs: 40, at: T0, probe: false }], T0);
    h = applyOutcomes(h, config, outcomes("a", "timeout", 1, T0), T0);
    const st = statusOf(h, config, T0, () => 7).find((u) => u.id === "a")!;
    expect(st.ewmaMs).toBe(40);
    expect(st.inFlight).toBe(7);
    expect(st.counts).toMatchObject({ requests: 2, successes: 1, timeouts: 1 });
  });

  it("outcomes for an upstream that is not in the pool are ignored", () => {
    const config = pool();
    const h = createPoolHealth(config);
    expect(applyOutcomes(h, config, outcomes("zz", "status-5xx", 10, T0), T0)).toEqual(h);
    expect(applyCheck(h, "zz", { ok: false, status: null, latencyMs: null, error: "x" }, T0)).toEqual(h);
  });

  it("reconfiguring keeps the history of upstreams that stay, starts moved or new ones afresh, drops removed ones", () => {
    const config = pool({ breaker: { consecutiveFailures: 2 } });
    let h = applyOutcomes(createPoolHealth(config), config, [...outcomes("a", "status-gateway", 2, T0), ...outcomes("b", "success", 4, T0)], T0);
    const next = normalizePoolConfig({
      breaker: { consecutiveFailures: 2 },
      upstreams: [{ id: "a", url: "http://127.0.0.1:1" }, { id: "b", url: "http://127.0.0.1:9" }, { id: "d", url: "http://127.0.0.1:4" }],
    });
    h = reconcile(h, next);
    expect(Object.keys(h.upstreams).sort()).toEqual(["a", "b", "d"]);
    expect(h.upstreams.a?.breaker.status).toBe("open");
    expect(h.upstreams.b?.counts.requests).toBe(0);
    expect(h.upstreams.d?.counts.requests).toBe(0);
  });

  it("the health is plain JSON: a JSON round trip changes nothing", () => {
    const config = pool({ healthCheck: { intervalMs: 100, timeoutMs: 50 } });
    let h = applyOutcomes(createPoolHealth(config), config, outcomes("a", "status-gateway", 3, T0), T0);
    h = applyCheck(h, "b", { ok: true, status: 200, latencyMs: 1, error: null }, T0);
    expect(JSON.parse(JSON.stringify(h))).toEqual(h);
  });
});
