import { describe, expect, test } from "vitest";
import { encodeCommand } from "../../src/core/raft/kv";
import { MemoryCluster } from "../../src/core/raft/memory-cluster";
import { RaftNode } from "../../src/core/raft/node";
import { mulberry32 } from "../support/prng";

// Quiescence (issue 15): an idle group stops its clocks and messages; any proposal, read or message
// wakes it; a crash while quiet costs one election; no lease is served from a quiesced leader.

const VOTERS = ["a", "b", "c", "d", "e"];
const TICK = 50;
const CONFIG = { electionTicks: 4, maxElectionTicks: 6, heartbeatTicks: 1, tickMs: TICK, quiesceTicks: 3 };
const put = (key: string, value: string): string => encodeCommand({ op: "put", key, value });
const later = (id: string): (() => number) => {
  const r = mulberry32(id.charCodeAt(0));
  return () => 0.5 + r() / 2;
};

function quietGroup(config: object = CONFIG): MemoryCluster {
  const c = new MemoryCluster({ voters: VOTERS, config, rngFor: (id) => (id === "a" ? () => 0 : later(id)) });
  expect(c.electLeader()).toBe("a");
  c.node("a").propose(put("x", "1"), c.now);
  c.stabilize();
  c.advance(20 * TICK);
  return c;
}

const quiet = (c: MemoryCluster) => VOTERS.every((id) => c.node(id).status().quiesced && !c.node(id).wantsTicks());
const ticks = (c: MemoryCluster) => VOTERS.map((id) => c.node(id).status().ticks);

describe("an idle group goes quiet", () => {
  test("after the last write every member stops its clock, and 10 idle minutes send nothing and tick nothing", () => {
    const c = quietGroup();
    expect(quiet(c)).toBe(true);
    const sent = c.delivered.length;
    const before = ticks(c);
    c.advance(10 * 60_000);
    expect(c.delivered.length).toBe(sent);
    expect(ticks(c)).toEqual(before);
    expect(c.leader()).toBe("a");
  });

  test("with quiescence off (quiesceTicks 0) the leader keeps heartbeating: the baseline the counters compare against", () => {
    const c = quietGroup({ ...CONFIG, quiesceTicks: 0 });
    const sent = c.delivered.length;
    c.advance(60_000);
    expect(VOTERS.some((id) => c.node(id).status().quiesced)).toBe(false);
    expect(c.delivered.length - sent).toBeGreaterThan(1000);
  });

  test("a group does not quiesce while a follower lags (it keeps heartbeating until the follower has every entry)", () => {
    const c = quietGroup();
    c.isolate("e");
    c.node("a").propose(put("y", "2"), c.now);
    c.advance(20 * TICK);
    expect(c.node("a").status().quiesced).toBe(false);
    c.heal();
    c.advance(20 * TICK);
    expect(quiet(c)).toBe(true);
    expect(c.node("e").status().commit).toBe(c.node("a").status().lastIndex);
  });
});

describe("anything wakes it", () => {
  test("a proposal wakes the leader, commits on every member, and the group goes quiet again", () => {
    const c = quietGroup();
    const r = c.node("a").propose(put("x", "2"), c.now);
    expect(r.ok).toBe(true);
    c.stabilize();
    for (const id of VOTERS) expect(c.kv.get(id)!.get("x")?.value).toBe("2");
    expect(c.node("a").status().quiesced).toBe(false);
    c.advance(20 * TICK);
    expect(quiet(c)).toBe(true);
  });

  test("a quiesced leader serves no lease read; the read goes through ReadIndex, and the lease returns after a fresh round", () => {
    const c = quietGroup();
    expect(c.node("a").leaseRead(c.now)).toMatchObject({ ok: false, reason: "lease_expired" });
    expect(c.node("a").status().quiesced).toBe(false); // the read woke it
    expect(c.node("a").leaseReadOrReadIndex("r1", c.now)).toEqual({ ok: true, via: "readIndex" });
    c.stabilize();
    expect(c.readStates.get("a")!.map((r) => r.requestId)).toContain("r1");
    expect(c.node("a").leaseRead(c.now)).toMatchObject({ ok: true });
  });

  test("a client at a quiesced follower wakes it, and its poke wakes the leader: no election", () => {
    const c = quietGroup();
    const term = c.node("a").status().term;
    expect(c.node("c").propose(put("x", "3"), c.now)).toMatchObject({ ok: false, reason: "not_leader", leader: "a" });
    c.stabilize();
    expect(c.node("a").status().quiesced).toBe(false);
    c.advance(40 * TICK);
    expect(c.leader()).toBe("a");
    expect(c.node("a").status().term).toBe(term);
    expect(quiet(c)).toBe(true);
  });

  test("a follower that missed the quiesce heartbeat keeps ticking, and its campaign wakes the leader instead of replacing it", () => {
    const c = new MemoryCluster({ voters: VOTERS, config: CONFIG, rngFor: (id) => (id === "a" ? () => 0 : later(id)) });
    expect(c.electLeader()).toBe("a");
    c.filter = (m) => (m.type === "Append" && m.quiesce === true && m.to === "d" ? "drop" : "deliver");
    c.node("a").propose(put("x", "1"), c.now);
    c.stabilize();
    c.advance(10 * TICK);
    expect(c.node("d").status().quiesced).toBe(false);
    c.filter = () => "deliver";
    c.advance(60 * TICK);
    expect(c.leader()).toBe("a");
    expect(c.node("a").status().term).toBe(1);
    expect(quiet(c)).toBe(true);
  });
});

describe("a crash while quiet", () => {
  test("a restarted quiesced leader campaigns, and the followers grant at once: one election timeout, committed data kept", () => {
    const c = quietGroup();
    c.crash("a");
    c.restart("a");
    const crashedAt = c.now;
    // The first request after the crash reaches the restarted node (as a Durable Object call would).
    expect(c.node("a").propose(put("x", "4"), c.now)).toMatchObject({ ok: false, reason: "not_leader" });
    while (c.leader() === null && c.now - crashedAt < 10_000) c.advance(5);
    const took = c.now - crashedAt;
    // At most the restarted node's longest election timeout (maxElectionTicks + 1 ticks) plus a tick of phase.
    expect(took).toBeLessThanOrEqual((CONFIG.maxElectionTicks + 2) * TICK);
    const l = c.leader()!;
    expect(c.node(l).status().term).toBeGreaterThan(1);
    expect(c.node(l).propose(put("x", "5"), c.now).ok).toBe(true);
    c.stabilize();
    for (const id of VOTERS) expect(c.kv.get(id)!.get("x")?.value).toBe("5");
  });

  test("a quiesced leader that is gone for good: a client at a follower starts its clock, and a new leader is elected", () => {
    const c = quietGroup();
    c.crash("a");
    const crashedAt = c.now;
    expect(c.node("b").propose(put("x", "6"), c.now)).toMatchObject({ ok: false, leader: "a" });
    while (c.leader() === null && c.now - crashedAt < 10_000) c.advance(5);
    const l = c.leader();
    expect(l).not.toBeNull();
    expect(l).not.toBe("a");
    // b's timeout, then (the others refused while their lease ran) at most one more timeout.
    expect(c.now - crashedAt).toBeLessThanOrEqual(2 * (CONFIG.maxElectionTicks + 2) * TICK);
    expect(c.kv.get(l!)!.get("x")?.value).toBe("1");
  });
});

describe("a leader that restarts campaigns at once", () => {
  const restored = (led: boolean) => ({ hardState: { term: 2, vote: "a", commit: 0 }, snapshot: null, entries: [], membership: { voters: ["a", "b", "c"], learners: [] }, ledBeforeRestart: led });
  const ticksUntilCampaign = (led: boolean): number => {
    const n = new RaftNode({ id: "a", electionTicks: 3, maxElectionTicks: 6 }, restored(led), () => 0.99, 0);
    for (let t = 1; t <= 20; t++) {
      n.tick(t * 50);
      if (n.status().role !== "follower") return t;
    }
    return Infinity;
  };

  test("on its first tick after a restart when it led its stored term; after the random timeout otherwise", () => {
    expect(ticksUntilCampaign(true)).toBe(1);
    expect(ticksUntilCampaign(false)).toBe(6);
  });
});

describe("a follower restarted from storage (an eviction of a quiet group) still knows whom it followed", () => {
  const follower = (leader: string | null) =>
    new RaftNode(
      { id: "b", electionTicks: 3, maxElectionTicks: 6 },
      { hardState: { term: 2, vote: "a", commit: 0 }, snapshot: null, entries: [], membership: { voters: ["a", "b", "c"], learners: [] }, leaderBeforeRestart: leader },
      () => 0.5,
      0,
    );
  const preVote = (from: string) => ({ type: "PreVote" as const, from, to: "b", term: 3, lastLogIndex: 0, lastLogTerm: 0 });
  const answer = (n: RaftNode) => {
    const rd = n.ready();
    n.advance();
    return rd.messages.find((m) => m.type === "PreVoteResp");
  };

  test("a campaign from the leader it followed is granted at once; anyone else's waits out the restart promise", () => {
    const fromLeader = follower("a");
    fromLeader.step(preVote("a"), 0);
    expect(answer(fromLeader)).toMatchObject({ granted: true });
    const fromOther = follower("a");
    fromOther.step(preVote("c"), 0);
    expect(answer(fromOther)).toMatchObject({ granted: false });
    // Without the stored leader, even the old leader waits (the restart promise, electionTicks ticks).
    const forgot = follower(null);
    forgot.step(preVote("a"), 0);
    expect(answer(forgot)).toMatchObject({ granted: false });
  });
});
