/**
 * Consistent hashing on an affinity key with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
 * "Consistent Hashing with Bounded Loads", SODA 2018; HAProxy's `hash-balance-factor`): the same key
 * goes to the same upstream while that upstream is eligible and below its bound; otherwise to the next
 * upstream clockwise on the ring that is. The bound for upstream u is
 *   ceil((1 + loadFactor) * (totalInFlight + 1) * weight(u) / totalWeight)
 * over the eligible upstreams, so no upstream carries more than (1 + loadFactor) times its fair share
 * of the requests in flight, and a hot key spills over instead of melting its owner.
 *
 * Hashing and placement are src/core/ring's HashRing (murmur3, same placement in every isolate). The
 * ring holds every upstream of the pool, eligible or not, so one going down moves only its own keys
 * (to the next on the ring) and they come back when it does. HashRing.lookupBounded is not used: it
 * sizes bounds against the whole ring's weight, while here eligibility changes per request (health,
 * retries' `exclude`, maxInFlight), so the walk is preferenceList with the bound over the eligible.
 *
 * Without an affinity key there is nothing to hash: the pick falls back to least-connections.
 */
import { HashRing } from "../ring/hash-ring";
import { eligibleUpstreams } from "./eligibility";
import { LeastConnectionsPicker } from "./least-connections";
import type { PickContext, Picker, Upstream } from "./types";

/** Virtual nodes per unit of weight: the 160 points per server of ketama and nginx's `hash ... consistent`. */
export const DEFAULT_HASH_VNODES = 160;

/** Default epsilon: an upstream may carry up to 1.25x its share of the requests in flight. */
export const DEFAULT_HASH_LOAD_FACTOR = 0.25;

export interface ConsistentHashOptions {
  /** Virtual nodes per unit of weight (positive integer); default DEFAULT_HASH_VNODES. */
  readonly vnodes?: number;
  /** Epsilon of the bound (finite, >= 0); default DEFAULT_HASH_LOAD_FACTOR. */
  readonly loadFactor?: number;
}

export class ConsistentHashPicker implements Picker {
  readonly algorithm = "consistent-hash" as const;
  private readonly vnodes: number;
  private readonly loadFactor: number;
  private readonly fallback = new LeastConnectionsPicker();
  /** The ring of the last upstream set seen, rebuilt only when ids or weights change. */
  private ring: HashRing | null = null;
  private ringSignature = "";

  /** Throws RangeError on a bad vnode count or load factor. */
  constructor(options: ConsistentHashOptions = {}) {
    const vnodes = options.vnodes ?? DEFAULT_HASH_VNODES;
    if (!Number.isSafeInteger(vnodes) || vnodes < 1) throw new RangeError(`vnodes must be a positive integer, got ${vnodes}`);
    const loadFactor = options.loadFactor ?? DEFAULT_HASH_LOAD_FACTOR;
    if (!Number.isFinite(loadFactor) || loadFactor < 0) throw new RangeError(`loadFactor must be finite and >= 0, got ${loadFactor}`);
    this.vnodes = vnodes;
    this.loadFactor = loadFactor;
  }

  /** The key's owner if eligible and under its bound, else the next such clockwise; null if none is eligible. */
  pick(upstreams: readonly Upstream[], ctx: PickContext): string | null {
    const eligible = eligibleUpstreams(upstreams, ctx);
    if (eligible.length === 0) return null;
    const key = ctx.affinityKey;
    if (key === undefined) return this.fallback.pick(upstreams, ctx);

    let totalInFlight = 0;
    let totalWeight = 0;
    const byId = new Map<string, Upstream>();
    for (const u of eligible) {
      totalInFlight += u.inFlight;
      totalWeight += u.weight;
      byId.set(u.id, u);
    }
    const scaled = (1 + this.loadFactor) * (totalInFlight + 1);
    const hasRoom = (u: Upstream): boolean => u.inFlight < Math.ceil((scaled * u.weight) / totalWeight);

    const ring = this.ringFor(upstreams);
    const owner = byId.get(ring.lookup(key));
    if (owner !== undefined && hasRoom(owner)) return owner.id;
    let firstEligible: string | null = null;
    for (const id of ring.preferenceList(key, ring.size)) {
      const u = byId.get(id);
      if (u === undefined) continue;
      if (hasRoom(u)) return id;
      firstEligible ??= id;
    }
    // The bounds add up to more than the load in flight, so some eligible upstream always has room;
    // this is only a guard against floating-point surprises.
    return firstEligible;
  }

  private ringFor(upstreams: readonly Upstream[]): HashRing {
    // Placement ignores list order (ring rule 4), so the signature does too.
    const pairs = upstreams.map((u): [string, number] => [u.id, u.weight]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const signature = JSON.stringify(pairs);
    if (this.ring === null || signature !== this.ringSignature) {
      this.ring = new HashRing(
        pairs.map(([id, weight]) => ({ id, weight })),
        { vnodes: this.vnodes },
      );
      this.ringSignature = signature;
    }
    return this.ring;
  }
}
