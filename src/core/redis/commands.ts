/**
 * The Redis command engine: runs one parsed command against the keys it names, with Redis 7
 * semantics and error texts. Pure: the keyspace and the time (unix ms) are passed in.
 */
import { bitmapsCommands } from "./bitmaps";
import { genericCommands } from "./generic";
import { hashCommands } from "./hashes";
import { hashTtlCommands } from "./hash-ttl";
import { hllCommands } from "./hll";
import { listsCommands } from "./lists";
import { scriptingCommands } from "./scripting";
import { setsCommands } from "./sets";
import { BLOCKING, commandSpec, isUnsupportedCommand } from "./spec";
import { stringCommands } from "./strings";
import { zsetsCommands } from "./zsets";
import { RedisError, type Command, type Keyspace, type Reply } from "./types";
import { MAX_STRING_BYTES, arityError, type Handler } from "./util";

/** Limits the caller may tighten. */
export interface EngineOptions {
  /**
   * The largest string value APPEND and SETRANGE may build, in UTF-8 bytes; beyond it they reply
   * "ERR string exceeds maximum allowed size (proto-max-bulk-len)". Defaults to Redis's 512 MB:
   * pass the server's value-size limit, since SETRANGE k 100000000 x would otherwise allocate 100 MB.
   */
  maxValueBytes?: number;
  /** Scripts by SHA1 (EVALSHA, SCRIPT LOAD|EXISTS|FLUSH): the caller's cache, kept across requests. */
  scripts?: Map<string, string>;
  /** Randomness for HRANDFIELD, SRANDMEMBER, SPOP…: a number in [0, 1) per call (the service passes Math.random). */
  random?: () => number;
  /** Wall clock (unix ms) for a script's time budget; without it only its instruction budget applies. */
  clock?: () => number;
  /**
   * SCAN replies the caller fetched for scripts (scripting.ts): a script's SCAN is answered from here,
   * and one not here stops the script with NeedScan, for the caller to fetch it and run the script again.
   */
  scans?: import("./scripting").ScanMemo;
  /** Seed of a script's math.random: the same across the replays of one request, so a replay draws the same. */
  scriptSeed?: number;
  /** What the request's scripts have used so far (time, SCAN steps); updated by each script. */
  scriptUse?: import("./scripting").ScriptUse;
}

export { parseCommand, argumentText, type ParseResult } from "./parse";
export { commandNames, commandSpec, isKeyspaceCommand, isReadOnly, isUnsupportedCommand, keysOf, type CommandSpec } from "./spec";
export { parseKeyspaceCommand, parseScan, type KeyspaceOp, type ScanOptions } from "./keyspace";
export { compileGlob, globToRegExp } from "./glob";

/** V8's longest string (2^29 - 24 code units): a bigger APPEND/SETRANGE result would throw a RangeError. */
const JS_MAX_STRING_LENGTH = 2 ** 29 - 24;

const serverCommands: Record<string, Handler> = {
  ping: (args, _ks, _now, ctx) => {
    if (args.length > 1) throw arityError(ctx.name);
    return args[0] ?? "PONG";
  },
  echo: (args) => args[0] as string,
  /** TIME from the time the caller passed in: [unix seconds, microseconds] as strings. */
  time: (_args, _ks, now) => {
    const micros = BigInt(Math.trunc(now * 1000));
    return [(micros / 1_000_000n).toString(), (micros % 1_000_000n).toString()];
  },
};

const HANDLERS = new Map<string, Handler>(
  Object.entries({
    ...serverCommands,
    ...stringCommands,
    ...genericCommands,
    ...hashCommands,
    ...hashTtlCommands,
    ...listsCommands,
    ...setsCommands,
    ...zsetsCommands,
    ...hllCommands,
    ...bitmapsCommands,
    ...scriptingCommands,
  }),
);

/** The reply to a command Redis has but this server does not serve. */
export function unsupportedCommandError(cmd: Command): RedisError {
  const instead = BLOCKING[cmd.name];
  if (instead !== undefined) {
    return new RedisError(`ERR unsupported command '${cmd.name}': it blocks the connection until data arrives, and the REST protocol holds no connection; use ${instead}`);
  }
  return new RedisError(`ERR unsupported command '${cmd.name}' (see the README's command table)`);
}

/** Redis's reply to a command it does not know, arguments quoted and cut at 128 characters. */
export function unknownCommandError(cmd: Command): RedisError {
  let args = "";
  for (const arg of cmd.args) {
    if (args.length >= 128) break;
    args += `'${arg.slice(0, 128 - args.length)}' `;
  }
  const name = cmd.name.slice(0, 128);
  return new RedisError(`ERR unknown command '${name}', with args beginning with: ${args}`.replace(/[\r\n]/g, " "));
}

/**
 * Run one command. Entries whose expiresAt <= now count as absent. Returns the reply; throws
 * RedisError for an error reply (unknown, unsupported and whole-keyspace commands included).
 */
export function executeCommand(cmd: Command, ks: Keyspace, now: number, options: EngineOptions = {}): Reply {
  const spec = commandSpec(cmd.name);
  const handler = HANDLERS.get(cmd.name);
  if (spec === null || (handler === undefined && !spec.keyspace)) {
    if (isUnsupportedCommand(cmd.name)) {
      throw unsupportedCommandError(cmd);
    }
    throw unknownCommandError(cmd);
  }
  const words = cmd.args.length + 1;
  if (spec.arity >= 0 ? words !== spec.arity : words < -spec.arity) throw arityError(cmd.name);
  if (handler === undefined) throw new RedisError(`ERR '${cmd.name}' spans the whole keyspace and is not run by the command engine`);
  const maxValueBytes = Math.min(options.maxValueBytes ?? MAX_STRING_BYTES, MAX_STRING_BYTES, JS_MAX_STRING_LENGTH);
  const call = (nested: Command): Reply => executeCommand(nested, ks, now, options);
  return handler(cmd.args, ks, now, { name: cmd.name, maxValueBytes, call, options });
}
