/**
 * Bitmap commands against the pure engine. Every expected reply below was read from redis-server
 * 7.0.15 for the same commands. Bytes that are not UTF-8 are written as the engine holds them:
 * byte 0xNN (0x80..0xff, outside a valid UTF-8 sequence) is the lone surrogate U+DCNN (bytes.ts).
 */
import { describe, expect, it } from "vitest";
import { bytesOf, canonicalString, lossyText, stringOf } from "../../src/core/redis/bytes";
import { decodeEntry, encodeEntry } from "../../src/core/redis/codec";
import { BYTES_CONTENT_TYPE, STRING_CONTENT_TYPE } from "../../src/core/redis/types";
import { E, MapKeyspace, NOT_INT, SYNTAX, T0, WRONGTYPE, arity, run, script, table, type Step } from "../support/redis-engine";

const OFFSET = E("ERR bit offset is not an integer or out of range");
const BIT = E("ERR bit is not an integer or out of range");
const BITPOS_BIT = E("ERR The bit argument must be 1 or 0.");
const NOT_ONE_KEY = E("ERR BITOP NOT must be called with a single source key.");

/** b = 0x80 0x40 0x01: bits 0, 9 and 23 set. */
const B: Step[] = [
  [["SETBIT", "b", 0, 1], 0],
  [["SETBIT", "b", 9, 1], 0],
  [["SETBIT", "b", 23, 1], 0],
];
const FF: Step = [["SET", "f", "\udcff\udcff"], "OK"];
const ZZ: Step = [["SET", "z", "\u0000\u0000"], "OK"];

table("SETBIT / GETBIT", [
  ["bit 0 is the most significant bit of byte 0; the string grows with zero bytes", [
    [["SETBIT", "b", 0, 1], 0],
    [["GET", "b"], "\udc80"],
    [["SETBIT", "b", 9, 1], 0],
    [["GET", "b"], "\udc80@"],
    [["STRLEN", "b"], 2],
    [["GETBIT", "b", 0], 1],
    [["GETBIT", "b", 1], 0],
    [["GETBIT", "b", 9], 1],
    [["GETBIT", "b", 100], 0],
    [["SETBIT", "b", 0, 0], 1],
    [["GET", "b"], "\u0000@"],
  ]],
  ["SETBIT answers the old bit and works on text", [
    [["SET", "s", "a"], "OK"], // 0x61 = 0110 0001
    [["SETBIT", "s", 6, 1], 0],
    [["GET", "s"], "c"],
    [["SETBIT", "s", 7, 1], 1],
    [["GET", "s"], "c"],
  ]],
  ["a missing key reads as zeros", [[["GETBIT", "nokey", 5], 0]]],
  ["the offset must be a non-negative integer below 2^32", [
    [["SETBIT", "b", -1, 1], OFFSET],
    [["SETBIT", "b", "x", 1], OFFSET],
    [["SETBIT", "b", "01", 1], OFFSET],
    [["SETBIT", "b", 4294967296, 1], OFFSET],
    [["GETBIT", "b", 99999999999], OFFSET],
    [["GETBIT", "b", -1], OFFSET],
    [["GETBIT", "b", "x"], OFFSET],
  ]],
  ["the bit is 0 or 1, checked before the key's type", [
    [["SETBIT", "b", 1, 2], BIT],
    [["SETBIT", "b", 0, "01"], BIT],
    [["LPUSH", "l", "a"], 1],
    [["SETBIT", "l", 1, "x"], BIT],
    [["SETBIT", "l", 1, 1], WRONGTYPE],
    [["GETBIT", "l", 1], WRONGTYPE],
  ]],
  ["SETBIT keeps the TTL", [
    [["SETBIT", "k", 1, 1], 0],
    [["PEXPIRE", "k", 100000], 1],
    [["SETBIT", "k", 20, 1], 0],
    [["PTTL", "k"], 100000],
  ]],
  ["arity", [
    [["SETBIT", "b", 1], arity("setbit")],
    [["GETBIT", "b"], arity("getbit")],
  ]],
]);

describe("SETBIT and the value-size limit", () => {
  it("refuses a bitmap longer than the server's value limit, as APPEND does", () => {
    const ks = new MapKeyspace();
    expect(run(ks, T0, ["SETBIT", "b", 8 * 1024 - 1, 1], { maxValueBytes: 1024 })).toBe(0);
    expect(run(ks, T0, ["SETBIT", "b", 8 * 1024, 1], { maxValueBytes: 1024 })).toEqual(E("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
    expect(run(ks, T0, ["STRLEN", "b"])).toBe(1024);
  });
});

table("BITCOUNT", [
  ["whole string, BYTE ranges, negative indexes", [
    ...B,
    [["BITCOUNT", "b"], 3],
    [["BITCOUNT", "b", 0, 0], 1],
    [["BITCOUNT", "b", 1, -1], 2],
    [["BITCOUNT", "b", -1, -2], 0],
    [["BITCOUNT", "b", 5, 3], 0],
    [["BITCOUNT", "b", 0, -1, "byte"], 3],
  ]],
  ["BIT ranges count bits, not bytes", [
    ...B,
    [["BITCOUNT", "b", 0, 8, "BIT"], 1],
    [["BITCOUNT", "b", 9, 23, "bit"], 2],
    [["BITCOUNT", "b", -1, -1, "bit"], 1],
    [["BITCOUNT", "b", 1, 8, "bit"], 0],
  ]],
  ["ranges past either end are clamped", [
    FF,
    [["BITCOUNT", "f", 1, 100], 8],
    [["BITCOUNT", "f", -100, -1], 16],
  ]],
  ["missing and empty keys count 0, even with a bad range (7.0 looks the key up first)", [
    [["BITCOUNT", "nokey"], 0],
    [["BITCOUNT", "nokey", 0], 0],
    [["BITCOUNT", "nokey", 0, 1, "foo"], 0],
    [["BITCOUNT", "nokey", 0, -1, "bit"], 0],
    [["SET", "e", ""], "OK"],
    [["BITCOUNT", "e"], 0],
  ]],
  ["errors", [
    ...B,
    [["BITCOUNT", "b", 0], SYNTAX],
    [["BITCOUNT", "b", 0, 1, "foo"], SYNTAX],
    [["BITCOUNT", "b", 0, "x"], NOT_INT],
    [["BITCOUNT", "b", "x", 1, "foo"], NOT_INT],
    [["BITCOUNT", "b", 0, -1, "BIT", "extra"], SYNTAX],
    [["LPUSH", "l", "a"], 1],
    [["BITCOUNT", "l"], WRONGTYPE],
    [["BITCOUNT", "l", 0], WRONGTYPE],
    [["BITCOUNT"], arity("bitcount")],
  ]],
]);

table("BITPOS", [
  ["first set or clear bit, whole string", [
    ...B,
    [["BITPOS", "b", 1], 0],
    [["BITPOS", "b", 0], 1],
    [["BITPOS", "b", 1, 1], 9],
    [["BITPOS", "b", 1, 2, -1, "byte"], 23],
  ]],
  ["BIT ranges", [
    ...B,
    [["BITPOS", "b", 0, 0, 0, "bit"], -1],
    [["BITPOS", "b", 1, 1, 8, "bit"], -1],
    [["BITPOS", "b", 1, 10, 22, "bit"], -1],
    [["BITPOS", "b", 1, 10, 23, "BIT"], 23],
    [["BITPOS", "b", 0, 0, 7, "bit"], 1],
  ]],
  ["a clear bit right of an all-ones string: there without an explicit end, -1 with one", [
    FF,
    [["BITPOS", "f", 0], 16],
    [["BITPOS", "f", 0, 0], 16],
    [["BITPOS", "f", 0, 0, -1], -1],
    [["BITPOS", "f", 0, 3, 10, "bit"], -1],
    [["BITPOS", "f", 0, 1, -1, "bit"], -1],
    [["BITPOS", "f", 1, -1], 8],
    [["BITPOS", "f", 0, 2], -1], // a start past the end is an empty range
  ]],
  ["all zeros", [
    ZZ,
    [["BITPOS", "z", 1], -1],
    [["BITPOS", "z", 0], 0],
    [["BITPOS", "z", 1, 0, -1], -1],
    [["BITPOS", "z", 0, -1, -1, "bit"], 15],
  ]],
  ["a missing key is endless zeros (even with a bad range); an empty string holds no bit", [
    [["BITPOS", "nokey", 1], -1],
    [["BITPOS", "nokey", 0], 0],
    [["BITPOS", "nokey", 1, 0, -1, "xx"], -1],
    [["BITPOS", "nokey", 0, "x"], 0],
    [["SET", "e", ""], "OK"],
    [["BITPOS", "e", 0], -1],
    [["BITPOS", "e", 0, 0], -1],
    [["BITPOS", "e", 1], -1],
  ]],
  ["errors", [
    ...B,
    [["BITPOS", "b", 2], BITPOS_BIT],
    [["BITPOS", "b", "x"], NOT_INT],
    [["BITPOS", "b", 1, "x"], NOT_INT],
    [["BITPOS", "b", 1, 10, "bit"], NOT_INT], // the unit needs an end
    [["BITPOS", "b", 1, 0, "x", "foo"], SYNTAX], // the unit is checked before the end
    [["BITPOS", "b", 1, "x", 1, "foo"], NOT_INT],
    [["BITPOS", "b", 1, 0, -1, "x"], SYNTAX],
    [["BITPOS", "b", 0, 0, -1, "bit", "extra"], SYNTAX],
    [["LPUSH", "l", "a"], 1],
    [["BITPOS", "l", 1, "x"], WRONGTYPE],
    [["BITPOS", "b"], arity("bitpos")],
  ]],
]);

table("BITOP", [
  ["AND, OR, XOR pad the shorter inputs with zero bytes; the reply is the result's length", [
    ...B,
    FF,
    ZZ,
    [["BITOP", "and", "d", "b", "f"], 3],
    [["GET", "d"], "\udc80@\u0000"],
    [["BITOP", "OR", "d", "b", "z", "nokey"], 3],
    [["GET", "d"], "\udc80@\u0001"],
    [["BITOP", "xor", "d", "b", "f"], 3],
    [["GET", "d"], "\u007f\udcbf\u0001"],
  ]],
  ["NOT flips every bit of its one source", [
    ...B,
    [["BITOP", "not", "d", "b"], 3],
    [["GET", "d"], "\u007f\udcbf\udcfe"],
    [["BITCOUNT", "d"], 21],
    [["BITOP", "NOT", "d", "b", "b"], NOT_ONE_KEY],
  ]],
  ["an empty result deletes the destination", [
    [["SET", "d", "x"], "OK"],
    [["BITOP", "NOT", "d", "nokey"], 0],
    [["EXISTS", "d"], 0],
    [["BITOP", "and", "d", "nokey"], 0],
  ]],
  ["the destination is replaced whatever it held, its TTL gone", [
    ZZ,
    FF,
    [["PEXPIRE", "f", 100000], 1],
    [["BITOP", "and", "f", "z"], 2],
    [["PTTL", "f"], -1],
    [["LPUSH", "l", "a"], 1],
    [["BITOP", "or", "l", "z"], 2],
    [["TYPE", "l"], "string"],
  ]],
  ["errors", [
    [["LPUSH", "l", "a"], 1],
    [["BITOP", "and", "d", "l"], WRONGTYPE],
    [["BITOP", "foo", "d", "b"], SYNTAX],
    [["BITOP", "and", "d"], arity("bitop")],
  ]],
]);

table("string commands read a bitmap's bytes", [
  ["STRLEN, GETRANGE, SETRANGE, APPEND count bytes, not characters", [
    [["SET", "t", "abc"], "OK"],
    [["SETRANGE", "t", 1, "\udcff"], 3],
    [["STRLEN", "t"], 3],
    [["GETRANGE", "t", 1, 1], "\udcff"],
    [["APPEND", "t", "\udc80"], 4],
    [["STRLEN", "t"], 4],
    [["GET", "t"], "a\udcffc\udc80"],
    [["SET", "u", "中"], "OK"],
    [["GETRANGE", "u", 0, 1], "\udce4\udcb8"], // half a character: its bytes, as Redis gives them
    [["SETRANGE", "u", 2, "\udcad"], 3],
    [["GET", "u"], "中"],
  ]],
  ["bytes that together are valid UTF-8 become its text (one canonical value per byte string)", [
    [["SET", "k", "\udce4\udcb8\udcad"], "OK"],
    [["GET", "k"], "中"],
    [["STRLEN", "k"], 3],
  ]],
]);

describe("binary values (bytes.ts, codec.ts)", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  it("every byte string survives bytes -> value -> bytes", () => {
    for (const sample of [all, all.slice(128), Uint8Array.of(0xe4, 0xb8), Uint8Array.of(0xed, 0xb2, 0x80), Uint8Array.of(0xf0, 0x9f, 0x98), Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)]) {
      expect(bytesOf(stringOf(sample))).toEqual(sample);
    }
  });
  it("valid UTF-8 is its own text, a BOM included; text values are unchanged", () => {
    expect(stringOf(new TextEncoder().encode("héllo 中 😀"))).toBe("héllo 中 😀");
    expect(stringOf(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61))).toBe("\ufeffa");
    expect(canonicalString("héllo")).toBe("héllo");
    expect(encodeEntry({ type: "string", value: "héllo", expiresAt: null })).toEqual({ value: "héllo", contentType: STRING_CONTENT_TYPE });
  });
  it("a value that is not UTF-8 is stored as base64 of its bytes under its own content type, and read back exactly", () => {
    const value = stringOf(all);
    const stored = encodeEntry({ type: "string", value, expiresAt: 5 });
    expect(stored.contentType).toBe(BYTES_CONTENT_TYPE);
    expect(stored.value.isWellFormed()).toBe(true);
    expect(atob(stored.value).length).toBe(256);
    const back = decodeEntry(stored.contentType, stored.value, 5);
    expect(back).toEqual({ type: "string", value, expiresAt: 5 });
    expect(bytesOf((back as { value: string }).value)).toEqual(all);
  });
  it("a bytes content type whose text is not base64 reads as that text", () => {
    expect(decodeEntry(BYTES_CONTENT_TYPE, "not base64!", null)).toEqual({ type: "string", value: "not base64!", expiresAt: null });
  });
  it("without base64 a reply carries text: invalid UTF-8 becomes U+FFFD", () => {
    expect(lossyText("a\udcffb")).toBe("a\ufffdb");
    expect(lossyText("\udce4\udcb8")).toBe("\ufffd");
    expect(lossyText("text")).toBe("text");
  });
  it("a bitmap set through the engine round-trips through the codec", () => {
    const ks = script([...B, [["SETBIT", "b", 8 * 40 + 3, 1], 0]]);
    const entry = ks.get("b")!;
    const stored = encodeEntry(entry);
    const back = new MapKeyspace();
    back.set("b", decodeEntry(stored.contentType, stored.value, null));
    expect(run(back, T0, ["BITCOUNT", "b"])).toBe(4);
    expect(run(back, T0, ["GETBIT", "b", 323])).toBe(1);
    expect(run(back, T0, ["STRLEN", "b"])).toBe(41);
  });
});
