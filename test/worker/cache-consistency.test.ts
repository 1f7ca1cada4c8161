import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import type { CacheShard } from "../../durable-objects/cache-shard";
import { makeVersion } from "../../src/core/cache/version";
import { ALL_SHARDS, call, eventually, getKey, json, putKey, replicasOf, setFault, shard } from "./helpers";

// Scenarios found in review: each one once broke "a read sees the latest acknowledged write" or
// "a deleted key stays deleted". Only one replica is ever down at a time.

afterEach(async () => {
  for (const s of ALL_SHARDS) await setFault(s, "healthy");
});

/** Fills one shard directly (no ring) with big entries so that everything written before is LRU-evicted. */
async function evictEverythingOn(shardId: string): Promise<void> {
  const big = new Uint8Array(800 * 1024); // test capacity is 2 MiB
  for (let i = 0; i < 3; i++) {
    await shard(shardId).put({ key: `filler-${shardId}-${i}`, version: makeVersion(Date.now(), i, 0xfeed), value: big, contentType: "x", expiresAt: null });
  }
}

describe("eviction keeps the version (Dynamo-style LWW with R+W>N)", () => {
  it("an evicted replica answers a miss, never the value an acknowledged write replaced", async () => {
    const key = "evict-then-read";
    const [a, b, c] = (await replicasOf(key)) as [string, string, string];
    expect((await putKey(key, "old")).status).toBe(200);
    await eventually(async () => (await shard(c).get(key)).live);
    // C misses the overwrite; W=2 is met by A and B. No handoff is delivered yet (the hint waits 1 s).
    await setFault(c, "down");
    expect((await putKey(key, "new")).status).toBe(200);
    await setFault(c, "healthy");
    // A evicts the key under memory pressure: it keeps an eviction marker with the version.
    await evictEverythingOn(a);
    expect(await shard(a).get(key)).toMatchObject({ live: false, evicted: true });
    // B is down for the read: A's marker + C's old copy. The marker is newer: a miss, not "old".
    await setFault(b, "down");
    const r = await getKey(key);
    expect([r.status, r.status === 200 ? await r.text() : "miss"]).not.toEqual([200, "old"]);
    expect(r.status).toBe(404);
  });

  it("read repair does not undo an eviction (a marker of the same version is not stale)", async () => {
    const key = "evict-no-churn";
    const [a] = (await replicasOf(key)) as [string];
    await putKey(key, "v", "?w=3");
    await evictEverythingOn(a);
    const r = await getKey(key, "?r=3");
    expect(await r.text()).toBe("v");
    expect(r.headers.get("x-cache-acks")).toBe("3/3/3");
    expect(await shard(a).get(key)).toMatchObject({ live: false, evicted: true });
  });
});

describe("last writer wins, but an acknowledged write is the newest", () => {
  it("a write under a newer version from a clock ahead of ours is retried above it and then reads back", async () => {
    const key = "clock-ahead";
    const ahead = makeVersion(Date.now() + 5_000, 0, 0xabcdef);
    for (const s of await replicasOf(key)) {
      await shard(s).put({ key, version: ahead, value: new TextEncoder().encode("theirs"), contentType: "text/plain", expiresAt: null });
    }
    const w = await putKey(key, "mine");
    expect(w.status).toBe(200);
    const { version } = await json<{ version: string }>(w);
    expect(version > ahead).toBe(true);
    const r = await getKey(key);
    expect([await r.text(), r.headers.get("x-cache-version")]).toEqual(["mine", version]);
  });
});

describe("hinted handoff", () => {
  it("a replica that missed a delete gets it from another replica, so the value cannot come back after tombstones are forgotten", async () => {
    const key = "handoff-delete";
    const [a, b, c] = (await replicasOf(key)) as [string, string, string];
    await putKey(key, "deleted-value", "?w=3");
    await setFault(c, "down");
    expect((await call(`/cache/${key}`, { method: "DELETE" })).status).toBe(200);
    await setFault(c, "healthy");
    // The hint is delivered by the holder's alarm (first try after 1 s).
    await eventually(async () => {
      for (const s of [a, b]) await runDurableObjectAlarm(shard(s));
      return (await shard(c).get(key)).live === false;
    }, 5000);
    // 24 h later A and B forget their tombstones (made due, then swept).
    for (const s of [a, b]) {
      await runInDurableObject(shard(s), (_: CacheShard, state) => {
        state.storage.sql.exec("UPDATE entries SET expires_at = 1 WHERE key = ? AND state != 0", key);
      });
      await runDurableObjectAlarm(shard(s));
    }
    await setFault(b, "down");
    expect((await getKey(key)).status).toBe(404);
  });

  it("hints are retried with backoff while the target stays down, and counted in stats", async () => {
    const key = "handoff-retry";
    const [a, b, c] = (await replicasOf(key)) as [string, string, string];
    await setFault(c, "down");
    expect((await putKey(key, "v")).status).toBe(200);
    await eventually(async () => {
      const pending = (await shard(a).stats()).pendingHints + (await shard(b).stats()).pendingHints;
      return pending === 1;
    });
    await setFault(c, "healthy");
    await eventually(async () => {
      for (const s of [a, b]) await runDurableObjectAlarm(shard(s));
      return (await shard(c).get(key)).live;
    }, 8000);
  }, 15_000);
});

describe("capacity", () => {
  it("tombstones count against the capacity, and bytes on disk stay near what is accounted", async () => {
    await runInDurableObject(shard("capacity-tombstones"), async (instance: CacheShard, state) => {
      const before = state.storage.sql.databaseSize;
      for (let i = 0; i < 3000; i++) {
        const key = `gone-${i}-${"x".repeat(480)}`;
        await instance.put({ key, version: makeVersion(1_700_000_000_000, i, 1), value: null, contentType: "x", expiresAt: null });
      }
      const stats = await instance.stats();
      expect(stats.bytes).toBeLessThanOrEqual(stats.capacityBytes);
      expect(stats.tombstones).toBeLessThan(3000);
      expect(state.storage.sql.databaseSize - before).toBeLessThanOrEqual(2 * stats.capacityBytes);
    });
  }, 30_000);
});
