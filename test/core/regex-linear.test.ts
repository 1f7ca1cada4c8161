import { describe, expect, test } from "vitest";
import { compileGrepPattern, grepOptionsSchema } from "../../src/core/mapreduce/grep";
import { parseJobSpec, type Entry } from "../../src/core/mapreduce/jobs";
import { runPipeline } from "../../src/core/mapreduce/pipeline";
import { compileLinearRegex, flagsProblem, MAX_PROGRAM_SIZE, unsupportedConstruct } from "../../src/core/text/linear-regex";

/**
 * Issue 16, item 1: grep's pattern ran in JavaScript's backtracking RegExp, where `^(a+)+$` over a
 * 30-byte line took 9.4 s (doubling per extra character) and froze the worker. These tests run the
 * classic ReDoS patterns over 100 KB and give them seconds: RE2 needs milliseconds, the backtracking
 * engine would never finish (a synchronous loop: on the old code the test hangs rather than fails).
 */

const GENEROUS_MS = 5_000;

/** Runs fn, returning its result and the wall-clock time it took. */
function timed<T>(fn: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = fn();
  return { value, ms: performance.now() - start };
}

const HUNDRED_KB = 100_000;

describe("issue 16 #1: grep's time is linear in the input, whatever the pattern", () => {
  test.each([
    ["^(a+)+$", `${"a".repeat(HUNDRED_KB)}b`],
    ["(a|aa)+$", `${"a".repeat(HUNDRED_KB)}b`],
    ["^(a|a)*$", `${"a".repeat(HUNDRED_KB)}!`],
    ["(.*a){20}", `${"a".repeat(19)}${"x".repeat(HUNDRED_KB)}`],
    ["^(\\w+\\s?)*$", `${"word ".repeat(HUNDRED_KB / 5)}!`],
  ])("the ReDoS pattern %s over a 100 KB line ends within seconds and does not match", (pattern, line) => {
    const re = compileGrepPattern({ pattern, flags: "" });
    const { value, ms } = timed(() => re.test(line));
    expect(value).toBe(false);
    expect(ms).toBeLessThan(GENEROUS_MS);
  });

  test("a grep job with ^(a+)+$ over a document of long pathological lines runs through the pipeline within seconds", () => {
    const text = Array.from({ length: 5 }, (_, i) => `${"a".repeat(20_000 + i)}${i === 2 ? "" : "b"}`).join("\n");
    const spec = parseJobSpec({ kind: "grep", options: { pattern: "^(a+)+$" }, input: { documents: [{ id: "d", text }] }, M: 2, R: 1 });
    if (!spec.ok) throw spec.error;
    const { value, ms } = timed(() => runPipeline(spec.spec).result as Entry<{ line: number }>[]);
    // Only line 3 (all a's) matches; key and value keep grep's format.
    expect(value.map(([key, match]) => [key, match.line])).toEqual([["d:0000000003", 3]]);
    expect(ms).toBeLessThan(GENEROUS_MS);
  });
});

describe("the program cap bounds linear time's factor", () => {
  test("a pattern at the cap that defeats the DFA (the NFA then pays per live instruction) runs 100 KB within seconds", () => {
    // [ab]*a[ab]{n} needs 2^n DFA states, and many character classes make each state's table big, so
    // re2js gives up on its DFA and simulates the NFA. At 128 instructions: ~0.3 s per 100 KB here.
    let x = 1;
    const line = Array.from({ length: HUNDRED_KB }, () => (((x = (x * 1103515245 + 12345) % 2147483648) >> 30) & 1 ? "a" : "b")).join("");
    const classes = "[0-9]|[!-/]|[:-@]|\\p{Greek}|\\p{Han}|\\p{Cyrillic}|\\p{Arabic}|[A-Z]|[c-z]|\\p{Hebrew}|\\p{Thai}|\\p{Lu}|\\p{Nd}|\\p{P}|\\p{S}";
    const compiled = compileLinearRegex(`[ab]*a[ab]{122}(?:${classes})`, "");
    if (!compiled.ok) throw new Error(compiled.message);
    expect(compiled.regex.programSize()).toBe(MAX_PROGRAM_SIZE);
    const { value, ms } = timed(() => compiled.regex.test(line));
    expect(value).toBe(false);
    expect(ms).toBeLessThan(GENEROUS_MS);
    // One instruction more is refused (at 250 instructions such a 1 MB line took 7 s, at 2,000 minutes).
    const over = compileLinearRegex(`[ab]*a[ab]{123}(?:${classes})`, "");
    expect(!over.ok && over.message).toMatch(/^compiles to 129 instructions, over the limit of 128/);
  });
});

describe("issue 16 #1: a pattern RE2 cannot run is refused, naming the construct", () => {
  test.each([
    ["(a)\\1", "a backreference `\\1`"],
    ["(a)(b)\\8", "a backreference `\\8`"],
    ["(?<n>a)\\k<n>", "a named backreference `\\k<n>`"],
    ["(?P<n>a)(?P=n)", "a named backreference `(?P=`"],
    ["foo(?=bar)", "a lookahead `(?=`"],
    ["foo(?!bar)", "a negative lookahead `(?!`"],
    ["(?<=foo)bar", "a lookbehind `(?<=`"],
    ["(?<!foo)bar", "a negative lookbehind `(?<!`"],
    ["(?>a+)b", "an atomic group `(?>`"],
    ["a++b", "a possessive quantifier `++`"],
    ["a*+b", "a possessive quantifier `*+`"],
    ["a{2,3}+b", "a possessive quantifier `{2,3}+`"],
    ["foo\\Kbar", "a match reset `\\K`"],
    ["end\\Z", "an end-of-text anchor before a final newline `\\Z`"],
    ["caf\\u00e9", "a \\u escape `\\u`"],
    ["(a|b(?1))", "a recursive subpattern call `(?1`"],
    ["(?(1)a|b)", "a conditional group `(?(`"],
  ])("%s -> uses %s", (pattern, what) => {
    const out = compileLinearRegex(pattern, "");
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.field).toBe("pattern");
    expect(out.message).toContain(`uses ${what}`);
    expect(out.message).toContain("which RE2 does not support");
  });

  test("the construct is named in the job spec's error on options.pattern, the brief's example among them", () => {
    const parsed = parseJobSpec({ kind: "grep", options: { pattern: "(x)\\1" }, input: { documents: [{ id: "d", text: "xx" }] } });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.field).toBe("options.pattern");
    expect(parsed.error.message).toMatch(/^options\.pattern: uses a backreference `\\1`, which RE2 does not support/);
  });

  test("other refusals fall back to re2js's own description", () => {
    const out = compileLinearRegex("\\e", "");
    expect(!out.ok && out.message).toBe("is not a valid RE2 regular expression: invalid escape sequence: `\\e`");
    const unclosed = compileLinearRegex("(abc", "");
    expect(!unclosed.ok && unclosed.message).toMatch(/missing closing \)/);
  });

  test("what RE2 accepts is never refused by the construct scan (escaped or in a class, lazy quantifiers, octal)", () => {
    for (const pattern of ["\\(?=x", "[(?=]", "\\\\1", "a+?b", "a??", "a{2,3}?", "\\12", "(?<name>a)", "(?P<name>a)", "(?i:ab)c", "[[:alpha:]]+", "[]a]", "x{,3}+"]) {
      const out = compileLinearRegex(pattern, "");
      expect(out.ok, `${pattern}: ${out.ok ? "" : out.message}`).toBe(true);
    }
    expect(unsupportedConstruct("\\(?=x")).toBeNull();
  });

  test("a counted repeat over 1000 (nested counts multiplied) is refused, not compiled into a memory bomb", () => {
    for (const pattern of ["a{1001}", "(a{1000}){1000}", "((a{10}){10}){11}"]) {
      const out = compileLinearRegex(pattern, "");
      expect(!out.ok && out.message, pattern).toMatch(/^repeats too many times \(`\{\d+\}`\): RE2 allows a repeat count up to 1000/);
    }
    expect(compileLinearRegex("a{126}", "").ok).toBe(true);
    const backwards = compileLinearRegex("a{3,2}", "");
    expect(!backwards.ok && backwards.message).toBe("has a repeat count whose minimum is over its maximum (`{3,2}`)");
  });

  test(`a program over ${MAX_PROGRAM_SIZE} instructions is refused, naming its size`, () => {
    const out = compileLinearRegex("\\p{L}{999}\\p{L}{999}\\p{L}{999}", "");
    expect(!out.ok && out.message).toMatch(/^compiles to \d+ instructions, over the limit of 128/);
    const bigCount = compileLinearRegex("x{1000}", "");
    expect(!bigCount.ok && bigCount.message).toMatch(/^compiles to 1002 instructions/);
  });

  test("a pattern over 1024 characters is refused before it is compiled", () => {
    const out = compileLinearRegex("a".repeat(1025), "");
    expect(!out.ok && out.message).toBe("must be at most 1024 characters");
  });
});

describe("flags: i, m, s map to RE2's; u is accepted; the rest are refused by name", () => {
  test.each([
    ["v", /^flag "v" \(Unicode sets/],
    ["g", /^flag "g" makes matching stateful/],
    ["y", /^flag "y" makes matching stateful/],
    ["d", /^flag "d" \(match indices\)/],
    ["q", /^unknown flag "q"/],
    ["ii", /^flag "i" is given twice/],
  ])("flags %s -> %s", (flags, message) => {
    expect(flagsProblem(flags)).toMatch(message);
    const parsed = grepOptionsSchema.safeParse({ pattern: "x", flags });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["flags"]);
  });

  test("i ignores case (Unicode simple folding), s lets . match a newline, m makes ^ and $ match at line ends", () => {
    const re = (pattern: string, flags: string) => compileGrepPattern({ pattern, flags });
    expect(re("ÉCOLE", "i").test("une école")).toBe(true);
    expect(re("ÉCOLE", "").test("une école")).toBe(false);
    expect(re("a.b", "").test("a\nb")).toBe(false);
    expect(re("a.b", "s").test("a\nb")).toBe(true);
    expect(re("^b$", "").test("a\nb")).toBe(false);
    expect(re("^b$", "m").test("a\nb")).toBe(true);
    expect(re("^.$", "u").test("😀")).toBe(true);
  });
});

describe("grep keeps its behaviour on the syntax RE2 and JavaScript share", () => {
  const lines = [
    "The quick brown fox jumps over the lazy dog",
    "ERROR 2024-01-02 disk full",
    "error: no such file",
    "python is not a snake here",
    "dogs and cats, 42 of them",
    "naïve café, 漢字 and ÉCOLE",
    "",
    "tab\tseparated\tfields 7",
  ];
  test.each([
    ["fox", ""],
    ["^error", "i"],
    ["\\b(fox|dogs?|python)\\b", "i"],
    ["\\d{2,}", ""],
    ["[A-Z][a-z]+", ""],
    ["^$", ""],
    ["\\t\\w+\\t", ""],
    ["(?:é|É)", ""],
    ["\\p{Script=Han}+", "u"],
    ["\\p{Lu}{3,}", "u"],
  ])("%s /%s matches the same lines as JavaScript's RegExp", (pattern, flags) => {
    const re2 = compileGrepPattern({ pattern, flags });
    const js = new RegExp(pattern, flags);
    expect(lines.filter((l) => re2.test(l))).toEqual(lines.filter((l) => js.test(l)));
  });
});
