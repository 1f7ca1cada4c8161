// Request bodies (issue 16, item 7 and the JSON limit): an upload cut off mid-way, a body that is not
// UTF-8, a JSON body over its route's limit. Each answer is a 4xx in the error model, never a 500.
//
// A cut-off upload is a read that throws (workerd: "Network connection lost."). SELF.fetch cannot make
// one (the worker sees a short body that ends normally), so those requests go to the real app object
// in this isolate, with a body stream that errors part-way: the app reads exactly what it reads from a
// client that went away. The same through `wrangler dev` over a real socket is in test/e2e/uploads.test.ts.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import app from "../../src/index";
import { discardRest } from "../../src/http/body-drain";
import { bodyRuleFor } from "../../src/routes/body-limits";
import { ADMIN, BASE, call, json } from "./helpers";

const KiB = 1024;
const JSON_TYPE = { "content-type": "application/json" };

/** A body that sends `before` bytes of `fill` (repeated), then fails the way a dropped connection does. */
function cutOff(before: number, fill = "a"): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode(fill.repeat(Math.ceil(4 * KiB / fill.length)).slice(0, 4 * KiB));
  let sent = 0;
  // A byte stream, as a request body from the network is (a job's raw input is read with readAtLeast).
  return new ReadableStream({
    type: "bytes",
    pull(ctl) {
      if (sent >= before) return ctl.error(new Error("Network connection lost."));
      ctl.enqueue(chunk.slice());
      sent += chunk.byteLength;
    },
  });
}

/** Calls the app directly (not through SELF) so a failing body stream reaches the route as a failing read. */
async function direct(method: string, path: string, body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, { method, body, headers }), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

interface ErrorShape {
  error: { code: string; message: string; details?: { limit?: number } };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("an upload cut off mid-way is a 4xx, never a 500 (issue 16, item 7)", () => {
  // Every route that reads a body, with the kind of body it reads.
  const ROUTES: Array<[string, string, Record<string, string>]> = [
    ["PUT", "/cache/cut-off", { "content-type": "application/octet-stream" }],
    ["POST", "/cache/batch/set", JSON_TYPE],
    ["POST", "/cache/batch/get", JSON_TYPE],
    ["PUT", "/kv/cut-off", { "content-type": "text/plain" }],
    ["POST", "/kv/cas", JSON_TYPE],
    ["POST", "/txn", JSON_TYPE],
    ["POST", "/tasks", JSON_TYPE],
    ["POST", "/jobs", JSON_TYPE],
    ["POST", "/jobs?kind=wordcount", { "content-type": "text/plain" }],
    ["POST", "/raft/members", { ...JSON_TYPE, ...ADMIN }],
    ["POST", "/admin/cache/shards/shard-0/fault", { ...JSON_TYPE, ...ADMIN }],
    ["PUT", "/admin/cache/shards/shard-0/keys/cut-off", { ...ADMIN, "content-type": "application/octet-stream" }],
    ["PUT", "/admin/lb/pools/cut-off", { ...JSON_TYPE, ...ADMIN }],
    ["POST", "/admin/tasks/direct", { ...JSON_TYPE, ...ADMIN }],
    ["POST", "/admin/jobs/reference", { ...JSON_TYPE, ...ADMIN }],
    ["POST", "/redis/pipeline", JSON_TYPE],
    ["POST", "/redis", JSON_TYPE],
  ];
  for (const [method, path, headers] of ROUTES) {
    for (const declared of [false, true]) {
      it(`${method} ${path} (${declared ? "with" : "without"} a Content-Length): 400 incomplete_body, no unhandled error`, async () => {
        const errors = vi.spyOn(console, "error");
        // Under every route's limit: the read fails before any limit is reached.
        const res = await direct(method, path, cutOff(16 * KiB, '{"k":"'), declared ? { ...headers, "content-length": String(48 * KiB) } : headers);
        const body = await json<ErrorShape>(res);
        expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        // A JSON route that needs no more than the validator reads may also call it malformed; either is a 400.
        // The Redis endpoint answers in Upstash's shape: the error is its text.
        const error = body.error as ErrorShape["error"] | string;
        if (path.startsWith("/redis")) expect(error).toMatch(/^ERR (the body ended before it was complete|failed to parse the request body)/);
        else expect(["incomplete_body", "malformed_json"]).toContain((error as ErrorShape["error"]).code);
        expect(errors.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("unhandled error"))).toEqual([]);
      });
    }
  }

  it("nothing of a cut-off value is stored", async () => {
    expect((await direct("PUT", "/cache/cut-off-value", cutOff(64 * KiB))).status).toBe(400);
    expect((await call("/cache/cut-off-value")).status).toBe(404);
  });
});

describe("JSON bodies are limited to 64 KiB unless the route documents more", () => {
  const pad = (bytes: number) => "x".repeat(bytes);
  const ROUTES: Array<[string, string, Record<string, string>, (padding: string) => unknown]> = [
    ["POST", "/kv/cas", {}, (p) => ({ key: "cas-limit", expected: p.slice(0, 40 * KiB), value: p.slice(0, 40 * KiB) })],
    ["POST", "/raft/members", ADMIN, (p) => ({ action: "addLearner", node: "n9", note: p })],
    ["POST", "/raft/transfer-leadership", ADMIN, (p) => ({ to: "n2", note: p })],
    ["POST", "/admin/cache/shards/shard-0/fault", ADMIN, (p) => ({ mode: "healthy", delayMs: 0, note: p })],
    ["POST", "/cache/batch/get", {}, (p) => ({ keys: ["a"], note: p })],
  ];
  for (const [method, path, auth, make] of ROUTES) {
    it(`${method} ${path}: a JSON body of 64 KiB + 1 byte is a 413 naming the limit; one that streams past it too`, async () => {
      const text = JSON.stringify(make(pad(80 * KiB)));
      expect(text.length).toBeGreaterThan(64 * KiB);
      const res = await call(path, { method, headers: { ...JSON_TYPE, ...auth }, body: text });
      const body = await json<ErrorShape>(res);
      expect(res.status, JSON.stringify(body)).toBe(413);
      expect(body.error.code).toBe("payload_too_large");
      expect(body.error.message).toContain("65536");
      expect(body.error.details?.limit).toBe(65536);
      // Without a Content-Length the body is counted as it arrives.
      const bytes = new TextEncoder().encode(text);
      const streamed = new ReadableStream<Uint8Array>({
        start(ctl) {
          for (let i = 0; i < bytes.byteLength; i += 8 * KiB) ctl.enqueue(bytes.slice(i, i + 8 * KiB));
          ctl.close();
        },
      });
      const res2 = await call(path, { method, headers: { ...JSON_TYPE, ...auth }, body: streamed });
      expect(res2.status).toBe(413);
    });
  }

  it("the documented larger limits hold: a 1 MiB batch set and a 1 MiB transaction body are accepted", async () => {
    const value = "v".repeat(1000 * KiB);
    const set = await call("/cache/batch/set", { method: "POST", headers: JSON_TYPE, body: JSON.stringify({ entries: [{ key: "big-batch", value }] }) });
    expect(set.status).toBe(200);
    // A transaction's values are capped at 256 KiB; its body (2 MiB) may carry more (JSON escapes): one
    // of 1 MiB answers about its values, not about the body's size.
    const txn = await call("/txn", { method: "POST", headers: JSON_TYPE, body: JSON.stringify({ ops: [{ op: "set", key: "big-txn", value: "\\u0000".repeat(150 * KiB) }] }) });
    expect(txn.status).not.toBe(413);
  });

  it("the table: raw values keep their own limits, Redis its own format, an unknown route the JSON default", () => {
    expect(bodyRuleFor("PUT", "/cache/a/b")).toEqual({ bytes: 1024 * 1024, read: "route" });
    expect(bodyRuleFor("POST", "/cache/batch/set")).toEqual({ bytes: 8 * 1024 * 1024, read: "validator" });
    expect(bodyRuleFor("POST", "/txn")).toEqual({ bytes: 2 * 1024 * 1024, read: "validator" });
    expect(bodyRuleFor("PUT", "/kv/k")).toEqual({ bytes: 64 * 1024, read: "route" });
    expect(bodyRuleFor("POST", "/redis/pipeline").read).toBe("route");
    expect(bodyRuleFor("POST", "/lb/web/upload").read).toBe("stream");
    expect(bodyRuleFor("PUT", "/lb/pools/web")).toEqual({ bytes: 64 * 1024, read: "validator" });
    expect(bodyRuleFor("POST", "/admin/anything-new")).toEqual({ bytes: 64 * 1024, read: "validator" });
  });
});

describe("a JSON body that is not UTF-8 is a 400, not stored with U+FFFD in its place", () => {
  const bytes = (s: string, bad: number[]) => {
    const [a, b] = s.split("@") as [string, string];
    return new Uint8Array([...new TextEncoder().encode(a), ...bad, ...new TextEncoder().encode(b)]);
  };
  it("POST /cache/batch/set with \\xFF inside a value", async () => {
    const res = await call("/cache/batch/set", { method: "POST", headers: JSON_TYPE, body: bytes('{"entries":[{"key":"not-utf8","value":"a@b"}]}', [0xff]) });
    const body = await json<ErrorShape>(res);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body.error.code).toBe("invalid_json");
    expect((await call("/cache/not-utf8")).status).toBe(404);
  });
  it("POST /tasks and POST /kv/cas with a truncated UTF-8 sequence", async () => {
    for (const [path, text] of [["/tasks", '{"kind":"fibonacci","args":{"n":"@"}}'], ["/kv/cas", '{"key":"@","expected":null,"value":"v"}']] as const) {
      const res = await call(path, { method: "POST", headers: JSON_TYPE, body: bytes(text, [0xe2, 0x82]) });
      expect(res.status, path).toBe(400);
      expect((await json<ErrorShape>(res)).error.code, path).toBe("invalid_json");
    }
  });
});

describe("what no handler read is drained within a budget", () => {
  function counted(total: number, chunk = 64 * KiB): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (pulled >= total) return ctl.close();
        ctl.enqueue(new Uint8Array(chunk));
        pulled += chunk;
      },
    });
    return { stream, pulled: () => pulled };
  }
  it("reads an unread body to its end", async () => {
    const body = counted(3 * 1024 * KiB);
    await discardRest(new Request(BASE, { method: "POST", body: body.stream }), 64 * 1024 * KiB, 10_000);
    expect(body.pulled()).toBe(3 * 1024 * KiB);
  });
  it("stops at its byte budget", async () => {
    const body = counted(8 * 1024 * KiB);
    await discardRest(new Request(BASE, { method: "POST", body: body.stream }), 1024 * KiB, 10_000);
    expect(body.pulled()).toBeLessThan(2 * 1024 * KiB);
  });
  it("does not start on a body declared larger than the budget, and never throws on a failing one", async () => {
    const body = counted(1024 * KiB);
    await discardRest(new Request(BASE, { method: "POST", body: body.stream, headers: { "content-length": String(2 * 1024 * KiB) } }), 1024 * KiB, 10_000);
    expect(body.pulled()).toBeLessThanOrEqual(64 * KiB);
    await expect(discardRest(new Request(BASE, { method: "POST", body: cutOff(8 * KiB) }), 1024 * KiB, 10_000)).resolves.toBeUndefined();
  });
});

describe("task sizes per request (issue 16, item 2)", () => {
  it("POST /tasks with 1,000 sleeps of a minute is a 400 naming MAX_BATCH_SLEEP_MS, and nothing is scheduled", async () => {
    const tasks = Array.from({ length: 1000 }, () => ({ kind: "sleep", args: { ms: 60_000 } }));
    const res = await call("/tasks", { method: "POST", headers: JSON_TYPE, body: JSON.stringify({ tasks }) });
    const body = await json<ErrorShape>(res);
    expect(res.status).toBe(400);
    expect(body.error.message).toContain("MAX_BATCH_SLEEP_MS");
    expect(body.error.message).toContain("tasks");
  });
});
