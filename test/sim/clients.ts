import type { HistoryRecorder, KvOp, OpResult } from "../../src/core/linearizability/index";
import type { NodeId } from "../../src/core/raft/types";

/** What a client sends to a node. A retry reuses {clientId, seq}, so the KV session applies it once. */
export interface ClientRequest {
  client: number;
  clientId: string;
  opId: number;
  attempt: number;
  op: KvOp;
  /** Session sequence number (writes only). */
  seq: number;
  /** Read with leaseRead instead of ReadIndex. */
  lease: boolean;
}

/**
 * A node's answer. "redirect" and "retry" say this attempt did NOT take effect (rejected before being
 * proposed, read aborted, or its log entry was overwritten at its index); "ok" carries the result.
 */
export type ClientReply =
  | { opId: number; attempt: number; kind: "ok"; result: OpResult }
  | { opId: number; attempt: number; kind: "redirect"; leader: NodeId | null }
  | { opId: number; attempt: number; kind: "retry" };

/** The simulator as seen by a client. */
export interface ClientHost {
  readonly now: number;
  readonly accepting: boolean;
  /** No new operation starts before this time (a lull); retries of one in flight go on. */
  readonly lullUntil: number;
  readonly recorder: HistoryRecorder;
  readonly nodeIds: readonly NodeId[];
  rng(): number;
  send(req: ClientRequest, to: NodeId): void;
  /** Call client.onTimer(gen) at `at`. */
  wake(client: number, at: number, gen: number): void;
}

export interface ClientTiming {
  /** Give up on one attempt (and retry elsewhere) after this long. */
  attemptTimeoutMs: number;
  /** Give up on the operation after this long: its outcome is then unknown (or void if never proposed). */
  opDeadlineMs: number;
  keys: number;
  leaseReadShare: number;
}

interface InFlight {
  opId: number;
  op: KvOp;
  seq: number;
  attempt: number;
  deadline: number;
  /** Write attempts that may have been proposed (no definite rejection came back for them). */
  open: Set<number>;
}

export interface ClientStats {
  invoked: number;
  completed: number;
  unknown: number;
  discarded: number;
  retries: number;
}

/** One closed-loop client: at most one operation in flight, retried against the leader it learns of. */
export class SimClient {
  readonly clientId: string;
  private seq = 0;
  private leaderHint: NodeId | null = null;
  private current: InFlight | null = null;
  private gen = 0;
  /** The pending wake-up is a retry after a refusal, not an attempt timeout. */
  private retrying = false;
  private readonly lastSeen = new Map<string, string | null>();

  constructor(
    private readonly index: number,
    private readonly host: ClientHost,
    private readonly timing: ClientTiming,
    private readonly stats: ClientStats,
  ) {
    this.clientId = `c${index + 1}`;
  }

  /** The operation in flight, if any. */
  get currentOpId(): number | null {
    return this.current?.opId ?? null;
  }

  get busy(): boolean {
    return this.current !== null;
  }

  /** Think for a moment, then start the next operation. */
  idle(): void {
    this.retrying = false;
    this.host.wake(this.index, Math.max(this.host.lullUntil, this.host.now + Math.floor(this.host.rng() * 40)), ++this.gen);
  }

  onTimer(gen: number): void {
    if (gen !== this.gen) return;
    const c = this.current;
    if (c === null) {
      if (this.host.accepting) this.start();
      return;
    }
    if (this.host.now >= c.deadline) return this.giveUp(c);
    if (!this.retrying) this.leaderHint = null; // the attempt timed out: try someone else
    this.retrying = false;
    this.stats.retries++;
    this.sendAttempt(c);
  }

  onReply(r: ClientReply): void {
    const c = this.current;
    if (c === null || r.opId !== c.opId) return; // a late answer to an operation already given up
    if (r.kind === "ok") {
      this.host.recorder.complete(c.opId, r.result, this.host.now);
      this.stats.completed++;
      this.remember(c.op, r.result);
      this.current = null;
      this.idle();
      return;
    }
    c.open.delete(r.attempt);
    if (r.attempt !== c.attempt) return; // an older attempt's refusal: the current one is still pending
    if (r.kind === "redirect") this.leaderHint = r.leader;
    this.retrying = true;
    const backoff = r.kind === "redirect" && r.leader !== null ? 1 : 5 + Math.floor(this.host.rng() * 30);
    this.host.wake(this.index, this.host.now + backoff, ++this.gen);
  }

  private start(): void {
    const h = this.host;
    const key = `k${Math.floor(h.rng() * this.timing.keys)}`;
    const r = h.rng();
    const value = `${this.clientId}.${this.seq + 1}`;
    let op: KvOp;
    if (r < 0.35) op = { type: "get", key };
    else if (r < 0.65) op = { type: "put", key, value };
    else if (r < 0.75) op = { type: "delete", key };
    else op = { type: "cas", key, expected: this.lastSeen.get(key) ?? null, value };
    const seq = op.type === "get" ? this.seq : ++this.seq;
    const opId = h.recorder.invoke(this.clientId, op, h.now);
    this.stats.invoked++;
    this.current = { opId, op, seq, attempt: 0, deadline: h.now + this.timing.opDeadlineMs, open: new Set() };
    this.sendAttempt(this.current);
  }

  private sendAttempt(c: InFlight): void {
    const h = this.host;
    c.attempt++;
    if (c.op.type !== "get") c.open.add(c.attempt);
    const to = this.leaderHint ?? h.nodeIds[Math.floor(h.rng() * h.nodeIds.length)]!;
    const lease = c.op.type === "get" && h.rng() < this.timing.leaseReadShare;
    h.send({ client: this.index, clientId: this.clientId, opId: c.opId, attempt: c.attempt, op: c.op, seq: c.seq, lease }, to);
    h.wake(this.index, Math.min(h.now + this.timing.attemptTimeoutMs, c.deadline), ++this.gen);
  }

  /** Out of time: unknown outcome if any attempt may have been proposed, else it never happened. */
  private giveUp(c: InFlight): void {
    if (c.open.size > 0) {
      this.host.recorder.failUnknown(c.opId);
      this.stats.unknown++;
    } else {
      this.host.recorder.discard(c.opId);
      this.stats.discarded++;
    }
    this.current = null;
    this.idle();
  }

  private remember(op: KvOp, result: OpResult): void {
    if (op.type === "get") this.lastSeen.set(op.key, (result as { value: string | null }).value);
    else if (op.type === "put") this.lastSeen.set(op.key, op.value);
    else if (op.type === "delete") this.lastSeen.set(op.key, null);
    else if ((result as { ok: boolean }).ok) this.lastSeen.set(op.key, op.value);
  }
}
