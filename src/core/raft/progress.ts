/**
 * A leader's view of one peer's replication (the shape of etcd-io/raft's tracker.Progress).
 *
 * - probe: the leader does not know where the logs match; it sends one Append at a time and waits.
 * - replicate: logs match up to `match`; Appends are pipelined optimistically (next advances on send)
 *   with at most `maxInflight` unacknowledged Appends.
 * - snapshot: an InstallSnapshot is in flight; nothing else is sent until it is answered or times out.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** probe: an Append is outstanding; cleared by its answer or the next heartbeat. */
  probeSent = false;
  /** snapshot: the index of the snapshot sent and the leader's tick when, for the retry timeout. */
  pendingSnapshot = 0;
  snapshotSentTick = 0;
  /** replicate: the last index carried by each unacknowledged Append, oldest first. */
  inflight: number[] = [];
  /** When (wall ms) the peer last answered this leader (null: never); reported by status(). */
  lastContact: number | null = null;
  /** The leader's tick at which the peer last answered (null: never); CheckQuorum counts in ticks. */
  lastContactTick: number | null = null;
  /** The highest heartbeat round the peer has acknowledged in this term (ReadIndex and lease). */
  ackedRound = 0;

  constructor(next: number) {
    this.next = next;
  }

  /** Record that the peer's log matches up to n; true if that is news. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.probeSent = false;
    return true;
  }

  becomeProbe(): void {
    this.next = Math.max(this.match + 1, this.state === "snapshot" ? this.pendingSnapshot + 1 : 0);
    this.state = "probe";
    this.probeSent = false;
    this.inflight = [];
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = this.match + 1;
    this.inflight = [];
  }

  becomeSnapshot(index: number, tick: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.snapshotSentTick = tick;
    this.inflight = [];
  }

  /** Whether the leader must hold back new Appends to this peer. */
  isPaused(maxInflight: number): boolean {
    if (this.state === "probe") return this.probeSent;
    if (this.state === "snapshot") return true;
    return this.inflight.length >= maxInflight;
  }

  /** Account for an Append carrying entries up to `last` (or none). */
  onSent(last: number | null): void {
    if (this.state === "replicate" && last !== null) {
      this.next = last + 1;
      this.inflight.push(last);
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** Acknowledged Appends up to match no longer count against the pipeline. */
  freeUpTo(match: number): void {
    while (this.inflight.length > 0 && this.inflight[0]! <= match) this.inflight.shift();
  }
}
