/**
 * Sorted-set commands (t_zset.c semantics, Redis 7.0, RESP2 replies: scores as "%.17g" strings).
 * A sorted set is one entry (member -> score); its order, by score then member bytes, is computed
 * once per Map and cached (entries are never changed in place, so a Map's order never goes stale).
 * An emptied sorted set is deleted. Pure.
 */
import { compileGlob } from "./glob";
import { parseScanArgs } from "./keyspace";
import {
  compareLexBounds,
  compareMembers,
  compareToLexBound,
  formatScore,
  parseLexBound,
  parseScore,
  parseScoreBound,
  type LexBound,
  type ScoreBound,
} from "./score";
import type { Entry, Keyspace, Reply } from "./types";
import {
  ERR_NOT_FLOAT,
  ERR_SYNTAX,
  ERR_WRONGTYPE,
  arityError,
  fail,
  int64Arg,
  lookup,
  lookupZset,
  parseInt64,
  randomBelow,
  type Context,
  type Handler,
  type ZsetEntry,
} from "./util";

/** [member, score] */
type Item = [string, number];

const ERR_RANGE_FLOAT = "ERR min or max is not a float";
const ERR_RANGE_LEX = "ERR min or max not valid string range item";
const ERR_NAN_SCORE = "ERR resulting score is not a number (NaN)";
const ERR_POSITIVE = "ERR value is out of range, must be positive";
/** ZRANDMEMBER with a negative count repeats members: a reply longer than this is refused (Redis has no limit). */
export const ZRANDMEMBER_MAX_REPEATS = 100_000;

function compareItems(a: Item, b: Item): number {
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : compareMembers(a[0], b[0]);
}

const ORDER = new WeakMap<Map<string, number>, Item[]>();

/** The members of a sorted set in order (score, then member bytes); cached per Map. */
function sortedItems(scores: Map<string, number>): Item[] {
  let items = ORDER.get(scores);
  if (items === undefined) {
    items = [...scores];
    items.sort(compareItems);
    ORDER.set(scores, items);
  }
  return items;
}

/** Redis stores -0 as 0 in small sorted sets (listpack): so do we. */
const stored = (score: number): number => (score === 0 ? 0 : score);

/** Store ordered items as the key's sorted set (deleted when empty). */
function storeItems(ks: Keyspace, key: string, items: Item[], expiresAt: number | null): void {
  if (items.length === 0) {
    ks.set(key, null);
    return;
  }
  const scores = new Map<string, number>();
  for (const [member, score] of items) scores.set(member, score);
  ORDER.set(scores, items);
  ks.set(key, { type: "zset", scores, expiresAt });
}

/** Store a changed copy of a sorted set: `changed` names the members added, removed or rescored. */
function storeChanged(ks: Keyspace, key: string, old: ZsetEntry | null, scores: Map<string, number>, changed: Set<string>): void {
  if (scores.size === 0) {
    ks.set(key, null);
    return;
  }
  const fresh: Item[] = [];
  for (const member of changed) {
    const score = scores.get(member);
    if (score !== undefined) fresh.push([member, score]);
  }
  fresh.sort(compareItems);
  const kept = old === null ? [] : sortedItems(old.scores).filter((item) => !changed.has(item[0]));
  const merged: Item[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length || j < fresh.length) {
    if (j >= fresh.length || (i < kept.length && compareItems(kept[i] as Item, fresh[j] as Item) < 0)) merged.push(kept[i++] as Item);
    else merged.push(fresh[j++] as Item);
  }
  ORDER.set(scores, merged);
  ks.set(key, { type: "zset", scores, expiresAt: old?.expiresAt ?? null });
}

function itemsReply(items: Item[], withScores: boolean): Reply[] {
  if (!withScores) return items.map((item) => item[0]);
  const out: Reply[] = [];
  for (const [member, score] of items) out.push(member, formatScore(score));
  return out;
}

// ---------------------------------------------------------------- ZADD / ZINCRBY

function zaddGeneric(args: string[], ks: Keyspace, now: number, incrCommand: boolean): Reply {
  const key = args[0] as string;
  let nx = false,
    xx = false,
    gt = false,
    lt = false,
    ch = false,
    incr = incrCommand;
  let idx = 1;
  for (; idx < args.length; idx++) {
    const opt = (args[idx] as string).toLowerCase();
    if (opt === "nx") nx = true;
    else if (opt === "xx") xx = true;
    else if (opt === "ch") ch = true;
    else if (opt === "incr") incr = true;
    else if (opt === "gt") gt = true;
    else if (opt === "lt") lt = true;
    else break;
  }
  const rest = args.length - idx;
  if (rest === 0 || rest % 2 !== 0) fail(ERR_SYNTAX);
  if (nx && xx) fail("ERR XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt)) fail("ERR GT, LT, and/or NX options at the same time are not compatible");
  if (incr && rest > 2) fail("ERR INCR option supports a single increment-element pair");
  const pairs: Item[] = [];
  for (let i = idx; i < args.length; i += 2) {
    const score = parseScore(args[i] as string);
    if (score === null) fail(ERR_NOT_FLOAT);
    pairs.push([args[i + 1] as string, score]);
  }
  const current = lookupZset(ks, key, now);
  if (current === null && xx) return incr ? null : 0;
  // Changes are collected first: the copy of a large set is only made when something changes.
  const pending = new Map<string, number>();
  const scoreOf = (member: string): number | undefined => pending.get(member) ?? current?.scores.get(member);
  let added = 0;
  let updated = 0;
  let processed = 0;
  let last = 0;
  for (const [member, input] of pairs) {
    let score = input;
    const old = scoreOf(member);
    if (old !== undefined) {
      if (nx) continue;
      if (incr) {
        score += old;
        if (Number.isNaN(score)) fail(ERR_NAN_SCORE);
      }
      if ((lt && score >= old) || (gt && score <= old)) continue;
      processed++;
      last = score;
      if (score !== old) {
        pending.set(member, stored(score));
        updated++;
      }
    } else if (!xx) {
      pending.set(member, stored(score));
      added++;
      processed++;
      last = score;
    }
  }
  if (pending.size > 0) {
    const scores = new Map(current?.scores);
    for (const [member, score] of pending) scores.set(member, score);
    storeChanged(ks, key, current, scores, new Set(pending.keys()));
  }
  if (incr) return processed > 0 ? formatScore(last) : null;
  return ch ? added + updated : added;
}

// ---------------------------------------------------------------- ranges

function parseScoreRange(minText: string, maxText: string): { min: ScoreBound; max: ScoreBound } {
  const min = parseScoreBound(minText);
  const max = parseScoreBound(maxText);
  if (min === null || max === null) fail(ERR_RANGE_FLOAT);
  return { min, max };
}

function parseLexRange(minText: string, maxText: string): { min: LexBound; max: LexBound } {
  const min = parseLexBound(minText);
  const max = parseLexBound(maxText);
  if (min === null || max === null) fail(ERR_RANGE_LEX);
  return { min, max };
}

const gteMin = (score: number, r: { min: ScoreBound }): boolean => (r.min.exclusive ? score > r.min.value : score >= r.min.value);
const lteMax = (score: number, r: { max: ScoreBound }): boolean => (r.max.exclusive ? score < r.max.value : score <= r.max.value);

function lexGteMin(member: string, min: LexBound): boolean {
  const cmp = compareToLexBound(member, min);
  return min.kind === "value" && min.exclusive ? cmp > 0 : min.kind === "min" ? true : min.kind === "max" ? false : cmp >= 0;
}

function lexLteMax(member: string, max: LexBound): boolean {
  const cmp = compareToLexBound(member, max);
  return max.kind === "value" && max.exclusive ? cmp < 0 : max.kind === "max" ? true : max.kind === "min" ? false : cmp <= 0;
}

/** First index with score >= / > min (scores are sorted). */
function lowerIndex(items: Item[], r: { min: ScoreBound }): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (gteMin((items[mid] as Item)[1], r)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** One past the last index with score <= / < max. */
function upperIndex(items: Item[], r: { max: ScoreBound }): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lteMax((items[mid] as Item)[1], r)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** [from, to) of the items in a score range. */
function scoreSpan(items: Item[], r: { min: ScoreBound; max: ScoreBound }): [number, number] {
  const from = lowerIndex(items, r);
  const to = upperIndex(items, r);
  return to > from ? [from, to] : [0, 0];
}

/**
 * [from, to) of the items in a lex range, found as Redis's listpack code finds it (it assumes equal
 * scores; with mixed scores it takes the first run): the first member >= min, then while <= max.
 */
function lexSpan(items: Item[], r: { min: LexBound; max: LexBound }): [number, number] {
  const cmp = compareLexBounds(r.min, r.max);
  const minEx = r.min.kind === "value" ? r.min.exclusive : true;
  const maxEx = r.max.kind === "value" ? r.max.exclusive : true;
  if (cmp > 0 || (cmp === 0 && (minEx || maxEx))) return [0, 0];
  if (items.length === 0) return [0, 0];
  if (!lexGteMin((items[items.length - 1] as Item)[0], r.min) || !lexLteMax((items[0] as Item)[0], r.max)) return [0, 0];
  let from = 0;
  while (from < items.length && !lexGteMin((items[from] as Item)[0], r.min)) from++;
  let to = from;
  while (to < items.length && lexLteMax((items[to] as Item)[0], r.max)) to++;
  return [from, to];
}

/** The reverse walk of a lex range: the last member <= max from the tail, then back while >= min; returned in reverse order. */
function lexSpanReverse(items: Item[], r: { min: LexBound; max: LexBound }): Item[] {
  const cmp = compareLexBounds(r.min, r.max);
  const minEx = r.min.kind === "value" ? r.min.exclusive : true;
  const maxEx = r.max.kind === "value" ? r.max.exclusive : true;
  if (cmp > 0 || (cmp === 0 && (minEx || maxEx))) return [];
  if (items.length === 0) return [];
  if (!lexGteMin((items[items.length - 1] as Item)[0], r.min) || !lexLteMax((items[0] as Item)[0], r.max)) return [];
  let last = items.length - 1;
  while (last >= 0 && !lexLteMax((items[last] as Item)[0], r.max)) last--;
  const out: Item[] = [];
  for (let i = last; i >= 0 && lexGteMin((items[i] as Item)[0], r.min); i--) out.push(items[i] as Item);
  return out;
}

/** Rank range (start, end; negatives count from the end) as [from, to), or null when empty. */
function rankSpan(length: number, startArg: bigint, endArg: bigint): [number, number] | null {
  const clamp = (v: bigint): number => Number(v > 1n << 60n ? 1n << 60n : v < -(1n << 60n) ? -(1n << 60n) : v);
  let start = clamp(startArg);
  let end = clamp(endArg);
  if (start < 0) start = length + start;
  if (end < 0) end = length + end;
  if (start < 0) start = 0;
  if (start > end || start >= length) return null;
  if (end >= length) end = length - 1;
  return [start, end + 1];
}

/** Apply LIMIT offset count to a walk (negative offset: nothing; negative count: all). */
function applyLimit(walk: Item[], offset: number, count: number): Item[] {
  if (offset < 0) return [];
  return count < 0 ? walk.slice(offset) : walk.slice(offset, offset + count);
}

type RangeType = "auto" | "rank" | "score" | "lex";

/** ZRANGE and its older forms; `store` is ZRANGESTORE's destination. args start at the source key. */
function zrangeGeneric(args: string[], ks: Keyspace, now: number, rangeType: RangeType, reverseFixed: boolean | null, store: string | null): Reply {
  const key = args[0] as string;
  let minText = args[1] as string;
  let maxText = args[2] as string;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  let hasLimit = false;
  let reverse = reverseFixed;
  let type = rangeType;
  for (let j = 3; j < args.length; j++) {
    const opt = (args[j] as string).toLowerCase();
    const left = args.length - j - 1;
    if (store === null && opt === "withscores") withScores = true;
    else if (opt === "limit" && left >= 2) {
      offset = Number(int64Arg(args[j + 1] as string));
      limit = Number(int64Arg(args[j + 2] as string));
      hasLimit = limit !== -1;
      j += 2;
    } else if (reverseFixed === null && opt === "rev") {
      if (reverse === true) fail(ERR_SYNTAX);
      reverse = true;
    } else if (rangeType === "auto" && opt === "bylex" && type === "auto") type = "lex";
    else if (rangeType === "auto" && opt === "byscore" && type === "auto") type = "score";
    else fail(ERR_SYNTAX);
  }
  const rev = reverse === true;
  if (type === "auto") type = "rank";
  if (hasLimit && type === "rank") fail("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  if (withScores && type === "lex") fail("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  if (rev && type !== "rank") [minText, maxText] = [maxText, minText];
  let rank: [bigint, bigint] | null = null;
  let scoreRange: { min: ScoreBound; max: ScoreBound } | null = null;
  let lexRange: { min: LexBound; max: LexBound } | null = null;
  if (type === "rank") rank = [int64Arg(minText), int64Arg(maxText)];
  else if (type === "score") scoreRange = parseScoreRange(minText, maxText);
  else lexRange = parseLexRange(minText, maxText);

  const current = lookupZset(ks, key, now);
  let result: Item[] = [];
  if (current !== null) {
    const items = sortedItems(current.scores);
    if (rank !== null) {
      const span = rankSpan(items.length, rank[0], rank[1]);
      if (span !== null) {
        const n = items.length;
        result = rev ? items.slice(n - span[1], n - span[0]).reverse() : items.slice(span[0], span[1]);
      }
    } else if (scoreRange !== null) {
      if (!(offset > 0 && offset >= items.length)) {
        const [from, to] = scoreSpan(items, scoreRange);
        const walk = rev ? items.slice(from, to).reverse() : items.slice(from, to);
        result = applyLimit(walk, offset, limit);
      }
    } else if (lexRange !== null) {
      const walk = rev ? lexSpanReverse(items, lexRange) : items.slice(...lexSpan(items, lexRange));
      result = applyLimit(walk, offset, limit);
    }
  }
  if (store !== null) {
    storeItems(
      ks,
      store,
      result.map(([m, s]): Item => [m, stored(s)]).sort(compareItems),
      null,
    );
    return result.length;
  }
  return itemsReply(result, withScores);
}

// ---------------------------------------------------------------- removals

function zremrangeGeneric(args: string[], ks: Keyspace, now: number, type: "rank" | "score" | "lex"): Reply {
  const [key, minText, maxText] = args as [string, string, string];
  let rank: [bigint, bigint] | null = null;
  let scoreRange: { min: ScoreBound; max: ScoreBound } | null = null;
  let lexRange: { min: LexBound; max: LexBound } | null = null;
  if (type === "rank") rank = [int64Arg(minText), int64Arg(maxText)];
  else if (type === "score") scoreRange = parseScoreRange(minText, maxText);
  else lexRange = parseLexRange(minText, maxText);
  const current = lookupZset(ks, key, now);
  if (current === null) return 0;
  const items = sortedItems(current.scores);
  let span: [number, number] | null;
  if (rank !== null) span = rankSpan(items.length, rank[0], rank[1]);
  else if (scoreRange !== null) span = scoreSpan(items, scoreRange);
  else span = lexSpan(items, lexRange as { min: LexBound; max: LexBound });
  if (span === null || span[1] <= span[0]) return 0;
  storeItems(ks, key, [...items.slice(0, span[0]), ...items.slice(span[1])], current.expiresAt);
  return span[1] - span[0];
}

function zpopGeneric(args: string[], ks: Keyspace, now: number, max: boolean): Reply {
  if (args.length > 2) fail(ERR_SYNTAX);
  let count = 1;
  if (args.length === 2) {
    const parsed = parseInt64(args[1] as string);
    if (parsed === null || parsed < 0n) fail(ERR_POSITIVE);
    count = parsed > 1n << 53n ? Number.MAX_SAFE_INTEGER : Number(parsed);
  }
  const key = args[0] as string;
  const current = lookupZset(ks, key, now);
  if (current === null || count === 0) return [];
  const items = sortedItems(current.scores);
  const n = Math.min(count, items.length);
  const popped = max ? items.slice(items.length - n).reverse() : items.slice(0, n);
  const left = max ? items.slice(0, items.length - n) : items.slice(n);
  storeItems(ks, key, left, current.expiresAt);
  return itemsReply(popped, true);
}

// ---------------------------------------------------------------- ZRANDMEMBER

const LONG_MAX = 9223372036854775807n;

function zrandmemberCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const key = args[0] as string;
  if (args.length === 1) {
    const current = lookupZset(ks, key, now);
    if (current === null) return null;
    const items = sortedItems(current.scores);
    return (items[randomBelow(ctx, items.length)] as Item)[0];
  }
  const count = int64Arg(args[1] as string);
  if (count < -LONG_MAX) fail("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
  if (args.length > 3 || (args.length === 3 && (args[2] as string).toLowerCase() !== "withscores")) fail(ERR_SYNTAX);
  const withScores = args.length === 3;
  if (withScores && (count < -(LONG_MAX / 2n) || count > LONG_MAX / 2n)) fail("ERR value is out of range");
  const current = lookupZset(ks, key, now);
  if (current === null || count === 0n) return [];
  const items = sortedItems(current.scores);
  if (count < 0n) {
    if (-count > BigInt(ZRANDMEMBER_MAX_REPEATS)) fail(`ERR ZRANDMEMBER count is limited to -${ZRANDMEMBER_MAX_REPEATS} on this server`);
    const picks: Item[] = [];
    for (let i = 0n; i < -count; i++) picks.push(items[randomBelow(ctx, items.length)] as Item);
    return itemsReply(picks, withScores);
  }
  if (count >= BigInt(items.length)) return itemsReply([...items].reverse(), withScores); // Redis walks from the tail
  const pool = [...items];
  const n = Number(count);
  for (let i = 0; i < n; i++) {
    const j = i + randomBelow(ctx, pool.length - i);
    [pool[i], pool[j]] = [pool[j] as Item, pool[i] as Item];
  }
  return itemsReply(pool.slice(0, n), withScores);
}

// ---------------------------------------------------------------- ZUNION / ZINTER / ZDIFF

interface Source {
  size: number;
  items: Iterable<Item>;
  get(member: string): number | undefined;
}

function sourceOf(entry: Entry | null): Source {
  if (entry === null) return { size: 0, items: [], get: () => undefined };
  if (entry.type === "zset") return { size: entry.scores.size, items: entry.scores, get: (m) => entry.scores.get(m) };
  if (entry.type === "set") {
    const members = entry.members;
    return {
      size: members.size,
      items: [...members].map((m): Item => [m, 1]),
      get: (m) => (members.has(m) ? 1 : undefined),
    };
  }
  fail(ERR_WRONGTYPE);
}

type SetOp = "union" | "inter" | "diff";
type Aggregate = "sum" | "min" | "max";

function aggregate(target: number, value: number, how: Aggregate): number {
  if (how === "sum") {
    const sum = target + value;
    return Number.isNaN(sum) ? 0 : sum;
  }
  if (how === "min") return value < target ? value : target;
  return value > target ? value : target;
}

/**
 * zunionInterDiffGenericCommand: numkeys at args[numkeysIndex]; dst (STORE forms) is written;
 * cardOnly is ZINTERCARD.
 */
function setOpGeneric(args: string[], ks: Keyspace, now: number, ctx: Context, op: SetOp, dst: string | null, numkeysIndex: number, cardOnly = false): Reply {
  const setnumBig = int64Arg(args[numkeysIndex] as string);
  if (setnumBig < 1n) fail(`ERR at least 1 input key is needed for '${ctx.name}' command`);
  if (setnumBig > BigInt(args.length - (numkeysIndex + 1))) fail(ERR_SYNTAX);
  const setnum = Number(setnumBig);
  const sources: { src: Source; weight: number }[] = [];
  for (let i = 0; i < setnum; i++) sources.push({ src: sourceOf(lookup(ks, args[numkeysIndex + 1 + i] as string, now)), weight: 1 });
  let how: Aggregate = "sum";
  let withScores = false;
  let limit = 0;
  let j = numkeysIndex + 1 + setnum;
  while (j < args.length) {
    const opt = (args[j] as string).toLowerCase();
    const remaining = args.length - j;
    if (op !== "diff" && !cardOnly && remaining >= setnum + 1 && opt === "weights") {
      j++;
      for (let i = 0; i < setnum; i++, j++) {
        const weight = parseScore(args[j] as string);
        if (weight === null) fail("ERR weight value is not a float");
        (sources[i] as { weight: number }).weight = weight;
      }
    } else if (op !== "diff" && !cardOnly && remaining >= 2 && opt === "aggregate") {
      const value = (args[j + 1] as string).toLowerCase();
      if (value !== "sum" && value !== "min" && value !== "max") fail(ERR_SYNTAX);
      how = value;
      j += 2;
    } else if (dst === null && !cardOnly && opt === "withscores") {
      withScores = true;
      j++;
    } else if (cardOnly && remaining >= 2 && opt === "limit") {
      const parsed = parseInt64(args[j + 1] as string);
      if (parsed === null || parsed < 0n) fail("ERR LIMIT can't be negative");
      limit = parsed > 1n << 53n ? Number.MAX_SAFE_INTEGER : Number(parsed);
      j += 2;
    } else fail(ERR_SYNTAX);
  }
  if (op !== "diff") sources.sort((a, b) => a.src.size - b.src.size); // stable, as glibc's qsort (a merge sort) is

  const result = new Map<string, number>();
  let cardinality = 0;
  if (op === "inter") {
    const first = sources[0] as { src: Source; weight: number };
    if (first.src.size > 0) {
      for (const [member, base] of first.src.items) {
        let score = first.weight * base;
        if (Number.isNaN(score)) score = 0;
        let all = true;
        for (let k = 1; k < sources.length; k++) {
          const other = sources[k] as { src: Source; weight: number };
          const found = other.src.get(member);
          if (found === undefined) {
            all = false;
            break;
          }
          score = aggregate(score, found * other.weight, how);
        }
        if (!all) continue;
        if (cardOnly) {
          cardinality++;
          if (limit > 0 && cardinality >= limit) break;
        } else result.set(member, score);
      }
    }
  } else if (op === "union") {
    for (const { src, weight } of sources) {
      for (const [member, base] of src.items) {
        let score = weight * base;
        if (Number.isNaN(score)) score = 0;
        const existing = result.get(member);
        result.set(member, existing === undefined ? score : aggregate(existing, score, how));
      }
    }
  } else {
    const first = sources[0] as { src: Source };
    const others = sources.slice(1);
    for (const [member, score] of first.src.items) {
      if (!others.some((o) => o.src.get(member) !== undefined)) result.set(member, score);
    }
  }
  if (cardOnly) return cardinality;
  const items: Item[] = [...result];
  items.sort(compareItems);
  if (dst !== null) {
    storeItems(ks, dst, items.map(([m, s]): Item => [m, stored(s)]), null);
    return items.length;
  }
  return itemsReply(items, withScores);
}

// ---------------------------------------------------------------- ZSCAN

function zscanCommand(args: string[], ks: Keyspace, now: number): Reply {
  parseScanArgs(args.slice(1, 2), "hash"); // the cursor first, then the key, then the options
  const current = lookupZset(ks, args[0] as string, now);
  if (current === null) return ["0", []];
  const options = args.slice(1);
  // ZSCAN has no NOVALUES (HSCAN's): refuse it where Redis's option walk would meet it.
  for (let i = 1; i < options.length; ) {
    const opt = (options[i] as string).toLowerCase();
    if (opt === "novalues") {
      parseScanArgs(options.slice(0, i), "hash");
      fail(ERR_SYNTAX);
    }
    if ((opt === "count" || opt === "match") && i + 1 < options.length) i += 2;
    else break;
  }
  const parsed = parseScanArgs(options, "hash");
  const matches = parsed.match === null ? null : compileGlob(parsed.match);
  const out: Reply[] = [];
  for (const [member, score] of sortedItems(current.scores)) {
    if (matches !== null && !matches(member)) continue;
    out.push(member, formatScore(score));
  }
  return ["0", out];
}

// ---------------------------------------------------------------- the table

function rankCommand(args: string[], ks: Keyspace, now: number, ctx: Context, reverse: boolean): Reply {
  if (args.length !== 2) throw arityError(ctx.name); // Redis 7.0: no WITHSCORE (added in 7.2)
  const current = lookupZset(ks, args[0] as string, now);
  if (current === null) return null;
  const member = args[1] as string;
  const score = current.scores.get(member);
  if (score === undefined) return null;
  const items = sortedItems(current.scores);
  let lo = 0;
  let hi = items.length;
  const target: Item = [member, score];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareItems(items[mid] as Item, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return reverse ? items.length - 1 - lo : lo;
}

export const zsetsCommands: Record<string, Handler> = {
  zadd: (args, ks, now) => zaddGeneric(args, ks, now, false),
  zincrby: (args, ks, now) => zaddGeneric(args, ks, now, true),
  zscore: (args, ks, now) => {
    const score = lookupZset(ks, args[0] as string, now)?.scores.get(args[1] as string);
    return score === undefined ? null : formatScore(score);
  },
  zmscore: (args, ks, now) => {
    const current = lookupZset(ks, args[0] as string, now);
    return args.slice(1).map((member) => {
      const score = current?.scores.get(member);
      return score === undefined ? null : formatScore(score);
    });
  },
  zcard: (args, ks, now) => lookupZset(ks, args[0] as string, now)?.scores.size ?? 0,
  zcount: (args, ks, now) => {
    const range = parseScoreRange(args[1] as string, args[2] as string);
    const current = lookupZset(ks, args[0] as string, now);
    if (current === null) return 0;
    const [from, to] = scoreSpan(sortedItems(current.scores), range);
    return to - from;
  },
  zlexcount: (args, ks, now) => {
    const range = parseLexRange(args[1] as string, args[2] as string);
    const current = lookupZset(ks, args[0] as string, now);
    if (current === null) return 0;
    const [from, to] = lexSpan(sortedItems(current.scores), range);
    return to - from;
  },
  zrank: (args, ks, now, ctx) => rankCommand(args, ks, now, ctx, false),
  zrevrank: (args, ks, now, ctx) => rankCommand(args, ks, now, ctx, true),
  zrem: (args, ks, now) => {
    const key = args[0] as string;
    const current = lookupZset(ks, key, now);
    if (current === null) return 0;
    const scores = new Map(current.scores);
    const changed = new Set<string>();
    for (const member of args.slice(1)) if (scores.delete(member)) changed.add(member);
    if (changed.size > 0) storeChanged(ks, key, current, scores, changed);
    return changed.size;
  },
  zremrangebyrank: (args, ks, now) => zremrangeGeneric(args, ks, now, "rank"),
  zremrangebyscore: (args, ks, now) => zremrangeGeneric(args, ks, now, "score"),
  zremrangebylex: (args, ks, now) => zremrangeGeneric(args, ks, now, "lex"),
  zpopmin: (args, ks, now) => zpopGeneric(args, ks, now, false),
  zpopmax: (args, ks, now) => zpopGeneric(args, ks, now, true),
  zrandmember: zrandmemberCommand,
  zrange: (args, ks, now) => zrangeGeneric(args, ks, now, "auto", null, null),
  zrangebyscore: (args, ks, now) => zrangeGeneric(args, ks, now, "score", false, null),
  zrevrangebyscore: (args, ks, now) => zrangeGeneric(args, ks, now, "score", true, null),
  zrevrange: (args, ks, now) => zrangeGeneric(args, ks, now, "rank", true, null),
  zrangebylex: (args, ks, now) => zrangeGeneric(args, ks, now, "lex", false, null),
  zrevrangebylex: (args, ks, now) => zrangeGeneric(args, ks, now, "lex", true, null),
  zrangestore: (args, ks, now) => zrangeGeneric(args.slice(1), ks, now, "auto", null, args[0] as string),
  zunion: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "union", null, 0),
  zinter: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "inter", null, 0),
  zdiff: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "diff", null, 0),
  zintercard: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "inter", null, 0, true),
  zunionstore: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "union", args[0] as string, 1),
  zinterstore: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "inter", args[0] as string, 1),
  zdiffstore: (args, ks, now, ctx) => setOpGeneric(args, ks, now, ctx, "diff", args[0] as string, 1),
  zscan: zscanCommand,
};
