// The billed-usage counters of GET /metrics move with real traffic inside workerd: RPC calls on stubs
// by called kind and caller, alarm invocations, SQLite rows read and written, active seconds.
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, eventually, putKey, replicasOf, type Samples, scrapeMetrics, shard } from "./helpers";


const rpc = (kind: string, caller: string) => `dc_usage_rpc_calls_total{caller="${caller}",kind="${kind}"}`;
const byKind = (name: string, kind: string) => `${name}{kind="${kind}"}`;

/** How much each series grew from `before` to `after`. */
const growth = (before: Samples, after: Samples) => (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);

describe("billed usage in GET /metrics", () => {
  it("declares every usage counter, saying it is counted per isolate", async () => {
    const { text } = await scrapeMetrics();
    for (const name of ["dc_usage_rpc_calls_total", "dc_usage_alarms_total", "dc_usage_rows_read_total", "dc_usage_rows_written_total", "dc_usage_active_seconds_total"]) {
      expect(text, name).toMatch(new RegExp(`^# HELP ${name} .*own isolate.*\\n# TYPE ${name} counter$`, "m"));
    }
  });

  it("a cache PUT counts the worker's calls to cache shards and the rows they write; a GET the rows they read", async () => {
    const before = (await scrapeMetrics()).samples;
    expect((await putKey("usage-put-1", "v")).status).toBe(200);
    expect((await call("/cache/usage-put-1")).status).toBe(200);
    const d = growth(before, (await scrapeMetrics()).samples);
    // One call per replica written (N = 3, W = 2: the third may still be in flight) and per replica read (R = 2).
    expect(d(rpc("cache", "worker"))).toBeGreaterThanOrEqual(2 + 2);
    expect(d(byKind("dc_usage_rows_written_total", "cache"))).toBeGreaterThanOrEqual(2);
    expect(d(byKind("dc_usage_rows_read_total", "cache"))).toBeGreaterThanOrEqual(2);
    expect(d(byKind("dc_usage_active_seconds_total", "cache"))).toBeGreaterThan(0);
  });

  it("calls an object makes are labelled with its kind: a transaction's coordinator calling cache shards", async () => {
    const before = (await scrapeMetrics()).samples;
    const res = await call("/txn", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ops: [{ op: "set", key: "usage-txn-a", value: "1" }, { op: "set", key: "usage-txn-b", value: "2" }] }) });
    expect(res.status).toBe(200);
    const d = growth(before, (await scrapeMetrics()).samples);
    expect(d(rpc("txn", "worker"))).toBeGreaterThanOrEqual(1);
    // Prepare and decide on each participant shard, made by the coordinator object.
    expect(d(rpc("cache", "txn"))).toBeGreaterThanOrEqual(2);
    expect(d(byKind("dc_usage_rows_written_total", "txn"))).toBeGreaterThanOrEqual(1);
  });

  it("a write through Raft counts calls to the members and the rows of their logs", async () => {
    const before = (await scrapeMetrics()).samples;
    expect((await call("/kv/usage-raft-1", { method: "PUT", body: "v" })).status).toBe(200);
    const d = growth(before, (await scrapeMetrics()).samples);
    expect(d(rpc("raft", "worker"))).toBeGreaterThanOrEqual(1);
    expect(d(byKind("dc_usage_rows_written_total", "raft"))).toBeGreaterThanOrEqual(1);
  });

  it("the scrape's own calls are labelled caller=\"metrics\", apart from the traffic's", async () => {
    const before = (await scrapeMetrics()).samples;
    const d = growth(before, (await scrapeMetrics()).samples);
    // One status call per Raft member (5), one recent-list call per coordinator (8).
    expect(d(rpc("raft", "metrics"))).toBeGreaterThanOrEqual(5);
    expect(d(rpc("txn", "metrics"))).toBeGreaterThanOrEqual(8);
    expect(d(rpc("raft", "worker"))).toBe(0);
  });

  it("an alarm invocation is counted by kind (a cache entry's TTL arms its shard's alarm)", async () => {
    const key = "usage-ttl-1";
    expect((await putKey(key, "v", "?ttl=60000")).status).toBe(200);
    const before = (await scrapeMetrics()).samples;
    let ran = 0;
    // The replicas of the key hold the entry; at least the acknowledging ones have armed an alarm.
    await eventually(async () => {
      for (const id of await replicasOf(key)) if (await runDurableObjectAlarm(shard(id))) ran++;
      return ran > 0;
    });
    const d = growth(before, (await scrapeMetrics()).samples);
    expect(d(byKind("dc_usage_alarms_total", "cache"))).toBeGreaterThanOrEqual(ran);
  });
});
