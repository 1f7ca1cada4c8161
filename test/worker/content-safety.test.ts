import { describe, expect, it } from "vitest";
import { ADMIN, call, replicasOf } from "./helpers";

// Issue 16, item 4: content is never active on the dashboard's origin. Stored values come back with
// nosniff (and a sandbox for types a browser renders as a document); the dashboard and /docs carry a
// strict CSP, frame protection and nosniff; /docs serves Swagger UI from the package, not a CDN.

const put = (key: string, body: string, type: string) => call(`/cache/${key}`, { method: "PUT", headers: { "content-type": type }, body });

/** A CSP header as a map of directive -> sources. */
function directives(csp: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (csp ?? "").split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out.set(name, sources);
  }
  return out;
}

function expectStrictPage(res: Response): Map<string, string[]> {
  const csp = directives(res.headers.get("content-security-policy"));
  expect(csp.get("default-src")).toEqual(["'none'"]);
  expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
  expect(csp.get("base-uri")).toEqual(["'none'"]);
  expect(csp.get("form-action")).toEqual(["'none'"]);
  for (const d of ["script-src", "style-src", "connect-src", "img-src"]) {
    // Only this origin (plus a nonce, and data: images): never a host, a scheme wildcard or 'unsafe-*'.
    for (const src of csp.get(d) ?? []) expect(src, `${d} ${src}`).toMatch(/^('self'|'nonce-[A-Za-z0-9+/=]+'|data:)$/);
  }
  // Scripts and styles need the nonce: 'self' would admit a cache value stored as text/javascript or an
  // upstream's script through /lb, which a markup injection could load (found in review).
  for (const d of ["script-src", "style-src"]) expect(csp.get(d)?.every((src) => src.startsWith("'nonce-")), d).toBe(true);
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  return csp;
}

describe("stored content is inert on the dashboard's origin", () => {
  for (const type of ["text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml", "text/xml"]) {
    it(`a cache value stored as ${type} comes back with nosniff and a CSP sandbox (GET and HEAD)`, async () => {
      const key = `active-${type.split(/[/;]/)[1]}`;
      expect((await put(key, `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(sessionStorage.adminToken)</script></svg>`, type)).status).toBe(200);
      for (const method of ["GET", "HEAD"]) {
        const res = await call(`/cache/${key}`, { method });
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe(type);
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("content-security-policy")).toBe("sandbox");
      }
    });
  }

  for (const type of ["text/plain; charset=utf-8", "application/json", "application/octet-stream", "image/png"]) {
    it(`a cache value stored as ${type} comes back with nosniff and no sandbox`, async () => {
      const key = `inert-${type.split(/[/;]/)[1]}`;
      expect((await put(key, "{}", type)).status).toBe(200);
      const res = await call(`/cache/${key}`);
      expect(new TextDecoder().decode(await res.arrayBuffer())).toBe("{}");
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("content-security-policy")).toBeNull();
    });
  }

  it("a value whose stored type a browser would have to guess is sandboxed", async () => {
    expect((await put("garbled-type", "<script>1</script>", "text/html, text/plain")).status).toBe(200);
    const res = await call("/cache/garbled-type");
    await res.arrayBuffer();
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe("sandbox");
  });

  it("a replica's raw value read through the admin route gets the same headers", async () => {
    expect((await put("replica-html", "<script>1</script>", "text/html")).status).toBe(200);
    const [shard] = await replicasOf("replica-html");
    const res = await call(`/admin/cache/shards/${shard}/keys/replica-html`, { headers: ADMIN });
    expect(await res.text()).toBe("<script>1</script>");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe("sandbox");
  });

  it("API answers (JSON, errors, text) carry nosniff", async () => {
    for (const path of ["/healthz", "/cache/ring", "/cache/no-such-key", "/no-such-route", "/openapi.json"]) {
      const res = await call(path);
      await res.arrayBuffer();
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
  });
});

describe("the dashboard and /docs send a strict CSP", () => {
  it("GET / has a nonce-only CSP that its inline script and style carry, a fresh nonce per response, and frame protection", async () => {
    const first = await call("/");
    const page = await first.text();
    expect(first.status).toBe(200);
    const csp = expectStrictPage(first);
    const nonce = (csp.get("script-src") ?? []).find((s) => s.startsWith("'nonce-"))!.slice(7, -1);
    expect(csp.get("style-src")).toContain(`'nonce-${nonce}'`);
    expect(page).toContain(`<script nonce="${nonce}">`);
    expect(page).toContain(`<style nonce="${nonce}">`);
    // Every inline script and style carries it; none is without.
    // (Counted by splitting: a base64 nonce may hold "+" or "/", which a RegExp would read as syntax.)
    expect(page.split("<script").length).toBe(page.split(`<script nonce="${nonce}"`).length);
    expect(page.match(/<style/g)?.length).toBe(1);
    const second = await call("/");
    await second.arrayBuffer();
    expect(second.headers.get("content-security-policy")).not.toContain(nonce);
  });

  it("the dashboard's script keeps no token in web storage", async () => {
    const page = await (await call("/")).text();
    expect(page).not.toMatch(/sessionStorage|localStorage/);
  });

  it("GET /dashboard/fragment carries the same headers", async () => {
    const res = await call("/dashboard/fragment");
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    expectStrictPage(res);
  });

  it("GET /docs is Swagger UI from this origin: strict CSP, no URL of another host", async () => {
    const res = await call("/docs");
    const page = await res.text();
    expect(res.status).toBe(200);
    const csp = expectStrictPage(res);
    const nonce = (csp.get("script-src") ?? []).find((s) => s.startsWith("'nonce-"))!.slice(7, -1);
    expect(page).toContain(`<script nonce="${nonce}">`);
    expect(page).not.toMatch(/https?:\/\//);
    const bundle = page.match(/src="(\/docs\/swagger-ui-bundle\.js\?v=[a-z0-9]+)"/)?.[1];
    const css = page.match(/href="(\/docs\/swagger-ui\.css\?v=[a-z0-9]+)"/)?.[1];
    expect(bundle).toBeDefined();
    expect(css).toBeDefined();
  });

  it("GET /docs/swagger-ui-bundle.js and swagger-ui.css are served from the package, typed, cacheable for a year", async () => {
    const page = await (await call("/docs")).text();
    const bundle = page.match(/src="(\/docs\/swagger-ui-bundle\.js[^"]*)"/)![1]!;
    const css = page.match(/href="(\/docs\/swagger-ui\.css[^"]*)"/)![1]!;
    const js = await call(bundle);
    const jsText = await js.text();
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    expect(jsText.length).toBeGreaterThan(500_000);
    expect(jsText).toContain("SwaggerUIBundle");
    const style = await call(css);
    const cssText = await style.text();
    expect(style.status).toBe(200);
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(style.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(cssText).toContain(".swagger-ui");
  });
});
