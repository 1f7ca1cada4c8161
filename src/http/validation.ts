import type { Context } from "hono";
import type { ZodError } from "zod";
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

/** Reads a request body up to `maxBytes`, streaming, so an oversized body is refused without buffering it all. */
export async function readBodyLimited(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    throw new HttpError(413, "payload_too_large", `body is ${declared} bytes; the limit is ${maxBytes}`);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new HttpError(413, "payload_too_large", `body exceeds the limit of ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Reads a JSON body of at most `maxBytes` (413 above it); a body that is not JSON is a 400 `invalid_json`. */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  const raw = await readBodyLimited(req, maxBytes);
  try {
    return JSON.parse(new TextDecoder().decode(raw)) as unknown;
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
