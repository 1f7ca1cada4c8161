import type { Entry, HardState, Message, NodeId, ReadState, Snapshot, SoftState } from "./types";

/**
 * Everything the node wants done since the last ready(). The shell MUST process it in this order:
 *
 * 1. Persist, atomically if it can (one SQLite transaction):
 *    a. `snapshot`: replace the stored log by it (delete every stored entry, store the snapshot);
 *    b. `truncateFrom`: delete stored entries with index >= truncateFrom (a conflicting suffix; always
 *       set to snapshot.index + 1 together with a snapshot, since that discards the whole old log);
 *    c. append `entries` (already numbered; they follow the stored log exactly);
 *    d. `hardState`: store term, vote and commit.
 * 2. Only then send `messages` (fire and forget; Raft tolerates loss, duplication and reordering).
 *    Votes and acknowledgements in them promise that step 1 is durable.
 * 3. Apply to the state machine, in order: `snapshot` first (restore from `snapshot.data`), then each of
 *    `committed` (including "noop" and "config" entries, which the KV machine skips).
 * 4. Serve each `readStates` request once the applied index is >= its index (immediately after step 3,
 *    since reads never point past `committed`); fail `failedReads` (leadership was lost; retry elsewhere).
 * 5. Call advance(). Until then ready() may not be called again (step/tick/propose may).
 *
 * A proposal at (index, term) succeeded iff a committed entry at that index has that term; if the
 * committed entry at that index has another term, the proposal was lost and may be retried.
 */
export interface Ready {
  hardState?: HardState;
  snapshot?: Snapshot;
  truncateFrom?: number;
  entries: Entry[];
  messages: Message[];
  committed: Entry[];
  readStates: ReadState[];
  failedReads: string[];
  /** Present when the role or the known leader changed. */
  softState?: SoftState;
}

export interface PeerProgress {
  id: NodeId;
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  /** Last time (the shell's ms) this peer answered the leader; null if never in this term. */
  lastContact: number | null;
}
