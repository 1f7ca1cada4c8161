/**
 * Deterministic simulation of a Raft KV group (issue 3, "Proof that it is correct"): the real core
 * (src/core/raft) behind a simulated shell, network, clock and clients, all driven by ONE seeded PRNG,
 * so `simulate(seed)` replays a run exactly. No Math.random, no Date.now in here.
 *
 * - Network: per-message loss, delay (and so reordering), duplication, and partitions (random splits
 *   that heal), with "weather" that changes during the run.
 * - Nodes: crashes at any step, and crashes between persisting a Ready and sending its messages;
 *   restarts from exactly what the Readys said to persist (persist -> send -> apply -> reads -> advance);
 *   per-node clocks: each live node ticks every tickMs of its own, with its own phase; compaction;
 *   leadership transfers.
 * - A busy event loop (`busyLoopMs`): like the Durable Objects of one isolate, every node's ticks and
 *   message deliveries wait in one shared queue whose delay changes over time (0 to busyLoopMs), plus a
 *   little per-event jitter. A late alarm is one tick, so this must not cause elections by itself.
 * - Clients: closed-loop put/get/delete/cas with timeouts and retries under the same {clientId, seq},
 *   reads by ReadIndex (or lease with its ReadIndex fallback, if enabled); every operation goes into a
 *   HistoryRecorder.
 * - Checks: Figure 3's five properties after every step (safety.ts), then convergence after healing and
 *   linearizability of the whole history (per-key Wing-Gong/Lowe search).
 */
import { checkLinearizable, formatCheckResult, HistoryRecorder, type OpResult } from "../../src/core/linearizability/index";
import { encodeCommand, type KvCommand, KvStateMachine, type KvResult } from "../../src/core/raft/kv";
import type { StoredNode } from "../../src/core/raft/memory-cluster";
import { type RaftConfig, RaftNode } from "../../src/core/raft/node";
import type { Ready } from "../../src/core/raft/ready";
import type { Entry, Message, NodeId } from "../../src/core/raft/types";
import { mulberry32 } from "../support/prng";
import { type ClientReply, type ClientRequest, type ClientStats, SimClient } from "./clients";
import { EventQueue } from "./heap";
import { SafetyMonitor, storedLastIndex, storedTerm, type Violation } from "./safety";

/** Deliberate bugs in the SHELL (never in src), to prove the checks catch what they claim to. */
export type SimBug =
  /** Restarts forget the persisted vote: a node can vote twice in one term. */
  | "forget-vote"
  /** The last Ready's writes are lost on crash although its messages went out (an fsync that lied). */
  | "lose-last-persist"
  /** Gets are answered from the receiving node's local state, without ReadIndex. */
  | "stale-read";

export interface SimOptions {
  /** Group size (default: 3 or 5, picked by the seed). */
  nodes?: number;
  /** Simulated ms of faults and client load. */
  chaosMs?: number;
  /** Also end the chaos phase after this many steps. */
  chaosSteps?: number;
  /** Simulated ms of a healed, quiet network before convergence is checked. */
  settleMs?: number;
  clients?: number;
  keys?: number;
  faults?: boolean;
  compaction?: boolean;
  transfers?: boolean;
  /** Share of reads done with leaseRead instead of ReadIndex (default: 0, or 0.5 for a quarter of the seeds). */
  leaseReadShare?: number;
  checkLinearizability?: boolean;
  /** Linearizability search budget per key. */
  maxStates?: number;
  raft?: Omit<RaftConfig, "id">;
  /**
   * Quiescence: the raft config's quiesceTicks (default: 0, or 2..7 for half the seeds). Quiescing runs
   * also get lulls (every client pauses, so the group goes quiet) and crashes of quiet leaders.
   */
  quiesceTicks?: number;
  /** Max delay (ms) of the shared event loop every tick and delivery waits in; 0: none (default). */
  busyLoopMs?: number;
  /** "calm": no loss, duplication or slow messages for the whole run (default: random weather). */
  network?: "calm" | "random";
  /**
   * Per-link latency between nodes (e.g. a matrix of regions, test/sim/regions.ts): the one-way ms a
   * message `m` sent at `at` spends on its link, added to the weather's delay; null: the link is down
   * and the message is lost. `rng` is the run's, so a seed still replays exactly. Clients sit next to
   * the node they call (their links keep the weather's delay). Default: none.
   */
  latency?: (m: Message, at: number, rng: () => number) => number | null;
  bug?: SimBug;
  /** Keep the last N events as text for a failing run's report. */
  trace?: number;
}

export interface SimStats {
  simTimeMs: number;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  crashes: number;
  partitions: number;
  transfers: number;
  compactions: number;
  snapshotsInstalled: number;
  leadersElected: number;
  /** Campaigns started (PreVote or real) by the nodes that were live at the end, since their last start. */
  electionsStarted: number;
  /** The longest the shared event loop made ticks and deliveries wait (busyLoopMs runs). */
  maxLoopDelayMs: number;
  /** Times a leader quiesced (stopped its clock with the group idle). */
  quiesced: number;
  /** Crashes of a leader while it was quiesced. */
  quietCrashes: number;
  /** Evictions of a whole quiet group (every member restarted from storage). */
  evictions: number;
  committed: number;
  ops: ClientStats;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  steps: number;
  violations: Violation[];
  linearizability: "ok" | "violation" | "unknown" | "skipped";
  stats: SimStats;
  trace?: string[];
}

type Ev =
  | { k: "msg"; m: Message }
  | { k: "req"; to: NodeId; req: ClientRequest }
  | { k: "reply"; client: number; reply: ClientReply }
  | { k: "client"; client: number; gen: number }
  | { k: "fault" }
  | { k: "restart"; id: NodeId }
  | { k: "heal" }
  | { k: "load" }
  | { k: "lull" };

interface PendingWrite {
  term: number;
  req: ClientRequest;
}

interface Weather {
  drop: number;
  dup: number;
  maxDelay: number;
  /** Share of messages held back much longer (reordering across heartbeats). */
  slow: number;
}

const CALM: Weather = { drop: 0, dup: 0, maxDelay: 3, slow: 0 };
const MAX_STEPS = 400_000;

/** Run one seeded simulation; the same seed and options always give the same run. */
export function simulate(seed: number, options: SimOptions = {}): SimResult {
  return new Simulation(seed, options).run();
}

class Simulation {
  now = 0;
  accepting = true;
  /** Clients start no operation before this time (a lull: the group may quiesce). */
  lullUntil = 0;
  readonly recorder = new HistoryRecorder();
  readonly nodeIds: NodeId[];
  readonly rng: () => number;

  private steps = 0;
  private chaos = true;
  private readonly o: Required<Omit<SimOptions, "bug" | "raft" | "chaosSteps" | "trace" | "latency">>;
  private readonly raft: Omit<RaftConfig, "id">;
  /** When each live node ticks next. */
  private readonly nextTick = new Map<NodeId, number>();
  private readonly tickMs: number;
  /**
   * The shared event loop's delay (busyLoopMs runs): `loopTarget` from `loopSince` on, except that a queue
   * drains no faster than time passes (FIFO: what arrived first runs first), so a drop from `loopFrom`
   * to a lower target takes loopFrom - loopTarget ms.
   */
  private loopFrom = 0;
  private loopTarget = 0;
  private loopSince = 0;
  private readonly queue = new EventQueue<Ev>();
  private readonly monitor = new SafetyMonitor();
  private readonly nodes = new Map<NodeId, RaftNode | null>();
  private readonly kv = new Map<NodeId, KvStateMachine>();
  private readonly storage = new Map<NodeId, StoredNode>();
  private readonly lastPersisted = new Map<NodeId, StoredNode>();
  private readonly writes = new Map<NodeId, Map<number, PendingWrite>>();
  private readonly reads = new Map<NodeId, Map<string, ClientRequest>>();
  private readonly leaseWaits = new Map<NodeId, { index: number; req: ClientRequest }[]>();
  private readonly crashAfterPersist = new Set<NodeId>();
  private readonly clients: SimClient[] = [];
  private readonly cut = new Set<string>();
  private weather: Weather;
  private readonly compactEvery: number;
  private readonly trace: string[] = [];
  private readonly leaderTerms = new Set<number>();
  /** Each live node's role and term, from its Readys' soft and hard state. */
  private readonly known = new Map<NodeId, { role: string; term: number }>();
  private readonly stats: SimStats;

  constructor(
    readonly seed: number,
    private readonly options: SimOptions,
  ) {
    this.rng = mulberry32(seed);
    // The seed also picks the run's profile, so simulate(seed) alone replays it.
    const small = this.rng() < 0.3;
    const leaseShare = this.rng() < 0.25 ? 0.5 : 0;
    const quiesceTicks = this.rng() < 0.5 ? 2 + Math.floor(this.rng() * 6) : 0;
    this.o = {
      nodes: options.nodes ?? (small ? 3 : 5),
      chaosMs: options.chaosMs ?? 3_000,
      settleMs: options.settleMs ?? 2_000,
      clients: options.clients ?? 4,
      keys: options.keys ?? 3,
      faults: options.faults ?? true,
      compaction: options.compaction ?? true,
      transfers: options.transfers ?? true,
      leaseReadShare: options.leaseReadShare ?? leaseShare,
      checkLinearizability: options.checkLinearizability ?? true,
      maxStates: options.maxStates ?? 200_000,
      busyLoopMs: options.busyLoopMs ?? 0,
      quiesceTicks: options.quiesceTicks ?? options.raft?.quiesceTicks ?? quiesceTicks,
      network: options.network ?? "random",
    };
    this.tickMs = options.raft?.tickMs ?? 50;
    this.raft = { ...options.raft, quiesceTicks: this.o.quiesceTicks };
    this.nodeIds = Array.from({ length: this.o.nodes }, (_, i) => `n${i + 1}`);
    this.weather = this.o.network === "calm" ? CALM : this.randomWeather();
    this.compactEvery = 4 + Math.floor(this.rng() * 40);
    this.stats = {
      simTimeMs: 0,
      messagesSent: 0,
      messagesDropped: 0,
      messagesDuplicated: 0,
      crashes: 0,
      partitions: 0,
      transfers: 0,
      compactions: 0,
      snapshotsInstalled: 0,
      leadersElected: 0,
      electionsStarted: 0,
      maxLoopDelayMs: 0,
      quiesced: 0,
      quietCrashes: 0,
      evictions: 0,
      committed: 0,
      ops: { invoked: 0, completed: 0, unknown: 0, discarded: 0, retries: 0 },
    };
  }

  run(): SimResult {
    for (const id of this.nodeIds) {
      this.storage.set(id, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
      this.boot(id);
    }
    const timing = { attemptTimeoutMs: 300, opDeadlineMs: 1_500, keys: this.o.keys, leaseReadShare: this.o.leaseReadShare };
    for (let i = 0; i < this.o.clients; i++) {
      const c = new SimClient(i, this, timing, this.stats.ops);
      this.clients.push(c);
      c.idle();
    }
    if (this.o.faults) this.queue.push(this.rand(50, 300), { k: "fault" });
    if (this.o.busyLoopMs > 0) this.queue.push(this.rand(100, 1_000), { k: "load" });
    if (this.o.quiesceTicks > 0) this.queue.push(this.rand(200, 1_000), { k: "lull" });
    const chaosEnd = this.o.chaosMs;
    const chaosSteps = this.options.chaosSteps ?? Infinity;
    this.loop(() => this.now >= chaosEnd || this.steps >= chaosSteps);
    if (this.monitor.ok) this.settle();
    this.stats.simTimeMs = this.now;
    this.stats.committed = this.monitor.commitIndex;
    for (const n of this.nodes.values()) this.stats.electionsStarted += n?.status().electionsStarted ?? 0;
    let linearizability: SimResult["linearizability"] = "skipped";
    if (this.monitor.ok && this.o.checkLinearizability) linearizability = this.checkHistory();
    const violations = this.monitor.violation === null ? [] : [this.monitor.violation];
    const result: SimResult = { seed: this.seed, ok: violations.length === 0, steps: this.steps, violations, linearizability, stats: this.stats };
    if (this.options.trace !== undefined) result.trace = this.trace;
    return result;
  }

  // ---- the event loop ------------------------------------------------------------------------------

  /** Process events (and node ticks, each live node's at its own nextTick) until `done`. */
  private loop(done: () => boolean): void {
    let sameTime = 0;
    while (this.monitor.ok && !done()) {
      if (this.steps >= MAX_STEPS) return this.monitor.fail("convergence", `no quiescence after ${MAX_STEPS} steps (timer or message storm)`);
      let tickId: NodeId | null = null;
      let tickAt = Infinity;
      for (const id of this.nodeIds) {
        // The shell arms an alarm only while the node wants ticks (a quiesced node does not); when it
        // wants them again, the alarm is due tickMs after its last tick (at once if that has passed).
        const n = this.nodes.get(id);
        const d = n == null || !n.wantsTicks() ? undefined : this.nextTick.get(id);
        if (d !== undefined && d < tickAt) {
          tickAt = d;
          tickId = id;
        }
      }
      const evAt = this.queue.peekTime();
      const at = Math.max(this.now, Math.min(tickAt, evAt));
      if (!Number.isFinite(at)) return; // nothing scheduled anywhere: every node is quiet and no event is due
      sameTime = at === this.now ? sameTime + 1 : 0;
      if (sameTime > 50_000) return this.monitor.fail("convergence", `livelock: ${sameTime} steps at t=${this.now}`);
      this.now = at;
      this.steps++;
      this.monitor.step = this.steps;
      this.monitor.time = this.now;
      try {
        if (tickId !== null && tickAt <= evAt) {
          this.note(() => `tick ${tickId}`);
          // The next alarm is set tickMs after this one began, then waits its turn in the (busy) loop.
          this.nextTick.set(tickId, this.loopRuns(this.now + this.tickMs));
          const ticked = this.nodes.get(tickId)!;
          ticked.tick(this.now);
          if (!ticked.wantsTicks() && this.known.get(tickId)!.role === "leader") {
            this.stats.quiesced++;
            this.note(() => `${tickId} quiesces`);
          }
          this.settleNode(tickId);
        } else {
          this.handle(this.queue.pop()!.value);
        }
      } catch (e) {
        this.monitor.fail("exception", (e as Error).stack ?? String(e));
      }
    }
  }

  private handle(ev: Ev): void {
    switch (ev.k) {
      case "msg": {
        const m = ev.m;
        const n = this.nodes.get(m.to);
        if (n == null || this.cut.has(`${m.from}>${m.to}`)) return void this.note(() => `lost ${describe(m)}`);
        this.note(() => `deliver ${describe(m)}`);
        n.step(m, this.now);
        return this.settleNode(m.to);
      }
      case "req":
        return this.serve(ev.to, ev.req);
      case "reply":
        this.note(() => `reply c${ev.client + 1} ${ev.reply.kind}${ev.reply.kind === "redirect" ? ` ${ev.reply.leader ?? "?"}` : ""}`);
        return this.clients[ev.client]!.onReply(ev.reply);
      case "client":
        return this.clients[ev.client]!.onTimer(ev.gen);
      case "fault":
        return this.fault();
      case "restart":
        return this.restart(ev.id);
      case "heal":
        this.note(() => "heal");
        return this.cut.clear();
      case "lull":
        if (!this.chaos) return;
        // Every client pauses for a while: long enough, often, for the group to quiesce.
        this.lullUntil = this.now + this.rand(200, 2_000);
        this.note(() => `lull until ${this.lullUntil}`);
        this.queue.push(this.lullUntil + this.rand(200, 2_000), { k: "lull" });
        return;
      case "load":
        if (!this.chaos) return; // the load ends with the chaos phase
        // The isolate's queue grows or drains: 0 a third of the time, else up to busyLoopMs.
        this.setLoopDelay(this.rng() < 0.3 ? 0 : this.rand(0, this.o.busyLoopMs + 1));
        this.stats.maxLoopDelayMs = Math.max(this.stats.maxLoopDelayMs, this.loopTarget);
        this.note(() => `event loop delay -> ${this.loopTarget} ms`);
        this.queue.push(this.now + this.rand(200, 2_000), { k: "load" });
        return;
    }
  }

  /** Run every Ready of a node the step touched, then record its role for the safety checks. */
  private settleNode(id: NodeId): void {
    const known = this.known.get(id)!;
    for (let n = this.nodes.get(id); n != null && n.hasReady(); n = this.nodes.get(id)) {
      const rd = n.ready();
      // Role and term as of the step that produced this Ready (status() would do, but costs an allocation per step).
      if (rd.softState !== undefined) known.role = rd.softState.role;
      if (rd.hardState !== undefined) known.term = rd.hardState.term;
      if (!this.handleReady(id, rd, known)) return;
      n.advance();
      this.maybeCompact(id, n);
    }
    if (this.nodes.get(id) == null) return;
    if (known.role === "leader") this.countLeader(id, known.term);
    this.monitor.observeRole(id, known.role, known.term, this.storage.get(id)!);
  }

  private countLeader(id: NodeId, term: number): void {
    if (this.leaderTerms.has(term)) return;
    this.leaderTerms.add(term);
    this.stats.leadersElected++;
    this.note(() => `${id} leads term ${term}`);
  }

  // ---- the shell: the Ready contract ---------------------------------------------------------------

  /** Persist -> send -> apply -> serve reads. Returns false if the node crashed part-way. */
  private handleReady(id: NodeId, rd: Ready, known: { role: string; term: number }): boolean {
    const st = this.storage.get(id)!;
    if (this.options.bug === "lose-last-persist") this.lastPersisted.set(id, { hardState: { ...st.hardState }, snapshot: st.snapshot, entries: st.entries.slice() });
    // 1. persist
    this.monitor.observeReadyOfRole(id, known.role, rd.truncateFrom, rd.snapshot);
    if (rd.snapshot !== undefined) {
      st.snapshot = { ...rd.snapshot, membership: cloneMembership(rd.snapshot.membership) };
      st.entries = [];
    }
    if (rd.truncateFrom !== undefined) {
      const from = rd.truncateFrom;
      st.entries = st.entries.filter((e) => e.index < from);
    }
    for (const e of rd.entries) {
      const expected = storedLastIndex(st) + 1;
      if (e.index !== expected) {
        this.monitor.fail("persistence", `${id}: Ready asks to persist entry ${e.index} after ${expected - 1}`);
        return false;
      }
      this.monitor.observePersistedEntry(id, e, storedTerm(st, e.index - 1) ?? 0);
      st.entries.push({ ...e });
    }
    // The shell stores the term a node took office in, with the Ready that says so.
    if (rd.softState?.role === "leader") st.led = rd.hardState?.term ?? known.term;
    else if (rd.softState?.leader != null) st.follows = { term: rd.hardState?.term ?? known.term, leader: rd.softState.leader };
    if (rd.hardState !== undefined) {
      st.hardState = { ...rd.hardState };
      this.monitor.observeHardState(id, rd.hardState);
    }
    if (this.crashAfterPersist.delete(id)) {
      this.crash(id, "after persisting, before sending");
      return false;
    }
    // 2. send
    for (const m of rd.messages) this.sendMessage(m);
    // 3. apply
    const kv = this.kv.get(id)!;
    if (rd.snapshot !== undefined) {
      kv.restore(rd.snapshot.data);
      this.stats.snapshotsInstalled++;
      this.monitor.observeSnapshot(id, rd.snapshot, true);
      // Proposals inside the snapshot may or may not have won their index: let those clients time out.
      const pending = this.writes.get(id)!;
      for (const index of [...pending.keys()]) if (index <= rd.snapshot.index) pending.delete(index);
    }
    for (const e of rd.committed) {
      this.monitor.observeApply(id, e, known.term);
      const result = kv.apply(e);
      this.answerWrite(id, e, result);
    }
    // 4. reads
    for (const rs of rd.readStates) {
      const req = this.reads.get(id)!.get(rs.requestId);
      if (req === undefined) continue;
      this.reads.get(id)!.delete(rs.requestId);
      if (kv.appliedIndex < rs.index) {
        this.monitor.fail("persistence", `${id}: ReadState ${rs.requestId} at ${rs.index} beyond applied ${kv.appliedIndex}`);
        return false;
      }
      this.reply(req, { kind: "ok", result: { value: kv.get(req.op.key)?.value ?? null } });
    }
    for (const rid of rd.failedReads) {
      const req = this.reads.get(id)!.get(rid);
      if (req === undefined) continue;
      this.reads.get(id)!.delete(rid);
      this.reply(req, { kind: "retry" });
    }
    this.serveLeaseReads(id);
    return true;
  }

  private answerWrite(id: NodeId, e: Entry, result: KvResult | null): void {
    const pending = this.writes.get(id)!;
    const p = pending.get(e.index);
    if (p === undefined) return;
    pending.delete(e.index);
    if (p.term !== e.term) return this.reply(p.req, { kind: "retry" }); // our entry lost its index
    // A stale seq is expected for an attempt of an operation the client already gave up on (it moved
    // on to a later seq), never for the operation it is still waiting for.
    if (result?.ok === false && result.code === "stale_sequence" && this.clients[p.req.client]!.currentOpId !== p.req.opId) return;
    if (result === null || (!result.ok && result.code !== "cas_failed")) {
      return this.monitor.fail("exactly-once", `${id}: ${p.req.clientId} seq ${p.req.seq} (${JSON.stringify(p.req.op)}) applied at ${e.index} gave ${JSON.stringify(result)}`);
    }
    const out: OpResult = result.ok ? { ok: true } : { ok: false };
    this.reply(p.req, { kind: "ok", result: out });
  }

  private maybeCompact(id: NodeId, node: RaftNode): void {
    if (!this.o.compaction) return;
    const kv = this.kv.get(id)!;
    const st = this.storage.get(id)!;
    if (kv.appliedIndex - (st.snapshot?.index ?? 0) < this.compactEvery) return;
    this.compact(id, node);
  }

  private compact(id: NodeId, node: RaftNode): void {
    const kv = this.kv.get(id)!;
    const st = this.storage.get(id)!;
    if (kv.appliedIndex <= (st.snapshot?.index ?? 0)) return;
    const snap = node.compact(kv.appliedIndex, kv.snapshot());
    st.snapshot = { ...snap, membership: cloneMembership(snap.membership) };
    st.entries = st.entries.filter((e) => e.index > snap.index);
    this.stats.compactions++;
    this.monitor.observeSnapshot(id, snap, false);
    this.note(() => `${id} compacts at ${snap.index}`);
  }

  // ---- clients ---------------------------------------------------------------------------------------

  /** ClientHost: a client request travels over a lossy link. */
  send(req: ClientRequest, to: NodeId): void {
    if (this.rng() < this.weather.drop) return;
    this.queue.push(this.now + this.delay(), { k: "req", to, req });
  }

  wake(client: number, at: number, gen: number): void {
    this.queue.push(at, { k: "client", client, gen });
  }

  private reply(req: ClientRequest, r: { kind: "ok"; result: OpResult } | { kind: "redirect"; leader: NodeId | null } | { kind: "retry" }): void {
    if (this.rng() < this.weather.drop) return;
    const reply = { ...r, opId: req.opId, attempt: req.attempt } as ClientReply;
    this.queue.push(this.now + this.delay(), { k: "reply", client: req.client, reply });
  }

  private serve(id: NodeId, req: ClientRequest): void {
    const n = this.nodes.get(id);
    if (n == null) return;
    this.note(() => `${id} gets ${req.clientId}#${req.opId}/${req.attempt} ${JSON.stringify(req.op)}`);
    const op = req.op;
    if (op.type === "get") {
      const kv = this.kv.get(id)!;
      if (this.options.bug === "stale-read") return this.reply(req, { kind: "ok", result: { value: kv.get(op.key)?.value ?? null } });
      const rid = `${req.clientId}/${req.opId}/${req.attempt}`;
      if (req.lease) {
        // As the Durable Object does: a lease read whose lease is not usable goes through ReadIndex.
        const r = n.leaseReadOrReadIndex(rid, this.now);
        if (!r.ok) return this.reply(req, { kind: "redirect", leader: r.leader });
        if (r.via === "lease") {
          this.leaseWaits.get(id)!.push({ index: r.index, req });
          this.serveLeaseReads(id);
          return;
        }
        this.reads.get(id)!.set(rid, req);
        return this.settleNode(id);
      }
      const r = n.readIndex(rid, this.now);
      if (!r.ok) return this.reply(req, { kind: "redirect", leader: r.leader });
      this.reads.get(id)!.set(rid, req);
    } else {
      const base = { clientId: req.clientId, seq: req.seq };
      const cmd: KvCommand =
        op.type === "put"
          ? { op: "put", key: op.key, value: op.value, ...base }
          : op.type === "delete"
            ? { op: "delete", key: op.key, ...base }
            : { op: "cas", key: op.key, value: op.value, expectedValue: op.expected, ...base };
      const r = n.propose(encodeCommand(cmd), this.now);
      if (!r.ok) return this.reply(req, { kind: "redirect", leader: r.leader });
      this.writes.get(id)!.set(r.index, { term: r.term, req });
    }
    this.settleNode(id);
  }

  private serveLeaseReads(id: NodeId): void {
    const waits = this.leaseWaits.get(id)!;
    if (waits.length === 0) return;
    const kv = this.kv.get(id)!;
    const rest: typeof waits = [];
    for (const w of waits) {
      if (kv.appliedIndex >= w.index) this.reply(w.req, { kind: "ok", result: { value: kv.get(w.req.op.key)?.value ?? null } });
      else rest.push(w);
    }
    this.leaseWaits.set(id, rest);
  }

  // ---- network ---------------------------------------------------------------------------------------

  private sendMessage(m: Message): void {
    this.stats.messagesSent++;
    const link = this.options.latency === undefined ? 0 : this.options.latency(m, this.now, this.rng);
    if (link === null || this.cut.has(`${m.from}>${m.to}`) || this.rng() < this.weather.drop) {
      this.stats.messagesDropped++;
      return;
    }
    this.queue.push(this.loopRuns(this.now + link + this.delay()), { k: "msg", m: cloneMessage(m) });
    if (this.rng() < this.weather.dup) {
      this.stats.messagesDuplicated++;
      this.queue.push(this.loopRuns(this.now + link + this.delay()), { k: "msg", m: cloneMessage(m) });
    }
  }

  /** When an event that reaches a node at `arrival` runs: after waiting its turn in the shared loop. */
  private loopRuns(arrival: number): number {
    if (this.o.busyLoopMs === 0) return arrival;
    return arrival + this.loopDelayAt(arrival) + this.rand(0, 6);
  }

  private loopDelayAt(t: number): number {
    if (t <= this.loopSince) return this.loopFrom;
    return Math.max(this.loopTarget, this.loopFrom - (t - this.loopSince));
  }

  /** The loop's queue grows at once, or starts draining toward `target`. */
  private setLoopDelay(target: number): void {
    const current = this.loopDelayAt(this.now);
    this.loopSince = this.now;
    this.loopFrom = Math.max(current, target);
    this.loopTarget = target;
  }

  private delay(): number {
    const w = this.weather;
    if (w.slow > 0 && this.rng() < w.slow) return this.rand(50, 400);
    return 1 + Math.floor(this.rng() * w.maxDelay);
  }

  private randomWeather(): Weather {
    const r = this.rng();
    if (r < 0.3) return { drop: 0, dup: 0, maxDelay: 1 + Math.floor(this.rng() * 10), slow: 0 };
    return { drop: this.rng() * 0.25, dup: this.rng() * 0.1, maxDelay: 1 + Math.floor(this.rng() * 40), slow: this.rng() * 0.05 };
  }

  // ---- faults ------------------------------------------------------------------------------------------

  private fault(): void {
    if (!this.chaos) return;
    const r = this.rng();
    const live = this.nodeIds.filter((id) => this.nodes.get(id) != null);
    const allQuiet = live.length === this.nodeIds.length && live.every((id) => !this.nodes.get(id)!.wantsTicks());
    if (allQuiet && this.rng() < 0.3) {
      // The whole quiet group is evicted from memory, as Cloudflare does with idle objects, and restarts
      // at once (on the next call): every member from its storage alone.
      this.stats.evictions++;
      for (const id of live) this.crash(id, "evicted while the group was quiet", this.rand(1, 30));
    } else if (r < 0.2) {
      const side = new Set(this.nodeIds.filter(() => this.rng() < 0.5));
      this.cut.clear();
      for (const a of this.nodeIds) for (const b of this.nodeIds) if (side.has(a) !== side.has(b)) this.cut.add(`${a}>${b}`);
      // Sometimes one-way: only a->b links stay cut (asymmetric partitions are allowed by the model too).
      if (this.rng() < 0.2) for (const a of side) for (const b of this.nodeIds) if (!side.has(b)) this.cut.delete(`${b}>${a}`);
      this.stats.partitions++;
      this.note(() => `partition ${[...side].join(",")} | rest`);
      this.queue.push(this.now + this.rand(100, 1_500), { k: "heal" });
    } else if (r < 0.27) {
      this.cut.clear();
    } else if (r < 0.42 && live.length > 0) {
      // A quiet leader is crashed more often: the next request must find that it is gone.
      const quietLeader = live.find((n) => this.known.get(n)!.role === "leader" && !this.nodes.get(n)!.wantsTicks());
      const id = quietLeader !== undefined && this.rng() < 0.7 ? quietLeader : this.pick(live);
      if (id === quietLeader) this.stats.quietCrashes++;
      if (this.rng() < 0.3) this.crashAfterPersist.add(id);
      else this.crash(id, "at a step boundary");
    } else if (r < 0.52 && this.o.transfers) {
      const leader = live.find((id) => this.nodes.get(id)!.status().role === "leader");
      if (leader !== undefined) {
        const to = this.pick(this.nodeIds.filter((id) => id !== leader));
        this.note(() => `transfer ${leader} -> ${to}`);
        if (this.nodes.get(leader)!.transferLeadership(to, this.now).ok) this.stats.transfers++;
        this.settleNode(leader);
      }
    } else if (r < 0.6 && this.o.compaction && live.length > 0) {
      const id = this.pick(live);
      this.compact(id, this.nodes.get(id)!);
    } else if (r < 0.75 && this.o.network !== "calm") {
      this.weather = this.randomWeather();
    }
    this.queue.push(this.now + this.rand(30, 400), { k: "fault" });
  }

  private crash(id: NodeId, how: string, restartInMs = this.rand(20, 1_500)): void {
    if (this.nodes.get(id) == null) return;
    this.note(() => `crash ${id} ${how}`);
    this.stats.crashes++;
    this.nodes.set(id, null);
    this.monitor.observeCrash(id);
    this.crashAfterPersist.delete(id);
    if (this.options.bug === "lose-last-persist") {
      const before = this.lastPersisted.get(id);
      if (before !== undefined) this.storage.set(id, before);
    }
    this.queue.push(this.now + restartInMs, { k: "restart", id });
  }

  private restart(id: NodeId): void {
    if (this.nodes.get(id) != null) return;
    this.note(() => `restart ${id}`);
    if (this.options.bug === "forget-vote") this.storage.get(id)!.hardState.vote = null;
    this.boot(id);
  }

  /** Start a node from its storage (what a Durable Object does after ctx.abort()). */
  private boot(id: NodeId): void {
    const st = this.storage.get(id)!;
    const membership = { voters: [...this.nodeIds], learners: [] };
    const node = new RaftNode(
      { ...this.raft, id },
      {
        hardState: { ...st.hardState },
        snapshot: st.snapshot,
        entries: st.entries.map((e) => ({ ...e })),
        membership,
        ledBeforeRestart: st.led === st.hardState.term && st.led > 0,
        leaderBeforeRestart: st.follows?.term === st.hardState.term ? st.follows.leader : null,
      },
      this.rng,
      this.now,
    );
    const kv = new KvStateMachine();
    if (st.snapshot !== null) kv.restore(st.snapshot.data);
    this.nodes.set(id, node);
    // Each node's clock has its own phase: its first tick comes within one tick interval of its start.
    this.nextTick.set(id, this.loopRuns(this.now + 1 + Math.floor(this.rng() * this.tickMs)));
    const st0 = node.status();
    this.known.set(id, { role: st0.role, term: st0.term });
    this.kv.set(id, kv);
    this.writes.set(id, new Map());
    this.reads.set(id, new Map());
    this.leaseWaits.set(id, []);
    this.monitor.observeRestart(id, st.snapshot?.index ?? 0);
  }

  // ---- the end: heal, converge, check the history ----------------------------------------------------

  private settle(): void {
    this.chaos = false;
    this.accepting = false;
    this.cut.clear();
    this.weather = CALM;
    this.setLoopDelay(0); // the load ends: the queue drains
    this.crashAfterPersist.clear();
    for (const id of this.nodeIds) if (this.nodes.get(id) == null) this.boot(id);
    this.note(() => "settle: healed, all restarted, clients finishing");
    const end = this.now + this.o.settleMs;
    this.loop(() => this.now >= end);
    if (!this.monitor.ok) return;
    const statuses = this.nodeIds.map((id) => this.nodes.get(id)!.status());
    const leaders = statuses.filter((s) => s.role === "leader");
    if (leaders.length !== 1) return this.monitor.fail("convergence", `${leaders.length} leaders ${this.o.settleMs} ms after healing`);
    const leader = leaders[0]!;
    const busy = this.clients.filter((c) => c.busy).length;
    if (busy > 0) return this.monitor.fail("convergence", `${busy} clients still waiting ${this.o.settleMs} ms after healing`);
    const kvs = this.nodeIds.map((id) => this.kv.get(id)!);
    for (const [i, s] of statuses.entries()) {
      if (s.commit !== leader.lastIndex || kvs[i]!.appliedIndex !== s.commit) {
        return this.monitor.fail("convergence", `${s.id}: commit ${s.commit}, applied ${kvs[i]!.appliedIndex}, leader ${leader.id} last index ${leader.lastIndex}`);
      }
    }
    const image = kvs[0]!.snapshot();
    const differ = this.nodeIds.find((_, i) => kvs[i]!.snapshot() !== image);
    if (differ !== undefined) return this.monitor.fail("convergence", `${differ}'s state machine differs from n1's at index ${leader.commit}`);
    // A final observer reads every key from the converged state: a lost acknowledged write shows up here.
    const leaderKv = this.kv.get(leader.id)!;
    this.now++;
    for (let k = 0; k < this.o.keys; k++) {
      const key = `k${k}`;
      const opId = this.recorder.invoke("final", { type: "get", key }, this.now);
      this.recorder.complete(opId, { value: leaderKv.get(key)?.value ?? null }, this.now);
    }
  }

  private checkHistory(): SimResult["linearizability"] {
    const res = checkLinearizable(this.recorder.history(), { maxStates: this.o.maxStates });
    this.monitor.step = this.steps;
    this.monitor.time = this.now;
    if (res.ok === true) return "ok";
    if (res.ok === "unknown") {
      this.monitor.fail("linearizability", `search budget (${this.o.maxStates} states) exceeded on key ${res.key}: unknown, not a pass`);
      return "unknown";
    }
    this.monitor.fail("linearizability", formatCheckResult(res));
    return "violation";
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private rand(lo: number, hi: number): number {
    return lo + Math.floor(this.rng() * (hi - lo));
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rng() * xs.length)]!;
  }

  private note(line: () => string): void {
    const keep = this.options.trace;
    if (keep === undefined) return;
    this.trace.push(`[${this.steps} t=${this.now}] ${line()}`);
    if (this.trace.length > keep) this.trace.shift();
  }
}

function cloneMembership(m: { voters: NodeId[]; learners: NodeId[] }): { voters: NodeId[]; learners: NodeId[] } {
  return { voters: [...m.voters], learners: [...m.learners] };
}

/** A deep copy, so no two nodes ever share an object (what RPC serialization guarantees for real). */
function cloneMessage(m: Message): Message {
  switch (m.type) {
    case "Append":
      return { ...m, entries: m.entries.map((e) => ({ ...e })) };
    case "AppendResp":
      return m.hint === undefined ? { ...m } : { ...m, hint: { ...m.hint } };
    case "InstallSnapshot":
      return { ...m, snapshot: { ...m.snapshot, membership: cloneMembership(m.snapshot.membership) } };
    default:
      return { ...m };
  }
}

function describe(m: Message): string {
  const head = `${m.type} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case "Append":
      return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
    case "AppendResp":
      return `${head} ${m.success ? "ok" : "reject"} idx=${m.index} match=${m.matchIndex}`;
    case "VoteResp":
    case "PreVoteResp":
      return `${head} ${m.granted ? "granted" : "refused"}`;
    case "InstallSnapshot":
      return `${head} snap=${m.snapshot.index}/${m.snapshot.term}`;
    default:
      return head;
  }
}
