// Admission control (src/core/admission/limiter.ts, after Netflix concurrency-limits' Gradient2 and
// AIMD) and the per-key sequencer (src/core/sequencer/key-sequencer.ts).
import { describe, expect, it } from "vitest";
import { canMeetDeadline, createLimiter, currentLimit, onDrop, onSample, type LimiterState } from "../../src/core/admission/limiter";
import { KeyLocks, LockWaitDeadlineError } from "../../src/core/sequencer/key-locks";
import { onLockWait } from "../../src/core/txn/participant";
import { KeySequencer, SequencerDeadlineError } from "../../src/core/sequencer/key-sequencer";

function feed(s: LimiterState, rtts: number[], inflight: (s: LimiterState) => number): LimiterState {
  for (const rtt of rtts) s = onSample(s, rtt, inflight(s));
  return s;
}
const full = (s: LimiterState) => currentLimit(s);

describe("AIMD limiter", () => {
  it("grows by one per success while the limit is in use", () => {
    const s = feed(createLimiter({ initialLimit: 10 }), Array(40).fill(5), full);
    expect(currentLimit(s)).toBe(50);
  });

  it("does not grow when the limit is not in use (an idle object proves nothing about more)", () => {
    const s = feed(createLimiter({ initialLimit: 10 }), Array(200).fill(5), () => 2);
    expect(currentLimit(s)).toBe(10);
  });

  it("latency alone does not shrink the limit (every object slows together when the event loop is busy) unless it passes the target", () => {
    const plain = feed(createLimiter({ initialLimit: 100 }), [...Array(300).fill(5), ...Array(60).fill(200)], () => 1);
    expect(currentLimit(plain)).toBe(100);
    let s = createLimiter({ initialLimit: 100, latencyTargetMs: 100 });
    for (let i = 0; i < 5; i++) s = onSample(s, 200, 1, i * 1000);
    expect(currentLimit(s)).toBe(Math.floor(100 * 0.9 ** 5));
  });

  it("tracks latency to estimate how fast a queue drains", () => {
    const s = feed(createLimiter({ initialLimit: 100 }), [...Array(300).fill(5), ...Array(60).fill(200)], () => 1);
    expect(s.shortRttMs!).toBeGreaterThan(150);
    expect(s.longRttMs!).toBeLessThan(s.shortRttMs!);
  });

  it("AIMD on drops: one multiplicative cut per round trip, however many calls time out together", () => {
    let s = feed(createLimiter({ initialLimit: 100, maxLimit: 100 }), Array(20).fill(10), () => 1);
    const before = s.limit;
    s = onDrop(s, 1000);
    s = onDrop(s, 1001);
    s = onDrop(s, 1002);
    expect(s.limit).toBeCloseTo(before * 0.9);
    s = onDrop(s, 1000 + 1000);
    expect(s.limit).toBeCloseTo(before * 0.81);
    expect(s.drops).toBe(4);
  });

  it("never goes below the minimum or above the maximum", () => {
    let s = createLimiter({ initialLimit: 4, minLimit: 2, maxLimit: 8 });
    for (let i = 0; i < 100; i++) s = onDrop(s, i * 1000);
    expect(currentLimit(s)).toBe(2);
    s = feed(s, Array(500).fill(1), full);
    expect(currentLimit(s)).toBe(8);
  });

  it("a deadline is met when the queue drains before it: about `limit` calls per round trip", () => {
    const s = feed(createLimiter({ initialLimit: 10, maxLimit: 10 }), Array(50).fill(20), () => 1);
    // 10 drain per 20 ms round trip: the 11th in line starts after one round.
    expect(canMeetDeadline(s, 0, 0, 5)).toBe(true);
    expect(canMeetDeadline(s, 9, 0, 5)).toBe(true);
    expect(canMeetDeadline(s, 10, 0, 15)).toBe(false);
    expect(canMeetDeadline(s, 10, 0, 25)).toBe(true);
    expect(canMeetDeadline(s, 100, 0, 1000)).toBe(true);
    expect(canMeetDeadline(s, 0, 100, 100)).toBe(false);
  });

  it("rejects impossible configurations", () => {
    expect(() => createLimiter({ minLimit: 10, initialLimit: 5 })).toThrow(RangeError);
    expect(() => createLimiter({ backoffRatio: 1 })).toThrow(RangeError);
    expect(() => createLimiter({ latencyTargetMs: 0 })).toThrow(RangeError);
  });
});

/** Real time, for the tests that run the sequencer and the locks on the event loop. */
const realTime = { now: Date.now, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };

/** A clock and a sleep that advance together, so the sequencer's polling runs without real time. */
function fakeTime() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => { t += ms; await Promise.resolve(); } };
}

describe("per-key sequencer", () => {
  it("runs one batch per key at a time; calls that queue meanwhile run together, in arrival order", async () => {
    const batches: string[][] = [];
    let running = 0;
    const seq = new KeySequencer<string, string>(async (_key, items) => {
      running++;
      expect(running).toBe(1);
      batches.push(items);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return items.map((i) => `done:${i}`);
    }, realTime);
    const results = await Promise.all(["a", "b", "c", "d"].map((x) => seq.submit("k", x, Date.now() + 5000)));
    expect(results).toEqual(["done:a", "done:b", "done:c", "done:d"]);
    expect(batches).toEqual([["a"], ["b", "c", "d"]]);
    expect(seq.activeKeys).toBe(0);
  });

  it("different keys run independently", async () => {
    const seen: string[] = [];
    const seq = new KeySequencer<string, string>(async (key, items) => {
      seen.push(key);
      return items;
    }, realTime);
    await Promise.all([seq.submit("x", "1", Date.now() + 1000), seq.submit("y", "2", Date.now() + 1000)]);
    expect(seen.sort()).toEqual(["x", "y"]);
  });

  it("a call whose deadline passes while it waits in line is dropped, never run, and the rest still run", async () => {
    const time = fakeTime();
    const ran: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const seq = new KeySequencer<string, string>(
      async (_key, items) => {
        ran.push(...items);
        if (items[0] === "first") await gate;
        return items;
      },
      { now: time.now, sleep: time.sleep },
    );
    const first = seq.submit("k", "first", 10_000);
    const impatient = seq.submit("k", "impatient", 50).catch((e: unknown) => e);
    const patient = seq.submit("k", "patient", 10_000);
    expect(await impatient).toBeInstanceOf(SequencerDeadlineError);
    release();
    expect(await first).toBe("first");
    expect(await patient).toBe("patient");
    expect(ran).toEqual(["first", "patient"]);
  });

  it("a failing batch fails each of its calls, and the next batch still runs", async () => {
    let n = 0;
    const seq = new KeySequencer<string, string>(async (_key, items) => {
      n++;
      await new Promise((r) => setTimeout(r, 2));
      if (n === 2) throw new Error("boom");
      return items;
    }, realTime);
    const all = await Promise.allSettled(["a", "b", "c"].map((x) => seq.submit("k", x, Date.now() + 5000)));
    expect(all[0]).toEqual({ status: "fulfilled", value: "a" });
    expect(all[1]).toMatchObject({ status: "rejected", reason: new Error("boom") });
    expect(all[2]).toMatchObject({ status: "rejected", reason: new Error("boom") });
    expect(await seq.submit("k", "d", Date.now() + 5000)).toBe("d");
  });
});

describe("key locks (sorted order, FIFO per key)", () => {
  it("units over overlapping key sets in opposite orders take turns and never deadlock", async () => {
    const locks = new KeyLocks(realTime);
    const order: string[] = [];
    const unit = async (name: string, keys: string[]) => {
      const release = await locks.acquire(keys, Date.now() + 5000);
      order.push(`${name}+`);
      await new Promise((r) => setTimeout(r, 3));
      order.push(`${name}-`);
      release();
    };
    await Promise.all([unit("ab", ["a", "b"]), unit("ba", ["b", "a"]), unit("bc", ["c", "b"]), unit("ca", ["a", "c"])]);
    // Mutual exclusion: every unit's critical section ends before the next begins.
    for (let i = 0; i < order.length; i += 2) expect(order[i]!.slice(0, -1)).toBe(order[i + 1]!.slice(0, -1));
    expect(order).toHaveLength(8);
    expect(locks.size).toBe(0);
  });

  it("a unit whose deadline passes while waiting gives up holding nothing; the holder's release lets the next in", async () => {
    const time = fakeTime();
    const locks = new KeyLocks({ now: time.now, sleep: time.sleep });
    const releaseA = await locks.acquire(["a", "b"], 10_000);
    const late = await locks.acquire(["a"], 100).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(LockWaitDeadlineError);
    // "b" alone is free of the failed waiter: it held nothing.
    const next = locks.acquire(["b"], 20_000);
    releaseA();
    (await next)();
    expect(locks.size).toBe(0);
  });
});

describe("wait-die at a 2PC participant (Rosenkrantz, Stearns, Lewis 1978)", () => {
  const view = (locks: Record<string, string>, priorities: Record<string, number>) => ({
    lockHolder: (k: string) => locks[k],
    prepared: () => undefined,
    finished: () => undefined,
    priorityOf: (t: string) => priorities[t],
  });

  it("an older transaction meeting a younger holder waits", () => {
    expect(onLockWait(view({ a: "young" }, { young: 200 }), "old", ["a"], { priority: 100, waitMs: 500 })).toEqual({ action: "wait", key: "a" });
  });

  it("a younger transaction meeting an older holder dies at once (so waits only point old -> young: no cycle)", () => {
    expect(onLockWait(view({ a: "old" }, { old: 100 }), "young", ["a"], { priority: 200, waitMs: 500 })).toEqual({ action: "die", key: "a", holder: "old" });
  });

  it("a holder of unknown age (prepared before a restart) is treated as older; no wait budget or no priority means no-wait", () => {
    expect(onLockWait(view({ a: "h" }, {}), "t", ["a"], { priority: 1, waitMs: 500 })).toMatchObject({ action: "die" });
    expect(onLockWait(view({ a: "h" }, { h: 200 }), "t", ["a"], { priority: 100, waitMs: 0 })).toMatchObject({ action: "die" });
    expect(onLockWait(view({ a: "h" }, { h: 200 }), "t", ["a"], undefined)).toMatchObject({ action: "die" });
  });

  it("equal priorities are ordered by transaction id, so exactly one of two waits for the other", () => {
    const ab = onLockWait(view({ k: "b" }, { b: 5 }), "a", ["k"], { priority: 5, waitMs: 100 }).action;
    const ba = onLockWait(view({ k: "a" }, { a: 5 }), "b", ["k"], { priority: 5, waitMs: 100 }).action;
    expect([ab, ba].sort()).toEqual(["die", "wait"]);
  });

  it("free keys, or keys this transaction holds itself, proceed", () => {
    expect(onLockWait(view({ a: "t" }, { t: 1 }), "t", ["a", "b"], { priority: 1, waitMs: 100 })).toEqual({ action: "proceed" });
  });
});
