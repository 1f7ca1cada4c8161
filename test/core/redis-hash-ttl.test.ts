/**
 * Hash-field TTLs (Redis 7.4: HEXPIRE & co., HTTL & co., HPERSIST; Redis 8.0: HGETDEL, HGETEX,
 * HSETEX) and HRANDFIELD, on the pure engine. Texts and reply shapes follow t_hash.c; HRANDFIELD's
 * were checked against redis-server 7.0.
 */
import { describe, expect, it } from "vitest";
import { estimateCalls, requestOverBudget } from "../../src/core/redis/budget";
import { decodeEntry, encodeEntry } from "../../src/core/redis/codec";
import { parseKeyspaceCommand, parseScan } from "../../src/core/redis/commands";
import { MAX_RANDOM_PICKS } from "../../src/core/redis/hashes";
import { HASH_CONTENT_TYPE, HASH_TTL_CONTENT_TYPE, type Reply } from "../../src/core/redis/types";
import { E, MapKeyspace, NOT_INT, SYNTAX, T0, WRONGTYPE, arity, cmd, run, script, table, type Step } from "../support/redis-engine";

const S0 = T0 / 1000; // the scripts' "now" in unix seconds
const AB: Step = [["HSET", "h", "a", "1", "b", "2"], 2];
const STRING: Step = [["SET", "s", "x"], "OK"];
const FIELDS_MISSING = E("ERR Mandatory argument FIELDS is missing or not at the right position");
const MISMATCH = E("ERR The `numfields` parameter must match the number of arguments");
const NUMFIELDS_HEXPIRE = E("ERR Parameter `numFields` should be greater than 0");
const NUMFIELDS = E("ERR Number of fields must be a positive integer");
const NEGATIVE = E("ERR invalid expire time, must be >= 0");

table("HEXPIRE family: per-field replies (t_hash.c hexpireGenericCommand)", [
  [
    "sets a TTL on the fields that exist (1) and answers -2 for the others; HTTL & co. read it back",
    [
      AB,
      [["HEXPIRE", "h", 100, "FIELDS", 3, "a", "b", "c"], [1, 1, -2]],
      [["HTTL", "h", "FIELDS", 3, "a", "b", "c"], [100, 100, -2]],
      [["HPTTL", "h", "FIELDS", 1, "a"], [100_000]],
      [["HEXPIRETIME", "h", "FIELDS", 1, "a"], [S0 + 100]],
      [["HPEXPIRETIME", "h", "FIELDS", 1, "a"], [T0 + 100_000]],
      [["TTL", "h"], -1],
    ],
  ],
  [
    "HPEXPIRE, HEXPIREAT and HPEXPIREAT take milliseconds and absolute times",
    [
      [["HSET", "h", "a", "1", "b", "2", "c", "3"], 3],
      [["HPEXPIRE", "h", 1500, "FIELDS", 1, "a"], [1]],
      [["HEXPIREAT", "h", S0 + 30, "FIELDS", 1, "b"], [1]],
      [["HPEXPIREAT", "h", T0 + 4321, "FIELDS", 1, "c"], [1]],
      [["HPTTL", "h", "FIELDS", 3, "a", "b", "c"], [1500, 30_000, 4321]],
      [["HPEXPIRETIME", "h", "FIELDS", 3, "a", "b", "c"], [T0 + 1500, T0 + 30_000, T0 + 4321]],
    ],
  ],
  [
    "HTTL rounds up to whole seconds, as Redis does for fields ((ms + 999) / 1000)",
    [
      AB,
      [["HPEXPIRE", "h", 1500, "FIELDS", 1, "a"], [1]],
      [["HTTL", "h", "FIELDS", 1, "a"], [2]],
      [["HEXPIRETIME", "h", "FIELDS", 1, "a"], [S0 + 2]],
      { advance: 600 },
      [["HTTL", "h", "FIELDS", 1, "a"], [1]],
      [["HPTTL", "h", "FIELDS", 1, "a"], [900]],
    ],
  ],
  [
    "NX sets only fields without a TTL, XX only fields with one",
    [
      AB,
      [["HSET", "h", "c", "3"], 1],
      [["HEXPIRE", "h", 100, "NX", "FIELDS", 2, "a", "b"], [1, 1]],
      [["HEXPIRE", "h", 200, "nx", "FIELDS", 2, "a", "c"], [0, 1]],
      [["HSET", "h", "d", "4"], 1],
      [["HEXPIRE", "h", 50, "XX", "FIELDS", 3, "a", "d", "zz"], [1, 0, -2]],
      [["HTTL", "h", "FIELDS", 4, "a", "b", "c", "d"], [50, 100, 200, -1]],
    ],
  ],
  [
    "GT and LT compare with the current TTL; no TTL counts as infinite (GT never, LT always)",
    [
      AB,
      [["HSET", "h", "c", "3"], 1],
      [["HEXPIRE", "h", 100, "FIELDS", 2, "a", "b"], [1, 1]],
      [["HEXPIRE", "h", 50, "GT", "FIELDS", 3, "a", "b", "c"], [0, 0, 0]],
      [["HEXPIRE", "h", 100, "GT", "FIELDS", 1, "a"], [0]],
      [["HEXPIRE", "h", 150, "gt", "FIELDS", 1, "a"], [1]],
      [["HEXPIRE", "h", 100, "LT", "FIELDS", 1, "b"], [0]],
      [["HEXPIRE", "h", 70, "LT", "FIELDS", 2, "b", "c"], [1, 1]],
      [["HTTL", "h", "FIELDS", 3, "a", "b", "c"], [150, 70, 70]],
    ],
  ],
  [
    "a time now or past deletes the field (2), after the condition is checked; an emptied hash is deleted",
    [
      [["HSET", "h", "a", "1", "b", "2", "c", "3"], 3],
      [["HEXPIRE", "h", 0, "XX", "FIELDS", 1, "a"], [0]],
      [["HEXPIRE", "h", 0, "FIELDS", 2, "a", "a"], [2, -2]],
      [["HPEXPIREAT", "h", T0, "FIELDS", 1, "b"], [2]],
      [["HGETALL", "h"], ["c", "3"]],
      [["HEXPIREAT", "h", 1, "FIELDS", 1, "c"], [2]],
      [["EXISTS", "h"], 0],
    ],
  ],
  [
    "a missing key answers -2 for every field and is not created",
    [
      [["HEXPIRE", "nokey", 10, "FIELDS", 2, "a", "b"], [-2, -2]],
      [["HTTL", "nokey", "FIELDS", 1, "a"], [-2]],
      [["HPEXPIRETIME", "nokey", "FIELDS", 1, "a"], [-2]],
      [["HPERSIST", "nokey", "FIELDS", 1, "a"], [-2]],
      [["EXISTS", "nokey"], 0],
    ],
  ],
  [
    "errors: FIELDS, numfields, the time, the type (checked first), with Redis's texts",
    [
      AB,
      STRING,
      [["HEXPIRE", "h", 10, "FIELDS", 2, "a"], MISMATCH],
      [["HEXPIRE", "h", 10, "FIELDS", 1, "a", "b"], MISMATCH],
      [["HEXPIRE", "h", 10, "NX", "FIELDS", 1], MISMATCH],
      [["HEXPIRE", "h", 10, "FIELDS", 0, "a"], NUMFIELDS_HEXPIRE],
      [["HEXPIRE", "h", 10, "FIELDS", "x", "a"], NUMFIELDS_HEXPIRE],
      [["HEXPIRE", "h", 10, "NX", "XX", "FIELDS", 1, "a"], FIELDS_MISSING],
      [["HEXPIRE", "h", 10, "FOO", "FIELDS", 1, "a"], FIELDS_MISSING],
      [["HEXPIRE", "h", -1, "FIELDS", 1, "a"], NEGATIVE],
      [["HEXPIRE", "h", "ten", "FIELDS", 1, "a"], NOT_INT],
      [["HEXPIRE", "h", 281474976711, "FIELDS", 1, "a"], E("ERR invalid expire time in 'hexpire' command")],
      [["HPEXPIREAT", "h", 281474976710656, "FIELDS", 1, "a"], E("ERR invalid expire time in 'hpexpireat' command")],
      [["HPEXPIRE", "h", 281474976710655, "FIELDS", 1, "a"], E("ERR invalid expire time in 'hpexpire' command")],
      [["HPEXPIREAT", "h", 281474976710655, "FIELDS", 1, "a"], [1]],
      [["HEXPIRE", "h", 10, "FIELDS", 1], arity("hexpire")],
      [["HEXPIRE", "s", "ten", "FIELDS", 1, "a"], WRONGTYPE],
      [["HTTL", "s", "FIELDS", 1, "a"], WRONGTYPE],
      [["HTTL", "h", "FIELDS", 2, "a"], MISMATCH],
      [["HTTL", "h", "FIELDS", 0, "a"], NUMFIELDS],
      [["HTTL", "h", "FIELD", 1, "a"], FIELDS_MISSING],
      [["HPTTL", "h", "FIELDS", -1, "a"], NUMFIELDS],
      [["HPERSIST", "h", "FIELDS", 0, "a"], NUMFIELDS],
      [["HPERSIST", "s", "FIELDS", 1, "a"], WRONGTYPE],
    ],
  ],
]);

table("an expired field is gone for every hash command", [
  [
    "reads skip it, counts leave it out, and a hash whose fields all expired is absent",
    [
      AB,
      [["HPEXPIRE", "h", 50, "FIELDS", 1, "a"], [1]],
      [["HGET", "h", "a"], "1"],
      { advance: 50 },
      [["HGET", "h", "a"], null],
      [["HMGET", "h", "a", "b"], [null, "2"]],
      [["HGETALL", "h"], ["b", "2"]],
      [["HKEYS", "h"], ["b"]],
      [["HVALS", "h"], ["2"]],
      [["HLEN", "h"], 1],
      [["HEXISTS", "h", "a"], 0],
      [["HSTRLEN", "h", "a"], 0],
      [["HSCAN", "h", 0], ["0", ["b", "2"]]],
      [["HRANDFIELD", "h", -4], ["b", "b", "b", "b"]],
      [["HTTL", "h", "FIELDS", 1, "a"], [-2]],
      [["HPERSIST", "h", "FIELDS", 1, "a"], [-2]],
      [["HEXPIRE", "h", 10, "FIELDS", 1, "a"], [-2]],
      [["HDEL", "h", "a"], 0],
      [["HPEXPIRE", "h", 10, "FIELDS", 1, "b"], [1]],
      { advance: 10 },
      [["EXISTS", "h"], 0],
      [["TYPE", "h"], "none"],
      [["HLEN", "h"], 0],
      [["HGETALL", "h"], []],
      [["HRANDFIELD", "h"], null],
      [["HSET", "h", "c", "3"], 1],
      [["HGETALL", "h"], ["c", "3"]],
    ],
  ],
  [
    "writes see it as absent: HSETNX, HINCRBY and HSET create it afresh, without a TTL",
    [
      [["HSET", "h", "a", "5", "b", "7", "c", "9", "keep", "x"], 4],
      [["HPEXPIRE", "h", 10, "FIELDS", 3, "a", "b", "c"], [1, 1, 1]],
      { advance: 10 },
      [["HSETNX", "h", "a", "new"], 1],
      [["HINCRBY", "h", "b", 1], 1],
      [["HSET", "h", "c", "fresh"], 1],
      [["HTTL", "h", "FIELDS", 3, "a", "b", "c"], [-1, -1, -1]],
      [["HGETALL", "h"], ["keep", "x", "a", "new", "b", "1", "c", "fresh"]],
    ],
  ],
]);

table("what keeps or clears a field's TTL", [
  [
    "HSET and HMSET clear the TTL of the fields they set (as Redis does); HINCRBY, HINCRBYFLOAT keep it",
    [
      AB,
      [["HSET", "h", "c", "1.5"], 1],
      [["HEXPIRE", "h", 100, "FIELDS", 3, "a", "b", "c"], [1, 1, 1]],
      [["HSET", "h", "a", "9"], 0],
      [["HMSET", "h", "zz", "1"], "OK"],
      [["HINCRBY", "h", "b", 3], 5],
      [["HINCRBYFLOAT", "h", "c", "1"], "2.5"],
      [["HSETNX", "h", "b", "no"], 0],
      [["HTTL", "h", "FIELDS", 4, "a", "b", "c", "zz"], [-1, 100, 100, -1]],
    ],
  ],
  [
    "HDEL keeps the TTLs of the fields left",
    [AB, [["HEXPIRE", "h", 100, "FIELDS", 1, "b"], [1]], [["HDEL", "h", "a"], 1], [["HTTL", "h", "FIELDS", 1, "b"], [100]]],
  ],
  [
    "key-level commands keep field TTLs: EXPIRE, PERSIST, RENAME, COPY",
    [
      AB,
      [["HEXPIRE", "h", 100, "FIELDS", 1, "a"], [1]],
      [["EXPIRE", "h", 1000], 1],
      [["TTL", "h"], 1000],
      [["HTTL", "h", "FIELDS", 2, "a", "b"], [100, -1]],
      [["PERSIST", "h"], 1],
      [["HTTL", "h", "FIELDS", 1, "a"], [100]],
      [["RENAME", "h", "h2"], "OK"],
      [["HTTL", "h2", "FIELDS", 1, "a"], [100]],
      [["COPY", "h2", "h3"], 1],
      [["HPERSIST", "h3", "FIELDS", 1, "a"], [1]],
      [["HTTL", "h2", "FIELDS", 1, "a"], [100]],
      [["HTTL", "h3", "FIELDS", 1, "a"], [-1]],
      { advance: 100_000 },
      [["HGETALL", "h2"], ["b", "2"]],
      [["HGETALL", "h3"], ["a", "1", "b", "2"]],
    ],
  ],
  [
    "HPERSIST: 1 when a TTL was removed, -1 when the field had none, -2 when it does not exist",
    [
      AB,
      [["HEXPIRE", "h", 100, "FIELDS", 1, "a"], [1]],
      [["HPERSIST", "h", "FIELDS", 3, "a", "b", "c"], [1, -1, -2]],
      [["HTTL", "h", "FIELDS", 1, "a"], [-1]],
      { advance: 200_000 },
      [["HGET", "h", "a"], "1"],
    ],
  ],
]);

table("HGETDEL (Redis 8.0)", [
  [
    "answers each field's value (nil if absent) and deletes them; an emptied hash is deleted",
    [
      AB,
      [["HGETDEL", "h", "FIELDS", 3, "a", "c", "a"], ["1", null, null]],
      [["HGETALL", "h"], ["b", "2"]],
      [["HGETDEL", "h", "fields", 1, "b"], ["2"]],
      [["EXISTS", "h"], 0],
      [["HGETDEL", "nokey", "FIELDS", 2, "a", "b"], [null, null]],
    ],
  ],
  [
    "an expired field is nil, and the TTLs of the fields left stay",
    [
      [["HSET", "h", "a", "1", "b", "2", "c", "3"], 3],
      [["HPEXPIRE", "h", 10, "FIELDS", 2, "a", "c"], [1, 1]],
      [["HEXPIRE", "h", 100, "FIELDS", 1, "c"], [1]],
      { advance: 10 },
      [["HGETDEL", "h", "FIELDS", 2, "a", "b"], [null, "2"]],
      [["HTTL", "h", "FIELDS", 1, "c"], [100]],
    ],
  ],
  [
    "errors",
    [
      AB,
      STRING,
      [["HGETDEL", "h", "FIELDS", 2, "a"], MISMATCH],
      [["HGETDEL", "h", "FIELDS", 0, "a"], NUMFIELDS],
      [["HGETDEL", "h", "FIELD", 1, "a"], FIELDS_MISSING],
      [["HGETDEL", "s", "FIELDS", 1, "a"], WRONGTYPE],
      [["HGETDEL", "h", "FIELDS", 1], arity("hgetdel")],
    ],
  ],
]);

table("HGETEX (Redis 8.0)", [
  [
    "answers the values and sets the TTL of the fields that exist: EX, PX, EXAT, PXAT, PERSIST",
    [
      AB,
      [["HGETEX", "h", "FIELDS", 2, "a", "c"], ["1", null]],
      [["HTTL", "h", "FIELDS", 1, "a"], [-1]],
      [["HGETEX", "h", "EX", 100, "FIELDS", 2, "a", "c"], ["1", null]],
      [["HTTL", "h", "FIELDS", 2, "a", "c"], [100, -2]],
      [["HGETEX", "h", "px", 5000, "FIELDS", 1, "b"], ["2"]],
      [["HPTTL", "h", "FIELDS", 1, "b"], [5000]],
      [["HGETEX", "h", "EXAT", S0 + 50, "FIELDS", 1, "a"], ["1"]],
      [["HTTL", "h", "FIELDS", 1, "a"], [50]],
      [["HGETEX", "h", "PXAT", T0 + 60_000, "FIELDS", 1, "a"], ["1"]],
      [["HPEXPIRETIME", "h", "FIELDS", 1, "a"], [T0 + 60_000]],
      [["HGETEX", "h", "PERSIST", "FIELDS", 2, "a", "b"], ["1", "2"]],
      [["HTTL", "h", "FIELDS", 2, "a", "b"], [-1, -1]],
      [["HGETEX", "nokey", "EX", 10, "FIELDS", 1, "a"], [null]],
      [["EXISTS", "nokey"], 0],
    ],
  ],
  [
    "a time now or past deletes the fields after answering them; an emptied hash is deleted",
    [
      AB,
      [["HGETEX", "h", "EX", 0, "FIELDS", 1, "a"], ["1"]],
      [["HEXISTS", "h", "a"], 0],
      [["HGETEX", "h", "PXAT", 1, "FIELDS", 1, "b"], ["2"]],
      [["EXISTS", "h"], 0],
    ],
  ],
  [
    "errors: the type first, then the time, then FIELDS",
    [
      AB,
      STRING,
      [["HGETEX", "h", "EX", -1, "FIELDS", 1, "a"], NEGATIVE],
      [["HGETEX", "h", "EX", "x", "FIELDS", 1, "a"], NOT_INT],
      [["HGETEX", "h", "EX", 281474976711, "FIELDS", 1, "a"], E("ERR invalid expire time in 'hgetex' command")],
      [["HGETEX", "h", "EX", 10, "FIELD", 1, "a"], FIELDS_MISSING],
      [["HGETEX", "h", "FOO", "FIELDS", 1, "a"], FIELDS_MISSING],
      [["HGETEX", "h", "FIELDS", 0, "a"], NUMFIELDS],
      [["HGETEX", "h", "FIELDS", 2, "a"], MISMATCH],
      [["HGETEX", "h", "EX", 10, "FIELDS"], arity("hgetex")],
      [["HGETEX", "s", "EX", "x", "FIELDS", 1, "a"], WRONGTYPE],
    ],
  ],
]);

table("HSETEX (Redis 8.0)", [
  [
    "sets fields; without an expiry option a field loses its TTL, with KEEPTTL it keeps it",
    [
      [["HSETEX", "h", "FIELDS", 2, "a", "1", "b", "2"], 1],
      [["HGETALL", "h"], ["a", "1", "b", "2"]],
      [["HSETEX", "h", "EX", 100, "FIELDS", 1, "a", "x"], 1],
      [["HTTL", "h", "FIELDS", 2, "a", "b"], [100, -1]],
      [["HSETEX", "h", "FIELDS", 1, "a", "y"], 1],
      [["HTTL", "h", "FIELDS", 1, "a"], [-1]],
      [["HSETEX", "h", "PX", 5000, "FIELDS", 1, "a", "z"], 1],
      [["HSETEX", "h", "KEEPTTL", "FIELDS", 2, "a", "w", "c", "3"], 1],
      [["HPTTL", "h", "FIELDS", 2, "a", "c"], [5000, -1]],
      [["HGET", "h", "a"], "w"],
      [["HSETEX", "h2", "EXAT", S0 + 30, "FIELDS", 1, "a", "1"], 1],
      [["HTTL", "h2", "FIELDS", 1, "a"], [30]],
      [["HSETEX", "h2", "PXAT", T0 + 1234, "FIELDS", 1, "a", "1"], 1],
      [["HPEXPIRETIME", "h2", "FIELDS", 1, "a"], [T0 + 1234]],
    ],
  ],
  [
    "FNX sets only if none of the fields exists, FXX only if all do (an expired field does not)",
    [
      AB,
      [["HSETEX", "h", "FNX", "FIELDS", 2, "a", "9", "c", "3"], 0],
      [["HSETEX", "h", "FNX", "FIELDS", 1, "c", "3"], 1],
      [["HSETEX", "h", "FXX", "FIELDS", 2, "a", "9", "d", "4"], 0],
      [["HGETALL", "h"], ["a", "1", "b", "2", "c", "3"]],
      [["HSETEX", "h", "FXX", "EX", 10, "FIELDS", 2, "a", "8", "c", "5"], 1],
      [["HTTL", "h", "FIELDS", 2, "a", "c"], [10, 10]],
      { advance: 10_000 },
      [["HSETEX", "h", "FXX", "FIELDS", 1, "a", "7"], 0],
      [["HSETEX", "h", "FNX", "FIELDS", 1, "a", "7"], 1],
      [["HSETEX", "nokey", "FXX", "FIELDS", 1, "a", "1"], 0],
      [["EXISTS", "nokey"], 0],
    ],
  ],
  [
    "a time now or past sets and at once deletes the fields (replies 1); an emptied hash is deleted",
    [
      AB,
      [["HSETEX", "h", "EX", 0, "FIELDS", 1, "a", "x"], 1],
      [["HGETALL", "h"], ["b", "2"]],
      [["HSETEX", "h", "PXAT", 1, "FIELDS", 1, "b", "x"], 1],
      [["EXISTS", "h"], 0],
      [["HSETEX", "h3", "PX", 0, "FIELDS", 1, "a", "x"], 1],
      [["EXISTS", "h3"], 0],
    ],
  ],
  [
    "errors: the options are checked before the key's type",
    [
      AB,
      STRING,
      [["HSETEX", "h", "FNX", "FXX", "FIELDS", 1, "a", "1"], E("ERR Only one of FXX or FNX arguments can be specified")],
      [["HSETEX", "h", "EX", 10, "PX", 10, "FIELDS", 1, "a", "1"], E("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified")],
      [["HSETEX", "h", "KEEPTTL", "EX", 10, "FIELDS", 1, "a", "1"], E("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified")],
      [["HSETEX", "h", "FIELDS", 2, "a", "1"], arity("hsetex")],
      [["HSETEX", "h", "FIELDS", 1, "a", "1", "b"], arity("hsetex")],
      [["HSETEX", "h", "FIELDS", 0, "a", "1"], E("ERR invalid number of fields")],
      [["HSETEX", "h", "FIELDS", "x", "a", "1"], E("ERR invalid number of fields")],
      [["HSETEX", "h", "FOO", "FIELDS", 1, "a", "1"], E("ERR unknown argument: FOO")],
      [["HSETEX", "h", "EX", -5, "FIELDS", 1, "a", "1"], NEGATIVE],
      [["HSETEX", "h", "EXAT", 281474976711, "FIELDS", 1, "a", "1"], E("ERR invalid expire time in 'hsetex' command")],
      [["HSETEX", "s", "FOO", "FIELDS", 1, "a", "1"], E("ERR unknown argument: FOO")],
      [["HSETEX", "s", "FIELDS", 1, "a", "1"], WRONGTYPE],
      [["HSETEX", "h", "FIELDS", 1, "a"], arity("hsetex")],
    ],
  ],
]);

describe("how a hash with field TTLs is stored", () => {
  it("a hash without field TTLs keeps its plain form; one with them uses its own content type and decodes back", () => {
    const ks = script([AB]);
    const plain = encodeEntry(ks.get("h")!);
    expect(plain).toEqual({ value: '{"a":"1","b":"2"}', contentType: HASH_CONTENT_TYPE });
    script([[["HPEXPIREAT", "h", T0 + 5000, "FIELDS", 1, "a"], [1]]], ks);
    const stored = encodeEntry(ks.get("h")!);
    expect(stored.contentType).toBe(HASH_TTL_CONTENT_TYPE);
    expect(JSON.parse(stored.value)).toEqual({ fields: { a: "1", b: "2" }, expires: { a: T0 + 5000 } });
    const back = decodeEntry(stored.contentType, stored.value, null);
    expect(back).toEqual({ type: "hash", fields: { a: "1", b: "2" }, expiresAt: null, fieldExpiresAt: { a: T0 + 5000 } });
    const again = new MapKeyspace();
    again.set("h", back);
    expect(run(again, T0, ["HPTTL", "h", "FIELDS", 2, "a", "b"])).toEqual([5000, -1]);
    script([[["HPERSIST", "h", "FIELDS", 1, "a"], [1]]], ks);
    expect(encodeEntry(ks.get("h")!)).toEqual(plain);
  });

  it("a field that expired is dropped from storage by the next write of the hash", () => {
    const ks = script([AB, [["HPEXPIRE", "h", 10, "FIELDS", 1, "a"], [1]]]);
    expect(run(ks, T0 + 10, ["HSET", "h", "c", "3"])).toBe(1);
    expect(encodeEntry(ks.get("h")!)).toEqual({ value: '{"b":"2","c":"3"}', contentType: HASH_CONTENT_TYPE });
  });

  it("a stored text that is not a hash with TTLs reads as a string, as any malformed typed value does", () => {
    for (const text of ["[]", '{"fields":{"a":1},"expires":{}}', '{"fields":{"a":"1"},"expires":{"a":"soon"}}', '{"fields":{}}', "nope"]) {
      expect(decodeEntry(HASH_TTL_CONTENT_TYPE, text, null)).toEqual({ type: "string", value: text, expiresAt: null });
    }
  });

  it("a TTL naming a field the hash does not hold is ignored", () => {
    expect(decodeEntry(HASH_TTL_CONTENT_TYPE, '{"fields":{"a":"1"},"expires":{"b":5}}', null)).toEqual({ type: "hash", fields: { a: "1" }, expiresAt: null, fieldExpiresAt: {} });
  });
});

const H3: Step = [["HSET", "h", "a", "1", "b", "2", "c", "3"], 3];
const VALUES: Record<string, string> = { a: "1", b: "2", c: "3" };

/** Runs HRANDFIELD on h = {a:1, b:2, c:3} with a given source of randomness. */
function hrandfield(args: (string | number)[], random?: () => number): Reply {
  const ks = script([H3]);
  const reply = run(ks, T0, ["HRANDFIELD", "h", ...args], random === undefined ? {} : { random });
  if (reply !== null && typeof reply === "object" && !Array.isArray(reply)) throw new Error(reply.error);
  return reply;
}

describe("HRANDFIELD (shapes as redis-server 7.0 answers them)", () => {
  it("without a count: one field of the hash, nil for a missing key", () => {
    expect(Object.keys(VALUES)).toContain(hrandfield([]));
    script([[["HRANDFIELD", "nokey"], null]]);
  });

  it("picks with the caller's randomness", () => {
    expect(hrandfield([], () => 0)).toBe("a");
    expect(hrandfield([], () => 0.99)).toBe("c");
    expect(hrandfield([-3], () => 0.5)).toEqual(["b", "b", "b"]);
  });

  it("a positive count: that many distinct fields, or all of them when it asks for more", () => {
    for (let i = 0; i < 20; i++) {
      const two = hrandfield([2]) as string[];
      expect(two).toHaveLength(2);
      expect(new Set(two).size).toBe(2);
      for (const f of two) expect(Object.keys(VALUES)).toContain(f);
    }
    expect((hrandfield([3]) as string[]).sort()).toEqual(["a", "b", "c"]);
    expect((hrandfield([10]) as string[]).sort()).toEqual(["a", "b", "c"]);
  });

  it("a negative count: exactly |count| fields, repeats allowed", () => {
    const picks = hrandfield([-10]) as string[];
    expect(picks).toHaveLength(10);
    for (const f of picks) expect(Object.keys(VALUES)).toContain(f);
  });

  it("WITHVALUES interleaves each field with its value (RESP2's flat array)", () => {
    for (const count of [2, 5, -7]) {
      const flat = hrandfield([count, "WITHVALUES"]) as string[];
      expect(flat).toHaveLength(2 * (count === 5 ? 3 : Math.abs(count)));
      for (let i = 0; i < flat.length; i += 2) expect(flat[i + 1]).toBe(VALUES[flat[i] as string]);
    }
    expect(hrandfield([1, "withvalues"])).toHaveLength(2);
  });

  it("a count of 0 or a missing key with a count answers an empty array", () => {
    expect(hrandfield([0])).toEqual([]);
    expect(hrandfield([0, "WITHVALUES"])).toEqual([]);
    script([[["HRANDFIELD", "nokey", 3], []]]);
  });

  it("a negative count beyond this server's reply limit is refused with its reason", () => {
    expect(hrandfield([-MAX_RANDOM_PICKS])).toHaveLength(MAX_RANDOM_PICKS);
    script([H3, [["HRANDFIELD", "h", -(MAX_RANDOM_PICKS + 1)], E(`ERR HRANDFIELD count ${-(MAX_RANDOM_PICKS + 1)} asks for more than ${MAX_RANDOM_PICKS} fields (this server's limit on one reply)`)]]);
  });
});

table("HRANDFIELD errors (redis-server 7.0's texts)", [
  [
    "the count and options are checked before the key",
    [
      H3,
      STRING,
      [["HRANDFIELD", "h", "abc"], NOT_INT],
      [["HRANDFIELD", "h", "9999999999999999999"], NOT_INT],
      [["HRANDFIELD", "h", "-9223372036854775808"], E("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")],
      [["HRANDFIELD", "h", "5000000000000000000", "WITHVALUES"], E("ERR value is out of range")],
      [["HRANDFIELD", "h", 1, "x"], SYNTAX],
      [["HRANDFIELD", "h", 1, "WITHVALUES", "x"], SYNTAX],
      [["HRANDFIELD", "nokey", 1, "x"], SYNTAX],
      [["HRANDFIELD", "s"], WRONGTYPE],
      [["HRANDFIELD", "s", 1], WRONGTYPE],
    ],
  ],
]);

describe("RANDOMKEY and SCAN WITHTYPE for the caller (keyspace.ts, budget.ts)", () => {
  it("parseScan reads Upstash's WITHTYPE flag (and only SCAN does); without it the options are unchanged", () => {
    expect(parseScan(["0", "WITHTYPE", "count", "5"])).toEqual({ cursor: "0", match: null, count: 5, type: null, noValues: false, withType: true });
    expect(parseScan(["0"]).withType).toBeUndefined();
    expect(run(new MapKeyspace(), T0, ["HSCAN", "h", 0, "WITHTYPE"])).toEqual(["0", []]);
    script([[["HSET", "h", "f", "v"], 1], [["HSCAN", "h", 0, "WITHTYPE"], SYNTAX]]);
  });

  it("RANDOMKEY is a keyspace command of its own, never read as FLUSHDB", () => {
    expect(parseKeyspaceCommand(cmd(["RANDOMKEY"]))).toEqual({ kind: "randomkey" });
    expect(() => parseKeyspaceCommand(cmd(["RANDOMKEY", "x"]))).toThrow("ERR wrong number of arguments for 'randomkey' command");
  });

  it("RANDOMKEY costs one page per shard, like SCAN, and is not a walk: a pipeline may hold several", () => {
    const shape = { shards: 8, replicas: 3, readQuorum: 2 };
    expect(estimateCalls(cmd(["RANDOMKEY"]), shape)).toBe(8);
    expect(requestOverBudget("pipeline", [cmd(["RANDOMKEY"]), cmd(["RANDOMKEY"]), cmd(["KEYS", "*"])], shape)).toBeNull();
    expect(requestOverBudget("pipeline", [cmd(["DBSIZE"]), cmd(["KEYS", "*"])], shape)).toMatch(/2 walks of the whole keyspace/);
  });
});
