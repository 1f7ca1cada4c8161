import { RaftLog } from "./log";
import { isLearner, isVoter } from "./membership";
import type { Progress } from "./progress";
import type { Membership, Message, NodeId, ReadState, Role } from "./types";

/**
 * Node options. Time is counted in TICKS of the node's own clock, as in etcd-io/raft: the shell calls
 * tick() once per alarm, however late that alarm fires, so a busy process's clock slows down with it
 * instead of making its peers look dead. Only lease reads look at wall time (see leaseRead in reads.ts).
 */
export interface RaftConfig {
  id: NodeId;
  /**
   * etcd's ElectionTick: for this many of its ticks after hearing from a leader a follower refuses to vote
   * for anyone else (the disruption rule), and a CheckQuorum leader keeps leading without hearing from a
   * quorum. The election timeout itself is drawn from (electionTicks, maxElectionTicks] (see below).
   */
  electionTicks?: number;
  /** Upper bound of the randomized election timeout, in ticks (default 2 x electionTicks). */
  maxElectionTicks?: number;
  /** A leader heartbeats every this many ticks (etcd's HeartbeatTick). */
  heartbeatTicks?: number;
  /**
   * The shell's promise: two ticks are never less than this many ms apart (of its clock). Late is fine:
   * a late tick is one tick. Used only to bound the leader lease in wall time.
   */
  tickMs?: number;
  /** §9.6: campaign only after a majority says it would vote (a rejoining node does not bump terms). */
  preVote?: boolean;
  /** §6.2 / §9.6: a leader steps down without a quorum; followers in touch with a leader refuse votes. */
  checkQuorum?: boolean;
  maxEntriesPerAppend?: number;
  /** Pipelining: unacknowledged Appends in flight per follower in the replicate state. */
  maxInflightAppends?: number;
  /** Subtracted from the leader lease to cover clock-rate drift between nodes (see leaseRead). */
  leaseClockDriftMs?: number;
  /** Resend a snapshot that has not been acknowledged after this many ticks. */
  snapshotRetryTicks?: number;
  /**
   * Quiescence (CockroachDB's quiesced ranges): a leader whose followers all hold its whole log, with
   * nothing pending and no client activity for this many ticks, sends a last heartbeat that stops their
   * election timers and stops its own clock; any proposal, read or message wakes the group. 0: never.
   */
  quiesceTicks?: number;
}

export type ResolvedConfig = Required<RaftConfig>;

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const e = c.electionTicks ?? 3;
  const max = c.maxElectionTicks ?? 2 * e;
  const tickMs = c.tickMs ?? 50;
  const resolved: ResolvedConfig = {
    id: c.id,
    electionTicks: e,
    maxElectionTicks: max,
    heartbeatTicks: c.heartbeatTicks ?? 1,
    tickMs,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    maxEntriesPerAppend: c.maxEntriesPerAppend ?? 100,
    maxInflightAppends: c.maxInflightAppends ?? 16,
    leaseClockDriftMs: c.leaseClockDriftMs ?? Math.ceil(((e - 1) * tickMs) / 10),
    snapshotRetryTicks: c.snapshotRetryTicks ?? 2 * max,
    quiesceTicks: c.quiesceTicks ?? 0,
  };
  const ints = [e, max, resolved.heartbeatTicks, resolved.snapshotRetryTicks, resolved.quiesceTicks];
  if (!ints.every(Number.isInteger)) throw new Error("raft config: tick counts must be integers");
  if (!(e >= 2 && max > e)) throw new Error("raft config: need 2 <= electionTicks < maxElectionTicks");
  if (!(resolved.heartbeatTicks >= 1 && resolved.heartbeatTicks < e)) throw new Error("raft config: heartbeatTicks must be in [1, electionTicks)");
  if (resolved.quiesceTicks < 0) throw new Error("raft config: quiesceTicks must be >= 0");
  if (!(tickMs > 0)) throw new Error("raft config: tickMs must be > 0");
  if (resolved.maxEntriesPerAppend < 1 || resolved.maxInflightAppends < 1) throw new Error("raft config: limits must be >= 1");
  if (resolved.leaseClockDriftMs < 0 || resolved.leaseClockDriftMs >= (e - 1) * tickMs) throw new Error("raft config: leaseClockDriftMs must be in [0, (electionTicks - 1) x tickMs)");
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

  /** This node's ticks since it started (its own clock; never wall time). */
  ticks = 0;
  /** Ticks since the election timer was last reset, and the randomized timeout it runs to. */
  electionElapsed = 0;
  electionTimeout = 0;
  /** The tick at which this node last heard from a current leader (its "lease" that makes it refuse votes). */
  heardFromLeaderTick: number;
  /**
   * Quiesced: the group was idle and this node's clock is stopped (wantsTicks is false) until a client or
   * a message wakes it. A quiesced follower's election timer and vote lease stand still with its ticks.
   */
  quiesced = false;
  /** Leader: the tick of the last client activity (proposal, read, transfer) or of taking office. */
  activityTick = 0;
  /** Leader: only heartbeat rounds from this one on may date a lease (rounds acknowledged before it quiesced may not). */
  minLeaseRound = 0;
  /** Votes (or pre-votes) received in the current campaign. */
  votes = new Map<NodeId, boolean>();

  // Counters since this node (object) started, for status and metrics; not persisted.
  electionsStarted = 0;
  leaderChanges = 0;
  /** The last (leader, term) this node saw, to count changes. */
  private seenLeader: string | null = null;

  // Leader-only state (reset by becomeLeader / dropped by becomeFollower).
  prs = new Map<NodeId, Progress>();
  leaderSinceTick = 0;
  heartbeatElapsed = 0;
  /** Index of the last config entry; a new change waits until it is committed. */
  pendingConfigIndex = 0;
  committedInTerm = false;
  transferee: NodeId | null = null;
  transferDeadlineTick = 0;
  round = 0;
  /** When (wall ms of `now`) each heartbeat round started: dates the leader lease. */
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
    // promise by refusing votes for electionTicks ticks after start.
    this.heardFromLeaderTick = 0;
    this.resetElectionTimer();
  }

  send<M extends Message>(msg: Omit<M, "from" | "term"> & { term?: number }): void {
    this.msgs.push({ ...msg, from: this.id, term: msg.term ?? this.term } as M);
  }

  /**
   * A fresh randomized election timeout (§5.2) of (electionTicks, maxElectionTicks] ticks. It starts one
   * tick past the vote lease: the first tick after a message comes anywhere within one tick interval, so
   * peers that heard the same leader at the same moment may be up to one tick behind this node; starting
   * a tick later they are out of their lease when our PreVote arrives, and the first campaign can win.
   */
  resetElectionTimer(): void {
    const { electionTicks: e, maxElectionTicks: max } = this.cfg;
    this.electionElapsed = 0;
    this.electionTimeout = e + 1 + Math.floor(this.rng() * (max - e));
  }

  /** Record a message from the current leader: follow it, renew its lease, restart the election timer. */
  heardFromLeader(): void {
    this.heardFromLeaderTick = this.ticks;
    this.resetElectionTimer();
  }

  /** Count a leader (or a new term of the same leader) seen for the first time; call after each input. */
  observeLeader(): void {
    if (this.leader === null) return;
    const key = `${this.leader}@${this.term}`;
    if (key === this.seenLeader) return;
    this.seenLeader = key;
    this.leaderChanges++;
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
   * less than electionTicks of its own ticks ago (or is the leader) neither grants pre-votes nor lets a Vote
   * bump its term. Counted in ticks, the lease lasts at least (electionTicks - 1) x tickMs of wall time:
   * the first tick after hearing may come at once, and each later one at least tickMs after the one before.
   */
  inLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    if (this.role === "leader") return true;
    return this.ticks - this.heardFromLeaderTick < this.cfg.electionTicks;
  }

  /** Become a follower in `term` (a new term forgets the vote); a leader drops its leader-only state. */
  becomeFollower(term: number, leader: NodeId | null): void {
    if (term > this.term) {
      this.term = term;
      this.vote = null;
    }
    if (this.role === "leader") this.dropLeaderState();
    this.role = "follower";
    this.quiesced = false;
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
