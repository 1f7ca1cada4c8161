import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { getConfig, LIMITS } from "../config";
import { bytesOf, lossyText } from "../core/redis/bytes";
import { commandOverBudget, requestOverBudget, type ClusterShape } from "../core/redis/budget";
import { parseCommand, keysOf } from "../core/redis/commands";
import type { Command, Reply } from "../core/redis/types";
import { createRouter, type AppEnv } from "../http/app-env";
import { bearer, dataAccess, holdsDataToken, tokensEqual } from "../http/auth";
import { markBodyRead } from "../http/body-drain";
import { bytesToBase64 } from "../http/base64";
import { HttpError } from "../http/errors";
import { incompleteBody, readBodyLimited, utf8Length } from "../http/validation";
import { requestBounds, runCommand, runMulti, runPipeline, type Outcome, type RedisContext, type RunResult } from "../services/redis";

/**
 * A Redis endpoint speaking Upstash's REST protocol, so `@upstash/redis` works against the cluster
 * unchanged: POST /redis (one command), /redis/pipeline, /redis/multi-exec (atomic across shards),
 * and the path form GET|POST /redis/set/key/value. Replies and errors use Upstash's wire format
 * (`{"result": …}` / `{"error": "…"}`), not the API's JSON error model.
 */
export const redisRoutes = createRouter();

/** Like Upstash's limits: a request body, one value, one key, commands per pipeline. */
export const REDIS_LIMITS = {
  requestBytes: 4 * 1024 * 1024,
  valueBytes: LIMITS.valueBytes,
  keyBytes: LIMITS.keyBytes,
  pipelineCommands: 1000,
  /** Characters of strings in one response (before encoding): MGET of one big key many times must not exhaust the isolate. */
  responseChars: 16 * 1024 * 1024,
} as const;

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function redisError(c: Context<AppEnv>, status: 400 | 401 | 403 | 413, error: string): Response {
  return c.json({ error }, status);
}

/**
 * The caller's token from `Authorization: Bearer` or `?_token=`, checked before anything of the request
 * is read. `admin` works out whether it is the admin token only when a command needs it (FLUSHDB), so
 * ordinary commands pay one comparison. With no API_TOKEN and no PUBLIC_DATA_ROUTES the endpoint is closed.
 */
async function authorize(c: Context<AppEnv>): Promise<{ ok: true; admin: () => Promise<boolean> } | { ok: false; response: Response }> {
  const given = bearer(c.req.header("authorization")) ?? c.req.query("_token") ?? null;
  const adminToken = c.env.ADMIN_TOKEN;
  const admin = () => (adminToken && given !== null ? tokensEqual(given, adminToken) : Promise.resolve(false));
  const access = dataAccess(c.env);
  if (access.kind === "public") return { ok: true, admin };
  if (access.kind === "closed") return { ok: false, response: c.json({ error: `ERR ${access.message}` }, 403) };
  if (await holdsDataToken(c.env, given, access.token)) return { ok: true, admin };
  return { ok: false, response: redisError(c, 401, "WRONGPASS invalid or missing auth token") };
}

/** The Redis endpoint's authentication, mounted ahead of the body ceiling in src/index.ts. */
export const redisAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const who = await authorize(c);
  if (!who.ok) return who.response;
  c.set("redisAdmin", who.admin);
  return next();
};

/**
 * `Upstash-Encoding: base64`: every string of a result, nested arrays included, is sent as base64 of
 * its bytes (a binary value's exact bytes: see core/redis/bytes.ts).
 */
function encodeReply(r: Reply): Reply {
  if (typeof r === "string") return bytesToBase64(bytesOf(r));
  if (Array.isArray(r)) return r.map(encodeReply);
  return r;
}

/** Without base64, JSON carries text: a binary value's invalid UTF-8 becomes U+FFFD. */
function textReply(r: Reply): Reply {
  if (typeof r === "string") return lossyText(r);
  if (Array.isArray(r)) return r.map(textReply);
  return r;
}

function encodeOutcome(o: Outcome, b64: boolean): Outcome {
  return "error" in o ? o : { result: b64 ? encodeReply(o.result) : textReply(o.result) };
}

/** Limits on one command, with Upstash-like texts; null when it is within them. */
function overLimit(cmd: Command): string | null {
  const budget = commandOverBudget(cmd);
  if (budget !== null) return budget;
  for (const key of keysOf(cmd)) {
    if (utf8Length(key) > REDIS_LIMITS.keyBytes) return `ERR max key size exceeded. Limit: ${REDIS_LIMITS.keyBytes} bytes`;
    if (!key.isWellFormed()) return "ERR invalid key: not well-formed UTF-8 (a lone surrogate)";
  }
  for (const arg of cmd.args) {
    if (utf8Length(arg) > REDIS_LIMITS.valueBytes) return `ERR max value size exceeded. Limit: ${REDIS_LIMITS.valueBytes} bytes`;
  }
  return null;
}

async function readJson(c: Context<AppEnv>): Promise<{ ok: true; value: unknown } | { ok: false; response: Response }> {
  let bytes: Uint8Array;
  try {
    // A declared length within the limit is read in one go (cheaper than streaming for small commands).
    const declared = Number(c.req.header("content-length") ?? NaN);
    bytes = declared <= REDIS_LIMITS.requestBytes ? new Uint8Array(await c.req.raw.arrayBuffer().catch((err: unknown): Promise<ArrayBuffer> => Promise.reject(incompleteBody(err)))) : await readBodyLimited(c.req.raw, REDIS_LIMITS.requestBytes);
    markBodyRead(c.req.raw);
  } catch (err) {
    if (err instanceof HttpError && err.status === 413) return { ok: false, response: redisError(c, 413, `ERR max request size exceeded. Limit: ${REDIS_LIMITS.requestBytes} bytes`) };
    throw err;
  }
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) as unknown };
  } catch {
    return { ok: false, response: redisError(c, 400, "ERR failed to parse the request body: it must be a JSON array") };
  }
}

function replyChars(r: Reply): number {
  if (typeof r === "string") return r.length;
  if (Array.isArray(r)) return r.reduce<number>((n, x) => n + replyChars(x) + 1, 0);
  return 8;
}

/** Replaces the results past the response budget with an error, so an enormous reply is never built. */
function capOutcomes(outcomes: Outcome[]): Outcome[] {
  let used = 0;
  return outcomes.map((o) => {
    if ("error" in o) return o;
    used += replyChars(o.result);
    return used > REDIS_LIMITS.responseChars ? { error: `ERR max response size exceeded. Limit: ${REDIS_LIMITS.responseChars} characters` } : o;
  });
}

function respond(c: Context<AppEnv>, result: RunResult, single: boolean): Response {
  const run = { ...result, outcomes: capOutcomes(result.outcomes) };
  const b64 = (c.req.header("upstash-encoding") ?? "").toLowerCase() === "base64";
  // Read-your-writes: the token changes with every write; reads hand back the one they were given.
  const token = run.wrote ?? c.req.header("upstash-sync-token") ?? "";
  const headers: Record<string, string> = token ? { "upstash-sync-token": token } : {};
  // Shed for overload (nothing ran): 503 with Retry-After, so clients and proxies back off.
  if (run.retryAfterS !== undefined && run.outcomes.every((o) => "error" in o)) {
    headers["Retry-After"] = String(run.retryAfterS);
    if (single) return c.json(run.outcomes[0]!, 503, headers);
    return c.json(run.outcomes.map((o) => encodeOutcome(o, b64)), 503, headers);
  }
  if (!single) return c.json(run.outcomes.map((o) => encodeOutcome(o, b64)), 200, headers);
  const o = run.outcomes[0]!;
  if ("error" in o) return c.json(o, 400, headers);
  return c.json(encodeOutcome(o, b64), 200, headers);
}

function context(c: Context<AppEnv>, admin: () => Promise<boolean>): RedisContext {
  const config = getConfig(c.env).cache;
  return { admin, bounds: requestBounds(config.deadlineMs), deps: { env: c.env, config, waitUntil: (p) => c.executionCtx.waitUntil(p) } };
}

/** What the cost of a command depends on: the cluster's shape. */
function shapeOf(c: Context<AppEnv>): ClusterShape {
  const { shards, replicas, readQuorum } = getConfig(c.env).cache;
  return { shards: shards.length, replicas, readQuorum };
}

/** Parses a batch (pipeline or multi-exec body): an array of command arrays. */
function parseBatch(body: unknown): { ok: true; cmds: Command[] } | { ok: false; error: string } {
  if (!Array.isArray(body) || body.length === 0) return { ok: false, error: "ERR the body must be a non-empty JSON array of commands" };
  if (body.length > REDIS_LIMITS.pipelineCommands) return { ok: false, error: `ERR too many commands: the limit is ${REDIS_LIMITS.pipelineCommands}` };
  const cmds: Command[] = [];
  for (const raw of body) {
    const p = parseCommand(raw);
    if (!p.ok) return { ok: false, error: p.error };
    cmds.push(p.cmd);
  }
  return { ok: true, cmds };
}

async function batch(c: Context<AppEnv>, kind: "pipeline" | "multi"): Promise<Response> {
  const body = await readJson(c);
  if (!body.ok) return body.response;
  const parsed = parseBatch(body.value);
  if (!parsed.ok) return redisError(c, 400, parsed.error);
  const limits = parsed.cmds.map(overLimit);
  const ctx = context(c, c.get("redisAdmin"));
  if (kind === "multi") {
    const limit = limits.find((e) => e !== null) ?? requestOverBudget("multi", parsed.cmds, shapeOf(c));
    if (limit) return redisError(c, 400, limit);
    return respond(c, await runMulti(ctx, parsed.cmds), false);
  }
  // A pipeline carries unrelated commands (the client batches concurrent calls): one over a limit
  // gets its own error; the others run, unless together they are over the request's budget: then
  // nothing runs (the client matches replies by position, and half a pipeline is no answer).
  const runnable = parsed.cmds.filter((_, i) => limits[i] === null);
  const budget = requestOverBudget("pipeline", runnable, shapeOf(c));
  if (budget !== null) return redisError(c, 400, budget);
  const run = await runPipeline(ctx, runnable);
  const answers = [...run.outcomes];
  const outcomes = limits.map((e): Outcome => (e !== null ? { error: e } : answers.shift()!));
  return respond(c, run.retryAfterS === undefined ? { outcomes, wrote: run.wrote } : { outcomes, wrote: run.wrote, retryAfterS: run.retryAfterS }, false);
}

/** One command of an authorized caller. */
async function single(c: Context<AppEnv>, admin: () => Promise<boolean>, raw: unknown): Promise<Response> {
  const p = parseCommand(raw);
  if (!p.ok) return redisError(c, 400, p.error);
  const limit = overLimit(p.cmd);
  if (limit) return redisError(c, 400, limit);
  return respond(c, await runCommand(context(c, admin), p.cmd), true);
}

redisRoutes.post("/redis/pipeline", (c) => batch(c, "pipeline"));
redisRoutes.post("/redis/multi-exec", (c) => batch(c, "multi"));

redisRoutes.post("/redis", async (c) => {
  const body = await readJson(c);
  if (!body.ok) return body.response;
  return single(c, c.get("redisAdmin"), body.value);
});

/** The path form: /redis/set/key/value (segments percent-decoded); a POST body is the last argument. */
async function pathForm(c: Context<AppEnv>): Promise<Response> {
  const path = new URL(c.req.url).pathname.slice("/redis/".length);
  let args: string[];
  try {
    args = path.split("/").map((s) => decodeURIComponent(s));
  } catch {
    return redisError(c, 400, "ERR malformed percent-encoding in the path");
  }
  if (c.req.method === "POST") {
    try {
      const body = decoder.decode(await readBodyLimited(c.req.raw, REDIS_LIMITS.requestBytes));
      if (body.length > 0) args.push(body);
    } catch {
      return redisError(c, 400, "ERR the body must be UTF-8 text within the request size limit");
    }
  }
  return single(c, c.get("redisAdmin"), args);
}

redisRoutes.get("/redis/:command{.+}", pathForm);
redisRoutes.post("/redis/:command{.+}", pathForm);

// The routes above are plain Hono routes (Upstash's wire format, not the API's error model); their
// OpenAPI description is registered here so /openapi.json describes them too.
const Arg = z.union([z.string(), z.number(), z.boolean()]);
const CommandSchema = z.array(Arg).min(1).openapi({ example: ["SET", "greeting", "hello", "EX", 60] });
const ResultSchema = z.union([z.object({ result: z.unknown() }), z.object({ error: z.string() })]);
const UpstashError = { description: "`{\"error\": \"…\"}` with Redis's text (WRONGPASS for auth)", content: { "application/json": { schema: z.object({ error: z.string() }) } } };
const registry = redisRoutes.openAPIRegistry;
registry.registerPath({
  method: "post", path: "/redis", tags: ["redis"], summary: "One Redis command (Upstash REST protocol)",
  request: { body: { content: { "application/json": { schema: CommandSchema } } } },
  responses: { 200: { description: "`{\"result\": …}`; strings base64-encoded with `Upstash-Encoding: base64`", content: { "application/json": { schema: z.object({ result: z.unknown() }) } } }, 400: UpstashError, 401: UpstashError, 413: UpstashError },
});
for (const [path, summary] of [
  ["/redis/pipeline", "Commands in order, each atomic on its own; one result or error per command"],
  ["/redis/multi-exec", "MULTI/EXEC: the commands commit together or not at all, across shards (one two-phase-commit transaction)"],
] as const) {
  registry.registerPath({
    method: "post", path, tags: ["redis"], summary,
    request: { body: { content: { "application/json": { schema: z.array(CommandSchema).min(1).max(REDIS_LIMITS.pipelineCommands) } } } },
    responses: { 200: { description: "One entry per command", content: { "application/json": { schema: z.array(ResultSchema) } } }, 400: UpstashError, 401: UpstashError, 413: UpstashError },
  });
}
registry.registerPath({
  method: "get", path: "/redis/{command}", tags: ["redis"], summary: "The path form: /redis/set/key/value/EX/60 (segments percent-decoded; with POST, the body is the last argument)",
  request: { params: z.object({ command: z.string().openapi({ param: { name: "command", in: "path" }, example: "get/greeting" }) }) },
  responses: { 200: { description: "`{\"result\": …}`", content: { "application/json": { schema: z.object({ result: z.unknown() }) } } }, 400: UpstashError, 401: UpstashError },
});
