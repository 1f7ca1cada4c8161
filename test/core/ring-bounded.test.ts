import { describe, expect, test } from "vitest";
import { BoundedLoadAssigner } from "../../src/core/ring/bounded-load";
import { HashRing, type ShardSpec } from "../../src/core/ring/hash-ring";

// Consistent hashing with bounded loads: Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
// Bounded Loads" (SODA 2018, arXiv:1608.01350). Capacity per shard: ceil((1+eps) * (m+1) * w / W).

const shardIds = (n: number): ShardSpec[] => Array.from({ length: n }, (_, i) => ({ id: `shard-${i}` }));
const keys = (count: number, prefix = "key-"): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe("lookupBounded", () => {
  const ring = new HashRing(shardIds(8));

  test("with no load anywhere it is the plain owner", () => {
    for (const key of keys(1_000)) expect(ring.lookupBounded(key, () => 0, 0, 0.25)).toBe(ring.lookup(key));
  });

  test("a shard at capacity overflows the key to the next shard clockwise that has room", () => {
    // totalLoad 99, eps 0.25, 8 shards: capacity = ceil(1.25 * 100 / 8) = 16.
    for (const key of keys(500)) {
      const [first, second, third] = ring.preferenceList(key, 3);
      const full = (id: string): number => (id === first ? 16 : 0);
      expect(ring.lookupBounded(key, full, 99, 0.25)).toBe(second);
      const almost = (id: string): number => (id === first ? 15 : 0);
      expect(ring.lookupBounded(key, almost, 99, 0.25)).toBe(first);
      const twoFull = (id: string): number => (id === first || id === second ? 16 : 0);
      expect(ring.lookupBounded(key, twoFull, 99, 0.25)).toBe(third);
    }
  });

  test("a weight-2 shard has twice the capacity", () => {
    const weighted = new HashRing([{ id: "big", weight: 2 }, { id: "small" }], { vnodes: 64 });
    // totalLoad 29, eps 0: capacities ceil(30 * 2/3) = 20 and ceil(30 * 1/3) = 10.
    const key = keys(200).find((k) => weighted.lookup(k) === "big") ?? "";
    expect(weighted.lookupBounded(key, (id) => (id === "big" ? 19 : 0), 29, 0)).toBe("big");
    expect(weighted.lookupBounded(key, (id) => (id === "big" ? 20 : 0), 29, 0)).toBe("small");
  });

  test("when the loads passed in leave every shard full it falls back to the plain owner", () => {
    expect(ring.lookupBounded("k", () => 1_000, 10, 0.25)).toBe(ring.lookup("k"));
  });

  test("rejects a negative or non-finite epsilon or totalLoad", () => {
    expect(() => ring.lookupBounded("k", () => 0, 0, -0.1)).toThrow(RangeError);
    expect(() => ring.lookupBounded("k", () => 0, 0, Number.NaN)).toThrow(RangeError);
    expect(() => ring.lookupBounded("k", () => 0, -1, 0.25)).toThrow(RangeError);
    expect(() => ring.lookupBounded("k", () => 0, Number.POSITIVE_INFINITY, 0.25)).toThrow(RangeError);
  });
});

describe("BoundedLoadAssigner", () => {
  test.each([4, 8, 16])("100k keys on %d shards with eps 0.25: no shard above ceil((1+eps) * average)", (n) => {
    const eps = 0.25;
    const assigner = new BoundedLoadAssigner(new HashRing(shardIds(n)), eps);
    for (const key of keys(100_000)) assigner.assign(key);
    const loads = [...assigner.loads().values()];
    expect(loads.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(assigner.totalLoad).toBe(100_000);
    expect(Math.max(...loads)).toBeLessThanOrEqual(Math.ceil(((1 + eps) * 100_000) / n));
  });

  test("the bound holds at every step, not just at the end", () => {
    const eps = 0.1;
    const assigner = new BoundedLoadAssigner(new HashRing(shardIds(8)), eps);
    for (const key of keys(20_000, "step-")) {
      const shard = assigner.assign(key);
      expect(assigner.load(shard)).toBeLessThanOrEqual(Math.ceil(((1 + eps) * assigner.totalLoad) / 8));
    }
  });

  test("weighted shards are bounded by their weighted share", () => {
    const eps = 0.25;
    const specs: ShardSpec[] = [{ id: "big", weight: 3 }, ...shardIds(5)];
    const assigner = new BoundedLoadAssigner(new HashRing(specs), eps);
    for (const key of keys(50_000)) assigner.assign(key);
    const total = 8; // 3 + 5 * 1
    for (const { id, weight = 1 } of specs) {
      expect(assigner.load(id)).toBeLessThanOrEqual(Math.ceil(((1 + eps) * 50_000 * weight) / total));
    }
  });

  test("same sequence of assignments gives the same placements (deterministic)", () => {
    const a = new BoundedLoadAssigner(new HashRing(shardIds(8)), 0.25);
    const b = new BoundedLoadAssigner(new HashRing([...shardIds(8)].reverse()), 0.25);
    for (const key of keys(20_000)) expect(b.assign(key)).toBe(a.assign(key));
  });

  test("release frees capacity and rejects unknown or empty shards", () => {
    const assigner = new BoundedLoadAssigner(new HashRing(shardIds(4)), 0.25);
    const shard = assigner.assign("only-key");
    expect(assigner.load(shard)).toBe(1);
    assigner.release(shard);
    expect(assigner.load(shard)).toBe(0);
    expect(assigner.totalLoad).toBe(0);
    expect(() => assigner.release(shard)).toThrow(RangeError);
    expect(() => assigner.release("nope")).toThrow(RangeError);
  });

  test("rejects a negative epsilon", () => {
    expect(() => new BoundedLoadAssigner(new HashRing(shardIds(2)), -1)).toThrow(RangeError);
  });
});
