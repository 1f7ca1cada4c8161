import { describe, expect, it } from "vitest";
import {
  commandSpec,
  compileGlob,
  executeCommand,
  globToRegExp,
  isKeyspaceCommand,
  isReadOnly,
  keysOf,
  parseCommand,
  parseKeyspaceCommand,
  parseScan,
} from "../../src/core/redis/commands";
import { RedisError } from "../../src/core/redis/types";
import { E, MapKeyspace, NOT_FLOAT, NOT_INT, SYNTAX, T0, WRONGTYPE, arity, cmd, run, script, table, type Step, type Word } from "../support/redis-engine";

const HASH: Step = [["HSET", "h", "f", "v"], 1];

describe("parseCommand", () => {
  it("lower-cases the name and keeps the arguments as Redis strings", () => {
    expect(parseCommand(["SET", "k", "v", "EX", 10])).toEqual({ ok: true, cmd: { name: "set", args: ["k", "v", "EX", "10"] } });
  });
  it.each([
    [1.5, "1.5"],
    [-0.25, "-0.25"],
    [0.1, "0.1"],
    [-0, "0"],
    [1e21, "1000000000000000000000"],
    [9007199254740993, "9007199254740992"],
    [1e-7, "1e-7"],
    [true, "true"],
    [false, "false"],
    ["", ""],
  ])("turns the JSON argument %j into %j", (value, text) => {
    expect(parseCommand(["echo", value])).toEqual({ ok: true, cmd: { name: "echo", args: [text] } });
  });
  it.each([[[]], [null], [{}], ["GET"], [[null]], [["GET", null]], [["GET", { a: 1 }]], [["GET", ["x"]]], [[["GET"]]]])(
    "refuses %j with an ERR text",
    (raw) => {
      const parsed = parseCommand(raw);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).toMatch(/^ERR /);
    },
  );
});

describe("command metadata", () => {
  it.each([
    [["GET", "a"], ["a"]],
    [["SET", "a", "1", "EX", "10"], ["a"]],
    [["MGET", "a", "b", "a"], ["a", "b", "a"]],
    [["MSET", "a", "1", "b", "2"], ["a", "b"]],
    [["MSETNX", "a", "1", "b"], ["a", "b"]],
    [["DEL", "a", "b"], ["a", "b"]],
    [["EXISTS", "a"], ["a"]],
    [["HSET", "h", "f", "v", "g", "w"], ["h"]],
    [["HMGET", "h", "f", "g"], ["h"]],
    [["RENAME", "a", "b"], ["a", "b"]],
    [["COPY", "a", "b", "REPLACE"], ["a", "b"]],
    [["EXPIRE", "a", "10", "NX"], ["a"]],
    [["PING"], []],
    [["ECHO", "x"], []],
    [["SCAN", "0"], []],
    [["LPUSH", "l", "x"], ["l"]],
    [["XADD", "s", "*", "f", "v"], []],
    [["EVAL", "return 1", "2", "k1", "k2", "a1"], ["k1", "k2"]],
    [["EVALSHA", "abc", "0", "a1"], []],
    [["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"], ["d", "a", "b"]],
    [["SINTERCARD", "2", "a", "b", "LIMIT", "1"], ["a", "b"]],
    [["ZUNION", "5", "a"], ["a"]],
    [["EVAL", "s", "x"], []],
    [["BITOP", "AND", "d", "a", "b"], ["d", "a", "b"]],
    [["LMOVE", "a", "b", "LEFT", "RIGHT"], ["a", "b"]],
    [["NOSUCH", "x"], []],
    [["GET"], []],
  ])("keysOf(%j) is %j", (words, keys) => {
    expect(keysOf(cmd(words))).toEqual(keys);
  });

  it("read-only commands are told apart from writes; unknown ones count as writes", () => {
    for (const name of ["get", "mget", "exists", "ttl", "hget", "hgetall", "strlen", "getrange", "type", "scan", "keys", "dbsize"]) {
      expect(isReadOnly({ name, args: [] }), name).toBe(true);
    }
    for (const name of ["set", "getex", "getdel", "del", "expire", "incr", "hset", "hdel", "persist", "flushdb", "lpush", "nosuch"]) {
      expect(isReadOnly({ name, args: [] }), name).toBe(false);
    }
  });

  it("SCAN, KEYS, DBSIZE, FLUSHDB and FLUSHALL are keyspace commands the caller runs", () => {
    for (const name of ["scan", "keys", "dbsize", "flushdb", "flushall"]) expect(isKeyspaceCommand(name), name).toBe(true);
    for (const name of ["get", "del", "nosuch"]) expect(isKeyspaceCommand(name), name).toBe(false);
    expect(run(new MapKeyspace(), T0, ["DBSIZE"])).toEqual(E("ERR 'dbsize' spans the whole keyspace and is not run by the command engine"));
  });

  it("commandSpec gives Redis arity and null for unknown names", () => {
    expect(commandSpec("get")).toMatchObject({ arity: 2, readOnly: true });
    expect(commandSpec("set")).toMatchObject({ arity: -3, readOnly: false });
    expect(commandSpec("nosuch")).toBeNull();
  });
});

table("unknown, unsupported and arity errors", [
  ["an unknown command replies Redis's text, arguments quoted", [[["FOO", "a", "b"], E("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")]]],
  ["an unknown command without arguments", [[["foo"], E("ERR unknown command 'foo', with args beginning with: ")]]],
  [
    "the quoted arguments stop at 128 characters",
    [[["foo", "x".repeat(200), "y"], E(`ERR unknown command 'foo', with args beginning with: '${"x".repeat(128)}' `)]],
  ],
  ["a stream command is unsupported, not unknown", [[["XADD", "s", "*", "f", "v"], E("ERR unsupported command 'xadd' (see the README's command table)")]]],
  ["pub/sub, functions and RedisJSON are unsupported", [
    [["SUBSCRIBE", "c"], E("ERR unsupported command 'subscribe' (see the README's command table)")],
    [["FCALL", "f", 0], E("ERR unsupported command 'fcall' (see the README's command table)")],
    [["JSON.GET", "k"], E("ERR unsupported command 'json.get' (see the README's command table)")],
  ]],
  ["blocking commands answer an error naming their non-blocking form", [
    [["BLPOP", "l", 0], E("ERR unsupported command 'blpop': it blocks the connection until data arrives, and the REST protocol holds no connection; use LPOP")],
    [["BZPOPMIN", "z", 0], E("ERR unsupported command 'bzpopmin': it blocks the connection until data arrives, and the REST protocol holds no connection; use ZPOPMIN")],
  ]],
  ["arity errors name the command in lower case", [
    [["GET"], arity("get")],
    [["GET", "a", "b"], arity("get")],
    [["SET", "a"], arity("set")],
    [["HSET", "h", "f"], arity("hset")],
    [["MGET"], arity("mget")],
    [["PING", "a", "b"], arity("ping")],
    [["ECHO"], arity("echo")],
    [["EXPIRE", "a"], arity("expire")],
  ]],
]);

table("PING, ECHO, TIME", [
  ["PING replies PONG", [[["PING"], "PONG"]]],
  ["PING with a message echoes it", [[["ping", "hi"], "hi"]]],
  ["ECHO replies its argument", [[["ECHO", "hello world"], "hello world"]]],
  ["TIME replies the passed-in time as [seconds, microseconds]", [[["TIME"], ["1700000000", "0"]], { advance: 1234 }, [["TIME"], ["1700000001", "234000"]]]],
]);

table("GET / SET", [
  ["GET of a missing key replies nil", [[["GET", "k"], null]]],
  ["SET replies OK and GET reads it back", [[["SET", "k", "v"], "OK"], [["GET", "k"], "v"]]],
  ["GET on a hash is WRONGTYPE", [HASH, [["GET", "h"], WRONGTYPE]]],
  ["SET overwrites a hash (SET ignores the old type)", [HASH, [["SET", "h", "s"], "OK"], [["TYPE", "h"], "string"]]],
  ["SET NX on an existing key replies nil and keeps the value", [[["SET", "k", "a"], "OK"], [["SET", "k", "b", "NX"], null], [["GET", "k"], "a"]]],
  ["SET NX on a missing key sets it", [[["SET", "k", "a", "nx"], "OK"], [["GET", "k"], "a"]]],
  ["SET XX on a missing key replies nil and sets nothing", [[["SET", "k", "a", "XX"], null], [["EXISTS", "k"], 0]]],
  ["SET XX on an existing key overwrites", [[["SET", "k", "a"], "OK"], [["SET", "k", "b", "xx"], "OK"], [["GET", "k"], "b"]]],
  ["SET NX XX together is a syntax error", [[["SET", "k", "a", "NX", "XX"], SYNTAX]]],
  ["SET with an unknown option is a syntax error", [[["SET", "k", "a", "FOO"], SYNTAX]]],
  ["SET EX without a value is a syntax error", [[["SET", "k", "a", "EX"], SYNTAX]]],
  ["SET EX and PX together is a syntax error", [[["SET", "k", "a", "EX", 10, "PX", 100], SYNTAX]]],
  ["SET EX twice is allowed, the last wins", [[["SET", "k", "a", "EX", 10, "EX", 20], "OK"], [["TTL", "k"], 20]]],
  ["SET KEEPTTL with EX is a syntax error", [[["SET", "k", "a", "KEEPTTL", "EX", 10], SYNTAX]]],
  ["SET PERSIST is a syntax error (GETEX only)", [[["SET", "k", "a", "PERSIST"], SYNTAX]]],
  ["SET EX sets a TTL in seconds", [[["SET", "k", "v", "EX", 10], "OK"], [["TTL", "k"], 10], [["PTTL", "k"], 10000]]],
  ["SET PX sets a TTL in milliseconds", [[["SET", "k", "v", "px", 1500], "OK"], [["PTTL", "k"], 1500], [["TTL", "k"], 2]]],
  ["SET EXAT sets an absolute unix time in seconds", [[["SET", "k", "v", "EXAT", T0 / 1000 + 100], "OK"], [["TTL", "k"], 100]]],
  ["SET PXAT sets an absolute unix time in ms", [[["SET", "k", "v", "PXAT", T0 + 2500], "OK"], [["PTTL", "k"], 2500]]],
  ["SET PXAT in the past replies OK but leaves no key", [[["SET", "k", "v", "PXAT", T0 - 1], "OK"], [["EXISTS", "k"], 0], [["GET", "k"], null]]],
  ["SET EX 0 is an invalid expire time", [[["SET", "k", "v", "EX", 0], E("ERR invalid expire time in 'set' command")]]],
  ["SET EX -1 is an invalid expire time", [[["SET", "k", "v", "EX", -1], E("ERR invalid expire time in 'set' command")]]],
  ["SET EX overflowing ms is an invalid expire time", [[["SET", "k", "v", "EX", "9223372036854775807"], E("ERR invalid expire time in 'set' command")]]],
  ["SET PX overflowing with now added is an invalid expire time", [[["SET", "k", "v", "PX", "9223372036854775807"], E("ERR invalid expire time in 'set' command")]]],
  ["SET EX with a non-integer is not an integer", [[["SET", "k", "v", "EX", "1.5"], NOT_INT], [["SET", "k", "v", "EX", "abc"], NOT_INT]]],
  ["the key expires when its time comes (expiresAt <= now is absent)", [
    [["SET", "k", "v", "PX", 100], "OK"],
    { advance: 99 },
    [["GET", "k"], "v"],
    { advance: 1 },
    [["GET", "k"], null],
    [["TTL", "k"], -2],
  ]],
  ["SET without options clears an existing TTL", [[["SET", "k", "a", "EX", 10], "OK"], [["SET", "k", "b"], "OK"], [["TTL", "k"], -1]]],
  ["SET KEEPTTL keeps the TTL", [[["SET", "k", "a", "EX", 10], "OK"], [["SET", "k", "b", "keepTtl"], "OK"], [["TTL", "k"], 10], [["GET", "k"], "b"]]],
  ["SET KEEPTTL on a key without TTL leaves none", [[["SET", "k", "a"], "OK"], [["SET", "k", "b", "KEEPTTL"], "OK"], [["TTL", "k"], -1]]],
  ["SET GET replies the old value", [[["SET", "k", "a"], "OK"], [["SET", "k", "b", "GET"], "a"], [["GET", "k"], "b"]]],
  ["SET GET on a missing key replies nil and sets", [[["SET", "k", "b", "get"], null], [["GET", "k"], "b"]]],
  ["SET GET on a hash is WRONGTYPE and changes nothing", [HASH, [["SET", "h", "b", "GET"], WRONGTYPE], [["TYPE", "h"], "hash"]]],
  ["SET NX GET on an existing key replies the old value and does not set", [[["SET", "k", "a"], "OK"], [["SET", "k", "b", "NX", "GET"], "a"], [["GET", "k"], "a"]]],
  ["SET XX GET on a missing key replies nil", [[["SET", "k", "b", "XX", "GET"], null], [["EXISTS", "k"], 0]]],
  ["an expired key counts as missing for NX", [[["SET", "k", "a", "PX", 10], "OK"], { advance: 10 }, [["SET", "k", "b", "NX"], "OK"], [["GET", "k"], "b"], [["TTL", "k"], -1]]],
  ["values are stored verbatim, empty and unicode included", [[["SET", "k", ""], "OK"], [["GET", "k"], ""], [["SET", "u", "héllo 🌍"], "OK"], [["GET", "u"], "héllo 🌍"]]],
  ["numbers are stored in their Redis string form", [[["SET", "k", 42], "OK"], [["GET", "k"], "42"], [["SET", "f", 1.5], "OK"], [["GET", "f"], "1.5"]]],
]);

table("SETNX, SETEX, PSETEX, GETSET, GETDEL", [
  ["SETNX replies 1 when it sets and 0 when the key exists", [[["SETNX", "k", "a"], 1], [["SETNX", "k", "b"], 0], [["GET", "k"], "a"]]],
  ["SETNX on a hash replies 0", [HASH, [["SETNX", "h", "x"], 0]]],
  ["SETEX sets the value with a TTL in seconds", [[["SETEX", "k", 10, "v"], "OK"], [["GET", "k"], "v"], [["TTL", "k"], 10]]],
  ["SETEX 0 is an invalid expire time in 'setex'", [[["SETEX", "k", 0, "v"], E("ERR invalid expire time in 'setex' command")]]],
  ["SETEX with a non-integer time", [[["SETEX", "k", "x", "v"], NOT_INT]]],
  ["PSETEX sets a TTL in ms", [[["PSETEX", "k", 1500, "v"], "OK"], [["PTTL", "k"], 1500]]],
  ["PSETEX -5 is an invalid expire time in 'psetex'", [[["PSETEX", "k", -5, "v"], E("ERR invalid expire time in 'psetex' command")]]],
  ["GETSET replies the old value, sets the new one and clears the TTL", [
    [["SET", "k", "a", "EX", 10], "OK"],
    [["GETSET", "k", "b"], "a"],
    [["GET", "k"], "b"],
    [["TTL", "k"], -1],
  ]],
  ["GETSET on a missing key replies nil", [[["GETSET", "k", "b"], null], [["GET", "k"], "b"]]],
  ["GETSET on a hash is WRONGTYPE", [HASH, [["GETSET", "h", "b"], WRONGTYPE]]],
  ["GETDEL replies the value and deletes the key", [[["SET", "k", "a"], "OK"], [["GETDEL", "k"], "a"], [["EXISTS", "k"], 0]]],
  ["GETDEL on a missing key replies nil", [[["GETDEL", "k"], null]]],
  ["GETDEL on a hash is WRONGTYPE and keeps it", [HASH, [["GETDEL", "h"], WRONGTYPE], [["EXISTS", "h"], 1]]],
]);

table("GETEX", [
  ["GETEX without options is GET", [[["SET", "k", "a", "EX", 10], "OK"], [["GETEX", "k"], "a"], [["TTL", "k"], 10]]],
  ["GETEX EX sets the TTL", [[["SET", "k", "a"], "OK"], [["GETEX", "k", "EX", 100], "a"], [["TTL", "k"], 100]]],
  ["GETEX PX sets the TTL in ms", [[["SET", "k", "a"], "OK"], [["GETEX", "k", "px", 250], "a"], [["PTTL", "k"], 250]]],
  ["GETEX EXAT sets an absolute time", [[["SET", "k", "a"], "OK"], [["GETEX", "k", "EXAT", T0 / 1000 + 7], "a"], [["TTL", "k"], 7]]],
  ["GETEX PXAT in the past deletes the key after replying", [[["SET", "k", "a"], "OK"], [["GETEX", "k", "PXAT", T0 - 5], "a"], [["EXISTS", "k"], 0]]],
  ["GETEX PERSIST removes the TTL", [[["SET", "k", "a", "EX", 10], "OK"], [["GETEX", "k", "PERSIST"], "a"], [["TTL", "k"], -1]]],
  ["GETEX on a missing key replies nil, even with a bad time", [[["GETEX", "k", "EX", 10], null], [["GETEX", "k", "EX", -1], null]]],
  ["GETEX EX 0 is an invalid expire time in 'getex'", [[["SET", "k", "a"], "OK"], [["GETEX", "k", "EX", 0], E("ERR invalid expire time in 'getex' command")]]],
  ["GETEX with two expiry kinds is a syntax error", [[["GETEX", "k", "EX", 1, "PX", 1], SYNTAX]]],
  ["GETEX PERSIST with EX is a syntax error", [[["GETEX", "k", "PERSIST", "EX", 1], SYNTAX]]],
  ["GETEX NX is a syntax error (SET only)", [[["GETEX", "k", "NX"], SYNTAX], [["GETEX", "k", "KEEPTTL"], SYNTAX]]],
  ["GETEX on a hash is WRONGTYPE", [HASH, [["GETEX", "h", "EX", 10], WRONGTYPE]]],
]);

table("MGET, MSET, MSETNX", [
  ["MGET replies nil for missing keys and for hashes", [[["SET", "a", "1"], "OK"], HASH, [["MGET", "a", "b", "h", "a"], ["1", null, null, "1"]]]],
  ["MSET sets every pair and clears TTLs", [
    [["SET", "a", "x", "EX", 10], "OK"],
    [["MSET", "a", "1", "b", "2"], "OK"],
    [["MGET", "a", "b"], ["1", "2"]],
    [["TTL", "a"], -1],
  ]],
  ["MSET with a repeated key keeps the last value", [[["MSET", "a", "1", "a", "2"], "OK"], [["GET", "a"], "2"]]],
  ["MSET with an odd number of arguments is an arity error", [[["MSET", "a", "1", "b"], arity("mset")], [["MSET", "a"], arity("mset")]]],
  ["MSETNX sets all when none exists", [[["MSETNX", "a", "1", "b", "2"], 1], [["MGET", "a", "b"], ["1", "2"]]]],
  ["MSETNX sets nothing when any key exists", [[["SET", "b", "x"], "OK"], [["MSETNX", "a", "1", "b", "2"], 0], [["MGET", "a", "b"], [null, "x"]]]],
  ["MSETNX counts a hash as existing", [HASH, [["MSETNX", "h", "1"], 0]]],
  ["MSETNX with an odd number of arguments is an arity error", [[["MSETNX", "a", "1", "b"], arity("msetnx")]]],
]);

table("DEL, UNLINK, EXISTS, TOUCH, TYPE", [
  ["DEL counts the keys it removed", [[["MSET", "a", "1", "b", "2"], "OK"], HASH, [["DEL", "a", "h", "c"], 2], [["EXISTS", "a", "h", "b"], 1]]],
  ["DEL of the same key twice counts it once", [[["SET", "a", "1"], "OK"], [["DEL", "a", "a"], 1]]],
  ["DEL does not count an expired key", [[["SET", "a", "1", "PX", 5], "OK"], { advance: 5 }, [["DEL", "a"], 0]]],
  ["UNLINK is DEL", [[["SET", "a", "1"], "OK"], [["UNLINK", "a", "b"], 1], [["GET", "a"], null]]],
  ["EXISTS counts repeated keys each time", [[["SET", "a", "1"], "OK"], [["EXISTS", "a", "a", "b"], 2]]],
  ["EXISTS does not count an expired key", [[["SET", "a", "1", "PX", 1], "OK"], { advance: 1 }, [["EXISTS", "a"], 0]]],
  ["TOUCH counts existing keys", [[["SET", "a", "1"], "OK"], HASH, [["TOUCH", "a", "h", "x", "a"], 3]]],
  ["TYPE replies string, hash or none", [[["SET", "a", "1"], "OK"], HASH, [["TYPE", "a"], "string"], [["TYPE", "h"], "hash"], [["TYPE", "x"], "none"]]],
]);

table("EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT", [
  ["EXPIRE on a missing key replies 0", [[["EXPIRE", "k", 10], 0]]],
  ["EXPIRE sets a TTL and replies 1", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", 10], 1], [["TTL", "k"], 10]]],
  ["EXPIRE works on hashes", [HASH, [["EXPIRE", "h", 10], 1], [["TTL", "h"], 10], { advance: 10_000 }, [["HGET", "h", "f"], null]]],
  ["PEXPIRE sets a TTL in ms", [[["SET", "k", "v"], "OK"], [["PEXPIRE", "k", 1234], 1], [["PTTL", "k"], 1234]]],
  ["EXPIREAT sets an absolute time in seconds", [[["SET", "k", "v"], "OK"], [["EXPIREAT", "k", T0 / 1000 + 60], 1], [["TTL", "k"], 60]]],
  ["PEXPIREAT sets an absolute time in ms", [[["SET", "k", "v"], "OK"], [["PEXPIREAT", "k", T0 + 60_000], 1], [["PTTL", "k"], 60000]]],
  ["EXPIRE 0 deletes the key and replies 1", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", 0], 1], [["EXISTS", "k"], 0]]],
  ["EXPIRE with a negative time deletes the key and replies 1", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", -10], 1], [["GET", "k"], null]]],
  ["EXPIREAT in the past deletes the key and replies 1", [[["SET", "k", "v"], "OK"], [["EXPIREAT", "k", 1], 1], [["EXISTS", "k"], 0]]],
  ["PEXPIREAT at exactly now deletes the key", [[["SET", "k", "v"], "OK"], [["PEXPIREAT", "k", T0], 1], [["EXISTS", "k"], 0]]],
  ["EXPIRE with a non-integer is not an integer", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", "1.5"], NOT_INT], [["EXPIRE", "k", "ten"], NOT_INT]]],
  ["EXPIRE overflowing seconds is an invalid expire time", [[["EXPIRE", "k", "9223372036854775807"], E("ERR invalid expire time in 'expire' command")]]],
  ["PEXPIRE overflowing with now added is invalid in 'pexpire'", [[["PEXPIRE", "k", "9223372036854775000"], E("ERR invalid expire time in 'pexpire' command")]]],
  ["the time is checked before the key's existence", [[["EXPIRE", "missing", "x"], NOT_INT]]],
  ["NX sets only when there is no TTL", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", 10, "NX"], 1], [["EXPIRE", "k", 20, "nx"], 0], [["TTL", "k"], 10]]],
  ["XX sets only when there is a TTL", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", 10, "XX"], 0], [["TTL", "k"], -1], [["EXPIRE", "k", 10], 1], [["EXPIRE", "k", 20, "XX"], 1], [["TTL", "k"], 20]]],
  ["GT treats no TTL as infinite: never greater", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", 10, "GT"], 0], [["TTL", "k"], -1]]],
  ["GT sets only a later time", [[["SET", "k", "v", "EX", 10], "OK"], [["EXPIRE", "k", 5, "GT"], 0], [["EXPIRE", "k", 10, "GT"], 0], [["EXPIRE", "k", 15, "GT"], 1], [["TTL", "k"], 15]]],
  ["LT treats no TTL as infinite: any time is less", [[["SET", "k", "v"], "OK"], [["EXPIRE", "k", 100, "LT"], 1], [["TTL", "k"], 100]]],
  ["LT sets only an earlier time", [[["SET", "k", "v", "EX", 10], "OK"], [["EXPIRE", "k", 20, "LT"], 0], [["EXPIRE", "k", 10, "LT"], 0], [["EXPIRE", "k", 5, "LT"], 1], [["TTL", "k"], 5]]],
  ["XX GT together are allowed", [[["SET", "k", "v", "EX", 10], "OK"], [["EXPIRE", "k", 20, "XX", "GT"], 1], [["TTL", "k"], 20]]],
  ["NX with XX, GT or LT is refused", [
    [["EXPIRE", "k", 10, "NX", "XX"], E("ERR NX and XX, GT or LT options at the same time are not compatible")],
    [["EXPIRE", "k", 10, "NX", "GT"], E("ERR NX and XX, GT or LT options at the same time are not compatible")],
  ]],
  ["GT with LT is refused", [[["EXPIRE", "k", 10, "GT", "LT"], E("ERR GT and LT options at the same time are not compatible")]]],
  ["an unknown option is reported by name", [[["EXPIRE", "k", 10, "FOO"], E("ERR Unsupported option FOO")]]],
  ["the options are checked before the time", [[["EXPIRE", "k", "x", "FOO"], E("ERR Unsupported option FOO")]]],
  ["an expired key cannot get a new TTL", [[["SET", "k", "v", "PX", 1], "OK"], { advance: 1 }, [["EXPIRE", "k", 10], 0]]],
]);

table("TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST", [
  ["TTL of a missing key is -2, of a key without expiry -1", [[["TTL", "k"], -2], [["SET", "k", "v"], "OK"], [["TTL", "k"], -1], [["PTTL", "k"], -1]]],
  ["TTL rounds like Redis: (ms + 500) / 1000", [
    [["SET", "k", "v", "PX", 10_499], "OK"],
    [["TTL", "k"], 10],
    [["SET", "k", "v", "PX", 10_500], "OK"],
    [["TTL", "k"], 11],
    [["SET", "k", "v", "PX", 400], "OK"],
    [["TTL", "k"], 0],
  ]],
  ["PTTL counts down with time", [[["SET", "k", "v", "PX", 1000], "OK"], { advance: 300 }, [["PTTL", "k"], 700], [["TTL", "k"], 1]]],
  ["EXPIRETIME and PEXPIRETIME reply the absolute time", [
    [["EXPIRETIME", "k"], -2],
    [["SET", "k", "v"], "OK"],
    [["PEXPIRETIME", "k"], -1],
    [["PEXPIREAT", "k", T0 + 5000], 1],
    [["PEXPIRETIME", "k"], T0 + 5000],
    [["EXPIRETIME", "k"], T0 / 1000 + 5],
  ]],
  ["PERSIST removes a TTL and replies 1", [[["SET", "k", "v", "EX", 10], "OK"], [["PERSIST", "k"], 1], [["TTL", "k"], -1]]],
  ["PERSIST replies 0 without a TTL or a key", [[["SET", "k", "v"], "OK"], [["PERSIST", "k"], 0], [["PERSIST", "x"], 0]]],
  ["PERSIST works on a hash", [HASH, [["EXPIRE", "h", 10], 1], [["PERSIST", "h"], 1], [["TTL", "h"], -1], [["HGET", "h", "f"], "v"]]],
]);

table("INCR, INCRBY, DECR, DECRBY", [
  ["INCR of a missing key starts from 0", [[["INCR", "n"], 1], [["INCR", "n"], 2], [["GET", "n"], "2"]]],
  ["DECR of a missing key goes to -1", [[["DECR", "n"], -1]]],
  ["INCRBY and DECRBY add a signed amount", [[["SET", "n", "10"], "OK"], [["INCRBY", "n", 5], 15], [["DECRBY", "n", 20], -5], [["INCRBY", "n", -5], -10]]],
  ["INCR of a non-integer value is not an integer", [[["SET", "n", "abc"], "OK"], [["INCR", "n"], NOT_INT]]],
  ["INCR refuses what string2ll refuses: spaces, '+', leading zeros, floats", [
    [["SET", "a", " 1"], "OK"],
    [["INCR", "a"], NOT_INT],
    [["SET", "a", "+1"], "OK"],
    [["INCR", "a"], NOT_INT],
    [["SET", "a", "01"], "OK"],
    [["INCR", "a"], NOT_INT],
    [["SET", "a", "1.0"], "OK"],
    [["INCR", "a"], NOT_INT],
    [["SET", "a", ""], "OK"],
    [["INCR", "a"], NOT_INT],
    [["SET", "a", "-0"], "OK"],
    [["INCR", "a"], NOT_INT],
  ]],
  ["INCRBY with a non-integer increment is not an integer, checked before the type", [HASH, [["INCRBY", "h", "1.5"], NOT_INT], [["INCRBY", "h", 1], WRONGTYPE]]],
  ["INCR on a hash is WRONGTYPE", [HASH, [["INCR", "h"], WRONGTYPE]]],
  ["INCR past 2^63-1 overflows", [[["SET", "n", "9223372036854775807"], "OK"], [["INCR", "n"], E("ERR increment or decrement would overflow")], [["GET", "n"], "9223372036854775807"]]],
  ["DECR below -2^63 overflows", [[["SET", "n", "-9223372036854775808"], "OK"], [["DECR", "n"], E("ERR increment or decrement would overflow")]]],
  ["INCRBY with an out-of-range increment is not an integer", [[["INCRBY", "n", "9223372036854775808"], NOT_INT]]],
  ["DECRBY -2^63 would overflow on negation", [[["DECRBY", "n", "-9223372036854775808"], E("ERR decrement would overflow")]]],
  ["results beyond 2^53 are replied as exact decimal strings", [
    [["SET", "n", "9007199254740992"], "OK"],
    [["INCR", "n"], "9007199254740993"],
    [["GET", "n"], "9007199254740993"],
    [["INCRBY", "n", "-9007199254740993"], 0],
  ]],
  ["INCR keeps the TTL", [[["SET", "n", "1", "EX", 10], "OK"], [["INCR", "n"], 2], [["TTL", "n"], 10]]],
  ["INCR of an expired key starts from 0 without TTL", [[["SET", "n", "5", "PX", 1], "OK"], { advance: 1 }, [["INCR", "n"], 1], [["TTL", "n"], -1]]],
]);

table("INCRBYFLOAT (x86-64 long double, printed with %.17Lf minus trailing zeros)", [
  ["the Redis documentation example", [
    [["SET", "mykey", "10.50"], "OK"],
    [["INCRBYFLOAT", "mykey", "0.1"], "10.6"],
    [["INCRBYFLOAT", "mykey", "-5"], "5.6"],
    [["SET", "mykey", "5.0e3"], "OK"],
    [["INCRBYFLOAT", "mykey", "2.0e2"], "5200"],
  ]],
  ["0.1 + 0.2 is 0.3 as in Redis (not the double 0.30000000000000004)", [[["INCRBYFLOAT", "f", "0.1"], "0.1"], [["INCRBYFLOAT", "f", "0.2"], "0.3"], [["GET", "f"], "0.3"]]],
  ["a missing key starts from 0; integers print without a dot", [[["INCRBYFLOAT", "f", 3], "3"], [["INCRBYFLOAT", "f", 1.5], "4.5"]]],
  ["a negative result and a zero result", [[["INCRBYFLOAT", "f", "-1.25"], "-1.25"], [["INCRBYFLOAT", "f", "1.25"], "0"]]],
  ["no exponent in the output", [[["INCRBYFLOAT", "f", "1e20"], "100000000000000000000"], [["INCRBYFLOAT", "g", "1e-5"], "0.00001"]]],
  ["digits below 1e-17 are rounded away", [[["INCRBYFLOAT", "f", "1e-18"], "0"], [["INCRBYFLOAT", "g", "-1e-18"], "0"]]],
  ["hex floats are accepted like strtold does", [[["INCRBYFLOAT", "f", "0x10"], "16"], [["INCRBYFLOAT", "f", "0x1p-1"], "16.5"]]],
  ["an integer-valued string is a valid float", [[["SET", "f", "7"], "OK"], [["INCRBYFLOAT", "f", "0.5"], "7.5"]]],
  ["a non-numeric value is not a valid float", [[["SET", "f", "abc"], "OK"], [["INCRBYFLOAT", "f", 1], NOT_FLOAT]]],
  ["a non-numeric increment is not a valid float", [[["INCRBYFLOAT", "f", "x"], NOT_FLOAT], [["INCRBYFLOAT", "f", " 1"], NOT_FLOAT], [["INCRBYFLOAT", "f", "1 "], NOT_FLOAT], [["INCRBYFLOAT", "f", ""], NOT_FLOAT]]],
  ["NaN is not a valid float", [[["INCRBYFLOAT", "f", "nan"], NOT_FLOAT]]],
  ["an infinite result is refused", [[["INCRBYFLOAT", "f", "inf"], E("ERR increment would produce NaN or Infinity")], [["EXISTS", "f"], 0]]],
  ["a value out of long double range is not a valid float", [[["INCRBYFLOAT", "f", "1e5000"], NOT_FLOAT]]],
  ["INCRBYFLOAT on a hash is WRONGTYPE", [HASH, [["INCRBYFLOAT", "h", 1], WRONGTYPE]]],
  ["INCRBYFLOAT keeps the TTL", [[["SET", "f", "1", "EX", 10], "OK"], [["INCRBYFLOAT", "f", "0.5"], "1.5"], [["TTL", "f"], 10]]],
  // the cases of Redis's own tests/unit/type/incr.tcl
  ["incr.tcl: INCRBYFLOAT over 32bit value", [[["SET", "novar", "17179869184"], "OK"], [["INCRBYFLOAT", "novar", "1.5"], "17179869185.5"]]],
  ["incr.tcl: INCRBYFLOAT over 32bit value with over 32bit increment", [[["SET", "novar", "17179869184"], "OK"], [["INCRBYFLOAT", "novar", "17179869184"], "34359738368"]]],
  ["incr.tcl: INCRBYFLOAT decrement", [[["SET", "foo", "1"], "OK"], [["INCRBYFLOAT", "foo", "-1.1"], "-0.1"]]],
  ["incr.tcl: +inf would produce NaN or Infinity", [[["SET", "foo", "0"], "OK"], [["INCRBYFLOAT", "foo", "+inf"], E("ERR increment would produce NaN or Infinity")]]],
  ["incr.tcl: string to double with null terminator is not a valid float", [[["SET", "foo", "1"], "OK"], [["SETRANGE", "foo", 2, "2"], 3], [["INCRBYFLOAT", "foo", 1], NOT_FLOAT]]],
  ["incr.tcl: no negative zero", [[["INCRBYFLOAT", "foo", 1 / 41], "0.02439024390243902"], [["INCRBYFLOAT", "foo", -1 / 41], "0"]]],
  ["long double precision: 50 times 0.1 is exactly 5", [...Array.from({ length: 49 }, (): Step => [["INCRBYFLOAT", "c", "0.1"], expect.any(String) as unknown as string]), [["INCRBYFLOAT", "c", "0.1"], "5"]]],
  ["long double precision: 17 decimals are kept, the 18th is rounded", [[["INCRBYFLOAT", "f", "1.23456789012345678"], "1.23456789012345678"], [["INCRBYFLOAT", "g", "0.000000000000000015"], "0.00000000000000002"]]],
  ["a huge value prints every digit (checked against redis-server 7.0 on x86-64)", [[["INCRBYFLOAT", "f", "1.7976931348623157e308"], "179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384"]]],
]);

table("APPEND, STRLEN, GETRANGE, SETRANGE (byte semantics)", [
  ["APPEND creates the key and replies the new byte length", [[["APPEND", "k", "Hello"], 5], [["APPEND", "k", " World"], 11], [["GET", "k"], "Hello World"]]],
  ["APPEND counts UTF-8 bytes", [[["APPEND", "k", "é"], 2], [["APPEND", "k", "🌍"], 6]]],
  ["APPEND keeps the TTL", [[["SET", "k", "a", "EX", 10], "OK"], [["APPEND", "k", "b"], 2], [["TTL", "k"], 10]]],
  ["APPEND on a hash is WRONGTYPE", [HASH, [["APPEND", "h", "x"], WRONGTYPE]]],
  ["STRLEN is 0 for a missing key and counts bytes", [[["STRLEN", "k"], 0], [["SET", "k", "héllo"], "OK"], [["STRLEN", "k"], 6]]],
  ["STRLEN on a hash is WRONGTYPE", [HASH, [["STRLEN", "h"], WRONGTYPE]]],
  ["GETRANGE examples from the Redis docs", [
    [["SET", "mykey", "This is a string"], "OK"],
    [["GETRANGE", "mykey", 0, 3], "This"],
    [["GETRANGE", "mykey", -3, -1], "ing"],
    [["GETRANGE", "mykey", 0, -1], "This is a string"],
    [["GETRANGE", "mykey", 10, 100], "string"],
  ]],
  ["GETRANGE edge cases", [
    [["SET", "k", "abc"], "OK"],
    [["GETRANGE", "k", 2, 1], ""],
    [["GETRANGE", "k", -1, -2], ""],
    [["GETRANGE", "k", -100, 0], "a"],
    [["GETRANGE", "k", 5, 10], ""],
    [["GETRANGE", "missing", 0, -1], ""],
    [["SUBSTR", "k", 1, 1], "b"],
  ]],
  ["GETRANGE offsets are bytes", [[["SET", "k", "aéb"], "OK"], [["GETRANGE", "k", 1, 2], "é"], [["GETRANGE", "k", 3, 3], "b"]]],
  ["GETRANGE with non-integer offsets", [[["GETRANGE", "k", "a", 1], NOT_INT]]],
  ["GETRANGE on a hash is WRONGTYPE", [HASH, [["GETRANGE", "h", 0, 1], WRONGTYPE]]],
  ["SETRANGE overwrites part of a string (Redis docs)", [[["SET", "key1", "Hello World"], "OK"], [["SETRANGE", "key1", 6, "Redis"], 11], [["GET", "key1"], "Hello Redis"]]],
  ["SETRANGE pads with zero bytes (Redis docs)", [[["SETRANGE", "key2", 6, "Redis"], 11], [["GET", "key2"], "\u0000\u0000\u0000\u0000\u0000\u0000Redis"]]],
  ["SETRANGE with an empty value on a missing key replies 0 and creates nothing", [[["SETRANGE", "k", 5, ""], 0], [["EXISTS", "k"], 0]]],
  ["SETRANGE with an empty value replies the current length", [[["SET", "k", "abc"], "OK"], [["SETRANGE", "k", 10, ""], 3], [["GET", "k"], "abc"]]],
  ["SETRANGE with a negative offset is out of range", [[["SETRANGE", "k", -1, "x"], E("ERR offset is out of range")]]],
  ["SETRANGE beyond 512 MB is refused", [[["SETRANGE", "k", 536870912, "x"], E("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]]],
  ["SETRANGE offsets are bytes", [[["SET", "k", "éa"], "OK"], [["SETRANGE", "k", 2, "b"], 3], [["GET", "k"], "éb"]]],
  ["SETRANGE keeps the TTL", [[["SET", "k", "abc", "EX", 10], "OK"], [["SETRANGE", "k", 1, "X"], 3], [["GET", "k"], "aXc"], [["TTL", "k"], 10]]],
  ["SETRANGE on a hash is WRONGTYPE", [HASH, [["SETRANGE", "h", 0, "x"], WRONGTYPE]]],
  ["SETRANGE past the JS string limit (2^29-24) is refused with Redis's text", [[["SETRANGE", "k", 536870900, "x"], E("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]]],
]);

describe("the caller's value-size limit (maxValueBytes)", () => {
  const TOO_BIG = E("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  const limited = (words: Word[], ks = new MapKeyspace()) => {
    try {
      return executeCommand(cmd(words), ks, T0, { maxValueBytes: 10 });
    } catch (e) {
      if (e instanceof RedisError) return E(e.message);
      throw e;
    }
  };
  it("SETRANGE may not build a string past the limit", () => {
    expect(limited(["SETRANGE", "k", 9, "x"])).toBe(10);
    expect(limited(["SETRANGE", "k", 10, "x"])).toEqual(TOO_BIG);
    expect(limited(["SETRANGE", "k", 100_000_000, "x"])).toEqual(TOO_BIG);
  });
  it("APPEND may not grow a string past the limit, counting bytes", () => {
    const ks = new MapKeyspace();
    expect(limited(["APPEND", "k", "12345678"], ks)).toBe(8);
    expect(limited(["APPEND", "k", "é"], ks)).toBe(10);
    expect(limited(["APPEND", "k", "x"], ks)).toEqual(TOO_BIG);
    expect(ks.get("k")).toMatchObject({ value: "12345678é" });
  });
});

table("RENAME, RENAMENX, COPY", [
  ["RENAME moves the value and its TTL", [[["SET", "a", "1", "EX", 10], "OK"], [["RENAME", "a", "b"], "OK"], [["GET", "a"], null], [["GET", "b"], "1"], [["TTL", "b"], 10]]],
  ["RENAME of a missing key is an error", [[["RENAME", "a", "b"], E("ERR no such key")]]],
  ["RENAME onto itself replies OK", [[["SET", "a", "1"], "OK"], [["RENAME", "a", "a"], "OK"], [["GET", "a"], "1"]]],
  ["RENAME overwrites the destination whatever its type", [[["SET", "a", "1"], "OK"], HASH, [["RENAME", "a", "h"], "OK"], [["GET", "h"], "1"]]],
  ["RENAMENX replies 0 when the destination exists", [[["MSET", "a", "1", "b", "2"], "OK"], [["RENAMENX", "a", "b"], 0], [["RENAMENX", "a", "c"], 1], [["GET", "c"], "1"]]],
  ["COPY copies, REPLACE overwrites", [
    [["MSET", "a", "1", "b", "2"], "OK"],
    [["COPY", "a", "b"], 0],
    [["COPY", "a", "b", "REPLACE"], 1],
    [["MGET", "a", "b"], ["1", "1"]],
    [["COPY", "x", "y"], 0],
  ]],
  ["COPY of a hash is independent of the original", [HASH, [["COPY", "h", "h2"], 1], [["HSET", "h2", "f", "w"], 0], [["HGET", "h", "f"], "v"], [["HGET", "h2", "f"], "w"]]],
  ["COPY DB other than 0 and bad options", [
    [["SET", "a", "1"], "OK"],
    [["COPY", "a", "b", "DB", 1], E("ERR DB index is out of range")],
    [["COPY", "a", "b", "FOO"], SYNTAX],
    [["COPY", "a", "a"], E("ERR source and destination objects are the same")],
  ]],
]);

table("hashes", [
  ["HSET replies the number of new fields", [[["HSET", "h", "a", "1", "b", "2"], 2], [["HSET", "h", "a", "x", "c", "3"], 1], [["HGETALL", "h"], ["a", "x", "b", "2", "c", "3"]]]],
  ["HSET with a dangling field is an arity error", [[["HSET", "h", "a", "1", "b"], arity("hset")]]],
  ["HSET on a string is WRONGTYPE", [[["SET", "s", "x"], "OK"], [["HSET", "s", "a", "1"], WRONGTYPE]]],
  ["HSET keeps the key's TTL", [HASH, [["EXPIRE", "h", 10], 1], [["HSET", "h", "g", "w"], 1], [["TTL", "h"], 10]]],
  ["HMSET replies OK", [[["HMSET", "h", "a", "1", "b", "2"], "OK"], [["HLEN", "h"], 2], [["HMSET", "h", "a"], arity("hmset")]]],
  ["HSETNX sets only a new field", [[["HSETNX", "h", "a", "1"], 1], [["HSETNX", "h", "a", "2"], 0], [["HGET", "h", "a"], "1"]]],
  ["HGET replies nil for a missing field or key", [HASH, [["HGET", "h", "x"], null], [["HGET", "x", "f"], null]]],
  ["HGET on a string is WRONGTYPE", [[["SET", "s", "x"], "OK"], [["HGET", "s", "f"], WRONGTYPE]]],
  ["HMGET replies nil per missing field, and for a missing key", [HASH, [["HMGET", "h", "f", "x", "f"], ["v", null, "v"]], [["HMGET", "x", "a", "b"], [null, null]]]],
  ["HMGET on a string is WRONGTYPE", [[["SET", "s", "x"], "OK"], [["HMGET", "s", "f"], WRONGTYPE]]],
  ["HGETALL of a missing key is empty", [[["HGETALL", "x"], []]]],
  ["HDEL counts removed fields and deletes an emptied hash", [
    [["HSET", "h", "a", "1", "b", "2"], 2],
    [["HDEL", "h", "a", "x", "a"], 1],
    [["HLEN", "h"], 1],
    [["HDEL", "h", "b"], 1],
    [["EXISTS", "h"], 0],
    [["HDEL", "h", "b"], 0],
  ]],
  ["HDEL on a string is WRONGTYPE", [[["SET", "s", "x"], "OK"], [["HDEL", "s", "f"], WRONGTYPE]]],
  ["HEXISTS replies 1 or 0", [HASH, [["HEXISTS", "h", "f"], 1], [["HEXISTS", "h", "x"], 0], [["HEXISTS", "x", "f"], 0]]],
  ["HLEN, HKEYS, HVALS", [[["HSET", "h", "a", "1", "b", "2"], 2], [["HLEN", "h"], 2], [["HKEYS", "h"], ["a", "b"]], [["HVALS", "h"], ["1", "2"]], [["HLEN", "x"], 0], [["HKEYS", "x"], []], [["HVALS", "x"], []]]],
  ["HSTRLEN counts bytes", [[["HSET", "h", "a", "héllo"], 1], [["HSTRLEN", "h", "a"], 6], [["HSTRLEN", "h", "x"], 0]]],
  ["a field named __proto__ is an ordinary field", [[["HSET", "h", "__proto__", "p", "constructor", "c"], 2], [["HGET", "h", "__proto__"], "p"], [["HGET", "h", "toString"], null], [["HLEN", "h"], 2]]],
  ["HINCRBY creates the field and adds", [[["HINCRBY", "h", "n", 5], 5], [["HINCRBY", "h", "n", -7], -2], [["HGET", "h", "n"], "-2"]]],
  ["HINCRBY on a non-integer field", [[["HSET", "h", "n", "x"], 1], [["HINCRBY", "h", "n", 1], E("ERR hash value is not an integer")]]],
  ["HINCRBY with a non-integer increment", [[["HINCRBY", "h", "n", "1.5"], NOT_INT]]],
  ["HINCRBY overflow", [[["HSET", "h", "n", "9223372036854775807"], 1], [["HINCRBY", "h", "n", 1], E("ERR increment or decrement would overflow")]]],
  ["HINCRBY on a string is WRONGTYPE", [[["SET", "s", "x"], "OK"], [["HINCRBY", "s", "n", 1], WRONGTYPE]]],
  ["HINCRBYFLOAT adds like INCRBYFLOAT (Redis docs example)", [
    [["HSET", "mykey", "field", "10.50"], 1],
    [["HINCRBYFLOAT", "mykey", "field", "0.1"], "10.6"],
    [["HINCRBYFLOAT", "mykey", "field", "-5"], "5.6"],
    [["HSET", "mykey", "field", "5.0e3"], 0],
    [["HINCRBYFLOAT", "mykey", "field", "2.0e2"], "5200"],
  ]],
  ["HINCRBYFLOAT errors", [
    [["HSET", "h", "s", "abc"], 1],
    [["HINCRBYFLOAT", "h", "s", 1], E("ERR hash value is not a float")],
    [["HINCRBYFLOAT", "h", "n", "x"], NOT_FLOAT],
    [["HINCRBYFLOAT", "h", "n", "inf"], E("ERR value is NaN or Infinity")],
  ]],
  ["an expired hash reads as empty", [HASH, [["PEXPIRE", "h", 10], 1], { advance: 10 }, [["HGETALL", "h"], []], [["HSET", "h", "g", "w"], 1], [["HGETALL", "h"], ["g", "w"]], [["TTL", "h"], -1]]],
  ["HSCAN returns the whole hash with cursor 0", [[["HSET", "h", "a", "1", "b", "2", "ab", "3"], 3], [["HSCAN", "h", 0], ["0", ["a", "1", "b", "2", "ab", "3"]]]]],
  ["HSCAN MATCH and NOVALUES", [[["HSET", "h", "a", "1", "b", "2", "ab", "3"], 3], [["HSCAN", "h", 0, "MATCH", "a*", "NOVALUES"], ["0", ["a", "ab"]]], [["HSCAN", "h", 0, "COUNT", 1, "MATCH", "?"], ["0", ["a", "1", "b", "2"]]]]],
  ["HSCAN of a missing key, bad cursor, bad options", [
    [["HSCAN", "x", 0], ["0", []]],
    [["HSCAN", "x", "abc"], E("ERR invalid cursor")],
    [["HSCAN", "x", 0, "FOO"], ["0", []]],
    HASH,
    [["HSCAN", "h", 0, "FOO"], SYNTAX],
    [["HSCAN", "h", 0, "COUNT", 0], SYNTAX],
    [["HSCAN", "h", 0, "TYPE", "string"], SYNTAX],
  ]],
  ["HSCAN on a string is WRONGTYPE", [[["SET", "s", "x"], "OK"], [["HSCAN", "s", 0], WRONGTYPE]]],
]);

describe("keyspace commands (parsed for the caller)", () => {
  it("parseScan gives Redis defaults", () => {
    expect(parseScan(["0"])).toEqual({ cursor: "0", match: null, count: 10, type: null, noValues: false });
  });
  it("parseScan reads MATCH, COUNT and TYPE in any case and order", () => {
    expect(parseScan(["17", "count", "100", "MATCH", "user:*", "Type", "HASH"])).toEqual({ cursor: "17", match: "user:*", count: 100, type: "hash", noValues: false });
  });
  it("MATCH * means no filter", () => {
    expect(parseScan(["0", "MATCH", "*"]).match).toBeNull();
  });
  it("the cursor is an unsigned 64-bit decimal", () => {
    expect(parseScan(["18446744073709551615"]).cursor).toBe("18446744073709551615");
    expect(parseScan(["007"]).cursor).toBe("7");
    expect(parseScan(["+5"]).cursor).toBe("5");
    for (const bad of ["-1", "abc", "1.5", "", "18446744073709551616"]) expect(() => parseScan([bad]), bad).toThrow(new RedisError("ERR invalid cursor"));
  });
  it("bad SCAN options reply Redis's errors", () => {
    expect(() => parseScan([])).toThrow(new RedisError("ERR wrong number of arguments for 'scan' command"));
    expect(() => parseScan(["0", "COUNT", "0"])).toThrow(new RedisError("ERR syntax error"));
    expect(() => parseScan(["0", "COUNT", "x"])).toThrow(new RedisError("ERR value is not an integer or out of range"));
    expect(() => parseScan(["0", "MATCH"])).toThrow(new RedisError("ERR syntax error"));
    expect(() => parseScan(["0", "NOVALUES"])).toThrow(new RedisError("ERR syntax error"));
  });
  it("parseKeyspaceCommand checks arity and options", () => {
    expect(parseKeyspaceCommand(cmd(["KEYS", "a*"]))).toEqual({ kind: "keys", pattern: "a*" });
    expect(parseKeyspaceCommand(cmd(["DBSIZE"]))).toEqual({ kind: "dbsize" });
    expect(parseKeyspaceCommand(cmd(["FLUSHDB"]))).toEqual({ kind: "flush", async: false });
    expect(parseKeyspaceCommand(cmd(["FLUSHALL", "async"]))).toEqual({ kind: "flush", async: true });
    expect(parseKeyspaceCommand(cmd(["SCAN", "0", "COUNT", 5]))).toMatchObject({ kind: "scan", options: { count: 5 } });
    expect(() => parseKeyspaceCommand(cmd(["KEYS"]))).toThrow(new RedisError("ERR wrong number of arguments for 'keys' command"));
    expect(() => parseKeyspaceCommand(cmd(["DBSIZE", "x"]))).toThrow(new RedisError("ERR wrong number of arguments for 'dbsize' command"));
    expect(() => parseKeyspaceCommand(cmd(["FLUSHDB", "NOW"]))).toThrow(new RedisError("ERR syntax error"));
  });
});

describe("Redis glob patterns", () => {
  const cases: [string, string, boolean][] = [
    ["*", "", true],
    ["*", "anything", true],
    ["h?llo", "hello", true],
    ["h?llo", "hllo", false],
    ["h*llo", "hllo", true],
    ["h*llo", "heeeello", true],
    ["h[ae]llo", "hello", true],
    ["h[ae]llo", "hallo", true],
    ["h[ae]llo", "hillo", false],
    ["h[^e]llo", "hallo", true],
    ["h[^e]llo", "hello", false],
    ["h[a-b]llo", "hbllo", true],
    ["h[a-b]llo", "hcllo", false],
    ["h[b-a]llo", "hallo", true], // reversed ranges are swapped
    ["h\\*llo", "h*llo", true],
    ["h\\*llo", "hello", false],
    ["[\\]]", "]", true],
    ["[]", "a", false],
    ["[^]", "a", true],
    ["user:[0-9]*", "user:42", true],
    ["user:[0-9]*", "user:x", false],
    ["a[bc", "ab", true], // an unterminated class runs to the end
    ["a\\", "a\\", true],
    ["a.b", "axb", false],
    ["(x)+", "(x)+", true],
    ["*a*b*", "xxaxxbxx", true],
    ["*a*b*", "xxbxxaxx", false],
    ["a*", "a\nb", true],
    ["?", "🌍", true],
    ["[🌍é]", "é", true],
    ["*", "", true], // KEYS/SCAN's match-all shortcut
    ["", "", true],
    ["**", "", false], // Redis's matcher never runs on an empty string
    ["?*", "", false],
  ];
  it.each(cases)("%j matches %j: %s", (pattern, text, expected) => {
    expect(globToRegExp(pattern).test(text)).toBe(expected);
    expect(compileGlob(pattern)(text)).toBe(expected);
  });
  it("compileGlob stays fast on patterns that make regexes backtrack", () => {
    const match = compileGlob("*a*a*a*a*a*a*a*a*b");
    expect(match("a".repeat(5000))).toBe(false);
  });
});

describe("engine hygiene", () => {
  it("never changes an entry object it was handed (writes replace entries)", () => {
    const ks = new MapKeyspace();
    ks.set("h", { type: "hash", fields: { a: "1" }, expiresAt: null });
    ks.set("s", { type: "string", value: "1", expiresAt: T0 + 10_000 });
    const before = structuredClone([...ks.entries]);
    const h = ks.get("h");
    const s = ks.get("s");
    run(ks, T0, ["HSET", "h", "b", "2"]);
    run(ks, T0, ["HDEL", "h", "a"]);
    run(ks, T0, ["INCR", "s"]);
    run(ks, T0, ["PERSIST", "s"]);
    expect([["h", h], ["s", s]]).toEqual(before);
  });
  it("stores strings as string entries and hashes as hash entries", () => {
    const ks = script([[["SET", "k", "v", "PX", 100], "OK"], [["HSET", "h", "f", "v"], 1]]);
    expect(ks.get("k")).toEqual({ type: "string", value: "v", expiresAt: T0 + 100 });
    expect(ks.get("h")).toEqual({ type: "hash", fields: { f: "v" }, expiresAt: null });
  });
});
