// Differential test: random command sequences, per command family, run against Debian's real
// redis-server (7.0) and against our /redis endpoint (`npm run dev`), every reply compared, errors by
// their full text. A difference is shrunk to a minimal sequence (delta debugging) and reported with the
// seed. Rerun one seed with DIFF_SEED=<n> (DIFF_FAMILY=<name> to run one family). How it works and the
// deliberate differences: docs/pending/differential.md; the list itself is NORMALIZED below.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/prng";
import { RespError, type RespClient, type RespReply } from "../support/resp";
import { startRedisServer, type RedisServer } from "../support/redis-server";
import { summarize } from "../support/uncaught-guard";
import { startDevServer, type DevServer } from "./dev-server";

type Cmd = string[];
/** A reply in one form for both sides: errors as { error: text }. */
type Val = null | number | string | { error: string } | Val[];

// A fixed seed by default, so `npm test` is the same run every time (a new edge case must not turn CI
// red at random); DIFF_SEED=<n> replays a seed, DIFF_SEED=random explores a fresh one.
const DEFAULT_SEED = 17;
const SEED =
  process.env.DIFF_SEED === "random" ? (Date.now() ^ (process.pid << 16)) >>> 0 : process.env.DIFF_SEED ? Number(process.env.DIFF_SEED) >>> 0 : DEFAULT_SEED;
const ONLY = process.env.DIFF_FAMILY ?? "";

let dev: DevServer;
let real: RedisServer;
let conn: RespClient;
let runs = 0;

beforeAll(async () => {
  console.log(`differential test: DIFF_SEED=${SEED}`);
  real = await startRedisServer();
  conn = await real.connect();
  dev = await startDevServer();
}, 300_000); // ceilings for a stuck start on a loaded machine, not claims about speed
afterAll(async () => {
  conn?.close();
  await Promise.all([dev?.stop(), real?.stop()]);
});

// ---------------------------------------------------------------------------------------------
// Running one sequence on both sides

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Deliberate difference, applied to every reply: an integer beyond 2^53 is compared as its decimal
 * string, which is what our endpoint sends (JSON numbers would round it; src/core/redis/util.ts intReply).
 */
function fromResp(r: RespReply): Val {
  if (typeof r === "bigint") return r.toString();
  if (r instanceof RespError) return { error: r.message };
  if (Array.isArray(r)) return r.map(fromResp);
  return r;
}

/** Our server's failures that say nothing about the command (overload, a replica not voting): the run is repeated. */
const INFRA = /^(BUSY |ERR request deadline|ERR the keys kept changing|ERR request budget exceeded)|participant|vote|coordinator|quorum|timed out/i;

class InfraError extends Error {}

/** One pipeline chunk on our side; commands the request's deadline left unstarted are sent again. */
async function oursChunk(cmds: Cmd[]): Promise<Val[]> {
  const out: Val[] = [];
  let todo = cmds;
  const until = Date.now() + 120_000;
  while (todo.length > 0) {
    const res = await fetch(`${dev.url}/redis/pipeline`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(todo) });
    if (res.status === 503) {
      if (Date.now() > until) throw new Error(`our server kept answering 503: ${await res.text()}`);
      await sleep(Number(res.headers.get("retry-after") ?? 1) * 1000);
      continue;
    }
    const body = (await res.json()) as unknown;
    if (!Array.isArray(body)) throw new Error(`/redis/pipeline answered ${res.status}: ${JSON.stringify(body)}`);
    const outcomes = body as ({ result: Val } | { error: string })[];
    let i = 0;
    for (; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      if ("error" in o && /^ERR request deadline of/.test(o.error)) break; // not run: sent again below
      if ("error" in o && INFRA.test(o.error)) throw new InfraError(o.error);
      out.push("error" in o ? { error: o.error } : o.result);
    }
    todo = todo.slice(i);
    if (todo.length > 0 && Date.now() > until) throw new Error("our server kept missing its deadline");
  }
  return out;
}

interface Run {
  cmds: Cmd[];
  ours: Val[];
  theirs: Val[];
  /** How long the run took, which bounds how far TTLs may drift apart between the two sides. */
  elapsedMs: number;
}

const CHUNK = 25;

/** Runs the sequence on both sides, chunk by chunk in lockstep, under a fresh key prefix. */
async function runBoth(make: (prefix: string) => Cmd[]): Promise<Run> {
  for (let attempt = 0; ; attempt++) {
    const prefix = `d${SEED.toString(36)}-${(runs++).toString(36)}:`;
    const cmds = make(prefix);
    const started = Date.now();
    const ours: Val[] = [];
    const theirs: Val[] = [];
    try {
      for (let i = 0; i < cmds.length; i += CHUNK) {
        const chunk = cmds.slice(i, i + CHUNK);
        theirs.push(...(await conn.pipeline(chunk)).map(fromResp));
        ours.push(...(await oursChunk(chunk)));
      }
    } catch (e) {
      if (e instanceof InfraError && attempt < 3) continue;
      throw e;
    }
    return { cmds, ours, theirs, elapsedMs: Date.now() - started };
  }
}

// ---------------------------------------------------------------------------------------------
// Deliberate differences: what is normalized before comparing, and why

const sortVals = (v: Val): Val => (Array.isArray(v) ? [...v].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : v);
/** Field-value (or member-score) pairs, sorted by pair. */
const sortPairs = (v: Val): Val => {
  if (!Array.isArray(v)) return v;
  const pairs: Val[] = [];
  for (let i = 0; i < v.length; i += 2) pairs.push([v[i]!, v[i + 1]!]);
  return sortVals(pairs);
};
const shape = (v: Val): Val => (Array.isArray(v) ? `<array of ${v.length}>` : typeof v === "string" ? "<string>" : v);

const HASH_ORDER =
  "field order: Redis answers a small hash's fields in insertion order and a large one's in no particular order; ours answers integer-like field names first (JS object order), so fields are compared as a set (HGETALL and HSCAN by field-value pair)";

/** Member universe size: a count at least this large returns (or pops) every member, so the result is not random. */
const ALL = 8;
const countArg = (cmd: Cmd): number | null => (cmd[2] === undefined ? null : Number(cmd[2]));

/**
 * name -> [why, normalizer]. Only these are normalized; every other reply must be identical.
 * Errors are never normalized (a normalizer sees them and returns them unchanged).
 */
export const NORMALIZED: Record<string, [string, (v: Val, cmd: Cmd) => Val]> = {
  smembers: ["Redis 7.0 keeps non-integer sets in a hash table: member order is unspecified", sortVals],
  sunion: ["set member order is unspecified", sortVals],
  sinter: ["set member order is unspecified", sortVals],
  sdiff: ["set member order is unspecified", sortVals],
  hkeys: [HASH_ORDER, sortVals],
  hvals: [HASH_ORDER, sortVals],
  hgetall: [HASH_ORDER, sortPairs],
  hscan: [HASH_ORDER, (v) => (Array.isArray(v) && v.length === 2 ? [v[0]!, sortPairs(v[1]!)] : v)],
  sscan: ["set member order is unspecified (the cursor is compared as is)", (v) => (Array.isArray(v) && v.length === 2 ? [v[0]!, sortVals(v[1]!)] : v)],
  spop: ["random: with a count covering every member the popped set is compared, sorted; otherwise only the shape (the generator deletes the key after such a pop, so both sides go on in step)", (v, cmd) => {
    const n = countArg(cmd);
    return n !== null && n >= ALL ? sortVals(v) : shape(v);
  }],
  srandmember: ["random: with a positive count covering every member the set is compared, sorted; otherwise the shape", (v, cmd) => {
    const n = countArg(cmd);
    return n !== null && n >= ALL ? sortVals(v) : shape(v);
  }],
  hrandfield: ["random: compared by shape, or sorted by pair when a positive count covers every field", (v, cmd) => {
    const n = countArg(cmd);
    if (n !== null && n >= ALL) return cmd.length > 3 ? sortPairs(v) : sortVals(v);
    return shape(v);
  }],
  zrandmember: ["random: compared by shape, or sorted by pair when a positive count covers every member", (v, cmd) => {
    const n = countArg(cmd);
    if (n !== null && n >= ALL) return cmd.length > 3 ? sortPairs(v) : sortVals(v);
    return shape(v);
  }],
};

/** TTL-like replies: time passes between the two sides (each side runs the command at its own moment). */
const TIMED: Record<string, number> = { ttl: 1000, pttl: 1, expiretime: 1000, pexpiretime: 1 };

function normalize(cmd: Cmd, v: Val): Val {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return v; // an error: compared as is
  const n = NORMALIZED[cmd[0]!.toLowerCase()];
  return n ? n[1](v, cmd) : v;
}

/** Whether two replies to one command agree; `slackMs` is how far apart in time the two ran, at most. */
function agree(cmd: Cmd, a: Val, b: Val, slackMs: number): boolean {
  const unit = TIMED[cmd[0]!.toLowerCase()];
  if (unit !== undefined && typeof a === "number" && typeof b === "number") {
    if (a < 0 || b < 0) return a === b; // -1 (no TTL) and -2 (no key) are exact
    return Math.abs(a - b) <= slackMs / unit + 1;
  }
  return JSON.stringify(normalize(cmd, a)) === JSON.stringify(normalize(cmd, b));
}

function firstDifference(run: Run): number {
  for (let i = 0; i < run.cmds.length; i++) {
    if (!agree(run.cmds[i]!, run.ours[i] ?? null, run.theirs[i] ?? null, run.elapsedMs)) return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Shrinking (delta debugging on the commands, each candidate replayed on both sides, fresh prefix)

/** A generated command names its keys as KEY(n), turned into `<prefix>kn` when run. */
type Gen = (string | { key: number })[];
const instantiate = (gens: Gen[], prefix: string): Cmd[] => gens.map((g) => g.map((a) => (typeof a === "string" ? a : `${prefix}k${a.key}`)));

const SHRINK_REPLAYS = Number(process.env.DIFF_SHRINK_REPLAYS ?? 80);

async function differs(gens: Gen[]): Promise<Run | null> {
  const run = await runBoth((p) => instantiate(gens, p));
  return firstDifference(run) >= 0 ? run : null;
}

async function shrink(gens: Gen[]): Promise<{ gens: Gen[]; run: Run | null }> {
  let best = gens;
  let bestRun: Run | null = null;
  let replays = 0;
  let n = 2;
  // A ceiling on the time spent shrinking (a failing run should still end in reasonable time).
  const until = Date.now() + 180_000;
  while (best.length >= 2 && replays < SHRINK_REPLAYS && Date.now() < until) {
    const size = Math.ceil(best.length / n);
    let reduced = false;
    for (let start = 0; start < best.length && replays < SHRINK_REPLAYS && Date.now() < until; start += size) {
      const candidate = [...best.slice(0, start), ...best.slice(start + size)];
      if (candidate.length === 0) continue;
      replays++;
      const run = await differs(candidate);
      if (run) {
        best = candidate;
        bestRun = run;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= best.length) break;
      n = Math.min(n * 2, best.length);
    }
  }
  return { gens: best, run: bestRun };
}

const show = (v: Val | undefined) => JSON.stringify(v);

function report(family: string, seed: number, gens: Gen[], run: Run): string {
  const lines = [`family ${family}: our reply differs from redis-server's (DIFF_SEED=${SEED}, family seed ${seed})`, "minimal sequence (k0..k3 stand for the run's keys):"];
  const at = firstDifference(run);
  const shown = instantiate(gens, "");
  shown.forEach((c, i) => {
    const mark = i === at ? ">>" : "  ";
    lines.push(`${mark} ${c.map((a) => JSON.stringify(a)).join(" ")}`);
    lines.push(`     redis: ${show(run.theirs[i])}${i === at ? `\n     ours:  ${show(run.ours[i])}` : ""}`);
  });
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Generators

type Rng = () => number;
const KEY = (n: number) => ({ key: n });

class G {
  constructor(readonly r: Rng) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  key(n = 4) {
    return KEY(this.int(0, n - 1));
  }
  keys(lo: number, hi: number) {
    return Array.from({ length: this.int(lo, hi) }, () => this.key());
  }
  member(): string {
    return this.pick(["a", "b", "c", "d", "e", "1", "2", "10"]);
  }
  members(lo: number, hi: number): string[] {
    return Array.from({ length: this.int(lo, hi) }, () => this.member());
  }
  value(): string {
    return this.pick(["", "0", "1", "-1", "7", "10", "3.5", "-2.25", "abc", "x y", "9223372036854775807", "-9223372036854775808", "1e3", " 1", "01", "+5"]);
  }
  intArg(): string {
    return this.pick(["0", "1", "-1", "2", "3", "-2", "5", "100", "abc", "1.5", "", "9223372036854775807", "-9223372036854775808"]);
  }
  smallInt(): string {
    return this.pick(["0", "1", "2", "3", "-1", "-2", "-3", "5", "10", "-10"]);
  }
  floatArg(): string {
    return this.pick(["0", "1", "-1", "0.5", "1.5", "-2.5", "3", "1e2", "abc", "inf", "-inf", "nan", "", "0.1"]);
  }
  score(): string {
    return this.pick(["0", "1", "2", "3", "-1", "1.5", "2.5", "-0.5", "10", "inf", "-inf", "+inf", "1e1", "abc", "nan"]);
  }
  rangeScore(): string {
    return this.pick(["-inf", "+inf", "0", "1", "2", "(1", "(2", "1.5", "-1", "(0", "abc", "3"]);
  }
  lexBound(): string {
    return this.pick(["-", "+", "[a", "(a", "[c", "(c", "[b", "a", "[", "(e"]);
  }
  ttlSeconds(): string {
    // Large enough that nothing expires during a run (both sides would see it at different moments);
    // 0 and negatives delete at once.
    return this.pick(["100", "1000", "5000", "0", "-1", "abc", "100"]);
  }
  /** Absolute times (far in the future, or in the past): deterministic on both sides. */
  unixSeconds(): string {
    const now = Math.floor(Date.now() / 1000);
    return this.pick([String(now + 10_000), String(now + 20_000), String(now + 30_000), "1", "0", "abc"]);
  }
}

/** One family: a name and a generator of one command. */
interface Family {
  name: string;
  /** Why it is skipped, when its commands have not landed yet. */
  skip?: string;
  sequences: number;
  length: number;
  gen: (g: G) => Gen[];
}

const one = (...xs: Gen): Gen[] => [xs];

function stringCmd(g: G): Gen[] {
  const k = g.key();
  switch (g.int(0, 25)) {
    case 0:
    case 1: {
      const opts = g.pick<string[]>([[], [], ["NX"], ["XX"], ["GET"], ["EX", g.ttlSeconds()], ["PX", "100000"], ["KEEPTTL"], ["NX", "GET"], ["XX", "GET"], ["NX", "XX"], ["EX", "100", "PX", "100"], ["EX"], ["KEEPTTL", "EX", "100"], ["EXAT", g.unixSeconds()], ["BOGUS"]]);
      return one("SET", k, g.value(), ...opts);
    }
    case 2:
      return one("GET", k);
    case 3:
      return one("GETSET", k, g.value());
    case 4:
      return one("GETDEL", k);
    case 5:
      return one("GETEX", k, ...g.pick<string[]>([[], ["PERSIST"], ["EX", g.ttlSeconds()], ["PX", "200000"], ["EX", "100", "PERSIST"], ["EXAT", g.unixSeconds()]]));
    case 6:
      return one("SETNX", k, g.value());
    case 7:
      return one("SETEX", k, g.ttlSeconds(), g.value());
    case 8:
      return one("PSETEX", k, g.pick(["100000", "0", "-5"]), g.value());
    case 9: {
      const pairs = g.int(0, 3);
      const args: Gen = [];
      for (let i = 0; i < pairs; i++) args.push(g.key(), g.value());
      if (g.chance(0.1)) args.push(g.key());
      return one(g.pick(["MSET", "MSETNX"]), ...args);
    }
    case 10:
      return one("MGET", ...g.keys(0, 4));
    case 11:
    case 12:
      return one(g.pick(["INCR", "DECR"]), k);
    case 13:
      return one(g.pick(["INCRBY", "DECRBY"]), k, g.intArg());
    case 14:
      return one("INCRBYFLOAT", k, g.floatArg());
    case 15:
      return one("APPEND", k, g.value());
    case 16:
      return one("STRLEN", k);
    case 17:
      return one(g.pick(["GETRANGE", "SUBSTR"]), k, g.smallInt(), g.smallInt());
    case 18:
      return one("SETRANGE", k, g.pick(["0", "1", "3", "-1", "abc"]), g.value());
    case 19:
      return one("GET", k, "extra");
    case 20:
      return one("INCR");
    case 21:
      return one("TTL", k);
    case 22:
      return one("STRLEN", k);
    case 23:
      return one("EXISTS", k);
    case 24:
      return one("GETRANGE", k, "0", "-1");
    default:
      return one("DEL", k);
  }
}

function hashCmd(g: G): Gen[] {
  const k = g.key();
  const f = () => g.member();
  switch (g.int(0, 22)) {
    case 0:
    case 1:
    case 2: {
      const args: Gen = [k];
      const n = g.int(0, 3);
      for (let i = 0; i < n; i++) args.push(f(), g.value());
      if (g.chance(0.1)) args.push(f());
      return one(g.pick(["HSET", "HMSET"]), ...args);
    }
    case 3:
      return one("HSETNX", k, f(), g.value());
    case 4:
    case 5:
      return one("HGET", k, f());
    case 6:
      return one("HMGET", k, ...g.members(0, 3));
    case 7:
      return one("HDEL", k, ...g.members(0, 3));
    case 8:
      return one("HEXISTS", k, f());
    case 9:
      return one("HLEN", k);
    case 10:
      return one("HSTRLEN", k, f());
    case 11:
      return one("HKEYS", k);
    case 12:
      return one("HVALS", k);
    case 13:
    case 14:
      return one("HGETALL", k);
    case 15:
      return one("HINCRBY", k, f(), g.intArg());
    case 16:
      return one("HINCRBYFLOAT", k, f(), g.floatArg());
    case 17: {
      const c = g.pick(["1", "-3", "0", String(ALL), "abc", "-1"]);
      return one("HRANDFIELD", k, ...(g.chance(0.3) ? [] : g.chance(0.5) ? [c, "WITHVALUES"] : [c]));
    }
    case 18:
      return one("HSCAN", k, "0", ...g.pick<string[]>([[], ["MATCH", "*"], ["MATCH", "a*"], ["COUNT", "100"]]));
    case 19:
      return one("HGET", k);
    case 20:
      return one("SET", k, g.value());
    case 21:
      return one("TYPE", k);
    default:
      return one("DEL", k);
  }
}

/** Commands that create a key of each type, for the generic and mixed families. */
function makeAny(g: G, k: { key: number }, types: string[]): Gen[] {
  switch (g.pick(types)) {
    case "string":
      return one("SET", k, g.value());
    case "hash":
      return one("HSET", k, g.member(), g.value());
    case "list":
      return one("RPUSH", k, ...g.members(1, 3));
    case "set":
      return one("SADD", k, ...g.members(1, 3));
    default:
      return one("ZADD", k, g.pick(["1", "2", "3"]), g.member());
  }
}

function genericCmd(types: string[]) {
  return (g: G): Gen[] => {
    const k = g.key();
    switch (g.int(0, 22)) {
      case 0:
      case 1:
      case 2:
        return makeAny(g, k, types);
      case 3:
        return one(g.pick(["DEL", "UNLINK"]), ...g.keys(0, 3));
      case 4:
        return one(g.pick(["EXISTS", "TOUCH"]), ...g.keys(0, 3));
      case 5:
        return one("TYPE", k);
      case 6:
        return one("EXPIRE", k, g.ttlSeconds(), ...g.pick<string[]>([[], [], ["NX"], ["XX"], ["NX", "XX"], ["BOGUS"]]));
      case 7:
        return one("PEXPIRE", k, g.pick(["100000", "0", "-1", "abc"]), ...g.pick<string[]>([[], ["NX"], ["XX"]]));
      case 8:
        return one("EXPIREAT", k, g.unixSeconds(), ...g.pick<string[]>([[], [], ["GT"], ["LT"], ["NX"], ["XX"], ["GT", "LT"]]));
      case 9:
        return one("PEXPIREAT", k, String(Number(g.unixSeconds()) * 1000 || 5), ...g.pick<string[]>([[], ["GT"], ["LT"]]));
      case 10:
      case 11:
        return one(g.pick(["TTL", "PTTL"]), k);
      case 12:
        return one(g.pick(["EXPIRETIME", "PEXPIRETIME"]), k);
      case 13:
        return one("PERSIST", k);
      case 14:
        return one("RENAME", k, g.key());
      case 15:
        return one("RENAMENX", k, g.key());
      case 16:
        return one("COPY", k, g.key(), ...g.pick<string[]>([[], ["REPLACE"], ["DB", "0"], ["BOGUS"]]));
      case 17:
        return one("EXPIRE", k);
      case 18:
        return one("RENAME", k);
      case 19:
        return one(g.pick(["GET", "HGETALL"]), k);
      case 20:
        return one("EXISTS", k, k);
      case 21:
        return one("ECHO", g.value());
      default:
        return one("TYPE", k);
    }
  };
}

function listCmd(g: G): Gen[] {
  const k = g.key(3);
  switch (g.int(0, 26)) {
    case 0:
    case 1:
    case 2:
      return one(g.pick(["LPUSH", "RPUSH"]), k, ...g.members(1, 3));
    case 3:
      return one(g.pick(["LPUSHX", "RPUSHX"]), k, ...g.members(1, 2));
    case 4:
    case 5:
      return one(g.pick(["LPOP", "RPOP"]), k, ...g.pick<string[]>([[], [], ["0"], ["1"], ["2"], ["10"], ["-1"], ["abc"]]));
    case 6:
      return one("LLEN", k);
    case 7:
    case 8:
      return one("LRANGE", k, g.smallInt(), g.smallInt());
    case 9:
      return one("LINDEX", k, g.smallInt());
    case 10:
      return one("LSET", k, g.smallInt(), g.member());
    case 11:
      return one("LINSERT", k, g.pick(["BEFORE", "AFTER", "before", "MIDDLE"]), g.member(), g.member());
    case 12:
      return one("LREM", k, g.pick(["0", "1", "-1", "2", "-2", "abc"]), g.member());
    case 13:
      return one("LTRIM", k, g.smallInt(), g.smallInt());
    case 14: {
      const opts = g.pick<string[]>([[], ["RANK", "1"], ["RANK", "-1"], ["RANK", "2"], ["RANK", "0"], ["COUNT", "0"], ["COUNT", "2"], ["MAXLEN", "2"], ["RANK", "-2", "COUNT", "0"], ["COUNT", "-1"], ["BOGUS"]]);
      return one("LPOS", k, g.member(), ...opts);
    }
    case 15:
      return one("LMOVE", k, g.key(3), g.pick(["LEFT", "RIGHT"]), g.pick(["LEFT", "RIGHT", "UP"]));
    case 16:
      return one("RPOPLPUSH", k, g.key(3));
    case 17:
      // LMPOP is deliberately not served (src/core/redis/spec.ts UNSUPPORTED): not generated.
      return one("LINDEX", k, "-1");
    case 18:
      return one("LRANGE", k, "0", "-1");
    case 19:
      return one("LPUSH", k);
    case 20:
      return one("TYPE", k);
    case 21:
      return one("SET", k, "x");
    case 22:
      return one("LRANGE", k, "0", "-1");
    case 23:
      return one("EXISTS", k);
    default:
      return one("DEL", k);
  }
}

function setCmd(g: G): Gen[] {
  const k = g.key(3);
  switch (g.int(0, 24)) {
    case 0:
    case 1:
    case 2:
      return one("SADD", k, ...g.members(1, 4));
    case 3:
      return one("SREM", k, ...g.members(1, 3));
    case 4:
      return one("SISMEMBER", k, g.member());
    case 5:
      return one("SMISMEMBER", k, ...g.members(1, 3));
    case 6:
      return one("SCARD", k);
    case 7:
    case 8:
      return one("SMEMBERS", k);
    case 9:
      return one(g.pick(["SUNION", "SINTER", "SDIFF"]), ...g.keys(1, 3));
    case 10:
      return one(g.pick(["SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"]), g.key(3), ...g.keys(1, 3));
    case 11:
      return one("SMOVE", k, g.key(3), g.member());
    case 12: {
      // A pop that may leave members behind differs at random: the key is deleted right after, so both sides go on in step.
      const n = g.pick(["0", "1", "2", String(ALL), "-1", "abc"]);
      if (n === "1" || n === "2") return [["SPOP", k, n], ["DEL", k]];
      return one("SPOP", k, n);
    }
    case 13:
      return [["SPOP", k], ["DEL", k]];
    case 14:
      return one("SRANDMEMBER", k, ...g.pick<string[]>([[], ["1"], ["-3"], ["0"], [String(ALL)], ["abc"]]));
    case 15: {
      const ks = g.keys(1, 3);
      return one("SINTERCARD", g.pick([String(ks.length), "0", "5"]), ...ks, ...g.pick<string[]>([[], ["LIMIT", "1"], ["LIMIT", "0"], ["LIMIT", "-1"]]));
    }
    case 16:
      return one("SSCAN", k, "0", ...g.pick<string[]>([[], ["MATCH", "*"], ["MATCH", "[a-c]"], ["COUNT", "100"]]));
    case 17:
      return one("SADD", k);
    case 18:
      return one("SET", k, "x");
    case 19:
      return one("TYPE", k);
    case 20:
      return one("SMEMBERS", k);
    case 21:
      return one("SADD", k, "1", "2", "3");
    default:
      return one("DEL", k);
  }
}

function zsetCmd(g: G): Gen[] {
  const k = g.key(3);
  const withScores = () => (g.chance(0.4) ? ["WITHSCORES"] : []);
  const limit = () => g.pick<string[]>([[], [], ["LIMIT", "0", "2"], ["LIMIT", "1", "-1"], ["LIMIT", "1", "1"], ["LIMIT", "-1", "2"]]);
  switch (g.int(0, 34)) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const opts = g.pick<string[]>([[], [], [], ["NX"], ["XX"], ["CH"], ["GT"], ["LT"], ["GT", "CH"], ["INCR"], ["NX", "XX"], ["GT", "LT"], ["NX", "GT"], ["XX", "INCR"]]);
      const pairs: string[] = [];
      const n = opts.includes("INCR") ? 1 : g.int(1, 3);
      for (let i = 0; i < n; i++) pairs.push(g.score(), g.member());
      if (g.chance(0.05)) pairs.push(g.member());
      return one("ZADD", k, ...opts, ...pairs);
    }
    case 4:
      return one("ZREM", k, ...g.members(1, 3));
    case 5:
      return one("ZSCORE", k, g.member());
    case 6:
      return one("ZMSCORE", k, ...g.members(1, 3));
    case 7:
      return one("ZINCRBY", k, g.score(), g.member());
    case 8:
      return one("ZCARD", k);
    case 9:
      return one("ZCOUNT", k, g.rangeScore(), g.rangeScore());
    case 10:
    case 11:
      return one("ZRANGE", k, g.smallInt(), g.smallInt(), ...g.pick<string[]>([[], ["REV"], ["BOGUS"]]), ...withScores());
    case 12:
      return one("ZRANGE", k, g.rangeScore(), g.rangeScore(), "BYSCORE", ...g.pick<string[]>([[], ["REV"]]), ...limit(), ...withScores());
    case 13:
      return one("ZRANGE", k, g.lexBound(), g.lexBound(), "BYLEX", ...g.pick<string[]>([[], ["REV"]]), ...limit());
    case 14:
      return one("ZREVRANGE", k, g.smallInt(), g.smallInt(), ...withScores());
    case 15:
      return one(g.pick(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), k, g.rangeScore(), g.rangeScore(), ...withScores(), ...limit());
    case 16:
      return one(g.pick(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), k, g.lexBound(), g.lexBound(), ...limit());
    case 17:
      return one("ZLEXCOUNT", k, g.lexBound(), g.lexBound());
    case 18:
      return one(g.pick(["ZRANK", "ZREVRANK"]), k, g.member());
    case 19:
      return one(g.pick(["ZPOPMIN", "ZPOPMAX"]), k, ...g.pick<string[]>([[], ["1"], ["2"], ["0"], ["-1"], ["abc"]]));
    case 20:
      return one("ZREMRANGEBYRANK", k, g.smallInt(), g.smallInt());
    case 21:
      return one("ZREMRANGEBYSCORE", k, g.rangeScore(), g.rangeScore());
    case 22:
      return one("ZREMRANGEBYLEX", k, g.lexBound(), g.lexBound());
    case 23: {
      const ks = g.keys(1, 3);
      const opts = g.pick<string[]>([[], [], ["WEIGHTS", ...ks.map(() => g.pick(["1", "2", "-1", "0.5"]))], ["AGGREGATE", g.pick(["SUM", "MIN", "MAX", "AVG"])], ["WEIGHTS", "1"]]);
      return one(g.pick(["ZUNIONSTORE", "ZINTERSTORE"]), g.key(3), g.pick([String(ks.length), String(ks.length), "0", "9"]), ...ks, ...opts);
    }
    case 24: {
      const ks = g.keys(1, 3);
      return one(g.pick(["ZUNION", "ZINTER", "ZDIFF"]), String(ks.length), ...ks, ...withScores());
    }
    case 25: {
      const ks = g.keys(1, 3);
      return one("ZDIFFSTORE", g.key(3), String(ks.length), ...ks);
    }
    case 26:
      return one("ZRANGESTORE", g.key(3), k, g.smallInt(), g.smallInt(), ...g.pick<string[]>([[], ["REV"], ["BYSCORE"]]));
    case 27:
      // ZMPOP is deliberately not served (src/core/redis/spec.ts UNSUPPORTED): not generated.
      return one("ZREVRANGE", k, "0", "-1", "WITHSCORES");
    case 28: {
      const c = g.pick(["1", "-3", "0", String(ALL), "abc"]);
      return one("ZRANDMEMBER", k, ...(g.chance(0.3) ? [] : g.chance(0.5) ? [c, "WITHSCORES"] : [c]));
    }
    case 29:
      return one("ZSCAN", k, "0");
    case 30: {
      const ks = g.keys(1, 3);
      return one("ZINTERCARD", String(ks.length), ...ks, ...g.pick<string[]>([[], ["LIMIT", "1"]]));
    }
    case 31:
      return one("ZRANGE", k, "0", "-1", "WITHSCORES");
    case 32:
      return one("SET", k, "x");
    case 33:
      return one("ZADD", k, "1");
    default:
      return one("DEL", k);
  }
}

const SCRIPTS = [
  ["return redis.call('INCR', KEYS[1])", 1],
  ["return redis.call('GET', KEYS[1])", 1],
  ["return redis.call('SET', KEYS[1], ARGV[1])", 1],
  ["return redis.pcall('INCR', KEYS[1])", 1],
  ["local ok = redis.pcall('INCR', KEYS[1]); if type(ok) == 'table' and ok.err then return 'caught' end; return ok", 1],
  ["return {1, 2, 'three', KEYS[1], ARGV[1]}", 1],
  ["return redis.call('EXISTS', KEYS[1], KEYS[2])", 2],
  ["return redis.error_reply('my error')", 0],
  ["return redis.status_reply('FINE')", 0],
  ["return 3.99", 0],
  ["return nil", 0],
  ["return false", 0],
  ["return true", 0],
  ["redis.call('DEL', KEYS[1]); return redis.call('HSET', KEYS[1], 'f', ARGV[1])", 1],
  ["return redis.call('HGET', KEYS[1], 'f')", 1],
  ["return #ARGV", 0],
  ["return tonumber(ARGV[1]) + 1", 0],
] as const;

function scriptCmd(g: G): Gen[] {
  const k = g.key(3);
  switch (g.int(0, 9)) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const [src, n] = g.pick(SCRIPTS);
      const ks = Array.from({ length: n }, () => g.key(3));
      return one("EVAL", src, String(n), ...ks, g.value());
    }
    case 4:
      return one("EVAL", "return redis.call('INCR', KEYS[1])", g.pick(["2", "-1", "abc"]), k);
    case 5:
      return one("SET", k, g.value());
    case 6:
      return one("GET", k);
    case 7:
      return one("HSET", k, "f", g.value());
    case 8:
      return one("EVAL", "return redis.call('NOSUCHCOMMAND')", "0");
    default:
      return one("DEL", k);
  }
}

function bitmapCmd(g: G): Gen[] {
  const k = g.key(3);
  const off = () => g.pick(["0", "1", "7", "8", "15", "23", "100", "-1", "abc"]);
  switch (g.int(0, 11)) {
    case 0:
    case 1:
    case 2:
      return one("SETBIT", k, off(), g.pick(["0", "1", "1", "2", "x"]));
    case 3:
    case 4:
      return one("GETBIT", k, off());
    case 5:
      return one("BITCOUNT", k, ...g.pick<string[]>([[], ["0", "-1"], ["1", "2"], ["0", "0", "BYTE"], ["0", "9", "BIT"], ["-2", "-1", "BIT"], ["0"], ["0", "1", "BOGUS"]]));
    case 6:
      return one("BITPOS", k, g.pick(["0", "1", "2"]), ...g.pick<string[]>([[], ["0"], ["1"], ["0", "-1"], ["2", "3"], ["0", "15", "BIT"], ["1", "1", "BYTE"], ["-1", "-1", "BIT"]]));
    case 7:
      return one("SET", k, g.pick(["", "a", "\u00ff", "abc", "\u0000"]));
    case 8:
      return one("GET", k);
    case 9:
      return one("STRLEN", k);
    case 10:
      return one("HSET", k, "f", "v");
    default:
      return one("DEL", k);
  }
}

function hllCmd(g: G): Gen[] {
  const k = g.key(3);
  switch (g.int(0, 7)) {
    case 0:
    case 1:
    case 2:
      return one("PFADD", k, ...g.members(0, 4));
    case 3:
    case 4:
      return one("PFCOUNT", ...g.keys(1, 3));
    case 5:
      return one("PFMERGE", g.key(3), ...g.keys(0, 2));
    case 6:
      return g.chance(0.5) ? one("SET", k, "x") : one("HSET", k, "f", "x");
    default:
      return one("DEL", k);
  }
}

function mixedCmd(g: G): Gen[] {
  const gens = [stringCmd, hashCmd, listCmd, setCmd, zsetCmd, genericCmd(["string", "hash", "list", "set", "zset"])];
  return g.pick(gens)(g);
}

const FAMILIES: Family[] = [
  { name: "strings", sequences: 2, length: 100, gen: stringCmd },
  { name: "hashes", sequences: 2, length: 100, gen: hashCmd },
  { name: "generic", sequences: 2, length: 100, gen: genericCmd(["string", "hash"]) },
  { name: "lists", sequences: 2, length: 100, gen: listCmd },
  { name: "sets", sequences: 2, length: 100, gen: setCmd },
  { name: "zsets", sequences: 2, length: 100, gen: zsetCmd },
  { name: "scripting", sequences: 1, length: 100, gen: scriptCmd },
  { name: "bitmaps", sequences: 1, length: 100, gen: bitmapCmd },
  { name: "hyperloglog", sequences: 1, length: 100, gen: hllCmd },
  { name: "mixed", sequences: 2, length: 100, gen: mixedCmd },
];

function familySeed(name: string, i: number): number {
  let h = SEED ^ 0x9e3779b9;
  for (const ch of `${name}/${i}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h >>> 0;
}

function generate(f: Family, seed: number): Gen[] {
  const g = new G(mulberry32(seed));
  const gens: Gen[] = [];
  while (gens.length < f.length) gens.push(...f.gen(g));
  return gens;
}

/** Runs one generated sequence; on a difference, shrinks it and returns the report. */
async function check(f: Family, i: number): Promise<string | null> {
  const seed = familySeed(f.name, i);
  const gens = generate(f, seed);
  const first = await runBoth((p) => instantiate(gens, p));
  if (process.env.DIFF_VERBOSE) console.log(`${f.name} #${i}: ${gens.length} commands in ${first.elapsedMs} ms`);
  const at = firstDifference(first);
  if (at < 0) return null;
  // Commands after the first difference cannot matter: shrinking starts from there.
  const cut = gens.slice(0, at + 1);
  const { gens: minimal, run: minRun } = await shrink(cut);
  if (minRun) return report(f.name, seed, minimal, minRun);
  const again = await differs(cut);
  if (again) return report(f.name, seed, cut, again);
  return `${report(f.name, seed, gens, first)}\n(the difference did not come back on a replay)`;
}

// Every sequence of every family starts at once (each sequence is sequential by nature, and our
// server's latency, not its CPU, bounds one), each under its own keys; each family's test awaits its own.
const results = new Map<string, Promise<(string | null)[]>>();
function familyResults(f: Family): Promise<(string | null)[]> {
  let r = results.get(f.name);
  if (!r) {
    r = Promise.all(Array.from({ length: f.sequences }, (_, i) => check(f, i)));
    r.catch(() => undefined); // awaited by the family's test; never an unhandled rejection meanwhile
    results.set(f.name, r);
  }
  return r;
}
const enabled = (f: Family) => !f.skip && (!ONLY || ONLY === f.name);

describe("differential: the same random commands against redis-server and /redis", () => {
  beforeAll(() => {
    for (const f of FAMILIES) if (enabled(f)) void familyResults(f);
  });
  for (const f of FAMILIES) {
    (enabled(f) ? it : it.skip)(`${f.name}: ${f.sequences} sequences of ${f.length} commands agree`, async () => {
      const found = (await familyResults(f)).find((r) => r !== null);
      if (found) expect.fail(found);
    }, 600_000);
  }
});

// No call may end in an exception in the server (test/support/uncaught-guard.ts).
it("our server logged no uncaught exception during the differential runs", () => {
  const unexpected = dev.newUnexpectedExceptions();
  expect(unexpected, summarize(unexpected)).toEqual([]);
});
