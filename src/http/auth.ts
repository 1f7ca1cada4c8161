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
 * Who may call the data routes. With API_TOKEN set: its holders (and the admin token's, where a route
 * says so). Without it the routes are closed unless the operator opted into serving them to anyone with
 * PUBLIC_DATA_ROUTES = "true" (what `npm run dev` passes): a deploy that forgot its secret must not
 * silently publish the data.
 */
export type DataAccess = { kind: "token"; token: string } | { kind: "public" } | { kind: "closed"; message: string };

export const CLOSED_DATA_ROUTES_MESSAGE =
  "API_TOKEN is not set, so the data routes are closed: set it (npx wrangler secret put API_TOKEN) or set PUBLIC_DATA_ROUTES = \"true\" to serve them without a token";

export function dataAccess(env: Cloudflare.Env): DataAccess {
  if (env.API_TOKEN) return { kind: "token", token: env.API_TOKEN };
  if (env.PUBLIC_DATA_ROUTES === "true") return { kind: "public" };
  return { kind: "closed", message: CLOSED_DATA_ROUTES_MESSAGE };
}

/** The 401 of a missing or wrong bearer token. */
export function unauthorized(what = "missing or invalid bearer token"): HttpError {
  return new HttpError(401, "unauthorized", what, undefined, { "WWW-Authenticate": 'Bearer realm="durable-cluster"' });
}

/**
 * Whether `given` opens the data routes guarded by `apiToken`: it is that token, or the admin token
 * (the operator's key opens the data routes too). The admin comparison is made only when the first fails.
 */
export async function holdsDataToken(env: Cloudflare.Env, given: string | null, apiToken: string): Promise<boolean> {
  if (given === null) return false;
  if (await tokensEqual(given, apiToken)) return true;
  return env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN !== "" && (await tokensEqual(given, env.ADMIN_TOKEN));
}

/**
 * Guards routes with a bearer token from the environment. ADMIN_TOKEN: unset disables the routes (403).
 * API_TOKEN guards the data routes as `dataAccess` says (the admin token opens them too): unset is a 403
 * naming the setting unless PUBLIC_DATA_ROUTES opens them. Runs before any body or path argument is read.
 */
export function requireToken(variable: TokenVar): MiddlewareHandler<{ Bindings: Cloudflare.Env }> {
  return async (c, next) => {
    const given = bearer(c.req.header("authorization"));
    if (variable === "API_TOKEN") {
      const access = dataAccess(c.env);
      if (access.kind === "public") return next();
      if (access.kind === "closed") throw new HttpError(403, "data_routes_closed", access.message);
      if (await holdsDataToken(c.env, given, access.token)) return next();
      throw unauthorized();
    }
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) throw new HttpError(403, "forbidden", `${variable} is not configured; these routes are disabled`);
    if (given !== null && (await tokensEqual(given, expected))) return next();
    throw unauthorized();
  };
}
