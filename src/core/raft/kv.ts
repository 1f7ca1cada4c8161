import { z } from "zod";
import type { Entry } from "./types";

/**
 * The replicated key-value state machine applied to committed Raft entries. Pure and deterministic:
 * every replica that applies the same entries in the same order holds the same data, revisions,
 * sessions and results, so any replica can answer a retried command the same way.
 *
 * - Each key carries a revision: the log index of the entry that last wrote it.
 * - Exactly-once: a command may carry {clientId, seq}. Per client the last seq and its result are kept;
 *   a command with that seq again returns the recorded result without applying, an older seq is refused
 *   ("stale_sequence"), a newer one is applied. Clients must number their commands increasingly and
 *   have at most one in flight.
 * - Session expiry is by log position, not time, so it is identical on every replica: a session idle for
 *   more than `sessionTtlEntries` applied entries is forgotten, after which a retry of its last command
 *   would apply again. Clients must therefore retry within that window.
 */

/** Sessions idle for this many applied entries are forgotten: clients must retry within that window. */
export const DEFAULT_SESSION_TTL_ENTRIES = 10_000;

const session = { clientId: z.string().min(1).optional(), seq: z.number().int().nonnegative().optional() };

const commandSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("put"), key: z.string(), value: z.string(), ...session }),
  z.object({ op: z.literal("delete"), key: z.string(), ...session }),
  z.object({
    op: z.literal("cas"),
    key: z.string(),
    /** The new value; null deletes the key. */
    value: z.string().nullable(),
    /** Expected current value; null means "the key must not exist". */
    expectedValue: z.string().nullable().optional(),
    /** Expected current revision; 0 means "the key must not exist". */
    expectedRevision: z.number().int().nonnegative().optional(),
    ...session,
  }),
]);

export type KvCommand = z.infer<typeof commandSchema>;

export interface KvRecord {
  value: string;
  revision: number;
}

/**
 * `prev` (the record a write replaced) and `current` (the record a failed cas found) are answered on
 * the first execution only: a session keeps the result without them, so a retried command answers
 * without them, and sessions never hold on to overwritten values (they would fill memory and snapshots).
 */
export type KvResult =
  | { ok: true; op: "put" | "delete" | "cas"; revision: number; prev?: KvRecord | null }
  | { ok: false; code: "cas_failed"; current?: KvRecord | null }
  | { ok: false; code: "stale_sequence"; lastSeq: number }
  | { ok: false; code: "invalid_command"; message: string };

interface Session {
  seq: number;
  result: KvResult;
  lastIndex: number;
}

interface SnapshotShape {
  v: 1;
  appliedIndex: number;
  records: [string, string, number][];
  sessions: [string, number, number, KvResult][];
}

/** What a session keeps of a result: everything but the values it carried. */
function withoutValues(r: KvResult): KvResult {
  if (r.ok) return { ok: true, op: r.op, revision: r.revision };
  if (r.code === "cas_failed") return { ok: false, code: "cas_failed" };
  return r;
}

/** Serialize a command for Raft propose(). */
export function encodeCommand(cmd: KvCommand): string {
  return JSON.stringify(cmd);
}

export class KvStateMachine {
  private data = new Map<string, KvRecord>();
  /** Insertion order == order of last activity (re-inserted on every use), so expiry pops from the front. */
  private sessions = new Map<string, Session>();
  private applied = 0;

  constructor(private readonly sessionTtlEntries: number = DEFAULT_SESSION_TTL_ENTRIES) {}

  get appliedIndex(): number {
    return this.applied;
  }

  /**
   * Apply one committed entry. Returns the command's result, or null for noop/config entries and for an
   * entry at or below the applied index (a harmless replay after restart).
   */
  apply(entry: Entry): KvResult | null {
    if (entry.index <= this.applied) return null;
    this.applied = entry.index;
    this.expireSessions(entry.index);
    if (entry.kind !== "normal") return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(entry.data);
    } catch {
      return { ok: false, code: "invalid_command", message: "entry is not JSON" };
    }
    const cmd = commandSchema.safeParse(parsed);
    // A malformed command is answered, not thrown: throwing would wedge every replica on the same entry.
    if (!cmd.success) return { ok: false, code: "invalid_command", message: cmd.error.issues[0]?.message ?? "invalid" };
    const { clientId, seq } = cmd.data;
    if (clientId === undefined || seq === undefined) return this.execute(cmd.data, entry.index);
    const s = this.sessions.get(clientId);
    if (s !== undefined && seq === s.seq) {
      this.touch(clientId, s, entry.index);
      return s.result;
    }
    if (s !== undefined && seq < s.seq) return { ok: false, code: "stale_sequence", lastSeq: s.seq };
    const result = this.execute(cmd.data, entry.index);
    this.touch(clientId, { seq, result: withoutValues(result), lastIndex: entry.index }, entry.index);
    return result;
  }

  get(key: string): KvRecord | null {
    return this.data.get(key) ?? null;
  }

  /** Keys starting with `prefix`, in key order, strictly after `after` if given, at most `limit`. */
  list(prefix: string, opts: { limit?: number; after?: string } = {}): { key: string; value: string; revision: number }[] {
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix) && (opts.after === undefined || k > opts.after)).sort();
    return keys.slice(0, opts.limit ?? keys.length).map((key) => ({ key, ...this.data.get(key)! }));
  }

  get size(): number {
    return this.data.size;
  }

  /** The last recorded seq of a client session (for tests and diagnostics). */
  sessionSeq(clientId: string): number | null {
    return this.sessions.get(clientId)?.seq ?? null;
  }

  /** Canonical JSON of the whole state (keys sorted, sessions in activity order). */
  snapshot(): string {
    const records: SnapshotShape["records"] = [...this.data.keys()].sort().map((k) => {
      const r = this.data.get(k)!;
      return [k, r.value, r.revision];
    });
    const sessions: SnapshotShape["sessions"] = [...this.sessions].map(([id, s]) => [id, s.seq, s.lastIndex, s.result]);
    const shape: SnapshotShape = { v: 1, appliedIndex: this.applied, records, sessions };
    return JSON.stringify(shape);
  }

  /** Replace the whole state by a snapshot() string (an empty string is the empty state). */
  restore(snapshot: string): void {
    this.data.clear();
    this.sessions.clear();
    this.applied = 0;
    if (snapshot === "") return;
    const shape = JSON.parse(snapshot) as SnapshotShape;
    if (shape.v !== 1) throw new Error("kv: unknown snapshot version");
    this.applied = shape.appliedIndex;
    for (const [k, value, revision] of shape.records) this.data.set(k, { value, revision });
    for (const [id, seq, lastIndex, result] of shape.sessions) this.sessions.set(id, { seq, lastIndex, result });
  }

  private execute(cmd: KvCommand, index: number): KvResult {
    const prev = this.data.get(cmd.key) ?? null;
    if (cmd.op === "put") {
      this.data.set(cmd.key, { value: cmd.value, revision: index });
      return { ok: true, op: "put", revision: index, prev };
    }
    if (cmd.op === "delete") {
      this.data.delete(cmd.key);
      return { ok: true, op: "delete", revision: index, prev };
    }
    if (cmd.expectedValue === undefined && cmd.expectedRevision === undefined) {
      return { ok: false, code: "invalid_command", message: "cas needs expectedValue or expectedRevision" };
    }
    const valueOk = cmd.expectedValue === undefined || (prev?.value ?? null) === cmd.expectedValue;
    const revisionOk = cmd.expectedRevision === undefined || (prev?.revision ?? 0) === cmd.expectedRevision;
    if (!valueOk || !revisionOk) return { ok: false, code: "cas_failed", current: prev };
    if (cmd.value === null) this.data.delete(cmd.key);
    else this.data.set(cmd.key, { value: cmd.value, revision: index });
    return { ok: true, op: "cas", revision: index, prev };
  }

  private touch(clientId: string, s: Session, index: number): void {
    s.lastIndex = index;
    this.sessions.delete(clientId);
    this.sessions.set(clientId, s);
  }

  private expireSessions(index: number): void {
    for (const [id, s] of this.sessions) {
      if (index - s.lastIndex <= this.sessionTtlEntries) break;
      this.sessions.delete(id);
    }
  }
}
