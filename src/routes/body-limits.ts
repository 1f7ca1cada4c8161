import type { MiddlewareHandler } from "hono";
import { LIMITS } from "../config";
import type { AppEnv } from "../http/app-env";
import { decodeUtf8Body, readBodyLimited, tooLarge } from "../http/validation";
import { isStreamedJobUpload } from "./jobs";

/**
 * How the body of a route is limited and read. The table is the README's Limits table; a route not in
 * it takes the default, a 64 KiB JSON body (safe by default: a new route gets the small limit until it
 * is given a larger one here).
 * - `validator`: the route's OpenAPI validator parses the JSON. This middleware reads it first, within
 *   the limit (a body without a Content-Length is counted as it arrives), checks it is UTF-8 (workerd's
 *   own decoding would turn bad bytes into U+FFFD) and hands the validator the bytes it read.
 * - `route`: the route reads the body itself, with the same limit (a raw value, JSON it parses with
 *   readJsonBody, the Redis endpoint's own error format): only a declared Content-Length over the limit
 *   is refused here, before a byte is read.
 * - `stream`: streamed onward as it arrives (the load balancer's proxy, a job's raw input).
 */
export interface BodyRule {
  bytes: number;
  read: "validator" | "route" | "stream";
}

const JSON_BODY: BodyRule = { bytes: LIMITS.jsonBodyBytes, read: "validator" };
const STREAM: BodyRule = { bytes: Number.POSITIVE_INFINITY, read: "stream" };

const RULES: ReadonlyArray<{ method: string | null; path: RegExp; rule: BodyRule }> = [
  // Not /lb/pools/...: the pools' admin JSON takes the default.
  { method: null, path: /^\/lb\/(?!pools\/)/, rule: STREAM },
  { method: "POST", path: /^\/cache\/batch\/set$/, rule: { bytes: LIMITS.batchBodyBytes, read: "validator" } },
  { method: "PUT", path: /^\/cache\//, rule: { bytes: LIMITS.valueBytes, read: "route" } },
  { method: "PUT", path: /^\/admin\/cache\/shards\/[^/]+\/keys\//, rule: { bytes: LIMITS.valueBytes, read: "route" } },
  { method: "PUT", path: /^\/kv\//, rule: { bytes: LIMITS.raftValueBytes, read: "route" } },
  { method: "POST", path: /^\/txn$/, rule: { bytes: LIMITS.txnBodyBytes, read: "validator" } },
  // The Redis endpoint answers its own 4 MiB limit in Upstash's format; the ceiling is the backstop.
  { method: null, path: /^\/redis(\/|$)/, rule: { bytes: LIMITS.batchBodyBytes, read: "route" } },
  { method: "POST", path: /^\/(admin\/)?tasks(\/direct)?$/, rule: { bytes: LIMITS.tasksBodyBytes, read: "route" } },
  { method: "POST", path: /^\/(jobs|admin\/jobs\/reference)$/, rule: { bytes: LIMITS.jobsBodyBytes, read: "route" } },
];

/** The body rule of a request (method, path as routed). */
export function bodyRuleFor(method: string, path: string): BodyRule {
  for (const r of RULES) if ((r.method === null || r.method === method) && r.path.test(path)) return r.rule;
  return JSON_BODY;
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * The body limits of every route (mounted after authentication: a request without its token gets a
 * 401, never a 413 about its input). A body over its route's limit is a 413 naming the limit; one cut
 * off mid-upload a 400 `incomplete_body`; a JSON body that is not UTF-8 a 400 `invalid_json`.
 */
export const bodyLimits: MiddlewareHandler<AppEnv> = async (c, next) => {
  const req = c.req.raw;
  // A GET or HEAD has no body to give a route (a Request of those methods cannot even carry one, so
  // rebuilding it below would throw): whatever was sent is left to the drain.
  if (req.body === null || req.method === "GET" || req.method === "HEAD") return next();
  const rule = isStreamedJobUpload(req, c.req.path) ? STREAM : bodyRuleFor(req.method, c.req.path);
  if (rule.read === "stream") return next();
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > rule.bytes) throw tooLarge(rule.bytes, Number(declared));
  const mediaType = (req.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  if (rule.read === "validator" && JSON_TYPE.test(mediaType)) {
    const bytes = await readBodyLimited(req, rule.bytes);
    decodeUtf8Body(bytes);
    c.req.raw = new Request(req, { body: bytes });
  }
  return next();
};
