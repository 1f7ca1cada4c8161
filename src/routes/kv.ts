import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { KvCommand, KvResult } from "../core/raft/kv";
import { getConfig, LIMITS } from "../config";
import { createRouter, type AppEnv } from "../http/app-env";
import { errorBody, HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { assertKey, keyFromUrl, readBodyLimited } from "../http/validation";
import { onLeader } from "../services/raft-client";

/** The linearizable key-value store on the Raft group. */
export const kvRoutes = createRouter();

const Consistency = z.enum(["linearizable", "lease", "stale"]).default("linearizable");

const keyFromPath = (c: Context<AppEnv>) => keyFromUrl(c.req.url, "/kv/", LIMITS.keyBytes);

function consistencyOf(c: Context<AppEnv>): "linearizable" | "lease" | "stale" {
  const parsed = Consistency.safeParse(c.req.query("consistency") ?? undefined);
  if (!parsed.success) throw new HttpError(400, "invalid_request", "query.consistency: one of linearizable, lease, stale");
  return parsed.data;
}

/**
 * The client session of a command: the caller's (x-client-id + x-client-seq, for exactly-once across
 * its own retries) or a fresh one per request, so the router's retries are applied at most once.
 */
function session(c: Context<AppEnv>): { clientId: string; seq: number } {
  const id = c.req.header("x-client-id");
  const seq = c.req.header("x-client-seq");
  if (id === undefined && seq === undefined) return { clientId: crypto.randomUUID(), seq: 1 };
  if (!id || id.length > 128 || seq === undefined || !/^\d{1,15}$/.test(seq)) {
    throw new HttpError(400, "invalid_request", "x-client-id (1..128 chars) and x-client-seq (a non-negative integer) go together");
  }
  return { clientId: id, seq: Number(seq) };
}

async function propose(c: Context<AppEnv>, command: KvCommand): Promise<{ result: KvResult; index: number; node: string }> {
  const config = getConfig(c.env).raft;
  const { value, node } = await onLeader(config, c.env, async (stub, identity, timeout) => {
    const out = await stub.propose(identity, command, timeout);
    return out.ok ? { ok: true, value: out } : out;
  });
  return { result: value.result, index: value.index, node };
}

function answer(c: Context<AppEnv>, key: string, r: { result: KvResult; index: number; node: string }): Response {
  const { result } = r;
  if (result.ok) return c.json({ key, revision: result.revision, index: r.index, node: r.node, prev: result.prev }, 200);
  if (result.code === "cas_failed") return c.json(errorBody("cas_failed", "the condition did not hold", { current: result.current }), 409);
  if (result.code === "stale_sequence") return c.json(errorBody("stale_sequence", `x-client-seq is older than ${result.lastSeq}`), 409);
  return c.json(errorBody("invalid_request", result.message), 400);
}

async function readValue(c: Context<AppEnv>, key: string) {
  const config = getConfig(c.env).raft;
  const consistency = consistencyOf(c);
  const timeoutMs = config.deadlineMs;
  if (consistency === "stale") {
    // Any member may answer a stale read: the hinted leader first, then the others.
    return onLeader(
      config,
      c.env,
      async (stub, identity, timeout) => {
        const out = await stub.read(identity, key, "stale", Math.min(timeout, timeoutMs));
        return out.ok ? { ok: true, value: out } : out;
      },
      false,
    );
  }
  return onLeader(config, c.env, async (stub, identity, timeout) => {
    const out = await stub.read(identity, key, consistency, timeout);
    return out.ok ? { ok: true, value: out } : out;
  });
}

kvRoutes.openapi(
  createRoute({
    method: "get", path: "/kv", tags: ["kv"], summary: "List keys by prefix, in key order",
    request: {
      query: z.object({
        prefix: z.string().max(LIMITS.keyBytes).default(""),
        after: z.string().max(LIMITS.keyBytes).optional().openapi({ description: "continue after this key (pagination)" }),
        limit: z.coerce.number().int().min(1).max(LIMITS.raftListLimit).default(100),
        consistency: Consistency,
      }),
    },
    responses: {
      200: { description: "Keys with values and revisions", content: { "application/json": { schema: z.object({ items: z.array(z.object({ key: z.string(), value: z.string(), revision: z.number() })), index: z.number(), next: z.string().nullable() }) } } },
      ...errorResponses(400, 401, 503),
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const config = getConfig(c.env).raft;
    const { value } = await onLeader(config, c.env, async (stub, identity, timeout) => {
      const out = await stub.list(identity, q.prefix, q.limit, q.after, q.consistency, timeout);
      return out.ok ? { ok: true, value: out } : out;
    });
    const next = value.items.length === q.limit ? (value.items.at(-1)?.key ?? null) : null;
    return c.json({ items: value.items, index: value.index, next }, 200);
  },
);

const CasBody = z.object({
  key: z.string().min(1),
  value: z.string().nullable().openapi({ description: "the new value; null deletes the key" }),
  expectedValue: z.string().nullable().optional().openapi({ description: "the current value must equal this (null: must not exist)" }),
  expectedRevision: z.number().int().min(0).optional().openapi({ description: "the current revision must equal this (0: must not exist)" }),
}).refine((b) => b.expectedValue !== undefined || b.expectedRevision !== undefined, { message: "give expectedValue or expectedRevision", path: ["expectedValue"] });

kvRoutes.openapi(
  createRoute({
    method: "post", path: "/kv/cas", tags: ["kv"], summary: "Compare-and-set on one key (by expected value or revision)",
    request: { body: { required: true, content: { "application/json": { schema: CasBody } } } },
    responses: {
      200: { description: "Applied", content: { "application/json": { schema: z.object({ key: z.string(), revision: z.number(), index: z.number(), node: z.string() }) } } },
      409: { description: "The condition did not hold (details.current is the current record)" },
      ...errorResponses(400, 401, 503),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    assertKey(body.key, LIMITS.keyBytes);
    // Both strings travel in the log entry: both are bounded, and both must be well-formed UTF-8.
    for (const [field, text] of [["value", body.value], ["expectedValue", body.expectedValue]] as const) {
      if (text === null || text === undefined) continue;
      if (!text.isWellFormed()) throw new HttpError(400, "invalid_request", `json.${field}: not well-formed UTF-8 (a lone surrogate)`);
      if (new TextEncoder().encode(text).byteLength > LIMITS.raftValueBytes) {
        throw new HttpError(413, "payload_too_large", `json.${field} exceeds ${LIMITS.raftValueBytes} bytes`);
      }
    }
    const cmd: KvCommand = { op: "cas", key: body.key, value: body.value, ...session(c) };
    if (body.expectedValue !== undefined) cmd.expectedValue = body.expectedValue;
    if (body.expectedRevision !== undefined) cmd.expectedRevision = body.expectedRevision;
    return answer(c, body.key, await propose(c, cmd));
  },
);

const KEY_PATH = "/kv/:key{.*}";

kvRoutes.get(KEY_PATH, async (c) => {
  const key = keyFromPath(c);
  const { value, node } = await readValue(c, key);
  // x-raft-read: how the read was served (a lease read falls back to ReadIndex when its lease is not usable).
  const headers = { "x-raft-index": String(value.index), "x-raft-node": node, "x-raft-read": value.via };
  if (!value.record) return c.json(errorBody("not_found", "key not found"), 404, headers);
  return c.text(value.record.value, 200, { ...headers, "x-kv-revision": String(value.record.revision) });
});

kvRoutes.put(KEY_PATH, async (c) => {
  const key = keyFromPath(c);
  const bytes = await readBodyLimited(c.req.raw, LIMITS.raftValueBytes);
  let value: string;
  try {
    value = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "invalid_request", "the value must be UTF-8 text");
  }
  const ifRevision = c.req.query("ifRevision");
  if (ifRevision !== undefined && !/^\d{1,15}$/.test(ifRevision)) throw new HttpError(400, "invalid_request", "query.ifRevision: a non-negative integer");
  const cmd: KvCommand = ifRevision === undefined
    ? { op: "put", key, value, ...session(c) }
    : { op: "cas", key, value, expectedRevision: Number(ifRevision), ...session(c) };
  return answer(c, key, await propose(c, cmd));
});

kvRoutes.delete(KEY_PATH, async (c) => {
  const key = keyFromPath(c);
  return answer(c, key, await propose(c, { op: "delete", key, ...session(c) }));
});

const KeyParam = z.object({ key: z.string().openapi({ param: { name: "key", in: "path" }, example: "config/feature-x" }) });
const registry = kvRoutes.openAPIRegistry;
registry.registerPath({
  method: "get", path: "/kv/{key}", tags: ["kv"], summary: "Read one key (linearizable by default)",
  request: { params: KeyParam, query: z.object({ consistency: Consistency }) },
  responses: { 200: { description: "The value as text; headers x-kv-revision, x-raft-index, x-raft-node, x-raft-read (lease, readIndex or stale: a lease read whose lease cannot be used is served by ReadIndex)" }, ...errorResponses(400, 401, 404, 503) },
});
registry.registerPath({
  method: "put", path: "/kv/{key}", tags: ["kv"], summary: `Write one key through Raft (UTF-8 body, max ${LIMITS.raftValueBytes} bytes)`,
  request: { params: KeyParam, query: z.object({ ifRevision: z.string().optional().openapi({ description: "compare-and-set on the revision (0: must not exist)" }) }) },
  responses: { 200: { description: "Committed: revision and log index" }, 409: { description: "ifRevision did not match" }, ...errorResponses(400, 401, 413, 503) },
});
registry.registerPath({
  method: "delete", path: "/kv/{key}", tags: ["kv"], summary: "Delete one key through Raft",
  request: { params: KeyParam },
  responses: { 200: { description: "Committed" }, ...errorResponses(400, 401, 503) },
});
