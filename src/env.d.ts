import type { CacheShard } from "../durable-objects/cache-shard";
import type { RaftNode } from "../durable-objects/raft-node";
import type { TxnCoordinator } from "../durable-objects/txn-coordinator";
import type { UpstreamPool } from "../durable-objects/upstream-pool";
import type { JobCoordinator } from "../durable-objects/job-coordinator";
import type { TaskExecutor } from "../durable-objects/task-executor";
declare global {
  namespace Cloudflare {
    interface Env {
      CACHE_SHARD: DurableObjectNamespace<CacheShard>;
      RAFT_NODE: DurableObjectNamespace<RaftNode>;
      TXN_COORDINATOR: DurableObjectNamespace<TxnCoordinator>;
      UPSTREAM_POOL: DurableObjectNamespace<UpstreamPool>;
      JOB_COORDINATOR: DurableObjectNamespace<JobCoordinator>;
      TASK_EXECUTOR: DurableObjectNamespace<TaskExecutor>;
      WORK_REGISTRY: DurableObjectNamespace<WorkRegistry>;
      TASK_EXECUTORS?: string;
      TASK_MAX_ATTEMPTS?: string;
      TASK_ATTEMPT_TIMEOUT_MS?: string;
      TASK_RETENTION_S?: string;
      TASK_JOB_SLOTS?: string;
      LB_STATE_TTL_MS?: string;
      ADMIN_TOKEN?: string;
      API_TOKEN?: string;
      PUBLIC_DATA_ROUTES?: string;
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
      RAFT_GROUP?: string;
      RAFT_MEMBERS?: string;
      RAFT_ELECTION_MIN_MS?: string;
      RAFT_ELECTION_MAX_MS?: string;
      RAFT_HEARTBEAT_MS?: string;
      RAFT_TICK_MS?: string;
      RAFT_PLACEMENT?: string;
      RAFT_RTT_MS?: string;
      RAFT_LOCATIONS?: string;
      CACHE_LOCATIONS?: string;
      TXN_LOCATIONS?: string;
      DO_JURISDICTION?: string;
      RAFT_REQUEST_DEADLINE_MS?: string;
      RAFT_COMPACT_EVERY?: string;
      TXN_VOTE_TIMEOUT_MS?: string;
      TXN_LOCK_WAIT_MS?: string;
      TXN_INQUIRY_AFTER_MS?: string;
      TXN_RESEND_MS?: string;
      TXN_COORDINATORS?: string;
    }
  }
}
export {};
