import { describe, expect, it } from "vitest";
import { QuorumTracker } from "../../src/core/cache/quorum";
import { effectivelyLive, isExpired, newestRecord, shouldApply, staleIndices, type ReplicaRecord } from "../../src/core/cache/replica-state";
import { hintRetryDelay, nextDue } from "../../src/core/cache/timers";
import { compareVersions, isVersion, makeVersion, VersionClock } from "../../src/core/cache/version";

describe("versions", () => {
  it("order by writer clock, then counter, then writer tag, as plain strings", () => {
    const a = makeVersion(1000, 0, 7);
    const b = makeVersion(1000, 1, 0);
    const c = makeVersion(1001, 0, 0);
    expect([c, a, b].sort()).toEqual([a, b, c]);
    expect(compareVersions(a, b)).toBe(-1);
    expect(compareVersions(c, b)).toBe(1);
    expect(compareVersions(null, a)).toBe(-1);
    expect(compareVersions(a, null)).toBe(1);
    expect(isVersion(a)).toBe(true);
    expect(isVersion("nope")).toBe(false);
  });

  it("a clock that stands still or goes back still hands out increasing versions", () => {
    const clock = new VersionClock(1);
    const seen = [clock.next(5000), clock.next(5000), clock.next(4000), clock.next(5001)];
    for (let i = 1; i < seen.length; i++) expect(compareVersions(seen[i - 1]!, seen[i]!)).toBe(-1);
  });
});

describe("replica reconciliation", () => {
  const rec = (version: string | null, live = true): ReplicaRecord => ({ version, live });
  const v1 = makeVersion(1, 0, 0);
  const v2 = makeVersion(2, 0, 0);

  it("the newest version wins a read, tombstones included", () => {
    expect(newestRecord([rec(v1), rec(v2, false), rec(null, false)], 0)).toEqual(rec(v2, false));
  });

  it("replicas older than the winner, or that never saw the key, are stale", () => {
    const records = [rec(v1), rec(v2), rec(null, false)];
    expect(staleIndices(records, rec(v2))).toEqual([0, 2]);
    expect(staleIndices([rec(null, false)], rec(null, false))).toEqual([]);
  });

  it("a replica applies only strictly newer writes (replays and late writes are no-ops)", () => {
    expect(shouldApply(null, v1)).toBe(true);
    expect(shouldApply(v1, v2)).toBe(true);
    expect(shouldApply(v2, v2)).toBe(false);
    expect(shouldApply(v2, v1)).toBe(false);
  });

  it("expiry is inclusive of its instant; no expiry never expires", () => {
    expect(isExpired(100, 100)).toBe(true);
    expect(isExpired(100, 99)).toBe(false);
    expect(isExpired(null, 1e15)).toBe(false);
  });
});

describe("QuorumTracker", () => {
  it("a read contacts only R replicas and adds the next one of the list per failure", () => {
    const t = new QuorumTracker(3, 1, false);
    expect(t.launch()).toEqual([0]);
    t.fail(0);
    expect(t.launch()).toEqual([1]);
    t.ack(1);
    expect(t.outcome()).toBe("met");
    expect(t.launch()).toEqual([]);
  });

  it("a write contacts all N at once and is met at W acks", () => {
    const t = new QuorumTracker(3, 2, true);
    expect(t.launch()).toEqual([0, 1, 2]);
    t.ack(2);
    expect(t.outcome()).toBe("pending");
    t.ack(0);
    expect(t.outcome()).toBe("met");
  });

  it("fails as soon as the quorum can no longer be reached", () => {
    const t = new QuorumTracker(3, 2, true);
    t.launch();
    t.fail(0);
    expect(t.outcome()).toBe("pending");
    t.fail(1);
    expect(t.outcome()).toBe("failed");
  });

  it("refuses a quorum outside 1..N", () => {
    expect(() => new QuorumTracker(3, 4, false)).toThrow(RangeError);
    expect(() => new QuorumTracker(3, 0, false)).toThrow(RangeError);
  });
});

describe("versions seen elsewhere", () => {
  it("after observing a version from a clock ahead of ours, the next version is newer than it", () => {
    const clock = new VersionClock(1);
    const ahead = makeVersion(10_000, 5, 0xffffffff);
    clock.observe(ahead);
    expect(compareVersions(clock.next(2_000), ahead)).toBe(1);
    clock.observe(makeVersion(1, 0, 0)); // an older one changes nothing
    expect(compareVersions(clock.next(2_000), ahead)).toBe(1);
  });
});

describe("reconciliation at equal versions", () => {
  const v = makeVersion(5, 0, 0);
  const now = 1_000;
  it("a tombstone beats a live copy, which beats an eviction marker, in any reply order", () => {
    const live: ReplicaRecord = { version: v, live: true };
    const tomb: ReplicaRecord = { version: v, live: false };
    const evicted: ReplicaRecord = { version: v, live: false, evicted: true };
    expect(newestRecord([live, tomb], now)).toBe(tomb);
    expect(newestRecord([tomb, live], now)).toBe(tomb);
    expect(newestRecord([evicted, live], now)).toBe(live);
    expect(newestRecord([live, evicted], now)).toBe(live);
  });

  it("a live copy whose expiry has passed by the reader's clock counts as expired", () => {
    const expiredLive: ReplicaRecord = { version: v, live: true, expiresAt: now - 1 };
    expect(effectivelyLive(expiredLive, now)).toBe(false);
  });

  it("an eviction marker is never repaired onto other replicas", () => {
    const older: ReplicaRecord = { version: makeVersion(1, 0, 0), live: true };
    expect(staleIndices([older], { version: v, live: false, evicted: true })).toEqual([]);
  });
});

describe("shard timers", () => {
  it("hint retries back off from 1 s, doubling, capped at 5 minutes", () => {
    expect([0, 1, 2, 3].map(hintRetryDelay)).toEqual([1000, 2000, 4000, 8000]);
    expect(hintRetryDelay(50)).toBe(300_000);
  });

  it("the alarm is set to the earliest timer, never in the past, or not at all", () => {
    expect(nextDue([500, null, 200], 100)).toBe(200);
    expect(nextDue([50], 100)).toBe(100);
    expect(nextDue([null, null], 100)).toBeNull();
  });
});
