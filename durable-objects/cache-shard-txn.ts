import type { TxnConfig } from "../src/config";
import { dueInquiries, inquiryDelay, onDecision, onLockWait, onPrepare, type LockWait, type PreparedTxn } from "../src/core/txn/participant";
import type { InquiryAnswer, KeyRecord, Outcome, TxnWrite, Vote } from "../src/core/txn/types";
import { withTimeout } from "../src/services/replica-call";
import type { ShardRecord, ShardWrite } from "./cache-shard";
import type { TxnParticipantStore } from "./cache-txn";

/** Where a test can make a participant crash (ctx.abort) during the protocol. */
export type ParticipantCrashPoint = "before-vote" | "after-prepared" | "before-apply";

/** In-doubt transactions asked about per alarm run; the rest are due at once and go in the next run. */
const INQUIRY_BATCH = 50;
/** Longest wait between two inquiries about one in-doubt transaction. */
const INQUIRY_MAX_MS = 30_000;
const encoder = new TextEncoder();

/** What the 2PC participant logic needs from its CacheShard. */
export interface ParticipantHost {
  store: TxnParticipantStore;
  config: TxnConfig;
  crashAt(point: ParticipantCrashPoint): Promise<void>;
  read(key: string, withValue: boolean): ShardRecord;
  /** Runs `fn` in the shard's next group commit (one storage transaction); `apply` writes a versioned entry (last writer wins). */
  group<T>(fn: (apply: (w: ShardWrite) => unknown) => T): Promise<T>;
  afterTransact(): Promise<void>;
  schedule(at: number): Promise<void>;
  coordinator(name: string): { inquire(txn: string, shard: string): Promise<InquiryAnswer> };
  shardName(): string;
}

function toShardWrite(w: TxnWrite): ShardWrite {
  return { key: w.key, version: w.version, value: w.value === null ? null : encoder.encode(w.value), contentType: w.contentType, expiresAt: w.expiresAt };
}

/** PREPARE: PREPARED and the locks are durable before the vote leaves this object. */
export async function shardPrepare(host: ParticipantHost, txn: string, keys: string[], valueKeys: string[], coordinator: string, wait?: LockWait): Promise<Vote> {
  const { store } = host;
  await host.crashAt("before-vote");
  const waitUntil = Date.now() + (wait?.waitMs ?? 0);
  for (;;) {
    // Wait-die: an older transaction waits here for a younger one's locks (up to its vote deadline);
    // a younger one is refused at once (below) and retried by its client with its original priority.
    const w = onLockWait(store, txn, keys, wait === undefined ? undefined : { priority: wait.priority, waitMs: waitUntil - Date.now() });
    if (w.action !== "wait") break;
    if ((await store.waitUnlocked(w.key, waitUntil - Date.now())) !== undefined) break;
  }
  const now = Date.now();
  // Decided inside the group commit, so it sees the locks taken by the calls batched before it.
  const action = await host.group(() => {
    // Prepared here under another coordinator (the pool was resized while it was in flight): two
    // coordinators could decide it differently, so this one is refused.
    const other = store.coordinatorOf(txn);
    if (other !== undefined && other !== coordinator)
      return { action: "refuse" as const, reason: { code: "conflict" as const, message: `already prepared here under coordinator ${other}` } };
    const a = onPrepare(store, txn, keys, now, host.config.inquiryAfterMs);
    if (a.action === "lock") store.recordPrepared(a.prepared, coordinator, wait?.priority);
    return a;
  });
  if (action.action === "refuse") return { vote: "no", reason: action.reason };
  if (action.action === "lock") await host.schedule(action.prepared.nextInquiryAt);
  await host.crashAt("after-prepared");
  const wanted = new Set(valueKeys);
  // Built with fromEntries so that every key, even one named "__proto__", is an own entry of the vote.
  const records: Record<string, KeyRecord> = Object.fromEntries(
    keys.map((key) => {
      const r = host.read(key, wanted.has(key));
      const record: KeyRecord = { version: r.version, live: r.live, expiresAt: r.expiresAt ?? null };
      if (r.evicted) record.evicted = true;
      if (r.value) Object.assign(record, { value: r.value, contentType: r.contentType });
      return [key, record];
    }),
  );
  await host.afterTransact();
  return { vote: "yes", records };
}

/**
 * Applies an outcome: writes (if committed), lock release and the finished record in one storage
 * transaction. Decided inside the group commit, so a duplicate batched with the original is a no-op.
 */
async function finish(host: ParticipantHost, txn: string, outcome: Outcome, writes: TxnWrite[]): Promise<void> {
  const { store } = host;
  const released = await host.group((apply) => {
    const action = onDecision(store, txn);
    if (action.action === "ack") return [];
    if (outcome === "committed") for (const w of writes) apply(toShardWrite(w));
    const keys = action.action === "apply" ? action.prepared.keys : [];
    store.recordFinished(txn, outcome, Date.now(), keys);
    return keys;
  });
  store.wake(released);
  await host.afterTransact();
  const forgetAt = host.store.nextForgetDue();
  if (forgetAt !== null) await host.schedule(forgetAt);
}

/** COMMIT/ABORT from the coordinator. Duplicates only acknowledge; one that overtook its PREPARE fences it off. */
export async function shardDecide(host: ParticipantHost, txn: string, outcome: Outcome, writes: TxnWrite[]): Promise<{ ack: true }> {
  await host.crashAt("before-apply");
  await finish(host, txn, outcome, writes);
  return { ack: true };
}

/**
 * From the alarm: asks the coordinator of every transaction in doubt for too long. Only the
 * coordinator decides; an unreachable or undecided one is asked again later, with backoff.
 */
export async function resolveInDoubt(host: ParticipantHost, now: number): Promise<void> {
  const shard = host.shardName();
  // Asked concurrently (at most INQUIRY_BATCH per run): one unreachable coordinator must not hold up the others.
  await Promise.all(dueInquiries(host.store.allPrepared(), now).slice(0, INQUIRY_BATCH).map((p) => resolveOne(host, p, shard)));
}

async function resolveOne(host: ParticipantHost, p: PreparedTxn & { coordinator: string }, shard: string): Promise<void> {
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
    return;
  }
  if (host.store.prepared(p.txn)) await finish(host, p.txn, answer.state, answer.writes);
}
