// Issue 16, item 9: every route of /openapi.json called with no token, a wrong token, the API token and
// the admin token, with both tokens configured; and with neither API_TOKEN nor PUBLIC_DATA_ROUTES (a
// deploy that forgot its secret). What each route expects comes from the document itself (its
// `security`), so the test also proves the document tells the truth about who may call what.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import app from "../../src/index";
import { BASE, call, json } from "./helpers";

type Guard = "public" | "api" | "admin";
interface Route { method: string; path: string; url: string; guard: Guard }
interface Operation { security?: Array<Record<string, string[]>>; parameters?: Array<{ name: string; in: string; example?: unknown; schema?: { example?: unknown } }> }
interface OpenApiDoc { security?: Array<Record<string, string[]>>; paths: Record<string, Record<string, Operation>> }

const API = "matrix-api-token";
const ADMIN_TOKEN = "matrix-admin-token";
const configured: Partial<Cloudflare.Env> = { API_TOKEN: API, ADMIN_TOKEN, PUBLIC_DATA_ROUTES: undefined };
const closed: Partial<Cloudflare.Env> = { API_TOKEN: undefined, ADMIN_TOKEN, PUBLIC_DATA_ROUTES: undefined };

/** Served outside the OpenAPI document (pages and the document itself): public, as the README says. */
const PAGES: Route[] = ["/", "/docs", "/openapi.json", "/healthz"].map((path) => ({ method: "GET", path, url: path, guard: "public" }));

async function fetchWith(overrides: Partial<Cloudflare.Env>, route: Route, token: string | null, body?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${route.url}`, { method: route.method, headers, body: route.method === "GET" || route.method === "HEAD" ? undefined : body }), { ...env, ...overrides }, ctx);
  await res.arrayBuffer().catch(() => undefined);
  await waitOnExecutionContext(ctx);
  return res;
}

function guardOf(op: Operation, doc: OpenApiDoc): Guard {
  const security = op.security ?? doc.security ?? [];
  if (security.length === 0) return "public";
  const schemes = security.flatMap((s) => Object.keys(s));
  return schemes.includes("apiToken") ? "api" : "admin";
}

/** A path of the document made callable: each parameter gets its example or a harmless name. */
function urlOf(path: string, op: Operation): string {
  return path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const p = op.parameters?.find((q) => q.in === "path" && q.name === name);
    const example = p?.example ?? p?.schema?.example;
    return encodeURIComponent(typeof example === "string" ? `matrix-${example}` : `matrix-${name}`);
  });
}

let routes: Route[] = [];

beforeAll(async () => {
  const res = await call("/openapi.json");
  const doc = await json<OpenApiDoc>(res);
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!["get", "put", "post", "delete", "patch", "head"].includes(method)) continue;
      routes.push({ method: method.toUpperCase(), path, url: urlOf(path, op), guard: guardOf(op, doc) });
    }
  }
  routes = [...routes, ...PAGES.filter((p) => !routes.some((r) => r.path === p.path && r.method === p.method))];
});

const refused = (status: number) => status === 401 || status === 403;

describe("every route, every kind of caller (both tokens configured)", () => {
  it("the document lists the routes, each with its guard", () => {
    expect(routes.length).toBeGreaterThan(50);
    expect(routes.filter((r) => r.guard === "admin").length).toBeGreaterThan(10);
    expect(routes.filter((r) => r.guard === "api").length).toBeGreaterThan(20);
    // The proxy is public: the balancer serves whoever its upstreams serve.
    expect(routes.find((r) => r.path === "/lb/{pool}/{path}")?.guard).toBe("public");
  });

  it("no token and a wrong token: every guarded route answers 401 before reading its input; public ones never do", async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      for (const token of [null, "not-the-token", `${API}x`]) {
        // A malformed body: a route that parsed before authenticating would answer 400, not 401.
        const res = await fetchWith(configured, r, token, "{");
        const ok = r.guard === "public" ? !refused(res.status) : res.status === 401;
        if (!ok) wrong.push(`${r.method} ${r.path} (${r.guard}) token=${token ?? "none"} -> ${res.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("the API token opens the data routes and no admin route", async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      const res = await fetchWith(configured, r, API);
      const ok = r.guard === "admin" ? res.status === 401 : !refused(res.status);
      if (!ok) wrong.push(`${r.method} ${r.path} (${r.guard}) -> ${res.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it("the admin token opens the admin routes and the data routes", async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      // Admin routes act (crash, partition); with no body most refuse with 400, which is not a refusal of the caller.
      const res = await fetchWith(configured, r, ADMIN_TOKEN);
      if (refused(res.status)) wrong.push(`${r.method} ${r.path} (${r.guard}) -> ${res.status}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe("a deploy without API_TOKEN (and no PUBLIC_DATA_ROUTES)", () => {
  it("every data route answers 403 naming the settings, whatever the token; admin and public routes are unchanged", async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      const res = await fetchWith(closed, r, r.guard === "admin" ? ADMIN_TOKEN : null);
      const ok = r.guard === "api" ? res.status === 403 : !refused(res.status);
      if (!ok) wrong.push(`${r.method} ${r.path} (${r.guard}) -> ${res.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it("the refusal names API_TOKEN and PUBLIC_DATA_ROUTES, in the API's error model and in Redis's", async () => {
    const ctx = createExecutionContext();
    const again = await app.fetch(new Request(`${BASE}/kv/k`), { ...env, ...closed }, ctx);
    await waitOnExecutionContext(ctx);
    expect(again.status).toBe(403);
    const err = (await again.json()) as { error: { code: string; message: string } };
    expect(err.error.code).toBe("data_routes_closed");
    expect(err.error.message).toMatch(/API_TOKEN/);
    expect(err.error.message).toMatch(/PUBLIC_DATA_ROUTES/);

    const ctx2 = createExecutionContext();
    const redis = await app.fetch(new Request(`${BASE}/redis`, { method: "POST", body: '["PING"]' }), { ...env, ...closed }, ctx2);
    await waitOnExecutionContext(ctx2);
    expect(redis.status).toBe(403);
    expect(((await redis.json()) as { error: string }).error).toMatch(/^ERR .*API_TOKEN.*PUBLIC_DATA_ROUTES/);
  });

  it("PUBLIC_DATA_ROUTES = \"true\" opens them without a token (what npm run dev passes)", async () => {
    const res = await fetchWith({ ...closed, PUBLIC_DATA_ROUTES: "true" }, { method: "GET", path: "/cache/stats", url: "/cache/stats", guard: "api" }, null);
    expect(res.status).toBe(200);
  });
});

describe("authenticate first, then parse", () => {
  it("a body over the ceiling without a token is a 401, not a 413", async () => {
    const big = "x".repeat(9 * 1024 * 1024);
    for (const [method, url] of [["POST", "/kv/cas"], ["POST", "/cache/batch/set"], ["POST", "/redis"], ["POST", "/admin/raft/partition"]] as const) {
      const res = await fetchWith(configured, { method, path: url, url, guard: "api" }, null, big);
      expect(`${url} -> ${res.status}`).toBe(`${url} -> 401`);
    }
  });

  it("the Redis path form checks the token before it reads its arguments or body", async () => {
    const res = await fetchWith(configured, { method: "POST", path: "/redis/{command}", url: `/redis/set/${"k".repeat(5000)}/v`, guard: "api" }, null, "x".repeat(2048));
    expect(res.status).toBe(401);
  });
});
