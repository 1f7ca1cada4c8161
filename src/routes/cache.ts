import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getConfig, LIMITS } from "../config";
import { createRouter, type AppEnv } from "../http/app-env";
import { base64ToBytes, bytesToBase64 } from "../http/base64";
import { contentSafetyHeaders } from "../core/http/content-safety";
import { errorBody, HttpError } from "../http/errors";
import { ContentTypeSchema, errorResponses } from "../http/schemas";
import { assertKey, keyFromUrl, readBodyLimited } from "../http/validation";
import { allShardStats, cacheDelete, cacheGet, cacheSet, resolveQuorum, ringFor, type CacheDeps } from "../services/cache";

/** Keys of a batch get read concurrently. */
const BATCH_READ_CONCURRENCY = 10;

function deps(c: Context<AppEnv>): CacheDeps {
  return { env: c.env, config: getConfig(c.env).cache, waitUntil: (p) => c.executionCtx.waitUntil(p) };
}

const QuorumQuery = z.object({
  r: z.coerce.number().int().min(1).max(7).optional().openapi({ description: "read quorum for this request (1..N)" }),
  w: z.coerce.number().int().min(1).max(7).optional().openapi({ description: "write quorum for this request (1..N)" }),
});

const TtlSchema = z.coerce.number().int().min(1).max(LIMITS.maxTtlMs);

const keyFromPath = (c: Context<AppEnv>) => keyFromUrl(c.req.url, "/cache/", LIMITS.keyBytes);

function quorumParam(c: Context<AppEnv>, name: "r" | "w"): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined) return undefined;
  const parsed = QuorumQuery.shape[name].safeParse(raw);
  if (!parsed.success) throw new HttpError(400, "invalid_request", `query.${name}: must be an integer from 1 to N`);
  return parsed.data;
}

function ttlParam(c: Context<AppEnv>): number | null {
  const raw = c.req.query("ttl") ?? c.req.header("x-cache-ttl-ms");
  if (raw === undefined) return null;
  const parsed = TtlSchema.safeParse(raw);
  if (!parsed.success) throw new HttpError(400, "invalid_request", `ttl: must be an integer number of milliseconds from 1 to ${LIMITS.maxTtlMs}`);
  return parsed.data;
}

/** One key of a batch: its result, or its own error (a failed quorum on one key does not fail the batch). */
async function perKey<T extends object>(key: string, run: () => Promise<T>): Promise<({ key: string } & T) | { key: string; error: { code: string; message: string } }> {
  try {
    return { key, ...(await run()) };
  } catch (err) {
    if (err instanceof HttpError) return { key, error: { code: err.code, message: err.message } };
    throw err;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function encodeValue(bytes: Uint8Array): { value: string; encoding: "utf8" | "base64" } {
  try {
    return { value: decoder.decode(bytes), encoding: "utf8" };
  } catch {
    return { value: bytesToBase64(bytes), encoding: "base64" };
  }
}

const ShardStatsSchema = z.object({
  shard: z.string(),
  reachable: z.boolean(),
  error: z.string().optional(),
  stats: z
    .object({
      keys: z.number(), bytes: z.number(), capacityBytes: z.number(), tombstones: z.number(), pendingHints: z.number(),
      hits: z.number(), misses: z.number(), evictions: z.number(), expirations: z.number(), writes: z.number(),
      staleWritesIgnored: z.number(), hintsDelivered: z.number(), countersSince: z.number(),
      fault: z.object({ mode: z.enum(["healthy", "down", "slow"]), delayMs: z.number() }),
    })
    .optional(),
});

const KeyList = z.array(z.string()).min(1).max(LIMITS.batchKeys);
const BatchEntry = z.object({
  key: z.string(),
  value: z.string(),
  encoding: z.enum(["utf8", "base64"]).default("utf8"),
  ttl: TtlSchema.optional().openapi({ description: "milliseconds" }),
  contentType: ContentTypeSchema.optional(),
});

const WriteResult = z.object({ key: z.string(), version: z.string(), expiresAt: z.number().nullable(), acks: z.number(), needed: z.number(), replicas: z.number() });

export const cacheRoutes = createRouter();

cacheRoutes.openapi(
  createRoute({
    method: "get", path: "/cache/stats", tags: ["cache"], summary: "Per-shard and total cache statistics",
    responses: {
      200: { description: "Stats", content: { "application/json": { schema: z.object({ shards: z.array(ShardStatsSchema), totals: z.record(z.string(), z.number()) }) } } },
    },
  }),
  async (c) => {
    const shards = await allShardStats(deps(c));
    const totals: Record<string, number> = { keys: 0, bytes: 0, hits: 0, misses: 0, evictions: 0, expirations: 0, writes: 0, reachableShards: 0 };
    for (const s of shards) {
      if (!s.stats) continue;
      totals.reachableShards! += 1;
      for (const k of ["keys", "bytes", "hits", "misses", "evictions", "expirations", "writes"] as const) totals[k]! += s.stats[k];
    }
    return c.json({ shards, totals }, 200);
  },
);

cacheRoutes.openapi(
  createRoute({
    method: "get", path: "/cache/ring", tags: ["cache"], summary: "The hash ring: shards, virtual nodes, ownership share, replication",
    responses: {
      200: {
        description: "Ring", content: { "application/json": { schema: z.object({
          hash: z.string(), replicas: z.number(), readQuorum: z.number(), writeQuorum: z.number(),
          shards: z.array(z.object({ id: z.string(), weight: z.number(), vnodes: z.number(), ownership: z.number() })),
        }) } },
      },
    },
  }),
  (c) => {
    const config = getConfig(c.env).cache;
    const ring = ringFor(config);
    const own = ring.ownership();
    return c.json({
      hash: "murmur3_32 (x86, seed 0) of UTF-8 bytes; vnode i of shard s at hash(`${s}#${i}`)",
      replicas: config.replicas, readQuorum: config.readQuorum, writeQuorum: config.writeQuorum,
      shards: ring.shards.map((s) => ({ id: s.id, weight: s.weight, vnodes: s.vnodes, ownership: own.get(s.id) ?? 0 })),
    }, 200);
  },
);

cacheRoutes.openapi(
  createRoute({
    method: "post", path: "/cache/batch/get", tags: ["cache"], summary: `Quorum-read up to ${LIMITS.batchKeys} keys`,
    request: {
      query: QuorumQuery.pick({ r: true }),
      body: { required: true, content: { "application/json": { schema: z.object({ keys: KeyList }) } } },
    },
    responses: {
      200: { description: "One result per key, in order; a key whose quorum failed carries its own error", content: { "application/json": { schema: z.object({ results: z.array(z.object({
        key: z.string(), found: z.boolean().optional(), value: z.string().optional(), encoding: z.enum(["utf8", "base64"]).optional(),
        contentType: z.string().optional(), version: z.string().nullable().optional(), expiresAt: z.number().nullable().optional(),
        error: z.object({ code: z.string(), message: z.string() }).optional(),
      })) }) } } },
      ...errorResponses(400, 401, 413),
    },
  }),
  async (c) => {
    const { keys } = c.req.valid("json");
    keys.forEach((k, i) => assertKey(k, LIMITS.keyBytes, `keys.${i}`));
    const r = c.req.valid("query").r;
    const d = deps(c);
    resolveQuorum(d.config, r, "r");
    // Keys are read a few at a time, and the response is budgeted in request order by encoded size
    // (JSON escapes, base64), so 100 values of 1 MiB never sit in memory at once. Keys past the
    // budget answer `response_too_large`: read them on their own.
    let budget = LIMITS.batchResponseBytes;
    const tooLarge = (key: string) => ({ key, error: { code: "response_too_large", message: `the batch response reached its limit of ${LIMITS.batchResponseBytes} bytes; read this key on its own` } });
    const results: Array<Awaited<ReturnType<typeof readOne>> | ReturnType<typeof tooLarge>> = [];
    function readOne(key: string) {
      return perKey(key, async () => {
        const { record } = await cacheGet(d, key, r);
        if (!record.live) return { found: false, version: record.version };
        return { found: true, ...encodeValue(record.value ?? new Uint8Array(0)), contentType: record.contentType, version: record.version, expiresAt: record.expiresAt ?? null };
      });
    }
    for (let i = 0; i < keys.length; i += BATCH_READ_CONCURRENCY) {
      const chunk = budget > 0 ? await Promise.all(keys.slice(i, i + BATCH_READ_CONCURRENCY).map(readOne)) : [];
      keys.slice(i, i + BATCH_READ_CONCURRENCY).forEach((key, j) => {
        const result = chunk[j];
        const size = result && "value" in result && typeof result.value === "string" ? JSON.stringify(result.value).length : 0;
        if (!result || size > budget) {
          budget = 0;
          results.push(tooLarge(key));
        } else {
          budget -= size;
          results.push(result);
        }
      });
    }
    return c.json({ results }, 200);
  },
);

cacheRoutes.openapi(
  createRoute({
    method: "post", path: "/cache/batch/set", tags: ["cache"], summary: `Quorum-write up to ${LIMITS.batchKeys} entries`,
    request: {
      query: QuorumQuery.pick({ w: true }),
      body: { required: true, content: { "application/json": { schema: z.object({ entries: z.array(BatchEntry).min(1).max(LIMITS.batchKeys) }) } } },
    },
    responses: {
      200: { description: "One result per entry, in order; an entry whose quorum failed carries its own error", content: { "application/json": { schema: z.object({ results: z.array(z.union([WriteResult, z.object({ key: z.string(), error: z.object({ code: z.string(), message: z.string() }) })])) }) } } },
      ...errorResponses(400, 401, 413),
    },
  }),
  async (c) => {
    const { entries } = c.req.valid("json");
    const seen = new Set<string>();
    const decoded = entries.map((e, i) => {
      assertKey(e.key, LIMITS.keyBytes, `entries.${i}.key`);
      if (seen.has(e.key)) throw new HttpError(400, "invalid_request", `entries.${i}.key: duplicate key ${JSON.stringify(e.key)}`);
      seen.add(e.key);
      const bytes = e.encoding === "base64" ? base64ToBytes(e.value) : new TextEncoder().encode(e.value);
      if (bytes === null) throw new HttpError(400, "invalid_request", `entries.${i}.value: not valid base64`);
      if (bytes.byteLength > LIMITS.valueBytes) throw new HttpError(413, "payload_too_large", `entries.${i}.value is ${bytes.byteLength} bytes; the limit is ${LIMITS.valueBytes}`);
      return { key: e.key, bytes, ttl: e.ttl ?? null, contentType: e.contentType ?? (e.encoding === "utf8" ? "text/plain; charset=utf-8" : "application/octet-stream") };
    });
    const w = c.req.valid("query").w;
    const d = deps(c);
    resolveQuorum(d.config, w, "w");
    const results = await Promise.all(decoded.map((e) => perKey(e.key, () => cacheSet(d, e.key, e.bytes, e.contentType, e.ttl, w))));
    return c.json({ results }, 200);
  },
);

// Single-key routes take any key (including "/" when percent-encoded as %2F, and raw "/" too), so they
// are plain Hono routes with a greedy pattern; their OpenAPI description is registered below.
// `.*`, not `.+`: an empty key (`/cache/`) reaches assertKey and is a 400 naming the problem, not a 404.
const KEY_PATH = "/cache/:key{.*}";

cacheRoutes.get(KEY_PATH, async (c) => {
  const key = keyFromPath(c);
  const out = await cacheGet(deps(c), key, quorumParam(c, "r"));
  const headers: Record<string, string> = { "x-cache-acks": `${out.acks}/${out.needed}/${out.replicas}` };
  if (!out.record.live) {
    return c.json(errorBody("not_found", "key not found"), 404, headers);
  }
  headers["content-type"] = out.record.contentType ?? "application/octet-stream";
  // Stored bytes of a caller-chosen type, on the dashboard's origin: never sniffed, never a live document.
  Object.assign(headers, contentSafetyHeaders(headers["content-type"]));
  headers["x-cache-version"] = out.record.version ?? "";
  if (out.record.expiresAt) headers["x-cache-expires-at"] = String(out.record.expiresAt);
  return c.body((out.record.value ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>, 200, headers);
});

cacheRoutes.put(KEY_PATH, async (c) => {
  const key = keyFromPath(c);
  const ttl = ttlParam(c);
  const w = quorumParam(c, "w");
  const value = await readBodyLimited(c.req.raw, LIMITS.valueBytes);
  const contentType = c.req.header("content-type") ?? "application/octet-stream";
  if (contentType.length > 256) throw new HttpError(400, "invalid_request", "content-type header is longer than 256 characters");
  const out = await cacheSet(deps(c), key, value, contentType, ttl, w);
  return c.json({ key, ...out }, 200, { "x-cache-acks": `${out.acks}/${out.needed}/${out.replicas}` });
});

cacheRoutes.delete(KEY_PATH, async (c) => {
  const key = keyFromPath(c);
  const out = await cacheDelete(deps(c), key, quorumParam(c, "w"));
  return c.json({ key, deleted: true, version: out.version, acks: out.acks, needed: out.needed, replicas: out.replicas }, 200);
});

const KeyParam = z.object({ key: z.string().min(1).openapi({ param: { name: "key", in: "path" }, description: `1..${LIMITS.keyBytes} bytes of UTF-8, percent-encoded`, example: "user:42" }) });
const registry = cacheRoutes.openAPIRegistry;
registry.registerPath({
  method: "get", path: "/cache/{key}", tags: ["cache"], summary: "Quorum read of one key (raw value, its content type preserved)",
  request: { params: KeyParam, query: QuorumQuery.pick({ r: true }) },
  responses: {
    200: { description: "The value; headers x-cache-version, x-cache-expires-at, x-cache-acks (acks/needed/N)", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
    ...errorResponses(400, 401, 404, 503),
  },
});
registry.registerPath({
  method: "put", path: "/cache/{key}", tags: ["cache"], summary: `Quorum write of one key; the raw body is the value (max ${LIMITS.valueBytes} bytes)`,
  request: {
    params: KeyParam,
    query: z.object({ ttl: TtlSchema.optional().openapi({ description: "time to live in ms (or header x-cache-ttl-ms)" }), w: QuorumQuery.shape.w }),
    body: { content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
  },
  responses: { 200: { description: "Acknowledged by W replicas", content: { "application/json": { schema: WriteResult } } }, ...errorResponses(400, 401, 413, 503) },
});
registry.registerPath({
  method: "delete", path: "/cache/{key}", tags: ["cache"], summary: "Quorum delete (a versioned tombstone)",
  request: { params: KeyParam, query: QuorumQuery.pick({ w: true }) },
  responses: { 200: { description: "Deleted (idempotent)", content: { "application/json": { schema: z.object({ key: z.string(), deleted: z.boolean(), version: z.string(), acks: z.number(), needed: z.number(), replicas: z.number() }) } } }, ...errorResponses(400, 401, 503) },
});
