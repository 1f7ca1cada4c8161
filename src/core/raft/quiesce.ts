import { broadcastHeartbeat, sendHeartbeat } from "./replication";
import type { RaftState } from "./state";
import type { AppendMessage, AppendRespMessage, Message } from "./types";

/**
 * Quiescence, after CockroachDB's quiesced ranges: an idle group stops its clocks, so an idle deployment
 * makes no alarms and no messages (on Cloudflare each is a billed request).
 *
 * - The leader quiesces on a tick when every peer (voters and learners) holds its whole log, everything is
 *   committed and applied, no read, transfer or configuration change is pending, and no client has been
 *   active for cfg.quiesceTicks ticks. It sends each peer a last heartbeat marked `quiesce` (carrying the
 *   commit index) and stops ticking. It serves no lease while quiesced, nor after waking until a
 *   heartbeat round sent after waking is acknowledged (minLeaseRound).
 * - A follower quiesces on that heartbeat only if its log is then exactly the leader's (same last index,
 *   same commit). One that missed it keeps ticking, times out and campaigns, which wakes the group.
 * - Waking: a proposal, read, transfer or configuration change at the leader; any message at the leader
 *   except a plain acknowledgement of its log; any message at a follower. A follower that a client woke
 *   (the client's leader may be gone) restarts its election timer and pokes the leader (`wake`).
 * - A campaign from the very node a follower follows proves that node lost its leadership (a crashed
 *   and restarted Durable Object comes back a follower): the follower stops honouring its lease at once
 *   (see step in node.ts). Its lease protected that leader's lease reads, which a restarted node no
 *   longer serves, so this is safe; it lets the first request after an idle leader crash pay one
 *   election instead of waiting out every follower's (stopped) timer.
 */

/** Leader, on a tick: quiesce if the group is idle; true when it did (the tick then ends). */
export function maybeQuiesce(s: RaftState): boolean {
  if (s.cfg.quiesceTicks === 0 || s.role !== "leader" || s.quiesced) return false;
  if (s.ticks - s.activityTick < s.cfg.quiesceTicks) return false;
  const log = s.log;
  const last = log.lastIndex();
  if (s.transferee !== null || s.reads.length > 0 || s.readRoundPending || s.broadcastPending || s.commitBroadcastPending) return false;
  if (!s.committedInTerm || log.commit !== last || log.applied !== last || log.hasUnstable() || s.pendingConfigIndex > log.commit) return false;
  for (const pr of s.prs.values()) if (pr.match !== last || pr.state !== "replicate") return false;
  s.startRound();
  for (const id of s.prs.keys()) sendHeartbeat(s, id, true);
  s.quiesced = true;
  s.minLeaseRound = s.round + 1;
  return true;
}

/** Leader: resume the clock and heartbeats (a round that starts renewing followers' timers and the lease). */
export function wakeLeader(s: RaftState): void {
  s.activityTick = s.ticks;
  if (!s.quiesced) return;
  s.quiesced = false;
  s.heartbeatElapsed = 0;
  broadcastHeartbeat(s);
}

/** Client activity at this node: a leader wakes; a quiesced follower restarts its timer and pokes its leader. */
export function onClientActivity(s: RaftState): void {
  if (s.role === "leader") return wakeLeader(s);
  if (!s.quiesced) return;
  s.quiesced = false;
  if (s.leader !== null) {
    const last = s.log.lastIndex();
    s.send<AppendRespMessage>({ type: "AppendResp", to: s.leader, success: true, index: last, matchIndex: last, context: 0, wake: true });
  }
}

/** Before a message is handled: does it wake this node? */
export function wakeOnMessage(s: RaftState, m: Message): void {
  if (!s.quiesced) return;
  if (s.role === "leader") {
    const plainAck = m.type === "AppendResp" && m.term === s.term && m.success && m.wake !== true && m.matchIndex === s.log.lastIndex();
    if (!plainAck) wakeLeader(s);
    return;
  }
  if (!(m.type === "Append" && m.quiesce === true && m.from === s.leader)) s.quiesced = false;
}

/** Follower, after handling an Append: stop the election timer if it was the leader's quiesce heartbeat and our log is its. */
export function maybeQuiesceFollower(s: RaftState, m: AppendMessage): void {
  if (m.quiesce !== true || s.role !== "follower" || s.leader !== m.from || m.term !== s.term) return;
  const log = s.log;
  s.quiesced = log.lastIndex() === m.prevIndex && log.term(m.prevIndex) === m.prevTerm && log.commit === m.commit;
}
