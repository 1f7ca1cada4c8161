import { type BoundJob, bindJob, type Entry, type JobSpec } from "./jobs";
import { sortByKey, sortKeys } from "./key-order";
import { type InputSplit, partitionOf, splitDocuments } from "./partition";

/**
 * The steps of one MapReduce job as pure functions, and `runPipeline`, which chains them in one
 * process. The JobCoordinator shell runs the same steps in separate Durable Objects: runMapTask in a
 * map task, storing its R runs; runReduceTask in a reduce task over the runs of partition r from every
 * map task; finalizeJob over the R reducer outputs.
 */

/** One map task's output for one reduce partition: its keys, sorted (compareKeys), each with its values. */
export type MapRun = Array<[key: string, values: unknown[]]>;

export interface MapTaskCounters {
  /** Lines read. */
  inputLines: number;
  /** Pairs emitted by map (before the combiner; with the fused mapCombined, its pairs). */
  mapOutputRecords: number;
  /** Values shuffled, after the combiner. */
  shuffledRecords: number;
}

export interface MapTaskOutput {
  /** runs[r] goes to reduce partition r; length R. */
  runs: MapRun[];
  counters: MapTaskCounters;
}

function countLines(split: InputSplit): number {
  let lines = 0;
  for (const piece of split.pieces) {
    let at = piece.text.indexOf("\n");
    while (at !== -1) {
      lines++;
      at = piece.text.indexOf("\n", at + 1);
    }
    if (piece.text !== "" && !piece.text.endsWith("\n")) lines++;
  }
  return lines;
}

/** Runs the map (and, when asked and the kind has one, the combiner) of one split, partitioned into R runs. */
export function runMapTask(job: BoundJob, split: InputSplit, R: number, useCombiner: boolean): MapTaskOutput {
  const combine = useCombiner ? job.combine : null;
  const pairs = combine !== null && job.mapCombined !== null ? job.mapCombined(split) : job.map(split);
  const grouped = new Map<string, unknown[]>();
  for (const [key, value] of pairs) {
    const values = grouped.get(key);
    if (values === undefined) grouped.set(key, [value]);
    else values.push(value);
  }
  const runs: MapRun[] = Array.from({ length: R }, () => []);
  let shuffledRecords = 0;
  for (const key of sortKeys([...grouped.keys()])) {
    const raw = grouped.get(key) as unknown[];
    const values = combine === null ? raw : combine(key, raw);
    shuffledRecords += values.length;
    (runs[partitionOf(key, R)] as MapRun).push([key, values]);
  }
  return { runs, counters: { inputLines: countLines(split), mapOutputRecords: pairs.length, shuffledRecords } };
}

/**
 * Runs one reduce task over the runs of its partition (one per map task, any order): groups values by
 * key, reduces each key, trims the partition. Output sorted by key (compareKeys).
 */
export function runReduceTask(job: BoundJob, runs: readonly MapRun[]): Entry<unknown>[] {
  const grouped = new Map<string, unknown[]>();
  for (const run of runs) {
    for (const [key, values] of run) {
      const all = grouped.get(key);
      if (all === undefined) grouped.set(key, [...values]);
      else for (const v of values) all.push(v);
    }
  }
  const outputs: Entry<unknown>[] = [];
  for (const key of sortKeys([...grouped.keys()])) outputs.push([key, job.reduce(key, grouped.get(key) as unknown[])]);
  return job.trimPartition(outputs);
}

/** The job's result from every reducer's output: merged by key, then the kind's finalize step. */
export function finalizeJob(job: BoundJob, partitionOutputs: readonly Entry<unknown>[][]): Entry<unknown>[] {
  // Partitions hold disjoint keys, so merging is a sort of the concatenation.
  return job.finalize(sortByKey(partitionOutputs.flat()));
}

export interface PipelineRun {
  splits: InputSplit[];
  mapOutputs: MapTaskOutput[];
  /** reduceOutputs[r]: reduce partition r's output, sorted by key. */
  reduceOutputs: Entry<unknown>[][];
  result: Entry<unknown>[];
}

/** Runs a whole job in this process: split -> map -> partition -> (combine) -> shuffle -> reduce -> finalize. */
export function runPipeline(spec: JobSpec): PipelineRun {
  const job = bindJob(spec);
  const splits = splitDocuments(spec.input.documents, spec.M);
  const mapOutputs = splits.map((split) => runMapTask(job, split, spec.R, spec.combiner));
  const reduceOutputs = Array.from({ length: spec.R }, (_, r) => runReduceTask(job, mapOutputs.map((m) => m.runs[r] as MapRun)));
  return { splits, mapOutputs, reduceOutputs, result: finalizeJob(job, reduceOutputs) };
}
