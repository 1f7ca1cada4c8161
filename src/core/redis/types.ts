/**
 * The Redis data model over the cache: every key holds a string or a hash. A hash is stored as one
 * cache entry whose content type is HASH_CONTENT_TYPE and whose value is a JSON object of fields.
 */
export const HASH_CONTENT_TYPE = "application/vnd.durable-cluster.redis-hash+json";
/** Content type of strings written through the Redis endpoint. */
export const STRING_CONTENT_TYPE = "text/plain; charset=utf-8";

export type Entry =
  | { type: "string"; value: string; expiresAt: number | null }
  | { type: "hash"; fields: Record<string, string>; expiresAt: number | null };

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
