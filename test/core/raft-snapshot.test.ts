import { describe, expect, test } from "vitest";
import { mulberry32 } from "../support/prng";
import { encodeCommand } from "../../src/core/raft/kv";
import { drain, MemoryCluster } from "../../src/core/raft/memory-cluster";
import { RaftNode } from "../../src/core/raft/node";
import type { Entry, InstallSnapshotMessage, Snapshot } from "../../src/core/raft/types";

// Log compaction and InstallSnapshot: Raft paper §7, Figure 13.

const VOTERS = ["a", "b", "c"];
const put = (key: string, value: string): string => encodeCommand({ op: "put", key, value });
const log = (...terms: number[]): Entry[] => terms.map((term, i) => ({ index: i + 1, term, kind: "normal", data: `e${i + 1}` }));

/** Timeouts in the upper half of the range, distinct per node, so the chosen leader always times out first. */
const laterThanZero = (id: string): (() => number) => {
  const r = mulberry32(id.charCodeAt(0));
  return () => 0.5 + r() / 2;
};

function clusterLedBy(leaderId: string, config = {}): MemoryCluster {
  const c = new MemoryCluster({ voters: VOTERS, config, rngFor: (id) => (id === leaderId ? () => 0 : laterThanZero(id)) });
  expect(c.electLeader()).toBe(leaderId);
  return c;
}

function writeKeys(c: MemoryCluster, n: number, prefix = "k"): void {
  const l = c.leader()!;
  for (let i = 0; i < n; i++) c.node(l).propose(put(`${prefix}${i}`, String(i)), c.now);
  c.stabilize();
}

const snapshotMsg = (snapshot: Snapshot, term = 2): InstallSnapshotMessage => ({ type: "InstallSnapshot", from: "b", to: "a", term, snapshot, context: 1 });

describe("§7 log compaction", () => {
  test("§7: compaction replaces applied entries by a snapshot; status reports the snapshot index", () => {
    const c = clusterLedBy("a");
    writeKeys(c, 10);
    const snap = c.compact("a");
    expect(snap).toMatchObject({ index: 11, term: 1, membership: { voters: VOTERS, learners: [] } });
    expect(c.node("a").status()).toMatchObject({ snapshotIndex: 11, lastIndex: 11, commit: 11 });
    expect(c.storage.get("a")!.entries).toEqual([]);
    writeKeys(c, 1, "after");
    expect(c.node("a").status().lastIndex).toBe(12);
  });

  test("§7: compacting beyond the applied index is refused", () => {
    const c = clusterLedBy("a");
    expect(() => c.node("a").compact(5, "")).toThrow(/applied/);
  });

  test("§7: a follower whose next entries were compacted gets InstallSnapshot and replaces its log and state", () => {
    const c = clusterLedBy("a");
    c.isolate("c");
    writeKeys(c, 20);
    c.compact("a");
    c.compact("b");
    c.heal();
    c.advance(100);
    expect(c.delivered.some((m) => m.type === "InstallSnapshot" && m.to === "c")).toBe(true);
    expect(c.storage.get("c")!.snapshot?.index).toBe(21);
    expect(c.kv.get("c")!.snapshot()).toBe(c.kv.get("a")!.snapshot());
    expect(c.node("c").status()).toMatchObject({ snapshotIndex: 21, commit: 21, applied: 21 });
    // and replication continues normally after it
    writeKeys(c, 3, "next");
    expect(c.kv.get("c")!.get("next2")?.revision).toBe(24);
  });

  test("§7: a node restarts from its snapshot plus the entries after it", () => {
    const c = clusterLedBy("a");
    writeKeys(c, 5);
    c.compact("b");
    writeKeys(c, 5, "more");
    const before = c.kv.get("b")!.snapshot();
    c.crash("b");
    c.restart("b");
    c.advance(100);
    expect(c.node("b").status().snapshotIndex).toBe(6);
    expect(c.kv.get("b")!.snapshot()).toBe(before);
  });

  test("Figure 13 step 6: a follower holding the snapshot's last entry keeps the entries after it", () => {
    const n = new RaftNode({ id: "a" }, { hardState: { term: 2, vote: null, commit: 1 }, snapshot: null, entries: log(1, 1, 2, 2), membership: { voters: VOTERS, learners: [] } }, () => 0, 0);
    n.step(snapshotMsg({ index: 3, term: 2, membership: { voters: VOTERS, learners: [] }, data: "s" }), 1000);
    const rd = drain(n);
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messages).toMatchObject([{ type: "SnapshotResp", matchIndex: 3 }]);
    expect(n.status()).toMatchObject({ lastIndex: 4, commit: 3, snapshotIndex: 0 });
  });

  test("Figure 13: a snapshot at or below the follower's commit index is acknowledged and ignored", () => {
    const n = new RaftNode({ id: "a" }, { hardState: { term: 2, vote: null, commit: 3 }, snapshot: null, entries: log(1, 1, 2), membership: { voters: VOTERS, learners: [] } }, () => 0, 0);
    n.step(snapshotMsg({ index: 2, term: 1, membership: { voters: VOTERS, learners: [] }, data: "s" }), 1000);
    const rd = drain(n);
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messages).toMatchObject([{ type: "SnapshotResp", matchIndex: 3 }]);
  });

  test("Figure 13 step 7: a conflicting log is discarded; the Ready carries the snapshot to persist and restore, and its membership", () => {
    const n = new RaftNode({ id: "a" }, { hardState: { term: 1, vote: null, commit: 1 }, snapshot: null, entries: log(1, 1, 1, 1, 1, 1, 1), membership: { voters: VOTERS, learners: [] } }, () => 0, 0);
    const snap: Snapshot = { index: 5, term: 2, membership: { voters: ["a", "b", "c", "d"], learners: [] }, data: "state" };
    n.step(snapshotMsg(snap), 1000);
    const rd = n.ready();
    expect(rd.snapshot).toEqual(snap);
    expect(rd.truncateFrom).toBe(6); // the old entries after the snapshot index are discarded too
    expect(rd.entries).toEqual([]);
    expect(rd.committed).toEqual([]);
    expect(rd.hardState).toEqual({ term: 2, vote: null, commit: 5 });
    n.advance();
    expect(n.status()).toMatchObject({ lastIndex: 5, snapshotIndex: 5, commit: 5, applied: 5, membership: snap.membership });
  });

  test("a lost InstallSnapshot is resent after snapshotRetryTicks of the leader's ticks", () => {
    const c = clusterLedBy("a", { snapshotRetryTicks: 6 });
    c.isolate("c");
    writeKeys(c, 5);
    c.compact("a");
    c.heal();
    let dropFirst = true;
    c.filter = (m) => (m.type === "InstallSnapshot" && dropFirst ? ((dropFirst = false), "drop") : "deliver");
    c.advance(100);
    expect(c.node("c").status().snapshotIndex).toBe(0);
    c.advance(400);
    expect(c.node("c").status().snapshotIndex).toBe(6);
  });

  test("compact keeps the membership in force at the snapshot index", () => {
    const c = clusterLedBy("a");
    c.addNode("d");
    expect(c.node("a").proposeMembership({ type: "addLearner", node: "d" }, c.now)).toMatchObject({ ok: true });
    c.advance(100);
    const snap = c.compact("a");
    expect(snap.membership).toEqual({ voters: VOTERS, learners: ["d"] });
  });
});

describe("restoring from storage", () => {
  test("restore: entries the snapshot covers are ignored; a log whose terms decrease is refused", () => {
    const snapshot: Snapshot = { index: 2, term: 2, membership: { voters: VOTERS, learners: [] }, data: "" };
    const n = new RaftNode({ id: "a" }, { hardState: { term: 2, vote: null, commit: 2 }, snapshot, entries: log(1, 2, 2), membership: { voters: [], learners: [] } }, () => 0, 0);
    expect(n.status()).toMatchObject({ snapshotIndex: 2, lastIndex: 3, commit: 2, applied: 2, membership: snapshot.membership });
    expect(() => new RaftNode({ id: "a" }, { hardState: { term: 2, vote: null, commit: 0 }, snapshot: null, entries: log(2, 1), membership: snapshot.membership }, () => 0, 0)).toThrow(/term lower/);
  });
});
