/**
 * Set commands (t_set.c semantics, Redis 7.0). A set is one entry; a command copies the members
 * before changing them, and an emptied set is deleted. Members are replied in insertion order
 * (Redis: intsets sorted, small sets of 7.2+ in insertion order, larger ones in hash order; the
 * order is unspecified either way). SPOP and SRANDMEMBER draw from EngineOptions.random. Pure.
 */
import { compileGlob } from "./glob";
import { parseScanArgs, type ScanOptions } from "./keyspace";
import type { Keyspace, Reply } from "./types";
import { ERR_SYNTAX, byteLength, fail, lookupSet, parseInt64, randomBelow, type Context, type Handler, type SetEntry } from "./util";

const LONG_MAX = 9223372036854775807n;

/** Store a set's new members, keeping its TTL; no members deletes the key. */
function putSet(ks: Keyspace, key: string, members: Set<string>, expiresAt: number | null): void {
  ks.set(key, members.size === 0 ? null : { type: "set", members, expiresAt });
}

/** Redis's getRangeLongFromObjectOrReply: an integer in [min, max], else `message` (or the usual texts). */
function rangeArg(text: string, min: bigint, max: bigint, message?: string): bigint {
  const value = parseInt64(text);
  if (value === null) fail(message ?? "ERR value is not an integer or out of range");
  if (value < min || value > max) fail(message ?? `ERR value is out of range, value must between ${min} and ${max}`);
  return value;
}

/** `count` distinct members drawn at random (a partial Fisher-Yates shuffle). */
function drawDistinct(ctx: Context, members: Set<string>, count: number): string[] {
  const pool = [...members];
  const n = Math.min(count, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + randomBelow(ctx, pool.length - i);
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  return pool.slice(0, n);
}

/**
 * The live sets at `keys` (null for an absent key); every key is type-checked, even after an absent
 * one, as Redis does.
 */
function lookupSets(ks: Keyspace, keys: string[], now: number): (SetEntry | null)[] {
  return keys.map((key) => lookupSet(ks, key, now));
}

/** Members of every set, in the first set's order; stops at `limit` members (0 = no limit). */
function intersect(sets: (SetEntry | null)[], limit = 0): Set<string> {
  const out = new Set<string>();
  if (sets.some((s) => s === null)) return out;
  const [first, ...rest] = sets as SetEntry[];
  for (const member of (first as SetEntry).members) {
    if (rest.every((s) => s.members.has(member))) {
      out.add(member);
      if (limit !== 0 && out.size >= limit) break;
    }
  }
  return out;
}

function union(sets: (SetEntry | null)[]): Set<string> {
  const out = new Set<string>();
  for (const s of sets) if (s !== null) for (const member of s.members) out.add(member);
  return out;
}

/** Members of the first set in none of the others. */
function difference(sets: (SetEntry | null)[]): Set<string> {
  const [first, ...rest] = sets;
  const out = new Set<string>();
  if (!first) return out;
  for (const member of first.members) if (!rest.some((s) => s !== null && s.members.has(member))) out.add(member);
  return out;
}

type Combine = (sets: (SetEntry | null)[]) => Set<string>;

/** SINTER / SUNION / SDIFF: the combined members. */
function combine(op: Combine): Handler {
  return (args, ks, now) => [...op(lookupSets(ks, args, now))];
}

/** The STORE forms: the destination is overwritten whatever it held (TTL dropped), or deleted when the result is empty. */
function combineStore(op: Combine): Handler {
  return (args, ks, now) => {
    const result = op(lookupSets(ks, args.slice(1), now));
    putSet(ks, args[0] as string, result, null);
    return result.size;
  };
}

/** SINTERCARD numkeys key [key ...] [LIMIT limit]. */
function sintercardCommand(args: string[], ks: Keyspace, now: number): Reply {
  const numkeys = Number(rangeArg(args[0] as string, 1n, LONG_MAX, "ERR numkeys should be greater than 0"));
  if (numkeys > args.length - 1) fail("ERR Number of keys can't be greater than number of args");
  let limit = 0;
  for (let i = 1 + numkeys; i < args.length; i++) {
    if ((args[i] as string).toLowerCase() === "limit" && i + 1 < args.length) {
      limit = Number(rangeArg(args[++i] as string, 0n, LONG_MAX, "ERR LIMIT can't be negative"));
    } else fail(ERR_SYNTAX);
  }
  return intersect(lookupSets(ks, args.slice(1, 1 + numkeys), now), limit).size;
}

/** SPOP key [count]: one random member removed (nil if none), or with a count up to count of them (an array). */
function spopCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  if (args.length > 2) fail(ERR_SYNTAX);
  const key = args[0] as string;
  const count = args.length === 2 ? Number(rangeArg(args[1] as string, 0n, LONG_MAX, "ERR value is out of range, must be positive")) : null;
  const current = lookupSet(ks, key, now);
  if (current === null) return count === null ? null : [];
  if (count === 0) return [];
  const taken = drawDistinct(ctx, current.members, count ?? 1);
  const members = new Set(current.members);
  for (const member of taken) members.delete(member);
  putSet(ks, key, members, current.expiresAt);
  return count === null ? (taken[0] as string) : taken;
}

/**
 * SRANDMEMBER key [count]: a random member, or up to count distinct ones, or with a negative count
 * exactly -count draws that may repeat. A repeating reply is refused once it would pass the largest
 * value one key may hold (ctx.maxValueBytes, counting each member's bytes plus 3 for its JSON quotes
 * and comma): Redis would build it whatever its size.
 */
function srandmemberCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  if (args.length > 2) fail(ERR_SYNTAX);
  const key = args[0] as string;
  const count = args.length === 2 ? rangeArg(args[1] as string, -LONG_MAX, LONG_MAX) : null;
  const current = lookupSet(ks, key, now);
  if (current === null) return count === null ? null : [];
  if (count === null) return drawDistinct(ctx, current.members, 1)[0] as string;
  if (count >= 0n) return drawDistinct(ctx, current.members, Number(count));
  const pool = [...current.members];
  const out: string[] = [];
  let bytes = 0;
  for (let n = -count; n > 0n; n--) {
    const member = pool[randomBelow(ctx, pool.length)] as string;
    bytes += byteLength(member) + 3;
    if (bytes > ctx.maxValueBytes) {
      fail(`ERR SRANDMEMBER count ${count} asks for a reply over ${ctx.maxValueBytes} bytes (this server's limit on one reply: the largest value one key holds)`);
    }
    out.push(member);
  }
  return out;
}

/** SSCAN's options: HSCAN's but for NOVALUES, which is a syntax error where it stands. */
function setScanOptions(args: string[]): ScanOptions {
  for (let i = 1; i < args.length; i += 2) {
    const opt = (args[i] as string).toLowerCase();
    if (opt === "novalues") {
      parseScanArgs(args.slice(0, i), "hash"); // the options before it answer their own errors first
      fail(ERR_SYNTAX);
    }
    if (opt !== "count" && opt !== "match") break;
  }
  return parseScanArgs(args, "hash");
}

/** SSCAN key cursor [MATCH p] [COUNT n]: a set is small and one entry, so one call returns it all (cursor "0"), as Redis does for intset-encoded sets; HSCAN does the same. */
function sscanCommand(args: string[], ks: Keyspace, now: number): Reply {
  parseScanArgs(args.slice(1, 2), "hash"); // Redis checks the cursor, then the key, then the options
  const current = lookupSet(ks, args[0] as string, now);
  const out: Reply[] = [];
  if (current !== null) {
    const options = setScanOptions(args.slice(1));
    const matches = options.match === null ? null : compileGlob(options.match);
    for (const member of current.members) if (matches === null || matches(member)) out.push(member);
  }
  return ["0", out];
}

export const setsCommands: Record<string, Handler> = {
  sadd: (args, ks, now) => {
    const key = args[0] as string;
    const current = lookupSet(ks, key, now);
    const members = new Set(current?.members);
    for (const member of args.slice(1)) members.add(member);
    const added = members.size - (current?.members.size ?? 0);
    if (added > 0) putSet(ks, key, members, current?.expiresAt ?? null);
    return added;
  },
  srem: (args, ks, now) => {
    const key = args[0] as string;
    const current = lookupSet(ks, key, now);
    if (current === null) return 0;
    const members = new Set(current.members);
    for (const member of args.slice(1)) members.delete(member);
    const removed = current.members.size - members.size;
    if (removed > 0) putSet(ks, key, members, current.expiresAt);
    return removed;
  },
  smembers: (args, ks, now) => [...(lookupSet(ks, args[0] as string, now)?.members ?? [])],
  sismember: (args, ks, now) => (lookupSet(ks, args[0] as string, now)?.members.has(args[1] as string) ? 1 : 0),
  smismember: (args, ks, now) => {
    const current = lookupSet(ks, args[0] as string, now);
    return args.slice(1).map((member) => (current?.members.has(member) ? 1 : 0));
  },
  scard: (args, ks, now) => lookupSet(ks, args[0] as string, now)?.members.size ?? 0,
  spop: spopCommand,
  srandmember: srandmemberCommand,
  smove: (args, ks, now) => {
    const [source, destination, member] = args as [string, string, string];
    const src = lookupSet(ks, source, now);
    if (src === null) return 0;
    const dst = lookupSet(ks, destination, now);
    if (source === destination) return src.members.has(member) ? 1 : 0;
    if (!src.members.has(member)) return 0;
    const remaining = new Set(src.members);
    remaining.delete(member);
    putSet(ks, source, remaining, src.expiresAt);
    if (!dst?.members.has(member)) putSet(ks, destination, new Set(dst?.members).add(member), dst?.expiresAt ?? null);
    return 1;
  },
  sinter: combine(intersect),
  sintercard: sintercardCommand,
  sunion: combine(union),
  sdiff: combine(difference),
  sinterstore: combineStore(intersect),
  sunionstore: combineStore(union),
  sdiffstore: combineStore(difference),
  sscan: sscanCommand,
};
