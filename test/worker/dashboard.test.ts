import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { registryStub } from "../../durable-objects/work-registry";
import { Live } from "../../src/routes/dashboard-page";
import { ADMIN, call, eventually, json } from "./helpers";

// GET /dashboard/status (what the dashboard polls) and the lists it is made of: GET /txn, GET /lb/pools.

type Section = { ok: true; data: Record<string, unknown> } | { ok: false; status: number; error: unknown };
type Status = Record<"raft" | "cacheStats" | "ring" | "transactions" | "pools" | "jobs" | "tasks", Section> & { at: number };

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });

function data(s: Section): Record<string, unknown> {
  if (!s.ok) throw new Error(`section failed: ${s.status} ${JSON.stringify(s.error)}`);
  return s.data;
}

describe("the dashboard's status", () => {
  it("has every section, each answered by its capability's own route", async () => {
    await call("/cache/dash-key", { method: "PUT", body: "v" });
    const txn = await json<{ id: string; state: string }>(await postJson("/txn", { ops: [{ op: "set", key: "dash-a", value: "1" }, { op: "set", key: "dash-b", value: "2" }] }));
    expect(txn.state).toBe("committed");
    const pool = await call("/admin/lb/pools/dash-pool", { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ upstreams: [{ url: "http://127.0.0.1:1" }] }) });
    expect(pool.status).toBe(200);
    const job = await json<{ id: string }>(await postJson("/jobs", { kind: "wordcount", input: { documents: [{ id: "d", text: "hello dashboard hello" }] }, M: 1, R: 1 }));
    const batch = await json<{ batch: string }>(await postJson("/tasks", { tasks: [{ kind: "fibonacci", args: { n: 10 } }] }));

    const res = await call("/dashboard/status");
    expect(res.status).toBe(200);
    const st = await json<Status>(res);
    expect(Math.abs(st.at - Date.now())).toBeLessThan(60_000);
    const raft = data(st.raft) as { members: { node: string }[] };
    expect(raft.members.length).toBeGreaterThanOrEqual(3);
    expect((data(st.cacheStats) as { totals: { keys: number } }).totals.keys).toBeGreaterThanOrEqual(1);
    const ring = data(st.ring) as { shards: { id: string; ownership: number }[] };
    expect(ring.shards.reduce((n, s) => n + s.ownership, 0)).toBeCloseTo(1, 5);
    const txns = (data(st.transactions) as { transactions: { id: string; phase: string; inDoubt: boolean; participants: unknown[] }[] }).transactions;
    const mine = txns.find((t) => t.id === txn.id);
    expect(mine?.inDoubt).toBe(false);
    expect(mine?.participants.length).toBeGreaterThan(0);
    const pools = (data(st.pools) as { pools: { pool: string; upstreams: unknown[] }[] }).pools;
    expect(pools.find((p) => p.pool === "dash-pool")?.upstreams).toHaveLength(1);
    expect((data(st.jobs) as { jobs: { id: string }[] }).jobs.map((j) => j.id)).toContain(job.id);
    expect((data(st.tasks) as { tasks: { batch: string }[] }).tasks.map((t) => t.batch)).toContain(batch.batch);

    expect((await call("/admin/lb/pools/dash-pool", { method: "DELETE", headers: ADMIN })).status).toBe(200);
    const after = await json<Status>(await call("/dashboard/status"));
    expect((data(after.pools) as { pools: { pool: string }[] }).pools.map((p) => p.pool)).not.toContain("dash-pool");
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
    const html = (await call("/dashboard/fragment").then((r) => r.text()));
    expect(html).toMatch(/data-pool="ghost-pool"[\s\S]*?class="error">deleted</);
    await registryStub(env).forgetPool("ghost-pool");
  });

  it("every value is escaped in the HTML, whatever a section carries", () => {
    const evil = "<script>alert(1)</script>";
    const failed = { ok: false as const, status: 500, error: { message: evil } };
    const status = {
      at: Date.now(), raft: failed, cacheStats: failed, ring: failed, transactions: failed, tasks: failed,
      pools: { ok: true as const, data: { pools: [{ pool: evil, algorithm: evil, error: evil, upstreams: [{ id: evil, url: evil, breaker: { status: evil } }] }] } },
      jobs: { ok: true as const, data: { jobs: [{ id: evil, kind: evil, phase: evil, stages: [{ name: evil, total: 1, completed: 0 }] }] } },
    };
    const html = String(Live({ status }));
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;");
  });
});
