import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../src/config";
import { type PoolConfig, upgradePoolConfig } from "../src/core/balancer/pool-config";
import { isActive, nextRoundAt, skipPause, wakeRoundAt, type CheckCadence } from "../src/core/health/check-cadence";
import {
  acquireProbe, applyCheck, applyOutcomes, createPoolHealth, reconcile, statusOf, viewOf,
  type CheckResult, type Outcome, type PoolHealth, type UpstreamStatus, type UpstreamView,
} from "../src/core/health/pool-health";
import { objectStub } from "../src/services/objects";
import { meterObject } from "../src/services/usage";

/** An isolate's in-flight counts older than this are left out of the status (that isolate went quiet). */
const IN_FLIGHT_TTL_MS = 10_000;

/** What an isolate caches and routes with: the configuration and the shared health verdicts. */
export interface PoolSnapshot {
  pool: string;
  version: number;
  config: PoolConfig;
  upstreams: UpstreamView[];
  /** The object's clock when the snapshot was taken. */
  at: number;
}

export interface PoolStatus {
  pool: string;
  version: number;
  algorithm: PoolConfig["algorithm"];
  healthCheck: PoolConfig["healthCheck"];
  upstreams: UpstreamStatus[];
}

interface Stored {
  pool: string;
  version: number;
  config: PoolConfig;
}

/** Health checks in flight at once per pool (Workers' limit on connections waiting for headers). */
const CHECK_CONCURRENCY = 6;

export function poolStub(env: Cloudflare.Env, pool: string): DurableObjectStub<UpstreamPool> {
  return objectStub(env, "pool", pool);
}

/**
 * One load-balancer pool: its configuration, the shared health of its upstreams (active checks, phi,
 * ejections, breakers; src/core/health/pool-health) and the alarm that runs the active checks. Every
 * isolate that proxies for the pool reports its outcomes here in batches and gets the merged verdicts
 * back, so what one isolate learns reaches the others within LB_STATE_TTL_MS. The object is also the
 * only grantor of half-open probe slots, so a breaker's probe limit holds across isolates.
 *
 * Active checks run at the pool's interval only while it has traffic (any snapshot, report or probe
 * from an isolate, or a configure): an idle pool falls to LB_IDLE_CHECK_MS, by default no alarm at all,
 * and the next request wakes the checks again (src/core/health/check-cadence.ts). `status` is a view
 * (the dashboard's), not traffic: looking at a pool does not keep it checked.
 */
export class UpstreamPool extends DurableObject<Cloudflare.Env> {
  private stored: Stored | null = null;
  private health: PoolHealth | null = null;
  private readonly inFlight = new Map<string, { counts: Record<string, number>; at: number }>();
  private checking = false;
  /** When an isolate last asked for the pool's state (memory only: after a restart the pool counts as idle until the next request). */
  private lastTrafficAt: number | null = null;
  /** When the last round of checks ended in this incarnation. */
  private lastRoundAt: number | null = null;
  /** The alarm as last set or read (null: none armed). */
  private alarmAt: number | null = null;
  /** When the checks went idle (stored: the pause outlives a restart); phi does not count the pause against the upstreams. */
  private pausedAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    meterObject(this, ctx, "pool"); // billed usage: stub calls it makes, alarms, storage rows
    void ctx.blockConcurrencyWhile(async () => {
      const stored = (await ctx.storage.get<Stored>("config")) ?? null;
      // A config stored by an earlier version gets the fields added since, with their defaults.
      this.stored = stored === null ? null : { ...stored, config: upgradePoolConfig(stored.config) };
      this.health = (await ctx.storage.get<PoolHealth>("health")) ?? null;
      this.alarmAt = await ctx.storage.getAlarm();
      this.pausedAt = (await ctx.storage.get<number>("checksPausedAt")) ?? null;
    });
  }

  /** The health to judge by at `now`: during an idle spell, without the checker's own silence (see skipPause). */
  private healthAt(now: number): PoolHealth | null {
    return this.health !== null && this.pausedAt !== null ? skipPause(this.health, this.pausedAt, now) : this.health;
  }

  private cadence(intervalMs: number): CheckCadence {
    const lb = getConfig(this.env).lb;
    return { intervalMs, idleAfterMs: lb.activeCheckIdleAfterMs, idleIntervalMs: lb.idleCheckMs };
  }

  /** A request for the pool: it is in use, so checks run at its interval again (at once if they had stopped). */
  private noteTraffic(now: number): void {
    this.lastTrafficAt = now;
    if (this.pausedAt !== null) {
      // The idle spell ends: the pause is taken out of the phi detectors for good.
      this.health = this.healthAt(now);
      this.pausedAt = null;
      void this.ctx.storage.put("health", this.health).catch(() => undefined);
      void this.ctx.storage.delete("checksPausedAt").catch(() => undefined);
    }
    const hc = this.stored?.config.healthCheck;
    // A round in progress arms the next one itself when it ends, seeing this traffic.
    if (!hc || this.checking) return;
    const at = wakeRoundAt(this.lastRoundAt, now, this.cadence(hc.intervalMs));
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    // Not awaited (the callers answer synchronously); the output gate holds their answers until it is written.
    void this.ctx.storage.setAlarm(at).catch(() => void (this.alarmAt = null));
  }

  /** Creates or replaces the pool's configuration (already validated); health of unchanged upstreams is kept. */
  async configure(pool: string, config: PoolConfig): Promise<{ pool: string; version: number; config: PoolConfig }> {
    // Versions keep growing across a delete: isolates rebuild their picker only when it changes.
    const last = this.stored?.version ?? (await this.ctx.storage.get<number>("lastVersion")) ?? 0;
    const version = last + 1;
    this.stored = { pool, version, config };
    const paused = this.pausedAt !== null;
    this.health = this.health === null ? createPoolHealth(config) : reconcile(this.healthAt(Date.now())!, config);
    this.pausedAt = null;
    await this.ctx.storage.put({ config: this.stored, health: this.health });
    if (paused) await this.ctx.storage.delete("checksPausedAt");
    // A new or changed pool is checked at once, and counts as in use (its checks run for a while).
    this.lastTrafficAt = Date.now();
    this.alarmAt = config.healthCheck === null ? null : Date.now();
    if (this.alarmAt === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(this.alarmAt);
    return { pool, version, config };
  }

  getConfig(): { pool: string; version: number; config: PoolConfig } | null {
    return this.stored;
  }

  /** Deletes the pool and everything it learned; false if there was none. */
  async remove(): Promise<boolean> {
    if (this.stored === null) return false;
    const version = this.stored.version;
    this.stored = null;
    this.health = null;
    this.inFlight.clear();
    this.alarmAt = null;
    this.pausedAt = null;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.put("lastVersion", version);
    return true;
  }

  /** The pool's state for an isolate about to route with it (a request: it wakes the checks). */
  snapshot(): PoolSnapshot | null {
    if (this.stored !== null) this.noteTraffic(Date.now());
    return this.view();
  }

  private view(): PoolSnapshot | null {
    const s = this.stored;
    const h = this.health;
    if (s === null || h === null) return null;
    const now = Date.now();
    return { pool: s.pool, version: s.version, config: s.config, upstreams: viewOf(h, s.config, now), at: now };
  }

  /** Takes an isolate's batch of outcomes and its current in-flight counts; answers the fresh snapshot. */
  report(isolate: string, outcomes: Outcome[], inFlight: Record<string, number>): PoolSnapshot | null {
    const s = this.stored;
    if (s === null || this.health === null) return null;
    const now = Date.now();
    this.noteTraffic(now);
    this.inFlight.set(isolate, { counts: inFlight, at: now });
    for (const [id, e] of this.inFlight) if (now - e.at >= IN_FLIGHT_TTL_MS) this.inFlight.delete(id);
    if (outcomes.length > 0) {
      this.health = applyOutcomes(this.health, s.config, outcomes, now);
      void this.ctx.storage.put("health", this.health);
    }
    return this.view();
  }

  /** A half-open probe slot on `upstream`'s breaker (granted here only, so the limit holds across isolates). */
  probe(upstream: string): { allowed: boolean; snapshot: PoolSnapshot | null } {
    if (this.stored === null || this.health === null) return { allowed: false, snapshot: null };
    this.noteTraffic(Date.now());
    const r = acquireProbe(this.health, upstream, Date.now());
    this.health = r.health;
    void this.ctx.storage.put("health", this.health);
    return { allowed: r.allowed && r.probe, snapshot: this.view() };
  }

  status(): PoolStatus | null {
    const s = this.stored;
    const h = this.health;
    if (s === null || h === null) return null;
    const now = Date.now();
    const live = [...this.inFlight.values()].filter((e) => now - e.at < IN_FLIGHT_TTL_MS);
    const inFlight = (id: string) => live.reduce((n, e) => n + (Object.hasOwn(e.counts, id) ? (e.counts[id] ?? 0) : 0), 0);
    return { pool: s.pool, version: s.version, algorithm: s.config.algorithm, healthCheck: s.config.healthCheck, upstreams: statusOf(this.healthAt(now) ?? h, s.config, now, inFlight) };
  }

  /** Fault injection: crash this object as a deploy or a machine failure would (what is stored survives). */
  async crash(): Promise<void> {
    await this.ctx.storage.sync();
    this.ctx.abort("crashed on request");
  }

  /** Runs one round of active checks, then schedules the next while the pool is in use (or at the idle cadence). */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const s = this.stored;
    const hc = s?.config.healthCheck ?? null;
    if (s === null || hc === null || this.checking) return;
    this.checking = true;
    try {
      // At most CHECK_CONCURRENCY at a time: a Worker invocation has at most 6 connections waiting for
      // response headers and queues the rest, and a queued check's timeout would run out before it was sent.
      const results: (readonly [string, string, Awaited<ReturnType<typeof runCheck>>])[] = [];
      for (let i = 0; i < s.config.upstreams.length; i += CHECK_CONCURRENCY) {
        results.push(...(await Promise.all(s.config.upstreams.slice(i, i + CHECK_CONCURRENCY).map(async (u) => [u.id, u.url, await runCheck(u.url + hc.path, hc.timeoutMs, hc.expectedStatus)] as const))));
      }
      // Apply to the health as it is now (reports were applied while the checks ran); the pool may
      // have been reconfigured or deleted meanwhile: results for upstreams that are gone or now point
      // elsewhere are dropped.
      const current = this.stored;
      if (this.health !== null && current !== null) {
        const now = Date.now();
        if (this.pausedAt !== null) {
          // An idle round (LB_IDLE_CHECK_MS): the pause so far ends here, and a new one starts after it, so
          // an upstream that fails its idle checks is not made to look fresh by the whole pause on waking.
          this.health = skipPause(this.health, this.pausedAt, now);
          this.pausedAt = now;
          await this.ctx.storage.put("checksPausedAt", now);
        }
        for (const [id, url, r] of results) {
          if (current.config.upstreams.some((u) => u.id === id && u.url === url)) this.health = applyCheck(this.health, id, r, now);
        }
        await this.ctx.storage.put("health", this.health);
      }
    } finally {
      this.checking = false;
      // Rescheduled whatever happened above, so one failed write cannot stop the checks for good.
      const now = Date.now();
      this.lastRoundAt = now;
      const next = this.stored?.config.healthCheck;
      const at = next ? nextRoundAt(this.lastTrafficAt, now, this.cadence(next.intervalMs)) : null;
      if (next && this.pausedAt === null && !isActive(this.lastTrafficAt, now, this.cadence(next.intervalMs))) {
        // Going idle: from here on, silence is the checker's, not the upstreams'.
        this.pausedAt = now;
        await this.ctx.storage.put("checksPausedAt", now);
      }
      // A request during the round may have armed one already (it saw `checking` and left it to us).
      if (at !== null && (this.alarmAt === null || this.alarmAt > at)) {
        this.alarmAt = at;
        await this.ctx.storage.setAlarm(at);
      }
    }
  }
}

/** One HTTP check: passes on the expected status within the timeout. */
async function runCheck(url: string, timeoutMs: number, expectedStatus: number): Promise<CheckResult> {
  const started = Date.now();
  try {
    const res = await fetch(url, { method: "GET", redirect: "manual", signal: AbortSignal.timeout(timeoutMs), headers: { "User-Agent": "durable-cluster-health-check" } });
    // Drain the body so the connection can be reused; a check never needs it.
    await res.body?.cancel();
    const latencyMs = Date.now() - started;
    const ok = res.status === expectedStatus;
    return { ok, status: res.status, latencyMs, error: ok ? null : `status ${res.status}, expected ${expectedStatus}` };
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return { ok: false, status: null, latencyMs: null, error: timedOut ? `no answer within ${timeoutMs} ms` : errorText(err) };
  }
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
}
