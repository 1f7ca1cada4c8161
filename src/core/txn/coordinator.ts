import { newestRecord } from "../cache/replica-state";
import type { Version } from "../cache/version";
import { evaluateTxn } from "./evaluate";
import type { ParticipantPlan } from "./plan";
import type { AbortReason, InquiryAnswer, KeyRecord, OpResult, Outcome, TxnCondition, TxnOp, TxnWrite, Vote } from "./types";

export type CoordPhase = "preparing" | Outcome;

export interface CoordParticipant extends ParticipantPlan {
  vote: "pending" | "yes" | "no";
  acked: boolean;
  votedAt: number | null;
  ackedAt: number | null;
}

/** The coordinator's durable record of one transaction (its log): persisted before any message it causes is sent. */
export interface CoordinatorState {
  id: string;
  ops: TxnOp[];
  conditions: TxnCondition[];
  phase: CoordPhase;
  participants: CoordParticipant[];
  startedAt: number;
  voteDeadline: number;
  decidedAt: number | null;
  endedAt: number | null;
  reason: AbortReason | null;
  writes: TxnWrite[] | null;
  results: OpResult[] | null;
  nextResendAt: number | null;
  resends: number;
}

/** Messages the shell sends once the state they follow from is durable. */
export type CoordMessage =
  | { type: "prepare"; shard: string; keys: string[]; valueKeys: string[] }
  | { type: "decision"; shard: string; outcome: Outcome; writes: TxnWrite[] };

export interface Step {
  /** The state changed in a way that must be on disk before `send` goes out. */
  persist: boolean;
  send: CoordMessage[];
  /** This step decides the transaction (its persist is the decision record). */
  decides?: boolean;
}

export interface CoordTimings {
  voteTimeoutMs: number;
  resendBaseMs: number;
  resendMaxMs: number;
}

/** Votes' records, kept only in memory: a coordinator that restarts before deciding aborts, so it never needs them again. */
export type VoteRecords = Map<string, Record<string, KeyRecord>>;

const none: Step = { persist: false, send: [] };

/** Delay before the n-th resend of a decision to participants that have not acknowledged it. */
export function resendDelay(t: CoordTimings, resends: number): number {
  return Math.min(t.resendBaseMs * 2 ** Math.min(resends, 20), t.resendMaxMs);
}

/**
 * Starts a transaction: PREPARE goes to every participant. Nothing is logged yet (presumed abort: a
 * coordinator that crashes before deciding leaves no record, and a participant that asks about an
 * unknown transaction is told it aborted), so the first durable write is the decision.
 */
export function begin(id: string, ops: TxnOp[], conditions: TxnCondition[], plan: ParticipantPlan[], now: number, t: CoordTimings): { state: CoordinatorState; step: Step } {
  const state: CoordinatorState = {
    id,
    ops,
    conditions,
    phase: "preparing",
    participants: plan.map((p) => ({ ...p, vote: "pending", acked: false, votedAt: null, ackedAt: null })),
    startedAt: now,
    voteDeadline: now + t.voteTimeoutMs,
    decidedAt: null,
    endedAt: null,
    reason: null,
    writes: null,
    results: null,
    nextResendAt: null,
    resends: 0,
  };
  return { state, step: { persist: false, send: state.participants.map((p) => ({ type: "prepare", shard: p.shard, keys: p.keys, valueKeys: p.valueKeys })) } };
}

function writesFor(s: CoordinatorState, p: CoordParticipant): TxnWrite[] {
  if (s.phase !== "committed" || s.writes === null) return [];
  const mine = new Set(p.keys);
  return s.writes.filter((w) => mine.has(w.key));
}

function decisionTo(s: CoordinatorState, p: CoordParticipant): CoordMessage {
  return { type: "decision", shard: p.shard, outcome: s.phase === "committed" ? "committed" : "aborted", writes: writesFor(s, p) };
}

/** Decides (once): the decision is persisted, then sent to every participant. Deciding again is a no-op. */
export function decide(s: CoordinatorState, outcome: Outcome, now: number, t: CoordTimings, detail: { reason?: AbortReason; writes?: TxnWrite[]; results?: OpResult[] }): Step {
  if (s.phase !== "preparing") return none;
  s.phase = outcome;
  s.decidedAt = now;
  s.reason = detail.reason ?? null;
  s.writes = detail.writes ?? null;
  s.results = detail.results ?? null;
  s.nextResendAt = now + resendDelay(t, 0);
  return { persist: true, send: s.participants.map((p) => decisionTo(s, p)), decides: true };
}

/**
 * A vote arrives. A "no" aborts at once; the last "yes" decides: the conditions are checked and the
 * writes computed on the newest copy of each key among all its (locked) replicas. Late and repeated
 * votes change nothing.
 */
export function onVote(s: CoordinatorState, records: VoteRecords, shard: string, vote: Vote, now: number, t: CoordTimings, mintVersion: (seen: Version[]) => Version): Step {
  const p = s.participants.find((x) => x.shard === shard);
  if (!p || s.phase !== "preparing" || p.vote !== "pending") return none;
  p.votedAt = now;
  if (vote.vote === "no") {
    p.vote = "no";
    return decide(s, "aborted", now, t, { reason: { ...vote.reason, shard } });
  }
  // A yes must report every key it was asked about, as an own property (keys such as "__proto__" or
  // "toString" are legal): a record read as absent would let an increment overwrite the real value.
  const missing = p.keys.find((key) => !Object.hasOwn(vote.records, key));
  if (missing !== undefined) {
    p.vote = "no";
    return decide(s, "aborted", now, t, { reason: { code: "participant_unavailable", message: `participant ${shard} voted yes without reporting "${missing}"`, key: missing, shard } });
  }
  p.vote = "yes";
  records.set(shard, vote.records);
  if (s.participants.some((x) => x.vote !== "yes")) return { persist: false, send: [] };
  const newest = new Map<string, KeyRecord>();
  const seen: Version[] = [];
  for (const x of s.participants) {
    for (const key of x.keys) {
      const r = records.get(x.shard)?.[key];
      if (!r) continue;
      if (r.version !== null) seen.push(r.version);
      const best = newestRecord([...(newest.has(key) ? [newest.get(key)!] : []), r], now);
      if (best) newest.set(key, best);
    }
  }
  const evaluation = evaluateTxn(s.ops, s.conditions, newest, mintVersion(seen), now);
  if (!evaluation.ok) return decide(s, "aborted", now, t, { reason: evaluation.reason });
  return decide(s, "committed", now, t, { writes: evaluation.writes, results: evaluation.results });
}

/** A PREPARE could not be delivered or answered (error, timeout): the transaction aborts. */
export function onVoteFailed(s: CoordinatorState, shard: string, message: string, now: number, t: CoordTimings): Step {
  if (s.phase !== "preparing") return none;
  return decide(s, "aborted", now, t, { reason: { code: "participant_unavailable", message: `participant ${shard} did not vote: ${message}`, shard } });
}

/** A participant acknowledged the decision; once all have, the end record is written. */
export function onAck(s: CoordinatorState, shard: string, now: number): Step {
  const p = s.participants.find((x) => x.shard === shard);
  if (!p || s.phase === "preparing" || p.acked) return none;
  p.acked = true;
  p.ackedAt = now;
  if (s.participants.every((x) => x.acked)) {
    s.endedAt = now;
    s.nextResendAt = null;
    return { persist: true, send: [] };
  }
  return { persist: false, send: [] };
}

/**
 * After a restart the votes in memory are gone and nobody waits for the answer: a transaction still
 * preparing is aborted (presumed abort), and a decided one resumes phase 2.
 */
export function onRecover(s: CoordinatorState, now: number, t: CoordTimings): Step {
  if (s.phase === "preparing")
    return decide(s, "aborted", now, t, { reason: { code: "coordinator_recovered", message: "the coordinator restarted before deciding; presumed abort" } });
  return resend(s, now, t);
}

function resend(s: CoordinatorState, now: number, t: CoordTimings): Step {
  if (s.phase === "preparing" || s.endedAt !== null) return none;
  const send = s.participants.filter((p) => !p.acked).map((p) => decisionTo(s, p));
  s.resends += 1;
  s.nextResendAt = now + resendDelay(t, s.resends);
  return { persist: true, send };
}

/** The alarm: votes that never came abort the transaction; unacknowledged decisions are sent again. */
export function onTick(s: CoordinatorState, now: number, t: CoordTimings): Step {
  if (s.phase === "preparing") {
    if (now < s.voteDeadline) return none;
    const missing = s.participants.filter((p) => p.vote === "pending").map((p) => p.shard);
    return decide(s, "aborted", now, t, { reason: { code: "vote_timeout", message: `no vote in time from ${missing.join(", ")}` } });
  }
  if (s.nextResendAt !== null && now >= s.nextResendAt) return resend(s, now, t);
  return none;
}

/**
 * An in-doubt participant asks for the outcome. Past the vote deadline an undecided transaction is
 * aborted first, so the answer is final; before it, the participant is told to ask again.
 */
export function onInquiry(s: CoordinatorState, shard: string, now: number, t: CoordTimings): { answer: InquiryAnswer; step: Step } {
  let step = none;
  if (s.phase === "preparing" && now >= s.voteDeadline) step = onTick(s, now, t);
  if (s.phase === "preparing") return { answer: { state: "pending" }, step };
  const p = s.participants.find((x) => x.shard === shard);
  return { answer: { state: s.phase, writes: p ? writesFor(s, p) : [] }, step };
}

/** When the alarm should next run for this transaction (null: nothing left to do but forget it). */
export function nextWake(s: CoordinatorState): number | null {
  if (s.phase === "preparing") return s.voteDeadline;
  if (s.endedAt === null) return s.nextResendAt;
  return null;
}
