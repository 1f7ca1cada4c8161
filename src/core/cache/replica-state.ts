import { compareVersions, type Version } from "./version";

/**
 * What one replica holds for a key:
 * - live: a value;
 * - tombstone: a delete or an expiry, with the version it ended;
 * - evicted: a marker left by LRU eviction, keeping only the version (so an older copy elsewhere
 *   cannot win a read), but saying nothing about the value;
 * - absent: never seen, or forgotten (`version: null`).
 */
export interface ReplicaRecord {
  version: Version | null;
  live: boolean;
  evicted?: boolean;
  value?: Uint8Array;
  contentType?: string;
  expiresAt?: number | null;
}

/** A live record whose expiry has passed by the reader's clock counts as a tombstone. */
export function effectivelyLive(r: ReplicaRecord, nowMs: number): boolean {
  return r.live && !isExpired(r.expiresAt, nowMs);
}

// At equal versions (one write seen in different states): a tombstone (the write has ended) beats a
// live copy, which beats an eviction marker (the value still exists elsewhere). So the outcome does
// not depend on which replica answered first.
function rank(r: ReplicaRecord, nowMs: number): number {
  if (r.evicted) return 0;
  return effectivelyLive(r, nowMs) ? 1 : 2;
}

/** The record a quorum read returns: the newest version; ties broken by `rank`. */
export function newestRecord<T extends ReplicaRecord>(records: readonly T[], nowMs: number): T | undefined {
  let best: T | undefined;
  for (const r of records) {
    if (best === undefined) {
      best = r;
      continue;
    }
    const c = compareVersions(r.version, best.version);
    if (c > 0 || (c === 0 && rank(r, nowMs) > rank(best, nowMs))) best = r;
  }
  return best;
}

/**
 * Indices of replies that read repair should overwrite with `newest`: strictly older versions.
 * An eviction marker is never propagated (it is not a delete), so nothing is stale behind one.
 */
export function staleIndices(records: readonly ReplicaRecord[], newest: ReplicaRecord): number[] {
  if (newest.version === null || newest.evicted) return [];
  const out: number[] = [];
  records.forEach((r, i) => {
    if (compareVersions(r.version, newest.version) < 0) out.push(i);
  });
  return out;
}

/** Whether a write with `incoming` version should replace what a replica holds (strictly newer only, so replays are no-ops). */
export function shouldApply(current: Version | null, incoming: Version): boolean {
  return compareVersions(incoming, current) > 0;
}

/** Whether an entry with this absolute expiry is expired at `nowMs`. */
export function isExpired(expiresAt: number | null | undefined, nowMs: number): boolean {
  return expiresAt !== null && expiresAt !== undefined && expiresAt <= nowMs;
}
