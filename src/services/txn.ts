import type { RunResult, TxnRequest, TxnView } from "../../durable-objects/txn-coordinator";
import type { Config } from "../config";
import { planTxn } from "../core/txn/plan";
import type { TxnSpec } from "../core/txn/types";
import { murmur3_32 } from "../core/hash/murmur3";
import { HttpError } from "../http/errors";
import { ringFor } from "./cache";

/**
 * The coordinator object of a transaction: one of a fixed pool (by a stable hash of the id), or with
 * TXN_COORDINATORS=0 an object of its own per transaction.
 */
export function coordinatorName(config: Config, id: string): string {
  const pool = config.txn.coordinators;
  return pool === 0 ? `txn:${id}` : `txn-coordinator-${murmur3_32(id) % pool}`;
}

export function coordinatorStub(env: Cloudflare.Env, name: string) {
  return env.TXN_COORDINATOR.get(env.TXN_COORDINATOR.idFromName(name));
}

/**
 * Runs a transaction through its coordinator (the object named by the id). If the coordinator
 * crashes mid-run, it is asked once more: a restarted coordinator finishes what it logged (or
 * presumes abort), so the client still gets the outcome rather than an unknown.
 */
export async function runTxn(env: Cloudflare.Env, config: Config, id: string, spec: TxnSpec): Promise<TxnView> {
  const ring = ringFor(config.cache);
  const plan = planTxn(spec, (key) => ring.preferenceList(key, config.cache.replicas));
  if (!plan.ok) throw new HttpError(400, "invalid_request", plan.message);
  const coordinator = coordinatorName(config, id);
  const req: TxnRequest = { id, coordinator, ops: plan.ops, conditions: spec.conditions, participants: plan.participants };
  let result: RunResult;
  try {
    result = await coordinatorStub(env, coordinator).run(req);
  } catch {
    try {
      result = await coordinatorStub(env, coordinator).run(req);
    } catch (err) {
      throw new HttpError(503, "outcome_unknown", `the coordinator of ${id} is unreachable (${(err as Error).message}); GET /txn/${id} or retry with the same id`, { id }, { "Retry-After": "1" });
    }
  }
  if (!result.ok) throw new HttpError(422, "id_reused", `transaction id ${id} was already used for different operations`, { id });
  return result.view;
}

export async function txnStatus(env: Cloudflare.Env, config: Config, id: string): Promise<TxnView | null> {
  return coordinatorStub(env, coordinatorName(config, id)).status(id);
}
