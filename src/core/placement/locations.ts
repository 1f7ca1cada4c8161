/**
 * Where Durable Objects live: location hints and a jurisdiction, per object, from lists in `[vars]`.
 * Pure: the shell (src/services/objects.ts) turns the answer into `ns.jurisdiction(j)` and
 * `ns.get(id, { locationHint })`.
 */

/**
 * Cloudflare's Durable Object location hints, as @cloudflare/workers-types (DurableObjectLocationHint)
 * lists them; the docs' page "Data location" lists the first nine (apac-ne and apac-se are newer).
 */
export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"] as const;
export type LocationHint = (typeof LOCATION_HINTS)[number];

/** Jurisdictions (DurableObjectJurisdiction in @cloudflare/workers-types; `us` since 2026-06-26). */
export const JURISDICTIONS = ["eu", "fedramp", "fedramp-high", "us"] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

export type PlacedKind = "raft" | "cache" | "txn";

export interface PlacementConfig {
  /** Every object of every kind is created in this jurisdiction's namespace (its ids differ from the default namespace's). */
  jurisdiction: Jurisdiction | undefined;
  /** Entry i for Raft member n(i+1); fewer entries than members are cycled. */
  raft: LocationHint[];
  /** Entry i for shard-i, cycled. */
  cache: LocationHint[];
  /** Entry i for txn-coordinator-i, cycled. */
  txn: LocationHint[];
}

/** Splits a comma list of hints; returns the unknown entries separately so the config can name them. */
export function parseLocationList(text: string): { hints: LocationHint[]; unknown: string[] } {
  const entries = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const known = new Set<string>(LOCATION_HINTS);
  return { hints: entries.filter((s): s is LocationHint => known.has(s)), unknown: entries.filter((s) => !known.has(s)) };
}

/** The index an object's name gives it in its kind's list, or null if the name is not numbered. */
function indexOf(kind: PlacedKind, name: string): number | null {
  const pattern = kind === "raft" ? /\/n(\d+)$/ : kind === "cache" ? /^shard-(\d+)$/ : /^txn-coordinator-(\d+)$/;
  const m = pattern.exec(name);
  if (m === null) return null;
  const i = Number(m[1]) - (kind === "raft" ? 1 : 0);
  return i >= 0 ? i : null;
}

/**
 * The location hint for object `name` of `kind`: its entry in the kind's list, cycling when the list is
 * shorter. Objects outside a list (members added under other names, per-transaction coordinators,
 * pools, executors, the registry) get none: Cloudflare then places them near their first caller.
 */
export function locationHintFor(placement: PlacementConfig, kind: string, name: string): LocationHint | undefined {
  if (kind !== "raft" && kind !== "cache" && kind !== "txn") return undefined;
  const list = placement[kind];
  if (list.length === 0) return undefined;
  const i = indexOf(kind, name);
  return i === null ? undefined : list[i % list.length];
}
