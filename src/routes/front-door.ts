import type { MiddlewareHandler } from "hono";
import { getConfig } from "../config";
import type { AppEnv } from "../http/app-env";
import { errorBody } from "../http/errors";
import { tryEnter } from "../services/admission";

/**
 * The front door: a concurrency limit on the requests this isolate serves per capability (cache,
 * redis, kv, txn), AIMD on request latency: it grows while requests answer within the latency target
 * and is cut when they do not. A request over the limit is refused at once, before its body is read,
 * with 503 + Retry-After: under an offered load above what the cluster can serve, the excess costs
 * almost nothing and the admitted requests keep answering in time (no congestion collapse). Only
 * routes whose work is bounded by a request deadline pass through it; /lb has its own per-upstream
 * limits and deadlines, and task/job routes accept work that runs in the background.
 */
const GATED = new Set(["cache", "redis", "kv", "txn"]);

export const frontDoor: MiddlewareHandler<AppEnv> = async (c, next) => {
  const area = c.req.path.split("/", 2)[1] ?? "";
  if (!GATED.has(area)) return next();
  const config = getConfig(c.env);
  const permit = tryEnter(`front/${area}`, config.frontDoor);
  if (permit === null) {
    const body = area === "redis" ? { error: "BUSY the server is at its concurrency limit; retry" } : errorBody("overloaded", "the server is at its concurrency limit for this route; retry");
    return c.json(body, 503, { "Retry-After": "1" });
  }
  const started = Date.now();
  try {
    await next();
  } finally {
    // A 503 from the cluster (shed further in, no quorum) is a drop: the limit backs off.
    permit.release(c.res.status === 503 ? { kind: "drop" } : { kind: "answer", rttMs: Date.now() - started });
  }
};
