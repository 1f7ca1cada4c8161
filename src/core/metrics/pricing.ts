// What a measured usage costs on Cloudflare's Workers Free and Paid plans. Pure arithmetic over a
// price table; the table is data, with its source, so a price change is a one-place edit.

/** The billed quantities, per day. */
export interface DailyUsage {
  /** Durable Object requests: RPC method calls on stubs, alarm invocations (HTTP/WebSocket requests too, unused here). */
  doRequests: number;
  /** Durable Object duration: active seconds × the 128 MB every object is billed for. */
  gbSeconds: number;
  /** SQLite rows read (SQL and the KV-style API alike). */
  rowsRead: number;
  /** SQLite rows written (index rows, deletes and each setAlarm() included). */
  rowsWritten: number;
  /** Requests to the Worker itself (the front door). */
  workerRequests: number;
}

export type UsageItem = keyof DailyUsage;

export const USAGE_ITEMS: readonly UsageItem[] = ["doRequests", "gbSeconds", "rowsRead", "rowsWritten", "workerRequests"];

export const ITEM_LABEL: Record<UsageItem, string> = {
  doRequests: "Durable Object requests",
  gbSeconds: "Durable Object duration (GB-s)",
  rowsRead: "SQLite rows read",
  rowsWritten: "SQLite rows written",
  workerRequests: "Worker requests",
};

export interface Allowance {
  /** Included per month on the Paid plan. */
  includedPerMonth: number;
  /** USD per million past what is included. */
  usdPerMillion: number;
}

export interface PriceTable {
  sources: readonly string[];
  /** When the sources were read (ISO date). */
  readOn: string;
  /** Duration bills each object for 128 MB, whatever it uses: 128 MB / 1 GB, as the pricing page's own examples compute it. */
  gbPerObject: number;
  /** The pricing page's examples count a month as 30 days. */
  daysPerMonth: number;
  /** Workers Free: per-day limits; past one, "further operations of that type will fail with an error" until 00:00 UTC. */
  freePerDay: Record<UsageItem, number>;
  /** Workers Paid: the monthly subscription, then usage past each allowance. */
  paidBaseUsdPerMonth: number;
  paid: Record<UsageItem, Allowance>;
}

/** Cloudflare's published prices (Durable Objects and Workers pricing pages, SQLite storage backend, standard usage model). */
export const CLOUDFLARE_PRICES: PriceTable = {
  sources: [
    "https://developers.cloudflare.com/durable-objects/platform/pricing/ (compute and SQLite storage billing)",
    "https://developers.cloudflare.com/workers/platform/pricing/ (Worker requests; Workers Free 100,000 requests/day)",
  ],
  readOn: "2026-12-07",
  gbPerObject: 0.128,
  daysPerMonth: 30,
  freePerDay: { doRequests: 100_000, gbSeconds: 13_000, rowsRead: 5_000_000, rowsWritten: 100_000, workerRequests: 100_000 },
  paidBaseUsdPerMonth: 5,
  paid: {
    doRequests: { includedPerMonth: 1_000_000, usdPerMillion: 0.15 },
    gbSeconds: { includedPerMonth: 400_000, usdPerMillion: 12.5 },
    rowsRead: { includedPerMonth: 25_000_000_000, usdPerMillion: 0.001 },
    rowsWritten: { includedPerMonth: 50_000_000, usdPerMillion: 1 },
    workerRequests: { includedPerMonth: 10_000_000, usdPerMillion: 0.3 },
  },
};

const SECONDS_PER_DAY = 86_400;

/** A count seen over `seconds`, as a daily rate. */
export function perDay(count: number, seconds: number): number {
  if (!(seconds > 0)) throw new Error(`perDay: the window must be positive (got ${seconds} s)`);
  return (count * SECONDS_PER_DAY) / seconds;
}

/** GB-s of duration for `activeSeconds` of object activity. */
export function gbSecondsOf(activeSeconds: number, table: PriceTable = CLOUDFLARE_PRICES): number {
  return activeSeconds * table.gbPerObject;
}

export interface FreeLine {
  item: UsageItem;
  perDay: number;
  limitPerDay: number;
  /** perDay / limitPerDay. */
  share: number;
  /** Hours into a UTC day after which operations of this type fail; null when the day's use fits. */
  failsAfterHours: number | null;
}

export interface FreeVerdict {
  lines: FreeLine[];
  fits: boolean;
  /** The first limit reached and when, when one is. */
  firstLimit: { item: UsageItem; afterHours: number } | null;
}

/** Whether a day's usage fits the Workers Free plan, and if not, which limit ends the day's service first. */
export function freePlan(usage: DailyUsage, table: PriceTable = CLOUDFLARE_PRICES): FreeVerdict {
  const lines = USAGE_ITEMS.map((item): FreeLine => {
    const limitPerDay = table.freePerDay[item];
    const used = usage[item];
    const share = used / limitPerDay;
    return { item, perDay: used, limitPerDay, share, failsAfterHours: share > 1 ? (24 * limitPerDay) / used : null };
  });
  let firstLimit: FreeVerdict["firstLimit"] = null;
  for (const l of lines) if (l.failsAfterHours !== null && (firstLimit === null || l.failsAfterHours < firstLimit.afterHours)) firstLimit = { item: l.item, afterHours: l.failsAfterHours };
  return { lines, fits: firstLimit === null, firstLimit };
}

export interface PaidLine {
  item: UsageItem;
  perMonth: number;
  includedPerMonth: number;
  billable: number;
  usd: number;
}

export interface PaidBill {
  lines: PaidLine[];
  /** Usage charges past the allowances. */
  usageUsd: number;
  /** The subscription plus the usage charges. */
  totalUsd: number;
}

/** The monthly bill on the Workers Paid plan for a day's usage sustained for a month. */
export function paidPlan(usage: DailyUsage, table: PriceTable = CLOUDFLARE_PRICES): PaidBill {
  const lines = USAGE_ITEMS.map((item): PaidLine => {
    const { includedPerMonth, usdPerMillion } = table.paid[item];
    const perMonth = usage[item] * table.daysPerMonth;
    const billable = Math.max(0, perMonth - includedPerMonth);
    return { item, perMonth, includedPerMonth, billable, usd: (billable / 1_000_000) * usdPerMillion };
  });
  const usageUsd = lines.reduce((a, l) => a + l.usd, 0);
  return { lines, usageUsd, totalUsd: table.paidBaseUsdPerMonth + usageUsd };
}
