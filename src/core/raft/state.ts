import { RaftLog } from "./log";
import { isLearner, isVoter } from "./membership";
import type { Progress } from "./progress";
import type { Membership, Message, NodeId, ReadState, Role } from "./types";

/** Node options; every timing is in wall-clock milliseconds of the `now` the shell passes in. */
export interface RaftConfig {
  id: NodeId;
  electionTimeoutMinMs?: number;
  electionTimeoutMaxMs?: number;
  heartbeatIntervalMs?: number;
  /** §9.6: campaign only after a majority says it would vote (a rejoining node does not bump terms). */
  preVote?: boolean;
  /** §6.2 / §9.6: a leader steps down without a quorum; followers in touch with a leader refuse votes. */
  checkQuorum?: boolean;
  maxEntriesPerAppend?: number;
  /** Pipelining: unacknowledged Appends in flight per follower in the replicate state. */
  maxInflightAppends?: number;
  /** Subtracted from the leader lease to cover clock-rate drift between nodes (see leaseRead). */
  leaseClockDriftMs?: number;
  /** Resend a snapshot that has not been acknowledged after this long. */
  snapshotRetryMs?: number;
}

export type ResolvedConfig = Required<RaftConfig>;

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const min = c.electionTimeoutMinMs ?? 150;
  const max = c.electionTimeoutMaxMs ?? 300;
  const resolved: ResolvedConfig = {
    id: c.id,
    electionTimeoutMinMs: min,
    electionTimeoutMaxMs: max,
    heartbeatIntervalMs: c.heartbeatIntervalMs ?? 50,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    maxEntriesPerAppend: c.maxEntriesPerAppend ?? 100,
    maxInflightAppends: c.maxInflightAppends ?? 16,
    leaseClockDriftMs: c.leaseClockDriftMs ?? Math.ceil(min / 10),
    snapshotRetryMs: c.snapshotRetryMs ?? 2 * max,
  };
  if (!(min > 0 && max > min)) throw new Error("raft config: need 0 < electionTimeoutMinMs < electionTimeoutMaxMs");
  if (!(resolved.heartbeatIntervalMs > 0 && resolved.heartbeatIntervalMs < min)) throw new Error("raft config: heartbeat must be shorter than the election timeout");
  if (resolved.maxEntriesPerAppend < 1 || resolved.maxInflightAppends < 1) throw new Error("raft config: limits must be >= 1");
  if (resolved.leaseClockDriftMs < 0 || resolved.leaseClockDriftMs >= min) throw new Error("raft config: leaseClockDriftMs must be in [0, electionTimeoutMinMs)");
  return resolved;
}

/** Internal role; "learner" is only a reporting view of a follower (see statusRole). */
export type InternalRole = "follower" | "pre-candidate" | "candidate" | "leader";

export interface PendingRead {
  requestId: string;
  /** Leadership must be confirmed by a quorum acknowledging this heartbeat round or a later one. */
  round: number;
  /** The commit index to wait for; null until the leader has committed an entry of its term. */
  index: number | null;
}

/**
 * The mutable state shared by the node's helpers (election.ts, replication.ts, follower.ts, reads.ts).
 * Only RaftNode is public; this is its inside.
 */
export class RaftState {
  readonly cfg: ResolvedConfig;
  readonly id: NodeId;
  readonly rng: () => number;
  /** Latest time seen; never goes backwards even if the shell's clock does. */
  now: number;

  term: number;
  vote: NodeId | null;
  role: InternalRole = "follower";
  leader: NodeId | null = null;
  log: RaftLog;
  membership: Membership;

  electionDeadline = 0;
  /** When this node last heard from a current leader (the "leader lease" that makes it refuse votes). */
  heardFromLeaderAt: number | null;
  /** Votes (or pre-votes) received in the current campaign. */
  votes = new Map<NodeId, boolean>();

  // Leader-only state (reset by becomeLeader / dropped by becomeFollower).
  prs = new Map<NodeId, Progress>();
  leaderSince = 0;
  heartbeatDeadline = 0;
  /** Index of the last config entry; a new change waits until it is committed. */
  pendingConfigIndex = 0;
  committedInTerm = false;
  transferee: NodeId | null = null;
  transferDeadline = 0;
  round = 0;
  roundStartedAt = new Map<number, number>();
  reads: PendingRead[] = [];
  readRoundPending = false;
  /** Proposals appended since the last flush: send them in one Append per follower. */
  broadcastPending = false;
  /** Commit advanced since the last flush: tell followers even if there is nothing new to send. */
  commitBroadcastPending = false;

  // Output buffered until ready().
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  failedReads: string[] = [];

  constructor(cfg: ResolvedConfig, log: RaftLog, term: number, vote: NodeId | null, membership: Membership, rng: () => number, now: number) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.rng = rng;
    this.now = now;
    this.log = log;
    this.term = term;
    this.vote = vote;
    this.membership = membership;
    // A restarted node may have promised a leader not to vote (its lease) before crashing: keep the
    // promise by refusing votes for one minimum election timeout after start.
    this.heardFromLeaderAt = now;
    this.resetElectionTimer();
  }

  send<M extends Message>(msg: Omit<M, "from" | "term"> & { term?: number }): void {
    this.msgs.push({ ...msg, from: this.id, term: msg.term ?? this.term } as M);
  }

  /** A fresh randomized election timeout in [min, max) (§5.2). */
  resetElectionTimer(): void {
    const { electionTimeoutMinMs: min, electionTimeoutMaxMs: max } = this.cfg;
    this.electionDeadline = this.now + min + Math.floor(this.rng() * (max - min));
  }

  isVoter(): boolean {
    return isVoter(this.membership, this.id);
  }

  statusRole(): Role {
    if (this.role === "follower" && isLearner(this.membership, this.id)) return "learner";
    return this.role;
  }

  /**
   * The disruption rule (§4.2.3 / §9.6): with CheckQuorum on, a node that heard from a leader less than a
   * minimum election timeout ago (or is the leader) neither grants pre-votes nor lets a Vote bump its term.
   */
  inLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    if (this.role === "leader") return true;
    return this.heardFromLeaderAt !== null && this.now - this.heardFromLeaderAt < this.cfg.electionTimeoutMinMs;
  }

  /** Become a follower in `term` (a new term forgets the vote); a leader drops its leader-only state. */
  becomeFollower(term: number, leader: NodeId | null): void {
    if (term > this.term) {
      this.term = term;
      this.vote = null;
    }
    if (this.role === "leader") this.dropLeaderState();
    this.role = "follower";
    this.leader = leader;
    this.votes.clear();
    this.resetElectionTimer();
  }

  private dropLeaderState(): void {
    for (const r of this.reads) this.failedReads.push(r.requestId);
    this.reads = [];
    this.prs.clear();
    this.transferee = null;
    this.readRoundPending = false;
    this.broadcastPending = false;
    this.commitBroadcastPending = false;
    this.roundStartedAt.clear();
  }

  /** Begin a new heartbeat round (ReadIndex confirmation / lease dating). */
  startRound(): number {
    this.round++;
    this.roundStartedAt.set(this.round, this.now);
    return this.round;
  }
}
