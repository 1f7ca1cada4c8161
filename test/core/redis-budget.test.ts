import { describe, expect, it } from "vitest";
import {
  REDIS_BUDGET,
  commandOverBudget,
  estimateCalls,
  estimateMultiCalls,
  estimatePipelineCalls,
  isBatchedRead,
  deadlineError,
  requestDeadlineMs,
  requestOverBudget,
  walkOverBudget,
  type ClusterShape,
} from "../../src/core/redis/budget";
import { parseCommand } from "../../src/core/redis/commands";
import type { Command } from "../../src/core/redis/types";

/** The default cluster (wrangler.toml): 8 shards, N=3, R=2. */
const SHAPE: ClusterShape = { shards: 8, replicas: 3, readQuorum: 2 };

function cmd(...words: (string | number)[]): Command {
  const p = parseCommand(words);
  if (!p.ok) throw new Error(p.error);
  return p.cmd;
}
const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const keys = (n: number) => times(n, (i) => `k${i}`);

describe("the object calls a command is estimated to make", () => {
  it.each([
    ["a walk over the keyspace calls every shard, then pages up to walkEntries (30,000 / 1,000 a page)", cmd("KEYS", "*"), 8 + 30],
    ["FLUSHDB likewise", cmd("FLUSHDB"), 8 + 30],
    ["DBSIZE only counts, so it may page ten times as far (300,000 entries)", cmd("DBSIZE"), 8 + 300],
    ["a SCAN step calls every shard once", cmd("SCAN", "0"), 8],
    ["a keyless command calls nothing", cmd("PING"), 0],
    ["a GET asks R replicas", cmd("GET", "k"), 2],
    ["a blind SET writes every replica", cmd("SET", "k", "v"), 3],
    ["SET with EX is blind too", cmd("SET", "k", "v", "EX", 10), 3],
    ["SET NX reads, then commits through a coordinator (prepare + commit on each replica)", cmd("SET", "k", "v", "NX"), 2 + 1 + 6],
    ["an INCR likewise", cmd("INCR", "k"), 9],
    ["MGET reads each shard at most once, twice over (the snapshot check)", cmd("MGET", ...keys(1000)), 16],
    ["MSET of many keys: one read and one commit per shard", cmd("MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"), 8 + 1 + 16],
  ])("%s", (_name, command, calls) => {
    expect(estimateCalls(command, SHAPE)).toBe(calls);
  });

  it("a pipeline reads a run of single-key reads together (one call per shard for the run), and runs the rest one by one", () => {
    expect(estimatePipelineCalls(times(1000, (i) => cmd("GET", `k${i}`)), SHAPE)).toBe(8);
    expect(estimatePipelineCalls([cmd("GET", "a"), cmd("GET", "a")], SHAPE)).toBe(2);
    // Two runs of reads, split by a write.
    expect(estimatePipelineCalls([cmd("GET", "a"), cmd("INCR", "a"), cmd("GET", "b")], SHAPE)).toBe(2 + 9 + 2);
    expect(estimatePipelineCalls(times(1000, () => cmd("KEYS", "*")), SHAPE)).toBe(38_000);
  });

  it("a MULTI is one atomic unit over all its keys", () => {
    expect(estimateMultiCalls([cmd("SET", "a", "1"), cmd("INCR", "b")], SHAPE)).toBe(4 + 1 + 12);
    expect(estimateMultiCalls([cmd("GET", "a"), cmd("GET", "b")], SHAPE)).toBe(8);
    expect(estimateMultiCalls([cmd("PING")], SHAPE)).toBe(0);
  });
});

describe("the budget of a command and of a request", () => {
  it("a command may name keysPerCommand keys; one more is refused, naming the limit and the command", () => {
    expect(commandOverBudget(cmd("MGET", ...keys(REDIS_BUDGET.keysPerCommand)))).toBeNull();
    expect(commandOverBudget(cmd("DEL", ...keys(REDIS_BUDGET.keysPerCommand + 1)))).toBe(
      "ERR request budget exceeded: DEL names 1001 keys > 1000 per command (split it; see the README's Redis limits)",
    );
    // MSET names a key every other argument.
    expect(commandOverBudget(cmd("MSET", ...keys(REDIS_BUDGET.keysPerCommand).flatMap((k) => [k, "v"])))).toBeNull();
  });

  it("the report's pipeline of 1,000 KEYS * is refused: one walk of the whole keyspace per request", () => {
    expect(requestOverBudget("pipeline", times(1000, () => cmd("KEYS", "*")), SHAPE)).toBe(
      "ERR request budget exceeded: 1000 walks of the whole keyspace (KEYS, DBSIZE, FLUSHDB) > 1 (pipeline of 1000 commands; use SCAN; see the README's Redis limits)",
    );
    // Found in review: 250 KEYS were within the calls budget when a walk was charged one call per shard,
    // and made ~8,000 calls and a 17.9 MB answer.
    expect(requestOverBudget("multi", times(2, () => cmd("DBSIZE")), SHAPE)).not.toBeNull();
    expect(requestOverBudget("pipeline", [cmd("KEYS", "*"), ...times(100, () => cmd("SCAN", "0"))], SHAPE)).toBeNull();
  });

  it("a pipeline or MULTI naming more than keysPerRequest keys in all is refused for its keys", () => {
    const mget = cmd("MGET", ...keys(1000));
    expect(requestOverBudget("pipeline", times(5, () => mget), SHAPE)).toBeNull();
    expect(requestOverBudget("multi", times(6, () => mget), SHAPE)).toBe("ERR request budget exceeded: 6000 keys > 5000 (multi of 6 commands; see the README's Redis limits)");
  });

  it("what real clients send fits: 1,000 GETs, 600 SETs, a rate limiter's INCR + PEXPIRE for 100 callers", () => {
    expect(requestOverBudget("pipeline", times(1000, (i) => cmd("GET", `k${i}`)), SHAPE)).toBeNull();
    expect(requestOverBudget("pipeline", times(600, (i) => cmd("SET", `k${i}`, "v")), SHAPE)).toBeNull();
    const limiter = times(100, (i) => [cmd("INCR", `rl:${i}`), cmd("PEXPIRE", `rl:${i}`, 60000)]).flat();
    expect(estimatePipelineCalls(limiter, SHAPE)).toBe(1800);
    expect(requestOverBudget("pipeline", limiter, SHAPE)).toBeNull();
    // One walk of the whole keyspace per request; SCAN steps are counted by their calls.
    expect(requestOverBudget("pipeline", [cmd("KEYS", "*")], SHAPE)).toBeNull();
    expect(requestOverBudget("pipeline", times(2, () => cmd("KEYS", "*")), SHAPE)).not.toBeNull();
  });

  it("the cost follows the cluster's shape", () => {
    const big: ClusterShape = { shards: 64, replicas: 5, readQuorum: 3 };
    expect(estimateCalls(cmd("KEYS", "*"), big)).toBe(64 + 30);
    expect(estimateCalls(cmd("SCAN", "0"), big)).toBe(64);
    expect(requestOverBudget("pipeline", times(32, () => cmd("SCAN", "0")), big)).not.toBeNull();
  });

  it("the walk's error names what it examined and the limit", () => {
    expect(walkOverBudget("keys", 30_001)).toBe("ERR request budget exceeded: KEYS examined 30001 entries > 30000 (use SCAN to walk a large keyspace; see the README's Redis limits)");
  });

  it("a request may go on starting commands for ten of the cache's deadlines (30 s by default), and the error names it", () => {
    expect(requestDeadlineMs(3000)).toBe(30_000);
    expect(deadlineError(30_000)).toBe("ERR request deadline of 30000 ms passed before this command ran (see the README's Redis limits)");
  });
});

describe("scripts in the budget (review of issue 17)", () => {
  it("a script costs a write over at least one key, even when it declares none (it cost 0 calls before)", () => {
    const incr = estimateCalls(cmd("INCR", "k"), SHAPE);
    expect(estimateCalls(cmd("EVAL", "return 1", 0), SHAPE)).toBe(incr);
    expect(estimateCalls(cmd("EVAL_RO", "return 1", 0), SHAPE)).toBe(incr);
    expect(estimateMultiCalls(times(3, () => cmd("EVAL", "return 1", 0)), SHAPE)).toBe(incr);
    expect(requestOverBudget("pipeline", times(1000, () => cmd("EVAL", "return 1", 0)), SHAPE)).toMatch(/object calls > 2000/);
  });

  it("a read-only script is not read together with its neighbours: each runs alone, with the deadline checked and a yield between", () => {
    expect(isBatchedRead(cmd("EVAL_RO", "return 1", 1, "k"))).toBe(false);
    expect(isBatchedRead(cmd("EVALSHA_RO", "abc", 0))).toBe(false);
    expect(isBatchedRead(cmd("GET", "k"))).toBe(true);
  });
});
