import { describe, expect, test } from "vitest";
import { makeVersion } from "../../src/core/cache/version";
import type { CoordinatorState } from "../../src/core/txn/coordinator";
import { checkTxnInvariants, type ParticipantDurable, type StoredValue, type TxnProperty, type TxnSimWorld } from "../sim/txn-checks";
import { simulateTxn, type TxnSimBug, type TxnSimResult, type TxnSimStats } from "../sim/txn-sim";

// Deterministic simulation of two-phase commit (test/sim/txn-sim.ts): the real core under loss,
// duplication, delay, reordering, isolated nodes, crashes (also between persist and send), restarts
// with recovery, in-doubt inquiries and skewed clocks, with bank clients; then atomicity, agreement,
// released locks, ended transactions, money, what clients were told and serializability.
//
//   TXN_SIM_SEEDS=20000 npx vitest run --project core test/core/txn-sim    a longer hunt
//   TXN_SIM_SEED=1234 npx vitest run --project core test/core/txn-sim      replay one seed, with a trace
//   npm run sim:txn -- --seeds 10000                                        the CLI (test/sim/txn-run.ts)

const SEEDS = Number(process.env.TXN_SIM_SEEDS ?? 5_000);
const ONE_SEED = process.env.TXN_SIM_SEED === undefined ? null : Number(process.env.TXN_SIM_SEED);

function describeFailure(r: TxnSimResult): string {
  return `seed ${r.seed} (replay: TXN_SIM_SEED=${r.seed}, or npm run sim:txn -- --seed ${r.seed} --trace 300):\n` + r.violations.map((v) => `  ${v.property}: ${v.message}`).join("\n");
}

describe("deterministic simulation of two-phase commit", () => {
  test(
    ONE_SEED === null ? `atomicity, agreement, released locks, ended transactions, money, told outcomes and serializability for ${SEEDS} seeds` : `seed ${ONE_SEED}`,
    () => {
      const started = performance.now();
      const totals: Record<string, number> = {};
      const reasons: Record<string, number> = {};
      const first = ONE_SEED ?? 1;
      const count = ONE_SEED === null ? SEEDS : 1;
      for (let seed = first; seed < first + count; seed++) {
        const r = simulateTxn(seed, ONE_SEED === null ? {} : { trace: 300 });
        if (!r.ok) {
          if (r.trace !== undefined) console.log(r.trace.join("\n"));
          expect.fail(describeFailure(r));
        }
        for (const [k, v] of Object.entries(r.stats) as [keyof TxnSimStats, TxnSimStats[keyof TxnSimStats]][]) if (typeof v === "number") totals[k] = (totals[k] ?? 0) + v;
        for (const [code, n] of Object.entries(r.stats.abortReasons)) reasons[code] = (reasons[code] ?? 0) + n;
      }
      const secs = (performance.now() - started) / 1000;
      console.log(
        `txn sim: ${count} seeds passed (${first}..${first + count - 1}) in ${secs.toFixed(1)} s, ${(count / secs).toFixed(0)} seeds/s; ` +
          `${totals.txns} transactions (${totals.committed} committed, ${totals.aborted} aborted: ${JSON.stringify(reasons)}), ` +
          `${totals.crashes} crashes (${totals.crashesBetweenPersistAndSend} between persist and send), ${totals.inquiries} inquiries, ` +
          `${totals.resends} decision resends, ${totals.fences} fences, ${totals.revotes} revotes, ${totals.latePreparesRefused} late PREPAREs refused`,
      );
      if (ONE_SEED === null) {
        // The runs exercised what they claim to: every way to commit, abort, crash and recover.
        for (const k of ["committed", "crashes", "crashesBetweenPersistAndSend", "isolations", "messagesDropped", "messagesDuplicated", "inquiries", "pendingAnswers", "fences", "revotes", "latePreparesRefused", "resends", "refusedPlans", "clientTold", "clientUnknown"]) {
          expect(totals[k], k).toBeGreaterThan(0);
        }
        for (const code of ["conflict", "vote_timeout", "participant_unavailable", "not_an_integer", "condition_failed"]) expect(reasons[code], code).toBeGreaterThan(0);
        // Presumed abort: a coordinator that crashed before deciding logged nothing; its participants were told "aborted".
        expect(totals.presumedAborts, "presumedAborts").toBeGreaterThan(0);
        expect(totals.committed! / totals.txns!).toBeGreaterThan(0.2);
      }
    },
    180_000,
  );

  test("a seed replays exactly: same run, same trace, same result", () => {
    const a = simulateTxn(42, { trace: 80 });
    const b = simulateTxn(42, { trace: 80 });
    expect(a.ok).toBe(true);
    expect(b).toEqual(a);
    expect(simulateTxn(43, { trace: 80 }).trace).not.toEqual(a.trace);
  });
});

describe("the checks catch deliberately broken shells", () => {
  /** The first of the seeds 1..limit on which the bug is caught. */
  function firstCaught(bug: TxnSimBug, limit: number): TxnSimResult {
    for (let seed = 1; seed <= limit; seed++) {
      const r = simulateTxn(seed, { bug });
      if (!r.ok) return r;
    }
    throw new Error(`bug ${bug} went unnoticed for ${limit} seeds`);
  }
  const properties = (r: TxnSimResult) => new Set(r.violations.map((v) => v.property));

  test("log before you send: a coordinator that sends its decision before persisting it, and crashes in between, contradicts its own log", () => {
    const r = firstCaught("send-before-persist", 50);
    // Someone (a client or a participant) acted on a decision the log does not have.
    expect([...properties(r)].some((p) => p === "told" || p === "agreement")).toBe(true);
    expect(r.violations[0]!.message).toMatch(/never logged|presumed abort/);
  });

  test("a participant that keeps PREPARED and its locks in memory gets a commit it never prepared after a crash", () => {
    const r = firstCaught("volatile-prepared", 50);
    expect(properties(r)).toContain("commit-without-prepare");
  });

  test("a participant that voted yes never decides alone: one that aborts on its own contradicts a commit", () => {
    const r = firstCaught("participant-decides-alone", 50);
    expect(properties(r)).toContain("agreement");
  });

  test("a version must be minted above every version the votes saw: otherwise last-writer-wins drops committed writes and money vanishes", () => {
    const r = firstCaught("mint-ignores-seen", 50);
    expect(properties(r)).toContain("serializability");
    expect(properties(r)).toContain("money");
  });
});

describe("the invariants on fabricated end states", () => {
  const V0 = makeVersion(0, 0, 0);
  const V1 = makeVersion(100, 0, 1);
  const enc = new TextEncoder();
  const int = (n: number, version = V0): StoredValue => ({ version, live: true, value: enc.encode(String(n)), contentType: "text/plain; charset=utf-8", expiresAt: null });
  const durable = (store: [string, StoredValue][]): ParticipantDurable => ({ store: new Map(store), locks: new Map(), prepared: new Map(), finished: new Map() });

  /** One committed transfer of 10 from x to y, with both accounts on s1 only, fully applied and ended. */
  function world(): { w: TxnSimWorld; s: CoordinatorState; s1: ParticipantDurable } {
    const s: CoordinatorState = {
      id: "c1.1",
      ops: [{ op: "incr", key: "x", by: -10 }, { op: "incr", key: "y", by: 10 }],
      conditions: [],
      phase: "committed",
      participants: [{ shard: "s1", keys: ["x", "y"], valueKeys: ["x", "y"], vote: "yes", acked: true, votedAt: 5, ackedAt: 7 }],
      startedAt: 0,
      voteDeadline: 1_000,
      decidedAt: 6,
      endedAt: 7,
      reason: null,
      writes: [
        { key: "x", version: V1, value: "90", contentType: "text/plain; charset=utf-8", expiresAt: null },
        { key: "y", version: V1, value: "110", contentType: "text/plain; charset=utf-8", expiresAt: null },
      ],
      results: null,
      nextResendAt: null,
      resends: 0,
    };
    const s1 = durable([["x", int(90, V1)], ["y", int(110, V1)]]);
    s1.finished.set("c1.1", "committed");
    const w: TxnSimWorld = {
      coordinators: [{ id: "c1", txns: new Map([["c1.1", s]]), clockOffset: 0 }],
      participants: new Map([["s1", s1]]),
      replicasOf: () => ["s1"],
      workload: { accounts: ["x", "y"], counters: [], sessions: [], label: "label", big: "big" },
      initial: new Map([["x", int(100)], ["y", int(100)]]),
      applied: [{ txn: "c1.1", shard: "s1", outcome: "committed", prepared: true }],
      told: [{ txn: "c1.1", outcome: "committed" }],
    };
    return { w, s, s1 };
  }
  const props = (w: TxnSimWorld): TxnProperty[] => checkTxnInvariants(w).map((v) => v.property);

  test("a consistent end state passes", () => {
    expect(checkTxnInvariants(world().w)).toEqual([]);
  });

  test.each<[string, (x: ReturnType<typeof world>) => void, TxnProperty]>([
    ["a lock left behind", ({ s1 }) => s1.locks.set("x", "c1.9"), "locks-released"],
    ["a transaction left in doubt", ({ s1 }) => s1.prepared.set("c1.9", { txn: "c1.9", keys: [], preparedAt: 0, nextInquiryAt: 0, inquiries: 0 }), "locks-released"],
    ["a transaction never acknowledged", ({ s }) => (s.endedAt = null), "ended"],
    ["a participant that finished the other way", ({ s1 }) => s1.finished.set("c1.1", "aborted"), "agreement"],
    ["a participant that never heard", ({ s1 }) => s1.finished.clear(), "atomicity"],
    ["a client told the opposite", ({ w }) => w.told.push({ txn: "c1.1", outcome: "aborted" }), "told"],
    ["a commit applied for an unknown transaction", ({ w }) => w.applied.push({ txn: "c9.9", shard: "s1", outcome: "committed", prepared: true }), "agreement"],
    ["a committed write missing from a replica", ({ s1 }) => s1.store.set("y", int(100)), "atomicity"],
    ["money created from nothing", ({ s1 }) => s1.store.set("y", int(120, makeVersion(200, 0, 1))), "money"],
    ["a commit whose writes do not follow from the state it read", ({ s }) => (s.writes![0]!.value = "95"), "serializability"],
  ])("%s is caught", (_, breakIt, property) => {
    const x = world();
    breakIt(x);
    expect(props(x.w)).toContain(property);
  });
});
