// After a burst of traffic to every capability ends, the cluster goes quiet: no object keeps an alarm
// for nothing (on Cloudflare each alarm invocation is a billed request, and an object with a timer
// never hibernates). The only alarms left are for work that is due: here, retention sweeps a day away
// (tombstones, finished transactions, a finished batch's deletion), which fire not once in the idle
// window the issue measures (10 minutes). The Raft group quiesces on its own (another test).
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { getConfig } from "../../src/config";
import { RETENTION_SLOT_MS } from "../../src/core/timers/retention";
import { objectStub, type ObjectKind } from "../../src/services/objects";
import { coordinatorName } from "../../src/services/txn";
import { ADMIN, call, json, sleep } from "./helpers";

/** The measurement window: an alarm later than this fires not once while the cluster is measured idle. */
const IDLE_WINDOW_MS = 10 * 60_000;
/** Ceiling for the cluster to go quiet (the pool's checks stop LB_ACTIVE_CHECK_IDLE_AFTER_MS = 30 s after its last request). */
const QUIET_DEADLINE_MS = 50_000;
const CHECK_INTERVAL_MS = 300;
/** How long every object must read quiet, sampled every 100 ms, before the cluster counts as quiet. */
const QUIET_HOLD_MS = 2_000;
const POOL = "idle-pool";
const TTL_KEYS = ["idle:ttl-a", "idle:ttl-b", "idle:ttl-c"];

const config = getConfig(env);
const post = (path: string, body: unknown) => call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** What an object's alarm may be once the cluster is quiet. */
type Allowed = "none" | "retention" | { exactly: number; why: string };

interface Watched {
  kind: ObjectKind;
  name: string;
  allowed: Allowed;
}

const alarmOf = (kind: ObjectKind, name: string) =>
  runInDurableObject(objectStub(env, kind, name), (_: unknown, state: DurableObjectState) => state.storage.getAlarm());

/** Why an object is not quiet, or null when it is. */
function loudness(o: Watched, alarm: number | null, now: number): string | null {
  if (alarm === null) return null;
  const at = `${o.kind}/${o.name}: alarm in ${alarm - now} ms`;
  if (o.allowed === "none") return `${at}, none expected`;
  if (o.allowed === "retention") {
    // A retention sweep: at the end of a retention slot (the sweeps of a burst coalesced into one), and beyond the window.
    return alarm % RETENTION_SLOT_MS === 0 && alarm > now + IDLE_WINDOW_MS ? null : `${at}, not a retention sweep`;
  }
  return alarm === o.allowed.exactly && alarm > now + IDLE_WINDOW_MS ? null : `${at}, expected ${o.allowed.why} in ${o.allowed.exactly - now} ms`;
}

async function loudObjects(watched: readonly Watched[]): Promise<string[]> {
  const alarms = await Promise.all(watched.map((o) => alarmOf(o.kind, o.name)));
  const now = Date.now();
  return watched.map((o, i) => loudness(o, alarms[i] ?? null, now)).filter((l): l is string => l !== null);
}

interface PoolStatus {
  upstreams: { lastCheck: null | { at: number; ok: boolean } }[];
}

const lastCheck = async () => ((await objectStub(env, "pool", POOL).status()) as PoolStatus | null)?.upstreams[0]?.lastCheck ?? null;

describe("an idle cluster makes no alarm invocations", () => {
  it("after a burst to every capability, every object's alarm is gone, except retention sweeps a day away; a request wakes a pool's checks", async () => {
    // --- the load balancer first: its pool stays checked for 30 s after its last request ---
    const upstream = inject("idleUpstream");
    const put = await call(`/admin/lb/pools/${POOL}`, {
      method: "PUT",
      headers: { ...ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ upstreams: [{ id: "a", url: upstream }], healthCheck: { intervalMs: CHECK_INTERVAL_MS, timeoutMs: 200 } }),
    });
    expect(put.status, await put.clone().text()).toBe(200);
    for (let i = 0; i < 5; i++) {
      const res = await call(`/lb/${POOL}/hello/${i}`);
      expect(res.status, await res.clone().text()).toBe(200);
      await res.arrayBuffer();
    }
    // The checks run while the pool is in use.
    const started = Date.now();
    while (!((await lastCheck())?.ok ?? false)) {
      expect(Date.now() - started, "an active check of the pool's upstream passed").toBeLessThan(10_000);
      await sleep(50);
    }

    // --- the cache: with and without TTL, a delete (a tombstone) ---
    for (let i = 0; i < 6; i++) expect((await call(`/cache/idle:k${i}`, { method: "PUT", body: `v${i}` })).status).toBe(200);
    for (const key of TTL_KEYS) expect((await call(`/cache/${key}?ttl=1500`, { method: "PUT", body: "short" })).status).toBe(200);
    for (let i = 0; i < 6; i++) expect((await call(`/cache/idle:k${i}`)).status).toBe(200);
    expect((await call(`/cache/${TTL_KEYS[0]}`)).status).toBe(200);
    expect((await call("/cache/idle:k0", { method: "DELETE" })).status).toBe(200);

    // --- Redis: INCR and a MULTI block ---
    for (let i = 0; i < 3; i++) expect((await post("/redis", ["INCR", "idle:ctr"])).status).toBe(200);
    expect((await post("/redis/multi-exec", [["SET", "idle:m1", "1"], ["INCR", "idle:m2"]])).status).toBe(200);

    // --- transactions (two-phase commit over the shards) ---
    const txnIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await post("/txn", { ops: [{ op: "set", key: `idle:t${i}`, value: "x" }, { op: "incr", key: "idle:tctr", by: 1 }] });
      const body = await json<{ id: string; state: string }>(res);
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.state).toBe("committed");
      txnIds.push(body.id);
    }

    // --- a small task batch and a small MapReduce job, to their end ---
    const batch = await json<{ batch: string; tasks: { id: string }[] }>(await post("/tasks", { tasks: [{ kind: "fibonacci", args: { n: 20 } }, { kind: "sha256", args: { data: "abc" } }] }));
    for (const t of batch.tasks) expect((await json<{ status: string }>(await call(`/tasks/${t.id}?wait=20000`))).status).toBe("completed");
    const job = await json<{ id: string }>(await post("/jobs", { kind: "wordcount", input: { documents: [{ id: "d1", text: "the quick fox" }, { id: "d2", text: "the lazy dog" }] }, M: 2, R: 2 }));
    const jobStarted = Date.now();
    for (;;) {
      const st = await json<{ finished: boolean; phase: string }>(await call(`/jobs/${job.id}`));
      if (st.finished) {
        expect(st.phase).toBe("done");
        break;
      }
      expect(Date.now() - jobStarted, "the job finished").toBeLessThan(30_000);
      await sleep(50);
    }

    // --- then nobody calls: every object must go quiet ---
    const endedAt = (id: string) =>
      runInDurableObject(objectStub(env, "job", id), async (_: unknown, state: DurableObjectState) => (await state.storage.get<{ endedAt: number | null }>("state"))?.endedAt ?? null);
    const retentionOf = async (id: string): Promise<Allowed> => {
      const ended = await endedAt(id);
      expect(ended, `${id} has ended`).not.toBeNull();
      return { exactly: ended! + config.tasks.retentionMs, why: "its deletion TASK_RETENTION_S after it ended" };
    };
    const watched: Watched[] = [
      ...config.cache.shards.map((s): Watched => ({ kind: "cache", name: s.id, allowed: "retention" })),
      ...Array.from({ length: config.txn.coordinators }, (_, i): Watched => ({ kind: "txn", name: `txn-coordinator-${i}`, allowed: "retention" })),
      { kind: "pool", name: POOL, allowed: "none" },
      ...config.tasks.executors.map((name): Watched => ({ kind: "executor", name, allowed: "none" })),
      { kind: "job", name: batch.batch, allowed: await retentionOf(batch.batch) },
      { kind: "job", name: job.id, allowed: await retentionOf(job.id) },
      { kind: "registry", name: "registry", allowed: "none" },
    ];
    // The transactions' coordinators are among those watched.
    for (const id of txnIds) expect(watched.some((o) => o.kind === "txn" && o.name === coordinatorName(config, id))).toBe(true);

    // Quiet over a hold of several samples: an object whose alarm is running reads as unarmed for that
    // moment (the pool mid-round), so one sample could take a busy object for a quiet one.
    const waitFrom = Date.now();
    let quietSince: number | null = null;
    while (quietSince === null || Date.now() - quietSince < QUIET_HOLD_MS) {
      const loud = await loudObjects(watched);
      if (loud.length > 0) quietSince = null;
      else quietSince ??= Date.now();
      if (Date.now() - waitFrom > QUIET_DEADLINE_MS) expect(loud, "objects still armed for nothing due").toEqual([]);
      await sleep(100);
    }

    // Quiet means quiet: the alarms stay as they are, and the pool runs no more checks (several of its intervals).
    const alarms = await Promise.all(watched.map((o) => alarmOf(o.kind, o.name)));
    const checkedAt = (await lastCheck())?.at;
    await sleep(CHECK_INTERVAL_MS * 4);
    expect(await Promise.all(watched.map((o) => alarmOf(o.kind, o.name)))).toEqual(alarms);
    expect((await lastCheck())?.at).toBe(checkedAt);

    // The TTL entries expired through the shards' alarms (nothing read them after they expired).
    const shardStats = await Promise.all(config.cache.shards.map((s) => objectStub(env, "cache", s.id).stats()));
    expect(shardStats.reduce((n, s) => n + s.expirations, 0)).toBeGreaterThanOrEqual(TTL_KEYS.length * config.cache.writeQuorum);

    // A request to the idle pool wakes its checks: a round runs at once and the next is armed.
    const res = await call(`/lb/${POOL}/again`);
    expect(res.status, await res.clone().text()).toBe(200);
    await res.arrayBuffer();
    // Two rounds: the first runs at once, the second proves the one after it was armed again.
    const rounds = new Set<number>();
    const woke = Date.now();
    while (rounds.size < 2) {
      const at = (await lastCheck())?.at ?? 0;
      if (at > (checkedAt ?? 0)) rounds.add(at);
      expect(Date.now() - woke, "check rounds after the pool's first request while idle").toBeLessThan(10_000);
      await sleep(50);
    }
  });
});
