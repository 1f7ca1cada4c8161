import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getConfig, LIMITS } from "../config";
import { isVersion } from "../core/cache/version";
import { contentSafetyHeaders } from "../core/http/content-safety";
import { createRouter, type AppEnv } from "../http/app-env";
import { requireToken } from "../http/auth";
import { errorBody, HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { keyFromUrl, readBodyLimited } from "../http/validation";
import { shardStub } from "../services/cache";
import { resetGuard, shardGuardName } from "../services/do-guard";
import { withTimeout } from "../services/replica-call";

/** Admin and fault-injection routes; every one needs ADMIN_TOKEN. */
export const adminRoutes = createRouter();
adminRoutes.use("/admin/*", requireToken("ADMIN_TOKEN"));

const security = [{ adminToken: [] }];

function knownShard(c: Context<AppEnv>, shard: string): string {
  if (!getConfig(c.env).cache.shards.some((s) => s.id === shard)) {
    throw new HttpError(404, "not_found", `no shard named ${JSON.stringify(shard)}`);
  }
  return shard;
}

const ShardParam = z.object({ shard: z.string().openapi({ param: { name: "shard", in: "path" }, example: "shard-0" }) });
const FaultSchema = z.object({
  mode: z.enum(["healthy", "down", "slow"]).openapi({ description: "down: refuse every call; slow: answer after delayMs" }),
  delayMs: z.number().int().min(0).max(60_000).default(0),
});

adminRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/cache/shards/{shard}/fault", tags: ["admin"], security,
    summary: "Inject a fault into one cache shard (persisted until healed with mode=healthy)",
    request: { params: ShardParam, body: { required: true, content: { "application/json": { schema: FaultSchema } } } },
    responses: { 200: { description: "The shard's fault now", content: { "application/json": { schema: FaultSchema } } }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const shard = knownShard(c, c.req.valid("param").shard);
    const fault = await shardStub(c.env, shard).setFault(c.req.valid("json"));
    // The operator says the shard is well again: this isolate stops refusing it at once instead of
    // waiting for its breaker's next probe (other isolates still probe on their own).
    if (fault.mode === "healthy") resetGuard(shardGuardName(shard));
    return c.json(fault, 200);
  },
);

adminRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/cache/shards/{shard}/crash", tags: ["admin"], security,
    summary: "Crash one cache shard (ctx.abort(): memory lost, storage kept; it restarts on the next call)",
    request: { params: ShardParam },
    responses: { 200: { description: "Crashed", content: { "application/json": { schema: z.object({ shard: z.string(), crashed: z.boolean() }) } } }, ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const shard = knownShard(c, c.req.valid("param").shard);
    // The aborted call itself rejects: that rejection is the crash we asked for.
    await shardStub(c.env, shard).crash().catch(() => undefined);
    return c.json({ shard, crashed: true }, 200);
  },
);

// Direct access to one replica's copy of a key, bypassing the ring and the quorum: for inspecting
// replica divergence, and the baseline of bench:cache.
const REPLICA_KEY_PATH = "/admin/cache/shards/:shard/keys/:key{.+}";
function replicaKey(c: Context<AppEnv>): { shard: string; key: string } {
  const shard = knownShard(c, c.req.param("shard") ?? "");
  return { shard, key: keyFromUrl(c.req.url, "/keys/", LIMITS.keyBytes) };
}

adminRoutes.get(REPLICA_KEY_PATH, async (c) => {
  const { shard, key } = replicaKey(c);
  const timeout = getConfig(c.env).cache.replicaTimeoutMs;
  const rec = await withTimeout(shardStub(c.env, shard).get(key), timeout).catch((err: unknown) => {
    throw new HttpError(503, "replica_unavailable", `${shard}: ${err instanceof Error ? err.message : String(err)}`, undefined, { "Retry-After": "1" });
  });
  if (!rec.live) return c.json({ ...errorBody("not_found", "key not found on this replica"), version: rec.version }, 404);
  const contentType = rec.contentType ?? "application/octet-stream";
  return c.body((rec.value ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>, 200, {
    "content-type": contentType,
    "x-cache-version": rec.version ?? "",
    ...contentSafetyHeaders(contentType),
  });
});

adminRoutes.put(REPLICA_KEY_PATH, async (c) => {
  const { shard, key } = replicaKey(c);
  const value = await readBodyLimited(c.req.raw, LIMITS.valueBytes);
  const version = c.req.query("version");
  if (!version || !isVersion(version)) {
    throw new HttpError(400, "invalid_request", "query.version: a version like 00000000000a.000000.00000000 is required");
  }
  const contentType = c.req.header("content-type") ?? "application/octet-stream";
  const timeout = getConfig(c.env).cache.replicaTimeoutMs;
  const res = await withTimeout(shardStub(c.env, shard).put({ key, version, value, contentType, expiresAt: null }), timeout).catch((err: unknown) => {
    throw new HttpError(503, "replica_unavailable", `${shard}: ${err instanceof Error ? err.message : String(err)}`, undefined, { "Retry-After": "1" });
  });
  return c.json({ shard, key, ...res }, 200);
});

const registry = adminRoutes.openAPIRegistry;
const ReplicaParams = z.object({ shard: ShardParam.shape.shard, key: z.string().openapi({ param: { name: "key", in: "path" } }) });
registry.registerPath({
  method: "get", path: "/admin/cache/shards/{shard}/keys/{key}", tags: ["admin"], security,
  summary: "Read one replica's copy of a key directly (no ring, no quorum)",
  request: { params: ReplicaParams },
  responses: { 200: { description: "The replica's value; header x-cache-version" }, ...errorResponses(400, 401, 403, 404, 503) },
});
registry.registerPath({
  method: "put", path: "/admin/cache/shards/{shard}/keys/{key}", tags: ["admin"], security,
  summary: "Write one replica's copy directly with an explicit version (to stage divergence; last writer wins)",
  request: { params: ReplicaParams, query: z.object({ version: z.string() }) },
  responses: { 200: { description: "Whether the replica applied it" }, ...errorResponses(400, 401, 403, 404, 503) },
});
