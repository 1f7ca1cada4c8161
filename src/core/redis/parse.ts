/** Turning an Upstash REST request body (a JSON array) into a Command. Pure. */
import type { Command } from "./types";

export type ParseResult = { ok: true; cmd: Command } | { ok: false; error: string };

/**
 * One JSON argument in the form Redis sees it. @upstash/redis sends strings and numbers (it
 * JSON-serializes non-string values itself); integers print without exponent, other numbers in
 * JS's shortest round-trip form (1.5 -> "1.5"), booleans as "true"/"false".
 */
export function argumentText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    if (Number.isInteger(value)) return Object.is(value, -0) ? "0" : BigInt(value).toString();
    return String(value);
  }
  if (typeof value === "boolean") return String(value);
  return null;
}

/** Parse an untrusted request body: a non-empty array of strings, numbers or booleans; the name is lower-cased. */
export function parseCommand(raw: unknown): ParseResult {
  if (!Array.isArray(raw) || raw.length === 0) {
    return { ok: false, error: "ERR syntax error: a command is a non-empty JSON array, e.g. [\"GET\",\"key\"]" };
  }
  const words: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const text = argumentText(raw[i] as unknown);
    if (text === null) {
      return { ok: false, error: `ERR syntax error: command element ${i} is not a string, number or boolean` };
    }
    words.push(text);
  }
  const [name, ...args] = words as [string, ...string[]];
  return { ok: true, cmd: { name: name.toLowerCase(), args } };
}
