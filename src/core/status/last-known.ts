/**
 * What a reader last learned of a set of items it reads one at a time (the dashboard: one object per
 * capability per refresh), each reading with its time, so a view can say how old each part is instead
 * of passing old data off as fresh. Pure: the caller passes the clock in.
 */

/** One item as last read: the last value read (and when), and whether the latest read failed. */
export interface Reading<T> {
  /** The last value read successfully; null if no read has succeeded yet. */
  value: T | null;
  /** When `value` was read. */
  valueAt: number | null;
  /** When the latest read (successful or not) ended. */
  readAt: number;
  /** The latest read's error; null when it succeeded. */
  error: string | null;
}

export class LastKnown<T> {
  private readonly readings = new Map<string, Reading<T>>();

  /** A successful read of `key`. */
  record(key: string, value: T, now: number): void {
    this.readings.set(key, { value, valueAt: now, readAt: now, error: null });
  }

  /** A failed read of `key`: its last value is kept (and shown with its age), the failure is shown too. */
  fail(key: string, error: string, now: number): void {
    const prev = this.readings.get(key);
    this.readings.set(key, { value: prev?.value ?? null, valueAt: prev?.valueAt ?? null, readAt: now, error });
  }

  get(key: string): Reading<T> | undefined {
    return this.readings.get(key);
  }

  /** Forgets every item not in `keys` (no longer listed): the table stays as small as what is shown. */
  retain(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const k of [...this.readings.keys()]) if (!keep.has(k)) this.readings.delete(k);
  }

  /** When `key` was last read (successfully or not); null if never. */
  readAt(key: string): number | null {
    return this.readings.get(key)?.readAt ?? null;
  }

  /** The candidate of this table to read next (see pickStalest). */
  stalest(candidates: readonly string[], now: number, minAgeMs: number): string | null {
    return pickStalest(candidates.map((key) => ({ key, readAt: this.readAt(key) })), now, minAgeMs);
  }
}

/**
 * The candidate to read next: one never read (in the order given), else the one read longest ago;
 * null when every candidate was read less than `minAgeMs` ago (several viewers share the reads).
 */
export function pickStalest(candidates: readonly { key: string; readAt: number | null }[], now: number, minAgeMs: number): string | null {
  let best: string | null = null;
  let bestAt = Infinity;
  for (const c of candidates) {
    const at = c.readAt ?? -Infinity;
    if (at < bestAt) {
      best = c.key;
      bestAt = at;
    }
  }
  return best !== null && now - bestAt >= minAgeMs ? best : null;
}

/** What one Raft member said of itself and of the leader it follows. */
export interface MemberReport {
  node: string;
  term: number;
  role: string;
  leader: string | null;
  /** When this report was read. */
  at: number;
}

/**
 * The leader as the reports read so far name it. A newer term outranks every claim of an older one (a
 * deposed leader's stale report does not count). Within a term at most one leader exists (Raft's
 * Election Safety), so a report naming one outranks a report naming none, unless the named node's
 * own report of that same term, read later, says it no longer leads (it stepped down or restarted).
 * Null while the highest term's reports name no leader: an election is in progress.
 */
export function leaderOf(reports: readonly MemberReport[]): { leader: string | null; term: number } {
  const named = (r: MemberReport): string | null => {
    const x = r.role === "leader" ? r.node : r.leader;
    if (x === null) return null;
    const own = reports.find((o) => o.node === x);
    return own !== undefined && own.term === r.term && own.role !== "leader" && own.at > r.at ? null : x;
  };
  let top: MemberReport | null = null;
  let topNamed: string | null = null;
  for (const r of reports) {
    const n = named(r);
    const better = top === null || r.term > top.term || (r.term === top.term && (n !== null) > (topNamed !== null)) || (r.term === top.term && (n !== null) === (topNamed !== null) && r.at > top.at);
    if (better) {
      top = r;
      topNamed = n;
    }
  }
  return { leader: topNamed, term: top?.term ?? 0 };
}
