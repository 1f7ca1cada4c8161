import type { RunResult, TxnRequest, TxnSummary, TxnView } from "../../durable-objects/txn-coordinator";
import { LIMITS, type Config } from "../config";
import { planTxn } from "../core/txn/plan";
import type { TxnSpec } from "../core/txn/types";
import { murmur3_32 } from "../core/hash/murmur3";
import { HttpError } from "../http/errors";
import { utf8Length } from "../http/validation";
import { admit, overloadedError, ShedError, type Permit } from "./admission";
import { ringFor } from "./cache";
import { withTimeout } from "./replica-call";
import { txnAborts, txnCommits } from "./metrics";
import { objectStub } from "./objects";

/**
 * The coordinator object of a transaction: one of a fixed pool (by a stable hash of the id), or with
 * TXN_COORDINATORS=0 an object of its own per transaction.
 */
export function coordinatorName(config: Config, id: string): string {
  const pool = config.txn.coordinators;
  return pool === 0 ? `txn:${id}` : `txn-coordinator-${murmur3_32(id) % pool}`;
}

export function coordinatorStub(env: Cloudflare.Env, name: string) {
  return objectStub(env, "txn", name);
}

/**
 * Runs a transaction through its coordinator (the object named by the id). If the coordinator
 * crashes mid-run, it is asked once more: a restarted coordinator finishes what it logged (or
 * presumes abort), so the client still gets the outcome rather than an unknown.
 */
export async function runTxn(env: Cloudflare.Env, config: Config, id: string, spec: TxnSpec, priority?: number): Promise<TxnView> {
  checkTxnSize(spec);
  const ring = ringFor(config.cache);
  const plan = planTxn(spec, (key) => ring.preferenceList(key, config.cache.replicas));
  if (!plan.ok) throw new HttpError(400, "invalid_request", plan.message);
  const coordinator = coordinatorName(config, id);
  const req: TxnRequest = { id, coordinator, ops: plan.ops, conditions: spec.conditions, participants: plan.participants, ...(priority === undefined ? {} : { priority }) };
  let result: RunResult;
  // Admission in front of the coordinator (per isolate): a transaction that cannot start in time is
  // refused before anything is asked of it, so its outcome is known: it never ran.
  let permit: Permit;
  try {
    permit = await admit(`txn/${coordinator}`, Date.now() + config.cache.deadlineMs, config.admission);
  } catch (err) {
    if (err instanceof ShedError) throw overloadedError(err);
    throw err;
  }
  const started = Date.now();
  try {
    result = await coordinatorStub(env, coordinator).run(req);
    permit.release({ kind: "answer", rttMs: Date.now() - started });
  } catch {
    permit.release({ kind: "drop" });
    try {
      result = await coordinatorStub(env, coordinator).run(req);
    } catch (err) {
      throw new HttpError(503, "outcome_unknown", `the coordinator of ${id} is unreachable (${(err as Error).message}); GET /txn/${id} or retry with the same id`, { id }, { "Retry-After": "1" });
    }
  }
  if (!result.ok) throw new HttpError(422, "id_reused", `transaction id ${id} was already used for different operations`, { id });
  if (result.view.phase === "committed") txnCommits.inc();
  else if (result.view.phase === "aborted") txnAborts.inc({ reason: result.view.reason?.code ?? "presumed_abort" });
  return result.view;
}

/** Operations and conditions as JSON (escapes included): the log row holds them and the writes, under SQLite's 2 MB row limit. */
export const TXN_ENCODED_BYTES = 640 * 1024;

/**
 * The size limits of one transaction, checked for every caller (the /txn route, the Redis endpoint):
 * a coordinator whose log row would not fit resets itself, so it must never be asked.
 */
export function checkTxnSize(spec: TxnSpec): void {
  if (spec.ops.length > LIMITS.txnOps) throw new HttpError(400, "invalid_request", `a transaction has at most ${LIMITS.txnOps} operations (this one: ${spec.ops.length})`);
  if (spec.conditions.length > LIMITS.txnOps) throw new HttpError(400, "invalid_request", `a transaction has at most ${LIMITS.txnOps} conditions (this one: ${spec.conditions.length})`);
  let bytes = 0;
  for (const op of spec.ops) if (op.op === "set") bytes += utf8Length(op.value);
  for (const c of spec.conditions) if ("equals" in c) bytes += utf8Length(c.equals);
  if (bytes > LIMITS.txnValueBytes) throw new HttpError(400, "invalid_request", `the transaction's values total ${bytes} bytes; the limit is ${LIMITS.txnValueBytes}`);
  // Escapes can make a value up to 6x longer as JSON, so the encoded form is bounded too.
  const encoded = utf8Length(JSON.stringify([spec.ops, spec.conditions]));
  if (encoded > TXN_ENCODED_BYTES)
    throw new HttpError(400, "invalid_request", `the transaction takes ${encoded} bytes as JSON (escapes count); the limit is ${TXN_ENCODED_BYTES}`);
}

export async function txnStatus(env: Cloudflare.Env, config: Config, id: string): Promise<TxnView | null> {
  return coordinatorStub(env, coordinatorName(config, id)).status(id);
}

/** A recent transaction, flagged when it is in doubt: not ended after its vote deadline (participants may hold locks). */
export type RecentTxn = TxnSummary & { inDoubt: boolean };

/**
 * The newest transactions across the coordinator pool, newest first (at most `limit`). With
 * TXN_COORDINATORS=0 every transaction has an object of its own and there is nothing to list: null.
 */
export async function recentTxns(env: Cloudflare.Env, config: Config, limit: number, now: number): Promise<{ transactions: RecentTxn[]; unreachable: string[] } | null> {
  const pool = config.txn.coordinators;
  if (pool === 0) return null;
  const names = Array.from({ length: pool }, (_, i) => `txn-coordinator-${i}`);
  const lists: TxnSummary[][] = [];
  const unreachable: string[] = [];
  // A coordinator that does not answer (crashed, restarting) is left out and named; the others still list.
  const ask = (n: string) => withTimeout(coordinatorStub(env, n).recent(limit) as Promise<TxnSummary[]>, RECENT_TIMEOUT_MS).catch((): TxnSummary[] => {
      unreachable.push(n);
      return [];
    });
  for (let i = 0; i < names.length; i += 6) lists.push(...(await Promise.all(names.slice(i, i + 6).map(ask))));
  const transactions = lists
    .flat()
    .sort((a, b) => b.startedAt - a.startedAt)
    .slice(0, limit)
    .map((t) => ({ ...t, inDoubt: t.endedAt === null && now - t.startedAt > config.txn.voteTimeoutMs }));
  return { transactions, unreachable };
}

const RECENT_TIMEOUT_MS = 2_000;
