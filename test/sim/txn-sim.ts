/**
 * Deterministic simulation of two-phase commit over replicated shards: the real pure core
 * (src/core/txn) behind simulated shells, network, clocks and bank clients, all driven by ONE seeded
 * PRNG, so `simulateTxn(seed)` replays a run exactly. No Math.random, no Date.now in here.
 *
 * - Coordinators host many transactions each. Durable: the persisted CoordinatorState of each
 *   transaction (a copy taken at `persist`) and the next transaction number. Volatile (lost in a
 *   crash): the working copies, the votes' records, the version clock and the waiting clients. A
 *   restarted coordinator reloads its log and runs onRecover on every transaction not ended.
 * - Participants are tiny in-memory stores (key -> version, live, value bytes) replicating the keys
 *   placed on them. Durable: store, locks, prepared, finished. They ask the coordinator about
 *   transactions they are in doubt about (dueInquiries / inquiryDelay); an unknown transaction is
 *   presumed aborted.
 * - Shell rule: persist, then send. Crashes happen at step boundaries and between persist and send.
 * - Network: loss, duplication, delay (so reordering), isolated nodes; a PREPARE to a dead shard may
 *   fail fast (onVoteFailed), as an RPC error would.
 * - Clocks: each coordinator has a skewed clock; versions come from a VersionClock that observes
 *   every version the votes reported, so a version is minted above every version seen.
 * - Clients run bank transfers (incr with revision/equals conditions, read-modify-write sets,
 *   closing and opening accounts), counters, TTL'd session keys and transactions that must abort.
 * - After the chaos everything is healed and restarted and the run goes on until nothing is left to
 *   do; then txn-checks.ts checks atomicity, agreement, locks, ends, money, what clients were told
 *   and serializability (a replay of the committed transactions in decision order). Agreement and
 *   "a commit reaches only participants that prepared" are also checked as each outcome is applied.
 *
 *   simulateTxn(seed, { trace: 300 }) replays a seed with its last 300 events; see txn-run.ts.
 */
import { compareVersions, makeVersion, type Version, VersionClock } from "../../src/core/cache/version";
import {
  begin,
  type CoordinatorState,
  type CoordMessage,
  type CoordTimings,
  nextWake,
  onAck,
  onInquiry,
  onRecover,
  onTick,
  onVote,
  onVoteFailed,
  type Step,
  type VoteRecords,
} from "../../src/core/txn/coordinator";
import { dueInquiries, inquiryDelay, onDecision, onPrepare, type ParticipantView, type PreparedTxn } from "../../src/core/txn/participant";
import { planTxn } from "../../src/core/txn/plan";
import type { AbortCode, InquiryAnswer, KeyRecord, Outcome, TxnSpec, TxnWrite, Vote } from "../../src/core/txn/types";
import { mulberry32 } from "../support/prng";
import { EventQueue } from "./heap";
import { applyWrite, checkTxnInvariants, type ParticipantDurable, type StoredValue, type TxnSimWorld, type TxnViolation } from "./txn-checks";
import { INITIAL_BALANCE, nextSpec, type Workload } from "./txn-workload";

export type { TxnViolation } from "./txn-checks";

/** Deliberately broken SHELLS (never the core), to prove the checks catch what they claim to. */
export type TxnSimBug =
  /** The coordinator sends its decision (and tells the client) before persisting it. */
  | "send-before-persist"
  /** A participant keeps PREPARED and its locks in memory only: a crash forgets them. */
  | "volatile-prepared"
  /** A participant that asked twice without an answer aborts on its own. */
  | "participant-decides-alone"
  /** The coordinator mints versions from its own (skewed) clock, ignoring the versions the votes reported. */
  | "mint-ignores-seen";

export const TXN_SIM_BUGS: readonly TxnSimBug[] = ["send-before-persist", "volatile-prepared", "participant-decides-alone", "mint-ignores-seen"];

export interface TxnSimOptions {
  coordinators?: number;
  shards?: number;
  /** Replicas of each key (<= shards). */
  replicas?: number;
  accounts?: number;
  clients?: number;
  /** Simulated ms of faults and client load. */
  chaosMs?: number;
  faults?: boolean;
  bug?: TxnSimBug;
  /** Keep the last N events as text for a failing run's report. */
  trace?: number;
}

export interface TxnSimStats {
  simTimeMs: number;
  steps: number;
  txns: number;
  committed: number;
  aborted: number;
  abortReasons: Partial<Record<AbortCode, number>>;
  refusedPlans: number;
  clientTold: number;
  clientUnknown: number;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  crashes: number;
  crashesBetweenPersistAndSend: number;
  isolations: number;
  inquiries: number;
  presumedAborts: number;
  fences: number;
  resends: number;
  revotes: number;
  latePreparesRefused: number;
  pendingAnswers: number;
}

export interface TxnSimResult {
  seed: number;
  ok: boolean;
  violations: TxnViolation[];
  stats: TxnSimStats;
  trace?: string[];
}

interface CoordNode {
  id: string;
  up: boolean;
  gen: number;
  /** Local clock = global clock + skew (+ a base so it is never negative). */
  skew: number;
  durable: { txns: Map<string, CoordinatorState>; nextSeq: number };
  live: Map<string, CoordinatorState>;
  records: Map<string, VoteRecords>;
  clock: VersionClock;
  waiting: Map<string, { client: number; attempt: number }>;
  wakes: Map<string, number>;
}

interface PartNode {
  id: string;
  up: boolean;
  gen: number;
  durable: ParticipantDurable;
  timerAt: number;
}

export type ClientReply =
  | { kind: "decided"; txn: string; outcome: Outcome; code?: AbortCode }
  | { kind: "invalid"; message: string };

type Msg =
  | { t: "prepare"; txn: string; from: string; to: string; keys: string[]; valueKeys: string[] }
  | { t: "vote"; txn: string; from: string; to: string; vote: Vote }
  | { t: "decision"; txn: string; from: string; to: string; outcome: Outcome; writes: TxnWrite[] }
  | { t: "ack"; txn: string; from: string; to: string }
  | { t: "inquiry"; txn: string; from: string; to: string }
  | { t: "answer"; txn: string; from: string; to: string; answer: InquiryAnswer }
  | { t: "begin"; from: string; to: string; client: number; attempt: number; spec: TxnSpec }
  | { t: "reply"; from: string; to: string; client: number; attempt: number; reply: ClientReply };

type Ev =
  | { k: "msg"; m: Msg }
  | { k: "ctick"; node: string; gen: number; txn: string }
  | { k: "ptick"; node: string; gen: number; at: number }
  | { k: "voteFailed"; node: string; gen: number; txn: string; shard: string }
  | { k: "client"; client: number; gen: number }
  | { k: "fault" }
  | { k: "restart"; node: string }
  | { k: "rejoin"; node: string };

interface Client {
  id: number;
  gen: number;
  attempt: number;
  busy: boolean;
}

interface Weather {
  drop: number;
  dup: number;
  maxDelay: number;
  slow: number;
}

const CALM: Weather = { drop: 0, dup: 0, maxDelay: 3, slow: 0 };
const CLOCK_BASE = 10_000;
const MAX_STEPS = 300_000;
const SETTLE_LIMIT_MS = 120_000;
const INQUIRY_MAX_MS = 600;
const CLIENT_TIMEOUT_MS = 1_200;
const encoder = new TextEncoder();

/** Run one seeded simulation; the same seed and options always give the same run. */
export function simulateTxn(seed: number, options: TxnSimOptions = {}): TxnSimResult {
  return new TxnSimulation(seed, options).run();
}

class TxnSimulation {
  now = 0;
  private steps = 0;
  private chaos = true;
  private readonly rng: () => number;
  private readonly queue = new EventQueue<Ev>();
  private readonly coords = new Map<string, CoordNode>();
  private readonly parts = new Map<string, PartNode>();
  private readonly coordIds: string[];
  private readonly shardIds: string[];
  private readonly placement = new Map<string, string[]>();
  private readonly clients: Client[] = [];
  private readonly isolated = new Set<string>();
  private readonly crashAfterPersist = new Set<string>();
  private readonly timings: CoordTimings;
  private readonly inquiryAfterMs: number;
  private readonly workload: Workload;
  private readonly initial = new Map<string, StoredValue>();
  private readonly applied: TxnSimWorld["applied"] = [];
  private readonly told: TxnSimWorld["told"] = [];
  private readonly runtime: TxnViolation[] = [];
  private readonly trace: string[] = [];
  private weather: Weather;
  private readonly stats: TxnSimStats = {
    simTimeMs: 0,
    steps: 0,
    txns: 0,
    committed: 0,
    aborted: 0,
    abortReasons: {},
    refusedPlans: 0,
    clientTold: 0,
    clientUnknown: 0,
    messagesSent: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    crashes: 0,
    crashesBetweenPersistAndSend: 0,
    isolations: 0,
    inquiries: 0,
    presumedAborts: 0,
    fences: 0,
    resends: 0,
    revotes: 0,
    latePreparesRefused: 0,
    pendingAnswers: 0,
  };
  private readonly o: Required<Omit<TxnSimOptions, "bug" | "trace">>;

  constructor(
    readonly seed: number,
    private readonly options: TxnSimOptions,
  ) {
    this.rng = mulberry32(seed);
    // The seed also picks the run's shape, so simulateTxn(seed) alone replays it.
    const shards = options.shards ?? 3 + Math.floor(this.rng() * 3);
    this.o = {
      coordinators: options.coordinators ?? 2 + Math.floor(this.rng() * 2),
      shards,
      replicas: Math.min(shards, options.replicas ?? 1 + Math.floor(this.rng() * 3)),
      accounts: options.accounts ?? 3 + Math.floor(this.rng() * 4),
      clients: options.clients ?? 3 + Math.floor(this.rng() * 3),
      chaosMs: options.chaosMs ?? 1_500,
      faults: options.faults ?? true,
    };
    const skewed = this.rng() < 0.5;
    this.coordIds = Array.from({ length: this.o.coordinators }, (_, i) => `c${i + 1}`);
    this.shardIds = Array.from({ length: this.o.shards }, (_, i) => `s${i + 1}`);
    this.timings = { voteTimeoutMs: this.rand(60, 400), resendBaseMs: this.rand(10, 60), resendMaxMs: this.rand(100, 500) };
    this.inquiryAfterMs = this.rand(40, 300);
    this.weather = this.randomWeather();
    for (const [i, id] of this.coordIds.entries()) {
      this.coords.set(id, {
        id,
        up: true,
        gen: 0,
        skew: skewed ? this.rand(-300, 300) : 0,
        durable: { txns: new Map(), nextSeq: 1 },
        live: new Map(),
        records: new Map(),
        clock: new VersionClock(i + 1),
        waiting: new Map(),
        wakes: new Map(),
      });
    }
    const v0 = makeVersion(0, 0, 0);
    const int = (n: string | bigint | number): StoredValue => ({ version: v0, live: true, value: encoder.encode(String(n)), contentType: "text/plain; charset=utf-8", expiresAt: null });
    this.workload = {
      accounts: Array.from({ length: this.o.accounts }, (_, i) => `acct:${i}`),
      // "__proto__" is a legal key: it must not be confused with Object.prototype anywhere.
      counters: ["hits:0", "__proto__"],
      sessions: ["session:0", "session:1"],
      label: "label",
      big: "big",
    };
    for (const a of this.workload.accounts) this.initial.set(a, int(INITIAL_BALANCE));
    this.initial.set(this.workload.label, int("not a number"));
    this.initial.set(this.workload.big, int(2n ** 63n - 10n));
    const keys = [...this.workload.accounts, ...this.workload.counters, ...this.workload.sessions, this.workload.label, this.workload.big];
    for (const key of keys) {
      const shuffled = [...this.shardIds];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(this.rng() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      this.placement.set(key, shuffled.slice(0, this.o.replicas));
    }
    for (const id of this.shardIds) {
      const store = new Map<string, StoredValue>();
      for (const [key, v] of this.initial) if (this.placement.get(key)!.includes(id)) store.set(key, v);
      this.parts.set(id, { id, up: true, gen: 0, durable: { store, locks: new Map(), prepared: new Map(), finished: new Map() }, timerAt: Infinity });
    }
  }

  readonly replicasOf = (key: string): readonly string[] => this.placement.get(key) ?? [];

  run(): TxnSimResult {
    for (let i = 0; i < this.o.clients; i++) {
      this.clients.push({ id: i, gen: 0, attempt: 0, busy: false });
      this.queue.push(this.rand(0, 20), { k: "client", client: i, gen: 0 });
    }
    if (this.o.faults) this.queue.push(this.rand(20, 200), { k: "fault" });
    this.loop(() => this.now >= this.o.chaosMs);
    this.settle();
    this.stats.simTimeMs = this.now;
    this.stats.steps = this.steps;
    for (const c of this.coords.values()) {
      for (const s of c.durable.txns.values()) {
        this.stats.resends += s.resends;
        if (s.phase === "committed") this.stats.committed++;
        if (s.phase !== "aborted") continue;
        this.stats.aborted++;
        const code = s.reason?.code;
        if (code !== undefined) this.stats.abortReasons[code] = (this.stats.abortReasons[code] ?? 0) + 1;
      }
    }
    const violations = [...this.runtime];
    if (violations.length === 0) violations.push(...checkTxnInvariants(this.world()));
    const result: TxnSimResult = { seed: this.seed, ok: violations.length === 0, violations, stats: this.stats };
    if (this.options.trace !== undefined) result.trace = this.trace;
    return result;
  }

  private world(): TxnSimWorld {
    return {
      coordinators: this.coordIds.map((id) => ({ id, txns: this.coords.get(id)!.durable.txns, clockOffset: CLOCK_BASE + this.coords.get(id)!.skew })),
      participants: new Map(this.shardIds.map((id) => [id, this.parts.get(id)!.durable])),
      replicasOf: this.replicasOf,
      workload: this.workload,
      initial: this.initial,
      applied: this.applied,
      told: this.told,
    };
  }

  private fail(property: TxnViolation["property"], message: string): void {
    this.runtime.push({ property, message, time: this.now });
  }

  // ---- the event loop --------------------------------------------------------------------------------

  private loop(done: () => boolean): boolean {
    while (!done() && this.runtime.length === 0) {
      if (this.queue.size === 0) return true;
      if (this.steps >= MAX_STEPS) {
        this.fail("quiescence", `no quiescence after ${MAX_STEPS} steps`);
        return false;
      }
      const ev = this.queue.pop()!;
      this.now = Math.max(this.now, ev.at);
      this.steps++;
      try {
        this.handle(ev.value);
      } catch (e) {
        this.fail("exception", (e as Error).stack ?? String(e));
      }
    }
    return this.queue.size === 0;
  }

  private handle(ev: Ev): void {
    switch (ev.k) {
      case "msg":
        return this.deliver(ev.m);
      case "ctick":
        return this.coordTick(ev.node, ev.gen, ev.txn);
      case "ptick":
        return this.partTick(ev.node, ev.gen, ev.at);
      case "voteFailed": {
        const c = this.coords.get(ev.node)!;
        const s = c.live.get(ev.txn);
        if (!c.up || c.gen !== ev.gen || s === undefined) return;
        this.note(() => `${c.id} ${ev.txn}: PREPARE to ${ev.shard} failed`);
        return void this.coordStep(c, s, onVoteFailed(s, ev.shard, "unreachable", this.local(c), this.timings));
      }
      case "client":
        return this.clientTimer(ev.client, ev.gen);
      case "fault":
        return this.fault();
      case "restart":
        return this.restart(ev.node);
      case "rejoin":
        this.note(() => `${ev.node} rejoins the network`);
        return void this.isolated.delete(ev.node);
    }
  }

  private deliver(m: Msg): void {
    if (this.isolated.has(m.from) || this.isolated.has(m.to)) return void this.note(() => `lost ${describe(m)} (isolated)`);
    if (m.t === "reply") return this.clientReply(m.client, m.attempt, m.reply);
    const c = this.coords.get(m.to);
    if (c !== undefined) {
      if (!c.up) return void this.note(() => `lost ${describe(m)} (${c.id} down)`);
      this.note(() => `deliver ${describe(m)}`);
      switch (m.t) {
        case "begin":
          return this.coordBegin(c, m.client, m.attempt, m.spec);
        case "vote":
          return this.coordVote(c, m.txn, m.from, m.vote);
        case "ack": {
          const s = c.live.get(m.txn);
          if (s !== undefined) this.coordStep(c, s, onAck(s, m.from, this.local(c)));
          return;
        }
        case "inquiry":
          return this.coordInquiry(c, m.txn, m.from);
        default:
          throw new Error(`coordinator got ${m.t}`);
      }
    }
    const p = this.parts.get(m.to)!;
    if (!p.up) {
      this.note(() => `lost ${describe(m)} (${p.id} down)`);
      // An RPC to a dead object fails fast some of the time; the coordinator then aborts at once.
      if (m.t === "prepare" && this.rng() < 0.5) {
        const c = this.coords.get(m.from)!;
        this.queue.push(this.now + this.rand(1, 20), { k: "voteFailed", node: c.id, gen: c.gen, txn: m.txn, shard: m.to });
      }
      return;
    }
    this.note(() => `deliver ${describe(m)}`);
    switch (m.t) {
      case "prepare":
        return this.partPrepare(p, m.txn, m.from, m.keys, m.valueKeys);
      case "decision":
        return this.partDecision(p, m.txn, m.from, m.outcome, m.writes, true);
      case "answer":
        if (m.answer.state === "pending") return void this.stats.pendingAnswers++;
        if (m.answer.state === "aborted" && this.coords.get(m.from)!.durable.txns.get(m.txn) === undefined) this.stats.presumedAborts++;
        return this.partDecision(p, m.txn, m.from, m.answer.state, m.answer.writes, false);
      default:
        throw new Error(`participant got ${m.t}`);
    }
  }

  // ---- coordinator shell -----------------------------------------------------------------------------

  private local(c: CoordNode): number {
    return CLOCK_BASE + this.now + c.skew;
  }

  private coordBegin(c: CoordNode, client: number, attempt: number, spec: TxnSpec): void {
    const plan = planTxn(spec, this.replicasOf);
    if (!plan.ok) {
      this.stats.refusedPlans++;
      return this.send({ t: "reply", from: c.id, to: `client${client}`, client, attempt, reply: { kind: "invalid", message: plan.message } });
    }
    const id = `${c.id}.${c.durable.nextSeq}`;
    const { state, step } = begin(id, plan.ops, spec.conditions, plan.participants, this.local(c), this.timings);
    // The transaction number is part of what begin persists: an id is never handed out twice.
    c.durable.nextSeq++;
    c.live.set(id, state);
    c.records.set(id, new Map());
    c.waiting.set(id, { client, attempt });
    this.stats.txns++;
    this.note(() => `${c.id} begins ${id}: ${JSON.stringify(plan.ops)} if ${JSON.stringify(spec.conditions)} on ${plan.participants.map((p) => p.shard).join(",")}`);
    this.coordStep(c, state, step);
  }

  private coordVote(c: CoordNode, txn: string, shard: string, vote: Vote): void {
    const s = c.live.get(txn);
    if (s === undefined) return;
    let records = c.records.get(txn);
    if (records === undefined) c.records.set(txn, (records = new Map()));
    const mint = (seen: Version[]): Version => {
      if (this.options.bug !== "mint-ignores-seen") for (const v of seen) c.clock.observe(v);
      return c.clock.next(this.local(c));
    };
    this.coordStep(c, s, onVote(s, records, shard, vote, this.local(c), this.timings, mint));
  }

  private coordInquiry(c: CoordNode, txn: string, shard: string): void {
    const s = c.live.get(txn);
    let answer: InquiryAnswer;
    if (s === undefined) {
      // Never begun here (or forgotten): presumed abort.
      answer = { state: "aborted", writes: [] };
    } else {
      const r = onInquiry(s, shard, this.local(c), this.timings);
      if (!this.coordStep(c, s, r.step)) return;
      answer = r.answer;
    }
    this.send({ t: "answer", txn, from: c.id, to: shard, answer });
  }

  private coordTick(node: string, gen: number, txn: string): void {
    const c = this.coords.get(node)!;
    const s = c.live.get(txn);
    if (!c.up || c.gen !== gen || s === undefined) return;
    c.wakes.delete(txn);
    const wake = nextWake(s);
    if (wake === null) return;
    if (wake > this.local(c)) return this.scheduleWake(c, s);
    this.coordStep(c, s, onTick(s, this.local(c), this.timings));
  }

  /** The shell rule: persist, then send, then answer the client. Returns false if the node crashed in between. */
  private coordStep(c: CoordNode, s: CoordinatorState, step: Step): boolean {
    if (step.persist && this.options.bug === "send-before-persist") {
      // The broken order: what should follow from the record goes out before the record is on disk.
      this.sendAndAnswer(c, s, step);
      if (this.crashAfterPersist.delete(c.id)) {
        this.stats.crashesBetweenPersistAndSend++;
        this.crash(c.id, "after sending, before persisting");
        return false;
      }
      c.durable.txns.set(s.id, cloneState(s));
      this.scheduleWake(c, s);
      return true;
    }
    if (step.persist) {
      c.durable.txns.set(s.id, cloneState(s));
      if (this.crashAfterPersist.delete(c.id)) {
        this.stats.crashesBetweenPersistAndSend++;
        this.crash(c.id, "after persisting, before sending");
        return false;
      }
    }
    this.sendAndAnswer(c, s, step);
    this.scheduleWake(c, s);
    return true;
  }

  private sendAndAnswer(c: CoordNode, s: CoordinatorState, step: Step): void {
    for (const m of step.send) this.sendCoord(c, s.id, m);
    this.answerClient(c, s);
  }

  private sendCoord(c: CoordNode, txn: string, m: CoordMessage): void {
    if (m.type === "prepare") this.send({ t: "prepare", txn, from: c.id, to: m.shard, keys: m.keys, valueKeys: m.valueKeys });
    else this.send({ t: "decision", txn, from: c.id, to: m.shard, outcome: m.outcome, writes: m.writes });
  }

  private answerClient(c: CoordNode, s: CoordinatorState): void {
    if (s.phase === "preparing") return;
    const w = c.waiting.get(s.id);
    if (w === undefined) return;
    c.waiting.delete(s.id);
    const reply: ClientReply = { kind: "decided", txn: s.id, outcome: s.phase, ...(s.reason ? { code: s.reason.code } : {}) };
    this.send({ t: "reply", from: c.id, to: `client${w.client}`, client: w.client, attempt: w.attempt, reply });
  }

  private scheduleWake(c: CoordNode, s: CoordinatorState): void {
    const wake = nextWake(s);
    if (wake === null || c.wakes.get(s.id) === wake) return;
    c.wakes.set(s.id, wake);
    const at = Math.max(this.now, wake - CLOCK_BASE - c.skew);
    this.queue.push(at, { k: "ctick", node: c.id, gen: c.gen, txn: s.id });
  }

  // ---- participant shell -----------------------------------------------------------------------------

  private view(p: PartNode): ParticipantView {
    const d = p.durable;
    return { lockHolder: (key) => d.locks.get(key), prepared: (txn) => d.prepared.get(txn), finished: (txn) => d.finished.get(txn) };
  }

  private partPrepare(p: PartNode, txn: string, coordinator: string, keys: string[], valueKeys: string[]): void {
    const action = onPrepare(this.view(p), txn, keys, this.now, this.inquiryAfterMs);
    if (action.action === "revote") this.stats.revotes++;
    if (action.action === "refuse" && action.reason.code !== "conflict") this.stats.latePreparesRefused++;
    let vote: Vote;
    if (action.action === "refuse") {
      vote = { vote: "no", reason: action.reason };
    } else {
      if (action.action === "lock") {
        // Persist PREPARED and the locks before the vote leaves.
        p.durable.prepared.set(txn, action.prepared);
        for (const key of action.prepared.keys) p.durable.locks.set(key, txn);
        this.schedulePartTimer(p, action.prepared.nextInquiryAt);
        if (this.crashAfterPersist.delete(p.id)) {
          this.stats.crashesBetweenPersistAndSend++;
          return this.crash(p.id, "after preparing, before voting");
        }
      }
      const wanted = new Set(valueKeys);
      // Object.fromEntries makes every key an own property, even "__proto__" (`records[key] = …` would set the prototype).
      const records: Record<string, KeyRecord> = Object.fromEntries(keys.map((key) => [key, recordOf(p.durable.store.get(key), wanted.has(key))]));
      vote = { vote: "yes", records };
    }
    this.send({ t: "vote", txn, from: p.id, to: coordinator, vote });
  }

  /** A decision or an inquiry's answer: apply (or fence) in one durable step, then acknowledge a decision. */
  private partDecision(p: PartNode, txn: string, coordinator: string, outcome: Outcome, writes: TxnWrite[], ack: boolean): void {
    const action = onDecision(this.view(p), txn);
    if (action.action !== "ack") {
      const d = p.durable;
      const prepared = action.action === "apply";
      // Checked as it happens: an outcome reaches a participant only once it is the durable decision.
      const logged = this.coords.get(coordinator)!.durable.txns.get(txn);
      const decided = logged === undefined ? "aborted" : logged.phase;
      if (outcome !== decided) this.fail("agreement", `${p.id} applies ${outcome} for ${txn} while its coordinator's log says ${logged === undefined ? "nothing (presumed abort)" : logged.phase}`);
      if (!prepared) this.stats.fences++;
      if (outcome === "committed") {
        if (!prepared) this.fail("commit-without-prepare", `${p.id} got the commit of ${txn} without having prepared it`);
        for (const w of writes) applyWrite(d.store, w);
      }
      if (action.action === "apply") {
        d.prepared.delete(txn);
        for (const key of action.prepared.keys) if (d.locks.get(key) === txn) d.locks.delete(key);
      }
      d.finished.set(txn, outcome);
      this.applied.push({ txn, shard: p.id, outcome, prepared });
      this.note(() => `${p.id} ${prepared ? "applies" : "fences"} ${outcome} ${txn}`);
      if (this.crashAfterPersist.delete(p.id)) {
        this.stats.crashesBetweenPersistAndSend++;
        return this.crash(p.id, "after applying, before acknowledging");
      }
    }
    if (ack) this.send({ t: "ack", txn, from: p.id, to: coordinator });
  }

  private partTick(node: string, gen: number, at: number): void {
    const p = this.parts.get(node)!;
    if (!p.up || p.gen !== gen || p.timerAt !== at) return;
    p.timerAt = Infinity;
    for (const prep of dueInquiries(p.durable.prepared.values(), this.now)) {
      prep.inquiries += 1;
      if (this.options.bug === "participant-decides-alone" && prep.inquiries > 2) {
        this.note(() => `${p.id} gives up on ${prep.txn} and aborts it alone`);
        this.partDecision(p, prep.txn, coordinatorOf(prep.txn), "aborted", [], false);
        if (!p.up) return;
        continue;
      }
      prep.nextInquiryAt = this.now + inquiryDelay(this.inquiryAfterMs, prep.inquiries, INQUIRY_MAX_MS);
      this.stats.inquiries++;
      this.send({ t: "inquiry", txn: prep.txn, from: p.id, to: coordinatorOf(prep.txn) });
    }
    let next = Infinity;
    for (const prep of p.durable.prepared.values()) next = Math.min(next, prep.nextInquiryAt);
    this.schedulePartTimer(p, next);
  }

  private schedulePartTimer(p: PartNode, at: number): void {
    if (at === Infinity || at >= p.timerAt) return;
    p.timerAt = Math.max(at, this.now);
    this.queue.push(p.timerAt, { k: "ptick", node: p.id, gen: p.gen, at: p.timerAt });
  }

  // ---- clients ---------------------------------------------------------------------------------------

  private clientTimer(id: number, gen: number): void {
    const cl = this.clients[id]!;
    if (cl.gen !== gen) return;
    if (cl.busy) {
      // Gave up waiting: the outcome is unknown to this client.
      this.stats.clientUnknown++;
      return this.clientIdle(cl);
    }
    if (!this.chaos) return;
    const spec = nextSpec(this.workload, (k) => this.peek(k), this.rng, this.now);
    cl.busy = true;
    cl.attempt++;
    this.queue.push(this.now + CLIENT_TIMEOUT_MS, { k: "client", client: id, gen: cl.gen });
    // Client requests are lossy but never duplicated (a duplicate would be a second transaction, which is fine but noisy).
    this.send({ t: "begin", from: `client${id}`, to: this.pick(this.coordIds), client: id, attempt: cl.attempt, spec }, false);
  }

  private clientReply(id: number, attempt: number, reply: ClientReply): void {
    if (reply.kind === "decided") {
      this.told.push({ txn: reply.txn, outcome: reply.outcome });
      this.stats.clientTold++;
    }
    const cl = this.clients[id]!;
    if (cl.busy && cl.attempt === attempt) this.clientIdle(cl);
  }

  private clientIdle(cl: Client): void {
    cl.busy = false;
    cl.gen++;
    this.queue.push(this.now + this.rand(0, 30), { k: "client", client: cl.id, gen: cl.gen });
  }

  /** A client's (possibly stale) read: usually the newest replica, sometimes any one replica. */
  private peek(key: string): StoredValue | undefined {
    const replicas = this.replicasOf(key);
    if (this.rng() < 0.2) return this.parts.get(this.pick(replicas))!.durable.store.get(key);
    let best: StoredValue | undefined;
    for (const r of replicas) {
      const v = this.parts.get(r)!.durable.store.get(key);
      if (v !== undefined && (best === undefined || compareVersions(v.version, best.version) > 0)) best = v;
    }
    return best;
  }

  // ---- network ---------------------------------------------------------------------------------------

  private send(m: Msg, mayDuplicate = true): void {
    this.stats.messagesSent++;
    if (this.isolated.has(m.from) || this.isolated.has(m.to) || this.rng() < this.weather.drop) {
      this.stats.messagesDropped++;
      return void this.note(() => `drop ${describe(m)}`);
    }
    this.queue.push(this.now + this.delay(), { k: "msg", m });
    if (mayDuplicate && this.rng() < this.weather.dup) {
      this.stats.messagesDuplicated++;
      this.queue.push(this.now + this.delay(), { k: "msg", m });
    }
  }

  private delay(): number {
    const w = this.weather;
    if (w.slow > 0 && this.rng() < w.slow) return this.rand(50, 500);
    return 1 + Math.floor(this.rng() * w.maxDelay);
  }

  private randomWeather(): Weather {
    if (this.rng() < 0.25) return { drop: 0, dup: 0, maxDelay: 1 + Math.floor(this.rng() * 10), slow: 0 };
    return { drop: this.rng() * 0.3, dup: this.rng() * 0.2, maxDelay: 1 + Math.floor(this.rng() * 40), slow: this.rng() * 0.1 };
  }

  // ---- faults ----------------------------------------------------------------------------------------

  private fault(): void {
    if (!this.chaos) return;
    const r = this.rng();
    const nodes = [...this.coordIds, ...this.shardIds];
    if (r < 0.3) {
      const id = this.pick(nodes);
      if (this.rng() < 0.4) this.crashAfterPersist.add(id);
      else this.crash(id, "at a step boundary");
    } else if (r < 0.45) {
      const id = this.pick(nodes);
      this.isolated.add(id);
      this.stats.isolations++;
      this.note(() => `isolate ${id}`);
      this.queue.push(this.now + this.rand(50, 800), { k: "rejoin", node: id });
    } else if (r < 0.6) {
      this.weather = this.randomWeather();
    }
    this.queue.push(this.now + this.rand(20, 250), { k: "fault" });
  }

  private crash(id: string, how: string): void {
    const c = this.coords.get(id);
    const p = this.parts.get(id);
    if ((c ?? p)!.up === false) return;
    this.note(() => `crash ${id} ${how}`);
    this.stats.crashes++;
    this.crashAfterPersist.delete(id);
    if (c !== undefined) {
      c.up = false;
      c.gen++;
      // Volatile: working copies, votes' records, the version clock, waiting clients, timers.
      c.live.clear();
      c.records.clear();
      c.waiting.clear();
      c.wakes.clear();
      c.clock = new VersionClock(this.coordIds.indexOf(id) + 1);
    } else if (p !== undefined) {
      p.up = false;
      p.gen++;
      p.timerAt = Infinity;
      if (this.options.bug === "volatile-prepared") {
        p.durable.prepared.clear();
        p.durable.locks.clear();
      }
    }
    this.queue.push(this.now + this.rand(20, 600), { k: "restart", node: id });
  }

  private restart(id: string): void {
    const c = this.coords.get(id);
    if (c !== undefined) {
      if (c.up) return;
      c.up = true;
      this.note(() => `restart ${id}`);
      for (const [txn, s] of c.durable.txns) c.live.set(txn, cloneState(s));
      for (const s of [...c.live.values()]) {
        if (s.endedAt !== null) continue;
        if (!this.coordStep(c, s, onRecover(s, this.local(c), this.timings))) return;
      }
      return;
    }
    const p = this.parts.get(id)!;
    if (p.up) return;
    p.up = true;
    this.note(() => `restart ${id}`);
    let next = Infinity;
    for (const prep of p.durable.prepared.values()) next = Math.min(next, prep.nextInquiryAt);
    this.schedulePartTimer(p, next);
  }

  // ---- the end: heal and run until nothing is left to do --------------------------------------------

  private settle(): void {
    if (this.runtime.length > 0) return;
    this.chaos = false;
    this.isolated.clear();
    this.crashAfterPersist.clear();
    this.weather = CALM;
    this.note(() => "settle: healed, all restarted, no new transactions");
    for (const id of [...this.coordIds, ...this.shardIds]) this.restart(id);
    const limit = this.now + SETTLE_LIMIT_MS;
    if (!this.loop(() => this.now >= limit) && this.runtime.length === 0) this.fail("quiescence", `still busy ${SETTLE_LIMIT_MS} ms after healing (${this.queue.size} events queued)`);
  }

  // ---- helpers ---------------------------------------------------------------------------------------

  private rand(lo: number, hi: number): number {
    return lo + Math.floor(this.rng() * (hi - lo));
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rng() * xs.length)]!;
  }

  private note(line: () => string): void {
    const keep = this.options.trace;
    if (keep === undefined) return;
    this.trace.push(`[t=${this.now}] ${line()}`);
    if (this.trace.length > keep) this.trace.shift();
  }
}

/** Transaction ids are `<coordinator>.<n>`: a participant finds the coordinator to ask from the id. */
function coordinatorOf(txn: string): string {
  return txn.slice(0, txn.indexOf("."));
}

/** A copy of the record as persisted (the core mutates its state in place; the durable copy must not follow). */
export function cloneState(s: CoordinatorState): CoordinatorState {
  return { ...s, participants: s.participants.map((p) => ({ ...p })) };
}

/** What a replica reports in its vote: version, liveness and expiry; the value only where the transaction reads it. */
function recordOf(v: StoredValue | undefined, withValue: boolean): KeyRecord {
  if (v === undefined) return { version: null, live: false };
  const r: KeyRecord = { version: v.version, live: v.live, expiresAt: v.expiresAt };
  if (withValue && v.value !== undefined) {
    r.value = v.value;
    r.contentType = v.contentType;
  }
  return r;
}

function describe(m: Msg): string {
  switch (m.t) {
    case "prepare":
      return `PREPARE ${m.txn} ${m.from}->${m.to} [${m.keys.join(",")}]`;
    case "vote":
      return `VOTE ${m.txn} ${m.from}->${m.to} ${m.vote.vote}${m.vote.vote === "no" ? ` (${m.vote.reason.code})` : ""}`;
    case "decision":
      return `DECISION ${m.txn} ${m.from}->${m.to} ${m.outcome}`;
    case "ack":
      return `ACK ${m.txn} ${m.from}->${m.to}`;
    case "inquiry":
      return `INQUIRY ${m.txn} ${m.from}->${m.to}`;
    case "answer":
      return `ANSWER ${m.txn} ${m.from}->${m.to} ${m.answer.state}`;
    case "begin":
      return `BEGIN client${m.client}#${m.attempt} -> ${m.to}`;
    case "reply":
      return `REPLY ${m.from} -> client${m.client}#${m.attempt} ${m.reply.kind === "decided" ? `${m.reply.txn} ${m.reply.outcome}` : "invalid"}`;
  }
}
