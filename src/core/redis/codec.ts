/**
 * How a Redis value is stored as one cache entry: a string as its own text (so GET /cache reads it),
 * every other type as JSON under its own content type. Pure.
 */
import { bytesOf, fromBase64, stringOf, toBase64 } from "./bytes";
import { BYTES_CONTENT_TYPE, HASH_CONTENT_TYPE, HASH_TTL_CONTENT_TYPE, LIST_CONTENT_TYPE, SET_CONTENT_TYPE, STRING_CONTENT_TYPE, ZSET_CONTENT_TYPE, type Entry } from "./types";

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** A score as JSON: finite numbers as numbers, the infinities as "inf" / "-inf" (JSON has none). */
function scoreToJson(score: number): number | string {
  return Number.isFinite(score) ? score : score > 0 ? "inf" : "-inf";
}

function scoreFromJson(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  return null;
}

/** The stored form of an entry: its text and content type. */
export function encodeEntry(entry: Entry): { value: string; contentType: string } {
  switch (entry.type) {
    case "string":
      // Text as itself; bytes that are not UTF-8 (held escaped, see bytes.ts) as base64.
      if (entry.value.isWellFormed()) return { value: entry.value, contentType: STRING_CONTENT_TYPE };
      return { value: toBase64(bytesOf(entry.value)), contentType: BYTES_CONTENT_TYPE };
    case "hash":
      // A hash without field TTLs keeps its plain form: what every stored hash was before them.
      if (entry.fieldExpiresAt === undefined || Object.keys(entry.fieldExpiresAt).length === 0) {
        return { value: JSON.stringify(entry.fields), contentType: HASH_CONTENT_TYPE };
      }
      return { value: JSON.stringify({ fields: entry.fields, expires: entry.fieldExpiresAt }), contentType: HASH_TTL_CONTENT_TYPE };
    case "list":
      return { value: JSON.stringify(entry.items), contentType: LIST_CONTENT_TYPE };
    case "set":
      return { value: JSON.stringify([...entry.members]), contentType: SET_CONTENT_TYPE };
    case "zset":
      return { value: JSON.stringify([...entry.scores].map(([m, s]) => [m, scoreToJson(s)])), contentType: ZSET_CONTENT_TYPE };
  }
}

/**
 * The entry a stored text and content type hold. Anything that does not parse as its content type
 * says (e.g. a value written through /cache with a Redis content type) is a string, as any other
 * value written through /cache is.
 */
export function decodeEntry(contentType: string | null | undefined, text: string, expiresAt: number | null): Entry {
  const typed = contentType === HASH_CONTENT_TYPE || contentType === HASH_TTL_CONTENT_TYPE || contentType === LIST_CONTENT_TYPE || contentType === SET_CONTENT_TYPE || contentType === ZSET_CONTENT_TYPE;
  if (typed) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (contentType === HASH_CONTENT_TYPE && parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      const values = Object.values(parsed);
      if (values.every((v) => typeof v === "string")) {
        const fields = Object.create(null) as Record<string, string>;
        for (const [name, value] of Object.entries(parsed as Record<string, string>)) fields[name] = value;
        return { type: "hash", fields, expiresAt };
      }
    }
    if (contentType === HASH_TTL_CONTENT_TYPE) {
      const hash = hashWithTtls(parsed, expiresAt);
      if (hash !== null) return hash;
    }
    if (contentType === LIST_CONTENT_TYPE && isStrings(parsed) && parsed.length > 0) return { type: "list", items: parsed, expiresAt };
    if (contentType === SET_CONTENT_TYPE && isStrings(parsed) && parsed.length > 0) return { type: "set", members: new Set(parsed), expiresAt };
    if (contentType === ZSET_CONTENT_TYPE && Array.isArray(parsed) && parsed.length > 0) {
      const scores = new Map<string, number>();
      let ok = true;
      for (const pair of parsed as unknown[]) {
        const score = Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" ? scoreFromJson(pair[1]) : null;
        if (score === null) {
          ok = false;
          break;
        }
        scores.set((pair as [string, unknown])[0], score);
      }
      if (ok) return { type: "zset", scores, expiresAt };
    }
  }
  if (contentType === BYTES_CONTENT_TYPE) {
    const bytes = fromBase64(text);
    if (bytes !== null) return { type: "string", value: stringOf(bytes), expiresAt };
  }
  return { type: "string", value: text, expiresAt };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** A hash stored with field TTLs ({"fields": {...}, "expires": {...}}); null if the text is not one. */
function hashWithTtls(parsed: unknown, expiresAt: number | null): Entry | null {
  if (!isRecord(parsed) || !isRecord(parsed.fields) || !isRecord(parsed.expires)) return null;
  const fields = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(parsed.fields)) {
    if (typeof value !== "string") return null;
    fields[name] = value;
  }
  const fieldExpiresAt = Object.create(null) as Record<string, number>;
  for (const [name, at] of Object.entries(parsed.expires)) {
    if (typeof at !== "number" || !Number.isSafeInteger(at)) return null;
    if (Object.hasOwn(fields, name)) fieldExpiresAt[name] = at;
  }
  return { type: "hash", fields, expiresAt, fieldExpiresAt };
}

/** A copy of an entry that shares nothing mutable with it (COPY, RENAME keep the source intact). */
export function cloneEntry(entry: Entry, expiresAt: number | null = entry.expiresAt): Entry {
  switch (entry.type) {
    case "string":
      return { type: "string", value: entry.value, expiresAt };
    case "hash": {
      const fields = Object.create(null) as Record<string, string>;
      for (const name of Object.keys(entry.fields)) fields[name] = entry.fields[name] as string;
      if (entry.fieldExpiresAt === undefined) return { type: "hash", fields, expiresAt };
      const fieldExpiresAt = Object.create(null) as Record<string, number>;
      for (const name of Object.keys(entry.fieldExpiresAt)) fieldExpiresAt[name] = entry.fieldExpiresAt[name] as number;
      return { type: "hash", fields, expiresAt, fieldExpiresAt };
    }
    case "list":
      return { type: "list", items: [...entry.items], expiresAt };
    case "set":
      return { type: "set", members: new Set(entry.members), expiresAt };
    case "zset":
      return { type: "zset", scores: new Map(entry.scores), expiresAt };
  }
}
