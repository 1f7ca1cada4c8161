import type { CacheShard } from "./index";
declare global {
  namespace Cloudflare {
    interface Env {
      CACHE_SHARD: DurableObjectNamespace<CacheShard>;
    }
  }
}
export {};
