import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { MetricsRegistry } from "../../src/core/metrics/registry";
import { recordRequests, statusClass, withoutPatterns } from "../../src/http/metrics-middleware";

describe("route labels of the request metrics", () => {
  it("drop a parameter's regular expression, nested quantifiers included", () => {
    expect(withoutPatterns("/cache/:key{.*}")).toBe("/cache/:key");
    expect(withoutPatterns("/redis/:command{.+}")).toBe("/redis/:command");
    expect(withoutPatterns("/a/:id{[0-9]{1,3}}/b")).toBe("/a/:id/b");
    expect(withoutPatterns("/lb/:pool/*")).toBe("/lb/:pool/*");
  });

  it("status classes", () => {
    expect([200, 204, 301, 404, 429, 503].map(statusClass)).toEqual(["2xx", "2xx", "3xx", "4xx", "4xx", "5xx"]);
    expect(statusClass(0)).toBe("other");
  });

  function appWithMetrics() {
    const r = new MetricsRegistry();
    const requests = r.counter("dc_http_requests_total", "r");
    const duration = r.histogram("dc_http_request_duration_seconds", "d");
    const app = new Hono();
    app.use(recordRequests(requests, duration));
    app.use("/items/*", async (c, next) => (c.req.header("authorization") ? next() : c.text("no", 401)));
    app.get("/items/stats", (c) => c.text("stats"));
    app.get("/items/:id", (c) => c.text(c.req.param("id")));
    app.all("/proxy/:pool/*", (c) => c.text("proxied"));
    app.get("/boom", () => {
      throw new Error("boom");
    });
    app.onError((_, c) => c.text("error", 500));
    return { app, requests, duration };
  }

  it("label a request with the pattern of the route that answered it, first match first", async () => {
    const { app, requests } = appWithMetrics();
    const auth = { headers: { authorization: "x" } };
    await app.request("/items/42", auth);
    await app.request("/items/43", auth);
    await app.request("/items/stats", auth);
    await app.request("/proxy/p1/a/b", { method: "POST" });
    expect(requests.value({ route: "/items/:id", method: "GET", status_class: "2xx" })).toBe(2);
    expect(requests.value({ route: "/items/stats", method: "GET", status_class: "2xx" })).toBe(1);
    // A handler registered for every method is a route, not a middleware.
    expect(requests.value({ route: "/proxy/:pool/*", method: "POST", status_class: "2xx" })).toBe(1);
  });

  it("count a request refused by its route's middleware under that route; no match is 'unmatched'", async () => {
    const { app, requests } = appWithMetrics();
    expect((await app.request("/items/42")).status).toBe(401);
    expect((await app.request("/elsewhere/raw-path")).status).toBe(404);
    expect((await app.request("/boom")).status).toBe(500);
    expect(requests.value({ route: "/items/:id", method: "GET", status_class: "4xx" })).toBe(1);
    expect(requests.value({ route: "unmatched", method: "GET", status_class: "4xx" })).toBe(1);
    expect(requests.value({ route: "/boom", method: "GET", status_class: "5xx" })).toBe(1);
  });

  it("methods outside the usual set share one label", async () => {
    const { app, requests } = appWithMetrics();
    await app.request("/elsewhere", { method: "PROPFIND" });
    expect(requests.value({ route: "unmatched", method: "OTHER", status_class: "4xx" })).toBe(1);
  });
});
