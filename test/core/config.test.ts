import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";

/** The `[vars]` table of wrangler.toml (flat `KEY = "value"` lines only, which is all it holds). */
function wranglerVars(): Record<string, string> {
  const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
  const section = toml.split(/^\[vars\]\s*$/m)[1]?.split(/^\[/m)[0] ?? "";
  const vars: Record<string, string> = {};
  for (const m of section.matchAll(/^([A-Z_]+)\s*=\s*"((?:[^"\\]|\\.)*)"/gm)) vars[m[1]!] = JSON.parse(`"${m[2]}"`) as string;
  return vars;
}

describe("cluster configuration", () => {
  it("wrangler.toml's [vars] parse into N=3, R=2, W=2 over 8 shards", () => {
    const vars = wranglerVars();
    expect(Object.keys(vars).length).toBeGreaterThan(5);
    const { cache } = parseConfig(vars);
    expect(cache).toMatchObject({ replicas: 3, readQuorum: 2, writeQuorum: 2 });
    expect(cache.shards.map((s) => s.id)).toEqual(Array.from({ length: 8 }, (_, i) => `shard-${i}`));
  });

  it.each([
    ["W > N", { CACHE_REPLICAS: "3", CACHE_WRITE_QUORUM: "4" }, /CACHE_WRITE_QUORUM/],
    ["R > N", { CACHE_REPLICAS: "2", CACHE_READ_QUORUM: "3" }, /CACHE_READ_QUORUM/],
    ["N > shards", { CACHE_SHARDS: "2", CACHE_REPLICAS: "3", CACHE_READ_QUORUM: "1", CACHE_WRITE_QUORUM: "1" }, /CACHE_REPLICAS/],
    ["a weight for an unknown shard", { CACHE_SHARD_WEIGHTS: '{"shard-99": 2}' }, /unknown shard/],
    ["weights that are not JSON", { CACHE_SHARD_WEIGHTS: "{" }, /JSON/],
    ["a weight needing millions of virtual nodes", { CACHE_SHARDS: "1024", CACHE_VNODES: "4096", CACHE_REPLICAS: "3", CACHE_SHARD_WEIGHTS: '{"shard-0": 1000}' }, /CACHE_SHARD_WEIGHTS/],
    ["a shard count that is not a number", { CACHE_SHARDS: "many" }, /CACHE_SHARDS/],
  ])("refuses %s with a message naming the variable", (_, vars, message) => {
    expect(() => parseConfig(vars)).toThrow(message);
  });

  it("the same config gives the same shards and weights, in any process", () => {
    const vars = { CACHE_SHARDS: "4", CACHE_SHARD_WEIGHTS: '{"shard-2": 2.5}' };
    expect(parseConfig(vars)).toEqual(parseConfig({ ...vars }));
    expect(parseConfig(vars).cache.shards[2]).toEqual({ id: "shard-2", weight: 2.5 });
  });
});
