/**
 * Sorted-set scores as Redis 7.0 reads and writes them: strtod's syntax (decimal, hex, inf; no NaN),
 * the "%.17g" text Redis replies with, range bounds ("(1", "-inf"), lex bounds ("[a", "(a", "-", "+")
 * and member order (bytes of UTF-8, memcmp). Pure.
 */

const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?$/;
const INFINITY = /^([+-]?)inf(?:inity)?$/i;
const NAN = /^[+-]?nan(?:\([0-9A-Za-z_]*\))?$/i;

/** What strtod makes of a whole text: the value and whether it under- or overflowed (ERANGE); null when strtod would stop early. */
function strtod(text: string): { value: number; underflow: boolean; overflow: boolean } | null {
  const inf = INFINITY.exec(text);
  if (inf) return { value: inf[1] === "-" ? -Infinity : Infinity, underflow: false, overflow: false };
  if (NAN.test(text)) return { value: NaN, underflow: false, overflow: false };
  if (DECIMAL.test(text)) {
    const value = Number(text);
    const mantissa = text.split(/[eE]/)[0] as string;
    return { value, underflow: value === 0 && /[1-9]/.test(mantissa), overflow: !Number.isFinite(value) };
  }
  const hex = HEX.exec(text);
  if (hex) {
    const int = hex[2] ?? "";
    const frac = hex[3] ?? hex[4] ?? "";
    const digits = (int + frac).replace(/^0+/, "");
    let exp2 = Number(hex[5] ?? "0") - 4 * frac.length;
    if (!Number.isFinite(exp2)) exp2 = exp2 > 0 ? 1e6 : -1e6;
    // Hex floats are exotic: an approximation (exact for up to 53 significant bits, not subnormal).
    let value = digits === "" ? 0 : Number(BigInt("0x" + digits));
    while (value !== 0 && Number.isFinite(value) && exp2 > 0) {
      const step = Math.min(exp2, 1000);
      value *= 2 ** step;
      exp2 -= step;
    }
    while (value !== 0 && exp2 < 0) {
      const step = Math.max(exp2, -1000);
      value *= 2 ** step;
      exp2 -= step;
    }
    if (hex[1] === "-") value = -value;
    return { value, underflow: value === 0 && digits !== "", overflow: !Number.isFinite(value) };
  }
  return null;
}

/**
 * A score argument (ZADD, ZINCRBY, WEIGHTS) as Redis's getDoubleFromObject reads it: the whole text
 * is a strtod number, no leading space, not NaN, no overflow or underflow to zero; null otherwise.
 */
export function parseScore(text: string): number | null {
  if (text.length === 0 || /^[ \t\n\v\f\r]/.test(text)) return null;
  const parsed = strtod(text);
  if (parsed === null || Number.isNaN(parsed.value) || parsed.overflow || parsed.underflow) return null;
  return parsed.value;
}

export interface ScoreBound {
  value: number;
  exclusive: boolean;
}

/**
 * A score range bound ("1.5", "(1.5", "-inf", "+inf") as zslParseRange reads it, with plain strtod:
 * leading spaces pass, an empty text is 0, overflow is infinity, the text ends at a NUL; null when invalid.
 */
export function parseScoreBound(raw: string): ScoreBound | null {
  let text = raw;
  const nul = text.indexOf("\u0000");
  if (nul >= 0) text = text.slice(0, nul);
  let exclusive = false;
  if (text.startsWith("(")) {
    exclusive = true;
    text = text.slice(1);
  }
  if (text === "") return { value: 0, exclusive };
  const trimmed = text.replace(/^[ \t\n\v\f\r]+/, "");
  if (trimmed === "") return null;
  const parsed = strtod(trimmed);
  if (parsed === null || Number.isNaN(parsed.value)) return null;
  return { value: parsed.value, exclusive };
}

/** A lex range bound: "-" and "+" are the ends, "[x" inclusive, "(x" exclusive. */
export type LexBound = { kind: "min" } | { kind: "max" } | { kind: "value"; value: string; exclusive: boolean };

/** zslParseLexRangeItem; null when invalid. */
export function parseLexBound(text: string): LexBound | null {
  const first = text[0];
  if (first === "+") return text.length === 1 ? { kind: "max" } : null;
  if (first === "-") return text.length === 1 ? { kind: "min" } : null;
  if (first === "(" || first === "[") return { kind: "value", value: text.slice(1), exclusive: first === "(" };
  return null;
}

/** memcmp order of the UTF-8 encodings of two strings (JS compares UTF-16 code units, which differs above U+FFFF). */
export function compareMembers(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // surrogates (code points above U+FFFF) sort after U+E000..U+FFFF in UTF-8
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Lex comparison against a bound (sdscmplex): "-" is below everything, "+" above. */
export function compareToLexBound(member: string, bound: LexBound): number {
  if (bound.kind === "min") return 1;
  if (bound.kind === "max") return -1;
  return compareMembers(member, bound.value);
}

/** sdscmplex of two bounds. */
export function compareLexBounds(a: LexBound, b: LexBound): number {
  if (a.kind === b.kind && a.kind !== "value") return 0;
  if (a.kind === "min" || b.kind === "max") return -1;
  if (a.kind === "max" || b.kind === "min") return 1;
  return compareMembers(a.value, (b as { value: string }).value);
}

/** The digits of %.17g when V8's toExponential(16) (ties away from zero) may differ from glibc (ties to even). */
function exactDigits17(x: number): { digits: string; exp: number } | null {
  // A tie needs an exact expansion of 18 significant digits: x = m / 2^k with k <= 60.
  const abs = Math.abs(x);
  let k = 0;
  let scaled = abs;
  while (!Number.isInteger(scaled) && k < 60) {
    scaled *= 2;
    k++;
  }
  if (!Number.isInteger(scaled)) return null;
  const all = (BigInt(scaled) * 5n ** BigInt(k)).toString(); // abs = all * 10^-k
  if (all.length !== 18 || all[17] !== "5") return null;
  let head = BigInt(all.slice(0, 17));
  if (head % 2n === 1n) head += 1n; // ties to even
  let digits = head.toString();
  let exp = all.length - 1 - k;
  if (digits.length > 17) {
    digits = digits.slice(0, 17);
    exp += 1;
  }
  return { digits, exp };
}

/** A score as Redis 7.0 replies it: "%.17g" ("0.10000000000000001", "1e+20", "inf", "-inf", "-0"). */
export function formatScore(x: number): string {
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  if (Number.isSafeInteger(x) && Math.abs(x) < 1e17) return String(x);
  let digits: string;
  let exp: number;
  const exact = exactDigits17(x);
  if (exact !== null) ({ digits, exp } = exact);
  else {
    const [mant, e] = Math.abs(x).toExponential(16).split("e") as [string, string];
    digits = mant.replace(".", "");
    exp = Number(e);
  }
  const sign = x < 0 ? "-" : "";
  if (exp < -4 || exp >= 17) {
    const frac = digits.slice(1).replace(/0+$/, "");
    const e = Math.abs(exp) < 10 ? "0" + Math.abs(exp) : String(Math.abs(exp));
    return `${sign}${digits[0]}${frac === "" ? "" : "." + frac}e${exp < 0 ? "-" : "+"}${e}`;
  }
  let text: string;
  if (exp >= 0) text = digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
  else text = "0." + "0".repeat(-exp - 1) + digits;
  text = text.replace(/0+$/, "").replace(/\.$/, "");
  return sign + text;
}
