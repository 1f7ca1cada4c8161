import { assert } from "./log";
import { isVoter, parseMembership, peersOf, quorumValue } from "./membership";
import { Progress } from "./progress";
import { resolveReads } from "./reads";
import type { RaftState } from "./state";
import type {
  AppendMessage,
  AppendRespMessage,
  Entry,
  EntryKind,
  InstallSnapshotMessage,
  Membership,
  NodeId,
  SnapshotRespMessage,
  TimeoutNowMessage,
} from "./types";

/** Leader: append a new entry of the current term to the local log; it goes out at the next flush. */
export function appendLocal(s: RaftState, kind: EntryKind, data: string): Entry {
  assert(s.role === "leader", "only a leader appends local entries");
  const entry: Entry = { index: s.log.lastIndex() + 1, term: s.term, kind, data };
  s.log.append([entry]);
  s.broadcastPending = true;
  // Dissertation §4.1: a configuration takes effect as soon as it is in the log, committed or not.
  if (kind === "config") {
    s.pendingConfigIndex = entry.index;
    applyMembership(s, parseMembership(data));
  }
  maybeCommit(s);
  return entry;
}

/** Switch to a new membership (on append, or on truncation back to an older one). */
export function applyMembership(s: RaftState, m: Membership): void {
  s.membership = m;
  if (s.role !== "leader") return;
  const peers = new Set(peersOf(m, s.id));
  for (const id of [...s.prs.keys()]) if (!peers.has(id)) s.prs.delete(id);
  for (const id of peers) if (!s.prs.has(id)) s.prs.set(id, new Progress(s.log.lastIndex() + 1));
  if (s.transferee !== null && !isVoter(m, s.transferee)) s.transferee = null;
}

/**
 * Send the next Append (or an InstallSnapshot when the entries it needs are compacted) to one peer,
 * unless the peer is paused (probe outstanding, snapshot in flight, pipeline full). Returns whether
 * something was sent. With `sendIfEmpty`, an Append without entries still goes out (carrying commit).
 */
export function sendAppend(s: RaftState, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = s.prs.get(to);
  if (pr === undefined || pr.isPaused(s.cfg.maxInflightAppends)) return false;
  const log = s.log;
  if (pr.next > log.lastIndex() + 1) pr.next = log.lastIndex() + 1;
  const prevIndex = pr.next - 1;
  const prevTerm = log.term(prevIndex);
  if (prevTerm === undefined) {
    // §7: the entries this follower needs are compacted away.
    s.send<InstallSnapshotMessage>({ type: "InstallSnapshot", to, snapshot: log.snapshot, context: s.round });
    pr.becomeSnapshot(log.snapshot.index, s.ticks);
    return true;
  }
  const last = Math.min(log.lastIndex(), prevIndex + s.cfg.maxEntriesPerAppend);
  const entries = log.slice(pr.next, last);
  if (entries.length === 0 && !sendIfEmpty) return false;
  s.send<AppendMessage>({ type: "Append", to, prevIndex, prevTerm, entries, commit: log.commit, context: s.round });
  pr.onSent(entries.length > 0 ? last : null);
  return true;
}

/**
 * A heartbeat: an empty Append at the point where the logs are known to match, so it always succeeds
 * and safely carries the commit index. It also unpauses a probe and retries an overdue snapshot.
 */
export function sendHeartbeat(s: RaftState, to: NodeId, quiesce = false): void {
  const pr = s.prs.get(to);
  if (pr === undefined) return;
  if (pr.state === "probe") pr.probeSent = false;
  if (pr.state === "snapshot" && s.ticks - pr.snapshotSentTick >= s.cfg.snapshotRetryTicks) pr.becomeProbe();
  let prevIndex = pr.match;
  let prevTerm = s.log.term(prevIndex);
  if (prevTerm === undefined) {
    // Compacted: index 0 matches every log and leaves the follower's commit unchanged.
    prevIndex = 0;
    prevTerm = 0;
  }
  s.send<AppendMessage>({ type: "Append", to, prevIndex, prevTerm, entries: [], commit: s.log.commit, context: s.round, ...(quiesce ? { quiesce: true } : {}) });
}

/** Start a heartbeat round and send it to every peer. */
export function broadcastHeartbeat(s: RaftState): void {
  s.startRound();
  for (const id of s.prs.keys()) sendHeartbeat(s, id);
}

/** Turn what was batched since the last ready() into messages: one Append per follower. */
export function flush(s: RaftState): void {
  if (s.role !== "leader") return;
  if (s.readRoundPending) for (const id of s.prs.keys()) sendHeartbeat(s, id);
  if (s.broadcastPending || s.commitBroadcastPending) {
    for (const id of s.prs.keys()) {
      // Fill the pipeline: in replicate state several Appends may go out (maxEntriesPerAppend each).
      let sent = sendAppend(s, id, s.commitBroadcastPending);
      while (sent && s.prs.get(id)?.state === "replicate") sent = sendAppend(s, id, false);
    }
  }
  s.readRoundPending = false;
  s.broadcastPending = false;
  s.commitBroadcastPending = false;
}

/**
 * §5.3 / §5.4.2 (Figure 8): commit the highest index stored on a majority of voters, but only if that
 * entry is from the current term; earlier entries then commit indirectly. Learners never count.
 */
export function maybeCommit(s: RaftState): void {
  if (s.role !== "leader") return;
  const q = quorumValue(s.membership, (id) => (id === s.id ? s.log.lastIndex() : (s.prs.get(id)?.match ?? 0)));
  if (q <= s.log.commit || s.log.term(q) !== s.term) return;
  s.log.commit = q;
  s.commitBroadcastPending = true;
  if (!s.committedInTerm) {
    s.committedInTerm = true;
    for (const r of s.reads) if (r.index === null) r.index = q;
  }
  resolveReads(s);
  // Dissertation §4.2.2: a leader removed from the configuration steps down once the removal commits.
  if (!isVoter(s.membership, s.id) && s.pendingConfigIndex <= s.log.commit) stepDownAfterRemoval(s);
}

function stepDownAfterRemoval(s: RaftState): void {
  flush(s); // let the followers learn the commit of the removal
  let best: NodeId | null = null;
  for (const id of s.membership.voters) {
    const pr = s.prs.get(id);
    if (pr !== undefined && (best === null || pr.match > s.prs.get(best)!.match)) best = id;
  }
  // Hand over at once to the most caught-up voter instead of waiting for an election timeout.
  if (best !== null && s.prs.get(best)!.match === s.log.lastIndex()) s.send<TimeoutNowMessage>({ type: "TimeoutNow", to: best });
  s.becomeFollower(s.term, null);
}

/** The leader's answer to a refused Append: where to probe next, using the follower's hint (§5.3 end). */
function nextAfterRefusal(s: RaftState, pr: Progress, m: AppendRespMessage): number {
  let next: number;
  const h = m.hint;
  if (h === undefined) next = m.index;
  else if (h.kind === "short") next = h.lastIndex + 1;
  else {
    // If we hold the follower's conflicting term, our last entry of it matches theirs; else skip the term.
    const ours = s.log.lastIndexOfTerm(h.term, m.index);
    next = ours > 0 ? ours + 1 : h.firstIndex;
  }
  return Math.min(Math.max(next, pr.match + 1), m.index);
}

export function handleAppendResp(s: RaftState, m: AppendRespMessage): void {
  const pr = s.prs.get(m.from);
  if (pr === undefined) return;
  pr.lastContact = s.now;
  pr.lastContactTick = s.ticks;
  pr.ackedRound = Math.max(pr.ackedRound, m.context);
  if (m.success) {
    if (pr.maybeUpdate(m.matchIndex)) {
      if (pr.state === "probe" || (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot)) pr.becomeReplicate();
      else pr.freeUpTo(pr.match);
      maybeCommit(s);
      if (s.role !== "leader") return;
      maybeSendTimeoutNow(s, m.from);
      while (sendAppend(s, m.from, false) && pr.state === "replicate");
    } else if (pr.match < s.log.lastIndex()) {
      // An ack that taught us nothing (a heartbeat's) while the follower lags: an Append may have been
      // lost. Free a pipeline slot and probe at `next`; a refusal then rewinds us (etcd does the same).
      if (pr.state === "replicate" && pr.isPaused(s.cfg.maxInflightAppends)) pr.inflight.shift();
      sendAppend(s, m.from, true);
    }
  } else if (pr.state !== "snapshot") {
    // Drop refusals of Appends older than what we already know (pipelining reorders answers).
    if (pr.state === "replicate" ? m.index <= pr.match : m.index !== pr.next - 1) {
      resolveReads(s);
      return;
    }
    const next = nextAfterRefusal(s, pr, m);
    pr.becomeProbe();
    pr.next = next;
    sendAppend(s, m.from, true);
  }
  resolveReads(s);
}

export function handleSnapshotResp(s: RaftState, m: SnapshotRespMessage): void {
  const pr = s.prs.get(m.from);
  if (pr === undefined) return;
  pr.lastContact = s.now;
  pr.lastContactTick = s.ticks;
  pr.ackedRound = Math.max(pr.ackedRound, m.context);
  pr.maybeUpdate(m.matchIndex);
  if (pr.state === "snapshot") pr.becomeReplicate();
  maybeCommit(s);
  if (s.role !== "leader") return;
  maybeSendTimeoutNow(s, m.from);
  while (sendAppend(s, m.from, false) && pr.state === "replicate");
  resolveReads(s);
}

/** Leadership transfer: once the target has every entry, tell it to campaign now. */
export function maybeSendTimeoutNow(s: RaftState, to: NodeId): void {
  if (s.transferee !== to) return;
  if (s.prs.get(to)?.match === s.log.lastIndex()) s.send<TimeoutNowMessage>({ type: "TimeoutNow", to });
}

/**
 * CheckQuorum, counted in the leader's own ticks: has a majority of voters answered within the last
 * electionTicks ticks? A leader whose event loop runs late ticks late too, so its own lateness never
 * looks like silent followers; only answers that stop coming while its clock runs do.
 */
export function quorumActive(s: RaftState): boolean {
  const contact = (id: NodeId): number => (id === s.id ? s.ticks : (s.prs.get(id)?.lastContactTick ?? s.leaderSinceTick));
  return s.ticks - quorumValue(s.membership, contact) <= s.cfg.electionTicks;
}
