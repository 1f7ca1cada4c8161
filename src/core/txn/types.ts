import type { ReplicaRecord } from "../cache/replica-state";
import type { Version } from "../cache/version";

/** One operation of a transaction. Values are UTF-8 strings; `incr` works on a decimal integer value. */
export type TxnOp =
  /** `expiresAt` (absolute ms) is for internal callers that keep an existing expiry exactly; the HTTP API takes `ttlMs`. */
  | { op: "set"; key: string; value: string; contentType?: string; ttlMs?: number; expiresAt?: number }
  | { op: "delete"; key: string }
  | { op: "incr"; key: string; by: number; ttlMs?: number };

/** A condition checked under the locks, on the newest copy of the key; a failed one aborts the transaction. */
export type TxnCondition =
  | { key: string; equals: string }
  | { key: string; exists: boolean }
  | { key: string; revision: string | null };

export interface TxnSpec {
  ops: TxnOp[];
  conditions: TxnCondition[];
}

/**
 * What a locked replica holds for a key, as it reports it in its vote: the cache's replica record
 * (an eviction marker says nothing about the value; `value` is sent only for keys whose value the
 * transaction reads: value conditions and increments).
 */
export type KeyRecord = ReplicaRecord;

/** A write the decision carries to every replica of its key: explicit value (or null = delete) and version. */
export interface TxnWrite {
  key: string;
  version: Version;
  value: string | null;
  contentType: string;
  expiresAt: number | null;
}

/** What one operation did, as the client sees it after a commit. */
export interface OpResult {
  key: string;
  op: TxnOp["op"];
  revision: Version;
  value?: string;
}

export type AbortCode =
  | "condition_failed"
  | "conflict"
  | "participant_unavailable"
  | "vote_timeout"
  | "not_an_integer"
  | "coordinator_recovered"
  | "presumed_abort";

export interface AbortReason {
  code: AbortCode;
  message: string;
  key?: string;
  /** Index into the transaction's conditions, for `condition_failed`. */
  condition?: number;
  shard?: string;
}

export type Outcome = "committed" | "aborted";

/** A participant's vote on PREPARE. */
export type Vote =
  | { vote: "yes"; records: Record<string, KeyRecord> }
  | { vote: "no"; reason: AbortReason };

/** A participant's answer to an inquiry about an in-doubt transaction. */
export type InquiryAnswer = { state: "pending" } | { state: Outcome; writes: TxnWrite[] };
