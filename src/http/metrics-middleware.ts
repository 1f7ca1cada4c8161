import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Counter, Histogram } from "../core/metrics/registry";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

/** The route label of a request that matched no route (404, 405): raw paths would be unbounded. */
export const UNMATCHED = "unmatched";

/**
 * The pattern of the route that handles this request ("/cache/:key"), never the raw path: the first
 * matched entry that is a handler, not a middleware. Middleware is what `use` registered (method ALL)
 * and takes `next`; a handler registered for all methods (the load balancer's proxy) takes only `c`.
 * Judged from the whole match, not from where the chain stopped, so a request refused by a route's
 * auth or validation middleware still counts under its route.
 */
export function routeLabel(c: Context): string {
  for (const r of matchedRoutes(c)) if (r.method !== "ALL" || r.handler.length < 2) return withoutPatterns(r.path);
  return UNMATCHED;
}

/** A route path without its parameters' regular expressions: "/cache/:key{.*}" -> "/cache/:key". */
export function withoutPatterns(path: string): string {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    if (path[i] === "{" && /:[A-Za-z0-9_]+$/.test(out)) {
      // Skip to the matching close brace (a pattern may hold quantifiers such as {1,3}).
      let depth = 0;
      for (; i < path.length; i++) {
        if (path[i] === "\\") i++;
        else if (path[i] === "{") depth++;
        else if (path[i] === "}" && --depth === 0) break;
      }
      continue;
    }
    out += path[i];
  }
  return out;
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : "other";
}

/**
 * Records every request in `requests` {route, method, status_class} and `duration` {route, method}
 * (seconds until the response headers; a streamed body may go on after). Mount it first.
 */
export function recordRequests(requests: Counter, duration: Histogram): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    let status = 500;
    try {
      await next();
      status = c.res.status;
    } finally {
      const route = routeLabel(c);
      const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
      requests.inc({ route, method, status_class: statusClass(status) });
      duration.observe({ route, method }, (performance.now() - started) / 1000);
    }
  };
}
