/**
 * Bookkeeping for a quorum call over a preference list: which replicas to contact next,
 * and when the call has succeeded (enough acks) or can no longer succeed.
 *
 * Reads contact only `needed` replicas at first and add the next one of the list each time one
 * fails (so R=1 costs one RPC); writes contact all of them at once (`eager`).
 */
export type QuorumOutcome = "pending" | "met" | "failed";

export class QuorumTracker {
  private nextIndex = 0;
  private inFlight = 0;
  readonly acked: number[] = [];
  readonly failed: number[] = [];

  constructor(
    readonly replicas: number,
    readonly needed: number,
    private readonly eager: boolean,
  ) {
    if (needed < 1 || needed > replicas) throw new RangeError(`quorum ${needed} out of 1..${replicas}`);
  }

  /** Replica indices to contact now. */
  launch(): number[] {
    const target = this.eager ? this.replicas : this.needed - this.acked.length;
    const out: number[] = [];
    if (this.outcome() !== "pending") return out;
    while (this.nextIndex < this.replicas && this.inFlight < target) {
      out.push(this.nextIndex++);
      this.inFlight += 1;
    }
    return out;
  }

  ack(index: number): void {
    this.inFlight -= 1;
    this.acked.push(index);
  }

  fail(index: number): void {
    this.inFlight -= 1;
    this.failed.push(index);
  }

  outcome(): QuorumOutcome {
    if (this.acked.length >= this.needed) return "met";
    const untried = this.replicas - this.nextIndex;
    if (this.acked.length + this.inFlight + untried < this.needed) return "failed";
    return "pending";
  }
}
