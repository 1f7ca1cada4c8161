/**
 * Commands over the whole keyspace (SCAN, KEYS, DBSIZE, FLUSHDB, FLUSHALL). The engine does not run
 * them, since it only sees the keys a command names; it validates them with Redis's errors and hands
 * the caller what to do. Pure.
 */
import { commandSpec } from "./spec";
import { RedisError, type Command } from "./types";
import { ERR_SYNTAX, arityError, fail, int64Arg } from "./util";

export interface ScanOptions {
  /** The cursor as a canonical unsigned 64-bit decimal ("0" starts an iteration). */
  cursor: string;
  /** The MATCH pattern; null when absent or "*" (everything matches). */
  match: string | null;
  /** The COUNT hint, >= 1; Redis's default is 10. */
  count: number;
  /** The TYPE filter in lower case ("string", "hash", …); null when absent. */
  type: string | null;
  /** HSCAN's NOVALUES flag (always false for SCAN). */
  noValues: boolean;
  /**
   * Upstash's SCAN … WITHTYPE (what @upstash/redis sends for `withType: true`): each key is followed
   * by its type in the reply. Present only when given.
   */
  withType?: true;
}

const UINT64_MAX = 18446744073709551615n;

/** Redis's string2ull cursor check: "ERR invalid cursor" unless an unsigned 64-bit decimal. */
function parseCursor(text: string): string {
  if (!/^\+?[0-9]+$/.test(text)) fail("ERR invalid cursor"); // strtoull's optional '+'; negatives refused as in Redis 7.2
  const value = BigInt(text);
  if (value > UINT64_MAX) fail("ERR invalid cursor");
  return value.toString();
}

/** The options of SCAN (target "keyspace") or HSCAN (target "hash"); args start at the cursor. */
export function parseScanArgs(args: string[], target: "keyspace" | "hash"): ScanOptions {
  const options: ScanOptions = { cursor: parseCursor(args[0] as string), match: null, count: 10, type: null, noValues: false };
  for (let i = 1; i < args.length; ) {
    const opt = (args[i] as string).toLowerCase();
    const hasValue = i + 1 < args.length;
    if (opt === "count" && hasValue) {
      const count = int64Arg(args[i + 1] as string);
      if (count < 1n) fail(ERR_SYNTAX);
      options.count = count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
      i += 2;
    } else if (opt === "match" && hasValue) {
      const pattern = args[i + 1] as string;
      options.match = pattern === "*" ? null : pattern;
      i += 2;
    } else if (opt === "type" && hasValue && target === "keyspace") {
      options.type = (args[i + 1] as string).toLowerCase();
      i += 2;
    } else if (opt === "withtype" && target === "keyspace") {
      options.withType = true;
      i += 1;
    } else if (opt === "novalues" && target === "hash") {
      options.noValues = true;
      i += 1;
    } else fail(ERR_SYNTAX);
  }
  return options;
}

/** SCAN's arguments (after the name: cursor [MATCH pattern] [COUNT count] [TYPE type]); throws RedisError. */
export function parseScan(args: string[]): ScanOptions {
  if (args.length < 1) throw arityError("scan");
  return parseScanArgs(args, "keyspace");
}

export type KeyspaceOp =
  | { kind: "scan"; options: ScanOptions }
  | { kind: "keys"; pattern: string }
  | { kind: "dbsize" }
  | { kind: "flush"; async: boolean }
  | { kind: "randomkey" };

/** Validate a whole-keyspace command (arity, options) and say what the caller must do; throws RedisError. */
export function parseKeyspaceCommand(cmd: Command): KeyspaceOp {
  const spec = commandSpec(cmd.name);
  if (spec === null || !spec.keyspace) throw new RedisError(`ERR '${cmd.name}' is not a keyspace command`);
  const words = cmd.args.length + 1;
  if (spec.arity >= 0 ? words !== spec.arity : words < -spec.arity) throw arityError(cmd.name);
  switch (cmd.name) {
    case "scan":
      return { kind: "scan", options: parseScanArgs(cmd.args, "keyspace") };
    case "keys":
      return { kind: "keys", pattern: cmd.args[0] as string };
    case "dbsize":
      return { kind: "dbsize" };
    case "randomkey":
      return { kind: "randomkey" };
    default: {
      // FLUSHDB / FLUSHALL [ASYNC | SYNC]
      if (cmd.args.length > 1) fail(ERR_SYNTAX);
      const mode = cmd.args[0]?.toLowerCase();
      if (mode !== undefined && mode !== "async" && mode !== "sync") fail(ERR_SYNTAX);
      return { kind: "flush", async: mode === "async" };
    }
  }
}
