import { describe, expect, test } from "vitest";
import {
  type BreakerState,
  createBreaker,
  merge,
  onFailure,
  onSuccess,
  openDuration,
  parseBreakerState,
  retryAfterMs,
  snapshot,
  statusAt,
  tryAcquire,
  windowCounts,
} from "../../src/core/health/circuit-breaker";
import { createOutlierDetector, ejected, isEjected, onResult, type OutlierResult, type OutlierState, retain, uneject, upstreamState } from "../../src/core/health/outlier";
import { createPhiDetector, heartbeat, intervalStats, isAvailable, logNormalUpperTail, MAX_PHI, phi, type PhiConfig, type PhiState } from "../../src/core/health/phi-accrual";
import { createRiseFall, isHealthy, recordCheck, type RiseFallState } from "../../src/core/health/rise-fall";
import { mulberry32 } from "../support/prng";

// Sources cited by the test names:
// [HDYK04] Hayashibara, Défago, Yared, Katayama, "The φ Accrual Failure Detector", SRDS 2004.
// [Akka]   Akka's PhiAccrualFailureDetector (bootstrap, min std-dev, acceptable pause, logistic CDF).
// [Envoy]  https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier and
//          source/common/upstream/outlier_detection_impl.cc (ejectHost, checkHostForUneject).
// [Fowler] Martin Fowler, "CircuitBreaker" (closed / open / half-open); Nygard, "Release It!".

// ---------------------------------------------------------------------------------------------------
// phi accrual
// ---------------------------------------------------------------------------------------------------

/** Heartbeats at start, start + intervals[0], …; returns the state and the time of the last one. */
function feed(state: PhiState, start: number, intervals: readonly number[]): { state: PhiState; last: number } {
  let s = heartbeat(state, start);
  let t = start;
  for (const dt of intervals) {
    t += dt;
    s = heartbeat(s, t);
  }
  return { state: s, last: t };
}

/** The first elapsed time (ms, integer) at which phi reaches `level`, by bisection (phi is monotone in silence). */
function crossing(state: PhiState, last: number, level = 8): number {
  let lo = 0;
  let hi = 1;
  while (phi(state, last + hi) < level) hi *= 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (phi(state, last + mid) < level) lo = mid;
    else hi = mid;
  }
  return hi;
}

const steady = (n: number, ms: number): number[] => Array.from({ length: n }, () => ms);
const noPause: Partial<PhiConfig> = { acceptableHeartbeatPauseMs: 0, minStdDeviationMs: 100, maxSamples: 100 };
/** y at which the normal upper tail is 1e-8, i.e. phi = 8. */
const Y_PHI_8 = 5.612001244174789;

describe("phi accrual failure detector", () => {
  test("[Akka] before any heartbeat phi is 0 and the upstream is available", () => {
    const s = createPhiDetector();
    expect(phi(s, 0)).toBe(0);
    expect(phi(s, 1e12)).toBe(0);
    expect(isAvailable(s, 1e12)).toBe(true);
    expect(intervalStats(s)).toBeNull();
  });

  test("[Akka] the first heartbeat seeds the window with estimate ± estimate/4, so phi = -log10(1/2) at mean + pause", () => {
    const s = heartbeat(createPhiDetector({ firstHeartbeatEstimateMs: 1000, acceptableHeartbeatPauseMs: 500, minStdDeviationMs: 1 }), 10_000);
    expect(s.intervals).toEqual([750, 1250]);
    expect(intervalStats(s)).toEqual({ mean: 1000, stdDeviation: 250 });
    expect(phi(s, 10_000 + 1500)).toBeCloseTo(-Math.log10(0.5), 12);
    // One std-dev later the tail is Q(1) = 0.158655…
    expect(phi(s, 10_000 + 1750)).toBeCloseTo(-Math.log10(0.15865525393145705), 10);
  });

  test("[Akka] with maxSamples = 1 the window holds one interval and its zero std-dev is raised to minStdDeviationMs", () => {
    const { state, last } = feed(createPhiDetector({ ...noPause, maxSamples: 1 }), 0, [900, 1000]);
    expect(state.intervals).toEqual([1000]);
    expect(intervalStats(state)).toEqual({ mean: 1000, stdDeviation: 0 });
    expect(phi(state, last + 1000)).toBeCloseTo(-Math.log10(0.5), 12);
    expect(phi(state, last + 1100)).toBeCloseTo(-Math.log10(0.15865525393145705), 10);
  });

  test("[HDYK04 §3] phi grows monotonically with silence", () => {
    const { state, last } = feed(createPhiDetector(noPause), 0, steady(150, 1000));
    let previous = -1;
    for (let elapsed = 0; elapsed <= 20_000; elapsed += 25) {
      const p = phi(state, last + elapsed);
      expect(p).toBeGreaterThanOrEqual(previous);
      previous = p;
    }
    expect(previous).toBeGreaterThan(8);
  });

  test("[HDYK04] regular 1 s heartbeats (std floored at 100 ms): phi crosses 8 at mean + 5.61 std, about 1.56× the interval", () => {
    const { state, last } = feed(createPhiDetector(noPause), 0, steady(150, 1000));
    expect(intervalStats(state)).toEqual({ mean: 1000, stdDeviation: 0 });
    const at = crossing(state, last);
    expect(at).toBeGreaterThanOrEqual(1000 + Y_PHI_8 * 100 - 1);
    expect(at).toBeLessThanOrEqual(1000 + Y_PHI_8 * 100 + 1);
    expect(at / 1000).toBeGreaterThan(1.5);
    expect(at / 1000).toBeLessThan(1.6);
    expect(isAvailable(state, last + 1500)).toBe(true);
    expect(isAvailable(state, last + 1600)).toBe(false);
  });

  test("[Akka] the logistic approximation crosses 8 near the normal one (≈1.52× vs 1.56× the interval)", () => {
    const { state, last } = feed(createPhiDetector({ ...noPause, distribution: "logistic" }), 0, steady(150, 1000));
    const at = crossing(state, last);
    expect(at).toBeGreaterThan(1500);
    expect(at).toBeLessThan(1561);
    // Both are -log10(1/2) at the mean.
    expect(phi(state, last + 1000)).toBeCloseTo(-Math.log10(0.5), 12);
  });

  test("[Akka] the acceptable heartbeat pause shifts the crossing: 1 s heartbeats with a 3 s pause are suspected after ≈4.56 s", () => {
    const { state, last } = feed(createPhiDetector({ ...noPause, acceptableHeartbeatPauseMs: 3000 }), 0, steady(150, 1000));
    const at = crossing(state, last);
    expect(Math.abs(at - (4000 + Y_PHI_8 * 100))).toBeLessThanOrEqual(1);
    expect(isAvailable(state, last + 4000)).toBe(true);
  });

  test("[HDYK04 §3] jittery heartbeats tolerate larger gaps: 500/1500 ms alternating (std 500) convicts at ≈3.8 s, a 2.5 s gap is fine", () => {
    const jitter = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 500 : 1500));
    const jittery = feed(createPhiDetector(noPause), 0, jitter);
    const regular = feed(createPhiDetector(noPause), 0, steady(100, 1000));
    expect(intervalStats(jittery.state)).toEqual({ mean: 1000, stdDeviation: 500 });
    const at = crossing(jittery.state, jittery.last);
    expect(Math.abs(at - (1000 + Y_PHI_8 * 500))).toBeLessThanOrEqual(1);
    expect(isAvailable(jittery.state, jittery.last + 2500)).toBe(true);
    expect(isAvailable(regular.state, regular.last + 2500)).toBe(false);
    expect(phi(jittery.state, jittery.last + 2500)).toBeLessThan(phi(regular.state, regular.last + 2500));
  });

  test("[HDYK04] uniform jitter in [500, 1500] ms (seeded) tolerates a 2 s gap that convicts a regular heartbeat", () => {
    const seed = 0x5eed;
    const rand = mulberry32(seed);
    const intervals = Array.from({ length: 100 }, () => 500 + Math.round(rand() * 1000));
    const jittery = feed(createPhiDetector(noPause), 0, intervals);
    const regular = feed(createPhiDetector(noPause), 0, steady(100, 1000));
    const std = intervalStats(jittery.state)?.stdDeviation ?? 0;
    expect(std, `seed ${seed}`).toBeGreaterThan(250);
    expect(isAvailable(jittery.state, jittery.last + 2000), `seed ${seed}`).toBe(true);
    expect(isAvailable(regular.state, regular.last + 2000)).toBe(false);
  });

  test("[HDYK04] phi = -log10(1 - Φ(y)): the normal tail matches reference values from the centre to the far tail", () => {
    const reference: Array<[number, number]> = [
      [-3, Math.log1p(-1.3498980316300946e-3)],
      [-1, Math.log(0.8413447460685429)],
      [0, Math.log(0.5)],
      [1, Math.log(0.15865525393145705)],
      [2, Math.log(0.022750131948179195)],
      [3, Math.log(1.3498980316300946e-3)],
      [5, Math.log(2.866515718791939e-7)],
      [Y_PHI_8, Math.log(1e-8)],
      [10, Math.log(7.619853024160527e-24)],
    ];
    for (const [y, logQ] of reference) expect(logNormalUpperTail(y)).toBeCloseTo(logQ, 9);
    // Beyond double range of Q itself (Q(40) ≈ 3.7e-350): still finite in log form, ≈ -y²/2 - ln(y√(2π)).
    expect(logNormalUpperTail(40)).toBeCloseTo(-800 - Math.log(40 * Math.sqrt(2 * Math.PI)) + Math.log1p(-1 / 1600), 5);
  });

  test("no NaN or Infinity: phi is capped at MAX_PHI after absurd silence and is 0 when the clock runs backwards", () => {
    for (const distribution of ["normal", "logistic"] as const) {
      const { state, last } = feed(createPhiDetector({ ...noPause, distribution }), 0, steady(50, 1000));
      for (const elapsed of [1e5, 1e9, 1e15, 1e300]) {
        const p = phi(state, last + elapsed);
        expect(Number.isFinite(p)).toBe(true);
        expect(p).toBeLessThanOrEqual(MAX_PHI);
        expect(p).toBeGreaterThan(8);
      }
      expect(phi(state, last + 1e300)).toBe(MAX_PHI);
      expect(phi(state, last - 5000)).toBe(phi(state, last));
      expect(phi(state, last)).toBeGreaterThanOrEqual(0);
      expect(phi(state, last)).toBeLessThan(1e-6);
    }
  });

  test("non-finite clock readings and invalid configurations throw RangeError", () => {
    const s = heartbeat(createPhiDetector(), 0);
    expect(() => phi(s, Number.NaN)).toThrow(RangeError);
    expect(() => heartbeat(s, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => createPhiDetector({ maxSamples: 0 })).toThrow(RangeError);
    expect(() => createPhiDetector({ minStdDeviationMs: 0 })).toThrow(RangeError);
    expect(() => createPhiDetector({ acceptableHeartbeatPauseMs: -1 })).toThrow(RangeError);
    expect(() => createPhiDetector({ firstHeartbeatEstimateMs: Number.NaN })).toThrow(RangeError);
  });

  test("[HDYK04 §4] the window is bounded: it keeps the newest maxSamples intervals and forgets the bootstrap seeds", () => {
    const { state } = feed(createPhiDetector({ ...noPause, maxSamples: 10 }), 0, [...steady(10, 2000), ...steady(10, 1000)]);
    expect(state.intervals).toEqual(steady(10, 1000));
  });

  test("[Akka] the interval that ends a suspected period is not recorded, so one outage does not skew the window", () => {
    const before = feed(createPhiDetector(noPause), 0, steady(50, 1000));
    expect(isAvailable(before.state, before.last + 30_000)).toBe(false);
    const after = heartbeat(before.state, before.last + 30_000);
    expect(after.intervals).toEqual(before.state.intervals);
    expect(after.lastArrival).toBe(before.last + 30_000);
    // A late but tolerated heartbeat is recorded.
    const tolerated = heartbeat(before.state, before.last + 1200);
    expect(tolerated.intervals.at(-1)).toBe(1200);
  });

  test("a heartbeat older than the latest one (another isolate's clock) is ignored", () => {
    const { state, last } = feed(createPhiDetector(noPause), 0, steady(5, 1000));
    expect(heartbeat(state, last - 10)).toBe(state);
  });

  test("isAvailable defaults to the configured threshold (8) and accepts another", () => {
    const { state, last } = feed(createPhiDetector(noPause), 0, steady(150, 1000));
    const t = last + 1400; // y = 4: phi ≈ 4.5
    expect(phi(state, t)).toBeGreaterThan(4);
    expect(phi(state, t)).toBeLessThan(5);
    expect(isAvailable(state, t)).toBe(true);
    expect(isAvailable(state, t, 4)).toBe(false);
    const strict = feed(createPhiDetector({ ...noPause, threshold: 4 }), 0, steady(150, 1000));
    expect(isAvailable(strict.state, strict.last + 1400)).toBe(false);
  });

  test("the state is plain JSON: a round trip through JSON gives the same phi", () => {
    const { state, last } = feed(createPhiDetector(), 0, [900, 1100, 1000, 950, 1020]);
    const copy = JSON.parse(JSON.stringify(state)) as PhiState;
    expect(copy).toEqual(state);
    for (const e of [0, 500, 3000, 5000, 9000]) expect(phi(copy, last + e)).toBe(phi(state, last + e));
  });

  test("heartbeat does not mutate its input", () => {
    const s = heartbeat(createPhiDetector(), 0);
    const frozen = JSON.stringify(s);
    heartbeat(s, 1000);
    expect(JSON.stringify(s)).toBe(frozen);
  });
});

// ---------------------------------------------------------------------------------------------------
// circuit breaker
// ---------------------------------------------------------------------------------------------------

function failures(s: BreakerState, n: number, at: number): BreakerState {
  let x = s;
  for (let i = 0; i < n; i++) x = onFailure(x, at, false);
  return x;
}

function successes(s: BreakerState, n: number, at: number): BreakerState {
  let x = s;
  for (let i = 0; i < n; i++) x = onSuccess(x, at, false);
  return x;
}

describe("circuit breaker", () => {
  test("[Fowler] a closed breaker allows every request and tryAcquire leaves the state as it was", () => {
    const s = createBreaker();
    const a = tryAcquire(s, 0);
    expect(a).toEqual({ allowed: true, state: s, probe: false });
    expect(a.state).toBe(s);
  });

  test("[Fowler] opens on the N-th consecutive failure, not before", () => {
    const s = failures(createBreaker({ consecutiveFailures: 5, minimumRequests: 1000 }), 4, 0);
    expect(s.status).toBe("closed");
    const opened = onFailure(s, 0, false);
    expect(opened.status).toBe("open");
    expect(opened.openUntil).toBe(5_000);
    expect(tryAcquire(opened, 4_999).allowed).toBe(false);
  });

  test("a success resets the consecutive-failure count", () => {
    let s = failures(createBreaker({ consecutiveFailures: 3, minimumRequests: 1000 }), 2, 0);
    s = onSuccess(s, 1, false);
    s = failures(s, 2, 2);
    expect(s.status).toBe("closed");
    expect(s.consecutiveFailures).toBe(2);
  });

  test("failure rate: below the minimum volume even 100% failures do not open it; at the volume a rate >= R does", () => {
    const config = { consecutiveFailures: 1000, failureRateThreshold: 0.5, minimumRequests: 20 };
    let s = failures(createBreaker(config), 19, 100);
    expect(s.status).toBe("closed");
    expect(windowCounts(s, 100)).toEqual({ successes: 0, failures: 19 });
    s = onFailure(s, 100, false);
    expect(s.status).toBe("open");

    // Interleaved: 10 successes and 9 failures stay closed (volume 19); the 20th outcome, a failure, makes 10/20 = R.
    let t = createBreaker(config);
    for (let i = 0; i < 19; i++) t = i % 2 === 0 ? onSuccess(t, 100, false) : onFailure(t, 100, false);
    expect(t.status).toBe("closed");
    expect(windowCounts(t, 100)).toEqual({ successes: 10, failures: 9 });
    expect(onFailure(t, 100, false).status).toBe("open");
  });

  test("failure rate just below the threshold keeps it closed; reaching it opens", () => {
    const config = { consecutiveFailures: 1000, failureRateThreshold: 0.5, minimumRequests: 20 };
    let s = successes(createBreaker(config), 11, 0);
    s = failures(s, 9, 0);
    expect(windowCounts(s, 0)).toEqual({ successes: 11, failures: 9 });
    expect(s.status).toBe("closed"); // 45%
    s = onFailure(s, 0, false); // 10/21 = 47.6%
    expect(s.status).toBe("closed");
    s = onFailure(s, 0, false); // 11/22 = 50%
    expect(s.status).toBe("open");
  });

  test("a success that completes the minimum volume over a failing window opens it", () => {
    let s = failures(createBreaker({ consecutiveFailures: 1000, failureRateThreshold: 0.5, minimumRequests: 10 }), 9, 0);
    expect(s.status).toBe("closed");
    s = onSuccess(s, 0, false); // 9/10 failed, volume reached
    expect(s.status).toBe("open");
  });

  test("the rolling window forgets outcomes a bucket at a time (10 buckets of 1 s over 10 s)", () => {
    const config = { consecutiveFailures: 1000, failureRateThreshold: 0.5, minimumRequests: 20, windowMs: 10_000, buckets: 10 };
    let s = failures(createBreaker(config), 9, 500); // bucket 0
    s = successes(s, 11, 5_500); // bucket 5: 9/20 = 45%, closed
    expect(windowCounts(s, 9_999)).toEqual({ successes: 11, failures: 9 });
    expect(windowCounts(s, 10_000)).toEqual({ successes: 11, failures: 0 });
    // 9 more failures: 9/20 = 45% closed; had the aged-out 9 still counted, 18/29 = 62% would have opened it.
    s = failures(s, 9, 10_000);
    expect(s.status).toBe("closed");
    expect(s.window.length).toBeLessThanOrEqual(10);
  });

  test("[Fowler] after openMs the breaker is half-open and admits exactly halfOpenMaxProbes concurrent probes", () => {
    let s = failures(createBreaker({ consecutiveFailures: 1, openMs: 1000, halfOpenMaxProbes: 3 }), 1, 0);
    expect(statusAt(s, 999)).toBe("open");
    expect(statusAt(s, 1000)).toBe("half-open");
    expect(tryAcquire(s, 999).allowed).toBe(false);
    const granted: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const a = tryAcquire(s, 1000 + i);
      granted.push(a.allowed && a.probe);
      s = a.state;
    }
    expect(granted).toEqual([true, true, true, false, false]);
    expect(s.status).toBe("half-open");
    expect(s.probes).toHaveLength(3);
  });

  test("[Fowler] a probe success closes the breaker and clears its window and counters", () => {
    let s = failures(createBreaker({ consecutiveFailures: 3, openMs: 1000 }), 3, 0);
    const a = tryAcquire(s, 1000);
    expect(a.probe).toBe(true);
    s = onSuccess(a.state, 1010, true);
    expect(s.status).toBe("closed");
    expect(s.consecutiveFailures).toBe(0);
    expect(s.window).toEqual([]);
    expect(s.openings).toBe(0);
    expect(tryAcquire(s, 1011).allowed).toBe(true);
  });

  test("with successThreshold 2 it takes two probe successes to close; the freed slot admits the next probe", () => {
    let s = failures(createBreaker({ consecutiveFailures: 1, openMs: 1000, halfOpenMaxProbes: 1, successThreshold: 2 }), 1, 0);
    let a = tryAcquire(s, 1000);
    expect(tryAcquire(a.state, 1001).allowed).toBe(false);
    s = onSuccess(a.state, 1005, true);
    expect(s.status).toBe("half-open");
    a = tryAcquire(s, 1006);
    expect(a.allowed && a.probe).toBe(true);
    s = onSuccess(a.state, 1010, true);
    expect(s.status).toBe("closed");
  });

  test("[Fowler] a probe failure re-opens the breaker, and each opening in a row lasts longer up to maxOpenMs", () => {
    const config = { consecutiveFailures: 1, openMs: 1000, openBackoffMultiplier: 2, maxOpenMs: 5000 };
    let s = onFailure(createBreaker(config), 0, false);
    const durations: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      durations.push((s.openUntil ?? 0) - (s.openedAt ?? 0));
      now = s.openUntil ?? 0;
      const a = tryAcquire(s, now);
      expect(a.probe).toBe(true);
      s = onFailure(a.state, now + 1, true);
      expect(s.status).toBe("open");
    }
    expect(durations).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
    expect(openDuration(s.config, 0)).toBe(1000);
    expect(openDuration(s.config, 10_000)).toBe(5000);
  });

  test("after a close the next opening starts again at openMs", () => {
    const config = { consecutiveFailures: 1, openMs: 1000, openBackoffMultiplier: 3, maxOpenMs: 60_000 };
    let s = onFailure(createBreaker(config), 0, false);
    let a = tryAcquire(s, 1000);
    s = onFailure(a.state, 1000, true); // 3000 ms
    expect((s.openUntil ?? 0) - 1000).toBe(3000);
    a = tryAcquire(s, 4000);
    s = onSuccess(a.state, 4000, true);
    expect(s.status).toBe("closed");
    s = onFailure(s, 5000, false);
    expect(s.openUntil).toBe(6000);
  });

  test("openBackoffMultiplier 1 keeps every opening at openMs", () => {
    let s = onFailure(createBreaker({ consecutiveFailures: 1, openMs: 700, openBackoffMultiplier: 1 }), 0, false);
    for (let i = 0; i < 4; i++) {
      const at = s.openUntil ?? 0;
      s = onFailure(tryAcquire(s, at).state, at, true);
      expect((s.openUntil ?? 0) - at).toBe(700);
    }
  });

  test("a probe that never reports frees its slot after probeTimeoutMs", () => {
    let s = onFailure(createBreaker({ consecutiveFailures: 1, openMs: 1000, halfOpenMaxProbes: 1, probeTimeoutMs: 5000 }), 0, false);
    s = tryAcquire(s, 1000).state;
    expect(tryAcquire(s, 5999).allowed).toBe(false);
    expect(retryAfterMs(s, 5999)).toBe(1);
    const a = tryAcquire(s, 6000);
    expect(a.allowed && a.probe).toBe(true);
    expect(a.state.probes).toEqual([6000]);
  });

  test("results that arrive while open change nothing; non-probe results while half-open change nothing", () => {
    const open = onFailure(createBreaker({ consecutiveFailures: 1, openMs: 1000 }), 0, false);
    expect(onFailure(open, 10, false)).toBe(open);
    expect(onSuccess(open, 10, false)).toBe(open);
    const half = tryAcquire(open, 1000).state;
    expect(onSuccess(half, 1001, false)).toBe(half);
    expect(onFailure(half, 1001, false)).toBe(half);
  });

  test("retryAfterMs gives the time left until openUntil (for Retry-After), 0 when closed", () => {
    const s = onFailure(createBreaker({ consecutiveFailures: 1, openMs: 5000 }), 1000, false);
    expect(retryAfterMs(s, 1000)).toBe(5000);
    expect(retryAfterMs(s, 4500)).toBe(1500);
    expect(retryAfterMs(s, 7000)).toBe(0);
    expect(retryAfterMs(createBreaker(), 0)).toBe(0);
  });

  test("invalid configurations and clock readings throw RangeError", () => {
    expect(() => createBreaker({ failureRateThreshold: 0 })).toThrow(RangeError);
    expect(() => createBreaker({ failureRateThreshold: 1.5 })).toThrow(RangeError);
    expect(() => createBreaker({ buckets: 0 })).toThrow(RangeError);
    expect(() => createBreaker({ openBackoffMultiplier: 0.5 })).toThrow(RangeError);
    expect(() => createBreaker({ halfOpenMaxProbes: 1.5 })).toThrow(RangeError);
    expect(() => tryAcquire(createBreaker(), Number.NaN)).toThrow(RangeError);
  });

  test("the state is plain JSON: a JSON round trip is deep-equal, parses back, and behaves the same", () => {
    let s = failures(createBreaker({ consecutiveFailures: 2, halfOpenMaxProbes: 2 }), 2, 0);
    s = tryAcquire(s, 5000).state;
    const wire = JSON.parse(JSON.stringify(s)) as unknown;
    expect(wire).toEqual(s);
    const parsed = parseBreakerState(wire);
    expect(parsed).toEqual(s);
    expect(tryAcquire(parsed, 5001)).toEqual(tryAcquire(s, 5001));
    expect(() => parseBreakerState({ ...s, status: "ajar" })).toThrow();
    expect(() => parseBreakerState({ ...s, config: { ...s.config, buckets: -1 } })).toThrow();
  });

  test("snapshot is a deep copy: changing it does not change the breaker", () => {
    const s = successes(createBreaker(), 3, 0);
    const copy = snapshot(s);
    expect(copy).toEqual(s);
    copy.window[0] = { epoch: 0, successes: 99, failures: 99 };
    copy.config.openMs = 1;
    expect(s.window[0]?.successes).toBe(3);
    expect(s.config.openMs).toBe(5000);
  });

  describe("merge (shared through the Durable Object)", () => {
    test("the later generation wins", () => {
      const closed = successes(createBreaker({ consecutiveFailures: 2 }), 1, 0);
      const opened = failures(closed, 2, 10);
      expect(opened.generation).toBe(closed.generation + 1);
      expect(merge(closed, opened)).toEqual(opened);
      expect(merge(opened, closed)).toEqual(opened);
    });

    test("at equal generation copies that diverged from half-open settle on open (the cautious side)", () => {
      const half = tryAcquire(onFailure(createBreaker({ consecutiveFailures: 1, openMs: 100, halfOpenMaxProbes: 2 }), 0, false), 100).state;
      const closedCopy = onSuccess(half, 110, true);
      const reopenedCopy = onFailure(half, 111, true);
      expect(closedCopy.generation).toBe(reopenedCopy.generation);
      expect(merge(closedCopy, reopenedCopy).status).toBe("open");
      expect(merge(reopenedCopy, closedCopy).status).toBe("open");
    });

    test("copies of the same closed generation join counts with max, so a snapshot delivered twice is not double-counted", () => {
      const base = successes(createBreaker({ consecutiveFailures: 10 }), 2, 0);
      const a = failures(base, 3, 1500);
      const b = successes(base, 4, 1500);
      const m = merge(a, b);
      expect(m.consecutiveFailures).toBe(3);
      expect(windowCounts(m, 1500)).toEqual({ successes: 2 + 4, failures: 3 });
      expect(merge(m, a)).toEqual(m);
    });

    test("merge is commutative, associative and idempotent over states reached by random event sequences (seeded)", () => {
      const seed = 20_240_601;
      const rand = mulberry32(seed);
      const config = { consecutiveFailures: 3, minimumRequests: 4, openMs: 200, halfOpenMaxProbes: 2, windowMs: 1000, buckets: 4 };
      const states: BreakerState[] = [];
      for (let run = 0; run < 12; run++) {
        let s = createBreaker(config);
        let now = 0;
        const steps = Math.floor(rand() * 40);
        for (let i = 0; i < steps; i++) {
          now += Math.floor(rand() * 150);
          const r = rand();
          if (r < 0.3) s = tryAcquire(s, now).state;
          else if (r < 0.6) s = onFailure(s, now, rand() < 0.5);
          else s = onSuccess(s, now, rand() < 0.5);
        }
        states.push(s);
      }
      for (const a of states) {
        expect(merge(a, a), `seed ${seed}`).toEqual(a);
        for (const b of states) {
          expect(merge(a, b), `seed ${seed}`).toEqual(merge(b, a));
          for (const c of states) expect(merge(merge(a, b), c), `seed ${seed}`).toEqual(merge(a, merge(b, c)));
        }
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// outlier detection
// ---------------------------------------------------------------------------------------------------

function results(state: OutlierState, id: string, kinds: readonly OutlierResult[], now: number, poolSize: number): OutlierState {
  let s = state;
  for (const k of kinds) s = onResult(s, id, k, now, poolSize).state;
  return s;
}

const five5xx: OutlierResult[] = ["5xx", "5xx", "5xx", "5xx", "5xx"];

describe("outlier detection", () => {
  test("[Envoy consecutive_5xx] five consecutive 5xx eject an upstream for base_ejection_time", () => {
    let s = createOutlierDetector();
    s = results(s, "a", five5xx.slice(0, 4), 0, 3);
    expect(isEjected(s, "a", 0)).toBe(false);
    const step = onResult(s, "a", "5xx", 0, 3);
    expect(step.event).toBe("ejected");
    expect(isEjected(step.state, "a", 0)).toBe(true);
    expect(upstreamState(step.state, "a").ejectedUntil).toBe(30_000);
  });

  test("[Envoy] a success resets the consecutive counter", () => {
    let s = results(createOutlierDetector(), "a", ["5xx", "5xx", "5xx", "5xx", "success", "5xx", "5xx", "5xx", "5xx"], 0, 3);
    expect(isEjected(s, "a", 0)).toBe(false);
    expect(upstreamState(s, "a").consecutive5xx).toBe(4);
    s = results(s, "a", ["gateway", "success"], 0, 3);
    expect(upstreamState(s, "a")).toMatchObject({ consecutive5xx: 0, consecutiveGateway: 0 });
  });

  test("[Envoy consecutive_gateway_failure] gateway failures count for both detectors; a non-gateway 5xx breaks the gateway run", () => {
    const config = { consecutive5xx: 10, consecutiveGatewayFailure: 3 };
    let s = results(createOutlierDetector(config), "a", ["gateway", "gateway", "5xx", "gateway", "gateway"], 0, 3);
    expect(isEjected(s, "a", 0)).toBe(false);
    expect(upstreamState(s, "a")).toMatchObject({ consecutive5xx: 5, consecutiveGateway: 2 });
    const step = onResult(s, "a", "gateway", 0, 3);
    expect(step.event).toBe("ejected");
    s = results(createOutlierDetector(config), "b", ["5xx", "5xx", "5xx", "5xx", "5xx", "5xx", "5xx", "5xx", "5xx"], 0, 3);
    expect(isEjected(s, "b", 0)).toBe(false);
    expect(onResult(s, "b", "5xx", 0, 3).event).toBe("ejected");
  });

  test("[Envoy] un-ejection is automatic once the ejection time has passed", () => {
    const s = results(createOutlierDetector({ baseEjectionMs: 1000, maxEjectionMs: 10_000 }), "a", five5xx, 500, 3);
    expect(isEjected(s, "a", 1499)).toBe(true);
    expect(isEjected(s, "a", 1500)).toBe(false);
    expect(ejected(s, 1499)).toEqual(["a"]);
    expect(ejected(s, 1500)).toEqual([]);
  });

  test("[Envoy] ejection time is base × ejections in a row, capped by max_ejection_time", () => {
    let s = createOutlierDetector({ baseEjectionMs: 30_000, maxEjectionMs: 100_000, multiplierDecayMs: 10_000 });
    let now = 0;
    const durations: number[] = [];
    for (let i = 0; i < 6; i++) {
      s = results(s, "a", five5xx, now, 2);
      const u = upstreamState(s, "a");
      durations.push((u.ejectedUntil ?? 0) - (u.ejectedAt ?? 0));
      now = u.ejectedUntil ?? 0; // fails again the moment it returns
    }
    expect(durations).toEqual([30_000, 60_000, 90_000, 100_000, 100_000, 100_000]);
    expect(upstreamState(s, "a").ejections).toBe(6);
  });

  test("[Envoy] the multiplier decreases by one per interval the upstream stays healthy", () => {
    const config = { baseEjectionMs: 30_000, maxEjectionMs: 300_000, multiplierDecayMs: 10_000 };
    let s = results(createOutlierDetector(config), "a", five5xx, 0, 2); // 30 s, multiplier 1
    s = results(s, "a", five5xx, 30_000, 2); // 60 s, multiplier 2, back at 90 s
    expect(upstreamState(s, "a").ejectedUntil).toBe(90_000);
    // Healthy for 10 s: multiplier 1, the next ejection is 2 × base.
    const after10 = results(s, "a", five5xx, 100_000, 2);
    expect(upstreamState(after10, "a").ejectedUntil).toBe(100_000 + 60_000);
    // Healthy for 25 s: multiplier back to 0, the next ejection is base again.
    const after25 = results(s, "a", five5xx, 115_000, 2);
    expect(upstreamState(after25, "a").ejectedUntil).toBe(115_000 + 30_000);
  });

  test("[Envoy ejectHost] max_ejection_percent: eject only while 100 × (ejected + 1) / pool <= max", () => {
    // 10 upstreams, 20 %: two may be out, the third is refused.
    let s = createOutlierDetector({ maxEjectionPercent: 20 });
    const events: string[] = [];
    for (const id of ["a", "b", "c"]) {
      s = results(s, id, five5xx.slice(0, 4), 0, 10);
      const step = onResult(s, id, "5xx", 0, 10);
      events.push(step.event);
      s = step.state;
    }
    expect(events).toEqual(["ejected", "ejected", "overflow"]);
    expect(ejected(s, 0)).toEqual(["a", "b"]);
    // No rounding: 4 upstreams at 50 % allow exactly 2; at 49 % only 1 (2/4 = 50 > 49) since the first is always allowed.
    const at = (percent: number): string[] => {
      let x = createOutlierDetector({ maxEjectionPercent: percent });
      for (const id of ["a", "b", "c"]) x = results(x, id, five5xx, 0, 4);
      return ejected(x, 0);
    };
    expect(at(50)).toEqual(["a", "b"]);
    expect(at(49)).toEqual(["a"]);
    expect(at(75)).toEqual(["a", "b", "c"]);
  });

  test("[Envoy always_eject_one_host] with 10 % and fewer than 10 upstreams nothing is ejected unless one host is always allowed", () => {
    const without = results(createOutlierDetector({ maxEjectionPercent: 10, alwaysEjectOneHost: false }), "a", five5xx, 0, 5);
    expect(ejected(without, 0)).toEqual([]);
    let withOne = results(createOutlierDetector({ maxEjectionPercent: 10, alwaysEjectOneHost: true }), "a", five5xx, 0, 5);
    withOne = results(withOne, "b", five5xx, 0, 5);
    expect(ejected(withOne, 0)).toEqual(["a"]);
    // max_ejection_percent 0 disables ejection unless always_eject_one_host.
    expect(ejected(results(createOutlierDetector({ maxEjectionPercent: 0, alwaysEjectOneHost: false }), "a", five5xx, 0, 5), 0)).toEqual([]);
  });

  test("[Envoy] the cap counts only upstreams ejected now: when one returns another may go", () => {
    let s = createOutlierDetector({ maxEjectionPercent: 10, alwaysEjectOneHost: true, baseEjectionMs: 1000, maxEjectionMs: 1000 });
    s = results(s, "a", five5xx, 0, 3);
    let step = onResult(results(s, "b", five5xx.slice(0, 4), 500, 3), "b", "5xx", 500, 3);
    expect(step.event).toBe("overflow");
    s = results(step.state, "b", five5xx.slice(0, 4), 1000, 3);
    step = onResult(s, "b", "5xx", 1000, 3);
    expect(step.event).toBe("ejected");
    expect(ejected(step.state, 1000)).toEqual(["b"]);
  });

  test("[Envoy] an ejection refused by the cap resets the counter: it takes a fresh run of failures to try again", () => {
    let s = createOutlierDetector({ maxEjectionPercent: 10, alwaysEjectOneHost: true, baseEjectionMs: 1000, maxEjectionMs: 1000 });
    s = results(s, "a", five5xx, 0, 3);
    s = results(s, "b", five5xx, 0, 3); // overflow
    expect(upstreamState(s, "b").consecutive5xx).toBe(0);
    s = onResult(s, "b", "5xx", 2000, 3).state; // "a" is back, but one 5xx is not five
    expect(isEjected(s, "b", 2000)).toBe(false);
  });

  test("results for an upstream that is ejected are ignored (requests sent before the ejection)", () => {
    const s = results(createOutlierDetector(), "a", five5xx, 0, 3);
    const later = results(s, "a", ["5xx", "5xx", "success"], 10, 3);
    expect(later).toBe(s);
  });

  test("[Envoy successful_active_health_check_uneject_host] uneject returns an upstream early and the multiplier decays from then", () => {
    let s = results(createOutlierDetector({ baseEjectionMs: 30_000, multiplierDecayMs: 10_000 }), "a", five5xx, 0, 3);
    s = uneject(s, "a", 5_000);
    expect(isEjected(s, "a", 5_000)).toBe(false);
    expect(upstreamState(s, "a").ejectedUntil).toBe(5_000);
    expect(uneject(s, "a", 6_000)).toBe(s);
    s = results(s, "a", five5xx, 6_000, 3); // multiplier still 1 → 2
    expect(upstreamState(s, "a").ejectedUntil).toBe(6_000 + 60_000);
  });

  test("retain drops upstreams that left the pool, so they no longer count towards the cap", () => {
    let s = results(createOutlierDetector({ maxEjectionPercent: 10, alwaysEjectOneHost: true }), "gone", five5xx, 0, 3);
    s = retain(s, ["a", "b"]);
    expect(ejected(s, 0)).toEqual([]);
    s = results(s, "a", five5xx, 0, 2);
    expect(ejected(s, 0)).toEqual(["a"]);
  });

  test("upstream ids are plain keys, even __proto__ or constructor", () => {
    let s = createOutlierDetector({ maxEjectionPercent: 100 });
    expect(upstreamState(s, "constructor").consecutive5xx).toBe(0);
    s = results(s, "__proto__", five5xx, 0, 3);
    s = results(s, "constructor", five5xx.slice(0, 2), 0, 3);
    expect(isEjected(s, "__proto__", 0)).toBe(true);
    expect(ejected(s, 0)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(s.upstreams)).toBe(Object.prototype);
    const round = JSON.parse(JSON.stringify(retain(s, ["__proto__", "constructor"]))) as OutlierState;
    expect(isEjected(round, "__proto__", 0)).toBe(true);
    expect(upstreamState(round, "constructor").consecutive5xx).toBe(2);
  });

  test("invalid configurations and pool sizes throw RangeError", () => {
    expect(() => createOutlierDetector({ maxEjectionMs: 1000, baseEjectionMs: 2000 })).toThrow(RangeError);
    expect(() => createOutlierDetector({ maxEjectionPercent: 101 })).toThrow(RangeError);
    expect(() => createOutlierDetector({ consecutive5xx: 0 })).toThrow(RangeError);
    expect(() => onResult(createOutlierDetector(), "a", "5xx", 0, 0)).toThrow(RangeError);
    expect(() => onResult(createOutlierDetector(), "a", "5xx", Number.NaN, 3)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------
// rise / fall
// ---------------------------------------------------------------------------------------------------

function checks(state: RiseFallState, passes: readonly boolean[]): { state: RiseFallState; changes: number[] } {
  let s = state;
  const changes: number[] = [];
  passes.forEach((p, i) => {
    const step = recordCheck(s, p);
    if (step.changed) changes.push(i);
    s = step.state;
  });
  return { state: s, changes };
}

describe("active health checks: rise / fall", () => {
  test("[HAProxy rise, Envoy healthy_threshold] an unhealthy upstream becomes healthy on the rise-th consecutive pass", () => {
    const { state, changes } = checks(createRiseFall({ rise: 3, fall: 2, initial: "unhealthy" }), [true, true, true, true]);
    expect(changes).toEqual([2]);
    expect(isHealthy(state)).toBe(true);
  });

  test("[HAProxy fall, Envoy unhealthy_threshold] a healthy upstream becomes unhealthy on the fall-th consecutive failure", () => {
    const { state, changes } = checks(createRiseFall({ rise: 3, fall: 2, initial: "healthy" }), [false, false, false]);
    expect(changes).toEqual([1]);
    expect(isHealthy(state)).toBe(false);
  });

  test("a result of the other kind resets the run, so a flapping upstream keeps its state", () => {
    const up = checks(createRiseFall({ rise: 2, fall: 2, initial: "healthy" }), [false, true, false, true, false, true]);
    expect(up.changes).toEqual([]);
    expect(isHealthy(up.state)).toBe(true);
    const down = checks(createRiseFall({ rise: 2, fall: 2, initial: "unhealthy" }), [true, false, true, false, true, false]);
    expect(down.changes).toEqual([]);
    expect(isHealthy(down.state)).toBe(false);
  });

  test("a full cycle: down → up after rise passes → down after fall failures → up again", () => {
    const { state, changes } = checks(createRiseFall({ rise: 2, fall: 3 }), [true, true, false, false, false, true, true]);
    expect(changes).toEqual([1, 4, 6]);
    expect(isHealthy(state)).toBe(true);
    expect(state.checks).toBe(7);
  });

  test("the starting state is configurable (default: unhealthy until proven)", () => {
    expect(isHealthy(createRiseFall())).toBe(false);
    expect(isHealthy(createRiseFall({ initial: "healthy" }))).toBe(true);
  });

  test("[Envoy] firstPassMarksHealthy: during startup a single passing check marks a new upstream healthy", () => {
    const fast = checks(createRiseFall({ rise: 3, initial: "unhealthy", firstPassMarksHealthy: true }), [true]);
    expect(fast.changes).toEqual([0]);
    // Only the very first check: an upstream that failed first needs the full rise.
    const slow = checks(createRiseFall({ rise: 3, initial: "unhealthy", firstPassMarksHealthy: true }), [false, true, true, true]);
    expect(slow.changes).toEqual([3]);
  });

  test("invalid thresholds throw RangeError", () => {
    expect(() => createRiseFall({ rise: 0 })).toThrow(RangeError);
    expect(() => createRiseFall({ fall: 1.5 })).toThrow(RangeError);
  });
});
