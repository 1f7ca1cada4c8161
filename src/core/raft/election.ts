import { peersOf, quorumSize } from "./membership";
import { Progress } from "./progress";
import { appendLocal } from "./replication";
import type { RaftState } from "./state";
import type { PreVoteMessage, PreVoteRespMessage, TimeoutNowMessage, VoteMessage, VoteRespMessage } from "./types";

/**
 * Start an election (§5.2). "pre" runs the PreVote phase (§9.6) without touching the term; "real"
 * bumps the term and votes for itself; "transfer" is a real campaign after TimeoutNow whose Vote
 * messages ask voters to skip the leader-lease check.
 */
export function campaign(s: RaftState, kind: "pre" | "real" | "transfer"): void {
  if (!s.isVoter()) return;
  s.quiesced = false;
  s.leader = null;
  s.votes = new Map([[s.id, true]]);
  s.resetElectionTimer();
  const voters = s.membership.voters.filter((id) => id !== s.id);
  const lastLogIndex = s.log.lastIndex();
  const lastLogTerm = s.log.lastTerm();
  if (kind === "pre") {
    s.role = "pre-candidate";
    for (const to of voters) s.send<PreVoteMessage>({ type: "PreVote", to, term: s.term + 1, lastLogIndex, lastLogTerm });
  } else {
    s.role = "candidate";
    s.term += 1;
    s.vote = s.id;
    const transfer = kind === "transfer";
    for (const to of voters) s.send<VoteMessage>({ type: "Vote", to, lastLogIndex, lastLogTerm, transfer });
  }
  tallyVotes(s);
}

/** Count the votes of the current campaign: win, lose, or keep waiting. */
function tallyVotes(s: RaftState): void {
  let granted = 0;
  let refused = 0;
  for (const id of s.membership.voters) {
    const v = s.votes.get(id);
    if (v === true) granted++;
    else if (v === false) refused++;
  }
  const q = quorumSize(s.membership);
  if (granted >= q) {
    if (s.role === "pre-candidate") campaign(s, "real");
    else becomeLeader(s);
  } else if (refused > s.membership.voters.length - q) {
    s.becomeFollower(s.term, null);
  }
}

/** §9.6: grant a pre-vote iff the candidate's log is up to date and we are not in touch with a leader. */
export function handlePreVote(s: RaftState, m: PreVoteMessage): void {
  const granted = m.term > s.term && s.log.isUpToDate(m.lastLogIndex, m.lastLogTerm) && !s.inLease();
  s.send<PreVoteRespMessage>({ type: "PreVoteResp", to: m.from, term: granted ? m.term : s.term, granted });
}

export function handlePreVoteResp(s: RaftState, m: PreVoteRespMessage): void {
  if (s.role !== "pre-candidate") return;
  // Granted answers carry our prospective term; refusals carry the voter's own (not higher) term.
  if (m.granted ? m.term !== s.term + 1 : m.term !== s.term) return;
  s.votes.set(m.from, m.granted);
  tallyVotes(s);
}

/**
 * Figure 2 RequestVote: grant if we have not voted for someone else in this term (and know of no leader
 * in it) and the candidate's log is at least as up to date as ours (§5.4.1). Granting resets our timer.
 */
export function handleVote(s: RaftState, m: VoteMessage): void {
  const canVote = s.vote === m.from || (s.vote === null && s.leader === null);
  const granted = m.term === s.term && canVote && s.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
  if (granted) {
    s.vote = m.from;
    s.resetElectionTimer();
  }
  s.send<VoteRespMessage>({ type: "VoteResp", to: m.from, granted });
}

export function handleVoteResp(s: RaftState, m: VoteRespMessage): void {
  if (s.role !== "candidate" || m.term !== s.term) return;
  s.votes.set(m.from, m.granted);
  tallyVotes(s);
}

/** §3.10 leadership transfer: the leader told us to campaign now, skipping PreVote. */
export function handleTimeoutNow(s: RaftState, m: TimeoutNowMessage): void {
  if (s.role === "leader" || m.term !== s.term || !s.isVoter()) return;
  s.electionsStarted++;
  campaign(s, "transfer");
}

/** Take office: fresh progress for every peer, then a noop so entries of earlier terms can commit (§5.4.2). */
export function becomeLeader(s: RaftState): void {
  s.role = "leader";
  s.leader = s.id;
  s.votes.clear();
  s.leaderSinceTick = s.ticks;
  s.heartbeatElapsed = 0;
  s.transferee = null;
  s.committedInTerm = false;
  s.reads = [];
  s.round = 0;
  s.roundStartedAt.clear();
  s.quiesced = false;
  s.activityTick = s.ticks;
  s.minLeaseRound = 0;
  s.startRound();
  s.pendingConfigIndex = s.log.lastConfigIndex();
  s.prs.clear();
  for (const id of peersOf(s.membership, s.id)) s.prs.set(id, new Progress(s.log.lastIndex() + 1));
  appendLocal(s, "noop", "");
}
