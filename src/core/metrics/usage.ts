// The arithmetic of counting billed Durable Object usage, kept pure (no clock, no runtime): the
// isolate-level registry in src/services/usage.ts feeds it events with their times.

/** How long objects were active (had at least one event in flight), per kind, in milliseconds. */
export interface ActiveTotals {
  [kind: string]: number;
}

interface Open {
  kind: string;
  depth: number;
  /** Start of the part of the interval not yet added to the totals. */
  since: number;
}

/**
 * Wall-clock activity of objects, the way Cloudflare bills duration: an object is active while at
 * least one request, alarm or outgoing call of its own is in flight, and overlapping events count
 * once ("duration is shared across all requests active on an Object at once"). Time an object
 * spends idle but unable to hibernate (a pending timer) is not seen here.
 */
export class ActiveTime {
  private readonly open = new Map<string, Open>();
  private readonly closed: Record<string, number> = {};

  /** An event of object `key` (of `kind`) starts at `now` (ms). */
  enter(kind: string, key: string, now: number): void {
    const o = this.open.get(key);
    if (o) o.depth++;
    else this.open.set(key, { kind, depth: 1, since: now });
  }

  /** An event of object `key` ends at `now`; the object's interval closes when its last event does. */
  leave(key: string, now: number): void {
    const o = this.open.get(key);
    if (!o) return;
    if (--o.depth > 0) return;
    this.add(o.kind, now - o.since);
    this.open.delete(key);
  }

  /** Objects with an event in flight now. */
  activeObjects(): number {
    return this.open.size;
  }

  /** Active milliseconds per kind up to `now`, the intervals still open included (and counted from `now` on next time). */
  totals(now: number): ActiveTotals {
    for (const o of this.open.values()) {
      this.add(o.kind, now - o.since);
      o.since = Math.max(o.since, now);
    }
    return { ...this.closed };
  }

  private add(kind: string, ms: number): void {
    // A clock that stepped back (or workerd's frozen clock within one turn) adds nothing, never less.
    if (ms > 0) this.closed[kind] = (this.closed[kind] ?? 0) + ms;
  }
}

/** Keys named by a KV-style storage call's first argument: one key, or an array of keys (get, delete). */
export function keyCount(arg: unknown): number {
  return Array.isArray(arg) ? arg.length : 1;
}

/** Rows a KV-style put writes: one for `put(key, value)`, one per entry for `put({k: v, ...})`. */
export function putRowCount(arg: unknown): number {
  return typeof arg === "object" && arg !== null ? Object.keys(arg).length : 1;
}

/** Rows a `list()` read: the entries it returned (at least one row is examined even when none come back). */
export function listRowCount(result: unknown): number {
  return Math.max(1, result instanceof Map ? result.size : 0);
}
