import { env, SELF } from "cloudflare:test";

export const ADMIN = { authorization: "Bearer test-admin-token" };
export const BASE = "http://cluster.test";

export function call(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

export function shard(id: string) {
  return env.CACHE_SHARD.get(env.CACHE_SHARD.idFromName(id));
}

/** The preference list of a key, as the router computes it. */
export async function replicasOf(key: string): Promise<string[]> {
  const { HashRing } = await import("../../src/core/ring/hash-ring");
  const { getConfig } = await import("../../src/config");
  const cfg = getConfig(env).cache;
  return new HashRing(cfg.shards, cfg.vnodes === undefined ? {} : { vnodes: cfg.vnodes }).preferenceList(key, cfg.replicas);
}

export async function setFault(shardId: string, mode: "healthy" | "down" | "slow", delayMs = 0): Promise<void> {
  const res = await call(`/admin/cache/shards/${shardId}/fault`, {
    method: "POST",
    headers: { ...ADMIN, "content-type": "application/json" },
    body: JSON.stringify({ mode, delayMs }),
  });
  if (res.status !== 200) throw new Error(`setFault ${shardId}: ${res.status} ${await res.text()}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The error an RPC call rejects with (RPC promises are not plain promises, so `expect(...).rejects` leaks them). */
export async function rejection(call: () => Promise<unknown>): Promise<Error> {
  try {
    await call();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the call to fail");
}

/**
 * Polls until `check` passes or the time is up (background work such as read repair runs after the
 * response). The deadline is a ceiling for a condition that never comes, not a claim about speed: on
 * a loaded machine the same work takes several times as long.
 */
export async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error("condition not reached in time");
}

export const ALL_SHARDS = Array.from({ length: 8 }, (_, i) => `shard-${i}`);

export const putKey = (key: string, value: string, query = "") => call(`/cache/${encodeURIComponent(key)}${query}`, { method: "PUT", body: value });
export const getKey = (key: string, query = "") => call(`/cache/${encodeURIComponent(key)}${query}`);

/** Polls GET /jobs/{id} until the job has finished or `ms` have passed, and returns its last status. */
export async function jobWhenFinished<T extends { finished: boolean }>(id: string, ms: number, pollMs = 50): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const st = await json<T>(await call(`/jobs/${id}`));
    if (st.finished || Date.now() > until) return st;
    await sleep(pollMs);
  }
}

/** The samples of a GET /metrics scrape, keyed by the line up to the value: `name{label="v",...}`. */
export type Samples = Map<string, number>;

export function parseSamples(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Scrapes GET /metrics (it must answer 200): the text and its samples. */
export async function scrapeMetrics(): Promise<{ text: string; samples: Samples }> {
  const res = await call("/metrics");
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  return { text, samples: parseSamples(text) };
}
