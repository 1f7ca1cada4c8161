import { z } from "zod";

/**
 * The `prime-check` task kind: a deterministic primality test for every integer in 0..2^64-1.
 *
 * Miller–Rabin with the first twelve primes as bases is a proof, not a probability, below
 * ψ12 = 318,665,857,834,031,151,167,461 > 2^64 (Jiang & Deng 2014: the smallest composite that is a
 * strong pseudoprime to all of 2..37). Arithmetic is BigInt: a 64×64-bit product needs 128 bits,
 * which doubles cannot hold. Hand-written because it is twenty lines and no npm package both covers
 * the full 64-bit range deterministically and avoids WASM (which Workers cannot compile at runtime).
 */

export const UINT64_MAX = (1n << 64n) - 1n;

/** Bases for which Miller–Rabin is deterministic below 2^64 (all primes up to 37). */
export const MILLER_RABIN_BASES_64: readonly bigint[] = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n];

/** base^exponent mod modulus, by square-and-multiply (modulus ≥ 1). */
function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n % modulus;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/**
 * Whether odd n ≥ 3 is a strong probable prime to `base` (one Miller–Rabin round). A base that is a
 * multiple of n carries no information and counts as passing. Throws RangeError for even n or n < 3.
 */
export function isStrongProbablePrime(n: bigint, base: bigint): boolean {
  if (n < 3n || (n & 1n) === 0n) throw new RangeError(`isStrongProbablePrime: n must be odd and >= 3, got ${n}`);
  const a = base % n;
  if (a === 0n) return true;
  // n − 1 = d · 2^s with d odd.
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  let x = modPow(a, d, n);
  if (x === 1n || x === n - 1n) return true;
  for (let r = 1; r < s; r++) {
    x = (x * x) % n;
    if (x === n - 1n) return true;
    if (x === 1n) return false; // a nontrivial square root of 1: n is composite
  }
  return false;
}

export interface PrimeVerdict {
  prime: boolean;
  /** "definition": n < 2; "trial-division": decided by a base prime (n is one, or one divides it); "miller-rabin": the rounds decided. */
  method: "definition" | "trial-division" | "miller-rabin";
  /** A prime factor of a composite n found by trial division; null otherwise. */
  divisor: bigint | null;
  /** The base that proves a composite n composite in Miller–Rabin; null otherwise. */
  witness: bigint | null;
}

/** Decides whether n (0..2^64-1) is prime, deterministically. Throws RangeError outside that range. */
export function checkPrime64(n: bigint): PrimeVerdict {
  if (n < 0n || n > UINT64_MAX) throw new RangeError(`checkPrime64: n must be in 0..2^64-1, got ${n}`);
  if (n < 2n) return { prime: false, method: "definition", divisor: null, witness: null };
  // Dividing by the bases first also guarantees every base is coprime to n in the rounds below.
  for (const p of MILLER_RABIN_BASES_64) {
    if (n === p) return { prime: true, method: "trial-division", divisor: null, witness: null };
    if (n % p === 0n) return { prime: false, method: "trial-division", divisor: p, witness: null };
  }
  for (const base of MILLER_RABIN_BASES_64) {
    if (!isStrongProbablePrime(n, base)) return { prime: false, method: "miller-rabin", divisor: null, witness: base };
  }
  return { prime: true, method: "miller-rabin", divisor: null, witness: null };
}

export interface PrimeCheckArgs {
  /** n in canonical decimal (no sign, no leading zeros). */
  n: string;
}

export interface PrimeCheckResult {
  /** n in canonical decimal. */
  n: string;
  prime: boolean;
  method: PrimeVerdict["method"];
  /** A prime factor found by trial division, in decimal; null unless composite by trial division. */
  divisor: string | null;
  /** The Miller–Rabin base proving n composite; null unless composite by Miller–Rabin. */
  witness: number | null;
}

/** Longest accepted digit string: 2^64-1 has 20 digits; a few leading zeros are tolerated, megabytes are not. */
const MAX_DECIMAL_LENGTH = 64;
const REQUIRED_OR_TYPE = "must be a decimal string or a safe integer (0..18446744073709551615)";

export const primeCheckArgsSchema = z.strictObject(
  {
    n: z
      .union([z.string(), z.number()], { error: (issue) => (issue.input === undefined ? "is required" : REQUIRED_OR_TYPE) })
      .transform((raw, ctx): string => {
        const fail = (message: string): never => {
          ctx.addIssue({ code: "custom", message });
          return z.NEVER;
        };
        if (typeof raw === "number") {
          if (!Number.isInteger(raw)) return fail("must be an integer");
          if (raw < 0) return fail("must be >= 0");
          // A JSON number above 2^53 has already been rounded by the parser: the caller must send a string.
          if (!Number.isSafeInteger(raw)) return fail("must be a decimal string above 2^53-1 (JSON numbers lose precision there)");
          return String(raw);
        }
        if (/^\s*-\s*[0-9]+\s*$/.test(raw)) return fail("must be >= 0");
        if (!/^[0-9]+$/.test(raw)) return fail("must be a decimal integer string: digits only, no sign, spaces, exponent or prefix");
        if (raw.length > MAX_DECIMAL_LENGTH || BigInt(raw) > UINT64_MAX) return fail("must be <= 18446744073709551615 (2^64-1)");
        return BigInt(raw).toString();
      }),
  },
  { error: (issue) => (issue.code !== "invalid_type" ? undefined : issue.input === undefined ? "is required" : "must be an object {n}") },
);

/** Runs a validated `prime-check` task. */
export function runPrimeCheck(args: PrimeCheckArgs): PrimeCheckResult {
  const verdict = checkPrime64(BigInt(args.n));
  return {
    n: args.n,
    prime: verdict.prime,
    method: verdict.method,
    divisor: verdict.divisor === null ? null : verdict.divisor.toString(),
    witness: verdict.witness === null ? null : Number(verdict.witness),
  };
}
