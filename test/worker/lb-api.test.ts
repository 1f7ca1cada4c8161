import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { poolStub } from "../../durable-objects/upstream-pool";
import { ADMIN, call, eventually, json } from "./helpers";

// Nothing listens on these ports: connections are refused at once (a dead upstream).
const DEAD = ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"];

function putPool(name: string, body: unknown, headers: Record<string, string> = ADMIN): Promise<Response> {
  return call(`/admin/lb/pools/${name}`, { method: "PUT", headers: { ...headers, "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
}

interface ErrorJson {
  error: { code: string; message: string; details?: { field?: string } };
}

describe("load-balancer pools: admin API", () => {
  it("creates a pool with defaults filled in, reads it back, replaces it, deletes it", async () => {
    const res = await putPool("web", { algorithm: "weighted-round-robin", upstreams: [{ url: DEAD[0], weight: 2 }, { url: DEAD[1] }] });
    const body = await json<{ pool: string; version: number; config: { algorithm: string; upstreams: { id: string; weight: number }[]; retry: { attempts: number } } }>(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.pool).toBe("web");
    expect(body.version).toBe(1);
    expect(body.config.upstreams.map((u) => [u.id, u.weight])).toEqual([["u0", 2], ["u1", 1]]);
    expect(body.config.retry.attempts).toBe(3);

    const got = await call("/admin/lb/pools/web", { headers: ADMIN });
    expect(await json(got)).toEqual(body);
    const again = await json<{ version: number }>(await putPool("web", { upstreams: [{ url: DEAD[2] }] }));
    expect(again.version).toBe(2);

    const del = await call("/admin/lb/pools/web", { method: "DELETE", headers: ADMIN });
    expect(del.status).toBe(200);
    expect((await call("/admin/lb/pools/web", { headers: ADMIN })).status).toBe(404);
    expect((await call("/admin/lb/pools/web", { method: "DELETE", headers: ADMIN })).status).toBe(404);
    expect((await call("/lb/pools/web")).status).toBe(404);
    expect((await call("/lb/web/anything")).status).toBe(404);
  });

  it.each([
    ["a bad URL", { upstreams: [{ url: "not a url" }] }, "upstreams.0.url"],
    ["a non-HTTP URL", { upstreams: [{ url: "ftp://127.0.0.1/" }] }, "upstreams.0.url"],
    ["a weight of 0", { upstreams: [{ url: DEAD[0], weight: 0 }] }, "upstreams.0.weight"],
    ["a negative weight", { upstreams: [{ url: DEAD[0], weight: -1 }] }, "upstreams.0.weight"],
    ["an unknown algorithm", { algorithm: "fastest", upstreams: [{ url: DEAD[0] }] }, "algorithm"],
    ["an empty pool", { upstreams: [] }, "upstreams"],
    ["no upstreams at all", {}, "upstreams"],
    ["duplicate ids", { upstreams: [{ id: "x", url: DEAD[0] }, { id: "x", url: DEAD[1] }] }, "upstreams.1.id"],
    ["an unknown field", { upstreams: [{ url: DEAD[0] }], colour: "red" }, ""],
  ])("refuses %s with a 400 naming the field", async (_what, body, field) => {
    const res = await putPool("bad", body);
    const err = await json<ErrorJson>(res);
    expect(res.status, JSON.stringify(err)).toBe(400);
    expect(err.error.code).toBe("invalid_request");
    if (field !== "") expect(err.error.details?.field).toBe(field);
    expect((await call("/admin/lb/pools/bad", { headers: ADMIN })).status).toBe(404);
  });

  it("refuses a body that is not JSON, a bad pool name and the reserved name", async () => {
    expect((await putPool("bad", "{nope")).status).toBe(400);
    expect((await putPool("Bad!", { upstreams: [{ url: DEAD[0] }] })).status).toBe(400);
    expect((await putPool("pools", { upstreams: [{ url: DEAD[0] }] })).status).toBe(400);
  });

  it("needs the admin token", async () => {
    expect((await putPool("auth", { upstreams: [{ url: DEAD[0] }] }, {})).status).toBe(401);
    expect((await putPool("auth", { upstreams: [{ url: DEAD[0] }] }, { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await call("/admin/lb/pools/auth", { method: "DELETE" })).status).toBe(401);
  });

  it("garbage bodies never get a 5xx", async () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const samples: string[] = ["null", "[]", "1", '"x"', '{"upstreams":null}', '{"upstreams":[null]}', '{"upstreams":[{"url":1}]}', '{"upstreams":[{"url":"http://h"}],"retry":{"attempts":1e9}}', '{"upstreams":[{"url":"http://h"}],"breaker":{"openMs":-1}}', '{"upstreams":[{"url":"http://h"}],"healthCheck":{"intervalMs":10,"timeoutMs":100}}'];
    for (let i = 0; i < 30; i++) samples.push(String.fromCharCode(...Array.from({ length: 1 + Math.floor(rand() * 60) }, () => Math.floor(rand() * 128))));
    for (const body of samples) {
      const res = await putPool("fuzz", body);
      expect(res.status, body).toBeLessThan(500);
      expect(res.status, body).toBe(400);
    }
  });
});

describe("load-balancer pools: proxy and failure handling without a live upstream", () => {
  it("all upstreams refusing connections: a 503 JSON with Retry-After, quickly, never a hang", async () => {
    await putPool("dead", { upstreams: DEAD.map((url) => ({ url })), retry: { perTryTimeoutMs: 500, deadlineMs: 2000 } });
    const started = Date.now();
    const res = await call("/lb/dead/some/path?q=1");
    const body = await json<ErrorJson>(res);
    expect(res.status, JSON.stringify(body)).toBe(503);
    expect(body.error.code).toBe("no_upstream");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Within the 2 s deadline, plus room for a loaded machine's own delays: never a hang.
    expect(Date.now() - started).toBeLessThan(2000 + 2000);
    // Each of the three upstreams was tried once (attempts 3 by default).
    expect(res.headers.get("x-lb-attempts")).toBe("3");
  });

  it("a non-idempotent POST is tried once; the pool's status counts the connection error", async () => {
    await putPool("post", { upstreams: DEAD.map((url) => ({ url })), outlier: { consecutiveGatewayFailure: 100, consecutive5xx: 100 } });
    const res = await call("/lb/post/x", { method: "POST", body: "hello" });
    expect(res.headers.get("x-lb-attempts")).toBe("1");
    expect([502, 503]).toContain(res.status);
    // The outcome reaches the pool object (sent after the response).
    let total = 0;
    await eventually(async () => {
      const st = await json<{ upstreams: { counts: { connectErrors: number } }[] }>(await call("/lb/pools/post"));
      total = st.upstreams.reduce((n, u) => n + u.counts.connectErrors, 0);
      return total > 0;
    });
    expect(total).toBe(1);
  });

  it("a crashed pool object (ctx.abort) keeps its config and its open breakers", async () => {
    await putPool("crashy", { upstreams: [{ id: "only", url: DEAD[0] }], breaker: { consecutiveFailures: 1, openMs: 60_000 }, retry: { attempts: 1 } });
    await call("/lb/crashy/");
    const stub = poolStub(env, "crashy");
    await eventually(async () => (await stub.status())?.upstreams[0]?.breaker.status === "open");
    const crash = await call("/admin/lb/pools/crashy/crash", { method: "POST", headers: ADMIN });
    expect(crash.status).toBe(200);
    const st = await json<{ version: number; upstreams: { breaker: { status: string } }[] }>(await call("/lb/pools/crashy"));
    expect(st.version).toBe(1);
    expect(st.upstreams[0]?.breaker.status).toBe("open");
  });

  it("the alarm runs active checks: refused connections fail them and `fall` of them mark the upstream unhealthy", async () => {
    await putPool("checked", { upstreams: [{ id: "a", url: DEAD[0] }], healthCheck: { intervalMs: 60_000, timeoutMs: 500, fall: 2 } });
    const stub = poolStub(env, "checked");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    let st = (await stub.status())!;
    expect(st.upstreams[0]).toMatchObject({ health: "healthy", lastCheck: { ok: false, status: null } });
    expect(st.upstreams[0]?.lastCheck?.error).toBeTruthy();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    st = (await stub.status())!;
    expect(st.upstreams[0]).toMatchObject({ health: "unhealthy", available: false });
    const res = await call("/lb/checked/x");
    expect(res.status).toBe(503);
  });

  it("deleting a pool stops its alarm", async () => {
    await putPool("gone", { upstreams: [{ url: DEAD[0] }], healthCheck: { intervalMs: 60_000, timeoutMs: 100 } });
    await call("/admin/lb/pools/gone", { method: "DELETE", headers: ADMIN });
    expect(await runDurableObjectAlarm(poolStub(env, "gone"))).toBe(false);
  });
});
