import { createRoute, z } from "@hono/zod-openapi";
import type { TxnView } from "../../durable-objects/txn-coordinator";
import { getConfig, LIMITS } from "../config";
import type { AbortCode, TxnCondition, TxnOp } from "../core/txn/types";
import { createRouter } from "../http/app-env";
import { HttpError } from "../http/errors";
import { ContentTypeSchema, errorResponses } from "../http/schemas";
import { assertKey, decodePathSegment, limitParam } from "../http/validation";
import { withKeys } from "../services/key-order";
import { recentTxns, runTxn, txnStatus } from "../services/txn";

/** Cross-shard atomic transactions (two-phase commit over the cache shards). */
export const txnRoutes = createRouter();

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

const Key = z.string().min(1).openapi({ description: `a cache key (1..${LIMITS.keyBytes} UTF-8 bytes)` });
const Ttl = z.number().int().min(1).max(LIMITS.maxTtlMs).optional().openapi({ description: "time to live in ms" });
const Op = z.discriminatedUnion("op", [
  z.object({ op: z.literal("set"), key: Key, value: z.string(), contentType: ContentTypeSchema.optional(), ttlMs: Ttl }).strict(),
  z.object({ op: z.literal("delete"), key: Key }).strict(),
  z.object({ op: z.literal("incr"), key: Key, by: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).default(1), ttlMs: Ttl }).strict(),
]);
const Condition = z.union([
  z.object({ key: Key, equals: z.string() }).strict(),
  z.object({ key: Key, exists: z.boolean() }).strict(),
  z.object({ key: Key, revision: z.string().nullable() }).strict(),
]).openapi({ description: "the key must equal a value, exist / not exist, or have a revision (null: absent)" });

const TxnBody = z.object({
  id: z.string().regex(ID_RE).optional().openapi({ description: "idempotency key (or the Idempotency-Key header): a retry with the same id returns the same outcome" }),
  ops: z.array(Op).min(1).max(LIMITS.txnOps),
  conditions: z.array(Condition).max(LIMITS.txnOps).default([]),
});

const View = z.object({
  id: z.string(),
  state: z.enum(["preparing", "committed", "aborted"]),
  results: z.array(z.object({ key: z.string(), op: z.string(), revision: z.string(), value: z.string().optional() })).optional(),
  reason: z.object({ code: z.string(), message: z.string(), key: z.string().optional(), condition: z.number().optional(), shard: z.string().optional() }).optional(),
  participants: z.array(z.object({ shard: z.string(), keys: z.array(z.string()), vote: z.string(), acked: z.boolean() })),
  timings: z.object({ startedAt: z.number(), decidedAt: z.number().nullable(), endedAt: z.number().nullable(), decideMs: z.number().nullable(), totalMs: z.number().nullable() }),
});

function present(v: TxnView) {
  const { startedAt, decidedAt, endedAt } = v;
  return {
    id: v.id,
    state: v.phase,
    ...(v.results ? { results: v.results } : {}),
    ...(v.reason ? { reason: v.reason } : {}),
    operations: v.ops.length,
    participants: v.participants.map((p) => ({ shard: p.shard, keys: p.keys, vote: p.vote, acked: p.acked, votedAt: p.votedAt, ackedAt: p.ackedAt })),
    timings: { startedAt, decidedAt, endedAt, decideMs: decidedAt === null ? null : decidedAt - startedAt, totalMs: endedAt === null ? null : endedAt - startedAt },
  };
}

/** An abort's HTTP status: the client's own conditions -> 409/422; the cluster's trouble -> 503, retryable. */
const ABORT_STATUS: Record<AbortCode, 409 | 422 | 503> = {
  condition_failed: 409,
  conflict: 409,
  not_an_integer: 422,
  participant_unavailable: 503,
  vote_timeout: 503,
  coordinator_recovered: 503,
  presumed_abort: 409,
};

/** Field-level checks the schema cannot express; the size limits are runTxn's (one place for every caller). */
function checkKeys(ops: TxnOp[], conditions: TxnCondition[]): void {
  ops.forEach((op, i) => {
    assertKey(op.key, LIMITS.keyBytes, `ops[${i}].key`);
    if (op.op === "set" && !op.value.isWellFormed()) throw new HttpError(400, "invalid_request", `ops[${i}].value: not well-formed UTF-8 (a lone surrogate)`);
  });
  conditions.forEach((c, i) => assertKey(c.key, LIMITS.keyBytes, `conditions[${i}].key`));
}

txnRoutes.openapi(
  createRoute({
    method: "post", path: "/txn", tags: ["txn"], summary: "Run an atomic transaction over keys on any shards (two-phase commit)",
    request: {
      headers: z.object({ "idempotency-key": z.string().regex(ID_RE).optional() }),
      body: { required: true, content: { "application/json": { schema: TxnBody } } },
    },
    responses: {
      200: { description: "Committed: every write is applied on every replica of its key", content: { "application/json": { schema: View } } },
      409: { description: "Aborted: a condition failed or a key was locked by another transaction (reason says which)" },
      422: { description: "Aborted: an increment of a non-integer value, or an id reused for different operations" },
      503: { description: "Aborted: a participant was unreachable or the coordinator restarted; retry (Retry-After)" },
      ...errorResponses(400, 401, 413),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const headerId = c.req.valid("header")["idempotency-key"];
    if (headerId !== undefined && body.id !== undefined && headerId !== body.id)
      throw new HttpError(400, "invalid_request", "the Idempotency-Key header and json.id differ");
    checkKeys(body.ops, body.conditions);
    const id = body.id ?? headerId ?? crypto.randomUUID();
    const config = getConfig(c.env);
    // Transactions over the same keys take turns in this isolate (sorted key locks) rather than abort each other.
    const keys = [...body.ops.map((o) => o.key), ...body.conditions.map((k) => k.key)];
    const view = await withKeys(keys, Date.now() + config.cache.deadlineMs, () => runTxn(c.env, config, id, { ops: body.ops, conditions: body.conditions }));
    const out = present(view);
    if (view.phase === "committed") return c.json(out, 200);
    if (view.phase === "preparing") return c.json({ ...out, error: { code: "outcome_unknown", message: "not decided yet; GET /txn/{id}" } }, 503, { "Retry-After": "1" });
    const reason = view.reason ?? { code: "presumed_abort" as const, message: "aborted" };
    const status = ABORT_STATUS[reason.code];
    return c.json({ ...out, error: { code: reason.code, message: reason.message } }, status, status === 503 ? { "Retry-After": "1" } : {});
  },
);

// The newest transactions across the coordinator pool (for the dashboard), newest first, without values.
txnRoutes.get("/txn", async (c) => {
  const limit = limitParam(c, 20, 100);
  const recent = await recentTxns(c.env, getConfig(c.env), limit, Date.now());
  if (recent === null) return c.json({ transactions: [], note: "TXN_COORDINATORS=0: every transaction has an object of its own; there is no list to show" }, 200);
  return c.json(recent, 200);
});
txnRoutes.openAPIRegistry.registerPath({
  method: "get", path: "/txn", tags: ["txn"], summary: "The newest transactions (?limit= 1..100, default 20): state, participants, timings, in doubt when not ended after the vote deadline",
  request: { query: z.object({ limit: z.string().optional() }) },
  responses: { 200: { description: "{transactions: [...], unreachable: [coordinators that did not answer]}" }, ...errorResponses(400, 401) },
});

txnRoutes.openapi(
  createRoute({
    method: "get", path: "/txn/{id}", tags: ["txn"], summary: "A transaction's state, participants and their votes, timings",
    request: { params: z.object({ id: z.string() }) },
    responses: {
      200: { description: "The transaction", content: { "application/json": { schema: View } } },
      ...errorResponses(400, 401, 404),
    },
  }),
  async (c) => {
    const id = decodePathSegment(c.req.param("id"), "id");
    if (!ID_RE.test(id)) throw new HttpError(400, "invalid_request", "id: 1..128 characters of A-Z a-z 0-9 . _ : -");
    const view = await txnStatus(c.env, getConfig(c.env), id);
    if (!view) throw new HttpError(404, "not_found", `no transaction ${id} (unknown, or finished more than 24 h ago)`);
    return c.json(present(view), 200);
  },
);
