import { KvStateMachine, type KvResult } from "./kv";
import { RaftNode, type RaftConfig } from "./node";
import type { Ready } from "./ready";
import type { Entry, HardState, Membership, Message, NodeId, ReadState, Snapshot } from "./types";

/**
 * A tiny deterministic in-memory Raft group for tests and examples: a manual clock that ticks each node
 * every tickMs (node i a few ms after node i-1, so ticks never tie), synchronous FIFO
 * delivery, per-node "durable" storage that survives crash/restart, and a KV state machine per node.
 * It follows the Ready contract exactly as a real shell must (persist, send, apply, advance), so it
 * doubles as a reference shell. Not a simulator: no random loss or delay (tests drop or hold messages
 * explicitly through `filter`).
 */

export interface StoredNode {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  /** The term this node last led, stored when it took office (see RestoredState.ledBeforeRestart). */
  led?: number;
  /** Whom this node followed, and in which term, stored when it learned it (RestoredState.leaderBeforeRestart). */
  follows?: { term: number; leader: string };
}

export type Verdict = "deliver" | "drop" | "hold";

export interface ClusterOptions {
  /** Voters at index 0 (learners can be added later through membership changes). */
  voters: NodeId[];
  config?: Omit<RaftConfig, "id">;
  /** Randomness per node, e.g. a seeded PRNG; one per node so nodes time out at different moments. */
  rngFor: (id: NodeId) => () => number;
}

export class MemoryCluster {
  now = 0;
  readonly nodes = new Map<NodeId, RaftNode>();
  readonly kv = new Map<NodeId, KvStateMachine>();
  readonly storage = new Map<NodeId, StoredNode>();
  /** Result of every applied command, per node, by log index. */
  readonly results = new Map<NodeId, Map<number, KvResult | null>>();
  /** Every committed entry applied, per node, in order (replays after a restart appear again). */
  readonly appliedLog = new Map<NodeId, Entry[]>();
  /**
   * Figure 3 State Machine Safety, checked on every apply: the first entry applied at an index by any
   * node; applying a different entry at that index anywhere throws.
   */
  readonly appliedAt = new Map<number, Entry>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  readonly failedReads = new Map<NodeId, string[]>();
  readonly crashed = new Set<NodeId>();
  /** Messages in transit, delivered in order by stabilize(). */
  queue: Message[] = [];
  /** Messages put aside by a "hold" verdict; release() puts them back in the queue. */
  held: Message[] = [];
  /** Every message that was delivered, in order. */
  delivered: Message[] = [];
  /** Decides each message's fate; default: deliver unless the link is cut. */
  filter: (m: Message) => Verdict = () => "deliver";
  private cut = new Set<string>();
  /** When each node ticks next (ms of `now`). */
  readonly nextTick = new Map<NodeId, number>();
  /** Nodes whose clock is stopped (a stalled event loop): no ticks and no deliveries until resumed. */
  readonly stalled = new Set<NodeId>();
  /** The membership each node was first booted with (what its "configuration file" says on restart). */
  private readonly bootMembership = new Map<NodeId, Membership>();

  constructor(private readonly opts: ClusterOptions) {
    const initial = { voters: [...opts.voters], learners: [] };
    for (const id of opts.voters) this.addNode(id, initial);
  }

  /** Create a node with an empty log (a joining learner passes an empty membership). */
  addNode(id: NodeId, membership: Membership = { voters: [], learners: [] }): RaftNode {
    this.storage.set(id, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    this.results.set(id, new Map());
    this.appliedLog.set(id, []);
    this.readStates.set(id, []);
    this.failedReads.set(id, []);
    this.bootMembership.set(id, membership);
    return this.boot(id, membership);
  }

  private boot(id: NodeId, membership: Membership): RaftNode {
    const stored = this.storage.get(id)!;
    const node = new RaftNode({ ...this.opts.config, id }, { ...stored, membership }, this.opts.rngFor(id), this.now);
    const kv = new KvStateMachine();
    if (stored.snapshot !== null) kv.restore(stored.snapshot.data);
    this.nodes.set(id, node);
    this.kv.set(id, kv);
    this.crashed.delete(id);
    this.nextTick.set(id, this.now + this.tickMs + [...this.nodes.keys()].indexOf(id));
    return node;
  }

  get tickMs(): number {
    return this.opts.config?.tickMs ?? 50;
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Lose all volatile state; storage stays. Messages to it are dropped until restart. */
  crash(id: NodeId): void {
    this.crashed.add(id);
  }

  restart(id: NodeId): RaftNode {
    return this.boot(id, this.bootMembership.get(id)!);
  }

  /** Cut every link between `group` and the other nodes (both directions). */
  partition(group: NodeId[]): void {
    const inside = new Set(group);
    for (const a of this.nodes.keys()) for (const b of this.nodes.keys()) if (inside.has(a) !== inside.has(b)) this.cut.add(`${a}>${b}`);
  }

  isolate(id: NodeId): void {
    this.partition([id]);
  }

  heal(): void {
    this.cut.clear();
  }

  release(which: (m: Message) => boolean = () => true): void {
    this.queue.push(...this.held.filter(which));
    this.held = this.held.filter((m) => !which(m));
  }

  /** The live node that believes it leads in the highest term, if any. */
  leader(): NodeId | null {
    let best: { id: NodeId; term: number } | null = null;
    for (const [id, n] of this.nodes) {
      if (this.crashed.has(id)) continue;
      const st = n.status();
      if (st.role === "leader" && (best === null || st.term > best.term)) best = { id, term: st.term };
    }
    return best?.id ?? null;
  }

  /** Process every Ready and deliver every message until nothing moves. */
  stabilize(): void {
    for (let guard = 0; guard < 100_000; guard++) {
      let moved = false;
      for (const [id, n] of this.nodes) {
        if (this.crashed.has(id) || this.stalled.has(id)) continue;
        while (n.hasReady()) {
          this.handleReady(id, n.ready());
          n.advance();
          moved = true;
        }
      }
      // Messages to a stalled node wait in the queue, in order, until it resumes.
      const i = this.stalled.size === 0 ? 0 : this.queue.findIndex((q) => !this.stalled.has(q.to));
      const m = i < 0 ? undefined : this.queue.splice(i, 1)[0];
      if (m !== undefined) {
        moved = true;
        this.deliver(m);
      }
      if (!moved) return;
    }
    throw new Error("memory cluster did not stabilize (message storm?)");
  }

  /**
   * Advance the clock by `ms`, ticking each live, unstalled node every tickMs of its own and stabilizing
   * after each tick. A stalled node neither ticks nor takes messages (they wait in the queue for it).
   */
  advance(ms: number): void {
    const target = this.now + ms;
    this.stabilize();
    for (;;) {
      let id: NodeId | null = null;
      let at = Infinity;
      for (const [n, t] of this.nextTick) {
        if (this.crashed.has(n) || this.stalled.has(n) || !this.nodes.get(n)!.wantsTicks()) continue;
        if (t < at) [id, at] = [n, t];
      }
      if (id === null || at > target) break;
      this.now = Math.max(this.now, at);
      this.nextTick.set(id, this.now + this.tickMs);
      this.nodes.get(id)!.tick(this.now);
      this.stabilize();
    }
    this.now = target;
  }

  /** Stop a node's clock and message handling (a busy event loop), or let it run again. */
  stall(id: NodeId): void {
    this.stalled.add(id);
  }

  /** Resume a stalled node: its next alarm fires now (ONE tick, however long it was stalled). */
  resume(id: NodeId): void {
    this.stalled.delete(id);
    this.nextTick.set(id, Math.min(this.nextTick.get(id)!, this.now));
  }

  /** Advance until some node leads (or give up after `maxMs`). */
  electLeader(maxMs = 5_000): NodeId {
    const start = this.now;
    while (this.leader() === null && this.now - start < maxMs) this.advance(10);
    const l = this.leader();
    if (l === null) throw new Error("no leader elected");
    return l;
  }

  private deliver(m: Message): void {
    if (this.crashed.has(m.to) || this.crashed.has(m.from) || this.cut.has(`${m.from}>${m.to}`)) return;
    const verdict = this.filter(m);
    if (verdict === "drop") return;
    if (verdict === "hold") {
      this.held.push(m);
      return;
    }
    const n = this.nodes.get(m.to);
    if (n === undefined) return;
    this.delivered.push(m);
    n.step(m, this.now);
  }

  /** The reference shell: persist, then send, then apply, then serve reads. */
  private handleReady(id: NodeId, rd: Ready): void {
    const st = this.storage.get(id)!;
    if (rd.snapshot !== undefined) {
      st.snapshot = rd.snapshot;
      st.entries = [];
    }
    if (rd.truncateFrom !== undefined) st.entries = st.entries.filter((e) => e.index < rd.truncateFrom!);
    for (const e of rd.entries) {
      const expected = (st.entries.at(-1)?.index ?? st.snapshot?.index ?? 0) + 1;
      if (e.index !== expected) throw new Error(`${id}: persisted entry ${e.index}, expected ${expected}`);
      st.entries.push(structuredClone(e));
    }
    if (rd.hardState !== undefined) st.hardState = { ...rd.hardState };
    this.queue.push(...rd.messages.map((m) => structuredClone(m)));
    const kv = this.kv.get(id)!;
    if (rd.snapshot !== undefined) kv.restore(rd.snapshot.data);
    for (const e of rd.committed) {
      const first = this.appliedAt.get(e.index);
      if (first === undefined) this.appliedAt.set(e.index, e);
      else if (first.term !== e.term || first.data !== e.data) throw new Error(`state machine safety: ${id} applied ${JSON.stringify(e)} where ${JSON.stringify(first)} was applied`);
      this.results.get(id)!.set(e.index, kv.apply(e));
      this.appliedLog.get(id)!.push(e);
    }
    this.readStates.get(id)!.push(...rd.readStates);
    this.failedReads.get(id)!.push(...rd.failedReads);
  }

  /** Compact a node's log at its applied index with its KV snapshot, as a shell would. */
  compact(id: NodeId): Snapshot {
    const n = this.node(id);
    const kv = this.kv.get(id)!;
    const snap = n.compact(kv.appliedIndex, kv.snapshot());
    const st = this.storage.get(id)!;
    st.snapshot = snap;
    st.entries = st.entries.filter((e) => e.index > snap.index);
    return snap;
  }
}

/** Run a lone node's pending Ready cycles and return what they carried (for single-node unit tests). */
export function drain(node: RaftNode): Ready {
  const all: Ready = { entries: [], messages: [], committed: [], readStates: [], failedReads: [] };
  while (node.hasReady()) {
    const rd = node.ready();
    node.advance();
    if (rd.hardState) all.hardState = rd.hardState;
    if (rd.snapshot) all.snapshot = rd.snapshot;
    if (rd.softState) all.softState = rd.softState;
    if (rd.truncateFrom !== undefined) all.truncateFrom = Math.min(all.truncateFrom ?? Infinity, rd.truncateFrom);
    all.entries.push(...rd.entries);
    all.messages.push(...rd.messages);
    all.committed.push(...rd.committed);
    all.readStates.push(...rd.readStates);
    all.failedReads.push(...rd.failedReads);
  }
  return all;
}
