/**
 * The history format the linearizability checker reads: one record per client operation on a
 * key-value store, with the time it was invoked and the time (and result) it completed.
 *
 * Timestamps may be logical or milliseconds; only their order matters. Equal timestamps are treated
 * as "could have happened in either order" (see check.ts).
 *
 * An operation whose outcome is unknown (a timeout, a crashed leader, a dropped connection) has
 * `completedAt: null` and `result: null`: it may or may not have taken effect, at any time after its
 * invocation. An operation known NOT to have taken effect (rejected before it was proposed) should be
 * left out of the history altogether (HistoryRecorder.discard).
 */

export interface PutOp {
  readonly type: "put";
  readonly key: string;
  readonly value: string;
}
export interface GetOp {
  readonly type: "get";
  readonly key: string;
}
export interface DeleteOp {
  readonly type: "delete";
  readonly key: string;
}
/** Compare-and-set: writes `value` iff the current value is `expected` (null = the key must not exist). */
export interface CasOp {
  readonly type: "cas";
  readonly key: string;
  readonly expected: string | null;
  readonly value: string;
}
export type KvOp = PutOp | GetOp | DeleteOp | CasOp;

export interface GetResult {
  readonly value: string | null;
}
export interface CasResult {
  readonly ok: boolean;
}
export interface WriteResult {
  readonly ok: true;
}
export type OpResult = GetResult | CasResult | WriteResult;

/** Either completed with a result, or of unknown outcome (both fields null). */
type Outcome<R> = { readonly completedAt: number; readonly result: R } | { readonly completedAt: null; readonly result: null };

interface OperationBase {
  readonly id: number;
  readonly client: string;
  readonly invokedAt: number;
}

export type Operation =
  | (OperationBase & { readonly op: PutOp } & Outcome<WriteResult>)
  | (OperationBase & { readonly op: GetOp } & Outcome<GetResult>)
  | (OperationBase & { readonly op: DeleteOp } & Outcome<WriteResult>)
  | (OperationBase & { readonly op: CasOp } & Outcome<CasResult>);

export type History = readonly Operation[];

/** True iff the operation never completed: it may or may not have taken effect. */
export const hasUnknownOutcome = (o: Operation): boolean => o.completedAt === null;

/** Throws a TypeError/RangeError naming the first malformed operation (bad times, result shape, duplicate id). */
export function validateHistory(history: History): void {
  const ids = new Set<number>();
  for (const o of history) {
    const name = `operation #${String(o.id)}`;
    if (ids.has(o.id)) throw new RangeError(`${name}: duplicate id`);
    ids.add(o.id);
    if (!Number.isFinite(o.invokedAt)) throw new RangeError(`${name}: invokedAt must be a finite number`);
    if (o.completedAt === null) {
      if (o.result !== null) throw new TypeError(`${name}: an operation of unknown outcome has result null`);
      continue;
    }
    if (!Number.isFinite(o.completedAt) || o.completedAt < o.invokedAt) {
      throw new RangeError(`${name}: completedAt ${o.completedAt} must be finite and >= invokedAt ${o.invokedAt}`);
    }
    assertResultShape(o.op, o.result, name);
  }
}

function assertResultShape(op: KvOp, result: unknown, name: string): void {
  const r = typeof result === "object" && result !== null ? (result as Record<string, unknown>) : null;
  const fine =
    r !== null &&
    (op.type === "get"
      ? typeof r.value === "string" || r.value === null
      : op.type === "cas"
        ? typeof r.ok === "boolean"
        : r.ok === true);
  if (!fine) throw new TypeError(`${name}: result ${JSON.stringify(result)} does not fit a ${op.type}`);
}

type ResultFor<O extends KvOp> = O extends GetOp ? GetResult : O extends CasOp ? CasResult : WriteResult;

interface Recording {
  readonly id: number;
  readonly client: string;
  readonly op: KvOp;
  readonly invokedAt: number;
  completedAt: number | null;
  result: OpResult | null;
  state: "in-flight" | "completed" | "unknown" | "discarded";
}

/**
 * Records a history as clients run: `invoke` before sending a request, then exactly one of
 * `complete` (a reply arrived), `failUnknown` (no reply / ambiguous error: it may have taken effect)
 * or `discard` (definitely did not take effect). Operations still in flight when `history()` is called
 * are reported as unknown outcome.
 */
export class HistoryRecorder {
  private readonly recordings: Recording[] = [];
  private readonly byId = new Map<number, Recording>();

  /** Records an invocation and returns the operation id to complete later. */
  invoke(client: string, op: KvOp, at: number): number {
    if (!Number.isFinite(at)) throw new RangeError(`invoke: time must be finite, got ${at}`);
    const rec: Recording = { id: this.recordings.length, client, op, invokedAt: at, completedAt: null, result: null, state: "in-flight" };
    this.recordings.push(rec);
    this.byId.set(rec.id, rec);
    return rec.id;
  }

  /** Records the reply of an in-flight operation. */
  complete(id: number, result: OpResult, at: number): void {
    const rec = this.inFlight(id, "complete");
    if (!Number.isFinite(at) || at < rec.invokedAt) throw new RangeError(`complete #${id}: time ${at} is before invocation ${rec.invokedAt}`);
    assertResultShape(rec.op, result, `complete #${id}`);
    rec.completedAt = at;
    rec.result = result;
    rec.state = "completed";
  }

  /** The operation failed ambiguously (timeout, crash): it may or may not have taken effect. */
  failUnknown(id: number): void {
    this.inFlight(id, "failUnknown").state = "unknown";
  }

  /** The operation definitely did not take effect (e.g. rejected before being proposed): drop it. */
  discard(id: number): void {
    this.inFlight(id, "discard").state = "discarded";
  }

  /** A snapshot of the history so far, in invocation order. */
  history(): Operation[] {
    const out: Operation[] = [];
    for (const r of this.recordings) {
      if (r.state === "discarded") continue;
      // The casts are safe: `complete` checked the result's shape against the op type.
      out.push(
        (r.state === "completed"
          ? { id: r.id, client: r.client, op: r.op, invokedAt: r.invokedAt, completedAt: r.completedAt, result: r.result }
          : { id: r.id, client: r.client, op: r.op, invokedAt: r.invokedAt, completedAt: null, result: null }) as Operation,
      );
    }
    return out;
  }

  private inFlight(id: number, what: string): Recording {
    const rec = this.byId.get(id);
    if (rec === undefined) throw new RangeError(`${what}: no operation #${id}`);
    if (rec.state !== "in-flight") throw new RangeError(`${what}: operation #${id} is already ${rec.state}`);
    return rec;
  }
}

/** Typed convenience for building histories by hand (tests): the result type follows the op type. */
export function operation<O extends KvOp>(
  id: number,
  client: string,
  op: O,
  invokedAt: number,
  completedAt: number | null,
  result: ResultFor<O> | null,
): Operation {
  return { id, client, op, invokedAt, completedAt, result } as Operation;
}
