import type { ShardRecord } from "../../durable-objects/cache-shard";
import { getConfig, LIMITS, type Config } from "../config";
import { makeVersion } from "../core/cache/version";
import { REDIS_BUDGET, deadlineError, isBatchedRead, requestDeadlineMs, walkOverBudget } from "../core/redis/budget";
import { commandSpec, compileGlob, executeCommand, isKeyspaceCommand, isReadOnly, isUnsupportedCommand, keysOf, parseScan, unknownCommandError, unsupportedCommandError } from "../core/redis/commands";
import { decodeEntry, encodeEntry } from "../core/redis/codec";
import { MAX_SCRIPT_SCAN_STEPS, NeedScan, SCRIPT_CACHE_LIMIT, ScriptCache, scanMemoKey, scanReplyKeys, type ScanMemo, type ScriptUse } from "../core/redis/scripting";
import { stringOf } from "../core/redis/bytes";
import { RedisError, STRING_CONTENT_TYPE, type Command, type Entry, type Keyspace, type Reply } from "../core/redis/types";
import type { TxnCondition, TxnOp } from "../core/txn/types";
import { HttpError } from "../http/errors";
import { utf8Length } from "../core/text/utf8";
import { cacheGet, cacheGetMany, cacheSet, ringFor, shardCall, type CacheDeps, type ReadOutcome } from "./cache";
import { KeySequencer, SequencerDeadlineError, SequencerOutcomeUnknownError } from "../core/sequencer/key-sequencer";
import { withKeys } from "./key-order";
import { runTxn } from "./txn";

/** One command's outcome, as the REST protocol sends it. */
export type Outcome = { result: Reply } | { error: string };

export interface RedisContext {
  deps: CacheDeps;
  /** Whether the caller presented the admin token (FLUSHDB needs it); asked only when needed. */
  admin: () => Promise<boolean>;
  /**
   * When the request's work stops. Only a deadline: when workerd sees its client go (a reset
   * connection), it cancels the whole invocation by itself, and Request.signal (compatibility flag
   * enable_request_signal) aborts at that same moment, so checking it would add nothing; a client
   * that closes its side cleanly is not noticed at all, and only the deadline ends that work.
   */
  bounds: RequestBounds;
}

export interface RequestBounds {
  /** Unix ms after which no further command is started and no walk goes on. */
  deadlineAt: number;
  /** The deadline's length, for the error that names it. */
  deadlineMs: number;
  /** What the request's scripts have used so far: they share one time budget and one count of SCAN steps. */
  scripts?: ScriptUse;
}

/** Bounds of a request starting now: `requestDeadlineMs` of the cache's deadline for one operation. */
export function requestBounds(cacheDeadlineMs: number, now = Date.now()): RequestBounds {
  const deadlineMs = requestDeadlineMs(cacheDeadlineMs);
  return { deadlineAt: now + deadlineMs, deadlineMs, scripts: { usedMs: 0, scanSteps: 0 } };
}

/** Whether the request's deadline has passed: no further command starts. */
function pastDeadline(bounds: RequestBounds): boolean {
  return Date.now() >= bounds.deadlineAt;
}

/** Throws the deadline's error when it has passed (between the steps of a keyspace walk). */
function checkBounds(bounds: RequestBounds): void {
  if (pastDeadline(bounds)) throw new RedisError(deadlineError(bounds.deadlineMs));
}

/** What a run of commands answers, and the version of its last write (the sync token), if it wrote. */
export interface RunResult {
  outcomes: Outcome[];
  wrote: string | null;
  /** Set when the run was refused for overload (shed, or its deadline passed waiting): answer 503 with this Retry-After. */
  retryAfterS?: number;
}

/** Keys of one SCAN step read from a shard (Redis's COUNT is a hint of work, like here). */
const SCAN_PAGE_MAX = REDIS_BUDGET.scanCount;

interface Loaded {
  entry: Entry | null;
  revision: string | null;
}

const encoder = new TextEncoder();

function toEntry(record: ShardRecord): Entry | null {
  if (!record.live) return null;
  // Lossless: bytes that are not UTF-8 (a binary value written through /cache) stay bytes (bytes.ts).
  return decodeEntry(record.contentType, stringOf(record.value ?? new Uint8Array(0)), record.expiresAt ?? null);
}

/** Thrown when a key is locked by a transaction or a read failed: the whole attempt is retried or reported. */
class ReadFailed extends Error {
  constructor(readonly failure: HttpError) {
    super(failure.message);
  }
}

async function load(deps: CacheDeps, keys: readonly string[], r?: number): Promise<Map<string, Loaded>> {
  // One key (most commands): a plain quorum read; several: one call per shard.
  const outcomes = keys.length === 1 ? [await cacheGet(deps, keys[0]!, r).catch((err: unknown) => (err instanceof HttpError ? err : Promise.reject(err)))] : await cacheGetMany(deps, keys, r);
  const loaded = new Map<string, Loaded>();
  outcomes.forEach((o: ReadOutcome | HttpError, i) => {
    if (o instanceof HttpError) throw new ReadFailed(o);
    loaded.set(keys[i]!, toLoaded(o));
  });
  return loaded;
}

function toLoaded(o: ReadOutcome): Loaded {
  return { entry: toEntry(o.record), revision: o.record.live ? o.record.version : null };
}

/** The keyspace a batch of commands runs against: what was loaded, with the batch's own changes on top. */
class Snapshot implements Keyspace {
  readonly dirty = new Map<string, Entry | null>();
  /** Every set, with what `dirty` held for the key before it (undefined: nothing), so a command's writes can be undone. */
  private readonly journal: [key: string, before: Entry | null | undefined][] = [];
  constructor(private readonly loaded: Map<string, Loaded>) {}
  get(key: string): Entry | null {
    if (this.dirty.has(key)) return this.dirty.get(key) ?? null;
    return this.loaded.get(key)?.entry ?? null;
  }
  set(key: string, entry: Entry | null): void {
    this.journal.push([key, this.dirty.get(key)]);
    this.dirty.set(key, entry);
  }
  /** A point to undo to. */
  mark(): number {
    return this.journal.length;
  }
  /** The keys written since `mark`. */
  writtenSince(mark: number): Set<string> {
    return new Set(this.journal.slice(mark).map(([key]) => key));
  }
  /** Undo every write since `mark`. */
  undo(mark: number): void {
    while (this.journal.length > mark) {
      const [key, before] = this.journal.pop()!;
      if (before === undefined) this.dirty.delete(key);
      else this.dirty.set(key, before);
    }
  }
}

/**
 * Scripts this isolate has seen (EVAL, SCRIPT LOAD), for EVALSHA; each isolate has its own, so an
 * EVALSHA may answer NOSCRIPT where another isolate loaded the script: clients then send EVAL.
 */
const SCRIPTS = new ScriptCache(SCRIPT_CACHE_LIMIT);

/**
 * Runs commands in order on a snapshot. A write whose result would not fit in one key (a list, set,
 * sorted set or hash grown past REDIS_ENTRY_BYTES once encoded) is undone and answers an
 * error naming the key and the limit; the commands before and after it are unaffected, as Redis
 * leaves the other commands of a MULTI block when one fails.
 */
function execute(cmds: readonly Command[], ks: Snapshot, now: number, replay?: ScriptReplay, scriptUse?: ScriptUse): Outcome[] {
  return cmds.map((cmd) => {
    const mark = ks.mark();
    try {
      const result = executeCommand(cmd, ks, now, { maxValueBytes: LIMITS.valueBytes, random: Math.random, scripts: SCRIPTS, clock: Date.now, ...replay, ...(scriptUse ? { scriptUse } : {}) });
      // A command that wrote nothing (every read) has nothing to measure.
      const tooBig = ks.mark() === mark ? null : oversizeWrite(ks, mark);
      if (tooBig === null) return { result };
      ks.undo(mark);
      return { error: tooBig };
    } catch (err) {
      if (err instanceof RedisError) return { error: err.message };
      if (err instanceof NeedScan) throw err;
      // A fault of the engine itself (a bug, a library's own error) fails this command, not the whole
      // request: the other commands of a pipeline or block still answer, and nothing of it is kept.
      ks.undo(mark);
      console.error(JSON.stringify({ level: "error", msg: "redis command failed", command: cmd.name, error: String(err) }));
      return { error: `ERR internal error running '${cmd.name}'` };
    }
  });
}

/** What the runs of a unit's scripts share across its attempts: the SCAN replies fetched for them, and math.random's seed. */
interface ScriptReplay {
  scans: ScanMemo;
  scriptSeed: number;
}

/**
 * A script's SCAN (NeedScan): fetched as the SCAN command answers it and kept in the memo; the keys
 * it lists join `keys`, so the next attempt loads them and commits on their revisions. Past
 * MAX_SCRIPT_SCAN_STEPS steps, or when the keys would pass what one transaction holds, the memo
 * keeps an error that stops the script instead.
 */
async function fetchScriptScan(ctx: RedisContext, need: NeedScan, replay: ScriptReplay, keys: string[]): Promise<void> {
  const memoKey = scanMemoKey(need.args);
  // The steps are counted per request (every script of a pipeline or block together): each costs a
  // call to every shard, which the request's estimate does not hold.
  const use = ctx.bounds.scripts;
  if (replay.scans.size >= MAX_SCRIPT_SCAN_STEPS || (use !== undefined && use.scanSteps >= MAX_SCRIPT_SCAN_STEPS)) {
    replay.scans.set(memoKey, { error: `ERR a request's scripts may take at most ${MAX_SCRIPT_SCAN_STEPS} SCAN steps in all (MAX_SCRIPT_SCAN_STEPS)`, stop: true });
    return;
  }
  if (use !== undefined) use.scanSteps++;
  const outcome = await scanCommand(ctx, need.args);
  if ("error" in outcome) {
    replay.scans.set(memoKey, { error: outcome.error });
    return;
  }
  const found = scanReplyKeys(need.args, outcome.result).filter((k) => !keys.includes(k));
  if (keys.length + found.length > LIMITS.txnOps) {
    const error = `ERR a script's keys (declared and found by SCAN) may number at most ${LIMITS.txnOps}, what one transaction holds (LIMITS.txnOps)`;
    replay.scans.set(memoKey, { error, stop: true });
    return;
  }
  replay.scans.set(memoKey, outcome.result);
  keys.push(...found);
}

/**
 * The most one key may hold when written through the Redis engine: every such write commits as a
 * transaction, whose values may total LIMITS.txnValueBytes (256 KiB), under the cache's 1 MiB.
 */
export const REDIS_ENTRY_BYTES = Math.min(LIMITS.valueBytes, LIMITS.txnValueBytes);

/** The error for the first key written since `mark` whose stored form would pass REDIS_ENTRY_BYTES, else null. */
function oversizeWrite(ks: Snapshot, mark: number): string | null {
  for (const key of ks.writtenSince(mark)) {
    const entry = ks.dirty.get(key) ?? null;
    if (entry === null) continue;
    const bytes = utf8Length(encoded(entry).value);
    if (bytes > REDIS_ENTRY_BYTES) return `ERR the value of '${key.slice(0, 128)}' would take ${bytes} bytes stored; one key holds at most ${REDIS_ENTRY_BYTES} bytes`;
  }
  return null;
}

/** encodeEntry, once per entry object (an oversize check and the commit both need it). */
const encodings = new WeakMap<Entry, { value: string; contentType: string }>();
function encoded(entry: Entry): { value: string; contentType: string } {
  let e = encodings.get(entry);
  if (e === undefined) {
    e = encodeEntry(entry);
    encodings.set(entry, e);
  }
  return e;
}

function toOp(key: string, entry: Entry | null, now: number): TxnOp {
  if (entry === null) return { op: "delete", key };
  if (entry.expiresAt !== null && entry.expiresAt <= now) return { op: "delete", key };
  const { value, contentType } = encoded(entry);
  // The absolute expiry is passed as is: a relative TTL would move it later by the commit's delay on every write.
  return entry.expiresAt === null ? { op: "set", key, value, contentType } : { op: "set", key, value, contentType, expiresAt: entry.expiresAt };
}

const unique = (keys: string[]) => [...new Set(keys)];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One caller's commands waiting their turn on their keys (see `keySets`). */
interface Unit {
  ctx: RedisContext;
  cmds: readonly Command[];
}

/**
 * Read-modify-writes are ordered in this isolate instead of racing: callers whose units touch the same
 * key set queue in one line (a single key being the common case: a counter, a rate limiter), and each
 * batch of them runs as ONE atomic unit (one read, the commands in arrival order, one commit), so a hot
 * key costs a round per batch instead of a conflict and a retry per caller. A batch first locks its
 * keys in sorted order (`keyLocks`), so units over overlapping but different key sets take turns and
 * can never deadlock. Across isolates (on Cloudflare, requests for one key may land in several),
 * batches still race; the commit's revision conditions keep that correct, and the loser retries
 * within its deadline.
 */
const keySets = new KeySequencer<Unit, RunResult>(
  (_line, units, deadlineAt) => {
    // The batch belongs to every caller in it, not only to the leader whose request runs it: under
    // waitUntil it runs to the end even if the leader's client goes away (which would otherwise cancel
    // the leader's request and leave the others without their answers).
    const work = runBatch(units, deadlineAt);
    units[0]!.ctx.deps.waitUntil(work.catch(() => undefined));
    return work;
  },
  { now: Date.now, sleep },
);

async function runBatch(units: Unit[], deadlineAt: number): Promise<RunResult[]> {
  const ctx = units[0]!.ctx;
  const keys = unitKeys(units[0]!.cmds);
  try {
    return await withKeys(keys, deadlineAt, () => runUnits(ctx, getConfig(ctx.deps.env), keys, units.map((u) => u.cmds), deadlineAt));
  } catch (err) {
    // Still in line for the keys' locks at the deadline: nothing ran.
    if (err instanceof HttpError && err.code === "overloaded") return units.map((u) => fail(u.cmds, ...failure(err)));
    throw err;
  }
}

const unitKeys = (cmds: readonly Command[]) => unique(cmds.flatMap((c) => keysOf(c)));

/**
 * Runs commands as one atomic unit: the keys they touch are read (quorum), the commands run against
 * that snapshot, and what they changed is committed as ONE cross-shard transaction whose conditions
 * are the revisions read. If anything changed those keys meanwhile, the whole unit runs again, until
 * the request's deadline. Read-only units commit nothing. A unit that writes waits its turn on its
 * keys (`keySets`) instead of racing the others.
 */
async function atomically(ctx: RedisContext, config: Config, cmds: readonly Command[]): Promise<RunResult> {
  const keys = unitKeys(cmds);
  const deadline = Date.now() + config.cache.deadlineMs;
  // Every key a write reads is a condition of its commit, which holds LIMITS.txnOps: say so before
  // reading them all (ZUNIONSTORE or an EVAL over 100 keys failed only at the commit).
  if (keys.length > LIMITS.txnOps && !cmds.every(isReadOnly)) {
    return fail(cmds, `ERR a write may touch at most ${LIMITS.txnOps} keys, what one transaction holds (this one names ${keys.length})`);
  }
  if (keys.length > 0 && !cmds.every(isReadOnly)) {
    try {
      return await keySets.submit([...keys].sort().join("\u0000"), { ctx, cmds }, deadline);
    } catch (err) {
      if (err instanceof SequencerDeadlineError) return fail(cmds, `BUSY ${err.message} on these keys; retry`, 1);
      // The batch holding these commands never answered: they may or may not have been applied.
      if (err instanceof SequencerOutcomeUnknownError) return fail(cmds, `ERR ${err.message}`, 1);
      throw err;
    }
  }
  return (await runUnits(ctx, config, keys, [cmds], deadline))[0]!;
}

/**
 * Runs units of commands over `keys` as one atomic transaction: every unit's commands in order on one
 * snapshot, one commit. Answers one RunResult per unit; a failure of the whole fails every unit.
 */
async function runUnits(ctx: RedisContext, config: Config, declaredKeys: string[], units: readonly (readonly Command[])[], deadline: number): Promise<RunResult[]> {
  // The declared keys, then those a script's SCAN found (each a revision condition of the commit).
  const keys = [...declaredKeys];
  const replay: ScriptReplay = { scans: new Map(), scriptSeed: Math.floor(Math.random() * 2 ** 31) };
  const failAll = (message: string, retryAfterS?: number) => units.map((cmds) => fail(cmds, message, retryAfterS));
  const again = async (attempt: number) => {
    const pause = backoff(attempt);
    if (Date.now() + pause > deadline) return false;
    await sleep(pause);
    return true;
  };
  const priority = Date.now();
  for (let attempt = 0; ; attempt++) {
    // A retry reads every replica: the first R may hold only eviction markers of a key another still has.
    const r = attempt === 0 ? undefined : config.cache.replicas;
    let loaded: Map<string, Loaded>;
    try {
      loaded = await load(ctx.deps, keys, r);
    } catch (err) {
      if (!(err instanceof ReadFailed)) throw err;
      if (err.failure.code === "locked" && (await again(attempt))) continue;
      return failAll(...failure(err.failure));
    }
    const now = Date.now();
    const ks = new Snapshot(loaded);
    let outcomes: Outcome[][];
    try {
      // One caller's unit shares its request's script budget; units of a batch are other callers' requests.
      outcomes = units.map((cmds) => execute(cmds, ks, now, replay, units.length === 1 ? ctx.bounds.scripts : undefined));
    } catch (err) {
      if (!(err instanceof NeedScan)) throw err;
      // A script's SCAN: fetch it, then run every unit again from the start on a snapshot with its keys.
      if (Date.now() >= deadline || pastDeadline(ctx.bounds)) return failAll(deadlineError(ctx.bounds.deadlineMs));
      await fetchScriptScan(ctx, err, replay, keys);
      attempt--;
      continue;
    }
    const wrote = units.map((cmds) => cmds.some((c) => !isReadOnly(c)));
    if (ks.dirty.size === 0) {
      // Reads of several keys must be one snapshot (MGET, a read-only MULTI): read again; unchanged
      // versions mean every key held what was read at one moment between the two reads.
      if (keys.length < 2) return outcomes.map((o) => ({ outcomes: o, wrote: null }));
      let check: Map<string, Loaded>;
      try {
        check = await load(ctx.deps, keys, r);
      } catch (err) {
        if (!(err instanceof ReadFailed)) throw err;
        if (await again(attempt)) continue;
        return failAll(...failure(err.failure));
      }
      if (keys.every((k) => check.get(k)?.revision === loaded.get(k)?.revision)) return outcomes.map((o) => ({ outcomes: o, wrote: null }));
      if (await again(attempt)) continue;
      return failAll("ERR the keys kept changing while being read; retry");
    }
    const ops = [...ks.dirty].map(([key, entry]) => toOp(key, entry, now));
    const conditions: TxnCondition[] = keys.map((key) => ({ key, revision: loaded.get(key)?.revision ?? null }));
    try {
      // Every attempt keeps the first one's priority: under wait-die it ages until it waits instead of dying.
      const view = await runTxn(ctx.deps.env, config, crypto.randomUUID(), { ops, conditions }, priority);
      if (view.phase === "committed") {
        const revision = view.results?.[0]?.revision ?? null;
        return outcomes.map((o, i) => ({ outcomes: o, wrote: wrote[i] ? revision : null }));
      }
      const code = view.reason?.code;
      if ((code === "condition_failed" || code === "conflict") && (await again(attempt))) continue;
      // The cluster's trouble (a replica that did not vote, a coordinator that restarted), not the
      // client's: a 503 with Retry-After, as /txn answers it; nothing was applied.
      const unavailable = code === "participant_unavailable" || code === "vote_timeout" || code === "coordinator_recovered";
      return failAll(`ERR ${view.reason?.message ?? "transaction aborted"}`, unavailable ? 1 : undefined);
    } catch (err) {
      if (err instanceof HttpError) return failAll(...failure(err));
      throw err;
    }
  }
}

/** How a failed read or commit is told to Redis clients: overload comes with a Retry-After. */
function failure(err: HttpError): [string, number?] {
  if (err.code === "overloaded") return [`BUSY ${err.message}`, retryAfterSeconds(err)];
  return [`ERR ${err.message}`];
}

function retryAfterSeconds(err: HttpError): number {
  const v = Number(err.headers["Retry-After"]);
  return Number.isFinite(v) && v > 0 ? v : 1;
}

function backoff(attempt: number): number {
  return Math.min(5 * 2 ** attempt, 200) * (0.5 + Math.random());
}

function fail(cmds: readonly Command[], message: string, retryAfterS?: number): RunResult {
  const run: RunResult = { outcomes: cmds.map(() => ({ error: message })), wrote: null };
  return retryAfterS === undefined ? run : { ...run, retryAfterS };
}

/** `SET key value` and `SET key value EX|PX n`: a blind write, sent as one quorum write (no read, no transaction). */
function blindSet(cmd: Command): { key: string; value: string; ttlMs: number | null } | null {
  if (cmd.name !== "set") return null;
  const [key, value, opt, n] = cmd.args;
  if (key === undefined || value === undefined) return null;
  if (cmd.args.length === 2) return { key, value, ttlMs: null };
  if (cmd.args.length !== 4 || opt === undefined || n === undefined || !/^[1-9][0-9]{0,12}$/.test(n)) return null;
  const o = opt.toLowerCase();
  if (o === "ex") return { key, value, ttlMs: Number(n) * 1000 };
  if (o === "px") return { key, value, ttlMs: Number(n) };
  return null;
}

/** One command (the plain POST /redis form). */
export async function runCommand(ctx: RedisContext, cmd: Command): Promise<RunResult> {
  const config = getConfig(ctx.deps.env);
  if (isKeyspaceCommand(cmd.name)) return { outcomes: [await keyspaceCommand(ctx, cmd)], wrote: null };
  const blind = blindSet(cmd);
  // A value that is not text (lone surrogates: escaped bytes, see bytes.ts) is stored by the codec, not as UTF-8.
  if (blind !== null && ((blind.ttlMs !== null && blind.ttlMs > LIMITS.maxTtlMs) || !blind.value.isWellFormed())) return atomically(ctx, config, [cmd]);
  if (blind !== null) {
    const deadline = Date.now() + config.cache.deadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await cacheSet(ctx.deps, blind.key, encoder.encode(blind.value), STRING_CONTENT_TYPE, blind.ttlMs);
        return { outcomes: [{ result: "OK" }], wrote: out.version };
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        // A key locked by a deciding transaction, or a newer writer racing: SET waits its turn, as in Redis.
        if ((err.code === "locked" || err.code === "conflict") && Date.now() + backoff(attempt) < deadline) {
          await sleep(backoff(attempt));
          continue;
        }
        return fail([cmd], ...failure(err));
      }
    }
  }
  return atomically(ctx, config, [cmd]);
}

/**
 * A pipeline: commands run in order, each atomic on its own (as Redis runs a pipeline). Runs of
 * read-only commands are read together, one call per shard, which is what makes a pipeline of many
 * GETs cheap.
 */
export async function runPipeline(ctx: RedisContext, cmds: readonly Command[]): Promise<RunResult> {
  const config = getConfig(ctx.deps.env);
  const outcomes: Outcome[] = [];
  let wrote: string | null = null;
  let retryAfterS: number | undefined;
  for (let i = 0; i < cmds.length; ) {
    const cmd = cmds[i]!;
    // A turn of the event loop between commands: a run of blind SETs otherwise chains promise
    // continuations without end, and the isolate took no other request until the pipeline was done
    // (/healthz waited the whole 0.9 s of 300 SETs; 4-14 ms with this).
    if (i > 0) await sleep(0);
    // Work nobody waits for is dropped: past the deadline, the commands not started yet are answered
    // with an error (a command already started finishes: each is atomic).
    if (pastDeadline(ctx.bounds)) {
      const error = deadlineError(ctx.bounds.deadlineMs);
      for (; i < cmds.length; i++) outcomes.push({ error });
      break;
    }
    // Single-key reads in a row: read together, with no snapshot across them (a pipeline is not atomic).
    if (isBatchedRead(cmd)) {
      let j = i;
      while (j < cmds.length && isBatchedRead(cmds[j]!)) j++;
      outcomes.push(...(await readRun(ctx, config, cmds.slice(i, j))));
      i = j;
      continue;
    }
    const r = await runCommand(ctx, cmd);
    outcomes.push(...r.outcomes);
    wrote = r.wrote ?? wrote;
    if (r.retryAfterS !== undefined) retryAfterS = Math.max(retryAfterS ?? 0, r.retryAfterS);
    i++;
  }
  return retryAfterS === undefined ? { outcomes, wrote } : { outcomes, wrote, retryAfterS };
}

/**
 * A run of single-key reads in a pipeline: their keys are read together (one call per shard), and
 * each command answers on its own. A key whose read failed (a lock, a lost quorum) is retried by
 * itself, so it holds back none of the others.
 */
async function readRun(ctx: RedisContext, config: Config, cmds: readonly Command[]): Promise<Outcome[]> {
  const keys = unique(cmds.flatMap((c) => keysOf(c)));
  const reads = keys.length === 0 ? [] : await cacheGetMany(ctx.deps, keys);
  const loaded = new Map<string, Loaded>();
  const failed = new Set<string>();
  reads.forEach((o, i) => (o instanceof HttpError ? failed.add(keys[i]!) : loaded.set(keys[i]!, toLoaded(o))));
  const now = Date.now();
  const out: Outcome[] = [];
  for (const cmd of cmds) {
    const key = keysOf(cmd)[0];
    if (key !== undefined && failed.has(key)) out.push(...(await atomically(ctx, config, [cmd])).outcomes);
    else {
      try {
        out.push(...execute([cmd], new Snapshot(loaded), now, undefined, ctx.bounds.scripts));
      } catch (err) {
        // A read-only script that SCANs: run as a unit, which fetches its SCAN steps.
        if (!(err instanceof NeedScan)) throw err;
        out.push(...(await atomically(ctx, config, [cmd])).outcomes);
      }
    }
  }
  return out;
}

/** MULTI/EXEC: every command of the block commits together or not at all, across shards (one 2PC transaction). */
export async function runMulti(ctx: RedisContext, cmds: readonly Command[]): Promise<RunResult> {
  const keyspace = cmds.find((c) => isKeyspaceCommand(c.name));
  if (keyspace) return fail(cmds, `ERR ${keyspace.name.toUpperCase()} is not allowed inside MULTI/EXEC here`);
  // As Redis does at EXEC: a command that could not even be queued (unknown, unsupported, wrong
  // number of arguments) discards the whole block, and nothing runs.
  const queueErrors = cmds.map(queueError);
  if (queueErrors.some((e) => e !== null)) {
    return { outcomes: queueErrors.map((e) => ({ error: e ?? "EXECABORT Transaction discarded because of previous errors." })), wrote: null };
  }
  return atomically(ctx, getConfig(ctx.deps.env), cmds);
}

/** The error Redis gives when queueing a command inside MULTI (unknown command or wrong arity), else null. */
function queueError(cmd: Command): string | null {
  const spec = commandSpec(cmd.name);
  if (isUnsupportedCommand(cmd.name)) return unsupportedCommandError(cmd).message;
  if (spec === null) return unknownCommandError(cmd).message;
  const words = cmd.args.length + 1;
  if (spec.arity >= 0 ? words !== spec.arity : words < -spec.arity) return `ERR wrong number of arguments for '${cmd.name}' command`;
  return null;
}

// --- commands over the whole keyspace: SCAN, KEYS, DBSIZE, FLUSHDB -------------------------------

/**
 * Every key lives on N shards; each is listed only by its primary (the first of its preference list),
 * so a walk over all shards returns it once. The cursor is `shard index + shards * page id`, a plain
 * integer as Redis clients expect: the page id names where that shard's walk stopped (the last key
 * returned, kept by the shard for an hour), so keys deleted or added meanwhile never make it skip a
 * key that was there all along. 0 starts and ends the walk.
 */
async function scanStep(ctx: RedisContext, cursor: bigint, count: number): Promise<{ keys: string[]; next: bigint }> {
  const { config, env } = ctx.deps;
  const shards = BigInt(config.shards.length);
  const ring = ringFor(config);
  let shardIndex = Number(cursor % shards);
  let page: number | null = cursor < shards ? null : Number(cursor / shards);
  const out: string[] = [];
  const first = shardIndex;
  while (shardIndex < config.shards.length) {
    // Past the request's deadline the step ends at a shard boundary (once it has read one): fewer keys
    // and a cursor to go on from, as SCAN may answer.
    if (shardIndex > first && pastDeadline(ctx.bounds)) break;
    const shard = config.shards[shardIndex]!.id;
    const step = await shardCall(env, shard, config.replicaTimeoutMs, (stub) => stub.scanPage(page, Math.min(count, SCAN_PAGE_MAX)));
    if (step === null) throw new RedisError("ERR invalid cursor");
    out.push(...step.keys.filter((k) => ring.lookup(k) === shard));
    if (step.next !== null) return { keys: out, next: BigInt(shardIndex) + shards * BigInt(step.next) };
    shardIndex++;
    page = null;
    if (out.length >= count) break;
  }
  return { keys: out, next: shardIndex >= config.shards.length ? 0n : BigInt(shardIndex) };
}

/** Every key once (KEYS): the walk below, collecting the keys that match. */
async function allKeys(ctx: RedisContext, name: string, match: ((key: string) => boolean) | null): Promise<string[]> {
  const keys: string[] = [];
  await walkPrimaryKeys(ctx, name, REDIS_BUDGET.walkEntries, (k) => {
    if (match === null || match(k)) keys.push(k);
  });
  return keys;
}

/**
 * Each shard's primary keys once, paged by key, each given to `onKey`. Examines at most `maxEntries`
 * stored entries (each replica's copy counts), then answers an error naming the limit; stops between
 * pages at the request's deadline or when its client has gone.
 */
async function walkPrimaryKeys(ctx: RedisContext, name: string, maxEntries: number, onKey: (key: string) => void): Promise<void> {
  const { config, env } = ctx.deps;
  const ring = ringFor(config);
  let examined = 0;
  for (const { id } of config.shards) {
    let after: string | null = null;
    for (;;) {
      checkBounds(ctx.bounds);
      // One entry past the budget is enough to know the walk would pass it.
      const limit = Math.min(SCAN_PAGE_MAX, maxEntries + 1 - examined);
      const page: { keys: string[]; done: boolean } = await shardCall(env, id, config.replicaTimeoutMs, (stub) => stub.scanKeys(after, limit));
      examined += page.keys.length;
      if (examined > maxEntries) throw new RedisError(walkOverBudget(name, examined, maxEntries));
      for (const k of page.keys) if (ring.lookup(k) === id) onKey(k);
      if (page.done || page.keys.length === 0) break;
      after = page.keys.at(-1)!;
    }
  }
}

/** SCAN's step (the command, or a script's SCAN); a RedisError is thrown. */
async function scanOnce(ctx: RedisContext, args: string[]): Promise<Reply> {
  const o = parseScan(args);
  if (!/^[0-9]{1,19}$/.test(o.cursor)) throw new RedisError("ERR invalid cursor");
  const step = await scanStep(ctx, BigInt(o.cursor), o.count);
  // A linear glob matcher, not a RegExp: a pattern like *a*a*a*b cannot make it backtrack.
  const match = o.match === null ? null : compileGlob(o.match);
  const keys = match === null ? step.keys : step.keys.filter(match);
  if (o.type === null && o.withType !== true) return [step.next.toString(), keys];
  // TYPE filters by type; Upstash's WITHTYPE (@upstash/redis's `withType: true`) follows each key
  // with its type. A key gone since its shard listed it is left out.
  const types = await typesOf(ctx, keys);
  const found = keys.flatMap((k, i) => (types[i] !== "none" && (o.type === null || types[i] === o.type) ? [[k, types[i]!]] : []));
  return [step.next.toString(), o.withType === true ? found.flat() : found.map(([k]) => k!)];
}

/** SCAN's outcome: its reply or its error. */
async function scanCommand(ctx: RedisContext, args: string[]): Promise<Outcome> {
  try {
    return { result: await scanOnce(ctx, args) };
  } catch (err) {
    if (err instanceof RedisError) return { error: err.message };
    if (err instanceof Error) return { error: `ERR ${err.message}` };
    throw err;
  }
}

async function keyspaceCommand(ctx: RedisContext, cmd: Command): Promise<Outcome> {
  try {
    switch (cmd.name) {
      case "scan":
        return await scanCommand(ctx, cmd.args);
      case "randomkey": {
        if (cmd.args.length !== 0) return { error: "ERR wrong number of arguments for 'randomkey' command" };
        return { result: await randomKey(ctx) };
      }
      case "keys": {
        if (cmd.args.length !== 1) return { error: "ERR wrong number of arguments for 'keys' command" };
        return { result: await allKeys(ctx, "keys", compileGlob(cmd.args[0]!)) };
      }
      case "dbsize": {
        if (cmd.args.length !== 0) return { error: "ERR wrong number of arguments for 'dbsize' command" };
        // Counted, not collected: nothing grows with the keyspace but the calls (REDIS_BUDGET.countEntries).
        let size = 0;
        await walkPrimaryKeys(ctx, "dbsize", REDIS_BUDGET.countEntries, () => void size++);
        return { result: size };
      }
      case "flushdb":
      case "flushall": {
        if (!(await ctx.admin())) return { error: "NOPERM FLUSHDB needs the admin token (ADMIN_TOKEN)" };
        await flushAll(ctx);
        return { result: "OK" };
      }
      default:
        return { error: `ERR unknown command '${cmd.name}'` };
    }
  } catch (err) {
    if (err instanceof RedisError) return { error: err.message };
    if (err instanceof Error) return { error: `ERR ${err.message}` };
    throw err;
  }
}

/** Each key's type as TYPE answers it now ("none" for a key gone, or a hash whose fields have all expired). */
async function typesOf(ctx: RedisContext, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const ks = new Snapshot(await load(ctx.deps, keys));
  const now = Date.now();
  return keys.map((k) => {
    const type = executeCommand({ name: "type", args: [k] }, ks, now);
    return typeof type === "string" ? type : "none";
  });
}

/**
 * RANDOMKEY: a random key among the primary keys of one page (`scanCount` entries) of a shard
 * picked at random; a shard whose page holds none of its primary keys passes to the next, so an
 * empty database costs one call per shard and answers nil. It never walks further: on a shard
 * holding more than a page, the keys past its first page (in key order) are not picked.
 */
async function randomKey(ctx: RedisContext): Promise<string | null> {
  const { config, env } = ctx.deps;
  const ring = ringFor(config);
  const shards = config.shards.length;
  const first = Math.floor(Math.random() * shards);
  for (let i = 0; i < shards; i++) {
    checkBounds(ctx.bounds);
    const id = config.shards[(first + i) % shards]!.id;
    const page: { keys: string[]; done: boolean } = await shardCall(env, id, config.replicaTimeoutMs, (stub) => stub.scanKeys(null, SCAN_PAGE_MAX));
    const primary = page.keys.filter((k) => ring.lookup(k) === id);
    if (primary.length > 0) return primary[Math.floor(Math.random() * primary.length)]!;
  }
  return null;
}

/** FLUSHDB: every shard turns its live entries into tombstones at one version taken now. */
async function flushAll(ctx: RedisContext): Promise<void> {
  const { config, env } = ctx.deps;
  const now = Date.now();
  // The highest version of this millisecond: above every write stamped at or before it.
  const version = makeVersion(now, 0xffffff, 0xffffffff);
  // Keys locked by a deciding transaction are left by the shard; the pass is repeated until none is.
  for (let pass = 0; ; pass++) {
    const locked = await Promise.all(
      config.shards.map(async ({ id }) => {
        let after: string | null = null;
        let skipped = 0;
        for (;;) {
          const r: { locked: number; last: string | null; done: boolean } = await shardCall(env, id, config.deadlineMs, (stub) => stub.flush(version, after, 500));
          skipped += r.locked;
          if (r.done) return skipped;
          after = r.last;
        }
      }),
    );
    const total = locked.reduce((a, b) => a + b, 0);
    if (total === 0) return;
    if (pass >= 10) throw new Error(`FLUSHDB left ${total} keys that transactions kept locked; retry`);
    await sleep(100);
  }
}
