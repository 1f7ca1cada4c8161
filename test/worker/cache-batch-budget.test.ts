import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { call } from "./helpers";

// The batch-get budget counts encoded bytes: JSON escapes control characters (6 bytes each:
// \u0001) and base64 grows binary by 4/3, so counting raw bytes let a response reach ~6x the budget.
describe("batch get response budget", () => {
  it("a batch get response stays within the response budget even when values need JSON escaping", async () => {
    const value = new Uint8Array(1_000_000).fill(0x01); // valid UTF-8, so it is answered as utf8 text
    for (const key of ["esc-a", "esc-b"]) {
      const res = await call(`/cache/${key}?w=3`, { method: "PUT", body: value, headers: { "content-type": "application/octet-stream" } });
      expect(res.status).toBe(200);
    }
    const res = await call("/cache/batch/get", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ keys: ["esc-a", "esc-b"] }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    // 2 MB of raw values encode to ~12 MB: the second key must be refused, not admitted.
    expect(body.length).toBeLessThanOrEqual(LIMITS.batchResponseBytes + 64 * 1024);
  }, 30_000);
});
