import { z } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import { getConfig, LIMITS } from "../config";
import type { AppEnv } from "../http/app-env";
import { assertKey } from "../http/validation";
import { ringFor } from "../services/cache";
import { withTimeout } from "../services/replica-call";
import { errorResponses } from "../http/schemas";

/**
 * What the dashboard shows, in one call: every capability's own status route, run in this isolate
 * through the app itself (the same code, the same auth as the caller's), a section each. A section
 * whose route fails carries its status and error instead, so one unreachable part never blanks the rest.
 */
export const DASHBOARD_SECTIONS = {
  raft: "/raft/status",
  cacheStats: "/cache/stats",
  ring: "/cache/ring",
  transactions: "/txn?limit=20",
  pools: "/lb/pools",
  jobs: "/jobs?limit=10",
  tasks: "/tasks?limit=20",
} as const;

/** A section that has not answered in this long is shown as unavailable (504), so a stuck object never holds the page. */
const SECTION_TIMEOUT_MS = 3_000;

export type DashboardSection = { ok: true; data: unknown } | { ok: false; status: number; error: unknown };

export type DashboardStatus = { at: number } & Record<keyof typeof DASHBOARD_SECTIONS, DashboardSection>;

/** Every section, from the root app's own routes, with the caller's credentials. */
export async function collectStatus(app: Hono<AppEnv>, c: Context<AppEnv>): Promise<DashboardStatus> {
    const headers: Record<string, string> = {};
    const auth = c.req.header("authorization");
    if (auth !== undefined) headers.authorization = auth;
    const entries = await Promise.all(
      Object.entries(DASHBOARD_SECTIONS).map(async ([name, path]): Promise<[string, DashboardSection]> => {
        try {
          const res = await withTimeout(Promise.resolve(app.fetch(new Request(new URL(path, c.req.url), { headers }), c.env, c.executionCtx)), SECTION_TIMEOUT_MS).catch(
            () => new Response(JSON.stringify({ error: { code: "timeout", message: `no answer within ${SECTION_TIMEOUT_MS} ms` } }), { status: 504 }),
          );
          const body: unknown = await res.json().catch(() => null);
          return [name, res.ok ? { ok: true, data: body } : { ok: false, status: res.status, error: (body as { error?: unknown } | null)?.error ?? body }];
        } catch (err) {
          return [name, { ok: false, status: 500, error: { message: err instanceof Error ? err.message : String(err) } }];
        }
      }),
    );
    return { at: Date.now(), ...Object.fromEntries(entries) } as DashboardStatus;
}

/** The handler of GET /dashboard/status, for the root app (its routes answer the sections). */
export function dashboardStatus(app: Hono<AppEnv>) {
  return async (c: Context<AppEnv>): Promise<Response> => c.json(await collectStatus(app, c), 200);
}

export const dashboardStatusDoc = {
  method: "get" as const, path: "/dashboard/status", tags: ["dashboard"],
  summary: "Everything the dashboard shows, in one call: Raft members, cache stats and ring, recent transactions, load-balancer pools, recent jobs and tasks (each section {ok, data} or {ok: false, status, error})",
  responses: { 200: { description: "One section per capability", content: { "application/json": { schema: z.record(z.string(), z.unknown()) } } }, ...errorResponses(401) },
};

/** GET /dashboard/replicas?key=: the shards holding a key (its preference list on the ring), for the page's lookup. */
export function replicasOf(c: Context<AppEnv>): Response {
  const key = c.req.query("key") ?? "";
  const config = getConfig(c.env).cache;
  assertKey(key, LIMITS.keyBytes);
  return c.json({ key, replicas: ringFor(config).preferenceList(key, config.replicas) }, 200);
}
