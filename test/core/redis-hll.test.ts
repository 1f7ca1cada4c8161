/**
 * HyperLogLog commands against the pure engine. The estimates are the ones redis-server 7.0.15
 * answered for the same elements (PFADD in batches of 1000 of the decimal numbers), since the
 * registers and the estimator are Redis's own (hyperloglog.c: MurmurHash64A seed 0xadc83b19,
 * 16384 six-bit registers, Ertl's improved estimator).
 */
import { describe, expect, it } from "vitest";
import { bytesOf } from "../../src/core/redis/bytes";
import { decodeEntry, encodeEntry } from "../../src/core/redis/codec";
import { estimate, patternOf } from "../../src/core/redis/hll";
import { murmurHash64A } from "../../src/core/redis/murmur64";
import { E, MapKeyspace, T0, WRONGTYPE, arity, run, table } from "../support/redis-engine";

const NOT_HLL = E("WRONGTYPE Key is not a valid HyperLogLog string value.");
const CORRUPT = E("INVALIDOBJ Corrupted HLL object detected");
const HEADER = "HYLL\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\udc80";

/** PFADD key with the numbers from..to, 1000 a command. */
function addRange(ks: MapKeyspace, key: string, from: number, to: number): void {
  for (let i = from; i <= to; i += 1000) {
    const batch: string[] = [];
    for (let j = i; j <= Math.min(i + 999, to); j++) batch.push(String(j));
    run(ks, T0, ["PFADD", key, ...batch]);
  }
}

describe("MurmurHash64A", () => {
  it("hashes the empty input with seed 0 to 0 and is sensitive to every byte", () => {
    expect(murmurHash64A(new Uint8Array(0), 0)).toBe(0n);
    const a = murmurHash64A(bytesOf("123456789"), 0xadc83b19);
    const b = murmurHash64A(bytesOf("123456788"), 0xadc83b19);
    expect(a).not.toBe(b);
    expect(a < 2n ** 64n && a >= 0n).toBe(true);
  });
  it("a run length is between 1 and 51 (Q + 1) and an index below 16384", () => {
    for (let i = 0; i < 2000; i++) {
      const { index, count } = patternOf(bytesOf(String(i)));
      expect(index >= 0 && index < 16384).toBe(true);
      expect(count >= 1 && count <= 51).toBe(true);
    }
  });
  it("the estimate of no registers set is 0", () => {
    expect(estimate(new Uint8Array(16384))).toBe(0);
  });
});

describe("PFCOUNT answers what redis-server answers for the same elements", () => {
  it.each([
    [1, 1],
    [10, 10],
    [100, 100],
    [1000, 1001],
    [10000, 9988],
  ])("1..%i -> %i", (n, expected) => {
    const ks = new MapKeyspace();
    addRange(ks, "h", 1, n);
    expect(run(ks, T0, ["PFCOUNT", "h"])).toBe(expected);
  });
  it("1..100000 -> 99562", { timeout: 120_000 }, () => {
    const ks = new MapKeyspace();
    addRange(ks, "h", 1, 100000);
    expect(run(ks, T0, ["PFCOUNT", "h"])).toBe(99562);
  });
  it("small HLLs are sparse, of Redis's own size; past the sparse limit they are dense (12304 bytes)", () => {
    const ks = new MapKeyspace();
    for (const [n, bytes] of [[1, 21], [10, 47], [100, 287], [1000, 1922]] as const) {
      addRange(ks, `s${n}`, 1, n);
      expect(run(ks, T0, ["STRLEN", `s${n}`])).toBe(bytes);
    }
    addRange(ks, "d", 1, 10000);
    expect(run(ks, T0, ["STRLEN", "d"])).toBe(12304);
    expect(run(ks, T0, ["GETRANGE", "d", 0, 4])).toBe("HYLL\u0000");
  });
  it("several keys count their union; PFMERGE stores it (sparse and dense inputs alike)", () => {
    const ks = new MapKeyspace();
    addRange(ks, "a", 1, 1000);
    addRange(ks, "b", 500, 1500);
    addRange(ks, "big", 1, 10000);
    addRange(ks, "e", 5001, 5200);
    expect(run(ks, T0, ["PFCOUNT", "b"])).toBe(1011);
    expect(run(ks, T0, ["PFCOUNT", "e"])).toBe(200);
    expect(run(ks, T0, ["PFCOUNT", "a", "b"])).toBe(1512);
    expect(run(ks, T0, ["PFCOUNT", "a", "big", "nokey"])).toBe(9988);
    expect(run(ks, T0, ["PFMERGE", "d", "a", "b"])).toBe("OK");
    expect(run(ks, T0, ["PFCOUNT", "d"])).toBe(1512);
    expect(run(ks, T0, ["PFMERGE", "d2", "e", "big"])).toBe("OK");
    expect(run(ks, T0, ["PFCOUNT", "d2"])).toBe(9988);
    expect(run(ks, T0, ["STRLEN", "d2"])).toBe(12304); // a dense input makes the result dense, as in Redis
  });
  it("an HLL survives the codec (stored as base64 of its bytes) with its count", () => {
    const ks = new MapKeyspace();
    addRange(ks, "h", 1, 1000);
    const stored = encodeEntry(ks.get("h")!);
    const back = new MapKeyspace();
    back.set("h", decodeEntry(stored.contentType, stored.value, null));
    expect(run(back, T0, ["PFCOUNT", "h"])).toBe(1001);
    expect(run(back, T0, ["PFADD", "h", "1"])).toBe(0);
  });
});

table("PFADD / PFCOUNT / PFMERGE", [
  ["PFADD answers 1 when a register changed or the key was created, else 0", [
    [["PFADD", "u", "héllo", "中", "😀", ""], 1],
    [["PFCOUNT", "u"], 4],
    [["PFADD", "u", "héllo"], 0],
    [["PFADD", "new"], 1],
    [["PFADD", "new"], 0],
    [["PFCOUNT", "new"], 0],
    [["STRLEN", "new"], 18],
    [["TYPE", "new"], "string"],
  ]],
  ["PFMERGE of nothing creates an empty HLL; missing keys count 0", [
    [["PFMERGE", "m"], "OK"],
    [["PFCOUNT", "m"], 0],
    [["STRLEN", "m"], 18],
    [["PFCOUNT", "nokey"], 0],
    [["PFCOUNT", "nokey", "nokey2"], 0],
  ]],
  ["PFADD and PFMERGE keep the key's TTL", [
    [["PFADD", "x", "a", "b", "c"], 1],
    [["PEXPIRE", "x", 100000], 1],
    [["PFADD", "x", "d"], 1],
    [["PFMERGE", "x", "nokey"], "OK"],
    [["PTTL", "x"], 100000],
    [["PFCOUNT", "x"], 4],
  ]],
  ["a string that is not an HLL, and another type", [
    [["SET", "s", "hello"], "OK"],
    [["PFADD", "s", "a"], NOT_HLL],
    [["PFCOUNT", "s"], NOT_HLL],
    [["PFCOUNT", "nokey", "s"], NOT_HLL],
    [["PFMERGE", "d", "s"], NOT_HLL],
    [["EXISTS", "d"], 0],
    [["SET", "enc2", "HYLL\u0002\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\udc80\u007f\udcff"], "OK"],
    [["PFCOUNT", "enc2"], NOT_HLL],
    [["SET", "shortdense", "HYLL\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\udc80\u007f\udcff"], "OK"],
    [["PFCOUNT", "shortdense"], NOT_HLL],
    [["LPUSH", "l", "a"], 1],
    [["PFADD", "l", "a"], WRONGTYPE],
    [["PFCOUNT", "l"], WRONGTYPE],
  ]],
  ["Redis's own sparse bytes are read; corrupt ones are INVALIDOBJ", [
    [["SET", "ok", `${HEADER}\u007f\udcff`], "OK"], // one XZERO of 16384: an empty HLL
    [["PFCOUNT", "ok"], 0],
    [["PFADD", "ok", "a"], 1],
    [["PFCOUNT", "ok"], 1],
    [["SET", "c", `${HEADER}@c`], "OK"], // an XZERO of 100 registers: too few
    [["PFCOUNT", "c"], CORRUPT],
    [["PFADD", "c", "zz"], CORRUPT],
    [["PFCOUNT", "c", "nokey"], CORRUPT],
    [["PFMERGE", "nokey2", "c"], CORRUPT],
    [["EXISTS", "nokey2"], 0],
  ]],
  ["arity", [
    [["PFADD"], arity("pfadd")],
    [["PFCOUNT"], arity("pfcount")],
    [["PFMERGE"], arity("pfmerge")],
  ]],
]);
