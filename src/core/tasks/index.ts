/** Pure task kinds of the distributed task executor: the registry, argument validation, and the CPU work. */
export * from "./kinds";
export { FIBONACCI_MAX_N, type FibonacciArgs, type FibonacciResult, fibonacci } from "./fibonacci";
export { checkPrime64, isStrongProbablePrime, MILLER_RABIN_BASES_64, type PrimeCheckArgs, type PrimeCheckResult, type PrimeVerdict, UINT64_MAX } from "./prime";
export { SHA256_ENCODINGS, SHA256_MAX_BYTES, type Sha256Args, type Sha256Encoding, type Sha256Result, sha256InputBytes, sha256Result, toHex } from "./sha256";
