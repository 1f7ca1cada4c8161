import { describe, expect, test } from "vitest";
import { drain, MemoryCluster } from "../../src/core/raft/memory-cluster";
import { RaftNode, type RaftConfig } from "../../src/core/raft/node";
import type { Entry, HardState, Message, VoteMessage } from "../../src/core/raft/types";
import { mulberry32 } from "../support/prng";

// Leader election: Raft paper §5.1, §5.2, §5.4.1; PreVote and CheckQuorum from the dissertation §9.6.
// Time is counted in ticks, as in etcd-io/raft (defaults: electionTicks 3, timeout in (3, 6], heartbeat 1).

const VOTERS = ["a", "b", "c"];
const log = (...terms: number[]): Entry[] => terms.map((term, i) => ({ index: i + 1, term, kind: "normal", data: "" }));

function node(id: string, o: { config?: Partial<RaftConfig>; hard?: Partial<HardState>; entries?: Entry[]; now?: number; rng?: () => number } = {}): RaftNode {
  const hardState: HardState = { term: 0, vote: null, commit: 0, ...o.hard };
  return new RaftNode({ id, ...o.config }, { hardState, snapshot: null, entries: o.entries ?? [], membership: { voters: VOTERS, learners: [] } }, o.rng ?? (() => 0), o.now ?? 0);
}

const vote = (from: string, to: string, term: number, lastLogIndex: number, lastLogTerm: number, transfer = false): VoteMessage => ({
  type: "Vote", from, to, term, lastLogIndex, lastLogTerm, transfer,
});
const sent = (msgs: Message[], type: Message["type"]): Message[] => msgs.filter((m) => m.type === type);
/** `count` ticks of the node's clock, the i-th at `from + i` ms (the wall time does not matter to timers). */
function ticks(n: RaftNode, count: number, from = 0): void {
  for (let i = 1; i <= count; i++) n.tick(from + i);
}

function cluster(seed: number, config: Partial<RaftConfig> = {}, voters = VOTERS): MemoryCluster {
  return new MemoryCluster({ voters, config, rngFor: (id) => mulberry32(seed * 1000 + id.charCodeAt(0)) });
}

describe("§5.2 leader election", () => {
  test.each([
    { preVote: true, role: "pre-candidate", term: 1, type: "PreVote", msgTerm: 2 },
    { preVote: false, role: "candidate", term: 2, type: "Vote", msgTerm: 2 },
  ] as const)("§5.2: a follower that hears nothing for an election timeout becomes a $role (preVote=$preVote)", ({ preVote, role, term, type, msgTerm }) => {
    const n = node("a", { config: { preVote }, hard: { term: 1 } });
    ticks(n, 3);
    expect(n.status().role).toBe("follower");
    n.tick(4);
    const st = n.status();
    expect(st.role).toBe(role);
    expect(st.term).toBe(term);
    const msgs = drain(n).messages;
    expect(msgs.map((m) => [m.type, m.to, m.term])).toEqual([
      [type, "b", msgTerm],
      [type, "c", msgTerm],
    ]);
  });

  test.each([
    [0, 4],
    [0.5, 5],
    [0.999, 6],
  ])("§5.2 / etcd ticks: election timeouts are randomized in (electionTicks, maxElectionTicks] ticks (rng=%s: %s ticks)", (r, expected) => {
    const n = node("a", { rng: () => r });
    ticks(n, expected - 1);
    expect(n.status().role).toBe("follower");
    n.tick(expected);
    expect(n.status().role).toBe("pre-candidate");
  });

  test("§5.2: a candidate that wins a majority becomes leader and appends a noop of its term (§5.4.2)", () => {
    const n = node("a", { config: { preVote: false }, hard: { term: 1 } });
    ticks(n, 4);
    drain(n);
    n.step({ type: "VoteResp", from: "b", to: "a", term: 2, granted: true }, 151);
    expect(n.status().role).toBe("leader");
    const rd = drain(n);
    expect(rd.entries).toEqual([{ index: 1, term: 2, kind: "noop", data: "" }]);
    expect(sent(rd.messages, "Append").map((m) => m.to)).toEqual(["b", "c"]);
    expect(rd.softState).toEqual({ role: "leader", leader: "a" });
  });

  test("§5.2: a candidate refused by a majority returns to follower", () => {
    const n = node("a", { config: { preVote: false }, hard: { term: 1 } });
    ticks(n, 4);
    n.step({ type: "VoteResp", from: "b", to: "a", term: 2, granted: false }, 151);
    n.step({ type: "VoteResp", from: "c", to: "a", term: 2, granted: false }, 151);
    expect(n.status().role).toBe("follower");
    expect(n.status().term).toBe(2);
  });

  test("§5.2: a candidate that hears from a leader of its term becomes its follower", () => {
    const n = node("a", { config: { preVote: false }, hard: { term: 1 } });
    ticks(n, 4);
    n.step({ type: "Append", from: "b", to: "a", term: 2, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 160);
    expect(n.status()).toMatchObject({ role: "follower", leader: "b", term: 2 });
  });

  test("§5.1: a leader that sees a higher term steps down", () => {
    const c = cluster(1);
    const l = c.electLeader();
    const other = VOTERS.find((id) => id !== l)!;
    const term = c.node(l).status().term;
    c.node(l).step({ type: "AppendResp", from: other, to: l, term: term + 5, success: false, index: 0, matchIndex: 0, context: 0 }, c.now);
    expect(c.node(l).status()).toMatchObject({ role: "follower", term: term + 5 });
  });

  test("§5.2: each server grants at most one vote per term, and the vote survives a restart", () => {
    const n = node("a", { hard: { term: 1 } });
    ticks(n, 3); // past the lease a node keeps after (re)start
    n.step(vote("b", "a", 2, 0, 0), 1000);
    n.step(vote("c", "a", 2, 0, 0), 1000);
    const rd = drain(n);
    expect(sent(rd.messages, "VoteResp").map((m) => [m.to, m.type === "VoteResp" && m.granted])).toEqual([
      ["b", true],
      ["c", false],
    ]);
    expect(rd.hardState).toEqual({ term: 2, vote: "b", commit: 0 });
    // Restart from the persisted hard state: the promise to b holds.
    const again = node("a", { hard: rd.hardState!, now: 2000 });
    ticks(again, 3, 2000);
    again.step(vote("c", "a", 2, 0, 0), 2000);
    again.step(vote("b", "a", 2, 0, 0), 2000);
    expect(sent(drain(again).messages, "VoteResp").map((m) => [m.to, m.type === "VoteResp" && m.granted])).toEqual([
      ["c", false],
      ["b", true],
    ]);
  });

  test.each([
    { name: "candidate's last term is lower", cand: [5, 1], granted: false },
    { name: "same last term, shorter log", cand: [2, 2], granted: false },
    { name: "same last term, same length", cand: [3, 2], granted: true },
    { name: "same last term, longer log", cand: [4, 2], granted: true },
    { name: "higher last term, shorter log", cand: [1, 3], granted: true },
  ])("§5.4.1: a candidate whose log is behind is refused ($name)", ({ cand, granted }) => {
    const n = node("a", { hard: { term: 2 }, entries: log(1, 2, 2) });
    ticks(n, 3);
    n.step(vote("b", "a", 3, cand[0]!, cand[1]!), 1000);
    const resp = sent(drain(n).messages, "VoteResp")[0];
    expect(resp).toMatchObject({ to: "b", granted });
  });

  test("§5.2 Election Safety: across crashes of leaders, at most one leader is ever elected per term", () => {
    for (let seed = 1; seed <= 15; seed++) {
      const c = cluster(seed, {}, ["a", "b", "c", "d", "e"]);
      const leaders = new Map<number, string>();
      for (let round = 0; round < 6; round++) {
        const l = c.electLeader();
        const t = c.node(l).status().term;
        expect(leaders.get(t) ?? l, `seed ${seed}`).toBe(l);
        leaders.set(t, l);
        c.crash(l);
        c.advance(400);
        c.restart(l);
      }
      expect(leaders.size).toBeGreaterThanOrEqual(6);
    }
  });
});

describe("timers counted in ticks (etcd-io/raft: Tick, ElectionTick, HeartbeatTick)", () => {
  test("etcd ticks: a leader heartbeats every heartbeatTicks of its own ticks", () => {
    const n = node("a", { config: { preVote: false, heartbeatTicks: 2, electionTicks: 4 }, hard: { term: 1 } });
    ticks(n, 5);
    n.step({ type: "VoteResp", from: "b", to: "a", term: 2, granted: true }, 10);
    expect(n.status().role).toBe("leader");
    drain(n);
    n.tick(11);
    expect(sent(drain(n).messages, "Append")).toEqual([]);
    n.tick(12);
    expect(sent(drain(n).messages, "Append").map((m) => m.to)).toEqual(["b", "c"]);
  });

  test("etcd ticks: a late alarm is one tick (a follower whose timer fires 10 s late does not campaign)", () => {
    const n = node("a", { hard: { term: 1 } });
    n.step({ type: "Append", from: "b", to: "a", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 0);
    n.tick(10_000);
    n.tick(20_000);
    n.tick(30_000);
    expect(n.status()).toMatchObject({ role: "follower", leader: "b", ticks: 3 });
    n.tick(30_001);
    expect(n.status().role).toBe("pre-candidate");
  });

  test("etcd ticks: a late-running leader does not step down for its own lateness (CheckQuorum counts its ticks)", () => {
    const c = cluster(2);
    const l = c.electLeader();
    const term = c.node(l).status().term;
    // The isolate's event loop stalls for 5 s (every member in it): no ticks, no messages. When it runs
    // again, each member's overdue alarm is one tick, and the leader's quorum answered one tick ago.
    for (const id of VOTERS) c.stall(id);
    c.advance(5000);
    c.resume(l);
    c.advance(1);
    expect(c.node(l).status().role).toBe("leader");
    for (const id of VOTERS) c.resume(id);
    c.advance(1000);
    expect(c.leader()).toBe(l);
    expect(c.node(l).status().term).toBe(term);
    for (const id of VOTERS) expect(c.node(id).status().leaderChanges).toBe(1);
  });

  test("etcd ticks: any message from the current leader resets the election timer (heartbeat, append, snapshot)", () => {
    const n = node("a", { hard: { term: 1 } });
    for (let round = 0; round < 10; round++) {
      ticks(n, 3, round * 10);
      n.step({ type: "Append", from: "b", to: "a", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: round }, round * 10 + 5);
    }
    expect(n.status()).toMatchObject({ role: "follower", leader: "b", electionsStarted: 0 });
  });

  test("§5.2: granting a vote restarts the election timer (a pre-vote does not)", () => {
    const pre = node("a", { hard: { term: 1 }, rng: () => 0 });
    ticks(pre, 3);
    pre.step({ type: "PreVote", from: "b", to: "a", term: 2, lastLogIndex: 0, lastLogTerm: 0 }, 3);
    pre.tick(4);
    expect(pre.status().role).toBe("pre-candidate");
    const voted = node("a", { hard: { term: 1 }, rng: () => 0 });
    ticks(voted, 3);
    voted.step(vote("b", "a", 2, 0, 0), 3);
    expect(voted.status().vote).toBe("b");
    ticks(voted, 3, 3);
    expect(voted.status().role).toBe("follower");
    voted.tick(7);
    expect(voted.status().role).toBe("pre-candidate");
  });

  test("counters: electionsStarted counts campaigns, leaderChanges each new (leader, term) seen", () => {
    const c = cluster(4);
    const l = c.electLeader();
    const started = VOTERS.reduce((n, id) => n + c.node(id).status().electionsStarted, 0);
    expect(started).toBeGreaterThanOrEqual(1);
    for (const id of VOTERS) expect(c.node(id).status().leaderChanges).toBe(1);
    c.advance(2000);
    expect(VOTERS.reduce((n, id) => n + c.node(id).status().electionsStarted, 0)).toBe(started);
    c.crash(l);
    const l2 = c.electLeader();
    expect(l2).not.toBe(l);
    for (const id of VOTERS.filter((x) => x !== l)) expect(c.node(id).status().leaderChanges).toBe(2);
  });
});

describe("§9.6 PreVote and CheckQuorum", () => {
  test.each([
    { preVote: true, bumps: false },
    { preVote: false, bumps: true },
  ])("§9.6 PreVote: a partitioned node rejoining does not bump the term (preVote=$preVote, term bumped: $bumps)", ({ preVote, bumps }) => {
    const c = cluster(7, { preVote });
    const l = c.electLeader();
    const term = c.node(l).status().term;
    const loner = VOTERS.find((id) => id !== l)!;
    c.isolate(loner);
    c.advance(3000);
    expect(c.node(loner).status().term > term).toBe(bumps);
    c.heal();
    c.advance(1000);
    const newLeader = c.electLeader();
    // Without PreVote the rejoining node's higher term deposes the healthy leader.
    expect(c.node(newLeader).status().term > term).toBe(bumps);
    if (!bumps) expect(newLeader).toBe(l);
  });

  test("§9.6 PreVote: a pre-candidate does not change its term or vote", () => {
    const n = node("a", { hard: { term: 4, vote: "c" } });
    ticks(n, 4);
    expect(n.status()).toMatchObject({ role: "pre-candidate", term: 4, vote: "c" });
    expect(drain(n).hardState).toBeUndefined();
  });

  test("§9.6 PreVote: a pre-candidate with a majority of pre-votes starts a real election", () => {
    const n = node("a", { hard: { term: 4 } });
    ticks(n, 4);
    n.step({ type: "PreVoteResp", from: "b", to: "a", term: 5, granted: true }, 151);
    expect(n.status()).toMatchObject({ role: "candidate", term: 5, vote: "a" });
  });

  test("CheckQuorum: a leader cut off from the majority steps down after electionTicks + 1 of its ticks", () => {
    const c = cluster(3);
    const l = c.electLeader();
    c.isolate(l);
    c.advance(5 * 50);
    expect(c.node(l).status().role).toBe("follower");
    const l2 = c.electLeader();
    expect(l2).not.toBe(l);
  });

  test("CheckQuorum off: a cut-off leader keeps believing it leads", () => {
    const c = cluster(3, { checkQuorum: false });
    const l = c.electLeader();
    c.isolate(l);
    c.advance(1000);
    expect(c.node(l).status().role).toBe("leader");
  });

  test("disruption rule: a follower that heard from its leader less than electionTicks ticks ago ignores a higher-term Vote", () => {
    const n = node("a", { hard: { term: 1 } });
    n.step({ type: "Append", from: "b", to: "a", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 1000);
    drain(n);
    ticks(n, 2, 1000);
    // However much wall time passed: the lease is counted in the follower's own ticks.
    n.step(vote("c", "a", 2, 5, 5), 60_000);
    expect(n.status().term).toBe(1);
    expect(drain(n).messages).toEqual([]);
    n.tick(60_001);
    n.step(vote("c", "a", 2, 5, 5), 60_002);
    expect(n.status()).toMatchObject({ term: 2, vote: "c" });
  });

  test("disruption rule: a TimeoutNow-triggered Vote (transfer) is granted even within the lease", () => {
    const n = node("a", { hard: { term: 1 } });
    n.step({ type: "Append", from: "b", to: "a", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 1000);
    n.step(vote("c", "a", 2, 0, 0, true), 1010);
    expect(n.status()).toMatchObject({ term: 2, vote: "c" });
  });

  test("disruption rule: a follower in touch with a leader refuses pre-votes", () => {
    const n = node("a", { hard: { term: 1 } });
    n.step({ type: "Append", from: "b", to: "a", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 1000);
    n.step({ type: "PreVote", from: "c", to: "a", term: 2, lastLogIndex: 9, lastLogTerm: 9 }, 1100);
    expect(sent(drain(n).messages, "PreVoteResp")[0]).toMatchObject({ granted: false, term: 1 });
  });

  test("a restarted node refuses to grant votes for electionTicks ticks (it may have promised a lease)", () => {
    const n = node("a", { hard: { term: 1 }, now: 5000 });
    ticks(n, 2, 5000);
    n.step(vote("c", "a", 2, 0, 0), 5100);
    expect(n.status().term).toBe(1);
    n.tick(5150);
    n.step(vote("c", "a", 2, 0, 0), 5150);
    expect(n.status().vote).toBe("c");
  });

  test("a stale leader learns the newer term from the answer to its Append", () => {
    const n = node("a", { hard: { term: 5 } });
    n.step({ type: "Append", from: "b", to: "a", term: 3, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 1000);
    expect(sent(drain(n).messages, "AppendResp")[0]).toMatchObject({ to: "b", term: 5, success: false });
  });
});
