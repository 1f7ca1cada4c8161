import { describe, expect, it } from "vitest";
import { call, eventually, json } from "./helpers";

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

describe("cache batch, TTL, stats and ring", () => {
  const postJson = (path: string, body: unknown) =>
    call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  it("batch set then batch get, with utf8 and base64 values and a missing key", async () => {
    const set = await postJson("/cache/batch/set", {
      entries: [
        { key: "b1", value: "héllo" },
        { key: "b2", value: "AP8=", encoding: "base64", contentType: "application/x-bin" },
      ],
    });
    expect(set.status).toBe(200);
    const { results: written } = await json<{ results: Array<{ key: string; acks: number }> }>(set);
    expect(written.map((r) => [r.key, r.acks >= 2])).toEqual([["b1", true], ["b2", true]]);
    const get = await postJson("/cache/batch/get", { keys: ["b1", "b2", "b3"] });
    const { results } = await json<{ results: Array<Record<string, unknown>> }>(get);
    expect(results[0]).toMatchObject({ key: "b1", found: true, value: "héllo", encoding: "utf8" });
    expect(results[1]).toMatchObject({ key: "b2", found: true, value: "AP8=", encoding: "base64", contentType: "application/x-bin" });
    expect(results[2]).toMatchObject({ key: "b3", found: false });
    // A binary value written by batch reads back byte for byte through the single-key route.
    expect(Array.from(new Uint8Array(await (await call("/cache/b2")).arrayBuffer()))).toEqual([0, 255]);
  });

  it("rejects duplicate keys in one batch set", async () => {
    const res = await postJson("/cache/batch/set", { entries: [{ key: "d", value: "1" }, { key: "d", value: "2" }] });
    expect(res.status).toBe(400);
  });

  it("a value written with a TTL is gone once it expires, on every replica", async () => {
    // A TTL a loaded machine cannot outrun between the write and the first read; then awaited until it ran out.
    const put = await call("/cache/short-lived?ttl=1500", { method: "PUT", body: "x" });
    const { expiresAt } = await json<{ expiresAt: number }>(put);
    expect((await call("/cache/short-lived")).status).toBe(200);
    expect(expiresAt).toBeGreaterThan(Date.now() - 1500);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 1500);
    await eventually(async () => (await call("/cache/short-lived?r=3")).status === 404);
  });

  it("the x-cache-ttl-ms header sets the TTL too", async () => {
    const put = await call("/cache/ttl-header", { method: "PUT", body: "x", headers: { "x-cache-ttl-ms": "60000" } });
    const { expiresAt } = await json<{ expiresAt: number | null }>(put);
    expect(expiresAt).not.toBeNull();
    expect(Number((await call("/cache/ttl-header")).headers.get("x-cache-expires-at"))).toBe(expiresAt);
  });

  it("stats count keys and hits across shards; the ring reports ownership summing to 1", async () => {
    await call("/cache/counted", { method: "PUT", body: "12345" });
    await call("/cache/counted");
    const stats = await json<{ shards: Array<{ shard: string; reachable: boolean }>; totals: Record<string, number> }>(await call("/cache/stats"));
    expect(stats.shards).toHaveLength(8);
    expect(stats.shards.every((s) => s.reachable)).toBe(true);
    expect(stats.totals.keys).toBeGreaterThanOrEqual(3); // N=3 copies of "counted" at least
    expect(stats.totals.hits).toBeGreaterThanOrEqual(2); // R=2
    const ring = await json<{ shards: Array<{ id: string; vnodes: number; ownership: number }>; replicas: number }>(await call("/cache/ring"));
    expect(ring.replicas).toBe(3);
    expect(ring.shards).toHaveLength(8);
    expect(ring.shards.reduce((a, s) => a + s.ownership, 0)).toBeCloseTo(1, 9);
    expect(ring.shards.every((s) => s.vnodes === 1024)).toBe(true);
  });
});
