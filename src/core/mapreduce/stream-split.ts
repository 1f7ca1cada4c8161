import { DEFAULT_DOCUMENT_ID, type InputSplit } from "./partition";

/**
 * Cuts a streamed body (UTF-8 text, one document) into map splits as its chunks arrive, on line
 * boundaries (the line convention of ./partition).
 *
 * Mode A — the size and M are known (Content-Length): the rule of splitDocuments, so the output equals
 * splitInput(body, M) whatever the chunking: a line starting at byte offset o goes to split
 * min(M-1, floor(o×M/totalBytes)), exactly M splits come out (empty ones included), and lines past
 * totalBytes, if more bytes arrive, go to split M-1.
 * Mode B — the size is unknown (chunked body; M must be null): greedy, each split ends at the last line
 * end that keeps it within maxSplitBytes; no empty splits, an empty body gives none.
 *
 * Memory: the splitter holds the current split's bytes plus one partial line (each at most
 * maxSplitBytes: it refuses a larger one as soon as it sees it) as views of the pushed chunks, so a
 * pushed chunk must not be reused by the caller. A split is concatenated and decoded once, when it is
 * emitted. A BOM is not stripped: it stays as U+FEFF at the start of the first line's text.
 * After an error the splitter is unusable.
 */

/** A body the splitter refuses: 413 (a split or a line too large, too many splits) or 400 (not UTF-8). */
export class StreamSplitError extends Error {
  override readonly name = "StreamSplitError";

  constructor(
    readonly status: 400 | 413,
    /** The request parameter to change: "M" or "body". */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface StreamSplitterOptions {
  /** Number of splits (mode A), or null for greedy splits (mode B). */
  M: number | null;
  /** The body's byte length when known (Content-Length); required in mode A, unused in mode B. */
  totalBytes: number | null;
  /** Largest split, in bytes; a longer line is refused. */
  maxSplitBytes: number;
  /** Most splits the splitter may produce (mode A: M must not exceed it). */
  maxSplits: number;
  documentId?: string;
}

const LINE_FEED = 10;

/** Pushed chunks (views, not copies) until they are taken as one split. */
class ByteQueue {
  private parts: Uint8Array[] = [];

  push(chunk: Uint8Array): void {
    if (chunk.length > 0) this.parts.push(chunk);
  }

  /** Removes the first n bytes, concatenated. */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let used = 0;
    while (filled < n) {
      const part = this.parts[used] as Uint8Array;
      const need = n - filled;
      if (part.length <= need) {
        out.set(part, filled);
        filled += part.length;
        used++;
      } else {
        out.set(part.subarray(0, need), filled);
        this.parts[used] = part.subarray(need);
        filled = n;
      }
    }
    this.parts.splice(0, used);
    return out;
  }
}

const positiveInteger = (n: number) => Number.isSafeInteger(n) && n >= 1;

/** Streaming counterpart of splitInput: push the body's chunks, then end(); see the module comment. */
export class StreamSplitter {
  private readonly M: number | null;
  private readonly total: number;
  private readonly maxSplitBytes: number;
  private readonly maxSplits: number;
  private readonly documentId: string;
  private readonly queue = new ByteQueue();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  private read = 0;
  private linesEnded = 0;
  private lineStart = 0;
  /** The buffered split: its first byte, first line and index (mode A: the split its lines go to). */
  private splitStart = 0;
  private splitFirstLine = 1;
  private splitIndex = 0;
  /** Mode A: the first offset whose line goes to a later split than splitIndex. */
  private nextStart = Number.POSITIVE_INFINITY;
  private emitted = 0;
  private ended = false;

  constructor(options: StreamSplitterOptions) {
    const { M, totalBytes, maxSplitBytes, maxSplits } = options;
    if (!positiveInteger(maxSplitBytes)) throw new RangeError(`maxSplitBytes must be a positive integer, got ${maxSplitBytes}`);
    if (!positiveInteger(maxSplits)) throw new RangeError(`maxSplits must be a positive integer, got ${maxSplits}`);
    this.maxSplitBytes = maxSplitBytes;
    this.maxSplits = maxSplits;
    this.documentId = options.documentId ?? DEFAULT_DOCUMENT_ID;
    this.M = M;
    this.total = totalBytes ?? 0;
    if (M === null) return;
    if (totalBytes === null) throw new RangeError("M needs totalBytes: without the body's size the splits are greedy (M null)");
    if (!positiveInteger(M) || M > maxSplits) throw new RangeError(`M must be an integer in 1..${maxSplits}, got ${M}`);
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) throw new RangeError(`totalBytes must be a non-negative integer, got ${totalBytes}`);
    this.splitIndex = this.splitOf(0);
    this.nextStart = this.firstOffsetOf(this.splitIndex + 1);
  }

  /** Bytes pushed so far. */
  get bytesRead(): number {
    return this.read;
  }

  /** Splits returned so far (empty ones included). */
  get splitsEmitted(): number {
    return this.emitted;
  }

  /** Takes the next chunk of the body; returns the splits it completed, in index order. */
  push(chunk: Uint8Array): InputSplit[] {
    if (this.ended) throw new Error("push after end");
    const out: InputSplit[] = [];
    this.queue.push(chunk);
    const base = this.read;
    for (let feed = chunk.indexOf(LINE_FEED); feed !== -1; feed = chunk.indexOf(LINE_FEED, feed + 1)) this.endLine(base + feed + 1, out);
    this.read += chunk.length;

    // Refuse or close what the partial line already decides, without waiting for its line feed.
    const partial = this.read - this.lineStart;
    if (partial > this.maxSplitBytes) throw this.lineTooLong(this.linesEnded + 1, partial, " and counting");
    if (this.read - this.splitStart > this.maxSplitBytes) {
      if (this.M !== null) throw this.splitTooLarge(this.read - this.splitStart);
      this.emitSplit(this.lineStart, out, this.linesEnded + 1);
    }
    if (this.M === null && this.emitted >= this.maxSplits && this.read > this.splitStart) throw this.tooManySplits();
    return out;
  }

  /** The body is complete: returns the remaining splits (mode A: up to index M-1). */
  end(): InputSplit[] {
    if (this.ended) throw new Error("end called twice");
    this.ended = true;
    const out: InputSplit[] = [];
    if (this.read > this.splitStart) this.emitSplit(this.read, out, this.linesEnded + 1);
    if (this.M !== null) this.emitEmptyUpTo(this.M, out);
    return out;
  }

  /** A line ended just before `lineEnd` (its line feed included). */
  private endLine(lineEnd: number, out: InputSplit[]): void {
    const line = ++this.linesEnded;
    if (lineEnd - this.lineStart > this.maxSplitBytes) throw this.lineTooLong(line, lineEnd - this.lineStart, "");
    if (this.M !== null) {
      if (lineEnd - this.splitStart > this.maxSplitBytes) throw this.splitTooLarge(lineEnd - this.splitStart);
      this.lineStart = lineEnd;
      if (lineEnd >= this.nextStart) {
        this.emitSplit(lineEnd, out, line + 1);
        this.splitIndex = this.splitOf(lineEnd);
        this.nextStart = this.firstOffsetOf(this.splitIndex + 1);
      }
      return;
    }
    // Greedy: the line does not fit, so the split ends before it.
    if (lineEnd - this.splitStart > this.maxSplitBytes) this.emitSplit(this.lineStart, out, line);
    this.lineStart = lineEnd;
  }

  /** Emits the buffered bytes up to `end` as split splitIndex (after any skipped empty ones); the next split starts at `end` with line `nextFirstLine`. */
  private emitSplit(end: number, out: InputSplit[], nextFirstLine: number): void {
    if (this.M === null && this.emitted >= this.maxSplits) throw this.tooManySplits();
    this.emitEmptyUpTo(this.splitIndex, out);
    const bytes = end - this.splitStart;
    let text: string;
    try {
      text = this.decoder.decode(this.queue.take(bytes));
    } catch {
      throw new StreamSplitError(400, "body", `the body must be UTF-8 text: bytes ${this.splitStart}..${end - 1} are not valid UTF-8`);
    }
    out.push({ index: this.splitIndex, pieces: [{ documentId: this.documentId, firstLine: this.splitFirstLine, text }], bytes });
    this.emitted++;
    this.splitIndex++;
    this.splitStart = end;
    this.splitFirstLine = nextFirstLine;
  }

  /** Mode A: emits the empty splits from the next index to emit up to `limit` (exclusive). */
  private emitEmptyUpTo(limit: number, out: InputSplit[]): void {
    for (; this.emitted < limit; this.emitted++) out.push({ index: this.emitted, pieces: [], bytes: 0 });
  }

  /** Mode A: the split of a line starting at byte `offset` (the rule of splitDocuments). */
  private splitOf(offset: number): number {
    const M = this.M as number;
    return this.total === 0 ? M - 1 : Math.min(M - 1, Math.floor((offset * M) / this.total));
  }

  /** Mode A: the first byte offset whose line goes to split `index` or later; Infinity past M-1. */
  private firstOffsetOf(index: number): number {
    if (index >= (this.M as number)) return Number.POSITIVE_INFINITY;
    // ceil(index × total / M), corrected against splitOf so the two can never disagree by a rounding.
    let offset = Math.ceil((index * this.total) / (this.M as number));
    while (offset > 0 && this.splitOf(offset - 1) >= index) offset--;
    while (this.splitOf(offset) < index) offset++;
    return offset;
  }

  private splitTooLarge(bytes: number): StreamSplitError {
    const atLeast = Math.ceil(this.total / this.maxSplitBytes);
    const hint = atLeast > (this.M as number) ? `; at least ${atLeast} for ${this.total} bytes` : "";
    return new StreamSplitError(413, "M", `split ${this.splitIndex} reaches ${bytes} bytes, over the ${this.maxSplitBytes}-byte limit of a split: raise M (now ${this.M}${hint})`);
  }

  private lineTooLong(line: number, bytes: number, counting: string): StreamSplitError {
    return new StreamSplitError(413, "body", `line ${line} is ${bytes} bytes${counting}, over the ${this.maxSplitBytes}-byte limit of a split: break it into shorter lines`);
  }

  private tooManySplits(): StreamSplitError {
    return new StreamSplitError(413, "body", `the body needs more than ${this.maxSplits} splits of at most ${this.maxSplitBytes} bytes: send a smaller input`);
  }
}
