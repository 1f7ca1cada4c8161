import { describe, expect, it } from "vitest";
import { call, json } from "./helpers";

describe("cache HTTP API", () => {
  it("stores a value and reads it back with its content type and version", async () => {
    const put = await call("/cache/user%3A42", { method: "PUT", body: '{"name":"Ada"}', headers: { "content-type": "application/json" } });
    expect(put.status).toBe(200);
    const body = await json<{ version: string; acks: number; needed: number; replicas: number }>(put);
    expect(body.acks).toBeGreaterThanOrEqual(body.needed);
    const get = await call("/cache/user%3A42");
    expect(get.status).toBe(200);
    expect(get.headers.get("content-type")).toBe("application/json");
    expect(get.headers.get("x-cache-version")).toBe(body.version);
    expect(get.headers.get("x-request-id")).toBeTruthy();
    expect(await get.text()).toBe('{"name":"Ada"}');
  });

  it("keeps binary values byte for byte", async () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    await call("/cache/bin", { method: "PUT", body: bytes });
    const got = new Uint8Array(await (await call("/cache/bin")).arrayBuffer());
    expect(Array.from(got)).toEqual(Array.from(bytes));
  });

  it("answers 404 for a missing key and after a delete", async () => {
    expect((await call("/cache/never-written")).status).toBe(404);
    await call("/cache/gone", { method: "PUT", body: "x" });
    const del = await call("/cache/gone", { method: "DELETE" });
    expect(del.status).toBe(200);
    const res = await call("/cache/gone");
    expect(res.status).toBe(404);
    expect((await json<{ error: { code: string } }>(res)).error.code).toBe("not_found");
  });
});
