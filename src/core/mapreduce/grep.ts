import { z } from "zod";
import type { Entry, JobKind } from "./kind";
import { linesOf } from "./partition";
import { compileLinearRegex, LINEAR_REGEX_FLAGS, MAX_PATTERN_LENGTH } from "../text/linear-regex";

/**
 * grep: the lines matching a regular expression, one output entry per line, keyed
 * `<document id>:<line number, 10 digits>` (so the output is in document order, then line order, and
 * no entry grows with the number of matches: a 50 MB text with a million matching lines is a million
 * small entries), valued with the document, the 1-based line number and the line's text.
 *
 * The pattern runs on RE2 (re2js, see core/text/linear-regex): a line costs time linear in its length
 * whatever the pattern, so a pattern such as `^(a+)+$` cannot stall a map task (it stalled the old
 * backtracking RegExp for seconds on a 30-byte line, doubling with each extra character). The pattern
 * is checked, compiled and bounded (length, program size) at submission; the map task compiles it again.
 */

export const MAX_GREP_PATTERN_LENGTH = MAX_PATTERN_LENGTH;
/** A matched line's text is cut to this many UTF-16 code units, so one huge line cannot make a huge output. */
export const MAX_GREP_LINE_TEXT = 2048;
export const GREP_FLAGS = LINEAR_REGEX_FLAGS;

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

export const grepOptionsSchema = z
  .strictObject({
    pattern: z
      .string()
      .min(1, "must not be empty")
      .max(MAX_GREP_PATTERN_LENGTH, `must be at most ${MAX_GREP_PATTERN_LENGTH} characters`)
      .describe("an RE2 regular expression, without slashes (no backreferences or lookaround)"),
    flags: z.string().max(GREP_FLAGS.length * 2).default("").describe(`flags among ${[...GREP_FLAGS].join(", ")} (i: ignore case, m: multi-line, s: dot matches newline, u: accepted, RE2 is always Unicode-aware)`),
  })
  .superRefine((o, ctx) => {
    const compiled = compileLinearRegex(o.pattern, o.flags);
    if (!compiled.ok) ctx.addIssue({ code: "custom", path: [compiled.field], message: compiled.message });
  });
export type GrepOptions = z.output<typeof grepOptionsSchema>;

/** A line predicate: true when the pattern matches anywhere in the line. */
export interface LineTest {
  test(line: string): boolean;
}

/** The compiled pattern of validated grep options (throws on options the schema would refuse). */
export function compileGrepPattern(options: GrepOptions): LineTest {
  const compiled = compileLinearRegex(options.pattern, options.flags);
  if (!compiled.ok) throw new TypeError(`grep options were not validated: ${compiled.field}: ${compiled.message}`);
  return compiled.regex;
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
