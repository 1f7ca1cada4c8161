/**
 * RaftNode: one member of a Raft group as a pure, deterministic state machine (the shape of etcd-io/raft's
 * RawNode). No I/O, no clock, no randomness of its own: the shell calls tick() once per interval of its
 * own clock (a Durable Object alarm; a late alarm is ONE tick), passes `now` (wall-clock ms, used only to
 * date the leader lease and report contact times) and an `rng` in [0, 1), and turns the output into I/O.
 * Election timeouts, heartbeats, CheckQuorum and the vote lease are all counted in ticks, as in etcd-io/raft:
 * a process whose event loop is busy ticks late, so it is slow, never "dead" to itself or its peers.
 *
 * Driving it (one loop per event; the same for a Durable Object, a test network or a simulator):
 *
 *   const node = new RaftNode({ id: "n1" }, { hardState, snapshot, entries, membership }, rng, now);
 *   on alarm:        node.tick(now)              one tick, however late the alarm fired
 *   on a message:    node.step(msg, now)
 *   on a client:     node.propose(data, now) / node.proposeMembership(change, now)
 *                    node.readIndex(requestId, now) / node.leaseRead(now) / node.leaseReadOrReadIndex(id, now)
 *                    node.transferLeadership(to, now)
 *   then, while node.hasReady():
 *                    const rd = node.ready();  persist -> send -> apply -> serve reads (see Ready)
 *                    node.advance();
 *   and, while node.wantsTicks(), arm the next tick at least cfg.tickMs after the last one fired (never
 *   earlier: the leader lease relies on it; see leaseRead in reads.ts).
 *   After applying up to index i the shell may call node.compact(i, stateMachineSnapshot) and store the
 *   returned Snapshot in place of the entries <= i.
 *
 * Restarting from storage: pass the stored hard state, snapshot (or null), the entries after it, and the
 * group's initial membership (used only when there is no snapshot; config entries in the log override
 * it). A node joining an existing group starts with an empty log and any membership that does not make
 * it a voter (e.g. { voters: [], learners: [] }); it learns the real one from the leader.
 * `restored.applied` (default: the snapshot index) says how far the shell's state machine already is:
 * committed entries after it are handed out again in ready().committed.
 */
import { campaign, handlePreVote, handlePreVoteResp, handleTimeoutNow, handleVote, handleVoteResp } from "./election";
import { handleAppend, handleInstallSnapshot } from "./follower";
import { RaftLog } from "./log";
import { applyChange, encodeMembership, isVoter, type MembershipRejection } from "./membership";
import { leaseRead, leaseReadOrReadIndex, type LeaseOrIndexResult, type ReadRejection, requestReadIndex } from "./reads";
import type { PeerProgress, Ready } from "./ready";
import {
  appendLocal,
  broadcastHeartbeat,
  flush,
  handleAppendResp,
  handleSnapshotResp,
  maybeSendTimeoutNow,
  quorumActive,
  sendAppend,
} from "./replication";
import { maybeQuiesce, maybeQuiesceFollower, onClientActivity, wakeOnMessage } from "./quiesce";
import { type RaftConfig, RaftState, resolveConfig } from "./state";
import type { AppendRespMessage, Entry, HardState, Membership, MembershipChange, Message, NodeId, PreVoteRespMessage, Role, Snapshot, SnapshotRespMessage, SoftState } from "./types";

export type { RaftConfig } from "./state";
export type { LeaseOrIndexResult } from "./reads";

export interface RestoredState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** The stored entries after the snapshot, in order. */
  entries: Entry[];
  /** The group's membership at index 0 (ignored when a snapshot is given). */
  membership: Membership;
  applied?: number;
  /**
   * This node led the group in its stored term when it stopped (the shell stores the term it took office
   * in): it campaigns on its first tick instead of after a random timeout. Safe: a node acknowledges a
   * leader of a higher term only after persisting that term, so a node whose stored term is one it led
   * has promised no other leader anything (its restart promise protects nobody), and its followers, who
   * see a campaign from the very member they follow, grant at once (see step). A crash of a quiet (or
   * any) leader whose object restarts on the next call then costs that call about one tick and one
   * election round.
   */
  ledBeforeRestart?: boolean;
  /**
   * The leader this node followed in its stored term when it stopped (the shell stores it when it learns
   * it). Only so that a campaign from that leader, restarted too, is recognised as one (see step): a
   * Durable Object evicted while its group was quiet comes back knowing whom it followed. Votes in that
   * term are refused to others as before a restart; the restart promise still holds for everyone else.
   */
  leaderBeforeRestart?: NodeId | null;
}

export type ProposeRejection = "not_leader" | "transferring";
export type ProposeResult = { ok: true; index: number; term: number } | { ok: false; reason: ProposeRejection; leader: NodeId | null };
export type MembershipResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: ProposeRejection | MembershipRejection | "change_pending" | "no_commit_in_term" | "not_caught_up"; leader: NodeId | null };
export type TransferResult = { ok: true } | { ok: false; reason: "not_leader" | "not_voter" | "self"; leader: NodeId | null };

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  membership: Membership;
  /** Campaigns this node started (PreVote or election, TimeoutNow included) since it started. */
  electionsStarted: number;
  /** Leaders (a new leader, or a new term of the same one) this node observed since it started. */
  leaderChanges: number;
  /** This node's ticks since it started. */
  ticks: number;
  /** The group is idle and this node's clock is stopped until a client or a message wakes it. */
  quiesced: boolean;
  /** Leader only. */
  progress?: PeerProgress[];
  transferee?: NodeId | null;
}

export class RaftNode {
  private readonly s: RaftState;
  private prevHard: HardState;
  private prevSoft: SoftState;
  /** The last committed index handed out by the ready() not yet advanced; null when none outstanding. */
  private outstanding: { appliedTo: number } | null = null;

  constructor(config: RaftConfig, restored: RestoredState, rng: () => number, now: number) {
    const cfg = resolveConfig(config);
    const snapshot = restored.snapshot ?? { index: 0, term: 0, membership: restored.membership, data: "" };
    const hs = restored.hardState;
    const log = new RaftLog(snapshot, restored.entries, hs.commit, restored.applied ?? snapshot.index);
    this.s = new RaftState(cfg, log, hs.term, hs.vote, log.membershipAt(log.lastIndex()), rng, now);
    this.prevHard = { term: hs.term, vote: hs.vote, commit: log.commit };
    if (restored.ledBeforeRestart === true) this.s.electionTimeout = 1;
    const followed = restored.leaderBeforeRestart ?? null;
    if (followed !== null && followed !== cfg.id && this.s.role === "follower") {
      this.s.leader = followed;
      this.prevSoft = { role: this.s.statusRole(), leader: followed };
    }
    this.prevSoft = { role: this.s.statusRole(), leader: null };
  }

  get id(): NodeId {
    return this.s.id;
  }

  /** The current term (status() without building the whole report). */
  get term(): number {
    return this.s.term;
  }

  /** The leader this node knows of in its term, if any. */
  get leader(): NodeId | null {
    return this.s.leader;
  }

  /**
   * One tick of this node's clock (etcd's Tick): a follower counts toward its election timeout, a leader
   * toward its next heartbeat, and checks its quorum. However late the shell's timer fired, this is ONE
   * tick: a late alarm is not a missed heartbeat.
   */
  tick(now: number): void {
    const s = this.at(now);
    // A quiesced node's clock stands still (its shell arms no alarm; a stray one is not a tick).
    if (s.quiesced) return;
    s.ticks++;
    if (s.role === "leader") {
      if (s.transferee !== null && s.ticks >= s.transferDeadlineTick) s.transferee = null;
      if (s.cfg.checkQuorum && !quorumActive(s)) {
        s.becomeFollower(s.term, null);
        return;
      }
      if (maybeQuiesce(s)) return;
      if (++s.heartbeatElapsed < s.cfg.heartbeatTicks) return;
      s.heartbeatElapsed = 0;
      broadcastHeartbeat(s);
      return;
    }
    if (++s.electionElapsed < s.electionTimeout) return;
    if (s.isVoter()) {
      s.electionsStarted++;
      campaign(s, s.cfg.preVote ? "pre" : "real");
    } else s.resetElectionTimer();
    s.observeLeader(); // a lone voter wins at once
  }

  /** Handle one message from a peer (Figure 2 "rules for all servers" first, then per type). */
  step(m: Message, now: number): void {
    this.stepMessage(m, now);
    this.s.observeLeader();
  }

  private stepMessage(m: Message, now: number): void {
    const s = this.at(now);
    if (m.to !== s.id || m.from === s.id) return;
    wakeOnMessage(s, m);
    if ((m.type === "PreVote" || m.type === "Vote") && m.term > s.term && s.role === "follower" && m.from === s.leader) {
      // Our leader campaigns: it lost its leadership (a restart), so it serves no lease our promise
      // protects. Stop honouring that lease now rather than after a timeout (see quiesce.ts).
      s.leader = null;
      s.heardFromLeaderTick = s.ticks - s.cfg.electionTicks;
    }
    if (m.term > s.term) {
      if (m.type === "PreVote" || (m.type === "PreVoteResp" && m.granted)) {
        // §9.6: pre-votes never change terms.
      } else if (m.type === "Vote" && !m.transfer && s.inLease()) {
        return; // disruption rule: ignore it entirely, do not even adopt the term
      } else {
        const fromLeader = m.type === "Append" || m.type === "InstallSnapshot";
        s.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < s.term) {
      // A stale leader learns our term from the answer (needed with PreVote/CheckQuorum, where a
      // node with a higher term cannot win an election to tell it otherwise).
      if (m.type === "Append") s.send<AppendRespMessage>({ type: "AppendResp", to: m.from, success: false, index: m.prevIndex, matchIndex: 0, context: m.context });
      else if (m.type === "InstallSnapshot") s.send<SnapshotRespMessage>({ type: "SnapshotResp", to: m.from, matchIndex: 0, context: m.context });
      else if (m.type === "PreVote") s.send<PreVoteRespMessage>({ type: "PreVoteResp", to: m.from, granted: false });
      return;
    }
    switch (m.type) {
      case "PreVote":
        return handlePreVote(s, m);
      case "PreVoteResp":
        return handlePreVoteResp(s, m);
      case "Vote":
        return handleVote(s, m);
      case "VoteResp":
        return handleVoteResp(s, m);
      case "Append":
        if (s.role !== "leader") {
          handleAppend(s, m);
          maybeQuiesceFollower(s, m);
        }
        return;
      case "InstallSnapshot":
        if (s.role !== "leader") handleInstallSnapshot(s, m);
        return;
      case "AppendResp":
        if (s.role === "leader") handleAppendResp(s, m);
        return;
      case "SnapshotResp":
        if (s.role === "leader") handleSnapshotResp(s, m);
        return;
      case "TimeoutNow":
        return handleTimeoutNow(s, m);
    }
  }

  /** Append a client command; it goes out with the other proposals of this batch at the next ready(). */
  propose(data: string, now: number): ProposeResult {
    const s = this.at(now);
    onClientActivity(s);
    if (s.role !== "leader") return { ok: false, reason: "not_leader", leader: s.leader };
    if (s.transferee !== null) return { ok: false, reason: "transferring", leader: s.id };
    const e = appendLocal(s, "normal", data);
    return { ok: true, index: e.index, term: e.term };
  }

  /**
   * Single-server membership change (dissertation §4.1 / §4.2.3): one at a time, only after the leader
   * committed an entry of its term, and a learner is promoted only once it holds every committed entry
   * and answered within the last electionTicks ticks.
   */
  proposeMembership(change: MembershipChange, now: number): MembershipResult {
    const s = this.at(now);
    onClientActivity(s);
    if (s.role !== "leader") return { ok: false, reason: "not_leader", leader: s.leader };
    if (s.transferee !== null) return { ok: false, reason: "transferring", leader: s.id };
    // A config change before the first commit of the term can lose a committed change (Ongaro, raft-dev 2015).
    if (!s.committedInTerm) return { ok: false, reason: "no_commit_in_term", leader: s.id };
    if (s.pendingConfigIndex > s.log.commit) return { ok: false, reason: "change_pending", leader: s.id };
    const next = applyChange(s.membership, change);
    if (typeof next === "string") return { ok: false, reason: next, leader: s.id };
    if (change.type === "promote") {
      const pr = s.prs.get(change.node);
      const recent = pr?.lastContactTick != null && s.ticks - pr.lastContactTick <= s.cfg.electionTicks;
      if (pr === undefined || pr.match < s.log.commit || !recent) return { ok: false, reason: "not_caught_up", leader: s.id };
    }
    const e = appendLocal(s, "config", encodeMembership(next, change));
    return { ok: true, index: e.index, term: e.term };
  }

  /** Start a ReadIndex read; its ReadState appears in a later ready() (or it is listed in failedReads). */
  readIndex(requestId: string, now: number): { ok: true } | { ok: false; reason: ReadRejection; leader: NodeId | null } {
    return requestReadIndex(this.active(now), requestId);
  }

  /** A lease read: ok means the state machine may serve a read once applied >= index (see reads.ts). */
  leaseRead(now: number): { ok: true; index: number } | { ok: false; reason: ReadRejection; leader: NodeId | null } {
    return leaseRead(this.active(now));
  }

  /**
   * A lease read that falls back to ReadIndex when the lease cannot be used: "lease" may be served at once
   * (applied >= index); "readIndex" arrives as a ReadState (or failedReads) under `requestId` later.
   */
  leaseReadOrReadIndex(requestId: string, now: number): LeaseOrIndexResult {
    return leaseReadOrReadIndex(this.active(now), requestId);
  }

  /**
   * §3.10 leadership transfer: stop taking proposals, bring `to` up to date, then send it TimeoutNow.
   * Abandoned after electionTicks ticks if `to` has not taken over.
   */
  transferLeadership(to: NodeId, now: number): TransferResult {
    const s = this.active(now);
    if (s.role !== "leader") return { ok: false, reason: "not_leader", leader: s.leader };
    if (to === s.id) return { ok: false, reason: "self", leader: s.id };
    if (!isVoter(s.membership, to)) return { ok: false, reason: "not_voter", leader: s.id };
    s.transferee = to;
    s.transferDeadlineTick = s.ticks + s.cfg.electionTicks;
    maybeSendTimeoutNow(s, to);
    // Even with nothing new to send: an empty Append at `next` exposes a gap left by lost Appends.
    if (s.prs.get(to)!.match < s.log.lastIndex()) sendAppend(s, to, true);
    return { ok: true };
  }

  /**
   * Log compaction after the shell applied up to `index`: entries <= index are dropped and replaced by a
   * snapshot holding `data` and the membership at that index. The shell persists the returned snapshot
   * and deletes its stored entries <= index (this is not repeated in a Ready).
   */
  compact(index: number, data: string): Snapshot {
    return this.s.log.compact(index, data);
  }

  hasReady(): boolean {
    const s = this.s;
    if (this.outstanding !== null) return false;
    if (s.broadcastPending || s.commitBroadcastPending || s.readRoundPending) return true;
    if (s.msgs.length > 0 || s.readStates.length > 0 || s.failedReads.length > 0) return true;
    if (s.log.hasUnstable() || s.log.commit > s.log.applied) return true;
    const soft = this.softState();
    if (soft.role !== this.prevSoft.role || soft.leader !== this.prevSoft.leader) return true;
    return s.term !== this.prevHard.term || s.vote !== this.prevHard.vote || s.log.commit !== this.prevHard.commit;
  }

  /** Collect the work since the last ready() (see the contract on Ready). Call advance() when done. */
  ready(): Ready {
    if (this.outstanding !== null) throw new Error("raft: ready() called before advance()");
    const s = this.s;
    flush(s);
    const unstable = s.log.takeUnstable();
    const committed = s.log.committedAfter(s.log.applied);
    const rd: Ready = {
      entries: unstable.entries,
      messages: s.msgs,
      committed,
      readStates: s.readStates,
      failedReads: s.failedReads,
    };
    s.msgs = [];
    s.readStates = [];
    s.failedReads = [];
    if (unstable.snapshot !== null) rd.snapshot = unstable.snapshot;
    if (unstable.truncateFrom !== null) rd.truncateFrom = unstable.truncateFrom;
    const hard: HardState = { term: s.term, vote: s.vote, commit: s.log.commit };
    if (hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote || hard.commit !== this.prevHard.commit) {
      rd.hardState = hard;
      this.prevHard = hard;
    }
    const soft = this.softState();
    if (soft.role !== this.prevSoft.role || soft.leader !== this.prevSoft.leader) {
      rd.softState = soft;
      this.prevSoft = soft;
    }
    this.outstanding = { appliedTo: committed.at(-1)?.index ?? s.log.applied };
    return rd;
  }

  /** Acknowledge the last ready(): it is persisted, sent and applied. */
  advance(): void {
    if (this.outstanding === null) return;
    const log = this.s.log;
    log.applied = Math.max(log.applied, this.outstanding.appliedTo);
    this.outstanding = null;
  }

  /** Whether this node needs its clock to run: a leader (heartbeats) or a voter (election timeout); not a learner, nor a quiesced node. */
  wantsTicks(): boolean {
    if (this.s.quiesced) return false;
    return this.s.role === "leader" || this.s.isVoter();
  }

  status(): RaftStatus {
    const s = this.s;
    const st: RaftStatus = {
      id: s.id,
      role: s.statusRole(),
      term: s.term,
      vote: s.vote,
      leader: s.leader,
      commit: s.log.commit,
      applied: s.log.applied,
      lastIndex: s.log.lastIndex(),
      snapshotIndex: s.log.snapshot.index,
      membership: { voters: [...s.membership.voters], learners: [...s.membership.learners] },
      electionsStarted: s.electionsStarted,
      leaderChanges: s.leaderChanges,
      ticks: s.ticks,
      quiesced: s.quiesced,
    };
    if (s.role === "leader") {
      st.progress = [...s.prs].map(([id, p]) => ({ id, match: p.match, next: p.next, state: p.state, lastContact: p.lastContact }));
      st.transferee = s.transferee;
    }
    return st;
  }

  private softState(): SoftState {
    return { role: this.s.statusRole(), leader: this.s.leader };
  }

  /** The state at `now`, after a client's call woke the node (see onClientActivity). */
  private active(now: number): RaftState {
    const s = this.at(now);
    onClientActivity(s);
    return s;
  }

  private at(now: number): RaftState {
    if (now > this.s.now) this.s.now = now;
    return this.s;
  }
}
