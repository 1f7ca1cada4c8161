import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha1Hex } from "../../src/core/redis/sha1";

describe("sha1Hex", () => {
  it.each([
    // FIPS 180-2 appendix A and the usual test vectors
    ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
    ["abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"],
    ["The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"],
    // what redis-server 7.0.15 answers to SCRIPT LOAD "return 1"
    ["return 1", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"],
  ])("SHA-1 of %j is %s", (text, hex) => {
    expect(sha1Hex(text)).toBe(hex);
  });

  it("one million 'a's", () => {
    expect(sha1Hex("a".repeat(1_000_000))).toBe("34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  });

  it("agrees with node:crypto on every length around the block boundaries and on UTF-8 text", () => {
    for (let n = 0; n < 300; n++) {
      const text = "é".repeat(n % 7) + "x".repeat(n);
      expect(sha1Hex(text)).toBe(createHash("sha1").update(text, "utf8").digest("hex"));
    }
    const bytes = new Uint8Array(256).map((_, i) => i);
    expect(sha1Hex(bytes)).toBe(createHash("sha1").update(bytes).digest("hex"));
  });
});
