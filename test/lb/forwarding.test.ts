// Issue 6, "Pools and proxying": what reaches the upstream is the client's request — method, path,
// query, headers, body — plus X-Forwarded-*, minus hop-by-hop headers (RFC 9110 §7.6.1: Connection and
// every header it names, Keep-Alive, Proxy-*, TE, Upgrade); what reaches the client is the upstream's
// answer plus X-Upstream and X-LB-Attempts.
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import type { Echo } from "../support/upstream-farm";
import { echoOf, setupLb } from "./harness";

const lb = setupLb(["a", "b"] as const);

/** A request with node:http, which (unlike fetch) lets a client send `Connection: x-foo`. */
function rawRequest(url: string, options: { method: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const params = (query: string) => [...new URLSearchParams(query).entries()];

describe("forwarding", () => {
  it("a POST arrives with its method, path, query, headers and body, X-Forwarded-* added and hop-by-hop headers stripped", async () => {
    const pool = lb.pool("fwd");
    await lb.putPool(pool, { upstreams: lb.upstreams("a"), forward: { authorization: true } });
    const body = JSON.stringify({ order: 42, note: "héllo 🌍" });
    const res = await rawRequest(`${lb.url}/lb/${pool}/submit/form?a=1&b=two%20words&tag=x&tag=y`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-custom": "hello",
        authorization: "Bearer end-to-end",
        connection: "x-foo",
        "x-foo": "hop-by-hop, named by Connection",
        "keep-alive": "timeout=5",
        "proxy-connection": "keep-alive",
        "proxy-authorization": "Basic c2VjcmV0OnNlY3JldA==",
        te: "trailers",
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("a");
    expect(res.headers["x-lb-attempts"]).toBe("1");
    const echo = JSON.parse(res.body) as Echo;
    expect(echo).toMatchObject({ upstream: "a", method: "POST", path: "/submit/form", body });
    expect(params(echo.query)).toEqual([["a", "1"], ["b", "two words"], ["tag", "x"], ["tag", "y"]]);
    const h = echo.headers;
    expect(h["content-type"]).toBe("application/json");
    expect(h["x-custom"]).toBe("hello");
    expect(h.authorization).toBe("Bearer end-to-end"); // end-to-end headers pass untouched (Authorization: the pool forwards it)
    expect(h.host).toBe(new URL(lb.up.a.url).host);
    expect(String(h["x-forwarded-for"]).split(/,\s*/).at(-1)).toBe("127.0.0.1");
    expect(h["x-forwarded-proto"]).toBe("http");
    expect(h["x-forwarded-host"]).toBe(new URL(lb.url).host);
    for (const hop of ["x-foo", "keep-alive", "proxy-connection", "proxy-authorization", "te"]) expect(h[hop], hop).toBeUndefined();
    expect(String(h.connection ?? "")).not.toContain("x-foo");
  });

  it("GET, PUT, PATCH and DELETE keep their method; the upstream's status comes back as is", async () => {
    const pool = lb.pool("methods");
    await lb.putPool(pool, { upstreams: lb.upstreams("a") });
    for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
      const hit = await lb.hit(pool, "thing/1", method === "GET" || method === "DELETE" ? { method } : { method, body: "v" });
      expect(hit.status).toBe(200);
      expect(echoOf(hit).method).toBe(method);
    }
    await lb.up.a.set({ status: 404 });
    const missing = await lb.hit(pool, "thing/2");
    expect(missing.status).toBe(404);
    expect(missing.upstream).toBe("a");
    expect(missing.attempts).toBe(1);
  });

  it("an upstream URL with a base path: the rest of the path is appended to it", async () => {
    const pool = lb.pool("base-path");
    await lb.putPool(pool, { upstreams: [{ id: "a", url: `${lb.up.a.url}/base/v1` }] });
    const hit = await lb.hit(pool, "items/7?x=1");
    expect(hit.status).toBe(200);
    expect(echoOf(hit)).toMatchObject({ path: "/base/v1/items/7", query: "x=1" });
  });

  it("percent-encoded path segments are passed on as sent, not decoded", async () => {
    const pool = lb.pool("encoded");
    await lb.putPool(pool, { upstreams: lb.upstreams("a") });
    const hit = await lb.hit(pool, "files/a%2Fb/c%20d");
    expect(hit.status).toBe(200);
    expect(echoOf(hit).path).toBe("/files/a%2Fb/c%20d");
  });

  it("a 1 MB request body is streamed through whole", async () => {
    const pool = lb.pool("big-body");
    await lb.putPool(pool, { upstreams: lb.upstreams("a") });
    const body = "abcdefghij".repeat(100_000);
    const hit = await lb.hit(pool, "upload", { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
    expect(hit.status).toBe(200);
    const echo = echoOf(hit);
    expect(echo.body.length).toBe(body.length);
    expect(echo.body === body).toBe(true);
  });

  it("the response body and content type of the upstream reach the client", async () => {
    const pool = lb.pool("response");
    await lb.putPool(pool, { upstreams: lb.upstreams("b") });
    const res = await lb.proxy(pool, "r");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-upstream")).toBe("b");
    expect(((await res.json()) as Echo).upstream).toBe("b");
  });
});
