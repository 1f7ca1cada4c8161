import { describe, expect, test } from "vitest";
import { mulberry32 } from "../support/prng";
import { encodeCommand } from "../../src/core/raft/kv";
import { encodeMembership } from "../../src/core/raft/membership";
import { MemoryCluster } from "../../src/core/raft/memory-cluster";
import { RaftNode } from "../../src/core/raft/node";
import type { Entry } from "../../src/core/raft/types";

// Membership changes: Raft dissertation §4.1 (single-server changes, configuration takes effect when
// appended), §4.2.1 (new servers join as non-voting learners until caught up), §4.2.2 (removing the leader).

const VOTERS = ["a", "b", "c"];
const put = (key: string, value: string): string => encodeCommand({ op: "put", key, value });

/** Timeouts in the upper half of the range, distinct per node, so the chosen leader always times out first. */
const laterThanZero = (id: string): (() => number) => {
  const r = mulberry32(id.charCodeAt(0));
  return () => 0.5 + r() / 2;
};

function clusterLedBy(leaderId: string, voters = VOTERS): MemoryCluster {
  const c = new MemoryCluster({ voters, rngFor: (id) => (id === leaderId ? () => 0 : laterThanZero(id)) });
  expect(c.electLeader()).toBe(leaderId);
  return c;
}

function withLearner(): MemoryCluster {
  const c = clusterLedBy("a");
  c.node("a").propose(put("before", "1"), c.now);
  c.addNode("d");
  expect(c.node("a").proposeMembership({ type: "addLearner", node: "d" }, c.now)).toMatchObject({ ok: true });
  c.advance(100);
  return c;
}

describe("learners (§4.2.1)", () => {
  test("§4.2.1: an added learner receives the whole log and applies it", () => {
    const c = withLearner();
    expect(c.node("d").status()).toMatchObject({ role: "learner", membership: { voters: VOTERS, learners: ["d"] } });
    expect(c.kv.get("d")!.get("before")?.value).toBe("1");
  });

  test("§4.2.1: a learner is never counted for commitment", () => {
    const c = withLearner();
    c.partition(["a", "d"]); // a + learner d are 2 of 4 members, but only 1 of 3 voters
    c.node("a").propose(put("x", "1"), c.now);
    c.advance(50);
    expect(c.node("d").status().lastIndex).toBe(c.node("a").status().lastIndex);
    expect(c.node("a").status().commit).toBeLessThan(c.node("a").status().lastIndex);
  });

  test("§4.2.1: a learner never campaigns, however long it hears nothing", () => {
    const c = withLearner();
    const term = c.node("d").status().term;
    c.isolate("d");
    c.advance(5000);
    expect(c.node("d").status()).toMatchObject({ role: "learner", term });
    expect(c.node("d").wantsTicks()).toBe(false);
  });

  test("§4.2.1: a caught-up learner is promoted and then counts as a voter", () => {
    const c = withLearner();
    expect(c.node("a").proposeMembership({ type: "promote", node: "d" }, c.now)).toMatchObject({ ok: true });
    c.advance(100);
    expect(c.node("d").status()).toMatchObject({ role: "follower", membership: { voters: ["a", "b", "c", "d"], learners: [] } });
    c.partition(["a", "b", "d"]); // 3 of 4 voters commit without c
    c.node("a").propose(put("y", "1"), c.now);
    c.stabilize();
    expect(c.kv.get("d")!.get("y")?.value).toBe("1");
  });

  test("§4.2.1: a learner that is not caught up is not promoted", () => {
    const c = withLearner();
    c.isolate("d");
    c.node("a").propose(put("z", "1"), c.now);
    c.advance(200);
    expect(c.node("a").proposeMembership({ type: "promote", node: "d" }, c.now)).toMatchObject({ ok: false, reason: "not_caught_up" });
  });
});

describe("single-server changes (§4.1)", () => {
  test.each([
    { change: { type: "addLearner", node: "b" }, reason: "already_member" },
    { change: { type: "promote", node: "b" }, reason: "not_learner" },
    { change: { type: "promote", node: "zz" }, reason: "not_learner" },
    { change: { type: "remove", node: "zz" }, reason: "not_member" },
  ] as const)("§4.1: an invalid change is refused: $change.type $change.node -> $reason", ({ change, reason }) => {
    const c = clusterLedBy("a");
    expect(c.node("a").proposeMembership(change, c.now)).toMatchObject({ ok: false, reason });
  });

  test("§4.1: the last voter cannot be removed", () => {
    const c = clusterLedBy("solo", ["solo"]);
    expect(c.node("solo").proposeMembership({ type: "remove", node: "solo" }, c.now)).toMatchObject({ ok: false, reason: "last_voter" });
  });

  test("§4.1: one change at a time: a second change waits until the first is committed", () => {
    const c = clusterLedBy("a");
    c.addNode("d");
    c.addNode("e");
    c.filter = (m) => (m.type === "AppendResp" ? "hold" : "deliver");
    expect(c.node("a").proposeMembership({ type: "addLearner", node: "d" }, c.now)).toMatchObject({ ok: true });
    c.stabilize();
    expect(c.node("a").proposeMembership({ type: "addLearner", node: "e" }, c.now)).toMatchObject({ ok: false, reason: "change_pending" });
    c.filter = () => "deliver";
    c.release();
    c.stabilize();
    expect(c.node("a").proposeMembership({ type: "addLearner", node: "e" }, c.now)).toMatchObject({ ok: true });
  });

  test("§4.1: a configuration takes effect on a follower when appended, before it commits", () => {
    const c = clusterLedBy("a");
    c.addNode("d");
    c.filter = (m) => (m.type === "AppendResp" ? "drop" : "deliver");
    c.node("a").proposeMembership({ type: "addLearner", node: "d" }, c.now);
    c.stabilize();
    const b = c.node("b").status();
    expect(b.commit).toBeLessThan(b.lastIndex);
    expect(b.membership.learners).toEqual(["d"]);
  });

  test("§4.1: a follower whose uncommitted config entry is truncated reverts to the previous configuration", () => {
    const config = encodeMembership({ voters: VOTERS, learners: ["d"] }, { type: "addLearner", node: "d" });
    const entries: Entry[] = [
      { index: 1, term: 1, kind: "noop", data: "" },
      { index: 2, term: 1, kind: "config", data: config },
    ];
    const n = new RaftNode({ id: "b" }, { hardState: { term: 1, vote: null, commit: 1 }, snapshot: null, entries, membership: { voters: VOTERS, learners: [] } }, () => 0, 0);
    expect(n.status().membership.learners).toEqual(["d"]);
    n.step({ type: "Append", from: "c", to: "b", term: 2, prevIndex: 1, prevTerm: 1, entries: [{ index: 2, term: 2, kind: "noop", data: "" }], commit: 1, context: 1 }, 1000);
    expect(n.status().membership).toEqual({ voters: VOTERS, learners: [] });
    expect(n.ready().truncateFrom).toBe(2);
  });

  test("§4.1: a newly elected leader refuses changes until it committed an entry of its term", () => {
    const c = clusterLedBy("a");
    c.crash("a");
    c.filter = (m) => (m.type === "AppendResp" ? "drop" : "deliver");
    const l = c.electLeader();
    expect(c.node(l).proposeMembership({ type: "remove", node: "a" }, c.now)).toMatchObject({ ok: false, reason: "no_commit_in_term" });
  });

  test("§4.1: a removed follower no longer counts; the rest commit without it", () => {
    const c = clusterLedBy("a");
    expect(c.node("a").proposeMembership({ type: "remove", node: "c" }, c.now)).toMatchObject({ ok: true });
    c.stabilize();
    c.isolate("c");
    c.node("a").propose(put("x", "1"), c.now);
    c.stabilize();
    expect(c.kv.get("b")!.get("x")?.value).toBe("1"); // a + b are 2 of 2 voters
    expect(c.node("a").status().membership).toEqual({ voters: ["a", "b"], learners: [] });
  });

  test("§4.2.2: a removed leader steps down after committing its removal, and the rest elect a new leader", () => {
    const c = clusterLedBy("a");
    expect(c.node("a").proposeMembership({ type: "remove", node: "a" }, c.now)).toMatchObject({ ok: true });
    c.stabilize();
    expect(c.node("a").status().role).toBe("follower");
    c.advance(500);
    const l = c.leader();
    expect(["b", "c"]).toContain(l);
    expect(c.node(l!).status().membership.voters).toEqual(["b", "c"]);
    c.node(l!).propose(put("after", "1"), c.now);
    c.stabilize();
    expect(c.kv.get("b")!.get("after")?.value).toBe("1");
    // the removed node never campaigns
    c.advance(3000);
    expect(c.node("a").status().role).toBe("follower");
    expect(c.node("a").wantsTicks()).toBe(false);
  });
});
