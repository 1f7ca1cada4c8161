// The bank test: concurrent transfers between accounts spread over all shards, while shards and
// coordinators crash at random protocol points. Every transfer is a transaction of two increments
// guarded by a revision condition on the source (so it never overdraws). At the end, every
// transaction's outcome is looked up, and each account must equal its opening balance plus the
// committed transfers exactly, on every replica: money is conserved, nothing acknowledged is lost,
// nothing aborted leaks in, no balance is negative.
import { describe, expect, it } from "vitest";
import type { CoordinatorCrashPoint } from "../../durable-objects/txn-coordinator";
import type { ParticipantCrashPoint } from "../../durable-objects/cache-shard-txn";
import { mulberry32 } from "../support/prng";
import { ALL_SHARDS, call, getKey, json, putKey, shard, sleep } from "./helpers";
import { coordinator, locksReleased, postTxn, replicaValues, type TxnBody } from "./txn-support";

const ACCOUNTS = Array.from({ length: 10 }, (_, i) => `bank-acct-${i}`);
const OPENING = 100;
const CLIENTS = 5;
const TRANSFERS_PER_CLIENT = 12;
const COORD_POINTS: CoordinatorCrashPoint[] = ["after-prepare-sent", "after-decision-logged", "before-end"];
const PART_POINTS: ParticipantCrashPoint[] = ["before-vote", "after-prepared", "before-apply"];

interface Attempt {
  id: string;
  from: string;
  to: string;
  amount: number;
  status: number;
}

async function readBalance(key: string): Promise<{ balance: number; revision: string } | null> {
  for (let i = 0; i < 20; i++) {
    const res = await getKey(key);
    if (res.status === 200) return { balance: Number(await res.text()), revision: res.headers.get("x-cache-version")! };
    await res.arrayBuffer();
    await sleep(20);
  }
  return null;
}

describe("bank transfers under random crashes", () => {
  it("conserves money, loses no committed transfer, applies no aborted one, never goes negative", async () => {
    const seed = Date.now() % 100000; // printed on failure; crashes and timing are not replayable anyway
    const rng = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
    for (const a of ACCOUNTS) expect((await putKey(a, String(OPENING), "?w=3")).status).toBe(200);

    const attempts: Attempt[] = [];
    let stop = false;
    const chaos = (async () => {
      while (!stop) {
        await sleep(40 + Math.floor(rng() * 80));
        const s = shard(pick(ALL_SHARDS));
        if (rng() < 0.5) await s.crash().catch(() => undefined);
        // The object may be crashing right now (another crash point fired): arming then fails, which is fine.
        else await s.armTxnCrash(pick(PART_POINTS)).catch(() => undefined);
      }
    })();
    const client = async (c: number) => {
      for (let n = 0; n < TRANSFERS_PER_CLIENT; n++) {
        const from = pick(ACCOUNTS);
        let to = pick(ACCOUNTS);
        while (to === from) to = pick(ACCOUNTS);
        const src = await readBalance(from);
        if (!src || src.balance === 0) continue;
        const amount = 1 + Math.floor(rng() * Math.min(src.balance, 30));
        const id = `bank-${seed}-${c}-${n}`;
        if (rng() < 0.2) await coordinator(id).armCrash(id, pick(COORD_POINTS)).catch(() => undefined);
        const res = await postTxn({
          id,
          ops: [{ op: "incr", key: from, by: -amount }, { op: "incr", key: to, by: amount }],
          conditions: [{ key: from, revision: src.revision }],
        });
        await res.arrayBuffer();
        expect([200, 409, 503], `transfer ${id}`).toContain(res.status);
        attempts.push({ id, from, to, amount, status: res.status });
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    stop = true;
    await chaos;
    await Promise.all(ALL_SHARDS.map((s) => shard(s).armTxnCrash(null).catch(() => undefined)));

    await locksReleased(10_000);
    // Every outcome is settled and durable; a client's 200 must be a durable commit.
    const expected = new Map(ACCOUNTS.map((a) => [a, OPENING]));
    let committed = 0;
    for (const a of attempts) {
      const res = await call(`/txn/${a.id}`);
      const view = res.status === 200 ? await json<TxnBody>(res) : null;
      const state = view?.state ?? "never-started";
      expect(state, `${a.id} (seed ${seed})`).not.toBe("preparing");
      if (a.status === 200) expect(state, `acknowledged ${a.id} (seed ${seed})`).toBe("committed");
      if (state !== "committed") continue;
      committed++;
      expected.set(a.from, expected.get(a.from)! - a.amount);
      expected.set(a.to, expected.get(a.to)! + a.amount);
    }
    expect(committed, `seed ${seed}: some transfers must commit for the test to mean anything`).toBeGreaterThan(5);
    let total = 0;
    for (const a of ACCOUNTS) {
      const replicas = await replicaValues(a);
      for (const r of replicas) expect(Number(r.value), `${a} on ${r.shard} (seed ${seed})`).toBe(expected.get(a));
      expect(expected.get(a)!).toBeGreaterThanOrEqual(0);
      total += Number(replicas[0]!.value);
    }
    expect(total).toBe(OPENING * ACCOUNTS.length);
    console.log(`bank seed ${seed}: ${attempts.length} transfers tried, ${committed} committed, ${attempts.filter((a) => a.status === 503).length} answered 503`);
  }, 60_000);
});
