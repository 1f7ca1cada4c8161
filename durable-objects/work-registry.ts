import { DurableObject } from "cloudflare:workers";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";

/** A batch or job as the registry lists it. */
export interface WorkEntry {
  id: string;
  type: "batch" | "job";
  /** The job's kind (wordcount, ...) or "tasks" for a batch. */
  kind: string;
  /** Tasks in a batch; map tasks of a job. */
  size: number;
  createdAt: number;
}

/** Entries kept per type (the oldest beyond it are forgotten; their coordinators keep their data until retention). */
export const REGISTRY_KEEP = 1_000;
const TRIM_EVERY = 100;
/** Keys sort newest first: createdAt is stored as its distance to this. */
const FAR_FUTURE = 9_999_999_999_999;

export function registryStub(env: Cloudflare.Env): DurableObjectStub<WorkRegistry> {
  return objectStub(env, "registry", "registry");
}

/**
 * The index of recent batches and jobs (one object): what lets GET /tasks?status= search across
 * batches and GET /jobs list jobs without knowing their ids. One row per submission; the newest
 * REGISTRY_KEEP per type are kept. It also lists the load balancer's pools (GET /lb/pools).
 */
export class WorkRegistry extends DurableObject<Cloudflare.Env> {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "registry"); // billed usage: stub calls it makes, alarms, storage rows
  }

  async record(entry: WorkEntry): Promise<void> {
    // The count is stored (an object evicted between records would never reach TRIM_EVERY in memory).
    const added = ((await this.ctx.storage.get<number>(`count:${entry.type}`)) ?? 0) + 1;
    await this.ctx.storage.put({ [keyOf(entry)]: entry, [`count:${entry.type}`]: added });
    if (added % TRIM_EVERY === 0) await this.trim(entry.type);
  }

  /** Forgets an entry (its batch or job was deleted). */
  async forget(entry: Pick<WorkEntry, "id" | "type" | "createdAt">): Promise<void> {
    await this.ctx.storage.delete(keyOf(entry));
  }

  /** Load-balancer pools by name (so the dashboard can list them): recorded on PUT, forgotten on DELETE. */
  async recordPool(name: string): Promise<void> {
    await this.ctx.storage.put(`pool:${name}`, Date.now());
  }

  async forgetPool(name: string): Promise<void> {
    await this.ctx.storage.delete(`pool:${name}`);
  }

  /** Every recorded pool name, in name order. */
  async pools(): Promise<string[]> {
    return [...(await this.ctx.storage.list({ prefix: "pool:" })).keys()].map((k) => k.slice(5));
  }

  /** The newest `limit` entries of a type, newest first. */
  async recent(type: WorkEntry["type"], limit: number): Promise<WorkEntry[]> {
    return [...(await this.ctx.storage.list<WorkEntry>({ prefix: `${type}:`, limit })).values()];
  }

  /** Pools, newest jobs and newest batches in one call: the dashboard's whole index per read. */
  async overview(jobs: number, batches: number): Promise<{ pools: string[]; jobs: WorkEntry[]; batches: WorkEntry[] }> {
    const [pools, j, b] = await Promise.all([this.pools(), this.recent("job", jobs), this.recent("batch", batches)]);
    return { pools, jobs: j, batches: b };
  }

  private async trim(type: WorkEntry["type"]): Promise<void> {
    const keys = [...(await this.ctx.storage.list({ prefix: `${type}:` })).keys()].slice(REGISTRY_KEEP);
    for (let i = 0; i < keys.length; i += 128) await this.ctx.storage.delete(keys.slice(i, i + 128));
  }
}

function keyOf(e: Pick<WorkEntry, "id" | "type" | "createdAt">): string {
  return `${e.type}:${String(FAR_FUTURE - e.createdAt).padStart(13, "0")}:${e.id}`;
}
