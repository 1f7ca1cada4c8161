// A pool changed under an isolate that has it cached: by another isolate between two tries of one
// request, or deleted and re-created. (Both once went wrong: a 500, and a stale picker.)
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { poolStub } from "../../durable-objects/upstream-pool";
import { normalizePoolConfig } from "../../src/core/balancer/pool-config";
import { install } from "../../src/services/lb-state";
import { ADMIN, call, sleep } from "./helpers";

const DEAD = ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"];
const QUIET = { outlier: { consecutiveGatewayFailure: 1000, consecutive5xx: 1000 }, breaker: { consecutiveFailures: 1000, minimumRequests: 100000 } };

describe("a pool reconfigured under a cached copy", () => {
  it("a snapshot refresh that lands between two tries of one request (new upstream ids) is not a 500", async () => {
    let fivexx = 0;
    for (let round = 0; round < 5; round++) {
      const pool = `recfg${round}`;
      const put = await call(`/admin/lb/pools/${pool}`, { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ upstreams: DEAD.map((url, i) => ({ id: `a${i}`, url })), ...QUIET }) });
      expect(put.status).toBe(200);
      await (await call(`/lb/${pool}/x`)).arrayBuffer(); // caches the entry in this isolate
      // Another isolate's admin PUT (no forget() here): same URLs, new ids.
      await poolStub(env, pool).configure(pool, normalizePoolConfig({ upstreams: DEAD.map((url, i) => ({ id: `b${i}`, url })), ...QUIET }));
      await sleep(1100); // > LB_STATE_TTL_MS: the next request refreshes in the background while it tries
      const res = await call(`/lb/${pool}/x`);
      const text = await res.text();
      if (res.status >= 500 && res.status !== 502 && res.status !== 503 && res.status !== 504) fivexx++;
      expect(text.length).toBeGreaterThan(0);
    }
    expect(fivexx).toBe(0);
  }, 30_000);

  it("a pool deleted and re-created with another algorithm gets a new picker in an isolate that cached the old one", async () => {
    const stub = poolStub(env, "vcoll");
    await stub.configure("vcoll", normalizePoolConfig({ algorithm: "round-robin", upstreams: [{ url: DEAD[0] }] }));
    install("vcoll", (await stub.snapshot())!, Date.now());
    await stub.remove();
    await stub.configure("vcoll", normalizePoolConfig({ algorithm: "consistent-hash", affinity: { header: "x-user" }, upstreams: [{ url: DEAD[0] }, { url: DEAD[1] }] }));
    const snap = (await stub.snapshot())!;
    const e = install("vcoll", snap, Date.now());
    expect(snap.version).toBe(2); // versions keep growing across the delete
    expect(e.picker.algorithm).toBe("consistent-hash");
  });
});
