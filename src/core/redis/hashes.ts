/** Hash commands (t_hash.c semantics). A hash is one entry; an emptied hash is deleted. Pure. */
import { compileGlob } from "./glob";
import { parseScanArgs } from "./keyspace";
import { addLongDouble, formatLongDouble, parseLongDouble } from "./longdouble";
import type { Keyspace, Reply } from "./types";
import type { HashEntry } from "./util";
import {
  ERR_NAN_OR_INF,
  ERR_NOT_FLOAT,
  ERR_OVERFLOW,
  INT64_MAX,
  INT64_MIN,
  ERR_NOT_INTEGER,
  ERR_SYNTAX,
  arityError,
  byteLength,
  copyFieldTtls,
  fail,
  getField,
  int64Arg,
  intReply,
  lookupHash,
  newFields,
  parseInt64,
  putHash,
  randomBelow,
  type Context,
  type Handler,
} from "./util";

/** HSET / HMSET: field-value pairs, created or overwritten (an overwritten field loses its TTL, as in Redis); returns how many fields are new. */
function setFields(args: string[], ks: Keyspace, now: number, ctx: Context): number {
  if (args.length % 2 !== 1) throw arityError(ctx.name);
  const key = args[0] as string;
  const current = lookupHash(ks, key, now);
  const fields = newFields(current?.fields);
  const ttls = copyFieldTtls(current);
  let added = 0;
  for (let i = 1; i < args.length; i += 2) {
    const field = args[i] as string;
    if (!Object.hasOwn(fields, field)) added++;
    fields[field] = args[i + 1] as string;
    delete ttls[field];
  }
  putHash(ks, key, fields, current?.expiresAt ?? null, ttls);
  return added;
}

/** One field written into a copy of `current`, keeping its TTL (HINCRBY, HINCRBYFLOAT; HSETNX writes only absent fields). */
function writeField(ks: Keyspace, key: string, current: HashEntry | null, field: string, value: string): void {
  const fields = newFields(current?.fields);
  fields[field] = value;
  putHash(ks, key, fields, current?.expiresAt ?? null, copyFieldTtls(current));
}

function hincrbyCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, field, incrText] = args as [string, string, string];
  const increment = int64Arg(incrText);
  const current = lookupHash(ks, key, now);
  const old = current === null ? null : getField(current.fields, field);
  let value = 0n;
  if (old !== null) {
    const parsed = parseInt64(old);
    if (parsed === null) fail("ERR hash value is not an integer");
    value = parsed;
  }
  const result = value + increment;
  if (result > INT64_MAX || result < INT64_MIN) fail(ERR_OVERFLOW);
  writeField(ks, key, current, field, result.toString());
  return intReply(result);
}

function hincrbyfloatCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, field, incrText] = args as [string, string, string];
  const increment = parseLongDouble(incrText);
  if (increment === null) fail(ERR_NOT_FLOAT);
  if (increment === "infinity") fail("ERR value is NaN or Infinity");
  const current = lookupHash(ks, key, now);
  const old = current === null ? null : getField(current.fields, field);
  const value = parseLongDouble(old ?? "0");
  if (value === null) fail("ERR hash value is not a float");
  const sum = addLongDouble(value, increment);
  if (sum === null) fail(ERR_NAN_OR_INF);
  const text = formatLongDouble(sum);
  writeField(ks, key, current, field, text);
  return text;
}

/** HSCAN key cursor [MATCH p] [COUNT n] [NOVALUES]: a hash is small and one entry, so one call returns it all (cursor "0"), as Redis does for listpack-encoded hashes. */
function hscanCommand(args: string[], ks: Keyspace, now: number): Reply {
  parseScanArgs(args.slice(1, 2), "hash"); // Redis checks the cursor, then the key, then the options
  const current = lookupHash(ks, args[0] as string, now);
  const out: Reply[] = [];
  if (current !== null) {
    const options = parseScanArgs(args.slice(1), "hash");
    const matches = options.match === null ? null : compileGlob(options.match);
    for (const field of Object.keys(current.fields)) {
      if (matches !== null && !matches(field)) continue;
      out.push(field);
      if (!options.noValues) out.push(current.fields[field] as string);
    }
  }
  return ["0", out];
}

const LONG_MAX = 9223372036854775807n;

/**
 * HRANDFIELD key [count [WITHVALUES]]: without a count one random field (nil for no key); a positive
 * count that many distinct fields (all of them if fewer), a negative one |count| picks that may
 * repeat; WITHVALUES interleaves values (RESP2's flat array).
 */
function hrandfieldCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const key = args[0] as string;
  if (args.length === 1) {
    const current = lookupHash(ks, key, now);
    if (current === null) return null;
    const names = Object.keys(current.fields);
    return names[randomBelow(ctx, names.length)] as string;
  }
  const count = parseInt64(args[1] as string);
  if (count === null) fail(ERR_NOT_INTEGER);
  if (count < -LONG_MAX) fail("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
  if (args.length > 3 || (args.length === 3 && (args[2] as string).toLowerCase() !== "withvalues")) fail(ERR_SYNTAX);
  const withValues = args.length === 3;
  if (withValues && (count < -LONG_MAX / 2n || count > LONG_MAX / 2n)) fail("ERR value is out of range");
  const current = lookupHash(ks, key, now);
  if (current === null || count === 0n) return [];
  const names = Object.keys(current.fields);
  const picked: string[] = [];
  if (count < 0n) {
    const n = -count;
    if (n > BigInt(MAX_RANDOM_PICKS)) fail(`ERR HRANDFIELD count ${count} asks for more than ${MAX_RANDOM_PICKS} fields (this server's limit on one reply)`);
    for (let i = 0n; i < n; i++) picked.push(names[randomBelow(ctx, names.length)] as string);
  } else if (count >= BigInt(names.length)) {
    picked.push(...names);
  } else {
    // A partial Fisher-Yates shuffle: `count` distinct fields.
    const pool = [...names];
    for (let i = 0; i < Number(count); i++) {
      const j = i + randomBelow(ctx, pool.length - i);
      [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
      picked.push(pool[i] as string);
    }
  }
  return withValues ? picked.flatMap((name) => [name, current.fields[name] as string]) : picked;
}

/**
 * The most fields one HRANDFIELD with a negative count returns: Redis would build any number (a
 * count of -10^12 repeats), which here would be held in memory and sent as one JSON reply.
 */
export const MAX_RANDOM_PICKS = 100_000;

export const hashCommands: Record<string, Handler> = {
  hset: setFields,
  hmset: (args, ks, now, ctx) => {
    setFields(args, ks, now, ctx);
    return "OK";
  },
  hsetnx: (args, ks, now) => {
    const [key, field, value] = args as [string, string, string];
    const current = lookupHash(ks, key, now);
    if (current !== null && getField(current.fields, field) !== null) return 0;
    writeField(ks, key, current, field, value);
    return 1;
  },
  hget: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return current === null ? null : getField(current.fields, args[1] as string);
  },
  hmget: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return args.slice(1).map((field) => (current === null ? null : getField(current.fields, field)));
  },
  hgetall: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return current === null ? [] : Object.keys(current.fields).flatMap((field) => [field, current.fields[field] as string]);
  },
  hdel: (args, ks, now) => {
    const key = args[0] as string;
    const current = lookupHash(ks, key, now);
    if (current === null) return 0;
    const fields = newFields(current.fields);
    let deleted = 0;
    for (const field of args.slice(1)) {
      if (Object.hasOwn(fields, field)) {
        delete fields[field];
        deleted++;
      }
    }
    if (deleted === 0) return 0;
    putHash(ks, key, fields, current.expiresAt, copyFieldTtls(current));
    return deleted;
  },
  hexists: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return current !== null && getField(current.fields, args[1] as string) !== null ? 1 : 0;
  },
  hincrby: hincrbyCommand,
  hincrbyfloat: hincrbyfloatCommand,
  hlen: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return current === null ? 0 : Object.keys(current.fields).length;
  },
  hkeys: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return current === null ? [] : Object.keys(current.fields);
  },
  hvals: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    return current === null ? [] : Object.values(current.fields);
  },
  hstrlen: (args, ks, now) => {
    const current = lookupHash(ks, args[0] as string, now);
    const value = current === null ? null : getField(current.fields, args[1] as string);
    return value === null ? 0 : byteLength(value);
  },
  hscan: hscanCommand,
  hrandfield: hrandfieldCommand,
};
