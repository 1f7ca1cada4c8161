import { applyMembership } from "./replication";
import type { RaftState } from "./state";
import type { AppendMessage, AppendRespMessage, InstallSnapshotMessage, NodeId, RejectHint, SnapshotRespMessage } from "./types";

/**
 * Any valid message from the current leader (Append, heartbeat, InstallSnapshot): follow it, restart the
 * election timer, renew its lease. (TimeoutNow is the leader's too, but it asks for an election at once.)
 */
function followLeader(s: RaftState, leader: NodeId): void {
  if (s.role !== "follower") s.becomeFollower(s.term, leader);
  s.leader = leader;
  s.heardFromLeader();
}

/**
 * Figure 2 AppendEntries receiver (the term check is done by the caller). Entries at or below our commit
 * index are known to match (Leader Completeness), so only the uncommitted suffix is compared. A refusal
 * carries a hint that lets the leader skip a whole conflicting term per round trip.
 */
export function handleAppend(s: RaftState, m: AppendMessage): void {
  followLeader(s, m.from);
  const log = s.log;
  if (m.prevIndex > log.commit && log.term(m.prevIndex) !== m.prevTerm) {
    const hint: RejectHint =
      m.prevIndex > log.lastIndex()
        ? { kind: "short", lastIndex: log.lastIndex() }
        : { kind: "term", term: log.term(m.prevIndex)!, firstIndex: log.firstIndexOfTermAt(m.prevIndex) };
    s.send<AppendRespMessage>({ type: "AppendResp", to: m.from, success: false, index: m.prevIndex, matchIndex: 0, hint, context: m.context });
    return;
  }
  if (log.appendFromLeader(m.entries)) applyMembership(s, log.membershipAt(log.lastIndex()));
  // Only entries this message vouches for may be committed: our log beyond them is unverified.
  const lastNew = m.prevIndex + m.entries.length;
  const commit = Math.min(m.commit, lastNew);
  if (commit > log.commit) log.commit = commit;
  s.send<AppendRespMessage>({ type: "AppendResp", to: m.from, success: true, index: m.prevIndex, matchIndex: lastNew, context: m.context });
}

/**
 * Figure 13 InstallSnapshot receiver. A snapshot we already cover is acknowledged at our commit index;
 * one whose last entry we hold keeps the log after it; otherwise the whole log and state are replaced
 * (the shell restores its state machine from the snapshot in the next Ready).
 */
export function handleInstallSnapshot(s: RaftState, m: InstallSnapshotMessage): void {
  followLeader(s, m.from);
  const log = s.log;
  const snap = m.snapshot;
  let matchIndex: number;
  if (snap.index <= log.commit) {
    matchIndex = log.commit;
  } else if (log.term(snap.index) === snap.term) {
    log.commit = snap.index;
    matchIndex = snap.index;
  } else {
    log.installSnapshot(snap);
    applyMembership(s, snap.membership);
    matchIndex = snap.index;
  }
  s.send<SnapshotRespMessage>({ type: "SnapshotResp", to: m.from, matchIndex, context: m.context });
}
