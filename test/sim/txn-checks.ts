/**
 * The invariants txn-sim.ts checks once the healed cluster has nothing left to do. They look only at
 * durable state (coordinators' logs, participants' stores, lock tables, prepared and finished sets)
 * and at what observers recorded (every outcome a participant applied, every decision a client heard).
 */
import { shouldApply } from "../../src/core/cache/replica-state";
import { compareVersions, type Version } from "../../src/core/cache/version";
import type { CoordinatorState } from "../../src/core/txn/coordinator";
import { evaluateTxn } from "../../src/core/txn/evaluate";
import type { PreparedTxn } from "../../src/core/txn/participant";
import type { Outcome, TxnWrite } from "../../src/core/txn/types";
import { INITIAL_BALANCE, type Workload } from "./txn-workload";

/** What a participant holds for a key. */
export interface StoredValue {
  version: Version;
  live: boolean;
  value?: Uint8Array;
  contentType: string;
  expiresAt: number | null;
}

/** A participant's durable state: nothing of it is lost in a crash. */
export interface ParticipantDurable {
  store: Map<string, StoredValue>;
  locks: Map<string, string>;
  prepared: Map<string, PreparedTxn>;
  finished: Map<string, Outcome>;
}

/** What the checks get to see: the durable state of every node and what the observers recorded. */
export interface TxnSimWorld {
  /** Each coordinator's log and how far its clock is ahead of the simulation's (local = global + offset). */
  coordinators: { id: string; txns: Map<string, CoordinatorState>; clockOffset: number }[];
  participants: Map<string, ParticipantDurable>;
  replicasOf: (key: string) => readonly string[];
  workload: Workload;
  initial: Map<string, StoredValue>;
  /** Every outcome a participant applied (decision, fence or inquiry answer), in order. */
  applied: { txn: string; shard: string; outcome: Outcome; prepared: boolean }[];
  /** Every decision a client received. */
  told: { txn: string; outcome: Outcome }[];
}

const encoder = new TextEncoder();

/** Last writer wins by version: replays and older writes are no-ops. */
export function applyWrite(store: Map<string, StoredValue>, w: TxnWrite): void {
  const cur = store.get(w.key);
  if (!shouldApply(cur?.version ?? null, w.version)) return;
  store.set(w.key, {
    version: w.version,
    live: w.value !== null,
    ...(w.value !== null ? { value: encoder.encode(w.value) } : {}),
    contentType: w.contentType,
    expiresAt: w.expiresAt,
  });
}

export type TxnProperty =
  /** (a) every participant of a transaction applied its outcome, and a commit's writes are on every replica. */
  | "atomicity"
  /** (b) no participant applied an outcome other than the coordinator's durable decision. */
  | "agreement"
  /** (c) every lock released, nothing left prepared. */
  | "locks-released"
  /** (d) every transaction decided and ended (all participants acknowledged). */
  | "ended"
  /** (e) money conserved, no negative balance, counters count their commits. */
  | "money"
  /** (f) what a client was told is the durable decision. */
  | "told"
  /** Committed transactions, replayed one by one in version order, give the same writes and the same final state. */
  | "serializability"
  /** Every replica of a key holds the same version of it. */
  | "convergence"
  /** A commit reached a participant that never prepared the transaction (checked as it happens). */
  | "commit-without-prepare"
  /** The run never went quiet after healing. */
  | "quiescence"
  /** The core (or the shell) threw. */
  | "exception";

export interface TxnViolation {
  property: TxnProperty;
  message: string;
  time?: number;
}

const decoder = new TextDecoder();
const text = (v: StoredValue | undefined): string | null => (v === undefined || !v.live || v.value === undefined ? null : decoder.decode(v.value));
const same = (a: StoredValue | undefined, b: StoredValue | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.version === b.version && a.live === b.live && text(a) === text(b) && a.expiresAt === b.expiresAt && a.contentType === b.contentType);

/** Every violated invariant (first few of each kind), or an empty list. */
export function checkTxnInvariants(w: TxnSimWorld): TxnViolation[] {
  const out: TxnViolation[] = [];
  const counts = new Map<TxnProperty, number>();
  const fail = (property: TxnProperty, message: string) => {
    const n = counts.get(property) ?? 0;
    counts.set(property, n + 1);
    if (n < 3) out.push({ property, message });
  };

  const decisions = new Map<string, CoordinatorState>();
  /** When each transaction was decided, on the simulation's clock. */
  const decidedAt = new Map<string, number>();
  for (const c of w.coordinators) {
    for (const [id, s] of c.txns) {
      decisions.set(id, s);
      if (s.decidedAt !== null) decidedAt.set(id, s.decidedAt - c.clockOffset);
    }
  }

  // (d) decided and ended; (a) every participant finished it with the decided outcome.
  for (const s of decisions.values()) {
    if (s.phase === "preparing") fail("ended", `${s.id} is still preparing`);
    else if (s.endedAt === null) fail("ended", `${s.id} (${s.phase}) never ended: unacknowledged by ${s.participants.filter((p) => !p.acked).map((p) => p.shard).join(", ")}`);
    for (const p of s.participants) {
      const got = w.participants.get(p.shard)!.finished.get(s.id);
      if (got === undefined) fail("atomicity", `${p.shard} never learned that ${s.id} ${s.phase}`);
      else if (got !== s.phase) fail("agreement", `${p.shard} finished ${s.id} as ${got}, its coordinator decided ${s.phase}`);
    }
  }

  // (b) every outcome ever applied agrees with the durable decision; a transaction unknown to its coordinator may only abort.
  const seen = new Set<string>();
  for (const a of w.applied) {
    const s = decisions.get(a.txn);
    const decided: Outcome = s === undefined || s.phase === "preparing" ? "aborted" : s.phase;
    if (a.outcome !== decided) fail("agreement", `${a.shard} applied ${a.outcome} for ${a.txn}, whose coordinator ${s === undefined ? "never logged it (presumed abort)" : `decided ${s.phase}`}`);
    const once = `${a.txn}/${a.shard}`;
    if (seen.has(once)) fail("agreement", `${a.shard} applied an outcome of ${a.txn} twice`);
    seen.add(once);
  }

  // (c) nothing locked or prepared at quiescence.
  for (const [shard, d] of w.participants) {
    if (d.locks.size > 0) fail("locks-released", `${shard} still locks ${[...d.locks].map(([k, t]) => `${k} (${t})`).join(", ")}`);
    if (d.prepared.size > 0) fail("locks-released", `${shard} is still in doubt about ${[...d.prepared.keys()].join(", ")}`);
  }

  // (f) what clients were told.
  for (const t of w.told) {
    const s = decisions.get(t.txn);
    if (s === undefined || s.phase !== t.outcome) fail("told", `a client was told ${t.txn} ${t.outcome}; the durable decision is ${s?.phase ?? "unknown (never logged)"}`);
  }

  // (a) a commit's writes are on every replica of their key, unless a newer version superseded them.
  const committed = [...decisions.values()].filter((s) => s.phase === "committed");
  for (const s of committed) {
    for (const wr of s.writes ?? []) {
      for (const shard of w.replicasOf(wr.key)) {
        const v = w.participants.get(shard)!.store.get(wr.key);
        const c = compareVersions(v?.version ?? null, wr.version);
        if (c < 0) fail("atomicity", `${shard} lacks ${s.id}'s write of "${wr.key}" at ${wr.version} (holds ${v?.version ?? "nothing"})`);
        else if (c === 0 && text(v) !== wr.value) fail("atomicity", `${shard} holds "${wr.key}" at ${wr.version} as ${JSON.stringify(text(v))}, ${s.id} wrote ${JSON.stringify(wr.value)}`);
      }
    }
  }

  // Replicas agree.
  const keys = new Set<string>([...w.initial.keys()]);
  for (const d of w.participants.values()) for (const k of d.store.keys()) keys.add(k);
  const final = new Map<string, StoredValue | undefined>();
  for (const key of keys) {
    const [first, ...rest] = w.replicasOf(key).map((shard) => w.participants.get(shard)!.store.get(key));
    final.set(key, first);
    for (const v of rest) if (!same(first, v)) fail("convergence", `replicas of "${key}" differ: ${first?.version ?? "absent"} vs ${v?.version ?? "absent"}`);
  }

  // Serializability: replay every commit from the initial state in the order of its decision (its lock
  // point: a transaction holds every lock when it is decided, and a conflicting one can only lock after
  // that, so this order is a serial order of strict two-phase locking). Each must see its conditions
  // hold and compute exactly the writes its coordinator decided, at a version above the version of
  // every key it overwrites (else last-writer-wins would drop it); the replay must end where the
  // replicas did. Version order itself is NOT a serial order: a key only read is not written, so its
  // next writer need not mint a version above the reader's.
  const model = new Map<string, StoredValue>(w.initial);
  const byDecision = committed.filter((s) => (s.writes?.length ?? 0) > 0).sort((a, b) => decidedAt.get(a.id)! - decidedAt.get(b.id)!);
  const accounts = new Set(w.workload.accounts);
  for (const s of byDecision) {
    const version = s.writes![0]!.version;
    for (const wr of s.writes!) {
      const cur = model.get(wr.key);
      if (cur !== undefined && compareVersions(wr.version, cur.version) <= 0)
        fail("serializability", `${s.id} wrote "${wr.key}" at ${wr.version}, not above the version ${cur.version} it replaces`);
    }
    const again = evaluateTxn(s.ops, s.conditions, model, version, s.decidedAt!);
    if (!again.ok) fail("serializability", `${s.id} committed, but replayed in decision order it aborts: ${again.reason.message}`);
    else if (JSON.stringify(again.writes) !== JSON.stringify(s.writes)) fail("serializability", `${s.id} wrote ${JSON.stringify(s.writes)}; replayed in decision order it writes ${JSON.stringify(again.writes)}`);
    for (const wr of s.writes!) {
      applyWrite(model, wr);
      if (accounts.has(wr.key) && wr.value !== null && Number(wr.value) < 0) fail("money", `${s.id} left "${wr.key}" negative: ${wr.value}`);
    }
  }
  for (const key of keys) if (!same(model.get(key), final.get(key))) fail("serializability", `the replay ends with "${key}" at ${model.get(key)?.version ?? "absent"}, the replicas hold ${final.get(key)?.version ?? "absent"}`);

  // (e) money and counters, on the converged state.
  let total = 0;
  for (const a of w.workload.accounts) {
    const t = text(final.get(a));
    const balance = t === null ? 0 : Number(t);
    if (!Number.isInteger(balance) || balance < 0) fail("money", `"${a}" holds ${JSON.stringify(t)}`);
    total += balance;
  }
  const expected = INITIAL_BALANCE * w.workload.accounts.length;
  if (total !== expected) fail("money", `balances add up to ${total}, not ${expected}`);
  for (const c of w.workload.counters) {
    let sum = 0;
    for (const s of committed) for (const op of s.ops) if (op.op === "incr" && op.key === c) sum += op.by;
    const t = text(final.get(c));
    if ((t === null ? 0 : Number(t)) !== sum) fail("money", `counter "${c}" is ${JSON.stringify(t)}, but committed increments add up to ${sum}`);
  }
  for (const [p, n] of counts) if (n > 3) out.push({ property: p, message: `... and ${n - 3} more ${p} violations` });
  return out;
}
