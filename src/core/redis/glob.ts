/**
 * Redis glob patterns (util.c stringmatchlen) for KEYS, SCAN MATCH and HSCAN MATCH:
 * `*` any run, `?` one character, `[abc]`, `[^a]`, `[a-z]` (reversed ranges allowed), `\x` a literal x.
 * Quirks kept from Redis: an unterminated `[` class runs to the end of the pattern, `[]` matches
 * nothing, `[^]` any one character, and the empty string matches only "" and "*". Characters are Unicode code points where Redis counts bytes. Pure.
 */

type Token =
  | { kind: "star" }
  | { kind: "any" }
  | { kind: "literal"; char: string }
  | { kind: "class"; negated: boolean; chars: string[]; ranges: [number, number][] };

function tokenize(pattern: string): Token[] {
  const p = Array.from(pattern);
  const tokens: Token[] = [];
  let i = 0;
  while (i < p.length) {
    const c = p[i] as string;
    if (c === "*") {
      while (p[i] === "*") i++;
      tokens.push({ kind: "star" });
    } else if (c === "?") {
      tokens.push({ kind: "any" });
      i++;
    } else if (c === "[") {
      i++;
      const negated = p[i] === "^";
      if (negated) i++;
      const chars: string[] = [];
      const ranges: [number, number][] = [];
      while (i < p.length) {
        const d = p[i] as string;
        if (d === "\\" && i + 1 < p.length) {
          chars.push(p[i + 1] as string);
          i += 2;
        } else if (d === "]") {
          i++;
          break;
        } else if (i + 2 < p.length && p[i + 1] === "-") {
          const a = d.codePointAt(0) as number;
          const b = (p[i + 2] as string).codePointAt(0) as number;
          ranges.push(a <= b ? [a, b] : [b, a]);
          i += 3;
        } else {
          chars.push(d);
          i++;
        }
      }
      tokens.push({ kind: "class", negated, chars, ranges });
    } else if (c === "\\" && i + 1 < p.length) {
      tokens.push({ kind: "literal", char: p[i + 1] as string });
      i += 2;
    } else {
      tokens.push({ kind: "literal", char: c });
      i++;
    }
  }
  return tokens;
}

function tokenMatches(token: Token, char: string): boolean {
  switch (token.kind) {
    case "star":
    case "any":
      return true;
    case "literal":
      return token.char === char;
    case "class": {
      const cp = char.codePointAt(0) as number;
      const inside = token.chars.includes(char) || token.ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
      return inside !== token.negated;
    }
  }
}

/**
 * A matcher for a Redis glob pattern. Linear backtracking over the last `*` only (each other token
 * matches exactly one character), so no pattern can make it run away the way a regex can.
 */
export function compileGlob(pattern: string): (text: string) => boolean {
  const tokens = tokenize(pattern);
  if (pattern === "*") return () => true;
  return (text) => {
    if (text === "") return pattern === ""; // stringmatchlen never enters its loop for an empty string
    const s = Array.from(text);
    let t = 0;
    let i = 0;
    let starToken = -1;
    let starText = 0;
    while (i < s.length) {
      const token = tokens[t];
      if (token !== undefined && token.kind === "star") {
        starToken = t++;
        starText = i;
      } else if (token !== undefined && tokenMatches(token, s[i] as string)) {
        t++;
        i++;
      } else if (starToken >= 0) {
        t = starToken + 1;
        i = ++starText;
      } else return false;
    }
    while (tokens[t]?.kind === "star") t++;
    return t === tokens.length;
  };
}

const SYNTAX = /[\\^$.*+?()[\]{}|/]/;

function hex(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

/** An anchored RegExp (flags "su") equivalent to a Redis glob pattern. */
export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (const token of tokenize(pattern)) {
    if (token.kind === "star") source += ".*";
    else if (token.kind === "any") source += ".";
    else if (token.kind === "literal") source += SYNTAX.test(token.char) ? "\\" + token.char : token.char;
    else {
      const parts = token.chars.map((c) => hex(c.codePointAt(0) as number));
      for (const [lo, hi] of token.ranges) parts.push(`${hex(lo)}-${hex(hi)}`);
      source += `[${token.negated ? "^" : ""}${parts.join("")}]`;
    }
  }
  // Redis matches the empty string only with "" or "*" (KEYS/SCAN's match-all shortcut), not with "**"
  const nonEmpty = pattern === "" || pattern === "*" ? "" : "(?=.)";
  return new RegExp(`^${nonEmpty}${source}$`, "su");
}
