import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { createBreaker } from "../../src/core/health/circuit-breaker";

describe("DO_BREAKER_* configuration (the breaker in front of the worker's Durable Object calls)", () => {
  it("defaults need no [vars]: open after 5 consecutive failures (or 50% of 20+ calls in 10 s), for 2 s, doubling to at most 30 s, one probe", () => {
    const { doBreaker } = parseConfig({});
    expect(doBreaker).toMatchObject({
      consecutiveFailures: 5,
      failureRateThreshold: 0.5,
      minimumRequests: 20,
      windowMs: 10_000,
      openMs: 2000,
      openBackoffMultiplier: 2,
      maxOpenMs: 30_000,
      halfOpenMaxProbes: 1,
      successThreshold: 1,
    });
    expect(() => createBreaker(doBreaker)).not.toThrow();
  });

  it("reads every variable", () => {
    const { doBreaker } = parseConfig({ DO_BREAKER_FAILURES: "3", DO_BREAKER_FAILURE_RATE: "0.25", DO_BREAKER_MIN_REQUESTS: "8", DO_BREAKER_WINDOW_MS: "5000", DO_BREAKER_OPEN_MS: "500", DO_BREAKER_MAX_OPEN_MS: "4000" });
    expect(doBreaker).toMatchObject({ consecutiveFailures: 3, failureRateThreshold: 0.25, minimumRequests: 8, windowMs: 5000, openMs: 500, maxOpenMs: 4000 });
  });

  it.each([
    ["no failure threshold", { DO_BREAKER_FAILURES: "0" }, /DO_BREAKER_FAILURES/],
    ["a failure rate above 1", { DO_BREAKER_FAILURE_RATE: "1.5" }, /DO_BREAKER_FAILURE_RATE/],
    ["a failure rate of 0", { DO_BREAKER_FAILURE_RATE: "0" }, /DO_BREAKER_FAILURE_RATE/],
    ["an open time that is not a number", { DO_BREAKER_OPEN_MS: "soon" }, /DO_BREAKER_OPEN_MS/],
    ["a maximum open time below the first", { DO_BREAKER_OPEN_MS: "5000", DO_BREAKER_MAX_OPEN_MS: "1000" }, /DO_BREAKER_MAX_OPEN_MS/],
  ])("refuses %s with a message naming the variable", (_, vars, message) => {
    expect(() => parseConfig(vars)).toThrow(message);
  });
});
