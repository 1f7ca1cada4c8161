import type { TxnConfig } from "../src/config";
import { dueInquiries, inquiryDelay, onDecision, onPrepare } from "../src/core/txn/participant";
import type { InquiryAnswer, KeyRecord, Outcome, TxnWrite, Vote } from "../src/core/txn/types";
import { withTimeout } from "../src/services/replica-call";
import type { ShardRecord, ShardWrite } from "./cache-shard";
import type { TxnParticipantStore } from "./cache-txn";

/** Where a test can make a participant crash (ctx.abort) during the protocol. */
export type ParticipantCrashPoint = "before-vote" | "after-prepared" | "before-apply";

/** Longest wait between two inquiries about one in-doubt transaction. */
const INQUIRY_MAX_MS = 30_000;
const encoder = new TextEncoder();

/** What the 2PC participant logic needs from its CacheShard. */
export interface ParticipantHost {
  store: TxnParticipantStore;
  config: TxnConfig;
  crashAt(point: ParticipantCrashPoint): Promise<void>;
  read(key: string, withValue: boolean): ShardRecord;
  /** Runs `fn` as one storage transaction; `apply` writes a versioned entry (last writer wins). */
  transact<T>(fn: (apply: (w: ShardWrite) => unknown) => T): T;
  afterTransact(): Promise<void>;
  schedule(at: number): Promise<void>;
  coordinator(name: string): { inquire(txn: string, shard: string): Promise<InquiryAnswer> };
  shardName(): string;
}

function toShardWrite(w: TxnWrite): ShardWrite {
  return { key: w.key, version: w.version, value: w.value === null ? null : encoder.encode(w.value), contentType: w.contentType, expiresAt: w.expiresAt };
}

/** PREPARE: PREPARED and the locks are durable before the vote leaves this object. */
export async function shardPrepare(host: ParticipantHost, txn: string, keys: string[], valueKeys: string[], coordinator: string): Promise<Vote> {
  const { store } = host;
  await host.crashAt("before-vote");
  const now = Date.now();
  const action = onPrepare(store, txn, keys, now, host.config.inquiryAfterMs);
  if (action.action === "refuse") return { vote: "no", reason: action.reason };
  if (action.action === "lock") {
    host.transact(() => store.recordPrepared(action.prepared, coordinator));
    store.afterCommit(action.prepared.keys, txn, []);
    await host.schedule(action.prepared.nextInquiryAt);
  }
  await host.crashAt("after-prepared");
  const wanted = new Set(valueKeys);
  // Built with fromEntries so that every key, even one named "__proto__", is an own entry of the vote.
  const records: Record<string, KeyRecord> = Object.fromEntries(
    keys.map((key) => {
      const r = host.read(key, wanted.has(key));
      return [key, { version: r.version, live: r.live, ...(r.value ? { value: r.value, contentType: r.contentType } : {}), expiresAt: r.expiresAt ?? null }];
    }),
  );
  await host.afterTransact();
  return { vote: "yes", records };
}

/** Applies an outcome: writes (if committed), lock release and the finished record in one storage transaction. */
async function finish(host: ParticipantHost, txn: string, outcome: Outcome, writes: TxnWrite[], lockedKeys: string[]): Promise<void> {
  host.transact((apply) => {
    if (outcome === "committed") for (const w of writes) apply(toShardWrite(w));
    host.store.recordFinished(txn, outcome, Date.now());
  });
  host.store.afterCommit([], txn, lockedKeys);
  await host.afterTransact();
  const forgetAt = host.store.nextForgetDue();
  if (forgetAt !== null) await host.schedule(forgetAt);
}

/** COMMIT/ABORT from the coordinator. Duplicates only acknowledge; one that overtook its PREPARE fences it off. */
export async function shardDecide(host: ParticipantHost, txn: string, outcome: Outcome, writes: TxnWrite[]): Promise<{ ack: true }> {
  const action = onDecision(host.store, txn);
  if (action.action === "ack") return { ack: true };
  await host.crashAt("before-apply");
  await finish(host, txn, outcome, writes, action.action === "apply" ? action.prepared.keys : []);
  return { ack: true };
}

/**
 * From the alarm: asks the coordinator of every transaction in doubt for too long. Only the
 * coordinator decides; an unreachable or undecided one is asked again later, with backoff.
 */
export async function resolveInDoubt(host: ParticipantHost, now: number): Promise<void> {
  const shard = host.shardName();
  for (const p of dueInquiries(host.store.allPrepared(), now)) {
    let answer: InquiryAnswer = { state: "pending" };
    try {
      answer = await withTimeout(host.coordinator(p.coordinator).inquire(p.txn, shard), host.config.voteTimeoutMs);
    } catch {
      // Unreachable: ask again later.
    }
    if (answer.state === "pending") {
      const next = Date.now() + inquiryDelay(host.config.inquiryAfterMs, p.inquiries + 1, INQUIRY_MAX_MS);
      host.store.rescheduleInquiry(p.txn, next, p.inquiries + 1);
      await host.schedule(next);
      continue;
    }
    if (host.store.prepared(p.txn)) await finish(host, p.txn, answer.state, answer.writes, p.keys);
  }
}
