import { expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { KvStateMachine, encodeCommand } from "../../src/core/raft/kv";
import { call } from "./helpers";

const cas = (body: unknown) => call("/kv/cas", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

// expectedValue is bounded like value: the whole command becomes one Raft log entry (one SQLite row:
// 2 MB at most on Cloudflare) sent in every Append to every follower.
it("POST /kv/cas refuses an expectedValue larger than the Raft value limit with 413", async () => {
  const res = await cas({ key: "big-expect", value: "v", expectedValue: "x".repeat(LIMITS.raftValueBytes + 1) });
  expect(res.status).toBe(413);
}, 15_000);

// PUT /kv/{key} refuses a body that is not UTF-8; /kv/cas must refuse "\ud800" from JSON the same way.
it("POST /kv/cas refuses a value that is not well-formed UTF-16 (a lone surrogate), like PUT does", async () => {
  const res = await cas({ key: "lone", value: "\ud800", expectedValue: null });
  expect(res.status).toBe(400);
}, 15_000);

// Every request without x-client-id gets a fresh session; a session must not keep the value a write
// replaced, or overwriting one key would keep every old value alive in memory and in every snapshot.
it("overwriting one key with fresh sessions does not grow the state machine's snapshot with every old value", () => {
  const kv = new KvStateMachine();
  const value = "x".repeat(LIMITS.raftValueBytes);
  for (let i = 1; i <= 200; i++) {
    kv.apply({ index: i, term: 1, kind: "normal", data: encodeCommand({ op: "put", key: "k", value, clientId: crypto.randomUUID(), seq: 1 }) });
  }
  expect(kv.size).toBe(1);
  // One 64 KiB key; allow generous overhead for the sessions themselves.
  expect(kv.snapshot().length).toBeLessThan(4 * value.length);
});
