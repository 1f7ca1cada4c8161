/**
 * The Redis data model over the cache: every key holds one value of one type, stored as ONE cache
 * entry on the key's replicas (versions, TTLs, eviction and read repair as for any entry). A string
 * is stored as its text; the other types as JSON under their own content type (see codec.ts).
 */
export const HASH_CONTENT_TYPE = "application/vnd.durable-cluster.redis-hash+json";
/** A hash some of whose fields have their own expiry time (HEXPIRE, HSETEX…): `{"fields": {...}, "expires": {field: unix ms}}`. */
export const HASH_TTL_CONTENT_TYPE = "application/vnd.durable-cluster.redis-hash-ttl+json";
export const LIST_CONTENT_TYPE = "application/vnd.durable-cluster.redis-list+json";
export const SET_CONTENT_TYPE = "application/vnd.durable-cluster.redis-set+json";
export const ZSET_CONTENT_TYPE = "application/vnd.durable-cluster.redis-zset+json";
/** A string that is not valid UTF-8 (a bitmap, a HyperLogLog, SETRANGE's bytes): base64 of its bytes (codec.ts, bytes.ts). */
export const BYTES_CONTENT_TYPE = "application/vnd.durable-cluster.redis-bytes+base64";
/** Content type of strings written through the Redis endpoint. */
export const STRING_CONTENT_TYPE = "text/plain; charset=utf-8";

/**
 * One key's value. Entries read from a Keyspace are shared (a snapshot hands the same object to
 * every command of a batch): a command never changes one in place, it builds a new entry and
 * `set`s it. An emptied list, set or sorted set is deleted (set to null), as Redis does.
 */
export type Entry =
  | { type: "string"; value: string; expiresAt: number | null }
  /**
   * fieldExpiresAt: unix ms after which a field is gone (Redis 7.4's hash-field TTLs), for the fields
   * that have one; absent or empty when none has. Reads see a hash without its expired fields (util.ts lookup).
   */
  | { type: "hash"; fields: Record<string, string>; expiresAt: number | null; fieldExpiresAt?: Record<string, number> }
  /** Items head (index 0, LPUSH's end) to tail. */
  | { type: "list"; items: string[]; expiresAt: number | null }
  | { type: "set"; members: Set<string>; expiresAt: number | null }
  /** Member -> score; ordered by (score, member bytes) when read. Scores are never NaN. */
  | { type: "zset"; scores: Map<string, number>; expiresAt: number | null };

export type EntryType = Entry["type"];

/** A reply: Redis integers are numbers, bulk and simple strings are strings, nil is null, arrays nest; an error is a RedisError. */
export type Reply = null | number | string | Reply[];

/** An error reply with Redis's own text, e.g. "ERR wrong number of arguments for 'get' command". */
export class RedisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisError";
  }
}

/** A parsed command: its lower-case name and its arguments as Redis sees them (strings). */
export interface Command {
  name: string;
  args: string[];
}

/**
 * The keyspace as one command batch sees it: the entries of the keys it touches, read before it
 * runs (absent = null), changed in place as its commands run.
 */
export interface Keyspace {
  get(key: string): Entry | null;
  set(key: string, entry: Entry | null): void;
}
