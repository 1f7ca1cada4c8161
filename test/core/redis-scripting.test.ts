/**
 * EVAL & co. against Redis 7's scripting docs; every expected text was checked against redis-server
 * 7.0.15 (except where a comment says this server differs, and why).
 */
import { describe, expect, it } from "vitest";
import { executeCommand } from "../../src/core/redis/commands";
import { NeedScan, ScriptCache, scanMemoKey, type ScanMemo } from "../../src/core/redis/scripting";
import { RedisError, type Reply } from "../../src/core/redis/types";
import { MAX_CONVERTED_VALUES, SCRIPT_INSTRUCTION_LIMIT, SCRIPT_STRING_BYTES, SCRIPT_TIME_LIMIT_MS, formatNumber, stringBudgetPatched } from "../../src/core/redis/lua-vm";
import { sha1Hex } from "../../src/core/redis/sha1";
import { E, MapKeyspace, T0, cmd, run, script, type Step } from "../support/redis-engine";

const sha = (s: string) => sha1Hex(s);
const where = (src: string, line = 1) => ` script: ${sha(src)}, on @user_script:${line}.`;
const opts = () => ({ scripts: new ScriptCache(), clock: () => 0 });
const ev = (src: string, keys: string[] = [], args: (string | number)[] = []) => ["EVAL", src, keys.length, ...keys, ...args];
const cases = (title: string, list: [string, Step[]][]) =>
  describe(title, () => {
    for (const [name, steps] of list) it(name, () => void script(steps, new MapKeyspace(), opts()));
  });

cases("Lua -> Redis conversions", [
  ["a number is an integer, truncated toward zero", [[ev("return 3.99"), 3], [ev("return -3.99"), -3], [ev("return 7"), 7]]],
  ["NaN and out-of-range numbers are a C cast's INT64_MIN", [[ev("return 0/0"), "-9223372036854775808"], [ev("return 1e300"), "-9223372036854775808"]]],
  ["true is 1, false and nil are nil", [[ev("return true"), 1], [ev("return false"), null], [ev("return nil"), null]]],
  ["an array stops at its first nil and nests", [[ev("return {1,2,3.9,'a',nil,4}"), [1, 2, 3, "a"]], [ev("return {1,{2,{3}}}"), [1, [2, [3]]]], [ev("return {true,false,1}"), [1, null, 1]]]],
  ["{ok=...} is a status, {err=...} an error as it is", [[ev("return {ok='fine'}"), "fine"], [ev("return {err='x'}"), E("x")], [ev("return redis.status_reply('fine')"), "fine"]]],
  // An integer reply past 2^53 reaches Lua as a number (a double, as in Redis), not as the decimal
  // string the endpoint sends it as; returned, it is an integer again (found by the differential test).
  ["an INCR past 2^53 is a number inside the script, as Redis gives it", [
    [["SET", "big", "-9223372036854775808"], "OK"],
    [ev("local n = redis.call('INCR', KEYS[1]) return {type(n), n}", ["big"]), ["number", "-9223372036854775808"]],
  ]],
  // As redis-server 7.0.15 answers (the differential test found 'ERR my error' here before).
  ["redis.error_reply reads the first word as the code; one word alone gets ERR", [[ev("return redis.error_reply('x')"), E("ERR x")], [ev("return redis.error_reply('-MY x')"), E("MY x")], [ev("return redis.error_reply('my error')"), E("my error")]]],
  ["a table whose err is not a string is an array", [[ev("return {err=1}"), []]]],
  ["strings are bytes, kept as they are", [[ev("return 'a\\0b'"), "a\0b"], [ev("return KEYS[1] .. ARGV[1]", ["k"], ["é"]), "ké"]]],
]);

cases("Redis -> Lua conversions", [
  ["nil bulk is false", [[ev("return type(redis.call('get', KEYS[1]))", ["k"]), "boolean"]]],
  ["a status reply is {ok=...}", [[ev("return redis.call('set', KEYS[1], 'v').ok", ["k"]), "OK"], [ev("return redis.call('type', KEYS[1]).ok", ["k"]), "string"]]],
  ["SET ... GET answers a bulk string, not a status", [[ev("return type(redis.call('set', KEYS[1], 'w', 'GET'))", ["k"]), "boolean"], [ev("return redis.call('set', KEYS[1], 'x', 'GET')", ["k"]), "w"]]],
  ["integers are numbers, arrays are tables", [[ev("redis.call('rpush', KEYS[1], 'a', 'b'); return {redis.call('llen', KEYS[1]) + 1, #redis.call('lrange', KEYS[1], 0, -1)}", ["l"]), [3, 2]]]],
  ["an error reply in pcall is a table with err", [[ev("redis.call('set', KEYS[1], 'x'); return redis.pcall('incr', KEYS[1])", ["k"]), E("ERR value is not an integer or out of range")], [ev("return type(redis.pcall('incr', KEYS[1]))", ["k"]), "table"]]],
  ["pcall(redis.call, ...) catches the error text", [[ev("redis.call('set', KEYS[1], 'x'); local ok, e = pcall(redis.call, 'incr', KEYS[1]); return {tostring(ok), e}", ["k"]), ["false", "ERR value is not an integer or out of range"]]]],
  ["numbers passed to redis.call are written as Lua 5.1 did (%.14g)", [[ev("redis.call('set', KEYS[1], 1765000000000.0); redis.call('hset', KEYS[2], 'f', 0.1, 'g', 2^53); return {redis.call('get', KEYS[1]), redis.call('hget', KEYS[2], 'f'), redis.call('hget', KEYS[2], 'g')}", ["a", "h"]), ["1765000000000", "0.1", "9.007199254741e+15"]]]],
  ["KEYS and ARGV", [[ev("return {#KEYS, #ARGV, KEYS[2], ARGV[1]}", ["a", "b"], ["x"]), [2, 1, "b", "x"]]]],
]);

const errs: [string, string][] = [
  ["return 1 + nil", "ERR user_script:1: attempt to perform arithmetic on a nil value"],
  ["error('boom')", "ERR user_script:1: boom"],
  ["error('MY boom', 0)", "ERR MY boom"],
  ["error({err='MY boom'})", "MY boom"],
  ["return redis.call('get')", "ERR Wrong number of args calling Redis command from script"],
  ["return redis.call('nosuch')", "ERR Unknown Redis command called from script"],
  ["return redis.call()", "ERR Please specify at least one argument for this redis lib call"],
  ["return redis.call('get', true)", "ERR Lua redis lib command arguments must be strings or integers"],
  ["return redis.call('eval', 'return 1', 0)", "ERR This Redis command is not allowed from script"],
  ["return redis.call('keys', '*')", "ERR This Redis command is not allowed from script"],
  ["return redis.call('script', 'flush')", "ERR This Redis command is not allowed from script"],
  ["return os", "ERR user_script:1: Script attempted to access nonexistent global variable 'os'"],
  ["return io", "ERR user_script:1: Script attempted to access nonexistent global variable 'io'"],
  ["x = 1", "ERR user_script:1: Attempt to modify a readonly table"],
  ["return redis.call('get', 'undeclared')", "ERR Script attempted to access a non local key in a cluster node"],
];

describe("errors, as Redis 7 reports them", () => {
  it.each(errs)("%s", (src, text) => {
    expect(run(new MapKeyspace(), T0, ev(src), opts())).toEqual(E(text + where(src)));
  });
  it("names the line the error came from", () => {
    const src = "local a = 1\nlocal b = nil\nreturn a + b";
    // Lua 5.3's wording; Redis's Lua 5.1 says "attempt to perform arithmetic on local 'b' (a nil value)".
    expect(run(new MapKeyspace(), T0, ev(src), opts())).toEqual(E("ERR user_script:3: attempt to perform arithmetic on a nil value (local 'b')" + where(src, 3)));
    const nested = "local function f()\n  return redis.call('incr', KEYS[1])\nend\n\nreturn f()";
    const ks = new MapKeyspace();
    run(ks, T0, ["SET", "s", "x"]);
    expect(run(ks, T0, ev(nested, ["s"]), opts())).toEqual(E("ERR value is not an integer or out of range" + where(nested, 2)));
  });
  it("a compile error (Lua 5.3's parser wording: Redis's 5.1 says \"'=' expected near '1'\")", () => {
    expect(run(new MapKeyspace(), T0, ev("retrun 1"), opts())).toEqual(E("ERR Error compiling script (new function): user_script:1: syntax error near '1'"));
  });
  it("numkeys is checked", () => {
    expect(run(new MapKeyspace(), T0, ["EVAL", "return 1", "x"], opts())).toEqual(E("ERR value is not an integer or out of range"));
    expect(run(new MapKeyspace(), T0, ["EVAL", "return 1", "2", "a"], opts())).toEqual(E("ERR Number of keys can't be greater than number of args"));
    expect(run(new MapKeyspace(), T0, ["EVAL", "return 1", "-1"], opts())).toEqual(E("ERR Number of keys can't be negative"));
  });
  it("a script's writes before its error stay written, as in Redis (no rollback)", () => {
    const ks = new MapKeyspace();
    expect(run(ks, T0, ev("redis.call('set', KEYS[1], 'v'); error('late')", ["k"]), opts())).toMatchObject({ error: expect.stringMatching(/late/) });
    expect(run(ks, T0, ["GET", "k"])).toBe("v");
  });
});

describe("read-only scripts", () => {
  const src = "return redis.call('set', KEYS[1], 1)";
  it("EVAL_RO refuses a write", () => {
    expect(run(new MapKeyspace(), T0, ["EVAL_RO", src, 1, "a"], opts())).toEqual(E("ERR Write commands are not allowed from read-only scripts." + where(src)));
  });
  it("the no-writes shebang flag refuses a write; its line counts", () => {
    const s = "#!lua flags=no-writes\n" + src;
    expect(run(new MapKeyspace(), T0, ["EVAL", s, 1, "a"], opts())).toEqual(E("ERR Write commands are not allowed from read-only scripts." + where(s, 2)));
  });
  it("EVAL_RO reads", () => {
    const ks = new MapKeyspace();
    run(ks, T0, ["SET", "a", "1"]);
    expect(run(ks, T0, ["EVAL_RO", "return redis.call('get', KEYS[1])", 1, "a"], opts())).toBe("1");
  });
  it("shebangs: unknown flags and engines are refused, allow-key-locking is accepted (Upstash's flag)", () => {
    expect(run(new MapKeyspace(), T0, ["EVAL", "#!lua flags=bogus\nreturn 1", 0], opts())).toEqual(E("ERR Unexpected flag in script shebang: bogus"));
    expect(run(new MapKeyspace(), T0, ["EVAL", "#!luax\nreturn 1", 0], opts())).toEqual(E("ERR Unexpected engine in script shebang: #!luax"));
    expect(run(new MapKeyspace(), T0, ["EVAL", "#!lua flags=allow-key-locking\nreturn 1", 0], opts())).toBe(1);
  });
});

describe("the script cache", () => {
  it("EVALSHA of an unknown script answers NOSCRIPT; EVAL and SCRIPT LOAD add to the cache", () => {
    const o = opts();
    const ks = new MapKeyspace();
    const h = sha("return 1");
    expect(h).toBe("e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    expect(run(ks, T0, ["EVALSHA", h, 0], o)).toEqual(E("NOSCRIPT No matching script. Please use EVAL."));
    expect(run(ks, T0, ["SCRIPT", "EXISTS", h, "ffffffffffffffffffffffffffffffffffffffff"], o)).toEqual([0, 0]);
    expect(run(ks, T0, ["SCRIPT", "LOAD", "return 1"], o)).toBe(h);
    expect(run(ks, T0, ["EVALSHA", h.toUpperCase(), 0], o)).toBe(1);
    expect(run(ks, T0, ["EVALSHA_RO", h, 0], o)).toBe(1);
    expect(run(ks, T0, ["SCRIPT", "EXISTS", h.toUpperCase()], o)).toEqual([1]);
    expect(run(ks, T0, ["SCRIPT", "FLUSH"], o)).toBe("OK");
    expect(run(ks, T0, ["EVALSHA", h, 0], o)).toEqual(E("NOSCRIPT No matching script. Please use EVAL."));
    expect(run(ks, T0, ev("return 2"), o)).toBe(2);
    expect(run(ks, T0, ["EVALSHA", sha("return 2"), 0], o)).toBe(2);
  });
  it("SCRIPT's subcommand errors", () => {
    const o = opts();
    const ks = new MapKeyspace();
    expect(run(ks, T0, ["SCRIPT", "LOAD", "retrun 1"], o)).toEqual(E("ERR Error compiling script (new function): user_script:1: syntax error near '1'"));
    expect(run(ks, T0, ["SCRIPT", "foo"], o)).toEqual(E("ERR unknown subcommand 'foo'. Try SCRIPT HELP."));
    expect(run(ks, T0, ["SCRIPT", "LOAD"], o)).toEqual(E("ERR wrong number of arguments for 'script|load' command"));
    expect(run(ks, T0, ["SCRIPT", "EXISTS"], o)).toEqual(E("ERR wrong number of arguments for 'script|exists' command"));
    expect(run(ks, T0, ["SCRIPT", "FLUSH", "x"], o)).toEqual(E("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
    expect(run(ks, T0, ["SCRIPT", "KILL"], o)).toEqual(E("NOTBUSY No scripts in execution right now."));
  });
  it("is bounded: the least recently used script goes first", () => {
    const cache = new ScriptCache(2);
    cache.set("a", "1");
    cache.set("b", "2");
    cache.get("a");
    cache.set("c", "3");
    expect([...cache.keys()]).toEqual(["a", "c"]);
  });
});

describe("a runaway script is stopped and its writes are discarded", () => {
  it("by the instruction budget, even inside pcall", () => {
    const ks = new MapKeyspace();
    run(ks, T0, ["SET", "k", "before"]);
    const src = "redis.call('set', KEYS[1], 'during'); while true do pcall(function() while true do end end) end";
    const out = run(ks, T0, ev(src, ["k"]), opts());
    expect(out).toEqual(E(`ERR Script ran past its limit of ${SCRIPT_INSTRUCTION_LIMIT} Lua instructions; nothing it wrote was applied${where(src)}`));
    expect(run(ks, T0, ["GET", "k"])).toBe("before");
  });
  it("by the wall clock", () => {
    const ks = new MapKeyspace();
    let t = 0;
    const src = "redis.call('del', KEYS[1]); while true do end";
    run(ks, T0, ["SET", "k", "before"]);
    const out = run(ks, T0, ev(src, ["k"]), { scripts: new ScriptCache(), clock: () => (t += 1000) });
    expect(out).toEqual(E(`ERR Script ran past its limit of 5000 ms; nothing it wrote was applied${where(src)}`));
    expect(run(ks, T0, ["GET", "k"])).toBe("before");
  });
  it("string.rep cannot build a string past the value limit", () => {
    const src = "local s = string.rep('x', 1e10); return s";
    expect(run(new MapKeyspace(), T0, ev(src), { ...opts(), maxValueBytes: 1000 })).toEqual(E("ERR user_script:1: resulting string too large" + where(src)));
    expect(run(new MapKeyspace(), T0, ev("return #string.rep('ab', 3, ',')"), { ...opts(), maxValueBytes: 1000 })).toBe(8);
  });
});

describe("libraries", () => {
  it.each([
    ["return cjson.encode({})", "{}"],
    ["return cjson.encode({1,2,'a'})", '[1,2,"a"]'],
    ["return cjson.encode(cjson.decode('{\"a\":null}'))", '{"a":null}'],
    ["return cjson.decode('[1,2]')[2]", 2],
    ["return redis.sha1hex('')", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
    ["return {unpack({1,2})}", [1, 2]],
    ["return table.concat({'a','b'}, ',') .. string.format('%d', 5) .. math.floor(2.5)", "a,b52"],
    ["redis.log(redis.LOG_WARNING, 'x'); return 1", 1],
  ])("%s", (src, expected) => {
    expect(run(new MapKeyspace(), T0, ev(src), opts())).toEqual(expected);
  });
  it("cjson refuses NaN", () => {
    const src = "return cjson.encode(0/0)";
    expect(run(new MapKeyspace(), T0, ev(src), opts())).toEqual(E("ERR user_script:1: Cannot serialise number: must not be NaN or Inf" + where(src)));
  });
});

describe("formatNumber (Lua 5.1's %.14g)", () => {
  it.each([
    [3, "3"],
    [0.1, "0.1"],
    [1 / 3, "0.33333333333333"],
    [1765000000000, "1765000000000"],
    [2 ** 53, "9.007199254741e+15"],
    [1e-5, "1e-05"],
    [-2.5, "-2.5"],
  ])("%d -> %s", (n, text) => expect(formatNumber(n)).toBe(text));
});

describe("@upstash/ratelimit's sliding window script", () => {
  it("counts in the current window and answers the remaining tokens", () => {
    const src = `#!lua flags=allow-key-locking
      local tokens = tonumber(ARGV[1]); local now = ARGV[2]; local window = ARGV[3]; local incrementBy = tonumber(ARGV[4])
      local cur = redis.call("GET", KEYS[1]); if cur == false then cur = 0 end
      local prev = redis.call("GET", KEYS[2]); if prev == false then prev = 0 end
      local pct = ( now % window ) / window
      prev = math.floor(( 1 - pct ) * prev)
      if incrementBy > 0 and prev + cur >= tokens then return {-1, tokens} end
      local v = redis.call("INCRBY", KEYS[1], incrementBy)
      if v == incrementBy then redis.call("PEXPIRE", KEYS[1], window * 2 + 1000) end
      return {tokens - ( v + prev ), tokens}`;
    const ks = new MapKeyspace();
    const o = opts();
    for (let i = 0; i < 3; i++) expect(run(ks, T0, ev(src, ["c", "p"], [2, "1765000004000", "10000", 1]), o)).toEqual(i < 2 ? [1 - i, 2] : [-1, 2]);
    expect(run(ks, T0, ["PTTL", "c"])).toBe(21000);
  });
});

describe("SCAN inside a script: deterministic replay on the SCAN replies the caller fetched", () => {
  const resetScript = `
    local cursor = "0"
    repeat
      local scan_result = redis.call('SCAN', cursor, 'MATCH', KEYS[1])
      cursor = scan_result[1]
      local keys = scan_result[2]
      for i=1, #keys do redis.call('DEL', keys[i]) end
    until cursor == "0"
    return 1`;
  const seeded = () => {
    const ks = new MapKeyspace();
    for (const k of ["rl:a:1", "rl:a:2", "rl:b:1"]) run(ks, T0, ["SET", k, "x"]);
    return ks;
  };
  const attempt = (ks: MapKeyspace, src: string, scans: ScanMemo, keys = ["rl:a:*"]) => {
    try {
      return executeCommand(cmd(ev(src, keys)), ks, T0, { ...opts(), scans });
    } catch (err) {
      return err;
    }
  };

  it("a SCAN not in the memo stops the script with NeedScan (not a RedisError), even under pcall, and undoes its writes", () => {
    const ks = seeded();
    const src = "redis.call('set', KEYS[2], 'during'); local ok = pcall(redis.call, 'SCAN', '0', 'MATCH', KEYS[1], 'COUNT', 5); redis.call('set', KEYS[2], 'after'); return 1";
    run(ks, T0, ["SET", "w", "before"]);
    const err = attempt(ks, src, new Map(), ["rl:a:*", "w"]);
    expect(err).toBeInstanceOf(NeedScan);
    expect(err).not.toBeInstanceOf(RedisError);
    expect((err as NeedScan).args).toEqual(["0", "MATCH", "rl:a:*", "COUNT", "5"]);
    expect(run(ks, T0, ["GET", "w"])).toBe("before");
  });

  it("replayed with the memo, the script deletes the keys SCAN returned (undeclared), and nothing else", () => {
    const ks = seeded();
    const scans: ScanMemo = new Map();
    // The caller's loop: each NeedScan is fetched (here from the test's own keyspace) and the script run again.
    const fetched: string[][] = [];
    const pages: Record<string, Reply> = { "0": ["7", ["rl:a:1"]], "7": ["0", ["rl:a:2"]] };
    let out: unknown;
    for (let i = 0; i < 5; i++) {
      out = attempt(ks, resetScript, scans);
      if (!(out instanceof NeedScan)) break;
      fetched.push(out.args);
      scans.set(scanMemoKey(out.args), pages[out.args[0]!]!);
    }
    expect(out).toBe(1);
    expect(fetched).toEqual([
      ["0", "MATCH", "rl:a:*"],
      ["7", "MATCH", "rl:a:*"],
    ]);
    expect(["rl:a:1", "rl:a:2", "rl:b:1"].map((k) => run(ks, T0, ["EXISTS", k]))).toEqual([0, 0, 1]);
  });

  it("a key no SCAN of this run returned stays out of reach", () => {
    const ks = seeded();
    const scans: ScanMemo = new Map([[scanMemoKey(["0", "MATCH", "rl:a:*"]), ["0", ["rl:a:1"]]]]);
    const src = "local r = redis.call('SCAN', '0', 'MATCH', KEYS[1]); redis.call('DEL', r[2][1]); return redis.call('DEL', 'rl:b:1')";
    const NON_LOCAL = "ERR Script attempted to access a non local key in a cluster node";
    expect(attempt(ks, src, scans)).toEqual(new RedisError(NON_LOCAL + where(src)));
    // Before the SCAN, even a key it will return is out of reach.
    const early = "redis.call('DEL', 'rl:a:2'); return redis.call('SCAN', '0', 'MATCH', KEYS[1])";
    expect(run(ks, T0, ev(early, ["rl:a:*"]), { ...opts(), scans })).toEqual(E(NON_LOCAL + where(early)));
    expect(run(ks, T0, ["EXISTS", "rl:a:2"])).toBe(1);
    expect(run(ks, T0, ["EXISTS", "rl:b:1"])).toBe(1);
  });

  it("a memo error is redis.call's error; a stopping one ends the script, its writes undone", () => {
    const ks = seeded();
    run(ks, T0, ["SET", "w", "before"]);
    const key = scanMemoKey(["0"]);
    const pcallSrc = "local r = redis.pcall('SCAN', '0'); return r.err";
    expect(run(ks, T0, ev(pcallSrc), { ...opts(), scans: new Map([[key, { error: "ERR invalid cursor" }]]) })).toBe("ERR invalid cursor");
    const src = "redis.call('set', KEYS[1], 'during'); pcall(redis.call, 'SCAN', '0'); return 1";
    expect(run(ks, T0, ev(src, ["w"]), { ...opts(), scans: new Map([[key, { error: "ERR too many", stop: true }]]) })).toEqual(
      E(`ERR too many; nothing the script wrote was applied script: ${sha(src)}`),
    );
    expect(run(ks, T0, ["GET", "w"])).toBe("before");
  });

  it("SCAN's syntax is checked before asking for it; KEYS stays refused", () => {
    const refused = (src: string, error: string) => expect(run(new MapKeyspace(), T0, ev(src), { ...opts(), scans: new Map() })).toEqual(E(error + where(src)));
    refused("return redis.call('SCAN', 'x')", "ERR invalid cursor");
    refused("return redis.call('SCAN', '0', 'COUNT', 0)", "ERR syntax error");
    refused("return redis.call('KEYS', '*')", "ERR This Redis command is not allowed from script");
  });

  it("WITHTYPE and TYPE replies: only the keys are reachable", () => {
    const ks = seeded();
    const scans: ScanMemo = new Map([[scanMemoKey(["0", "WITHTYPE"]), ["0", ["rl:a:1", "string"]]]]);
    const src = "local r = redis.call('SCAN', '0', 'WITHTYPE'); redis.call('DEL', r[2][1]); return redis.pcall('GET', r[2][2]).err";
    expect(run(ks, T0, ev(src), { ...opts(), scans })).toBe("ERR Script attempted to access a non local key in a cluster node");
    expect(run(ks, T0, ["EXISTS", "rl:a:1"])).toBe(0);
  });

  it("a SCAN answers only the keys the snapshot holds now (of the TYPE asked), so a second SCAN does not list what the script deleted", () => {
    const ks = seeded();
    run(ks, T0, ["HSET", "rl:a:h", "f", "v"]);
    const page = ["0", ["rl:a:1", "rl:a:2", "rl:a:gone", "rl:a:h"]];
    const scans: ScanMemo = new Map([
      [scanMemoKey(["0", "MATCH", "rl:a:*"]), page],
      [scanMemoKey(["0", "MATCH", "rl:a:*", "TYPE", "string"]), page],
    ]);
    const src = "local first = redis.call('SCAN', '0', 'MATCH', KEYS[1])[2]; redis.call('DEL', first[1]); return {first, redis.call('SCAN', '0', 'MATCH', KEYS[1])[2], redis.call('SCAN', '0', 'MATCH', KEYS[1], 'TYPE', 'string')[2]}";
    expect(run(ks, T0, ev(src, ["rl:a:*"]), { ...opts(), scans })).toEqual([
      ["rl:a:1", "rl:a:2", "rl:a:h"],
      ["rl:a:2", "rl:a:h"],
      ["rl:a:2"],
    ]);
  });

  it("math.random draws the same under one seed, so a replay makes the same calls", () => {
    const src = "return {math.random(1000000), math.random(1000000)}";
    const a = run(new MapKeyspace(), T0, ev(src), { ...opts(), scriptSeed: 42 });
    expect(run(new MapKeyspace(), T0, ev(src), { ...opts(), scriptSeed: 42 })).toEqual(a);
    expect(run(new MapKeyspace(), T0, ev(src), { ...opts(), scriptSeed: 43 })).not.toEqual(a);
  });
});

// Review of issue 17: what a script's reply, cjson or the script cache could cost the isolate.
describe("a script cannot make the server build unbounded values", () => {
  it("a nested reply deeper than fengari's default stack converts instead of failing the request (a 500 before)", () => {
    const deep = run(new MapKeyspace(), T0, ev("local t={} local c=t for i=1,40 do c[1]={} c=c[1] end return t"));
    let depth = 0;
    for (let r = deep; Array.isArray(r); r = (r as unknown[])[0] as typeof deep) depth++;
    expect(depth).toBe(41);
  });

  it("a table repeated inside itself stops at MAX_CONVERTED_VALUES, as a reply and in cjson.encode", () => {
    const started = Date.now();
    expect(run(new MapKeyspace(), T0, ev("local t={} for i=1,10 do t={t,t,t,t} end return t"))).toEqual(E(`ERR the value holds more than ${MAX_CONVERTED_VALUES} elements (a table repeated inside itself?)`));
    const encoded = run(new MapKeyspace(), T0, ev("local t={} for i=1,9 do t={t,t,t,t,t,t,t,t} end return cjson.encode(t)"));
    expect(encoded).toMatchObject({ error: expect.stringContaining(`more than ${MAX_CONVERTED_VALUES} elements`) });
    // Not a timing claim, a ceiling for a hang: 8^9 leaves would take minutes and gigabytes.
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it("the script cache drops the least recently used scripts past its total length, not only past its count", () => {
    const cache = new ScriptCache(1_000, 10);
    cache.set("a", "12345");
    cache.set("b", "12345");
    cache.set("c", "123");
    expect([...cache.keys()]).toEqual(["b", "c"]);
    cache.set("d", "x".repeat(50)); // a single script longer than the cap is kept alone
    expect([...cache.keys()]).toEqual(["d"]);
  });

  it("one request's scripts share SCRIPT_TIME_LIMIT_MS: once it is used up, the next script does not run", () => {
    const use = { usedMs: SCRIPT_TIME_LIMIT_MS, scanSteps: 0 };
    expect(run(new MapKeyspace(), T0, ev("return 1"), { scriptUse: use })).toEqual(
      E(`ERR this request's scripts have run their ${SCRIPT_TIME_LIMIT_MS} ms (SCRIPT_TIME_LIMIT_MS): the script did not run; send it in another request`),
    );
    const fresh = { usedMs: 0, scanSteps: 0 };
    expect(run(new MapKeyspace(), T0, ev("return 1"), { scriptUse: fresh, clock: () => 7 })).toBe(1);
  });
});

describe("a script's memory (fengari patched at install: scripts/patch-fengari.mjs)", () => {
  it.each([
    ["doubling a string with ..", "local s = 'x' for i = 1, 28 do s = s .. s end return #s"],
    ["table.concat of large strings", "local t = {} for i = 1, 400 do t[i] = i end return #table.concat(t, string.rep('x', 1000000))"],
    ["doubling inside pcall, which cannot swallow the stop", "local s = 'x' while true do pcall(function() s = s .. s end) end"],
  ])("%s stops at SCRIPT_STRING_BYTES with nothing written (268 MB and 399 MB before)", (_name, src) => {
    const ks = new MapKeyspace();
    run(ks, T0, ["SET", "k", "before"]);
    const out = run(ks, T0, ev(`redis.call('set', KEYS[1], 'during') ${src}`, ["k"]), opts());
    expect(out).toMatchObject({ error: expect.stringContaining(`ERR Script built more than ${SCRIPT_STRING_BYTES} bytes of strings (SCRIPT_STRING_BYTES); nothing it wrote was applied`) });
    expect(run(ks, T0, ["GET", "k"])).toBe("before");
  });

  it("a table a script fills is bounded by the instruction budget", () => {
    expect(run(new MapKeyspace(), T0, ev("local t = {} for i = 1, 5000000 do t[i] = i end return #t"), opts())).toMatchObject({
      error: expect.stringContaining(`ran past its limit of ${SCRIPT_INSTRUCTION_LIMIT} Lua instructions`),
    });
  });

  it("ordinary string work is unaffected", () => {
    expect(run(new MapKeyspace(), T0, ev("local s = '' for i = 1, 1000 do s = s .. 'ab' end return #s"), opts())).toBe(2000);
  });
});

describe("the install-time patch of fengari", () => {
  it("is applied here (npm's postinstall), so scripts run with their string budget", () => {
    expect(stringBudgetPatched()).toBe(true);
  });
});

describe("numbers print as Lua 5.1 prints them (fengari's LUA_COMPAT_FLOATSTRING, set at install)", () => {
  it.each([
    ["return tostring(3.0)", "3"],
    ["return 'a' .. tonumber('1733620000000')", "a1733620000000"],
    ["return tostring(10 / 2)", "5"],
    ["return tostring(1.5)", "1.5"],
  ])("%s answers %j, as redis-server 7.0.15", (src, expected) => {
    expect(run(new MapKeyspace(), T0, ev(src), opts())).toBe(expected);
  });
});

describe("status replies reach Lua as {ok = ...}", () => {
  it("PING, as redis-server 7.0.15 gives it (review)", () => {
    expect(run(new MapKeyspace(), T0, ev("local r = redis.call('ping') return {type(r), r.ok}"), opts())).toEqual(["table", "PONG"]);
  });
});
