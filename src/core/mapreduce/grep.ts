import { z } from "zod";
import type { Entry, JobKind } from "./kind";
import { linesOf } from "./partition";

/**
 * grep: the lines matching a regular expression, keyed by document id, each with its 1-based line
 * number in the document.
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

/** The match record of a line (text cut to MAX_GREP_LINE_TEXT without splitting a surrogate pair). */
export function grepMatch(line: number, text: string): GrepMatch {
  if (text.length <= MAX_GREP_LINE_TEXT) return { line, text };
  let end = MAX_GREP_LINE_TEXT;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { line, text: text.slice(0, end), truncated: true };
}

/** grep: document id -> its matching lines, by line number. No combiner: every match is kept. */
export const grepKind: JobKind<GrepOptions, GrepMatch, GrepMatch[]> = {
  map(split, options) {
    const re = compileGrepPattern(options);
    const out: Entry<GrepMatch>[] = [];
    for (const piece of split.pieces) {
      linesOf(piece.text).forEach((text, i) => {
        if (re.test(text)) out.push([piece.documentId, grepMatch(piece.firstLine + i, text)]);
      });
    }
    return out;
  },
  reduce: (_key, values) => [...values].sort((a, b) => a.line - b.line),
};
