/**
 * HyperLogLog commands (hyperloglog.c semantics, Redis 7.0): 16384 six-bit registers addressed by
 * MurmurHash64A (seed 0xadc83b19) of the element, counted with Ertl's improved estimator, so PFCOUNT
 * answers what Redis answers for the same elements. The value is a string in Redis's own layout
 * ("HYLL" header, then sparse opcodes or dense 6-bit registers), held binary-safe (bytes.ts). The
 * sparse form is re-encoded from the registers at each write, so its opcodes may be split where
 * Redis's in-place edits split them differently, and the header's cached cardinality is never
 * filled in (always marked stale): the bytes GET returns can differ from Redis's, the counts do not.
 * Pure.
 */
import { murmurHash64A } from "./murmur64";
import type { Entry, Keyspace, Reply } from "./types";
import { fromUtf8, lookup, putString, utf8, fail, ERR_WRONGTYPE, type Handler } from "./util";

const P = 14;
const REGISTERS = 1 << P; // 16384
const Q = 64 - P; // 50
const BITS = 6;
const HEADER_BYTES = 16;
const DENSE_BYTES = HEADER_BYTES + Math.floor((REGISTERS * BITS + 7) / 8); // 12304
const DENSE = 0;
const SPARSE = 1;
/** Redis's hll-sparse-max-bytes default: a larger sparse form is promoted to dense. */
const SPARSE_MAX_BYTES = 3000;
const SPARSE_VAL_MAX = 32;
const SEED = 0xadc83b19;
const ALPHA_INF = 0.721347520444481703680;

const ERR_NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const ERR_CORRUPT = "INVALIDOBJ Corrupted HLL object detected";

/** A HyperLogLog read from a value: its registers (one byte each) and whether it was dense. */
interface Hll {
  registers: Uint8Array;
  dense: boolean;
}

/** Register index and run length (trailing zeros + 1, at most Q + 1) of an element: Redis's hllPatLen. */
export function patternOf(element: Uint8Array): { index: number; count: number } {
  const hash = murmurHash64A(element, SEED);
  const index = Number(hash & BigInt(REGISTERS - 1));
  const rest = hash >> BigInt(P);
  const low = Number(rest & 0xffffffffn);
  const high = Number(rest >> 32n) | (1 << (Q - 32)); // the loop-ending bit Redis sets at position Q
  const ctz = (x: number) => 31 - Math.clz32(x & -x);
  return { index, count: low !== 0 ? ctz(low) + 1 : ctz(high) + 33 };
}

/** The registers of a Redis HLL value, or null when the value is not one (isHLLObjectOrReply); INVALIDOBJ for corrupt sparse data. */
function parseHll(bytes: Uint8Array): Hll | null {
  if (bytes.length < HEADER_BYTES) return null;
  if (bytes[0] !== 0x48 || bytes[1] !== 0x59 || bytes[2] !== 0x4c || bytes[3] !== 0x4c) return null; // "HYLL"
  const encoding = bytes[4] as number;
  if (encoding > SPARSE) return null;
  const registers = new Uint8Array(REGISTERS);
  if (encoding === DENSE) {
    if (bytes.length !== DENSE_BYTES) return null;
    for (let i = 0; i < REGISTERS; i++) {
      const bit = i * BITS;
      const b = HEADER_BYTES + (bit >> 3);
      const shift = bit & 7;
      const word = (bytes[b] as number) | ((bytes[b + 1] ?? 0) << 8);
      registers[i] = (word >> shift) & 63;
    }
    return { registers, dense: true };
  }
  let index = 0;
  for (let p = HEADER_BYTES; p < bytes.length; ) {
    const op = bytes[p] as number;
    let run: number;
    let value = 0;
    if ((op & 0xc0) === 0x00) {
      run = (op & 0x3f) + 1; // ZERO
      p += 1;
    } else if ((op & 0xc0) === 0x40) {
      if (p + 1 >= bytes.length) fail(ERR_CORRUPT);
      run = (((op & 0x3f) << 8) | (bytes[p + 1] as number)) + 1; // XZERO
      p += 2;
    } else {
      value = ((op >> 2) & 0x1f) + 1; // VAL
      run = (op & 0x03) + 1;
      p += 1;
    }
    if (index + run > REGISTERS) fail(ERR_CORRUPT);
    if (value !== 0) registers.fill(value, index, index + run);
    index += run;
  }
  if (index !== REGISTERS) fail(ERR_CORRUPT);
  return { registers, dense: false };
}

/** The HLL at a key: null when absent; WRONGTYPE for another type or a string that is not an HLL. */
function lookupHll(ks: Keyspace, key: string, now: number): { entry: Entry; hll: Hll } | null {
  const entry = lookup(ks, key, now);
  if (entry === null) return null;
  if (entry.type !== "string") fail(ERR_WRONGTYPE);
  const hll = parseHll(utf8(entry.value));
  if (hll === null) fail(ERR_NOT_HLL);
  return { entry, hll };
}

function header(encoding: number): number[] {
  // The cached cardinality (bytes 8..15) is marked stale (top bit of byte 15): Redis recomputes it.
  return [0x48, 0x59, 0x4c, 0x4c, encoding, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80];
}

/** The sparse form of the registers, or null when it cannot hold them (a value > 32, or longer than the sparse limit). */
function encodeSparse(registers: Uint8Array): Uint8Array | null {
  const out: number[] = header(SPARSE);
  for (let i = 0; i < REGISTERS; ) {
    const value = registers[i] as number;
    let j = i + 1;
    while (j < REGISTERS && registers[j] === value) j++;
    let run = j - i;
    if (value === 0) {
      while (run > 0) {
        const n = Math.min(run, run > 64 ? 16384 : 64);
        if (n > 64) out.push(0x40 | ((n - 1) >> 8), (n - 1) & 0xff);
        else out.push(n - 1);
        run -= n;
      }
    } else {
      if (value > SPARSE_VAL_MAX) return null;
      while (run > 0) {
        const n = Math.min(run, 4);
        out.push(0x80 | ((value - 1) << 2) | (n - 1));
        run -= n;
      }
    }
    if (out.length > SPARSE_MAX_BYTES) return null;
    i = j;
  }
  return Uint8Array.from(out);
}

function encodeDense(registers: Uint8Array): Uint8Array {
  const out = new Uint8Array(DENSE_BYTES + 1); // one spare byte for the last register's high bits
  out.set(header(DENSE));
  for (let i = 0; i < REGISTERS; i++) {
    const bit = i * BITS;
    const b = HEADER_BYTES + (bit >> 3);
    const word = (registers[i] as number) << (bit & 7);
    out[b] = (out[b] as number) | (word & 0xff);
    out[b + 1] = (out[b + 1] as number) | (word >> 8);
  }
  return out.subarray(0, DENSE_BYTES);
}

/** The value of an HLL: sparse while it fits (as Redis starts), dense once it was dense or must be. */
function hllValue(hll: Hll): string {
  const bytes = (hll.dense ? null : encodeSparse(hll.registers)) ?? encodeDense(hll.registers);
  return fromUtf8(bytes);
}

/** Redis's hllSigma (Ertl's σ). */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let zPrime: number;
  let y = 1;
  let z = x;
  do {
    x *= x;
    zPrime = z;
    z += x * y;
    y += y;
  } while (zPrime !== z);
  return z;
}

/** Redis's hllTau (Ertl's τ). */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let zPrime: number;
  let y = 1.0;
  let z = 1 - x;
  do {
    x = Math.sqrt(x);
    zPrime = z;
    y *= 0.5;
    z -= Math.pow(1 - x, 2) * y;
  } while (zPrime !== z);
  return z / 3;
}

/** Redis 7's hllCount: Ertl's improved estimator over the register histogram. */
export function estimate(registers: Uint8Array): number {
  const m = REGISTERS;
  const histogram = new Array<number>(64).fill(0);
  for (let i = 0; i < m; i++) histogram[registers[i] as number]! += 1;
  let z = m * tau((m - (histogram[Q + 1] as number)) / m);
  for (let j = Q; j >= 1; j--) {
    z += histogram[j] as number;
    z *= 0.5;
  }
  z += m * sigma((histogram[0] as number) / m);
  return Math.round((ALPHA_INF * m * m) / z);
}

function pfaddCommand(args: string[], ks: Keyspace, now: number): Reply {
  const [key, ...elements] = args as [string, ...string[]];
  const found = lookupHll(ks, key, now);
  const hll: Hll = found === null ? { registers: new Uint8Array(REGISTERS), dense: false } : { registers: new Uint8Array(found.hll.registers), dense: found.hll.dense };
  let updated = found === null;
  for (const element of elements) {
    const { index, count } = patternOf(utf8(element));
    if (count > (hll.registers[index] as number)) {
      hll.registers[index] = count;
      updated = true;
    }
  }
  if (updated) putString(ks, key, hllValue(hll), found?.entry.expiresAt ?? null, now);
  return updated ? 1 : 0;
}

/** The register-wise maximum of the HLLs at `keys` (absent keys count as empty), and whether one was dense. */
function mergeOf(ks: Keyspace, keys: string[], now: number): Hll {
  const registers = new Uint8Array(REGISTERS);
  let dense = false;
  for (const key of keys) {
    const found = lookupHll(ks, key, now);
    if (found === null) continue;
    dense ||= found.hll.dense;
    const r = found.hll.registers;
    for (let i = 0; i < REGISTERS; i++) if ((r[i] as number) > (registers[i] as number)) registers[i] = r[i] as number;
  }
  return { registers, dense };
}

function pfcountCommand(args: string[], ks: Keyspace, now: number): Reply {
  if (args.length === 1) {
    const found = lookupHll(ks, args[0] as string, now);
    return found === null ? 0 : estimate(found.hll.registers);
  }
  return estimate(mergeOf(ks, args, now).registers);
}

function pfmergeCommand(args: string[], ks: Keyspace, now: number): Reply {
  const dest = args[0] as string;
  const merged = mergeOf(ks, args, now); // the destination's own registers are part of the union
  const current = lookup(ks, dest, now);
  putString(ks, dest, hllValue(merged), current?.expiresAt ?? null, now);
  return "OK";
}

export const hllCommands: Record<string, Handler> = {
  pfadd: pfaddCommand,
  pfcount: pfcountCommand,
  pfmerge: pfmergeCommand,
};
