/** Key-level commands (db.c / expire.c semantics): DEL, EXISTS, TYPE, EXPIRE & co., TTL & co., RENAME, COPY. Pure. */
import { cloneEntry } from "./codec";
import type { Entry, Keyspace, Reply } from "./types";
import { ERR_SYNTAX, INT64_MAX, INT64_MIN, fail, int64Arg, intReply, invalidExpireError, lookup, type Handler } from "./util";

function countLive(args: string[], ks: Keyspace, now: number): number {
  let count = 0;
  for (const key of args) if (lookup(ks, key, now) !== null) count++;
  return count;
}

function deleteKeys(args: string[], ks: Keyspace, now: number): number {
  let deleted = 0;
  for (const key of args) {
    if (lookup(ks, key, now) !== null) deleted++;
    if (ks.get(key) !== null) ks.set(key, null); // an expired entry goes too: Redis deletes it lazily
  }
  return deleted;
}

function withExpiry(entry: Entry, expiresAt: number | null): Entry {
  return { ...entry, expiresAt } as Entry;
}

/**
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with Redis 7's NX | XX | GT | LT: GT and LT treat "no
 * expiry" as an infinite TTL; a time at or before now deletes the key (and replies 1).
 */
function expireCommand(unit: "s" | "ms", relative: boolean): Handler {
  return (args, ks, now, { name }) => {
    const [key, timeText] = args as [string, string];
    let nx = false, xx = false, gt = false, lt = false;
    for (const option of args.slice(2)) {
      const opt = option.toLowerCase();
      if (opt === "nx") nx = true;
      else if (opt === "xx") xx = true;
      else if (opt === "gt") gt = true;
      else if (opt === "lt") lt = true;
      else fail(`ERR Unsupported option ${option}`);
    }
    if (nx && (xx || gt || lt)) fail("ERR NX and XX, GT or LT options at the same time are not compatible");
    if (gt && lt) fail("ERR GT and LT options at the same time are not compatible");
    let when = int64Arg(timeText);
    if (unit === "s") {
      if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) throw invalidExpireError(name);
      when *= 1000n;
    }
    const base = relative ? BigInt(Math.trunc(now)) : 0n;
    if (when > INT64_MAX - base) throw invalidExpireError(name);
    when += base;
    const entry = lookup(ks, key, now);
    if (entry === null) return 0;
    const current = entry.expiresAt === null ? null : BigInt(Math.trunc(entry.expiresAt));
    if (nx && current !== null) return 0;
    if (xx && current === null) return 0;
    if (gt && (current === null || when <= current)) return 0;
    if (lt && current !== null && when >= current) return 0;
    if (when <= BigInt(Math.trunc(now))) ks.set(key, null);
    else ks.set(key, withExpiry(entry, Number(when)));
    return 1;
  };
}

/** TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 when the key is absent, -1 when it has no expiry. */
function ttlCommand(unit: "s" | "ms", absolute: boolean): Handler {
  return (args, ks, now) => {
    const entry = lookup(ks, args[0] as string, now);
    if (entry === null) return -2;
    if (entry.expiresAt === null) return -1;
    const ms = absolute ? entry.expiresAt : Math.max(0, entry.expiresAt - now);
    return intReply(unit === "ms" ? Math.trunc(ms) : Math.floor((Math.trunc(ms) + 500) / 1000)); // Redis rounds: (ms+500)/1000
  };
}

function renameCommand(nx: boolean): Handler {
  return (args, ks, now) => {
    const [source, destination] = args as [string, string];
    const entry = lookup(ks, source, now);
    if (entry === null) fail("ERR no such key");
    if (source === destination) return nx ? 0 : "OK";
    if (nx && lookup(ks, destination, now) !== null) return 0;
    ks.set(destination, entry); // the TTL moves with the value
    ks.set(source, null);
    return nx ? 1 : "OK";
  };
}

/** COPY source destination [DB 0] [REPLACE]: this server has one database, so DB must be 0. */
function copyCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [source, destination] = args as [string, string];
  let replace = false;
  for (let j = 2; j < args.length; j++) {
    const opt = (args[j] as string).toLowerCase();
    if (opt === "replace") replace = true;
    else if (opt === "db" && j + 1 < args.length) {
      if (int64Arg(args[j + 1] as string) !== 0n) fail("ERR DB index is out of range");
      j++;
    } else fail(ERR_SYNTAX);
  }
  if (source === destination) fail("ERR source and destination objects are the same");
  const entry = lookup(ks, source, now);
  if (entry === null) return 0;
  if (!replace && lookup(ks, destination, now) !== null) return 0;
  ks.set(destination, cloneEntry(entry));
  return 1;
}

export const genericCommands: Record<string, Handler> = {
  del: deleteKeys,
  unlink: deleteKeys,
  exists: countLive,
  touch: countLive,
  type: (args, ks, now) => lookup(ks, args[0] as string, now)?.type ?? "none",
  expire: expireCommand("s", true),
  pexpire: expireCommand("ms", true),
  expireat: expireCommand("s", false),
  pexpireat: expireCommand("ms", false),
  ttl: ttlCommand("s", false),
  pttl: ttlCommand("ms", false),
  expiretime: ttlCommand("s", true),
  pexpiretime: ttlCommand("ms", true),
  persist: (args, ks, now) => {
    const key = args[0] as string;
    const entry = lookup(ks, key, now);
    if (entry === null || entry.expiresAt === null) return 0;
    ks.set(key, withExpiry(entry, null));
    return 1;
  },
  rename: renameCommand(false),
  renamenx: renameCommand(true),
  copy: copyCommand,
};
