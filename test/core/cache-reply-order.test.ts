import { describe, expect, it } from "vitest";
import { newestRecord, type ReplicaRecord } from "../../src/core/cache/replica-state";
import { makeVersion } from "../../src/core/cache/version";

describe("reconciliation is independent of reply order", () => {
  it("a live copy and an expired copy of the same version give the same answer whichever replied first", () => {
    const v = makeVersion(1_700_000_000_000, 0, 1);
    // Same write on two replicas; one has already expired it (lazy expiry or sweep), the other not yet.
    const live: ReplicaRecord = { version: v, live: true, value: new Uint8Array([1]), expiresAt: 1_700_000_001_000 };
    const expired: ReplicaRecord = { version: v, live: false };
    // q.results is in arrival order, so today the answer flips between found and not found.
    expect(newestRecord([live, expired], 1_700_000_000_500)!.live).toBe(newestRecord([expired, live], 1_700_000_000_500)!.live);
  });
});
