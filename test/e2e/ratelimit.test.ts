// @upstash/ratelimit 2.x and @upstash/lock, published and unchanged, with their default options,
// over the official @upstash/redis client against `npm run dev`: their Lua scripts run here.
import { Lock } from "@upstash/lock";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { summarize } from "../support/uncaught-guard";
import { startDevServer, type DevServer } from "./dev-server";

let server: DevServer;
let redis: Redis;
const TOKEN = "dev-admin-token";

beforeAll(async () => {
  server = await startDevServer();
  redis = new Redis({ url: `${server.url}/redis`, token: TOKEN });
}, 300_000);
afterAll(async () => {
  await server?.stop();
});
afterEach(() => {
  const unexpected = server.newUnexpectedExceptions();
  expect(unexpected, summarize(unexpected)).toEqual([]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const algorithms = {
  fixedWindow: () => Ratelimit.fixedWindow(10, "1 h"),
  slidingWindow: () => Ratelimit.slidingWindow(10, "1 h"),
  tokenBucket: () => Ratelimit.tokenBucket(1, "60 s", 10),
};

describe("@upstash/ratelimit", () => {
  for (const [name, limiter] of Object.entries(algorithms)) {
    it(`${name}: 50 concurrent limit() calls on one identifier with a limit of 10 let exactly 10 through`, async () => {
      // Default options but the timeout: past it (5 s) limit() answers success with reason "timeout",
      // which on a loaded machine would make the count a measure of speed instead of correctness.
      const ratelimit = new Ratelimit({ redis, limiter: limiter(), prefix: `rl:${name}`, timeout: 120_000 });
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 50 }, () => ratelimit.limit("user-1")));
      console.log(`${name}: 50 concurrent limit() calls took ${Date.now() - started} ms`);
      // A limit() that timed out answers success with reason "timeout": none may have.
      expect(results.filter((r) => r.reason === "timeout")).toEqual([]);
      expect(results.filter((r) => r.success)).toHaveLength(10);
      expect(results.every((r) => r.limit === 10)).toBe(true);
      const remaining = await ratelimit.getRemaining("user-1");
      expect(remaining.limit).toBe(10);
      // Unless the calls straddled the hour's boundary (windows are aligned to it), nothing is left.
      const hour = (t: number) => Math.floor(t / 3_600_000);
      if (name === "tokenBucket" || hour(started) === hour(Date.now())) expect(remaining.remaining).toBe(0);
      // Another identifier has its own budget.
      expect((await ratelimit.getRemaining("user-2")).remaining).toBe(10);
      expect((await ratelimit.limit("user-2")).remaining).toBe(9);
    });
  }

  it("dynamic limits: a limit set at run time (a second declared key) overrides the default", async () => {
    const ratelimit = new Ratelimit({ redis, limiter: Ratelimit.slidingWindow(10, "60 s"), prefix: "rl:dynamic", dynamicLimits: true });
    await ratelimit.setDynamicLimit({ limit: 3 });
    expect(await ratelimit.getDynamicLimit()).toEqual({ dynamicLimit: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, () => ratelimit.limit("u")));
    expect(results.filter((r) => r.success)).toHaveLength(3);
    expect(results.every((r) => r.limit === 3)).toBe(true);
    await ratelimit.setDynamicLimit({ limit: false });
    expect((await ratelimit.getRemaining("u")).limit).toBe(10);
  });

  it("resetUsedTokens gives the identifier its whole limit again (its script SCANs for the identifier's keys and deletes them)", async () => {
    const ratelimit = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(3, "1 h"), prefix: "rl:reset", timeout: 120_000 });
    const use = async (id: string, n: number) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await ratelimit.limit(id));
      return out;
    };
    // Windows are aligned to the hour: a round that straddles a boundary is run again with another identifier.
    for (let round = 0; ; round++) {
      const id = `u${round}`;
      const other = `keep${round}`;
      const kept = await use(other, 1);
      const before = await use(id, 4);
      await ratelimit.resetUsedTokens(id);
      const after = await use(id, 4);
      const all = [...kept, ...before, ...after];
      if (new Set(all.map((r) => r.reset)).size > 1 && round < 3) continue;
      expect(before.map((r) => r.success)).toEqual([true, true, true, false]);
      expect(after.map((r) => r.success)).toEqual([true, true, true, false]);
      expect(after.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
      // Another identifier under the same prefix keeps what it used.
      expect((await ratelimit.getRemaining(other)).remaining).toBe(2);
      break;
    }
  });
});

describe("@upstash/lock", () => {
  it("one holder at a time among concurrent acquirers; release lets the next in", async () => {
    const locks = Array.from({ length: 8 }, () => new Lock({ id: "lock:a", redis, lease: 30_000, retry: { attempts: 1, delay: 10 } }));
    const got = await Promise.all(locks.map((l) => l.acquire()));
    expect(got.filter(Boolean)).toHaveLength(1);
    const holder = locks[got.indexOf(true)]!;
    const other = locks[got.indexOf(false)]!;
    expect(await holder.getStatus()).toBe("ACQUIRED");
    expect(await other.acquire()).toBe(false);
    // Only the holder can release (the script compares the holder's UUID).
    expect(await other.release()).toBe(false);
    expect(await holder.release()).toBe(true);
    expect(await holder.getStatus()).toBe("FREE");
    expect(await other.acquire()).toBe(true);
    expect(await other.release()).toBe(true);
  });

  it("extend lengthens the lease of the holder only", async () => {
    const lock = new Lock({ id: "lock:b", redis, lease: 10_000 });
    expect(await lock.acquire()).toBe(true);
    expect(await lock.extend(20_000)).toBe(true);
    expect(await redis.ttl("lock:b")).toBeGreaterThan(20);
    const stranger = new Lock({ id: "lock:b", redis, retry: { attempts: 1, delay: 10 } });
    expect(await stranger.acquire()).toBe(false);
    expect(await stranger.extend(1_000)).toBe(false);
    expect(await lock.release()).toBe(true);
  });

  it("a lock whose lease runs out lets the next acquirer in", async () => {
    const first = new Lock({ id: "lock:c", redis, lease: 300 });
    expect(await first.acquire()).toBe(true);
    const next = new Lock({ id: "lock:c", redis, retry: { attempts: 1, delay: 10 } });
    expect(await next.acquire()).toBe(false);
    // Until the lease has run out (awaited, not timed): acquire retries up to a deadline.
    const deadline = Date.now() + 10_000;
    let acquired = false;
    while (!acquired && Date.now() < deadline) {
      acquired = await next.acquire();
      if (!acquired) await sleep(50);
    }
    expect(acquired).toBe(true);
    expect(await first.release()).toBe(false);
    expect(await next.release()).toBe(true);
  });
});
