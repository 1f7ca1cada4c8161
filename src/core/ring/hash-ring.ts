/**
 * Consistent hash ring with weighted virtual nodes and bounded-load lookups.
 *
 * PLACEMENT CONTRACT — same config => same placement in every isolate and process. Changing any rule
 * below moves keys between shards, so treat it like a wire format:
 *   1. A shard with weight w gets max(1, round(V * w)) virtual nodes, V = options.vnodes ?? DEFAULT_VNODES.
 *   2. Virtual node i (0 <= i < count) of shard `id` sits at murmur3_32(`${id}#${i}`, seed 0)
 *      (MurmurHash3 x86_32 of the UTF-8 bytes; no per-process seed).
 *   3. A key sits at murmur3_32(key, seed 0). Its owner is the first virtual node at a position >= the
 *      key's position; past 2^32 - 1 the ring wraps to the smallest position.
 *   4. Virtual nodes at equal positions are ordered by shard id (UTF-16 code-unit order, not locale),
 *      then by i; the first one owns the position. Hence the order shards are listed in is irrelevant.
 */
import { murmur3_32 } from "../hash/murmur3";

/**
 * Virtual nodes per unit of weight. A shard's share has relative spread ~1/sqrt(vnodes), so the max of
 * 32 shares sits ~2 spreads above the mean: ~1.09 at 512, ~1.06 at 1024. Measured with this project's
 * `shard-<n>` ids, max/mean ownership at 1024 is 1.019/1.036/1.060/1.076 for 4/8/16/32 shards (512
 * reaches 1.080, 256 reaches 1.185); over 20 other id schemes 1024 stayed <= 1.10 in 79 of 80 cases.
 * Cost: ~12 bytes per vnode (positions, owners, search index) and a ~10 ms build for 32 shards.
 * test/core/ring.test.ts asserts the bound.
 */
export const DEFAULT_VNODES = 1024;

/** Upper bound on virtual nodes across the ring, so a typo'd weight cannot allocate gigabytes. */
export const MAX_TOTAL_VNODES = 1 << 22;

export interface ShardSpec {
  readonly id: string;
  readonly weight?: number;
}

export interface RingShard {
  readonly id: string;
  readonly weight: number;
  readonly vnodes: number;
}

export interface HashRingOptions {
  readonly vnodes?: number;
}

const RING_SIZE = 0x1_0000_0000;

/**
 * Checks a ring's shape and counts its virtual nodes without hashing anything (cheap enough to
 * validate configuration). Throws RangeError on empty/duplicate ids, bad weights or a bad vnode count.
 */
export function planRing(shards: ReadonlyArray<ShardSpec>, options: HashRingOptions = {}): { list: RingShard[]; total: number } {
  const perWeight = options.vnodes ?? DEFAULT_VNODES;
  if (!Number.isSafeInteger(perWeight) || perWeight < 1) {
    throw new RangeError(`vnodes must be a positive integer, got ${String(perWeight)}`);
  }
  if (shards.length === 0) throw new RangeError("a hash ring needs at least one shard");
  const seen = new Set<string>();
  const list: RingShard[] = [];
  let total = 0;
  for (const spec of shards) {
    const { id } = spec;
    if (typeof id !== "string" || id.length === 0) throw new RangeError("shard id must be a non-empty string");
    if (seen.has(id)) throw new RangeError(`duplicate shard id ${JSON.stringify(id)}`);
    seen.add(id);
    const weight = spec.weight ?? 1;
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) {
      throw new RangeError(`shard ${JSON.stringify(id)}: weight must be finite and > 0, got ${String(weight)}`);
    }
    const vnodes = Math.max(1, Math.round(perWeight * weight));
    total += vnodes;
    if (total > MAX_TOTAL_VNODES) {
      throw new RangeError(`ring would need more than ${MAX_TOTAL_VNODES} virtual nodes; lower vnodes or weights`);
    }
    list.push(Object.freeze({ id, weight, vnodes }));
  }
  return { list, total };
}

export class HashRing {
  private readonly shardList: readonly RingShard[];
  private readonly ids: readonly string[];
  private readonly weights: Float64Array;
  private readonly totalWeight: number;
  /** Sorted vnode positions. */
  private readonly positions: Uint32Array;
  /** owners[j] = index into `ids` of the shard owning positions[j]. */
  private readonly owners: Uint32Array;
  /**
   * Search index over the top bits of a hash: bucket b spans vnodes [buckets[b], buckets[b + 1]), the
   * ones whose position has those top bits. With ~1 vnode per bucket a lookup reads ~1 entry instead
   * of a log2(vnodes)-step binary search with unpredictable branches.
   */
  private readonly buckets: Uint32Array;
  private readonly bucketShift: number;

  /** Builds the ring; throws RangeError on empty/duplicate ids, bad weights or a bad vnode count. */
  constructor(shards: ReadonlyArray<ShardSpec>, options: HashRingOptions = {}) {
    const { list, total } = planRing(shards, options);
    this.shardList = Object.freeze(list);
    this.ids = list.map((s) => s.id);
    this.weights = Float64Array.from(list, (s) => s.weight);
    this.totalWeight = list.reduce((sum, s) => sum + s.weight, 0);

    // Enumerate vnodes by (id order, i) and sort stably by position: that is rule 4's tie-break.
    const byId = list.map((_, i) => i).sort((a, b) => compareIds(list[a]!.id, list[b]!.id));
    const rawPositions = new Uint32Array(total);
    const rawOwners = new Uint32Array(total);
    let j = 0;
    for (const s of byId) {
      const { id, vnodes } = list[s]!;
      for (let i = 0; i < vnodes; i++, j++) {
        rawPositions[j] = murmur3_32(`${id}#${i}`);
        rawOwners[j] = s;
      }
    }
    const order = stableRadixOrder(rawPositions);
    this.positions = new Uint32Array(total);
    this.owners = new Uint32Array(total);
    for (let k = 0; k < total; k++) {
      const from = order[k]!;
      this.positions[k] = rawPositions[from]!;
      this.owners[k] = rawOwners[from]!;
    }

    const bits = Math.min(20, Math.max(1, Math.ceil(Math.log2(total))));
    this.bucketShift = 32 - bits;
    this.buckets = new Uint32Array((1 << bits) + 1);
    let v = 0;
    for (let b = 0; b < 1 << bits; b++) {
      const bucketStart = b * 2 ** this.bucketShift;
      while (v < total && this.positions[v]! < bucketStart) v++;
      this.buckets[b] = v;
    }
    this.buckets[1 << bits] = total;
  }

  /** Number of shards. */
  get size(): number {
    return this.shardList.length;
  }

  /** The shards in the order given, with their weight and virtual-node count. */
  get shards(): readonly RingShard[] {
    return this.shardList;
  }

  /** Total number of virtual nodes on the ring. */
  get vnodeCount(): number {
    return this.positions.length;
  }

  /** Owner shard id of `key` (rule 3). */
  lookup(key: string): string {
    return this.ids[this.owners[this.vnodeAt(murmur3_32(key))]!]!;
  }

  /** Up to `n` distinct shard ids met walking clockwise from `key`; the first is lookup(key). */
  preferenceList(key: string, n: number): string[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
    const want = Math.min(n, this.ids.length);
    const result: string[] = [];
    if (want === 0) return result;
    const taken = new Uint8Array(this.ids.length);
    const len = this.positions.length;
    const start = this.vnodeAt(murmur3_32(key));
    for (let step = 0; step < len && result.length < want; step++) {
      const owner = this.owners[(start + step) % len]!;
      if (taken[owner] === 0) {
        taken[owner] = 1;
        result.push(this.ids[owner]!);
      }
    }
    return result;
  }

  /** Fraction of the 2^32 hash space each shard owns (values sum to 1), in shard order. */
  ownership(): Map<string, number> {
    const arcs = new Float64Array(this.ids.length);
    const len = this.positions.length;
    for (let j = 0; j < len; j++) {
      // Vnode j owns (positions[j-1], positions[j]]; vnode 0 also owns the wrap-around arc.
      const arc = j === 0 ? this.positions[0]! + RING_SIZE - this.positions[len - 1]! : this.positions[j]! - this.positions[j - 1]!;
      arcs[this.owners[j]!]! += arc;
    }
    // A single vnode owns the whole ring: its computed arc is 2^32, which is right.
    return new Map(this.ids.map((id, s) => [id, arcs[s]! / RING_SIZE]));
  }

  /**
   * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2017): walking clockwise
   * from `key`, the first shard whose load is below its capacity
   * ceil((1 + epsilon) * (totalLoad + 1) * weight / totalWeight). `load` and `totalLoad` describe the
   * state before this key is placed. If the loads passed in are inconsistent with `totalLoad` so that
   * every shard is full, falls back to lookup(key).
   */
  lookupBounded(key: string, load: (shardId: string) => number, totalLoad: number, epsilon: number): string {
    if (!Number.isFinite(epsilon) || epsilon < 0) throw new RangeError(`epsilon must be finite and >= 0, got ${epsilon}`);
    if (!Number.isFinite(totalLoad) || totalLoad < 0) {
      throw new RangeError(`totalLoad must be finite and >= 0, got ${totalLoad}`);
    }
    const scaled = (1 + epsilon) * (totalLoad + 1);
    const len = this.positions.length;
    const start = this.vnodeAt(murmur3_32(key));
    const first = this.owners[start]!;
    if (this.hasRoom(first, load, scaled)) return this.ids[first]!;

    const checked = new Uint8Array(this.ids.length);
    checked[first] = 1;
    let remaining = this.ids.length - 1;
    for (let step = 1; step < len && remaining > 0; step++) {
      const owner = this.owners[(start + step) % len]!;
      if (checked[owner] === 1) continue;
      if (this.hasRoom(owner, load, scaled)) return this.ids[owner]!;
      checked[owner] = 1;
      remaining--;
    }
    return this.ids[first]!;
  }

  private hasRoom(shard: number, load: (shardId: string) => number, scaled: number): boolean {
    const capacity = Math.ceil((scaled * this.weights[shard]!) / this.totalWeight);
    return load(this.ids[shard]!) < capacity;
  }

  /** Index of the first vnode at a position >= hash, wrapping to 0. */
  private vnodeAt(hash: number): number {
    const positions = this.positions;
    const bucket = hash >>> this.bucketShift;
    // Every vnode from `hi` on lies in a later bucket, so its position is > hash.
    let lo = this.buckets[bucket]!;
    let hi = this.buckets[bucket + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (positions[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === positions.length ? 0 : lo;
  }
}

/** Locale-independent id order (UTF-16 code units), part of the placement contract. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Indices that sort `keys` ascending, stably (LSD radix sort, 4 passes of 8 bits). Linear time keeps
 * building a large ring cheap at isolate start-up, where a comparator sort of millions of vnodes is not.
 */
function stableRadixOrder(keys: Uint32Array): Uint32Array {
  const n = keys.length;
  let order = new Uint32Array(n);
  let spare = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const counts = new Uint32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keys[order[i]!]! >>> shift) & 0xff]!++;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = counts[b]!;
      counts[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = order[i]!;
      spare[counts[(keys[k]! >>> shift) & 0xff]!++] = k;
    }
    [order, spare] = [spare, order];
  }
  return order;
}
