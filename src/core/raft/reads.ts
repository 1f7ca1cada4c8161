import { isVoter, quorumValue } from "./membership";
import type { RaftState } from "./state";
import type { NodeId } from "./types";

export type ReadRejection = "not_leader" | "transferring" | "lease_disabled" | "lease_expired" | "no_commit_in_term";

/**
 * §6.4 ReadIndex. The leader records its commit index (once it has committed an entry of its own term:
 * before that its commit index may be stale, so the read waits for the noop), then confirms it is still
 * leader by a heartbeat round acknowledged by a quorum. The read becomes a ReadState in ready(), to be
 * served once the state machine has applied its index. Reads in one batch share one heartbeat round.
 */
export function requestReadIndex(s: RaftState, requestId: string): { ok: true } | { ok: false; reason: ReadRejection; leader: NodeId | null } {
  if (s.role !== "leader") return { ok: false, reason: "not_leader", leader: s.leader };
  // The round must start after the request arrived; reads already waiting to be flushed share it.
  if (!s.readRoundPending) {
    s.startRound();
    s.readRoundPending = s.prs.size > 0;
  }
  s.reads.push({ requestId, round: s.round, index: s.committedInTerm ? s.log.commit : null });
  resolveReads(s);
  return { ok: true };
}

/** The latest heartbeat round a quorum of voters (this leader counting as the current round) acknowledged. */
function quorumRound(s: RaftState): number {
  return quorumValue(s.membership, (id) => (id === s.id ? s.round : (s.prs.get(id)?.ackedRound ?? 0)));
}

/** Release, in order, every pending read whose leadership is confirmed and whose index is known. */
export function resolveReads(s: RaftState): void {
  if (s.role !== "leader") return;
  const confirmed = quorumRound(s);
  while (s.reads.length > 0) {
    const r = s.reads[0]!;
    if (r.index === null || r.round > confirmed) break;
    s.reads.shift();
    s.readStates.push({ requestId: r.requestId, index: r.index });
  }
  for (const round of s.roundStartedAt.keys()) if (round < confirmed) s.roundStartedAt.delete(round);
}

/**
 * Lease read (opt-in, §6.4.1): serve at the commit index without a heartbeat round while the lease holds.
 *
 * The lease starts when the leader began the latest heartbeat round a quorum has acknowledged: each of
 * those voters heard from this leader at or after that moment, and (with CheckQuorum) refuses to vote
 * for anyone else until it has counted electionTicks of its own ticks since (inLease in state.ts). The
 * shell promises that its ticks are at least tickMs apart (late is allowed, early never), and the first
 * of them may come right after the message, so those ticks take at least (electionTicks - 1) x tickMs of
 * the voter's wall time. No other leader can be elected, and no write can commit elsewhere, before
 * start + (electionTicks - 1) x tickMs as measured by those voters' clocks. A busy voter only makes the
 * real lease longer (its ticks come later); the leader measures the lease in its own wall time (`now`),
 * never in ticks, so its own lateness can only make it give up the lease early, never serve past it.
 *
 * Clock assumption: clocks need not be synchronized, but their RATES must agree to within
 * leaseClockDriftMs over the lease (it is shortened by that margin), and `now` must not jump back or
 * stall (a paused or suspended leader process that resumes believes its stale `now`; the shell must
 * pass a monotonic clock). Leadership transfer breaks the assumption (TimeoutNow bypasses the lease),
 * so a transferring leader serves no lease reads. When the lease cannot be used, use ReadIndex
 * (leaseReadOrReadIndex does).
 */
export function leaseRead(s: RaftState): { ok: true; index: number } | { ok: false; reason: ReadRejection; leader: NodeId | null } {
  if (s.role !== "leader") return { ok: false, reason: "not_leader", leader: s.leader };
  if (!s.cfg.checkQuorum) return { ok: false, reason: "lease_disabled", leader: s.id };
  if (s.transferee !== null) return { ok: false, reason: "transferring", leader: s.id };
  if (!s.committedInTerm) return { ok: false, reason: "no_commit_in_term", leader: s.id };
  const alone = s.membership.voters.length === 1 && isVoter(s.membership, s.id);
  if (!alone) {
    // A quiesced leader holds no lease: a read wakes it and the lease waits for a round sent since.
    const round = quorumRound(s);
    const started = s.quiesced || round < s.minLeaseRound ? undefined : s.roundStartedAt.get(round);
    const expires = started === undefined ? -Infinity : started + leaseMs(s);
    if (s.now >= expires) return { ok: false, reason: "lease_expired", leader: s.id };
  }
  return { ok: true, index: s.log.commit };
}

/** How long after a round's start (wall ms) the lease it earned may be used. */
export function leaseMs(s: RaftState): number {
  return (s.cfg.electionTicks - 1) * s.cfg.tickMs - s.cfg.leaseClockDriftMs;
}

export type LeaseOrIndexResult =
  | { ok: true; via: "lease"; index: number }
  | { ok: true; via: "readIndex" }
  | { ok: false; reason: ReadRejection; leader: NodeId | null };

/**
 * A lease read that never fails for want of a lease: when the lease cannot be used (expired because
 * acknowledgements are slow, no commit in this term yet, a transfer running, leases disabled) the read
 * goes through ReadIndex instead (its ReadState comes in a later ready()). Only a node that is not the
 * leader refuses, naming the leader it knows.
 */
export function leaseReadOrReadIndex(s: RaftState, requestId: string): LeaseOrIndexResult {
  const lease = leaseRead(s);
  if (lease.ok) return { ok: true, via: "lease", index: lease.index };
  if (lease.reason === "not_leader") return lease;
  const r = requestReadIndex(s, requestId);
  return r.ok ? { ok: true, via: "readIndex" } : r;
}
