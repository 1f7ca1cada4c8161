/**
 * Shared pieces of the Redis command engine: Redis's error texts, its strict integer parsing,
 * expiry-aware lookups and UTF-8 byte helpers. Pure.
 */
import { RedisError, type Command, type Entry, type Keyspace, type Reply } from "./types";
import { byteLengthOf, bytesOf, canonicalString, stringOf } from "./bytes";

export const ERR_SYNTAX = "ERR syntax error";
export const ERR_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
export const ERR_NOT_INTEGER = "ERR value is not an integer or out of range";
export const ERR_NOT_FLOAT = "ERR value is not a valid float";
export const ERR_OVERFLOW = "ERR increment or decrement would overflow";
export const ERR_NAN_OR_INF = "ERR increment would produce NaN or Infinity";
export const ERR_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

export const INT64_MAX = 9223372036854775807n;
export const INT64_MIN = -9223372036854775808n;
/** Redis's default proto-max-bulk-len: the largest string value (512 MB); callers pass a smaller limit. */
export const MAX_STRING_BYTES = 512 * 1024 * 1024;

/** What a handler knows besides its arguments. */
export interface Context {
  /** The command's lower-case name, for error texts. */
  name: string;
  /** The largest string APPEND and SETRANGE may build, in bytes (Redis's proto-max-bulk-len). */
  maxValueBytes: number;
  /** Runs another command on the same keyspace at the same time (a script's redis.call). */
  call: (cmd: Command) => Reply;
  /** The options the engine was called with (the script cache). */
  options: import("./commands").EngineOptions;
}

/** A handler runs one command whose arity has already been checked. */
export type Handler = (args: string[], ks: Keyspace, now: number, ctx: Context) => Reply;

export type StringEntry = Extract<Entry, { type: "string" }>;
export type HashEntry = Extract<Entry, { type: "hash" }>;
export type ListEntry = Extract<Entry, { type: "list" }>;
export type SetEntry = Extract<Entry, { type: "set" }>;
export type ZsetEntry = Extract<Entry, { type: "zset" }>;

/**
 * A random integer in [0, n) from the caller's source of randomness (EngineOptions.random: the
 * service passes Math.random); without one, from a fixed-seed generator, so the engine stays
 * deterministic (the tests pass their own).
 */
export function randomBelow(ctx: Context, n: number): number {
  const r = (ctx.options.random ?? fallbackRandom)();
  return Math.min(n - 1, Math.floor(r * n));
}

let fallbackState = 0x9e3779b9;
/** mulberry32: a small fixed-seed generator for callers that pass no randomness. */
function fallbackRandom(): number {
  fallbackState = (fallbackState + 0x6d2b79f5) | 0;
  let t = fallbackState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

export function fail(message: string): never {
  throw new RedisError(message);
}

export function arityError(name: string): RedisError {
  return new RedisError(`ERR wrong number of arguments for '${name}' command`);
}

export function invalidExpireError(name: string): RedisError {
  return new RedisError(`ERR invalid expire time in '${name}' command`);
}

const INTEGER_TEXT = /^(?:0|-?[1-9][0-9]{0,18})$/;

/** Redis's string2ll: a plain decimal 64-bit integer (no sign '+', no spaces, no leading zeros, no "-0"); null if not. */
export function parseInt64(text: string): bigint | null {
  if (!INTEGER_TEXT.test(text)) return null;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? null : value;
}

/** parseInt64 or the "not an integer" error reply. */
export function int64Arg(text: string): bigint {
  const value = parseInt64(text);
  if (value === null) fail(ERR_NOT_INTEGER);
  return value;
}

/**
 * An integer reply. Redis integers are 64-bit but JSON numbers are exact only up to 2^53: beyond
 * that (only reachable with INCRBY & co. or far-future expiry times) we reply the decimal string
 * rather than a rounded number. Upstash replies a JSON number there; a string is the exact value.
 */
export function intReply(value: bigint | number): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

/**
 * The live entry of a key: null when absent or expired (expiresAt <= now). A hash is seen without
 * its expired fields (fieldExpiresAt <= now), and a hash whose fields have all expired is absent:
 * every command reads through here, so an expired field is gone for all of them, and the next write
 * of the hash stores it without them.
 */
export function lookup(ks: Keyspace, key: string, now: number): Entry | null {
  const entry = ks.get(key);
  if (entry === null) return null;
  if (entry.expiresAt !== null && entry.expiresAt <= now) return null;
  if (entry.type === "hash" && entry.fieldExpiresAt !== undefined) return liveHash(entry, now);
  return entry;
}

/** A hash without its expired fields (the entry itself when none has expired); null when none is left. */
function liveHash(entry: HashEntry, now: number): HashEntry | null {
  const ttls = entry.fieldExpiresAt as Record<string, number>;
  const names = Object.keys(ttls);
  if (names.length === 0) return { type: "hash", fields: entry.fields, expiresAt: entry.expiresAt };
  if (names.every((name) => (ttls[name] as number) > now)) return entry;
  const fields = newFields();
  const fieldExpiresAt = Object.create(null) as Record<string, number>;
  for (const name of Object.keys(entry.fields)) {
    const at = Object.hasOwn(ttls, name) ? (ttls[name] as number) : null;
    if (at !== null && at <= now) continue;
    fields[name] = entry.fields[name] as string;
    if (at !== null) fieldExpiresAt[name] = at;
  }
  if (Object.keys(fields).length === 0) return null;
  return Object.keys(fieldExpiresAt).length === 0 ? { type: "hash", fields, expiresAt: entry.expiresAt } : { type: "hash", fields, expiresAt: entry.expiresAt, fieldExpiresAt };
}

/**
 * Store a hash built from `fields` and field TTLs (a fresh table the caller owns): an empty hash
 * deletes the key, TTLs of fields no longer there are dropped, and a hash without any TTL is stored
 * without the table.
 */
export function putHash(ks: Keyspace, key: string, fields: Record<string, string>, expiresAt: number | null, fieldExpiresAt?: Record<string, number>): void {
  if (Object.keys(fields).length === 0) {
    ks.set(key, null);
    return;
  }
  let ttls: Record<string, number> | undefined;
  if (fieldExpiresAt !== undefined) {
    for (const name of Object.keys(fieldExpiresAt)) {
      if (!Object.hasOwn(fields, name)) continue;
      ttls ??= Object.create(null) as Record<string, number>;
      ttls[name] = fieldExpiresAt[name] as number;
    }
  }
  ks.set(key, ttls === undefined ? { type: "hash", fields, expiresAt } : { type: "hash", fields, expiresAt, fieldExpiresAt: ttls });
}

/** A fresh copy of a hash's field TTLs (empty when it has none), for a command to change. */
export function copyFieldTtls(entry: HashEntry | null): Record<string, number> {
  const ttls = Object.create(null) as Record<string, number>;
  const from = entry?.fieldExpiresAt;
  if (from !== undefined) for (const name of Object.keys(from)) ttls[name] = from[name] as number;
  return ttls;
}

/** The live entry of a key if it holds `type`: null if absent, WRONGTYPE if it holds another type. */
export function lookupTyped<T extends Entry["type"]>(ks: Keyspace, key: string, now: number, type: T): Extract<Entry, { type: T }> | null {
  const entry = lookup(ks, key, now);
  if (entry === null) return null;
  if (entry.type !== type) fail(ERR_WRONGTYPE);
  return entry as Extract<Entry, { type: T }>;
}

/** The live string at a key, null if absent; WRONGTYPE if it holds another type. */
export function lookupString(ks: Keyspace, key: string, now: number): StringEntry | null {
  return lookupTyped(ks, key, now, "string");
}

/** The live hash at a key, null if absent; WRONGTYPE if it holds another type. */
export function lookupHash(ks: Keyspace, key: string, now: number): HashEntry | null {
  return lookupTyped(ks, key, now, "hash");
}

export const lookupList = (ks: Keyspace, key: string, now: number): ListEntry | null => lookupTyped(ks, key, now, "list");
export const lookupSet = (ks: Keyspace, key: string, now: number): SetEntry | null => lookupTyped(ks, key, now, "set");
export const lookupZset = (ks: Keyspace, key: string, now: number): ZsetEntry | null => lookupTyped(ks, key, now, "zset");

/** Store a string, or delete the key when the expiry time has already passed. */
export function putString(ks: Keyspace, key: string, value: string, expiresAt: number | null, now: number): void {
  if (expiresAt !== null && expiresAt <= now) ks.set(key, null);
  else ks.set(key, { type: "string", value: canonicalString(value), expiresAt });
}

/** A value's bytes (binary-safe: see bytes.ts). */
export function utf8(text: string): Uint8Array {
  return bytesOf(text);
}

/** Redis lengths and offsets count bytes: the length of `utf8(text)`. */
export const byteLength = byteLengthOf;

/** Bytes back to a value, losslessly: invalid UTF-8 (e.g. a character cut in two) is kept as escaped bytes (bytes.ts). */
export function fromUtf8(bytes: Uint8Array): string {
  return stringOf(bytes);
}

/** A fresh field table with no prototype, so a field named "__proto__" is an ordinary field. */
export function newFields(from?: Record<string, string>): Record<string, string> {
  const fields = Object.create(null) as Record<string, string>;
  if (from) for (const name of Object.keys(from)) fields[name] = from[name] as string;
  return fields;
}

export function getField(fields: Record<string, string>, name: string): string | null {
  return Object.hasOwn(fields, name) ? (fields[name] as string) : null;
}
