/**
 * Whose fault is a failed try: the upstream's, or the request's? Passive detectors (outlier ejection,
 * the circuit breaker) judge an upstream by the answers to requests that clients choose, so without
 * this step a client can take a pool down by requesting a URL that fails (issue 16: five requests to
 * a path that answers 500 ejected the upstream and opened its breaker). Each reported try is judged
 * here first; only a try judged "failure" is counted against the upstream, "success" counts for it,
 * and "neutral" is left out of both (the detectors never see it).
 *
 * The rules, in order (the idea of Envoy's success-rate detector: an upstream is an outlier only when
 * it does worse than its peers on the same traffic, not when the traffic itself fails everywhere):
 *
 * 1. A non-gateway 5xx (500, 501, 505...) goes on to the path rules like a gateway-type failure (502,
 *    503, 504, a timeout), unless `countServerErrors` is off: then it is "success" (the upstream
 *    answered; the fault is taken to be the request's).
 * 2. A connect error says nothing about the path (nothing was asked yet): "failure". So does any
 *    failure reported without a path.
 * 3. The same path worked on another upstream within `windowMs` (its last try there succeeded; seen
 *    since the path was first seen failing): it works there and not here, the strongest evidence
 *    against this upstream: "failure". This comes first, so two sick upstreams of three are still
 *    blamed on a path the third serves.
 * 4. The same path failed on another upstream within `windowMs` (and works on none): the path is bad,
 *    not this upstream: "neutral".
 * 5. This upstream failed on at least `minFailingPaths` distinct paths within `windowMs`, and fewer
 *    than half of its peers failed on any path in that window (a flood of bad requests fails
 *    everywhere; a sick upstream fails alone): "failure".
 * 6. Otherwise not yet known: "neutral".
 *
 * What is remembered is bounded: at most MAX_TRACKED_PATHS paths (those that failed somewhere; a
 * success is remembered only for a path already tracked), the least recently touched forgotten first,
 * and per upstream its last MAX_RECENT_FAILURES failures. Plain JSON, a pure function of (state, event, now).
 */

export type BlameKind = "success" | "status-5xx" | "status-gateway" | "timeout" | "connect-error";
export type Verdict = "success" | "failure" | "neutral";

export interface BlameConfig {
  /** How long a failure or success on a path is remembered as evidence. */
  windowMs: number;
  /** Distinct failing paths an upstream needs (rule 5) before it is blamed without a comparison. */
  minFailingPaths: number;
  /** Judge non-gateway 5xx answers (500...) by the path rules (on by default); off: they count as successes (rule 1). */
  countServerErrors: boolean;
}

// countServerErrors on by default (changed after review): with it off a 500 counted as a success, so an
// upstream answering 500 on every path (its database gone) was never ejected even while its peers
// served the same paths. Through the path rules a 500 is as safe from client-chosen URLs as a 503.
export const DEFAULT_BLAME_CONFIG: Readonly<BlameConfig> = { windowMs: 30_000, minFailingPaths: 3, countServerErrors: true };

/** Paths remembered per pool (each is a few upstream ids and times). */
export const MAX_TRACKED_PATHS = 128;
/** Failures remembered per upstream, for rule 5. */
export const MAX_RECENT_FAILURES = 16;
/** Longer paths are cut to this many characters for the key (only equality matters). */
export const MAX_PATH_KEY = 200;

interface PathRecord {
  /** Upstream id -> when the last try of this path there failed (a path-type failure), if it did. */
  failed: Record<string, number>;
  /** Upstream id -> when the last try of this path there succeeded, if it did (only while the path is tracked). */
  succeeded: Record<string, number>;
  touched: number;
}

export interface BlameState {
  paths: Record<string, PathRecord>;
  /** Upstream id -> its last path-type failures, oldest first. */
  recent: Record<string, Array<{ path: string; at: number }>>;
}

export interface BlameEvent {
  upstream: string;
  /** The path below the pool (no query); undefined when unknown. */
  path: string | undefined;
  kind: BlameKind;
}

export function createBlame(): BlameState {
  return { paths: {}, recent: {} };
}

/** The key a path is remembered under. */
export function pathKey(path: string): string {
  return path.length <= MAX_PATH_KEY ? path : path.slice(0, MAX_PATH_KEY);
}

function own<T>(rec: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}

function othersWithin(times: Record<string, number>, self: string, since: number): boolean {
  return Object.entries(times).some(([id, at]) => id !== self && at >= since);
}

/**
 * Judges one try of `event.upstream` at `now`, in a pool whose upstreams are `poolIds`. Returns the
 * new state and the verdict the detectors should see.
 */
export function judge(state: BlameState, config: BlameConfig, event: BlameEvent, poolIds: readonly string[], now: number): { state: BlameState; verdict: Verdict } {
  const { upstream, kind } = event;
  const since = now - config.windowMs;
  const key = event.path === undefined ? undefined : pathKey(event.path);

  if (kind === "success") {
    const rec = key === undefined ? undefined : own(state.paths, key);
    if (key === undefined || rec === undefined) return { state, verdict: "success" };
    return { state: withPath(state, key, { failed: without(rec.failed, upstream), succeeded: { ...rec.succeeded, [upstream]: now }, touched: now }), verdict: "success" };
  }
  if (kind === "status-5xx" && !config.countServerErrors) return { state, verdict: "success" };
  if (kind === "connect-error" || key === undefined) return { state, verdict: "failure" };

  // A path-type failure: remembered on the path and on the upstream, then judged.
  const rec = own(state.paths, key) ?? { failed: {}, succeeded: {}, touched: now };
  const failedElsewhere = othersWithin(rec.failed, upstream, since);
  const workedElsewhere = othersWithin(rec.succeeded, upstream, since);
  const recent = [...(own(state.recent, upstream) ?? []).filter((f) => f.at >= since), { path: key, at: now }].slice(-MAX_RECENT_FAILURES);
  let next = withPath(state, key, { failed: { ...rec.failed, [upstream]: now }, succeeded: without(rec.succeeded, upstream), touched: now });
  next = { ...next, recent: { ...next.recent, [upstream]: recent } };

  let verdict: Verdict = "neutral";
  if (workedElsewhere) verdict = "failure";
  else if (failedElsewhere) verdict = "neutral";
  else if (new Set(recent.map((f) => f.path)).size >= config.minFailingPaths && !peersFailing(next, upstream, poolIds, since)) verdict = "failure";
  return { state: next, verdict };
}

/** Half or more of the other upstreams had a path-type failure in the window. */
function peersFailing(state: BlameState, self: string, poolIds: readonly string[], since: number): boolean {
  const peers = poolIds.filter((id) => id !== self);
  if (peers.length === 0) return false;
  const failing = peers.filter((id) => (own(state.recent, id) ?? []).some((f) => f.at >= since)).length;
  return failing * 2 >= peers.length;
}

/** A copy of `times` without `id` (own keys only). */
function without(times: Record<string, number>, id: string): Record<string, number> {
  return Object.fromEntries(Object.entries(times).filter(([k]) => k !== id));
}

function withPath(state: BlameState, key: string, rec: PathRecord): BlameState {
  const paths = { ...state.paths, [key]: rec };
  const keys = Object.keys(paths);
  if (keys.length > MAX_TRACKED_PATHS) {
    // Forget the least recently touched (a linear scan: the table is small and this is rare).
    let oldest = keys[0]!;
    for (const k of keys) if (paths[k]!.touched < paths[oldest]!.touched) oldest = k;
    delete paths[oldest];
  }
  return { ...state, paths };
}

/** Drops what is older than the window and upstreams no longer in the pool (keeps the stored state small). */
export function prune(state: BlameState, config: BlameConfig, poolIds: readonly string[], now: number): BlameState {
  const since = now - config.windowMs;
  const keep = new Set(poolIds);
  const entries: Array<[string, Array<{ path: string; at: number }>]> = [];
  for (const [id, list] of Object.entries(state.recent)) {
    const live = list.filter((f) => f.at >= since);
    if (keep.has(id) && live.length > 0) entries.push([id, live]);
  }
  // fromEntries defines own properties, so an id like "__proto__" stays a plain key.
  const recent = Object.fromEntries(entries);
  const paths = Object.fromEntries(Object.entries(state.paths).filter(([, rec]) => rec.touched >= since));
  return { paths, recent };
}
