// The Durable Object guard (src/services/do-guard.ts) without a runtime: how outcomes are classified,
// and the per-isolate registry driving the pure breaker with an injected clock. The same guard with
// real objects is in test/worker/do-guard.test.ts.
import { beforeEach, describe, expect, it } from "vitest";
import type { BreakerConfig } from "../../src/core/health/circuit-breaker";
import { CircuitOpenError, classify, guardedCall, guardStatus, ObjectAnswerError, resetGuards, TimeoutError, type GuardOptions } from "../../src/services/do-guard";
import { callQuorum } from "../../src/services/replica-call";
import { resetAdmission } from "../../src/services/admission";

const BREAKER: Partial<BreakerConfig> = { consecutiveFailures: 3, openMs: 1000, openBackoffMultiplier: 2, maxOpenMs: 10_000, minimumRequests: 20, failureRateThreshold: 0.5 };

/** An error as workerd delivers it from a Durable Object call: an Error carrying the runtime's flags. */
function objectError(message: string, flags: Record<string, boolean>): Error {
  return Object.assign(new Error(message), flags);
}

class StaleWrite extends ObjectAnswerError {}

let clock = 0;
const options = (extra: Partial<GuardOptions> = {}): GuardOptions => ({ breaker: BREAKER, now: () => clock, ...extra });
const ok = () => Promise.resolve("reply");
const fails = (err: unknown) => () => Promise.reject(err);
const down = objectError("shard is down (fault injected)", { remote: true });

/** Runs a guarded call and answers what happened, without throwing. */
async function attempt(name: string, fn: () => Promise<unknown>, extra?: Partial<GuardOptions>): Promise<"ok" | "refused" | "failed"> {
  try {
    await guardedCall(name, 1000, fn, options(extra));
    return "ok";
  } catch (err) {
    return err instanceof CircuitOpenError ? "refused" : "failed";
  }
}

beforeEach(() => {
  resetGuards();
  resetAdmission();
  clock = 1_000_000;
});

describe("classify: what counts against an object", () => {
  it.each([
    ["no reply in time (TimeoutError)", new TimeoutError(300)],
    ["the connection to the object was lost (retryable)", objectError("Network connection lost.", { retryable: true })],
    ["the object is overloaded (overloaded)", objectError("Durable Object is overloaded. Too many requests queued.", { overloaded: true })],
    ["the object was reset or broke (durableObjectReset)", objectError("crash injected", { durableObjectReset: true })],
    ["the object's own code threw (remote): its methods answer by return value, so a throw means it could not serve", down],
  ])("a failure: %s", (_, err) => {
    expect(classify(err)).toBe("failure");
  });

  it.each([
    ["an answer read from the object's reply (ObjectAnswerError: a newer version, a lock)", new StaleWrite("replica holds a newer version")],
    ["an error raised in this isolate, without the runtime's flags (serializing arguments, our own bug)", new TypeError("x is not a function")],
    ["something thrown that is not an Error", "nope"],
    ["a remote throw the caller declares an answer (isAnswer)", objectError("invalid cursor", { remote: true })],
  ])("not a failure: %s", (_, err) => {
    expect(classify(err, (e) => e instanceof Error && e.message === "invalid cursor")).toBe("answer");
  });
});

describe("guardedCall: a breaker per object, per isolate", () => {
  it("passes the reply and the error through unchanged", async () => {
    await expect(guardedCall("cache/shard-0", 1000, ok, options())).resolves.toBe("reply");
    await expect(guardedCall("cache/shard-0", 1000, fails(down), options())).rejects.toBe(down);
  });

  it("opens after the configured consecutive failures, then refuses at once without calling, saying when it will try again", async () => {
    for (let i = 0; i < 3; i++) expect(await attempt("cache/shard-1", fails(down))).toBe("failed");
    expect(guardStatus("cache/shard-1", clock).status).toBe("open");
    let called = 0;
    clock += 400;
    const err = await guardedCall("cache/shard-1", 1000, () => {
      called++;
      return ok();
    }, options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(err).toMatchObject({ target: "cache/shard-1", retryAfterMs: 600 });
    expect(called).toBe(0);
  });

  it("a success between failures starts the count again", async () => {
    for (let round = 0; round < 4; round++) {
      expect(await attempt("cache/shard-2", fails(down))).toBe("failed");
      expect(await attempt("cache/shard-2", fails(down))).toBe("failed");
      expect(await attempt("cache/shard-2", ok)).toBe("ok");
    }
    expect(guardStatus("cache/shard-2", clock)).toMatchObject({ status: "closed", consecutiveFailures: 0 });
  });

  it("answers never count against the object, however many in a row (a replica refusing a stale write is healthy)", async () => {
    for (let i = 0; i < 50; i++) expect(await attempt("cache/shard-3", fails(new StaleWrite("newer")))).toBe("failed");
    expect(guardStatus("cache/shard-3", clock)).toMatchObject({ status: "closed", consecutiveFailures: 0 });
  });

  it("a call that does not answer within the timeout counts as a failure the moment it times out", async () => {
    const never = () => new Promise<never>(() => undefined);
    for (let i = 0; i < 3; i++) await expect(guardedCall("raft/main/n2", 5, never, options())).rejects.toBeInstanceOf(TimeoutError);
    expect(guardStatus("raft/main/n2", clock).status).toBe("open");
  });

  it("a timeout cut short by the caller's deadline does not count against the object", async () => {
    const never = () => new Promise<never>(() => undefined);
    for (let i = 0; i < 5; i++) {
      await expect(guardedCall("cache/shard-4", 2, never, options({ timeoutIsFull: false }))).rejects.toBeInstanceOf(TimeoutError);
    }
    expect(guardStatus("cache/shard-4", clock)).toMatchObject({ status: "closed", consecutiveFailures: 0 });
  });

  it("after the open time one probe is let through while the others are still refused; its success closes the breaker", async () => {
    for (let i = 0; i < 3; i++) await attempt("raft/main/n3", fails(down));
    clock += 1000;
    expect(guardStatus("raft/main/n3", clock).status).toBe("half-open");
    let release: (v: string) => void = () => undefined;
    const probe = guardedCall("raft/main/n3", 1000, () => new Promise<string>((r) => (release = r)), options());
    expect(await attempt("raft/main/n3", ok)).toBe("refused");
    release("reply");
    await expect(probe).resolves.toBe("reply");
    expect(guardStatus("raft/main/n3", clock).status).toBe("closed");
    expect(await attempt("raft/main/n3", ok)).toBe("ok");
  });

  it("a failed probe opens it again for longer (openMs x backoff)", async () => {
    for (let i = 0; i < 3; i++) await attempt("cache/shard-4", fails(down));
    clock += 1000;
    expect(await attempt("cache/shard-4", fails(down))).toBe("failed");
    expect(guardStatus("cache/shard-4", clock)).toMatchObject({ status: "open", retryAfterMs: 2000 });
  });

  it("each object has its own breaker", async () => {
    for (let i = 0; i < 3; i++) await attempt("cache/shard-5", fails(down));
    expect(await attempt("cache/shard-5", ok)).toBe("refused");
    expect(await attempt("cache/shard-6", ok)).toBe("ok");
  });

  it("a different breaker configuration starts a fresh breaker", async () => {
    for (let i = 0; i < 3; i++) await attempt("cache/shard-7", fails(down));
    expect(await attempt("cache/shard-7", ok)).toBe("refused");
    expect(await attempt("cache/shard-7", ok, { breaker: { ...BREAKER, consecutiveFailures: 4 } })).toBe("ok");
  });
});

describe("callQuorum with a guard", () => {
  it("a replica whose breaker is open is not called: the next of the preference list is, at once, and the quorum is met", async () => {
    for (let i = 0; i < 3; i++) await attempt("cache/a", fails(down));
    const called: string[] = [];
    const started = Date.now();
    const q = await callQuorum(["a", "b", "c"], 2, false, async (s) => {
      called.push(s);
      return s;
    }, 5000, 10_000, { guard: { name: (s) => `cache/${s}`, options: options() } });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(q.met).toBe(true);
    expect(called.sort()).toEqual(["b", "c"]);
    expect(q.failures.map((f) => [f.shard, f.error instanceof CircuitOpenError])).toEqual([["a", true]]);
  });

  it("without a guard, every replica is called as before", async () => {
    for (let i = 0; i < 3; i++) await attempt("cache/a", fails(down));
    const called: string[] = [];
    const q = await callQuorum(["a", "b", "c"], 2, false, async (s) => {
      called.push(s);
      return s;
    }, 5000, 10_000);
    expect(q.met).toBe(true);
    expect(called.sort()).toEqual(["a", "b"]);
  });

  it("a stale-write answer thrown by the call does not count against the replica", async () => {
    for (let round = 0; round < 10; round++) {
      await callQuorum(["a", "b", "c"], 2, true, async (s) => {
        if (s === "a") throw new StaleWrite("newer");
        return s;
      }, 5000, 10_000, { guard: { name: (s) => `cache/${s}`, options: options() } });
    }
    expect(guardStatus("cache/a", clock)).toMatchObject({ status: "closed", consecutiveFailures: 0 });
  });
});

describe("overload is not failure (issue 14)", () => {
  const never = () => new Promise<never>(() => {});

  it("timeouts of calls sent while this isolate was loading the object (half its limit in flight) do not open its breaker", async () => {
    // Limit 4: the first two calls are sent with 0 and 1 in flight (count), the rest with 2 or more (do not).
    const admission = { limiter: { initialLimit: 4, minLimit: 4, maxLimit: 4 }, maxQueue: 100 };
    const calls = Array.from({ length: 4 }, () => guardedCall("loaded", 5, never, options({ breaker: { ...BREAKER, consecutiveFailures: 3 }, admission })).catch((e: unknown) => e));
    for (const r of await Promise.all(calls)) expect(r).toBeInstanceOf(TimeoutError);
    expect(guardStatus("loaded", clock).status).toBe("closed");
    expect(guardStatus("loaded", clock).consecutiveFailures).toBe(2);
  });

  it("a timeout while another object's calls timed out lately (a congested loop) does not count; a lone slow object's does", async () => {
    // The injected clock stands still, so a timer fired late on a busy machine never reads as a congested loop.
    const quick = options();
    await guardedCall("other", 5, never, quick).catch(() => undefined);
    await guardedCall("victim", 5, never, quick).catch(() => undefined);
    expect(guardStatus("victim", clock).consecutiveFailures).toBe(0);
    resetGuards();
    for (let i = 0; i < 3; i++) await guardedCall("alone", 5, never, quick).catch(() => undefined);
    expect(guardStatus("alone", clock).status).toBe("open");
  });

  it("timeouts of an object whose answers were already slowing down (a queue building up in it) do not count", async () => {
    const slow = (ms: number) => () => new Promise<string>((r) => setTimeout(() => r("late but fine"), ms));
    // Answers taking 15 ms against a 20 ms timeout: more than half of it.
    for (let i = 0; i < 10; i++) await guardedCall("queueing", 20, slow(15), { breaker: BREAKER });
    for (let i = 0; i < 4; i++) await guardedCall("queueing", 20, never, { breaker: BREAKER }).catch(() => undefined);
    expect(guardStatus("queueing")).toMatchObject({ status: "closed", consecutiveFailures: 0 });
  });

  it("a call shed by admission control (queue full) is never made and never counts against the object", async () => {
    const admission = { limiter: { initialLimit: 1, minLimit: 1, maxLimit: 1 }, maxQueue: 0 };
    let release: (v: string) => void = () => {};
    const held = guardedCall("busy", 1000, () => new Promise<string>((r) => (release = r)), { breaker: BREAKER, admission });
    let made = 0;
    const shed = await guardedCall("busy", 1000, async () => (made++, "x"), { breaker: BREAKER, admission }).catch((e: unknown) => e);
    expect(shed).toMatchObject({ name: "ShedError", reason: "queue_full" });
    expect(made).toBe(0);
    release("done");
    expect(await held).toBe("done");
    expect(guardStatus("busy")).toMatchObject({ status: "closed", consecutiveFailures: 0 });
  });

  it("an opening never refuses for longer than maxOpenMs, even read with a clock behind the one that opened it", async () => {
    for (let i = 0; i < 3; i++) await attempt("skewed", fails(down));
    expect(guardStatus("skewed", clock).status).toBe("open");
    // A request context whose clock reads 60 s earlier: the opening would seem to last 61 s.
    expect(guardStatus("skewed", clock - 60_000).retryAfterMs).toBeLessThanOrEqual(BREAKER.maxOpenMs!);
    expect(guardStatus("skewed", clock - 60_000).status).toBe("half-open");
  });
});
