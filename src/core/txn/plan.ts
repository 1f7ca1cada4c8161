import type { TxnCondition, TxnOp, TxnSpec } from "./types";

/** One participant of a transaction: a shard and the keys of the transaction it replicates. */
export interface ParticipantPlan {
  shard: string;
  keys: string[];
  /** Keys whose current value the shard sends with its vote (value conditions, increments). */
  valueKeys: string[];
}

export type PlanResult = { ok: true; ops: TxnOp[]; participants: ParticipantPlan[] } | { ok: false; message: string };

const sameOp = (a: TxnOp, b: TxnOp) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Checks a transaction's shape and finds its participants: every replica of every key it writes or
 * conditions on (the key's preference list). Identical repeated operations are merged; two different
 * operations on one key are refused, since their order would be ambiguous.
 */
export function planTxn(spec: TxnSpec, replicasOf: (key: string) => readonly string[]): PlanResult {
  if (spec.ops.length === 0) return { ok: false, message: "ops: a transaction needs at least one operation" };
  const byKey = new Map<string, TxnOp>();
  const ops: TxnOp[] = [];
  for (const [i, op] of spec.ops.entries()) {
    const prev = byKey.get(op.key);
    if (prev === undefined) {
      byKey.set(op.key, op);
      ops.push(op);
    } else if (!sameOp(prev, op)) {
      return { ok: false, message: `ops[${i}]: key "${op.key}" already has a different operation in this transaction` };
    }
  }
  const valueKeys = new Set<string>();
  for (const op of ops) if (op.op === "incr") valueKeys.add(op.key);
  for (const c of spec.conditions) if ("equals" in c) valueKeys.add(c.key);
  const keys = new Set<string>([...ops.map((o) => o.key), ...spec.conditions.map((c) => c.key)]);
  const shards = new Map<string, ParticipantPlan>();
  for (const key of keys) {
    for (const shard of replicasOf(key)) {
      let p = shards.get(shard);
      if (!p) shards.set(shard, (p = { shard, keys: [], valueKeys: [] }));
      p.keys.push(key);
      if (valueKeys.has(key)) p.valueKeys.push(key);
    }
  }
  const participants = [...shards.values()].sort((a, b) => (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : 0));
  return { ok: true, ops, participants };
}

/** Human-readable form of a condition, for abort reasons. */
export function describeCondition(c: TxnCondition): string {
  if ("equals" in c) return `"${c.key}" equals ${JSON.stringify(c.equals)}`;
  if ("exists" in c) return `"${c.key}" ${c.exists ? "exists" : "does not exist"}`;
  return c.revision === null ? `"${c.key}" has no revision (absent)` : `"${c.key}" has revision ${c.revision}`;
}
