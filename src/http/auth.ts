import type { MiddlewareHandler } from "hono";
import { HttpError } from "./errors";

const encoder = new TextEncoder();

/** Constant-time token comparison: both sides are hashed first so lengths never leak through timing. */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(given)), expectedDigest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

// The configured tokens' digests, computed once per isolate (the secret never changes under it).
// Plain values, not promises, so nothing created by one request is awaited by another.
const digests = new Map<string, ArrayBuffer>();
async function expectedDigest(token: string): Promise<ArrayBuffer> {
  const known = digests.get(token);
  if (known) return known;
  const d = await crypto.subtle.digest("SHA-256", encoder.encode(token));
  if (digests.size > 8) digests.clear();
  digests.set(token, d);
  return d;
}

export function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

type TokenVar = "ADMIN_TOKEN" | "API_TOKEN";

/**
 * Guards routes with a bearer token from the environment. `required`: when the variable is unset
 * the routes are disabled (403) rather than open — that is the behaviour for ADMIN_TOKEN.
 * API_TOKEN is optional: unset means data routes are open.
 */
export function requireToken(variable: TokenVar, required: boolean): MiddlewareHandler<{ Bindings: Cloudflare.Env }> {
  return async (c, next) => {
    const expected = c.env[variable];
    if (!expected) {
      if (required) throw new HttpError(403, "forbidden", `${variable} is not configured; these routes are disabled`);
      return next();
    }
    const given = bearer(c.req.header("authorization"));
    if (given === null || !(await tokensEqual(given, expected))) {
      throw new HttpError(401, "unauthorized", "missing or invalid bearer token", undefined, {
        "WWW-Authenticate": 'Bearer realm="durable-cluster"',
      });
    }
    return next();
  };
}
