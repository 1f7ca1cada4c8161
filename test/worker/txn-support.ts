import { env } from "cloudflare:test";
import type { TxnRequest } from "../../durable-objects/txn-coordinator";
import { getConfig } from "../../src/config";
import { planTxn } from "../../src/core/txn/plan";
import type { TxnCondition, TxnOp } from "../../src/core/txn/types";
import { ringFor } from "../../src/services/cache";
import { coordinatorName, coordinatorStub } from "../../src/services/txn";
import { ALL_SHARDS, call, eventually, json, replicasOf, shard } from "./helpers";

/** The coordinator object of transaction `id` (as the router picks it). */
export const coordinator = (id: string) => coordinatorStub(env, coordinatorName(getConfig(env), id));

/** The coordinator name a participant records for transaction `id`. */
export const coordinatorOf = (id: string) => coordinatorName(getConfig(env), id);

export const postTxn = (body: unknown, headers: Record<string, string> = {}) =>
  call("/txn", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

export interface TxnBody {
  id: string;
  state: string;
  results?: { key: string; revision: string; value?: string }[];
  reason?: { code: string; message: string; condition?: number; shard?: string };
  participants: { shard: string; keys: string[]; vote: string; acked: boolean }[];
  timings: { endedAt: number | null };
}

/** The request the router would send to the coordinator for these operations. */
export function txnRequest(id: string, ops: TxnOp[], conditions: TxnCondition[] = []): TxnRequest {
  const cfg = getConfig(env).cache;
  const ring = ringFor(cfg);
  const plan = planTxn({ ops, conditions }, (k) => ring.preferenceList(k, cfg.replicas));
  if (!plan.ok) throw new Error(plan.message);
  return { id, coordinator: coordinatorOf(id), ops: plan.ops, conditions, participants: plan.participants };
}

/** `count` keys whose primary replicas are distinct shards, so a transaction over them spans shards. */
export function keysOnDistinctShards(prefix: string, count: number): string[] {
  const cfg = getConfig(env).cache;
  const ring = ringFor(cfg);
  const seen = new Set<string>();
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const k = `${prefix}-${i}`;
    const owner = ring.lookup(k);
    if (seen.has(owner)) continue;
    seen.add(owner);
    keys.push(k);
  }
  return keys;
}

/** What every replica of `key` holds (version and value), read directly from the shards. */
export async function replicaValues(key: string): Promise<{ shard: string; version: string | null; value: string | null }[]> {
  return Promise.all(
    (await replicasOf(key)).map(async (s) => {
      const r = await shard(s).get(key);
      return { shard: s, version: r.version, value: r.live && r.value ? new TextDecoder().decode(r.value) : null };
    }),
  );
}

/** Waits until no shard holds a transaction lock or an in-doubt transaction; answers how long that took. */
export async function locksReleased(withinMs = 4000): Promise<number> {
  const start = Date.now();
  await eventually(async () => {
    const states = await Promise.all(ALL_SHARDS.map((s) => shard(s).txnState()));
    return states.every((st) => Object.keys(st.locks).length === 0 && st.prepared.length === 0);
  }, withinMs);
  return Date.now() - start;
}

export async function txnView(id: string): Promise<TxnBody> {
  const res = await call(`/txn/${id}`);
  if (res.status !== 200) throw new Error(`GET /txn/${id}: ${res.status}`);
  return json<TxnBody>(res);
}

/** Every replica of every key holds the value the transaction wrote, at the transaction's revision. */
export async function expectAppliedEverywhere(writes: Record<string, string | null>, revision: string): Promise<boolean> {
  for (const [key, value] of Object.entries(writes)) {
    for (const r of await replicaValues(key)) if (r.version !== revision || r.value !== value) return false;
  }
  return true;
}
