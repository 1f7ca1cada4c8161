// FIFO locks on keys, taken in one global order (sorted keys), so holders of overlapping key sets
// queue behind one another and can never deadlock: a waits-for edge always points from a smaller key
// held to a larger key wanted. Waiters watch their place on their own timer (a short poll, backing
// off): in a Worker one request cannot settle another's promise. Time and sleeping are passed in.

export interface KeyLocksOptions {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/** The deadline passed before every key was locked: nothing is held. */
export class LockWaitDeadlineError extends Error {
  constructor(readonly key: string) {
    super(`the deadline passed while waiting for "${key}", held by an earlier operation`);
    this.name = "LockWaitDeadlineError";
  }
}

interface Ticket {
  /** Presumed abandoned after this (its holder's request was cancelled before releasing). */
  until: number;
}

const POLL_MIN_MS = 1;
const POLL_MAX_MS = 16;
/** How long past its deadline a held lock is presumed abandoned. */
const ABANDONED_AFTER_MS = 5_000;

export class KeyLocks {
  private readonly lines = new Map<string, Ticket[]>();

  constructor(private readonly options: KeyLocksOptions) {}

  /** Keys locked or waited for (tests). */
  get size(): number {
    return this.lines.size;
  }

  /** Locks every key (in sorted order), waiting in line for each until `deadlineAt`; answers the release. */
  async acquire(keys: readonly string[], deadlineAt: number): Promise<() => void> {
    const sorted = [...new Set(keys)].sort();
    const held: [string, Ticket][] = [];
    const releaseAll = () => {
      for (const [key, ticket] of held.splice(0)) this.leave(key, ticket);
    };
    for (const key of sorted) {
      const ticket: Ticket = { until: deadlineAt + ABANDONED_AFTER_MS };
      let line = this.lines.get(key);
      if (line === undefined) this.lines.set(key, (line = []));
      line.push(ticket);
      held.push([key, ticket]);
      for (let poll = POLL_MIN_MS; !this.first(key, ticket); poll = Math.min(poll * 2, POLL_MAX_MS)) {
        if (this.options.now() >= deadlineAt) {
          releaseAll();
          throw new LockWaitDeadlineError(key);
        }
        await this.options.sleep(Math.max(0, Math.min(poll, deadlineAt - this.options.now())));
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      releaseAll();
    };
  }

  /** Whether `ticket` heads its key's line (dropping abandoned tickets ahead of it). */
  private first(key: string, ticket: Ticket): boolean {
    const line = this.lines.get(key);
    if (line === undefined) return false;
    const now = this.options.now();
    while (line.length > 0 && line[0] !== ticket && line[0]!.until < now) line.shift();
    return line[0] === ticket;
  }

  private leave(key: string, ticket: Ticket): void {
    const line = this.lines.get(key);
    if (line === undefined) return;
    const i = line.indexOf(ticket);
    if (i >= 0) line.splice(i, 1);
    if (line.length === 0) this.lines.delete(key);
  }
}
