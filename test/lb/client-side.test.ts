// What the client does wrong is not held against the upstream: slow or abandoned uploads, odd spellings
// of the pool in the path. (Each of these once opened a healthy upstream's breaker or cut the path.)
import http from "node:http";
import { describe, expect, it } from "vitest";
import { setupLb, sleep, type Echo } from "./harness";

const h = setupLb(["a", "b"] as const);
const QUIET_OUTLIER = { consecutive5xx: 1000, consecutiveGatewayFailure: 1000 };

describe("the client's side of a proxied request", () => {
  it("a client that uploads slowly (chunked) does not count as an upstream timeout nor open its breaker", async () => {
    const name = h.pool("upload");
    await h.putPool(name, { upstreams: h.upstreams("a"), retry: { perTryTimeoutMs: 300, deadlineMs: 2000 }, breaker: { consecutiveFailures: 2, openMs: 30_000 }, outlier: QUIET_OUTLIER });
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(ctl) {
          await sleep(150);
          if (n++ < 4) ctl.enqueue(new TextEncoder().encode(`chunk${n};`));
          else ctl.close();
        },
      });
      const res = await h.proxy(name, "upload", { method: "PUT", body, duplex: "half" } as RequestInit);
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    await sleep(300);
    const st = await h.upstreamStatus(name, "a");
    const after = await h.hit(name, "x");
    expect(statuses).toEqual([200, 200]);
    expect(st.counts.timeouts).toBe(0);
    expect(st.breaker.status).toBe("closed");
    expect(after.status).toBe(200);
  });

  it("a percent-encoded pool name does not cut the forwarded path", async () => {
    const name = h.pool("enc");
    await h.putPool(name, { upstreams: h.upstreams("a") });
    const encoded = `%${name.charCodeAt(0).toString(16)}${name.slice(1)}`;
    const res = await fetch(`${h.url}/lb/${encoded}/hello/world`);
    const echo = (await res.json()) as Echo;
    expect(echo.path).toBe("/hello/world");
  });

  it("a client that drops its chunked upload midway is not counted against the upstream", async () => {
    const name = h.pool("drop");
    await h.putPool(name, { upstreams: h.upstreams("a"), breaker: { consecutiveFailures: 2, openMs: 30_000 }, outlier: QUIET_OUTLIER });
    const u = new URL(`${h.url}/lb/${name}/up`);
    for (let i = 0; i < 2; i++) {
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "transfer-encoding": "chunked" } });
      req.on("error", () => undefined);
      req.write("part1;");
      await sleep(200);
      req.destroy();
      await sleep(300);
    }
    await sleep(300);
    const st = await h.upstreamStatus(name, "a");
    const after = await h.hit(name, "x");
    expect(st.counts.failures).toBe(0);
    expect(st.breaker.status).toBe("closed");
    expect(after.status).toBe(200);
  });

});
