/** Hash commands (t_hash.c semantics). A hash is one entry; an emptied hash is deleted. Pure. */
import { compileGlob } from "./glob";
import { parseScanArgs } from "./keyspace";
import { addLongDouble, formatLongDouble, parseLongDouble } from "./longdouble";
import type { Keyspace, Reply } from "./types";
import {
  ERR_NAN_OR_INF,
  ERR_NOT_FLOAT,
  ERR_OVERFLOW,
  INT64_MAX,
  INT64_MIN,
  arityError,
  byteLength,
  fail,
  getField,
  int64Arg,
  intReply,
  lookupHash,
  newFields,
  parseInt64,
  type Context,
  type Handler,
} from "./util";

/** HSET / HMSET: field-value pairs, created or overwritten; returns how many fields are new. */
function setFields(args: string[], ks: Keyspace, now: number, ctx: Context): number {
  if (args.length % 2 !== 1) throw arityError(ctx.name);
  const key = args[0] as string;
  const current = lookupHash(ks, key, now);
  const fields = newFields(current?.fields);
  let added = 0;
  for (let i = 1; i < args.length; i += 2) {
    const field = args[i] as string;
    if (!Object.hasOwn(fields, field)) added++;
    fields[field] = args[i + 1] as string;
  }
  ks.set(key, { type: "hash", fields, expiresAt: current?.expiresAt ?? null });
  return added;
}

function writeField(ks: Keyspace, key: string, expiresAt: number | null, from: Record<string, string> | undefined, field: string, value: string): void {
  const fields = newFields(from);
  fields[field] = value;
  ks.set(key, { type: "hash", fields, expiresAt });
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
  writeField(ks, key, current?.expiresAt ?? null, current?.fields, field, result.toString());
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
  writeField(ks, key, current?.expiresAt ?? null, current?.fields, field, text);
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
    writeField(ks, key, current?.expiresAt ?? null, current?.fields, field, value);
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
    ks.set(key, Object.keys(fields).length === 0 ? null : { type: "hash", fields, expiresAt: current.expiresAt });
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
};
