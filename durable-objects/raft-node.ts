import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../src/config";
import { encodeCommand, KvStateMachine, type KvCommand, type KvRecord, type KvResult } from "../src/core/raft/kv";
import { type LeaseOrIndexResult, RaftNode as RaftCore, type RaftStatus } from "../src/core/raft/node";
import type { Ready } from "../src/core/raft/ready";
import type { Entry, HardState, Membership, MembershipChange, Message, NodeId, Snapshot } from "../src/core/raft/types";
import { withTimeout } from "../src/services/replica-call";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";

/** Snapshots are stored as UTF-8 chunks of this many bytes: a Durable Object's SQLite row holds at most 2 MB. */
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Compact when the log after the snapshot holds this many bytes, whatever RAFT_COMPACT_EVERY says. */
const COMPACT_LOG_BYTES = 8 * 1024 * 1024;
/** A message to a peer that has not been taken within this time is dropped (Raft retries by itself). */
const SEND_TIMEOUT_MS = 1000;
/** How long a membership change waits out a transient refusal (no commit in the term yet, a change pending). */
const MEMBERSHIP_WAIT_MS = 1000;

export interface RaftIdentity {
  group: string;
  node: NodeId;
}

export interface RaftFault {
  /** Peers this node can neither send to nor hear from (a partition, both ways). */
  blocked: NodeId[];
  /** Extra delay before each message this node sends. */
  delayMs: number;
}

export type ProposeOutcome =
  | { ok: true; result: KvResult; index: number }
  | { ok: false; reason: "not_leader" | "transferring" | "lost" | "timeout"; leader: NodeId | null };

/** How a read was served: "lease" (no round trip), "readIndex" (a heartbeat quorum confirmed it), "stale". */
export type ReadPath = "lease" | "readIndex" | "stale";

export type ReadOutcome =
  | { ok: true; record: KvRecord | null; index: number; node: NodeId; via: ReadPath }
  | { ok: false; reason: string; leader: NodeId | null };

export type ListOutcome =
  | { ok: true; items: { key: string; value: string; revision: number }[]; index: number; via: ReadPath }
  | { ok: false; reason: string; leader: NodeId | null };

/**
 * A member's status. From RaftStatus it carries the counters `electionsStarted` and `leaderChanges`
 * (numbers since this object last started: kept in memory, NOT persisted, so a crash or eviction resets
 * them to 0, as Prometheus counters may) and `ticks` (alarms handled since it started).
 */
export interface NodeStatus extends RaftStatus {
  group: string;
  /** The configured tick interval (ms): at least this long between two ticks. */
  tickMs: number;
  /** An alarm (the next tick) is armed: false when the group is quiet, or this member was only asked its status. */
  clockRunning: boolean;
  /** Entries held after the snapshot. */
  logLength: number;
  lastContact: number | null;
  fault: RaftFault;
  keys: number;
}

interface Waiter<T> {
  resolve: (v: T) => void;
}

/**
 * One member of a Raft group: a thin I/O shell around the pure core (src/core/raft). It persists what
 * Ready asks for in one SQLite transaction FIRST, then sends messages (fire and forget, one RPC per
 * peer, each with its own timeout, so a dead peer never delays the others), then applies committed
 * entries to the key-value state machine and answers waiting clients.
 *
 * The alarm is the clock: each alarm is ONE tick of the core (etcd-io/raft's Tick), however late it fired,
 * and the next is set tickMs after it began (never earlier: the leader lease counts on that). When the
 * isolate's event loop is busy, every member's alarms and messages wait in the same queue, so their clocks
 * slow down together instead of heartbeats looking lost. The alarm is not moved on each heartbeat either.
 */
export class RaftNode extends DurableObject<Cloudflare.Env> {
  private readonly sql: SqlStorage;
  private identity: RaftIdentity | null = null;
  private core: RaftCore | null = null;
  private readonly kv = new KvStateMachine();
  private fault: RaftFault = { blocked: [], delayMs: 0 };
  private snapshotIndex = 0;
  private lastContact: number | null = null;
  private alarmAt: number | null = null;
  /** When the last tick began (or the core booted): the next tick is due tickMs after it. */
  private lastTickAt = 0;
  private readonly proposals = new Map<number, { term: number } & Waiter<ProposeOutcome>>();
  private readonly reads = new Map<string, Waiter<{ ok: true; index: number } | { ok: false }>>();
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  /** Calls waiting for this node to learn who leads (an election is running): woken once a leader is known. */
  private readonly leaderWaiters = new Set<() => void>();
  private readSeq = 0;
  /** Bytes of entry data stored after the snapshot (drives compaction by size). */
  private logBytes = 0;
  /** Set at boot: the first call applies what was committed before the restart. */
  private needsPump = false;
  private pumpScheduled: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "raft"); // billed usage: stub calls it makes, alarms, storage rows
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS raft_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS raft_snapshot (seq INTEGER PRIMARY KEY, chunk BLOB NOT NULL)");
    const identity = this.meta<RaftIdentity>("identity");
    this.fault = this.meta<RaftFault>("fault") ?? this.fault;
    if (identity) this.boot(identity);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private meta<T>(name: string): T | undefined {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM raft_meta WHERE name = ?", name).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  private setMeta(name: string, value: unknown): void {
    this.sql.exec("INSERT OR REPLACE INTO raft_meta (name, value) VALUES (?, ?)", name, JSON.stringify(value));
  }

  /** Restarts the core from storage: hard state, snapshot, the entries after it. */
  private boot(identity: RaftIdentity): RaftCore {
    const cfg = getConfig(this.env).raft;
    this.identity = identity;
    const snapshot = this.loadSnapshot();
    this.snapshotIndex = snapshot?.index ?? 0;
    this.kv.restore(snapshot?.data ?? "");
    const entries = this.sql
      .exec<{ idx: number; term: number; kind: string; data: string }>("SELECT idx, term, kind, data FROM raft_log ORDER BY idx")
      .toArray()
      .map((r): Entry => ({ index: r.idx, term: r.term, kind: r.kind as Entry["kind"], data: r.data }));
    this.logBytes = entries.reduce((n, e) => n + e.data.length, 0);
    this.needsPump = true;
    const hardState = this.meta<HardState>("hard") ?? { term: 0, vote: null, commit: 0 };
    const membership: Membership = { voters: cfg.members, learners: [] };
    this.lastTickAt = Date.now();
    this.core = new RaftCore(
      { id: identity.node, electionTicks: cfg.electionTicks, maxElectionTicks: cfg.maxElectionTicks, heartbeatTicks: cfg.heartbeatTicks, tickMs: cfg.tickMs, quiesceTicks: cfg.quiesceTicks },
      {
        hardState,
        snapshot,
        entries,
        membership,
        applied: this.snapshotIndex,
        ledBeforeRestart: hardState.term > 0 && this.meta<number>("led") === hardState.term,
        leaderBeforeRestart: ((f) => (f !== undefined && f.term === hardState.term ? f.leader : null))(this.meta<{ term: number; leader: NodeId }>("follows")),
      },
      Math.random,
      this.lastTickAt,
    );
    return this.core;
  }

  private loadSnapshot(): Snapshot | null {
    const head = this.meta<Omit<Snapshot, "data">>("snapshot");
    if (!head) return null;
    const chunks = this.sql.exec<{ chunk: ArrayBuffer }>("SELECT chunk FROM raft_snapshot ORDER BY seq").toArray().map((r) => new Uint8Array(r.chunk));
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let offset = 0;
    for (const c of chunks) {
      bytes.set(c, offset);
      offset += c.byteLength;
    }
    return { ...head, data: new TextDecoder().decode(bytes) };
  }

  /** Chunks are cut in UTF-8 bytes and joined before decoding, so no character is ever split. */
  private storeSnapshot(s: Snapshot): void {
    this.sql.exec("DELETE FROM raft_snapshot");
    const bytes = new TextEncoder().encode(s.data);
    for (let i = 0, seq = 0; i < bytes.byteLength || seq === 0; i += SNAPSHOT_CHUNK_BYTES, seq++) {
      this.sql.exec("INSERT INTO raft_snapshot (seq, chunk) VALUES (?, ?)", seq, bytes.subarray(i, i + SNAPSHOT_CHUNK_BYTES));
    }
    this.setMeta("snapshot", { index: s.index, term: s.term, membership: s.membership });
    this.sql.exec("DELETE FROM raft_log WHERE idx <= ?", s.index);
    this.snapshotIndex = s.index;
    this.logBytes = this.sql.exec<{ n: number | null }>("SELECT SUM(length(data)) AS n FROM raft_log").one().n ?? 0;
  }

  /** The core, booted on first use; the caller names the node (the object cannot read its own name). */
  private ensure(identity: RaftIdentity): RaftCore {
    if (this.core) return this.core;
    this.ctx.storage.transactionSync(() => this.setMeta("identity", identity));
    return this.boot(identity);
  }

  /**
   * The core, booted if needed, with its alarm armed: a node woken by any call (a client, a status
   * query, a peer) must start its election clock even when the call itself changes nothing.
   */
  private async start(identity: RaftIdentity): Promise<RaftCore> {
    const core = this.ensure(identity);
    if (this.alarmAt === null || this.needsPump) await this.pump();
    return core;
  }

  /**
   * Runs pump() once after the calls already queued at this object have been taken in, so that
   * proposals and peer messages arriving together go out as one Ready: one storage transaction and
   * one Append per peer for the whole batch.
   */
  private schedulePump(): Promise<void> {
    this.pumpScheduled ??= new Promise((r) => setTimeout(r, 0)).then(() => {
      this.pumpScheduled = null;
      return this.pump();
    });
    return this.pumpScheduled;
  }

  /**
   * Processes every Ready: persist, then send, then apply, then answer; finally re-arm the alarm (or, with
   * `arm` false, leave a clock that is not running stopped: a status call must not start elections).
   */
  private async pump(arm = true): Promise<void> {
    const core = this.core;
    if (!core) return;
    this.needsPump = false;
    try {
      while (core.hasReady()) {
        const rd = core.ready();
        try {
          this.persist(rd);
        } catch (err) {
          // The core now believes this Ready is in hand; it is not. Restart from storage rather than
          // run on with a core that is ahead of what is durable (and would never be asked again).
          console.error(JSON.stringify({ level: "error", msg: "raft persist failed; restarting node", error: String(err) }));
          this.ctx.abort("persist failed");
          return;
        }
        this.send(rd.messages);
        this.apply(rd);
        // After applying: a proposal committed in this same Ready is answered with its result.
        if (rd.softState && rd.softState.role !== "leader") this.abandonProposals(rd.softState.leader);
        if (rd.softState?.leader != null) this.wakeLeaderWaiters();
        core.advance();
      }
      try {
        this.maybeCompact();
      } catch (err) {
        // Compaction is an optimisation: a failure must never stop the clock.
        console.error(JSON.stringify({ level: "error", msg: "raft compaction failed", error: String(err) }));
      }
    } finally {
      if (arm || this.alarmAt !== null) await this.armClock(core);
    }
  }

  /**
   * Keeps exactly one tick pending while the core wants ticks: due tickMs after the last tick began (in
   * the past if that tick ran long: it then fires at once, still at least tickMs after the last). An alarm
   * already set is left alone, so messages never push the clock back.
   */
  private async armClock(core: RaftCore): Promise<void> {
    if (!core.wantsTicks()) {
      if (this.alarmAt !== null) {
        // Cleared before the await: a call that wakes the core meanwhile must see no clock and arm one.
        this.alarmAt = null;
        await this.ctx.storage.deleteAlarm();
      }
      return;
    }
    if (this.alarmAt !== null) return;
    const at = this.lastTickAt + getConfig(this.env).raft.tickMs;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  private persist(rd: Ready): void {
    this.ctx.storage.transactionSync(() => {
      if (rd.snapshot) this.storeSnapshot(rd.snapshot);
      if (rd.truncateFrom !== undefined) this.sql.exec("DELETE FROM raft_log WHERE idx >= ?", rd.truncateFrom);
      for (const e of rd.entries) {
        this.sql.exec("INSERT OR REPLACE INTO raft_log (idx, term, kind, data) VALUES (?, ?, ?, ?)", e.index, e.term, e.kind, e.data);
        this.logBytes += e.data.length;
      }
      if (rd.hardState) this.setMeta("hard", rd.hardState);
      // Remember leading this term (after a restart this node campaigns at once: ledBeforeRestart), or
      // whom it follows in it (after a restart it still knows them: leaderBeforeRestart).
      const soft = rd.softState;
      if (soft?.leader != null) {
        const term = rd.hardState?.term ?? this.core?.term ?? 0;
        if (soft.role === "leader") this.setMeta("led", term);
        else this.setMeta("follows", { term, leader: soft.leader });
      }
    });
  }

  private send(messages: Message[]): void {
    const identity = this.identity;
    if (!identity || messages.length === 0) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      if (this.fault.blocked.includes(m.to)) continue;
      const list = byPeer.get(m.to) ?? [];
      list.push(m);
      byPeer.set(m.to, list);
    }
    for (const [to, batch] of byPeer) {
      const stub = raftStub(this.env, identity.group, to);
      const deliver = async () => {
        if (this.fault.delayMs > 0) await new Promise((r) => setTimeout(r, this.fault.delayMs));
        await withTimeout(stub.receive({ group: identity.group, node: to }, batch), SEND_TIMEOUT_MS);
      };
      // Fire and forget: Raft tolerates lost messages, and no peer waits on another.
      deliver().catch(() => undefined);
    }
  }

  private apply(rd: Ready): void {
    if (rd.snapshot) this.kv.restore(rd.snapshot.data);
    for (const e of rd.committed) {
      const result = this.kv.apply(e);
      const waiter = this.proposals.get(e.index);
      if (waiter) {
        this.proposals.delete(e.index);
        waiter.resolve(waiter.term === e.term && result ? { ok: true, result, index: e.index } : { ok: false, reason: "lost", leader: null });
      }
    }
    for (const r of rd.readStates) this.reads.get(r.requestId)?.resolve({ ok: true, index: r.index });
    for (const id of rd.failedReads) this.reads.get(id)?.resolve({ ok: false });
    const applied = this.kv.appliedIndex;
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const w = this.appliedWaiters[i]!;
      if (w.index <= applied) {
        this.appliedWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /**
   * This node stopped leading: its pending proposals may or may not commit under the next leader.
   * They are answered "not_leader" (outcome unknown) so the client retries there at once; the retry
   * carries the same client id and sequence number, so it is applied at most once.
   */
  private abandonProposals(leader: NodeId | null): void {
    for (const [index, waiter] of this.proposals) {
      this.proposals.delete(index);
      waiter.resolve({ ok: false, reason: "not_leader", leader });
    }
  }

  private maybeCompact(): void {
    const core = this.core;
    const every = getConfig(this.env).raft.compactEvery;
    if (!core || this.kv.appliedIndex <= this.snapshotIndex) return;
    if (this.kv.appliedIndex - this.snapshotIndex < every && this.logBytes < COMPACT_LOG_BYTES) return;
    const snapshot = core.compact(this.kv.appliedIndex, this.kv.snapshot());
    this.ctx.storage.transactionSync(() => this.storeSnapshot(snapshot));
  }

  /** The clock: one tick (election timeout, heartbeat, CheckQuorum), however late this alarm fired. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const identity = this.meta<RaftIdentity>("identity");
    if (!identity) return;
    const core = this.ensure(identity);
    const now = Date.now();
    // Never two ticks less than tickMs apart (an alarm set before a restart may come early for the new core).
    if (now < this.lastTickAt + getConfig(this.env).raft.tickMs) return void (await this.pump());
    this.lastTickAt = now;
    core.tick(now);
    await this.pump();
  }

  /** Peer messages (RPC). Dropped when this node is partitioned from the sender. */
  async receive(identity: RaftIdentity, messages: Message[]): Promise<void> {
    const core = await this.start(identity);
    const now = Date.now();
    for (const m of messages) {
      if (this.fault.blocked.includes(m.from)) continue;
      this.lastContact = now;
      core.step(m, now);
    }
    await this.schedulePump();
  }

  private wakeLeaderWaiters(): void {
    const waiters = [...this.leaderWaiters];
    this.leaderWaiters.clear();
    for (const w of waiters) w();
  }

  /**
   * While no leader is known here (an election is running, or this node just restarted and will run one),
   * a client call waits for the outcome here, up to about one election, instead of bouncing between
   * members: it is then served here if this node won, or told who did.
   */
  private async awaitLeader(core: RaftCore, deadlineAt: number): Promise<void> {
    await this.schedulePump();
    if (core.leader !== null) return;
    const wait = Math.min(deadlineAt - Date.now(), 2 * getConfig(this.env).raft.electionMaxMs);
    if (wait <= 0) return;
    let wake = () => {};
    const known = new Promise<void>((resolve) => (wake = resolve));
    this.leaderWaiters.add(wake);
    try {
      await this.within(known, wait, () => undefined);
    } finally {
      this.leaderWaiters.delete(wake);
    }
  }

  /** A client command: proposed here if this node leads, answered once applied (or lost / timed out). */
  async propose(identity: RaftIdentity, command: KvCommand, timeoutMs: number): Promise<ProposeOutcome> {
    const deadlineAt = Date.now() + timeoutMs;
    const core = await this.start(identity);
    let r = core.propose(encodeCommand(command), Date.now());
    if (!r.ok && r.reason === "not_leader" && r.leader === null) {
      await this.awaitLeader(core, deadlineAt);
      r = core.propose(encodeCommand(command), Date.now());
    }
    // A refusal still pumps: a quiesced follower that a client reached starts its clock and pokes its leader.
    if (!r.ok) {
      await this.schedulePump();
      return { ok: false, reason: r.reason, leader: r.leader };
    }
    const outcome = new Promise<ProposeOutcome>((resolve) => this.proposals.set(r.index, { term: r.term, resolve }));
    await this.schedulePump();
    return this.within(outcome, Math.max(1, deadlineAt - Date.now()), () => {
      this.proposals.delete(r.index);
      return { ok: false, reason: "timeout", leader: core.leader };
    });
  }

  /** Reads one key or a prefix with the asked consistency. */
  async read(identity: RaftIdentity, key: string, consistency: "linearizable" | "lease" | "stale", timeoutMs: number): Promise<ReadOutcome> {
    const at = await this.readPoint(identity, consistency, timeoutMs);
    if (!at.ok) return at;
    return { ok: true, record: this.kv.get(key), index: at.index, node: identity.node, via: at.via };
  }

  async list(identity: RaftIdentity, prefix: string, limit: number, after: string | undefined, consistency: "linearizable" | "lease" | "stale", timeoutMs: number): Promise<ListOutcome> {
    const at = await this.readPoint(identity, consistency, timeoutMs);
    if (!at.ok) return at;
    return { ok: true, items: this.kv.list(prefix, after === undefined ? { limit } : { limit, after }), index: at.index, via: at.via };
  }

  /**
   * Waits until this node may serve a read of the asked consistency; answers the index it reads at. A
   * lease read whose lease cannot be used (acknowledgements slow under load, a fresh leader, a transfer)
   * goes through ReadIndex instead of failing; only "not the leader" sends the client elsewhere.
   */
  private async readPoint(identity: RaftIdentity, consistency: "linearizable" | "lease" | "stale", timeoutMs: number): Promise<{ ok: true; index: number; via: ReadPath } | { ok: false; reason: string; leader: NodeId | null }> {
    const deadlineAt = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadlineAt - Date.now());
    const core = await this.start(identity);
    if (consistency === "stale") return { ok: true, index: this.kv.appliedIndex, via: "stale" };
    let index: number;
    let via: ReadPath = "readIndex";
    const requestId = `${identity.node}:${++this.readSeq}`;
    const ask = () => (consistency === "lease" ? core.leaseReadOrReadIndex(requestId, Date.now()) : readIndexAsResult(core.readIndex(requestId, Date.now())));
    let r = ask();
    if (!r.ok && r.reason === "not_leader" && r.leader === null) {
      await this.awaitLeader(core, deadlineAt);
      r = ask();
    }
    if (!r.ok) {
      await this.schedulePump();
      return { ok: false, reason: r.reason, leader: r.leader };
    }
    if (r.via === "lease") {
      index = r.index;
      via = "lease";
    } else {
      const confirmed = new Promise<{ ok: true; index: number } | { ok: false }>((resolve) => this.reads.set(requestId, { resolve }));
      await this.schedulePump();
      const res = await this.within(confirmed, left(), () => ({ ok: false as const }));
      this.reads.delete(requestId);
      if (!res.ok) return { ok: false, reason: "leadership_unconfirmed", leader: core.leader };
      index = res.index;
    }
    if (this.kv.appliedIndex < index) {
      const waiter = { index, resolve: () => {} };
      const applied = new Promise<void>((resolve) => {
        waiter.resolve = resolve;
        this.appliedWaiters.push(waiter);
      });
      const ok = await this.within(applied.then(() => true), left(), () => false);
      if (!ok) {
        const i = this.appliedWaiters.indexOf(waiter);
        if (i >= 0) this.appliedWaiters.splice(i, 1);
        return { ok: false, reason: "timeout", leader: core.leader };
      }
    }
    return { ok: true, index, via };
  }

  private within<T>(p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
    return withTimeout(p, ms).catch(() => onTimeout());
  }

  async changeMembership(identity: RaftIdentity, change: MembershipChange): Promise<{ ok: boolean; reason?: string; leader: NodeId | null; index?: number }> {
    const core = await this.start(identity);
    let r = core.proposeMembership(change, Date.now());
    // Transient refusals wait a moment instead of answering 409: a new leader's first commit (right after a
    // transfer or an election) or the previous change's commit is a round trip away.
    const until = Date.now() + MEMBERSHIP_WAIT_MS;
    while (!r.ok && (r.reason === "no_commit_in_term" || r.reason === "change_pending") && Date.now() < until) {
      await this.schedulePump();
      await new Promise((resolve) => setTimeout(resolve, 10));
      r = core.proposeMembership(change, Date.now());
    }
    await this.pump();
    return r.ok ? { ok: true, index: r.index, leader: identity.node } : { ok: false, reason: r.reason, leader: r.leader };
  }

  async transferLeadership(identity: RaftIdentity, to: NodeId): Promise<{ ok: boolean; reason?: string; leader: NodeId | null }> {
    const core = await this.start(identity);
    const r = core.transferLeadership(to, Date.now());
    await this.pump();
    return r.ok ? { ok: true, leader: identity.node } : { ok: false, reason: r.reason, leader: r.leader };
  }

  async status(identity: RaftIdentity): Promise<NodeStatus> {
    const core = this.ensure(identity);
    // A status call applies what is committed but starts no clock of a group that has run (term > 0): a
    // dashboard or a metrics scrape must not wake a quiet group, nor make a member it booted after an
    // eviction run for leader. A group that has never run is started by any call, this one included.
    await this.pump(core.term === 0);
    const st = core.status();
    return { ...st, group: identity.group, tickMs: getConfig(this.env).raft.tickMs, clockRunning: this.alarmAt !== null, logLength: st.lastIndex - st.snapshotIndex, lastContact: this.lastContact, fault: this.fault, keys: this.kv.size };
  }

  /** Fault injection (admin only); persisted, so a partition outlives a crash until healed. */
  async setFault(identity: RaftIdentity, fault: RaftFault): Promise<RaftFault> {
    this.ensure(identity);
    this.fault = fault;
    this.ctx.storage.transactionSync(() => this.setMeta("fault", fault));
    return fault;
  }

  /** Crash injection: memory is lost, storage (term, vote, log, snapshot) is kept. */
  async crash(): Promise<void> {
    this.ctx.abort("crash injected");
  }
}

function readIndexAsResult(r: ReturnType<RaftCore["readIndex"]>): LeaseOrIndexResult {
  return r.ok ? { ok: true, via: "readIndex" } : r;
}

export function raftStub(env: Cloudflare.Env, group: string, node: NodeId): DurableObjectStub<RaftNode> {
  return objectStub(env, "raft", `${group}/${node}`);
}
