// bench:lb-safety — issue 16's figure: 100 anonymous requests to a failing path of a 3-upstream pool,
// interleaved with requests to its healthy paths. Printed: the healthy paths' success rate next to the
// baseline of the same healthy requests with no failing traffic (same run, same pool config), and how
// many upstreams were ejected or had their breaker open afterwards. Target: every healthy request 200.
// Run for a failing path answering 500 (a bug on one path) and 503 (a gateway-type answer, retried on
// every upstream). The worker runs under Miniflare (bench/lib/worker.ts), the upstreams are node:http
// servers in this process whose answer depends on the path.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startWorker } from "./lib/worker";

const FAILING = Number(process.env.BENCH_FAILING ?? 100);
const HEALTHY_AFTER = Number(process.env.BENCH_HEALTHY_AFTER ?? 50);
const ADMIN_TOKEN = "bench-admin";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
/** The isolate's copy of the pool's state is refreshed this often (short, so the verdicts show quickly). */
const STATE_TTL_MS = 100;

let failStatus = 500;
async function upstream(id: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (path.startsWith("/fail")) return void res.writeHead(failStatus, { "content-type": "application/json" }).end('{"error":"broken path"}');
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ upstream: id, path }));
    });
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const ups = await Promise.all(["u0", "u1", "u2"].map(upstream));
const worker = await startWorker({ ADMIN_TOKEN, LB_STATE_TTL_MS: String(STATE_TTL_MS) });
let poolCounter = 0;

interface UpstreamStatus { id: string; ejected: boolean; ejections: number; available: boolean; breaker: { status: string } }

async function newPool(): Promise<string> {
  const pool = `safety-${++poolCounter}`;
  const res = await fetch(`${worker.url}/admin/lb/pools/${pool}`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ upstreams: ups.map((u, i) => ({ id: `u${i}`, url: u.url })) }) });
  if (res.status !== 200) throw new Error(`PUT pool: ${res.status} ${await res.text()}`);
  return pool;
}

async function get(pool: string, path: string): Promise<number> {
  const res = await fetch(`${worker.url}/lb/${pool}/${path}`);
  await res.arrayBuffer();
  return res.status;
}

async function status(pool: string): Promise<UpstreamStatus[]> {
  const res = await fetch(`${worker.url}/lb/pools/${pool}`, { headers: ADMIN });
  return ((await res.json()) as { upstreams: UpstreamStatus[] }).upstreams;
}

interface Run { healthyOk: number; healthyTotal: number; failingAnswered: Record<string, number>; ejected: number; ejections: number; breakersOpen: number; unavailable: number }

/** `failing` requests to /fail, each followed by one to a healthy path, then HEALTHY_AFTER healthy ones. */
async function scenario(failing: number): Promise<Run> {
  const pool = await newPool();
  let healthyOk = 0;
  let healthyTotal = 0;
  const failingAnswered: Record<string, number> = {};
  const healthy = async (path: string) => {
    healthyTotal++;
    if ((await get(pool, path)) === 200) healthyOk++;
  };
  for (let i = 0; i < Math.max(failing, HEALTHY_AFTER); i++) {
    if (i < failing) {
      const s = String(await get(pool, "fail"));
      failingAnswered[s] = (failingAnswered[s] ?? 0) + 1;
    }
    await healthy(`ok/${i}`);
  }
  // Long enough for every report to reach the pool object and its verdicts to come back.
  await new Promise((r) => setTimeout(r, 5 * STATE_TTL_MS));
  for (let i = 0; i < HEALTHY_AFTER; i++) await healthy(`ok/after/${i}`);
  const st = await status(pool);
  return {
    healthyOk,
    healthyTotal,
    failingAnswered,
    ejected: st.filter((u) => u.ejected).length,
    ejections: st.reduce((n, u) => n + u.ejections, 0),
    breakersOpen: st.filter((u) => u.breaker.status !== "closed").length,
    unavailable: st.filter((u) => !u.available).length,
  };
}

const pct = (r: Run) => `${((100 * r.healthyOk) / r.healthyTotal).toFixed(1)}% (${r.healthyOk}/${r.healthyTotal})`;
try {
  console.log(`\nbench:lb-safety (Miniflare, loopback, 3 upstreams, default pool config, state TTL ${STATE_TTL_MS} ms)`);
  console.log(`${FAILING} anonymous requests to /fail, each followed by a request to a healthy path, then ${HEALTHY_AFTER} more healthy ones`);
  for (const s of [500, 503]) {
    failStatus = s;
    const baseline = await scenario(0);
    const attacked = await scenario(FAILING);
    console.log(`\n/fail answers ${s} on every upstream:`);
    console.log(`  healthy paths answered 200: ${pct(attacked)}   baseline without failing traffic: ${pct(baseline)}`);
    console.log(`  /fail answered: ${JSON.stringify(attacked.failingAnswered)}`);
    console.log(`  afterwards: ${attacked.ejected} of 3 upstreams ejected (${attacked.ejections} ejections in all), ${attacked.breakersOpen} breakers not closed, ${attacked.unavailable} unavailable   baseline: ${baseline.ejected} ejected, ${baseline.breakersOpen} breakers not closed`);
    console.log(`  target: every healthy request 200 -> ${attacked.healthyOk === attacked.healthyTotal ? "PASS" : "MISS"}`);
  }
} finally {
  await worker.stop();
  for (const u of ups) {
    u.server.closeAllConnections();
    u.server.close();
  }
}
