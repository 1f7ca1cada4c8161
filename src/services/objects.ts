import type { CacheShard } from "../../durable-objects/cache-shard";
import type { JobCoordinator } from "../../durable-objects/job-coordinator";
import type { RaftNode } from "../../durable-objects/raft-node";
import type { TaskExecutor } from "../../durable-objects/task-executor";
import type { TxnCoordinator } from "../../durable-objects/txn-coordinator";
import type { UpstreamPool } from "../../durable-objects/upstream-pool";
import type { WorkRegistry } from "../../durable-objects/work-registry";
import { getConfig } from "../config";
import { locationHintFor } from "../core/placement/locations";
import { meteredStub } from "./usage";

/**
 * Every Durable Object stub of the project is made here, by kind and name: the one place where an
 * object's placement (location hint, jurisdiction) and the counting of billed calls on stubs apply.
 */
export interface ObjectKinds {
  raft: RaftNode;
  cache: CacheShard;
  txn: TxnCoordinator;
  pool: UpstreamPool;
  job: JobCoordinator;
  executor: TaskExecutor;
  registry: WorkRegistry;
}

export type ObjectKind = keyof ObjectKinds;

const BINDINGS = {
  raft: "RAFT_NODE",
  cache: "CACHE_SHARD",
  txn: "TXN_COORDINATOR",
  pool: "UPSTREAM_POOL",
  job: "JOB_COORDINATOR",
  executor: "TASK_EXECUTOR",
  registry: "WORK_REGISTRY",
} as const satisfies Record<ObjectKind, keyof Cloudflare.Env>;

/** The stub of the object `name` of `kind` (a fresh stub: a cached one stays broken after its object restarts). */
export function objectStub<K extends ObjectKind>(env: Cloudflare.Env, kind: K, name: string): DurableObjectStub<ObjectKinds[K]> {
  // Every method call on it is a billed request: counted by kind and caller (src/services/usage.ts).
  return meteredStub(env, kind, placedStub(env, kind, name));
}

/** The real stub of `name`: its id (and placement). */
function placedStub<K extends ObjectKind>(env: Cloudflare.Env, kind: K, name: string): DurableObjectStub<ObjectKinds[K]> {
  const all = env[BINDINGS[kind]] as unknown as DurableObjectNamespace<ObjectKinds[K]>;
  // Placement (docs/pending/placement.md): a jurisdiction is a namespace of its own (other ids: changing
  // it later orphans every object's data); a hint only counts when the object is first created.
  const { placement } = getConfig(env);
  const ns = placement.jurisdiction === undefined ? all : all.jurisdiction(placement.jurisdiction);
  const id = ns.idFromName(name);
  const locationHint = locationHintFor(placement, kind, name);
  return locationHint === undefined ? ns.get(id) : ns.get(id, { locationHint });
}
