import { type ZodError, z } from "zod";
import { type FibonacciArgs, type FibonacciResult, fibonacciArgsSchema, runFibonacci } from "./fibonacci";
import { type PrimeCheckArgs, type PrimeCheckResult, primeCheckArgsSchema, runPrimeCheck } from "./prime";
import { type Sha256Args, type Sha256Result, sha256ArgsSchema, sha256InputBytes, sha256Result } from "./sha256";

/**
 * The registry of task kinds. Workers forbid `eval` and `new Function`, so a task names one of these
 * kinds and the executor runs the code registered for it; nothing a client sends is ever code.
 *
 * A task is `{kind, args}`. Arguments are validated here once, at submission, into a normalized,
 * JSON-safe form (what gets stored and sent to executors); running a task never re-validates.
 */

export const TASK_KINDS = ["fibonacci", "prime-check", "sha256", "sleep"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

/** Longest `sleep` task: one minute (it exists for tests: stragglers, timeouts, backup tasks). */
export const SLEEP_MAX_MS = 60_000;

/** Most tasks in one POST /tasks batch. The route's body-size limit bounds the bytes separately. */
export const MAX_TASK_BATCH = 1000;

/**
 * Most milliseconds of `sleep` in one batch, summed. Each other kind is cheap at its own bound (1,000
 * fibonacci(100,000) ≈ 1 s of CPU; sha256 input is bounded by the body), but 1,000 sleeps of a minute
 * would hold the executors' slots for 16 hours of attempts from one request.
 */
export const MAX_BATCH_SLEEP_MS = 10 * SLEEP_MAX_MS;

export interface SleepArgs {
  ms: number;
}

export interface SleepResult {
  /** The requested duration; the shell's timer decides how long it really took. */
  ms: number;
}

const sleepArgsSchema = z.strictObject(
  {
    ms: z
      .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be an integer") })
      .int("must be an integer")
      .min(0, "must be >= 0")
      .max(SLEEP_MAX_MS, `must be <= ${SLEEP_MAX_MS} (SLEEP_MAX_MS)`),
  },
  { error: (issue) => (issue.code !== "invalid_type" ? undefined : issue.input === undefined ? "is required" : "must be an object {ms}") },
);

export interface TaskArgsByKind {
  fibonacci: FibonacciArgs;
  "prime-check": PrimeCheckArgs;
  sha256: Sha256Args;
  sleep: SleepArgs;
}

export interface TaskResultByKind {
  fibonacci: FibonacciResult;
  "prime-check": PrimeCheckResult;
  sha256: Sha256Result;
  sleep: SleepResult;
}

/** One task: a kind and its validated arguments (a union over the kinds, discriminated by `kind`). */
export type TaskSpec<K extends TaskKind = TaskKind> = { [P in K]: { kind: P; args: TaskArgsByKind[P] } }[K];

export type TaskResult<K extends TaskKind = TaskKind> = TaskResultByKind[K];

/** Who does the work: "cpu": runPureTask, in the core; "digest": the shell's crypto.subtle; "timer": the shell's clock. */
export type TaskExecution = "cpu" | "digest" | "timer";

export interface TaskKindDefinition<K extends TaskKind> {
  readonly kind: K;
  readonly summary: string;
  readonly execution: TaskExecution;
  /** Validates raw `args` (unknown fields refused) into the normalized form. */
  readonly argsSchema: z.ZodType<TaskArgsByKind[K]>;
}

export const TASK_KIND_REGISTRY: { readonly [K in TaskKind]: TaskKindDefinition<K> } = {
  fibonacci: {
    kind: "fibonacci",
    summary: "F(n) exactly, as a decimal string; n in 0..FIBONACCI_MAX_N",
    execution: "cpu",
    argsSchema: fibonacciArgsSchema,
  },
  "prime-check": {
    kind: "prime-check",
    summary: "whether n is prime, deterministic for 0..2^64-1; n as a decimal string or a safe integer",
    execution: "cpu",
    argsSchema: primeCheckArgsSchema,
  },
  sha256: {
    kind: "sha256",
    summary: "SHA-256 hex digest of data (UTF-8 text, or base64 with encoding \"base64\"), up to SHA256_MAX_BYTES",
    execution: "digest",
    argsSchema: sha256ArgsSchema,
  },
  sleep: {
    kind: "sleep",
    summary: "waits ms milliseconds (0..SLEEP_MAX_MS), for tests",
    execution: "timer",
    argsSchema: sleepArgsSchema,
  },
};

/** The kinds computed entirely in the core. */
export const PURE_TASK_KINDS = ["fibonacci", "prime-check"] as const satisfies readonly TaskKind[];
export type PureTaskKind = (typeof PURE_TASK_KINDS)[number];

const PURE_RUNNERS: { readonly [K in PureTaskKind]: (args: TaskArgsByKind[K]) => TaskResultByKind[K] } = {
  fibonacci: runFibonacci,
  "prime-check": runPrimeCheck,
};

/** True when `kind` names a registered task kind (own names only: "constructor" is not a kind). */
export function isTaskKind(kind: unknown): kind is TaskKind {
  return typeof kind === "string" && Object.hasOwn(TASK_KIND_REGISTRY, kind);
}

/** True when a kind runs entirely in the core (runPureTask). */
export function isPureTaskKind(kind: TaskKind): kind is PureTaskKind {
  return TASK_KIND_REGISTRY[kind].execution === "cpu";
}

/** Runs a task of a CPU kind on validated arguments, synchronously. */
export function runPureTask<K extends PureTaskKind>(kind: K, args: TaskArgsByKind[K]): TaskResultByKind[K] {
  return PURE_RUNNERS[kind](args);
}

/** The I/O a task may need, passed in by the shell (the core neither hashes natively nor sleeps). */
export interface TaskIo {
  /** SHA-256 of `bytes`, e.g. `(b) => crypto.subtle.digest("SHA-256", b)`. */
  sha256(bytes: Uint8Array): Promise<ArrayBuffer | Uint8Array>;
  /** Resolves after `ms` milliseconds, e.g. `scheduler.wait(ms)`. */
  sleep(ms: number): Promise<void>;
}

/** Runs any validated task, using `io` for the kinds that need it. */
export async function executeTask(spec: TaskSpec, io: TaskIo): Promise<TaskResult> {
  switch (spec.kind) {
    case "fibonacci":
      return runPureTask("fibonacci", spec.args);
    case "prime-check":
      return runPureTask("prime-check", spec.args);
    case "sha256": {
      const bytes = sha256InputBytes(spec.args);
      return sha256Result(await io.sha256(bytes), bytes.length);
    }
    case "sleep":
      await io.sleep(spec.args.ms);
      return { ms: spec.args.ms };
  }
}

// ---------------------------------------------------------------------------------------------------
// Validation: one task, or a batch, naming the first offending field
// ---------------------------------------------------------------------------------------------------

export interface TaskInputProblem {
  ok: false;
  /** Dotted path of the offending field: "kind", "args.n", "tasks.3.args.data"; "" for the body itself. */
  field: string;
  message: string;
}

export type ParsedTaskArgs = { [K in TaskKind]: { ok: true; kind: K; args: TaskArgsByKind[K] } }[TaskKind];

const UNKNOWN_KIND_MESSAGE = `must be one of ${TASK_KINDS.join(", ")}`;

/** The first issue of a failed parse as a problem; `prefix` is prepended to its path. */
function problemOf(error: ZodError, prefix: readonly (string | number)[] = []): TaskInputProblem {
  const issue = error.issues[0];
  if (issue === undefined) return { ok: false, field: prefix.join("."), message: "is invalid" };
  const path = [...prefix, ...issue.path].map(String);
  // zod reports unknown fields once, on their parent object; name the field itself.
  if (issue.code === "unrecognized_keys") return { ok: false, field: [...path, issue.keys[0] ?? ""].join("."), message: "unknown field" };
  return { ok: false, field: path.join("."), message: issue.message };
}

/**
 * Validates a task's arguments for `kind` into their normalized form. Fields are named as in the task
 * body: "kind" for an unknown kind, "args" / "args.<name>" for the arguments.
 */
export function parseTaskArgs(kind: unknown, args: unknown): ParsedTaskArgs | TaskInputProblem {
  if (!isTaskKind(kind)) return { ok: false, field: "kind", message: UNKNOWN_KIND_MESSAGE };
  const parsed = taskSpecSchema.safeParse({ kind, args });
  return parsed.success ? { ok: true, ...parsed.data } : problemOf(parsed.error);
}

function specOption<K extends TaskKind>(kind: K) {
  return z.strictObject({ kind: z.literal(kind), args: TASK_KIND_REGISTRY[kind].argsSchema });
}

/** One task `{kind, args}`: the kind picks the argument schema; unknown fields are refused. */
export const taskSpecSchema = z.discriminatedUnion(
  "kind",
  [specOption("fibonacci"), specOption("prime-check"), specOption("sha256"), specOption("sleep")],
  {
    error: (issue) =>
      issue.code === "invalid_union" ? UNKNOWN_KIND_MESSAGE : issue.code === "invalid_type" ? "a task must be a JSON object {kind, args}" : undefined,
  },
);

/** A batch `{tasks: [...]}` of 1..MAX_TASK_BATCH tasks. */
export const taskBatchSchema = z.strictObject(
  {
    tasks: z
      .array(taskSpecSchema, { error: (issue) => (issue.input === undefined ? "is required" : "must be an array of tasks") })
      .min(1, "must not be empty")
      .max(MAX_TASK_BATCH, `must hold at most ${MAX_TASK_BATCH} tasks (MAX_TASK_BATCH)`),
  },
  { error: (issue) => (issue.code === "invalid_type" ? "a batch must be a JSON object {tasks}" : undefined) },
);

/**
 * The body of POST /tasks: one task or a batch, for the OpenAPI description. Validate with
 * parseTaskSubmission, not with this union: a failed union cannot say which field was wrong.
 */
export const taskSubmissionSchema = z.union([taskSpecSchema, taskBatchSchema]);

export interface ParsedTaskSubmission {
  ok: true;
  /** Whether the body was a batch (answer with a list) or a single task (answer with one). */
  batch: boolean;
  tasks: TaskSpec[];
}

/** Validates a POST /tasks body: a batch when it is an object with a `tasks` field, otherwise one task. */
export function parseTaskSubmission(body: unknown): ParsedTaskSubmission | TaskInputProblem {
  const isBatch = typeof body === "object" && body !== null && !Array.isArray(body) && Object.hasOwn(body, "tasks");
  if (!isBatch) {
    const parsed = taskSpecSchema.safeParse(body);
    return parsed.success ? { ok: true, batch: false, tasks: [parsed.data] } : problemOf(parsed.error);
  }
  // Refuse an oversized batch before validating every one of its tasks.
  const tasks: unknown = (body as { tasks: unknown }).tasks;
  if (Array.isArray(tasks) && tasks.length > MAX_TASK_BATCH) {
    return { ok: false, field: "tasks", message: `must hold at most ${MAX_TASK_BATCH} tasks (MAX_TASK_BATCH); got ${tasks.length}` };
  }
  const parsed = taskBatchSchema.safeParse(body);
  if (!parsed.success) return problemOf(parsed.error);
  const slept = parsed.data.tasks.reduce((sum, t) => sum + (t.kind === "sleep" ? t.args.ms : 0), 0);
  if (slept > MAX_BATCH_SLEEP_MS) {
    return { ok: false, field: "tasks", message: `its sleep tasks add up to ${slept} ms; a batch may sleep at most ${MAX_BATCH_SLEEP_MS} ms in all (MAX_BATCH_SLEEP_MS)` };
  }
  return { ok: true, batch: true, tasks: parsed.data.tasks };
}
