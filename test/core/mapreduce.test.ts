import { describe, expect, test } from "vitest";
import { murmur3_32_bytes } from "../../src/core/hash/murmur3";
import { MAX_GREP_LINE_TEXT } from "../../src/core/mapreduce/grep";
import { bindJob, type Entry, type JobSpec, JOB_KIND_NAMES, type JobSpecInput, jobSpecSchema, parseJobParams, parseJobSpec } from "../../src/core/mapreduce/jobs";
import { compareKeys, sortKeys } from "../../src/core/mapreduce/key-order";
import { DEFAULT_DOCUMENT_ID, type InputDocument, type InputSplit, linesOf, partitionOf, splitDocuments, splitInput } from "../../src/core/mapreduce/partition";
import { type MapRun, type PipelineRun, runMapTask, runPipeline, runReduceTask } from "../../src/core/mapreduce/pipeline";
import { referenceRun, referenceWordcount } from "../../src/core/mapreduce/reference";
import { stripWordEnds, tokenize } from "../../src/core/mapreduce/tokenize";
import { mulberry32 } from "../support/prng";

// ---------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------

/** The word-count example of the chapter (seed/distributed-systems-chapter.md, mapreduce_example). */
const SEED_SENTENCES = ["Hello world hello python", "Python is a programming language", "Hello python world", "Programming with python is fun"];

/** Four sentences of our own in the same spirit, with the punctuation the tokenizer strips. */
const PUNCTUATED_SENTENCES = [
  "The quick brown fox jumps over the lazy dog.",
  "The dog barks; the fox runs!",
  "Is the fox quick? Yes: the fox is quick.",
  "Lazy dogs, lazy days.",
];

const asDocuments = (texts: readonly string[]): InputDocument[] => texts.map((text, i) => ({ id: `doc${i + 1}`, text }));

/** A valid spec, or the test fails with the field that was refused. (Input untyped: test cases spread kinds and options.) */
function spec(input: unknown): JobSpec {
  const parsed = parseJobSpec(input);
  if (!parsed.ok) throw new Error(`spec refused: ${parsed.error.message}`);
  return parsed.spec;
}

/** The field named by the refusal of `input`, or a failure if it was accepted. */
function refusedField(input: unknown): string {
  const parsed = parseJobSpec(input);
  if (parsed.ok) throw new Error(`accepted: ${JSON.stringify(input).slice(0, 200)}`);
  expect(parsed.error.message.startsWith(parsed.error.field === "" ? "" : `${parsed.error.field}: `)).toBe(true);
  return parsed.error.field;
}

/** Job parameters (kind + options) exercising every kind; documents, M, R and combiner are added per test. */
const KIND_CASES: Array<{ name: string; params: Pick<JobSpecInput, "kind" | "options"> }> = [
  { name: "wordcount", params: { kind: "wordcount" } },
  { name: "inverted-index", params: { kind: "inverted-index" } },
  { name: "grep", params: { kind: "grep", options: { pattern: "\\b(fox|dogs?|python)\\b", flags: "i" } } },
  { name: "top-k", params: { kind: "top-k", options: { k: 3 } } },
];

const WORD_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "zé", "qu", "ar", "on", "el", "is", "um", "ßa"];
const DECORATIONS = ["", "", "", "", ".", ",", "!", "?", ";", ":", "...", "'s"];

/**
 * A deterministic corpus of about `targetBytes` UTF-8 bytes: Zipf-distributed words built from
 * syllables (some with non-ASCII letters), random capitalization and punctuation, lines of 0–20
 * words (empty lines included), CRLF in some documents, now and then an astral-plane word.
 */
function generateCorpus(seed: number, targetBytes: number, documentCount: number): InputDocument[] {
  const rand = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const vocabulary: string[] = [];
  for (let i = 0; i < 4000; i++) {
    let word = "";
    const syllables = 1 + Math.floor(rand() * 4);
    for (let s = 0; s < syllables; s++) word += pick(WORD_SYLLABLES);
    vocabulary.push(i % 500 === 7 ? `${word}😀` : word);
  }
  const cumulative: number[] = [];
  let sum = 0;
  for (let i = 0; i < vocabulary.length; i++) cumulative.push((sum += 1 / (i + 1)));
  const zipfWord = (): string => {
    const x = rand() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return vocabulary[lo] as string;
  };
  const perDocument = targetBytes / documentCount;
  return Array.from({ length: documentCount }, (_, d) => {
    const newline = d % 3 === 2 ? "\r\n" : "\n";
    const lines: string[] = [];
    let bytes = 0;
    while (bytes < perDocument) {
      const words: string[] = [];
      const count = Math.floor(rand() * 21);
      for (let w = 0; w < count; w++) {
        let word = zipfWord();
        if (rand() < 0.1) word = word.toUpperCase();
        else if (rand() < 0.2) word = word.charAt(0).toUpperCase() + word.slice(1);
        words.push(word + pick(DECORATIONS));
      }
      const line = words.join(rand() < 0.05 ? "\t" : " ");
      lines.push(line);
      bytes += line.length + newline.length;
    }
    return { id: `d${String(d).padStart(3, "0")}`, text: lines.join(newline) + (d % 2 === 0 ? newline : "") };
  });
}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------------
// Tokenization
// ---------------------------------------------------------------------------------------------------

describe("tokenize", () => {
  test("lowercases, splits on whitespace and strips . , ! ? ; : from both ends of each word", () => {
    expect(tokenize("Is the fox quick? Yes: the fox is quick.")).toEqual(["is", "the", "fox", "quick", "yes", "the", "fox", "is", "quick"]);
    expect(tokenize("...so! ;;wait:: (really)")).toEqual(["so", "wait", "(really)"]);
  });

  test("punctuation inside a word is kept, words of only punctuation are dropped", () => {
    expect(tokenize("e.g. don't 3.14 a,b !!! ?")).toEqual(["e.g", "don't", "3.14", "a,b"]);
    expect(stripWordEnds(".,!?;:")).toBe("");
  });

  test("tabs, line feeds, CRLF and no-break spaces all separate words; no empty tokens", () => {
    expect(tokenize("\t one\r\ntwo\u00a0three  \n\nfour \u2028 five")).toEqual(["one", "two", "three", "four", "five"]);
    expect(tokenize("")).toEqual([]);
    expect(tokenize(" \n\t ")).toEqual([]);
  });

  test("without the unicode option a Chinese sentence is a single token", () => {
    expect(tokenize("我爱北京天安门。\n北京欢迎你")).toEqual(["我爱北京天安门。", "北京欢迎你"]);
  });

  test("the unicode option segments Chinese into words, keeps only word-like segments and lowercases", () => {
    expect(tokenize("我爱北京天安门。", { unicode: true })).toEqual(["我", "爱", "北京", "天安门"]);
    expect(tokenize("The Fox, isn't it? 42 ÉTÉ", { unicode: true })).toEqual(["the", "fox", "isn't", "it", "42", "été"]);
  });

  test("tokenizing line by line gives the words of the whole text (a split never changes the words)", () => {
    const text = "我爱北京天安门。北京是中国的首都\nΟΔΟΣ. ΑΣ\r\nHello, World!\n\n東京タワー と 富士山";
    for (const unicode of [false, true]) {
      const byLine = text.split("\n").flatMap((line) => tokenize(line, { unicode }));
      expect(byLine).toEqual(tokenize(text, { unicode }));
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Key order and partitioning
// ---------------------------------------------------------------------------------------------------

describe("key order", () => {
  test("keys sort by the byte order of their UTF-8 encoding (as SQLite and Durable Object storage sort), not by UTF-16 units", () => {
    const keys = ["😀", "～", "é", "a", "", "ab", "\u{10000}", "\uffff"];
    expect([...keys].sort(compareKeys)).toEqual(["", "a", "ab", "é", "～", "\uffff", "\u{10000}", "😀"]);
    expect([...keys].sort()).not.toEqual([...keys].sort(compareKeys));
  });

  test("compareKeys agrees with a byte comparison of the UTF-8 encodings on random strings", () => {
    const seed = 20261126;
    const rand = mulberry32(seed);
    const ranges: Array<[number, number]> = [[0x20, 0x7f], [0x80, 0x800], [0xe000, 0x10000], [0x10000, 0x10ffff], [0x4e00, 0x9fff]];
    const randomString = (): string => {
      let s = "";
      const n = Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) {
        const [lo, hi] = ranges[Math.floor(rand() * ranges.length)] as [number, number];
        s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo)));
      }
      return s;
    };
    for (let i = 0; i < 5000; i++) {
      const a = randomString();
      const b = randomString();
      const bytes = Math.sign(Buffer.compare(utf8.encode(a), utf8.encode(b)));
      expect(Math.sign(compareKeys(a, b)), `seed ${seed}: ${JSON.stringify([a, b])}`).toBe(bytes);
    }
  });

  test("sortKeys (native sort when no key reaches U+D800) orders exactly as compareKeys, with and without such keys", () => {
    const rand = mulberry32(7);
    const pick = (alphabet: string[]) => Array.from({ length: 1 + Math.floor(rand() * 4) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join("");
    const low = ["a", "b", "Z", "é", "中", "文", "\u00ff", "\ud7ff"];
    const high = [...low, "～", "\uffff", "😀", "\u{10000}"];
    for (const alphabet of [low, high]) {
      for (let round = 0; round < 50; round++) {
        const keys = Array.from({ length: 40 }, () => pick(alphabet));
        expect(sortKeys([...keys])).toEqual([...keys].sort(compareKeys));
      }
    }
  });
});

describe("partitionOf", () => {
  test("is MurmurHash3 of the key's UTF-8 bytes mod R: fixed values, the same in every isolate", () => {
    // Pinned: changing these would move keys between reduce partitions of running jobs.
    expect(partitionOf("the", 5)).toBe(3162218338 % 5);
    expect(partitionOf("fox", 64)).toBe(2673099881 % 64);
    expect(partitionOf("北京", 5)).toBe(666955079 % 5);
    expect(partitionOf("😀", 64)).toBe(3199479546 % 64);
    for (const key of ["the", "fox", "北京", "😀", "été", ""]) {
      for (const R of [1, 2, 5, 64]) expect(partitionOf(key, R)).toBe(murmur3_32_bytes(utf8.encode(key)) % R);
    }
  });

  test("spreads a vocabulary evenly over R partitions", () => {
    const R = 8;
    const counts = new Array<number>(R).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`word${i}`, R)]! += 1;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  test("refuses an R that is not a positive integer", () => {
    expect(() => partitionOf("a", 0)).toThrow(RangeError);
    expect(() => partitionOf("a", 1.5)).toThrow(RangeError);
  });
});

describe("splitting the input", () => {
  /** Checks every invariant of a split of `documents` into M. */
  function checkSplits(documents: InputDocument[], M: number, splits: InputSplit[]): void {
    expect(splits.map((s) => s.index)).toEqual(Array.from({ length: M }, (_, i) => i));
    // Concatenating the pieces in split order gives back every non-empty document, in order.
    const rebuilt = new Map<string, string>();
    for (const split of splits) {
      let bytes = 0;
      for (const piece of split.pieces) {
        rebuilt.set(piece.documentId, (rebuilt.get(piece.documentId) ?? "") + piece.text);
        bytes += utf8.encode(piece.text).length;
        // A piece starts at a line start and carries that line's number.
        const doc = documents.find((d) => d.id === piece.documentId) as InputDocument;
        const before = rebuilt.get(piece.documentId)!.slice(0, -piece.text.length || undefined);
        expect(before === "" || before.endsWith("\n")).toBe(true);
        expect(piece.firstLine).toBe(linesOf(before).length + 1);
        expect(linesOf(piece.text)).toEqual(linesOf(doc.text).slice(piece.firstLine - 1, piece.firstLine - 1 + linesOf(piece.text).length));
      }
      expect(split.bytes).toBe(bytes);
    }
    expect([...rebuilt]).toEqual(documents.filter((d) => d.text !== "").map((d) => [d.id, d.text]));
    // Balanced by bytes: no split exceeds its share by more than one line.
    const total = documents.reduce((n, d) => n + utf8.encode(d.text).length, 0);
    const longestLine = Math.max(0, ...documents.flatMap((d) => d.text.split(/(?<=\n)/).map((l) => utf8.encode(l).length)));
    for (const split of splits) expect(split.bytes).toBeLessThanOrEqual(Math.ceil(total / M) + longestLine);
  }

  test("a text is cut into exactly M splits at line starts, balanced by UTF-8 bytes, with line numbers", () => {
    const rand = mulberry32(7);
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i + 1} ${"北京 abc ".repeat(Math.floor(rand() * 10))}`);
    const text = `${lines.join("\n")}\n`;
    for (const M of [1, 2, 3, 7, 64, 256]) {
      const splits = splitInput(text, M);
      checkSplits([{ id: DEFAULT_DOCUMENT_ID, text }], M, splits);
      if (M <= 64) for (const s of splits) expect(s.pieces.length).toBe(1);
    }
  });

  test("several documents are cut on line and document boundaries; a document may span splits", () => {
    const documents = generateCorpus(11, 40_000, 9);
    documents.splice(3, 0, { id: "empty", text: "" });
    for (const M of [1, 2, 3, 7, 32]) checkSplits(documents, M, splitDocuments(documents, M));
  });

  test("with fewer lines than M the extra splits are empty, and a line is never divided", () => {
    const splits = splitInput("one long line without a line feed", 3);
    expect(splits.map((s) => s.pieces.length)).toEqual([1, 0, 0]);
    expect(splitDocuments([{ id: "a", text: "" }], 4).every((s) => s.pieces.length === 0)).toBe(true);
    const twoLines = splitInput("x".repeat(1000) + "\ny\n", 5);
    expect(twoLines.flatMap((s) => s.pieces.map((p) => [s.index, p.firstLine, p.text.length]))).toEqual([[0, 1, 1001], [4, 2, 2]]);
  });

  test("linesOf: a final line feed ends the last line, CR before LF is dropped, an empty text has no lines", () => {
    expect(linesOf("a\r\nb\n")).toEqual(["a", "b"]);
    expect(linesOf("a\n\nb")).toEqual(["a", "", "b"]);
    expect(linesOf("\n")).toEqual([""]);
    expect(linesOf("")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// The simulated pipeline against the reference
// ---------------------------------------------------------------------------------------------------

describe("the simulated pipeline equals the single-process reference", () => {
  test("the chapter's word-count example gives the chapter's counts", () => {
    const run = runPipeline(spec({ kind: "wordcount", input: { documents: asDocuments(SEED_SENTENCES) }, M: 2, R: 2 }));
    expect(run.result).toEqual([["a", 1], ["fun", 1], ["hello", 3], ["is", 2], ["language", 1], ["programming", 2], ["python", 4], ["with", 1], ["world", 2]]);
  });

  test("four punctuated sentences: top-k breaks ties by word, grep reports line numbers", () => {
    const documents = asDocuments(PUNCTUATED_SENTENCES);
    expect(runPipeline(spec({ kind: "top-k", options: { k: 4 }, input: { documents }, M: 3, R: 2 })).result).toEqual([["the", 6], ["fox", 4], ["lazy", 3], ["quick", 3]]);
    const oneText = [{ id: "sentences", text: PUNCTUATED_SENTENCES.join("\n") }];
    expect(runPipeline(spec({ kind: "grep", options: { pattern: "fox" }, input: { documents: oneText }, M: 3, R: 2 })).result).toEqual(
      [1, 2, 3].map((line) => [`sentences:${String(line).padStart(10, "0")}`, { document: "sentences", line, text: PUNCTUATED_SENTENCES[line - 1] }]),
    );
    expect(runPipeline(spec({ kind: "inverted-index", input: { documents }, M: 2, R: 5 })).result).toContainEqual(["fox", ["doc1", "doc2", "doc3"]]);
  });

  const inputs: Array<{ name: string; documents: InputDocument[] }> = [
    { name: "the chapter's sentences as four documents", documents: asDocuments(SEED_SENTENCES) },
    { name: "the punctuated sentences as four documents", documents: asDocuments(PUNCTUATED_SENTENCES) },
    { name: "the punctuated sentences as the lines of one text", documents: [{ id: DEFAULT_DOCUMENT_ID, text: PUNCTUATED_SENTENCES.join("\n") }] },
  ];
  for (const { name: kind, params } of KIND_CASES) {
    for (const input of inputs) {
      test(`${kind}, ${input.name}: every M in {1,2,3,7} × R in {1,2,5}, with and without the combiner`, () => {
        const expected = referenceRun(spec({ ...params, input: { documents: input.documents } }));
        expect(expected.length).toBeGreaterThan(0);
        for (const M of [1, 2, 3, 7]) {
          for (const R of [1, 2, 5]) {
            for (const combiner of [true, false]) {
              const run = runPipeline(spec({ ...params, input: { documents: input.documents }, M, R, combiner }));
              expect(run.result, `M=${M} R=${R} combiner=${combiner}`).toEqual(expected);
              // Each reducer's output is sorted by key and holds only its own partition's keys.
              run.reduceOutputs.forEach((out, r) => {
                expect(out.map(([k]) => k)).toEqual(out.map(([k]) => k).sort(compareKeys));
                for (const [k] of out) expect(partitionOf(k, R)).toBe(r);
              });
            }
          }
        }
      });
    }
  }

  test("a generated multi-megabyte corpus: wordcount with and without the combiner equals the reference", () => {
    const seed = 0x5eed;
    console.log(`mapreduce corpus seed ${seed}`);
    const documents = generateCorpus(seed, 3_000_000, 24);
    const bytes = documents.reduce((n, d) => n + utf8.encode(d.text).length, 0);
    expect(bytes).toBeGreaterThan(3_000_000);
    const expected = referenceWordcount(documents);
    expect(expected.length).toBeGreaterThan(1000);
    const shuffled = (run: PipelineRun) => run.mapOutputs.reduce((n, m) => n + m.counters.shuffledRecords, 0);
    for (const [M, R] of [[1, 1], [7, 5], [64, 16]] as const) {
      const plain = runPipeline(spec({ kind: "wordcount", input: { documents }, M, R, combiner: false }));
      expect(plain.result, `seed ${seed} M=${M} R=${R} without combiner`).toEqual(expected);
      const combined = runPipeline(spec({ kind: "wordcount", input: { documents }, M, R, combiner: true }));
      expect(combined.result, `seed ${seed} M=${M} R=${R} with combiner`).toEqual(expected);
      // Without the combiner every occurrence is shuffled; with it, one record per distinct word per map task.
      expect(shuffled(plain)).toBe(plain.mapOutputs.reduce((n, m) => n + m.counters.mapOutputRecords, 0));
      expect(shuffled(combined)).toBeLessThan(shuffled(plain) / 3);
    }
  });

  test("a generated corpus: every job kind for several M and R equals the reference", () => {
    const seed = 0xc0ffee;
    console.log(`mapreduce corpus seed ${seed}`);
    const documents = generateCorpus(seed, 600_000, 12);
    for (const { name: kind, params } of KIND_CASES) {
      const options = kind === "grep" ? { pattern: "^(ka|lo)\\S*\\s+ZÉ", flags: "i" } : params.options;
      const expected = referenceRun(spec({ ...params, options, input: { documents } }));
      expect(expected.length, kind).toBeGreaterThan(0);
      for (const [M, R] of [[3, 2], [13, 5], [40, 7]] as const) {
        const run = runPipeline(spec({ ...params, options, input: { documents }, M, R }));
        expect(run.result, `seed ${seed} ${kind} M=${M} R=${R}`).toEqual(expected);
      }
    }
  });

  test("the unicode option counts Chinese words through the pipeline", () => {
    const documents = asDocuments(["我爱北京天安门。", "北京是中国的首都，天安门在北京。", "Hello 北京!"]);
    const expected = referenceRun(spec({ kind: "wordcount", options: { unicode: true }, input: { documents } }));
    expect(expected).toContainEqual(["北京", 4]);
    expect(expected).toContainEqual(["天安门", 2]);
    expect(expected).toContainEqual(["hello", 1]);
    for (const M of [1, 2, 3]) {
      for (const R of [1, 5]) {
        expect(runPipeline(spec({ kind: "wordcount", options: { unicode: true }, input: { documents }, M, R })).result).toEqual(expected);
      }
    }
    // Without it, each Chinese sentence is one "word".
    expect(runPipeline(spec({ kind: "wordcount", input: { documents } })).result).toContainEqual(["我爱北京天安门。", 1]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Job kinds
// ---------------------------------------------------------------------------------------------------

describe("grep", () => {
  test("reports each matching line with its 1-based number in the document, across splits and CRLF", () => {
    const text = Array.from({ length: 100 }, (_, i) => (i % 10 === 3 ? `ERROR at step ${i + 1}` : `ok ${i + 1}`)).join("\r\n");
    const documents = [{ id: "log-b", text }, { id: "log-a", text: "fine\nerror: disk\n" }];
    const run = runPipeline(spec({ kind: "grep", options: { pattern: "^error", flags: "i" }, input: { documents }, M: 7, R: 2 }));
    // One entry per line, keyed <document>:<10-digit line>: documents in order, lines in numeric order (4 before 14 before 104).
    expect(run.result[0]).toEqual(["log-a:0000000002", { document: "log-a", line: 2, text: "error: disk" }]);
    expect(run.result.slice(1)).toEqual(Array.from({ length: 10 }, (_, j) => [`log-b:${String(j * 10 + 4).padStart(10, "0")}`, { document: "log-b", line: j * 10 + 4, text: `ERROR at step ${j * 10 + 4}` }]));
  });

  test("the text of a very long matching line is cut, and says so", () => {
    const long = `needle ${"x".repeat(MAX_GREP_LINE_TEXT * 2)}`;
    const [[, match]] = runPipeline(spec({ kind: "grep", options: { pattern: "needle" }, input: { documents: [{ id: "d", text: long }] } })).result as [Entry<{ text: string; truncated?: true }>];
    expect(match.text.length).toBe(MAX_GREP_LINE_TEXT);
    expect(match.truncated).toBe(true);
  });
});

describe("the job-kind contract", () => {
  const documents = generateCorpus(99, 50_000, 5);
  const splitsOf = (M: number) => splitDocuments(documents, M);

  test("map is deterministic: the same split gives the same pairs in the same order", () => {
    for (const { params } of KIND_CASES) {
      const job = bindJob(spec({ ...params, input: { documents } }));
      for (const split of splitsOf(4)) expect(job.map(split)).toEqual(job.map(split));
    }
  });

  test("the fused map+combine pass equals map followed by the combiner, key by key", () => {
    for (const kind of ["wordcount", "inverted-index", "top-k"] as const) {
      const job = bindJob(spec({ kind, input: { documents } }));
      for (const split of splitsOf(4)) {
        const viaMap = runMapTask({ ...job, mapCombined: null }, split, 3, true);
        expect(runMapTask(job, split, 3, true).runs, kind).toEqual(viaMap.runs);
      }
    }
  });

  test("reducers do not depend on the order their map runs arrive in (re-executed tasks may finish in any order)", () => {
    for (const { params } of KIND_CASES) {
      for (const combiner of [true, false]) {
        const job = bindJob(spec({ ...params, input: { documents } }));
        const outputs = splitsOf(6).map((split) => runMapTask(job, split, 3, combiner));
        for (let r = 0; r < 3; r++) {
          const runs = outputs.map((o) => o.runs[r] as MapRun);
          expect(runReduceTask(job, [...runs].reverse())).toEqual(runReduceTask(job, runs));
        }
      }
    }
  });

  test("top-k keeps at most k entries per reducer and still finds the global top k", () => {
    const run = runPipeline(spec({ kind: "top-k", options: { k: 5 }, input: { documents }, M: 4, R: 6 }));
    for (const out of run.reduceOutputs) expect(out.length).toBeLessThanOrEqual(5);
    expect(run.result).toEqual(referenceRun(spec({ kind: "top-k", options: { k: 5 }, input: { documents } })));
    const counts = run.result.map(([, c]) => c as number);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  test("top-k ties at the cut are broken by word order", () => {
    const tied = asDocuments(["b a c", "c b a", "d"]);
    expect(runPipeline(spec({ kind: "top-k", options: { k: 2 }, input: { documents: tied }, M: 2, R: 5 })).result).toEqual([["a", 2], ["b", 2]]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------

describe("job spec validation names the failing field", () => {
  const documents = [{ id: "a", text: "x" }];
  const base = { kind: "wordcount", input: { documents } };

  test("defaults: M 8, R 4, combiner on, options filled", () => {
    expect(spec({ kind: "wordcount", input: { documents } })).toEqual({ kind: "wordcount", options: { unicode: false }, input: { documents }, M: 8, R: 4, combiner: true });
    expect(spec({ kind: "top-k", input: { documents } }).options).toEqual({ k: 10, unicode: false });
    expect(spec({ kind: "grep", options: { pattern: "x" }, input: { documents } }).options).toEqual({ pattern: "x", flags: "" });
  });

  test("an unknown or missing kind is refused on 'kind' and lists the kinds", () => {
    expect(refusedField({ ...base, kind: "eval" })).toBe("kind");
    expect(refusedField({ input: { documents } })).toBe("kind");
    const parsed = parseJobSpec({ ...base, kind: "eval" });
    expect(!parsed.ok && parsed.error.reason).toBe(`must be one of ${JOB_KIND_NAMES.join(", ")}`);
  });

  test("M outside 1..256 and R outside 1..64 are refused on 'M' and 'R'", () => {
    for (const M of [0, 257, 1.5, "4"]) expect(refusedField({ ...base, M })).toBe("M");
    for (const R of [0, 65, -1]) expect(refusedField({ ...base, R })).toBe("R");
    expect(spec({ ...base, M: 256, R: 64 }).M).toBe(256);
  });

  test("a grep pattern that does not compile, is empty or too long is refused on 'options.pattern'", () => {
    const grep = (options: unknown) => ({ kind: "grep", options, input: { documents } });
    expect(refusedField(grep({ pattern: "(unclosed" }))).toBe("options.pattern");
    expect(refusedField(grep({ pattern: "" }))).toBe("options.pattern");
    expect(refusedField(grep({ pattern: "a".repeat(1025) }))).toBe("options.pattern");
    expect(refusedField(grep({}))).toBe("options.pattern");
    expect(refusedField(grep(undefined))).toBe("options");
    expect(refusedField(grep({ pattern: "\\p{L}", flags: "z" }))).toBe("options.flags");
    // g and y would make RegExp.test carry lastIndex from one line to the next.
    expect(refusedField(grep({ pattern: "x", flags: "g" }))).toBe("options.flags");
    expect(refusedField(grep({ pattern: "x", flags: "uv" }))).toBe("options.flags");
    expect(refusedField(grep({ pattern: "x", flags: "ii" }))).toBe("options.flags");
    expect(spec(grep({ pattern: "\\p{Script=Han}+", flags: "iu" })).kind).toBe("grep");
  });

  test("bad options are refused on their own field; unknown fields are named", () => {
    expect(refusedField({ kind: "top-k", options: { k: 0 }, input: { documents } })).toBe("options.k");
    expect(refusedField({ kind: "wordcount", options: { unicode: "yes" }, input: { documents } })).toBe("options.unicode");
    expect(refusedField({ kind: "wordcount", options: { pattern: "x" }, input: { documents } })).toBe("options.pattern");
    expect(refusedField({ ...base, speed: "fast" })).toBe("speed");
    expect(refusedField({ ...base, combiner: "yes" })).toBe("combiner");
  });

  test("the input must be documents with unique, non-empty, well-formed ids", () => {
    expect(refusedField({ kind: "wordcount" })).toBe("input");
    expect(refusedField({ kind: "wordcount", input: { documents: [] } })).toBe("input.documents");
    expect(refusedField({ kind: "wordcount", input: { documents: [{ id: "a", text: "x" }, { id: "a", text: "y" }] } })).toBe("input.documents.1.id");
    expect(refusedField({ kind: "wordcount", input: { documents: [{ id: "", text: "x" }] } })).toBe("input.documents.0.id");
    expect(refusedField({ kind: "wordcount", input: { documents: [{ id: "a", text: "bad \ud800 surrogate" }] } })).toBe("input.documents.0.text");
    expect(refusedField({ kind: "wordcount", input: { documents: [{ id: "a" }] } })).toBe("input.documents.0.text");
    expect(refusedField({ kind: "wordcount", input: { text: "x" } })).toBe("input.documents");
  });

  test("a body that is not an object is refused as a whole", () => {
    for (const body of [null, 5, "wordcount", []]) expect(refusedField(body)).toBe("");
  });

  test("the parameters of a streamed job are validated without an input", () => {
    const parsed = parseJobParams({ kind: "grep", options: { pattern: "x" }, M: 16 });
    expect(parsed.ok && parsed.spec).toEqual({ kind: "grep", options: { pattern: "x", flags: "" }, M: 16, R: 4, combiner: true });
    const refused = parseJobParams({ kind: "grep", options: { pattern: "[" }, input: {} });
    expect(!refused.ok && refused.error.field).toBe("options.pattern");
  });

  test("the schema is a zod schema a route can declare", () => {
    expect(jobSpecSchema.safeParse({ ...base, M: 2 }).success).toBe(true);
  });
});
