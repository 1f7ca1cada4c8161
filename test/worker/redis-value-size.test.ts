// A Redis value is one cache entry: a hash, list, set or sorted set that would grow past the value-size
// limit once stored answers an error and stays as it was, instead of failing the commit (or worse).
import { describe, expect, it } from "vitest";
import { REDIS_ENTRY_BYTES } from "../../src/services/redis";
import { call } from "./helpers";

async function redis(command: unknown[]): Promise<{ result?: unknown; error?: string }> {
  const res = await call("/redis", { method: "POST", body: JSON.stringify(command) });
  return (await res.json()) as { result?: unknown; error?: string };
}

describe("values past the one-entry limit", () => {
  it("a write that would make a hash too big is undone and names the key and the limit; the hash keeps what it had", async () => {
    const big = "x".repeat(Math.ceil(REDIS_ENTRY_BYTES * 0.6));
    expect(await redis(["HSET", "size:h", "f1", big])).toEqual({ result: 1 });
    const second = await redis(["HSET", "size:h", "f2", big, "f3", "small"]);
    expect(second.error).toMatch(/^ERR the value of 'size:h' would take \d+ bytes stored; one key holds at most 262144 bytes$/);
    expect(await redis(["HLEN", "size:h"])).toEqual({ result: 1 });
    expect(await redis(["HEXISTS", "size:h", "f3"])).toEqual({ result: 0 });
    expect(await redis(["HSTRLEN", "size:h", "f1"])).toEqual({ result: big.length });
  });

  it("inside MULTI/EXEC only the oversize command fails; the others of the block commit", async () => {
    const big = "y".repeat(Math.ceil(REDIS_ENTRY_BYTES * 0.6));
    const res = await call("/redis/multi-exec", {
      method: "POST",
      body: JSON.stringify([
        ["HSET", "size:m", "a", big],
        ["HSET", "size:m", "b", big],
        ["SET", "size:s", "kept"],
      ]),
    });
    const out = (await res.json()) as { result?: unknown; error?: string }[];
    expect(out[0]).toEqual({ result: 1 });
    expect(out[1]?.error).toMatch(/one key holds at most/);
    expect(out[2]).toEqual({ result: "OK" });
    expect(await redis(["HKEYS", "size:m"])).toEqual({ result: ["a"] });
    expect(await redis(["GET", "size:s"])).toEqual({ result: "kept" });
  });
});
