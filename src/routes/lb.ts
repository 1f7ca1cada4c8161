import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type PoolStatus, poolStub } from "../../durable-objects/upstream-pool";
import { registryStub } from "../../durable-objects/work-registry";
import { getConfig, LIMITS } from "../config";
import { BALANCER_ALGORITHMS } from "../core/balancer";
import { isValidPoolName, normalizePoolConfig, PoolConfigError } from "../core/balancer/pool-config";
import { createRouter, type AppEnv } from "../http/app-env";
import { requireToken } from "../http/auth";
import { HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { readJsonBody } from "../http/validation";
import { forget } from "../services/lb-state";
import { proxy } from "../services/lb-proxy";
import { withTimeout } from "../services/replica-call";

/**
 * The edge load balancer: pools managed through the admin API (each persisted in its UpstreamPool
 * Durable Object), their status, and the proxy itself at ANY /lb/{pool}/*.
 */
export const lbRoutes = createRouter();
lbRoutes.use("/admin/lb/*", requireToken("ADMIN_TOKEN"));

const security = [{ adminToken: [] }];
/** Calls to the pool object from the admin and status routes give up after this long. */
const POOL_CALL_TIMEOUT_MS = 5_000;

const PoolParam = z.object({ pool: z.string().openapi({ param: { name: "pool", in: "path" }, example: "web" }) });

function poolName(c: Context<AppEnv>): string {
  const pool = c.req.param("pool") ?? "";
  if (!isValidPoolName(pool)) {
    throw new HttpError(400, "invalid_request", `pool: ${JSON.stringify(pool)} is not a pool name (1..64 of a-z 0-9 _ -, starting with a letter or digit; "pools" is reserved)`);
  }
  return pool;
}

function unknownPool(pool: string): HttpError {
  return new HttpError(404, "not_found", `no load-balancer pool named ${JSON.stringify(pool)}`);
}

async function callPool<T>(p: Promise<T>): Promise<T> {
  try {
    return await withTimeout(p, POOL_CALL_TIMEOUT_MS);
  } catch (err) {
    throw new HttpError(503, "pool_unavailable", `the pool object did not answer: ${err instanceof Error ? err.message : String(err)}`, undefined, { "Retry-After": "1" });
  }
}

const PoolConfigJson = z
  .object({
    algorithm: z.enum(BALANCER_ALGORITHMS).optional(),
    upstreams: z.array(z.object({ url: z.string(), id: z.string().optional(), weight: z.number().optional(), maxInFlight: z.number().int().nullable().optional() })),
    affinity: z.object({ header: z.string().nullable().optional(), cookie: z.string().nullable().optional() }).optional(),
    healthCheck: z.object({ path: z.string(), intervalMs: z.number(), timeoutMs: z.number(), expectedStatus: z.number(), rise: z.number(), fall: z.number() }).partial().nullable().optional(),
    phiThreshold: z.number().optional(),
    healthyPanicThreshold: z.number().optional().openapi({ description: "Envoy's panic threshold, %: below this share of available upstreams, ejections and open breakers are ignored (default 50, 0: off)" }),
    outlier: z
      .object({ consecutive5xx: z.number(), consecutiveGatewayFailure: z.number(), baseEjectionMs: z.number(), maxEjectionMs: z.number(), maxEjectionPercent: z.number(), countServerErrors: z.boolean(), minFailingPaths: z.number(), blameWindowMs: z.number() })
      .partial()
      .optional(),
    breaker: z.record(z.string(), z.number()).optional(),
    retry: z.object({ attempts: z.number(), retryOn: z.array(z.number()), nonIdempotent: z.boolean(), perTryTimeoutMs: z.number(), deadlineMs: z.number(), budgetPercent: z.number(), minRetriesPerSecond: z.number() }).partial().optional(),
    forward: z.object({ authorization: z.boolean(), cookie: z.boolean(), setCookie: z.boolean() }).partial().optional().openapi({ description: "Forward the client's Authorization / Cookie, pass the upstream's Set-Cookie (all off by default)" }),
  })
  .openapi("PoolConfig", { description: "Every field but upstreams is optional; see the README for defaults and ranges." });
const PoolDefinition = z.object({ pool: z.string(), version: z.number(), config: z.unknown() }).openapi("PoolDefinition");

// A plain route: the body is validated by the core (one set of rules, naming the field); its OpenAPI
// description is registered by hand below (a declared body would be consumed by the schema validator).
lbRoutes.put("/admin/lb/pools/:pool", async (c) => {
  const pool = poolName(c);
  const input = await readJsonBody(c.req.raw, LIMITS.jsonBodyBytes);
  let config;
  try {
    config = normalizePoolConfig(input);
  } catch (err) {
    if (err instanceof PoolConfigError) throw new HttpError(400, "invalid_request", err.message, { field: err.field });
    throw err;
  }
  const stored = await callPool(poolStub(c.env, pool).configure(pool, config));
  // This isolate routes with the new definition at once; others pick it up within LB_STATE_TTL_MS.
  forget(pool);
  await listed(registryStub(c.env).recordPool(pool));
  return c.json(stored, 200);
});
lbRoutes.openAPIRegistry.registerPath({
  method: "put", path: "/admin/lb/pools/{pool}", tags: ["lb"], security,
  summary: "Create or replace a load-balancer pool (upstreams, algorithm, health check, breaker, retries)",
  request: { params: PoolParam, body: { required: true, content: { "application/json": { schema: PoolConfigJson } } } },
  responses: { 200: { description: "The pool as stored, defaults filled in", content: { "application/json": { schema: PoolDefinition } } }, ...errorResponses(400, 401, 403, 413, 503) },
});

lbRoutes.openapi(
  createRoute({
    method: "get", path: "/admin/lb/pools/{pool}", tags: ["lb"], security, summary: "A pool's stored definition",
    request: { params: PoolParam },
    responses: { 200: { description: "The pool", content: { "application/json": { schema: PoolDefinition } } }, ...errorResponses(400, 401, 403, 404, 503) },
  }),
  async (c) => {
    const pool = poolName(c);
    const stored = await callPool(poolStub(c.env, pool).getConfig());
    if (stored === null) throw unknownPool(pool);
    return c.json(stored, 200);
  },
);

lbRoutes.openapi(
  createRoute({
    method: "delete", path: "/admin/lb/pools/{pool}", tags: ["lb"], security, summary: "Delete a pool and its health state",
    request: { params: PoolParam },
    responses: { 200: { description: "Deleted", content: { "application/json": { schema: z.object({ pool: z.string(), deleted: z.literal(true) }) } } }, ...errorResponses(400, 401, 403, 404, 503) },
  }),
  async (c) => {
    const pool = poolName(c);
    const removed = await callPool(poolStub(c.env, pool).remove());
    forget(pool);
    await listed(registryStub(c.env).forgetPool(pool));
    if (!removed) throw unknownPool(pool);
    return c.json({ pool, deleted: true as const }, 200);
  },
);

lbRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/lb/pools/{pool}/crash", tags: ["lb", "admin"], security,
    summary: "Fault injection: crash the pool's Durable Object (ctx.abort); its stored config and health survive",
    request: { params: PoolParam },
    responses: { 200: { description: "Crashed", content: { "application/json": { schema: z.object({ pool: z.string(), crashed: z.literal(true) }) } } }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const pool = poolName(c);
    const stub = poolStub(c.env, pool);
    if ((await callPool(stub.getConfig())) === null) throw unknownPool(pool);
    // The abort rejects the call that caused it: that is the crash, not an error.
    await stub.crash().catch(() => undefined);
    return c.json({ pool, crashed: true as const }, 200);
  },
);

const Counts = z.object({ requests: z.number(), successes: z.number(), failures: z.number(), timeouts: z.number(), connectErrors: z.number(), status5xx: z.number() });
const StatusSchema = z
  .object({
    pool: z.string(),
    version: z.number(),
    algorithm: z.enum(BALANCER_ALGORITHMS),
    healthCheck: z.unknown(),
    upstreams: z.array(
      z.object({
        id: z.string(), url: z.string(), weight: z.number(), available: z.boolean(),
        health: z.enum(["healthy", "unhealthy"]), phi: z.number().nullable(),
        ejected: z.boolean(), ejectedUntil: z.number().nullable(), ejections: z.number(),
        breaker: z.object({ status: z.enum(["closed", "open", "half-open"]), openUntil: z.number().nullable() }),
        inFlight: z.number(), ewmaMs: z.number().nullable(), counts: Counts,
        lastCheck: z.object({ at: z.number(), ok: z.boolean(), status: z.number().nullable(), latencyMs: z.number().nullable(), error: z.string().nullable() }).nullable(),
      }),
    ),
  })
  .openapi("PoolStatus");

lbRoutes.openapi(
  createRoute({
    method: "get", path: "/lb/pools/{pool}", tags: ["lb"],
    summary: "Each upstream's health, phi, ejection, breaker state, in-flight, EWMA latency and counts",
    request: { params: PoolParam },
    responses: { 200: { description: "The pool's status", content: { "application/json": { schema: StatusSchema } } }, ...errorResponses(400, 401, 404, 503) },
  }),
  async (c) => {
    const pool = poolName(c);
    const status: PoolStatus | null = await callPool(poolStub(c.env, pool).status());
    if (status === null) throw unknownPool(pool);
    return c.json(status, 200);
  },
);

/** Pools whose status one list shows (each is a call to its object). */
const MAX_LISTED_POOLS = 20;

/** Best effort: the pool list is for display; the pool itself is what the proxy uses. */
async function listed(p: Promise<void>): Promise<void> {
  await withTimeout(p, 5_000).catch((err: unknown) => console.error(JSON.stringify({ msg: "pool list not updated", err: String(err) })));
}

// Every pool's status (for the dashboard); before the proxy routes, which would take "pools" for a pool.
lbRoutes.get("/lb/pools", async (c) => {
  const names = await callPool(registryStub(c.env).pools());
  // One pool object that does not answer is shown as such; it does not fail the list.
  const pools = await Promise.all(
    names.slice(0, MAX_LISTED_POOLS).map(async (name) => {
      try {
        return (await callPool(poolStub(c.env, name).status())) ?? { pool: name, error: "deleted" };
      } catch (err) {
        return { pool: name, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  return c.json({ pools, truncated: names.length > MAX_LISTED_POOLS }, 200);
});
lbRoutes.openAPIRegistry.registerPath({
  method: "get", path: "/lb/pools", tags: ["lb"], summary: "Every pool's status (as GET /lb/pools/{pool})",
  responses: { 200: { description: "{pools: [...]}" }, ...errorResponses(401, 503) },
});

async function proxied(c: Context<AppEnv>): Promise<Response> {
  const pool = poolName(c);
  // From the raw URL: the path below /lb/{pool} goes upstream exactly as the client sent it.
  const path = new URL(c.req.url).pathname;
  // The first segment is the pool however it was spelled (Hono decodes `pool`; `%65` is `e`).
  const rest = path.replace(/^\/lb\/[^/]*/, "");
  const ttl = getConfig(c.env).lb.stateTtlMs;
  return proxy({ env: c.env, waitUntil: (p) => c.executionCtx.waitUntil(p), stateTtlMs: ttl }, pool, rest, c.req.raw);
}

lbRoutes.all("/lb/:pool", proxied);
lbRoutes.all("/lb/:pool/*", proxied);

lbRoutes.openAPIRegistry.registerPath({
  method: "get", path: "/lb/{pool}/{path}", tags: ["lb"], security: [],
  summary: "Proxy (any method) to an upstream of the pool: retries, timeouts, X-Forwarded-*; X-Upstream names the upstream",
  request: { params: z.object({ pool: z.string().openapi({ param: { name: "pool", in: "path" } }), path: z.string().openapi({ param: { name: "path", in: "path" } }) }) },
  responses: {
    200: { description: "The upstream's response, streamed (any status)" },
    404: { description: "No such pool" },
    502: { description: "The upstream could not be reached and no retry was allowed" },
    503: { description: "No upstream available (all down, ejected or breakers open); Retry-After says when to retry" },
    504: { description: "The upstream did not answer within the per-try timeout and no retry was allowed" },
  },
});

