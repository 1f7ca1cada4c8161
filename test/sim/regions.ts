/**
 * Round trips between Cloudflare's Durable Object location hints, for the simulation's latency matrix
 * (SimOptions.latency) and bench/placement.ts.
 *
 * Cloudflare does not publish round-trip times between its location-hint regions, so each hint stands
 * for the public-cloud region where Cloudflare's data centers of that region also sit, and the figures
 * are Microsoft's published ones: "Azure network round-trip latency statistics"
 * (https://learn.microsoft.com/azure/networking/azure-network-latency), monthly P50 round trips in ms over
 * the 30 days ending 2024-04-09 (the page's tables as of ms.date 04/10/2024, in the MicrosoftDocs/
 * azure-docs source). The tables are directional (source row -> destination column); a pair's round
 * trip here is the mean of the directions published, rounded half up. That page's "West US" tab is
 * garbled (its header repeats the Central US columns), so West US figures come from its rows in the other
 * tabs only. These are backbone round trips between cloud regions: Cloudflare's own network, and which of
 * a region's data centers an object lands in, will differ.
 */
import type { LocationHint } from "../../src/core/placement/locations";

/** The Azure region standing in for each hint (the city Cloudflare's region is centred on, or near it). */
export const STAND_IN: Record<LocationHint, string> = {
  wnam: "West US", // California
  enam: "East US", // Virginia
  sam: "Brazil South", // Sao Paulo
  weur: "West Europe", // Netherlands
  eeur: "Poland Central", // Warsaw
  apac: "East Asia", // Hong Kong
  "apac-ne": "Japan East", // Tokyo
  "apac-se": "Southeast Asia", // Singapore
  oc: "Australia East", // Sydney
  afr: "South Africa North", // Johannesburg
  me: "UAE North", // Dubai
};

/**
 * The published P50 round trips, row = source, column = destination, as printed (ms). Only the columns
 * of the stand-in regions; West US has no column (see above).
 */
const PUBLISHED: Record<string, Record<string, number>> = {
  "West US": { "East US": 69, "Brazil South": 186, "West Europe": 146, "Poland Central": 161, "East Asia": 151, "Japan East": 108, "Southeast Asia": 171, "Australia East": 140, "South Africa North": 302, "UAE North": 254 },
  "East US": { "Brazil South": 117, "West Europe": 83, "Poland Central": 102, "East Asia": 203, "Japan East": 157, "Southeast Asia": 223, "Australia East": 202, "South Africa North": 232, "UAE North": 191 },
  "Brazil South": { "East US": 118, "West Europe": 186, "Poland Central": 206, "East Asia": 329, "Japan East": 281, "Southeast Asia": 340, "Australia East": 310, "South Africa North": 334, "UAE North": 294 },
  "West Europe": { "East US": 84, "Brazil South": 185, "Poland Central": 24, "East Asia": 189, "Japan East": 226, "Southeast Asia": 159, "Australia East": 258, "South Africa North": 161, "UAE North": 120 },
  "Poland Central": { "East US": 104, "Brazil South": 206, "West Europe": 24, "East Asia": 203, "Japan East": 240, "Southeast Asia": 172, "Australia East": 259, "South Africa North": 177, "UAE North": 133 },
  "East Asia": { "East US": 204, "Brazil South": 331, "West Europe": 189, "Poland Central": 201, "Japan East": 48, "Southeast Asia": 36, "Australia East": 119, "South Africa North": 322, "UAE North": 116 },
  "Japan East": { "East US": 158, "Brazil South": 280, "West Europe": 226, "Poland Central": 239, "East Asia": 48, "Southeast Asia": 71, "Australia East": 103, "South Africa North": 359, "UAE North": 154 },
  "Southeast Asia": { "East US": 227, "Brazil South": 343, "West Europe": 159, "Poland Central": 172, "East Asia": 36, "Japan East": 72, "Australia East": 90, "South Africa North": 292, "UAE North": 86 },
  "Australia East": { "East US": 204, "Brazil South": 311, "West Europe": 259, "Poland Central": 259, "East Asia": 120, "Japan East": 103, "Southeast Asia": 90, "South Africa North": 379, "UAE North": 170 },
  "South Africa North": { "East US": 233, "Brazil South": 334, "West Europe": 162, "Poland Central": 177, "East Asia": 323, "Japan East": 360, "Southeast Asia": 293, "Australia East": 379, "UAE North": 254 },
  "UAE North": { "East US": 193, "Brazil South": 293, "West Europe": 120, "Poland Central": 133, "East Asia": 116, "Japan East": 154, "Southeast Asia": 87, "Australia East": 170, "South Africa North": 253 },
};

/**
 * Round trip between two objects with the same hint: Cloudflare may put them in different data centers
 * of the region. An assumption, not a measurement: about the distance between two nearby metro areas
 * (Azure's East US <-> East US 2 is 8-9 ms; Cloudflare's regions span more than one metro), so 20 ms.
 */
export const SAME_REGION_RTT_MS = 20;

/** The round trip (ms) between two location hints. */
export function rttMs(a: LocationHint, b: LocationHint): number {
  if (a === b) return SAME_REGION_RTT_MS;
  const ab = PUBLISHED[STAND_IN[a]]?.[STAND_IN[b]];
  const ba = PUBLISHED[STAND_IN[b]]?.[STAND_IN[a]];
  const known = [ab, ba].filter((x): x is number => x !== undefined);
  if (known.length === 0) throw new Error(`no published round trip between ${a} and ${b}`);
  return Math.round(known.reduce((x, y) => x + y, 0) / known.length);
}

/** The slowest round trip between any two of these hints. */
export function maxRttMs(hints: readonly LocationHint[]): number {
  let max = 0;
  for (const [i, a] of hints.entries()) for (const b of hints.slice(i + 1)) max = Math.max(max, rttMs(a, b));
  return max;
}

/**
 * A latency model for SimOptions.latency: member n(i+1) sits at hints[i]; a message spends half its
 * link's round trip on the way, plus up to `jitter` of that again (drawn from the run's rng).
 */
export function regionLatency(hints: readonly LocationHint[], jitter = 0.1): (m: { from: string; to: string }, at: number, rng: () => number) => number {
  const hintOf = (id: string): LocationHint => {
    const h = hints[Number(id.slice(1)) - 1];
    if (h === undefined) throw new Error(`no location for node ${id}`);
    return h;
  };
  return (m, _at, rng) => {
    const oneWay = rttMs(hintOf(m.from), hintOf(m.to)) / 2;
    return Math.round(oneWay * (1 + jitter * rng()));
  };
}
