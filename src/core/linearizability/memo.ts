/**
 * The memo of Lowe's improvement to Wing-Gong: the configurations (linearized set, register state)
 * the search has already reached, so it never explores the same one twice.
 *
 * A configuration is (C, U, s): C the bitset of completed operations linearized so far, U the bitset
 * of unknown-outcome operations linearized so far, s the register state (an interned value id).
 * (C, U, s) is DOMINATED by a known (C, U', s) with U' ⊆ U: every way to finish from (C, U, s) also
 * works from (C, U', s) (unknown operations impose no real-time order and may be omitted), so it need
 * not be explored. Without this, each unknown-outcome operation would double the search space.
 *
 * Storage is flat typed arrays (no object per entry) so memory is about
 * 4·(⌈|C|/32⌉ + ⌈|U|/32⌉) + 16 bytes per configuration, and capped at `maxEntries`.
 */

export type VisitOutcome = "new" | "known" | "full";

const EMPTY = -1;
const INITIAL_CAPACITY = 1024;

export class ConfigurationMemo {
  private capacity = 0;
  private count = 0;
  private completedBits = new Uint32Array(0);
  private unknownBits = new Uint32Array(0);
  private states = new Int32Array(0);
  private hashes = new Uint32Array(0);
  private nextInChain = new Int32Array(0);
  private buckets = new Int32Array(0);

  constructor(
    private readonly completedWords: number,
    private readonly unknownWords: number,
    private readonly maxEntries: number,
  ) {
    this.grow(Math.min(INITIAL_CAPACITY, Math.max(1, maxEntries)));
  }

  get size(): number {
    return this.count;
  }

  /**
   * Records configuration (completed, unknown, state) unless it is already known or dominated.
   * `hash` must depend only on `completed` and `state`, so dominated variants share a chain.
   */
  visit(hash: number, state: number, completed: Uint32Array, unknown: Uint32Array): VisitOutcome {
    const cw = this.completedWords;
    const uw = this.unknownWords;
    for (let e = this.buckets[hash & (this.buckets.length - 1)] ?? EMPTY; e !== EMPTY; e = this.nextInChain[e] ?? EMPTY) {
      if (this.hashes[e] !== hash || this.states[e] !== state) continue;
      if (!equalWords(this.completedBits, e * cw, completed, cw)) continue;
      if (subsetWords(this.unknownBits, e * uw, unknown, uw)) return "known";
    }
    if (this.count >= this.maxEntries) return "full";
    if (this.count === this.capacity) this.grow(Math.min(this.capacity * 2, this.maxEntries));
    const e = this.count++;
    this.completedBits.set(completed, e * cw);
    if (uw > 0) this.unknownBits.set(unknown, e * uw);
    this.states[e] = state;
    this.hashes[e] = hash;
    this.link(e);
    return "new";
  }

  private link(e: number): void {
    const b = (this.hashes[e] ?? 0) & (this.buckets.length - 1);
    this.nextInChain[e] = this.buckets[b] ?? EMPTY;
    this.buckets[b] = e;
  }

  private grow(capacity: number): void {
    const copy = <T extends Uint32Array | Int32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.completedBits = copy(this.completedBits, new Uint32Array(capacity * this.completedWords));
    this.unknownBits = copy(this.unknownBits, new Uint32Array(capacity * this.unknownWords));
    this.states = copy(this.states, new Int32Array(capacity));
    this.hashes = copy(this.hashes, new Uint32Array(capacity));
    this.nextInChain = new Int32Array(capacity);
    this.capacity = capacity;
    // Keep the load factor <= 1: one bucket per slot, a power of two for masking.
    let bucketCount = 1;
    while (bucketCount < capacity) bucketCount *= 2;
    this.buckets = new Int32Array(bucketCount).fill(EMPTY);
    for (let e = 0; e < this.count; e++) this.link(e);
  }
}

function equalWords(pool: Uint32Array, offset: number, bits: Uint32Array, words: number): boolean {
  for (let i = 0; i < words; i++) if (pool[offset + i] !== bits[i]) return false;
  return true;
}

/** True iff the stored set at `offset` is a subset of `bits`. */
function subsetWords(pool: Uint32Array, offset: number, bits: Uint32Array, words: number): boolean {
  for (let i = 0; i < words; i++) {
    // (stored & ~bits) is a signed int32; comparing it with 0 avoids the uint32/int32 mismatch.
    if (((pool[offset + i] ?? 0) & ~(bits[i] ?? 0)) !== 0) return false;
  }
  return true;
}
