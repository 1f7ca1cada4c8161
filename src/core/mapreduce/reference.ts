import { compileGrepPattern, grepKey, grepMatch, type GrepMatch } from "./grep";
import type { Entry, JobSpec } from "./jobs";
import { compareKeys } from "./key-order";
import { type InputDocument, linesOf } from "./partition";
import { compareByRank } from "./word-jobs";
import { forEachWord } from "./tokenize";

/**
 * The single-process reference: each job kind computed the obvious way over all documents at once (no
 * splits, no partitions, no combiner), sharing only the definitions with the distributed path
 * (tokenizer, lines, key order, grep's pattern and line record). Tests compare runPipeline and the
 * real cluster against it; bench:mapreduce uses referenceWordcount as its single-isolate baseline.
 */

type Documents = readonly InputDocument[];

/** word -> occurrences, sorted by word. */
export function referenceWordcount(documents: Documents, unicode = false): Entry<number>[] {
  const counts = new Map<string, number>();
  for (const doc of documents) forEachWord(doc.text, { unicode }, (w) => counts.set(w, (counts.get(w) ?? 0) + 1));
  return [...counts].sort((a, b) => compareKeys(a[0], b[0]));
}

/** word -> sorted ids of the documents containing it, sorted by word. */
export function referenceInvertedIndex(documents: Documents, unicode = false): Entry<string[]>[] {
  const index = new Map<string, Set<string>>();
  for (const doc of documents) {
    forEachWord(doc.text, { unicode }, (w) => {
      let ids = index.get(w);
      if (ids === undefined) index.set(w, (ids = new Set()));
      ids.add(doc.id);
    });
  }
  return [...index].map(([w, ids]): Entry<string[]> => [w, [...ids].sort(compareKeys)]).sort((a, b) => compareKeys(a[0], b[0]));
}

/** `<document>:<line>` -> each matching line, in key order (document, then line). */
export function referenceGrep(documents: Documents, pattern: string, flags = ""): Entry<GrepMatch>[] {
  const re = compileGrepPattern({ pattern, flags });
  const out: Entry<GrepMatch>[] = [];
  for (const doc of documents) {
    linesOf(doc.text).forEach((text, i) => {
      if (re.test(text)) out.push([grepKey(doc.id, i + 1), grepMatch(doc.id, i + 1, text)]);
    });
  }
  return out.sort((a, b) => compareKeys(a[0], b[0]));
}

/** The k most frequent words, most frequent first, ties by word. */
export function referenceTopK(documents: Documents, k: number, unicode = false): Entry<number>[] {
  return referenceWordcount(documents, unicode).sort(compareByRank).slice(0, k);
}

/** The reference result of a validated job spec. */
export function referenceRun(spec: JobSpec): Entry<unknown>[] {
  const docs = spec.input.documents;
  switch (spec.kind) {
    case "wordcount":
      return referenceWordcount(docs, spec.options.unicode);
    case "inverted-index":
      return referenceInvertedIndex(docs, spec.options.unicode);
    case "grep":
      return referenceGrep(docs, spec.options.pattern, spec.options.flags);
    case "top-k":
      return referenceTopK(docs, spec.options.k, spec.options.unicode);
  }
}
