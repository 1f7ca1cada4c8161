/** Builds a picker from an algorithm name (see BALANCER_ALGORITHMS) and its options. */
import { type ConsistentHashOptions, ConsistentHashPicker } from "./consistent-hash";
import { LeastConnectionsPicker } from "./least-connections";
import { type P2cEwmaOptions, P2cEwmaPicker } from "./p2c-ewma";
import { RandomPicker } from "./random";
import { RoundRobinPicker } from "./round-robin";
import { SmoothWeightedRoundRobinPicker } from "./smooth-weighted-round-robin";
import type { BalancerAlgorithm, Picker } from "./types";

/** Per-algorithm options; each algorithm reads only its own. */
export interface PickerOptions {
  readonly consistentHash?: ConsistentHashOptions;
  readonly p2cEwma?: P2cEwmaOptions;
}

/** A fresh picker (with fresh state) for `algorithm`; throws RangeError on bad options. */
export function createPicker(algorithm: BalancerAlgorithm, options: PickerOptions = {}): Picker {
  switch (algorithm) {
    case "round-robin":
      return new RoundRobinPicker();
    case "random":
      return new RandomPicker();
    case "least-connections":
      return new LeastConnectionsPicker();
    case "weighted-round-robin":
      return new SmoothWeightedRoundRobinPicker();
    case "p2c-ewma":
      return new P2cEwmaPicker(options.p2cEwma);
    case "consistent-hash":
      return new ConsistentHashPicker(options.consistentHash);
    default: {
      const unknown: never = algorithm;
      throw new RangeError(`unknown load-balancing algorithm ${JSON.stringify(unknown)}`);
    }
  }
}
