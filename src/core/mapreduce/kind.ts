import type { InputSplit } from "./partition";

/** A key with its value: map output, a reducer's output, a job's result. Keys are strings, values JSON. */
export type Entry<V> = [key: string, value: V];

/**
 * A job kind: the user code of the MapReduce paper, registered in code because Workers forbid `eval`.
 *
 * Contract (what makes re-executed and backup tasks harmless):
 * - `map` is deterministic: the same split gives the same pairs in the same order.
 * - `combine` and `reduce` do not depend on the order of `values` (the shuffle delivers a key's values
 *   grouped by map task, and a re-run task may land in another order), and combine may run zero or
 *   more times: reduce(k, combine(k, a) ++ combine(k, b)) = reduce(k, a ++ b).
 * - `trimPartition` sees one reducer's whole output (sorted by key) and may drop entries that cannot
 *   reach the result; `finalize` sees all reducers' outputs merged (sorted by key) and returns the
 *   result in the kind's own order. Without them the result is the reducers' outputs, by key.
 * Values must survive JSON (the shell stores and ships them).
 */
export interface JobKind<Options, Value, Output> {
  /** The pairs emitted for one split. */
  map(split: InputSplit, options: Options): Entry<Value>[];
  /** Optional single pass equal to map then combine per key; used when the combiner is on. */
  mapCombined?(split: InputSplit, options: Options): Entry<Value>[];
  /** Optional map-side pre-reduction of one key's values. */
  combine?(key: string, values: Value[], options: Options): Value[];
  /** The output for one key from all its values. */
  reduce(key: string, values: Value[], options: Options): Output;
  /** Optional: what of one reducer's output (sorted by key) is kept; stays sorted by key. */
  trimPartition?(entries: Entry<Output>[], options: Options): Entry<Output>[];
  /** Optional: the result from all reducers' outputs merged by key. */
  finalize?(entries: Entry<Output>[], options: Options): Entry<Output>[];
}
