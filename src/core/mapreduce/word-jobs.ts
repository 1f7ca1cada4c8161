import { z } from "zod";
import type { Entry, JobKind } from "./kind";
import { compareKeys } from "./key-order";
import type { InputSplit } from "./partition";
import { forEachWord } from "./tokenize";

/** The word-based kinds: wordcount, inverted-index, top-k. All tokenize with ./tokenize. */

export const MAX_TOP_K = 10_000;
export const DEFAULT_TOP_K = 10;

const unicodeOption = z.boolean().default(false).describe("segment words with Intl.Segmenter (Chinese, Japanese, Thai …) instead of splitting on whitespace");

export const wordcountOptionsSchema = z.strictObject({ unicode: unicodeOption });
export type WordcountOptions = z.output<typeof wordcountOptionsSchema>;

export const invertedIndexOptionsSchema = z.strictObject({ unicode: unicodeOption });
export type InvertedIndexOptions = z.output<typeof invertedIndexOptionsSchema>;

export const topKOptionsSchema = z.strictObject({
  k: z.number().int().min(1).max(MAX_TOP_K).default(DEFAULT_TOP_K).describe("how many of the most frequent words"),
  unicode: unicodeOption,
});
export type TopKOptions = z.output<typeof topKOptionsSchema>;

/** (word, 1) per occurrence, in text order. */
function mapOnes(split: InputSplit, options: { unicode: boolean }): Entry<number>[] {
  const out: Entry<number>[] = [];
  for (const piece of split.pieces) forEachWord(piece.text, options, (word) => out.push([word, 1]));
  return out;
}

/** (word, occurrences in the split), in order of first occurrence: mapOnes then a sum per word. */
function mapCounts(split: InputSplit, options: { unicode: boolean }): Entry<number>[] {
  const counts = new Map<string, number>();
  for (const piece of split.pieces) forEachWord(piece.text, options, (word) => counts.set(word, (counts.get(word) ?? 0) + 1));
  return [...counts];
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** Sorted (by compareKeys), duplicates removed. */
function sortedUnique(values: string[]): string[] {
  return [...new Set(values)].sort(compareKeys);
}

/** wordcount: word -> number of occurrences. */
export const wordcountKind: JobKind<WordcountOptions, number, number> = {
  map: mapOnes,
  mapCombined: mapCounts,
  combine: (_key, values) => [sum(values)],
  reduce: (_key, values) => sum(values),
};

/** inverted-index: word -> sorted list of the ids of the documents it occurs in. */
export const invertedIndexKind: JobKind<InvertedIndexOptions, string, string[]> = {
  map(split, options) {
    const out: Entry<string>[] = [];
    for (const piece of split.pieces) forEachWord(piece.text, options, (word) => out.push([word, piece.documentId]));
    return out;
  },
  mapCombined(split, options) {
    const seen = new Set<string>();
    const out: Entry<string>[] = [];
    for (const piece of split.pieces) {
      seen.clear(); // pieces of one split come from different documents, or different parts of one
      forEachWord(piece.text, options, (word) => {
        if (seen.has(word)) return;
        seen.add(word);
        out.push([word, piece.documentId]);
      });
    }
    return out;
  },
  combine: (_key, values) => sortedUnique(values),
  reduce: (_key, values) => sortedUnique(values),
};

/** Rank order of top-k: more frequent first, ties by word (compareKeys). */
export function compareByRank(a: Entry<number>, b: Entry<number>): number {
  return b[1] - a[1] || compareKeys(a[0], b[0]);
}

/** The k best entries by rank, in rank order. */
function best(entries: Entry<number>[], k: number): Entry<number>[] {
  return [...entries].sort(compareByRank).slice(0, k);
}

/**
 * top-k: the k most frequent words, most frequent first, ties broken by word.
 *
 * Why per-partition trimming is exact: every occurrence of a word is hashed to the same reducer, so
 * each reducer holds complete counts for a disjoint set of words. Under a strict total order (count,
 * then word), a word in the global top k is in the top k of its own partition; each reducer keeps
 * only its top k (k × R entries reach the final merge, not the vocabulary) and finalize ranks them.
 */
export const topKKind: JobKind<TopKOptions, number, number> = {
  map: mapOnes,
  mapCombined: mapCounts,
  combine: (_key, values) => [sum(values)],
  reduce: (_key, values) => sum(values),
  trimPartition: (entries, options) => best(entries, options.k).sort((a, b) => compareKeys(a[0], b[0])),
  finalize: (entries, options) => best(entries, options.k),
};
