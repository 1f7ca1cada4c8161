/**
 * EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: Lua scripts run by the engine (lua-vm.ts), with
 * Redis 7's rules and texts. A script runs as one command on the keys it declares, so it is atomic
 * like any command: its redis.call's run on the same snapshot at the same time, and what it wrote
 * commits with it or not at all.
 */
import { parseScan } from "./keyspace";
import { SCRIPT_TIME_LIMIT_MS, ScriptInterrupt, runLua, type StatusReply } from "./lua-vm";
import { sha1Hex } from "./sha1";
import { commandSpec, isUnsupportedCommand, keysOf } from "./spec";
import { RedisError, type Entry, type Keyspace, type Reply } from "./types";
import { ERR_NOT_INTEGER, fail, parseInt64, type Context, type Handler } from "./util";

/** Scripts an isolate keeps for EVALSHA (least recently used dropped first). */
export const SCRIPT_CACHE_LIMIT = 1_000;
/** The most script text one isolate's cache holds (characters): 300 distinct 1 MiB scripts held 306 MB (review). */
export const SCRIPT_CACHE_CHARS = 16 * 1024 * 1024;

/** A script cache bounded to `limit` scripts: reading or adding one makes it the most recent. */
export class ScriptCache extends Map<string, string> {
  /** The cached sources' total length: bounded too, since a script may be as long as a value (1 MiB). */
  private chars = 0;
  constructor(
    private readonly limit = SCRIPT_CACHE_LIMIT,
    private readonly charLimit = SCRIPT_CACHE_CHARS,
  ) {
    super();
  }
  override delete(sha: string): boolean {
    const source = super.get(sha);
    if (source !== undefined) this.chars -= source.length;
    return super.delete(sha);
  }
  override clear(): void {
    this.chars = 0;
    super.clear();
  }
  override get(sha: string): string | undefined {
    const source = super.get(sha);
    if (source !== undefined) {
      super.delete(sha);
      super.set(sha, source);
    }
    return source;
  }
  override set(sha: string, source: string): this {
    this.delete(sha);
    super.set(sha, source);
    this.chars += source.length;
    while (this.size > this.limit || (this.chars > this.charLimit && this.size > 1)) this.delete(this.keys().next().value as string);
    return this;
  }
}

/** SCAN steps one script may take in one run (each is a walk step the service fetches, then a replay of the script). */
export const MAX_SCRIPT_SCAN_STEPS = 100;

/**
 * What one request's scripts have used: they share SCRIPT_TIME_LIMIT_MS of running time and
 * MAX_SCRIPT_SCAN_STEPS SCAN steps, so a pipeline or MULTI of many scripts cannot hold the isolate
 * for each one's limit in turn (1,000 × `while true do end` was 750 s; review).
 */
export interface ScriptUse {
  usedMs: number;
  scanSteps: number;
}

/**
 * What the service answers for a SCAN a script asked for: the reply SCAN gives, or an error, which
 * the script sees as redis.call's error, or (`stop`) which ends the script, nothing it wrote applied.
 */
export type ScanAnswer = Reply | { error: string; stop?: boolean };

/** SCAN replies already fetched for scripts of one request, by their arguments (`scanMemoKey`). */
export type ScanMemo = Map<string, ScanAnswer>;

/** The memo's key for SCAN's arguments (cursor first). */
export function scanMemoKey(args: readonly string[]): string {
  return JSON.stringify(args);
}

/**
 * Thrown (through the VM, uncatchable) when a script calls SCAN whose reply is not in the memo: the
 * service fetches that step, stores it, and runs the whole attempt again from the start. Not a RedisError.
 */
export class NeedScan extends ScriptInterrupt {
  constructor(readonly args: string[]) {
    super(`a script needs SCAN ${args.join(" ")}`);
  }
}

/** A memo answer that ends the script (a limit passed). */
class ScanStop extends ScriptInterrupt {}

/** The keys a SCAN reply lists (WITHTYPE: every other element). */
export function scanReplyKeys(args: string[], reply: Reply): string[] {
  if (!Array.isArray(reply) || !Array.isArray(reply[1])) return [];
  const items = reply[1].filter((k): k is string => typeof k === "string");
  return parseScan(args).withType === true ? items.filter((_, i) => i % 2 === 0) : items;
}

const NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL.";
/** Shebang flags Redis 7 knows; allow-key-locking is newer than 7.0 but sent by @upstash/ratelimit, as Upstash accepts it. */
const FLAGS = new Set(["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys", "allow-key-locking"]);
/** Commands whose reply is always an integer (those that can pass 2^53: counters and expiry times). */
const INTEGER_REPLIES = new Set(["incr", "incrby", "decr", "decrby", "hincrby", "ttl", "pttl", "expiretime", "pexpiretime"]);
/** Commands a script may not call (besides whole-keyspace ones but SCAN). */
const NOT_FROM_SCRIPT = new Set(["eval", "evalsha", "eval_ro", "evalsha_ro", "script"]);
/** Commands whose string reply is a status (+OK), which Lua sees as {ok = ...}. */
const STATUS_REPLIES = new Set(["set", "setex", "psetex", "mset", "hmset", "rename", "lset", "ltrim", "type", "pfmerge", "ping"]);

interface Parsed {
  body: string;
  readOnly: boolean;
}

/** A script's shebang (`#!lua flags=no-writes,...`): its flags, and the body with that line blanked so line numbers hold. */
function parseScript(source: string): Parsed {
  if (!source.startsWith("#!")) return { body: source, readOnly: false };
  const eol = source.indexOf("\n");
  const line = eol < 0 ? source : source.slice(0, eol);
  const [engine, ...parts] = line.split(" ").filter((p) => p !== "");
  if (engine !== "#!lua") fail(`ERR Unexpected engine in script shebang: ${engine ?? line}`);
  let readOnly = false;
  for (const part of parts) {
    if (!part.startsWith("flags=")) fail(`ERR Unknown lua shebang option: ${part}`);
    for (const flag of part.slice("flags=".length).split(",")) {
      if (flag === "") continue;
      if (!FLAGS.has(flag)) fail(`ERR Unexpected flag in script shebang: ${flag}`);
      if (flag === "no-writes") readOnly = true;
    }
  }
  return { body: eol < 0 ? "" : source.slice(eol), readOnly };
}

function cacheOf(ctx: Context): Map<string, string> | null {
  return ctx.options.scripts ?? null;
}

/** EVAL and friends: `script|sha numkeys key... arg...`. */
function evalCommand(byHash: boolean, readOnlyCommand: boolean): Handler {
  return (args, ks, now, ctx) => {
    const [first, numkeysText] = args as [string, string];
    const numkeys = parseInt64(numkeysText);
    if (numkeys === null) fail(ERR_NOT_INTEGER);
    if (numkeys > BigInt(args.length - 2)) fail("ERR Number of keys can't be greater than number of args");
    if (numkeys < 0n) fail("ERR Number of keys can't be negative");
    const keys = args.slice(2, 2 + Number(numkeys));
    const argv = args.slice(2 + Number(numkeys));
    let source: string;
    let sha: string;
    if (byHash) {
      sha = first.toLowerCase();
      const found = sha.length === 40 ? cacheOf(ctx)?.get(sha) : undefined;
      if (found === undefined) fail(NOSCRIPT);
      source = found;
    } else {
      source = first;
      sha = sha1Hex(source);
    }
    const parsed = parseScript(source);
    if (!byHash) cacheOf(ctx)?.set(sha, source);
    return runScript(parsed, sha, keys, argv, readOnlyCommand || parsed.readOnly, ks, now, ctx);
  };
}

function runScript(parsed: Parsed, sha: string, keys: string[], argv: string[], readOnly: boolean, ks: Keyspace, _now: number, ctx: Context): Reply {
  // The keys the script may use: KEYS, then every key a SCAN of this run returned.
  const declared = new Set(keys);
  // What those keys held before: a script stopped by its budget leaves them as they were.
  const before = new Map<string, Entry | null>([...declared].map((k) => [k, ks.get(k)]));
  const scan = (args: string[]): Reply => {
    parseScan(args); // its syntax errors are the script's ordinary errors, before any fetch
    const answer = ctx.options.scans?.get(scanMemoKey(args));
    if (answer === undefined) throw new NeedScan(args);
    if (answer !== null && typeof answer === "object" && !Array.isArray(answer)) {
      if (answer.stop === true) throw new ScanStop(answer.error);
      fail(answer.error);
    }
    // The walk was read before the snapshot, and earlier commands of the unit may have written since:
    // a key is answered only if it is there now (of the TYPE asked), as a SCAN at this point would.
    const options = parseScan(args);
    const found: [string, string][] = [];
    for (const key of scanReplyKeys(args, answer)) {
      const type = ctx.call({ name: "type", args: [key] });
      if (type === "none" || (options.type !== null && type !== options.type)) continue;
      found.push([key, String(type)]);
      if (declared.has(key)) continue;
      declared.add(key);
      before.set(key, ks.get(key));
    }
    const cursor = (answer as Reply[])[0]!;
    return [cursor, options.withType === true ? found.flat() : found.map(([k]) => k)];
  };
  const call = (words: string[]): Reply | StatusReply => {
    const name = words[0]!.toLowerCase();
    const args = words.slice(1);
    const spec = commandSpec(name);
    if (spec === null && !isUnsupportedCommand(name)) fail("ERR Unknown Redis command called from script");
    if (spec !== null) {
      if (spec.arity >= 0 ? words.length !== spec.arity : words.length < -spec.arity) fail("ERR Wrong number of args calling Redis command from script");
      // SCAN is answered from what the service fetched for this request (deterministic replay, see NeedScan).
      if (name === "scan") return scan(args);
      if (spec.keyspace || NOT_FROM_SCRIPT.has(name)) fail("ERR This Redis command is not allowed from script");
      if (readOnly && !spec.readOnly) fail("ERR Write commands are not allowed from read-only scripts.");
      // Only the declared keys were read for this script, and only they commit with it (Redis Cluster's rule).
      for (const key of keysOf({ name, args })) {
        if (!declared.has(key)) fail("ERR Script attempted to access a non local key in a cluster node");
      }
    }
    const reply = ctx.call({ name, args });
    // An integer past 2^53 is a decimal string in the engine's replies (JSON would round it); these
    // commands only ever answer integers, so Lua gets it as a number, as Redis gives it (a double).
    if (typeof reply === "string" && INTEGER_REPLIES.has(name) && /^-?[0-9]+$/.test(reply)) return Number(reply);
    if (typeof reply === "string" && STATUS_REPLIES.has(name) && !(name === "set" && args.slice(2).some((a) => a.toLowerCase() === "get"))) return { ok: reply };
    return reply;
  };
  const clock = ctx.options.clock ?? (() => 0);
  const restore = () => {
    for (const [key, entry] of before) if (ks.get(key) !== entry) ks.set(key, entry);
  };
  let outcome: ReturnType<typeof runLua>;
  try {
    const use = ctx.options.scriptUse;
    const timeLimitMs = SCRIPT_TIME_LIMIT_MS - (use?.usedMs ?? 0);
    if (timeLimitMs <= 0) fail(`ERR this request's scripts have run their ${SCRIPT_TIME_LIMIT_MS} ms (SCRIPT_TIME_LIMIT_MS): the script did not run; send it in another request`);
    const started = clock();
    try {
      outcome = runLua({ body: parsed.body, sha, keys, argv, call, clock, timeLimitMs, maxStringBytes: ctx.maxValueBytes, ...(ctx.options.scriptSeed === undefined ? {} : { seed: ctx.options.scriptSeed }) });
    } finally {
      if (use !== undefined) use.usedMs += clock() - started;
    }
  } catch (err) {
    if (!(err instanceof ScriptInterrupt)) throw err;
    restore();
    if (err instanceof ScanStop) throw new RedisError(`${err.message}; nothing the script wrote was applied script: ${sha}`);
    throw err;
  }
  if ("reply" in outcome) return outcome.reply;
  if (outcome.killed) restore();
  // Otherwise, as in Redis, what the script wrote before its error stays written.
  throw new RedisError(outcome.error);
}

function scriptCommand(args: string[], _ks: Keyspace, _now: number, ctx: Context): Reply {
  const sub = args[0]!.toLowerCase();
  const rest = args.slice(1);
  const arity = () => fail(`ERR wrong number of arguments for 'script|${sub}' command`);
  const cache = cacheOf(ctx);
  switch (sub) {
    case "load": {
      if (rest.length !== 1) arity();
      const source = rest[0]!;
      const sha = sha1Hex(source);
      const parsed = parseScript(source);
      // Compiled (not run) so a syntax error is answered now, as Redis does.
      const compiled = runLua({ body: parsed.body, sha, keys: [], argv: [], call: () => null, clock: () => 0, maxStringBytes: 0, compileOnly: true });
      if ("error" in compiled) fail(compiled.error);
      cache?.set(sha, source);
      return sha;
    }
    case "exists":
      if (rest.length < 1) arity();
      return rest.map((sha) => (cache?.has(sha.toLowerCase()) ? 1 : 0));
    case "flush":
      if (rest.length > 1 || (rest.length === 1 && !/^(a?sync)$/i.test(rest[0]!))) fail("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
      cache?.clear();
      return "OK";
    case "kill":
      if (rest.length !== 0) arity();
      return fail("NOTBUSY No scripts in execution right now.");
    case "help":
      return [
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Print this help.",
      ];
    default:
      return fail(`ERR unknown subcommand '${args[0]}'. Try SCRIPT HELP.`);
  }
}

export const scriptingCommands: Record<string, Handler> = {
  eval: evalCommand(false, false),
  evalsha: evalCommand(true, false),
  eval_ro: evalCommand(false, true),
  evalsha_ro: evalCommand(true, true),
  script: scriptCommand,
};
