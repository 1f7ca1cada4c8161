/**
 * INCRBYFLOAT / HINCRBYFLOAT arithmetic exactly as Redis on x86-64 does it: values are parsed with
 * strtold into an 80-bit x87 long double (64-bit mantissa), added in that precision, and printed
 * with "%.17Lf" minus trailing zeros. Emulated with BigInt so that e.g. 0.1 + 0.2 gives "0.3" as
 * in Redis, where JS doubles would give 0.30000000000000004. Pure.
 */

/** A finite long double: (-1)^neg * mant * 2^exp, mant < 2^64 (0n for zero). */
export interface LongDouble {
  neg: boolean;
  mant: bigint;
  exp: number;
}

const MANTISSA_BITS = 64;
/** Values at or above 2^MAX_BINARY_EXP overflow to infinity (x87 extended: max exponent 16383). */
const MAX_BINARY_EXP = 16384;
/** Below the smallest subnormal (2^-16445) strtold underflows to zero. */
const MIN_BINARY_EXP = -16446;
/** Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are rejected. */
const MAX_CHARS = 5 * 1024;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Round num/den * 2^exp2 (num, den > 0) to 64 significant bits, ties to even. */
function roundRatio(neg: boolean, num: bigint, den: bigint, exp2: number): LongDouble | "overflow" | "underflow" {
  // choose shift so that the quotient has exactly 64 bits
  let shift = MANTISSA_BITS - (bitLength(num) - bitLength(den));
  for (;;) {
    const n = shift >= 0 ? num << BigInt(shift) : num;
    const d = shift >= 0 ? den : den << BigInt(-shift);
    let q = n / d;
    const r = n % d;
    if (bitLength(q) > MANTISSA_BITS) {
      shift -= 1;
      continue;
    }
    if (bitLength(q) < MANTISSA_BITS) {
      shift += 1;
      continue;
    }
    const twice = 2n * r;
    if (twice > d || (twice === d && (q & 1n) === 1n)) q += 1n;
    let exp = exp2 - shift;
    if (bitLength(q) > MANTISSA_BITS) {
      q >>= 1n;
      exp += 1;
    }
    if (exp + MANTISSA_BITS > MAX_BINARY_EXP) return "overflow";
    if (exp + MANTISSA_BITS < MIN_BINARY_EXP) return "underflow";
    return { neg, mant: q, exp };
  }
}

const DECIMAL = /^([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?$/;
const HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?$/;
const INFINITY = /^[+-]?inf(?:inity)?$/i;

/** Clamp an exponent text to a safe range (beyond it the value over/underflows anyway). */
function exponentOf(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = BigInt(text);
  return value > 1_000_000n ? 1_000_000 : value < -1_000_000n ? -1_000_000 : Number(value);
}

/**
 * Redis's string2ld: the whole text must be a number strtold accepts (decimal or hex float, no
 * leading space). "inf"/"infinity" parse (the sum then fails Redis's NaN-or-Infinity check); NaN,
 * overflow and underflow to zero are invalid: null for anything Redis replies "value is not a valid float" to.
 */
export function parseLongDouble(text: string): LongDouble | "infinity" | null {
  if (text.length === 0 || text.length >= MAX_CHARS) return null;
  if (INFINITY.test(text)) return "infinity";
  let neg: boolean;
  let digits: bigint;
  let exp2 = 0;
  let exp10 = 0;
  const hex = HEX.exec(text);
  if (hex) {
    const int = hex[2] ?? "";
    const frac = hex[3] ?? hex[4] ?? "";
    neg = hex[1] === "-";
    digits = BigInt("0x" + (int + frac || "0"));
    exp2 = exponentOf(hex[5]) - 4 * frac.length;
  } else {
    const dec = DECIMAL.exec(text);
    if (!dec) return null;
    const int = dec[2] ?? "";
    const frac = dec[3] ?? dec[4] ?? "";
    neg = dec[1] === "-";
    const significant = (int + frac).replace(/^0+/, "");
    digits = significant === "" ? 0n : BigInt(significant);
    exp10 = exponentOf(dec[5]) - frac.length;
    if (digits !== 0n) {
      const magnitude = significant.length + exp10; // value < 10^magnitude
      if (magnitude > 4940) return null; // > 1.2e4932: strtold overflows (ERANGE)
      if (magnitude < -4960) return null; // < 3.6e-4951: strtold underflows to zero (ERANGE)
    }
  }
  if (digits === 0n) return { neg, mant: 0n, exp: 0 };
  const num = exp10 >= 0 ? digits * 10n ** BigInt(exp10) : digits;
  const den = exp10 >= 0 ? 1n : 10n ** BigInt(-exp10);
  const rounded = roundRatio(neg, num, den, exp2);
  return typeof rounded === "string" ? null : rounded;
}

/** a + b rounded to a long double; null when the sum is NaN or infinite (Redis refuses to store it). */
export function addLongDouble(a: LongDouble | "infinity", b: LongDouble | "infinity"): LongDouble | null {
  if (a === "infinity" || b === "infinity") return null;
  if (a.mant === 0n) return b.mant === 0n ? { neg: a.neg && b.neg, mant: 0n, exp: 0 } : b;
  if (b.mant === 0n) return a;
  const exp = Math.min(a.exp, b.exp);
  const av = (a.mant << BigInt(a.exp - exp)) * (a.neg ? -1n : 1n);
  const bv = (b.mant << BigInt(b.exp - exp)) * (b.neg ? -1n : 1n);
  const sum = av + bv;
  if (sum === 0n) return { neg: false, mant: 0n, exp: 0 };
  const rounded = roundRatio(sum < 0n, sum < 0n ? -sum : sum, 1n, exp);
  return typeof rounded === "string" ? (rounded === "overflow" ? null : { neg: sum < 0n, mant: 0n, exp: 0 }) : rounded;
}

const SCALE = 10n ** 17n;

/** Redis's ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros and a trailing dot removed, "-0" -> "0". */
export function formatLongDouble(value: LongDouble): string {
  let q: bigint;
  if (value.exp >= 0) q = (value.mant << BigInt(value.exp)) * SCALE;
  else {
    const num = value.mant * SCALE;
    const den = 1n << BigInt(-value.exp);
    q = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  }
  const frac = (q % SCALE).toString().padStart(17, "0").replace(/0+$/, "");
  const text = (value.neg ? "-" : "") + (q / SCALE).toString() + (frac === "" ? "" : "." + frac);
  return text === "-0" ? "0" : text;
}
