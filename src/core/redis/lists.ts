/**
 * List commands (t_list.c semantics, Redis 7.0). A list is one entry, items head (index 0) to tail;
 * a command copies the items before changing them, and an emptied list is deleted. Pure.
 */
import type { Keyspace, Reply } from "./types";
import { ERR_SYNTAX, arityError, fail, int64Arg, lookupList, parseInt64, type Handler, type ListEntry } from "./util";

type End = "left" | "right";

const LONG_MAX = 9223372036854775807n;
const ERR_POSITIVE = "ERR value is out of range, must be positive";

/** Store a list's new items, keeping its TTL; no items deletes the key. */
function putList(ks: Keyspace, key: string, items: string[], expiresAt: number | null): void {
  ks.set(key, items.length === 0 ? null : { type: "list", items, expiresAt });
}

/** A 64-bit integer argument as a JS number: exact for list sizes, and far ends stay far (they are only compared and clamped). */
function longArg(text: string): number {
  return Number(int64Arg(text));
}

/**
 * Redis's getRangeLongFromObjectOrReply: an integer in [min, max]. A non-integer answers `message`
 * when given, else the usual "not an integer"; out of range answers `message`, else the range.
 */
function rangeArg(text: string, min: bigint, max: bigint, message?: string): bigint {
  const value = parseInt64(text);
  if (value === null) fail(message ?? "ERR value is not an integer or out of range");
  if (value < min || value > max) fail(message ?? `ERR value is out of range, value must between ${min} and ${max}`);
  return value;
}

/** [first, last] indexes of LRANGE/LTRIM's start..stop on a list of `length`, or null when empty. */
function clampRange(start: number, stop: number, length: number): [number, number] | null {
  if (start < 0) start += length;
  if (stop < 0) stop += length;
  if (start < 0) start = 0;
  if (start > stop || start >= length) return null;
  return [start, Math.min(stop, length - 1)];
}

/** LPUSH/RPUSH (and the X forms, which only push onto an existing list): the new length. */
function push(end: End, onlyExisting: boolean): Handler {
  return (args, ks, now) => {
    const key = args[0] as string;
    const current = lookupList(ks, key, now);
    if (current === null && onlyExisting) return 0;
    const values = args.slice(1);
    const items = end === "left" ? [...values.reverse(), ...(current?.items ?? [])] : [...(current?.items ?? []), ...values];
    putList(ks, key, items, current?.expiresAt ?? null);
    return items.length;
  };
}

/** LPOP/RPOP key [count]: one item (nil if none), or with a count an array of up to count items (nil if no key). */
function pop(end: End): Handler {
  return (args, ks, now, ctx) => {
    if (args.length > 2) throw arityError(ctx.name);
    const key = args[0] as string;
    const count = args.length === 2 ? Number(rangeArg(args[1] as string, 0n, LONG_MAX, ERR_POSITIVE)) : null;
    const current = lookupList(ks, key, now);
    if (current === null) return null;
    if (count === 0) return [];
    const items = [...current.items];
    const taken = end === "left" ? items.splice(0, count ?? 1) : items.splice(Math.max(0, items.length - (count ?? 1))).reverse();
    putList(ks, key, items, current.expiresAt);
    return count === null ? (taken[0] as string) : taken;
  };
}

function parseEnd(text: string): End {
  const word = text.toLowerCase();
  if (word !== "left" && word !== "right") fail(ERR_SYNTAX);
  return word;
}

/** LMOVE / RPOPLPUSH: pop from one end of the source, push onto one end of the destination (which may be the source). */
function move(ks: Keyspace, now: number, source: string, destination: string, from: End, to: End): Reply {
  const src = lookupList(ks, source, now);
  if (src === null) return null;
  const dst: ListEntry | null = source === destination ? src : lookupList(ks, destination, now);
  const items = [...src.items];
  const value = (from === "left" ? items.shift() : items.pop()) as string;
  if (source === destination) {
    if (to === "left") items.unshift(value);
    else items.push(value);
    putList(ks, source, items, src.expiresAt);
    return value;
  }
  const target = dst === null ? [] : [...dst.items];
  if (to === "left") target.unshift(value);
  else target.push(value);
  putList(ks, source, items, src.expiresAt);
  putList(ks, destination, target, dst?.expiresAt ?? null);
  return value;
}

/** LPOS key element [RANK rank] [COUNT num] [MAXLEN len]: the index of a match, or with COUNT an array of them. */
function lposCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, element] = args as [string, string];
  let rank = 1;
  let count: number | null = null;
  let maxlen = 0;
  for (let i = 2; i < args.length; i++) {
    const opt = (args[i] as string).toLowerCase();
    const hasValue = i + 1 < args.length;
    if (opt === "rank" && hasValue) {
      // Redis 7.0 accepts -2^63 and overflows negating it; later versions refuse it, as here.
      rank = Number(rangeArg(args[++i] as string, -LONG_MAX, LONG_MAX));
      if (rank === 0) {
        fail("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
      }
    } else if (opt === "count" && hasValue) {
      count = Number(rangeArg(args[++i] as string, 0n, LONG_MAX, "ERR COUNT can't be negative"));
    } else if (opt === "maxlen" && hasValue) {
      maxlen = Number(rangeArg(args[++i] as string, 0n, LONG_MAX, "ERR MAXLEN can't be negative"));
    } else fail(ERR_SYNTAX);
  }
  const current = lookupList(ks, key, now);
  if (current === null) return count === null ? null : [];
  const items = current.items;
  const fromTail = rank < 0;
  const skip = Math.abs(rank) - 1; // matches to pass over before the first one reported
  const found: number[] = [];
  let matches = 0;
  for (let n = 0; n < items.length && (maxlen === 0 || n < maxlen); n++) {
    const index = fromTail ? items.length - 1 - n : n;
    if (items[index] !== element) continue;
    if (matches++ < skip) continue;
    found.push(index);
    if (count === null || (count !== 0 && found.length >= count)) break;
  }
  if (count === null) return found[0] ?? null;
  return found;
}

export const listsCommands: Record<string, Handler> = {
  lpush: push("left", false),
  rpush: push("right", false),
  lpushx: push("left", true),
  rpushx: push("right", true),
  lpop: pop("left"),
  rpop: pop("right"),
  llen: (args, ks, now) => lookupList(ks, args[0] as string, now)?.items.length ?? 0,
  lrange: (args, ks, now) => {
    const start = longArg(args[1] as string);
    const stop = longArg(args[2] as string);
    const current = lookupList(ks, args[0] as string, now);
    if (current === null) return [];
    const range = clampRange(start, stop, current.items.length);
    return range === null ? [] : current.items.slice(range[0], range[1] + 1);
  },
  lindex: (args, ks, now) => {
    const current = lookupList(ks, args[0] as string, now);
    if (current === null) return null;
    let index = longArg(args[1] as string);
    if (index < 0) index += current.items.length;
    return current.items[index] ?? null;
  },
  lset: (args, ks, now) => {
    const [key, indexText, value] = args as [string, string, string];
    const current = lookupList(ks, key, now);
    if (current === null) fail("ERR no such key");
    let index = longArg(indexText);
    if (index < 0) index += current.items.length;
    if (index < 0 || index >= current.items.length) fail("ERR index out of range");
    const items = [...current.items];
    items[index] = value;
    putList(ks, key, items, current.expiresAt);
    return "OK";
  },
  linsert: (args, ks, now) => {
    const [key, where, pivot, value] = args as [string, string, string, string];
    const side = where.toLowerCase();
    if (side !== "before" && side !== "after") fail(ERR_SYNTAX);
    const current = lookupList(ks, key, now);
    if (current === null) return 0;
    const at = current.items.indexOf(pivot);
    if (at < 0) return -1;
    const items = [...current.items];
    items.splice(side === "before" ? at : at + 1, 0, value);
    putList(ks, key, items, current.expiresAt);
    return items.length;
  },
  lrem: (args, ks, now) => {
    const [key, countText, element] = args as [string, string, string];
    const count = longArg(countText);
    const current = lookupList(ks, key, now);
    if (current === null) return 0;
    const limit = count === 0 ? Infinity : Math.abs(count);
    const items = count < 0 ? [...current.items].reverse() : [...current.items];
    let removed = 0;
    const kept = items.filter((item) => {
      if (item !== element || removed >= limit) return true;
      removed++;
      return false;
    });
    if (removed === 0) return 0;
    putList(ks, key, count < 0 ? kept.reverse() : kept, current.expiresAt);
    return removed;
  },
  ltrim: (args, ks, now) => {
    const key = args[0] as string;
    const start = longArg(args[1] as string);
    const stop = longArg(args[2] as string);
    const current = lookupList(ks, key, now);
    if (current === null) return "OK";
    const range = clampRange(start, stop, current.items.length);
    const items = range === null ? [] : current.items.slice(range[0], range[1] + 1);
    if (items.length !== current.items.length) putList(ks, key, items, current.expiresAt);
    return "OK";
  },
  lpos: lposCommand,
  lmove: (args, ks, now) => {
    const [source, destination, fromText, toText] = args as [string, string, string, string];
    const from = parseEnd(fromText);
    const to = parseEnd(toText);
    return move(ks, now, source, destination, from, to);
  },
  rpoplpush: (args, ks, now) => move(ks, now, args[0] as string, args[1] as string, "right", "left"),
};
