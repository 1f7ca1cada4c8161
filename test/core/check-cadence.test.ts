import { describe, expect, it } from "vitest";
import { normalizePoolConfig } from "../../src/core/balancer/pool-config";
import { isActive, nextRoundAt, skipPause, wakeRoundAt, type CheckCadence } from "../../src/core/health/check-cadence";
import { applyCheck, createPoolHealth, viewOf } from "../../src/core/health/pool-health";

const T0 = 1_000_000;
const cadence = (idleIntervalMs = 0): CheckCadence => ({ intervalMs: 1_000, idleAfterMs: 30_000, idleIntervalMs });

describe("active health checks follow the pool's traffic", () => {
  it("a pool with traffic within idleAfterMs is checked every interval", () => {
    expect(isActive(T0, T0 + 29_999, cadence())).toBe(true);
    expect(nextRoundAt(T0, T0 + 29_999, cadence())).toBe(T0 + 29_999 + 1_000);
  });

  it("an idle pool is not checked at all with an idle interval of 0, and at the idle interval otherwise (never faster than its own)", () => {
    expect(isActive(T0, T0 + 30_000, cadence())).toBe(false);
    expect(nextRoundAt(T0, T0 + 30_000, cadence())).toBeNull();
    expect(nextRoundAt(T0, T0 + 30_000, cadence(300_000))).toBe(T0 + 30_000 + 300_000);
    expect(nextRoundAt(T0, T0 + 30_000, cadence(10))).toBe(T0 + 30_000 + 1_000);
  });

  it("a pool that has seen no traffic (a restarted object) counts as idle", () => {
    expect(isActive(null, T0, cadence())).toBe(false);
    expect(nextRoundAt(null, T0, cadence())).toBeNull();
  });

  it("a request wakes the checks: at once after an idle spell, else one interval after the last round", () => {
    expect(wakeRoundAt(null, T0, cadence())).toBe(T0);
    expect(wakeRoundAt(T0 - 60_000, T0, cadence())).toBe(T0);
    expect(wakeRoundAt(T0 - 200, T0, cadence())).toBe(T0 + 800);
  });
});

describe("phi-accrual does not count the checker's own pause against an upstream", () => {
  const config = normalizePoolConfig({ upstreams: [{ id: "a", url: "http://127.0.0.1:1" }], healthCheck: { intervalMs: 1_000 } });
  const pass = { ok: true, status: 200, latencyMs: 2, error: null };
  let h = createPoolHealth(config);
  for (let i = 0; i < 10; i++) h = applyCheck(h, "a", pass, T0 + i * 1_000);
  const lastRound = T0 + 9_000;
  const admitted = (health: typeof h, now: number) => viewOf(health, config, now)[0]?.admitted;

  it("without it, an hour of silence after regular passes reads as a dead upstream (why it is needed)", () => {
    expect(admitted(h, lastRound + 500)).toBe(true);
    expect(admitted(h, lastRound + 3_600_000)).toBe(false);
  });

  it("with it, the upstream is judged as it was when the checks paused", () => {
    const now = lastRound + 3_600_000;
    expect(admitted(skipPause(h, lastRound, now), now)).toBe(true);
    // Nothing moves past now, and a pause of zero changes nothing.
    expect(skipPause(h, lastRound - 60_000, lastRound + 1).upstreams.a?.phi.lastArrival).toBe(lastRound + 1);
    expect(skipPause(h, now, now)).toBe(h);
  });
});
