import type { Membership, MembershipChange, NodeId } from "./types";

/** A config entry's data: the full membership after the change (so any suffix of the log is self-describing). */
export function encodeMembership(membership: Membership, change: MembershipChange): string {
  return JSON.stringify({ voters: membership.voters, learners: membership.learners, change });
}

/** Parse a config entry's data (written only by encodeMembership, so a bad one is a bug). */
export function parseMembership(data: string): Membership {
  const parsed = JSON.parse(data) as { voters?: unknown; learners?: unknown };
  if (!isIdList(parsed.voters) || !isIdList(parsed.learners)) throw new Error("raft: malformed config entry");
  return { voters: parsed.voters, learners: parsed.learners };
}

function isIdList(v: unknown): v is NodeId[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isLearner(m: Membership, id: NodeId): boolean {
  return m.learners.includes(id);
}

/** Every member except `self`: the peers a leader replicates to. */
export function peersOf(m: Membership, self: NodeId): NodeId[] {
  return [...m.voters, ...m.learners].filter((id) => id !== self);
}

/** Size of a majority of the voters. */
export function quorumSize(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1;
}

/**
 * The largest value that a majority of voters has reached: the quorum-th largest of `valueOf(voter)`.
 * Used for the commit index (match indexes) and for leadership confirmation (acknowledged rounds).
 */
export function quorumValue(m: Membership, valueOf: (id: NodeId) => number): number {
  if (m.voters.length === 0) return 0;
  const values = m.voters.map(valueOf).sort((a, b) => b - a);
  return values[quorumSize(m) - 1]!;
}

export type MembershipRejection =
  | "already_member"
  | "not_member"
  | "not_learner"
  | "last_voter";

/** The membership after a single-server change, or why the change is invalid on its face. */
export function applyChange(m: Membership, change: MembershipChange): Membership | MembershipRejection {
  const { node } = change;
  const member = isVoter(m, node) || isLearner(m, node);
  switch (change.type) {
    case "addLearner":
      if (member) return "already_member";
      return { voters: [...m.voters], learners: [...m.learners, node] };
    case "promote":
      if (!isLearner(m, node)) return "not_learner";
      return { voters: [...m.voters, node], learners: m.learners.filter((id) => id !== node) };
    case "remove":
      if (!member) return "not_member";
      if (isVoter(m, node) && m.voters.length === 1) return "last_voter";
      return { voters: m.voters.filter((id) => id !== node), learners: m.learners.filter((id) => id !== node) };
  }
}
