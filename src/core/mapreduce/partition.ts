import { murmur3_32 } from "../hash/murmur3";

/**
 * Where input and intermediate data go: which reduce partition a key belongs to, and how an input is
 * cut into M map splits.
 *
 * Lines: a document's lines are the pieces of its text between line feeds; a final line feed ends the
 * last line instead of starting an empty one, an empty document has no lines, and a trailing "\r" is
 * not part of a line's text (CRLF files). Splits are cut only at line starts, so no word and no line is
 * ever divided between two map tasks, and every piece keeps the number of its first line (grep reports
 * line numbers of the whole document).
 */

export interface InputDocument {
  id: string;
  text: string;
}

/** A run of whole lines of one document. */
export interface SplitPiece {
  documentId: string;
  /** 1-based number, within the document, of the piece's first line. */
  firstLine: number;
  /** The lines, each with its line feed except possibly the document's last. */
  text: string;
}

/** The input of one map task. */
export interface InputSplit {
  /** 0-based map task number. */
  index: number;
  pieces: SplitPiece[];
  /** UTF-8 byte length of the pieces' text. */
  bytes: number;
}

/** Document id given to a plain-text input (inline text or a streamed body). */
export const DEFAULT_DOCUMENT_ID = "input";

/** The reduce partition of `key`, 0..R-1: MurmurHash3 (seed 0) of its UTF-8 bytes mod R, the same in every isolate. */
export function partitionOf(key: string, R: number): number {
  if (!Number.isInteger(R) || R < 1) throw new RangeError(`R must be a positive integer, got ${R}`);
  return murmur3_32(key) % R;
}

/** The lines of `text` (see the module comment for the convention). */
export function linesOf(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.endsWith("\r")) lines[i] = line.slice(0, -1);
  }
  return lines;
}

/** UTF-8 byte length of text[start, end) (a lone surrogate counts 3, as TextEncoder writes U+FFFD). */
function utf8LengthOf(text: string, start: number, end: number): number {
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Cuts `documents` (in order, as one stream of lines) into exactly M splits balanced by UTF-8 bytes:
 * a line goes to split floor(offset × M / total) where offset is the byte offset of its start, so
 * every split holds about total/M bytes, give or take one line. Lines are never divided: a split may
 * be empty (fewer lines than M, or a line longer than total/M) and is at least as large as its
 * longest line. Empty documents contribute no piece.
 */
export function splitDocuments(documents: readonly InputDocument[], M: number): InputSplit[] {
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`M must be a positive integer, got ${M}`);
  const splits: InputSplit[] = Array.from({ length: M }, (_, index) => ({ index, pieces: [], bytes: 0 }));
  let total = 0;
  const docBytes = documents.map((doc) => utf8LengthOf(doc.text, 0, doc.text.length));
  for (const b of docBytes) total += b;
  if (total === 0) return splits;

  let offset = 0; // byte offset of the current line in the whole input
  documents.forEach((doc, d) => {
    const text = doc.text;
    if (text === "") return;
    const flush = (split: number, pieceStart: number, pieceEnd: number, firstLine: number, bytes: number) => {
      const target = splits[split] as InputSplit;
      target.pieces.push({ documentId: doc.id, firstLine, text: text.slice(pieceStart, pieceEnd) });
      target.bytes += bytes;
    };
    // A document that fits entirely in one split needs no line scan.
    const whole = docBytes[d] as number;
    const first = Math.min(M - 1, Math.floor((offset * M) / total));
    const last = Math.min(M - 1, Math.floor(((offset + whole - 1) * M) / total));
    if (first === last) {
      flush(first, 0, text.length, 1, whole);
      offset += whole;
      return;
    }
    let current = first;
    let pieceStart = 0;
    let pieceFirstLine = 1;
    let pieceBytes = 0;
    let lineStart = 0;
    let line = 1;
    while (lineStart < text.length) {
      const feed = text.indexOf("\n", lineStart);
      const lineEnd = feed === -1 ? text.length : feed + 1;
      const split = Math.min(M - 1, Math.floor((offset * M) / total));
      if (split !== current) {
        if (lineStart > pieceStart) flush(current, pieceStart, lineStart, pieceFirstLine, pieceBytes);
        current = split;
        pieceStart = lineStart;
        pieceFirstLine = line;
        pieceBytes = 0;
      }
      const bytes = utf8LengthOf(text, lineStart, lineEnd);
      pieceBytes += bytes;
      offset += bytes;
      lineStart = lineEnd;
      line++;
    }
    flush(current, pieceStart, text.length, pieceFirstLine, pieceBytes);
  });
  return splits;
}

/** Cuts one plain text into exactly M splits on line boundaries (see splitDocuments). */
export function splitInput(text: string, M: number, documentId: string = DEFAULT_DOCUMENT_ID): InputSplit[] {
  return splitDocuments([{ id: documentId, text }], M);
}
