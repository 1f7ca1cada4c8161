import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getConfig, LIMITS } from "../config";
import type { AppEnv } from "../http/app-env";
import { assertKey } from "../http/validation";
import { ringFor } from "../services/cache";
import { bearer, dataAccess, holdsDataToken } from "../http/auth";
import { dashboardRound, type DashboardData } from "../services/dashboard-data";
import { errorResponses } from "../http/schemas";

/** The sections of the page, each answered from this isolate's last readings (src/services/dashboard-data.ts). */
export const DASHBOARD_SECTIONS = ["raft", "cacheStats", "ring", "transactions", "pools", "jobs", "tasks"] as const;
type SectionName = (typeof DASHBOARD_SECTIONS)[number];

export type DashboardSection<T = unknown> = { ok: true; data: T } | { ok: false; status: number; error: unknown };

export type DashboardStatus = { at: number; read: Record<string, string> } & { [K in SectionName]: DashboardSection<DashboardData[K]> };

/**
 * Every section, from at most one object read per capability. The page itself has no token check (a
 * browser cannot send one on navigation), so with API_TOKEN set and not given every section is a 401
 * and nothing is read.
 */
export async function collectStatus(c: Context<AppEnv>): Promise<DashboardStatus> {
  const access = dataAccess(c.env);
  const given = bearer(c.req.header("authorization"));
  const refusal =
    access.kind === "closed" ? { status: 403, error: { code: "data_routes_closed", message: access.message } }
    : access.kind === "token" && !(await holdsDataToken(c.env, given, access.token)) ? { status: 401, error: { code: "unauthorized", message: "missing or invalid bearer token (API_TOKEN)" } }
    : null;
  if (refusal) {
    const refused = { ok: false as const, ...refusal };
    return { at: Date.now(), read: {}, ...Object.fromEntries(DASHBOARD_SECTIONS.map((n) => [n, refused])) } as DashboardStatus;
  }
  const d = await dashboardRound(c.env);
  const sections = Object.fromEntries(DASHBOARD_SECTIONS.map((n) => [n, { ok: true, data: d[n] }]));
  return { at: d.at, read: d.read, ...sections } as DashboardStatus;
}

/** The handler of GET /dashboard/status. */
export async function dashboardStatus(c: Context<AppEnv>): Promise<Response> {
  return c.json(await collectStatus(c), 200);
}

export const dashboardStatusDoc = {
  method: "get" as const, path: "/dashboard/status", tags: ["dashboard"],
  summary: "Everything the dashboard shows, in one call that reads at most one object per capability (`read` names them); every other part is as last read in this isolate, each with valueAt/readAt/error: Raft members, cache stats and ring, recent transactions, load-balancer pools, recent jobs and task batches (each section {ok, data} or {ok: false, status, error})",
  responses: { 200: { description: "One section per capability", content: { "application/json": { schema: z.record(z.string(), z.unknown()) } } }, ...errorResponses(401) },
};

/** GET /dashboard/replicas?key=: the shards holding a key (its preference list on the ring), for the page's lookup. */
export function replicasOf(c: Context<AppEnv>): Response {
  const key = c.req.query("key") ?? "";
  const config = getConfig(c.env).cache;
  assertKey(key, LIMITS.keyBytes);
  return c.json({ key, replicas: ringFor(config).preferenceList(key, config.replicas) }, 200);
}
