import { OpenAPIHono } from "@hono/zod-openapi";
import { validationHook } from "./validation";

/** Bindings and per-request variables shared by every router. */
export interface AppEnv {
  Bindings: Cloudflare.Env;
  /** redisAdmin: set by the Redis endpoint's authentication, whether the caller holds the admin token (asked lazily). */
  Variables: { requestId: string; redisAdmin: () => Promise<boolean> };
}

/** A router whose schema violations answer 400 with the failing field (the API's error model). */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}
