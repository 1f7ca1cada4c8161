import { describe, expect, test } from "vitest";
import { encodeCommand } from "../../src/core/raft/kv";
import { MemoryCluster } from "../../src/core/raft/memory-cluster";
import { mulberry32 } from "../support/prng";

// Leadership transfer: Raft dissertation §3.10.

const VOTERS = ["a", "b", "c"];
const put = (key: string, value: string): string => encodeCommand({ op: "put", key, value });
const laterThanZero = (id: string): (() => number) => {
  const r = mulberry32(id.charCodeAt(0));
  return () => 0.5 + r() / 2;
};

function clusterLedBy(leaderId: string): MemoryCluster {
  const c = new MemoryCluster({ voters: VOTERS, rngFor: (id) => (id === leaderId ? () => 0 : laterThanZero(id)) });
  expect(c.electLeader()).toBe(leaderId);
  return c;
}

describe("§3.10 leadership transfer", () => {
  test("§3.10: the target of a transfer receives TimeoutNow, campaigns without PreVote, and wins at term + 1", () => {
    const c = clusterLedBy("a");
    const term = c.node("a").status().term;
    const before = c.delivered.length;
    expect(c.node("a").transferLeadership("b", c.now)).toEqual({ ok: true });
    c.stabilize();
    expect(c.leader()).toBe("b");
    expect(c.node("b").status().term).toBe(term + 1);
    const types = c.delivered.slice(before).map((m) => m.type);
    expect(types).toContain("TimeoutNow");
    expect(types).not.toContain("PreVote");
    expect(c.node("a").status()).toMatchObject({ role: "follower", leader: "b" });
  });

  test("§3.10: a lagging target is caught up before it is told to campaign", () => {
    const c = clusterLedBy("a");
    c.isolate("b");
    for (let i = 0; i < 5; i++) c.node("a").propose(put(`k${i}`, "v"), c.now);
    c.stabilize();
    c.heal();
    const before = c.delivered.length;
    c.node("a").transferLeadership("b", c.now);
    c.stabilize();
    const sequence = c.delivered.slice(before).filter((m) => m.to === "b").map((m) => m.type);
    expect(sequence.indexOf("Append")).toBeLessThan(sequence.indexOf("TimeoutNow"));
    expect(c.leader()).toBe("b");
    expect(c.kv.get("b")!.list("k")).toHaveLength(5);
  });

  test("§3.10: the leader refuses proposals while a transfer is in progress", () => {
    const c = clusterLedBy("a");
    c.filter = (m) => (m.type === "TimeoutNow" ? "drop" : "deliver");
    c.node("a").transferLeadership("b", c.now);
    c.stabilize();
    expect(c.node("a").propose("x", c.now)).toEqual({ ok: false, reason: "transferring", leader: "a" });
  });

  test("§3.10: a transfer that does not complete within an election timeout is abandoned", () => {
    const c = clusterLedBy("a");
    c.filter = (m) => (m.type === "TimeoutNow" ? "drop" : "deliver");
    c.node("a").transferLeadership("b", c.now);
    c.advance(160);
    expect(c.leader()).toBe("a");
    expect(c.node("a").propose(put("x", "1"), c.now)).toMatchObject({ ok: true });
  });

  test.each([
    { to: "a", reason: "self" },
    { to: "zz", reason: "not_voter" },
  ])("§3.10: a transfer to $to is refused ($reason)", ({ to, reason }) => {
    const c = clusterLedBy("a");
    expect(c.node("a").transferLeadership(to, c.now)).toMatchObject({ ok: false, reason });
  });

  test("§3.10: only the leader transfers leadership", () => {
    const c = clusterLedBy("a");
    expect(c.node("b").transferLeadership("c", c.now)).toEqual({ ok: false, reason: "not_leader", leader: "a" });
  });
});
