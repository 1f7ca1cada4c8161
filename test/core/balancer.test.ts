import { describe, expect, test } from "vitest";
import {
  BALANCER_ALGORITHMS,
  ConsistentHashPicker,
  createPicker,
  DEFAULT_EWMA_TAU_MS,
  DEFAULT_HASH_VNODES,
  estimateAt,
  isBalancerAlgorithm,
  LeastConnectionsPicker,
  observeLatency,
  P2cEwmaPicker,
  type PeakEwma,
  type PickContext,
  type Picker,
  RandomPicker,
  RoundRobinPicker,
  SmoothWeightedRoundRobinPicker,
  UNSAMPLED_BUSY_PENALTY,
  type Upstream,
} from "../../src/core/balancer";
import { HashRing } from "../../src/core/ring/hash-ring";
import { mulberry32 } from "../support/prng";

// Sources cited by the tests:
// - nginx smooth weighted round-robin: changeset "Upstream: smooth weighted round-robin balancing."
//   (Maxim Dounin, 2012, nginx 1.3.1), ngx_http_upstream_get_peer in ngx_http_upstream_round_robin.c.
// - Finagle PeakEwma + P2C: finagle-core loadbalancer/PeakEwma.scala and p2c/P2CPick.scala.
// - Bounded loads: Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads" (SODA 2018).

const up = (id: string, fields: Partial<Omit<Upstream, "id">> = {}): Upstream => ({
  id,
  weight: 1,
  inFlight: 0,
  available: true,
  ...fields,
});
const ups = (...ids: string[]): Upstream[] => ids.map((id) => up(id));
const ctxOf = (seed = 1, extra: Partial<PickContext> = {}): PickContext => ({ rng: mulberry32(seed), now: 0, ...extra });
const picks = (picker: Picker, upstreams: readonly Upstream[], count: number, ctx: PickContext = ctxOf()): (string | null)[] =>
  Array.from({ length: count }, () => picker.pick(upstreams, ctx));
const tally = (ids: readonly (string | null)[]): Map<string | null, number> => {
  const counts = new Map<string | null, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
};
const weighted = (weights: readonly number[]): Upstream[] => weights.map((weight, i) => up(String.fromCharCode(97 + i), { weight }));

describe("smooth weighted round-robin (nginx ngx_http_upstream_get_peer)", () => {
  test("nginx smooth WRR: weights 2:1 give A, B, A", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    const pool = [up("A", { weight: 2 }), up("B", { weight: 1 })];
    expect(picks(picker, pool, 3)).toEqual(["A", "B", "A"]);
  });

  test("nginx smooth WRR: weights 5:1:1 give a a b a c a a (the nginx changeset's example), and again each cycle", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    const sequence = ["a", "a", "b", "a", "c", "a", "a"];
    expect(picks(picker, weighted([5, 1, 1]), 14)).toEqual([...sequence, ...sequence]);
    // After a full cycle every current weight is back to 0: current_i = k * w_i - W * count_i.
    expect([...picker.currentWeights().values()]).toEqual([0, 0, 0]);
  });

  test.each([[[5, 1, 1]], [[3, 2, 1]], [[10, 1]], [[1, 1, 1, 1]], [[4, 3, 2, 1]], [[7, 5, 3, 2, 1]], [[100, 1]], [[2, 2, 3]]])(
    "nginx smooth WRR: weights %j: each peer is chosen exactly weight times in every cycle of sum(weights) picks",
    (weights) => {
      const picker = new SmoothWeightedRoundRobinPicker();
      const pool = weighted(weights);
      const cycle = weights.reduce((a, b) => a + b, 0);
      for (let round = 0; round < 20; round++) {
        const counts = tally(picks(picker, pool, cycle));
        for (const u of pool) expect(counts.get(u.id)).toBe(u.weight);
      }
    },
  );

  test("nginx smooth WRR: a heavy peer's picks are spread out, never all in one burst (weights 4:1 give a a b a a)", () => {
    expect(picks(new SmoothWeightedRoundRobinPicker(), weighted([4, 1]), 5)).toEqual(["a", "a", "b", "a", "a"]);
  });

  test("nginx smooth WRR: a peer whose weight ties with another's current goes first in list order", () => {
    expect(picks(new SmoothWeightedRoundRobinPicker(), weighted([1, 1, 1]), 6)).toEqual(["a", "b", "c", "a", "b", "c"]);
  });

  test("the exact proportions hold even when the list is reshuffled on every pick (state is keyed by id)", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    const pool = weighted([5, 3, 1, 1]);
    const rng = mulberry32(7);
    for (let round = 0; round < 30; round++) {
      const chosen: (string | null)[] = [];
      for (let i = 0; i < 10; i++) {
        const shuffled = [...pool].sort(() => rng() - 0.5);
        chosen.push(picker.pick(shuffled, ctxOf()));
      }
      const counts = tally(chosen);
      for (const u of pool) expect(counts.get(u.id)).toBe(u.weight);
    }
  });

  test("an unavailable peer sits out and the others keep their exact ratio", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    const pool = [up("a", { weight: 5 }), up("b", { weight: 1, available: false }), up("c", { weight: 1 })];
    const counts = tally(picks(picker, pool, 600));
    expect(counts.get("a")).toBe(500);
    expect(counts.get("c")).toBe(100);
    expect(counts.has("b")).toBe(false);
    expect(picker.currentWeights().get("b")).toBeUndefined();
  });

  test("a peer coming back after an outage rejoins at its share", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    const all = [up("a", { weight: 5 }), up("b", { weight: 1 }), up("c", { weight: 1 })];
    picks(picker, all, 3);
    const bDown = all.map((u) => (u.id === "b" ? { ...u, available: false } : u));
    picks(picker, bDown, 50);
    const counts = tally(picks(picker, all, 7_000));
    expect(Math.abs((counts.get("a") ?? 0) - 5_000)).toBeLessThanOrEqual(2);
    expect(Math.abs((counts.get("b") ?? 0) - 1_000)).toBeLessThanOrEqual(2);
    expect(Math.abs((counts.get("c") ?? 0) - 1_000)).toBeLessThanOrEqual(2);
  });

  test("a removed upstream's state is dropped and a newcomer starts from 0", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    picks(picker, weighted([5, 1, 1]), 3);
    expect(picker.currentWeights().has("b")).toBe(true);
    picker.pick([up("a", { weight: 5 }), up("c"), up("d")], ctxOf());
    const state = picker.currentWeights();
    expect(state.has("b")).toBe(false);
    expect(state.get("d")).toBe(1); // 0 + its weight, not chosen
    // From a fresh cycle on, the new set is served in exact proportion again.
    const fresh = new SmoothWeightedRoundRobinPicker();
    const counts = tally(picks(fresh, [up("a", { weight: 5 }), up("c"), up("d")], 70));
    expect([counts.get("a"), counts.get("c"), counts.get("d")]).toEqual([50, 10, 10]);
  });

  test("a retry's excluded peer does not take part in that pick (nginx skips tried peers)", () => {
    const picker = new SmoothWeightedRoundRobinPicker();
    expect(picker.pick(weighted([5, 1, 1]), ctxOf(1, { exclude: new Set(["a"]) }))).toBe("b");
    expect(picker.currentWeights().get("a")).toBeUndefined();
  });
});

describe("round-robin", () => {
  test("visits every upstream once per cycle, in list order", () => {
    expect(picks(new RoundRobinPicker(), ups("a", "b", "c"), 7)).toEqual(["a", "b", "c", "a", "b", "c", "a"]);
  });

  test("ignores weights", () => {
    expect(picks(new RoundRobinPicker(), weighted([9, 1]), 4)).toEqual(["a", "b", "a", "b"]);
  });

  test("skips an unavailable upstream without giving its turn twice to a neighbour", () => {
    const pool = [up("a"), up("b", { available: false }), up("c"), up("d")];
    const counts = tally(picks(new RoundRobinPicker(), pool, 300));
    expect([counts.get("a"), counts.get("c"), counts.get("d"), counts.get("b")]).toEqual([100, 100, 100, undefined]);
  });

  test("resumes after the last picked upstream when others are added in front of it", () => {
    const picker = new RoundRobinPicker();
    expect(picks(picker, ups("a", "b", "c"), 2)).toEqual(["a", "b"]);
    expect(picks(picker, ups("z", "a", "b", "c"), 4)).toEqual(["c", "z", "a", "b"]);
  });

  test("when the last picked upstream is removed, the one that took its place is next", () => {
    const picker = new RoundRobinPicker();
    expect(picks(picker, ups("a", "b", "c"), 2)).toEqual(["a", "b"]);
    expect(picks(picker, ups("a", "c"), 3)).toEqual(["c", "a", "c"]);
  });
});

describe("random", () => {
  test("is uniform over the available upstreams and never picks an unavailable one", () => {
    const pool = [up("a"), up("b"), up("c", { available: false }), up("d")];
    const counts = tally(picks(new RandomPicker(), pool, 30_000, ctxOf(42)));
    expect(counts.has("c")).toBe(false);
    for (const id of ["a", "b", "d"]) expect(Math.abs((counts.get(id) ?? 0) / 30_000 - 1 / 3)).toBeLessThan(0.015);
  });

  test("the same seed replays the same picks", () => {
    const pool = ups("a", "b", "c", "d", "e");
    expect(picks(new RandomPicker(), pool, 50, ctxOf(9))).toEqual(picks(new RandomPicker(), pool, 50, ctxOf(9)));
  });

  test("an rng that returns a value outside [0, 1) is rejected rather than trusted", () => {
    expect(() => new RandomPicker().pick(ups("a", "b"), { rng: () => 1, now: 0 })).toThrow(RangeError);
    expect(() => new RandomPicker().pick(ups("a", "b"), { rng: () => Number.NaN, now: 0 })).toThrow(RangeError);
  });
});

describe("least-connections", () => {
  test("avoids a busy upstream", () => {
    const pool = [up("a", { inFlight: 5 }), up("b", { inFlight: 0 }), up("c", { inFlight: 0 })];
    const counts = tally(picks(new LeastConnectionsPicker(), pool, 1_000));
    expect(counts.has("a")).toBe(false);
    expect(counts.get("b")! + counts.get("c")!).toBe(1_000);
  });

  test("always picks the fewest in flight, whatever the weights", () => {
    const picker = new LeastConnectionsPicker();
    const pool = [up("a", { inFlight: 3, weight: 10 }), up("b", { inFlight: 2 }), up("c", { inFlight: 4 })];
    expect(new Set(picks(picker, pool, 100))).toEqual(new Set(["b"]));
  });

  test("ties go to a weighted random draw, so an idle pool is neither herded onto one upstream nor unweighted", () => {
    const pool = [up("a", { weight: 3 }), up("b", { weight: 1 }), up("c", { weight: 1, inFlight: 1 })];
    const counts = tally(picks(new LeastConnectionsPicker(), pool, 20_000, ctxOf(3)));
    expect(counts.has("c")).toBe(false);
    expect(Math.abs((counts.get("a") ?? 0) / 20_000 - 0.75)).toBeLessThan(0.015);
  });

  test("served one request at a time, it spreads them instead of returning the same upstream", () => {
    const picker = new LeastConnectionsPicker();
    const inFlight = new Map<string, number>([["a", 0], ["b", 0], ["c", 0]]);
    const ctx = ctxOf(5);
    for (let i = 0; i < 300; i++) {
      const id = picker.pick([...inFlight].map(([id, n]) => up(id, { inFlight: n })), ctx)!;
      inFlight.set(id, inFlight.get(id)! + 1);
    }
    // Each pick took the least loaded, so the loads never differ by more than one.
    expect([...inFlight.values()]).toEqual([100, 100, 100]);
  });
});

describe("power of two choices on peak-EWMA cost (Finagle P2CPeakEwma)", () => {
  test("Finagle P2C: the costliest upstream never wins a comparison, so it is never picked", () => {
    const pool = [up("a", { ewmaMs: 10 }), up("b", { ewmaMs: 12 }), up("c", { ewmaMs: 11 }), up("slow", { ewmaMs: 100 })];
    const counts = tally(picks(new P2cEwmaPicker(), pool, 10_000, ctxOf(11)));
    expect(counts.has("slow")).toBe(false);
  });

  test("Finagle P2C: the two candidates are distinct (with two upstreams the cheaper always wins)", () => {
    const pool = [up("a", { ewmaMs: 10 }), up("b", { ewmaMs: 20 })];
    expect(new Set(picks(new P2cEwmaPicker(), pool, 5_000, ctxOf(12)))).toEqual(new Set(["a"]));
  });

  test("Finagle PeakEwma: cost = ewma x (inFlight + 1), so a loaded fast upstream loses to an idle slow one", () => {
    const picker = new P2cEwmaPicker();
    expect(picker.cost(up("a", { ewmaMs: 10, inFlight: 10 }))).toBe(110);
    expect(picker.pick([up("fast", { ewmaMs: 10, inFlight: 10 }), up("slow", { ewmaMs: 100 })], ctxOf())).toBe("slow");
    expect(picker.pick([up("fast", { ewmaMs: 10, inFlight: 8 }), up("slow", { ewmaMs: 100 })], ctxOf())).toBe("fast");
  });

  test("Finagle PeakEwma: an upstream with no latency sample costs 0 while idle, so it is probed at once", () => {
    const picker = new P2cEwmaPicker();
    expect(picker.cost(up("new"))).toBe(0);
    expect(picker.pick([up("old", { ewmaMs: 1 }), up("new")], ctxOf())).toBe("new");
  });

  test("Finagle PeakEwma: while its first probe is outstanding an unsampled upstream costs a penalty, so it is not flooded", () => {
    const picker = new P2cEwmaPicker();
    expect(picker.cost(up("new", { inFlight: 2 }))).toBe(UNSAMPLED_BUSY_PENALTY + 2);
    expect(picker.pick([up("old", { ewmaMs: 500, inFlight: 50 }), up("new", { inFlight: 1 })], ctxOf())).toBe("old");
  });

  test("a 0 ms estimate (Workers' coarse clock) is floored, so inFlight still counts", () => {
    const picker = new P2cEwmaPicker();
    expect(picker.pick([up("a", { ewmaMs: 0, inFlight: 5 }), up("b", { ewmaMs: 0, inFlight: 0 })], ctxOf())).toBe("b");
    expect(new P2cEwmaPicker({ latencyFloorMs: 0 }).cost(up("a", { ewmaMs: 0, inFlight: 5 }))).toBe(0);
    expect(() => new P2cEwmaPicker({ latencyFloorMs: -1 })).toThrow(RangeError);
  });

  test("a slow upstream left alone is re-probed once its estimate has decayed (Finagle reads decay towards 0)", () => {
    const slow: PeakEwma = { value: 100, lastAt: 0 };
    const pool = (now: number): Upstream[] => [
      up("a", { ewmaMs: 10, inFlight: 3 }),
      up("b", { ewmaMs: 10, inFlight: 3 }),
      up("slow", { ewmaMs: estimateAt(slow, now) }),
    ];
    const picker = new P2cEwmaPicker();
    expect(tally(picks(picker, pool(0), 1_000, ctxOf(13))).has("slow")).toBe(false);
    // 20 s = 2 tau later: 100 * e^-2 = 13.5 ms < a's cost of 40.
    expect(tally(picks(picker, pool(20_000), 1_000, ctxOf(13))).get("slow")).toBeGreaterThan(500);
  });

  /**
   * One request per ms on four upstreams; three answer in ~10 ms, one in ~100 ms. Latencies feed each
   * upstream's peak EWMA, whose decayed estimate is what the picker sees. Returns picks per upstream
   * after a 1 s warm-up.
   */
  function simulateOneSlowUpstream(algorithm: "p2c-ewma" | "random", seed: number): Map<string, number> {
    const rng = mulberry32(seed);
    const picker = createPicker(algorithm);
    const latency = new Map([["a", 10], ["b", 10], ["c", 10], ["slow", 100]]);
    const ewma = new Map<string, PeakEwma | undefined>();
    const inFlight = new Map<string, number>([...latency.keys()].map((id) => [id, 0]));
    let pending: { at: number; id: string; took: number }[] = [];
    const counts = new Map<string, number>();
    const warmUp = 1_000;
    for (let now = 0; now < warmUp + 20_000; now++) {
      const done = pending.filter((p) => p.at <= now).sort((x, y) => x.at - y.at);
      pending = pending.filter((p) => p.at > now);
      for (const p of done) {
        inFlight.set(p.id, inFlight.get(p.id)! - 1);
        ewma.set(p.id, observeLatency(ewma.get(p.id), p.took, p.at));
      }
      const pool = [...latency.keys()].map((id) => {
        const estimate = estimateAt(ewma.get(id), now);
        return up(id, { inFlight: inFlight.get(id)!, ...(estimate === undefined ? {} : { ewmaMs: estimate }) });
      });
      const id = picker.pick(pool, { rng, now });
      if (id === null) throw new Error("no upstream picked");
      const took = latency.get(id)! * (0.8 + 0.4 * rng());
      inFlight.set(id, inFlight.get(id)! + 1);
      pending.push({ at: now + took, id, took });
      if (now >= warmUp) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  test.each([1, 2, 3])(
    "Finagle P2C + PeakEwma: one of four upstreams 10x slower gets < 5% of picks once its EWMA reflects it (seed %i)",
    (seed) => {
      const counts = simulateOneSlowUpstream("p2c-ewma", seed);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      console.log(`p2c-ewma seed ${seed}: ${JSON.stringify(Object.fromEntries(counts))}`);
      expect(total).toBe(20_000);
      expect((counts.get("slow") ?? 0) / total).toBeLessThan(0.05);
      for (const id of ["a", "b", "c"]) expect((counts.get(id) ?? 0) / total).toBeGreaterThan(0.3);
      // The baseline on the same workload: random sends the slow upstream its full quarter.
      const random = simulateOneSlowUpstream("random", seed);
      expect((random.get("slow") ?? 0) / total).toBeGreaterThan(0.22);
    },
  );
});

describe("consistent hash with bounded load (Mirrokni, Thorup, Zadimoghaddam 2017)", () => {
  const keys = Array.from({ length: 2_000 }, (_, i) => `session-${i}`);
  const pool = ups("u1", "u2", "u3", "u4");
  const ring = new HashRing(pool.map((u) => ({ id: u.id })), { vnodes: DEFAULT_HASH_VNODES });
  const pickKey = (picker: Picker, upstreams: readonly Upstream[], key: string, exclude?: ReadonlySet<string>): string | null =>
    picker.pick(upstreams, ctxOf(1, exclude === undefined ? { affinityKey: key } : { affinityKey: key, exclude }));

  test("the same key goes to the ring owner (same placement in every isolate), whatever the list order", () => {
    const picker = new ConsistentHashPicker();
    const reversed = [...pool].reverse();
    for (const key of keys) {
      expect(pickKey(picker, pool, key)).toBe(ring.lookup(key));
      expect(pickKey(picker, reversed, key)).toBe(ring.lookup(key));
    }
    const counts = tally(keys.map((key) => pickKey(picker, pool, key)));
    for (const u of pool) expect((counts.get(u.id) ?? 0) / keys.length).toBeGreaterThan(0.15);
  });

  test("when the owner is unavailable its keys go to the next upstream on the ring, only its keys move, and they come back", () => {
    const picker = new ConsistentHashPicker();
    const u2Down = pool.map((u) => (u.id === "u2" ? { ...u, available: false } : u));
    for (const key of keys) {
      const owner = ring.lookup(key);
      const expected = owner === "u2" ? ring.preferenceList(key, 2)[1] : owner;
      expect(pickKey(picker, u2Down, key)).toBe(expected);
    }
    for (const key of keys) expect(pickKey(picker, pool, key)).toBe(ring.lookup(key));
  });

  test("a retry (exclude) goes to the next upstream on the ring, then the one after", () => {
    const picker = new ConsistentHashPicker();
    for (const key of keys.slice(0, 200)) {
      const [first, second, third] = ring.preferenceList(key, 3);
      expect(pickKey(picker, pool, key, new Set([first!]))).toBe(second);
      expect(pickKey(picker, pool, key, new Set([first!, second!]))).toBe(third);
    }
  });

  test("bounded load: an owner at its bound ceil((1+eps)(m+1)w/W) spills to the next on the ring; below it, it keeps the key", () => {
    const picker = new ConsistentHashPicker({ loadFactor: 0.25 });
    for (const key of keys.slice(0, 200)) {
      const [first, second] = ring.preferenceList(key, 2);
      // m = 2 in flight, all on the owner: bound = ceil(1.25 * 3 / 4) = 1.
      const full = pool.map((u) => (u.id === first ? { ...u, inFlight: 2 } : u));
      expect(pickKey(picker, full, key)).toBe(second);
      // m = 4, one each: bound = ceil(1.25 * 5 / 4) = 2, the owner has room.
      const even = pool.map((u) => ({ ...u, inFlight: 1 }));
      expect(pickKey(picker, even, key)).toBe(first);
    }
  });

  test("bounded load: a hot key never pushes any upstream past ceil((1+eps) * m * w / W)", () => {
    for (const [weights, eps] of [[[1, 1, 1, 1], 0.25], [[2, 1, 1], 0.25], [[1, 1, 1, 1], 0]] as const) {
      const picker = new ConsistentHashPicker({ loadFactor: eps });
      let current = weighted(weights);
      const totalWeight = weights.reduce((a, b) => a + b, 0);
      const owner = picker.pick(current, ctxOf(1, { affinityKey: "hot" }));
      for (let m = 1; m <= 400; m++) {
        const id = picker.pick(current, ctxOf(1, { affinityKey: "hot" }));
        if (m === 1) expect(id).toBe(owner);
        current = current.map((u) => (u.id === id ? { ...u, inFlight: u.inFlight + 1 } : u));
        for (const u of current) expect(u.inFlight).toBeLessThanOrEqual(Math.ceil(((1 + eps) * m * u.weight) / totalWeight));
      }
      if (eps === 0) expect(current.map((u) => u.inFlight)).toEqual([100, 100, 100, 100]);
    }
  });

  test("bounds count only eligible upstreams: with one down, the others share its load without spilling onto it", () => {
    const picker = new ConsistentHashPicker({ loadFactor: 0 });
    let current = pool.map((u) => (u.id === "u4" ? { ...u, available: false } : u));
    for (let m = 0; m < 300; m++) {
      const id = picker.pick(current, ctxOf(1, { affinityKey: "hot" }));
      current = current.map((u) => (u.id === id ? { ...u, inFlight: u.inFlight + 1 } : u));
    }
    expect(current.map((u) => u.inFlight)).toEqual([100, 100, 100, 0]);
  });

  test("the ring follows weight changes", () => {
    const picker = new ConsistentHashPicker();
    const heavy = pool.map((u) => (u.id === "u1" ? { ...u, weight: 3 } : u));
    const heavyRing = new HashRing(heavy.map((u) => ({ id: u.id, weight: u.weight })), { vnodes: DEFAULT_HASH_VNODES });
    for (const key of keys.slice(0, 500)) expect(pickKey(picker, heavy, key)).toBe(heavyRing.lookup(key));
    for (const key of keys.slice(0, 500)) expect(pickKey(picker, pool, key)).toBe(ring.lookup(key));
  });

  test("without an affinity key it falls back to least-connections", () => {
    const picker = new ConsistentHashPicker();
    const busy = [up("a", { inFlight: 3 }), up("b"), up("c", { inFlight: 1 })];
    expect(new Set(picks(picker, busy, 50))).toEqual(new Set(["b"]));
  });

  test("rejects a bad load factor or vnode count", () => {
    expect(() => new ConsistentHashPicker({ loadFactor: -0.1 })).toThrow(RangeError);
    expect(() => new ConsistentHashPicker({ vnodes: 0 })).toThrow(RangeError);
    expect(() => new ConsistentHashPicker({ vnodes: 1.5 })).toThrow(RangeError);
  });
});

describe("every algorithm", () => {
  const ctxFor = (seed: number, extra: Partial<PickContext> = {}): PickContext => ctxOf(seed, { affinityKey: `k${seed}`, ...extra });

  test("the exported algorithm list is the factory's, and names validate", () => {
    for (const name of BALANCER_ALGORITHMS) {
      expect(isBalancerAlgorithm(name)).toBe(true);
      expect(createPicker(name).algorithm).toBe(name);
    }
    expect(isBalancerAlgorithm("fastest")).toBe(false);
    expect(BALANCER_ALGORITHMS).toHaveLength(6);
  });

  test.each(BALANCER_ALGORITHMS)("%s: null when nothing is available, excluded-out or at its maxInFlight", (algorithm) => {
    const picker = createPicker(algorithm);
    expect(picker.pick([], ctxFor(1))).toBeNull();
    expect(picker.pick([up("a", { available: false }), up("b", { available: false })], ctxFor(1))).toBeNull();
    expect(picker.pick(ups("a", "b"), ctxFor(1, { exclude: new Set(["a", "b"]) }))).toBeNull();
    expect(picker.pick([up("a", { inFlight: 2, maxInFlight: 2 }), up("b", { maxInFlight: 0 })], ctxFor(1))).toBeNull();
  });

  test.each(BALANCER_ALGORITHMS)("%s: exclude is honoured, a retry never goes back to an upstream already tried", (algorithm) => {
    const picker = createPicker(algorithm);
    const pool = [up("a", { ewmaMs: 5 }), up("b", { ewmaMs: 50, weight: 3 }), up("c", { inFlight: 2 }), up("d", { weight: 2 }), up("e")];
    const rng = mulberry32(21);
    for (let i = 0; i < 500; i++) {
      const exclude = new Set(pool.filter(() => rng() < 0.5).map((u) => u.id));
      const id = picker.pick(pool, ctxFor(i, { exclude }));
      if (exclude.size === pool.length) expect(id).toBeNull();
      else expect(id !== null && !exclude.has(id)).toBe(true);
    }
  });

  test.each(BALANCER_ALGORITHMS)("%s: an unavailable upstream or one at its maxInFlight is never picked", (algorithm) => {
    const picker = createPicker(algorithm);
    const pool = [
      up("full", { inFlight: 4, maxInFlight: 4, ewmaMs: 1 }),
      up("down", { available: false, ewmaMs: 1, weight: 10 }),
      up("ok1", { inFlight: 1, maxInFlight: 4, ewmaMs: 5 }),
      up("ok2", { ewmaMs: 5 }),
    ];
    const chosen = new Set(Array.from({ length: 400 }, (_, i) => picker.pick(pool, ctxFor(i))));
    expect([...chosen].every((id) => id === "ok1" || id === "ok2")).toBe(true);
  });

  test.each(BALANCER_ALGORITHMS)("%s: deterministic, the same inputs and seed give the same picks", (algorithm) => {
    const pool = [up("a", { ewmaMs: 5 }), up("b", { ewmaMs: 7, weight: 2 }), up("c", { inFlight: 1 }), up("d")];
    const run = (): (string | null)[] => {
      const picker = createPicker(algorithm);
      const ctx = ctxOf(77, { affinityKey: "user-1" });
      return Array.from({ length: 100 }, (_, i) => picker.pick(pool, { ...ctx, affinityKey: `user-${i % 7}` }));
    };
    expect(run()).toEqual(run());
  });

  test.each(BALANCER_ALGORITHMS)("%s: a malformed upstream list is the caller's bug and throws RangeError", (algorithm) => {
    const picker = createPicker(algorithm);
    expect(() => picker.pick(ups("a", "a"), ctxFor(1))).toThrow(RangeError);
    expect(() => picker.pick([up("a", { weight: 0 })], ctxFor(1))).toThrow(RangeError);
    expect(() => picker.pick([up("a", { weight: Number.NaN })], ctxFor(1))).toThrow(RangeError);
    expect(() => picker.pick([up("a", { inFlight: -1 })], ctxFor(1))).toThrow(RangeError);
    expect(() => picker.pick([up("a", { ewmaMs: Number.NaN })], ctxFor(1))).toThrow(RangeError);
    expect(() => picker.pick([up("")], ctxFor(1))).toThrow(RangeError);
  });
});

describe("peak EWMA latency estimator (Finagle PeakEwma)", () => {
  test("the first sample is the estimate", () => {
    expect(observeLatency(undefined, 42, 1_000)).toEqual({ value: 42, lastAt: 1_000 });
    expect(estimateAt(undefined, 1_000)).toBeUndefined();
  });

  test("Finagle PeakEwma: a sample above the estimate replaces it at once (peak sensitivity)", () => {
    const state = observeLatency({ value: 10, lastAt: 0 }, 250, 1);
    expect(state).toEqual({ value: 250, lastAt: 1 });
  });

  test("Finagle PeakEwma: a lower sample is blended in with weight 1 - exp(-elapsed / tau)", () => {
    const after = observeLatency({ value: 100, lastAt: 0 }, 10, DEFAULT_EWMA_TAU_MS);
    expect(after.value).toBeCloseTo(100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 10);
    expect(after.lastAt).toBe(DEFAULT_EWMA_TAU_MS);
    // Right after the last sample a lower one barely moves it: the estimate recovers only with time.
    expect(observeLatency({ value: 100, lastAt: 0 }, 10, 0).value).toBe(100);
    expect(observeLatency({ value: 100, lastAt: 0 }, 10, 10).value).toBeCloseTo(100 - 90 * (1 - Math.exp(-10 / 10_000)), 10);
    // Long after, it is almost all the new sample.
    expect(observeLatency({ value: 100, lastAt: 0 }, 10, 20 * DEFAULT_EWMA_TAU_MS).value).toBeCloseTo(10, 6);
  });

  test("tau is configurable", () => {
    expect(observeLatency({ value: 100, lastAt: 0 }, 0, 1_000, 1_000).value).toBeCloseTo(100 * Math.exp(-1), 10);
    expect(estimateAt({ value: 100, lastAt: 0 }, 500, 1_000)).toBeCloseTo(100 * Math.exp(-0.5), 10);
  });

  test("Finagle PeakEwma: between samples the estimate decays towards 0, and reading it changes nothing", () => {
    const state: PeakEwma = { value: 80, lastAt: 5_000 };
    expect(estimateAt(state, 5_000)).toBe(80);
    expect(estimateAt(state, 15_000)).toBeCloseTo(80 * Math.exp(-1), 10);
    expect(estimateAt(state, 15_000)).toBe(estimateAt(state, 15_000));
    expect(state).toEqual({ value: 80, lastAt: 5_000 });
  });

  test("a clock stepping back gives no decay, and lastAt never moves backwards", () => {
    const state = observeLatency({ value: 100, lastAt: 1_000 }, 10, 500);
    expect(state).toEqual({ value: 100, lastAt: 1_000 });
    expect(estimateAt({ value: 100, lastAt: 1_000 }, 0)).toBe(100);
  });

  test("a series of samples: spikes are caught at once, recovery takes about tau", () => {
    let state: PeakEwma | undefined;
    let now = 0;
    for (let i = 0; i < 100; i++) state = observeLatency(state, 20, (now += 100));
    expect(state!.value).toBeCloseTo(20, 9);
    state = observeLatency(state, 400, (now += 100));
    expect(state.value).toBe(400);
    for (let i = 0; i < 100; i++) state = observeLatency(state, 20, (now += 100)); // 10 s = 1 tau of 20 ms replies
    expect(state.value).toBeCloseTo(20 + 380 * Math.exp(-1), 6);
  });

  test("rejects negative or non-finite samples, a non-positive tau and a non-finite time", () => {
    expect(() => observeLatency(undefined, -1, 0)).toThrow(RangeError);
    expect(() => observeLatency(undefined, Number.NaN, 0)).toThrow(RangeError);
    expect(() => observeLatency(undefined, 1, 0, 0)).toThrow(RangeError);
    expect(() => observeLatency(undefined, 1, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => estimateAt(undefined, 0, -5)).toThrow(RangeError);
  });
});
