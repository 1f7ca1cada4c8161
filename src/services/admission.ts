import { canMeetDeadline, createLimiter, currentLimit, onDrop, onSample, type AdmissionConfig, type LimiterState } from "../core/admission/limiter";

// Admission control in front of each Durable Object this isolate calls: an adaptive concurrency limit
// (src/core/admission/limiter.ts), a bounded FIFO queue, and shedding when a call's deadline cannot be
// met. Per isolate, like the breakers (do-guard.ts): the queue is this isolate's own, so its length is
// exactly the delay this isolate adds, and waiting in it is never blamed on the object (the call's
// timeout starts once it is admitted).

import { HttpError } from "../http/errors";

export type { AdmissionConfig } from "../core/admission/limiter";

export const DEFAULT_ADMISSION: AdmissionConfig = { limiter: {}, maxQueue: 1000 };

export type ShedReason = "queue_full" | "deadline" | "front_door";

/** A call refused before it was made: the object is busy (in this isolate) and the caller's deadline cannot be met. */
export class ShedError extends Error {
  constructor(
    readonly target: string,
    readonly reason: ShedReason,
    /** A hint for Retry-After: about one drain of the queue. */
    readonly retryAfterMs: number,
  ) {
    super(reason === "queue_full" ? `${target} is busy: its queue in this isolate is full` : `${target} is busy: the request's deadline would pass in its queue`);
    this.name = "ShedError";
  }
}

/** The HTTP answer to a shed call: 503 with Retry-After (whole seconds, at least 1). */
export function overloadedError(err: ShedError): HttpError {
  return new HttpError(503, "overloaded", `${err.message}; retry later`, { object: err.target, reason: err.reason }, { "Retry-After": String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
}

/**
 * A call waiting for a slot. Whoever frees a slot grants it by writing here; the waiter watches the
 * flag on its own timer. (In a Worker one request cannot settle another's promise: a promise's
 * fulfiller is an I/O object of the request that created it.)
 */
interface Waiter {
  deadlineAt: number;
  granted: boolean;
}

/** A waiting call looks at its flag after this long, doubling up to POLL_MAX_MS. */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 16;

interface Gate {
  limiter: LimiterState;
  /** Slots held: each until released, or until its holder's deadline plus a grace (a request cancelled mid-call never releases). */
  held: Map<object, number>;
  queue: Waiter[];
  shed: Record<ShedReason, number>;
  source: AdmissionConfig;
}

const gates = new Map<string, Gate>();
/** Called with (object, reason) each time a call is shed (metrics hook). */
let onShed: ((target: string, reason: ShedReason) => void) | null = null;

export function setShedListener(fn: ((target: string, reason: ShedReason) => void) | null): void {
  onShed = fn;
}

function gateFor(name: string, config: AdmissionConfig): Gate {
  let g = gates.get(name);
  if (g === undefined || (g.source !== config && JSON.stringify(g.source) !== JSON.stringify(config))) {
    g = { limiter: createLimiter(config.limiter), held: new Map(), queue: [], shed: { queue_full: 0, deadline: 0, front_door: 0 }, source: config };
    gates.set(name, g);
  }
  return g;
}

/** What a caller reports when its admitted call ends. */
export type CallOutcome = { kind: "answer"; rttMs: number } | { kind: "drop" } | { kind: "ignore" };

export interface Permit {
  release(outcome: CallOutcome): void;
}

function retryHint(g: Gate): number {
  const rtt = g.limiter.shortRttMs ?? 50;
  return Math.max(100, Math.ceil((g.queue.length / currentLimit(g.limiter) + 1) * rtt));
}

function shedNow(name: string, g: Gate, reason: ShedReason): ShedError {
  g.shed[reason]++;
  onShed?.(name, reason);
  return new ShedError(name, reason, retryHint(g));
}

/** How long past its deadline a slot is presumed abandoned (its request was cancelled before releasing it). */
const ABANDONED_AFTER_MS = 5_000;

/** Frees slots whose holders are presumed gone. */
function reclaim(g: Gate, now: number): void {
  for (const [holder, until] of g.held) if (until < now) g.held.delete(holder);
}

/** Grants free slots to queued calls in FIFO order; drops those whose deadline has passed. */
function pump(g: Gate, now: number): void {
  while (g.queue.length > 0 && g.held.size < currentLimit(g.limiter)) {
    const w = g.queue.shift()!;
    // An expired waiter is shed on its own timer (and counted there); it just leaves the line here.
    if (w.deadlineAt <= now) continue;
    g.held.set(w, w.deadlineAt + ABANDONED_AFTER_MS);
    w.granted = true;
  }
}

/** The slot `holder` holds (or will): released once, it feeds the outcome to the limiter and, with a queue, lets the next in. */
function permitFor(g: Gate, holder: Waiter, now: () => number, queued: boolean): Permit {
  let released = false;
  return {
    release(outcome) {
      if (released) return;
      released = true;
      const inflight = g.held.size;
      g.held.delete(holder);
      const t = now();
      if (outcome.kind === "answer") g.limiter = onSample(g.limiter, outcome.rttMs, inflight, t);
      else if (outcome.kind === "drop") g.limiter = onDrop(g.limiter, t);
      if (queued) pump(g, t);
    },
  };
}

/**
 * Waits for a slot to call `name`, in FIFO order, until `deadlineAt`. Refuses at once (ShedError)
 * when the queue is full or the wait would outlast the deadline, and drops a waiter whose deadline
 * passes in the queue. The permit must be released exactly once with the call's outcome.
 */
export function admit(name: string, deadlineAt: number, config: AdmissionConfig = DEFAULT_ADMISSION, now: () => number = Date.now): Promise<Permit> {
  const g = gateFor(name, config);
  const at = now();
  // This call's identity: its place in the queue, then its slot.
  const holder: Waiter = { deadlineAt, granted: false };
  const permit = permitFor(g, holder, now, true);
  if (g.held.size >= currentLimit(g.limiter)) reclaim(g, at);
  if (g.queue.length === 0 && g.held.size < currentLimit(g.limiter)) {
    g.held.set(holder, deadlineAt + ABANDONED_AFTER_MS);
    return Promise.resolve(permit);
  }
  if (g.queue.length >= config.maxQueue) return Promise.reject(shedNow(name, g, "queue_full"));
  if (!canMeetDeadline(g.limiter, g.queue.length, at, deadlineAt)) return Promise.reject(shedNow(name, g, "deadline"));
  const waiter = holder;
  g.queue.push(waiter);
  return (async () => {
    for (let poll = POLL_MIN_MS; ; poll = Math.min(poll * 2, POLL_MAX_MS)) {
      await sleep(Math.max(0, Math.min(poll, deadlineAt - now())));
      if (waiter.granted) return permit;
      const t = now();
      // A slot may have freed without a release to pass it on (the limit grew, a holder vanished): look again.
      reclaim(g, t);
      pump(g, t);
      if (waiter.granted) return permit;
      if (t >= deadlineAt) {
        // The caller has given up: it leaves the queue, and its call is never made.
        const i = g.queue.indexOf(waiter);
        if (i >= 0) g.queue.splice(i, 1);
        throw shedNow(name, g, "deadline");
      }
    }
  })();
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Enters `name` at once or not at all (no queue): the front door's gate for a whole request. A
 * refusal is counted as shed ("front_door"); the permit's release reports the request's latency,
 * which moves the limit through the limiter's latency target.
 */
export function tryEnter(name: string, config: AdmissionConfig, now: () => number = Date.now): Permit | null {
  const g = gateFor(name, config);
  const at = now();
  if (g.held.size >= currentLimit(g.limiter)) reclaim(g, at);
  if (g.held.size >= currentLimit(g.limiter)) {
    g.shed.front_door++;
    onShed?.(name, "front_door");
    return null;
  }
  const holder: Waiter = { deadlineAt: at + FRONT_DOOR_ABANDON_MS, granted: true };
  g.held.set(holder, holder.deadlineAt);
  return permitFor(g, holder, now, false);
}

/** A request that has not released its front-door slot after this long is presumed gone (cancelled). */
const FRONT_DOOR_ABANDON_MS = 60_000;

export interface AdmissionReport {
  name: string;
  limit: number;
  inflight: number;
  queued: number;
  shed: Record<ShedReason, number>;
  shortRttMs: number | null;
  longRttMs: number | null;
}

/** This isolate's admission state of every object it has called. */
export function admissionReport(): AdmissionReport[] {
  return [...gates].map(([name, g]) => ({
    name,
    limit: currentLimit(g.limiter),
    inflight: g.held.size,
    queued: g.queue.length,
    shed: { ...g.shed },
    shortRttMs: g.limiter.shortRttMs,
    longRttMs: g.limiter.longRttMs,
  }));
}

/** Forgets every gate (tests). Calls in flight keep their permits; releasing them is harmless. */
export function resetAdmission(): void {
  gates.clear();
}

/** The object's short-term latency average in this isolate, ms (null before any answer). */
export function admissionRttOf(name: string): number | null {
  return gates.get(name)?.limiter.shortRttMs ?? null;
}

/** The object's current concurrency limit in this isolate (null if it was never called). */
export function admissionLimitOf(name: string): number | null {
  const g = gates.get(name);
  return g === undefined ? null : currentLimit(g.limiter);
}
