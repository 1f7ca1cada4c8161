/**
 * Hash-field TTLs (t_hash.c semantics): HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT and HTTL, HPTTL,
 * HEXPIRETIME, HPEXPIRETIME, HPERSIST (Redis 7.4), HGETDEL, HGETEX, HSETEX (Redis 8.0). A field's
 * expiry time lives in the hash entry's fieldExpiresAt; util.ts `lookup` hides expired fields from
 * every command. Pure.
 */
import type { Keyspace, Reply } from "./types";
import {
  arityError,
  copyFieldTtls,
  fail,
  int64Arg,
  intReply,
  invalidExpireError,
  lookupHash,
  newFields,
  parseInt64,
  putHash,
  type Context,
  type Handler,
} from "./util";

/** The latest field expiry Redis accepts (EB_EXPIRE_TIME_MAX, 2^48 - 1 ms: year 10889). */
const HFE_MAX_ABS_TIME_MS = 2 ** 48 - 1;

const ERR_FIELDS_MISSING = "ERR Mandatory argument FIELDS is missing or not at the right position";
const ERR_NUMFIELDS_MISMATCH = "ERR The `numfields` parameter must match the number of arguments";
/** HEXPIRE's text for a numfields that is not a positive integer; the other commands say NUMFIELDS_POSITIVE. */
const ERR_NUMFIELDS_HEXPIRE = "ERR Parameter `numFields` should be greater than 0";
const ERR_NUMFIELDS_POSITIVE = "ERR Number of fields must be a positive integer";

type Unit = "s" | "ms";

/**
 * Redis's parseExpireTime for field TTLs: an integer >= 0 in `unit`, plus `base` (now for relative
 * forms, 0 for the *AT forms), at most 2^48 - 1 ms; the absolute unix ms.
 */
function parseFieldExpire(text: string, unit: Unit, base: number, name: string): number {
  const value = int64Arg(text);
  if (value < 0n) fail("ERR invalid expire time, must be >= 0");
  let ms = value;
  if (unit === "s") {
    if (ms > BigInt(Math.floor(HFE_MAX_ABS_TIME_MS / 1000))) throw invalidExpireError(name);
    ms *= 1000n;
  }
  if (ms > BigInt(HFE_MAX_ABS_TIME_MS - base)) throw invalidExpireError(name);
  return Number(ms) + base;
}

/**
 * The field names of a `FIELDS numfields field...` block that runs to the end of the arguments,
 * where args[at] must be FIELDS; errors as Redis gives them.
 */
function fieldsBlock(args: string[], at: number, numfieldsError: string, ctx: Context): string[] {
  if (at >= args.length || (args[at] as string).toLowerCase() !== "fields") fail(ERR_FIELDS_MISSING);
  if (at + 1 >= args.length) throw arityError(ctx.name);
  const count = parseInt64(args[at + 1] as string);
  if (count === null || count < 1n) fail(numfieldsError);
  if (count !== BigInt(args.length - at - 2)) fail(ERR_NUMFIELDS_MISMATCH);
  return args.slice(at + 2);
}

const ms = (now: number) => Math.trunc(now);

/**
 * HEXPIRE key time [NX | XX | GT | LT] FIELDS n field...: per field -2 (no such field), 0 (condition
 * not met), 1 (expiry set), 2 (deleted: the time is now or past). GT and LT treat "no TTL" as an
 * infinite one. A hash left without fields is deleted.
 */
function hexpireCommand(unit: Unit, relative: boolean): Handler {
  return (args, ks, now, ctx) => {
    const key = args[0] as string;
    const current = lookupHash(ks, key, now);
    const when = parseFieldExpire(args[1] as string, unit, relative ? ms(now) : 0, ctx.name);
    const condition = (args[2] as string).toLowerCase();
    const hasCondition = condition === "nx" || condition === "xx" || condition === "gt" || condition === "lt";
    const names = fieldsBlock(args, hasCondition ? 3 : 2, ERR_NUMFIELDS_HEXPIRE, ctx);
    if (current === null) return names.map(() => -2);
    const fields = newFields(current.fields);
    const ttls = copyFieldTtls(current);
    let changed = false;
    const replies = names.map((name) => {
      if (!Object.hasOwn(fields, name)) return -2;
      const previous = Object.hasOwn(ttls, name) ? (ttls[name] as number) : null;
      if (previous !== null) {
        if (condition === "nx" || (condition === "gt" && previous >= when) || (condition === "lt" && previous <= when)) return 0;
      } else if (condition === "xx" || condition === "gt") return 0;
      changed = true;
      if (when <= ms(now)) {
        delete fields[name];
        delete ttls[name];
        return 2;
      }
      ttls[name] = when;
      return 1;
    });
    if (changed) putHash(ks, key, fields, current.expiresAt, ttls);
    return replies;
  };
}

/** HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME key FIELDS n field...: per field -2 (no such field), -1 (no TTL) or the time. */
function httlCommand(unit: Unit, absolute: boolean): Handler {
  return (args, ks, now, ctx) => {
    const current = lookupHash(ks, args[0] as string, now);
    const names = fieldsBlock(args, 1, ERR_NUMFIELDS_POSITIVE, ctx);
    const base = absolute ? 0 : ms(now);
    return names.map((name) => {
      if (current === null || !Object.hasOwn(current.fields, name)) return -2;
      const at = current.fieldExpiresAt !== undefined && Object.hasOwn(current.fieldExpiresAt, name) ? (current.fieldExpiresAt[name] as number) : null;
      if (at === null) return -1;
      // Redis rounds seconds up here ((ms + 999) / 1000), unlike the key-level TTL.
      return intReply(unit === "ms" ? at - base : Math.floor((at + 999 - base) / 1000));
    });
  };
}

/** HPERSIST key FIELDS n field...: per field -2 (no such field), -1 (no TTL to remove), 1 (removed). */
function hpersistCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const key = args[0] as string;
  const current = lookupHash(ks, key, now);
  const names = fieldsBlock(args, 1, ERR_NUMFIELDS_POSITIVE, ctx);
  if (current === null) return names.map(() => -2);
  const ttls = copyFieldTtls(current);
  let changed = false;
  const replies = names.map((name) => {
    if (!Object.hasOwn(current.fields, name)) return -2;
    if (!Object.hasOwn(ttls, name)) return -1;
    delete ttls[name];
    changed = true;
    return 1;
  });
  if (changed) putHash(ks, key, newFields(current.fields), current.expiresAt, ttls);
  return replies;
}

/** HGETDEL key FIELDS n field...: each field's value (nil if absent), and the fields deleted; an emptied hash is deleted. */
function hgetdelCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const key = args[0] as string;
  const current = lookupHash(ks, key, now);
  const names = fieldsBlock(args, 1, ERR_NUMFIELDS_POSITIVE, ctx);
  if (current === null) return names.map(() => null);
  const fields = newFields(current.fields);
  let deleted = false;
  const replies = names.map((name) => {
    if (!Object.hasOwn(fields, name)) return null;
    const value = fields[name] as string;
    delete fields[name];
    deleted = true;
    return value;
  });
  if (deleted) putHash(ks, key, fields, current.expiresAt, copyFieldTtls(current));
  return replies;
}

/**
 * HGETEX key [EX s | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST] FIELDS n field...: each field's
 * value (nil if absent), then the new TTL on the fields that exist (a time now or past deletes them,
 * PERSIST removes their TTL).
 */
function hgetexCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const key = args[0] as string;
  const current = lookupHash(ks, key, now);
  const option = (args[1] as string).toLowerCase();
  let when: number | null = null;
  let persist = false;
  let fieldsAt = 1;
  if (option === "ex" || option === "px" || option === "exat" || option === "pxat") {
    const unit: Unit = option === "ex" || option === "exat" ? "s" : "ms";
    when = parseFieldExpire(args[2] as string, unit, option === "ex" || option === "px" ? ms(now) : 0, ctx.name);
    fieldsAt = 3;
  } else if (option === "persist") {
    persist = true;
    fieldsAt = 2;
  }
  const names = fieldsBlock(args, fieldsAt, ERR_NUMFIELDS_POSITIVE, ctx);
  if (current === null) return names.map(() => null);
  const fields = newFields(current.fields);
  const ttls = copyFieldTtls(current);
  let changed = false;
  const replies = names.map((name) => {
    if (!Object.hasOwn(fields, name)) return null;
    const value = fields[name] as string;
    if (persist && Object.hasOwn(ttls, name)) {
      delete ttls[name];
      changed = true;
    } else if (when !== null) {
      changed = true;
      if (when <= ms(now)) {
        delete fields[name];
        delete ttls[name];
      } else ttls[name] = when;
    }
    return value;
  });
  if (changed) putHash(ks, key, fields, current.expiresAt, ttls);
  return replies;
}

interface HsetexOptions {
  condition: "fnx" | "fxx" | null;
  /** The new expiry (unix ms) of every field set; null for none. */
  when: number | null;
  keepTtl: boolean;
  /** Index in args of the first field. */
  first: number;
}

/** HSETEX's options, checked before the key is read, with Redis's texts. */
function parseHsetex(args: string[], now: number, ctx: Context): HsetexOptions {
  const options: HsetexOptions = { condition: null, when: null, keepTtl: false, first: -1 };
  let expiry = false;
  for (let i = 1; i < args.length; i++) {
    const opt = (args[i] as string).toLowerCase();
    if (opt === "fields") {
      if (i >= args.length - 3) throw arityError(ctx.name);
      const count = parseInt64(args[i + 1] as string);
      if (count === null || count < 1n || count > 2147483647n) fail("ERR invalid number of fields");
      const remaining = args.length - i - 2;
      if (remaining % 2 !== 0 || count !== BigInt(remaining / 2)) throw arityError(ctx.name);
      options.first = i + 2;
      return options;
    }
    if (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat" || opt === "keepttl") {
      if (expiry) fail("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified");
      expiry = true;
      if (opt === "keepttl") {
        options.keepTtl = true;
        continue;
      }
      if (i >= args.length - 1) fail("ERR missing expire time");
      const unit: Unit = opt === "ex" || opt === "exat" ? "s" : "ms";
      options.when = parseFieldExpire(args[i + 1] as string, unit, opt === "ex" || opt === "px" ? ms(now) : 0, ctx.name);
      i++;
    } else if (opt === "fnx" || opt === "fxx") {
      if (options.condition !== null) fail("ERR Only one of FXX or FNX arguments can be specified");
      options.condition = opt;
    } else fail(`ERR unknown argument: ${args[i] as string}`);
  }
  fail("ERR missing FIELDS argument"); // unreachable within HSETEX's arity: kept for a clear error
}

/**
 * HSETEX key [FNX | FXX] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL] FIELDS n field value...:
 * sets the fields (FNX: only if none exists, FXX: only if all do) and their TTL; without an expiry
 * option a field set loses its TTL, with KEEPTTL it keeps it. Replies 1 if set, 0 if not.
 */
function hsetexCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const options = parseHsetex(args, now, ctx);
  const key = args[0] as string;
  const current = lookupHash(ks, key, now);
  const pairs: [string, string][] = [];
  for (let i = options.first; i < args.length; i += 2) pairs.push([args[i] as string, args[i + 1] as string]);
  if (options.condition !== null) {
    const exists = (name: string) => current !== null && Object.hasOwn(current.fields, name);
    if (options.condition === "fxx" && !pairs.every(([name]) => exists(name))) return 0;
    if (options.condition === "fnx" && pairs.some(([name]) => exists(name))) return 0;
  }
  const fields = newFields(current?.fields);
  const ttls = copyFieldTtls(current);
  for (const [name, value] of pairs) {
    fields[name] = value;
    if (options.when !== null) {
      if (options.when <= ms(now)) {
        delete fields[name];
        delete ttls[name];
      } else ttls[name] = options.when;
    } else if (!options.keepTtl) delete ttls[name];
  }
  putHash(ks, key, fields, current?.expiresAt ?? null, ttls);
  return 1;
}

export const hashTtlCommands: Record<string, Handler> = {
  hexpire: hexpireCommand("s", true),
  hpexpire: hexpireCommand("ms", true),
  hexpireat: hexpireCommand("s", false),
  hpexpireat: hexpireCommand("ms", false),
  httl: httlCommand("s", false),
  hpttl: httlCommand("ms", false),
  hexpiretime: httlCommand("s", true),
  hpexpiretime: httlCommand("ms", true),
  hpersist: hpersistCommand,
  hgetdel: hgetdelCommand,
  hgetex: hgetexCommand,
  hsetex: hsetexCommand,
};
