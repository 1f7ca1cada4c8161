/**
 * Word tokenization shared by the word-based job kinds (wordcount, inverted-index, top-k) and by the
 * reference run, so the distributed and the single-process answers are computed from the same words.
 *
 * Default ("the seed's tokenization"): lowercase, split on whitespace, strip `.,!?;:` from both ends
 * of each word, drop what is left empty. Both ends, because the chapter's sketch uses Python's
 * `str.strip(chars)`, which strips both ends: "...so" is "so", "e.g." is "e.g", "don't" stays whole.
 * Whitespace is ECMAScript `\s`; it differs from Python's `str.split()` only on U+001C–U+001F and
 * U+0085 (Python splits there, we do not) and U+FEFF (we split there).
 *
 * `unicode: true`: Unicode word segmentation (UAX #29 plus ICU's dictionaries for Chinese, Japanese,
 * Thai …) via Intl.Segmenter, keeping word-like segments, each lowercased, so "我爱北京天安门" is four
 * words, not one. Intl.Segmenter is in Node >= 16 (full ICU by default) and in workerd. Dictionary
 * segmentation depends on the ICU version: every isolate of one deployment agrees, but Node and
 * workerd may in rare cases split a CJK run differently.
 *
 * Both modes only ever break at a line feed, never across one (a line feed is whitespace, and UAX #29
 * always breaks around it), so tokenizing a text piecewise at line boundaries gives the same words as
 * tokenizing it whole: this is what lets a map task see only its split.
 */

export interface TokenizeOptions {
  /** Segment words with Intl.Segmenter instead of splitting on whitespace. */
  unicode?: boolean;
}

const WHITESPACE = /\s+/;

/** True for the characters the seed strips from word ends: . , ! ? ; : */
function isStripped(unit: number): boolean {
  return unit === 0x2e || unit === 0x2c || unit === 0x21 || unit === 0x3f || unit === 0x3b || unit === 0x3a;
}

/** `word` without leading and trailing `.,!?;:` (may return ""). */
export function stripWordEnds(word: string): string {
  let start = 0;
  let end = word.length;
  while (start < end && isStripped(word.charCodeAt(start))) start++;
  while (end > start && isStripped(word.charCodeAt(end - 1))) end--;
  return start === 0 && end === word.length ? word : word.slice(start, end);
}

let segmenter: Intl.Segmenter | undefined;

/** One word segmenter per isolate: construction loads ICU data, reuse is deterministic. */
function wordSegmenter(): Intl.Segmenter {
  // "und" (root locale): word-break rules should not follow the host's default locale.
  segmenter ??= new Intl.Segmenter("und", { granularity: "word" });
  return segmenter;
}

/** Calls `onWord` for each word of `text`, in order. */
export function forEachWord(text: string, options: TokenizeOptions, onWord: (word: string) => void): void {
  if (options.unicode === true) {
    for (const segment of wordSegmenter().segment(text)) {
      if (segment.isWordLike === true) onWord(segment.segment.toLowerCase());
    }
    return;
  }
  // Lowercasing the whole text first equals lowercasing each word: the only context-dependent
  // mapping (final sigma) never looks across whitespace.
  for (const raw of text.toLowerCase().split(WHITESPACE)) {
    if (raw === "") continue;
    const word = stripWordEnds(raw);
    if (word !== "") onWord(word);
  }
}

/** The words of `text`, in order, with repeats. */
export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  const words: string[] = [];
  forEachWord(text, options, (word) => words.push(word));
  return words;
}
