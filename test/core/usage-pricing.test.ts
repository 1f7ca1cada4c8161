// The arithmetic behind `npm run cost` and dc_usage_active_seconds_total: activity counted the way
// Cloudflare bills duration, and the Free/Paid plan figures of the Durable Objects pricing page.
import { describe, expect, it } from "vitest";
import { CLOUDFLARE_PRICES, freePlan, gbSecondsOf, paidPlan, perDay, type DailyUsage } from "../../src/core/metrics/pricing";
import { ActiveTime, keyCount, listRowCount, putRowCount } from "../../src/core/metrics/usage";

const none: DailyUsage = { doRequests: 0, gbSeconds: 0, rowsRead: 0, rowsWritten: 0, workerRequests: 0 };

describe("active time (duration is wall-clock, shared by the events in flight on one object)", () => {
  it("overlapping events on one object count once; different objects add up", () => {
    const t = new ActiveTime();
    t.enter("cache", "a", 0);
    t.enter("cache", "a", 10); // a second call while the first is in flight
    t.leave("a", 30);
    t.leave("a", 50); // the object was active 0..50
    t.enter("cache", "b", 20);
    t.leave("b", 25);
    t.enter("raft", "r", 0);
    t.leave("r", 7);
    expect(t.totals(100)).toEqual({ cache: 55, raft: 7 });
  });

  it("an interval still open is counted up to the read, and not again at the next read", () => {
    const t = new ActiveTime();
    t.enter("txn", "x", 1_000);
    expect(t.totals(1_400)).toEqual({ txn: 400 });
    expect(t.activeObjects()).toBe(1);
    t.leave("x", 1_500);
    expect(t.totals(2_000)).toEqual({ txn: 500 });
    expect(t.activeObjects()).toBe(0);
  });

  it("a leave without an enter, or a clock that stepped back, adds nothing", () => {
    const t = new ActiveTime();
    t.leave("ghost", 10);
    t.enter("job", "j", 100);
    t.leave("j", 90);
    expect(t.totals(200)).toEqual({});
  });
});

describe("rows of the KV-style storage API (billed as rows on the SQLite backend)", () => {
  it("one row per key named, per entry put, per entry listed (at least one examined)", () => {
    expect(keyCount("k")).toBe(1);
    expect(keyCount(["a", "b", "c"])).toBe(3);
    expect(putRowCount("k")).toBe(1);
    expect(putRowCount({ a: 1, b: 2 })).toBe(2);
    expect(listRowCount(new Map([["a", 1], ["b", 2]]))).toBe(2);
    expect(listRowCount(new Map())).toBe(1);
  });
});

describe("pricing (Cloudflare Durable Objects and Workers pricing pages)", () => {
  it("scales a window's count to a day", () => {
    expect(perDay(100, 60)).toBe(144_000);
    expect(() => perDay(1, 0)).toThrow();
  });

  it("bills each active object for 128 MB: 1,000,000 s is 128,000 GB-s (the pricing page's example 1)", () => {
    expect(gbSecondsOf(1_000_000)).toBe(128_000);
  });

  it("example 3 of the pricing page: 100 objects awake all month cost 33,177,600 GB-s, 32,777,600 of them billable", () => {
    const seconds = 100 * 86_400 * 30;
    const bill = paidPlan({ ...none, gbSeconds: gbSecondsOf(seconds) / 30 });
    const line = bill.lines.find((l) => l.item === "gbSeconds")!;
    expect(line.perMonth).toBeCloseTo(33_177_600, 3);
    expect(line.billable).toBeCloseTo(32_777_600, 3);
    expect(line.usd).toBeCloseTo(409.72, 2);
    expect(bill.totalUsd).toBeCloseTo(5 + 409.72, 2);
  });

  it("issue 15's figure: ~180 heartbeat requests/s exhaust the Free plan's 100,000/day in about 9 minutes and cost ~$70/month on Paid", () => {
    const usage = { ...none, doRequests: perDay(180, 1) };
    const free = freePlan(usage);
    expect(free.fits).toBe(false);
    expect(free.firstLimit?.item).toBe("doRequests");
    expect(free.firstLimit!.afterHours * 60).toBeCloseTo(9.26, 2);
    const paid = paidPlan(usage);
    expect(paid.lines.find((l) => l.item === "doRequests")!.usd).toBeCloseTo((180 * 86_400 * 30 - 1_000_000) * 0.15e-6, 6);
    expect(paid.usageUsd).toBeCloseTo(69.83, 2);
  });

  it("usage within every allowance fits the Free plan and costs the Paid plan's subscription only", () => {
    // 30,000 requests/day is 900,000 a month: under the Paid plan's 1 million (less than Free's 100,000/day).
    const usage: DailyUsage = { doRequests: 30_000, gbSeconds: 1_000, rowsRead: 1_000_000, rowsWritten: 10_000, workerRequests: 20_000 };
    const free = freePlan(usage);
    expect(free.fits).toBe(true);
    expect(free.firstLimit).toBeNull();
    expect(free.lines.every((l) => l.failsAfterHours === null)).toBe(true);
    expect(paidPlan(usage).totalUsd).toBe(CLOUDFLARE_PRICES.paidBaseUsdPerMonth);
  });

  it("the first Free limit reached is the one that ends the day's service soonest", () => {
    // Rows written at 4x the limit fail after 6 h; requests at 2x after 12 h.
    const free = freePlan({ ...none, doRequests: 200_000, rowsWritten: 400_000 });
    expect(free.firstLimit).toEqual({ item: "rowsWritten", afterHours: 6 });
  });
});
