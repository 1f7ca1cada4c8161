import type { CacheShard } from "../durable-objects/cache-shard";
declare global {
  namespace Cloudflare {
    interface Env {
      CACHE_SHARD: DurableObjectNamespace<CacheShard>;
      ADMIN_TOKEN?: string;
      API_TOKEN?: string;
      LOG_REQUESTS?: string;
      CACHE_SHARDS?: string;
      CACHE_VNODES?: string;
      CACHE_SHARD_WEIGHTS?: string;
      CACHE_REPLICAS?: string;
      CACHE_READ_QUORUM?: string;
      CACHE_WRITE_QUORUM?: string;
      CACHE_REPLICA_TIMEOUT_MS?: string;
      CACHE_REQUEST_DEADLINE_MS?: string;
      CACHE_SHARD_CAPACITY_BYTES?: string;
    }
  }
}
export {};
