// The Durable Object guard (src/services/do-guard.ts) without a runtime: how outcomes are classified,
// and the per-isolate registry driving the pure breaker with an injected clock. The same guard with
// real objects is in test/worker/do-guard.test.ts.
import { beforeEach, describe, expect, it } from "vitest";
import type { BreakerConfig } from "../../src/core/health/circuit-breaker";
import { CircuitOpenError, classify, guardedCall, guardStatus, ObjectAnswerError, resetGuards, TimeoutError, type GuardOptions } from "../../src/services/do-guard";
import { callQuorum } from "../../src/services/replica-call";

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
