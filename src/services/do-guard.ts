import { createBreaker, onFailure, onSuccess, retryAfterMs, statusAt, tryAcquire, type BreakerConfig, type BreakerState, type BreakerStatus } from "../core/health/circuit-breaker";
import { admissionLimitOf, admissionRttOf, admit, DEFAULT_ADMISSION, type AdmissionConfig, type CallOutcome } from "./admission";

// Guards the worker's own calls to Durable Objects (cache shards, Raft nodes) with the load balancer's
// breaker and a timeout, so a sick object fails fast instead of stalling every request that touches it.
//
// The breakers live in this module's memory: one registry per isolate. Isolates share no memory, so
// each learns on its own that an object is sick (after `consecutiveFailures` of its own calls) and
// probes it on its own when the open time is up. That is acceptable here, unlike for the load
// balancer's upstreams, whose breaker state the UpstreamPool object shares: the thing protected is
// the Durable Object itself, so there is no other object to hold shared state that would not be one
// more round trip on every call, and the cost of learning alone is a few slow calls per isolate.
// The registry holds one small entry per object name (shards and Raft members: bounded by the config).

/** A call refused at once because the object's breaker is open (or its half-open probe is taken). */
export class CircuitOpenError extends Error {
  constructor(
    readonly target: string,
    /** When this isolate will let a call through again (a probe), from now. */
    readonly retryAfterMs: number,
  ) {
    super(`circuit open for ${target}: not called (retry in ${retryAfterMs} ms)`);
    this.name = "CircuitOpenError";
  }
}

export class TimeoutError extends Error {
  constructor(
    ms: number,
    /** How late the timeout's own timer fired: this isolate's event loop was that far behind. */
    readonly lateByMs = 0,
  ) {
    super(`no reply within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/**
 * Rejects with TimeoutError if `p` has not settled in `ms`; the timer never outlives the call. A `p`
 * that loses the race still settles later, maybe after its request has ended (then workerd rejects
 * it for touching a finished request's I/O): its outcome is nobody's any more, so it is consumed
 * here rather than reported as an unhandled rejection.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, now: () => number = Date.now): Promise<T> {
  p.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const due = now() + ms;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms, Math.max(0, now() - due))), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An error a caller raises after the object answered, to report what the answer means (a replica
 * holds a newer version, a key is locked): the object is healthy, so it never counts as a failure.
 */
export class ObjectAnswerError extends Error {}

/** How one call's outcome counts for the object's breaker. */
export type Verdict = "failure" | "answer";

/** The properties workerd sets on an error that crossed a Durable Object call. */
interface DurableObjectErrorFlags {
  remote?: unknown;
  retryable?: unknown;
  overloaded?: unknown;
  durableObjectReset?: unknown;
}

/**
 * Whether an error from a call says the object is sick. Failures: no reply in time (TimeoutError);
 * the runtime's own errors about the object (`retryable`: the connection was lost or the object could
 * not be reached; `overloaded`; `durableObjectReset`: it was reset or broke, e.g. ctx.abort()); and an
 * exception thrown by the object's own code (`remote`), because the objects guarded here give every
 * application answer as a return value (`{ applied: false }`, `{ ok: false, reason }`, `locked`), so a
 * throw means the object could not serve the call (storage failure, an injected "down" fault). A
 * caller whose object throws on purpose passes `isAnswer` to say which throws are answers.
 * Answers: everything else. Errors marked ObjectAnswerError, and any error without the runtime's flags,
 * were raised in this isolate (interpreting a reply, serializing arguments, a bug of ours): the object
 * is not to blame, and a caller's mistake must never look like a sick object.
 */
export function classify(err: unknown, isAnswer?: (err: unknown) => boolean): Verdict {
  if (err instanceof TimeoutError) return "failure";
  if (err instanceof ObjectAnswerError) return "answer";
  if (isAnswer?.(err)) return "answer";
  if (typeof err === "object" && err !== null) {
    const flags = err as DurableObjectErrorFlags;
    if (flags.retryable === true || flags.overloaded === true || flags.durableObjectReset === true || flags.remote === true) return "failure";
  }
  return "answer";
}

export interface GuardOptions {
  /** The breaker's configuration (config.ts: `doBreaker`); the core's defaults otherwise. */
  breaker?: Partial<BreakerConfig>;
  /** Admission control in front of the object (config.ts: `admission`); the defaults otherwise. */
  admission?: AdmissionConfig;
  /** Throws of the object's own code that are application answers, not sickness (see `classify`). */
  isAnswer?: (err: unknown) => boolean;
  /**
   * False when `timeoutMs` was cut short by the caller's deadline: then a timeout says nothing about
   * the object and is not counted against it (unless the call was a half-open probe, which must end).
   */
  timeoutIsFull?: boolean;
  /** When the caller gives up (epoch ms): a call still queued for admission then is shed, not made. Default: now + timeoutMs. */
  deadlineAt?: number;
  now?: () => number;
}

interface Guard {
  state: BreakerState;
  /** The options object the breaker was made from: a different one (another config) starts afresh. */
  source: Partial<BreakerConfig> | undefined;
  /** This isolate's calls to the object now in flight (admitted, not yet settled). */
  inflight: number;
}

const guards = new Map<string, Guard>();
/** Called with the object's name each time its breaker opens (metrics hook). */
let onOpen: ((name: string) => void) | null = null;

export function setBreakerOpenListener(fn: ((name: string) => void) | null): void {
  onOpen = fn;
}

function guardFor(name: string, breaker: Partial<BreakerConfig> | undefined): Guard {
  let g = guards.get(name);
  if (g === undefined || (g.source !== breaker && JSON.stringify(g.source) !== JSON.stringify(breaker))) {
    g = { state: createBreaker(breaker), source: breaker, inflight: 0 };
    guards.set(name, g);
  }
  return g;
}

/**
 * Calls `fn` (one call to the object `name`, e.g. "cache/shard-3" or "raft/main/n2") behind the
 * object's breaker and admission control, under a timeout. An open breaker refuses at once with
 * CircuitOpenError, without calling. Then the call waits for a slot of the object's adaptive
 * concurrency limit (admission.ts), or is shed with ShedError when its deadline cannot be met; the
 * timeout starts only once it is admitted, so time spent queueing in this isolate is never the
 * object's. The outcome is recorded: a failure (see `classify`) counts against the object, anything
 * else for it; then the reply or the error is passed on unchanged.
 *
 * Overload is not failure: a timeout counts against the breaker only when this isolate was not
 * loading the object (fewer than half its concurrency limit of this isolate's calls in flight when
 * the call was sent), its recent answers were not already slow (a queue building up in it), no other
 * object's calls timed out lately, and the timeout's own timer fired on time (a congested event loop
 * delays everyone, and its timers): a timeout under load is a signal for the limiter (which backs off), not proof that the
 * object is sick. A hung object is still found out, by the calls that reach it while nothing else is slow.
 */
export async function guardedCall<T>(name: string, timeoutMs: number, fn: () => Promise<T>, options: GuardOptions = {}): Promise<T> {
  const now = options.now ?? Date.now;
  const guard = guardFor(name, options.breaker);
  const start = now();
  // An open breaker refuses before queueing: waiting for a slot of an object we will not call is pointless.
  if (guard.state.status === "open" && statusAt(guard.state, start) === "open") throw new CircuitOpenError(name, retryAfterMs(guard.state, start));
  const deadlineAt = options.deadlineAt ?? start + timeoutMs;
  const permit = await admit(name, deadlineAt, options.admission ?? DEFAULT_ADMISSION, now);
  const at = now();
  const g0 = guards.get(name) ?? guard;
  const acquired = tryAcquire(g0.state, at);
  g0.state = acquired.state;
  if (!acquired.allowed) {
    permit.release({ kind: "ignore" });
    throw new CircuitOpenError(name, retryAfterMs(acquired.state, at));
  }
  const loadedByUs = g0.inflight >= Math.max(1, permitLimitHalf(name));
  g0.inflight++;
  const record = (verdict: Verdict, reason?: unknown) => {
    // The state may have moved on while the call ran (other calls' outcomes): apply to the current one.
    const g = guards.get(name) ?? guard;
    const before = g.state.status;
    g.state = verdict === "failure" ? onFailure(g.state, now(), acquired.probe) : onSuccess(g.state, now(), acquired.probe);
    if (before !== "open" && g.state.status === "open") {
      onOpen?.(name);
      // An opening fences an object off for every request of this isolate: say why, once.
      console.warn(JSON.stringify({ level: "warn", msg: "breaker opened", object: name, reason: reason instanceof Error ? reason.message : String(reason) }));
    }
  };
  // Never longer than the caller's deadline: the caller will not wait for more.
  const ms = Math.max(1, Math.min(timeoutMs, deadlineAt - at));
  let outcome: CallOutcome = { kind: "ignore" };
  try {
    const call = (async () => fn())();
    // A call that loses the race to its timeout still settles later: keep it from surfacing as unhandled.
    call.catch(() => undefined);
    const value = await withTimeout(call, ms, now);
    outcome = { kind: "answer", rttMs: now() - at };
    record("answer");
    return value;
  } catch (err) {
    if (err instanceof TimeoutError) {
      outcome = { kind: "drop" };
      const full = options.timeoutIsFull !== false && ms >= timeoutMs;
      const t = now();
      const elsewhere = timedOutElsewhere(name, t);
      lastTimeout.set(name, t);
      // The timeout's own timer fired late: this isolate's event loop was behind, so was the reply.
      const loopBehind = err.lateByMs > Math.max(LOOP_LAG_MS, ms / 10);
      // Its answers were already slowing down (a queue building up in it), rather than stopping at once.
      const slowingDown = (admissionRttOf(name) ?? 0) > ms / 2;
      if (acquired.probe || (full && !loadedByUs && !elsewhere && !loopBehind && !slowingDown)) record("failure", err);
    } else {
      const verdict = classify(err, options.isAnswer);
      if (verdict === "failure" && isOverloaded(err)) outcome = { kind: "drop" };
      else if (verdict === "answer") outcome = { kind: "answer", rttMs: now() - at };
      record(verdict, err);
    }
    throw err;
  } finally {
    g0.inflight--;
    permit.release(outcome);
  }
}

/** A timer firing later than this (or a tenth of its delay) says the event loop is congested. */
const LOOP_LAG_MS = 25;
/** When calls to each object last timed out in this isolate. */
const lastTimeout = new Map<string, number>();
/** Timeouts of other objects this recent say the isolate (or the process it shares) is congested. */
const CONGESTION_WINDOW_MS = 5_000;

/**
 * Whether calls to another object timed out lately: then this timeout is more likely the shared event
 * loop's delay than this object's, and it does not count against it (a lone slow object is still
 * caught: its timeouts are the only ones).
 */
function timedOutElsewhere(name: string, now: number): boolean {
  for (const [other, at] of lastTimeout) {
    if (now - at >= CONGESTION_WINDOW_MS) lastTimeout.delete(other);
    else if (other !== name) return true;
  }
  return false;
}

function isOverloaded(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as DurableObjectErrorFlags).overloaded === true;
}

/** Half of the object's current concurrency limit in this isolate (the "loaded by us" line). */
function permitLimitHalf(name: string): number {
  const limit = admissionLimitOf(name);
  return limit === null ? 1 : Math.floor(limit / 2);
}

export interface GuardReport {
  name: string;
  status: BreakerStatus;
  consecutiveFailures: number;
  retryAfterMs: number;
}

/** What this isolate's breaker thinks of one object now (closed if it was never called). */
export function guardStatus(name: string, now: number = Date.now()): GuardReport {
  const g = guards.get(name);
  if (g === undefined) return { name, status: "closed", consecutiveFailures: 0, retryAfterMs: 0 };
  return { name, status: statusAt(g.state, now), consecutiveFailures: g.state.consecutiveFailures, retryAfterMs: retryAfterMs(g.state, now) };
}

/**
 * Forgets one object's breaker in this isolate: it is closed and empty again. For an operator who
 * knows better than the breaker (the admin route that heals an injected fault); other isolates still
 * find out through their own half-open probe.
 */
export function resetGuard(name: string): void {
  guards.delete(name);
}

/** Forgets every breaker of this isolate (tests). */
export function resetGuards(): void {
  guards.clear();
  lastTimeout.clear();
}

/** The registry name of a cache shard's breaker. */
export const shardGuardName = (shard: string): string => `cache/${shard}`;
/** The registry name of a Raft member's breaker. */
export const raftGuardName = (group: string, node: string): string => `raft/${group}/${node}`;
