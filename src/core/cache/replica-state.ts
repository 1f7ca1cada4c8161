import { compareVersions, type Version } from "./version";

/** What one replica holds for a key. A tombstone (deleted or expired) keeps its version so it wins over older values. */
export interface ReplicaRecord {
  version: Version | null;
  /** false for tombstones, expired entries and keys the replica has never seen (or evicted). */
  live: boolean;
  value?: Uint8Array;
  contentType?: string;
  expiresAt?: number | null;
}

/** The record a quorum read returns: the one with the newest version (ties: the first one). */
export function newestRecord<T extends ReplicaRecord>(records: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const r of records) {
    if (best === undefined || compareVersions(r.version, best.version) > 0) best = r;
  }
  return best;
}

/** Indices of replies that are older than `newest` and so need read repair. */
export function staleIndices(records: readonly ReplicaRecord[], newest: ReplicaRecord): number[] {
  if (newest.version === null) return [];
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
