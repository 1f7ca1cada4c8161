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
}

type Row = [arity: number, readOnly: boolean, keys: [number, number, number] | null, keyspace?: boolean];

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
  // whole keyspace: parsed here, run by the caller
  scan: [-2, true, null, true],
  keys: [2, true, null, true],
  dbsize: [1, true, null, true],
  flushdb: [-1, false, null, true],
  flushall: [-1, false, null, true],
};

const SPECS = new Map<string, CommandSpec>(
  Object.entries(TABLE).map(([name, [arity, readOnly, keys, keyspace]]) => [
    name,
    {
      name,
      arity,
      readOnly,
      keys: keys === null ? null : { firstKey: keys[0], lastKey: keys[1], step: keys[2] },
      keyspace: keyspace === true,
    },
  ]),
);

/** Redis commands this server deliberately does not serve (other data types, pub/sub, scripting…). */
const UNSUPPORTED = new Set(
  (
    "lpush rpush lpushx rpushx lpop rpop lrange llen lindex lset lrem ltrim linsert lpos lmove blmove lmpop blmpop " +
    "blpop brpop brpoplpush rpoplpush sort sort_ro " +
    "sadd srem smembers sismember smismember scard spop srandmember smove sinter sinterstore sintercard sunion " +
    "sunionstore sdiff sdiffstore sscan " +
    "zadd zrem zrange zrangestore zrangebyscore zrevrange zrevrangebyscore zrangebylex zrevrangebylex zcard zcount " +
    "zlexcount zscore zmscore zincrby zrank zrevrank zpopmin zpopmax bzpopmin bzpopmax zmpop bzmpop zrandmember " +
    "zremrangebyrank zremrangebyscore zremrangebylex zunion zunionstore zinter zinterstore zintercard zdiff zdiffstore zscan " +
    "xadd xrange xrevrange xlen xread xreadgroup xgroup xack xclaim xautoclaim xdel xtrim xinfo xpending xsetid " +
    "subscribe unsubscribe psubscribe punsubscribe ssubscribe sunsubscribe publish spublish pubsub " +
    "eval evalsha eval_ro evalsha_ro script fcall fcall_ro function multi exec discard watch unwatch " +
    "setbit getbit bitcount bitpos bitop bitfield bitfield_ro pfadd pfcount pfmerge " +
    "geoadd geodist geohash geopos georadius georadius_ro georadiusbymember georadiusbymember_ro geosearch geosearchstore " +
    "hrandfield hexpire hpexpire hexpireat hpexpireat httl hpttl hexpiretime hpexpiretime hpersist hgetdel hgetex hsetex " +
    "lcs randomkey move dump restore object select swapdb wait waitaof info config client lastsave"
  ).split(" "),
);

/** The spec of a command by lower-case name; null when the engine does not know it. */
export function commandSpec(name: string): CommandSpec | null {
  return SPECS.get(name) ?? null;
}

/** True for a command Redis has but this server does not serve (RedisJSON's json.* included). */
export function isUnsupportedCommand(name: string): boolean {
  return UNSUPPORTED.has(name) || name.startsWith("json.");
}

/** True for SCAN, KEYS, DBSIZE, FLUSHDB, FLUSHALL: they need the whole keyspace, so the caller runs them. */
export function isKeyspaceCommand(name: string): boolean {
  return SPECS.get(name)?.keyspace === true;
}

/** The keys a command reads or writes, in argument order (repeats kept); [] for unknown or keyless commands. */
export function keysOf(cmd: Command): string[] {
  const spec = SPECS.get(cmd.name);
  if (!spec || spec.keys === null) return [];
  const { firstKey, lastKey, step } = spec.keys;
  const last = lastKey < 0 ? cmd.args.length + 1 + lastKey : lastKey;
  const keys: string[] = [];
  for (let i = firstKey; i <= last && i <= cmd.args.length; i += step) keys.push(cmd.args[i - 1] as string);
  return keys;
}

/** Whether a command only reads. Unknown commands count as writes (the caller replies with an error anyway). */
export function isReadOnly(cmd: Command): boolean {
  return SPECS.get(cmd.name)?.readOnly ?? false;
}
