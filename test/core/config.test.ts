import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { locationHintFor } from "../../src/core/placement/locations";
import { PLACEMENT_RTT_MS, RAFT_PLACEMENTS, raftTimingForRtt } from "../../src/core/placement/raft-timing";

/** The `[vars]` table of wrangler.toml (flat `KEY = "value"` lines only, which is all it holds). */
function wranglerVars(): Record<string, string> {
  const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const section = toml.split(/^\[vars\]\s*$/m)[1]?.split(/^\[/m)[0] ?? "";
  const vars: Record<string, string> = {};
  for (const m of section.matchAll(/^([A-Z_]+)\s*=\s*"((?:[^"\\]|\\.)*)"/gm)) vars[m[1]!] = JSON.parse(`"${m[2]}"`) as string;
  return vars;
}

describe("cluster configuration", () => {
  it("wrangler.toml's [vars] parse into N=3, R=2, W=2 over 8 shards", () => {
    const vars = wranglerVars();
    expect(Object.keys(vars).length).toBeGreaterThan(5);
    const { cache } = parseConfig(vars);
    expect(cache).toMatchObject({ replicas: 3, readQuorum: 2, writeQuorum: 2 });
    expect(cache.shards.map((s) => s.id)).toEqual(Array.from({ length: 8 }, (_, i) => `shard-${i}`));
  });

  it.each([
    ["W > N", { CACHE_REPLICAS: "3", CACHE_WRITE_QUORUM: "4" }, /CACHE_WRITE_QUORUM/],
    ["R > N", { CACHE_REPLICAS: "2", CACHE_READ_QUORUM: "3" }, /CACHE_READ_QUORUM/],
    ["N > shards", { CACHE_SHARDS: "2", CACHE_REPLICAS: "3", CACHE_READ_QUORUM: "1", CACHE_WRITE_QUORUM: "1" }, /CACHE_REPLICAS/],
    ["a weight for an unknown shard", { CACHE_SHARD_WEIGHTS: '{"shard-99": 2}' }, /unknown shard/],
    ["weights that are not JSON", { CACHE_SHARD_WEIGHTS: "{" }, /JSON/],
    ["a weight needing millions of virtual nodes", { CACHE_SHARDS: "1024", CACHE_VNODES: "4096", CACHE_REPLICAS: "3", CACHE_SHARD_WEIGHTS: '{"shard-0": 1000}' }, /CACHE_SHARD_WEIGHTS/],
    ["a shard count that is not a number", { CACHE_SHARDS: "many" }, /CACHE_SHARDS/],
  ])("refuses %s with a message naming the variable", (_, vars, message) => {
    expect(() => parseConfig(vars)).toThrow(message);
  });

  it("the same config gives the same shards and weights, in any process", () => {
    const vars = { CACHE_SHARDS: "4", CACHE_SHARD_WEIGHTS: '{"shard-2": 2.5}' };
    expect(parseConfig(vars)).toEqual(parseConfig({ ...vars }));
    expect(parseConfig(vars).cache.shards[2]).toEqual({ id: "shard-2", weight: 2.5 });
  });
});

// Placement across regions (issue 15, item 4). Timing after etcd's tuning guide
// (https://etcd.io/docs/v3.6/tuning/): heartbeat about the round trip, election timeout >= 10x it.
describe("placement: location hints, jurisdiction, and Raft timing that follows the distance", () => {
  const timing = (vars: Record<string, string>) => {
    const { tickMs, heartbeatMs, electionMinMs, electionMaxMs, deadlineMs, electionTicks, maxElectionTicks, heartbeatTicks } = parseConfig(vars).raft;
    return { tickMs, heartbeatMs, electionMinMs, electionMaxMs, deadlineMs, electionTicks, maxElectionTicks, heartbeatTicks };
  };
  const TODAY = { tickMs: 50, heartbeatMs: 50, electionMinMs: 150, electionMaxMs: 300, deadlineMs: 5000, electionTicks: 3, maxElectionTicks: 6, heartbeatTicks: 1 };

  it("with nothing set, and with wrangler.toml's [vars], the timing is exactly the local one of before (50 ms ticks, election 150-300 ms)", () => {
    expect(timing({})).toEqual(TODAY);
    expect(timing(wranglerVars())).toEqual(TODAY);
    expect(timing({ RAFT_PLACEMENT: "local" })).toEqual(TODAY);
    expect(parseConfig(wranglerVars()).placement).toEqual({ jurisdiction: undefined, raft: [], cache: [], txn: [] });
  });

  it.each(RAFT_PLACEMENTS.map((p) => [p, PLACEMENT_RTT_MS[p]] as const))("preset %s (round trip %i ms): election timeout >= 10x the round trip, heartbeat about it", (placement, rtt) => {
    const t = timing({ RAFT_PLACEMENT: placement });
    expect(t.electionMinMs).toBeGreaterThanOrEqual(10 * rtt);
    expect(t.electionMaxMs).toBe(2 * t.electionMinMs);
    expect(t.heartbeatMs).toBeGreaterThanOrEqual(Math.min(50, 0.5 * rtt));
    expect(t.heartbeatMs).toBeLessThanOrEqual(Math.max(50, 1.5 * rtt));
    expect(t.heartbeatTicks).toBe(1);
    // a request can wait out one failover
    expect(t.deadlineMs).toBeGreaterThanOrEqual(t.electionMaxMs);
  });

  it("derives whole ticks from a configured round trip", () => {
    expect(raftTimingForRtt(250)).toEqual({ tickMs: 250, heartbeatMs: 250, electionMinMs: 2500, electionMaxMs: 5000, requestDeadlineMs: 10_000 });
    expect(raftTimingForRtt(20)).toEqual({ tickMs: 50, heartbeatMs: 50, electionMinMs: 200, electionMaxMs: 400, requestDeadlineMs: 5000 });
    expect(timing({ RAFT_RTT_MS: "100" })).toMatchObject({ tickMs: 100, electionMinMs: 1000, electionMaxMs: 2000, electionTicks: 10, maxElectionTicks: 20 });
    // RAFT_RTT_MS wins over the preset
    expect(timing({ RAFT_PLACEMENT: "global", RAFT_RTT_MS: "100" }).electionMinMs).toBe(1000);
  });

  it("the explicit RAFT_*_MS variables win over the derived values", () => {
    expect(timing({ RAFT_PLACEMENT: "global", RAFT_TICK_MS: "100", RAFT_HEARTBEAT_MS: "200", RAFT_ELECTION_MIN_MS: "3000", RAFT_ELECTION_MAX_MS: "4000", RAFT_REQUEST_DEADLINE_MS: "7000" })).toEqual({
      tickMs: 100, heartbeatMs: 200, electionMinMs: 3000, electionMaxMs: 4000, deadlineMs: 7000, electionTicks: 30, maxElectionTicks: 40, heartbeatTicks: 2,
    });
    // an explicit minimum alone keeps the maximum at twice it
    expect(timing({ RAFT_PLACEMENT: "global", RAFT_ELECTION_MIN_MS: "6000" })).toMatchObject({ electionMinMs: 6000, electionMaxMs: 12_000, tickMs: 250 });
    // today's explicit values give today's timing under any preset
    expect(timing({ RAFT_PLACEMENT: "global", RAFT_TICK_MS: "50", RAFT_HEARTBEAT_MS: "50", RAFT_ELECTION_MIN_MS: "150", RAFT_ELECTION_MAX_MS: "300", RAFT_REQUEST_DEADLINE_MS: "5000" })).toEqual(TODAY);
  });

  it.each([
    [["wnam", "wnam", "wnam"], "region"],
    [["wnam", "enam", "weur"], "continent"],
    [["apac-ne", "apac-se", "oc"], "continent"],
    [["wnam", "enam", "weur", "eeur", "apac"], "global"],
  ])("without RAFT_PLACEMENT, members at %j get the %s preset", (hints, placement) => {
    const raft = parseConfig({ RAFT_LOCATIONS: hints.join(",") }).raft;
    expect(raft.placement).toBe(placement);
    expect(raft.electionMinMs).toBe(raftTimingForRtt(PLACEMENT_RTT_MS[placement as keyof typeof PLACEMENT_RTT_MS]).electionMinMs);
  });

  it("gives each member, shard and coordinator its entry, cycling a short list; other objects get no hint", () => {
    const { placement } = parseConfig({ RAFT_LOCATIONS: " wnam, enam ,weur", CACHE_LOCATIONS: "weur,eeur", TXN_LOCATIONS: "enam", DO_JURISDICTION: "eu" });
    expect(placement).toEqual({ jurisdiction: "eu", raft: ["wnam", "enam", "weur"], cache: ["weur", "eeur"], txn: ["enam"] });
    expect(["n1", "n2", "n3", "n4", "n5"].map((n) => locationHintFor(placement, "raft", `main/${n}`))).toEqual(["wnam", "enam", "weur", "wnam", "enam"]);
    expect(["shard-0", "shard-1", "shard-2"].map((s) => locationHintFor(placement, "cache", s))).toEqual(["weur", "eeur", "weur"]);
    expect(locationHintFor(placement, "txn", "txn-coordinator-5")).toBe("enam");
    expect(locationHintFor(placement, "txn", "txn:abc")).toBeUndefined();
    expect(locationHintFor(placement, "raft", "main/spare")).toBeUndefined();
    expect(locationHintFor(placement, "pool", "shard-0")).toBeUndefined();
  });

  it.each([
    ["an unknown location hint", { RAFT_LOCATIONS: "wnam,mars" }, /RAFT_LOCATIONS: unknown location hint "mars" \(valid: wnam, enam/],
    ["a region name instead of a hint", { CACHE_LOCATIONS: "us-east-1" }, /CACHE_LOCATIONS: unknown location hint "us-east-1"/],
    ["an unknown jurisdiction", { DO_JURISDICTION: "mars" }, /DO_JURISDICTION: unknown jurisdiction "mars" \(valid: eu, fedramp, fedramp-high, us\)/],
    ["an unknown preset", { RAFT_PLACEMENT: "planet" }, /RAFT_PLACEMENT: must be one of local, region, continent, global/],
    ["more shard locations than shards", { CACHE_SHARDS: "3", CACHE_LOCATIONS: "wnam,enam,weur,eeur" }, /CACHE_LOCATIONS: 4 entries for 3 shards/],
    ["coordinator locations without a coordinator pool", { TXN_COORDINATORS: "0", TXN_LOCATIONS: "wnam" }, /TXN_LOCATIONS: TXN_COORDINATORS=0/],
    ["an explicit election maximum below the derived minimum", { RAFT_PLACEMENT: "global", RAFT_ELECTION_MAX_MS: "2000" }, /RAFT_ELECTION_MAX_MS: must be above RAFT_ELECTION_MIN_MS \(2500\)/],
    ["a round trip of 0", { RAFT_RTT_MS: "0" }, /RAFT_RTT_MS/],
  ])("refuses %s with a message naming the variable", (_, vars, message) => {
    expect(() => parseConfig(vars)).toThrow(message);
  });
});
