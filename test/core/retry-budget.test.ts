import { describe, expect, test } from "vitest";
import {
  available,
  budgetWindow,
  createRetryBudget,
  DEFAULT_RETRY_BUDGET_CONFIG,
  deposit,
  type RetryBudgetConfig,
  type RetryBudgetState,
  tryWithdraw,
} from "../../src/core/balancer/retry-budget";

// [Finagle] com.twitter.finagle.service.RetryBudget (apply, TokenRetryBudget) and com.twitter.util.TokenBucket
//           (newLeakyBucket: a WindowedAdder of 10 slices plus a constant reserve); Finagle blog, "Retry budgets" (2016).

/** `n` original requests at `now`. */
function deposits(state: RetryBudgetState, now: number, n: number): RetryBudgetState {
  let s = state;
  for (let i = 0; i < n; i++) s = deposit(s, now);
  return s;
}

/** Withdraws at `now` until refused; returns how many were allowed and the final state. */
function drain(state: RetryBudgetState, now: number): { allowed: number; state: RetryBudgetState } {
  let s = state;
  let allowed = 0;
  for (;;) {
    const w = tryWithdraw(s, now);
    if (!w.allowed) return { allowed, state: w.state };
    allowed++;
    s = w.state;
  }
}

const percentOnly = (percentCanRetry: number): Partial<RetryBudgetConfig> => ({ minRetriesPerSecond: 0, percentCanRetry });

describe("configuration", () => {
  test("[Finagle] the defaults are RetryBudget(): ttl 10 s, 10 retries per second, 20 %", () => {
    expect(createRetryBudget().config).toEqual({ ttlMs: 10_000, minRetriesPerSecond: 10, percentCanRetry: 0.2, buckets: 10 });
    expect(DEFAULT_RETRY_BUDGET_CONFIG.buckets).toBe(10);
  });

  test.each<[Partial<RetryBudgetConfig>]>([
    [{ ttlMs: 999 }],
    [{ ttlMs: 60_001 }],
    [{ ttlMs: Number.NaN }],
    [{ minRetriesPerSecond: -1 }],
    [{ minRetriesPerSecond: Number.POSITIVE_INFINITY }],
    [{ percentCanRetry: -0.1 }],
    [{ percentCanRetry: 1_000.5 }],
    [{ buckets: 0 }],
    [{ buckets: 2.5 }],
  ])("[Finagle] %j is refused with a RangeError", (config) => {
    expect(() => createRetryBudget(config)).toThrow(RangeError);
  });

  test("[Finagle] the bounds themselves are accepted: ttl 1 s and 60 s, percentCanRetry 0 and 1000", () => {
    for (const config of [{ ttlMs: 1_000 }, { ttlMs: 60_000 }, { percentCanRetry: 0 }, { percentCanRetry: 1_000 }]) {
      expect(() => createRetryBudget(config)).not.toThrow();
    }
  });

  test("a non-finite clock reading is refused rather than poisoning the window", () => {
    const s = createRetryBudget();
    expect(() => deposit(s, Number.NaN)).toThrow(RangeError);
    expect(() => tryWithdraw(s, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => available(s, Number.NaN)).toThrow(RangeError);
  });
});

describe("the reserve (minRetriesPerSecond)", () => {
  test("[Finagle] with no traffic at all, minRetriesPerSecond × ttl retries are allowed: 10/s × 10 s = 100", () => {
    const s = createRetryBudget();
    expect(available(s, 0)).toBe(100);
    expect(drain(s, 0).allowed).toBe(100);
  });

  test("[Finagle] the reserve scales with the ttl (5/s over 2 s is 10)", () => {
    expect(drain(createRetryBudget({ ttlMs: 2_000, minRetriesPerSecond: 5, percentCanRetry: 0 }), 0).allowed).toBe(10);
  });

  test("a fractional rate gives whole retries only (0.5/s over 5 s is 2.5, so 2)", () => {
    expect(drain(createRetryBudget({ ttlMs: 5_000, minRetriesPerSecond: 0.5, percentCanRetry: 0 }), 0).allowed).toBe(2);
  });

  test("[Finagle] minRetriesPerSecond 0 and percentCanRetry 0 is the Empty budget: never a retry", () => {
    let s = createRetryBudget({ minRetriesPerSecond: 0, percentCanRetry: 0 });
    s = deposits(s, 0, 1_000);
    expect(available(s, 0)).toBe(0);
    expect(tryWithdraw(s, 0).allowed).toBe(false);
  });
});

describe("the percentage (percentCanRetry)", () => {
  test("[Finagle] 0.1: for every 10 deposits, 1 retry", () => {
    const s = deposits(createRetryBudget(percentOnly(0.1)), 0, 10);
    expect(drain(s, 0).allowed).toBe(1);
    expect(drain(deposits(s, 0, 19), 0).allowed).toBe(2);
  });

  test("[Finagle] a retry needs a whole retry's worth of credit: at 20 %, 4 requests allow none, 5 allow one", () => {
    const s = createRetryBudget(percentOnly(0.2));
    expect(tryWithdraw(deposits(s, 0, 4), 0).allowed).toBe(false);
    expect(tryWithdraw(deposits(s, 0, 5), 0).allowed).toBe(true);
  });

  test("[Finagle] 2.0: every deposit allows two retries", () => {
    expect(drain(deposits(createRetryBudget(percentOnly(2)), 0, 3), 0).allowed).toBe(6);
  });

  test("the reserve and the percentage add up: 10/s × 10 s + 20 % of 500 = 200", () => {
    const s = deposits(createRetryBudget(), 0, 500);
    expect(available(s, 0)).toBe(200);
    expect(drain(s, 0).allowed).toBe(200);
  });

  test.each([[0.29, 100, 29], [0.07, 100, 7], [0.3, 10, 3], [0.1, 30, 3]])(
    "floating-point error does not cost a retry: %s × %s requests allows %s",
    (percentCanRetry, requests, expected) => {
      expect(drain(deposits(createRetryBudget(percentOnly(percentCanRetry)), 0, requests), 0).allowed).toBe(expected);
    },
  );

  test("retries already made count against the budget, and deposits made later replenish it", () => {
    let s = deposits(createRetryBudget(percentOnly(0.5)), 0, 4);
    const first = drain(s, 0);
    expect(first.allowed).toBe(2);
    s = deposits(first.state, 100, 2);
    expect(available(s, 100)).toBe(1);
  });
});

describe("the sliding window (ttl)", () => {
  test("[Finagle] deposits expire after the ttl: the allowance falls back to the reserve", () => {
    let s = deposits(createRetryBudget(), 0, 1_000);
    expect(available(s, 0)).toBe(300);
    expect(available(s, 9_999)).toBe(300);
    expect(available(s, 10_000)).toBe(100);
    s = deposit(s, 10_000);
    expect(budgetWindow(s, 10_000)).toEqual({ requests: 1, retries: 0 });
  });

  test("[Finagle] withdrawals expire too: an exhausted budget is whole again a ttl later", () => {
    const exhausted = drain(createRetryBudget({ minRetriesPerSecond: 1, percentCanRetry: 0 }), 500).state;
    expect(available(exhausted, 500)).toBe(0);
    expect(available(exhausted, 9_999)).toBe(0);
    expect(available(exhausted, 10_000)).toBe(10);
    expect(tryWithdraw(exhausted, 10_000).allowed).toBe(true);
  });

  test("an event leaves the window with its whole bucket (ttl / 10 = 1 s): one at 999 ms is gone at 10 000 ms, one at 1 000 ms at 11 000 ms", () => {
    let s = createRetryBudget(percentOnly(1));
    s = deposit(s, 999);
    s = deposit(s, 1_000);
    expect(budgetWindow(s, 9_999).requests).toBe(2);
    expect(budgetWindow(s, 10_000).requests).toBe(1);
    expect(budgetWindow(s, 10_999).requests).toBe(1);
    expect(budgetWindow(s, 11_000).requests).toBe(0);
  });

  test("the window slides bucket by bucket under steady traffic", () => {
    let s = createRetryBudget(percentOnly(1));
    for (let t = 0; t < 20_000; t += 100) s = deposit(s, t);
    // Ten requests per 1 s bucket; at 19 999 ms the buckets of seconds 10..19 are live.
    expect(budgetWindow(s, 19_999).requests).toBe(100);
    // At 24 999 ms seconds 15..24 are live (15..19 hold traffic); at 25 000 ms second 15 leaves.
    expect(budgetWindow(s, 24_999).requests).toBe(50);
    expect(budgetWindow(s, 25_000).requests).toBe(40);
  });

  test("a silence longer than many windows clears everything", () => {
    const s = drain(deposits(createRetryBudget(), 0, 100), 0).state;
    expect(budgetWindow(s, 1_000_000)).toEqual({ requests: 0, retries: 0 });
    expect(available(s, 1_000_000)).toBe(100);
  });

  test("a clock reading behind the newest bucket counts in the newest bucket (the window never moves backwards)", () => {
    let s = deposit(createRetryBudget(percentOnly(1)), 5_000);
    s = deposit(s, 1_000);
    expect(budgetWindow(s, 5_000).requests).toBe(2);
    // Both leave together, with the newest bucket (epoch 5).
    expect(budgetWindow(s, 14_999).requests).toBe(2);
    expect(budgetWindow(s, 15_000).requests).toBe(0);
  });

  test("negative clock readings work like any other (epochs below zero map into the ring)", () => {
    let s = deposit(createRetryBudget(percentOnly(1)), -2_500);
    expect(budgetWindow(s, -2_500).requests).toBe(1);
    s = deposit(s, 500);
    expect(budgetWindow(s, 500).requests).toBe(2);
    expect(budgetWindow(s, 7_000).requests).toBe(1);
  });

  test("in a retry storm, no ttl-long window ever holds more retries than reserve + percentage of its requests", () => {
    // 100 requests per second for 60 s, every one of which fails and asks for a retry.
    let s = createRetryBudget();
    const events: { t: number; retry: boolean }[] = [];
    for (let t = 0; t < 60_000; t += 10) {
      s = deposit(s, t);
      events.push({ t, retry: false });
      const w = tryWithdraw(s, t);
      s = w.state;
      if (w.allowed) events.push({ t, retry: true });
    }
    for (let start = 0; start <= 50_000; start += 1_000) {
      const inWindow = events.filter((e) => e.t >= start && e.t < start + 10_000);
      const retries = inWindow.filter((e) => e.retry).length;
      const requests = inWindow.length - retries;
      expect(retries).toBeLessThanOrEqual(100 + 0.2 * requests);
    }
    // And in the steady state it does spend the budget: about 10/s + 20 % of 100/s = 30/s.
    const lastWindowRetries = events.filter((e) => e.retry && e.t >= 50_000).length;
    expect(lastWindowRetries).toBeGreaterThan(250);
  });
});

describe("a plain value", () => {
  test("deposit and tryWithdraw return new states and leave their input untouched", () => {
    const s0 = createRetryBudget();
    const before = JSON.stringify(s0);
    const s1 = deposit(s0, 0);
    tryWithdraw(s1, 0);
    expect(JSON.stringify(s0)).toBe(before);
    expect(budgetWindow(s1, 0)).toEqual({ requests: 1, retries: 0 });
  });

  test("[Finagle] a refused withdrawal leaves the balance untouched", () => {
    const s = drain(createRetryBudget({ minRetriesPerSecond: 1, percentCanRetry: 0 }), 0).state;
    const refused = tryWithdraw(s, 0);
    expect(refused.allowed).toBe(false);
    expect(refused.state).toBe(s);
  });

  test("available(state, now) is exactly the number of retries tryWithdraw then allows", () => {
    let s = createRetryBudget({ minRetriesPerSecond: 3, percentCanRetry: 0.35 });
    for (let t = 0; t < 30_000; t += 731) {
      s = deposits(s, t, (t / 731) % 7);
      if ((t / 731) % 3 === 0) {
        const expected = available(s, t);
        const drained = drain(s, t);
        expect(drained.allowed).toBe(expected);
        s = drained.state;
      }
    }
  });

  test("the state survives a JSON round trip (it is what a Durable Object would store)", () => {
    const s = drain(deposits(createRetryBudget(), 1_234, 50), 2_000).state;
    const copy = JSON.parse(JSON.stringify(s)) as RetryBudgetState;
    expect(copy).toEqual(s);
    expect(available(copy, 5_000)).toBe(available(s, 5_000));
  });
});
