import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The one error shape of the API: `{"error": {"code", "message", "details?"}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** An error that maps to a client-visible status; throw it from any handler or service. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

export function errorResponse(c: Context, err: HttpError): Response {
  return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
}

const CODE_BY_STATUS: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  408: "timeout",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "too_many_requests",
  503: "unavailable",
};

/** app.onError: known errors keep their status; anything else is a 500 without internals. */
export function handleError(err: Error, c: Context): Response {
  const { status, body, headers } = errorFor(err, c);
  // The Redis endpoint answers in Upstash's shape, `{"error": "<text>"}`, which its clients read as
  // the message (an object there reached users as "UpstashError: [object Object]").
  if (isRedisPath(c)) return c.json({ error: `${status === 503 ? "BUSY" : "ERR"} ${body.error.message}` }, status, headers);
  return c.json(body, status, headers);
}

function isRedisPath(c: Context): boolean {
  const path = new URL(c.req.url).pathname;
  return path === "/redis" || path.startsWith("/redis/");
}

function errorFor(err: Error, c: Context): { status: ContentfulStatusCode; body: ErrorBody; headers?: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, body: errorBody(err.code, err.message, err.details), headers: err.headers };
  if (err instanceof HTTPException) {
    const status = err.status;
    // Hono's JSON validator reports a body it cannot parse as "Malformed JSON in request body".
    const code = /malformed json/i.test(err.message) ? "malformed_json" : (CODE_BY_STATUS[status] ?? "error");
    return { status, body: errorBody(code, err.message || code) };
  }
  // A call refused by the worker's own guards (shed by admission control, or an open breaker) that no
  // route turned into an answer: a 503 with the guard's own Retry-After, never a 500.
  const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
  if ((err.name === "ShedError" || err.name === "CircuitOpenError") && typeof retryAfterMs === "number") {
    const retryAfter = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    return { status: 503, body: errorBody(err.name === "ShedError" ? "overloaded" : "unavailable", err.message), headers: { "Retry-After": retryAfter } };
  }
  console.error(JSON.stringify({ level: "error", msg: "unhandled error", requestId: c.get("requestId"), error: String(err) }));
  return { status: 500, body: errorBody("internal", "internal error") };
}

export function notFound(c: Context): Response {
  return c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404);
}
