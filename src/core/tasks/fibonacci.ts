import { z } from "zod";

/**
 * The `fibonacci` task kind: F(n), exact, by fast doubling over BigInt.
 *
 * F(100_000) has 20,899 decimal digits and costs about 6 ms of CPU in V8 on the 2-core dev machine
 * (≈2 ms of multiplications, ≈4 ms of BigInt-to-decimal conversion), so one task stays well under the
 * ~50 ms we allow a task, and its result (≈21 KB) fits a Durable Object storage value with room to spare.
 * Doubling the limit roughly triples the cost (F(200_000): ≈16 ms; F(1_000_000): ≈120 ms and 209 KB).
 */
export const FIBONACCI_MAX_N = 100_000;

/** Largest n `fibonacci` accepts: its loop walks the bits of a 32-bit n (far beyond any feasible input). */
const FIBONACCI_ABSOLUTE_MAX_N = 2 ** 31 - 1;

/**
 * F(n) with F(0) = 0, F(1) = 1, by fast doubling: F(2k) = F(k)·(2F(k+1) − F(k)), F(2k+1) = F(k)² + F(k+1)².
 * O(log n) BigInt multiplications. Throws RangeError unless n is an integer in 0..2^31-1.
 */
export function fibonacci(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > FIBONACCI_ABSOLUTE_MAX_N) throw new RangeError(`fibonacci: n must be an integer in 0..${FIBONACCI_ABSOLUTE_MAX_N}, got ${n}`);
  let a = 0n; // F(k)
  let b = 1n; // F(k+1)
  // Walk n's bits from the most significant: k doubles each step, and gains 1 where the bit is set.
  for (let bit = 31 - Math.clz32(n); n > 0 && bit >= 0; bit--) {
    const even = a * (2n * b - a); // F(2k)
    const odd = a * a + b * b; // F(2k+1)
    if ((n >>> bit) & 1) {
      a = odd;
      b = even + odd;
    } else {
      a = even;
      b = odd;
    }
  }
  return a;
}

export interface FibonacciArgs {
  n: number;
}

export interface FibonacciResult {
  n: number;
  /** F(n) in decimal. */
  value: string;
  /** Decimal digits of F(n) (so listings can show the size without the value). */
  digits: number;
}

export const fibonacciArgsSchema = z.strictObject(
  {
    n: z
      .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be an integer") })
      .int("must be an integer")
      .min(0, "must be >= 0")
      .max(FIBONACCI_MAX_N, `must be <= ${FIBONACCI_MAX_N} (FIBONACCI_MAX_N: larger n would exceed a task's CPU budget)`),
  },
  { error: (issue) => (issue.code !== "invalid_type" ? undefined : issue.input === undefined ? "is required" : "must be an object {n}") },
);

/** Runs a validated `fibonacci` task. */
export function runFibonacci(args: FibonacciArgs): FibonacciResult {
  const value = fibonacci(args.n).toString();
  return { n: args.n, value, digits: value.length };
}
