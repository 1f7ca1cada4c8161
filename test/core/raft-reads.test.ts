import { describe, expect, test } from "vitest";
import { encodeCommand } from "../../src/core/raft/kv";
import { MemoryCluster } from "../../src/core/raft/memory-cluster";
import { mulberry32 } from "../support/prng";

// Linearizable reads: Raft dissertation §6.4 (ReadIndex) and §6.4.1 (leases).

const VOTERS = ["a", "b", "c"];
const put = (key: string, value: string): string => encodeCommand({ op: "put", key, value });
const laterThanZero = (id: string): (() => number) => {
  const r = mulberry32(id.charCodeAt(0));
  return () => 0.5 + r() / 2;
};

function clusterLedBy(leaderId: string, voters = VOTERS, config = {}): MemoryCluster {
  const c = new MemoryCluster({ voters, config, rngFor: (id) => (id === leaderId ? () => 0 : laterThanZero(id)) });
  expect(c.electLeader()).toBe(leaderId);
  return c;
}

describe("§6.4 ReadIndex", () => {
  test("§6.4 ReadIndex waits for a heartbeat quorum before the read is released", () => {
    const c = clusterLedBy("a");
    c.node("a").propose(put("x", "1"), c.now);
    c.stabilize();
    c.filter = (m) => (m.type === "AppendResp" ? "hold" : "deliver");
    expect(c.node("a").readIndex("r1", c.now)).toEqual({ ok: true });
    c.stabilize();
    expect(c.readStates.get("a")).toEqual([]);
    expect(c.delivered.filter((m) => m.type === "Append" && m.entries.length === 0 && m.context > 1).length).toBeGreaterThanOrEqual(2);
    c.filter = () => "deliver";
    c.release((m) => m.from === "b");
    c.stabilize();
    expect(c.readStates.get("a")).toEqual([{ requestId: "r1", index: 2 }]);
  });

  test("§6.4 reads in one batch share one heartbeat round and are released in order", () => {
    const c = clusterLedBy("a");
    const before = c.delivered.length;
    c.node("a").readIndex("r1", c.now);
    c.node("a").readIndex("r2", c.now);
    c.stabilize();
    const heartbeats = c.delivered.slice(before).filter((m) => m.type === "Append");
    expect(heartbeats.map((m) => m.to)).toEqual(["b", "c"]);
    expect(c.readStates.get("a")!.map((r) => r.requestId)).toEqual(["r1", "r2"]);
  });

  test("§6.4 a new leader's read waits until its noop commits", () => {
    const c = clusterLedBy("a");
    c.crash("a");
    c.filter = (m) => (m.type === "AppendResp" ? "hold" : "deliver");
    const l = c.electLeader();
    c.node(l).readIndex("r1", c.now);
    c.stabilize();
    expect(c.readStates.get(l)).toEqual([]);
    c.filter = () => "deliver";
    c.release();
    c.stabilize();
    const noop = c.node(l).status().lastIndex;
    expect(c.readStates.get(l)).toEqual([{ requestId: "r1", index: noop }]);
  });

  test("§6.4 a deposed leader never confirms a read; it fails when the leader steps down", () => {
    const c = clusterLedBy("a");
    c.isolate("a");
    c.node("a").readIndex("stale", c.now);
    c.advance(300);
    expect(c.readStates.get("a")).toEqual([]);
    expect(c.failedReads.get("a")).toEqual(["stale"]);
  });

  test("§6.4 ReadIndex on a follower is refused with the leader's id", () => {
    const c = clusterLedBy("a");
    expect(c.node("b").readIndex("r", c.now)).toEqual({ ok: false, reason: "not_leader", leader: "a" });
  });

  test("§6.4 a single-voter leader serves a ReadIndex read at once", () => {
    const c = clusterLedBy("solo", ["solo"]);
    c.node("solo").readIndex("r", c.now);
    c.stabilize();
    expect(c.readStates.get("solo")).toEqual([{ requestId: "r", index: 1 }]);
  });

  test("§6.4 a read issued after a write is released at an index that includes the write", () => {
    const c = clusterLedBy("a");
    const w = c.node("a").propose(put("x", "1"), c.now);
    c.node("a").readIndex("r", c.now);
    c.stabilize();
    const rs = c.readStates.get("a")![0]!;
    // the read's index is the commit index when it was requested; the write was not yet committed then
    expect(rs.index).toBe(1);
    c.node("a").readIndex("r2", c.now);
    c.stabilize();
    expect(c.readStates.get("a")![1]!.index).toBe(w.ok ? w.index : -1);
  });
});

describe("§6.4.1 lease reads", () => {
  test("§6.4.1: a lease read is allowed after a quorum acknowledged a heartbeat, until (electionTicks - 1) x tickMs - drift after that round began", () => {
    const c = clusterLedBy("a", VOTERS, { leaseClockDriftMs: 20 });
    c.advance(50); // a heartbeat round acknowledged by everyone
    const roundStart = c.nextTick.get("a")! - c.tickMs; // began at the leader's last tick
    expect(c.node("a").leaseRead(c.now)).toEqual({ ok: true, index: 1 });
    c.isolate("a");
    c.advance(roundStart + (3 - 1) * 50 - 20 - 1 - c.now); // no further acknowledgements
    expect(c.node("a").leaseRead(c.now)).toMatchObject({ ok: true });
    expect(c.node("a").leaseRead(roundStart + (3 - 1) * 50 - 20)).toMatchObject({ ok: false, reason: "lease_expired" });
  });

  test("§6.4.1: no lease before the leader committed an entry of its term", () => {
    const c = clusterLedBy("a");
    c.crash("a");
    c.filter = (m) => (m.type === "AppendResp" ? "drop" : "deliver");
    const l = c.electLeader();
    expect(c.node(l).leaseRead(c.now)).toMatchObject({ ok: false, reason: "no_commit_in_term" });
  });

  test("§6.4.1: no lease reads while transferring leadership (TimeoutNow bypasses the followers' lease)", () => {
    const c = clusterLedBy("a");
    c.filter = (m) => (m.type === "TimeoutNow" ? "drop" : "deliver");
    c.node("a").transferLeadership("b", c.now);
    expect(c.node("a").leaseRead(c.now)).toMatchObject({ ok: false, reason: "transferring" });
  });

  test("§6.4.1: lease reads are disabled without CheckQuorum (followers would not honour the lease)", () => {
    const c = clusterLedBy("a", VOTERS, { checkQuorum: false });
    expect(c.node("a").leaseRead(c.now)).toMatchObject({ ok: false, reason: "lease_disabled" });
  });

  test("§6.4.1: while a lease holds, no other node can be elected (the voters count (electionTicks - 1) x tickMs at least)", () => {
    const c = clusterLedBy("a");
    c.advance(50);
    const roundStart = c.nextTick.get("a")! - c.tickMs;
    expect(c.node("a").leaseRead(c.now).ok).toBe(true);
    c.isolate("a");
    const leaseEnd = roundStart + (3 - 1) * 50 - 10; // default drift margin: 10% of the 100 ms
    c.advance(leaseEnd - 1 - c.now); // just short of the lease's end
    expect(c.node("a").leaseRead(c.now).ok).toBe(true);
    // Run until b or c leads: that must come after the lease as the voters count it, (3 - 1) x 50 ms.
    while (!["b", "c"].some((id) => c.node(id).status().role === "leader")) c.advance(1);
    expect(c.now - roundStart).toBeGreaterThanOrEqual((3 - 1) * 50);
  });

  test("§6.4.1 with fallback: a lease read whose lease expired goes through ReadIndex instead of failing", () => {
    const c = clusterLedBy("a");
    c.advance(50);
    expect(c.node("a").leaseReadOrReadIndex("r0", c.now)).toMatchObject({ ok: true, via: "lease" });
    // Acknowledgements stop coming for a while (slow, not lost): the lease runs out.
    c.filter = (m) => (m.type === "AppendResp" ? "hold" : "deliver");
    c.advance(120);
    expect(c.node("a").leaseRead(c.now)).toMatchObject({ ok: false, reason: "lease_expired" });
    expect(c.node("a").leaseReadOrReadIndex("r1", c.now)).toEqual({ ok: true, via: "readIndex" });
    c.stabilize();
    expect(c.readStates.get("a")).toEqual([]);
    c.filter = () => "deliver";
    c.release();
    c.stabilize();
    expect(c.readStates.get("a")).toEqual([{ requestId: "r1", index: 1 }]);
    // A follower still refuses, naming the leader.
    expect(c.node("b").leaseReadOrReadIndex("r2", c.now)).toEqual({ ok: false, reason: "not_leader", leader: "a" });
  });

  test("§6.4.1 with fallback: before the leader's first commit in its term, a lease read waits on ReadIndex", () => {
    const c = clusterLedBy("a");
    c.crash("a");
    c.filter = (m) => (m.type === "AppendResp" ? "drop" : "deliver");
    const l = c.electLeader();
    expect(c.node(l).leaseReadOrReadIndex("r", c.now)).toEqual({ ok: true, via: "readIndex" });
  });
});
