// GET /metrics inside workerd: what the worker counts for real requests, the Raft members and the
// coordinators read at scrape time, and the token check.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import app from "../../src/index";
import { guardedCall } from "../../src/services/do-guard";
import { BASE, call, eventually, getKey, json, parseSamples, putKey, type Samples, scrapeMetrics } from "./helpers";


const requests = (route: string, method: string, cls: string) => `dc_http_requests_total{method="${method}",route="${route}",status_class="${cls}"}`;
const get = (s: Samples, key: string) => s.get(key) ?? 0;

describe("GET /metrics", () => {
  it("answers Prometheus text format 0.0.4, every metric with HELP and TYPE", async () => {
    const res = await call("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text.endsWith("\n")).toBe(true);
    for (const name of [
      "dc_http_requests_total", "dc_http_request_duration_seconds", "dc_do_breaker_openings_total", "dc_do_breaker_state",
      "dc_admission_limit", "dc_admission_inflight", "dc_admission_queue_depth", "dc_admission_shed_total",
      "dc_raft_up", "dc_raft_term", "dc_raft_is_leader", "dc_raft_commit_index", "dc_raft_leader_changes_total", "dc_raft_elections_started_total",
      "dc_txn_commits_total", "dc_txn_aborts_total", "dc_txn_in_doubt", "dc_metrics_dropped_series_total",
    ]) {
      expect(text, name).toMatch(new RegExp(`^# HELP ${name} .+\\n# TYPE ${name} (counter|gauge|histogram)$`, "m"));
    }
  });

  it("counts requests by route pattern, method and status class, never by raw path", async () => {
    const before = (await scrapeMetrics()).samples;
    await call("/healthz");
    await call("/healthz");
    expect((await putKey("metrics-key-1", "v")).status).toBe(200);
    expect((await getKey("metrics-key-1")).status).toBe(200);
    expect((await getKey("metrics-absent-key")).status).toBe(404);
    expect((await call("/no/such/route/metrics-raw-path")).status).toBe(404);
    expect((await call("/cache/metrics-key-1", { method: "POST" })).status).toBe(405);
    const { text, samples: after } = await scrapeMetrics();

    const delta = (key: string) => get(after, key) - get(before, key);
    expect(delta(requests("/healthz", "GET", "2xx"))).toBe(2);
    expect(delta(requests("/cache/:key", "PUT", "2xx"))).toBe(1);
    expect(delta(requests("/cache/:key", "GET", "2xx"))).toBe(1);
    expect(delta(requests("/cache/:key", "GET", "4xx"))).toBe(1);
    // No route matched: one label for all of them (the 404 and the 405), whatever the path.
    expect(delta(requests("unmatched", "GET", "4xx"))).toBe(1);
    expect(delta(requests("unmatched", "POST", "4xx"))).toBe(1);
    expect(text).not.toContain("metrics-key-1");
    expect(text).not.toContain("metrics-raw-path");
    // The latency histogram of the same requests: cumulative buckets up to +Inf, a count per route.
    const count = (route: string, method: string) => `dc_http_request_duration_seconds_count{method="${method}",route="${route}"}`;
    expect(get(after, count("/healthz", "GET")) - get(before, count("/healthz", "GET"))).toBe(2);
    const inf = get(after, 'dc_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"}');
    expect(inf).toBe(get(after, count("/healthz", "GET")));
    expect(get(after, 'dc_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="10"}')).toBeLessThanOrEqual(inf);
  });

  it("shows this isolate's breaker for every cache shard and Raft member (0: closed)", async () => {
    await putKey("metrics-breaker", "v");
    const { samples } = await scrapeMetrics();
    const shards = [...samples.entries()].filter(([k]) => k.startsWith('dc_do_breaker_state{object="cache/shard-'));
    expect(shards).toHaveLength(Number(env.CACHE_SHARDS ?? 8));
    for (const [, v] of shards) expect(v).toBe(0);
    expect(samples.get(`dc_do_breaker_state{object="raft/${env.RAFT_GROUP ?? "main"}/n1"}`)).toBe(0);
  });

  it("counts a breaker's openings and shows its state; shows the admission gates of the objects called", async () => {
    // Through the app in this module graph, whose do-guard the calls below go through.
    const local = async () => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`${BASE}/metrics`), env, ctx);
      await waitOnExecutionContext(ctx);
      return parseSamples(await res.text());
    };
    const object = "test/metrics-sick-object";
    const sick = () => Promise.reject(Object.assign(new Error("down"), { remote: true }));
    const options = { breaker: { consecutiveFailures: 2, openMs: 60_000 } };
    for (let i = 0; i < 2; i++) await guardedCall(object, 1000, sick, options).catch(() => undefined);
    await putKey("metrics-admission", "v");
    const samples = await local();
    expect(samples.get(`dc_do_breaker_openings_total{object="${object}"}`)).toBe(1);
    const limits = [...samples.entries()].filter(([k]) => k.startsWith('dc_admission_limit{object="cache/shard-'));
    expect(limits.length).toBeGreaterThan(0);
    for (const [, v] of limits) expect(v).toBeGreaterThanOrEqual(1);
    expect([...samples.keys()].some((k) => k.startsWith('dc_admission_queue_depth{object="cache/shard-'))).toBe(true);
  });

  it("reads every Raft member at scrape time: up, term, commit index, exactly one leader", async () => {
    const members = Array.from({ length: Number(env.RAFT_MEMBERS ?? 5) }, (_, i) => `n${i + 1}`);
    // Until a leader is elected (and every member answered this scrape), polled up to a deadline.
    let samples: Samples = new Map();
    await eventually(async () => {
      samples = (await scrapeMetrics()).samples;
      const leaders = members.filter((n) => samples.get(`dc_raft_is_leader{node="${n}"}`) === 1);
      return leaders.length === 1 && members.every((n) => samples.get(`dc_raft_up{node="${n}"}`) === 1);
    }, 15_000);
    for (const n of members) {
      expect(samples.get(`dc_raft_term{node="${n}"}`), n).toBeGreaterThanOrEqual(1);
      expect(samples.has(`dc_raft_commit_index{node="${n}"}`), n).toBe(true);
    }
  });

  it("counts transactions that commit and abort (by reason), and reads the in-doubt count from the coordinators", async () => {
    const before = (await scrapeMetrics()).samples;
    const txn = (body: unknown) => call("/txn", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await txn({ ops: [{ op: "set", key: "metrics-t1", value: "1" }] })).status).toBe(200);
    const aborted = await txn({ ops: [{ op: "set", key: "metrics-t2", value: "1" }], conditions: [{ key: "metrics-absent", exists: true }] });
    expect(aborted.status).toBe(409);
    expect((await json<{ error: { code: string } }>(aborted)).error.code).toBe("condition_failed");
    const after = (await scrapeMetrics()).samples;
    expect(get(after, "dc_txn_commits_total") - get(before, "dc_txn_commits_total")).toBe(1);
    const reason = 'dc_txn_aborts_total{reason="condition_failed"}';
    expect(get(after, reason) - get(before, reason)).toBe(1);
    expect(after.get("dc_txn_in_doubt")).toBe(0);
    expect(after.has("dc_txn_coordinators_unreachable")).toBe(true);
  });

  it("is described in /openapi.json", async () => {
    const doc = await json<{ paths: Record<string, { get?: { responses: Record<string, unknown> } }> }>(await call("/openapi.json"));
    expect(doc.paths["/metrics"]?.get?.responses).toHaveProperty("200");
  });
});

describe("GET /metrics with API_TOKEN configured", () => {
  async function fetchWith(path: string, init?: RequestInit): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${BASE}${path}`, init), { ...env, API_TOKEN: "metrics-secret" }, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("is 401 without the token or with a wrong one, and answers with it", async () => {
    expect((await fetchWith("/metrics")).status).toBe(401);
    expect((await fetchWith("/metrics", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const ok = await fetchWith("/metrics", { headers: { authorization: "Bearer metrics-secret" } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("# TYPE dc_http_requests_total counter");
  });
});
