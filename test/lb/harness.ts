// The load balancer end to end: the deploy bundle under Miniflare (bench/lib/worker.ts) in front of a
// farm of real upstreams on 127.0.0.1 (test/support/upstream-farm.ts). Types below restate the
// contract (notes/lb-contract.md) instead of importing the worker's, so the tests check the wire format.
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { startWorker, type RunningWorker } from "../../bench/lib/worker";
import { startFarm, type Echo, type Farm, type FarmServer } from "../support/upstream-farm";
export type { Echo };

export const ADMIN_TOKEN = "test-admin-token";
export const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** LB_STATE_TTL_MS of the test worker: how stale an isolate's copy of a pool's shared state may be. */
export const STATE_TTL_MS = 100;

export type Algorithm = "round-robin" | "random" | "least-connections" | "weighted-round-robin" | "p2c-ewma" | "consistent-hash";

export interface UpstreamConfig {
  id: string;
  url: string;
  weight: number;
  maxInFlight: number | null;
}

export interface PoolConfig {
  algorithm: Algorithm;
  upstreams: UpstreamConfig[];
  affinity: { header: string | null; cookie: string | null };
  healthCheck: null | { path: string; intervalMs: number; timeoutMs: number; expectedStatus: number; rise: number; fall: number };
  phiThreshold: number;
  healthyPanicThreshold: number;
  outlier: { consecutive5xx: number; consecutiveGatewayFailure: number; baseEjectionMs: number; maxEjectionMs: number; maxEjectionPercent: number; countServerErrors: boolean; minFailingPaths: number; blameWindowMs: number };
  breaker: { consecutiveFailures: number; failureRateThreshold: number; minimumRequests: number; windowMs: number; openMs: number; halfOpenMaxProbes: number; successThreshold: number };
  retry: { attempts: number; retryOn: number[]; nonIdempotent: boolean; perTryTimeoutMs: number; deadlineMs: number; budgetPercent: number; minRetriesPerSecond: number };
  forward: { authorization: boolean; cookie: boolean; setCookie: boolean };
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer E)[] ? Array<Partial<E>> : T[K] extends object | null ? Partial<NonNullable<T[K]>> | Extract<T[K], null> : T[K] };
/** The body of PUT /admin/lb/pools/{pool}: any subset; the worker fills the rest with defaults. */
export type PoolConfigInput = DeepPartial<PoolConfig>;

export interface PoolView {
  pool: string;
  version: number;
  config: PoolConfig;
}

export interface UpstreamStatus {
  id: string;
  url: string;
  weight: number;
  available: boolean;
  health: "healthy" | "unhealthy";
  phi: number | null;
  ejected: boolean;
  ejectedUntil: number | null;
  breaker: { status: "closed" | "open" | "half-open"; openUntil: number | null };
  inFlight: number;
  ewmaMs: number | null;
  counts: { requests: number; successes: number; failures: number; timeouts: number; connectErrors: number; status5xx: number };
  lastCheck: null | { at: number; ok: boolean; status: number | null; latencyMs: number | null; error: string | null };
}

export interface PoolStatus {
  pool: string;
  algorithm: Algorithm;
  version: number;
  upstreams: UpstreamStatus[];
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** One proxied request as the tests look at it. */
export interface Hit {
  status: number;
  /** X-Upstream: the id of the upstream that answered. */
  upstream: string | null;
  /** X-LB-Attempts. */
  attempts: number | null;
  ms: number;
  body: string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** After deleting pools with health checks: time for a check sent just before the DELETE to reach the farm. */
const CHECK_SETTLE_MS = 50;

/**
 * Polls `check` until it returns true; fails with `what` after `ms`. The deadline is a ceiling for a
 * condition that never comes, not a claim about speed: a loaded machine may take seconds.
 */
export async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000, everyMs = 25): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`not reached within ${ms} ms: ${what}`);
    await sleep(everyMs);
  }
}

export interface LbHarness<N extends string> {
  /** The worker's origin, e.g. http://127.0.0.1:PORT */
  readonly url: string;
  /** The upstreams, by name. Before each test: listening, settings "ok", counters zeroed. */
  readonly up: Record<N, FarmServer>;
  /** A pool name no other test of this file uses. */
  pool(prefix: string): string;
  /** `{id: name, url}` of farm upstreams, for a pool's `upstreams`. */
  upstreams(...names: N[]): Array<{ id: N; url: string }>;
  /** PUT the config; throws unless 200. */
  putPool(name: string, config: PoolConfigInput): Promise<PoolView>;
  /** PUT any body, for the validation tests. A pool it creates (200) is deleted after the test, as putPool's are. */
  putPoolRaw(name: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  admin(method: "GET" | "DELETE" | "POST", path: string): Promise<Response>;
  /** GET /lb/pools/{pool}; throws unless 200. */
  status(name: string): Promise<PoolStatus>;
  upstreamStatus(name: string, id: string): Promise<UpstreamStatus>;
  /** Any request through /lb/{pool}/{path}. */
  proxy(name: string, path: string, init?: RequestInit): Promise<Response>;
  /** One GET through the pool, read in full. */
  hit(name: string, path?: string, init?: RequestInit): Promise<Hit>;
  /** `n` GETs one after another. */
  sequential(name: string, n: number, path?: string, gapMs?: number): Promise<Hit[]>;
  /** `n` GETs started `spacingMs` apart without waiting for answers; resolves when all have answered. */
  staggered(name: string, n: number, spacingMs: number, path?: string): Promise<Hit[]>;
  /** POST /admin/lb/pools/{pool}/crash: the UpstreamPool object is really reset (ctx.abort()). */
  crashPool(name: string): Promise<void>;
  /** Requests each upstream received for `path` since the last reset. */
  received(path: string): Promise<Record<N, number>>;
}

/**
 * Registers the file's hooks: the worker and a farm of `names` start once for the file; after each
 * test every pool it created is deleted; before each test every upstream is brought back up, set to
 * "ok" and its counters zeroed.
 *
 * Deleting the pools is what keeps tests apart: a pool's health checks run from its object's alarm
 * for as long as the pool exists, and they would go on hitting the shared farm (and its counters)
 * during every later test of the file. DELETE stops the alarm.
 */
export function setupLb<N extends string>(names: readonly N[]): LbHarness<N> {
  let worker: RunningWorker | undefined;
  let farm: Farm<N> | undefined;
  let counter = 0;
  /** Pools a PUT created during the current test; `checked`: one of its PUTs turned on health checks. */
  const created = new Map<string, { checked: boolean }>();

  beforeAll(async () => {
    farm = await startFarm(names);
    worker = await startWorker({ ADMIN_TOKEN, LB_STATE_TTL_MS: String(STATE_TTL_MS) });
  });
  afterAll(async () => {
    await worker?.stop();
    await farm?.close();
  });
  afterEach(async () => {
    if (worker === undefined) return;
    const pools = [...created];
    created.clear();
    for (const [name] of pools) {
      const res = await h.admin("DELETE", `/admin/lb/pools/${name}`);
      await res.arrayBuffer();
      // 404: the test deleted it itself.
      if (res.status !== 200 && res.status !== 404) throw new Error(`cleanup: DELETE pool ${name}: ${res.status}`);
    }
    // A check the alarm started just before the DELETE may still be on its way to the farm (sent, not
    // yet read by this process's event loop): let it land before beforeEach zeroes the counters.
    if (pools.some(([, p]) => p.checked)) await sleep(CHECK_SETTLE_MS);
  });
  beforeEach(async () => {
    for (const s of Object.values<FarmServer>(need(farm, "farm").servers)) {
      await s.up();
      await s.set("ok");
      await s.reset();
    }
  });

  const origin = () => need(worker, "worker").url;
  const servers = () => need(farm, "farm").servers;

  const hit = async (name: string, path = "x", init?: RequestInit): Promise<Hit> => {
    const t0 = performance.now();
    const res = await h.proxy(name, path, init);
    const body = await res.text();
    const attempts = res.headers.get("x-lb-attempts");
    return { status: res.status, upstream: res.headers.get("x-upstream"), attempts: attempts === null ? null : Number(attempts), ms: performance.now() - t0, body };
  };

  const h: LbHarness<N> = {
    get url() {
      return origin();
    },
    get up() {
      return servers();
    },
    pool: (prefix) => `${prefix}-${++counter}`,
    upstreams: (...ids) => ids.map((id) => ({ id, url: servers()[id].url })),
    async putPool(name, config) {
      const res = await h.putPoolRaw(name, config);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`PUT pool ${name}: ${res.status} ${text}`);
      return JSON.parse(text) as PoolView;
    },
    async putPoolRaw(name, body, headers = ADMIN) {
      const res = await fetch(`${origin()}/admin/lb/pools/${name}`, {
        method: "PUT",
        headers: { ...headers, "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      if (res.status === 200) {
        const checked = typeof body === "object" && body !== null && "healthCheck" in body && body.healthCheck != null;
        created.set(name, { checked: checked || (created.get(name)?.checked ?? false) });
      }
      return res;
    },
    admin: (method, path) => fetch(`${origin()}${path}`, { method, headers: ADMIN }),
    async status(name) {
      const res = await fetch(`${origin()}/lb/pools/${name}`, { headers: ADMIN });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /lb/pools/${name}: ${res.status} ${text}`);
      return JSON.parse(text) as PoolStatus;
    },
    async upstreamStatus(name, id) {
      const u = (await h.status(name)).upstreams.find((x) => x.id === id);
      if (!u) throw new Error(`pool ${name} has no upstream ${id}`);
      return u;
    },
    proxy: (name, path, init) => fetch(`${origin()}/lb/${name}/${path.replace(/^\//, "")}`, init),
    hit,
    async sequential(name, n, path = "x", gapMs = 0) {
      const hits: Hit[] = [];
      for (let i = 0; i < n; i++) {
        hits.push(await hit(name, path));
        if (gapMs > 0) await sleep(gapMs);
      }
      return hits;
    },
    async staggered(name, n, spacingMs, path = "x") {
      const pending: Array<Promise<Hit>> = [];
      for (let i = 0; i < n; i++) {
        pending.push(hit(name, path));
        await sleep(spacingMs);
      }
      return Promise.all(pending);
    },
    async crashPool(name) {
      const res = await h.admin("POST", `/admin/lb/pools/${name}/crash`);
      if (res.status !== 200) throw new Error(`crash ${name}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    },
    async received(path) {
      const p = `/${path.replace(/^\//, "")}`;
      const out = {} as Record<N, number>;
      for (const name of names) out[name] = (await servers()[name].stats()).byPath[p] ?? 0;
      return out;
    },
  };
  return h;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} not started (setupLb's beforeAll failed?)`);
  return value;
}

/** How many hits each upstream answered. */
export function tally(hits: readonly Hit[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of hits) out[h.upstream ?? "none"] = (out[h.upstream ?? "none"] ?? 0) + 1;
  return out;
}

/** The statuses that are not 200, with the upstream and body, for a readable failure. */
export function failures(hits: readonly Hit[]): string[] {
  return hits.filter((h) => h.status !== 200).map((h) => `${h.status} from ${h.upstream ?? "?"} after ${h.attempts ?? "?"} attempt(s): ${h.body.slice(0, 200)}`);
}

export function echoOf(hit: Hit): Echo {
  return JSON.parse(hit.body) as Echo;
}
