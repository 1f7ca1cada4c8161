import { describe, expect, test } from "vitest";
import { checkLinearizable } from "../../src/core/linearizability/check";
import { formatCheckResult } from "../../src/core/linearizability/format";
import { HistoryRecorder, type KvOp, type Operation, type OpResult } from "../../src/core/linearizability/history";
import { mulberry32 } from "../support/prng";

/** Every generated history can be replayed from its seed. */
const prng = mulberry32;

interface GenOptions {
  readonly ops: number;
  readonly keys: number;
  readonly clients: number;
  /** Probability that a client gives up on an in-flight operation (timeout): its outcome becomes unknown. */
  readonly unknownRate: number;
}

/**
 * Runs `clients` concurrent clients against a real (atomic) in-memory register per key, one event per
 * tick: a client invokes, its operation takes effect at some later tick, and its reply arrives later
 * still. A client may time out before the effect (the operation then lingers and may still apply later,
 * or never) or after it (the reply is lost). Every history produced is linearizable by construction.
 * Written values are unique, so a read's value names exactly one write.
 */
function generate(seed: number, opt: GenOptions): Operation[] {
  const rand = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const store = new Map<string, string>();
  const rec = new HistoryRecorder();
  type Client = { phase: "idle" } | { phase: "invoked"; id: number; op: KvOp } | { phase: "applied"; id: number; result: OpResult };
  const clients: Client[] = Array.from({ length: opt.clients }, () => ({ phase: "idle" }));
  const lingering: KvOp[] = []; // abandoned operations that have not taken effect (yet)
  const keys = Array.from({ length: opt.keys }, (_, i) => `k${i}`);
  let invoked = 0;
  let written = 0;
  const apply = (op: KvOp): OpResult => {
    const current = store.get(op.key) ?? null;
    switch (op.type) {
      case "get":
        return { value: current };
      case "put":
        store.set(op.key, op.value);
        return { ok: true };
      case "delete":
        store.delete(op.key);
        return { ok: true };
      case "cas":
        if (current !== op.expected) return { ok: false };
        store.set(op.key, op.value);
        return { ok: true };
    }
  };
  const randomOp = (): KvOp => {
    const key = pick(keys);
    const r = rand();
    if (r < 0.4) return { type: "get", key };
    if (r < 0.7) return { type: "put", key, value: `v${written++}` };
    if (r < 0.77) return { type: "delete", key };
    const expected = rand() < 0.6 ? (store.get(key) ?? null) : rand() < 0.5 ? null : `v${Math.floor(rand() * (written + 1))}`;
    return { type: "cas", key, expected, value: `v${written++}` };
  };
  for (let tick = 1; ; tick++) {
    const actors = clients.flatMap((c, i) => (c.phase !== "idle" || invoked < opt.ops ? [i] : []));
    if (actors.length === 0) break;
    if (lingering.length > 0 && rand() < 0.05) {
      const op = lingering.splice(Math.floor(rand() * lingering.length), 1)[0]!;
      if (rand() < 0.5) apply(op); // a stale proposal finally commits; otherwise it is lost for good
      continue;
    }
    const i = pick(actors);
    const c = clients[i]!;
    if (c.phase === "idle") {
      const op = randomOp();
      clients[i] = { phase: "invoked", id: rec.invoke(`c${i}`, op, tick), op };
      invoked++;
    } else if (c.phase === "invoked") {
      if (rand() < opt.unknownRate) {
        rec.failUnknown(c.id);
        lingering.push(c.op);
        clients[i] = { phase: "idle" };
      } else clients[i] = { phase: "applied", id: c.id, result: apply(c.op) };
    } else {
      if (rand() < opt.unknownRate) rec.failUnknown(c.id);
      else rec.complete(c.id, c.result, tick);
      clients[i] = { phase: "idle" };
    }
  }
  return rec.history();
}

/** Replaces one operation's result. */
const withResult = (h: readonly Operation[], id: number, result: OpResult): Operation[] =>
  h.map((o) => (o.id === id ? ({ ...o, result } as Operation) : o));

const baseSeed = Number(process.env.LIN_SEED ?? 20_240_601);
const seeds = Array.from({ length: 40 }, (_, i) => baseSeed + i);

describe("randomized: histories of a real register are linearizable; one impossible read is caught", () => {
  test.each(seeds)("seed %i", (seed) => {
    console.log(`linearizability seed ${seed} (replay: LIN_SEED=${seed})`);
    const rand = prng(seed ^ 0x5bd1e995);
    const options: GenOptions = {
      ops: 150 + Math.floor(rand() * 250),
      keys: 1 + Math.floor(rand() * 4),
      clients: 2 + Math.floor(rand() * 7),
      unknownRate: [0, 0.02, 0.05][Math.floor(rand() * 3)]!,
    };
    const history = generate(seed, options);
    const result = checkLinearizable(history);
    expect(result.ok, `seed ${seed} ${JSON.stringify(options)}: ${formatCheckResult(result)}`).toBe(true);

    const reads = history.filter((o) => o.op.type === "get" && o.completedAt !== null);
    if (reads.length === 0) return;
    const victim = reads[Math.floor(rand() * reads.length)]!;

    // A value no operation ever wrote.
    const ghost = checkLinearizable(withResult(history, victim.id, { value: "never-written" }));
    if (ghost.ok !== false) throw new Error(`seed ${seed}: ghost read not caught: ${formatCheckResult(ghost)}`);
    expect(ghost.key).toBe(victim.op.key);
    expect(ghost.witness.map((o) => o.id)).toEqual([victim.id]);

    // A value written only by an operation invoked after the read returned: a read from the future.
    const future = history.find((o) => o.op.key === victim.op.key && o.op.type === "put" && o.invokedAt > (victim.completedAt ?? 0));
    if (future === undefined || future.op.type !== "put") return;
    const fromFuture = checkLinearizable(withResult(history, victim.id, { value: future.op.value }));
    if (fromFuture.ok !== false) throw new Error(`seed ${seed}: read from the future not caught: ${formatCheckResult(fromFuture)}`);
    expect(fromFuture.witness.map((o) => o.id).sort((a, b) => a - b)).toEqual([victim.id, future.id].sort((a, b) => a - b));
  }, 30_000);
});

/** Definition-level checker for tiny histories: tries every subset of unknown operations in every order. */
function bruteForceLinearizable(history: readonly Operation[]): boolean {
  const ops = history.filter((o) => !(o.op.type === "get" && o.completedAt === null)); // an unknown get constrains nothing
  const unknown = ops.filter((o) => o.completedAt === null);
  const completed = ops.filter((o) => o.completedAt !== null);
  const precedes = (a: Operation, b: Operation): boolean => a.completedAt !== null && a.completedAt < b.invokedAt;
  const legal = (order: readonly Operation[]): boolean => {
    let state: string | null = null;
    for (const o of order) {
      const r = o.result as { value?: string | null; ok?: boolean } | null;
      switch (o.op.type) {
        case "put":
          state = o.op.value;
          break;
        case "delete":
          state = null;
          break;
        case "get":
          if (state !== r?.value) return false;
          break;
        case "cas": {
          const succeeds = r === null || r.ok === true; // an included unknown cas is one that took effect
          if ((state === o.op.expected) !== succeeds) return false;
          if (succeeds) state = o.op.value;
        }
      }
    }
    return true;
  };
  const permutations = function* (xs: readonly Operation[], prefix: Operation[] = []): Generator<Operation[]> {
    if (xs.length === 0) yield prefix;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      if (prefix.some((p) => precedes(x, p))) continue; // x must come before something already placed
      yield* permutations([...xs.slice(0, i), ...xs.slice(i + 1)], [...prefix, x]);
    }
  };
  for (let mask = 0; mask < 1 << unknown.length; mask++) {
    const chosen = [...completed, ...unknown.filter((_, i) => (mask >> i) & 1)];
    for (const order of permutations(chosen)) if (legal(order)) return true;
  }
  return false;
}

describe("differential: agrees with a brute-force checker on tiny random histories", () => {
  test("3,000 histories of 2-7 operations with ties, every op type and unknown outcomes", () => {
    const seed = baseSeed;
    console.log(`differential seed ${seed} (replay: LIN_SEED=${seed})`);
    const rand = prng(seed);
    const values = ["a", "b", "c"];
    const anyValue = (): string | null => (rand() < 0.25 ? null : values[Math.floor(rand() * values.length)]!);
    let nonLinearizable = 0;
    const count = Number(process.env.LIN_DIFF_COUNT ?? 3_000);
    const maxSize = Number(process.env.LIN_DIFF_MAX_SIZE ?? 7);
    const unknownRate = Number(process.env.LIN_DIFF_UNKNOWN ?? 0.25);
    for (let n = 0; n < count; n++) {
      const size = 2 + Math.floor(rand() * (maxSize - 1));
      const history: Operation[] = [];
      for (let id = 0; id < size; id++) {
        const invokedAt = Math.floor(rand() * 8);
        const completedAt = rand() < unknownRate ? null : invokedAt + Math.floor(rand() * 4);
        const r = rand();
        const key = "x";
        const value = values[Math.floor(rand() * values.length)]!;
        const o =
          r < 0.3
            ? { op: { type: "put", key, value }, result: { ok: true } }
            : r < 0.6
              ? { op: { type: "get", key }, result: { value: anyValue() } }
              : r < 0.7
                ? { op: { type: "delete", key }, result: { ok: true } }
                : { op: { type: "cas", key, expected: anyValue(), value }, result: { ok: rand() < 0.5 } };
        history.push({ id, client: `c${id}`, invokedAt, completedAt, ...o, result: completedAt === null ? null : o.result } as Operation);
      }
      const expected = bruteForceLinearizable(history);
      const got = checkLinearizable(history);
      if (got.ok !== expected) throw new Error(`history #${n}: brute force says ${expected}, checker says ${formatCheckResult(got)}\n${JSON.stringify(history)}`);
      if (got.ok === false) {
        nonLinearizable++;
        // The witness, as recorded, is itself a violation.
        if (bruteForceLinearizable(got.witness)) throw new Error(`history #${n}: witness is linearizable\n${formatCheckResult(got)}\n${JSON.stringify(history)}`);
      }
    }
    console.log(`differential: ${nonLinearizable} of ${count} not linearizable`);
    expect(nonLinearizable).toBeGreaterThan(count / 10); // both verdicts are well exercised
    expect(nonLinearizable).toBeLessThan(count * 0.9);
  });
});

describe("performance", () => {
  test("2,000 operations over 20 keys with 8 concurrent clients check quickly", () => {
    const seed = baseSeed;
    const history = generate(seed, { ops: 2_000, keys: 20, clients: 8, unknownRate: 0.02 });
    const started = performance.now();
    const result = checkLinearizable(history);
    const ms = performance.now() - started;
    console.log(`perf: ${history.length} ops / 20 keys / 8 clients (seed ${seed}): ${result.ok} in ${ms.toFixed(1)} ms`);
    expect(result.ok, formatCheckResult(result)).toBe(true);
  });

  test("2,000 operations over 10 keys with 80 clients (about 8 concurrent per key), and one corrupted read", () => {
    const seed = baseSeed + 2;
    const history = generate(seed, { ops: 2_000, keys: 10, clients: 80, unknownRate: 0.02 });
    let started = performance.now();
    const result = checkLinearizable(history);
    const okMs = performance.now() - started;
    expect(result.ok, formatCheckResult(result)).toBe(true);
    const reads = history.filter((o) => o.op.type === "get" && o.completedAt !== null);
    const victim = reads[Math.floor(reads.length / 2)]!;
    started = performance.now();
    const corrupted = checkLinearizable(withResult(history, victim.id, { value: "never-written" }));
    const failMs = performance.now() - started;
    console.log(`perf: ${history.length} ops / 10 keys / 80 clients (seed ${seed}): ok in ${okMs.toFixed(1)} ms; corrupted read found + witness in ${failMs.toFixed(1)} ms`);
    expect(corrupted.ok).toBe(false);
  }, 60_000);

  test("one hot key: 200 operations with 10 concurrent clients and some unknown outcomes", () => {
    const seed = baseSeed + 1;
    const history = generate(seed, { ops: 200, keys: 1, clients: 10, unknownRate: 0.05 });
    const started = performance.now();
    const result = checkLinearizable(history);
    const ms = performance.now() - started;
    const unknown = history.filter((o) => o.completedAt === null).length;
    console.log(`perf: ${history.length} ops / 1 key / 10 clients / ${unknown} unknown (seed ${seed}): ${result.ok} in ${ms.toFixed(1)} ms`);
    expect(result.ok, formatCheckResult(result)).toBe(true);
  });
});
