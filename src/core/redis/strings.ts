/** String commands (t_string.c semantics). Pure. */
import { addLongDouble, formatLongDouble, parseLongDouble } from "./longdouble";
import type { Keyspace, Reply } from "./types";
import {
  ERR_NAN_OR_INF,
  ERR_NOT_FLOAT,
  ERR_NOT_INTEGER,
  ERR_OVERFLOW,
  ERR_SYNTAX,
  ERR_TOO_LONG,
  INT64_MAX,
  INT64_MIN,
  arityError,
  byteLength,
  fail,
  fromUtf8,
  int64Arg,
  intReply,
  invalidExpireError,
  lookup,
  lookupString,
  parseInt64,
  putString,
  utf8,
  type Context,
  type Handler,
} from "./util";

type ExpireUnit = "ex" | "px" | "exat" | "pxat";

interface SetOptions {
  nx: boolean;
  xx: boolean;
  get: boolean;
  keepTtl: boolean;
  persist: boolean;
  expire: { unit: ExpireUnit; text: string } | null;
}

/**
 * Redis's parseExtendedStringArgumentsOrReply for SET ("set") and GETEX ("getex"): options are
 * case-insensitive, NX/XX exclude each other, one expiry kind at most (repeating the same kind is
 * allowed, the last wins), KEEPTTL/PERSIST exclude any expiry; anything else is a syntax error.
 */
function parseStringOptions(args: string[], from: number, command: "set" | "getex"): SetOptions {
  const o: SetOptions = { nx: false, xx: false, get: false, keepTtl: false, persist: false, expire: null };
  const isSet = command === "set";
  for (let j = from; j < args.length; j++) {
    const opt = (args[j] as string).toLowerCase();
    const hasNext = j + 1 < args.length;
    const expireKind = o.expire?.unit ?? null;
    if (opt === "nx" && !o.xx && isSet) o.nx = true;
    else if (opt === "xx" && !o.nx && isSet) o.xx = true;
    else if (opt === "get" && isSet) o.get = true;
    else if (opt === "keepttl" && !o.persist && expireKind === null && isSet) o.keepTtl = true;
    else if (opt === "persist" && !isSet && expireKind === null && !o.keepTtl) o.persist = true;
    else if (
      (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") &&
      !o.keepTtl &&
      !o.persist &&
      (expireKind === null || expireKind === opt) &&
      hasNext
    ) {
      o.expire = { unit: opt, text: args[j + 1] as string };
      j++;
    } else fail(ERR_SYNTAX);
  }
  return o;
}

/** Redis's getExpireMillisecondsOrReply: a positive integer, turned into an absolute unix time in ms. */
export function absoluteExpiry(text: string, unit: ExpireUnit, now: number, command: string): number {
  const value = int64Arg(text);
  const seconds = unit === "ex" || unit === "exat";
  if (value <= 0n || (seconds && value > INT64_MAX / 1000n)) throw invalidExpireError(command);
  let ms = seconds ? value * 1000n : value;
  if (unit === "ex" || unit === "px") ms += BigInt(Math.trunc(now));
  if (ms > INT64_MAX) throw invalidExpireError(command); // Redis detects the signed overflow
  return Number(ms);
}

function setCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, value] = args as [string, string];
  const o = parseStringOptions(args, 2, "set");
  const expiresAt = o.expire === null ? null : absoluteExpiry(o.expire.text, o.expire.unit, now, "set");
  let old: string | null = null;
  if (o.get) old = lookupString(ks, key, now)?.value ?? null; // WRONGTYPE before NX/XX, as in Redis
  const current = lookup(ks, key, now);
  if ((o.nx && current !== null) || (o.xx && current === null)) return o.get ? old : null;
  const ttl = o.expire !== null ? expiresAt : o.keepTtl && current !== null ? current.expiresAt : null;
  putString(ks, key, value, ttl, now);
  return o.get ? old : "OK";
}

function setWithExpiry(unit: "ex" | "px", command: string): Handler {
  return (args, ks, now) => {
    const [key, time, value] = args as [string, string, string];
    putString(ks, key, value, absoluteExpiry(time, unit, now, command), now);
    return "OK";
  };
}

function getexCommand(args: string[], ks: Keyspace, now: number): Reply {
  const key = args[0] as string;
  const o = parseStringOptions(args, 1, "getex");
  const current = lookupString(ks, key, now);
  if (current === null) return null; // a missing key replies nil before the expiry is validated
  if (o.expire !== null) {
    putString(ks, key, current.value, absoluteExpiry(o.expire.text, o.expire.unit, now, "getex"), now);
  } else if (o.persist && current.expiresAt !== null) {
    ks.set(key, { type: "string", value: current.value, expiresAt: null });
  }
  return current.value;
}

/** INCRBY and friends: the stored value must be a 64-bit integer; the TTL is kept. */
function incrementBy(ks: Keyspace, key: string, increment: bigint, now: number): Reply {
  const current = lookupString(ks, key, now);
  let value = 0n;
  if (current !== null) {
    const parsed = parseInt64(current.value);
    if (parsed === null) fail(ERR_NOT_INTEGER);
    value = parsed;
  }
  const result = value + increment;
  if (result > INT64_MAX || result < INT64_MIN) fail(ERR_OVERFLOW);
  putString(ks, key, result.toString(), current?.expiresAt ?? null, now);
  return intReply(result);
}

function incrbyfloatCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, incrText] = args as [string, string];
  const current = lookupString(ks, key, now);
  const value = parseLongDouble(current?.value ?? "0");
  const increment = parseLongDouble(incrText);
  if (value === null || increment === null) fail(ERR_NOT_FLOAT);
  const sum = addLongDouble(value, increment);
  if (sum === null) fail(ERR_NAN_OR_INF);
  const text = formatLongDouble(sum);
  putString(ks, key, text, current?.expiresAt ?? null, now);
  return text;
}

function appendCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const [key, suffix] = args as [string, string];
  const current = lookupString(ks, key, now);
  const length = (current === null ? 0 : byteLength(current.value)) + byteLength(suffix);
  if (length > ctx.maxValueBytes) fail(ERR_TOO_LONG);
  putString(ks, key, (current?.value ?? "") + suffix, current?.expiresAt ?? null, now);
  return length;
}

function getrangeCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, startText, endText] = args as [string, string, string];
  let start = int64Arg(startText);
  let end = int64Arg(endText);
  const current = lookupString(ks, key, now);
  if (current === null) return "";
  const bytes = utf8(current.value);
  const length = BigInt(bytes.length);
  if (start < 0n && end < 0n && start > end) return "";
  if (start < 0n) start += length;
  if (end < 0n) end += length;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= length) end = length - 1n;
  if (start > end || length === 0n) return "";
  return fromUtf8(bytes.subarray(Number(start), Number(end) + 1));
}

function setrangeCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const [key, offsetText, value] = args as [string, string, string];
  const offset = int64Arg(offsetText);
  if (offset < 0n) fail("ERR offset is out of range");
  const current = lookupString(ks, key, now);
  const patch = utf8(value);
  if (patch.length === 0) return current === null ? 0 : byteLength(current.value);
  if (offset + BigInt(patch.length) > BigInt(ctx.maxValueBytes)) fail(ERR_TOO_LONG);
  const old = current === null ? new Uint8Array(0) : utf8(current.value);
  const at = Number(offset);
  const bytes = new Uint8Array(Math.max(old.length, at + patch.length)); // the gap is zero bytes
  bytes.set(old);
  bytes.set(patch, at);
  putString(ks, key, fromUtf8(bytes), current?.expiresAt ?? null, now);
  return bytes.length;
}

export const stringCommands: Record<string, Handler> = {
  get: (args, ks, now) => lookupString(ks, args[0] as string, now)?.value ?? null,
  set: setCommand,
  setnx: (args, ks, now) => {
    const [key, value] = args as [string, string];
    if (lookup(ks, key, now) !== null) return 0;
    putString(ks, key, value, null, now);
    return 1;
  },
  setex: setWithExpiry("ex", "setex"),
  psetex: setWithExpiry("px", "psetex"),
  getset: (args, ks, now) => {
    const [key, value] = args as [string, string];
    const old = lookupString(ks, key, now)?.value ?? null;
    putString(ks, key, value, null, now);
    return old;
  },
  getdel: (args, ks, now) => {
    const key = args[0] as string;
    const current = lookupString(ks, key, now);
    if (current !== null) ks.set(key, null);
    return current?.value ?? null;
  },
  getex: getexCommand,
  mget: (args, ks, now) =>
    args.map((key) => {
      const entry = lookup(ks, key, now);
      return entry?.type === "string" ? entry.value : null;
    }),
  mset: (args, ks, now, ctx) => {
    if (args.length % 2 !== 0) throw arityError(ctx.name);
    for (let i = 0; i < args.length; i += 2) putString(ks, args[i] as string, args[i + 1] as string, null, now);
    return "OK";
  },
  msetnx: (args, ks, now, ctx) => {
    if (args.length % 2 !== 0) throw arityError(ctx.name);
    for (let i = 0; i < args.length; i += 2) if (lookup(ks, args[i] as string, now) !== null) return 0;
    for (let i = 0; i < args.length; i += 2) putString(ks, args[i] as string, args[i + 1] as string, null, now);
    return 1;
  },
  incr: (args, ks, now) => incrementBy(ks, args[0] as string, 1n, now),
  decr: (args, ks, now) => incrementBy(ks, args[0] as string, -1n, now),
  incrby: (args, ks, now) => incrementBy(ks, args[0] as string, int64Arg(args[1] as string), now),
  decrby: (args, ks, now) => {
    const decrement = int64Arg(args[1] as string);
    if (decrement === INT64_MIN) fail("ERR decrement would overflow");
    return incrementBy(ks, args[0] as string, -decrement, now);
  },
  incrbyfloat: incrbyfloatCommand,
  append: appendCommand,
  strlen: (args, ks, now) => {
    const current = lookupString(ks, args[0] as string, now);
    return current === null ? 0 : byteLength(current.value);
  },
  getrange: getrangeCommand,
  substr: getrangeCommand,
  setrange: setrangeCommand,
};
