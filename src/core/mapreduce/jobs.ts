import { type ZodError, z } from "zod";
import { grepKind, grepOptionsSchema } from "./grep";
import type { Entry, JobKind } from "./kind";
import type { InputSplit } from "./partition";
import { invertedIndexKind, invertedIndexOptionsSchema, topKKind, topKOptionsSchema, wordcountKind, wordcountOptionsSchema } from "./word-jobs";

/**
 * The registry of job kinds and the job spec: the body of `POST /jobs` for inline input.
 *
 * A large text uploaded as a streamed body is not described here: the shell validates the same
 * parameters with `jobParamsSchema` and cuts the stream into splits itself, on line boundaries, without
 * holding the body in one object (see splitDocuments for the rule it must follow).
 */

export type { Entry, JobKind } from "./kind";

/** Every job kind, by name. */
export const JOB_KINDS = {
  wordcount: wordcountKind,
  "inverted-index": invertedIndexKind,
  grep: grepKind,
  "top-k": topKKind,
} as const;

export type JobKindName = keyof typeof JOB_KINDS;
export const JOB_KIND_NAMES = Object.keys(JOB_KINDS) as JobKindName[];

export const MIN_MAP_SPLITS = 1;
export const MAX_MAP_SPLITS = 256;
export const MIN_REDUCE_PARTITIONS = 1;
export const MAX_REDUCE_PARTITIONS = 64;
export const DEFAULT_MAP_SPLITS = 8;
export const DEFAULT_REDUCE_PARTITIONS = 4;
/** Inline documents per job; bigger inputs go in a streamed body. The byte size is the shell's body limit (413). */
export const MAX_INLINE_DOCUMENTS = 10_000;
export const MAX_DOCUMENT_ID_LENGTH = 256;

const isWellFormed = (s: string) => s.isWellFormed();
const NOT_WELL_FORMED = "must be well-formed Unicode (no lone surrogates)";

const documentSchema = z.strictObject({
  id: z.string().min(1, "must not be empty").max(MAX_DOCUMENT_ID_LENGTH, `must be at most ${MAX_DOCUMENT_ID_LENGTH} characters`).refine(isWellFormed, { message: NOT_WELL_FORMED, abort: true }),
  // Keys come from the text; well-formed text makes every key exactly representable in UTF-8.
  text: z.string().refine(isWellFormed, NOT_WELL_FORMED),
});

export const jobInputSchema = z.strictObject({
  documents: z
    .array(documentSchema)
    .min(1, "must hold at least one document")
    .max(MAX_INLINE_DOCUMENTS, `at most ${MAX_INLINE_DOCUMENTS} inline documents; upload a larger input as a streamed body`)
    .superRefine((docs, ctx) => {
      const firstIndexOf = new Map<string, number>();
      docs.forEach((doc, i) => {
        const first = firstIndexOf.get(doc.id);
        if (first === undefined) firstIndexOf.set(doc.id, i);
        else ctx.addIssue({ code: "custom", path: [i, "id"], message: `duplicate id "${doc.id}" (already used by input.documents.${first})` });
      });
    }),
});

const commonParams = {
  M: z.number().int("must be an integer").min(MIN_MAP_SPLITS).max(MAX_MAP_SPLITS).default(DEFAULT_MAP_SPLITS).describe("number of map splits (map tasks)"),
  R: z.number().int("must be an integer").min(MIN_REDUCE_PARTITIONS).max(MAX_REDUCE_PARTITIONS).default(DEFAULT_REDUCE_PARTITIONS).describe("number of reduce partitions (reduce tasks)"),
  combiner: z.boolean().default(true).describe("combine map output locally before the shuffle (kinds without a combiner ignore it)"),
};

const kindError = { error: () => `must be one of ${JOB_KIND_NAMES.join(", ")}` };

const paramVariants = [
  z.strictObject({ kind: z.literal("wordcount"), options: wordcountOptionsSchema.default({ unicode: false }), ...commonParams }),
  z.strictObject({ kind: z.literal("inverted-index"), options: invertedIndexOptionsSchema.default({ unicode: false }), ...commonParams }),
  z.strictObject({ kind: z.literal("grep"), options: grepOptionsSchema, ...commonParams }),
  z.strictObject({ kind: z.literal("top-k"), options: topKOptionsSchema.default(() => topKOptionsSchema.parse({})), ...commonParams }),
] as const;

/** A job's parameters without its input (for a streamed body). */
export const jobParamsSchema = z.discriminatedUnion("kind", paramVariants, kindError);
export type JobParams = z.output<typeof jobParamsSchema>;

/** A job with inline documents: `{kind, options, input: {documents: [{id, text}]}, M, R, combiner}`. */
export const jobSpecSchema = z.discriminatedUnion(
  "kind",
  [
    paramVariants[0].extend({ input: jobInputSchema }),
    paramVariants[1].extend({ input: jobInputSchema }),
    paramVariants[2].extend({ input: jobInputSchema }),
    paramVariants[3].extend({ input: jobInputSchema }),
  ],
  kindError,
);
export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;

export interface JobSpecIssue {
  /** Dotted path of the offending field, e.g. "options.pattern"; "" for the body itself. */
  field: string;
  message: string;
}

/** An invalid job spec; `field` names the first offending field, `message` is "<field>: <reason>". */
export class JobSpecError extends Error {
  override readonly name = "JobSpecError";
  readonly field: string;
  readonly reason: string;

  constructor(readonly issues: readonly JobSpecIssue[]) {
    const first = issues[0] ?? { field: "", message: "invalid job spec" };
    super(first.field === "" ? first.message : `${first.field}: ${first.message}`);
    this.field = first.field;
    this.reason = first.message;
  }

  /** The error for a failed parse of jobSpecSchema or jobParamsSchema. */
  static fromZodError(error: ZodError): JobSpecError {
    return new JobSpecError(
      error.issues.flatMap((issue) => {
        const path = issue.path.map(String);
        if (issue.code === "unrecognized_keys") return issue.keys.map((key) => ({ field: [...path, key].join("."), message: "unknown field" }));
        if (issue.code === "invalid_type" && path.length === 0) return [{ field: "", message: "the job spec must be a JSON object" }];
        return [{ field: path.join("."), message: issue.message }];
      }),
    );
  }
}

export type ParseResult<T> = { ok: true; spec: T } | { ok: false; error: JobSpecError };

/** Validates a job spec with inline input and fills defaults; on failure the error names the field. */
export function parseJobSpec(input: unknown): ParseResult<JobSpec> {
  const parsed = jobSpecSchema.safeParse(input);
  return parsed.success ? { ok: true, spec: parsed.data } : { ok: false, error: JobSpecError.fromZodError(parsed.error) };
}

/** Validates a job's parameters (no input: a streamed body) and fills defaults. */
export function parseJobParams(input: unknown): ParseResult<JobParams> {
  const parsed = jobParamsSchema.safeParse(input);
  return parsed.success ? { ok: true, spec: parsed.data } : { ok: false, error: JobSpecError.fromZodError(parsed.error) };
}

const INTEGER = /^[+-]?\d+$/;
const asInteger = (v: string): number | string => (INTEGER.test(v) ? Number(v) : v);
const asBoolean = (v: string): boolean | string => (v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v);
/** Query parameters that are not options, with their coercion. */
const QUERY_PARAMS = new Map<string, (v: string) => unknown>([["kind", String], ["M", asInteger], ["R", asInteger], ["combiner", asBoolean]]);
/** Options by their plain names; any other name is passed on as a string option, which the strict schemas refuse. */
const QUERY_OPTIONS = new Map<string, (v: string) => unknown>([["unicode", asBoolean], ["k", asInteger], ["pattern", String], ["flags", String]]);

/**
 * Job parameters from a query string (`?kind=grep&pattern=fox&M=16`, for a streamed body): the JSON
 * form's fields with the options by their plain names, numbers and booleans coerced from text. The
 * error names the query parameter ("pattern", not "options.pattern").
 */
export function jobParamsFromQuery(query: Record<string, string>): ParseResult<JobParams> {
  const params: [string, unknown][] = [];
  const options: [string, unknown][] = [];
  for (const [name, value] of Object.entries(query)) {
    const param = QUERY_PARAMS.get(name);
    if (param !== undefined) params.push([name, param(value)]);
    else options.push([name, (QUERY_OPTIONS.get(name) ?? String)(value)]);
  }
  // Always an options object, so a missing required option is named ("pattern"), not its container.
  // fromEntries makes every name an own property ("__proto__" included), which the strict schemas see.
  const parsed = parseJobParams(Object.fromEntries([...params, ["options", Object.fromEntries(options)]]));
  if (parsed.ok) return parsed;
  const unnested = parsed.error.issues.map((issue) => ({ ...issue, field: issue.field.replace(/^options\./, "") }));
  return { ok: false, error: new JobSpecError(unnested) };
}

/** A job kind bound to its validated options, with values erased: what a map or reduce task runs. */
export interface BoundJob {
  readonly kind: JobKindName;
  map(split: InputSplit): Entry<unknown>[];
  /** map then combine in one pass when the kind has it, else null. */
  readonly mapCombined: ((split: InputSplit) => Entry<unknown>[]) | null;
  /** null when the kind has no combiner. */
  readonly combine: ((key: string, values: unknown[]) => unknown[]) | null;
  reduce(key: string, values: unknown[]): unknown;
  /** Identity for kinds without a partition trim. */
  trimPartition(entries: Entry<unknown>[]): Entry<unknown>[];
  /** Identity for kinds without a finalize step. */
  finalize(entries: Entry<unknown>[]): Entry<unknown>[];
}

function bind<O, V, R>(name: JobKindName, kind: JobKind<O, V, R>, options: O): BoundJob {
  // Values reaching a bound job were produced by this same kind's map/combine/reduce (the shell
  // stores them as JSON between tasks), so narrowing them back is sound.
  const values = (vs: unknown[]) => vs as V[];
  const outputs = (es: Entry<unknown>[]) => es as Entry<R>[];
  const { mapCombined, combine, trimPartition, finalize } = kind;
  return {
    kind: name,
    map: (split) => kind.map(split, options),
    mapCombined: mapCombined === undefined ? null : (split) => mapCombined(split, options),
    combine: combine === undefined ? null : (key, vs) => combine(key, values(vs), options),
    reduce: (key, vs) => kind.reduce(key, values(vs), options),
    trimPartition: trimPartition === undefined ? (es) => es : (es) => trimPartition(outputs(es), options),
    finalize: finalize === undefined ? (es) => es : (es) => finalize(outputs(es), options),
  };
}

/** The runnable job of validated parameters. */
export function bindJob(params: JobParams | JobSpec): BoundJob {
  switch (params.kind) {
    case "wordcount":
      return bind(params.kind, JOB_KINDS.wordcount, params.options);
    case "inverted-index":
      return bind(params.kind, JOB_KINDS["inverted-index"], params.options);
    case "grep":
      return bind(params.kind, JOB_KINDS.grep, params.options);
    case "top-k":
      return bind(params.kind, JOB_KINDS["top-k"], params.options);
  }
}
