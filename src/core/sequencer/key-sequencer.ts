// One place per key orders that key's read-modify-writes. Calls on a key queue in arrival order; one
// batch per key runs at a time, and everything that queued while it ran goes into the next batch,
// which the runner executes in order as one unit (one read, one commit). A hot key therefore costs
// about one round trip per batch instead of one conflict-and-retry per caller: a counter that 200
// clients increment at once commits in a few rounds, and no caller is refused because another holds
// the key.
//
// Each batch is run BY ONE OF ITS OWN CALLERS (the first in line, the leader), never by a background
// loop, and no caller's promise is ever settled by another: in a Worker, I/O (a promise's fulfiller
// included) belongs to the request that created it, so one request cannot wake another, and a request
// that only waits on another's work is cancelled as hung. So the leader runs the batch in its own
// request and writes each other caller's result into that caller's slot; the first caller still
// waiting is marked as the next leader. Waiting callers watch their slot on timers of their own
// (a short poll, backing off), which is also how they give up at their deadline. Time and sleeping
// are passed in; no I/O here.

export interface SequencerOptions {
  /** Calls one batch takes at most; the rest wait for the next. */
  maxBatch: number;
  now: () => number;
  /** Waits `ms` on the caller's own timer. */
  sleep: (ms: number) => Promise<void>;
}

/** A call whose deadline passed while it waited for its turn: it was never run. */
export class SequencerDeadlineError extends Error {
  constructor(readonly key: string) {
    super(`the deadline passed while waiting for the key's earlier operations`);
    this.name = "SequencerDeadlineError";
  }
}

/** A call taken into a batch whose leader never answered (its request was cancelled): it may or may not have been applied. */
export class SequencerOutcomeUnknownError extends Error {
  constructor(readonly key: string) {
    super("the batch running this call did not answer; its outcome is unknown");
    this.name = "SequencerOutcomeUnknownError";
  }
}

type Settlement<R> = { kind: "result"; value: R } | { kind: "error"; error: unknown } | { kind: "lead" };

interface Pending<C, R> {
  item: C;
  deadlineAt: number;
  /** Written by the leader (or the caller itself at its deadline); the caller watches it. */
  settled: Settlement<R> | null;
}

interface KeyQueue<C, R> {
  waiting: Pending<C, R>[];
  /** When the running batch must have ended (its deadline plus a grace): a queue past it lost its leader. */
  leaseUntil: number;
}

/** A waiting caller looks at its slot after this long, doubling up to POLL_MAX_MS. */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 16;
/** Beyond a batch's deadline, how long before its key is presumed orphaned (its leader's request was cancelled). */
const ORPHAN_GRACE_MS = 5000;

/**
 * Runs `run(key, items)` for batches of the items submitted on one key, one batch per key at a time,
 * in the context of the batch's first caller. `run` answers one result per item, in order; if it
 * throws, every item of the batch gets the error.
 */
export class KeySequencer<C, R> {
  private readonly queues = new Map<string, KeyQueue<C, R>>();
  private readonly options: SequencerOptions;

  constructor(
    private readonly run: (key: string, items: C[], deadlineAt: number) => Promise<R[]>,
    options: Pick<SequencerOptions, "now" | "sleep"> & Partial<SequencerOptions>,
  ) {
    this.options = { maxBatch: 256, ...options };
  }

  /** Keys with a batch running (for metrics and tests). */
  get activeKeys(): number {
    return this.queues.size;
  }

  /** Calls waiting for their turn on `key` (the running batch not included). */
  waiting(key: string): number {
    return this.queues.get(key)?.waiting.length ?? 0;
  }

  /** Runs `item` on `key` after the key's earlier calls; settles with its result. */
  async submit(key: string, item: C, deadlineAt: number): Promise<R> {
    let queue = this.queues.get(key);
    // A leader whose request was cancelled mid-batch never hands off: after its lease, start afresh
    // (those still waiting in the old line end at their own deadlines).
    if (queue === undefined || this.options.now() > queue.leaseUntil) {
      queue = { waiting: [], leaseUntil: deadlineAt + ORPHAN_GRACE_MS };
      this.queues.set(key, queue);
      return this.lead(key, queue, item, deadlineAt);
    }
    const pending: Pending<C, R> = { item, deadlineAt, settled: null };
    queue.waiting.push(pending);
    for (let poll = POLL_MIN_MS; pending.settled === null; poll = Math.min(poll * 2, POLL_MAX_MS)) {
      await this.options.sleep(poll);
      if (pending.settled !== null) break;
      const now = this.options.now();
      const i = queue.waiting.indexOf(pending);
      if (i >= 0 && now >= deadlineAt) {
        // Still in line at its deadline: the caller gives up, and its work is never done.
        queue.waiting.splice(i, 1);
        throw new SequencerDeadlineError(key);
      }
      // Taken into a batch, which may commit: never abandoned then, unless the batch's leader is gone.
      if (i < 0 && now > deadlineAt + ORPHAN_GRACE_MS) throw new SequencerOutcomeUnknownError(key);
    }
    const settled = pending.settled as Settlement<R>;
    if (settled.kind === "result") return settled.value;
    if (settled.kind === "error") throw settled.error;
    return this.lead(key, queue, item, deadlineAt);
  }

  /** Runs the next batch, led by this caller (in its own context), then passes the lead on. */
  private async lead(key: string, queue: KeyQueue<C, R>, item: C, deadlineAt: number): Promise<R> {
    const now = this.options.now();
    if (deadlineAt <= now) {
      this.handOff(key, queue);
      throw new SequencerDeadlineError(key);
    }
    const others: Pending<C, R>[] = [];
    while (queue.waiting.length > 0 && others.length + 1 < this.options.maxBatch) {
      const p = queue.waiting.shift()!;
      // The caller has given up: its work is dropped, not done.
      if (p.deadlineAt <= now) p.settled = { kind: "error", error: new SequencerDeadlineError(key) };
      else others.push(p);
    }
    // The batch may run until its most patient caller gives up.
    const batchDeadline = Math.max(deadlineAt, ...others.map((p) => p.deadlineAt));
    queue.leaseUntil = batchDeadline + ORPHAN_GRACE_MS;
    let results: R[];
    try {
      results = await this.run(key, [item, ...others.map((p) => p.item)], batchDeadline);
    } catch (err) {
      for (const p of others) p.settled = { kind: "error", error: err };
      this.handOff(key, queue);
      throw err;
    }
    others.forEach((p, i) => {
      const r = results[i + 1];
      p.settled = r === undefined && results.length <= i + 1 ? { kind: "error", error: new Error("sequencer: the runner answered fewer results than items") } : { kind: "result", value: r as R };
    });
    this.handOff(key, queue);
    if (results.length === 0) throw new Error("sequencer: the runner answered no results");
    return results[0]!;
  }

  private handOff(key: string, queue: KeyQueue<C, R>): void {
    const next = queue.waiting.shift();
    if (next === undefined) {
      if (this.queues.get(key) === queue) this.queues.delete(key);
    } else next.settled = { kind: "lead" };
  }
}
