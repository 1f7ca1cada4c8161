import { describe, expect, test } from "vitest";
import { drain, MemoryCluster } from "../../src/core/raft/memory-cluster";
import { RaftNode, type RaftConfig } from "../../src/core/raft/node";
import type { Entry, HardState, Message, VoteMessage } from "../../src/core/raft/types";
import { mulberry32 } from "../support/prng";

// Leader election: Raft paper §5.1, §5.2, §5.4.1; PreVote and CheckQuorum from the dissertation §9.6.

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

function cluster(seed: number, config: Partial<RaftConfig> = {}, voters = VOTERS): MemoryCluster {
  return new MemoryCluster({ voters, config, rngFor: (id) => mulberry32(seed * 1000 + id.charCodeAt(0)) });
}

describe("§5.2 leader election", () => {
  test.each([
    { preVote: true, role: "pre-candidate", term: 1, type: "PreVote", msgTerm: 2 },
    { preVote: false, role: "candidate", term: 2, type: "Vote", msgTerm: 2 },
  ] as const)("§5.2: a follower that hears nothing for an election timeout becomes a $role (preVote=$preVote)", ({ preVote, role, term, type, msgTerm }) => {
    const n = node("a", { config: { preVote }, hard: { term: 1 } });
    n.tick(149);
    expect(n.status().role).toBe("follower");
    n.tick(150);
    const st = n.status();
    expect(st.role).toBe(role);
    expect(st.term).toBe(term);
    const msgs = drain(n).messages;
    expect(msgs.map((m) => [m.type, m.to, m.term])).toEqual([
      [type, "b", msgTerm],
      [type, "c", msgTerm],
    ]);
  });

  test.each([0, 0.5, 0.999])("§5.2: election timeouts are randomized in [min, max) (rng=%s)", (r) => {
    const n = node("a", { rng: () => r });
    const expected = 150 + Math.floor(r * 150);
    expect(n.nextDeadline()).toBe(expected);
    n.tick(expected - 1);
    expect(n.status().role).toBe("follower");
    n.tick(expected);
    expect(n.status().role).toBe("pre-candidate");
  });

  test("§5.2: a candidate that wins a majority becomes leader and appends a noop of its term (§5.4.2)", () => {
    const n = node("a", { config: { preVote: false }, hard: { term: 1 } });
    n.tick(150);
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
    n.tick(150);
    n.step({ type: "VoteResp", from: "b", to: "a", term: 2, granted: false }, 151);
    n.step({ type: "VoteResp", from: "c", to: "a", term: 2, granted: false }, 151);
    expect(n.status().role).toBe("follower");
    expect(n.status().term).toBe(2);
  });

  test("§5.2: a candidate that hears from a leader of its term becomes its follower", () => {
    const n = node("a", { config: { preVote: false }, hard: { term: 1 } });
    n.tick(150);
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

describe("timers", () => {
  test("nextDeadline: a follower's is its election timeout, a leader's its next heartbeat", () => {
    const c = cluster(2);
    const l = c.electLeader();
    const st = c.node(l).status();
    expect(st.role).toBe("leader");
    const hb = c.node(l).nextDeadline()!;
    expect(hb - c.now).toBeLessThanOrEqual(50);
    c.advance(hb - c.now);
    expect(c.node(l).nextDeadline()).toBe(hb + 50);
    for (const id of VOTERS.filter((x) => x !== l)) expect(c.node(id).nextDeadline()! - c.now).toBeGreaterThanOrEqual(150 - 50);
  });

  test("§5.2: granting a vote restarts the election timer (a pre-vote does not)", () => {
    const n = node("a", { hard: { term: 1 }, rng: () => 0 });
    n.step({ type: "PreVote", from: "b", to: "a", term: 2, lastLogIndex: 0, lastLogTerm: 0 }, 1000);
    expect(n.nextDeadline()).toBe(150);
    n.step(vote("b", "a", 2, 0, 0), 1000);
    expect(n.nextDeadline()).toBe(1150);
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
    n.tick(150);
    expect(n.status()).toMatchObject({ role: "pre-candidate", term: 4, vote: "c" });
    expect(drain(n).hardState).toBeUndefined();
  });

  test("§9.6 PreVote: a pre-candidate with a majority of pre-votes starts a real election", () => {
    const n = node("a", { hard: { term: 4 } });
    n.tick(150);
    n.step({ type: "PreVoteResp", from: "b", to: "a", term: 5, granted: true }, 151);
    expect(n.status()).toMatchObject({ role: "candidate", term: 5, vote: "a" });
  });

  test("CheckQuorum: a leader cut off from the majority steps down within an election timeout", () => {
    const c = cluster(3);
    const l = c.electLeader();
    c.isolate(l);
    c.advance(150 + 50);
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

  test("disruption rule: a follower that heard from its leader within the minimum timeout ignores a higher-term Vote", () => {
    const n = node("a", { hard: { term: 1 } });
    n.step({ type: "Append", from: "b", to: "a", term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 1000);
    drain(n);
    n.step(vote("c", "a", 2, 5, 5), 1100);
    expect(n.status().term).toBe(1);
    expect(drain(n).messages).toEqual([]);
    n.step(vote("c", "a", 2, 5, 5), 1150);
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

  test("a restarted node refuses to grant votes for one minimum election timeout (it may have promised a lease)", () => {
    const n = node("a", { hard: { term: 1 }, now: 5000 });
    n.step(vote("c", "a", 2, 0, 0), 5100);
    expect(n.status().term).toBe(1);
    n.step(vote("c", "a", 2, 0, 0), 5150);
    expect(n.status().vote).toBe("c");
  });

  test("a stale leader learns the newer term from the answer to its Append", () => {
    const n = node("a", { hard: { term: 5 } });
    n.step({ type: "Append", from: "b", to: "a", term: 3, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1 }, 1000);
    expect(sent(drain(n).messages, "AppendResp")[0]).toMatchObject({ to: "b", term: 5, success: false });
  });
});
