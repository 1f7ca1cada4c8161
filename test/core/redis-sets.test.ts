/**
 * Set commands of the pure Redis engine (src/core/redis/sets.ts). Every expected reply of the tables
 * was checked against redis-server 7.0.15. Redis leaves the order of a set's members unspecified
 * (7.0 sorts small integer sets and hashes the rest), so replies listing several members are
 * compared sorted ("unordered" steps); SPOP and SRANDMEMBER are checked by their invariants
 * (drawing from the engine's fixed-seed generator, or Math.random where a test passes it).
 */
import { describe, expect, it } from "vitest";
import type { Reply } from "../../src/core/redis/types";
import { E, MapKeyspace, NOT_INT, SYNTAX, T0, WRONGTYPE, arity, run, table, type Err, type Step, type Word } from "../support/redis-engine";

/** A step whose reply lists set members in an order Redis leaves unspecified: compared sorted. */
type SetStep = Step | [Word[], Reply | Err, "unordered"];

function sortedReply(reply: Reply | Err): Reply | Err {
  if (!Array.isArray(reply)) return reply;
  if (reply.every((r) => typeof r === "string")) return [...reply].sort();
  return reply.map((r) => sortedReply(r) as Reply);
}

/** Like the harness's table, with "unordered" steps. No time passes: cases that advance the clock use `table`. */
function setTable(title: string, cases: [string, SetStep[]][]): void {
  describe(title, () => {
    for (const [name, steps] of cases) {
      it(name, () => {
        const ks = new MapKeyspace();
        for (const [i, step] of steps.entries()) {
          if (!Array.isArray(step)) throw new Error("setTable steps do not advance time");
          const [words, expected, order] = step;
          const got = run(ks, T0, words);
          if (order === "unordered") expect(sortedReply(got), `step ${i}: ${JSON.stringify(words)}`).toEqual(sortedReply(expected));
          else expect(got, `step ${i}: ${JSON.stringify(words)}`).toEqual(expected);
        }
      });
    }
  });
}

const STR: Step = [["SET", "s", "x"], "OK"];
const ABC: Step = [["SADD", "a", "a", "b", "c"], 3];
const POSITIVE = E("ERR value is out of range, must be positive");

setTable("SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD", [
  ["SADD counts new members; duplicates count once", [[["SADD", "a", "x", "y", "x"], 2], [["SADD", "a", "y", "z"], 1], [["SCARD", "a"], 3], [["SMEMBERS", "a"], ["x", "y", "z"], "unordered"]]],
  ["SADD of integers and empty strings", [[["SADD", "a", "3", "1", "", "2"], 4], [["SMEMBERS", "a"], ["", "1", "2", "3"], "unordered"]]],
  ["SADD keeps the key's TTL", [ABC, [["EXPIRE", "a", 100], 1], [["SADD", "a", "d"], 1], [["SADD", "a", "d"], 0], [["TTL", "a"], 100]]],
  ["SREM counts removed members and deletes an emptied set", [ABC, [["SREM", "a", "a", "zz", "a"], 1], [["SCARD", "a"], 2], [["SREM", "a", "b", "c"], 2], [["EXISTS", "a"], 0], [["SREM", "a", "b"], 0]]],
  ["SREM keeps the key's TTL", [ABC, [["EXPIRE", "a", 100], 1], [["SREM", "a", "a"], 1], [["TTL", "a"], 100]]],
  ["SISMEMBER / SMISMEMBER", [
    ABC,
    [["SISMEMBER", "a", "a"], 1],
    [["SISMEMBER", "a", "zz"], 0],
    [["SISMEMBER", "x", "a"], 0],
    [["SMISMEMBER", "a", "a", "zz", "c"], [1, 0, 1]],
    [["SMISMEMBER", "x", "a", "b"], [0, 0]],
  ]],
  ["a missing key is an empty set", [[["SMEMBERS", "x"], []], [["SCARD", "x"], 0]]],
  ["WRONGTYPE on a string", [
    STR,
    [["SADD", "s", "a"], WRONGTYPE],
    [["SREM", "s", "a"], WRONGTYPE],
    [["SMEMBERS", "s"], WRONGTYPE],
    [["SISMEMBER", "s", "a"], WRONGTYPE],
    [["SMISMEMBER", "s", "a"], WRONGTYPE],
    [["SCARD", "s"], WRONGTYPE],
    [["GET", "s"], "x"],
  ]],
  ["arity", [
    [["SADD", "a"], arity("sadd")],
    [["SREM", "a"], arity("srem")],
    [["SMEMBERS"], arity("smembers")],
    [["SISMEMBER", "a"], arity("sismember")],
    [["SISMEMBER", "a", "b", "c"], arity("sismember")],
    [["SMISMEMBER", "a"], arity("smismember")],
    [["SCARD", "a", "b"], arity("scard")],
  ]],
]);

table("expiry", [
  ["an expired set counts as absent; SADD starts a new one without TTL", [
    ABC,
    [["PEXPIRE", "a", 50], 1],
    { advance: 100 },
    [["SCARD", "a"], 0],
    [["SISMEMBER", "a", "a"], 0],
    [["SADD", "a", "a"], 1],
    [["SCARD", "a"], 1],
    [["TTL", "a"], -1],
  ]],
]);

setTable("SPOP, SRANDMEMBER: the deterministic cases", [
  ["SPOP of the only member deletes the key", [[["SADD", "a", "x"], 1], [["SPOP", "a"], "x"], [["EXISTS", "a"], 0], [["SPOP", "a"], null]]],
  ["SPOP with a count at least the size pops all and deletes the key", [ABC, [["SPOP", "a", 3], ["a", "b", "c"], "unordered"], [["EXISTS", "a"], 0], ABC, [["SPOP", "a", 100], ["a", "b", "c"], "unordered"], [["EXISTS", "a"], 0]]],
  ["SPOP count 0 replies an empty array and leaves the set", [ABC, [["SPOP", "a", 0], []], [["SCARD", "a"], 3]]],
  ["SPOP on a missing key: nil, or an empty array with a count", [[["SPOP", "x"], null], [["SPOP", "x", 0], []], [["SPOP", "x", 3], []]]],
  ["SPOP errors: the count first, then the key", [
    STR,
    [["SPOP", "s", -1], POSITIVE],
    [["SPOP", "x", "abc"], POSITIVE],
    [["SPOP", "s"], WRONGTYPE],
    [["SPOP", "s", 0], WRONGTYPE],
    [["SPOP", "x", 1, 2], SYNTAX],
    [["SPOP"], arity("spop")],
  ]],
  ["SRANDMEMBER of a one-member set", [[["SADD", "a", "x"], 1], [["SRANDMEMBER", "a"], "x"], [["SRANDMEMBER", "a", 3], ["x"]], [["SRANDMEMBER", "a", -3], ["x", "x", "x"]], [["SCARD", "a"], 1]]],
  ["SRANDMEMBER with a count at least the size replies the whole set", [ABC, [["SRANDMEMBER", "a", 3], ["a", "b", "c"], "unordered"], [["SRANDMEMBER", "a", 10], ["a", "b", "c"], "unordered"]]],
  ["SRANDMEMBER count 0 and missing keys", [ABC, [["SRANDMEMBER", "a", 0], []], [["SRANDMEMBER", "x"], null], [["SRANDMEMBER", "x", 0], []], [["SRANDMEMBER", "x", 2], []], [["SRANDMEMBER", "x", -2], []]]],
  ["SRANDMEMBER errors", [
    STR,
    [["SRANDMEMBER", "s", "abc"], NOT_INT],
    [["SRANDMEMBER", "x", "-9223372036854775808"], E("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")],
    [["SRANDMEMBER", "s"], WRONGTYPE],
    [["SRANDMEMBER", "s", 0], WRONGTYPE],
    [["SRANDMEMBER", "x", 1, 2], SYNTAX],
    [["SRANDMEMBER"], arity("srandmember")],
  ]],
]);

setTable("SMOVE", [
  ["SMOVE moves a member to another set, creating it", [ABC, [["SMOVE", "a", "b", "a"], 1], [["SMEMBERS", "b"], ["a"]], [["SMEMBERS", "a"], ["b", "c"], "unordered"]]],
  ["SMOVE of a member the destination has only removes it from the source", [ABC, [["SADD", "b", "a"], 1], [["SMOVE", "a", "b", "a"], 1], [["SCARD", "b"], 1], [["SISMEMBER", "a", "a"], 0]]],
  ["SMOVE of a non-member or from a missing key replies 0", [ABC, [["SMOVE", "a", "b", "zz"], 0], [["SMOVE", "x", "b", "a"], 0], [["EXISTS", "b"], 0]]],
  ["SMOVE of the last member deletes the source", [[["SADD", "a", "x"], 1], [["SMOVE", "a", "b", "x"], 1], [["EXISTS", "a"], 0], [["SMEMBERS", "b"], ["x"]]]],
  ["SMOVE within one set replies whether it is a member and changes nothing", [ABC, [["SMOVE", "a", "a", "a"], 1], [["SMOVE", "a", "a", "zz"], 0], [["SCARD", "a"], 3]]],
  ["SMOVE types: a missing source wins over a wrong destination", [
    ABC,
    STR,
    [["SMOVE", "x", "s", "a"], 0],
    [["SMOVE", "s", "x", "a"], WRONGTYPE],
    [["SMOVE", "a", "s", "a"], WRONGTYPE],
    [["SMOVE", "a", "s", "zz"], WRONGTYPE],
    [["SCARD", "a"], 3],
    [["SMOVE", "a", "b"], arity("smove")],
  ]],
  ["SMOVE keeps both TTLs", [ABC, [["SADD", "b", "z"], 1], [["EXPIRE", "a", 100], 1], [["EXPIRE", "b", 200], 1], [["SMOVE", "a", "b", "a"], 1], [["TTL", "a"], 100], [["TTL", "b"], 200]]],
]);

const A: Step = [["SADD", "a", "1", "2", "3", "4", "x"], 5];
const B: Step = [["SADD", "b", "2", "3", "4", "5", "x"], 5];
const C: Step = [["SADD", "c", "3", "4", "9"], 3];

setTable("SINTER, SUNION, SDIFF", [
  ["SINTER: members of every set", [A, B, C, [["SINTER", "a", "b"], ["2", "3", "4", "x"], "unordered"], [["SINTER", "a", "b", "c"], ["3", "4"], "unordered"], [["SINTER", "a"], ["1", "2", "3", "4", "x"], "unordered"]]],
  ["SINTER with a missing key is empty", [A, B, [["SINTER", "a", "x", "b"], []]]],
  ["SUNION: members of any set", [A, C, [["SUNION", "a", "c", "x"], ["1", "2", "3", "4", "9", "x"], "unordered"], [["SUNION", "x"], []]]],
  ["SDIFF: members of the first set in none of the others", [A, B, C, [["SDIFF", "a", "b"], ["1"]], [["SDIFF", "b", "a", "c"], ["5"]], [["SDIFF", "a", "x"], ["1", "2", "3", "4", "x"], "unordered"], [["SDIFF", "x", "a"], []], [["SDIFF", "a", "a"], []]]],
  ["every key is type-checked, even after a missing one", [A, STR, [["SINTER", "x", "s"], WRONGTYPE], [["SINTER", "a", "s"], WRONGTYPE], [["SUNION", "x", "s"], WRONGTYPE], [["SDIFF", "x", "s"], WRONGTYPE], [["SDIFF", "a", "s"], WRONGTYPE]]],
  ["arity", [[["SINTER"], arity("sinter")], [["SUNION"], arity("sunion")], [["SDIFF"], arity("sdiff")]]],
]);

setTable("SINTERSTORE, SUNIONSTORE, SDIFFSTORE", [
  ["the STORE forms write the result and reply its size", [
    A,
    B,
    C,
    [["SINTERSTORE", "d", "a", "b", "c"], 2],
    [["SMEMBERS", "d"], ["3", "4"], "unordered"],
    [["SUNIONSTORE", "d", "a", "c"], 6],
    [["SMEMBERS", "d"], ["1", "2", "3", "4", "9", "x"], "unordered"],
    [["SDIFFSTORE", "d", "a", "b"], 1],
    [["SMEMBERS", "d"], ["1"]],
  ]],
  ["the destination is overwritten whatever it held, and loses its TTL", [
    A,
    B,
    STR,
    [["SINTERSTORE", "s", "a", "b"], 4],
    [["TYPE", "s"], "set"],
    [["SADD", "d", "old"], 1],
    [["EXPIRE", "d", 100], 1],
    [["SUNIONSTORE", "d", "a"], 5],
    [["TTL", "d"], -1],
    [["SISMEMBER", "d", "old"], 0],
    [["RPUSH", "l", "v"], 1],
    [["SDIFFSTORE", "l", "a", "b"], 1],
    [["TYPE", "l"], "set"],
  ]],
  ["an empty result deletes the destination", [
    A,
    STR,
    [["SINTERSTORE", "s", "a", "x"], 0],
    [["EXISTS", "s"], 0],
    [["SADD", "d", "old"], 1],
    [["SUNIONSTORE", "d", "x", "y"], 0],
    [["EXISTS", "d"], 0],
    [["SADD", "d", "old"], 1],
    [["SDIFFSTORE", "d", "a", "a"], 0],
    [["EXISTS", "d"], 0],
  ]],
  ["the destination may be one of the sources", [A, B, [["SINTERSTORE", "a", "a", "b"], 4], [["SMEMBERS", "a"], ["2", "3", "4", "x"], "unordered"], [["SDIFFSTORE", "b", "b", "a"], 1], [["SMEMBERS", "b"], ["5"]]]],
  ["a source of another type is WRONGTYPE and the destination stays", [A, STR, [["SADD", "d", "old"], 1], [["SINTERSTORE", "d", "a", "s"], WRONGTYPE], [["SUNIONSTORE", "d", "x", "s"], WRONGTYPE], [["SDIFFSTORE", "d", "a", "s"], WRONGTYPE], [["SMEMBERS", "d"], ["old"]]]],
  ["arity", [[["SINTERSTORE", "d"], arity("sinterstore")], [["SUNIONSTORE", "d"], arity("sunionstore")], [["SDIFFSTORE", "d"], arity("sdiffstore")]]],
]);

setTable("SINTERCARD", [
  ["SINTERCARD counts the intersection", [A, B, C, [["SINTERCARD", 2, "a", "b"], 4], [["SINTERCARD", 3, "a", "b", "c"], 2], [["SINTERCARD", 1, "a"], 5], [["SINTERCARD", 2, "a", "x"], 0]]],
  ["LIMIT stops counting; 0 is no limit; the last LIMIT wins", [
    A,
    B,
    [["SINTERCARD", 2, "a", "b", "LIMIT", 2], 2],
    [["SINTERCARD", 2, "a", "b", "limit", 0], 4],
    [["SINTERCARD", 2, "a", "b", "LIMIT", 100], 4],
    [["SINTERCARD", 2, "a", "b", "LIMIT", 1, "LIMIT", 3], 3],
  ]],
  ["SINTERCARD errors", [
    STR,
    [["SINTERCARD", 0, "a"], E("ERR numkeys should be greater than 0")],
    [["SINTERCARD", -1, "a"], E("ERR numkeys should be greater than 0")],
    [["SINTERCARD", "abc", "a"], E("ERR numkeys should be greater than 0")],
    [["SINTERCARD", 2, "a"], E("ERR Number of keys can't be greater than number of args")],
    [["SINTERCARD", 1, "a", "LIMIT", -1], E("ERR LIMIT can't be negative")],
    [["SINTERCARD", 1, "a", "LIMIT", "abc"], E("ERR LIMIT can't be negative")],
    [["SINTERCARD", 1, "s", "LIMIT", -1], E("ERR LIMIT can't be negative")],
    [["SINTERCARD", 1, "a", "LIMIT"], SYNTAX],
    [["SINTERCARD", 1, "a", "FOO"], SYNTAX],
    [["SINTERCARD", 1, "s"], WRONGTYPE],
    [["SINTERCARD", 2, "x", "s"], WRONGTYPE],
    [["SINTERCARD", 1], arity("sintercard")],
  ]],
]);

setTable("SSCAN", [
  ["SSCAN returns the whole set in one step with cursor 0", [A, [["SSCAN", "a", 0], ["0", ["1", "2", "3", "4", "x"]], "unordered"], [["SSCAN", "a", 0, "COUNT", 1000], ["0", ["1", "2", "3", "4", "x"]], "unordered"]]],
  ["MATCH filters members", [A, [["SSCAN", "a", 0, "MATCH", "[1-2]"], ["0", ["1", "2"]], "unordered"], [["SSCAN", "a", 0, "match", "x*", "count", 5], ["0", ["x"]]], [["SSCAN", "a", 0, "MATCH", "zz"], ["0", []]]]],
  ["a missing key is an empty scan, whatever the options", [[["SSCAN", "x", 0], ["0", []]], [["SSCAN", "x", 0, "COUNT", 0], ["0", []]]]],
  ["SSCAN errors: the cursor, then the key, then the options", [
    A,
    STR,
    [["SSCAN", "a", "abc"], E("ERR invalid cursor")],
    [["SSCAN", "s", "abc"], E("ERR invalid cursor")],
    [["SSCAN", "s", 0], WRONGTYPE],
    [["SSCAN", "a", 0, "COUNT", 0], SYNTAX],
    [["SSCAN", "a", 0, "COUNT", "abc"], NOT_INT],
    [["SSCAN", "a", 0, "COUNT"], SYNTAX],
    [["SSCAN", "a", 0, "NOVALUES"], SYNTAX],
    [["SSCAN", "a", 0, "COUNT", "abc", "NOVALUES"], NOT_INT],
    [["SSCAN", "a", 0, "TYPE", "string"], SYNTAX],
    [["SSCAN", "a"], arity("sscan")],
  ]],
]);

/** A set with `n` members m0..m(n-1). */
function filled(n: number): MapKeyspace {
  const ks = new MapKeyspace();
  run(ks, T0, ["SADD", "a", ...Array.from({ length: n }, (_, i) => `m${i}`)]);
  return ks;
}

const membersOf = (ks: MapKeyspace, key = "a"): string[] => {
  const entry = ks.get(key);
  return entry?.type === "set" ? [...entry.members] : [];
};

describe("SPOP and SRANDMEMBER draw at random", () => {
  it("SPOP removes the member it replies", () => {
    const ks = filled(5);
    const popped = run(ks, T0, ["SPOP", "a"]) as string;
    expect(membersOf(ks)).toHaveLength(4);
    expect(membersOf(ks)).not.toContain(popped);
    expect(popped).toMatch(/^m[0-4]$/);
  });

  it("SPOP with a count removes that many distinct members and keeps the TTL", () => {
    const ks = filled(10);
    run(ks, T0, ["EXPIRE", "a", 100]);
    const popped = run(ks, T0, ["SPOP", "a", 4]) as string[];
    expect(new Set(popped).size).toBe(4);
    const rest = membersOf(ks);
    expect(rest).toHaveLength(6);
    expect([...rest, ...popped].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
    expect(run(ks, T0, ["TTL", "a"])).toBe(100);
  });

  it("SRANDMEMBER with a positive count replies distinct members and changes nothing", () => {
    const ks = filled(10);
    const before = ks.get("a");
    const drawn = run(ks, T0, ["SRANDMEMBER", "a", 4]) as string[];
    expect(drawn).toHaveLength(4);
    expect(new Set(drawn).size).toBe(4);
    for (const m of drawn) expect(membersOf(ks)).toContain(m);
    expect(ks.get("a")).toBe(before);
  });

  it("SRANDMEMBER with a negative count replies exactly that many members, repeats allowed", () => {
    const ks = filled(3);
    const drawn = run(ks, T0, ["SRANDMEMBER", "a", -300]) as string[];
    expect(drawn).toHaveLength(300);
    // every member is drawn (missing one in 300 fair draws has probability ~3 * (2/3)^300)
    expect([...new Set(drawn)].sort()).toEqual(["m0", "m1", "m2"]);
  });

  it("SRANDMEMBER without a count draws every member over many calls", () => {
    const ks = filled(3);
    const seen = new Set<Reply | Err>();
    for (let i = 0; i < 300; i++) seen.add(run(ks, T0, ["SRANDMEMBER", "a"], { random: Math.random }));
    expect([...seen].sort()).toEqual(["m0", "m1", "m2"]);
  });

  it("SPOP draws every member over many calls", () => {
    const seen = new Set<Reply | Err>();
    for (let i = 0; i < 300; i++) seen.add(run(filled(3), T0, ["SPOP", "a"]));
    expect([...seen].sort()).toEqual(["m0", "m1", "m2"]);
  });

  it("the draws come from the caller's source of randomness", () => {
    const first = { random: () => 0 };
    const last = { random: () => 0.999999 };
    expect(run(filled(3), T0, ["SRANDMEMBER", "a"], first)).toBe("m0");
    expect(run(filled(3), T0, ["SRANDMEMBER", "a"], last)).toBe("m2");
    expect(run(filled(3), T0, ["SRANDMEMBER", "a", -3], last)).toEqual(["m2", "m2", "m2"]);
    expect(run(filled(3), T0, ["SPOP", "a"], last)).toBe("m2");
    const ks = filled(3);
    expect(run(ks, T0, ["SPOP", "a", 2], first)).toEqual(["m0", "m1"]);
    expect(membersOf(ks)).toEqual(["m2"]);
  });

  it("SRANDMEMBER refuses a repeating reply larger than the largest value, rather than building it", () => {
    const ks = filled(3);
    // each member costs its 2 bytes plus 3: 20 draws are 100 bytes
    expect(run(ks, T0, ["SRANDMEMBER", "a", -20], { maxValueBytes: 100 })).toHaveLength(20);
    expect(run(ks, T0, ["SRANDMEMBER", "a", -21], { maxValueBytes: 100 })).toEqual(
      E("ERR SRANDMEMBER count -21 asks for a reply over 100 bytes (this server's limit on one reply: the largest value one key holds)"),
    );
    expect(run(ks, T0, ["SRANDMEMBER", "a", "-9223372036854775807"], { maxValueBytes: 1000 })).toMatchObject({ error: expect.stringMatching(/^ERR SRANDMEMBER count -9223372036854775807 asks/) });
  });
});

describe("set entries read from the keyspace are never changed in place", () => {
  it("every writing command leaves the entry it read intact", () => {
    const writes: Word[][] = [
      ["SADD", "a", "z"],
      ["SREM", "a", "a"],
      ["SPOP", "a"],
      ["SPOP", "a", 2],
      ["SMOVE", "a", "b", "a"],
      ["SMOVE", "b", "a", "z"],
      ["SINTERSTORE", "a", "a", "b"],
      ["SUNIONSTORE", "a", "a", "b"],
      ["SDIFFSTORE", "b", "b", "a"],
    ];
    for (const words of writes) {
      const ks = new MapKeyspace();
      run(ks, T0, ["SADD", "a", "a", "b", "c"]);
      run(ks, T0, ["SADD", "b", "z", "c"]);
      const a = ks.get("a");
      const b = ks.get("b");
      run(ks, T0, words);
      expect(a, JSON.stringify(words)).toEqual({ type: "set", members: new Set(["a", "b", "c"]), expiresAt: null });
      expect(b, JSON.stringify(words)).toEqual({ type: "set", members: new Set(["z", "c"]), expiresAt: null });
    }
  });
});
