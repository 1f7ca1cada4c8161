/**
 * Data types of the Raft core. Everything here is plain JSON (no Maps, no classes, no undefined inside
 * arrays) because entries and snapshots are stored in Durable Object SQLite and messages travel over RPC.
 */

export type NodeId = string;

/** "config" entries carry a full Membership (see membership.ts); "noop" is a new leader's first entry. */
export type EntryKind = "normal" | "config" | "noop";

export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  data: string;
}

/** What must be durable before the node sends anything that depends on it (Figure 2 "persistent state"). */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface Membership {
  voters: NodeId[];
  learners: NodeId[];
}

/** A state-machine snapshot covering every entry up to and including `index`. */
export interface Snapshot {
  index: number;
  term: number;
  membership: Membership;
  data: string;
}

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** §9.6: sent with term = the candidate's term + 1; the sender does not change its own term. */
export interface PreVoteMessage extends MessageBase {
  type: "PreVote";
  lastLogIndex: number;
  lastLogTerm: number;
}

/** term = the PreVote's term when granted, the responder's own term when refused. */
export interface PreVoteRespMessage extends MessageBase {
  type: "PreVoteResp";
  granted: boolean;
}

export interface VoteMessage extends MessageBase {
  type: "Vote";
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when campaigning after TimeoutNow: voters skip the leader-lease check (§3.10). */
  transfer: boolean;
}

export interface VoteRespMessage extends MessageBase {
  type: "VoteResp";
  granted: boolean;
}

/**
 * AppendEntries. A heartbeat is an Append with no entries. `context` is the leader's heartbeat round,
 * echoed in the response: it confirms leadership for ReadIndex and dates the leader lease.
 */
export interface AppendMessage extends MessageBase {
  type: "Append";
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
  context: number;
  /**
   * Quiescence: the leader's last heartbeat before it stops its clock (every follower holds every entry
   * and nothing is pending). A follower that holds exactly the leader's log stops its election timer too.
   */
  quiesce?: boolean;
}

/**
 * Fast backtracking hint of a refused Append: either the follower's log is too short (`lastIndex`), or it
 * holds `term` at prevIndex and `firstIndex` is the first index of that term in its (uncommitted) log.
 */
export type RejectHint = { kind: "short"; lastIndex: number } | { kind: "term"; term: number; firstIndex: number };

export interface AppendRespMessage extends MessageBase {
  type: "AppendResp";
  success: boolean;
  /** prevIndex of the Append being answered (lets the leader drop stale refusals). */
  index: number;
  /** On success: the follower's log matches the leader's up to here. */
  matchIndex: number;
  hint?: RejectHint;
  context: number;
  /** Sent unasked by a quiesced follower that a client woke: the leader should resume heartbeats. */
  wake?: boolean;
}

export interface InstallSnapshotMessage extends MessageBase {
  type: "InstallSnapshot";
  snapshot: Snapshot;
  context: number;
}

export interface SnapshotRespMessage extends MessageBase {
  type: "SnapshotResp";
  /** The follower's log matches the leader's up to here (at least the snapshot index). */
  matchIndex: number;
  context: number;
}

/** Leadership transfer: the receiver campaigns at once, skipping PreVote. */
export interface TimeoutNowMessage extends MessageBase {
  type: "TimeoutNow";
}

export type Message =
  | PreVoteMessage
  | PreVoteRespMessage
  | VoteMessage
  | VoteRespMessage
  | AppendMessage
  | AppendRespMessage
  | InstallSnapshotMessage
  | SnapshotRespMessage
  | TimeoutNowMessage;

export type MessageType = Message["type"];

/** The role reported by status(): a follower that is a learner in the current membership shows "learner". */
export type Role = "follower" | "pre-candidate" | "candidate" | "leader" | "learner";

export interface SoftState {
  role: Role;
  leader: NodeId | null;
}

/** A linearizable read: it may be served once the state machine has applied `index`. */
export interface ReadState {
  requestId: string;
  index: number;
}

/** Single-server membership changes (Raft dissertation §4.1); new members join as learners. */
export type MembershipChange =
  | { type: "addLearner"; node: NodeId }
  | { type: "promote"; node: NodeId }
  | { type: "remove"; node: NodeId };
