// Issue 16, item 6: the request log never contains values or query tokens. The Redis path form carries
// its arguments in the path (/redis/set/key/value) and a token may ride in ?_token=, so the log names
// the route's pattern instead of the raw path.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import app from "../../src/index";
import { BASE } from "./helpers";

afterEach(() => vi.restoreAllMocks());

async function logged(path: string, init?: RequestInit): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, init), { ...env, LOG_REQUESTS: "true" }, ctx);
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  vi.restoreAllMocks();
  return lines.flatMap((l) => {
    try {
      const v = JSON.parse(l) as Record<string, unknown>;
      return v.msg === "request" ? [v] : [];
    } catch {
      return [];
    }
  });
}

describe("the request log", () => {
  it("names the Redis path form's route, not the key and value in its path, nor the ?_token= query", async () => {
    const entries = await logged("/redis/set/secret-key-42/secret-value-42?_token=secret-token-42");
    expect(entries).toHaveLength(1);
    const line = JSON.stringify(entries[0]);
    expect(entries[0]!.route).toBe("/redis/:command");
    expect(line).not.toMatch(/secret-(key|value|token)-42/);
  });

  it("names the cache route's pattern, not the key", async () => {
    const entries = await logged("/cache/private-key-7", { method: "PUT", body: "private-value-7" });
    expect(entries).toHaveLength(1);
    expect(entries[0]!.route).toBe("/cache/:key");
    expect(JSON.stringify(entries[0])).not.toMatch(/private-(key|value)-7/);
  });
});
