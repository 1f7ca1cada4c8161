// Issue 16, item 3: a pool cannot be taken down from outside. Path-blame (whose fault is a failed
// try), Envoy's max-ejection cap with the last upstream always routable, and Envoy's panic threshold.
import { describe, expect, it } from "vitest";
import { inPanic, withPanic, type PanicInput } from "../../src/core/balancer/panic";
import { normalizePoolConfig, upgradePoolConfig, type PoolConfig } from "../../src/core/balancer/pool-config";
import { createBreaker, onFailure, onNeutral, tryAcquire } from "../../src/core/health/circuit-breaker";
import { createOutlierDetector, ejected, ejectionAllowed, onResult } from "../../src/core/health/outlier";
import { createBlame, DEFAULT_BLAME_CONFIG, judge, MAX_TRACKED_PATHS, type BlameEvent, type BlameState, type Verdict } from "../../src/core/health/path-blame";
import { applyOutcomes, createPoolHealth, viewOf, type Outcome, type OutcomeKind } from "../../src/core/health/pool-health";

const T0 = 1_000_000;
const IDS = ["a", "b", "c"];

function run(events: Array<BlameEvent & { at?: number }>, config = DEFAULT_BLAME_CONFIG, ids = IDS): { state: BlameState; verdicts: Verdict[] } {
  let state = createBlame();
  const verdicts: Verdict[] = [];
  events.forEach((e, i) => {
    const r = judge(state, config, e, ids, e.at ?? T0 + i);
    state = r.state;
    verdicts.push(r.verdict);
  });
  return { state, verdicts };
}

describe("path-blame: whose fault is a failed try", () => {
  it("a 500 goes through the path rules by default (neutral on a first failure); with countServerErrors off it counts as a success", () => {
    expect(run([{ upstream: "a", path: "/x", kind: "status-5xx" }]).verdicts).toEqual(["neutral"]);
    expect(run([{ upstream: "a", path: "/x", kind: "status-5xx" }], { ...DEFAULT_BLAME_CONFIG, countServerErrors: false }).verdicts).toEqual(["success"]);
  });

  it("review: an upstream answering 500 on a path its peer serves is blamed by default (its database gone), so it can be ejected", () => {
    const r = run([
      { upstream: "a", path: "/item/1", kind: "status-5xx" },
      { upstream: "b", path: "/item/1", kind: "success" },
      { upstream: "a", path: "/item/1", kind: "status-5xx" },
    ]);
    expect(r.verdicts).toEqual(["neutral", "success", "failure"]);
  });

  it("a connect error, and any failure reported without a path, is the upstream's", () => {
    expect(run([{ upstream: "a", path: "/x", kind: "connect-error" }, { upstream: "a", path: undefined, kind: "status-gateway" }]).verdicts).toEqual(["failure", "failure"]);
  });

  it("a path that fails on two upstreams is the path's fault: every later failure of it is neutral", () => {
    const events: BlameEvent[] = [];
    for (let i = 0; i < 30; i++) events.push({ upstream: IDS[i % 3]!, path: "/fail", kind: "status-gateway" });
    const { verdicts } = run(events);
    expect(verdicts.every((v) => v === "neutral")).toBe(true);
  });

  it("a path that fails here and worked on another upstream is this upstream's fault", () => {
    const { verdicts } = run([
      { upstream: "a", path: "/p", kind: "timeout" },
      { upstream: "b", path: "/p", kind: "success" },
      { upstream: "a", path: "/p", kind: "timeout" },
    ]);
    expect(verdicts).toEqual(["neutral", "success", "failure"]);
  });

  it("two sick upstreams of three are both blamed on a path the third serves (working elsewhere outweighs failing elsewhere)", () => {
    const events: BlameEvent[] = [];
    for (let i = 0; i < 5; i++) events.push({ upstream: "a", path: "/ok", kind: "status-gateway" }, { upstream: "b", path: "/ok", kind: "status-gateway" }, { upstream: "c", path: "/ok", kind: "success" });
    const { verdicts } = run(events);
    expect(verdicts.slice(0, 3)).toEqual(["neutral", "neutral", "success"]);
    expect(verdicts.slice(3)).toEqual(verdicts.slice(3).map((_, i) => (i % 3 === 2 ? "success" : "failure")));
  });

  it("an upstream whose last try of a path succeeded no longer counts as failing it (and the reverse)", () => {
    const { verdicts } = run([
      { upstream: "b", path: "/p", kind: "status-gateway" },
      { upstream: "b", path: "/p", kind: "success" },
      { upstream: "b", path: "/p", kind: "status-gateway" },
      { upstream: "a", path: "/p", kind: "status-gateway" },
    ]);
    // b's own success is not "elsewhere" for b; for a, b's last try failed: the path fails elsewhere.
    expect(verdicts).toEqual(["neutral", "success", "neutral", "neutral"]);
  });

  it("failures on minFailingPaths distinct paths while the peers are fine are the upstream's (a single-path workload needs rule 4, a sick upstream on many paths rule 5)", () => {
    const { verdicts } = run([
      { upstream: "b", path: "/1", kind: "success" },
      { upstream: "a", path: "/1", kind: "status-gateway" },
      { upstream: "a", path: "/2", kind: "status-gateway" },
      { upstream: "a", path: "/3", kind: "status-gateway" },
      { upstream: "a", path: "/4", kind: "status-gateway" },
    ]);
    expect(verdicts).toEqual(["success", "neutral", "neutral", "failure", "failure"]);
  });

  it("a flood of distinct failing paths that fails on every upstream is nobody's fault (peers failing too)", () => {
    const events: BlameEvent[] = [];
    for (let i = 0; i < 60; i++) events.push({ upstream: IDS[i % 3]!, path: `/broken/${i}`, kind: "status-gateway" });
    const { verdicts } = run(events);
    // Until the peers have failed too, the first upstream's third path could count; none does after.
    expect(verdicts.filter((v) => v === "failure")).toEqual([]);
  });

  it("evidence older than the window is forgotten", () => {
    const { verdicts } = run([
      { upstream: "a", path: "/p", kind: "status-gateway", at: T0 },
      { upstream: "b", path: "/p", kind: "success", at: T0 + 1 },
      { upstream: "a", path: "/p", kind: "status-gateway", at: T0 + DEFAULT_BLAME_CONFIG.windowMs + 10 },
    ]);
    expect(verdicts).toEqual(["neutral", "success", "neutral"]);
  });

  it("the state stays bounded whatever the number of paths, and ids like __proto__ stay plain keys", () => {
    const events: BlameEvent[] = [];
    for (let i = 0; i < 1000; i++) events.push({ upstream: "__proto__", path: `/p${i}`, kind: "timeout" });
    const { state } = run(events, DEFAULT_BLAME_CONFIG, ["__proto__", "b"]);
    expect(Object.keys(state.paths).length).toBeLessThanOrEqual(MAX_TRACKED_PATHS);
    expect(Object.hasOwn(state.recent, "__proto__")).toBe(true);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});

describe("max ejection: at least one upstream always routable", () => {
  it("even at maxEjectionPercent 100 the last upstream not ejected is kept, and a pool of one is never ejected from", () => {
    expect(ejectionAllowed(createOutlierDetector({ maxEjectionPercent: 100 }).config, 2, 3)).toBe(false);
    expect(ejectionAllowed(createOutlierDetector({ maxEjectionPercent: 100 }).config, 1, 3)).toBe(true);
    expect(ejectionAllowed(createOutlierDetector({ maxEjectionPercent: 100, alwaysEjectOneHost: true }).config, 0, 1)).toBe(false);
    let s = createOutlierDetector({ maxEjectionPercent: 100, consecutiveGatewayFailure: 1 });
    for (const id of IDS) s = onResult(s, id, "gateway", T0, 3).state;
    expect(ejected(s, T0)).toEqual(["a", "b"]);
  });
});

describe("panic threshold (Envoy healthy_panic_threshold)", () => {
  const up = (id: string, available: boolean, checked = true): PanicInput => ({ id, weight: 1, inFlight: 0, available, checked });

  it("below the threshold every upstream its active checks allow is routable again; at or above it nothing changes", () => {
    expect(inPanic([up("a", true), up("b", false), up("c", false)], 50)).toBe(true);
    expect(inPanic([up("a", true), up("b", true), up("c", false)], 50)).toBe(false);
    expect(inPanic([up("a", false)], 0)).toBe(false); // 0 turns it off
    const r = withPanic([up("a", true), up("b", false), up("c", false, false)], 50);
    expect(r.panic).toBe(true);
    expect(r.upstreams.map((u) => [u.id, u.available])).toEqual([["a", true], ["b", true], ["c", false]]);
    expect(r.upstreams.every((u) => !("checked" in u))).toBe(true);
  });
});

describe("pool health: 100 anonymous requests to a failing path", () => {
  const pool = (extra: Record<string, unknown> = {}): PoolConfig =>
    normalizePoolConfig({ upstreams: IDS.map((id, i) => ({ id, url: `http://127.0.0.1:${i + 1}` })), ...extra });
  const tries = (kind: OutcomeKind, path: string, n: number): Outcome[] =>
    Array.from({ length: n }, (_, i) => ({ upstream: IDS[i % 3]!, kind, latencyMs: 5, at: T0, probe: false, path }));

  it.each<[string, OutcomeKind, Record<string, unknown>]>([
    ["500 (default)", "status-5xx", {}],
    ["500 with countServerErrors", "status-5xx", { outlier: { countServerErrors: true } }],
    ["503", "status-gateway", {}],
    ["timeouts", "timeout", {}],
  ])("issue 16: answers of %s on one path eject nothing and open no breaker", (_name, kind, extra) => {
    const config = pool(extra);
    const h = applyOutcomes(createPoolHealth(config), config, tries(kind, "/fail", 100), T0);
    expect(viewOf(h, config, T0 + 1).map((v) => [v.id, v.admitted, v.breaker.status])).toEqual(IDS.map((id) => [id, true, "closed"]));
  });

  it("an upstream that refuses connections is still ejected (connect errors are never the path's)", () => {
    const config = pool();
    const dead: Outcome[] = Array.from({ length: 5 }, () => ({ upstream: "a", kind: "connect-error", latencyMs: null, at: T0, probe: false, path: "/x" }));
    const h = applyOutcomes(createPoolHealth(config), config, dead, T0);
    expect(viewOf(h, config, T0 + 1).find((v) => v.id === "a")?.admitted).toBe(false);
  });
});

describe("upgrades and the breaker's neutral outcome", () => {
  it("a pool config stored before these fields existed is read back with their defaults", () => {
    const { healthyPanicThreshold: _p, forward: _f, ...rest } = normalizePoolConfig({ upstreams: [{ id: "a", url: "http://127.0.0.1:1" }] });
    const old = { ...rest, outlier: { consecutive5xx: 5, consecutiveGatewayFailure: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 } } as unknown as PoolConfig;
    const up = upgradePoolConfig(old);
    expect(up.healthyPanicThreshold).toBe(50);
    expect(up.forward).toEqual({ authorization: false, cookie: false, setCookie: false });
    expect(up.outlier).toMatchObject({ countServerErrors: true, minFailingPaths: 3, blameWindowMs: 30_000 });
  });

  it("a half-open probe judged neutral frees its slot without closing or re-opening the breaker", () => {
    let b = createBreaker({ consecutiveFailures: 1, openMs: 100, halfOpenMaxProbes: 1 });
    b = onFailure(b, T0, false);
    const probe = tryAcquire(b, T0 + 100);
    expect(probe).toMatchObject({ allowed: true, probe: true });
    expect(tryAcquire(probe.state, T0 + 101).allowed).toBe(false); // the one slot is taken
    const after = onNeutral(probe.state, T0 + 102, true);
    expect(after.status).toBe("half-open");
    expect(tryAcquire(after, T0 + 103)).toMatchObject({ allowed: true, probe: true });
  });
});
