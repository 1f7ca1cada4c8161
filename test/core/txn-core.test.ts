import { describe, expect, it } from "vitest";
import { makeVersion, type Version } from "../../src/core/cache/version";
import {
  begin,
  type CoordinatorState,
  type CoordTimings,
  decide,
  nextWake,
  onAck,
  onInquiry,
  onRecover,
  onTick,
  onVote,
  onVoteFailed,
  resendDelay,
  type VoteRecords,
} from "../../src/core/txn/coordinator";
import { TXN_CONTENT_TYPE, evaluateTxn } from "../../src/core/txn/evaluate";
import { dueInquiries, inquiryDelay, onDecision, onPrepare, type ParticipantView, type PreparedTxn } from "../../src/core/txn/participant";
import { describeCondition, planTxn } from "../../src/core/txn/plan";
import type { KeyRecord, Outcome, TxnCondition, TxnOp, TxnSpec, Vote } from "../../src/core/txn/types";

// The pure two-phase-commit core (src/core/txn), rule by rule. The whole protocol under faults is in
// txn-sim.test.ts.

const enc = new TextEncoder();
const v = (ms: number, counter = 0, writer = 0): Version => makeVersion(ms, counter, writer);
const live = (version: Version, value: string, extra: Partial<KeyRecord> = {}): KeyRecord => ({ version, live: true, value: enc.encode(value), contentType: TXN_CONTENT_TYPE, expiresAt: null, ...extra });
const tombstone = (version: Version): KeyRecord => ({ version, live: false, expiresAt: null });
const ABSENT: KeyRecord = { version: null, live: false };
const T: CoordTimings = { voteTimeoutMs: 1_000, resendBaseMs: 100, resendMaxMs: 800 };
const MINTED = v(9_000, 0, 7);

describe("plan: who takes part, and which transactions are well-formed", () => {
  const placement: Record<string, string[]> = { a: ["s1", "s2"], b: ["s2", "s3"], c: ["s3", "s1"], d: ["s4"] };
  const replicasOf = (key: string) => placement[key] ?? [];
  const plan = (spec: TxnSpec) => planTxn(spec, replicasOf);

  it("the participants are the union of every key's preference list, each with the keys it replicates, in shard order", () => {
    const r = plan({ ops: [{ op: "set", key: "a", value: "1" }, { op: "incr", key: "b", by: 1 }], conditions: [{ key: "c", exists: true }] });
    expect(r).toEqual({
      ok: true,
      ops: [{ op: "set", key: "a", value: "1" }, { op: "incr", key: "b", by: 1 }],
      participants: [
        { shard: "s1", keys: ["a", "c"], valueKeys: [] },
        { shard: "s2", keys: ["a", "b"], valueKeys: ["b"] },
        { shard: "s3", keys: ["b", "c"], valueKeys: ["b"] },
      ],
    });
  });

  it("a key that is only in a condition still makes its replicas participants: what the transaction reads is locked too", () => {
    const r = plan({ ops: [{ op: "delete", key: "d" }], conditions: [{ key: "a", revision: null }] });
    expect(r.ok && r.participants.map((p) => [p.shard, p.keys])).toEqual([
      ["s1", ["a"]],
      ["s2", ["a"]],
      ["s4", ["d"]],
    ]);
  });

  it("identical repeated operations are merged into one", () => {
    const r = plan({ ops: [{ op: "incr", key: "a", by: 2 }, { op: "set", key: "b", value: "x" }, { op: "incr", key: "a", by: 2 }, { op: "set", key: "b", value: "x" }], conditions: [] });
    expect(r.ok && r.ops).toEqual([{ op: "incr", key: "a", by: 2 }, { op: "set", key: "b", value: "x" }]);
    expect(r.ok && r.participants.find((p) => p.shard === "s2")!.keys).toEqual(["a", "b"]);
  });

  const conflicting: [string, TxnOp, TxnOp][] = [
    ["two sets of different values", { op: "set", key: "a", value: "1" }, { op: "set", key: "a", value: "2" }],
    ["a set and a delete", { op: "set", key: "a", value: "1" }, { op: "delete", key: "a" }],
    ["two increments by different amounts", { op: "incr", key: "a", by: 1 }, { op: "incr", key: "a", by: 2 }],
    ["a set with and without a TTL", { op: "set", key: "a", value: "1" }, { op: "set", key: "a", value: "1", ttlMs: 10 }],
    ["an increment and a delete", { op: "incr", key: "a", by: 1 }, { op: "delete", key: "a" }],
  ];
  it.each(conflicting)("two different operations on one key are refused (their order would be ambiguous): %s", (_, first, second) => {
    const r = plan({ ops: [{ op: "set", key: "b", value: "ok" }, first, second], conditions: [] });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/^ops\[2\]: key "a" already has a different operation/);
  });

  it("a transaction without operations is refused", () => {
    const r = plan({ ops: [], conditions: [{ key: "a", exists: true }] });
    expect(r).toEqual({ ok: false, message: expect.stringMatching(/at least one operation/) });
  });

  const valueKeyCases: [string, TxnSpec, string[]][] = [
    ["an increment reads its key's value", { ops: [{ op: "incr", key: "a", by: 1 }], conditions: [] }, ["a"]],
    ["an equals condition reads its key's value", { ops: [{ op: "set", key: "b", value: "1" }], conditions: [{ key: "a", equals: "x" }] }, ["a"]],
    ["a set or a delete writes blind", { ops: [{ op: "set", key: "a", value: "1" }, { op: "delete", key: "b" }], conditions: [] }, []],
    ["revision and exists conditions need only version and liveness", { ops: [{ op: "set", key: "b", value: "1" }], conditions: [{ key: "a", revision: "r" }, { key: "c", exists: false }] }, []],
  ];
  it.each(valueKeyCases)("value keys: %s", (_, spec, expected) => {
    const r = plan(spec);
    const all = r.ok ? [...new Set(r.participants.flatMap((p) => p.valueKeys))].sort() : null;
    expect(all).toEqual(expected);
  });

  it("each participant is asked for the values of only the value keys it replicates", () => {
    const r = plan({ ops: [{ op: "incr", key: "a", by: 1 }, { op: "set", key: "b", value: "1" }], conditions: [] });
    expect(r.ok && r.participants).toEqual([
      { shard: "s1", keys: ["a"], valueKeys: ["a"] },
      { shard: "s2", keys: ["a", "b"], valueKeys: ["a"] },
      { shard: "s3", keys: ["b"], valueKeys: [] },
    ]);
  });

  const described: [TxnCondition, string][] = [
    [{ key: "a", equals: "x" }, '"a" equals "x"'],
    [{ key: "a", exists: true }, '"a" exists'],
    [{ key: "a", exists: false }, '"a" does not exist'],
    [{ key: "a", revision: "r1" }, '"a" has revision r1'],
    [{ key: "a", revision: null }, '"a" has no revision (absent)'],
  ];
  it.each(described)("conditions read well in abort reasons: %j", (c, text) => {
    expect(describeCondition(c)).toBe(text);
  });
});

describe("evaluate: the decision's content, from the newest copy of every key", () => {
  const NOW = 1_000;
  const eval1 = (ops: TxnOp[], conditions: TxnCondition[], records: Record<string, KeyRecord>, now = NOW) => evaluateTxn(ops, conditions, new Map(Object.entries(records)), MINTED, now);
  const noop: TxnOp[] = [{ op: "set", key: "z", value: "1" }];

  const conditionCases: [string, TxnCondition, KeyRecord, boolean][] = [
    ["equals holds on a live key with that value", { key: "k", equals: "x" }, live(v(1), "x"), true],
    ["equals fails on another value", { key: "k", equals: "x" }, live(v(1), "y"), false],
    ["equals fails on an absent key", { key: "k", equals: "" }, ABSENT, false],
    ["equals fails on a deleted key", { key: "k", equals: "x" }, tombstone(v(1)), false],
    ["equals fails on an expired key", { key: "k", equals: "x" }, live(v(1), "x", { expiresAt: NOW }), false],
    ["exists holds on a live key", { key: "k", exists: true }, live(v(1), "x"), true],
    ["exists fails on an absent key", { key: "k", exists: true }, ABSENT, false],
    ["exists fails on a deleted key", { key: "k", exists: true }, tombstone(v(1)), false],
    ["exists fails on a key that expired at this very instant", { key: "k", exists: true }, live(v(1), "x", { expiresAt: NOW }), false],
    ["exists holds on a key that expires a moment later", { key: "k", exists: true }, live(v(1), "x", { expiresAt: NOW + 1 }), true],
    ["not-exists holds on an absent key", { key: "k", exists: false }, ABSENT, true],
    ["not-exists holds on a deleted key", { key: "k", exists: false }, tombstone(v(1)), true],
    ["not-exists holds on an expired key", { key: "k", exists: false }, live(v(1), "x", { expiresAt: 10 }), true],
    ["not-exists fails on a live key", { key: "k", exists: false }, live(v(1), "x"), false],
    ["revision holds on a live key at that version", { key: "k", revision: v(1) }, live(v(1), "x"), true],
    ["revision fails on a live key at another version", { key: "k", revision: v(1) }, live(v(2), "x"), false],
    ["revision fails on a deleted key even at that version (a deleted key has no revision)", { key: "k", revision: v(1) }, tombstone(v(1)), false],
    ["revision fails on an expired key at that version", { key: "k", revision: v(1) }, live(v(1), "x", { expiresAt: 10 }), false],
    ["a null revision holds on an absent key", { key: "k", revision: null }, ABSENT, true],
    ["a null revision holds on a deleted key", { key: "k", revision: null }, tombstone(v(1)), true],
    ["a null revision holds on an expired key", { key: "k", revision: null }, live(v(1), "x", { expiresAt: 10 }), true],
    ["a null revision fails on a live key", { key: "k", revision: null }, live(v(1), "x"), false],
  ];
  it.each(conditionCases)("%s", (_, condition, record, holds) => {
    const r = eval1(noop, [condition], { k: record });
    expect(r.ok).toBe(holds);
    if (!r.ok) expect(r.reason).toMatchObject({ code: "condition_failed", key: "k", condition: 0 });
  });

  it("a condition on a key the votes did not report is checked against an absent key", () => {
    expect(eval1(noop, [{ key: "missing", exists: false }], {}).ok).toBe(true);
    expect(eval1(noop, [{ key: "missing", exists: true }], {}).ok).toBe(false);
  });

  it("the first failing condition is reported, by index, and nothing is written", () => {
    const r = eval1(noop, [{ key: "a", exists: true }, { key: "b", equals: "1" }, { key: "c", exists: true }], { a: live(v(1), "x"), b: live(v(1), "2") });
    expect(r).toEqual({ ok: false, reason: { code: "condition_failed", message: 'condition 1 failed: "b" equals "1"', key: "b", condition: 1 } });
  });

  it("conditions are checked on the state before the transaction's own operations", () => {
    const r = eval1([{ op: "set", key: "a", value: "new" }], [{ key: "a", equals: "old" }], { a: live(v(1), "old") });
    expect(r.ok && r.writes.map((w) => w.value)).toEqual(["new"]);
  });

  const incrCases: [string, KeyRecord, number, string][] = [
    ["an increment of an absent key starts at 0", ABSENT, 5, "5"],
    ["an increment of a deleted key starts at 0", tombstone(v(1)), -3, "-3"],
    ["an increment of an expired key starts at 0", live(v(1), "40", { expiresAt: 500 }), 2, "2"],
    ["an increment adds to a live integer", live(v(1), "41"), 1, "42"],
    ["a negative increment subtracts", live(v(1), "0"), -1, "-1"],
    ["an increment may reach the largest 64-bit integer", live(v(1), "9223372036854775806"), 1, "9223372036854775807"],
    ["an increment may reach the smallest 64-bit integer", live(v(1), "-9223372036854775807"), -1, "-9223372036854775808"],
  ];
  it.each(incrCases)("%s", (_, record, by, value) => {
    const r = eval1([{ op: "incr", key: "k", by }], [], { k: record });
    expect(r).toEqual({
      ok: true,
      writes: [{ key: "k", version: MINTED, value, contentType: TXN_CONTENT_TYPE, expiresAt: null }],
      results: [{ key: "k", op: "incr", revision: MINTED, value }],
    });
  });

  const notIntegers: [string, string, number][] = [
    ["letters", "abc", 1],
    ["a decimal fraction", "1.5", 1],
    ["leading zeros", "007", 1],
    ["a plus sign", "+1", 1],
    ["surrounding spaces", " 1", 1],
    ["the empty string", "", 1],
    ["a value beyond 64 bits", "9223372036854775808", -1],
  ];
  it.each(notIntegers)("an increment of a value that is not a 64-bit decimal integer aborts with not_an_integer: %s", (_, value, by) => {
    const r = eval1([{ op: "incr", key: "k", by }], [], { k: live(v(1), value) });
    expect(r).toEqual({ ok: false, reason: { code: "not_an_integer", message: '"k" does not hold a 64-bit decimal integer', key: "k" } });
  });

  it.each([
    ["above", "9223372036854775807", 1],
    ["below", "-9223372036854775808", -1],
    ["above, by a large step", "1", Number.MAX_SAFE_INTEGER * 2048],
  ] as const)("an increment that would overflow 64 bits (%s) aborts with not_an_integer", (_, value, by) => {
    const r = eval1([{ op: "incr", key: "k", by }], [], { k: live(v(1), value) });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatchObject({ code: "not_an_integer", key: "k", message: expect.stringMatching(/overflows/) });
  });

  it("an abort by one increment discards every other write of the transaction", () => {
    const r = eval1([{ op: "set", key: "a", value: "1" }, { op: "incr", key: "k", by: 1 }], [], { k: live(v(1), "x") });
    expect(r.ok).toBe(false);
  });

  it("an increment keeps the key's expiry and content type (as Redis INCR does)", () => {
    const r = eval1([{ op: "incr", key: "k", by: 1 }], [], { k: live(v(1), "1", { expiresAt: 5_000, contentType: "application/json" }) });
    expect(r.ok && r.writes[0]).toEqual({ key: "k", version: MINTED, value: "2", contentType: "application/json", expiresAt: 5_000 });
  });

  it("an increment with a TTL sets a new expiry from now", () => {
    const r = eval1([{ op: "incr", key: "k", by: 1, ttlMs: 250 }], [], { k: live(v(1), "1", { expiresAt: 5_000 }) });
    expect(r.ok && r.writes[0]!.expiresAt).toBe(NOW + 250);
  });

  it("an increment of an expired key does not inherit the expiry that ended it", () => {
    const r = eval1([{ op: "incr", key: "k", by: 1 }], [], { k: live(v(1), "9", { expiresAt: NOW - 1, contentType: "application/json" }) });
    expect(r.ok && r.writes[0]).toEqual({ key: "k", version: MINTED, value: "1", contentType: TXN_CONTENT_TYPE, expiresAt: null });
  });

  it("a set writes its value with its content type (or text/plain) and, with a TTL, an expiry from now", () => {
    const r = eval1([{ op: "set", key: "a", value: "1" }, { op: "set", key: "b", value: "{}", contentType: "application/json", ttlMs: 30 }], [], {});
    expect(r.ok && r.writes).toEqual([
      { key: "a", version: MINTED, value: "1", contentType: TXN_CONTENT_TYPE, expiresAt: null },
      { key: "b", version: MINTED, value: "{}", contentType: "application/json", expiresAt: NOW + 30 },
    ]);
  });

  it("a delete writes a tombstone (null value) at the transaction's version", () => {
    const r = eval1([{ op: "delete", key: "a" }], [], { a: live(v(1), "x", { expiresAt: 9_999 }) });
    expect(r).toEqual({
      ok: true,
      writes: [{ key: "a", version: MINTED, value: null, contentType: TXN_CONTENT_TYPE, expiresAt: null }],
      results: [{ key: "a", op: "delete", revision: MINTED }],
    });
  });

  it("every write of a transaction carries the one version minted for it", () => {
    const r = eval1([{ op: "set", key: "a", value: "1" }, { op: "delete", key: "b" }, { op: "incr", key: "c", by: 1 }], [], {});
    expect(r.ok && new Set([...r.writes.map((w) => w.version), ...r.results.map((x) => x.revision)])).toEqual(new Set([MINTED]));
  });

  it("is pure: the same records give the same outcome", () => {
    const args = [[{ op: "incr", key: "k", by: 3 }], [{ key: "k", exists: true }], { k: live(v(1), "4") }] as const;
    expect(eval1([...args[0]], [...args[1]], args[2])).toEqual(eval1([...args[0]], [...args[1]], args[2]));
  });
});

describe("coordinator: decide once, log before sending, presumed abort", () => {
  // a on s1 and s2 (two replicas), b on s2 and s3.
  const placement: Record<string, string[]> = { a: ["s1", "s2"], b: ["s2", "s3"] };
  const NOW = 10_000;
  function start(ops: TxnOp[] = [{ op: "incr", key: "a", by: 1 }, { op: "set", key: "b", value: "B" }], conditions: TxnCondition[] = []) {
    const plan = planTxn({ ops, conditions }, (k) => placement[k] ?? []);
    if (!plan.ok) throw new Error(plan.message);
    const { state, step } = begin("t1", plan.ops, conditions, plan.participants, NOW, T);
    return { s: state, step, records: new Map() as VoteRecords };
  }
  const seenBy: Version[][] = [];
  const mint = (seen: Version[]) => {
    seenBy.push(seen);
    return MINTED;
  };
  const yes = (records: Record<string, KeyRecord>): Vote => ({ vote: "yes", records });
  const no: Vote = { vote: "no", reason: { code: "conflict", message: "locked", key: "a" } };
  /** All three participants vote yes with these records (s1: a; s2: a, b; s3: b). */
  function allYes(s: CoordinatorState, records: VoteRecords, a1: KeyRecord = live(v(1), "1"), a2: KeyRecord = a1, b: KeyRecord = ABSENT, at = NOW + 10) {
    expect(onVote(s, records, "s1", yes({ a: a1 }), at, T, mint)).toEqual({ persist: false, send: [] });
    expect(onVote(s, records, "s2", yes({ a: a2, b }), at, T, mint)).toEqual({ persist: false, send: [] });
    return onVote(s, records, "s3", yes({ b }), at, T, mint);
  }
  function committed() {
    const t = start();
    const step = allYes(t.s, t.records);
    expect(t.s.phase).toBe("committed");
    return { ...t, step };
  }

  it("presumed abort: begin logs nothing, and sends PREPARE to every participant with its keys and value keys", () => {
    const { s, step } = start();
    expect(step).toEqual({
      persist: false,
      send: [
        { type: "prepare", shard: "s1", keys: ["a"], valueKeys: ["a"] },
        { type: "prepare", shard: "s2", keys: ["a", "b"], valueKeys: ["a"] },
        { type: "prepare", shard: "s3", keys: ["b"], valueKeys: [] },
      ],
    });
    expect(s).toMatchObject({ id: "t1", phase: "preparing", startedAt: NOW, voteDeadline: NOW + T.voteTimeoutMs, decidedAt: null, endedAt: null });
    expect(s.participants.every((p) => p.vote === "pending" && !p.acked)).toBe(true);
  });

  it("a yes vote that is not the last one is kept in memory only: nothing to persist, nothing to send", () => {
    const { s, records } = start();
    expect(onVote(s, records, "s2", yes({ a: ABSENT, b: ABSENT }), NOW + 1, T, mint)).toEqual({ persist: false, send: [] });
    expect(s.phase).toBe("preparing");
    expect(records.has("s2")).toBe(true);
  });

  it("a single no vote aborts at once: the abort is persisted, then sent to every participant", () => {
    const { s, records } = start();
    onVote(s, records, "s1", yes({ a: ABSENT }), NOW + 1, T, mint);
    const step = onVote(s, records, "s3", no, NOW + 2, T, mint);
    expect(step).toEqual({ persist: true, decides: true, send: ["s1", "s2", "s3"].map((shard) => ({ type: "decision", shard, outcome: "aborted", writes: [] })) });
    expect(s).toMatchObject({ phase: "aborted", decidedAt: NOW + 2, reason: { code: "conflict", key: "a", shard: "s3" }, writes: null });
  });

  it("when the last participant votes yes it commits, each participant getting the writes of its own keys", () => {
    const { s, step } = committed();
    const wa = { key: "a", version: MINTED, value: "2", contentType: TXN_CONTENT_TYPE, expiresAt: null };
    const wb = { key: "b", version: MINTED, value: "B", contentType: TXN_CONTENT_TYPE, expiresAt: null };
    expect(step).toEqual({
      persist: true,
      decides: true,
      send: [
        { type: "decision", shard: "s1", outcome: "committed", writes: [wa] },
        { type: "decision", shard: "s2", outcome: "committed", writes: [wa, wb] },
        { type: "decision", shard: "s3", outcome: "committed", writes: [wb] },
      ],
    });
    expect(s.results).toEqual([
      { key: "a", op: "incr", revision: MINTED, value: "2" },
      { key: "b", op: "set", revision: MINTED },
    ]);
    expect(s.participants.map((p) => p.vote)).toEqual(["yes", "yes", "yes"]);
  });

  it("the writes are computed on the newest record among a key's replicas, whichever replica voted last", () => {
    for (const [older, newer] of [
      [live(v(1), "10"), live(v(2), "20")],
      [live(v(2), "20"), live(v(1), "10")],
    ] as const) {
      const { s, records } = start();
      allYes(s, records, older, newer);
      expect(s.writes!.find((w) => w.key === "a")!.value).toBe("21");
    }
  });

  it("a newer tombstone on one replica wins over an older live value on another: the increment starts at 0", () => {
    const { s, records } = start();
    allYes(s, records, live(v(1), "10"), tombstone(v(2)));
    expect(s.writes!.find((w) => w.key === "a")!.value).toBe("1");
  });

  it("the version is minted from every version the votes reported, so it can be made newer than all of them", () => {
    seenBy.length = 0;
    const { s, records } = start();
    allYes(s, records, live(v(1), "1"), live(v(3), "3"), live(v(2), "b"));
    expect([...seenBy[0]!].sort()).toEqual([v(1), v(2), v(2), v(3)]);
    expect(s.writes!.every((w) => w.version === MINTED)).toBe(true);
  });

  it("a condition that fails on the newest copy aborts with condition_failed, even if a stale replica satisfies it", () => {
    const { s, records } = start([{ op: "set", key: "b", value: "B" }], [{ key: "a", revision: v(1) }]);
    const step = allYes(s, records, live(v(1), "x"), live(v(2), "y"));
    expect(step.persist).toBe(true);
    expect(s).toMatchObject({ phase: "aborted", reason: { code: "condition_failed", key: "a", condition: 0 }, writes: null });
  });

  it("an increment of a value that is not an integer aborts with not_an_integer", () => {
    const { s, records } = start();
    allYes(s, records, live(v(1), "one"));
    expect(s.reason).toMatchObject({ code: "not_an_integer", key: "a" });
  });

  it("a yes vote that does not report a key it was asked about aborts the transaction, rather than reading the key as absent", () => {
    // Before the fix the missing record read as absent: the increment started at 0 and its write
    // (at a version above everything seen) overwrote the real value on every replica.
    const { s, records } = start([{ op: "incr", key: "a", by: 1 }]);
    expect(onVote(s, records, "s1", yes({ a: live(v(1), "41") }), NOW + 1, T, mint).persist).toBe(false);
    const step = onVote(s, records, "s2", yes({}), NOW + 2, T, mint);
    expect(step).toMatchObject({ persist: true, decides: true });
    expect(s).toMatchObject({ phase: "aborted", writes: null, reason: { code: "participant_unavailable", key: "a", shard: "s2" } });
  });

  it.each(["__proto__", "toString", "constructor"])("a key named %s (a legal key) is read from the vote's own records, never from Object.prototype", (key) => {
    const plan = planTxn({ ops: [{ op: "incr", key, by: 1 }], conditions: [] }, () => ["s1"]);
    if (!plan.ok) throw new Error(plan.message);
    // Records built with Object.fromEntries keep every key as an own property, and survive serialization.
    const good = begin("t1", plan.ops, [], plan.participants, NOW, T).state;
    onVote(good, new Map(), "s1", yes(structuredClone(Object.fromEntries([[key, live(v(1), "41")]]))), NOW + 1, T, mint);
    expect(good.writes?.map((w) => [w.key, w.value])).toEqual([[key, "42"]]);
    // `records[key] = …` sets the prototype for "__proto__", which serialization drops: the vote then
    // lacks the key, and the transaction aborts instead of reading Object.prototype as the key's record.
    const lossy: Record<string, KeyRecord> = {};
    if (key === "__proto__") lossy[key] = live(v(1), "41");
    const bad = begin("t2", plan.ops, [], plan.participants, NOW, T).state;
    onVote(bad, new Map(), "s1", yes(structuredClone(lossy)), NOW + 1, T, mint);
    expect(bad).toMatchObject({ phase: "aborted", writes: null, reason: { code: "participant_unavailable", key } });
  });

  it("late and duplicate votes change nothing", () => {
    const { s, records } = start();
    onVote(s, records, "s1", yes({ a: live(v(1), "1") }), NOW + 1, T, mint);
    // a duplicate of s1's yes, then a contradicting no from s1: its vote is already counted
    expect(onVote(s, records, "s1", yes({ a: live(v(1), "1") }), NOW + 2, T, mint)).toEqual({ persist: false, send: [] });
    expect(onVote(s, records, "s1", no, NOW + 3, T, mint)).toEqual({ persist: false, send: [] });
    expect(s.phase).toBe("preparing");
    expect(s.participants[0]!.votedAt).toBe(NOW + 1);
    // a vote from a shard that is not a participant
    expect(onVote(s, records, "s9", no, NOW + 4, T, mint)).toEqual({ persist: false, send: [] });
    onVote(s, records, "s2", yes({ a: live(v(1), "1"), b: ABSENT }), NOW + 5, T, mint);
    onVote(s, records, "s3", yes({ b: ABSENT }), NOW + 6, T, mint);
    expect(s.phase).toBe("committed");
    const before = structuredClone(s);
    // a late no after the commit
    expect(onVote(s, records, "s3", no, NOW + 7, T, mint)).toEqual({ persist: false, send: [] });
    expect(s).toEqual(before);
  });

  it("a transaction is decided once: deciding again is a no-op", () => {
    const { s } = committed();
    const before = structuredClone(s);
    expect(decide(s, "aborted", NOW + 50, T, { reason: { code: "vote_timeout", message: "late" } })).toEqual({ persist: false, send: [] });
    expect(onVoteFailed(s, "s1", "boom", NOW + 50, T)).toEqual({ persist: false, send: [] });
    expect(onTick(s, NOW + T.voteTimeoutMs + 1, T).send.every((m) => m.type === "decision" && m.outcome === "committed")).toBe(true);
    expect({ ...s, resends: 0, nextResendAt: before.nextResendAt }).toEqual(before);
  });

  it("a PREPARE that could not be delivered or answered aborts the transaction, naming the participant", () => {
    const { s } = start();
    const step = onVoteFailed(s, "s2", "timeout", NOW + 5, T);
    expect(step.persist).toBe(true);
    expect(step.send).toHaveLength(3);
    expect(s.reason).toEqual({ code: "participant_unavailable", message: "participant s2 did not vote: timeout", shard: "s2" });
  });

  it("before the vote deadline a tick does nothing; at the deadline the transaction aborts with vote_timeout, naming who did not vote", () => {
    const { s, records } = start();
    onVote(s, records, "s2", yes({ a: ABSENT, b: ABSENT }), NOW + 1, T, mint);
    expect(onTick(s, NOW + T.voteTimeoutMs - 1, T)).toEqual({ persist: false, send: [] });
    expect(s.phase).toBe("preparing");
    const step = onTick(s, NOW + T.voteTimeoutMs, T);
    expect(step.persist).toBe(true);
    expect(step.send.map((m) => m.type === "decision" && m.outcome)).toEqual(["aborted", "aborted", "aborted"]);
    expect(s.reason).toEqual({ code: "vote_timeout", message: "no vote in time from s1, s3" });
  });

  it("only the step that decides is marked as the decision record: resends, acknowledgements and the end record are not", () => {
    const { s, step } = committed();
    expect(step.decides).toBe(true);
    expect(onTick(s, NOW + 10_000, T).decides).toBeUndefined();
    expect(onRecover(s, NOW + 20_000, T).decides).toBeUndefined();
    for (const p of ["s1", "s2"]) expect(onAck(s, p, NOW + 20_001).decides).toBeUndefined();
    expect(onAck(s, "s3", NOW + 20_002)).toEqual({ persist: true, send: [] });
    expect(start().step.decides).toBeUndefined();
  });

  it("the resend delay doubles from its base and is capped", () => {
    expect([0, 1, 2, 3, 4, 10, 1_000].map((n) => resendDelay(T, n))).toEqual([100, 200, 400, 800, 800, 800, 800]);
  });

  it("an unacknowledged decision is resent with backoff, only to the participants that have not acknowledged it", () => {
    const { s } = committed();
    const decidedAt = NOW + 10;
    expect(s.nextResendAt).toBe(decidedAt + 100);
    expect(onAck(s, "s1", decidedAt + 5)).toEqual({ persist: false, send: [] });
    expect(onTick(s, decidedAt + 99, T)).toEqual({ persist: false, send: [] });
    const first = onTick(s, decidedAt + 100, T);
    expect(first.persist).toBe(true);
    expect(first.send.map((m) => m.shard)).toEqual(["s2", "s3"]);
    expect(first.send.every((m) => m.type === "decision" && m.outcome === "committed" && m.writes.length > 0)).toBe(true);
    expect(s.nextResendAt).toBe(decidedAt + 100 + 200);
    onAck(s, "s3", decidedAt + 150);
    const second = onTick(s, decidedAt + 300, T);
    expect(second.send.map((m) => m.shard)).toEqual(["s2"]);
    expect(s.nextResendAt).toBe(decidedAt + 300 + 400);
    expect(nextWake(s)).toBe(decidedAt + 700);
  });

  it("the end record is written once every participant has acknowledged, and not before", () => {
    const { s } = committed();
    expect(onAck(s, "s1", NOW + 20)).toEqual({ persist: false, send: [] });
    expect(onAck(s, "s1", NOW + 21)).toEqual({ persist: false, send: [] });
    expect(onAck(s, "s9", NOW + 21)).toEqual({ persist: false, send: [] });
    expect(onAck(s, "s2", NOW + 22)).toEqual({ persist: false, send: [] });
    expect(s.endedAt).toBeNull();
    expect(onAck(s, "s3", NOW + 23)).toEqual({ persist: true, send: [] });
    expect(s).toMatchObject({ endedAt: NOW + 23, nextResendAt: null });
    expect(s.participants.map((p) => p.ackedAt)).toEqual([NOW + 20, NOW + 22, NOW + 23]);
    expect(onAck(s, "s3", NOW + 24)).toEqual({ persist: false, send: [] });
    expect(onTick(s, NOW + 100_000, T)).toEqual({ persist: false, send: [] });
    expect(nextWake(s)).toBeNull();
  });

  it("an acknowledgement before the decision counts for nothing", () => {
    const { s } = start();
    expect(onAck(s, "s1", NOW + 1)).toEqual({ persist: false, send: [] });
    expect(s.participants[0]!.acked).toBe(false);
  });

  it("presumed abort: a coordinator that restarts before deciding aborts, and tells every participant", () => {
    // a record still preparing (e.g. written by an older version that logged at begin); the votes' records were in memory and are gone
    const { s } = start();
    const step = onRecover(s, NOW + 5, T);
    expect(step).toEqual({ persist: true, decides: true, send: ["s1", "s2", "s3"].map((shard) => ({ type: "decision", shard, outcome: "aborted", writes: [] })) });
    expect(s.reason?.code).toBe("coordinator_recovered");
    // a yes vote sent to the previous incarnation changes nothing now
    expect(onVote(s, new Map(), "s1", yes({ a: ABSENT }), NOW + 6, T, mint)).toEqual({ persist: false, send: [] });
  });

  it("a coordinator that restarts after deciding resends its decision (with the writes) to the participants that have not acknowledged it", () => {
    const { s, step } = committed();
    onAck(s, "s2", NOW + 20);
    const recovered = onRecover(structuredClone(s), NOW + 30, T);
    expect(recovered.persist).toBe(true);
    expect(recovered.send).toEqual(step.send.filter((m) => m.shard !== "s2"));
  });

  it("a coordinator that restarts after the end record has nothing to do", () => {
    const { s } = committed();
    for (const p of ["s1", "s2", "s3"]) onAck(s, p, NOW + 20);
    expect(onRecover(s, NOW + 30, T)).toEqual({ persist: false, send: [] });
  });

  it("an inquiry before the vote deadline is answered pending and changes nothing", () => {
    const { s } = start();
    const before = structuredClone(s);
    expect(onInquiry(s, "s1", NOW + T.voteTimeoutMs - 1, T)).toEqual({ answer: { state: "pending" }, step: { persist: false, send: [] } });
    expect(s).toEqual(before);
  });

  it("an inquiry after the vote deadline aborts the undecided transaction first (persisted, sent), so the answer is final", () => {
    const { s } = start();
    const r = onInquiry(s, "s2", NOW + T.voteTimeoutMs, T);
    expect(r.answer).toEqual({ state: "aborted", writes: [] });
    expect(r.step.persist).toBe(true);
    expect(r.step.send).toHaveLength(3);
    expect(s.reason?.code).toBe("vote_timeout");
  });

  it("an inquiry about a decided transaction gets its outcome and only the asking participant's writes", () => {
    const { s } = committed();
    const keysOf = (shard: string) => {
      const r = onInquiry(s, shard, NOW + 20, T);
      expect(r.step).toEqual({ persist: false, send: [] });
      return r.answer.state === "committed" ? r.answer.writes.map((w) => w.key) : r.answer.state;
    };
    expect(keysOf("s1")).toEqual(["a"]);
    expect(keysOf("s2")).toEqual(["a", "b"]);
    expect(keysOf("s3")).toEqual(["b"]);
    expect(keysOf("s9")).toEqual([]);
    const aborted = start().s;
    onVoteFailed(aborted, "s1", "x", NOW, T);
    expect(onInquiry(aborted, "s1", NOW + 1, T).answer).toEqual({ state: "aborted", writes: [] });
  });

  it("the alarm is due at the vote deadline while preparing, at the next resend once decided, never once ended", () => {
    const { s, records } = start();
    expect(nextWake(s)).toBe(NOW + T.voteTimeoutMs);
    allYes(s, records);
    expect(nextWake(s)).toBe(NOW + 10 + T.resendBaseMs);
    for (const p of ["s1", "s2", "s3"]) onAck(s, p, NOW + 20);
    expect(nextWake(s)).toBeNull();
  });
});

describe("participant: no-wait locks, votes that hold, decisions applied once", () => {
  function view(opts: { locks?: Record<string, string>; prepared?: PreparedTxn[]; finished?: Record<string, Outcome> } = {}): ParticipantView {
    const locks = new Map(Object.entries(opts.locks ?? {}));
    const prepared = new Map((opts.prepared ?? []).map((p) => [p.txn, p]));
    const finished = new Map(Object.entries(opts.finished ?? {}));
    return { lockHolder: (k) => locks.get(k), prepared: (t) => prepared.get(t), finished: (t) => finished.get(t) };
  }
  const prep = (txn: string, keys: string[], nextInquiryAt = 500): PreparedTxn => ({ txn, keys, preparedAt: 0, nextInquiryAt, inquiries: 0 });

  it("a PREPARE whose keys are free locks them and records PREPARED, with the first inquiry due after inquiryAfterMs", () => {
    expect(onPrepare(view({ locks: { other: "t0" } }), "t1", ["a", "b"], 100, 250)).toEqual({
      action: "lock",
      prepared: { txn: "t1", keys: ["a", "b"], preparedAt: 100, nextInquiryAt: 350, inquiries: 0 },
    });
  });

  it("no-wait locking: a key locked by another transaction makes the vote no at once (conflict), so nobody ever waits and deadlock is impossible", () => {
    const r = onPrepare(view({ locks: { b: "t0" } }), "t1", ["a", "b"], 100, 250);
    expect(r).toEqual({ action: "refuse", reason: { code: "conflict", message: '"b" is locked by another transaction (t0); retry', key: "b" } });
  });

  it("a duplicate PREPARE of a transaction prepared here votes yes again, with nothing new to persist", () => {
    const v1 = view({ locks: { a: "t1" }, prepared: [prep("t1", ["a"])] });
    expect(onPrepare(v1, "t1", ["a"], 900, 250)).toEqual({ action: "revote" });
  });

  it("a PREPARE of a transaction prepared here with other keys is refused: its locks do not cover them", () => {
    const v1 = view({ locks: { a: "t1" }, prepared: [prep("t1", ["a"])] });
    expect(onPrepare(v1, "t1", ["a", "b"], 900, 250)).toMatchObject({ action: "refuse", reason: { code: "conflict" } });
  });

  it.each(["committed", "aborted"] as const)("a PREPARE of a transaction already %s here is refused: a finished transaction is never prepared again", (outcome) => {
    const r = onPrepare(view({ finished: { t1: outcome } }), "t1", ["a"], 100, 250);
    expect(r).toEqual({ action: "refuse", reason: { code: "presumed_abort", message: `transaction already ${outcome} here` } });
  });

  it("a decision for a transaction prepared here is applied (writes, lock release) in one step", () => {
    const p = prep("t1", ["a"]);
    expect(onDecision(view({ locks: { a: "t1" }, prepared: [p] }), "t1")).toEqual({ action: "apply", prepared: p });
  });

  it("a decision for a transaction never prepared here (it overtook its PREPARE, or the vote was no) fences it off", () => {
    expect(onDecision(view(), "t1")).toEqual({ action: "fence" });
    expect(onDecision(view({ locks: { a: "t2" }, prepared: [prep("t2", ["a"])] }), "t1")).toEqual({ action: "fence" });
  });

  it.each(["committed", "aborted"] as const)("a repeated decision for a transaction already %s here is only acknowledged", (outcome) => {
    expect(onDecision(view({ finished: { t1: outcome } }), "t1")).toEqual({ action: "ack" });
  });

  it("the inquiry delay doubles from its base and is capped", () => {
    expect([0, 1, 2, 3, 4, 50].map((n) => inquiryDelay(100, n, 1_000))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("only in-doubt transactions whose inquiry is due are asked about", () => {
    const all = [prep("t1", ["a"], 100), prep("t2", ["b"], 200), prep("t3", ["c"], 201)];
    expect(dueInquiries(all, 200).map((p) => p.txn)).toEqual(["t1", "t2"]);
    expect(dueInquiries([], 200)).toEqual([]);
  });
});
