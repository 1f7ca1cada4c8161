// Real HTTP upstreams on 127.0.0.1 for the load-balancer tests and bench:lb: each server answers with a
// JSON echo of what it received, and can be made slow, failing, hanging or unreachable on command.
//
// In-process: `startFarm(["a", "b"])`. As a child process (so upstream work does not share the load
// generator's event loop): `spawnFarm(["a", "b"], { script })`, where `script` is this file as Node
// can run it: the esbuild bundle bench:lb builds, or this .ts itself (Node 22 strips the types; the
// file uses only erasable syntax and node: imports for that reason). Both give the same async API.
import { fork } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** "ok" answers (after delayMs, with status); "hang" accepts the request and never answers. */
export type Mode = "ok" | "hang";

export interface Behaviour {
  mode: Mode;
  /** Added before answering. */
  delayMs: number;
  /** The status of the answer (the body is the echo either way). */
  status: number;
  /** Headers go out at once (after delayMs), the body this much later: a slow download or event stream. */
  bodyDelayMs?: number;
}

export interface Settings extends Behaviour {
  /** How the health path answers; null: exactly like any other path. */
  health: Behaviour | null;
}

/** A change to a server's settings: "ok" restores the defaults, an object patches the current settings. */
export type SettingsChange = "ok" | "hang" | (Partial<Behaviour> & { health?: Partial<Behaviour> | null });

export interface UpstreamStats {
  listening: boolean;
  /** Every request received, health checks included. */
  requests: number;
  /** Requests to any path but the health path. */
  traffic: number;
  /** Requests by URL path (without the query). */
  byPath: Record<string, number>;
  /** Requests received and not yet answered or abandoned. */
  inFlight: number;
  /** The most requests in flight at once since the last reset. */
  maxInFlight: number;
}

/** What the server answers (status aside): exactly what it received. */
export interface Echo {
  upstream: string;
  method: string;
  path: string;
  /** The raw query string, without "?". */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface FarmServer {
  readonly name: string;
  /** http://127.0.0.1:<port>; stays the same across down()/up(). */
  readonly url: string;
  readonly port: number;
  set(change: SettingsChange): Promise<void>;
  /** Stops listening and drops open connections: new connections are refused. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stats(): Promise<UpstreamStats>;
  /** Zeroes the counters (settings and listening state are kept). */
  reset(): Promise<void>;
}

export interface Farm<N extends string = string> {
  servers: Record<N, FarmServer>;
  close(): Promise<void>;
}

export interface FarmOptions {
  /** The path whose answers follow `health` settings; default "/health". */
  healthPath?: string;
}

export const DEFAULT_BEHAVIOUR: Behaviour = { mode: "ok", delayMs: 0, status: 200 };

/** The settings after `change` (pure; exported for the farm's own test). */
export function applyChange(current: Settings, change: SettingsChange): Settings {
  if (change === "ok") return { ...DEFAULT_BEHAVIOUR, health: null };
  if (change === "hang") return { ...current, mode: "hang" };
  const { health, ...traffic } = change;
  const next: Settings = { ...current, ...definedOnly(traffic) };
  if (health === null) next.health = null;
  else if (health !== undefined) next.health = { ...(current.health ?? DEFAULT_BEHAVIOUR), ...definedOnly(health) };
  return next;
}

function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One upstream: a node:http server plus its settings and counters. */
class Upstream {
  readonly name: string;
  readonly healthPath: string;
  port = 0;
  settings: Settings = { ...DEFAULT_BEHAVIOUR, health: null };
  private readonly server: Server;
  private readonly counters = { requests: 0, traffic: 0, byPath: {} as Record<string, number>, inFlight: 0, maxInFlight: 0 };

  constructor(name: string, healthPath: string) {
    this.name = name;
    this.healthPath = healthPath;
    this.server = createServer((req, res) => this.handle(req, res));
    // Longer than any test: a server-side idle close racing the proxy's reuse of a pooled connection
    // would show up as a spurious connect error.
    this.server.keepAliveTimeout = 120_000;
  }

  async listen(port: number): Promise<void> {
    if (this.server.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("upstream has no TCP address");
    this.port = address.port;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections(); // hanging requests included: their clients see a reset
    await closed;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  stats(): UpstreamStats {
    return { listening: this.server.listening, ...this.counters, byPath: { ...this.counters.byPath } };
  }

  /** Zeroes the counters in place (requests in flight keep counting down the same object). */
  reset(): void {
    const c = this.counters;
    c.requests = 0;
    c.traffic = 0;
    c.byPath = {};
    c.maxInFlight = c.inFlight;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://upstream.invalid");
    const c = this.counters;
    c.requests++;
    c.byPath[url.pathname] = (c.byPath[url.pathname] ?? 0) + 1;
    const isHealth = url.pathname === this.healthPath;
    if (!isHealth) c.traffic++;
    c.inFlight++;
    c.maxInFlight = Math.max(c.maxInFlight, c.inFlight);
    // Done when the answer is handed to the socket ("finish"; "close" can trail the client's read of
    // it) or when the connection goes first (the client gave up, or down()).
    let done = false;
    const settle = () => {
      if (done) return;
      done = true;
      c.inFlight--;
    };
    res.once("finish", settle);
    res.once("close", settle);
    // Settings as of arrival, so a request is not changed halfway by a later set().
    const behaviour: Behaviour = (isHealth ? this.settings.health : null) ?? this.settings;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (behaviour.mode === "hang") return;
      const echo: Echo = {
        upstream: this.name,
        method: req.method ?? "",
        path: url.pathname,
        query: url.search.replace(/^\?/, ""),
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(behaviour.status, { "content-type": "application/json" });
        const bodyDelay = behaviour.bodyDelayMs ?? 0;
        if (bodyDelay <= 0) return void res.end(JSON.stringify(echo));
        res.flushHeaders();
        setTimeout(() => res.destroyed || res.end(JSON.stringify(echo)), bodyDelay);
      };
      if (behaviour.delayMs > 0) setTimeout(answer, behaviour.delayMs);
      else answer();
    });
  }
}

/** Starts one upstream per name on its own free port, in this process. */
export async function startFarm<N extends string>(names: readonly N[], options: FarmOptions = {}): Promise<Farm<N>> {
  const healthPath = options.healthPath ?? "/health";
  const upstreams = names.map((name) => new Upstream(name, healthPath));
  await Promise.all(upstreams.map((u) => u.listen(0)));
  const servers = {} as Record<N, FarmServer>;
  for (const u of upstreams) {
    servers[u.name as N] = {
      name: u.name,
      url: `http://127.0.0.1:${u.port}`,
      port: u.port,
      set: async (change) => void (u.settings = applyChange(u.settings, change)),
      down: () => u.close(),
      up: () => u.listen(u.port),
      stats: async () => u.stats(),
      reset: async () => u.reset(),
    };
  }
  return { servers, close: async () => void (await Promise.all(upstreams.map((u) => u.close()))) };
}

// ---- child process: the same farm behind a tiny IPC protocol -------------------------------------

type Op = "set" | "down" | "up" | "stats" | "reset" | "close";
interface ControlRequest {
  id: number;
  op: Op;
  name?: string;
  change?: SettingsChange;
}
type ControlReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: string };
interface Ready {
  ready: Record<string, { url: string; port: number }>;
}

const CHILD_ENV = "UPSTREAM_FARM_CHILD";

export interface SpawnOptions extends FarmOptions {
  /** The file to run as the child: this module, bundled (.mjs) or as .ts (Node 22 strips the types). */
  script: string;
  /** How long to wait for the child's servers to listen; default 10 s. */
  readyTimeoutMs?: number;
}

/** Starts the farm in a child process; the returned API talks to it over IPC. */
export async function spawnFarm<N extends string>(names: readonly N[], options: SpawnOptions): Promise<Farm<N>> {
  const child = fork(options.script, [], {
    env: { ...process.env, [CHILD_ENV]: JSON.stringify({ names, healthPath: options.healthPath ?? "/health" }) },
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = await new Promise<Ready["ready"]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("upstream farm child did not start in time")), options.readyTimeoutMs ?? 10_000);
    child.once("exit", (code) => reject(new Error(`upstream farm child exited early (code ${code})`)));
    child.on("message", (message: Ready | ControlReply) => {
      if ("ready" in message) {
        clearTimeout(timer);
        resolve(message.ready);
        return;
      }
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.ok) waiter?.resolve(message.result);
      else waiter?.reject(new Error(message.error));
    });
  }).catch((err: unknown) => {
    child.kill();
    throw err;
  });
  child.once("exit", () => {
    for (const w of pending.values()) w.reject(new Error("upstream farm child exited"));
    pending.clear();
  });
  const call = (op: Op, name?: string, change?: SettingsChange) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, op, name, change } satisfies ControlRequest);
    });
  const servers = {} as Record<N, FarmServer>;
  for (const name of names) {
    const info = ready[name];
    if (!info) throw new Error(`upstream farm child did not start ${name}`);
    servers[name] = {
      name,
      url: info.url,
      port: info.port,
      set: async (change) => void (await call("set", name, change)),
      down: async () => void (await call("down", name)),
      up: async () => void (await call("up", name)),
      stats: async () => (await call("stats", name)) as UpstreamStats,
      reset: async () => void (await call("reset", name)),
    };
  }
  return {
    servers,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await call("close").catch(() => undefined);
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function runChild(spec: { names: string[]; healthPath: string }): Promise<void> {
  const farm = await startFarm(spec.names, { healthPath: spec.healthPath });
  const send = (m: Ready | ControlReply) => process.send?.(m);
  process.on("disconnect", () => void farm.close().finally(() => process.exit(0))); // the parent went away
  process.on("message", async (req: ControlRequest) => {
    try {
      if (req.op === "close") {
        await farm.close();
        send({ id: req.id, ok: true });
        process.disconnect();
        return;
      }
      const server = farm.servers[req.name ?? ""];
      if (!server) throw new Error(`no upstream named ${req.name}`);
      const result = req.op === "set" ? await server.set(req.change ?? "ok") : await server[req.op]();
      send({ id: req.id, ok: true, result });
    } catch (err) {
      send({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
  send({ ready: Object.fromEntries(Object.values(farm.servers).map((s) => [s.name, { url: s.url, port: s.port }])) });
}

// Runs only in a process spawnFarm started (the variable is set for the child alone), so importing
// this module, or bundling it into a benchmark, starts nothing.
const childSpec = process.env[CHILD_ENV];
if (childSpec !== undefined && process.send !== undefined) {
  void runChild(JSON.parse(childSpec) as { names: string[]; healthPath: string });
}
