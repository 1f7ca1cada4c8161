import type { Context } from "hono";
import type { ZodError } from "zod";
import { markBodyRead } from "./body-drain";
import { errorBody, HttpError } from "./errors";
import { utf8Length } from "../core/text/utf8";

interface ValidationResult {
  success: boolean;
  error?: ZodError;
  target?: string;
}

/** defaultHook for OpenAPIHono: a schema violation is a 400 naming the failing field. */
export function validationHook(result: ValidationResult, c: Context): Response | undefined {
  if (result.success || !result.error) return undefined;
  const issues = result.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
  const first = issues[0];
  const where = first && first.path ? `${result.target ?? "request"}.${first.path}` : (result.target ?? "request");
  return c.json(
    errorBody("invalid_request", first ? `${where}: ${first.message}` : "invalid request", { target: result.target, issues }),
    400,
  );
}


/**
 * Decodes a percent-encoded path segment strictly. Hono's own decoding keeps malformed
 * sequences (e.g. `%FF`) as raw text; a key must be well-formed UTF-8, so those are a 400.
 */
export function decodePathSegment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "invalid_key", `${what} is not valid percent-encoded UTF-8`);
  }
}

/**
 * The key in a URL path: everything after the first `marker` (e.g. "/cache/"), decoded strictly and
 * checked with assertKey. Read from the raw URL because Hono keeps malformed escapes as text.
 */
export function keyFromUrl(url: string, marker: string, maxBytes: number): string {
  const path = new URL(url).pathname;
  const key = decodePathSegment(path.slice(path.indexOf(marker) + marker.length), "key");
  assertKey(key, maxBytes);
  return key;
}

/** The byte length of a string's UTF-8 encoding (one implementation, in src/core/text). */
export { utf8Length };

/** Throws a 400 unless `key` is 1..maxBytes bytes of well-formed UTF-8 (no lone surrogates). */
export function assertKey(key: string, maxBytes: number, what = "key"): void {
  if (key.length === 0) throw new HttpError(400, "invalid_key", `${what} must not be empty`);
  if (!key.isWellFormed()) throw new HttpError(400, "invalid_key", `${what} is not well-formed UTF-8`);
  const bytes = utf8Length(key);
  if (bytes > maxBytes) throw new HttpError(400, "invalid_key", `${what} is ${bytes} bytes; the limit is ${maxBytes}`);
}

/**
 * Reads a request body up to `maxBytes`, streaming, so an oversized body is refused without buffering it
 * all (413). A body that ends early (the client went away mid-upload: workerd's read throws) is a 400
 * `incomplete_body`, never a 500. An oversized body is left unread, not cancelled: the drain middleware
 * (src/http/body-drain.ts) reads the rest within its budget before the answer goes out.
 */
export async function readBodyLimited(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes, Number(declared));
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await readOrIncomplete(reader);
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge(maxBytes);
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  markBodyRead(req);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** One read of a request body; a failed read (the client is gone, the stream was cut) is a 400 `incomplete_body`. */
export async function readOrIncomplete<R>(reader: { read(): Promise<R> }): Promise<R> {
  try {
    return await reader.read();
  } catch (err) {
    throw incompleteBody(err);
  }
}

/** The 400 for a body whose read failed before its end. */
export function incompleteBody(err: unknown): HttpError {
  return new HttpError(400, "incomplete_body", `the body ended before it was complete (${err instanceof Error ? err.message : String(err)})`, { field: "body" });
}

/** The 413 for a body over `maxBytes` (`bytes`: its declared size, when known). */
export function tooLarge(maxBytes: number, bytes?: number): HttpError {
  const size = bytes === undefined ? "the body is larger" : `the body is ${bytes} bytes`;
  return new HttpError(413, "payload_too_large", `${size}; the limit here is ${maxBytes} bytes`, { limit: maxBytes });
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes UTF-8 strictly: a body that is not UTF-8 is a 400 (a lenient decoder would store U+FFFD in its place). */
export function decodeUtf8Body(bytes: Uint8Array, code = "invalid_json"): string {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    throw new HttpError(400, code, "the body is not valid UTF-8", { field: "body" });
  }
}

/**
 * Reads a JSON body of at most `maxBytes` (413 above it); a body that is not UTF-8 or not JSON is a 400
 * `invalid_json`, one cut off mid-upload a 400 `incomplete_body`.
 */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  const text = decodeUtf8Body(await readBodyLimited(req, maxBytes));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid JSON");
  }
}

/** ?limit= of a list: 1..max, `fallback` when absent; a 400 naming `limit` otherwise. */
export function limitParam(c: Context, fallback: number, max: number): number {
  const raw = c.req.query("limit");
  if (raw === undefined) return fallback;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw new HttpError(400, "invalid_request", `limit: 1..${max}`, { field: "limit" });
  return Number(raw);
}
