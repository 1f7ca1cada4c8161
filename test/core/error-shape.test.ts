// The one error handler answers the API's own shape everywhere but on the Redis endpoint, where
// Upstash's clients read `error` as the message text: an object there reached users as
// "UpstashError: [object Object]" (found running the official @upstash/redis tests).
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { HttpError, handleError } from "../../src/http/errors";

function app(): Hono {
  const a = new Hono();
  a.post("/redis", () => {
    throw new Error("boom");
  });
  a.post("/redis/pipeline", () => {
    throw new HttpError(503, "overloaded", "the shard is busy", undefined, { "Retry-After": "2" });
  });
  a.get("/cache/k", () => {
    throw new Error("boom");
  });
  a.onError(handleError);
  return a;
}

describe("error bodies", () => {
  it("an unexpected error on /redis is a 500 whose error is a string", async () => {
    const res = await app().request("/redis", { method: "POST" });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "ERR internal error" });
  });

  it("a 503 on the Redis endpoint is BUSY with its Retry-After", async () => {
    const res = await app().request("/redis/pipeline", { method: "POST" });
    expect([res.status, res.headers.get("retry-after")]).toEqual([503, "2"]);
    expect(await res.json()).toEqual({ error: "BUSY the shard is busy" });
  });

  it("other routes keep the API's {error: {code, message}} shape", async () => {
    const res = await app().request("/cache/k");
    expect(await res.json()).toEqual({ error: { code: "internal", message: "internal error" } });
  });
});
