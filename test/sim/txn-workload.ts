/**
 * What the simulated clients of txn-sim.ts ask for: a bank over overlapping accounts, plus counters,
 * TTL'd session keys and transactions that are bound to abort. Each transfer reads first (possibly a
 * stale replica) and guards itself with a condition on what it read, so money is conserved and no
 * balance goes negative if and only if the protocol is right.
 */
import { effectivelyLive } from "../../src/core/cache/replica-state";
import type { Version } from "../../src/core/cache/version";
import type { TxnCondition, TxnOp, TxnSpec } from "../../src/core/txn/types";

export const INITIAL_BALANCE = 100;

export interface Workload {
  /** Balances: decimal integers; a deleted (closed) account holds 0. */
  accounts: string[];
  /** Incremented by 1 by many transactions: at the end each equals the number of commits that did. */
  counters: string[];
  /** Written with a TTL and incremented (an increment keeps the expiry). */
  sessions: string[];
  /** Holds a value that is not an integer: incrementing it must abort. */
  label: string;
  /** Starts 10 below the largest 64-bit integer: increments soon overflow and must abort. */
  big: string;
}

/** What a client's read returns. */
export interface ReadRecord {
  version: Version;
  live: boolean;
  value?: Uint8Array;
  expiresAt: number | null;
}

interface Read {
  live: boolean;
  version: Version | null;
  text: string | null;
  balance: number;
}

const decoder = new TextDecoder();

/** The next transaction a client submits, from a read of the keys it involves. */
export function nextSpec(w: Workload, peek: (key: string) => ReadRecord | undefined, rng: () => number, now: number): TxnSpec {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const read = (key: string): Read => {
    const v = peek(key);
    const live = v !== undefined && effectivelyLive(v, now);
    const text = live && v.value !== undefined ? decoder.decode(v.value) : null;
    return { live, version: v?.version ?? null, text, balance: text === null ? 0 : Number(text) };
  };
  const ops: TxnOp[] = [];
  const conditions: TxnCondition[] = [];
  // Counters make many transactions overlap on one key (and conflict under no-wait locking).
  const counted = rng() < 0.3;
  const r = rng();

  const from = pick(w.accounts);
  const to = pick(w.accounts.filter((a) => a !== from));
  const src = read(from);
  if (r < 0.62 && src.live && src.balance > 0) {
    const amount = 1 + Math.floor(rng() * src.balance);
    const kind = rng();
    if (kind < 0.4) {
      // Transfer guarded by the source's revision; sometimes also a read-only condition on a third account.
      ops.push({ op: "incr", key: from, by: -amount }, { op: "incr", key: to, by: amount });
      conditions.push({ key: from, revision: src.version });
      const others = w.accounts.filter((a) => a !== from && a !== to);
      if (others.length > 0 && rng() < 0.3) {
        const third = pick(others);
        conditions.push({ key: third, exists: read(third).live });
      }
    } else if (kind < 0.65) {
      // Transfer guarded by the source's value.
      ops.push({ op: "incr", key: from, by: -amount }, { op: "incr", key: to, by: amount });
      conditions.push({ key: from, equals: src.text! });
    } else if (kind < 0.9) {
      // Read-modify-write with plain sets, guarded by both revisions (null: the target is closed).
      const dst = read(to);
      ops.push({ op: "set", key: from, value: String(src.balance - amount) }, { op: "set", key: to, value: String(dst.balance + amount) });
      conditions.push({ key: from, revision: src.version }, { key: to, revision: dst.live ? dst.version : null });
    } else {
      // Close the source: its whole balance moves to the target.
      ops.push({ op: "delete", key: from }, { op: "incr", key: to, by: src.balance });
      conditions.push({ key: from, revision: src.version });
    }
  } else if (r < 0.7) {
    // Open a closed account (only if it really is closed).
    const closed = w.accounts.find((a) => !read(a).live);
    if (closed !== undefined) {
      ops.push({ op: "set", key: closed, value: "0" });
      conditions.push({ key: closed, exists: false });
    }
  } else if (r < 0.82) {
    const s = pick(w.sessions);
    if (rng() < 0.5) ops.push({ op: "set", key: s, value: "0", ttlMs: 5 + Math.floor(rng() * 300) });
    else ops.push({ op: "incr", key: s, by: 1 });
  } else if (r < 0.88) {
    // Bound to abort (not an integer), or to abort once the integer would overflow.
    ops.push(rng() < 0.5 ? { op: "incr", key: w.label, by: 1 } : { op: "incr", key: w.big, by: 4 });
  } else if (r < 0.92) {
    // Repeated operations: identical ones are merged, different ones are refused.
    const c = pick(w.counters);
    ops.push({ op: "incr", key: c, by: 1 }, { op: "incr", key: c, by: rng() < 0.5 ? 1 : 2 });
    return { ops, conditions };
  }
  if (counted || ops.length === 0) ops.push({ op: "incr", key: pick(w.counters), by: 1 });
  return { ops, conditions };
}
