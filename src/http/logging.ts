import type { MiddlewareHandler } from "hono";

/** One structured JSON line per request (off when LOG_REQUESTS is "false"). */
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
        path: new URL(c.req.url).pathname,
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      }),
    );
  };
}
