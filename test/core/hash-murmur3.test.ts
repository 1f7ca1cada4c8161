import { describe, expect, test } from "vitest";
import { murmur3_32, murmur3_32_bytes } from "../../src/core/hash/murmur3";

/**
 * Independent reference, written from the MurmurHash3_x86_32 spec with BigInt arithmetic (no
 * Math.imul, no int32 tricks) so that it shares no code or arithmetic style with the implementation.
 */
function referenceMurmur3(bytes: Uint8Array, seed: number): number {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint): bigint => (a * b) & M;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (32n - r))) & M;
  const c1 = 0xcc9e2d51n;
  const c2 = 0x1b873593n;
  let h = BigInt(seed >>> 0);
  const blocks = Math.floor(bytes.length / 4);
  const byte = (i: number): bigint => BigInt(bytes[i] ?? 0);
  for (let b = 0; b < blocks; b++) {
    const o = b * 4;
    let k = byte(o) + byte(o + 1) * 256n + byte(o + 2) * 65536n + byte(o + 3) * 16777216n;
    k = mul(rotl(mul(k, c1), 15n), c2);
    h = rotl(h ^ k, 13n);
    h = (mul(h, 5n) + 0xe6546b64n) & M;
  }
  const rest = bytes.length % 4;
  if (rest > 0) {
    let k = 0n;
    for (let j = rest - 1; j >= 0; j--) k = k * 256n + byte(blocks * 4 + j);
    h ^= mul(rotl(mul(k, c1), 15n), c2);
  }
  h ^= BigInt(bytes.length);
  h ^= h >> 16n;
  h = mul(h, 0x85ebca6bn);
  h ^= h >> 13n;
  h = mul(h, 0xc2b2ae35n);
  h ^= h >> 16n;
  return Number(h);
}

const utf8 = new TextEncoder();

/** Published MurmurHash3_x86_32 vectors (SMHasher / widely cross-checked lists). */
const stringVectors: ReadonlyArray<[string, number, number]> = [
  ["", 0, 0],
  ["", 1, 0x514e28b7],
  ["", 0xffffffff, 0x81f16f39],
  ["hello", 0, 0x248bfa47],
  ["The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723],
  ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
  ["Hello, world!", 0x9747b28c, 0x24884cba],
  ["ππππππππ", 0x9747b28c, 0xd58063c1],
  ["a", 0x9747b28c, 0x7fa09ea6],
  ["aa", 0x9747b28c, 0x5d211726],
  ["aaa", 0x9747b28c, 0x283e0130],
  ["aaaa", 0x9747b28c, 0x5a97808a],
  ["abc", 0x9747b28c, 0xc84a62dd],
  ["abcd", 0x9747b28c, 0xf0478627],
  ["abc", 0, 0xb3dd93fa],
];

const byteVectors: ReadonlyArray<[number[], number, number]> = [
  [[0x00], 0, 0x514e28b7],
  [[0x00, 0x00], 0, 0x30f4c306],
  [[0x00, 0x00, 0x00], 0, 0x85f0b427],
  [[0x00, 0x00, 0x00, 0x00], 0, 0x2362f9de],
  [[0x21], 0, 0x72661cf4],
  [[0x21, 0x43], 0, 0xa0f7b07a],
  [[0x21, 0x43, 0x65], 0, 0x7e4a8634],
  [[0x21, 0x43, 0x65, 0x87], 0, 0xf55b516b],
  [[0xff, 0xff, 0xff, 0xff], 0, 0x76293b50],
];

describe("murmur3_32 (MurmurHash3 x86_32 over UTF-8)", () => {
  test.each(stringVectors)("hashes %j with seed %d to the published value", (key, seed, expected) => {
    const bytes = utf8.encode(key);
    expect(referenceMurmur3(bytes, seed)).toBe(expected);
    expect(murmur3_32_bytes(bytes, seed)).toBe(expected);
    expect(murmur3_32(key, seed)).toBe(expected);
  });

  test.each(byteVectors)("hashes bytes %j with seed %d to the published value", (bytes, seed, expected) => {
    const array = Uint8Array.from(bytes);
    expect(referenceMurmur3(array, seed)).toBe(expected);
    expect(murmur3_32_bytes(array, seed)).toBe(expected);
  });

  test("defaults the seed to 0 and returns an unsigned 32-bit integer", () => {
    expect(murmur3_32("hello")).toBe(murmur3_32("hello", 0));
    for (const key of ["", "a", "key-1", "日本語", "🙂"]) {
      const h = murmur3_32(key, 42);
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    }
  });

  test("hashes the UTF-8 bytes, not UTF-16 code units truncated to a byte", () => {
    // "\u0141" & 0xff === "A": a code-unit-masking implementation would give these the same hash.
    expect(murmur3_32("\u0141")).not.toBe(murmur3_32("A"));
    expect(murmur3_32("\u0141")).toBe(murmur3_32_bytes(Uint8Array.of(0xc5, 0x81)));
  });

  test("encodes lone surrogates as U+FFFD, like TextEncoder", () => {
    const replacement = murmur3_32("\ufffd");
    expect(murmur3_32("\ud800")).toBe(replacement);
    expect(murmur3_32("\udc00")).toBe(replacement);
    expect(murmur3_32("a\ud83dz")).toBe(murmur3_32("a\ufffdz"));
    expect(murmur3_32("\ude00\ud83d")).toBe(murmur3_32("\ufffd\ufffd"));
    expect(murmur3_32("\ud83d\ude00")).toBe(murmur3_32_bytes(Uint8Array.of(0xf0, 0x9f, 0x98, 0x80)));
  });

  test("agrees with TextEncoder + bytes variant + reference on random unicode strings", () => {
    const seed = 0x5eed;
    console.log(`murmur3 random-unicode seed=${seed}`);
    let state = seed;
    const next = (): number => {
      // xorshift32: deterministic, replayable from the printed seed.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    const pools: ReadonlyArray<(r: number) => string> = [
      (r) => String.fromCharCode(0x20 + (r % 0x5f)), // ASCII
      (r) => String.fromCharCode(0x80 + (r % 0x780)), // 2-byte
      (r) => String.fromCharCode(0x4e00 + (r % 0x5200)), // CJK, 3-byte
      (r) => String.fromCodePoint(0x1f300 + (r % 0x300)), // emoji, surrogate pair, 4-byte
      (r) => String.fromCodePoint(0x10000 + (r % 0xfffff)), // any astral
      (r) => String.fromCharCode(0xd800 + (r % 0x800)), // lone surrogate (high or low)
      (r) => String.fromCharCode(0xe000 + (r % 0x2000)), // BMP above surrogates, incl. U+FFFF
    ];
    for (let t = 0; t < 3000; t++) {
      const length = next() % 24;
      let key = "";
      for (let i = 0; i < length; i++) {
        const pool = pools[next() % pools.length];
        if (pool) key += pool(next());
      }
      const hashSeed = t % 3 === 0 ? 0 : next();
      const bytes = utf8.encode(key);
      const expected = referenceMurmur3(bytes, hashSeed);
      expect(murmur3_32_bytes(bytes, hashSeed), JSON.stringify(key)).toBe(expected);
      expect(murmur3_32(key, hashSeed), JSON.stringify(key)).toBe(expected);
    }
  });
});
