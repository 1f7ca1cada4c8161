/**
 * Linearizability checker for key-value histories (see history.ts for the format).
 *
 * ALGORITHM
 * 1. P-compositionality: linearizability is local (Herlihy & Wing), and a KV store is an independent
 *    register per key, so the history is split by key and each key's sub-history is checked alone.
 *    This turns one search exponential in the whole history's concurrency into many small ones.
 * 2. Per key, Wing & Gong's search (1993) with Lowe's memoization (2017), as in porcupine/knossos:
 *    calls and returns are put in one time-ordered doubly linked list. Walking from the head, a call
 *    is a candidate to linearize next: if the register model accepts it (its recorded result is what
 *    the model would return), it is lifted out of the list (call and return, O(1) dancing links), pushed
 *    on a stack, and the walk restarts at the head. Reaching a return means that operation should have
 *    been linearized already: pop the last choice, put it back, and try the call after it. Success when
 *    every completed operation is linearized; failure when a return is reached with an empty stack.
 *    Lowe: every configuration (linearized set as a bitset, register state) reached is memoized, and
 *    the search never re-enters one, which collapses the factorial blow-up of interleavings.
 * 3. Unknown outcome (completedAt null): such an operation has a call and no return, so it may be
 *    linearized any time after its invocation, and never has to be. An unknown get is dropped (it has
 *    no effect); an unknown cas may only be linearized where it would succeed (failing = no effect =
 *    omitted). Left alone, each unknown operation would double the search, so (search.ts, memo.ts):
 *    - unknown operations have their own bitset, and a configuration is pruned when a known one has
 *      the same completed set and state and a SUBSET of its unknown operations (it can do more);
 *    - after an unknown operation X, a put/delete (which would erase X) or a get/failed cas already
 *      valid before X (same configuration in the order Y, X) is not tried: unknown writes are only
 *      linearized "just in time", right before an operation that needs their value;
 *    - values no operation compares against (no get returns them, no cas expects them) are one
 *      state, and of several pending unknown writes leaving the same state only the first is tried.
 *    A differential test against a brute-force checker guards these reductions.
 * 4. On failure, a witness. First the earliest time t at which the key is already non-linearizable
 *    (linearizability is prefix-closed: the cut at t is the operations invoked by t, those not
 *    returned by t taken as unknown outcome): from where the full search got stuck, gallop, bisect.
 *    Then delta debugging over the operations kept AS RECORDED, every other one WEAKENED (a write
 *    to unknown outcome, a read dropped): the result still fails, but weakening any one more of its
 *    operations makes it pass. Weakening only adds linearizations, so the failure is never an
 *    artefact (simply removing writes would be: a read left with no write of its value). The
 *    witness is those operations plus the writes of the values they observed; as recorded, it is
 *    itself not linearizable.
 *
 * COMPLEXITY: NP-complete in general (Gibbons & Korach). With memoization, work per key is at most
 * (reachable configurations) × (list length) × (bitset words). Since only operations concurrent with
 * the frontier can be pending, reachable configurations are about n · 2^c · (distinct values), for n
 * operations on the key with concurrency c — and 2^c is loose: most orders are rejected by the model.
 * `maxStates` bounds configurations per key, so memory is at most about
 * maxStates × (n/8 + 20) bytes; over it the answer is "unknown", never a guess. Histories that pass
 * are cheap (the depth-first search finds a linearization directly); a failing key costs more, since
 * everything reachable before the failure is explored, plus a few more searches for the witness
 * (capped: over the cap the witness is still a proven violation, only not minimal).
 *
 * ASSUMPTIONS
 * - Each key starts absent (null) unless `initialValues` says otherwise; keys are independent registers
 *   (no multi-key operations, no ranges, no TTL expiry).
 * - An operation takes effect atomically at one instant between invocation and completion.
 * - Timestamps come from one clock (or a clock where "A returned before B was invoked" is reliable).
 *   EQUAL timestamps are treated as concurrent: a return and an invocation at the same instant could
 *   be in either order. This never reports a false violation, at the cost of missing ones that hinge
 *   on ordering two events recorded at the same instant.
 * - A put/delete reply is {ok: true}; a cas reply {ok: false} means it did not write (the value was not
 *   `expected` at its linearization point). Operations known not to have executed are left out.
 */
import { formatOperation } from "./format";
import { type CasResult, type GetResult, type History, type Operation, validateHistory } from "./history";
import { CAS_FAIL, CAS_OK, DELETE, GET, PUT, type RegisterOp, searchRegister, type Verdict } from "./search";

export interface CheckOptions {
  /** Budget: memoized configurations per key (default DEFAULT_MAX_STATES). Over it, the result is "unknown". */
  readonly maxStates?: number;
  /** Value of each key before the history (default: every key absent). */
  readonly initialValues?: ReadonlyMap<string, string | null>;
}

export type CheckResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly key: string;
      readonly reason: string;
      /**
       * Recorded operations on `key` that are not linearizable together (sorted by invocation): a
       * minimal core (weakening any one of them makes the key pass) plus the writes it read from.
       */
      readonly witness: readonly Operation[];
      /** The key's history is linearizable up to (not including) the return at this time. */
      readonly failedAt: number;
    }
  | { readonly ok: "unknown"; readonly key: string; readonly reason: "search budget exceeded" };

export const DEFAULT_MAX_STATES = 1_000_000;
/** Witness shrinking: configurations per search, and in total. */
const SHRINK_SEARCH_STATES = 100_000;
const SHRINK_TOTAL_STATES = 1_000_000;

/** Checks a KV history for linearizability, key by key (see the comment at the top of this file). */
export function checkLinearizable(history: History, options: CheckOptions = {}): CheckResult {
  validateHistory(history);
  const maxStates = options.maxStates ?? DEFAULT_MAX_STATES;
  if (!Number.isInteger(maxStates) || maxStates < 1) throw new RangeError(`maxStates must be a positive integer, got ${maxStates}`);
  const byKey = new Map<string, Operation[]>();
  for (const o of history) {
    const list = byKey.get(o.op.key);
    if (list === undefined) byKey.set(o.op.key, [o]);
    else list.push(o);
  }
  let budgetExceededOn: string | null = null;
  for (const key of [...byKey.keys()].sort()) {
    const ops = byKey.get(key) ?? [];
    const checker = new KeyChecker(key, options.initialValues?.get(key) ?? null);
    const verdict = checker.verdictOnAll(ops, maxStates);
    if (verdict === "budget-exceeded") budgetExceededOn ??= key;
    if (verdict === "not-linearizable") return checker.explain(ops, maxStates);
  }
  if (budgetExceededOn !== null) return { ok: "unknown", key: budgetExceededOn, reason: "search budget exceeded" };
  return { ok: true };
}

/** One key's register: value interning, the search, and witness minimization. */
class KeyChecker {
  private readonly valueIds = new Map<string, number>();
  private readonly initialState: number;
  /** The frontier of the last full-history search (see SearchOutcome.frontier). */
  private fullFrontier = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly key: string,
    private readonly initialValue: string | null,
  ) {
    this.initialState = this.idOf(initialValue);
  }

  private verdict(ops: readonly Operation[], maxStates: number): Verdict {
    return searchRegister(this.registerOps(ops), this.initialState, maxStates).verdict;
  }

  /** The verdict on the key's whole history; remembers where a failing search got stuck. */
  verdictOnAll(ops: readonly Operation[], maxStates: number): Verdict {
    const outcome = searchRegister(this.registerOps(ops), this.initialState, maxStates);
    this.fullFrontier = outcome.frontier;
    return outcome.verdict;
  }

  explain(ops: readonly Operation[], maxStates: number): CheckResult {
    const failedAt = this.earliestFailure(ops, maxStates);
    // Each operation in its recorded form and in its weakest form (a write of unknown outcome, or
    // nothing for a read). Operations returning after failedAt can only be weak; writes invoked later
    // are kept (weak) in case a read came "from the future".
    const items: WitnessItem[] = [];
    for (const o of ops) {
      if (o.invokedAt > failedAt && writtenValue(o) === undefined) continue;
      const recorded = o.invokedAt <= failedAt && o.completedAt !== null && o.completedAt <= failedAt ? o : null;
      items.push({ original: o, recorded, weak: weaken(o) });
    }
    const kept = this.shrink(items, maxStates);
    // Show the writes whose values the kept operations observed, so no read looks unexplained.
    const observed = new Set(kept.map((i) => observedValue(i.original)).filter((v) => v !== undefined && v !== this.initialValue));
    const writers = items.filter((i) => {
      const v = writtenValue(i.original);
      return v !== undefined && observed.has(v) && !kept.includes(i);
    });
    const witness = [...kept, ...writers].map((i) => i.original).sort((x, y) => x.invokedAt - y.invokedAt || x.id - y.id);
    const everWritten = new Set(ops.map(writtenValue));
    return { ok: false, key: this.key, reason: this.reason(ops, witness, everWritten, failedAt), witness, failedAt };
  }

  private idOf(value: string | null): number {
    if (value === null) return 0;
    let id = this.valueIds.get(value);
    if (id === undefined) {
      id = this.valueIds.size + 1;
      this.valueIds.set(value, id);
    }
    return id;
  }

  private registerOps(ops: readonly Operation[]): RegisterOp[] {
    const out: RegisterOp[] = [];
    for (const o of ops) {
      const { invokedAt, completedAt } = o;
      const unknown = completedAt === null;
      switch (o.op.type) {
        case "put":
          out.push({ kind: PUT, value: this.idOf(o.op.value), expected: 0, invokedAt, completedAt });
          break;
        case "delete":
          out.push({ kind: DELETE, value: 0, expected: 0, invokedAt, completedAt });
          break;
        case "get": // an unknown get has no effect and constrains nothing
          if (!unknown) out.push({ kind: GET, value: this.idOf((o.result as { value: string | null }).value), expected: 0, invokedAt, completedAt });
          break;
        case "cas": {
          const succeeded = unknown || (o.result as { ok: boolean }).ok;
          const kind = succeeded ? CAS_OK : CAS_FAIL;
          out.push({ kind, value: this.idOf(o.op.value), expected: this.idOf(o.op.expected), invokedAt, completedAt });
          break;
        }
      }
    }
    return out;
  }

  /** The smallest return time t such that the prefix up to t is already not linearizable. */
  private earliestFailure(ops: readonly Operation[], maxStates: number): number {
    const times = [...new Set(ops.flatMap((o) => (o.completedAt === null ? [] : [o.completedAt])))].sort((a, b) => a - b);
    const failsAt = (index: number): boolean => this.verdict(prefixAt(ops, times[index] ?? 0), maxStates) === "not-linearizable";
    // Cuts before the full search's frontier are linearizable; the failure is usually right at it,
    // so gallop up from there, then bisect. Invariant: failsAt(hi) (the last cut is the whole history).
    let hi = times.length - 1;
    let lo = Math.max(0, Math.min(hi, times.findIndex((t) => t >= this.fullFrontier)));
    for (let step = 1; lo < hi; step *= 2) {
      const probe = Math.min(lo + step - 1, hi);
      if (failsAt(probe)) {
        hi = probe;
        break;
      }
      lo = probe + 1;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (failsAt(mid)) hi = mid;
      else lo = mid + 1;
    }
    return times[hi] ?? Number.NEGATIVE_INFINITY;
  }

  /**
   * Delta debugging (halves, quarters, ..., then single items until nothing changes) over the items
   * kept in recorded form, all others weakened, down to a set that still fails but passes as soon as
   * any one more item is weakened. Weakening only ever adds possible linearizations, so every failure
   * found this way is a real one (removing writes outright could invent failures: a read left with
   * no write of its value).
   */
  private shrink(items: readonly WitnessItem[], maxStates: number): WitnessItem[] {
    // Shrinking is a courtesy: bound its total work, and each search's (a search that gives up
    // counts as "passes", so the witness stays a proven failure, only perhaps not minimal).
    let budget = Math.min(2 * maxStates, SHRINK_TOTAL_STATES);
    const fails = (keep: readonly WitnessItem[]): boolean => {
      if (budget <= 0) return false;
      const strong = new Set(keep);
      const history: Operation[] = [];
      for (const i of items) {
        const form = strong.has(i) ? i.recorded : i.weak;
        if (form !== null) history.push(form);
      }
      const outcome = searchRegister(this.registerOps(history), this.initialState, Math.min(maxStates, SHRINK_SEARCH_STATES, budget));
      budget -= outcome.states;
      return outcome.verdict === "not-linearizable";
    };
    // Most recent first. Searches with many weakened writes are the costly ones, so first find a
    // small failing set among the last 2, 4, 8, ... operations to return (all of them fail).
    const strongable = items.filter((i) => i.recorded !== null).sort((a, b) => (b.original.completedAt ?? 0) - (a.original.completedAt ?? 0));
    let current = strongable;
    for (let k = 2; k < strongable.length; k *= 2) {
      const recent = strongable.slice(0, k);
      if (fails(recent)) {
        current = recent;
        break;
      }
    }
    // Weakening one item can make another one weakenable (or not), so single-item passes repeat.
    for (let chunk = Math.ceil(current.length / 2); budget > 0 && current.length > 1; ) {
      let changed = false;
      for (let start = 0; start < current.length; ) {
        const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
        if (fails(candidate)) {
          current = candidate;
          changed = true;
        } else start += chunk;
      }
      if (chunk > 1) chunk = Math.ceil(chunk / 2);
      else if (!changed) break;
    }
    return current;
  }

  private reason(all: readonly Operation[], witness: readonly Operation[], everWritten: ReadonlySet<string | null | undefined>, failedAt: number): string {
    const keyText = JSON.stringify(this.key);
    const only = witness.length === 1 ? witness[0] : undefined;
    if (only !== undefined) {
      const v = observedValue(only);
      if (v !== undefined && v !== this.initialValue && !everWritten.has(v)) {
        return `${formatOperation(only)}: no operation ever wrote that value to key ${keyText}`;
      }
      return `${formatOperation(only)} is impossible on key ${keyText} whatever the order`;
    }
    const trigger = witness.find((o) => o.completedAt === failedAt) ?? all.find((o) => o.completedAt === failedAt);
    const when = trigger === undefined ? `t=${failedAt}` : `${formatOperation(trigger)} returns at t=${failedAt}`;
    return (
      `key ${keyText} stops being linearizable when ${when}: no order of these ${witness.length} operations ` +
      `respects both real time and register semantics, and each of them is needed to show it`
    );
  }
}

interface WitnessItem {
  readonly original: Operation;
  /** As recorded, or null if it cannot be kept so (it returned after the failure point). */
  readonly recorded: Operation | null;
  /** Weakest form: a write of unknown outcome, or null (a read, a failed cas: no effect). */
  readonly weak: Operation | null;
}

const weaken = (o: Operation): Operation | null => (writtenValue(o) === undefined ? null : { ...o, completedAt: null, result: null });

/** The value an operation saw as current (get result, expected of a successful cas), if any. */
function observedValue(o: Operation): string | null | undefined {
  if (o.completedAt === null) return undefined;
  if (o.op.type === "get") return (o.result as GetResult).value;
  if (o.op.type === "cas" && (o.result as CasResult).ok) return o.op.expected;
  return undefined;
}

/** The value an operation wrote or may have written (unknown outcome), if any. */
function writtenValue(o: Operation): string | null | undefined {
  switch (o.op.type) {
    case "put":
      return o.op.value;
    case "delete":
      return null;
    case "cas":
      return o.result === null || (o.result as CasResult).ok ? o.op.value : undefined;
    case "get":
      return undefined;
  }
}

/** The history as seen at time t: operations invoked by t; those not returned by t become unknown outcome. */
function prefixAt(ops: readonly Operation[], t: number): Operation[] {
  const out: Operation[] = [];
  for (const o of ops) {
    if (o.invokedAt > t) continue;
    out.push(o.completedAt !== null && o.completedAt <= t ? o : { ...o, completedAt: null, result: null });
  }
  return out;
}
