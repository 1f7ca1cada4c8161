import { MetricsRegistry } from "../core/metrics/registry";

// The worker's metrics: one registry per isolate (module memory), like the breakers and admission
// limits they describe. Counters here count what THIS isolate saw since it started; Cloudflare runs
// many isolates, so a cluster-wide rate is the sum over scrapes of each (which a single scrape URL
// cannot reach on Cloudflare: it lands on one isolate). Gauges marked "scrape time" are read from
// the Durable Objects themselves when GET /metrics is served, so they are cluster-wide.
// This module declares only: it imports nothing of the services, so any of them may import it.

export const metrics = new MetricsRegistry();

// HTTP (per isolate): filled by src/http/metrics-middleware.ts.
export const httpRequests = metrics.counter("dc_http_requests_total", "Requests answered by this isolate, by route pattern, method and status class (route=\"unmatched\" when no route matched)");
export const httpDuration = metrics.histogram("dc_http_request_duration_seconds", "Time from a request's arrival to its response headers, in seconds, by route pattern and method");

// The worker's breakers around its own Durable Object calls (per isolate; src/services/do-guard.ts).
export const breakerOpenings = metrics.counter("dc_do_breaker_openings_total", "Times this isolate's breaker for a Durable Object opened");
export const breakerState = metrics.gauge("dc_do_breaker_state", "This isolate's breaker for a Durable Object: 0 closed, 1 half-open, 2 open (every cache shard and Raft member; 0 if never called)");

// Admission control in front of each object (per isolate).
export const admissionLimit = metrics.gauge("dc_admission_limit", "Current concurrency limit of calls from this isolate to a Durable Object (adapts to latency)");
export const admissionInflight = metrics.gauge("dc_admission_inflight", "Calls from this isolate to a Durable Object in flight now");
export const admissionQueue = metrics.gauge("dc_admission_queue_depth", "Calls from this isolate waiting for a Durable Object's admission");
export const admissionShed = metrics.counter("dc_admission_shed_total", "Calls this isolate shed instead of sending to a Durable Object, by reason");

// Raft (scrape time, cluster-wide: each member's own status).
export const raftUp = metrics.gauge("dc_raft_up", "1 when the Raft member answered its status call during this scrape, 0 otherwise");
export const raftTerm = metrics.gauge("dc_raft_term", "The member's current Raft term");
export const raftIsLeader = metrics.gauge("dc_raft_is_leader", "1 when the member is the leader of its term");
export const raftCommitIndex = metrics.gauge("dc_raft_commit_index", "The member's commit index");
export const raftLeaderChanges = metrics.counter("dc_raft_leader_changes_total", "Leader changes the member has seen since its object started (its own count)");
export const raftElectionsStarted = metrics.counter("dc_raft_elections_started_total", "Elections the member has started since its object started (its own count)");

// Two-phase commit.
export const txnCommits = metrics.counter("dc_txn_commits_total", "Transactions this isolate saw commit (an idempotent retry of one counts again)");
export const txnAborts = metrics.counter("dc_txn_aborts_total", "Transactions this isolate saw abort, by reason");
export const txnInDoubt = metrics.gauge("dc_txn_in_doubt", "Recent transactions not ended after their vote deadline (scrape time, from the coordinators' recent lists)");
export const txnCoordinatorsUnreachable = metrics.gauge("dc_txn_coordinators_unreachable", "Transaction coordinators that did not answer during this scrape");

// Billed Durable Object usage (per isolate; counted by src/services/usage.ts). Under Miniflare/workerd
// locally the worker and every object share one isolate, so one scrape sees the whole cluster; on
// Cloudflare each object runs in an isolate of its own and a scrape sees only the isolate it lands on.
const PER_ISOLATE = "Counted in this isolate only: on Cloudflare each Durable Object runs in its own isolate, so a scrape sees the worker isolate it lands on; locally (Miniflare/workerd) the worker and all objects share one isolate and this is the whole cluster.";
export const usageRpcCalls = metrics.counter("dc_usage_rpc_calls_total", `RPC method calls made on Durable Object stubs (each one billed request), by the called object's kind and the caller (worker, metrics for the scrape's own calls, or the calling object's kind). ${PER_ISOLATE}`);
export const usageAlarms = metrics.counter("dc_usage_alarms_total", `Alarm invocations (each one billed request), by object kind. ${PER_ISOLATE}`);
export const usageRowsRead = metrics.counter("dc_usage_rows_read_total", `SQLite rows read (cursor.rowsRead of each SQL statement; KV-style get/list estimated as one row per key), by object kind. ${PER_ISOLATE}`);
export const usageRowsWritten = metrics.counter("dc_usage_rows_written_total", `SQLite rows written (cursor.rowsWritten, index rows included; KV-style put/delete estimated as one row per key, setAlarm as one), by object kind. ${PER_ISOLATE}`);
export const usageActiveSeconds = metrics.counter("dc_usage_active_seconds_total", `Seconds objects were active (a call to them, an alarm or a call of their own in flight; overlaps counted once per object), by kind: the wall-clock time duration is billed for, 128 MB each. Idle time an object cannot hibernate through is not seen. ${PER_ISOLATE}`);

// Unlabelled counters start at 0 so a rate over them exists before the first event.
txnCommits.inc({}, 0);
