import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registryStub } from "../../durable-objects/work-registry";
import app from "../../src/index";
import { Live } from "../../src/routes/dashboard-page";
import type { DashboardStatus } from "../../src/routes/dashboard";
import { countingEnv } from "./count-calls";
import { ADMIN, call, eventually, json, sleep } from "./helpers";

// GET /dashboard/status (what the dashboard polls: at most one object read per capability, the rest as
// last read in this isolate) and the lists the API offers beside it: GET /txn, GET /lb/pools.

type Data<K extends keyof DashboardStatus> = Extract<DashboardStatus[K], { ok: true }>["data"];

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });

function data<K extends "raft" | "cacheStats" | "ring" | "transactions" | "pools" | "jobs" | "tasks">(st: DashboardStatus, k: K): Data<K> {
  const s = st[k];
  if (!s.ok) throw new Error(`section ${k} failed: ${s.status} ${JSON.stringify(s.error)}`);
  return s.data as Data<K>;
}

/** Refreshes (each at least the re-read interval after the last) until `check` holds: the rotation reaches everything. */
async function refreshUntil(check: (st: DashboardStatus) => boolean, ms = 30_000): Promise<DashboardStatus> {
  let last: DashboardStatus | null = null;
  await eventually(async () => {
    await sleep(520);
    last = await json<DashboardStatus>(await call("/dashboard/status"));
    return check(last);
  }, ms);
  return last!;
}

describe("the dashboard's status", () => {
  it("has every section; within a rotation every shard, coordinator, pool, job and batch has been read", async () => {
    await call("/cache/dash-key", { method: "PUT", body: "v" });
    const txn = await json<{ id: string; state: string }>(await postJson("/txn", { ops: [{ op: "set", key: "dash-a", value: "1" }, { op: "set", key: "dash-b", value: "2" }] }));
    expect(txn.state).toBe("committed");
    const pool = await call("/admin/lb/pools/dash-pool", { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ upstreams: [{ url: "http://127.0.0.1:1" }] }) });
    expect(pool.status).toBe(200);
    const job = await json<{ id: string }>(await postJson("/jobs", { kind: "wordcount", input: { documents: [{ id: "d", text: "hello dashboard hello" }] }, M: 1, R: 1 }));
    const batch = await json<{ batch: string }>(await postJson("/tasks", { tasks: [{ kind: "fibonacci", args: { n: 10 } }] }));

    const res = await call("/dashboard/status");
    expect(res.status).toBe(200);
    const first = await json<DashboardStatus>(res);
    expect(Math.abs(first.at - Date.now())).toBeLessThan(60_000);
    expect(data(first, "raft").members.length).toBeGreaterThanOrEqual(3);
    const ring = data(first, "ring").shards;
    expect(ring.reduce((n, s) => n + s.ownership, 0)).toBeCloseTo(1, 5);

    const st = await refreshUntil((s) =>
      data(s, "cacheStats").shards.every((x) => x.valueAt !== null) &&
      data(s, "transactions").transactions.some((t) => t.id === txn.id) &&
      data(s, "pools").pools.some((p) => p.pool === "dash-pool" && p.status !== null) &&
      data(s, "jobs").items.some((j) => j.entry.id === job.id && j.summary !== null) &&
      data(s, "tasks").items.some((b) => b.entry.id === batch.batch && b.summary !== null));
    expect(data(st, "cacheStats").totals.keys).toBeGreaterThanOrEqual(1);
    const mine = data(st, "transactions").transactions.find((t) => t.id === txn.id);
    expect(mine?.inDoubt).toBe(false);
    expect(mine?.participants.length).toBeGreaterThan(0);
    expect(data(st, "pools").pools.find((p) => p.pool === "dash-pool")?.status?.upstreams).toHaveLength(1);
    // Every part says when it was read.
    for (const s of data(st, "cacheStats").shards) expect(st.at - s.valueAt!).toBeLessThan(30_000);

    expect((await call("/admin/lb/pools/dash-pool", { method: "DELETE", headers: ADMIN })).status).toBe(200);
    await refreshUntil((s) => !data(s, "pools").pools.some((p) => p.pool === "dash-pool"));
  });

  it("GET /txn lists the newest transactions first, without their values; a bad limit is a 400", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await json<{ id: string }>(await postJson("/txn", { ops: [{ op: "set", key: `list-${i}`, value: "secret-value" }] }))).id);
    const res = await call("/txn?limit=100");
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).not.toContain("secret-value");
    const listed = (JSON.parse(body) as { transactions: { id: string; startedAt: number; ops: number }[] }).transactions;
    const order = ids.map((id) => listed.findIndex((t) => t.id === id));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(listed.map((t) => t.startedAt)).toEqual([...listed.map((t) => t.startedAt)].sort((a, b) => b - a));
    expect(listed.find((t) => t.id === ids[0])?.ops).toBe(1);
    expect((await call("/txn?limit=0")).status).toBe(400);
    expect((await call("/txn?limit=abc")).status).toBe(400);
  });
});

describe("the dashboard page", () => {
  it("GET / renders every section server-side, offline (no external scripts, styles or fonts), with labelled controls", async () => {
    // A leader first (the group elects one through its alarms once a member is woken).
    await eventually(async () => (await json<{ leader: string | null }>(await call("/raft/status"))).leader !== null, 10_000);
    const res = await call("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    for (const id of ["raft", "cache", "txns", "lb", "jobs"]) expect(html).toContain(`<section id="${id}"`);
    expect(html).toMatch(/Leader: <strong>n\d/);
    expect(html).toMatch(/<tr class="leader"[^>]*data-node="n\d"/);
    expect(html).toContain("prefers-color-scheme: dark");
    expect(html).toContain('name="viewport"');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:|@import|url\(https?:/);
    for (const id of ["admin-token", "api-token", "lookup-key"]) expect(html).toMatch(new RegExp(`<label for="${id}">`));
  });

  it("GET /dashboard/fragment answers the sections alone (the page's refresh); GET /dashboard/replicas answers a key's shards", async () => {
    const frag = await call("/dashboard/fragment");
    expect(frag.status).toBe(200);
    const html = await frag.text();
    expect(html.startsWith('<div id="live"')).toBe(true);
    expect(html).not.toContain("<html");
    await call("/cache/frag-key", { method: "PUT", body: "x" });
    const rep = await json<{ key: string; replicas: string[] }>(await call("/dashboard/replicas?key=frag-key"));
    expect(rep.replicas).toHaveLength(3);
    expect(new Set(rep.replicas).size).toBe(3);
    expect((await call("/dashboard/replicas?key=")).status).toBe(400);
  });
});

describe("the dashboard's sections when parts fail", () => {
  it("a pool listed but gone, and a section that failed, are shown as such while the rest renders", async () => {
    await registryStub(env).recordPool("ghost-pool");
    const list = await json<{ pools: { pool: string; error?: string }[] }>(await call("/lb/pools"));
    expect(list.pools.find((p) => p.pool === "ghost-pool")?.error).toBe("deleted");
    await eventually(async () => {
      await sleep(520);
      return /data-pool="ghost-pool"[\s\S]*?class="error">deleted</.test(await call("/dashboard/fragment").then((r) => r.text()));
    }, 30_000);
    await registryStub(env).forgetPool("ghost-pool");
  });

  it("every value is escaped in the HTML, whatever a section carries", () => {
    const evil = "<script>alert(1)</script>";
    const failed = { ok: false as const, status: 500, error: { message: evil } };
    const age = { valueAt: 1, readAt: 1, error: evil };
    const stage = { name: evil, total: 1, completed: 0, waiting: 0, idle: 0, inProgress: 0, failed: 0, fractionCompleted: 0, startedAt: null, endedAt: null };
    const summary = { id: evil, kind: evil, phase: evil, finished: false, createdAt: 1, endedAt: null, error: null, stages: [stage], counters: {} };
    const upstream = { id: evil, url: evil, health: evil, phi: null, ejected: false, breaker: { status: evil }, inFlight: 0, ewmaMs: null, counts: { requests: 0 } };
    const status = {
      at: Date.now(), read: { raft: evil }, raft: failed, cacheStats: failed, ring: failed, transactions: failed,
      pools: { ok: true as const, data: { ...age, truncated: false, pools: [{ pool: evil, status: { pool: evil, version: 1, algorithm: evil, healthCheck: null, upstreams: [upstream] }, deleted: false, ...age }] } },
      jobs: { ok: true as const, data: { ...age, items: [{ entry: { id: evil, type: "job", kind: evil, size: 1, createdAt: 1 }, summary, gone: false, ...age }] } },
      tasks: { ok: true as const, data: { ...age, items: [{ entry: { id: evil, type: "batch", kind: evil, size: 1, createdAt: 1 }, summary, gone: false, ...age }] } },
    } as unknown as DashboardStatus;
    const html = String(Live({ status }));
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;");
  });
});

describe("the dashboard within the platform's limits", () => {
  // Counted on the stubs themselves: the worker runs with an env whose namespaces log every method
  // called on their stubs (each is a subrequest of the invocation and a billed request). Before this
  // design the same cluster (2 pools, 10 jobs, 25 batches) cost 60 calls per refresh, growing with pools,
  // jobs and batches (up to ~80); above the 50 subrequests of Workers Free.
  it("each refresh reads at most one object per capability (5 in all), whatever the cluster holds", async () => {
    for (const name of ["count-a", "count-b"]) {
      expect((await call(`/admin/lb/pools/${name}`, { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ upstreams: [{ url: "http://127.0.0.1:1" }] }) })).status).toBe(200);
    }
    for (let i = 0; i < 3; i++) expect((await postJson("/txn", { ops: [{ op: "set", key: `count-${i}`, value: "1" }] })).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await postJson("/jobs", { kind: "wordcount", input: { documents: [{ id: "d", text: `count ${i}` }] }, M: 1, R: 1 })).status).toBeLessThan(300);
    for (let i = 0; i < 25; i++) expect((await postJson("/tasks", { tasks: [{ kind: "fibonacci", args: { n: 5 } }] })).status).toBeLessThan(300);

    const { env: counted, log } = countingEnv(env);
    const refresh = async (path: string) => {
      log.reset();
      const ctx = createExecutionContext();
      const res = await app.request(`http://cluster.test${path}`, {}, counted, ctx);
      const body = await res.text();
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(200);
      const by: Record<string, number> = {};
      for (const c of log.calls) by[c.split(".")[0]!] = (by[c.split(".")[0]!] ?? 0) + 1;
      return { body, total: log.calls.length, by };
    };
    const totals: number[] = [];
    const raftReads: string[] = [];
    for (let i = 0; i < 24; i++) {
      const { body, total, by } = await refresh(i % 3 === 0 ? "/" : i % 3 === 1 ? "/dashboard/fragment" : "/dashboard/status");
      totals.push(total);
      expect(total, JSON.stringify(by)).toBeLessThanOrEqual(5);
      for (const one of ["RAFT_NODE", "CACHE_SHARD", "TXN_COORDINATOR", "UPSTREAM_POOL", "JOB_COORDINATOR", "WORK_REGISTRY"]) expect(by[one] ?? 0, JSON.stringify(by)).toBeLessThanOrEqual(1);
      // The registry lists both pools and work: it takes a turn in either rotation, never two reads.
      expect((by.UPSTREAM_POOL ?? 0) + (by.JOB_COORDINATOR ?? 0) + (by.WORK_REGISTRY ?? 0), JSON.stringify(by)).toBeLessThanOrEqual(2);
      const raft = body.startsWith("{") ? (JSON.parse(body) as DashboardStatus).read.raft : /data-read="[^"]*\braft=([^ "]+)/.exec(body)?.[1];
      if (raft !== undefined) raftReads.push(raft);
      await sleep(510);
    }
    console.log(`dashboard: object calls per refresh over ${totals.length} refreshes: max ${Math.max(...totals)}, mean ${(totals.reduce((a, b) => a + b, 0) / totals.length).toFixed(2)}`);

    // After the rotation every part has been read, each with its age.
    const st = await json<DashboardStatus>(await call("/dashboard/status"));
    expect(data(st, "cacheStats").shards.every((s) => s.valueAt !== null)).toBe(true);
    expect(data(st, "transactions").coordinators.every((c) => c.valueAt !== null)).toBe(true);
    expect(data(st, "pools").pools.filter((p) => p.pool.startsWith("count-")).every((p) => p.status !== null)).toBe(true);
    // Mostly the leader is read (its status carries every follower's progress), a follower every 4th refresh.
    const leader = data(st, "raft").leader;
    expect(leader).not.toBeNull();
    expect(raftReads.filter((n) => n === leader).length).toBeGreaterThanOrEqual(raftReads.length / 2);
  });

  it("viewers sharing an isolate share reads: a refresh right after another reads nothing", async () => {
    const { env: counted, log } = countingEnv(env);
    await app.request("http://cluster.test/dashboard/status", {}, counted, createExecutionContext());
    log.reset();
    const res = await app.request("http://cluster.test/dashboard/status", {}, counted, createExecutionContext());
    expect(res.status).toBe(200);
    expect(log.calls).toEqual([]);
  });

  it("with API_TOKEN set and not given, every section is a 401 and nothing is read", async () => {
    const { env: counted, log } = countingEnv({ ...env, API_TOKEN: "secret-api" } as Cloudflare.Env);
    const ctx = createExecutionContext();
    const page = await app.request("http://cluster.test/", {}, counted, ctx);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Unavailable (401)");
    expect((await app.request("http://cluster.test/dashboard/status", {}, counted, ctx)).status).toBe(401);
    expect(log.calls).toEqual([]);
    const ok = await app.request("http://cluster.test/dashboard/status", { headers: { authorization: "Bearer secret-api" } }, counted, ctx);
    expect(ok.status).toBe(200);
  });
});
