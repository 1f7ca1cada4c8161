/**
 * Bitmap commands (bitops.c semantics, Redis 7.0): a bitmap is a string, bit 0 the most significant
 * bit of byte 0. The bytes come from and go back to the string through bytes.ts, so a bitmap with
 * bytes that are not UTF-8 is held and stored without loss. Pure.
 */
import type { Keyspace, Reply } from "./types";
import {
  ERR_SYNTAX,
  ERR_TOO_LONG,
  MAX_STRING_BYTES,
  fail,
  fromUtf8,
  int64Arg,
  lookup,
  lookupString,
  parseInt64,
  putString,
  utf8,
  type Context,
  type Handler,
} from "./util";

const ERR_BIT_OFFSET = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE = "ERR bit is not an integer or out of range";

/** Redis's getBitOffsetFromArgument: a non-negative integer whose byte is within proto-max-bulk-len (512 MB). */
function bitOffset(text: string): number {
  const offset = parseInt64(text);
  if (offset === null || offset < 0n || offset >> 3n >= BigInt(MAX_STRING_BYTES)) fail(ERR_BIT_OFFSET);
  return Number(offset);
}

/** The bytes of the string at `key` (empty when absent); WRONGTYPE for another type. */
function bitsOf(ks: Keyspace, key: string, now: number): Uint8Array | null {
  const entry = lookupString(ks, key, now);
  return entry === null ? null : utf8(entry.value);
}

function popcount8(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}

function setbitCommand(args: string[], ks: Keyspace, now: number, ctx: Context): Reply {
  const [key, offsetText, bitText] = args as [string, string, string];
  const offset = bitOffset(offsetText);
  if (bitText !== "0" && bitText !== "1") fail(ERR_BIT_VALUE);
  const current = lookupString(ks, key, now);
  const old = current === null ? new Uint8Array(0) : utf8(current.value);
  const byte = Math.floor(offset / 8);
  const mask = 0x80 >> (offset % 8);
  const previous = byte < old.length && ((old[byte] as number) & mask) !== 0 ? 1 : 0;
  const on = bitText === "1";
  // Unchanged and already long enough: nothing to write (Redis still "writes", but the value is the same).
  if (current !== null && byte < old.length && (previous === 1) === on) return previous;
  if (byte + 1 > ctx.maxValueBytes) fail(ERR_TOO_LONG);
  const bytes = new Uint8Array(Math.max(old.length, byte + 1)); // grown with zero bytes
  bytes.set(old);
  bytes[byte] = on ? (bytes[byte] as number) | mask : (bytes[byte] as number) & ~mask;
  putString(ks, key, fromUtf8(bytes), current?.expiresAt ?? null, now);
  return previous;
}

function getbitCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, offsetText] = args as [string, string];
  const offset = bitOffset(offsetText);
  const bytes = bitsOf(ks, key, now);
  if (bytes === null) return 0;
  const byte = Math.floor(offset / 8);
  return byte < bytes.length && ((bytes[byte] as number) & (0x80 >> (offset % 8))) !== 0 ? 1 : 0;
}

/** BYTE or BIT, case-insensitive; anything else is a syntax error. */
function unitIsBit(text: string): boolean {
  const unit = text.toLowerCase();
  if (unit === "bit") return true;
  if (unit === "byte") return false;
  return fail(ERR_SYNTAX);
}

/** Redis's range clamping: negative indexes count from the end; the result is [start, end] within [0, total-1], empty when start > end. */
function clampRange(start: bigint, end: bigint, total: bigint): [bigint, bigint] {
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  return [start, end];
}

/** Whether bit `i` (0 = most significant bit of byte 0) is set. */
const bitAt = (bytes: Uint8Array, i: number): number => ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;

function bitcountCommand(args: string[], ks: Keyspace, now: number): Reply {
  const key = args[0] as string;
  const bytes = bitsOf(ks, key, now); // 7.0 looks the key up before it parses the range
  if (bytes === null) return 0;
  let first = 0; // bit range, inclusive
  let last = bytes.length * 8 - 1;
  if (args.length === 3 || args.length === 4) {
    const start = int64Arg(args[1] as string);
    const end = int64Arg(args[2] as string);
    const isBit = args.length === 4 ? unitIsBit(args[3] as string) : false;
    if (start < 0n && end < 0n && start > end) return 0;
    const total = BigInt(bytes.length) * (isBit ? 8n : 1n);
    const [s, e] = clampRange(start, end, total);
    if (s > e) return 0;
    first = isBit ? Number(s) : Number(s) * 8;
    last = isBit ? Number(e) : Number(e) * 8 + 7;
  } else if (args.length !== 1) fail(ERR_SYNTAX);
  if (first > last) return 0;
  let count = 0;
  let i = first;
  for (; i <= last && (i & 7) !== 0; i++) count += bitAt(bytes, i);
  for (; i + 7 <= last; i += 8) count += popcount8(bytes[i >> 3] as number);
  for (; i <= last; i++) count += bitAt(bytes, i);
  return count;
}

function bitposCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, bitText] = args as [string, string];
  const bit = int64Arg(bitText);
  if (bit !== 0n && bit !== 1n) fail("ERR The bit argument must be 1 or 0.");
  const target = Number(bit);
  const entry = lookup(ks, key, now);
  // A missing key is an infinite run of zero bits, whatever the range says.
  if (entry === null) return target === 1 ? -1 : 0;
  const bytes = bitsOf(ks, key, now) as Uint8Array;
  let first = 0;
  let last = bytes.length * 8 - 1;
  let endGiven = false;
  if (args.length >= 3 && args.length <= 5) {
    const start = int64Arg(args[2] as string);
    const isBit = args.length === 5 ? unitIsBit(args[4] as string) : false;
    const total = BigInt(bytes.length) * (isBit ? 8n : 1n);
    let end = total - 1n;
    if (args.length >= 4) {
      end = int64Arg(args[3] as string);
      endGiven = true;
    }
    const [s, e] = clampRange(start, end, total);
    if (s > e) return -1; // an empty range holds neither a 0 nor a 1
    first = isBit ? Number(s) : Number(s) * 8;
    last = isBit ? Number(e) : Number(e) * 8 + 7;
  } else if (args.length !== 2) fail(ERR_SYNTAX);
  if (first > last) return -1;
  let i = first;
  const skip = target === 1 ? 0x00 : 0xff; // a whole byte that cannot hold the bit sought
  while (i <= last) {
    if ((i & 7) === 0 && i + 7 <= last && bytes[i >> 3] === skip) {
      i += 8;
      continue;
    }
    if (bitAt(bytes, i) === target) return i;
    i++;
  }
  // No clear bit in the string: without an explicit end, the zero bits right of it count.
  if (target === 0 && !endGiven) return last + 1;
  return -1;
}

function bitopCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [opText, dest, ...sources] = args as [string, string, ...string[]];
  const op = opText.toLowerCase();
  if (op !== "and" && op !== "or" && op !== "xor" && op !== "not") fail(ERR_SYNTAX);
  if (op === "not" && sources.length !== 1) fail("ERR BITOP NOT must be called with a single source key.");
  const inputs = sources.map((key) => bitsOf(ks, key, now) ?? new Uint8Array(0));
  const length = inputs.reduce((n, b) => Math.max(n, b.length), 0);
  if (length === 0) {
    ks.set(dest, null);
    return 0;
  }
  const out = new Uint8Array(length);
  const byteOf = (b: Uint8Array, j: number) => (j < b.length ? (b[j] as number) : 0);
  for (let j = 0; j < length; j++) {
    let v = byteOf(inputs[0] as Uint8Array, j);
    if (op === "not") v = ~v & 0xff;
    for (let k = 1; k < inputs.length; k++) {
      const b = byteOf(inputs[k] as Uint8Array, j);
      v = op === "and" ? v & b : op === "or" ? v | b : v ^ b;
    }
    out[j] = v;
  }
  putString(ks, dest, fromUtf8(out), null, now); // a new value: the destination's TTL goes, as with SET
  return length;
}

export const bitmapsCommands: Record<string, Handler> = {
  setbit: setbitCommand,
  getbit: getbitCommand,
  bitcount: bitcountCommand,
  bitpos: bitposCommand,
  bitop: bitopCommand,
};
