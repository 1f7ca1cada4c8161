// Issue 16: the load balancer is safe by default. A pool cannot be taken down by the answers to
// client-chosen URLs (item 3); the proxy forwards what a careful reverse proxy forwards (item 5);
// proxied content is inert on the dashboard's origin (item 4). Real upstreams on 127.0.0.1 whose
// answers depend on the path (the shared farm answers every path alike), the worker under Miniflare.
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eventually, setupLb, sleep, STATE_TTL_MS } from "./harness";

const lb = setupLb(["a"] as const);

/** What a path-aware upstream saw and did. */
interface PathUpstream {
  id: string;
  url: string;
  /** Status the failing path (/fail...) answers. */
  failStatus: number;
  /** Sick: every path answers 503. */
  sick: boolean;
  /** The headers of the last request, by path. */
  seen: Map<string, IncomingHttpHeaders>;
  /** The bytes of the last /enc answer. */
  lastEncoded: Buffer | null;
  requests: number;
  server: Server;
}

/** An upstream: /fail* answers failStatus, /html an HTML page with a cookie, /enc a body gzip'd when asked, anything else 200. */
async function startPathUpstream(id: string): Promise<PathUpstream> {
  const u: PathUpstream = { id, url: "", failStatus: 500, sick: false, seen: new Map(), lastEncoded: null, requests: 0, server: createServer() };
  u.server.on("request", (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    u.requests++;
    u.seen.set(path, req.headers);
    req.resume();
    req.on("end", () => {
      if (u.sick) return void res.writeHead(503).end("sick");
      if (path.startsWith("/fail")) return void res.writeHead(u.failStatus, { "content-type": "application/json" }).end('{"error":"broken path"}');
      if (path === "/html") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "set-cookie": "sid=from-upstream; Path=/" });
        return void res.end("<script>alert(sessionStorage.getItem('adminToken'))</script>");
      }
      if (path === "/enc") {
        const text = JSON.stringify({ upstream: id, pad: "x".repeat(2000) });
        if (/\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""))) {
          u.lastEncoded = gzipSync(text);
          return void res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip", vary: "accept-encoding" }).end(u.lastEncoded);
        }
        u.lastEncoded = Buffer.from(text);
        return void res.writeHead(200, { "content-type": "application/json", vary: "accept-encoding" }).end(u.lastEncoded);
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ upstream: id, path }));
    });
  });
  u.server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => u.server.listen(0, "127.0.0.1", r));
  u.url = `http://127.0.0.1:${(u.server.address() as AddressInfo).port}`;
  return u;
}

/** A request with node:http: the path goes as written (fetch would resolve %2e%2e) and no header is added or decoded. */
function raw(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

let ups: PathUpstream[] = [];
beforeAll(async () => {
  ups = await Promise.all(["p0", "p1", "p2"].map(startPathUpstream));
});
afterAll(async () => {
  await Promise.all(ups.map((u) => new Promise<void>((r) => {
    u.server.close(() => r());
    u.server.closeAllConnections();
  })));
});
beforeEach(() => {
  for (const u of ups) {
    u.failStatus = 500;
    u.sick = false;
    u.seen.clear();
    u.lastEncoded = null;
    u.requests = 0;
  }
});

const pathPool = () => ({ upstreams: ups.map((u) => ({ id: u.id, url: u.url })) });

describe("issue 16, item 3: a pool cannot be taken down from outside", () => {
  it.each([[500], [503]])(
    "100 anonymous requests to a path answering %i on every upstream of a 3-upstream pool: its healthy paths keep answering 200, nothing is ejected or broken",
    async (failStatus) => {
      for (const u of ups) u.failStatus = failStatus;
      const pool = lb.pool("takedown");
      await lb.putPool(pool, pathPool());
      const healthy: number[] = [];
      for (let i = 0; i < 100; i++) {
        const bad = await lb.proxy(pool, "fail");
        expect(bad.status).toBe(failStatus);
        await bad.arrayBuffer();
        if (i % 10 === 9) healthy.push((await lb.hit(pool, `ok/${i}`)).status);
      }
      // The isolate's copy refreshes from the object (which judged every report) within the TTL.
      await sleep(3 * STATE_TTL_MS);
      for (let i = 0; i < 20; i++) healthy.push((await lb.hit(pool, `ok/after/${i}`)).status);
      expect(healthy).toEqual(healthy.map(() => 200));
      const status = await lb.status(pool);
      expect(status.upstreams.map((u) => [u.id, u.ejected, u.breaker.status, u.available])).toEqual(ups.map((u) => [u.id, false, "closed", true]));
    },
  );

  it("an upstream that fails on a path that works on its peers is still ejected (path-blame keeps real outliers visible)", async () => {
    const pool = lb.pool("outlier");
    await lb.putPool(pool, { ...pathPool(), outlier: { consecutiveGatewayFailure: 3, baseEjectionMs: 60_000 }, breaker: { consecutiveFailures: 100, minimumRequests: 10_000 } });
    // p0 answers 503 on every path; a GET it fails is retried on p1 or p2, where the same path works.
    ups[0]!.sick = true;
    for (let i = 0; i < 30; i++) expect((await lb.hit(pool, "ok")).status).toBe(200);
    await eventually("p0 is ejected", async () => (await lb.upstreamStatus(pool, "p0")).ejected);
    const others = (await lb.status(pool)).upstreams.filter((u) => u.id !== "p0");
    expect(others.every((u) => !u.ejected && u.available)).toBe(true);
  });
});

describe("panic threshold (Envoy healthy_panic_threshold)", () => {
  it.each([[50, true], [0, false]])(
    "healthyPanicThreshold %i: with two of three breakers open (1 of 3 available), the broken upstreams get traffic again: %s",
    async (threshold, panic) => {
      const pool = lb.pool("panic");
      await lb.putPool(pool, {
        ...pathPool(),
        healthyPanicThreshold: threshold,
        breaker: { consecutiveFailures: 3, openMs: 60_000, minimumRequests: 10_000 },
        outlier: { consecutive5xx: 100, consecutiveGatewayFailure: 100 },
      });
      ups[0]!.sick = true;
      ups[1]!.sick = true;
      await eventually("p0's and p1's breakers are open", async () => {
        await lb.hit(pool, "ok");
        const st = await lb.status(pool);
        return ["p0", "p1"].every((id) => st.upstreams.find((u) => u.id === id)?.breaker.status === "open");
      });
      await sleep(3 * STATE_TTL_MS);
      for (const u of ups) u.requests = 0;
      const hits = [];
      for (let i = 0; i < 20; i++) hits.push(await lb.hit(pool, "ok"));
      expect(ups[0]!.requests + ups[1]!.requests > 0).toBe(panic);
      // Without panic every request goes to p2 alone; in panic the sick ones are tried first, retried on p2.
      if (!panic) expect(hits.every((h) => h.status === 200 && h.upstream === "p2")).toBe(true);
    },
  );
});

describe("issue 16, item 5: what the proxy forwards", () => {
  it("the client's Authorization and Cookie are not forwarded by default; with forward set they are", async () => {
    const pool = lb.pool("creds");
    await lb.putPool(pool, { upstreams: [{ id: "p0", url: ups[0]!.url }] });
    await raw(`${lb.url}/lb/${pool}/who`, { authorization: "Bearer test-admin-token", cookie: "session=abc" });
    expect(ups[0]!.seen.get("/who")?.authorization).toBeUndefined();
    expect(ups[0]!.seen.get("/who")?.cookie).toBeUndefined();
    await lb.putPool(pool, { upstreams: [{ id: "p0", url: ups[0]!.url }], forward: { authorization: true, cookie: true } });
    await raw(`${lb.url}/lb/${pool}/who`, { authorization: "Bearer app-token", cookie: "session=abc" });
    expect(ups[0]!.seen.get("/who")).toMatchObject({ authorization: "Bearer app-token", cookie: "session=abc" });
  });

  it("headers named in Connection and HTTP2-Settings are not forwarded", async () => {
    const pool = lb.pool("hop");
    await lb.putPool(pool, { upstreams: [{ id: "p0", url: ups[0]!.url }] });
    await raw(`${lb.url}/lb/${pool}/hop`, { connection: "x-secret", "x-secret": "1", "http2-settings": "AAMAAABkAAQAAP__", "x-kept": "2" });
    const seen = ups[0]!.seen.get("/hop");
    expect(seen?.["x-secret"]).toBeUndefined();
    expect(seen?.["http2-settings"]).toBeUndefined();
    expect(seen?.["x-kept"]).toBe("2");
  });

  it("Accept-Encoding passes as the client sent it: no Content-Encoding for a client that sent none, the upstream's own gzip bytes for one that asked", async () => {
    const pool = lb.pool("encoding");
    await lb.putPool(pool, { upstreams: [{ id: "p0", url: ups[0]!.url }] });
    const plain = await raw(`${lb.url}/lb/${pool}/enc`);
    expect(ups[0]!.seen.get("/enc")?.["accept-encoding"]).toBeUndefined();
    expect(plain.status).toBe(200);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(JSON.parse(plain.body.toString("utf8"))).toMatchObject({ upstream: "p0" });

    const gz = await raw(`${lb.url}/lb/${pool}/enc`, { "accept-encoding": "gzip" });
    expect(ups[0]!.seen.get("/enc")?.["accept-encoding"]).toBe("gzip");
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.body.equals(ups[0]!.lastEncoded ?? Buffer.alloc(0))).toBe(true);
  });

  it.each([["..%2f..%2fadmin"], ["%5c..%5cadmin"], ["a/..%2F..%2F..%2Fsecret"], ["%252e%252e/admin"]])(
    "a path with dot segments after percent-decoding (%s) is refused with 400 and reaches no upstream",
    async (rest) => {
      const pool = lb.pool("dots");
      await lb.putPool(pool, { upstreams: [{ id: "p0", url: `${ups[0]!.url}/base` }] });
      const res = await raw(`${lb.url}/lb/${pool}/${rest}`);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body.toString("utf8"))).toMatchObject({ error: { code: "invalid_path" } });
      expect(ups[0]!.requests).toBe(0);
    },
  );
});

describe("issue 16, item 4 (/lb half): proxied content is inert on this origin", () => {
  it("upstream HTML comes with nosniff and CSP sandbox, and its Set-Cookie is dropped unless the pool allows it", async () => {
    const pool = lb.pool("html");
    await lb.putPool(pool, { upstreams: [{ id: "p0", url: ups[0]!.url }] });
    const res = await raw(`${lb.url}/lb/${pool}/html`);
    expect(res.status).toBe(200);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["content-security-policy"]).toBe("sandbox");
    expect(res.headers["set-cookie"]).toBeUndefined();
    const json = await raw(`${lb.url}/lb/${pool}/x`);
    expect(json.headers["x-content-type-options"]).toBe("nosniff");
    expect(json.headers["content-security-policy"]).toBeUndefined();

    await lb.putPool(pool, { upstreams: [{ id: "p0", url: ups[0]!.url }], forward: { setCookie: true } });
    expect((await raw(`${lb.url}/lb/${pool}/html`)).headers["set-cookie"]).toEqual(["sid=from-upstream; Path=/"]);
  });
});
