import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/prng";
import { ALL_SHARDS, call, eventually, getKey, putKey, replicasOf, setFault, shard, sleep } from "./helpers";

// Replay: change SEED. Printed on every run. The random choices replay exactly (each client and the
// nemesis draw from their own generator); how they interleave with real timers does not.
const SEED = 0xc4a05;
const KEYS = 10;
const OPS_PER_KEY = 30;

afterEach(async () => {
  for (const s of ALL_SHARDS) await setFault(s, "healthy");
});

describe("cache under random faults (at most one replica impaired at a time)", () => {
  it(`every read returns the last acknowledged value or one of the writes whose outcome was unknown (seed ${SEED})`, async () => {
    console.log(`cache-chaos seed=${SEED}`);
    const rand = mulberry32(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let running = true;
    const faults: string[] = [];

    // The nemesis: one shard down or slow (past the replica timeout) at a time, plus crashes of any shard.
    const nemesis = (async () => {
      let impaired: string | null = null;
      while (running) {
        const roll = rand();
        if (impaired !== null && roll < 0.4) {
          await setFault(impaired, "healthy");
          faults.push(`heal ${impaired}`);
          impaired = null;
        } else if (impaired === null && roll < 0.7) {
          impaired = pick(ALL_SHARDS);
          const mode = rand() < 0.5 ? "down" : "slow";
          await setFault(impaired, mode, 400);
          faults.push(`${mode} ${impaired}`);
        } else {
          const victim = pick(ALL_SHARDS);
          await shard(victim).crash().catch(() => undefined);
          faults.push(`crash ${victim}`);
        }
        await sleep(20 + rand() * 40);
      }
    })();

    // One sequential client per key, all keys at once. `possible` is what a read may return:
    // the last acknowledged write, plus any later write whose outcome was unknown (503).
    const violations: string[] = [];
    const stats = { ok: 0, unavailable: 0 };
    const clients = Array.from({ length: KEYS }, async (_, k) => {
      const key = `chaos-${k}`;
      const rand = mulberry32(SEED + 1 + k);
      let possible = new Set<string | null>([null]);
      for (let i = 0; i < OPS_PER_KEY; i++) {
        const roll = rand();
        if (roll < 0.45) {
          const value = `${key}-v${i}`;
          const res = await putKey(key, value);
          if (res.status === 200) possible = new Set([value]);
          else if (res.status === 503) possible.add(value);
          else violations.push(`${key}: PUT answered ${res.status}`);
          stats[res.status === 200 ? "ok" : "unavailable"]++;
        } else if (roll < 0.55) {
          const res = await call(`/cache/${key}`, { method: "DELETE" });
          if (res.status === 200) possible = new Set([null]);
          else if (res.status === 503) possible.add(null);
          else violations.push(`${key}: DELETE answered ${res.status}`);
          stats[res.status === 200 ? "ok" : "unavailable"]++;
        } else {
          const res = await getKey(key);
          const got = res.status === 200 ? await res.text() : res.status === 404 ? null : undefined;
          if (res.status === 503) stats.unavailable++;
          else if (got === undefined) violations.push(`${key}: GET answered ${res.status}`);
          else {
            stats.ok++;
            if (!possible.has(got)) violations.push(`${key}: read ${JSON.stringify(got)}, expected one of ${JSON.stringify([...possible])}`);
            // A read settles an unknown outcome only when it saw the newest acknowledged state.
          }
        }
      }
      return { key, possible };
    });
    const finals = await Promise.all(clients);
    running = false;
    await nemesis;
    for (const s of ALL_SHARDS) await setFault(s, "healthy");

    expect(violations, `seed ${SEED}; faults: ${faults.join(", ")}`).toEqual([]);
    expect(stats.ok).toBeGreaterThan(stats.unavailable);

    // Healed: hints and read repair bring every replica of every key to the same version.
    for (const { key, possible } of finals) {
      const res = await getKey(key, "?r=3");
      const got = res.status === 200 ? await res.text() : null;
      expect(possible.has(got), `${key} read ${got} at the end`).toBe(true);
      const replicas = await replicasOf(key);
      await eventually(async () => {
        for (const s of replicas) await runDurableObjectAlarm(shard(s));
        await getKey(key, "?r=3");
        const versions = await Promise.all(replicas.map(async (s) => (await shard(s).get(key)).version));
        return versions.every((v) => v === versions[0]);
      }, 10_000);
    }
  }, 60_000);
});
