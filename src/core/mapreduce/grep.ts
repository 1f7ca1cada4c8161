import { z } from "zod";
import type { Entry, JobKind } from "./kind";
import { linesOf } from "./partition";

/**
 * grep: the lines matching a regular expression, one output entry per line, keyed
 * `<document id>:<line number, 10 digits>` (so the output is in document order, then line order, and
 * no entry grows with the number of matches: a 50 MB text with a million matching lines is a million
 * small entries), valued with the document, the 1-based line number and the line's text.
 *
 * The pattern is compiled with the engine's RegExp (Workers forbid eval, but RegExp is allowed).
 * Flags g and y are refused: they make `test` stateful (lastIndex), so a line's result would depend on
 * the previous line. A pattern's running time is not bounded here (catastrophic backtracking is
 * possible); the map task's CPU limit bounds it and the job fails after its retries.
 */

export const MAX_GREP_PATTERN_LENGTH = 1024;
/** A matched line's text is cut to this many UTF-16 code units, so one huge line cannot make a huge output. */
export const MAX_GREP_LINE_TEXT = 2048;
export const GREP_FLAGS = "imsuv";

export interface GrepMatch {
  /** The document the line is in. */
  document: string;
  /** 1-based line number in the document. */
  line: number;
  /** The line without its line terminator, at most MAX_GREP_LINE_TEXT code units. */
  text: string;
  /** Present (true) only when `text` was cut. */
  truncated?: true;
}

/** Why `flags` cannot be used, or null. */
function flagsProblem(flags: string): string | null {
  const wellFormed = [...flags].every((f) => GREP_FLAGS.includes(f)) && new Set(flags).size === flags.length;
  if (wellFormed) {
    try {
      new RegExp("", flags);
      return null;
    } catch {
      // e.g. "uv": both allowed, not together
    }
  }
  return `must be a combination of ${[...GREP_FLAGS].join(", ")}, each at most once, u and v not together`;
}

export const grepOptionsSchema = z
  .strictObject({
    pattern: z.string().min(1, "must not be empty").max(MAX_GREP_PATTERN_LENGTH, `must be at most ${MAX_GREP_PATTERN_LENGTH} characters`).describe("a JavaScript regular expression, without slashes"),
    flags: z.string().max(GREP_FLAGS.length * 2).default("").describe(`RegExp flags among ${GREP_FLAGS}`),
  })
  .superRefine((o, ctx) => {
    const badFlags = flagsProblem(o.flags);
    if (badFlags !== null) {
      ctx.addIssue({ code: "custom", path: ["flags"], message: badFlags });
      return;
    }
    try {
      new RegExp(o.pattern, o.flags);
    } catch (err) {
      const detail = err instanceof SyntaxError ? err.message : "rejected by the engine";
      ctx.addIssue({ code: "custom", path: ["pattern"], message: `is not a valid regular expression: ${detail}` });
    }
  });
export type GrepOptions = z.output<typeof grepOptionsSchema>;

/** The compiled pattern of validated grep options. */
export function compileGrepPattern(options: GrepOptions): RegExp {
  return new RegExp(options.pattern, options.flags);
}

/** Digits of the line number in a grep key: line numbers up to 9,999,999,999 sort as numbers. */
const LINE_DIGITS = 10;

/** The output key of a matching line: `<document>:<line, zero-padded>`. */
export function grepKey(document: string, line: number): string {
  return `${document}:${String(line).padStart(LINE_DIGITS, "0")}`;
}

/** The match record of a line (text cut to MAX_GREP_LINE_TEXT without splitting a surrogate pair). */
export function grepMatch(document: string, line: number, text: string): GrepMatch {
  if (text.length <= MAX_GREP_LINE_TEXT) return { document, line, text };
  let end = MAX_GREP_LINE_TEXT;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { document, line, text: text.slice(0, end), truncated: true };
}

/** grep: `<document>:<line>` -> the matching line. No combiner: a key has exactly one value. */
export const grepKind: JobKind<GrepOptions, GrepMatch, GrepMatch> = {
  map(split, options) {
    const re = compileGrepPattern(options);
    const out: Entry<GrepMatch>[] = [];
    for (const piece of split.pieces) {
      linesOf(piece.text).forEach((text, i) => {
        const line = piece.firstLine + i;
        if (re.test(text)) out.push([grepKey(piece.documentId, line), grepMatch(piece.documentId, line, text)]);
      });
    }
    return out;
  },
  reduce: (_key, values) => values[0] as GrepMatch,
};
