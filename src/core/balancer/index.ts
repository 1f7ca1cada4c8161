/** Pure load-balancing algorithms: pick an upstream from a snapshot of the pool; time and rng passed in. */
export * from "./types";
export { assertUpstreams, eligibleUpstreams, isEligible } from "./eligibility";
export { createPicker, type PickerOptions } from "./factory";
export { RoundRobinPicker } from "./round-robin";
export { RandomPicker } from "./random";
export { LeastConnectionsPicker } from "./least-connections";
export { SmoothWeightedRoundRobinPicker } from "./smooth-weighted-round-robin";
export { DEFAULT_LATENCY_FLOOR_MS, type P2cEwmaOptions, P2cEwmaPicker, UNSAMPLED_BUSY_PENALTY } from "./p2c-ewma";
export { type ConsistentHashOptions, ConsistentHashPicker, DEFAULT_HASH_LOAD_FACTOR, DEFAULT_HASH_VNODES } from "./consistent-hash";
export { DEFAULT_EWMA_TAU_MS, estimateAt, observeLatency, type PeakEwma } from "./ewma";
