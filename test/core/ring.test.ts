import { describe, expect, test } from "vitest";
import { murmur3_32 } from "../../src/core/hash/murmur3";
import { DEFAULT_VNODES, HashRing, MAX_TOTAL_VNODES, type ShardSpec } from "../../src/core/ring/hash-ring";

const shardIds = (n: number): ShardSpec[] => Array.from({ length: n }, (_, i) => ({ id: `shard-${i}` }));
const keys = (count: number, prefix = "key-"): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
const maxOverMean = (shares: Iterable<number>, n: number): number => Math.max(...shares) * n;

describe("placement contract: same config gives the same placement everywhere", () => {
  test("two rings built from the same shards, listed in any order, agree on 10k keys", () => {
    const a = new HashRing(shardIds(8));
    const b = new HashRing([...shardIds(8)].reverse());
    const c = new HashRing([5, 2, 7, 0, 3, 6, 1, 4].map((i) => ({ id: `shard-${i}` })));
    for (const key of keys(10_000)) {
      const owner = a.lookup(key);
      expect(b.lookup(key)).toBe(owner);
      expect(c.lookup(key)).toBe(owner);
      expect(c.preferenceList(key, 3)).toEqual(a.preferenceList(key, 3));
    }
    expect([...c.ownership()].sort()).toEqual([...a.ownership()].sort());
  });

  test.each([1, 7, 64])(
    "with %d vnodes each, vnode i of shard `id` sits at murmur3_32(`${id}#${i}`) and a key goes to the first vnode at or after it",
    (vnodes) => {
      const ids = ["alpha", "beta", "gamma", "delta", "epsilon"];
      const ring = new HashRing(
        ids.map((id) => ({ id })),
        { vnodes },
      );
      const points = ids
        .flatMap((id) => Array.from({ length: vnodes }, (_, i) => ({ id, at: murmur3_32(`${id}#${i}`) })))
        .sort((x, y) => x.at - y.at);
      const last = points[points.length - 1]?.at ?? 0;
      let wrapped = 0;
      for (const key of keys(5_000)) {
        const h = murmur3_32(key);
        if (h > last) wrapped++;
        const expected = (points.find((p) => p.at >= h) ?? points[0])?.id;
        expect(ring.lookup(key)).toBe(expected);
      }
      if (vnodes === 1) expect(wrapped).toBeGreaterThan(0); // the wrap-around path was exercised
    },
  );

  test("pinned placements for 8 default shards never change (changing them moves production keys)", () => {
    const ring = new HashRing(shardIds(8));
    const pinned: ReadonlyArray<[string, string[]]> = [
      ["user:1", ["shard-1", "shard-6", "shard-2"]],
      ["user:2", ["shard-4", "shard-7", "shard-6"]],
      ["session:abc", ["shard-0", "shard-4", "shard-3"]],
      ["日本", ["shard-2", "shard-3", "shard-4"]],
      ["🙂", ["shard-0", "shard-3", "shard-5"]],
      ["", ["shard-2", "shard-3", "shard-7"]],
      ["key-999999", ["shard-4", "shard-3", "shard-1"]],
    ];
    for (const [key, list] of pinned) expect(ring.preferenceList(key, 3), key).toEqual(list);
  });

  test("vnodes at the same position are ordered by shard id, whatever order the shards are listed in", () => {
    // murmur3_32("tie-19576#0") === murmur3_32("tie-59420#0") === 0x92923368 (found by search).
    expect(murmur3_32("tie-19576#0")).toBe(0x92923368);
    expect(murmur3_32("tie-59420#0")).toBe(0x92923368);
    for (const listed of [["tie-59420", "tie-19576"], ["tie-19576", "tie-59420"]]) {
      const ring = new HashRing(
        listed.map((id) => ({ id })),
        { vnodes: 1 },
      );
      expect(ring.ownership().get("tie-19576")).toBe(1);
      expect(ring.ownership().get("tie-59420")).toBe(0);
      expect(ring.lookup("anything")).toBe("tie-19576");
      expect(ring.preferenceList("anything", 2)).toEqual(["tie-19576", "tie-59420"]);
    }
  });
});

describe("ownership and balance", () => {
  test.each([4, 8, 16, 32])("%d equal shards at DEFAULT_VNODES: max/mean ownership <= 1.10", (n) => {
    const ring = new HashRing(shardIds(n));
    const shares = [...ring.ownership().values()];
    expect(shares).toHaveLength(n);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(maxOverMean(shares, n)).toBeLessThanOrEqual(1.1);
  });

  test("a single shard owns the whole ring and every key", () => {
    const ring = new HashRing([{ id: "only" }], { vnodes: 1 });
    expect(ring.ownership().get("only")).toBe(1);
    for (const key of keys(100)) expect(ring.lookup(key)).toBe("only");
  });

  test("a weight-2 shard gets twice the vnodes and owns about twice the mean of the others", () => {
    const specs: ShardSpec[] = [...shardIds(8), { id: "heavy", weight: 2 }];
    const ring = new HashRing(specs);
    expect(ring.shards.find((s) => s.id === "heavy")).toEqual({ id: "heavy", weight: 2, vnodes: 2 * DEFAULT_VNODES });
    const own = ring.ownership();
    const others = shardIds(8).map(({ id }) => own.get(id) ?? 0);
    const ratio = (own.get("heavy") ?? 0) / (others.reduce((a, b) => a + b, 0) / others.length);
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(2.2);
    // The key distribution follows the ownership.
    let heavyKeys = 0;
    for (const key of keys(100_000)) if (ring.lookup(key) === "heavy") heavyKeys++;
    expect(heavyKeys / 100_000).toBeCloseTo(own.get("heavy") ?? 0, 2);
  });

  test("vnode count is round(vnodes * weight), at least 1, and size/vnodeCount report the ring", () => {
    const ring = new HashRing(
      [{ id: "a", weight: 0.5 }, { id: "b", weight: 1.26 }, { id: "c", weight: 1e-9 }],
      { vnodes: 100 },
    );
    expect(ring.shards.map((s) => s.vnodes)).toEqual([50, 126, 1]);
    expect(ring.size).toBe(3);
    expect(ring.vnodeCount).toBe(177);
  });
});

describe("minimal movement when the shard set changes", () => {
  const sample = keys(100_000, "item:");

  test.each([4, 8, 16])("adding a shard to %d moves only keys onto it, about 1/(n+1) of them", (n) => {
    const before = new HashRing(shardIds(n));
    const after = new HashRing(shardIds(n + 1));
    const newcomer = `shard-${n}`;
    let moved = 0;
    for (const key of sample) {
      const was = before.lookup(key);
      const now = after.lookup(key);
      if (was !== now) {
        expect(now).toBe(newcomer);
        moved++;
      }
    }
    const ideal = 1 / (n + 1);
    expect(Math.abs(moved / sample.length - ideal) / ideal).toBeLessThanOrEqual(0.1);
  });

  test("removing a shard moves only that shard's keys, to their next shard clockwise", () => {
    const before = new HashRing(shardIds(8));
    const after = new HashRing(shardIds(8).filter((s) => s.id !== "shard-3"));
    for (const key of sample.slice(0, 20_000)) {
      const list = before.preferenceList(key, 2);
      const now = after.lookup(key);
      if (list[0] === "shard-3") expect(now).toBe(list[1]);
      else expect(now).toBe(list[0]);
    }
  });
});

describe("preferenceList", () => {
  const ring = new HashRing(shardIds(8));

  test("returns n distinct shards, the first being lookup(key), each list a prefix of the longer ones", () => {
    for (const key of keys(2_000, "pref:")) {
      const full = ring.preferenceList(key, 8);
      expect(new Set(full).size).toBe(8);
      expect(full[0]).toBe(ring.lookup(key));
      for (let n = 0; n <= 8; n++) expect(ring.preferenceList(key, n)).toEqual(full.slice(0, n));
    }
  });

  test("caps n at the shard count", () => {
    expect(ring.preferenceList("k", 50)).toHaveLength(8);
    expect(new HashRing([{ id: "x" }, { id: "y" }], { vnodes: 1 }).preferenceList("k", 3)).toHaveLength(2);
  });

  test("rejects a negative or fractional n", () => {
    expect(() => ring.preferenceList("k", -1)).toThrow(RangeError);
    expect(() => ring.preferenceList("k", 1.5)).toThrow(RangeError);
    expect(() => ring.preferenceList("k", Number.NaN)).toThrow(RangeError);
  });
});

describe("input validation", () => {
  test.each<[string, ShardSpec[], { vnodes?: number }?]>([
    ["no shards", []],
    ["an empty id", [{ id: "" }]],
    ["a duplicate id", [{ id: "a" }, { id: "b" }, { id: "a" }]],
    ["weight 0", [{ id: "a", weight: 0 }]],
    ["a negative weight", [{ id: "a", weight: -1 }]],
    ["a NaN weight", [{ id: "a", weight: Number.NaN }]],
    ["an infinite weight", [{ id: "a", weight: Number.POSITIVE_INFINITY }]],
    ["vnodes 0", [{ id: "a" }], { vnodes: 0 }],
    ["fractional vnodes", [{ id: "a" }], { vnodes: 1.5 }],
    ["NaN vnodes", [{ id: "a" }], { vnodes: Number.NaN }],
    ["more than MAX_TOTAL_VNODES vnodes", [{ id: "a", weight: MAX_TOTAL_VNODES }], { vnodes: 2 }],
  ])("a ring with %s is a RangeError", (_name, shards, options) => {
    expect(() => new HashRing(shards, options)).toThrow(RangeError);
  });

  test("a ring from untyped input with a non-string id is a RangeError", () => {
    const bad = JSON.parse('[{"id": 7}]') as ShardSpec[];
    expect(() => new HashRing(bad)).toThrow(RangeError);
  });
});
