import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import app from "../../src/index";
import { tokensEqual } from "../../src/http/auth";
import { ADMIN, BASE, call, json } from "./helpers";

// The error model of DESIGN.md "HTTP conventions": every error is `{"error": {"code", "message"}}`
// with the matching status, never a stack trace, never a 5xx for bad input.

interface ErrorShape {
  error: { code: string; message: string; details?: unknown };
}

const JSON_CT = { "content-type": "application/json" };
const MiB = 1024 * 1024;

/** Asserts the error model on one response and returns its body. */
async function expectError(res: Response, status: number, code?: string): Promise<ErrorShape> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.headers.get("x-request-id")).toBeTruthy();
  expectNoStackTrace(text);
  const body = JSON.parse(text) as ErrorShape;
  expect(typeof body.error.code).toBe("string");
  expect(typeof body.error.message).toBe("string");
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body;
}

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s*at\s/m);
  expect(text).not.toMatch(/\bat\s+\S+\s+\(?\S+:\d+:\d+\)?/);
  expect(text).not.toContain("Error:");
}

const postJson = (path: string, body: string, headers: Record<string, string> = JSON_CT) =>
  call(path, { method: "POST", headers, body });

/** A key of exactly `bytes` UTF-8 bytes, built from 2-byte characters (plus one ASCII byte when odd). */
const multibyteKey = (bytes: number) => "é".repeat(Math.floor(bytes / 2)) + (bytes % 2 ? "a" : "");

describe("malformed and invalid JSON bodies", () => {
  it("a body that is not JSON is a 400 malformed_json", async () => {
    for (const path of ["/cache/batch/get", "/cache/batch/set"]) {
      await expectError(await postJson(path, '{"keys": ['), 400, "malformed_json");
    }
    await expectError(await postJson("/admin/cache/shards/shard-0/fault", "{mode: down}", { ...ADMIN, ...JSON_CT }), 400, "malformed_json");
  });

  it.each([
    ["keys is not an array", "/cache/batch/get", { keys: "a" }, "json.keys"],
    ["101 keys (limit 100)", "/cache/batch/get", { keys: Array.from({ length: 101 }, (_, i) => `k${i}`) }, "json.keys"],
    ["no keys at all", "/cache/batch/get", { keys: [] }, "json.keys"],
    ["keys missing", "/cache/batch/get", { key: ["a"] }, "json.keys"],
    ["a key that is not a string", "/cache/batch/get", { keys: ["a", 7] }, "json.keys.1"],
    ["a negative ttl", "/cache/batch/set", { entries: [{ key: "a", value: "b", ttl: -1 }] }, "json.entries.0.ttl"],
    ["a fractional ttl", "/cache/batch/set", { entries: [{ key: "a", value: "b", ttl: 1.5 }] }, "json.entries.0.ttl"],
    ["an unknown encoding", "/cache/batch/set", { entries: [{ key: "a", value: "b", encoding: "hex" }] }, "json.entries.0.encoding"],
    ["a value that is not a string", "/cache/batch/set", { entries: [{ key: "a", value: 1 }] }, "json.entries.0.value"],
  ])("a schema violation (%s) is a 400 naming the field", async (_name, path, body, field) => {
    const err = await expectError(await postJson(path, JSON.stringify(body)), 400, "invalid_request");
    expect(err.error.message.startsWith(`${field}:`), err.error.message).toBe(true);
  });

  it("an invalid fault mode names the field", async () => {
    const res = await postJson("/admin/cache/shards/shard-0/fault", JSON.stringify({ mode: "on-fire" }), { ...ADMIN, ...JSON_CT });
    expect((await expectError(res, 400, "invalid_request")).error.message).toMatch(/^json\.mode:/);
  });

  it.each([
    ["PUT ttl=-5", "/cache/k?ttl=-5", "PUT", "ttl"],
    ["PUT ttl=abc", "/cache/k?ttl=abc", "PUT", "ttl"],
    ["PUT w=0", "/cache/k?w=0", "PUT", "w"],
    ["GET r=banana", "/cache/k?r=banana", "GET", "r"],
    ["GET r above N", "/cache/k?r=7", "GET", "N"],
    ["batch get r=0", "/cache/batch/get?r=0", "POST", "r"],
  ])("a bad query parameter (%s) is a 400 naming it", async (_name, path, method, field) => {
    const init: RequestInit = method === "GET" ? {} : { method, body: method === "POST" ? '{"keys":["a"]}' : "v", headers: JSON_CT };
    const err = await expectError(await call(path, init), 400);
    expect(err.error.message).toContain(field);
  });

  it("a bad x-cache-ttl-ms header is a 400", async () => {
    const err = await expectError(await call("/cache/k", { method: "PUT", body: "v", headers: { "x-cache-ttl-ms": "-1" } }), 400);
    expect(err.error.message).toContain("ttl");
  });

  it.each([
    ["text/plain"],
    ["application/x-www-form-urlencoded"],
    ["multipart/form-data; boundary=xyz"],
    ["application/xml"],
    [null],
  ])("a JSON route answers content type %s with a 4xx", async (contentType) => {
    const headers: Record<string, string> = contentType === null ? {} : { "content-type": contentType };
    const res = await call("/cache/batch/get", { method: "POST", headers, body: '{"keys":["a"]}' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    await expectError(res, res.status);
  });
});

describe("routing errors", () => {
  it.each(["/nope", "/cache", "/healthz/extra", "/administrator", "/openapi.yaml"])("unknown route %s is a 404 JSON", async (path) => {
    await expectError(await call(path), 404, "not_found");
  });

  it.each([
    ["POST", "/cache/somekey", ["GET", "PUT", "DELETE"]],
    ["PATCH", "/cache/somekey", ["GET", "PUT", "DELETE"]],
    ["DELETE", "/healthz", ["GET"]],
    ["POST", "/healthz", ["GET"]],
    ["PUT", "/openapi.json", ["GET"]],
    ["POST", "/cache/", ["GET", "PUT", "DELETE"]],
  ])("%s %s is a 405 with an Allow header", async (method, path, allowed) => {
    const res = await call(path, { method });
    const allow = res.headers.get("allow") ?? "";
    await expectError(res, 405, "method_not_allowed");
    for (const m of allowed) expect(allow.split(/,\s*/)).toContain(m);
    expect(allow.split(/,\s*/)).not.toContain(method);
  });
});

describe("body limits", () => {
  it("a value of 1 MiB + 1 byte is a 413", async () => {
    await expectError(await call("/cache/k", { method: "PUT", body: new Uint8Array(MiB + 1) }), 413, "payload_too_large");
  });

  it("a value of exactly 1 MiB is accepted", async () => {
    const res = await call("/cache/one-mib", { method: "PUT", body: new Uint8Array(MiB) });
    expect(res.status, await res.clone().text()).toBe(200);
  });

  it("a streamed value without content-length is cut off at 1 MiB + 1 byte with a 413", async () => {
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent > MiB) return ctl.close();
        const part = sent + chunk.byteLength > MiB + 1 ? chunk.subarray(0, MiB + 1 - sent) : chunk;
        sent += part.byteLength;
        ctl.enqueue(part);
      },
    });
    const req = new Request(`${BASE}/cache/k`, { method: "PUT", body });
    expect(req.headers.get("content-length")).toBeNull();
    await expectError(await SELF.fetch(req), 413, "payload_too_large");
  });

  it("a batch get body over 64 KiB is a 413", async () => {
    const body = JSON.stringify({ keys: ["a"], pad: "x".repeat(64 * 1024) });
    await expectError(await postJson("/cache/batch/get", body), 413, "payload_too_large");
  });

  it("a batch set value over 1 MiB (after base64 decoding) is a 413", async () => {
    const big = btoa("\0".repeat(MiB + 3));
    const body = JSON.stringify({ entries: [{ key: "big", value: big, encoding: "base64" }] });
    await expectError(await postJson("/cache/batch/set", body), 413, "payload_too_large");
  });

  it("a body over the 8 MiB ceiling is a 413 on any route", async () => {
    await expectError(await postJson("/cache/batch/set", " ".repeat(8 * MiB + 1)), 413, "payload_too_large");
  });
});

describe("authentication", () => {
  const crash = (headers: Record<string, string>) => call("/admin/cache/shards/shard-7/crash", { method: "POST", headers });

  it.each([
    ["missing", {}],
    ["wrong", { authorization: "Bearer not-the-token" }],
    ["a prefix of the right one", { authorization: "Bearer test-admin" }],
    ["the right one with a suffix", { authorization: "Bearer test-admin-token2" }],
    ["not a bearer", { authorization: "Basic dGVzdC1hZG1pbi10b2tlbg==" }],
    ["empty", { authorization: "Bearer " }],
  ])("an admin route refuses a %s token with 401", async (_name, headers) => {
    const res = await crash(headers);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectError(res, 401, "unauthorized");
  });

  it("an admin route refuses before looking at the body or the shard", async () => {
    await expectError(await postJson("/admin/cache/shards/no-such/fault", "{", JSON_CT), 401, "unauthorized");
    await expectError(await call("/admin/cache/shards/no-such/keys/k"), 401, "unauthorized");
  });

  it("an admin route accepts the right token", async () => {
    const res = await call("/admin/cache/shards/shard-7/keys/never-written", { headers: ADMIN });
    await expectError(res, 404, "not_found");
  });

  it("an unknown admin path asks for the token first, then is a 404", async () => {
    await expectError(await call("/admin/nope"), 401, "unauthorized");
    await expectError(await call("/admin/nope", { headers: ADMIN }), 404, "not_found");
  });

  it("/healthz, /openapi.json and /docs need no token", async () => {
    const health = await call("/healthz");
    expect(health.status).toBe(200);
    expect(await json(health)).toEqual({ ok: true });
    expect((await call("/openapi.json")).status).toBe(200);
    expect((await call("/docs")).status).toBe(200);
  });
});

describe("API_TOKEN and ADMIN_TOKEN configuration", () => {
  // The test config sets no API_TOKEN; the app is called directly with an overridden env instead.
  async function fetchWith(overrides: Partial<Cloudflare.Env>, path: string, init?: RequestInit): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${BASE}${path}`, init), { ...env, ...overrides }, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }
  const withApi = { API_TOKEN: "api-secret" };

  it("without API_TOKEN the data routes are open", async () => {
    expect((await call("/cache/stats")).status).toBe(200);
  });

  it("with API_TOKEN a data route needs it", async () => {
    await expectError(await fetchWith(withApi, "/cache/stats"), 401, "unauthorized");
    await expectError(await fetchWith(withApi, "/cache/k", { headers: { authorization: "Bearer wrong" } }), 401, "unauthorized");
    await expectError(await fetchWith(withApi, "/cache/batch/get", { method: "POST", headers: JSON_CT, body: '{"keys":["a"]}' }), 401, "unauthorized");
    const ok = await fetchWith(withApi, "/cache/stats", { headers: { authorization: "Bearer api-secret" } });
    expect(ok.status).toBe(200);
  });

  it("with API_TOKEN, /healthz and /openapi.json stay open", async () => {
    expect((await fetchWith(withApi, "/healthz")).status).toBe(200);
    expect((await fetchWith(withApi, "/openapi.json")).status).toBe(200);
  });

  it("API_TOKEN does not open admin routes", async () => {
    const res = await fetchWith(withApi, "/admin/cache/shards/shard-0/crash", { method: "POST", headers: { authorization: "Bearer api-secret" } });
    await expectError(res, 401, "unauthorized");
  });

  it("without ADMIN_TOKEN the admin routes are disabled (403), not open", async () => {
    const res = await fetchWith({ ADMIN_TOKEN: undefined }, "/admin/cache/shards/shard-0/crash", { method: "POST", headers: ADMIN });
    await expectError(res, 403, "forbidden");
  });

  it("tokensEqual compares exactly, whatever the lengths", async () => {
    expect(await tokensEqual("abc", "abc")).toBe(true);
    expect(await tokensEqual("abc", "abd")).toBe(false);
    expect(await tokensEqual("ab", "abc")).toBe(false);
    expect(await tokensEqual("", "abc")).toBe(false);
    expect(await tokensEqual("é", "é")).toBe(true);
    expect(await tokensEqual("x".repeat(10_000), "x".repeat(10_000))).toBe(true);
  });
});

describe("request ids", () => {
  it("every response carries x-request-id, success or error", async () => {
    const responses = await Promise.all([
      call("/healthz"),
      call("/nope"),
      call("/healthz", { method: "DELETE" }),
      call("/cache/%FF"),
      postJson("/cache/batch/get", "{"),
      call("/cache/k", { method: "PUT", body: new Uint8Array(MiB + 1) }),
      call("/admin/cache/shards/shard-0/crash", { method: "POST" }),
      call("/openapi.json"),
      call("/docs"),
    ]);
    const ids = responses.map((r) => r.headers.get("x-request-id"));
    for (const [i, id] of ids.entries()) expect(id, `response ${i}`).toBeTruthy();
    expect(new Set(ids).size).toBe(ids.length);
    await Promise.all(responses.map((r) => r.body?.cancel()));
  });

  it("a well-formed incoming x-request-id is echoed", async () => {
    const res = await call("/healthz", { headers: { "x-request-id": "trace-123" } });
    expect(res.headers.get("x-request-id")).toBe("trace-123");
  });
});

describe("key validation", () => {
  it("an empty key is a 400", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await call("/cache/", method === "PUT" ? { method, body: "v" } : { method });
      await expectError(res, 400, "invalid_key");
    }
    await expectError(await postJson("/cache/batch/get", '{"keys":[""]}'), 400, "invalid_key");
    await expectError(await postJson("/cache/batch/set", '{"entries":[{"key":"","value":"v"}]}'), 400, "invalid_key");
  });

  it("a key of 513 UTF-8 bytes is a 400 on every route", async () => {
    const key = multibyteKey(513);
    expect(key.length).toBe(257);
    const path = `/cache/${encodeURIComponent(key)}`;
    for (const init of [{}, { method: "PUT", body: "v" }, { method: "DELETE" }]) {
      const err = await expectError(await call(path, init), 400, "invalid_key");
      expect(err.error.message).toContain("513");
    }
    const batch = await expectError(await postJson("/cache/batch/get", JSON.stringify({ keys: ["ok", key] })), 400, "invalid_key");
    expect(batch.error.message).toMatch(/^keys\.1/);
    await expectError(await postJson("/cache/batch/set", JSON.stringify({ entries: [{ key, value: "v" }] })), 400, "invalid_key");
    await expectError(await call(`/admin/cache/shards/shard-0/keys/${encodeURIComponent(key)}`, { headers: ADMIN }), 400, "invalid_key");
  });

  it("a key of exactly 512 UTF-8 bytes round-trips", async () => {
    const key = multibyteKey(512);
    const path = `/cache/${encodeURIComponent(key)}`;
    const put = await call(path, { method: "PUT", body: "max" });
    expect(put.status, await put.clone().text()).toBe(200);
    expect((await json<{ key: string }>(put)).key).toBe(key);
    const get = await call(path);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe("max");
    const batch = await json<{ results: { key: string; found: boolean }[] }>(await postJson("/cache/batch/get", JSON.stringify({ keys: [key] })));
    expect(batch.results[0]).toMatchObject({ key, found: true });
  });

  it.each([
    ["an invalid UTF-8 sequence", "%FF%FE"],
    ["an encoded lone surrogate", "%ED%A0%80"],
    ["an overlong encoding of '/'", "%C0%AF"],
    ["a truncated sequence", "abc%E2%82"],
    ["a bare percent sign", "50%"],
    ["a bad hex escape", "%G1"],
  ])("%s in the key path is a 400", async (_name, raw) => {
    await expectError(await call(`/cache/${raw}`), 400, "invalid_key");
    await expectError(await call(`/cache/${raw}`, { method: "PUT", body: "v" }), 400, "invalid_key");
  });

  it("a lone surrogate in a JSON key is a 400", async () => {
    await expectError(await postJson("/cache/batch/get", '{"keys":["\\ud800"]}'), 400, "invalid_key");
    await expectError(await postJson("/cache/batch/set", '{"entries":[{"key":"a\\udc00","value":"v"}]}'), 400, "invalid_key");
  });

  it("a key with an encoded slash is one key", async () => {
    expect((await call("/cache/a%2Fb", { method: "PUT", body: "slash" })).status).toBe(200);
    expect(await (await call("/cache/a%2Fb")).text()).toBe("slash");
  });
});

describe("API description", () => {
  interface OpenApiDoc {
    openapi: string;
    info: { title: string; version: string };
    paths: Record<string, Record<string, { responses?: Record<string, unknown>; parameters?: { name: string; in: string; required?: boolean }[] }>>;
    components?: Record<string, Record<string, unknown>>;
  }

  it("/openapi.json is an OpenAPI 3.1 document describing the cache API", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await json<OpenApiDoc>(res);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    for (const p of ["/cache/{key}", "/cache/stats", "/cache/ring", "/cache/batch/get", "/cache/batch/set", "/healthz"]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    expect(Object.keys(doc.paths["/cache/{key}"] ?? {}).sort()).toEqual(["delete", "get", "put"]);
  });

  it("every operation has responses, declares its path parameters and every $ref resolves", async () => {
    const text = await (await call("/openapi.json")).text();
    const doc = JSON.parse(text) as OpenApiDoc;
    const methods = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);
    for (const [path, item] of Object.entries(doc.paths)) {
      expect(path.startsWith("/"), path).toBe(true);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        if (!methods.has(method)) continue;
        expect(Object.keys(op.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
        const pathParams = (op.parameters ?? []).filter((p) => p.in === "path");
        for (const name of templated) {
          const param = pathParams.find((p) => p.name === name);
          expect(param, `${method} ${path} declares {${name}}`).toBeDefined();
          expect(param?.required).toBe(true);
        }
      }
    }
    for (const [, kind, name] of text.matchAll(/"\$ref":"#\/components\/([^/"]+)\/([^"]+)"/g)) {
      expect(doc.components?.[kind ?? ""]?.[name ?? ""], `$ref ${kind}/${name}`).toBeDefined();
    }
  });

  it("/docs is an HTML page pointing at /openapi.json", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html).toContain("/openapi.json");
  });
});
