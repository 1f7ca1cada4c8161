import { RE2JS, RE2JSException } from "re2js";

/**
 * User-supplied regular expressions, compiled for an engine with RE2's guarantee: matching takes time
 * linear in the input (re2js, a port of RE2: no backtracking, so `^(a+)+$` costs the same as `^a+$`).
 *
 * The price is RE2's syntax, which leaves out what needs backtracking (backreferences, lookaround,
 * atomic groups, possessive quantifiers). A pattern re2js refuses is explained by naming the construct
 * when it is one of those (re2js's own text says "invalid escape sequence" for `\1`), else with
 * re2js's message. Two bounds keep the linear factor small: the pattern's length, and the size of the
 * compiled program (RE2 itself caps a repeat count at 1000, nested counts multiplied; the program size
 * is what a count multiplies, and what a match pays per input character in the worst case).
 */

/** Longest pattern accepted, in UTF-16 code units. */
export const MAX_PATTERN_LENGTH = 1024;
/**
 * Largest compiled program accepted, in RE2 instructions (`\w{64}` is 66, an IPv4 address 55,
 * `(.*a){20}` 102, a list of 40 short words about 128). Linear time has a factor: when the DFA's cache
 * cannot hold a pattern's states (exponentially many states, many character classes), re2js simulates
 * the NFA instead, paying ~25-30 ns per live instruction per character. Measured on a 1 MB line of a
 * pattern built to defeat the DFA: ~3 s at 128 instructions, 7 s at 250, minutes at 2,000 (a size
 * re2js itself accepts).
 */
export const MAX_PROGRAM_SIZE = 128;
/** JavaScript-style flags that have an RE2 meaning: i, m, s; u is accepted and changes nothing. */
export const LINEAR_REGEX_FLAGS = "imsu";

const FLAG_BITS: Readonly<Record<string, number>> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, u: 0 };
const FLAG_REFUSALS: Readonly<Record<string, string>> = {
  g: "makes matching stateful (lastIndex), so a line's result would depend on the previous line",
  y: "makes matching stateful (lastIndex), so a line's result would depend on the previous line",
  v: "(Unicode sets: set operations and strings in classes) is not supported by RE2",
  d: "(match indices) has no use here: only whether a line matches is reported",
};

/** Why `flags` cannot be used (naming the flag), or null. */
export function flagsProblem(flags: string): string | null {
  const seen = new Set<string>();
  for (const f of flags) {
    const use = `the flags are a combination of ${[...LINEAR_REGEX_FLAGS].join(", ")}, each at most once`;
    if (seen.has(f)) return `flag "${f}" is given twice; ${use}`;
    seen.add(f);
    if (Object.hasOwn(FLAG_BITS, f)) continue;
    const why = FLAG_REFUSALS[f];
    return why === undefined ? `unknown flag "${f}"; ${use}` : `flag "${f}" ${why}; ${use}`;
  }
  return null;
}

/** A construct RE2 does not support: what to call it, and an optional hint. */
interface Construct {
  name: string;
  hint?: string;
}

const NO_BACKTRACKING = "it matches in linear time, so nothing that needs backtracking";

/** Group openers RE2 refuses, longest first. */
const GROUP_CONSTRUCTS: readonly [string, Construct][] = [
  ["(?<=", { name: "a lookbehind", hint: NO_BACKTRACKING }],
  ["(?<!", { name: "a negative lookbehind", hint: NO_BACKTRACKING }],
  ["(?P=", { name: "a named backreference", hint: NO_BACKTRACKING }],
  ["(?P>", { name: "a recursive subpattern call", hint: NO_BACKTRACKING }],
  ["(?=", { name: "a lookahead", hint: NO_BACKTRACKING }],
  ["(?!", { name: "a negative lookahead", hint: NO_BACKTRACKING }],
  ["(?>", { name: "an atomic group", hint: NO_BACKTRACKING }],
  ["(?|", { name: "a branch reset group" }],
  ["(?(", { name: "a conditional group", hint: NO_BACKTRACKING }],
  ["(?#", { name: "a comment group" }],
  ["(?&", { name: "a recursive subpattern call", hint: NO_BACKTRACKING }],
  ["(?R", { name: "a recursive pattern", hint: NO_BACKTRACKING }],
];

/** Escapes (the letter after `\`, outside a class) RE2 refuses, with what to write instead. */
const ESCAPE_CONSTRUCTS: Readonly<Record<string, Construct>> = {
  k: { name: "a named backreference", hint: NO_BACKTRACKING },
  K: { name: "a match reset" },
  G: { name: "a previous-match anchor" },
  Z: { name: "an end-of-text anchor before a final newline", hint: "write $ or \\z" },
  u: { name: "a \\u escape", hint: "write \\x{hhhh} (e.g. \\x{e9} or \\x{1F600})" },
  c: { name: "a control-character escape", hint: "write \\x{hh}" },
  R: { name: "a line-break escape", hint: "write (?:\\r\\n|[\\n\\v\\f\\r\\x{85}\\x{2028}\\x{2029}])" },
  X: { name: "an extended grapheme cluster escape" },
  h: { name: "a horizontal-whitespace escape", hint: "write [\\t \\x{a0}] or \\s" },
  C: { name: "a single-byte escape" },
};

/** `\p{Script=X}`, `\p{sc=X}`, `\p{General_Category=X}`, `\p{gc=X}`: JavaScript's property syntax for what RE2 writes `\p{X}`. */
const PROPERTY_PREFIX = /^\{(?:Script|sc|General_Category|gc)=/;

interface Scan {
  /** The pattern in RE2's own syntax (JavaScript's property names rewritten). */
  re2: string;
  /** The first construct RE2 does not support, with the text that shows it, or null. */
  unsupported: (Construct & { text: string }) | null;
}

/** Walks the pattern once: tokens that are escapes, classes, group openers and quantifiers. */
function scan(pattern: string): Scan {
  let out = "";
  let unsupported: Scan["unsupported"] = null;
  const found = (c: Construct, text: string) => {
    unsupported ??= { ...c, text };
  };
  let inClass = false;
  /** The previous token, when it was a quantifier (a `+` after it makes it possessive), else "". */
  let quantifier = "";
  for (let i = 0; i < pattern.length; ) {
    const ch = pattern[i] as string;
    const rest = pattern.slice(i);
    if (ch === "\\") {
      const next = pattern[i + 1] ?? "";
      if ((next === "p" || next === "P") && PROPERTY_PREFIX.test(pattern.slice(i + 2))) {
        const eq = pattern.indexOf("=", i);
        out += `\\${next}{`;
        i = eq + 1;
        quantifier = "";
        continue;
      }
      if (!inClass) {
        const digits = /^[1-9]\d*/.exec(pattern.slice(i + 1));
        // RE2 reads \1 to \7 followed by more digits as an octal escape; what it refuses is a backreference.
        if (digits !== null && !/^[1-7][0-7]/.test(digits[0])) found({ name: "a backreference", hint: NO_BACKTRACKING }, `\\${digits[0]}`);
        const c = ESCAPE_CONSTRUCTS[next];
        if (c !== undefined) found(c, next === "k" ? (/^\\k<[^>]*>?/.exec(rest)?.[0] ?? "\\k") : `\\${next}`);
      } else if (next === "u" || next === "c") {
        found(ESCAPE_CONSTRUCTS[next] as Construct, `\\${next}`);
      }
      out += pattern.slice(i, i + 2);
      i += 2;
      quantifier = "";
      continue;
    }
    if (inClass) {
      const posix = /^\[:[a-z]+:\]/.exec(rest);
      const token = posix?.[0] ?? ch;
      if (token === "]") inClass = false;
      out += token;
      i += token.length;
      continue;
    }
    if (ch === "[") {
      // A `]` right after `[` or `[^` is a literal in RE2.
      const open = /^\[\^?\]?/.exec(rest)?.[0] ?? "[";
      inClass = true;
      out += open;
      i += open.length;
      quantifier = "";
      continue;
    }
    if (ch === "(") {
      const group = GROUP_CONSTRUCTS.find(([opener]) => rest.startsWith(opener));
      if (group !== undefined) found(group[1], group[0]);
      else if (/^\(\?[+-]?\d/.test(rest)) found({ name: "a recursive subpattern call", hint: NO_BACKTRACKING }, rest.slice(0, 3));
      // `(?` is not a quantifier: step over both so the `?` is not taken for one.
      const step = rest.startsWith("(?") ? 2 : 1;
      out += rest.slice(0, step);
      i += step;
      quantifier = "";
      continue;
    }
    const counted = ch === "{" ? /^\{\d+(?:,\d*)?\}/.exec(rest)?.[0] : undefined;
    if (ch === "*" || ch === "+" || ch === "?" || counted !== undefined) {
      const token = counted ?? ch;
      if (quantifier !== "" && ch === "+") found({ name: "a possessive quantifier", hint: NO_BACKTRACKING }, `${quantifier}+`);
      quantifier = token;
      out += token;
      i += token.length;
      continue;
    }
    out += ch;
    i += 1;
    quantifier = "";
  }
  return { re2: out, unsupported };
}

function describe(found: NonNullable<Scan["unsupported"]>): string {
  return `uses ${found.name} \`${found.text}\`, which RE2 does not support${found.hint === undefined ? "" : ` (${found.hint})`}`;
}

/** The first construct in `pattern` that RE2 does not support, as a message ("uses a lookahead `(?=`, …"), or null. */
export function unsupportedConstruct(pattern: string): string | null {
  const found = scan(pattern).unsupported;
  return found === null ? null : describe(found);
}

/** The message for a pattern re2js refused: its own text, the repeat-count limit explained. */
function explainEngineError(err: unknown): string {
  const raw = err instanceof RE2JSException ? err.message : "rejected by the engine";
  const text = raw.replace(/^error parsing regexp: /, "");
  const count = /^invalid repeat count: (`\{(\d+)(?:,(\d+))?\}`)$/.exec(text);
  if (count !== null) {
    const [, shown, min, max] = count;
    if (max !== undefined && Number(min) > Number(max)) return `has a repeat count whose minimum is over its maximum (${shown})`;
    return `repeats too many times (${shown}): RE2 allows a repeat count up to 1000, nested counts multiplied together`;
  }
  return `is not a valid RE2 regular expression: ${text}`;
}

export type LinearRegexResult =
  | { ok: true; regex: RE2JS }
  | { ok: false; field: "pattern" | "flags"; message: string };

/**
 * Compiles `pattern` with JavaScript-style `flags` for linear-time matching, or says why not; the
 * message names the problem ("uses a backreference `\1`, which RE2 does not support (…)").
 * `regex.test(text)` is true when the pattern matches anywhere in text.
 */
export function compileLinearRegex(pattern: string, flags: string): LinearRegexResult {
  const badFlags = flagsProblem(flags);
  if (badFlags !== null) return { ok: false, field: "flags", message: badFlags };
  if (pattern.length > MAX_PATTERN_LENGTH) return { ok: false, field: "pattern", message: `must be at most ${MAX_PATTERN_LENGTH} characters` };
  const { re2, unsupported } = scan(pattern);
  let bits = 0;
  for (const f of flags) bits |= FLAG_BITS[f] ?? 0;
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(re2, bits);
  } catch (err) {
    // Named only once RE2 has refused the pattern, so the scan can never refuse what RE2 accepts.
    const message = unsupported === null ? explainEngineError(err) : describe(unsupported);
    return { ok: false, field: "pattern", message };
  }
  const size = regex.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    return {
      ok: false,
      field: "pattern",
      message: `compiles to ${size} instructions, over the limit of ${MAX_PROGRAM_SIZE} (a counted repeat such as x{50} copies x 50 times)`,
    };
  }
  return { ok: true, regex };
}
