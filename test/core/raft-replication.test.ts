import { describe, expect, test } from "vitest";
import { encodeCommand } from "../../src/core/raft/kv";
import { drain, MemoryCluster } from "../../src/core/raft/memory-cluster";
import { RaftNode, type RaftConfig } from "../../src/core/raft/node";
import type { AppendMessage, AppendRespMessage, Entry, HardState, Message } from "../../src/core/raft/types";
import { mulberry32 } from "../support/prng";

// Log replication: Raft paper §5.3, §5.4 (Figure 8), Figure 2 AppendEntries; batching and pipelining.

const VOTERS = ["a", "b", "c"];
const log = (...terms: number[]): Entry[] => terms.map((term, i) => ({ index: i + 1, term, kind: "normal", data: `e${i + 1}` }));
const put = (key: string, value: string): string => encodeCommand({ op: "put", key, value });

function node(id: string, o: { config?: Partial<RaftConfig>; hard?: Partial<HardState>; entries?: Entry[] } = {}): RaftNode {
  const hardState: HardState = { term: 0, vote: null, commit: 0, ...o.hard };
  return new RaftNode({ id, ...o.config }, { hardState, snapshot: null, entries: o.entries ?? [], membership: { voters: VOTERS, learners: [] } }, () => 0, 0);
}

const append = (o: Partial<AppendMessage> & { term: number }): AppendMessage => ({
  type: "Append", from: "b", to: "a", prevIndex: 0, prevTerm: 0, entries: [], commit: 0, context: 1, ...o,
});
const resps = (msgs: Message[]): AppendRespMessage[] => msgs.filter((m): m is AppendRespMessage => m.type === "AppendResp");

function cluster(seed: number, config: Partial<RaftConfig> = {}, voters = VOTERS): MemoryCluster {
  return new MemoryCluster({ voters, config, rngFor: (id) => mulberry32(seed * 1000 + id.charCodeAt(0)) });
}

/** Make `leaderId` the leader of a fresh cluster by letting only it time out first. */
/** Timeouts in the upper half of the range, distinct per node, so the chosen leader always times out first. */
const laterThanZero = (id: string): (() => number) => {
  const r = mulberry32(id.charCodeAt(0));
  return () => 0.5 + r() / 2;
};

function clusterLedBy(leaderId: string, config: Partial<RaftConfig> = {}, voters = VOTERS): MemoryCluster {
  const c = new MemoryCluster({ voters, config, rngFor: (id) => (id === leaderId ? () => 0 : laterThanZero(id)) });
  expect(c.electLeader()).toBe(leaderId);
  return c;
}

describe("§5.3 log replication", () => {
  test("§5.3: an entry is committed once a majority stores it, and followers learn the commit index", () => {
    const c = clusterLedBy("a");
    c.isolate("c");
    const r = c.node("a").propose(put("x", "1"), c.now);
    expect(r).toMatchObject({ ok: true, index: 2 });
    c.stabilize();
    expect(c.node("a").status().commit).toBe(2);
    expect(c.node("b").status().commit).toBe(2);
    expect(c.kv.get("b")!.get("x")).toEqual({ value: "1", revision: 2 });
    expect(c.node("c").status().lastIndex).toBe(1);
    c.heal();
    c.advance(100);
    expect(c.kv.get("c")!.get("x")).toEqual({ value: "1", revision: 2 });
  });

  test("§5.3: a leader without a majority commits nothing", () => {
    const c = clusterLedBy("a");
    c.isolate("a");
    c.node("a").propose(put("x", "1"), c.now);
    c.advance(100);
    expect(c.node("a").status().commit).toBe(1);
    expect(c.kv.get("a")!.get("x")).toBeNull();
  });

  test("§5.3: proposals to a follower are refused with the leader's id", () => {
    const c = clusterLedBy("a");
    expect(c.node("b").propose("x", c.now)).toEqual({ ok: false, reason: "not_leader", leader: "a" });
  });

  test("Figure 2: a follower deletes a conflicting suffix, takes the leader's entries, and the Ready says truncate", () => {
    const n = node("a", { hard: { term: 2, commit: 1 }, entries: log(1, 1, 2, 2) });
    n.step(append({ term: 3, prevIndex: 2, prevTerm: 1, entries: [{ index: 3, term: 3, kind: "normal", data: "new" }], commit: 3 }), 1000);
    const rd = n.ready();
    expect(rd.truncateFrom).toBe(3);
    expect(rd.entries).toEqual([{ index: 3, term: 3, kind: "normal", data: "new" }]);
    expect(rd.hardState).toEqual({ term: 3, vote: null, commit: 3 });
    // restored.applied defaults to 0 here, so the already-committed index 1 is handed out again too.
    expect(rd.committed.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(resps(rd.messages)).toMatchObject([{ success: true, matchIndex: 3 }]);
    n.advance();
    expect(n.status()).toMatchObject({ lastIndex: 3, commit: 3, applied: 3 });
  });

  test("Figure 2: an Append that repeats entries the follower already has changes nothing (idempotent)", () => {
    const n = node("a", { hard: { term: 2 }, entries: log(1, 2) });
    n.step(append({ term: 2, prevIndex: 0, prevTerm: 0, entries: log(1) }), 1000);
    const rd = n.ready();
    expect(rd.entries).toEqual([]);
    expect(rd.truncateFrom).toBeUndefined();
    expect(n.status().lastIndex).toBe(2);
  });

  test("Figure 2: a follower's commit never passes the last entry the Append vouches for", () => {
    const n = node("a", { hard: { term: 2 }, entries: log(1, 1, 1) });
    n.step(append({ term: 2, prevIndex: 1, prevTerm: 1, entries: [], commit: 3 }), 1000);
    expect(n.status().commit).toBe(1);
  });

  test.each([
    { name: "log too short", entries: log(1, 1), prevIndex: 5, prevTerm: 3, hint: { kind: "short", lastIndex: 2 } },
    { name: "conflicting term", entries: log(1, 2, 2, 2), prevIndex: 4, prevTerm: 3, hint: { kind: "term", term: 2, firstIndex: 2 } },
  ])("§5.3: a follower refuses an Append whose previous entry does not match, with a hint ($name)", ({ entries, prevIndex, prevTerm, hint }) => {
    const n = node("a", { hard: { term: 3 }, entries });
    n.step(append({ term: 3, prevIndex, prevTerm }), 1000);
    expect(resps(drain(n).messages)).toMatchObject([{ success: false, index: prevIndex, hint }]);
  });

  test("fast backtracking: a follower with a long conflicting suffix is repaired in one refusal per term, not per entry", () => {
    // a and b share 30 entries of term 3 after a committed prefix; c holds 50 entries of a dead term-2 leader.
    const c = new MemoryCluster({ voters: VOTERS, rngFor: (id) => (id === "a" ? () => 0 : laterThanZero(id)) });
    const prefix = log(...Array<number>(10).fill(1));
    const good = [...prefix, ...Array.from({ length: 30 }, (_, i): Entry => ({ index: 11 + i, term: 3, kind: "normal", data: `g${i}` }))];
    const bad = [...prefix, ...Array.from({ length: 50 }, (_, i): Entry => ({ index: 11 + i, term: 2, kind: "normal", data: `b${i}` }))];
    for (const [id, entries, term] of [["a", good, 3], ["b", good, 3], ["c", bad, 2]] as const) {
      c.storage.set(id, { hardState: { term, vote: null, commit: 10 }, snapshot: null, entries: [...entries] });
      c.restart(id);
    }
    expect(c.electLeader()).toBe("a");
    c.advance(200);
    const refusals = c.delivered.filter((m) => m.type === "AppendResp" && m.from === "c" && !m.success);
    expect(refusals.length).toBeLessThanOrEqual(2);
    expect(c.node("c").status().lastIndex).toBe(41);
    expect(c.storage.get("c")!.entries.map((e) => e.data)).toEqual(c.storage.get("a")!.entries.map((e) => e.data));
  });

  test("§5.4.2 / Figure 8: an entry from an earlier term is not committed by counting replicas", () => {
    // a led term 2 and wrote index 2; it is re-elected in term 4 and appends its noop at index 3.
    const n = node("a", { config: { preVote: false }, hard: { term: 3, commit: 1 }, entries: log(1, 2) });
    for (let t = 1; t <= 4; t++) n.tick(t); // the election timeout: 4 ticks with rng 0
    n.step({ type: "VoteResp", from: "b", to: "a", term: 4, granted: true }, 151);
    expect(n.status().role).toBe("leader");
    drain(n);
    n.step({ type: "AppendResp", from: "b", to: "a", term: 4, success: true, index: 2, matchIndex: 2, context: 1 }, 152);
    n.step({ type: "AppendResp", from: "c", to: "a", term: 4, success: true, index: 2, matchIndex: 2, context: 1 }, 152);
    expect(n.status().commit).toBe(1); // index 2 is on all three, but it is from term 2
    n.step({ type: "AppendResp", from: "b", to: "a", term: 4, success: true, index: 2, matchIndex: 3, context: 1 }, 153);
    expect(n.status().commit).toBe(3); // the term-4 noop commits, and index 2 with it
  });

  test("§5.4.2: a re-elected leader commits an entry of its earlier term by committing its new noop", () => {
    const c = clusterLedBy("a");
    c.isolate("a");
    c.node("a").propose(put("k", "v"), c.now); // stored on a only
    c.stabilize();
    for (const id of VOTERS) c.crash(id);
    c.heal();
    for (const id of VOTERS) c.restart(id);
    expect(c.electLeader()).toBe("a"); // a times out first and has the longest log
    expect(c.node("a").status().term).toBe(2);
    c.advance(100);
    expect(c.kv.get("c")!.get("k")).toEqual({ value: "v", revision: 2 });
    expect(c.storage.get("c")!.entries.map((e) => [e.index, e.term, e.kind])).toEqual([
      [1, 1, "noop"],
      [2, 1, "normal"],
      [3, 2, "noop"],
    ]);
  });
});

describe("batching, pipelining and the Ready contract", () => {
  test("proposals between two ready() calls go out in one Append per follower", () => {
    const c = clusterLedBy("a");
    const a = c.node("a");
    for (let i = 0; i < 5; i++) a.propose(put(`k${i}`, "v"), c.now);
    const rd = a.ready();
    a.advance();
    const appends = rd.messages.filter((m): m is AppendMessage => m.type === "Append");
    expect(appends.map((m) => [m.to, m.entries.length])).toEqual([
      ["b", 5],
      ["c", 5],
    ]);
    expect(rd.entries.map((e) => e.index)).toEqual([2, 3, 4, 5, 6]);
  });

  test("maxEntriesPerAppend splits a batch", () => {
    const c = clusterLedBy("a", { maxEntriesPerAppend: 2 });
    for (let i = 0; i < 5; i++) c.node("a").propose(put(`k${i}`, "v"), c.now);
    const appends = c.node("a").ready().messages.filter((m): m is AppendMessage => m.type === "Append" && m.to === "b");
    expect(appends.map((m) => m.entries.map((e) => e.index))).toEqual([[2, 3], [4, 5], [6]]);
  });

  test("pipelining: at most maxInflightAppends unacknowledged Appends per follower, and acks free slots", () => {
    const c = clusterLedBy("a", { maxEntriesPerAppend: 1, maxInflightAppends: 3 });
    c.filter = (m) => (m.type === "AppendResp" && m.from === "b" ? "hold" : "deliver");
    const start = c.delivered.length;
    for (let i = 0; i < 10; i++) c.node("a").propose(put(`k${i}`, "v"), c.now);
    c.stabilize();
    const toB = () => c.delivered.slice(start).filter((m) => m.type === "Append" && m.to === "b" && m.entries.length > 0).length;
    expect(toB()).toBe(3);
    c.filter = () => "deliver";
    c.release();
    c.stabilize();
    expect(c.node("b").status().lastIndex).toBe(11);
    expect(c.node("a").status().commit).toBe(11);
  });

  test("Ready contract: the vote and the entries are in the same Ready as the messages that promise them", () => {
    const n = node("a", { hard: { term: 1 } });
    for (let t = 1; t <= 3; t++) n.tick(t); // past the vote lease a node keeps after start
    n.step({ type: "Vote", from: "b", to: "a", term: 2, lastLogIndex: 0, lastLogTerm: 0, transfer: false }, 1000);
    const r1 = n.ready();
    n.advance();
    expect(r1.hardState).toEqual({ term: 2, vote: "b", commit: 0 });
    expect(r1.messages).toMatchObject([{ type: "VoteResp", granted: true }]);
    n.step(append({ term: 2, entries: log(2) }), 1001);
    const r2 = n.ready();
    expect(r2.entries).toHaveLength(1);
    expect(r2.messages).toMatchObject([{ type: "AppendResp", success: true, matchIndex: 1 }]);
    expect(() => n.ready()).toThrow(/advance/);
  });

  test("a single-voter group commits on its own, within the Ready that persists the entry", () => {
    const c = new MemoryCluster({ voters: ["solo"], rngFor: () => () => 0 });
    c.electLeader();
    const n = c.node("solo");
    n.propose(put("x", "1"), c.now);
    const rd = n.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.committed.map((e) => e.index)).toEqual([2]);
  });

  test("a lost Append is recovered through the heartbeat that follows", () => {
    const c = clusterLedBy("a");
    c.filter = (m) => (m.to === "c" ? "drop" : "deliver"); // c misses the Append and the commit notice
    c.node("a").propose(put("x", "1"), c.now);
    c.stabilize();
    expect(c.node("c").status().lastIndex).toBe(1);
    c.filter = () => "deliver";
    c.advance(60);
    expect(c.kv.get("c")!.get("x")?.value).toBe("1");
  });

  test("a lost Append in the middle of a pipeline is repaired (the follower refuses the gap)", () => {
    const c = clusterLedBy("a", { maxEntriesPerAppend: 1 });
    c.stabilize();
    let n = 0;
    c.filter = (m) => (m.type === "Append" && m.to === "c" && m.entries.length > 0 && n++ === 1 ? "drop" : "deliver");
    for (let i = 0; i < 5; i++) c.node("a").propose(put(`k${i}`, "v"), c.now);
    c.advance(200);
    expect(c.node("c").status().lastIndex).toBe(6);
    expect(c.kv.get("c")!.list("k")).toHaveLength(5);
  });

  test("Log Matching / State Machine Safety under random partitions, crashes, compactions and proposals (seeded)", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = mulberry32(seed);
      const ids = ["a", "b", "c", "d", "e"];
      const c = cluster(seed, {}, ids);
      let written = 0;
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        const id = ids[Math.floor(rnd() * ids.length)]!;
        if (r < 0.1) c.crash(id);
        else if (r < 0.2) c.restart(id);
        else if (r < 0.3) c.partition(ids.filter(() => rnd() < 0.5));
        else if (r < 0.4) c.heal();
        else if (r < 0.45) {
          if (!c.crashed.has(id) && c.kv.get(id)!.appliedIndex > c.node(id).status().snapshotIndex) c.compact(id);
        } else {
          const l = c.leader();
          if (l !== null) c.node(l).propose(put(`k${written++}`, String(step)), c.now);
        }
        c.advance(Math.floor(rnd() * 200));
      }
      c.heal();
      for (const id of ids) if (c.crashed.has(id)) c.restart(id);
      c.electLeader();
      c.advance(1000);
      // Every node applied the same sequence (appliedAt throws on divergence), and all caught up.
      const commits = ids.map((id) => c.node(id).status().commit);
      expect(new Set(commits).size, `seed ${seed}`).toBe(1);
      const snaps = ids.map((id) => c.kv.get(id)!.snapshot());
      expect(new Set(snaps).size, `seed ${seed}`).toBe(1);
      expect(c.kv.get("a")!.size, `seed ${seed}: something was committed`).toBeGreaterThan(0);
    }
  });
});
