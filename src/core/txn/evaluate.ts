import { effectivelyLive } from "../cache/replica-state";
import type { Version } from "../cache/version";
import { describeCondition } from "./plan";
import type { AbortReason, KeyRecord, OpResult, TxnCondition, TxnOp, TxnWrite } from "./types";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER = /^-?(0|[1-9][0-9]*)$/;
/** Content type of values written by a transaction unless the operation names one. */
export const TXN_CONTENT_TYPE = "text/plain; charset=utf-8";

export type Evaluation = { ok: true; writes: TxnWrite[]; results: OpResult[] } | { ok: false; reason: AbortReason };

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function holds(c: TxnCondition, r: KeyRecord, now: number): boolean {
  const live = effectivelyLive(r, now);
  if ("equals" in c) return live && r.value !== undefined && bytesEqual(r.value, encoder.encode(c.equals));
  if ("exists" in c) return live === c.exists;
  return c.revision === null ? !live : live && r.version === c.revision;
}

/**
 * The decision's content: checks every condition on the newest copy of its key (all replicas are
 * locked, so nothing changes underneath) and computes the writes, all at the one `version` minted
 * above every version seen. Pure: the same records give the same outcome.
 */
export function evaluateTxn(ops: readonly TxnOp[], conditions: readonly TxnCondition[], newest: ReadonlyMap<string, KeyRecord>, version: Version, now: number): Evaluation {
  const absent: KeyRecord = { version: null, live: false };
  for (const [i, c] of conditions.entries()) {
    if (!holds(c, newest.get(c.key) ?? absent, now))
      return { ok: false, reason: { code: "condition_failed", message: `condition ${i} failed: ${describeCondition(c)}`, key: c.key, condition: i } };
  }
  const writes: TxnWrite[] = [];
  const results: OpResult[] = [];
  for (const op of ops) {
    const current = newest.get(op.key) ?? absent;
    if (op.op === "set") {
      const expiresAt = op.expiresAt ?? (op.ttlMs === undefined ? null : now + op.ttlMs);
      writes.push({ key: op.key, version, value: op.value, contentType: op.contentType ?? TXN_CONTENT_TYPE, expiresAt });
      results.push({ key: op.key, op: "set", revision: version });
    } else if (op.op === "delete") {
      writes.push({ key: op.key, version, value: null, contentType: TXN_CONTENT_TYPE, expiresAt: null });
      results.push({ key: op.key, op: "delete", revision: version });
    } else {
      const live = effectivelyLive(current, now);
      const text = live && current.value !== undefined ? decoder.decode(current.value) : "0";
      if (!INTEGER.test(text) || BigInt(text) < INT64_MIN || BigInt(text) > INT64_MAX)
        return { ok: false, reason: { code: "not_an_integer", message: `"${op.key}" does not hold a 64-bit decimal integer`, key: op.key } };
      const next = BigInt(text) + BigInt(op.by);
      if (next < INT64_MIN || next > INT64_MAX)
        return { ok: false, reason: { code: "not_an_integer", message: `incrementing "${op.key}" by ${op.by} overflows a 64-bit integer`, key: op.key } };
      // An increment keeps the key's expiry (as Redis INCR does) unless it sets a new one.
      const expiresAt = op.ttlMs !== undefined ? now + op.ttlMs : live ? (current.expiresAt ?? null) : null;
      const value = next.toString();
      writes.push({ key: op.key, version, value, contentType: live ? (current.contentType ?? TXN_CONTENT_TYPE) : TXN_CONTENT_TYPE, expiresAt });
      results.push({ key: op.key, op: "incr", revision: version, value });
    }
  }
  return { ok: true, writes, results };
}
