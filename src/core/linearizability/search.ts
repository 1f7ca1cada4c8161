/**
 * Wing & Gong's linearizability search with Lowe's memoization, for ONE register (one key).
 * check.ts documents the algorithm; this file is the tight loop, over plain numbers and typed arrays.
 */
import { ConfigurationMemo } from "./memo";

/** Register operations, already resolved against the recorded result. Values are interned ids; 0 = absent. */
export const PUT = 0; // state := value
export const DELETE = 1; // state := 0
export const GET = 2; // requires state = value
export const CAS_OK = 3; // requires state = expected; state := value
export const CAS_FAIL = 4; // requires state != expected
export type RegisterOpKind = typeof PUT | typeof DELETE | typeof GET | typeof CAS_OK | typeof CAS_FAIL;

export interface RegisterOp {
  readonly kind: RegisterOpKind;
  /** put/cas: the value id written; get: the value id read. */
  readonly value: number;
  /** cas: the expected value id. */
  readonly expected: number;
  readonly invokedAt: number;
  /** null = unknown outcome: may be linearized any time after invocation, or not at all. Only PUT, DELETE, CAS_OK. */
  readonly completedAt: number | null;
}

export type Verdict = "linearizable" | "not-linearizable" | "budget-exceeded";
export interface SearchOutcome {
  readonly verdict: Verdict;
  /** Configurations memoized: a measure of the work done. */
  readonly states: number;
  /**
   * When not linearizable: the latest time T such that some configuration had linearized every
   * completed operation returning before T. The history cut at any t < T is linearizable.
   */
  readonly frontier: number;
}

const NOT_ALLOWED = -1;

/**
 * The register state after `op` from `state`, or NOT_ALLOWED if op's recorded result rules it out
 * here. `written` is the (canonical) state a write of op leaves behind.
 */
function step(op: RegisterOp, written: number, state: number): number {
  switch (op.kind) {
    case PUT:
    case DELETE:
      return written;
    case GET:
      return state === op.value ? state : NOT_ALLOWED;
    case CAS_OK:
      return state === op.expected ? written : NOT_ALLOWED;
    case CAS_FAIL:
      return state !== op.expected ? state : NOT_ALLOWED;
  }
}

/** MurmurHash3's 32-bit finalizer: a deterministic, well-mixed hash per operation index. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const configurationHash = (completedHash: number, state: number): number => mix32(completedHash ^ Math.imul(state + 1, 0x9e3779b1));

/** Decides whether the register history `ops`, starting from `initialState`, is linearizable. */
export function searchRegister(ops: readonly RegisterOp[], initialState: number, maxStates: number): SearchOutcome {
  const n = ops.length;
  // Canonical states: a value no operation compares against (no get returns it, no cas expects it)
  // is indistinguishable from any other such value, so they all become one state, OTHER. This shrinks
  // the memo and makes writes of such values interchangeable (see `firstOfItsClass` below).
  const compared = new Set<number>();
  let maxId = initialState;
  for (const o of ops) {
    if (o.kind === GET) compared.add(o.value);
    if (o.kind === CAS_OK || o.kind === CAS_FAIL) compared.add(o.expected);
    maxId = Math.max(maxId, o.value, o.expected);
  }
  const OTHER = maxId + 1;
  const canonical = (v: number): number => (compared.has(v) ? v : OTHER);
  const written = new Int32Array(n);
  for (let i = 0; i < n; i++) written[i] = canonical(ops[i]!.kind === DELETE ? 0 : ops[i]!.value);
  const start = canonical(initialState);
  // Bit positions: completed operations and unknown-outcome ones are numbered separately (see memo.ts).
  const bit = new Int32Array(n);
  const isUnknown = new Uint8Array(n);
  let completedCount = 0;
  let unknownCount = 0;
  for (let i = 0; i < n; i++) {
    if (ops[i]?.completedAt === null) {
      isUnknown[i] = 1;
      bit[i] = unknownCount++;
    } else {
      bit[i] = completedCount++;
    }
  }
  const opHash = new Uint32Array(n);
  for (let i = 0; i < n; i++) opHash[i] = mix32(bit[i]! + 1);

  // The event list: a call node per operation, a return node per completed one, ordered by time.
  // At equal times calls come first, so operations that touch the same instant count as concurrent.
  interface Event {
    readonly time: number;
    readonly isReturn: boolean;
    readonly op: number;
  }
  const events: Event[] = [];
  ops.forEach((o, i) => {
    events.push({ time: o.invokedAt, isReturn: false, op: i });
    if (o.completedAt !== null) events.push({ time: o.completedAt, isReturn: true, op: i });
  });
  events.sort((a, b) => a.time - b.time || Number(a.isReturn) - Number(b.isReturn) || a.op - b.op);

  // Doubly linked list over nodes 1..E with sentinel 0 (head and tail), so lifting an operation
  // out and putting it back are O(1) (dancing links).
  const nodes = events.length + 1;
  const next = new Int32Array(nodes);
  const prev = new Int32Array(nodes);
  const nodeOp = new Int32Array(nodes);
  const nodeIsReturn = new Uint8Array(nodes);
  const nodeTime = new Float64Array(nodes);
  const returnNode = new Int32Array(n); // 0 = none (unknown outcome)
  events.forEach((e, k) => {
    const node = k + 1;
    nodeOp[node] = e.op;
    nodeIsReturn[node] = e.isReturn ? 1 : 0;
    nodeTime[node] = e.time;
    if (e.isReturn) returnNode[e.op] = node;
    prev[node] = node - 1;
    next[node] = node + 1 === nodes ? 0 : node + 1;
  });
  next[0] = nodes > 1 ? 1 : 0;
  prev[0] = nodes - 1;

  const unlink = (x: number): void => {
    next[prev[x]!] = next[x]!;
    prev[next[x]!] = prev[x]!;
  };
  const relink = (x: number): void => {
    next[prev[x]!] = x;
    prev[next[x]!] = x;
  };

  const completedBits = new Uint32Array(Math.max(1, Math.ceil(completedCount / 32)));
  const unknownBits = new Uint32Array(Math.ceil(unknownCount / 32));
  const memo = new ConfigurationMemo(completedBits.length, unknownBits.length, Math.max(1, maxStates));
  const flip = (i: number): void => {
    const b = bit[i]!;
    const bits = isUnknown[i] ? unknownBits : completedBits;
    bits[b >>> 5] = (bits[b >>> 5] ?? 0) ^ (1 << (b & 31));
  };

  // Unknown-outcome blind writes leaving the same state are interchangeable: once called, each stays
  // callable forever (no return), so any completion using one could use the other. Only the first
  // unlinearized one of each class in the list is tried; the others would give symmetric branches.
  // `classSeen[c] === epoch` marks class c as already met in the current scan of the list.
  const isBlind = (i: number): boolean => ops[i]!.kind === PUT || ops[i]!.kind === DELETE;
  const classSeen = new Int32Array(OTHER + 1);
  let epoch = 1;
  const firstOfItsClass = (i: number): boolean => {
    if (!isUnknown[i] || !isBlind(i)) return true;
    const c = written[i]!;
    if (classSeen[c] === epoch) return false;
    classSeen[c] = epoch;
    return true;
  };

  const stackNode = new Int32Array(n);
  const stackState = new Int32Array(n);
  let depth = 0;

  // Two orders that only ever lead to configurations reached (or dominated) another way, when the
  // last operation linearized, X, is of unknown outcome (so X stays callable, having no return):
  // - a blind write (put/delete) Y after X erases X's effect: (C+Y, U, s) is dominated by
  //   (C+Y, U-X, s), reached by linearizing Y instead of X. Without this rule the search would try
  //   every subset of the pending unknown writes.
  // - an operation Y that changes nothing (get, failed cas) and was already valid before X: the
  //   order Y, X reaches the very same configuration.
  const redundantAfterUnknown = (i: number): boolean => {
    if (depth === 0) return false;
    const x = nodeOp[stackNode[depth - 1]!]!;
    if (!isUnknown[x]) return false;
    const kind = ops[i]!.kind;
    if (kind === PUT || kind === DELETE) return true;
    return (kind === GET || kind === CAS_FAIL) && step(ops[i]!, written[i]!, stackState[depth - 1]!) !== NOT_ALLOWED;
  };
  let frontier = Number.NEGATIVE_INFINITY;
  let state = start;
  let completedHash = 0;
  let linearizedCompleted = 0;
  if (memo.visit(configurationHash(completedHash, state), state, completedBits, unknownBits) === "full") {
    return { verdict: "budget-exceeded", states: memo.size, frontier };
  }

  let entry = next[0]!;
  for (;;) {
    if (linearizedCompleted === completedCount) return { verdict: "linearizable", states: memo.size, frontier };
    if (entry !== 0 && nodeIsReturn[entry] === 0) {
      // A call: try to linearize this operation now.
      const i = nodeOp[entry]!;
      const op = ops[i]!;
      if (!firstOfItsClass(i)) {
        entry = next[entry]!;
        continue;
      }
      const after = step(op, written[i]!, state);
      if (after !== NOT_ALLOWED && !redundantAfterUnknown(i)) {
        flip(i);
        const hashAfter = isUnknown[i] ? completedHash : completedHash ^ opHash[i]!;
        const seen = memo.visit(configurationHash(hashAfter, after), after, completedBits, unknownBits);
        if (seen === "full") return { verdict: "budget-exceeded", states: memo.size, frontier };
        if (seen === "new") {
          stackNode[depth] = entry;
          stackState[depth] = state;
          depth++;
          unlink(entry);
          if (returnNode[i] !== 0) unlink(returnNode[i]!);
          state = after;
          completedHash = hashAfter;
          if (!isUnknown[i]) linearizedCompleted++;
          entry = next[0]!;
          epoch++;
          continue;
        }
        flip(i);
      }
      entry = next[entry]!;
      continue;
    }
    // A return (an operation that had to be linearized by now and was not) or the end: backtrack.
    if (entry !== 0 && nodeTime[entry]! > frontier) frontier = nodeTime[entry]!;
    if (depth === 0) return { verdict: "not-linearizable", states: memo.size, frontier };
    depth--;
    const node = stackNode[depth]!;
    const i = nodeOp[node]!;
    state = stackState[depth]!;
    flip(i);
    if (!isUnknown[i]) {
      completedHash ^= opHash[i]!;
      linearizedCompleted--;
    }
    if (returnNode[i] !== 0) relink(returnNode[i]!);
    relink(node);
    // Resume the scan after `node`: re-mark the classes met before it (and its own).
    epoch++;
    for (let e = next[0]!; e !== node; e = next[e]!) firstOfItsClass(nodeOp[e]!);
    firstOfItsClass(i);
    entry = next[node]!;
  }
}
