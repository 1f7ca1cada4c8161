import type { StoredNode } from "../../src/core/raft/memory-cluster";
import type { Entry, HardState, NodeId, Snapshot } from "../../src/core/raft/types";

/**
 * The five safety properties of the Raft paper's Figure 3, checked incrementally as the simulation
 * runs (every observation is O(1) or O(new entries), so the checks can run after every single step),
 * plus the persistence facts they rest on. The monitor only sees what a shell sees: persisted storage,
 * Ready contents and status(); feed it fabricated observations to test that it cannot silently pass.
 */

export type Property =
  | "election-safety"
  | "leader-append-only"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  /** Term/vote/commit durability and the Ready contract (persist -> send -> apply, in order). */
  | "persistence"
  /** The core threw (one of its own assertions, or a crash). */
  | "exception"
  /** Exactly-once sessions: a command of the client's current seq was refused or misapplied. */
  | "exactly-once"
  | "linearizability"
  | "convergence";

export interface Violation {
  property: Property;
  message: string;
  step: number;
  time: number;
}

/** Term of the entry at `index` in a persisted log; undefined when compacted away or beyond its end. */
export function storedTerm(st: StoredNode, index: number): number | undefined {
  const snapIndex = st.snapshot?.index ?? 0;
  if (index === snapIndex) return st.snapshot?.term ?? 0;
  if (index < snapIndex) return undefined;
  return st.entries[index - snapIndex - 1]?.term;
}

export function storedLastIndex(st: StoredNode): number {
  return (st.snapshot?.index ?? 0) + st.entries.length;
}

interface CommittedEntry {
  term: number;
  kind: string;
  data: string;
  /** Term of the node that applied it first: the term in which it was committed (or later, which only weakens the check). */
  commitTerm: number;
}

interface Leadership {
  term: number;
  lastIndex: number;
  /** Leader Completeness has been verified for committed indexes up to here. */
  checkedUpTo: number;
}

export class SafetyMonitor {
  /** The first violation seen; the simulation stops there. */
  violation: Violation | null = null;
  step = 0;
  time = 0;

  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Every entry ever persisted anywhere, by "index:term", with the term of the entry before it. */
  private readonly entries = new Map<string, { kind: string; data: string; prevTerm: number }>();
  /** Committed entries by index (index 0 unused), as first applied by any node. */
  private readonly committed: (CommittedEntry | undefined)[] = [undefined];
  private readonly snapshotData = new Map<number, string>();
  private readonly hard = new Map<NodeId, HardState>();
  private readonly leaders = new Map<NodeId, Leadership>();
  private readonly applied = new Map<NodeId, number>();

  get ok(): boolean {
    return this.violation === null;
  }

  /** Highest index known to be committed (applied by some node). */
  get commitIndex(): number {
    return this.committed.length - 1;
  }

  fail(property: Property, message: string): void {
    this.violation ??= { property, message, step: this.step, time: this.time };
  }

  /**
   * A node's role and term after a step (its Ready already persisted, so `stored` is its log).
   * Election Safety: at most one leader per term, ever. Leader Append-Only: a leader's log never shrinks
   * during its term. Leader Completeness: a leader holds every entry committed in an earlier term.
   */
  observeRole(id: NodeId, role: string, term: number, stored: StoredNode): void {
    if (role !== "leader") {
      this.leaders.delete(id);
      return;
    }
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== id) return this.fail("election-safety", `two leaders in term ${term}: ${other} and ${id}`);
    this.leaderOfTerm.set(term, id);
    const lastIndex = storedLastIndex(stored);
    let l = this.leaders.get(id);
    if (l === undefined || l.term !== term) {
      l = { term, lastIndex, checkedUpTo: 0 };
      this.leaders.set(id, l);
    } else if (lastIndex < l.lastIndex) {
      return this.fail("leader-append-only", `leader ${id} of term ${term}: its log shrank from ${l.lastIndex} to ${lastIndex}`);
    }
    l.lastIndex = lastIndex;
    this.checkCompleteness(id, l, stored);
  }

  private checkCompleteness(id: NodeId, l: Leadership, stored: StoredNode): void {
    const snapIndex = stored.snapshot?.index ?? 0;
    for (let i = l.checkedUpTo + 1; i < this.committed.length; i++) {
      const c = this.committed[i]!;
      l.checkedUpTo = i;
      if (c.commitTerm >= l.term) continue; // committed in this term or later: not required of this leader
      if (i < snapIndex) continue; // inside its own snapshot: its applied prefix, covered by State Machine Safety
      const t = storedTerm(stored, i);
      if (t !== c.term) {
        return this.fail(
          "leader-completeness",
          `leader ${id} of term ${l.term} lacks entry ${i} (term ${c.term}) committed in term ${c.commitTerm}: it holds ${t === undefined ? "nothing" : `term ${t}`} there`,
        );
      }
    }
  }

  /**
   * A Ready about to be persisted by `id`, whose role after the step that produced it is `role`. A leader
   * never deletes its own entries (Leader Append-Only), so a leader's Ready truncates nothing.
   */
  observeReadyOfRole(id: NodeId, role: string, truncateFrom: number | undefined, snapshot: Snapshot | undefined): void {
    if (role === "leader" && (truncateFrom !== undefined || snapshot !== undefined)) {
      this.fail("leader-append-only", `leader ${id} ${snapshot !== undefined ? `replaced its log by a snapshot at ${snapshot.index}` : `truncated its log from ${truncateFrom}`}`);
    }
  }

  /** Log Matching, on persisted logs: same index and term => same entry and same term before it (so, by induction, identical prefixes). */
  observePersistedEntry(id: NodeId, e: Entry, prevTerm: number): void {
    if (e.term < prevTerm) return this.fail("log-matching", `${id} persisted entry ${e.index} of term ${e.term} after an entry of term ${prevTerm}`);
    const key = `${e.index}:${e.term}`;
    const seen = this.entries.get(key);
    if (seen === undefined) {
      this.entries.set(key, { kind: e.kind, data: e.data, prevTerm });
      return;
    }
    if (seen.kind !== e.kind || seen.data !== e.data) return this.fail("log-matching", `${id} holds a different entry at index ${e.index} term ${e.term}: ${JSON.stringify(e.data)} vs ${JSON.stringify(seen.data)}`);
    if (seen.prevTerm !== prevTerm) return this.fail("log-matching", `${id}: entry ${e.index} of term ${e.term} follows term ${prevTerm} there, term ${seen.prevTerm} elsewhere`);
  }

  /** Term and vote are durable and never go back: one vote per term (the basis of Election Safety). */
  observeHardState(id: NodeId, hs: HardState): void {
    const prev = this.hard.get(id);
    this.hard.set(id, { ...hs });
    if (prev === undefined) return;
    if (hs.term < prev.term) return this.fail("persistence", `${id} persisted term ${hs.term} after term ${prev.term}`);
    if (hs.term === prev.term && prev.vote !== null && hs.vote !== prev.vote) {
      return this.fail("election-safety", `${id} voted twice in term ${hs.term}: for ${prev.vote}, then for ${hs.vote ?? "nobody"}`);
    }
    if (hs.commit < prev.commit) return this.fail("persistence", `${id} persisted commit ${hs.commit} after ${prev.commit}`);
  }

  /** State Machine Safety: no two nodes apply different entries at one index; each applies in order. */
  observeApply(id: NodeId, e: Entry, nodeTerm: number): void {
    const expected = (this.applied.get(id) ?? 0) + 1;
    if (e.index !== expected) return this.fail("persistence", `${id} applied entry ${e.index}, expected ${expected}`);
    this.applied.set(id, e.index);
    const c = this.committed[e.index];
    if (c === undefined) {
      if (e.index !== this.committed.length) return this.fail("state-machine-safety", `${id} applied entry ${e.index} before anyone applied ${this.committed.length}`);
      this.committed.push({ term: e.term, kind: e.kind, data: e.data, commitTerm: nodeTerm });
      return;
    }
    if (c.term !== e.term || c.kind !== e.kind || c.data !== e.data) {
      this.fail("state-machine-safety", `${id} applied ${JSON.stringify(e)} at index ${e.index} where term ${c.term} ${JSON.stringify(c.data)} was applied`);
    }
  }

  /** A state-machine snapshot (taken locally or installed from the leader) restored or created at `snap.index`. */
  observeSnapshot(id: NodeId, snap: Snapshot, restored: boolean): void {
    const c = this.committed[snap.index];
    if (snap.index > 0 && c === undefined) return this.fail("state-machine-safety", `${id} holds a snapshot at ${snap.index}, beyond anything committed`);
    if (c !== undefined && c.term !== snap.term) return this.fail("state-machine-safety", `${id}: snapshot at ${snap.index} has term ${snap.term}, the committed entry term ${c.term}`);
    const data = this.snapshotData.get(snap.index);
    if (data === undefined) this.snapshotData.set(snap.index, snap.data);
    else if (data !== snap.data) return this.fail("state-machine-safety", `${id}: two different state-machine snapshots at index ${snap.index}`);
    if (restored) this.applied.set(id, snap.index);
  }

  /** The node lost its volatile state; it will restart from storage and apply again from its snapshot. */
  observeCrash(id: NodeId): void {
    this.leaders.delete(id);
  }

  observeRestart(id: NodeId, snapshotIndex: number): void {
    this.applied.set(id, snapshotIndex);
  }
}
