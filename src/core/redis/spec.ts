/**
 * What the engine knows about each command before running it: arity, the keys it touches and
 * whether it writes. The key positions follow Redis's COMMAND INFO convention. Pure.
 */
import type { Command } from "./types";

export interface CommandSpec {
  name: string;
  /** Redis arity, counting the name: N = exactly N words, -N = at least N. */
  arity: number;
  readOnly: boolean;
  /** Key positions as Redis numbers them (1 = first argument), lastKey < 0 counts from the end; null = no keys. */
  keys: { firstKey: number; lastKey: number; step: number } | null;
  /** Needs the whole keyspace (SCAN, KEYS, DBSIZE, FLUSHDB…): the caller runs it, not executeCommand. */
  keyspace: boolean;
  /**
   * Position (1 = first argument) of a numkeys argument followed by that many keys (EVAL, ZUNION,
   * SINTERCARD, ZUNIONSTORE after its destination…); null when the command has none.
   */
  numkeys: number | null;
}

type Row = [arity: number, readOnly: boolean, keys: [number, number, number] | null, keyspace?: boolean, numkeys?: number];

const ONE: [number, number, number] = [1, 1, 1];
const ALL: [number, number, number] = [1, -1, 1];
const PAIRS: [number, number, number] = [1, -1, 2];
const TWO: [number, number, number] = [1, 2, 1];

const TABLE: Record<string, Row> = {
  // connection / server
  ping: [-1, true, null],
  echo: [2, true, null],
  time: [1, true, null],
  // strings
  get: [2, true, ONE],
  set: [-3, false, ONE],
  setnx: [3, false, ONE],
  setex: [4, false, ONE],
  psetex: [4, false, ONE],
  getset: [3, false, ONE],
  getdel: [2, false, ONE],
  getex: [-2, false, ONE],
  mget: [-2, true, ALL],
  mset: [-3, false, PAIRS],
  msetnx: [-3, false, PAIRS],
  incr: [2, false, ONE],
  incrby: [3, false, ONE],
  incrbyfloat: [3, false, ONE],
  decr: [2, false, ONE],
  decrby: [3, false, ONE],
  append: [3, false, ONE],
  strlen: [2, true, ONE],
  getrange: [4, true, ONE],
  substr: [4, true, ONE],
  setrange: [4, false, ONE],
  // generic
  del: [-2, false, ALL],
  unlink: [-2, false, ALL],
  exists: [-2, true, ALL],
  touch: [-2, true, ALL],
  type: [2, true, ONE],
  expire: [-3, false, ONE],
  pexpire: [-3, false, ONE],
  expireat: [-3, false, ONE],
  pexpireat: [-3, false, ONE],
  ttl: [2, true, ONE],
  pttl: [2, true, ONE],
  expiretime: [2, true, ONE],
  pexpiretime: [2, true, ONE],
  persist: [2, false, ONE],
  rename: [3, false, TWO],
  renamenx: [3, false, TWO],
  copy: [-3, false, TWO],
  // hashes
  hset: [-4, false, ONE],
  hmset: [-4, false, ONE],
  hsetnx: [4, false, ONE],
  hget: [3, true, ONE],
  hmget: [-3, true, ONE],
  hgetall: [2, true, ONE],
  hdel: [-3, false, ONE],
  hexists: [3, true, ONE],
  hincrby: [4, false, ONE],
  hincrbyfloat: [4, false, ONE],
  hlen: [2, true, ONE],
  hkeys: [2, true, ONE],
  hvals: [2, true, ONE],
  hstrlen: [3, true, ONE],
  hscan: [-3, true, ONE],
  hrandfield: [-2, true, ONE],
  // hash-field TTLs (Redis 7.4 / 8)
  hexpire: [-6, false, ONE],
  hpexpire: [-6, false, ONE],
  hexpireat: [-6, false, ONE],
  hpexpireat: [-6, false, ONE],
  httl: [-5, true, ONE],
  hpttl: [-5, true, ONE],
  hexpiretime: [-5, true, ONE],
  hpexpiretime: [-5, true, ONE],
  hpersist: [-5, false, ONE],
  hgetdel: [-5, false, ONE],
  hgetex: [-5, false, ONE],
  hsetex: [-6, false, ONE],
  // lists
  lpush: [-3, false, ONE],
  rpush: [-3, false, ONE],
  lpushx: [-3, false, ONE],
  rpushx: [-3, false, ONE],
  lpop: [-2, false, ONE],
  rpop: [-2, false, ONE],
  llen: [2, true, ONE],
  lrange: [4, true, ONE],
  lindex: [3, true, ONE],
  lset: [4, false, ONE],
  linsert: [5, false, ONE],
  lrem: [4, false, ONE],
  ltrim: [4, false, ONE],
  lpos: [-3, true, ONE],
  lmove: [5, false, TWO],
  rpoplpush: [3, false, TWO],
  // sets
  sadd: [-3, false, ONE],
  srem: [-3, false, ONE],
  smembers: [2, true, ONE],
  sismember: [3, true, ONE],
  smismember: [-3, true, ONE],
  scard: [2, true, ONE],
  spop: [-2, false, ONE],
  srandmember: [-2, true, ONE],
  smove: [4, false, TWO],
  sinter: [-2, true, ALL],
  sintercard: [-3, true, null, false, 1],
  sunion: [-2, true, ALL],
  sdiff: [-2, true, ALL],
  sinterstore: [-3, false, ALL],
  sunionstore: [-3, false, ALL],
  sdiffstore: [-3, false, ALL],
  sscan: [-3, true, ONE],
  // sorted sets
  zadd: [-4, false, ONE],
  zincrby: [4, false, ONE],
  zscore: [3, true, ONE],
  zmscore: [-3, true, ONE],
  zcard: [2, true, ONE],
  zcount: [4, true, ONE],
  zlexcount: [4, true, ONE],
  zrank: [-3, true, ONE],
  zrevrank: [-3, true, ONE],
  zrem: [-3, false, ONE],
  zremrangebyrank: [4, false, ONE],
  zremrangebyscore: [4, false, ONE],
  zremrangebylex: [4, false, ONE],
  zpopmin: [-2, false, ONE],
  zpopmax: [-2, false, ONE],
  zrandmember: [-2, true, ONE],
  zrange: [-4, true, ONE],
  zrangebyscore: [-4, true, ONE],
  zrevrangebyscore: [-4, true, ONE],
  zrevrange: [-4, true, ONE],
  zrangebylex: [-4, true, ONE],
  zrevrangebylex: [-4, true, ONE],
  zrangestore: [-5, false, TWO],
  zunion: [-3, true, null, false, 1],
  zinter: [-3, true, null, false, 1],
  zdiff: [-3, true, null, false, 1],
  zintercard: [-3, true, null, false, 1],
  zunionstore: [-4, false, ONE, false, 2],
  zinterstore: [-4, false, ONE, false, 2],
  zdiffstore: [-4, false, ONE, false, 2],
  zscan: [-3, true, ONE],
  // HyperLogLog and bitmaps (strings)
  pfadd: [-2, false, ONE],
  pfcount: [-2, true, ALL],
  pfmerge: [-2, false, ALL],
  setbit: [4, false, ONE],
  getbit: [3, true, ONE],
  bitcount: [-2, true, ONE],
  bitpos: [-3, true, ONE],
  bitop: [-4, false, [2, -1, 1]],
  // scripting: the keys are the ones the script declares
  eval: [-3, false, null, false, 2],
  evalsha: [-3, false, null, false, 2],
  eval_ro: [-3, true, null, false, 2],
  evalsha_ro: [-3, true, null, false, 2],
  script: [-2, false, null],
  // whole keyspace: parsed here, run by the caller
  scan: [-2, true, null, true],
  keys: [2, true, null, true],
  dbsize: [1, true, null, true],
  flushdb: [-1, false, null, true],
  flushall: [-1, false, null, true],
  randomkey: [1, true, null, true],
};

const SPECS = new Map<string, CommandSpec>(
  Object.entries(TABLE).map(([name, [arity, readOnly, keys, keyspace, numkeys]]) => [
    name,
    {
      name,
      arity,
      readOnly,
      keys: keys === null ? null : { firstKey: keys[0], lastKey: keys[1], step: keys[2] },
      keyspace: keyspace === true,
      numkeys: numkeys ?? null,
    },
  ]),
);

/** Redis commands this server deliberately does not serve (other data types, pub/sub, scripting…). */
const UNSUPPORTED = new Set(
  (
    "lmpop sort sort_ro zmpop " +
    "xadd xrange xrevrange xlen xread xreadgroup xgroup xack xclaim xautoclaim xdel xtrim xinfo xpending xsetid " +
    "subscribe unsubscribe psubscribe punsubscribe ssubscribe sunsubscribe publish spublish pubsub " +
    "fcall fcall_ro function multi exec discard watch unwatch bitfield bitfield_ro " +
    "geoadd geodist geohash geopos georadius georadius_ro georadiusbymember georadiusbymember_ro geosearch geosearchstore " +
    "lcs move dump restore object select swapdb wait waitaof info config client lastsave"
  ).split(" "),
);

/**
 * Commands that block the connection until data arrives: the REST protocol holds no connection to
 * block, so each answers an error naming its non-blocking form.
 */
export const BLOCKING: Readonly<Record<string, string>> = {
  blpop: "LPOP",
  brpop: "RPOP",
  blmove: "LMOVE",
  brpoplpush: "RPOPLPUSH",
  blmpop: "LPOP or RPOP",
  bzpopmin: "ZPOPMIN",
  bzpopmax: "ZPOPMAX",
  bzmpop: "ZPOPMIN or ZPOPMAX",
};

/** Every command the engine knows, by lower-case name (the README's table and the fuzz test read it). */
export function commandNames(): string[] {
  return [...SPECS.keys()];
}

/** The spec of a command by lower-case name; null when the engine does not know it. */
export function commandSpec(name: string): CommandSpec | null {
  return SPECS.get(name) ?? null;
}

/** True for a command Redis has but this server does not serve (RedisJSON's json.* included). */
export function isUnsupportedCommand(name: string): boolean {
  return UNSUPPORTED.has(name) || Object.hasOwn(BLOCKING, name) || name.startsWith("json.");
}

/** True for SCAN, KEYS, DBSIZE, FLUSHDB, FLUSHALL: they need the whole keyspace, so the caller runs them. */
export function isKeyspaceCommand(name: string): boolean {
  return SPECS.get(name)?.keyspace === true;
}

/** The keys a command reads or writes, in argument order (repeats kept); [] for unknown or keyless commands. */
export function keysOf(cmd: Command): string[] {
  const spec = SPECS.get(cmd.name);
  if (!spec || (spec.keys === null && spec.numkeys === null)) return [];
  const keys: string[] = [];
  if (spec.keys !== null) {
    const { firstKey, lastKey, step } = spec.keys;
    const last = lastKey < 0 ? cmd.args.length + 1 + lastKey : lastKey;
    for (let i = firstKey; i <= last && i <= cmd.args.length; i += step) keys.push(cmd.args[i - 1] as string);
  }
  if (spec.numkeys !== null) {
    // numkeys keys follow the count; a count that is not a number or runs past the arguments names
    // only the keys present (the command itself answers Redis's error for it).
    const count = Number(cmd.args[spec.numkeys - 1]);
    if (Number.isSafeInteger(count) && count > 0) {
      for (let i = spec.numkeys; i < spec.numkeys + count && i < cmd.args.length; i++) keys.push(cmd.args[i] as string);
    }
  }
  return keys;
}

/** Whether a command only reads. Unknown commands count as writes (the caller replies with an error anyway). */
export function isReadOnly(cmd: Command): boolean {
  return SPECS.get(cmd.name)?.readOnly ?? false;
}
