import { describe, expect, it, test } from "vitest";
import {
  breakerConfigOf,
  DEFAULT_POOL_BREAKER,
  DEFAULT_POOL_OUTLIER,
  DEFAULT_POOL_RETRY,
  isValidPoolName,
  normalizePoolConfig,
  outlierConfigOf,
  phiConfigOf,
  type PoolConfig,
  poolConfigInputSchema,
  PoolConfigError,
  POOL_NAME_RE,
  retryBudgetConfigOf,
  riseFallConfigOf,
} from "../../src/core/balancer/pool-config";
import { createRetryBudget } from "../../src/core/balancer/retry-budget";
import { BALANCER_ALGORITHMS } from "../../src/core/balancer/types";
import { createBreaker } from "../../src/core/health/circuit-breaker";
import { createOutlierDetector } from "../../src/core/health/outlier";
import { createPhiDetector } from "../../src/core/health/phi-accrual";
import { createRiseFall } from "../../src/core/health/rise-fall";

const ONE = { upstreams: [{ url: "http://10.0.0.1:8080" }] };

/** The PoolConfigError thrown for `input`, or a failure if it was accepted. */
function rejection(input: unknown): PoolConfigError {
  try {
    normalizePoolConfig(input);
  } catch (err) {
    if (err instanceof PoolConfigError) return err;
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(input)}`);
}

/** Asserts that `input` is refused and the error names `field`. */
function expectRejected(input: unknown, field: string, message?: RegExp): void {
  const err = rejection(input);
  expect(err.field).toBe(field);
  expect(err.message.startsWith(field === "" ? "" : `${field}: `)).toBe(true);
  if (message) expect(err.reason).toMatch(message);
}

const withUpstream = (upstream: Record<string, unknown>) => ({ upstreams: [{ url: "http://a", ...upstream }] });

describe("defaults", () => {
  test("a body with only one upstream URL is filled to the whole contract", () => {
    const config: PoolConfig = normalizePoolConfig(ONE);
    expect(config).toEqual({
      algorithm: "round-robin",
      upstreams: [{ id: "u0", url: "http://10.0.0.1:8080", weight: 1, maxInFlight: null }],
      affinity: { header: null, cookie: null },
      healthCheck: null,
      phiThreshold: 8,
      healthyPanicThreshold: 50,
      outlier: { consecutive5xx: 5, consecutiveGatewayFailure: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50, countServerErrors: true, minFailingPaths: 3, blameWindowMs: 30_000 },
      breaker: { consecutiveFailures: 5, failureRateThreshold: 0.5, minimumRequests: 20, windowMs: 10_000, openMs: 5_000, halfOpenMaxProbes: 1, successThreshold: 1 },
      retry: { attempts: 3, retryOn: [502, 503, 504], nonIdempotent: false, perTryTimeoutMs: 5_000, deadlineMs: 15_000, budgetPercent: 20, minRetriesPerSecond: 10 },
      forward: { authorization: false, cookie: false, setCookie: false },
    });
  });

  test("an empty healthCheck object turns checks on with every default", () => {
    expect(normalizePoolConfig({ ...ONE, healthCheck: {} }).healthCheck).toEqual({ path: "/health", intervalMs: 5_000, timeoutMs: 1_000, expectedStatus: 200, rise: 2, fall: 3 });
  });

  test("healthCheck null means no active checks", () => {
    expect(normalizePoolConfig({ ...ONE, healthCheck: null }).healthCheck).toBeNull();
  });

  test("a partial section keeps its other defaults", () => {
    const config = normalizePoolConfig({ ...ONE, outlier: { consecutive5xx: 2 }, breaker: { openMs: 1_000 }, retry: { attempts: 5 } });
    expect(config.outlier).toEqual({ ...DEFAULT_POOL_OUTLIER, consecutive5xx: 2 });
    expect(config.breaker).toEqual({ ...DEFAULT_POOL_BREAKER, openMs: 1_000 });
    expect(config.retry).toEqual({ ...DEFAULT_POOL_RETRY, retryOn: [502, 503, 504], attempts: 5 });
  });

  test("upstream ids default to their position, u0, u1, …", () => {
    const config = normalizePoolConfig({ upstreams: [{ url: "http://a" }, { id: "b", url: "http://b" }, { url: "http://c" }] });
    expect(config.upstreams.map((u) => u.id)).toEqual(["u0", "b", "u2"]);
  });

  test("normalizing twice changes nothing (a stored config can be re-validated)", () => {
    const once = normalizePoolConfig({ ...ONE, algorithm: "p2c-ewma", healthCheck: { intervalMs: 1_000, timeoutMs: 200 }, retry: { retryOn: [504, 502] } });
    expect(normalizePoolConfig(once)).toEqual(once);
  });

  test("the defaults are fresh copies: changing one normalized config does not change the next", () => {
    const a = normalizePoolConfig(ONE);
    a.retry.retryOn.push(500);
    a.outlier.consecutive5xx = 99;
    const b = normalizePoolConfig(ONE);
    expect(b.retry.retryOn).toEqual([502, 503, 504]);
    expect(b.outlier.consecutive5xx).toBe(5);
    expect(DEFAULT_POOL_RETRY.retryOn).toEqual([502, 503, 504]);
  });

  test("the input schema's output has defaults filled but leaves ids and URLs as given", () => {
    const out = poolConfigInputSchema.parse({ upstreams: [{ url: "HTTP://A.example/x/" }] });
    expect(out.upstreams[0]).toEqual({ url: "HTTP://A.example/x/", weight: 1, maxInFlight: null });
    expect(out.algorithm).toBe("round-robin");
  });
});

describe("normalization", () => {
  test.each([
    ["http://h:1/api/", "http://h:1/api"],
    ["http://h:1/", "http://h:1"],
    ["http://h:1", "http://h:1"],
    ["http://h/a//", "http://h/a"],
    ["HTTP://Example.COM:80/Api", "http://example.com/Api"],
    ["https://example.com:443/", "https://example.com"],
    ["https://example.com:8443/base", "https://example.com:8443/base"],
    ["http://[::1]:8080/", "http://[::1]:8080"],
  ])("the upstream URL %s is stored as %s (trailing slash removed, scheme and host lowercased, default port dropped)", (raw, normalized) => {
    expect(normalizePoolConfig(withUpstream({ url: raw })).upstreams[0]?.url).toBe(normalized);
  });

  test("retryOn is stored ascending without duplicates", () => {
    expect(normalizePoolConfig({ ...ONE, retry: { retryOn: [504, 500, 504, 502] } }).retry.retryOn).toEqual([500, 502, 504]);
  });

  test("an empty retryOn is kept (retry only connect errors and timeouts)", () => {
    expect(normalizePoolConfig({ ...ONE, retry: { retryOn: [] } }).retry.retryOn).toEqual([]);
  });

  test("the affinity header name is lowercased (header names are case-insensitive), the cookie name kept (it is not)", () => {
    expect(normalizePoolConfig({ ...ONE, affinity: { header: "X-Session-Id", cookie: "SessionID" } }).affinity).toEqual({ header: "x-session-id", cookie: "SessionID" });
  });

  test("every algorithm is accepted", () => {
    for (const algorithm of BALANCER_ALGORITHMS) expect(normalizePoolConfig({ ...ONE, algorithm }).algorithm).toBe(algorithm);
  });

  test("64 upstreams are accepted", () => {
    const upstreams = Array.from({ length: 64 }, (_, i) => ({ url: `http://h${i}` }));
    expect(normalizePoolConfig({ upstreams }).upstreams).toHaveLength(64);
  });

  test("maxInFlight and weight are kept", () => {
    expect(normalizePoolConfig(withUpstream({ weight: 2.5, maxInFlight: 10 })).upstreams[0]).toMatchObject({ weight: 2.5, maxInFlight: 10 });
  });
});

describe("validation: each rule names its field", () => {
  test("the body must be an object", () => {
    expectRejected("nope", "", /must be a JSON object/);
    expectRejected(null, "");
    expectRejected([], "");
  });

  test("an unknown top-level field is refused by name", () => {
    expectRejected({ ...ONE, algoritm: "random" }, "algoritm", /unknown field/);
  });

  test("an unknown field inside a section is refused by its full path", () => {
    expectRejected({ ...ONE, outlier: { consecutive5xx: 3, interval: 1 } }, "outlier.interval", /unknown field/);
    expectRejected({ upstreams: [{ url: "http://a", host: "x" }] }, "upstreams.0.host", /unknown field/);
    expectRejected({ ...ONE, healthCheck: { method: "HEAD" } }, "healthCheck.method");
  });

  test("every unknown field is listed among the issues", () => {
    const err = rejection({ ...ONE, a: 1, b: 2 });
    expect(err.issues.map((i) => i.field)).toEqual(["a", "b"]);
  });

  test("an unknown algorithm is refused with the list of known ones", () => {
    const err = rejection({ ...ONE, algorithm: "fastest" });
    expect(err.field).toBe("algorithm");
    for (const name of BALANCER_ALGORITHMS) expect(err.message).toContain(name);
  });

  test("upstreams is required", () => {
    expectRejected({}, "upstreams", /required/);
  });

  test("an empty pool is refused with a clear message", () => {
    expectRejected({ upstreams: [] }, "upstreams", /at least one upstream/);
  });

  test("more than 64 upstreams are refused", () => {
    const upstreams = Array.from({ length: 65 }, (_, i) => ({ url: `http://h${i}` }));
    expectRejected({ upstreams }, "upstreams", /at most 64/);
  });

  test("a missing url is refused", () => {
    expectRejected({ upstreams: [{ id: "a" }] }, "upstreams.0.url");
  });

  test.each([
    ["not a url", /absolute URL/],
    ["/relative/path", /absolute URL/],
    ["ftp://h/x", /http: or https:/],
    ["ws://h/x", /http: or https:/],
    ["file:///etc/passwd", /http: or https:/],
    ["http://user:pw@h/x", /credentials/],
    ["http://user@h/x", /credentials/],
    ["http://h/x?a=1", /query/],
    ["http://h/x?", /query/],
    ["http://h/x#top", /fragment/],
    ["http://h/x#", /fragment/],
    [`http://h/${"a".repeat(2048)}`, /2048/],
  ])("the upstream URL %s is refused", (url, message) => {
    expectRejected({ upstreams: [{ url: "http://ok" }, { url }] }, "upstreams.1.url", message);
  });

  test.each([[0], [-1], [1000.5], [Number.POSITIVE_INFINITY], [Number.NaN], ["2"]])("weight %s is refused (finite, > 0, <= 1000)", (weight) => {
    expectRejected(withUpstream({ weight }), "upstreams.0.weight");
  });

  test("weight 1000 and a fractional weight are accepted", () => {
    expect(normalizePoolConfig(withUpstream({ weight: 1000 })).upstreams[0]?.weight).toBe(1000);
    expect(normalizePoolConfig(withUpstream({ weight: 0.01 })).upstreams[0]?.weight).toBe(0.01);
  });

  test.each([[0], [-3], [1.5], ["4"]])("maxInFlight %s is refused (an integer >= 1, or null)", (maxInFlight) => {
    expectRejected(withUpstream({ maxInFlight }), "upstreams.0.maxInFlight");
  });

  test("maxInFlight null means unlimited", () => {
    expect(normalizePoolConfig(withUpstream({ maxInFlight: null })).upstreams[0]?.maxInFlight).toBeNull();
  });

  test.each([[""], ["has space"], ["slash/inside"], ["é"], ["x".repeat(65)], [7]])("the upstream id %s is refused", (id) => {
    expectRejected(withUpstream({ id }), "upstreams.0.id");
  });

  test("ids may use letters, digits, dot, underscore, colon and dash", () => {
    expect(normalizePoolConfig(withUpstream({ id: "eu-west_1.host:8080" })).upstreams[0]?.id).toBe("eu-west_1.host:8080");
  });

  test("a duplicate id is refused on the later upstream", () => {
    expectRejected({ upstreams: [{ id: "a", url: "http://a" }, { id: "a", url: "http://b" }] }, "upstreams.1.id", /duplicate id "a".*upstreams\.0/);
  });

  test("an explicit id that collides with another upstream's default id is refused", () => {
    expectRejected({ upstreams: [{ id: "u1", url: "http://a" }, { url: "http://b" }] }, "upstreams.1.id", /duplicate id "u1"/);
  });

  test.each([["X Session"], ["x:session"], [""], ["a".repeat(257)]])("the affinity header %s is refused (not a token)", (header) => {
    expectRejected({ ...ONE, affinity: { header } }, "affinity.header", header.length > 256 ? undefined : /header name/);
  });

  test.each([["sess=id"], ["a;b"], ["with space"], [""]])("the affinity cookie %s is refused (not a token)", (cookie) => {
    expectRejected({ ...ONE, affinity: { cookie } }, "affinity.cookie", /cookie name/);
  });

  test.each([
    [{ path: "health" }, "healthCheck.path", /start with/],
    [{ path: "/he alth" }, "healthCheck.path", /printable ASCII/],
    [{ path: "/health#x" }, "healthCheck.path", /fragment/],
    [{ intervalMs: 49 }, "healthCheck.intervalMs", undefined],
    [{ intervalMs: 3_600_001 }, "healthCheck.intervalMs", undefined],
    [{ intervalMs: 1_000.5 }, "healthCheck.intervalMs", undefined],
    [{ timeoutMs: 0 }, "healthCheck.timeoutMs", undefined],
    [{ intervalMs: 1_000, timeoutMs: 1_000 }, "healthCheck.timeoutMs", /less than intervalMs/],
    [{ intervalMs: 500, timeoutMs: 1000 }, "healthCheck.timeoutMs", /less than intervalMs \(timeoutMs 1000, intervalMs 500\)/],
    [{ expectedStatus: 199 }, "healthCheck.expectedStatus", undefined],
    [{ expectedStatus: 600 }, "healthCheck.expectedStatus", undefined],
    [{ rise: 0 }, "healthCheck.rise", undefined],
    [{ fall: 101 }, "healthCheck.fall", undefined],
  ])("healthCheck %j is refused at %s", (healthCheck, field, message) => {
    expectRejected({ ...ONE, healthCheck }, field, message);
  });

  test("a health-check path may carry a query", () => {
    expect(normalizePoolConfig({ ...ONE, healthCheck: { path: "/status?full=1" } }).healthCheck?.path).toBe("/status?full=1");
  });

  test("the fastest health check the contract allows (50 ms, timeout 49 ms) is accepted", () => {
    expect(normalizePoolConfig({ ...ONE, healthCheck: { intervalMs: 50, timeoutMs: 49 } }).healthCheck).toMatchObject({ intervalMs: 50, timeoutMs: 49 });
  });

  test.each([[0], [-1], [101], ["8"]])("phiThreshold %s is refused", (phiThreshold) => {
    expectRejected({ ...ONE, phiThreshold }, "phiThreshold");
  });

  test.each([
    [{ consecutive5xx: 0 }, "outlier.consecutive5xx", undefined],
    [{ consecutiveGatewayFailure: 2.5 }, "outlier.consecutiveGatewayFailure", undefined],
    [{ baseEjectionMs: 0 }, "outlier.baseEjectionMs", undefined],
    [{ maxEjectionMs: 1_000 }, "outlier.maxEjectionMs", /must be >= baseEjectionMs/],
    [{ baseEjectionMs: 400_000 }, "outlier.maxEjectionMs", /must be >= baseEjectionMs/],
    [{ maxEjectionPercent: -1 }, "outlier.maxEjectionPercent", undefined],
    [{ maxEjectionPercent: 100.1 }, "outlier.maxEjectionPercent", undefined],
  ])("outlier %j is refused at %s", (outlier, field, message) => {
    expectRejected({ ...ONE, outlier }, field, message);
  });

  test("maxEjectionPercent 0 and 100 are accepted", () => {
    expect(normalizePoolConfig({ ...ONE, outlier: { maxEjectionPercent: 0 } }).outlier.maxEjectionPercent).toBe(0);
    expect(normalizePoolConfig({ ...ONE, outlier: { maxEjectionPercent: 100 } }).outlier.maxEjectionPercent).toBe(100);
  });

  test.each([
    [{ consecutiveFailures: 0 }, "breaker.consecutiveFailures"],
    [{ failureRateThreshold: 0 }, "breaker.failureRateThreshold"],
    [{ failureRateThreshold: 1.01 }, "breaker.failureRateThreshold"],
    [{ minimumRequests: 0 }, "breaker.minimumRequests"],
    [{ windowMs: 99 }, "breaker.windowMs"],
    [{ openMs: 0 }, "breaker.openMs"],
    [{ openMs: 3_600_001 }, "breaker.openMs"],
    [{ halfOpenMaxProbes: 0 }, "breaker.halfOpenMaxProbes"],
    [{ successThreshold: 1.5 }, "breaker.successThreshold"],
  ])("breaker %j is refused at %s", (breaker, field) => {
    expectRejected({ ...ONE, breaker }, field);
  });

  test.each([
    [{ attempts: 0 }, "retry.attempts", undefined],
    [{ attempts: 11 }, "retry.attempts", undefined],
    [{ retryOn: [502, 99] }, "retry.retryOn.1", undefined],
    [{ retryOn: [600] }, "retry.retryOn.0", undefined],
    [{ retryOn: [502.5] }, "retry.retryOn.0", undefined],
    [{ retryOn: "502" }, "retry.retryOn", undefined],
    [{ nonIdempotent: "yes" }, "retry.nonIdempotent", undefined],
    [{ perTryTimeoutMs: 0 }, "retry.perTryTimeoutMs", undefined],
    [{ perTryTimeoutMs: 20_000 }, "retry.deadlineMs", /must be >= perTryTimeoutMs/],
    [{ deadlineMs: 4_999 }, "retry.deadlineMs", /must be >= perTryTimeoutMs/],
    [{ budgetPercent: -0.1 }, "retry.budgetPercent", undefined],
    [{ budgetPercent: 100.5 }, "retry.budgetPercent", undefined],
    [{ minRetriesPerSecond: -1 }, "retry.minRetriesPerSecond", undefined],
  ])("retry %j is refused at %s", (retry, field, message) => {
    expectRejected({ ...ONE, retry }, field, message);
  });

  test("retry boundaries are accepted: 1 or 10 attempts, deadline equal to the per-try timeout, budget 0 or 100 %", () => {
    for (const retry of [{ attempts: 1 }, { attempts: 10 }, { perTryTimeoutMs: 2_000, deadlineMs: 2_000 }, { budgetPercent: 0, minRetriesPerSecond: 0 }, { budgetPercent: 100 }]) {
      expect(() => normalizePoolConfig({ ...ONE, retry })).not.toThrow();
    }
  });

  test("the first problem in field order is the one named", () => {
    expectRejected({ algorithm: "x", upstreams: [] }, "algorithm");
  });

  test("the error carries every issue for a route that wants to list them", () => {
    const err = rejection({ algorithm: "x", upstreams: [], phiThreshold: 0 });
    expect(err.issues.map((i) => i.field)).toEqual(["algorithm", "upstreams", "phiThreshold"]);
  });

  test("PoolConfigError.fromZodError gives the same field as normalizePoolConfig for a route that parsed the body itself", () => {
    const parsed = poolConfigInputSchema.safeParse(withUpstream({ url: "ftp://x" }));
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(PoolConfigError.fromZodError(parsed.error).field).toBe("upstreams.0.url");
  });
});

describe("pool names", () => {
  test.each([["a"], ["shop"], ["my-pool_2"], ["0"], ["a".repeat(64)]])("%s is a valid pool name", (name) => {
    expect(isValidPoolName(name)).toBe(true);
    expect(POOL_NAME_RE.test(name)).toBe(true);
  });

  test.each([[""], ["-a"], ["_a"], ["Shop"], ["a.b"], ["a/b"], ["a".repeat(65)], ["é"]])("%s is not a valid pool name", (name) => {
    expect(isValidPoolName(name)).toBe(false);
  });

  test('"pools" is refused: /lb/pools/{pool} is the status route', () => {
    expect(POOL_NAME_RE.test("pools")).toBe(true);
    expect(isValidPoolName("pools")).toBe(false);
    expect(isValidPoolName("pools2")).toBe(true);
  });
});

describe("the pool config as the cores' configs", () => {
  const pool = normalizePoolConfig({
    ...ONE,
    phiThreshold: 10,
    healthCheck: { intervalMs: 2_000, timeoutMs: 500, rise: 4, fall: 2 },
    outlier: { consecutive5xx: 3, maxEjectionPercent: 30 },
    breaker: { consecutiveFailures: 7, openMs: 2_000 },
    retry: { budgetPercent: 25, minRetriesPerSecond: 4 },
  });

  test("breakerConfigOf copies the breaker section, with 10 buckets and the core's other defaults", () => {
    expect(breakerConfigOf(pool)).toEqual({ ...pool.breaker, buckets: 10, maxOpenMs: 60_000, probeTimeoutMs: pool.retry.deadlineMs + 5_000 });
    const breaker = createBreaker(breakerConfigOf(pool));
    expect(breaker.config).toMatchObject({ consecutiveFailures: 7, openMs: 2_000, buckets: 10, openBackoffMultiplier: 2, probeTimeoutMs: pool.retry.deadlineMs + 5_000 });
  });

  test("an openMs longer than the core's 60 s cap raises the cap instead of being silently shortened", () => {
    const long = normalizePoolConfig({ ...ONE, breaker: { openMs: 120_000 } });
    expect(breakerConfigOf(long).maxOpenMs).toBe(120_000);
  });

  test("outlierConfigOf copies the outlier section, which the core accepts", () => {
    expect(outlierConfigOf(pool)).toEqual({ consecutive5xx: 3, consecutiveGatewayFailure: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 30 });
    expect(createOutlierDetector(outlierConfigOf(pool)).config.alwaysEjectOneHost).toBe(true);
  });

  test("riseFallConfigOf starts upstreams healthy, with the check's rise and fall", () => {
    expect(riseFallConfigOf(pool)).toEqual({ rise: 4, fall: 2, initial: "healthy", firstPassMarksHealthy: false });
    expect(createRiseFall(riseFallConfigOf(pool)).health).toBe("healthy");
  });

  test("without health checks, riseFallConfigOf still starts upstreams healthy (nothing would ever make them so)", () => {
    const noChecks = normalizePoolConfig(ONE);
    expect(riseFallConfigOf(noChecks)).toEqual({ initial: "healthy", firstPassMarksHealthy: false });
    expect(createRiseFall(riseFallConfigOf(noChecks)).health).toBe("healthy");
  });

  test("phiConfigOf: the check interval seeds the estimate and interval + timeout of silence is acceptable", () => {
    expect(phiConfigOf(pool)).toEqual({ threshold: 10, firstHeartbeatEstimateMs: 2_000, acceptableHeartbeatPauseMs: 2_500 });
    expect(createPhiDetector(phiConfigOf(pool)).config.threshold).toBe(10);
  });

  test("phiConfigOf without health checks sets only the threshold", () => {
    expect(phiConfigOf(normalizePoolConfig({ ...ONE, phiThreshold: 3 }))).toEqual({ threshold: 3 });
  });

  test("retryBudgetConfigOf turns budgetPercent into a fraction", () => {
    expect(retryBudgetConfigOf(pool)).toEqual({ minRetriesPerSecond: 4, percentCanRetry: 0.25 });
    expect(createRetryBudget(retryBudgetConfigOf(pool)).config.ttlMs).toBe(10_000);
  });

  test("every accepted config is accepted by every core (extreme settings included)", () => {
    const extreme = normalizePoolConfig({
      ...ONE,
      phiThreshold: 100,
      healthCheck: { intervalMs: 50, timeoutMs: 1, rise: 100, fall: 100 },
      outlier: { consecutive5xx: 1, baseEjectionMs: 3_600_000, maxEjectionMs: 3_600_000, maxEjectionPercent: 0 },
      breaker: { failureRateThreshold: 1, windowMs: 100, openMs: 3_600_000, halfOpenMaxProbes: 1_000 },
      retry: { budgetPercent: 0, minRetriesPerSecond: 0 },
    });
    expect(() => createBreaker(breakerConfigOf(extreme))).not.toThrow();
    expect(() => createOutlierDetector(outlierConfigOf(extreme))).not.toThrow();
    expect(() => createRiseFall(riseFallConfigOf(extreme))).not.toThrow();
    expect(() => createPhiDetector(phiConfigOf(extreme))).not.toThrow();
    expect(() => createRetryBudget(retryBudgetConfigOf(extreme))).not.toThrow();
  });
});

describe("health-check timeout default", () => {
  it("is 1 s, or half the interval when that is shorter", () => {
    const base = { upstreams: [{ url: "http://127.0.0.1:1" }] };
    expect(normalizePoolConfig({ ...base, healthCheck: {} }).healthCheck?.timeoutMs).toBe(1000);
    expect(normalizePoolConfig({ ...base, healthCheck: { intervalMs: 200 } }).healthCheck?.timeoutMs).toBe(100);
    expect(normalizePoolConfig({ ...base, healthCheck: { intervalMs: 200, timeoutMs: 150 } }).healthCheck?.timeoutMs).toBe(150);
  });
});
