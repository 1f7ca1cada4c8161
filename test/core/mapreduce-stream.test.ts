import { describe, expect, test } from "vitest";
import { jobParamsFromQuery } from "../../src/core/mapreduce/jobs";
import { DEFAULT_DOCUMENT_ID, type InputSplit, linesOf, splitInput } from "../../src/core/mapreduce/partition";
import { StreamSplitError, StreamSplitter, type StreamSplitterOptions } from "../../src/core/mapreduce/stream-split";
import { mulberry32 } from "../support/prng";

const encoder = new TextEncoder();
const NO_LIMIT = { maxSplitBytes: 1 << 30, maxSplits: 1 << 20 };

/** Cuts `body` into chunks of the given sizes (the last one takes the rest). */
function chunked(body: Uint8Array, sizeOf: (i: number) => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const size = Math.max(1, sizeOf(i));
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** Everything a splitter returns for these chunks, push by push then end(). */
function splitAll(chunks: readonly Uint8Array[], options: StreamSplitterOptions): InputSplit[] {
  const splitter = new StreamSplitter(options);
  const out = chunks.flatMap((chunk) => splitter.push(chunk));
  out.push(...splitter.end());
  expect(splitter.splitsEmitted).toBe(out.length);
  expect(splitter.bytesRead).toBe(chunks.reduce((n, c) => n + c.length, 0));
  return out;
}

/** The StreamSplitError thrown by `run`, or a failure if it did not throw one. */
function splitError(run: () => unknown): StreamSplitError {
  try {
    run();
  } catch (err) {
    if (err instanceof StreamSplitError) return err;
    throw err;
  }
  throw new Error("no StreamSplitError");
}

const CHARACTERS = ["a", "b", "z", " ", " ", "é", "ß", "€", "中", "😀", "𝄞"];

/** A random text: ASCII and 2/3/4-byte characters, LF or CRLF, empty lines, now and then a very long line, a BOM, no final line feed. */
function randomText(rand: () => number): string {
  const crlf = rand() < 0.3;
  const lines: string[] = [];
  const lineCount = Math.floor(rand() * 60);
  for (let l = 0; l < lineCount; l++) {
    const r = rand();
    const length = r < 0.15 ? 0 : r < 0.95 ? Math.floor(rand() * 40) : 500 + Math.floor(rand() * 3000);
    let line = "";
    for (let i = 0; i < length; i++) line += CHARACTERS[Math.floor(rand() * CHARACTERS.length)];
    lines.push(line);
  }
  let text = lines.join(crlf ? "\r\n" : "\n");
  if (rand() < 0.6 && text !== "") text += crlf ? "\r\n" : "\n";
  if (rand() < 0.05) text = `\uFEFF${text}`;
  return text;
}

/** Mode A by its definition: a line starting at byte o goes to split min(M-1, floor(o×M/total)). */
function referenceSplits(text: string, M: number, totalBytes: number): InputSplit[] {
  const splits: InputSplit[] = Array.from({ length: M }, (_, index) => ({ index, pieces: [], bytes: 0 }));
  let offset = 0;
  text.split(/(?<=\n)/).forEach((line, i) => {
    if (line === "") return;
    const index = totalBytes === 0 ? M - 1 : Math.min(M - 1, Math.floor((offset * M) / totalBytes));
    const split = splits[index] as InputSplit;
    const bytes = encoder.encode(line).length;
    if (split.pieces.length === 0) split.pieces.push({ documentId: DEFAULT_DOCUMENT_ID, firstLine: i + 1, text: "" });
    (split.pieces[0] as { text: string }).text += line;
    split.bytes += bytes;
    offset += bytes;
  });
  return splits;
}

describe("StreamSplitter, mode A (Content-Length and M known)", () => {
  test("equals splitInput(text, M) for any chunking: random texts, M in 1..40, 1-byte chunks cutting UTF-8 sequences", () => {
    const seed = 0x57e4a;
    console.log(`stream-split mode A seed ${seed}`);
    const rand = mulberry32(seed);
    for (let c = 0; c < 300; c++) {
      const text = randomText(rand);
      const body = encoder.encode(text);
      const M = 1 + Math.floor(rand() * 40);
      const expected = splitInput(text, M);
      const small = 1 + Math.floor(rand() * 16);
      const large = 1 + Math.floor(rand() * 600);
      const chunkings: Array<[string, Uint8Array[]]> = [
        ["whole body", [body]],
        ["1-byte chunks", chunked(body, () => 1)],
        ["random small chunks", chunked(body, () => 1 + Math.floor(rand() * small))],
        ["random large chunks", chunked(body, () => 1 + Math.floor(rand() * large))],
      ];
      for (const [name, chunks] of chunkings) {
        const got = splitAll(chunks, { M, totalBytes: body.length, ...NO_LIMIT });
        expect(got, `seed ${seed} case ${c} M=${M} ${name}`).toEqual(expected);
      }
    }
  });

  test("the definition used for more and fewer bytes agrees with splitInput when the size is right", () => {
    const rand = mulberry32(7);
    for (let c = 0; c < 50; c++) {
      const text = randomText(rand);
      const M = 1 + Math.floor(rand() * 10);
      expect(referenceSplits(text, M, encoder.encode(text).length)).toEqual(splitInput(text, M));
    }
  });

  test("more bytes than totalBytes: the lines starting past it go to split M-1", () => {
    const body = encoder.encode("a\nb\nc\nd\n");
    const got = splitAll(chunked(body, () => 3), { M: 2, totalBytes: 4, ...NO_LIMIT });
    expect(got).toEqual([
      { index: 0, pieces: [{ documentId: DEFAULT_DOCUMENT_ID, firstLine: 1, text: "a\n" }], bytes: 2 },
      { index: 1, pieces: [{ documentId: DEFAULT_DOCUMENT_ID, firstLine: 2, text: "b\nc\nd\n" }], bytes: 6 },
    ]);
    // A body declared empty: every line is past it.
    expect(splitAll([encoder.encode("x\ny")], { M: 3, totalBytes: 0, ...NO_LIMIT }).map((s) => s.bytes)).toEqual([0, 0, 3]);
  });

  test("fewer bytes than totalBytes: the lines keep their splits and end() emits the rest, exactly M splits", () => {
    const got = splitAll([encoder.encode("a\nb\nc\nd\n")], { M: 4, totalBytes: 16, ...NO_LIMIT });
    expect(got.map((s) => s.pieces[0]?.text ?? "")).toEqual(["a\nb\n", "c\nd\n", "", ""]); // 4 bytes a split, as for 16
    expect(got.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(splitAll([], { M: 3, totalBytes: 10, ...NO_LIMIT })).toEqual(splitInput("", 3));
  });

  test("more or fewer bytes on random texts follow the floor rule with the declared size", () => {
    const seed = 0xfee;
    const rand = mulberry32(seed);
    for (let c = 0; c < 100; c++) {
      const text = randomText(rand);
      const body = encoder.encode(text);
      const M = 1 + Math.floor(rand() * 20);
      const declared = Math.floor(rand() * 2 * body.length);
      const got = splitAll(chunked(body, () => 1 + Math.floor(rand() * 50)), { M, totalBytes: declared, ...NO_LIMIT });
      expect(got, `seed ${seed} case ${c} M=${M} declared ${declared} of ${body.length}`).toEqual(referenceSplits(text, M, declared));
    }
  });

  test("splits come out as the body arrives: 20 MB in 64 KiB chunks with M=20", () => {
    const line = encoder.encode(`${"lorem ipsum dolor sit amet ".repeat(3)}\n`);
    const chunk = new Uint8Array(64 * 1024);
    for (let at = 0; at < chunk.length; at += line.length) chunk.set(line.subarray(0, Math.min(line.length, chunk.length - at)), at);
    const totalBytes = 320 * chunk.length;
    const M = 20;
    const splitter = new StreamSplitter({ M, totalBytes, maxSplitBytes: 2 * 1024 * 1024, maxSplits: 256 });
    let emittedEnd = 0; // byte offset where the splits returned so far end
    for (let i = 0; i < 320; i++) {
      for (const split of splitter.push(chunk)) {
        emittedEnd += split.bytes;
        // Returned by the push that completed it, not later: at most one chunk and one line past its end.
        expect(splitter.bytesRead - emittedEnd).toBeLessThan(chunk.length + 2 * line.length);
      }
      if (splitter.bytesRead === 2 * 1024 * 1024) expect(splitter.splitsEmitted).toBeGreaterThanOrEqual(1);
    }
    const rest = splitter.end();
    expect(rest).toHaveLength(1);
    expect(splitter.splitsEmitted).toBe(M);
    expect(emittedEnd + (rest[0] as InputSplit).bytes).toBe(totalBytes);
  });
});

describe("StreamSplitter, mode B (size unknown: greedy splits)", () => {
  test("every split fits, is greedy and whole lines; texts concatenate to the input; line numbers and indexes are right", () => {
    const seed = 0xb0d1;
    console.log(`stream-split mode B seed ${seed}`);
    const rand = mulberry32(seed);
    for (let c = 0; c < 200; c++) {
      const text = randomText(rand);
      const body = encoder.encode(text);
      const longestLine = Math.max(0, ...text.split(/(?<=\n)/).map((l) => encoder.encode(l).length));
      const maxSplitBytes = Math.max(1, longestLine + Math.floor(rand() * 2000));
      const chunks = rand() < 0.3 ? chunked(body, () => 1) : chunked(body, () => 1 + Math.floor(rand() * 700));
      const got = splitAll(chunks, { M: null, totalBytes: null, maxSplitBytes, maxSplits: 1 << 20 });
      const where = `seed ${seed} case ${c} max ${maxSplitBytes}`;
      const texts = got.map((s) => (s.pieces[0] as { text: string }).text);
      expect(texts.join(""), where).toBe(text);
      got.forEach((split, i) => {
        const t = texts[i] as string;
        expect(split.index, where).toBe(i);
        expect(split.pieces, where).toHaveLength(1);
        expect(t, where).not.toBe("");
        expect(split.bytes, where).toBe(encoder.encode(t).length);
        expect(split.bytes, where).toBeLessThanOrEqual(maxSplitBytes);
        expect(split.pieces[0]?.firstLine, where).toBe(linesOf(texts.slice(0, i).join("")).length + 1);
        if (i < got.length - 1) {
          expect(t.endsWith("\n"), `${where}: no line divided`).toBe(true);
          const nextLine = (texts[i + 1] as string).split(/(?<=\n)/)[0] as string;
          expect(split.bytes + encoder.encode(nextLine).length, `${where}: greedy`).toBeGreaterThan(maxSplitBytes);
        }
      });
    }
  });

  test("an empty body gives no split; the document id is the one given", () => {
    expect(splitAll([], { M: null, totalBytes: null, maxSplitBytes: 10, maxSplits: 4 })).toEqual([]);
    expect(splitAll([new Uint8Array(0)], { M: null, totalBytes: null, maxSplitBytes: 10, maxSplits: 4 })).toEqual([]);
    const [split] = splitAll([encoder.encode("x")], { M: null, totalBytes: null, maxSplitBytes: 10, maxSplits: 4, documentId: "upload" });
    expect(split).toEqual({ index: 0, pieces: [{ documentId: "upload", firstLine: 1, text: "x" }], bytes: 1 });
  });

  test("a full split is returned by the push that shows the next line cannot fit, before its line feed", () => {
    const splitter = new StreamSplitter({ M: null, totalBytes: null, maxSplitBytes: 8, maxSplits: 10 });
    expect(splitter.push(encoder.encode("abc\ndef\n"))).toEqual([]);
    expect(splitter.push(encoder.encode("g")).map((s) => s.pieces[0]?.text)).toEqual(["abc\ndef\n"]);
    expect(splitter.end()).toEqual([{ index: 1, pieces: [{ documentId: DEFAULT_DOCUMENT_ID, firstLine: 3, text: "g" }], bytes: 1 }]);
  });
});

describe("StreamSplitter refusals", () => {
  const lines = (n: number, width: number) => encoder.encode(`${"x".repeat(width - 1)}\n`.repeat(n));

  test("mode A: a split over maxSplitBytes is a 413 naming M, raised while reading", () => {
    const body = lines(10, 10);
    const splitter = new StreamSplitter({ M: 1, totalBytes: body.length, maxSplitBytes: 50, maxSplits: 256 });
    const err = splitError(() => chunked(body, () => 7).forEach((c) => splitter.push(c)));
    expect(err.status).toBe(413);
    expect(err.field).toBe("M");
    expect(err.message).toMatch(/over the 50-byte limit of a split: raise M \(now 1; at least 2 for 100 bytes\)/);
    expect(splitter.bytesRead).toBeLessThan(body.length);
    // With enough splits the same body passes.
    expect(splitAll([body], { M: 2, totalBytes: body.length, maxSplitBytes: 50, maxSplits: 256 })).toEqual(splitInput(new TextDecoder().decode(body), 2));
  });

  test("a line longer than maxSplitBytes is a 413 naming the body and the line, in both modes, even without its line feed", () => {
    const body = encoder.encode(`short\n${"y".repeat(99)}\nshort\n`);
    for (const options of [
      { M: 4, totalBytes: body.length },
      { M: null, totalBytes: null },
    ]) {
      const err = splitError(() => splitAll([body], { ...options, maxSplitBytes: 50, maxSplits: 256 }));
      expect([err.status, err.field]).toEqual([413, "body"]);
      expect(err.message).toMatch(/^line 2 is 100 bytes, over the 50-byte limit/);
    }
    const splitter = new StreamSplitter({ M: null, totalBytes: null, maxSplitBytes: 50, maxSplits: 256 });
    splitter.push(encoder.encode("ok\n"));
    const err = splitError(() => splitter.push(encoder.encode("z".repeat(51))));
    expect([err.status, err.field]).toEqual([413, "body"]);
    expect(err.message).toMatch(/^line 2 is 51 bytes and counting/);
  });

  test("mode B: more than maxSplits splits is a 413 naming the body, before the end", () => {
    const splitter = new StreamSplitter({ M: null, totalBytes: null, maxSplitBytes: 16, maxSplits: 3 });
    const err = splitError(() => chunked(lines(20, 8), () => 8).forEach((c) => splitter.push(c)));
    expect([err.status, err.field]).toEqual([413, "body"]);
    expect(err.message).toContain("more than 3 splits of at most 16 bytes");
    expect(splitter.bytesRead).toBe(7 * 8); // 3 full splits (6 lines) and one more line
    // Exactly maxSplits full splits pass.
    expect(splitAll([lines(6, 8)], { M: null, totalBytes: null, maxSplitBytes: 16, maxSplits: 3 })).toHaveLength(3);
  });

  test("a body that is not UTF-8 is a 400 naming the body: a bad byte, an encoded surrogate, a sequence cut at the very end", () => {
    const bad = [
      Uint8Array.of(0x61, 0x0a, 0x62, 0xff, 0x0a, 0x63),
      Uint8Array.of(0x61, 0xed, 0xa0, 0x80, 0x0a),
      Uint8Array.of(0x61, 0xe2, 0x0a, 0x82, 0xac, 0x0a), // a line feed inside a sequence
      Uint8Array.of(...encoder.encode("abc\n"), 0xe2, 0x82), // "€" cut short
      Uint8Array.of(0xf0, 0x9f, 0x98),
    ];
    for (const body of bad) {
      for (const options of [
        { M: 3, totalBytes: body.length },
        { M: null, totalBytes: null },
      ]) {
        const err = splitError(() => splitAll(chunked(body, () => 1), { ...options, ...NO_LIMIT }));
        expect([err.status, err.field], `${body} M=${options.M}`).toEqual([400, "body"]);
        expect(err.message).toMatch(/^the body must be UTF-8 text/);
      }
    }
  });

  test("M without totalBytes, or an M above maxSplits, is a programming error (RangeError)", () => {
    expect(() => new StreamSplitter({ M: 4, totalBytes: null, ...NO_LIMIT })).toThrow(RangeError);
    expect(() => new StreamSplitter({ M: 0, totalBytes: 10, ...NO_LIMIT })).toThrow(RangeError);
    expect(() => new StreamSplitter({ M: 5, totalBytes: 10, maxSplitBytes: 10, maxSplits: 4 })).toThrow(RangeError);
  });
});

describe("jobParamsFromQuery", () => {
  /** The field named by the refusal of `query`, or a failure if it was accepted. */
  function refusedParam(query: Record<string, string>): string {
    const parsed = jobParamsFromQuery(query);
    if (parsed.ok) throw new Error(`accepted: ${JSON.stringify(query)}`);
    expect(parsed.error.message.startsWith(`${parsed.error.field}: `)).toBe(true);
    return parsed.error.field;
  }

  test("fills the defaults of the JSON form", () => {
    expect(jobParamsFromQuery({ kind: "wordcount" })).toEqual({ ok: true, spec: { kind: "wordcount", options: { unicode: false }, M: 8, R: 4, combiner: true } });
    expect(jobParamsFromQuery({ kind: "top-k" })).toMatchObject({ ok: true, spec: { kind: "top-k", options: { k: 10, unicode: false } } });
  });

  test("coerces integers and booleans from text; pattern and flags stay strings", () => {
    expect(jobParamsFromQuery({ kind: "top-k", M: "16", R: "+2", combiner: "0", k: "005", unicode: "true" })).toEqual({
      ok: true,
      spec: { kind: "top-k", options: { k: 5, unicode: true }, M: 16, R: 2, combiner: false },
    });
    expect(jobParamsFromQuery({ kind: "inverted-index", combiner: "false", unicode: "1" })).toMatchObject({ ok: true, spec: { combiner: false, options: { unicode: true } } });
    expect(jobParamsFromQuery({ kind: "grep", pattern: "123", flags: "i", combiner: "true" })).toEqual({
      ok: true,
      spec: { kind: "grep", options: { pattern: "123", flags: "i" }, M: 8, R: 4, combiner: true },
    });
  });

  test("a refusal names the query parameter, not the JSON path", () => {
    expect(refusedParam({ kind: "grep" })).toBe("pattern");
    expect(refusedParam({ kind: "grep", pattern: "(" })).toBe("pattern");
    expect(refusedParam({ kind: "grep", pattern: "x", flags: "q" })).toBe("flags");
    expect(refusedParam({ kind: "wordcount", M: "abc" })).toBe("M");
    expect(refusedParam({ kind: "wordcount", M: "1.5" })).toBe("M");
    expect(refusedParam({ kind: "wordcount", M: "0" })).toBe("M");
    expect(refusedParam({ kind: "wordcount", M: "257" })).toBe("M");
    expect(refusedParam({ kind: "wordcount", R: "65" })).toBe("R");
    expect(refusedParam({ kind: "wordcount", combiner: "yes" })).toBe("combiner");
    expect(refusedParam({ kind: "wordcount", unicode: "maybe" })).toBe("unicode");
    expect(refusedParam({ kind: "top-k", k: "0" })).toBe("k");
    expect(refusedParam({ kind: "wordcount", foo: "1" })).toBe("foo");
    expect(refusedParam({ kind: "wordcount", k: "3" })).toBe("k");
    expect(refusedParam(Object.fromEntries([["kind", "wordcount"], ["__proto__", "x"]]))).toBe("__proto__");
    expect(refusedParam({ kind: "nope" })).toBe("kind");
    expect(refusedParam({})).toBe("kind");
  });
});
