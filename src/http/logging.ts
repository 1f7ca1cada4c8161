import type { MiddlewareHandler } from "hono";
import { routeLabel } from "./metrics-middleware";

/**
 * One structured JSON line per request (off when LOG_REQUESTS is "false"). It names the route's pattern
 * ("/redis/:command", "/cache/:key"), never the raw path or query: a path can carry values (the Redis
 * path form /redis/set/key/value) and a query can carry a token (?_token=).
 */
export function requestLog(): MiddlewareHandler<{ Bindings: Cloudflare.Env; Variables: { requestId: string } }> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    if (c.env.LOG_REQUESTS === "false") return;
    console.log(
      JSON.stringify({
        level: c.res.status >= 500 ? "error" : "info",
        msg: "request",
        requestId: c.get("requestId"),
        method: c.req.method,
        route: routeLabel(c),
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      }),
    );
  };
}
