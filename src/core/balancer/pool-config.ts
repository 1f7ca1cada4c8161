import { type ZodError, z } from "zod";
import { HTTP_TOKEN_RE } from "../http/proxy-headers";
import { type BreakerConfig, DEFAULT_BREAKER_CONFIG } from "../health/circuit-breaker";
import type { OutlierConfig } from "../health/outlier";
import { type BlameConfig, DEFAULT_BLAME_CONFIG } from "../health/path-blame";
import type { PhiConfig } from "../health/phi-accrual";
import type { RiseFallConfig } from "../health/rise-fall";
import type { RetryBudgetConfig } from "./retry-budget";
import { BALANCER_ALGORITHMS, type BalancerAlgorithm } from "./types";

/**
 * A load-balancer pool's configuration: the body of `PUT /admin/lb/pools/{pool}` (every field but
 * `upstreams` optional, unknown fields refused) and its normalized form, in which every field is filled.
 * The schema carries every rule, cross-field ones included, so a route that validates its body with it
 * already answers 400 naming the field; `normalizePoolConfig` then fills ids and canonical URLs.
 */

export interface PoolUpstreamConfig {
  id: string;
  /** http(s) origin plus an optional base path, without a trailing slash, query or fragment. */
  url: string;
  weight: number;
  maxInFlight: number | null;
}

/** Where the consistent-hash key comes from; the header wins when both are set. */
export interface PoolAffinityConfig {
  /** Lowercased header name (header names are case-insensitive, RFC 9110 §5.1). */
  header: string | null;
  /** Cookie name, as given (cookie names are case-sensitive). */
  cookie: string | null;
}

export interface PoolHealthCheckConfig {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  expectedStatus: number;
  rise: number;
  fall: number;
}

export interface PoolOutlierConfig {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  /** At most this share of the upstreams ejected at once; never the last one (src/core/health/outlier.ts). */
  maxEjectionPercent: number;
  /** Count 500 and other non-gateway 5xx answers against an upstream (breaker and ejection); off: only 502/503/504, timeouts and connect errors count. */
  countServerErrors: boolean;
  /** Distinct failing paths before an upstream is blamed without a peer to compare with (src/core/health/path-blame.ts). */
  minFailingPaths: number;
  /** How long a path's failures and successes are remembered as evidence. */
  blameWindowMs: number;
}

/** What passes through the proxy besides the end-to-end headers (all off by default: credentials of this origin stay here). */
export interface PoolForwardConfig {
  /** Forward the client's Authorization header to the upstream. */
  authorization: boolean;
  /** Forward the client's Cookie header to the upstream. */
  cookie: boolean;
  /** Pass the upstream's Set-Cookie headers to the client (they would set cookies on this service's origin). */
  setCookie: boolean;
}

export interface PoolBreakerConfig {
  consecutiveFailures: number;
  failureRateThreshold: number;
  minimumRequests: number;
  windowMs: number;
  openMs: number;
  halfOpenMaxProbes: number;
  successThreshold: number;
}

export interface PoolRetryConfig {
  /** Total tries, the first included. */
  attempts: number;
  /** Upstream statuses that are retried, ascending, without duplicates. */
  retryOn: number[];
  /** Retry non-idempotent methods (POST, PATCH) too. */
  nonIdempotent: boolean;
  perTryTimeoutMs: number;
  deadlineMs: number;
  budgetPercent: number;
  minRetriesPerSecond: number;
}

export interface PoolConfig {
  algorithm: BalancerAlgorithm;
  upstreams: PoolUpstreamConfig[];
  affinity: PoolAffinityConfig;
  /** null: no active checks. */
  healthCheck: PoolHealthCheckConfig | null;
  phiThreshold: number;
  /** Envoy's healthy_panic_threshold, in %: below this share of available upstreams, route to all (src/core/balancer/panic.ts); 0 turns it off. */
  healthyPanicThreshold: number;
  outlier: PoolOutlierConfig;
  breaker: PoolBreakerConfig;
  retry: PoolRetryConfig;
  forward: PoolForwardConfig;
}

export const MAX_UPSTREAMS = 64;
export const MAX_UPSTREAM_WEIGHT = 1000;
export const MAX_UPSTREAM_URL_LENGTH = 2048;
/** Cap on every duration in a pool config: beyond an hour a timer is a misconfiguration, not a choice. */
export const MAX_POOL_DURATION_MS = 3_600_000;
/** Below this a health check would hammer the upstream (and the Durable Object's alarm). */
export const MIN_HEALTH_CHECK_INTERVAL_MS = 50;

export const UPSTREAM_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
/** Pool names are URL path segments and Durable Object names. */
export const POOL_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** `/lb/pools/{pool}` is the status route, so a pool called "pools" could not be proxied to. */
const RESERVED_POOL_NAMES: ReadonlySet<string> = new Set(["pools"]);

export const DEFAULT_HEALTH_CHECK: Readonly<PoolHealthCheckConfig> = { path: "/health", intervalMs: 5_000, timeoutMs: 1_000, expectedStatus: 200, rise: 2, fall: 3 };
export const DEFAULT_POOL_OUTLIER: Readonly<PoolOutlierConfig> = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  countServerErrors: DEFAULT_BLAME_CONFIG.countServerErrors,
  minFailingPaths: DEFAULT_BLAME_CONFIG.minFailingPaths,
  blameWindowMs: DEFAULT_BLAME_CONFIG.windowMs,
};
export const DEFAULT_POOL_FORWARD: Readonly<PoolForwardConfig> = { authorization: false, cookie: false, setCookie: false };
/** Envoy's default healthy_panic_threshold. */
export const DEFAULT_HEALTHY_PANIC_THRESHOLD = 50;
export const DEFAULT_POOL_BREAKER: Readonly<PoolBreakerConfig> = {
  consecutiveFailures: 5,
  failureRateThreshold: 0.5,
  minimumRequests: 20,
  windowMs: 10_000,
  openMs: 5_000,
  halfOpenMaxProbes: 1,
  successThreshold: 1,
};
export const DEFAULT_POOL_RETRY: Readonly<PoolRetryConfig> = {
  attempts: 3,
  retryOn: [502, 503, 504],
  nonIdempotent: false,
  perTryTimeoutMs: 5_000,
  deadlineMs: 15_000,
  budgetPercent: 20,
  minRetriesPerSecond: 10,
};
export const DEFAULT_ALGORITHM: BalancerAlgorithm = "round-robin";
export const DEFAULT_PHI_THRESHOLD = 8;

/** An upstream's id when the config gives none: its position, so a list of bare URLs gets u0, u1, … */
export function defaultUpstreamId(index: number): string {
  return `u${index}`;
}

/** True when `name` can name a pool. */
export function isValidPoolName(name: string): boolean {
  return POOL_NAME_RE.test(name) && !RESERVED_POOL_NAMES.has(name);
}

/** Why `raw` is not an acceptable upstream URL, or null when it is. */
function upstreamUrlProblem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL such as http://10.0.0.1:8080";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `must use http: or https:, not ${url.protocol}`;
  if (url.username !== "" || url.password !== "") return "must not contain credentials (user:password@)";
  // The parser drops an empty "?" or "#", so look at the raw text too.
  if (url.search !== "" || raw.includes("?")) return "must not have a query string (the request's own query is forwarded)";
  if (url.hash !== "" || raw.includes("#")) return "must not have a fragment";
  return null;
}

/** The canonical form of an accepted upstream URL: lowercase scheme and host, default port dropped, no trailing slash. */
export function normalizeUpstreamUrl(raw: string): string {
  const url = new URL(raw);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const durationMs = (min = 1) => int(min, MAX_POOL_DURATION_MS);
const status = int(100, 599);

const upstreamSchema = z.strictObject({
  id: z.string().regex(UPSTREAM_ID_RE, "must be 1..64 characters of A-Z a-z 0-9 . _ : -").optional(),
  url: z
    .string()
    .max(MAX_UPSTREAM_URL_LENGTH)
    .superRefine((raw, ctx) => {
      const problem = upstreamUrlProblem(raw);
      if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
    }),
  weight: z.number().gt(0).max(MAX_UPSTREAM_WEIGHT).default(1),
  maxInFlight: int(1, Number.MAX_SAFE_INTEGER).nullable().default(null),
});

const upstreamsSchema = z
  .array(upstreamSchema, { error: (issue) => (issue.input === undefined ? "is required: a pool needs at least one upstream" : undefined) })
  .min(1, "must not be empty: a pool needs at least one upstream")
  .max(MAX_UPSTREAMS, `a pool holds at most ${MAX_UPSTREAMS} upstreams`)
  .superRefine((list, ctx) => {
    const firstIndexOf = new Map<string, number>();
    list.forEach((u, i) => {
      const id = u.id ?? defaultUpstreamId(i);
      const first = firstIndexOf.get(id);
      if (first === undefined) firstIndexOf.set(id, i);
      else ctx.addIssue({ code: "custom", path: [i, "id"], message: `duplicate id "${id}" (already used by upstreams.${first})` });
    });
  });

const affinitySchema = z.strictObject({
  // Header names (RFC 9110 §5.1) and cookie names (RFC 6265 §4.1.1) are both tokens.
  header: z.string().max(256).regex(HTTP_TOKEN_RE, "must be an HTTP header name (an RFC 9110 token)").nullable().default(null),
  cookie: z.string().max(256).regex(HTTP_TOKEN_RE, "must be a cookie name (an RFC 6265 token)").nullable().default(null),
});

const D_HC = DEFAULT_HEALTH_CHECK;
const healthCheckSchema = z
  .strictObject({
    path: z
      .string()
      .max(1024)
      .regex(/^\//, 'must start with "/"')
      .regex(/^[\x21-\x7e]*$/, "must be printable ASCII without spaces (percent-encode the rest)")
      .regex(/^[^#]*$/, "must not have a fragment")
      .default(D_HC.path),
    intervalMs: durationMs(MIN_HEALTH_CHECK_INTERVAL_MS).default(D_HC.intervalMs),
    // Default: 1 s, or half the interval when that is shorter (a 200 ms interval gets a 100 ms timeout).
    timeoutMs: durationMs().optional(),
    // fetch never surfaces a 1xx as a final response, so expecting one would fail every check.
    expectedStatus: int(200, 599).default(D_HC.expectedStatus),
    rise: int(1, 100).default(D_HC.rise),
    fall: int(1, 100).default(D_HC.fall),
  })
  .transform((h) => ({ ...h, timeoutMs: h.timeoutMs ?? Math.min(D_HC.timeoutMs, Math.floor(h.intervalMs / 2)) }))
  .superRefine((h, ctx) => {
    // A check that may outlast its interval would overlap the next one.
    if (h.timeoutMs >= h.intervalMs) {
      ctx.addIssue({ code: "custom", path: ["timeoutMs"], message: `must be less than intervalMs (timeoutMs ${h.timeoutMs}, intervalMs ${h.intervalMs})` });
    }
  });

const D_OUT = DEFAULT_POOL_OUTLIER;
const outlierSchema = z
  .strictObject({
    consecutive5xx: int(1, 10_000).default(D_OUT.consecutive5xx),
    consecutiveGatewayFailure: int(1, 10_000).default(D_OUT.consecutiveGatewayFailure),
    baseEjectionMs: durationMs().default(D_OUT.baseEjectionMs),
    maxEjectionMs: durationMs().default(D_OUT.maxEjectionMs),
    maxEjectionPercent: z.number().min(0).max(100).default(D_OUT.maxEjectionPercent),
    countServerErrors: z.boolean().default(D_OUT.countServerErrors),
    minFailingPaths: int(1, 16).default(D_OUT.minFailingPaths),
    blameWindowMs: durationMs(100).default(D_OUT.blameWindowMs),
  })
  .superRefine((o, ctx) => {
    // Envoy refuses this too; the outlier core would throw RangeError at creation.
    if (o.maxEjectionMs < o.baseEjectionMs) {
      ctx.addIssue({ code: "custom", path: ["maxEjectionMs"], message: `must be >= baseEjectionMs (maxEjectionMs ${o.maxEjectionMs}, baseEjectionMs ${o.baseEjectionMs})` });
    }
  });

const D_BRK = DEFAULT_POOL_BREAKER;
const breakerSchema = z.strictObject({
  consecutiveFailures: int(1, 10_000).default(D_BRK.consecutiveFailures),
  failureRateThreshold: z.number().gt(0).max(1).default(D_BRK.failureRateThreshold),
  minimumRequests: int(1, 1_000_000).default(D_BRK.minimumRequests),
  // Split into BREAKER_BUCKETS buckets; below 100 ms they would be shorter than clock skew between isolates.
  windowMs: durationMs(100).default(D_BRK.windowMs),
  openMs: durationMs().default(D_BRK.openMs),
  halfOpenMaxProbes: int(1, 1_000).default(D_BRK.halfOpenMaxProbes),
  successThreshold: int(1, 1_000).default(D_BRK.successThreshold),
});

const D_RET = DEFAULT_POOL_RETRY;
const retrySchema = z
  .strictObject({
    attempts: int(1, 10).default(D_RET.attempts),
    retryOn: z.array(status).max(500).default(() => [...D_RET.retryOn]),
    nonIdempotent: z.boolean().default(D_RET.nonIdempotent),
    perTryTimeoutMs: durationMs().default(D_RET.perTryTimeoutMs),
    deadlineMs: durationMs().default(D_RET.deadlineMs),
    budgetPercent: z.number().min(0).max(100).default(D_RET.budgetPercent),
    minRetriesPerSecond: z.number().min(0).max(10_000).default(D_RET.minRetriesPerSecond),
  })
  .superRefine((r, ctx) => {
    // Otherwise not even the first try could run to its own timeout.
    if (r.deadlineMs < r.perTryTimeoutMs) {
      ctx.addIssue({ code: "custom", path: ["deadlineMs"], message: `must be >= perTryTimeoutMs (deadlineMs ${r.deadlineMs}, perTryTimeoutMs ${r.perTryTimeoutMs})` });
    }
  });

/** Schema of the PUT body: a partial PoolConfig. Its output has defaults filled but ids and URLs as given. */
export const poolConfigInputSchema = z.strictObject({
  algorithm: z.enum(BALANCER_ALGORITHMS, { error: `must be one of ${BALANCER_ALGORITHMS.join(", ")}` }).default(DEFAULT_ALGORITHM),
  upstreams: upstreamsSchema,
  affinity: affinitySchema.default(() => ({ header: null, cookie: null })),
  healthCheck: healthCheckSchema.nullable().default(null),
  phiThreshold: z.number().gt(0).max(100).default(DEFAULT_PHI_THRESHOLD),
  outlier: outlierSchema.default(() => ({ ...D_OUT })),
  breaker: breakerSchema.default(() => ({ ...D_BRK })),
  retry: retrySchema.default(() => ({ ...D_RET, retryOn: [...D_RET.retryOn] })),
  healthyPanicThreshold: z.number().min(0).max(100).default(DEFAULT_HEALTHY_PANIC_THRESHOLD),
  forward: z
    .strictObject({
      authorization: z.boolean().default(DEFAULT_POOL_FORWARD.authorization),
      cookie: z.boolean().default(DEFAULT_POOL_FORWARD.cookie),
      setCookie: z.boolean().default(DEFAULT_POOL_FORWARD.setCookie),
    })
    .default(() => ({ ...DEFAULT_POOL_FORWARD })),
}, { error: (issue) => (issue.code === "invalid_type" ? "the pool config must be a JSON object" : undefined) });

export type PoolConfigInput = z.input<typeof poolConfigInputSchema>;

export interface PoolConfigIssue {
  /** Dotted path of the offending field, e.g. "upstreams.1.url"; "" for the body itself. */
  field: string;
  message: string;
}

/** An invalid pool config; `field` names the first offending field, `message` is "<field>: <reason>". */
export class PoolConfigError extends Error {
  override readonly name = "PoolConfigError";
  readonly field: string;
  readonly reason: string;

  constructor(readonly issues: readonly PoolConfigIssue[]) {
    const first = issues[0] ?? { field: "", message: "invalid pool config" };
    super(first.field === "" ? first.message : `${first.field}: ${first.message}`);
    this.field = first.field;
    this.reason = first.message;
  }

  /** The error for a failed parse of poolConfigInputSchema (for a route that parsed the body itself). */
  static fromZodError(error: ZodError): PoolConfigError {
    return new PoolConfigError(
      error.issues.flatMap((issue) => {
        const path = issue.path.map(String);
        // zod reports unknown fields once, on their parent object; name each field itself.
        if (issue.code === "unrecognized_keys") return issue.keys.map((key) => ({ field: [...path, key].join("."), message: "unknown field" }));
        return [{ field: path.join("."), message: issue.message }];
      }),
    );
  }
}

/** Validates a PUT body and fills every default. Throws PoolConfigError naming the first bad field. */
export function normalizePoolConfig(input: unknown): PoolConfig {
  const parsed = poolConfigInputSchema.safeParse(input);
  if (!parsed.success) throw PoolConfigError.fromZodError(parsed.error);
  const p = parsed.data;
  return {
    algorithm: p.algorithm,
    upstreams: p.upstreams.map((u, i) => ({
      id: u.id ?? defaultUpstreamId(i),
      url: normalizeUpstreamUrl(u.url),
      weight: u.weight,
      maxInFlight: u.maxInFlight,
    })),
    affinity: { header: p.affinity.header?.toLowerCase() ?? null, cookie: p.affinity.cookie },
    healthCheck: p.healthCheck === null ? null : { ...p.healthCheck },
    phiThreshold: p.phiThreshold,
    healthyPanicThreshold: p.healthyPanicThreshold,
    outlier: { ...p.outlier },
    breaker: { ...p.breaker },
    retry: { ...p.retry, retryOn: [...new Set(p.retry.retryOn)].sort((a, b) => a - b) },
    forward: { ...p.forward },
  };
}

// ---------------------------------------------------------------------------------------------------
// The pool config as the configurations of the health cores and the retry budget
// ---------------------------------------------------------------------------------------------------

/** Buckets of the breaker's rolling window (the core's default; not a pool setting). */
export const BREAKER_BUCKETS = 10;

/** Time allowed for a probe's outcome to reach the pool object after the probe request's deadline. */
export const PROBE_REPORT_GRACE_MS = 5_000;

/** The circuit-breaker config of a pool; the core's defaults for the rest. */
export function breakerConfigOf(pool: PoolConfig): Partial<BreakerConfig> {
  return {
    ...pool.breaker,
    buckets: BREAKER_BUCKETS,
    // The core caps every opening at maxOpenMs (default 60 s): raise the cap rather than silently shorten a longer openMs.
    maxOpenMs: Math.max(DEFAULT_BREAKER_CONFIG.maxOpenMs, pool.breaker.openMs),
    // A probe's result is lost if its isolate dies or its report fails: free the slot once the probe
    // request cannot be running any more (its deadline, plus time for the report), not after a fixed 30 s.
    probeTimeoutMs: pool.retry.deadlineMs + PROBE_REPORT_GRACE_MS,
  };
}

/** The outlier-detector config of a pool (alwaysEjectOneHost and multiplierDecayMs: the core's defaults). */
export function outlierConfigOf(pool: PoolConfig): Partial<OutlierConfig> {
  const o = pool.outlier;
  return { consecutive5xx: o.consecutive5xx, consecutiveGatewayFailure: o.consecutiveGatewayFailure, baseEjectionMs: o.baseEjectionMs, maxEjectionMs: o.maxEjectionMs, maxEjectionPercent: o.maxEjectionPercent };
}

/** The path-blame config of a pool: which failed tries count against an upstream. */
export function blameConfigOf(pool: PoolConfig): BlameConfig {
  const o = pool.outlier;
  return { windowMs: o.blameWindowMs, minFailingPaths: o.minFailingPaths, countServerErrors: o.countServerErrors };
}

/**
 * The rise/fall config of a pool. Upstreams start healthy: starting unhealthy (the core's default)
 * would refuse all traffic for rise × interval after every config change, and forever without checks;
 * a dead upstream is caught by the first failed checks and by the passive detectors instead.
 */
export function riseFallConfigOf(pool: PoolConfig): Partial<RiseFallConfig> {
  const runs = pool.healthCheck === null ? {} : { rise: pool.healthCheck.rise, fall: pool.healthCheck.fall };
  return { ...runs, initial: "healthy", firstPassMarksHealthy: false };
}

/**
 * The phi-accrual config of a pool. With active checks a heartbeat is due every interval and may
 * arrive up to a timeout late, so that much silence is tolerated and the interval seeds the estimate.
 * Without checks the only heartbeats are traffic replies, so phi rises on any idle upstream: the shell
 * should report it but not let it make an upstream unavailable.
 */
export function phiConfigOf(pool: PoolConfig): Partial<PhiConfig> {
  const hc = pool.healthCheck;
  if (hc === null) return { threshold: pool.phiThreshold };
  return { threshold: pool.phiThreshold, firstHeartbeatEstimateMs: hc.intervalMs, acceptableHeartbeatPauseMs: hc.intervalMs + hc.timeoutMs };
}

/** The retry-budget config of a pool (ttl: the budget's default 10 s). */
export function retryBudgetConfigOf(pool: PoolConfig): Partial<RetryBudgetConfig> {
  return { minRetriesPerSecond: pool.retry.minRetriesPerSecond, percentCanRetry: pool.retry.budgetPercent / 100 };
}

/**
 * A config stored by an earlier version, read back: normalizing fills the fields added since with
 * their defaults (a stored config is a valid PUT body). Returns it unchanged if that fails.
 */
export function upgradePoolConfig(stored: PoolConfig): PoolConfig {
  try {
    return normalizePoolConfig(stored);
  } catch {
    return stored;
  }
}
