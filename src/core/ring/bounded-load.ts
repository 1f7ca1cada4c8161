import type { HashRing } from "./hash-ring";

/**
 * Keeps per-shard counts and places keys with HashRing.lookupBounded, so no shard ever holds more
 * than ceil((1 + epsilon) * average) of the keys currently assigned. Deterministic: the same sequence
 * of assign/release calls gives the same placements.
 */
export class BoundedLoadAssigner {
  private readonly ring: HashRing;
  private readonly epsilon: number;
  private readonly counts = new Map<string, number>();
  private total = 0;
  private readonly loadOf = (shardId: string): number => this.counts.get(shardId) ?? 0;

  /** Throws RangeError unless epsilon is finite and >= 0. */
  constructor(ring: HashRing, epsilon: number) {
    if (!Number.isFinite(epsilon) || epsilon < 0) throw new RangeError(`epsilon must be finite and >= 0, got ${epsilon}`);
    this.ring = ring;
    this.epsilon = epsilon;
    for (const shard of ring.shards) this.counts.set(shard.id, 0);
  }

  /** Places one key and counts it against the chosen shard. */
  assign(key: string): string {
    const shard = this.ring.lookupBounded(key, this.loadOf, this.total, this.epsilon);
    this.counts.set(shard, (this.counts.get(shard) ?? 0) + 1);
    this.total++;
    return shard;
  }

  /** Releases one key previously assigned to `shardId`; throws RangeError if it holds none. */
  release(shardId: string): void {
    const count = this.counts.get(shardId);
    if (count === undefined) throw new RangeError(`unknown shard ${JSON.stringify(shardId)}`);
    if (count === 0) throw new RangeError(`shard ${JSON.stringify(shardId)} has no assigned keys to release`);
    this.counts.set(shardId, count - 1);
    this.total--;
  }

  /** Keys currently assigned to `shardId` (0 for an unknown id). */
  load(shardId: string): number {
    return this.loadOf(shardId);
  }

  /** Keys currently assigned across all shards. */
  get totalLoad(): number {
    return this.total;
  }

  /** Snapshot of every shard's count, in ring shard order. */
  loads(): Map<string, number> {
    return new Map(this.counts);
  }
}
