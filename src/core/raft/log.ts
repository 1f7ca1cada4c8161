import { parseMembership } from "./membership";
import type { Entry, Membership, Snapshot } from "./types";

/**
 * The Raft log as one node sees it: a snapshot (possibly the empty one at index 0) followed by the
 * entries after it, plus commit/applied and what has not been handed to the shell for persistence yet.
 *
 * Invariants (checked by assert): entries are contiguous from snapshot.index + 1; terms never decrease;
 * snapshot.index <= applied <= commit <= lastIndex; nothing at or below commit is ever truncated.
 */
export class RaftLog {
  snapshot: Snapshot;
  private entries: Entry[];
  commit: number;
  applied: number;

  /** First index not yet handed out in a Ready (entries from here on must be persisted). */
  private unstableFrom: number;
  /** Set when entries already handed out were truncated: the shell must delete from this index. */
  private truncateFrom: number | null = null;
  /** A snapshot received from the leader that the shell has not persisted yet. */
  private pendingSnapshot: Snapshot | null = null;

  constructor(snapshot: Snapshot, entries: Entry[], commit: number, applied: number) {
    this.snapshot = snapshot;
    // Entries the snapshot already covers are redundant (a shell may delete them lazily).
    this.entries = entries.filter((e) => e.index > snapshot.index);
    let prevTerm = snapshot.term;
    this.entries.forEach((e, i) => {
      assert(e.index === snapshot.index + 1 + i, `log entry ${e.index} is not contiguous`);
      assert(e.term >= prevTerm, `log entry ${e.index} has a term lower than the entry before it`);
      prevTerm = e.term;
    });
    this.commit = Math.max(commit, snapshot.index);
    this.applied = Math.max(applied, snapshot.index);
    assert(this.commit <= this.lastIndex(), "commit beyond the last log index");
    assert(this.applied <= this.commit, "applied beyond commit");
    this.unstableFrom = this.lastIndex() + 1;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of the entry at `index`, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    return this.entries[index - this.snapshot.index - 1]?.term;
  }

  entry(index: number): Entry | undefined {
    return index <= this.snapshot.index ? undefined : this.entries[index - this.snapshot.index - 1];
  }

  /** Entries with lo <= index <= hi (lo must not be compacted). */
  slice(lo: number, hi: number): Entry[] {
    assert(lo > this.snapshot.index, `slice from compacted index ${lo}`);
    if (hi < lo) return [];
    return this.entries.slice(lo - this.snapshot.index - 1, hi - this.snapshot.index);
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as this one? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Leader append of fresh entries at the end. */
  append(entries: Entry[]): void {
    for (const e of entries) {
      assert(e.index === this.lastIndex() + 1, `append of ${e.index} after ${this.lastIndex()}`);
      assert(e.term >= this.lastTerm(), "terms in the log must not decrease");
      this.entries.push(e);
    }
  }

  /**
   * Follower append (Figure 2, AppendEntries steps 3-4): skip entries already present with the same term,
   * delete the conflicting suffix at the first mismatch, append the rest. Returns true if the log changed
   * in a way that may change membership (a config entry added or removed).
   */
  appendFromLeader(entries: Entry[]): boolean {
    let configTouched = false;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.commit) continue; // committed entries match every later leader's log
      const existing = this.term(e.index);
      if (existing === e.term) continue;
      if (existing !== undefined) configTouched = this.truncate(e.index) || configTouched;
      const rest = entries.slice(i);
      this.append(rest);
      return configTouched || rest.some((r) => r.kind === "config");
    }
    return configTouched;
  }

  /** Delete every entry at or after `from` (never a committed one). Returns true if a config entry went. */
  private truncate(from: number): boolean {
    assert(from > this.commit, `truncating committed entry ${from} (commit ${this.commit})`);
    const removed = this.entries.splice(from - this.snapshot.index - 1);
    if (from < this.unstableFrom) {
      // Some of the removed entries were already handed out: the shell must delete them too.
      this.truncateFrom = this.truncateFrom === null ? from : Math.min(this.truncateFrom, from);
      this.unstableFrom = from;
    }
    return removed.some((e) => e.kind === "config");
  }

  /** The last index holding `term`, searching at or below `upTo`; 0 when it is not in the (uncompacted) log. */
  lastIndexOfTerm(term: number, upTo: number): number {
    for (let i = Math.min(upTo, this.lastIndex()); i >= this.snapshot.index; i--) {
      const t = this.term(i);
      if (t === undefined || t < term) return 0;
      if (t === term) return i;
    }
    return 0;
  }

  /** The first index of the run of `term` that contains `index`, not going at or below commit. */
  firstIndexOfTermAt(index: number): number {
    const term = this.term(index);
    let i = index;
    while (i - 1 > this.commit && this.term(i - 1) === term) i--;
    return i;
  }

  /** The membership in force after the entry at `index` (config entries take effect when appended). */
  membershipAt(index: number): Membership {
    for (let i = Math.min(index, this.lastIndex()); i > this.snapshot.index; i--) {
      const e = this.entry(i);
      if (e?.kind === "config") return parseMembership(e.data);
    }
    return this.snapshot.membership;
  }

  /** The index of the last config entry in the log, or the snapshot index when there is none after it. */
  lastConfigIndex(): number {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.kind === "config") return this.entries[i]!.index;
    return this.snapshot.index;
  }

  /** Replace the log by a snapshot from the leader (Figure 13 step 7: discard the entire log). */
  installSnapshot(snapshot: Snapshot): void {
    assert(snapshot.index > this.commit, "installing a snapshot older than commit");
    this.snapshot = snapshot;
    this.entries = [];
    this.commit = snapshot.index;
    this.applied = snapshot.index;
    this.pendingSnapshot = snapshot;
    this.truncateFrom = null;
    this.unstableFrom = snapshot.index + 1;
  }

  /** Local compaction after the shell applied up to `index`: drop entries <= index. */
  compact(index: number, data: string): Snapshot {
    assert(index <= this.applied, `compacting ${index} beyond applied ${this.applied}`);
    assert(index > this.snapshot.index, `compacting ${index} at or below the snapshot ${this.snapshot.index}`);
    const snapshot: Snapshot = { index, term: this.term(index)!, membership: this.membershipAt(index), data };
    this.entries = this.entries.slice(index - this.snapshot.index);
    this.snapshot = snapshot;
    return snapshot;
  }

  hasUnstable(): boolean {
    return this.pendingSnapshot !== null || this.truncateFrom !== null || this.unstableFrom <= this.lastIndex();
  }

  /** Hand out everything not yet persisted; from now on it counts as handed to the shell. */
  takeUnstable(): { snapshot: Snapshot | null; truncateFrom: number | null; entries: Entry[] } {
    // With a snapshot from the leader, every stored entry after it goes too (Figure 13 step 7): say so
    // explicitly, so a shell that only deletes entries <= snapshot.index still ends with the right log.
    const truncateFrom = this.pendingSnapshot !== null ? this.pendingSnapshot.index + 1 : this.truncateFrom;
    const out = { snapshot: this.pendingSnapshot, truncateFrom, entries: this.slice(this.unstableFrom, this.lastIndex()) };
    this.pendingSnapshot = null;
    this.truncateFrom = null;
    this.unstableFrom = this.lastIndex() + 1;
    return out;
  }

  /** Committed entries after `from` (exclusive), to be applied in order. */
  committedAfter(from: number): Entry[] {
    return from >= this.commit ? [] : this.slice(from + 1, this.commit);
  }
}

/** TigerBeetle-style assertion: a broken invariant is a bug, never a state to continue from. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`raft invariant violated: ${message}`);
}
