import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { createRouter } from "./http/app-env";
import { requireToken } from "./http/auth";
import { errorBody, handleError, notFound } from "./http/errors";
import { requestLog } from "./http/logging";
import { drainUnreadBody } from "./http/body-drain";
import { bodyLimits } from "./routes/body-limits";
import { adminRoutes } from "./routes/admin";
import { cacheRoutes } from "./routes/cache";
import { healthRoutes } from "./routes/health";
import { kvRoutes } from "./routes/kv";
import { lbRoutes } from "./routes/lb";
import { raftRoutes } from "./routes/raft";
import { redisAuth, redisRoutes } from "./routes/redis";
import { taskRoutes } from "./routes/tasks";
import { jobRoutes } from "./routes/jobs";
import { dashboardStatus, dashboardStatusDoc, replicasOf } from "./routes/dashboard";
import { dashboardPages } from "./routes/dashboard-page";
import { txnRoutes } from "./routes/txn";
import { metricsRoutes } from "./routes/metrics";
import { frontDoor } from "./routes/front-door";
import { docsRoutes } from "./routes/docs";
import { nosniff, pageSecurityHeaders } from "./http/security-headers";
import { recordRequests } from "./http/metrics-middleware";
import { httpDuration, httpRequests } from "./services/metrics";

export { CacheShard } from "../durable-objects/cache-shard";
export { RaftNode } from "../durable-objects/raft-node";
export { TxnCoordinator } from "../durable-objects/txn-coordinator";
export { UpstreamPool } from "../durable-objects/upstream-pool";
export { JobCoordinator } from "../durable-objects/job-coordinator";
export { TaskExecutor } from "../durable-objects/task-executor";
export { WorkRegistry } from "../durable-objects/work-registry";

const app = createRouter();

app.use(recordRequests(httpRequests, httpDuration));
app.use(requestId());
app.use(requestLog());
// A body no handler read to its end (a rejected upload) is read within a budget before the answer goes out.
app.use(drainUnreadBody());
app.use(nosniff);
// Load beyond what the cluster can serve in time is refused here, cheaply, before any body is read.
app.use(frontDoor);
app.use(methodNotAllowed({ app, onMethodNotAllowed: (c, methods) => c.json(errorBody("method_not_allowed", `${c.req.method} is not allowed here; use ${methods.join(", ")}`), 405, { Allow: methods.join(", ") }) }));
// Authenticate first, then parse: every guarded route checks its token here, before any body ceiling,
// body or path argument is read (a request without a token gets 401, never a 400 or 413 about its input).
// The routers keep their own admin guards as a second line.
for (const path of ["/admin/*", "/raft/members", "/raft/transfer-leadership"]) app.use(path, requireToken("ADMIN_TOKEN"));
// Hono's "/x/*" also matches "/x" itself: listing both ran the check twice on "/x" (two token digests).
for (const path of ["/cache/*", "/kv/*", "/raft/status", "/txn/*", "/lb/pools/*", "/tasks/*", "/jobs/*", "/dashboard/*", "/metrics"]) {
  app.use(path, requireToken("API_TOKEN"));
}
// The Redis endpoint authenticates the Upstash way (Bearer or ?_token=, WRONGPASS in its own format).
// Once: "/redis/*" matches POST /redis too.
app.use("/redis/*", redisAuth);
// Every body's limit, by route (src/routes/body-limits.ts: 64 KiB of JSON unless the route has a larger
// limit; the 8 MiB batch limit is the ceiling). Not for /lb/*: a proxied body streams to the upstream,
// whatever its size (Cloudflare's own cap applies); nor for a job's input streamed as raw text.
app.use(bodyLimits);
app.route("/", healthRoutes);
app.route("/", cacheRoutes);
app.route("/", adminRoutes);
app.route("/", kvRoutes);
app.route("/", raftRoutes);
app.route("/", txnRoutes);
app.route("/", redisRoutes);
app.route("/", lbRoutes);
app.route("/", taskRoutes);
app.route("/", jobRoutes);
app.route("/", metricsRoutes);
app.get("/dashboard/status", dashboardStatus);
app.openAPIRegistry.registerPath(dashboardStatusDoc);
app.get("/dashboard/replicas", replicasOf);
// The page itself has no token check (a browser cannot send one on navigation): with API_TOKEN set its
// sections come back 401 until the token is typed into the page, which then sends it with each refresh.
const pages = dashboardPages();
app.get("/", pageSecurityHeaders, pages.page);
app.get("/dashboard/fragment", pageSecurityHeaders, pages.fragment);

app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" });
app.openAPIRegistry.registerComponent("securitySchemes", "apiToken", { type: "http", scheme: "bearer", description: "API_TOKEN (only when configured)" });
app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: { title: "durable-cluster", version: "0.1.0", description: "Distributed-systems toolkit on Cloudflare Workers and Durable Objects" },
  security: [{ apiToken: [] }],
});
app.route("/", docsRoutes);

app.notFound(notFound);
app.onError(handleError);

export default app;
