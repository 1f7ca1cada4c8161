import type { LocationHint } from "./locations";

/**
 * Raft's timing from the round trip between its members, after etcd's tuning guide
 * (https://etcd.io/docs/v3.6/tuning/, "Time parameters"): the heartbeat interval about the round-trip
 * time (0.5-1.5x), the election timeout at least 10x the round-trip time, so that the variance of a slow
 * link does not read as a dead leader. One heartbeat per tick, as before: a tick is an alarm, a billed
 * request, so ticks are never shorter than today's 50 ms.
 */
export const RAFT_PLACEMENTS = ["local", "region", "continent", "global"] as const;
export type RaftPlacement = (typeof RAFT_PLACEMENTS)[number];

/**
 * The round trip (ms) each preset assumes between the two farthest members. Figures from the matrix in
 * test/sim/regions.ts (Azure's published inter-region round trips standing in for Cloudflare's, which
 * are not published).
 */
export const PLACEMENT_RTT_MS: Record<RaftPlacement, number> = {
  /** One machine (wrangler dev, tests): timing exactly as before presets existed. */
  local: 1,
  /** One location hint: the members may still land in different data centers of that region. */
  region: 20,
  /** North America and Europe (wnam, enam, weur, eeur; slowest pair wnam-eeur 161 ms), or Asia-Pacific with Oceania (at most 120 ms). */
  continent: 170,
  /** Around the world, e.g. wnam, enam, weur, eeur, apac (slowest pair enam-apac 204 ms). Mixes with sam, afr or oc reach 300-380 ms: set RAFT_RTT_MS. */
  global: 250,
};

/** The floor of every derived setting: today's local timing (50 ms ticks, election after 3-6 ticks, 5 s deadline). */
const MIN_TICK_MS = 50;
const MIN_ELECTION_TICKS = 3;
const MIN_DEADLINE_MS = 5000;

export interface RaftTiming {
  tickMs: number;
  heartbeatMs: number;
  /** The randomized election timeout is drawn from (electionMinMs, electionMaxMs]. */
  electionMinMs: number;
  electionMaxMs: number;
  /** How long a client request may wait for a leader: long enough to span one failover. */
  requestDeadlineMs: number;
}

/** Tick = heartbeat = the RTT (at least 50 ms); election timeout >= 10x the RTT in whole ticks (at least 3), its maximum twice that. */
export function raftTimingForRtt(rttMs: number): RaftTiming {
  const tickMs = Math.max(MIN_TICK_MS, Math.ceil(rttMs));
  const electionTicks = Math.max(MIN_ELECTION_TICKS, Math.ceil((10 * rttMs) / tickMs));
  const electionMinMs = electionTicks * tickMs;
  const electionMaxMs = 2 * electionMinMs;
  return { tickMs, heartbeatMs: tickMs, electionMinMs, electionMaxMs, requestDeadlineMs: Math.max(MIN_DEADLINE_MS, 2 * electionMaxMs) };
}

const NEIGHBOURHOODS: readonly (readonly LocationHint[])[] = [
  ["wnam", "enam", "weur", "eeur"],
  ["apac", "apac-ne", "apac-se", "oc"],
];

/** The preset members placed at these hints need: none: local; one hint: region; one neighbourhood: continent; else global. */
export function placementForLocations(hints: readonly LocationHint[]): RaftPlacement {
  const distinct = [...new Set(hints)];
  if (distinct.length === 0) return "local";
  if (distinct.length === 1) return "region";
  if (NEIGHBOURHOODS.some((n) => distinct.every((h) => n.includes(h)))) return "continent";
  return "global";
}
