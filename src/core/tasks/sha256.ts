import { z } from "zod";
import { utf8Length } from "../text/utf8";

/**
 * The `sha256` task kind. The core validates the input and turns it into bytes; the shell hashes them
 * with `crypto.subtle.digest("SHA-256", …)` (passed in as `TaskIo.sha256`) and the core formats the hex.
 *
 * Why not SHA-256 in TypeScript here: WebCrypto is in every Workers isolate (and in Node), native
 * (BoringSSL in workerd) and hashes 1 MiB in 1–2 ms (measured in Node), where a JS implementation takes
 * several times that out of the same per-invocation CPU budget; it is also one less hand-written
 * primitive to keep correct. The price is that the digest is async, so it is I/O the shell performs.
 */

/**
 * Largest input, in bytes after decoding: 1,000,000 (a million 'a', the longest NIST vector, fits).
 * Not 1 MiB: the task is stored as a JS string, two bytes per character once any character is outside
 * Latin-1, and a stored value may not exceed 2 MiB on Cloudflare; 1,000,000 UTF-8 bytes are at most
 * 1,000,000 characters, so at most 2,000,000 bytes stored.
 */
export const SHA256_MAX_BYTES = 1_000_000;

export const SHA256_ENCODINGS = ["utf8", "base64"] as const;
export type Sha256Encoding = (typeof SHA256_ENCODINGS)[number];

export interface Sha256Args {
  data: string;
  /** "utf8": data's text as UTF-8; "base64": data is standard, padded base64 (RFC 4648 §4) of the bytes. */
  encoding: Sha256Encoding;
}

export interface Sha256Result {
  /** SHA-256 of the bytes, 64 lowercase hex digits. */
  digest: string;
  /** How many bytes were hashed. */
  bytes: number;
}

// The same strict form src/http/base64.ts accepts (the core may not import from src/http).
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decoded size of text that matches BASE64_RE. */
function base64DecodedLength(text: string): number {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

/** Base64 text longer than this cannot decode to SHA256_MAX_BYTES or less. */
const MAX_BASE64_LENGTH = Math.ceil(SHA256_MAX_BYTES / 3) * 4;

export const sha256ArgsSchema = z
  .strictObject(
    {
      // Every UTF-16 unit encodes to at least one byte, and base64 is longer than its bytes, so this
      // bound refuses oversized data before anything scans it; the exact byte limit is checked below.
      data: z
        .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
        .max(MAX_BASE64_LENGTH, `must be at most ${SHA256_MAX_BYTES} bytes (SHA256_MAX_BYTES)`),
      encoding: z.enum(SHA256_ENCODINGS, { error: `must be one of ${SHA256_ENCODINGS.join(", ")}` }).default("utf8"),
    },
    { error: (issue) => (issue.code !== "invalid_type" ? undefined : issue.input === undefined ? "is required" : "must be an object {data, encoding?}") },
  )
  .superRefine((args, ctx) => {
    const tooLarge = (bytes: number) =>
      ctx.addIssue({ code: "custom", path: ["data"], message: `is ${bytes} bytes; the limit is ${SHA256_MAX_BYTES} (SHA256_MAX_BYTES)` });
    if (args.encoding === "base64") {
      if (!BASE64_RE.test(args.data)) {
        ctx.addIssue({ code: "custom", path: ["data"], message: "must be standard padded base64 (RFC 4648 §4: A-Z a-z 0-9 + /, = padding, no whitespace)" });
        return;
      }
      const bytes = base64DecodedLength(args.data);
      if (bytes > SHA256_MAX_BYTES) tooLarge(bytes);
      return;
    }
    // TextEncoder would hash a lone surrogate as U+FFFD: refuse rather than hash something else.
    if (!args.data.isWellFormed()) {
      ctx.addIssue({ code: "custom", path: ["data"], message: "must be well-formed Unicode (it has a lone surrogate); send arbitrary bytes with encoding \"base64\"" });
      return;
    }
    const bytes = utf8Length(args.data);
    if (bytes > SHA256_MAX_BYTES) tooLarge(bytes);
  });

/** The bytes a validated `sha256` task hashes. */
export function sha256InputBytes(args: Sha256Args): Uint8Array {
  if (args.encoding === "utf8") return new TextEncoder().encode(args.data);
  const binary = atob(args.data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Lowercase hex of a digest. */
export function toHex(digest: ArrayBuffer | Uint8Array): string {
  const bytes = digest instanceof Uint8Array ? digest : new Uint8Array(digest);
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The result of a `sha256` task once the shell has computed the digest of `byteLength` bytes. */
export function sha256Result(digest: ArrayBuffer | Uint8Array, byteLength: number): Sha256Result {
  const hex = toHex(digest);
  if (hex.length !== 64) throw new RangeError(`sha256Result: a SHA-256 digest is 32 bytes, got ${hex.length / 2}`);
  return { digest: hex, bytes: byteLength };
}
