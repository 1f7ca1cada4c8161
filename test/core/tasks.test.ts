import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  checkPrime64,
  executeTask,
  FIBONACCI_MAX_N,
  fibonacci,
  isPureTaskKind,
  isStrongProbablePrime,
  MAX_TASK_BATCH,
  MILLER_RABIN_BASES_64,
  PURE_TASK_KINDS,
  parseTaskArgs,
  parseTaskSubmission,
  runPureTask,
  SHA256_MAX_BYTES,
  SLEEP_MAX_MS,
  TASK_KIND_REGISTRY,
  TASK_KINDS,
  type TaskIo,
  type TaskSpec,
  taskSpecSchema,
  UINT64_MAX,
} from "../../src/core/tasks";

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/** F(0..count-1) by the defining recurrence: a reference sharing no code with fast doubling. */
function fibonacciByLoop(count: number): bigint[] {
  const out: bigint[] = [0n, 1n];
  for (let i = 2; i < count; i++) out.push((out[i - 1] ?? 0n) + (out[i - 2] ?? 0n));
  return out.slice(0, count);
}

/** Primality by trial division: the definition, for the exhaustive cross-check. */
function isPrimeByTrialDivision(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** The validation problem of a call that must fail, as [field, message]. */
function problem(result: { ok: true } | { ok: false; field: string; message: string }): [string, string] {
  if (result.ok) throw new Error("expected a validation problem, got ok");
  return [result.field, result.message];
}

/** Real WebCrypto for sha256 (Node's globalThis.crypto, the same API workerd has); a recorded sleep. */
function testIo(): TaskIo & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    sha256: (bytes) => crypto.subtle.digest("SHA-256", bytes),
    sleep: async (ms) => {
      slept.push(ms);
    },
  };
}

async function sha256Of(args: unknown): Promise<{ digest: string; bytes: number }> {
  const parsed = parseTaskArgs("sha256", args);
  if (!parsed.ok) throw new Error(`${parsed.field}: ${parsed.message}`);
  const result = await executeTask(parsed, testIo());
  return result as { digest: string; bytes: number };
}

// ---------------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------------

describe("task kind registry", () => {
  test("every kind in TASK_KINDS is registered under its own name, and nothing else is", () => {
    expect(Object.keys(TASK_KIND_REGISTRY).sort()).toEqual([...TASK_KINDS].sort());
    for (const kind of TASK_KINDS) expect(TASK_KIND_REGISTRY[kind].kind).toBe(kind);
  });

  test("the pure kinds are exactly the kinds executed on the CPU in the core", () => {
    expect(TASK_KINDS.filter(isPureTaskKind)).toEqual([...PURE_TASK_KINDS]);
    expect(TASK_KIND_REGISTRY.sha256.execution).toBe("digest");
    expect(TASK_KIND_REGISTRY.sleep.execution).toBe("timer");
  });
});

// ---------------------------------------------------------------------------------------------------
// fibonacci
// ---------------------------------------------------------------------------------------------------

describe("fibonacci", () => {
  test("F(0..20) are the textbook values", () => {
    const expected = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765];
    expect(expected.map((_, n) => fibonacci(n))).toEqual(expected.map(BigInt));
  });

  test("F(100) = 354224848179261915075 and F(1000) is the known 209-digit value", () => {
    expect(runPureTask("fibonacci", { n: 100 })).toEqual({ n: 100, value: "354224848179261915075", digits: 21 });
    const f1000 = runPureTask("fibonacci", { n: 1000 });
    expect(f1000.digits).toBe(209);
    expect(f1000.value).toBe(
      "43466557686937456435688527675040625802564660517371780402481729089536555417949051890403879840079255169295922593080322634775209689623239873322471161642996440906533187938298969649928516003704476137795166849228875",
    );
  });

  test("fast doubling agrees with the defining recurrence for every n < 2000", () => {
    const reference = fibonacciByLoop(2000);
    for (let n = 0; n < 2000; n++) expect(fibonacci(n), `F(${n})`).toBe(reference[n]);
  });

  test("F(FIBONACCI_MAX_N) satisfies Cassini's identity F(n-1)·F(n+1) − F(n)² = (−1)^n", () => {
    const n = FIBONACCI_MAX_N;
    const [before, at, after] = [fibonacci(n - 1), fibonacci(n), fibonacci(n + 1)];
    expect(before * after - at * at).toBe(n % 2 === 0 ? 1n : -1n);
    expect(runPureTask("fibonacci", { n }).digits).toBe(20_899);
  });

  test("a task at FIBONACCI_MAX_N stays well under 50 ms of CPU (best of 3, value included)", () => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      runPureTask("fibonacci", { n: FIBONACCI_MAX_N });
      best = Math.min(best, performance.now() - started);
    }
    expect(best).toBeLessThan(50);
  });

  test("fibonacci() refuses a negative or fractional n", () => {
    expect(() => fibonacci(-1)).toThrow(RangeError);
    expect(() => fibonacci(1.5)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------
// prime-check
// ---------------------------------------------------------------------------------------------------

const isPrime = (n: bigint | number | string): boolean => checkPrime64(BigInt(n)).prime;

describe("prime-check", () => {
  test("0 and 1 are not prime by definition; 2 and 3 are prime; 4 has divisor 2", () => {
    expect(runPureTask("prime-check", { n: "0" })).toEqual({ n: "0", prime: false, method: "definition", divisor: null, witness: null });
    expect(runPureTask("prime-check", { n: "1" })).toMatchObject({ prime: false, method: "definition" });
    expect(runPureTask("prime-check", { n: "2" })).toMatchObject({ prime: true, divisor: null });
    expect(runPureTask("prime-check", { n: "3" })).toMatchObject({ prime: true });
    expect(runPureTask("prime-check", { n: "4" })).toMatchObject({ prime: false, method: "trial-division", divisor: "2" });
  });

  test("agrees with trial division for every n < 100,000", () => {
    for (let n = 0; n < 100_000; n++) {
      if (checkPrime64(BigInt(n)).prime !== isPrimeByTrialDivision(n)) throw new Error(`checkPrime64 disagrees with trial division at n = ${n}`);
    }
  });

  test("agrees with trial division on the 2,000 integers from 2^32 (where every verdict is Miller–Rabin's)", () => {
    const start = 2 ** 32;
    for (let n = start; n < start + 2000; n++) {
      if (checkPrime64(BigInt(n)).prime !== isPrimeByTrialDivision(n)) throw new Error(`checkPrime64 disagrees with trial division at n = ${n}`);
    }
  });

  test("Carmichael numbers are composite (561, 1105, 1729, …, 41041, … 9746347772161)", () => {
    const carmichael = [561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265, 321197185, 5394826801, 232250619601, 9746347772161];
    for (const n of carmichael) expect(isPrime(n), `${n}`).toBe(false);
  });

  test("a Carmichael number with no factor ≤ 37 passes Fermat's test but not the strong test", () => {
    // 41·61·101, 211·421·631 and the largest Chernick number (6k+1)(12k+1)(18k+1) below 2^64 (k = 242160).
    const cases: [bigint, bigint[]][] = [
      [252601n, [41n, 61n, 101n]],
      [56052361n, [211n, 421n, 631n]],
      [18404023255395111361n, [1452961n, 2905921n, 4358881n]],
    ];
    for (const [n, factors] of cases) {
      expect(factors.reduce((a, b) => a * b)).toBe(n);
      // Fermat: 2^(n-1) ≡ 1 (mod n) for every Carmichael n coprime to 2.
      let power = 1n;
      for (let e = n - 1n, b = 2n; e > 0n; e >>= 1n, b = (b * b) % n) if (e & 1n) power = (power * b) % n;
      expect(power).toBe(1n);
      expect(checkPrime64(n)).toMatchObject({ prime: false, method: "miller-rabin" });
    }
  });

  test("strong pseudoprimes ψ1..ψ9 fool the first k prime bases and are caught by the next one", () => {
    // [n, its factors, how many of the first bases it fools, the base that catches it] (OEIS A014233).
    const cases: [bigint, bigint[], number, bigint][] = [
      [2047n, [23n, 89n], 1, 3n],
      [1373653n, [829n, 1657n], 2, 5n],
      [25326001n, [2251n, 11251n], 3, 7n],
      [3215031751n, [151n, 751n, 28351n], 4, 11n],
      [2152302898747n, [6763n, 10627n, 29947n], 5, 13n],
      [3474749660383n, [1303n, 16927n, 157543n], 6, 17n],
      [341550071728321n, [10670053n, 32010157n], 8, 23n],
      // Fools every base from 2 to 31: only the twelfth base, 37, exposes it.
      [3825123056546413051n, [149491n, 747451n, 34233211n], 11, 37n],
    ];
    for (const [n, factors, fooled, catcher] of cases) {
      expect(factors.reduce((a, b) => a * b), `${n} = ${factors.join("·")}`).toBe(n);
      for (const base of MILLER_RABIN_BASES_64.slice(0, fooled)) expect(isStrongProbablePrime(n, base), `${n} to base ${base}`).toBe(true);
      expect(isStrongProbablePrime(n, catcher), `${n} to base ${catcher}`).toBe(false);
      // 2047 = 23·89 is caught earlier, by trial division by the base 23; the rest only by the rounds.
      const verdict = checkPrime64(n);
      if (n === 2047n) expect(verdict).toEqual({ prime: false, method: "trial-division", divisor: 23n, witness: null });
      else expect(verdict).toEqual({ prime: false, method: "miller-rabin", divisor: null, witness: catcher });
    }
  });

  test("the twelve bases suffice below 2^64: the first composite fooling all of them, ψ12, is above 2^64", () => {
    const psi12 = 318665857834031151167461n;
    expect(399165290221n * 798330580441n).toBe(psi12);
    for (const base of MILLER_RABIN_BASES_64) expect(isStrongProbablePrime(psi12, base)).toBe(true);
    expect(psi12 > UINT64_MAX).toBe(true);
  });

  test("large primes: 2^31-1, 2^32-5, 2^61-1, 2^63-25 and 2^64-59, the largest 64-bit prime", () => {
    for (const n of [2n ** 31n - 1n, 2n ** 32n - 5n, 2n ** 61n - 1n, 2n ** 63n - 25n, 2n ** 64n - 59n]) {
      expect(checkPrime64(n), `${n}`).toEqual({ prime: true, method: "miller-rabin", divisor: null, witness: null });
    }
  });

  test("every integer from 2^64-58 to 2^64-1 is composite; 2^64-1 is divisible by 3", () => {
    for (let k = 1n; k <= 58n; k++) expect(isPrime(2n ** 64n - k), `2^64-${k}`).toBe(false);
    expect(runPureTask("prime-check", { n: UINT64_MAX.toString() })).toMatchObject({ prime: false, method: "trial-division", divisor: "3" });
  });

  test("a product of two 32-bit primes is composite", () => {
    const n = (2n ** 32n - 5n) * (2n ** 32n - 17n);
    expect(n <= UINT64_MAX).toBe(true);
    expect(checkPrime64(n)).toMatchObject({ prime: false, method: "miller-rabin" });
  });

  test("checkPrime64 refuses numbers outside 0..2^64-1", () => {
    expect(() => checkPrime64(-1n)).toThrow(RangeError);
    expect(() => checkPrime64(UINT64_MAX + 1n)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------
// sha256 and sleep (the shell's I/O passed in)
// ---------------------------------------------------------------------------------------------------

describe("sha256", () => {
  test("NIST FIPS 180-2 vectors: empty, \"abc\", the 448-bit message and a million 'a'", async () => {
    expect(await sha256Of({ data: "" })).toEqual({ digest: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", bytes: 0 });
    expect(await sha256Of({ data: "abc" })).toEqual({ digest: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", bytes: 3 });
    expect(await sha256Of({ data: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" })).toEqual({
      digest: "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      bytes: 56,
    });
    expect(await sha256Of({ data: "a".repeat(1_000_000) })).toEqual({ digest: "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", bytes: 1_000_000 });
  });

  test("base64 data is hashed as the bytes it encodes", async () => {
    expect((await sha256Of({ data: "YWJj", encoding: "base64" })).digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const expected = createHash("sha256").update(bytes).digest("hex");
    expect(await sha256Of({ data: Buffer.from(bytes).toString("base64"), encoding: "base64" })).toEqual({ digest: expected, bytes: 256 });
  });

  test("text is hashed as UTF-8, astral characters included", async () => {
    expect(await sha256Of({ data: "héllo, 世界 🌍" })).toEqual({ digest: "dcf760dd76bf9a2108fdd1d95cece11d9dc412b705c1984a7f1541caae36a1fa", bytes: 19 });
  });

  test("exactly SHA256_MAX_BYTES is accepted, one byte more is refused on data", () => {
    expect(parseTaskArgs("sha256", { data: "a".repeat(SHA256_MAX_BYTES) }).ok).toBe(true);
    expect(problem(parseTaskArgs("sha256", { data: "a".repeat(SHA256_MAX_BYTES + 1) }))[0]).toBe("args.data");
    // Half as many two-byte characters plus one: under the length bound, over the byte limit.
    const [field, message] = problem(parseTaskArgs("sha256", { data: "é".repeat(SHA256_MAX_BYTES / 2 + 1) }));
    expect([field, message]).toEqual(["args.data", `is ${SHA256_MAX_BYTES + 2} bytes; the limit is ${SHA256_MAX_BYTES} (SHA256_MAX_BYTES)`]);
    const overBase64 = Buffer.alloc(SHA256_MAX_BYTES + 1).toString("base64");
    expect(problem(parseTaskArgs("sha256", { data: overBase64, encoding: "base64" }))[0]).toBe("args.data");
    expect(parseTaskArgs("sha256", { data: Buffer.alloc(SHA256_MAX_BYTES).toString("base64"), encoding: "base64" }).ok).toBe(true);
  });

  test("malformed base64, a lone surrogate and an unknown encoding are refused on their field", () => {
    for (const data of ["YWJj=", "YW Jj", "YWJ", "YWJj\n", "YW*j"]) {
      expect(problem(parseTaskArgs("sha256", { data, encoding: "base64" }))[0], JSON.stringify(data)).toBe("args.data");
    }
    expect(problem(parseTaskArgs("sha256", { data: "a\ud800b" }))).toEqual(["args.data", expect.stringContaining("lone surrogate")]);
    expect(problem(parseTaskArgs("sha256", { data: "abc", encoding: "hex" }))).toEqual(["args.encoding", "must be one of utf8, base64"]);
    expect(problem(parseTaskArgs("sha256", { data: 42 }))).toEqual(["args.data", "must be a string"]);
  });
});

describe("sleep", () => {
  test("the shell's timer does the waiting; the result echoes the duration", async () => {
    const io = testIo();
    expect(await executeTask({ kind: "sleep", args: { ms: 250 } }, io)).toEqual({ ms: 250 });
    expect(io.slept).toEqual([250]);
  });

  test("ms must be an integer in 0..SLEEP_MAX_MS", () => {
    expect(parseTaskArgs("sleep", { ms: 0 }).ok).toBe(true);
    expect(parseTaskArgs("sleep", { ms: SLEEP_MAX_MS }).ok).toBe(true);
    expect(problem(parseTaskArgs("sleep", { ms: SLEEP_MAX_MS + 1 }))).toEqual(["args.ms", `must be <= ${SLEEP_MAX_MS} (SLEEP_MAX_MS)`]);
    expect(problem(parseTaskArgs("sleep", { ms: -1 }))).toEqual(["args.ms", "must be >= 0"]);
    expect(problem(parseTaskArgs("sleep", { ms: 0.5 }))).toEqual(["args.ms", "must be an integer"]);
  });
});

describe("executeTask", () => {
  test("runs the pure kinds without touching the I/O", async () => {
    const io: TaskIo = {
      sha256: () => Promise.reject(new Error("unexpected digest")),
      sleep: () => Promise.reject(new Error("unexpected sleep")),
    };
    expect(await executeTask({ kind: "fibonacci", args: { n: 10 } }, io)).toEqual({ n: 10, value: "55", digits: 2 });
    expect(await executeTask({ kind: "prime-check", args: { n: "97" } }, io)).toMatchObject({ n: "97", prime: true });
  });
});

// ---------------------------------------------------------------------------------------------------
// Validation: every failure names its field
// ---------------------------------------------------------------------------------------------------

describe("parseTaskArgs", () => {
  test("an unknown kind is refused on field \"kind\", inherited object keys included", () => {
    for (const kind of ["factorial", "constructor", "__proto__", "toString", "", "FIBONACCI", 42, null, undefined]) {
      expect(problem(parseTaskArgs(kind, { n: 1 })), String(kind)).toEqual(["kind", "must be one of fibonacci, prime-check, sha256, sleep"]);
    }
  });

  test("fibonacci: negative, too large, fractional, non-number and missing n are refused on args.n", () => {
    expect(problem(parseTaskArgs("fibonacci", { n: -1 }))).toEqual(["args.n", "must be >= 0"]);
    expect(problem(parseTaskArgs("fibonacci", { n: FIBONACCI_MAX_N + 1 }))).toEqual(["args.n", expect.stringContaining(`must be <= ${FIBONACCI_MAX_N}`)]);
    expect(problem(parseTaskArgs("fibonacci", { n: 2.5 }))).toEqual(["args.n", "must be an integer"]);
    expect(problem(parseTaskArgs("fibonacci", { n: "10" }))).toEqual(["args.n", "must be an integer"]);
    expect(problem(parseTaskArgs("fibonacci", {}))).toEqual(["args.n", "is required"]);
    expect(parseTaskArgs("fibonacci", { n: FIBONACCI_MAX_N })).toEqual({ ok: true, kind: "fibonacci", args: { n: FIBONACCI_MAX_N } });
  });

  test("extra fields in args are refused by name", () => {
    expect(problem(parseTaskArgs("fibonacci", { n: 5, memo: true }))).toEqual(["args.memo", "unknown field"]);
    expect(problem(parseTaskArgs("prime-check", { n: "5", rounds: 40 }))).toEqual(["args.rounds", "unknown field"]);
  });

  test("args that are missing or not an object are refused on args", () => {
    expect(problem(parseTaskArgs("fibonacci", undefined))).toEqual(["args", "is required"]);
    expect(problem(parseTaskArgs("fibonacci", 10))).toEqual(["args", "must be an object {n}"]);
    expect(problem(parseTaskArgs("sleep", [100]))).toEqual(["args", "must be an object {ms}"]);
  });

  test("prime-check accepts a decimal string or a safe integer and normalizes to canonical decimal", () => {
    expect(parseTaskArgs("prime-check", { n: "18446744073709551615" })).toEqual({ ok: true, kind: "prime-check", args: { n: "18446744073709551615" } });
    expect(parseTaskArgs("prime-check", { n: "0007" })).toEqual({ ok: true, kind: "prime-check", args: { n: "7" } });
    expect(parseTaskArgs("prime-check", { n: Number.MAX_SAFE_INTEGER })).toEqual({ ok: true, kind: "prime-check", args: { n: "9007199254740991" } });
    expect(parseTaskArgs("prime-check", { n: 0 })).toEqual({ ok: true, kind: "prime-check", args: { n: "0" } });
  });

  test("prime-check: n above 2^64-1, negative, fractional, unsafe or not decimal is refused on args.n", () => {
    const refused: [unknown, string][] = [
      ["18446744073709551616", "must be <= 18446744073709551615 (2^64-1)"],
      ["9".repeat(1_000_000), "must be <= 18446744073709551615 (2^64-1)"],
      ["-5", "must be >= 0"],
      [-5, "must be >= 0"],
      [7.5, "must be an integer"],
      [2 ** 64, "must be a decimal string above 2^53-1 (JSON numbers lose precision there)"],
      [Number.MAX_SAFE_INTEGER + 1, "must be a decimal string above 2^53-1 (JSON numbers lose precision there)"],
      ["0x10", "must be a decimal integer string: digits only, no sign, spaces, exponent or prefix"],
      ["1e3", "must be a decimal integer string: digits only, no sign, spaces, exponent or prefix"],
      [" 7", "must be a decimal integer string: digits only, no sign, spaces, exponent or prefix"],
      ["+7", "must be a decimal integer string: digits only, no sign, spaces, exponent or prefix"],
      ["", "must be a decimal integer string: digits only, no sign, spaces, exponent or prefix"],
      [true, "must be a decimal string or a safe integer (0..18446744073709551615)"],
      [Number.NaN, "must be a decimal string or a safe integer (0..18446744073709551615)"],
      [undefined, "is required"],
    ];
    for (const [n, message] of refused) {
      expect(problem(parseTaskArgs("prime-check", { n })), `n = ${typeof n === "string" ? JSON.stringify(n.slice(0, 30)) : String(n)}`).toEqual(["args.n", message]);
    }
  });
});

describe("parseTaskSubmission (POST /tasks body)", () => {
  test("one task is accepted as a single, normalized task", () => {
    expect(parseTaskSubmission({ kind: "prime-check", args: { n: 97 } })).toEqual({ ok: true, batch: false, tasks: [{ kind: "prime-check", args: { n: "97" } }] });
  });

  test("a batch keeps its order and fills defaults", () => {
    const body = { tasks: [{ kind: "fibonacci", args: { n: 10 } }, { kind: "sha256", args: { data: "abc" } }, { kind: "sleep", args: { ms: 5 } }] };
    const expected: TaskSpec[] = [
      { kind: "fibonacci", args: { n: 10 } },
      { kind: "sha256", args: { data: "abc", encoding: "utf8" } },
      { kind: "sleep", args: { ms: 5 } },
    ];
    expect(parseTaskSubmission(body)).toEqual({ ok: true, batch: true, tasks: expected });
  });

  test("a bad task in a batch is named by its index", () => {
    const tasks = [{ kind: "fibonacci", args: { n: 1 } }, { kind: "prime-check", args: { n: "1" } }, { kind: "fibonacci", args: { n: -3 } }];
    expect(problem(parseTaskSubmission({ tasks }))).toEqual(["tasks.2.args.n", "must be >= 0"]);
    expect(problem(parseTaskSubmission({ tasks: [tasks[0], { kind: "eval", args: {} }] }))).toEqual(["tasks.1.kind", "must be one of fibonacci, prime-check, sha256, sleep"]);
    expect(problem(parseTaskSubmission({ tasks: [{ kind: "sleep", args: { ms: 1 }, retries: 3 }] }))).toEqual(["tasks.0.retries", "unknown field"]);
  });

  test("a batch must hold 1..MAX_TASK_BATCH tasks", () => {
    const task = { kind: "sleep", args: { ms: 0 } };
    expect(parseTaskSubmission({ tasks: Array.from({ length: MAX_TASK_BATCH }, () => task) }).ok).toBe(true);
    expect(problem(parseTaskSubmission({ tasks: Array.from({ length: MAX_TASK_BATCH + 1 }, () => task) }))[0]).toBe("tasks");
    expect(problem(parseTaskSubmission({ tasks: [] }))).toEqual(["tasks", "must not be empty"]);
    expect(problem(parseTaskSubmission({ tasks: "all" }))).toEqual(["tasks", "must be an array of tasks"]);
  });

  test("unknown top-level fields, missing kind and non-object bodies are refused by name", () => {
    expect(problem(parseTaskSubmission({ kind: "sleep", args: { ms: 1 }, priority: 9 }))).toEqual(["priority", "unknown field"]);
    expect(problem(parseTaskSubmission({ tasks: [{ kind: "sleep", args: { ms: 1 } }], parallel: true }))).toEqual(["parallel", "unknown field"]);
    expect(problem(parseTaskSubmission({ args: { n: 1 } }))).toEqual(["kind", "must be one of fibonacci, prime-check, sha256, sleep"]);
    expect(problem(parseTaskSubmission({ kind: "fibonacci" }))).toEqual(["args", "is required"]);
    expect(problem(parseTaskSubmission("fibonacci(10)"))).toEqual(["", "a task must be a JSON object {kind, args}"]);
    expect(problem(parseTaskSubmission([{ kind: "sleep", args: { ms: 1 } }]))).toEqual(["", "a task must be a JSON object {kind, args}"]);
  });

  test("taskSpecSchema alone reports the offending path, for the OpenAPI validation hook", () => {
    const unknownKind = taskSpecSchema.safeParse({ kind: "shell", args: {} });
    expect(unknownKind.success ? [] : unknownKind.error.issues[0]?.path).toEqual(["kind"]);
    const badArg = taskSpecSchema.safeParse({ kind: "sleep", args: { ms: "soon" } });
    expect(badArg.success ? [] : badArg.error.issues[0]?.path).toEqual(["args", "ms"]);
  });
});
