/**
 * Redis strings are bytes; the engine holds them as JS strings. A value that is valid UTF-8 is its
 * text, as always. A byte that is not part of valid UTF-8 (SETBIT's 0x80, half of a character cut by
 * SETRANGE) is held as the lone surrogate U+DC00 + byte, Python's "surrogateescape": valid UTF-8 never
 * decodes to a surrogate, so the mapping is lossless both ways, text values are unchanged, and an
 * Entry or a Reply stays a plain string. Only code that turns a value into bytes (lengths, offsets,
 * storage, base64 replies) needs to know, and it goes through `bytesOf` / `stringOf` here. Pure.
 */

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

const ESCAPE_LOW = 0xdc80;
const ESCAPE_HIGH = 0xdcff;

/** The bytes a value holds: UTF-8, with each escaped byte (U+DC80..U+DCFF alone) back as itself; another lone surrogate is U+FFFD. */
export function bytesOf(value: string): Uint8Array {
  if (value.isWellFormed()) return encoder.encode(value);
  const out = new Uint8Array(value.length * 3);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) out[n++] = c;
    else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (value.charCodeAt(i + 1) - 0xdc00);
      i++;
      out[n++] = 0xf0 | (cp >> 18);
      out[n++] = 0x80 | ((cp >> 12) & 63);
      out[n++] = 0x80 | ((cp >> 6) & 63);
      out[n++] = 0x80 | (cp & 63);
    } else if (c >= ESCAPE_LOW && c <= ESCAPE_HIGH) out[n++] = c - 0xdc00;
    else if (c >= 0xd800 && c <= 0xdfff) {
      out[n++] = 0xef; // U+FFFD, as TextEncoder writes a lone surrogate
      out[n++] = 0xbf;
      out[n++] = 0xbd;
    } else {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    }
  }
  return out.slice(0, n);
}

/** The length of `bytesOf(value)`, counted without encoding. */
export function byteLengthOf(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else if (c >= ESCAPE_LOW && c <= ESCAPE_HIGH) bytes += 1;
    else bytes += 3;
  }
  return bytes;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 if the byte there does not start one. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i] as number;
  const cont = (k: number) => i + k < bytes.length && ((bytes[i + k] as number) & 0xc0) === 0x80;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const b1 = bytes[i + 1] as number;
    if (!cont(1) || !cont(2)) return 0;
    if ((b === 0xe0 && b1 < 0xa0) || (b === 0xed && b1 >= 0xa0)) return 0; // overlong, surrogate
    return 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const b1 = bytes[i + 1] as number;
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if ((b === 0xf0 && b1 < 0x90) || (b === 0xf4 && b1 >= 0x90)) return 0; // overlong, past U+10FFFF
    return 4;
  }
  return 0;
}

/** The value holding `bytes`: their text when they are valid UTF-8 (a BOM kept), else with each stray byte escaped. */
export function stringOf(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    // not valid UTF-8: decoded below, sequence by sequence
  }
  const units = new Uint16Array(bytes.length); // never more UTF-16 units than bytes
  let n = 0;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      units[n++] = b;
      i++;
      continue;
    }
    const len = sequenceLength(bytes, i);
    if (len === 2) units[n++] = ((b & 31) << 6) | ((bytes[i + 1] as number) & 63);
    else if (len === 3) units[n++] = ((b & 15) << 12) | (((bytes[i + 1] as number) & 63) << 6) | ((bytes[i + 2] as number) & 63);
    else if (len === 4) {
      const cp = (((b & 7) << 18) | (((bytes[i + 1] as number) & 63) << 12) | (((bytes[i + 2] as number) & 63) << 6) | ((bytes[i + 3] as number) & 63)) - 0x10000;
      units[n++] = 0xd800 + (cp >> 10);
      units[n++] = 0xdc00 + (cp & 0x3ff);
    } else units[n++] = 0xdc00 + b; // a stray byte, escaped
    i += len === 0 ? 1 : len;
  }
  let out = "";
  const CHUNK = 0x2000;
  // apply, not spread: spreading a typed array goes through its iterator, several times slower.
  for (let i = 0; i < n; i += CHUNK) out += String.fromCharCode.apply(null, units.subarray(i, Math.min(n, i + CHUNK)) as unknown as number[]);
  lastEscaped = out;
  return out;
}

/** The last value `stringOf` built with escapes: canonical by construction (putString stores it right after). */
let lastEscaped: string | null = null;

/** The canonical form of a value (what storing and reading it back gives): itself when it is well-formed text. */
export function canonicalString(value: string): string {
  return value.isWellFormed() || value === lastEscaped ? value : stringOf(bytesOf(value));
}

/** What JSON can carry of a value without base64: its text, invalid UTF-8 as U+FFFD (what TextDecoder makes of it). */
export function lossyText(value: string): string {
  return value.isWellFormed() ? value : lossy.decode(bytesOf(value));
}

/** Standard base64 (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict padded base64 back to bytes; null when the text is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text)) return null;
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
