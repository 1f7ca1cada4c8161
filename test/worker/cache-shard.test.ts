import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ROW_OVERHEAD_BYTES } from "../../durable-objects/cache-shard";
import { makeVersion } from "../../src/core/cache/version";
import { rejection, shard, sleep } from "./helpers";

const enc = new TextEncoder();
const v = (n: number) => makeVersion(1_700_000_000_000 + n, 0, 1);
const write = (key: string, version: string, value: Uint8Array | null, expiresAt: number | null = null) => ({
  key, version, value, contentType: "text/plain", expiresAt,
});

describe("CacheShard", () => {
  it("expires an entry through its alarm, without any read", async () => {
    const s = shard("ttl-alarm");
    // Generous margins: on a loaded machine the put itself may take tens of milliseconds to arrive.
    await s.put(write("k", v(1), enc.encode("soon gone"), Date.now() + 250));
    await s.put(write("stays", v(1), enc.encode("forever")));
    expect((await s.stats()).keys).toBe(2);
    await sleep(350);
    expect(await runDurableObjectAlarm(s)).toBe(true);
    const stats = await s.stats();
    expect(stats.keys).toBe(1);
    expect(stats.expirations).toBe(1);
    expect(stats.tombstones).toBe(1);
    const rec = await s.get("k");
    expect(rec.live).toBe(false);
    // The expired entry keeps its version, so it still outranks older copies on other replicas.
    expect(rec.version).toBe(v(1));
  });

  it("expires lazily on read before the alarm has run", async () => {
    const s = shard("ttl-lazy");
    await s.put(write("k", v(1), enc.encode("x"), Date.now() + 250));
    // No alarm: only the read itself can expire the entry.
    await runInDurableObject(s, (_: unknown, state: DurableObjectState) => state.storage.deleteAlarm());
    await sleep(350);
    expect((await s.get("k")).live).toBe(false);
    expect((await s.stats()).expirations).toBe(1);
  });

  it("evicts the least recently used entry when over capacity (reads count as use)", async () => {
    const s = shard("lru");
    const big = () => new Uint8Array(800 * 1024); // capacity in tests is 2 MiB: two fit, three do not
    await s.put(write("a", v(1), big()));
    await s.put(write("b", v(1), big()));
    await s.get("a"); // a is now more recent than b
    await s.put(write("c", v(1), big()));
    // b leaves an eviction marker: its version without its value.
    expect(await s.get("b")).toMatchObject({ live: false, evicted: true, version: v(1) });
    expect((await s.get("a")).live).toBe(true);
    expect((await s.get("c")).live).toBe(true);
    const stats = await s.stats();
    expect(stats.evictions).toBe(1);
    expect(stats.bytes).toBeLessThanOrEqual(stats.capacityBytes);
  });

  it("applies only newer versions: a late, older write is ignored (last writer wins)", async () => {
    const s = shard("versions");
    expect((await s.put(write("k", v(2), enc.encode("new")))).applied).toBe(true);
    const late = await s.put(write("k", v(1), enc.encode("old")));
    expect(late).toEqual({ applied: false, version: v(2) });
    const rec = await s.get("k");
    expect(new TextDecoder().decode(rec.value)).toBe("new");
    expect(rec.version).toBe(v(2));
    // A replayed write (same version) is a no-op too.
    expect((await s.put(write("k", v(2), enc.encode("new")))).applied).toBe(false);
  });

  it("a delete is a tombstone that wins over an older value arriving later", async () => {
    const s = shard("tombstone");
    await s.put(write("k", v(1), enc.encode("x")));
    await s.put(write("k", v(3), null));
    expect((await s.put(write("k", v(2), enc.encode("resurrected?")))).applied).toBe(false);
    const rec = await s.get("k");
    expect(rec).toMatchObject({ live: false, version: v(3) });
  });

  it("keeps entries, versions and its LRU index across a crash (ctx.abort)", async () => {
    const s = shard("crash");
    await s.put(write("k1", v(1), enc.encode("one")));
    await s.put(write("k2", v(2), enc.encode("two")));
    await s.crash().catch(() => undefined);
    const after = shard("crash");
    const rec = await after.get("k2");
    expect(new TextDecoder().decode(rec.value)).toBe("two");
    expect(rec.version).toBe(v(2));
    const stats = await after.stats();
    expect(stats.keys).toBe(2);
    expect(stats.bytes).toBe(2 * (2 * 2 + 3 + "text/plain".length + ROW_OVERHEAD_BYTES));
  });

  it("a shard marked down refuses calls until healed, and the mark survives a crash", async () => {
    const s = shard("fault");
    await s.setFault({ mode: "down", delayMs: 0 });
    expect((await rejection(() => s.get("k"))).message).toMatch(/down/);
    await s.crash().catch(() => undefined);
    expect((await rejection(() => shard("fault").get("k"))).message).toMatch(/down/);
    await shard("fault").setFault({ mode: "healthy", delayMs: 0 });
    expect((await shard("fault").get("k")).version).toBeNull();
  });
});
