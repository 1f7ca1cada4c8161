import { requireFinite, requireInt, requirePositive } from "../health/checks";

/**
 * A retry budget after Finagle's `RetryBudget` (com.twitter.finagle.service.RetryBudget, and the
 * Finagle blog post "Retry budgets", 2016): every original request deposits, every retry withdraws,
 * and deposits and withdrawals expire after `ttlMs`. A retry is allowed while
 *
 *   retries in the window + 1 <= minRetriesPerSecond · ttlMs / 1000 + percentCanRetry · requests in the window
 *
 * i.e. only when a whole retry's worth of credit is left: Finagle's token bucket admits a withdrawal
 * when its balance covers the withdrawal's cost. The first term is a reserve for a pool that has just
 * started or gets little traffic; the second caps retries at a share of the traffic, so a failing
 * upstream cannot turn every request into `attempts` requests (a retry storm).
 *
 * Finagle keeps the counts in a `WindowedAdder` of 10 slices; so does this, as a ring of buckets in a
 * plain JSON value. A bucket leaves the window whole, so an event counts for between ttl·(1 − 1/buckets)
 * and ttl. Finagle's integer scaling (a withdrawal costs ⌊1000 / percentCanRetry⌋ tokens) is replaced by
 * exact arithmetic with a 1e-9 tolerance, so that 29 % of 100 requests is 29 retries, not 28.
 *
 * Time: a reading behind the newest bucket (another isolate's clock, a reordered report) counts in the
 * newest bucket; the window never moves backwards.
 */

export interface RetryBudgetConfig {
  /** How long deposits and withdrawals count; Finagle requires 1 s..60 s. */
  ttlMs: number;
  /** Reserve of retries per second of ttl, whatever the traffic (Finagle: minRetriesPerSec). */
  minRetriesPerSecond: number;
  /** Retries allowed per original request in the window, 0..1000 (0.2: one retry per five requests). */
  percentCanRetry: number;
  /** Buckets the window is divided into (Finagle's WindowedAdder uses 10). */
  buckets: number;
}

/** Finagle's `RetryBudget()` defaults: 10 s, 10 retries per second, 20 %. */
export const DEFAULT_RETRY_BUDGET_CONFIG: Readonly<RetryBudgetConfig> = { ttlMs: 10_000, minRetriesPerSecond: 10, percentCanRetry: 0.2, buckets: 10 };

/** Absorbs floating-point error in percentCanRetry · requests (0.29 · 100 = 28.999999999999996). */
const TOLERANCE = 1e-9;

/** The budget's whole state: plain JSON. */
export interface RetryBudgetState {
  config: RetryBudgetConfig;
  /** Epoch (floor(now / bucketMs)) of the newest bucket written or read, null before the first event. */
  newestEpoch: number | null;
  /** Original requests per bucket, a ring indexed by epoch mod buckets. */
  requests: number[];
  /** Retries per bucket, same ring. */
  retries: number[];
}

export interface Withdrawal {
  allowed: boolean;
  state: RetryBudgetState;
}

function validateConfig(c: RetryBudgetConfig): void {
  requireFinite("ttlMs", c.ttlMs);
  if (c.ttlMs < 1_000 || c.ttlMs > 60_000) throw new RangeError(`ttlMs must be in [1000, 60000] (as Finagle's ttl), got ${c.ttlMs}`);
  requirePositive("minRetriesPerSecond", c.minRetriesPerSecond, true);
  requirePositive("percentCanRetry", c.percentCanRetry, true);
  if (c.percentCanRetry > 1_000) throw new RangeError(`percentCanRetry must be <= 1000, got ${c.percentCanRetry}`);
  requireInt("buckets", c.buckets, 1);
}

/** An empty budget. Throws RangeError on an invalid configuration. */
export function createRetryBudget(config: Partial<RetryBudgetConfig> = {}): RetryBudgetState {
  const full: RetryBudgetConfig = { ...DEFAULT_RETRY_BUDGET_CONFIG, ...config };
  validateConfig(full);
  return { config: full, newestEpoch: null, requests: new Array<number>(full.buckets).fill(0), retries: new Array<number>(full.buckets).fill(0) };
}

function epochOf(c: RetryBudgetConfig, now: number): number {
  return Math.floor(now / (c.ttlMs / c.buckets));
}

function slotOf(c: RetryBudgetConfig, epoch: number): number {
  return ((epoch % c.buckets) + c.buckets) % c.buckets;
}

/** The state with its window moved to `now`: buckets that left it are emptied (copies; the input is not changed). */
function advance(state: RetryBudgetState, now: number): RetryBudgetState {
  requireFinite("now", now);
  const c = state.config;
  const epoch = epochOf(c, now);
  if (state.newestEpoch !== null && epoch <= state.newestEpoch) return state;
  const requests = [...state.requests];
  const retries = [...state.retries];
  // Only the buckets between the old newest and the new one are stale, and at most all of them.
  const from = state.newestEpoch === null ? epoch - c.buckets + 1 : Math.max(state.newestEpoch + 1, epoch - c.buckets + 1);
  for (let e = from; e <= epoch; e++) {
    requests[slotOf(c, e)] = 0;
    retries[slotOf(c, e)] = 0;
  }
  return { ...state, newestEpoch: epoch, requests, retries };
}

function sum(xs: readonly number[]): number {
  let total = 0;
  for (const x of xs) total += x;
  return total;
}

/** Requests and retries in the window at `now`. */
export function budgetWindow(state: RetryBudgetState, now: number): { requests: number; retries: number } {
  const s = advance(state, now);
  return { requests: sum(s.requests), retries: sum(s.retries) };
}

/** Retries the budget allows at `now` (Finagle's `balance`): whole retries, never negative. */
export function available(state: RetryBudgetState, now: number): number {
  const c = state.config;
  const { requests, retries } = budgetWindow(state, now);
  const allowance = (c.minRetriesPerSecond * c.ttlMs) / 1_000 + c.percentCanRetry * requests;
  return Math.max(0, Math.floor(allowance - retries + TOLERANCE));
}

/** Records one original request (not a retry) at `now`. */
export function deposit(state: RetryBudgetState, now: number): RetryBudgetState {
  const s = advance(state, now);
  const requests = s === state ? [...s.requests] : s.requests;
  const slot = slotOf(s.config, s.newestEpoch ?? 0);
  requests[slot] = (requests[slot] ?? 0) + 1;
  return { ...s, requests };
}

/** Asks for one retry at `now`: allowed and recorded while the budget has one; refused and unrecorded otherwise. */
export function tryWithdraw(state: RetryBudgetState, now: number): Withdrawal {
  if (available(state, now) < 1) return { allowed: false, state };
  const s = advance(state, now);
  const retries = s === state ? [...s.retries] : s.retries;
  const slot = slotOf(s.config, s.newestEpoch ?? 0);
  retries[slot] = (retries[slot] ?? 0) + 1;
  return { allowed: true, state: { ...s, retries } };
}
