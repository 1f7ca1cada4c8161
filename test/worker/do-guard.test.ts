// The breaker in front of the worker's own Durable Object calls (src/services/do-guard.ts), with real
// objects: a cache replica made slow or down through the admin fault route, a Raft member whose input
// gate is held closed. Test config: CACHE_REPLICA_TIMEOUT_MS=300; the DO_BREAKER_* defaults (open
// after 5 consecutive failures, for 2 s, doubling on each re-opening). The worker and this file share
// one isolate, so the breakers the requests use are the ones `guardStatus` reads here.
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { raftStub } from "../../durable-objects/raft-node";
import { getConfig } from "../../src/config";
import { makeVersion } from "../../src/core/cache/version";
import { guardStatus, raftGuardName, resetGuards, shardGuardName } from "../../src/services/do-guard";
import { ALL_SHARDS, call, getKey, json, putKey, replicasOf, setFault, shard, sleep } from "./helpers";

const REPLICA_TIMEOUT_MS = 300;
const { consecutiveFailures: TRIP_AFTER, openMs: OPEN_MS } = getConfig(env).doBreaker;

afterEach(async () => {
  for (const s of ALL_SHARDS) await setFault(s, "healthy");
  resetGuards();
});

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await f();
  return { value, ms: Date.now() - started };
}

/** A read of `key` that must answer `expected`; returns how long it took. */
async function readMs(key: string, expected: string): Promise<number> {
  const { value: res, ms } = await timed(() => getKey(key));
  expect(res.status).toBe(200);
  expect(await res.text()).toBe(expected);
  return ms;
}

/** Writes `key`, makes its first replica slow (far past the replica timeout), and reads until that replica's breaker opens. */
async function openOnSlowReplica(key: string): Promise<{ sick: string; others: string[]; slowReads: number[] }> {
  const [sick, ...others] = (await replicasOf(key)) as [string, ...string[]];
  expect((await putKey(key, "v")).status).toBe(200);
  await setFault(sick, "slow", 5000);
  // R=2 reads ask the first two replicas of the list: every one waits out the sick one's timeout.
  const slowReads: number[] = [];
  for (let i = 0; i < TRIP_AFTER; i++) slowReads.push(await readMs(key, "v"));
  expect(guardStatus(shardGuardName(sick)).status).toBe("open");
  return { sick, others, slowReads };
}

describe("cache replicas behind a breaker (per isolate, per shard)", () => {
  it("a replica that keeps timing out is refused at once after 5 timeouts: reads stop waiting the replica timeout, and still answer", async () => {
    const { slowReads } = await openOnSlowReplica("guard-slow");
    for (const ms of slowReads) expect(ms).toBeGreaterThanOrEqual(REPLICA_TIMEOUT_MS - 10);
    const fast: number[] = [];
    for (let i = 0; i < 5; i++) fast.push(await readMs("guard-slow", "v"));
    console.log(`reads while the breaker closes: ${slowReads.join(", ")} ms; once open: ${fast.join(", ")} ms`);
    for (const ms of fast) expect(ms).toBeLessThan(REPLICA_TIMEOUT_MS / 2);
  });

  it("after the open time one probe is let through: still slow, it opens again for twice as long; healed, the next probe closes it and the replica serves again", async () => {
    const key = "guard-half-open";
    const { sick, others } = await openOnSlowReplica(key);
    await sleep(guardStatus(shardGuardName(sick)).retryAfterMs + 10);
    expect(guardStatus(shardGuardName(sick)).status).toBe("half-open");
    // The probe waits out the timeout (the replica is still slow) and re-opens the breaker for 2 x 2 s.
    expect(await readMs(key, "v")).toBeGreaterThanOrEqual(REPLICA_TIMEOUT_MS - 10);
    const reopened = guardStatus(shardGuardName(sick));
    expect(reopened.status).toBe("open");
    expect(reopened.retryAfterMs).toBeGreaterThan(OPEN_MS * 1.5);
    // Open again: reads skip it at once instead of waiting out its timeout.
    expect(await readMs(key, "v")).toBeLessThan(REPLICA_TIMEOUT_MS / 2);
    // Healed behind the breaker's back (straight to the object, not through the admin route, which
    // would reset this isolate's breaker): it stays open until its next probe.
    await shard(sick).setFault({ mode: "healthy", delayMs: 0 });
    expect(guardStatus(shardGuardName(sick)).status).toBe("open");
    await sleep(guardStatus(shardGuardName(sick)).retryAfterMs + 10);
    expect(await readMs(key, "v")).toBeLessThan(REPLICA_TIMEOUT_MS / 2);
    expect(guardStatus(shardGuardName(sick)).status).toBe("closed");
    // It really serves again: with another replica down, R=2 needs it.
    await shard(others[0]!).setFault({ mode: "down", delayMs: 0 });
    const res = await getKey(key);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-cache-acks")).toBe("2/2/3");
  }, 20_000);

  it("a replica whose calls throw (down) is refused after 5 failures: the error names the open circuit; healing it through the admin route closes this isolate's breaker at once", async () => {
    const key = "guard-down";
    const [sick] = (await replicasOf(key)) as [string];
    expect((await putKey(key, "v")).status).toBe(200);
    await setFault(sick, "down");
    for (let i = 0; i < TRIP_AFTER; i++) await readMs(key, "v");
    expect(guardStatus(shardGuardName(sick)).status).toBe("open");
    const all = await getKey(key, "?r=3");
    expect(all.status).toBe(503);
    const body = await json<{ error: { details: { failures: { shard: string; reason: string }[] } } }>(all);
    expect(body.error.details.failures).toEqual([{ shard: sick, reason: expect.stringMatching(new RegExp(`^circuit open for ${shardGuardName(sick)}`)) }]);
    await setFault(sick, "healthy");
    expect(guardStatus(shardGuardName(sick)).status).toBe("closed");
    expect((await getKey(key, "?r=3")).status).toBe(200);
  });

  it("a replica refusing writes because it holds a newer version is answering, not failing: half of its calls refused, over 20+ calls, never open its breaker", async () => {
    const key = "guard-stale-answers";
    const [ahead] = (await replicasOf(key)) as [string];
    for (let round = 1; round <= 12; round++) {
      // A version far ahead of this isolate's clock: the next write is refused by that replica (a
      // StaleWriteError read from its reply), then written again above it, which it applies.
      await shard(ahead).put({ key, version: makeVersion(Date.now() + round * 60_000, 0, 0xabc), value: new TextEncoder().encode("theirs"), contentType: "text/plain", expiresAt: null });
      expect((await putKey(key, `mine-${round}`)).status).toBe(200);
    }
    // 12 refusals + 12 applied writes on that replica: as failures, 50% of 24 >= 50% of the minimum 20.
    expect(guardStatus(shardGuardName(ahead))).toMatchObject({ status: "closed", consecutiveFailures: 0 });
    expect(await readMs(key, "mine-12")).toBeLessThan(REPLICA_TIMEOUT_MS);
  });
});

interface RaftStatus {
  leader: string | null;
}

async function waitForLeader(ms = 5000): Promise<string> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const s = await json<RaftStatus>(await call("/raft/status"));
    if (s.leader) return s.leader;
    await sleep(50);
  }
  throw new Error("no leader elected in time");
}

describe("Raft members behind a breaker", () => {
  it("a member that stops answering (its input gate held closed) is skipped at once after 5 timed-out attempts; once it answers again, a probe closes its breaker", async () => {
    const config = getConfig(env).raft;
    const leader = await waitForLeader();
    // A write teaches this isolate where the leader is: stale reads then start there.
    const put = await call("/kv/guarded", { method: "PUT", body: "v" });
    expect(put.status).toBe(200);
    expect((await json<{ node: string }>(put)).node).toBe(leader);
    const staleRead = () =>
      timed(async () => {
        const res = await call("/kv/guarded?consistency=stale");
        return { status: res.status, node: res.headers.get("x-raft-node"), body: await res.text() };
      });

    // The leader stops taking calls for a while (as a hung or overloaded object would); the others elect a new one.
    const BLOCK_MS = 3500;
    const blocked = runInDurableObject(raftStub(env, config.group, leader), (_instance, state) => {
      void state.blockConcurrencyWhile(() => sleep(BLOCK_MS));
    });
    await sleep(20);
    // Five concurrent reads each wait out the attempt timeout (1.5 s + 0.1 s) on it, then move on.
    // (The gate opens again at 3.5 s, before the breaker lets a probe through at about 1.6 + 2 s.)
    const first = await Promise.all(Array.from({ length: TRIP_AFTER }, staleRead));
    for (const r of first) {
      expect(r.value).toMatchObject({ status: 200, body: "v" });
      expect(r.value.node).not.toBe(leader);
      expect(r.ms).toBeGreaterThanOrEqual(1500);
    }
    expect(guardStatus(raftGuardName(config.group, leader)).status).toBe("open");
    const skipped = await staleRead();
    console.log(`stale reads while the breaker closes: ${first.map((r) => r.ms).join(", ")} ms; once open: ${skipped.ms} ms`);
    expect(skipped.value).toMatchObject({ status: 200, body: "v" });
    // Without the breaker it would wait out the attempt timeout on the blocked member again (1.6 s).
    expect(skipped.ms).toBeLessThan(800);

    await blocked;
    await sleep(guardStatus(raftGuardName(config.group, leader)).retryAfterMs + 10);
    const probe = await staleRead();
    expect(probe.value).toMatchObject({ status: 200, body: "v", node: leader });
    expect(guardStatus(raftGuardName(config.group, leader)).status).toBe("closed");
  }, 20_000);
});
