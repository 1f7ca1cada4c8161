import { describe, expect, it } from "vitest";
import { LastKnown, leaderOf, type MemberReport } from "../../src/core/status/last-known";

describe("LastKnown: one read at a time, each with its age", () => {
  it("reads what was never read first, in the order given, then the one read longest ago", () => {
    const t = new LastKnown<number>();
    expect(t.stalest(["a", "b", "c"], 0, 500)).toBe("a");
    t.record("a", 1, 1_000);
    expect(t.stalest(["a", "b", "c"], 1_000, 500)).toBe("b");
    t.record("b", 2, 2_000);
    t.record("c", 3, 3_000);
    expect(t.stalest(["a", "b", "c"], 4_000, 500)).toBe("a");
  });

  it("makes no read while every candidate was read within the minimum age (viewers share reads)", () => {
    const t = new LastKnown<number>();
    t.record("a", 1, 1_000);
    t.record("b", 1, 1_200);
    expect(t.stalest(["a", "b"], 1_400, 500)).toBeNull();
    expect(t.stalest(["a", "b"], 1_500, 500)).toBe("a");
    expect(t.stalest([], 9_000, 500)).toBeNull();
  });

  it("a failed read keeps the last value and its time, and counts as a read for the rotation", () => {
    const t = new LastKnown<string>();
    t.record("a", "old", 1_000);
    t.fail("a", "timeout", 5_000);
    expect(t.get("a")).toEqual({ value: "old", valueAt: 1_000, readAt: 5_000, error: "timeout" });
    t.fail("b", "down", 5_000);
    expect(t.get("b")).toEqual({ value: null, valueAt: null, readAt: 5_000, error: "down" });
    expect(t.stalest(["a", "b", "c"], 6_000, 500)).toBe("c");
  });

  it("forgets what is no longer listed", () => {
    const t = new LastKnown<number>();
    t.record("a", 1, 1);
    t.record("b", 2, 1);
    t.retain(["b"]);
    expect(t.get("a")).toBeUndefined();
    expect(t.get("b")?.value).toBe(2);
  });
});

const r = (node: string, term: number, role: string, leader: string | null, at: number): MemberReport => ({ node, term, role, leader, at });

describe("leaderOf: the leader as members' reports name it", () => {
  it("a leader's own report names it; so does a follower's report of the same term", () => {
    expect(leaderOf([r("n1", 3, "leader", "n1", 10)])).toEqual({ leader: "n1", term: 3 });
    expect(leaderOf([r("n2", 3, "follower", "n1", 10)])).toEqual({ leader: "n1", term: 3 });
    expect(leaderOf([])).toEqual({ leader: null, term: 0 });
  });

  it("§5.1: a newer term outranks a deposed leader's older report, however fresh", () => {
    expect(leaderOf([r("n1", 3, "leader", "n1", 100), r("n3", 4, "follower", "n2", 10)])).toEqual({ leader: "n2", term: 4 });
  });

  it("§5.2 Election Safety: within a term a report naming the leader outranks a fresher one that knows none (a follower just restarted)", () => {
    expect(leaderOf([r("n1", 3, "leader", "n1", 10), r("n2", 3, "follower", null, 20)])).toEqual({ leader: "n1", term: 3 });
  });

  it("the named leader's own later report of the same term, saying it does not lead, withdraws the claim (it crashed and restarted)", () => {
    expect(leaderOf([r("n2", 3, "follower", "n1", 10), r("n1", 3, "follower", null, 20)])).toEqual({ leader: null, term: 3 });
    // An older report of its own does not withdraw a later claim.
    expect(leaderOf([r("n2", 3, "follower", "n1", 30), r("n1", 3, "follower", null, 20)])).toEqual({ leader: "n1", term: 3 });
  });

  it("a candidate of a newer term means an election is in progress", () => {
    expect(leaderOf([r("n1", 3, "leader", "n1", 10), r("n2", 4, "candidate", null, 5)])).toEqual({ leader: null, term: 4 });
  });
});
