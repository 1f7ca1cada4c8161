import { describe, expect, test } from "vitest";
import { encodeCommand, type KvCommand, KvStateMachine } from "../../src/core/raft/kv";
import { MemoryCluster } from "../../src/core/raft/memory-cluster";
import type { Entry } from "../../src/core/raft/types";
import { mulberry32 } from "../support/prng";

// The replicated KV state machine: revisions, compare-and-set, prefix listing, exactly-once sessions.

let nextIndex = 1;
const entry = (cmd: KvCommand | string, index = nextIndex++): Entry => ({ index, term: 1, kind: "normal", data: typeof cmd === "string" ? cmd : encodeCommand(cmd) });

function fresh(ttl?: number): KvStateMachine {
  nextIndex = 1;
  return new KvStateMachine(ttl);
}

describe("kv commands", () => {
  test("a put records the value with the writing entry's index as its revision, and returns the previous record", () => {
    const kv = fresh();
    expect(kv.apply(entry({ op: "put", key: "a", value: "1" }))).toEqual({ ok: true, op: "put", revision: 1, prev: null });
    expect(kv.apply(entry({ op: "put", key: "a", value: "2" }))).toEqual({ ok: true, op: "put", revision: 2, prev: { value: "1", revision: 1 } });
    expect(kv.get("a")).toEqual({ value: "2", revision: 2 });
  });

  test("a delete removes the key and returns what was there", () => {
    const kv = fresh();
    kv.apply(entry({ op: "put", key: "a", value: "1" }));
    expect(kv.apply(entry({ op: "delete", key: "a" }))).toEqual({ ok: true, op: "delete", revision: 2, prev: { value: "1", revision: 1 } });
    expect(kv.get("a")).toBeNull();
  });

  test.each([
    { name: "expected value matches", cas: { expectedValue: "1" }, ok: true },
    { name: "expected value differs", cas: { expectedValue: "9" }, ok: false },
    { name: "expected revision matches", cas: { expectedRevision: 1 }, ok: true },
    { name: "expected revision differs", cas: { expectedRevision: 7 }, ok: false },
    { name: "expected absent (null) but present", cas: { expectedValue: null }, ok: false },
    { name: "expected absent (revision 0) but present", cas: { expectedRevision: 0 }, ok: false },
    { name: "value and revision both match", cas: { expectedValue: "1", expectedRevision: 1 }, ok: true },
    { name: "value matches, revision does not", cas: { expectedValue: "1", expectedRevision: 2 }, ok: false },
  ])("cas: $name", ({ cas, ok }) => {
    const kv = fresh();
    kv.apply(entry({ op: "put", key: "a", value: "1" }));
    const r = kv.apply(entry({ op: "cas", key: "a", value: "new", ...cas }));
    if (ok) {
      expect(r).toEqual({ ok: true, op: "cas", revision: 2, prev: { value: "1", revision: 1 } });
      expect(kv.get("a")).toEqual({ value: "new", revision: 2 });
    } else {
      expect(r).toEqual({ ok: false, code: "cas_failed", current: { value: "1", revision: 1 } });
      expect(kv.get("a")).toEqual({ value: "1", revision: 1 });
    }
  });

  test("cas on an absent key succeeds when absence is expected; cas with value null deletes", () => {
    const kv = fresh();
    expect(kv.apply(entry({ op: "cas", key: "n", value: "1", expectedRevision: 0 }))).toMatchObject({ ok: true });
    expect(kv.apply(entry({ op: "cas", key: "n", value: null, expectedValue: "1" }))).toMatchObject({ ok: true });
    expect(kv.get("n")).toBeNull();
  });

  test("cas without any expectation is an invalid command", () => {
    const kv = fresh();
    expect(kv.apply(entry({ op: "cas", key: "a", value: "1" }))).toMatchObject({ ok: false, code: "invalid_command" });
  });

  test("a malformed entry yields invalid_command on every replica instead of throwing", () => {
    const kv = fresh();
    expect(kv.apply(entry("not json"))).toMatchObject({ ok: false, code: "invalid_command" });
    expect(kv.apply(entry(JSON.stringify({ op: "explode" })))).toMatchObject({ ok: false, code: "invalid_command" });
    expect(kv.appliedIndex).toBe(2);
  });

  test("noop and config entries advance the applied index without a result", () => {
    const kv = fresh();
    expect(kv.apply({ index: 1, term: 1, kind: "noop", data: "" })).toBeNull();
    expect(kv.apply({ index: 2, term: 1, kind: "config", data: "{}" })).toBeNull();
    expect(kv.appliedIndex).toBe(2);
  });

  test("an entry at or below the applied index is a replay and is ignored", () => {
    const kv = fresh();
    kv.apply(entry({ op: "put", key: "a", value: "1" }, 5));
    expect(kv.apply(entry({ op: "put", key: "a", value: "2" }, 5))).toBeNull();
    expect(kv.get("a")?.value).toBe("1");
  });

  test("list returns keys with the prefix in key order, after a cursor, up to a limit", () => {
    const kv = fresh();
    for (const k of ["user:3", "user:1", "order:1", "user:2", "user:10"]) kv.apply(entry({ op: "put", key: k, value: k }));
    expect(kv.list("user:").map((r) => r.key)).toEqual(["user:1", "user:10", "user:2", "user:3"]);
    expect(kv.list("user:", { limit: 2 }).map((r) => r.key)).toEqual(["user:1", "user:10"]);
    expect(kv.list("user:", { after: "user:10", limit: 1 })).toEqual([{ key: "user:2", value: "user:2", revision: 4 }]);
    expect(kv.list("")).toHaveLength(5);
  });
});

describe("exactly-once sessions", () => {
  test("a retried (clientId, seq) returns the recorded result and is not applied again", () => {
    const kv = fresh();
    const first = kv.apply(entry({ op: "put", key: "a", value: "1", clientId: "c1", seq: 1 }));
    kv.apply(entry({ op: "put", key: "a", value: "other" }));
    const retry = kv.apply(entry({ op: "put", key: "a", value: "1", clientId: "c1", seq: 1 }));
    // The same outcome, without the replaced value (sessions do not keep values).
    expect(retry).toEqual({ ...first, prev: undefined });
    expect(JSON.stringify(kv.snapshot()).includes('"prev"')).toBe(false);
    expect(kv.get("a")).toEqual({ value: "other", revision: 2 });
  });

  test("a failed cas is recorded too: its retry reports the same failure", () => {
    const kv = fresh();
    const r = kv.apply(entry({ op: "cas", key: "a", value: "1", expectedValue: "x", clientId: "c", seq: 4 }));
    kv.apply(entry({ op: "put", key: "a", value: "x" }));
    expect(r).toMatchObject({ ok: false, code: "cas_failed" });
    expect(kv.apply(entry({ op: "cas", key: "a", value: "1", expectedValue: "x", clientId: "c", seq: 4 }))).toEqual({ ok: false, code: "cas_failed" });
  });

  test("an older seq than the recorded one is refused as stale; a newer one applies", () => {
    const kv = fresh();
    kv.apply(entry({ op: "put", key: "a", value: "1", clientId: "c", seq: 5 }));
    expect(kv.apply(entry({ op: "put", key: "a", value: "0", clientId: "c", seq: 4 }))).toEqual({ ok: false, code: "stale_sequence", lastSeq: 5 });
    expect(kv.apply(entry({ op: "put", key: "a", value: "2", clientId: "c", seq: 6 }))).toMatchObject({ ok: true, revision: 3 });
    expect(kv.sessionSeq("c")).toBe(6);
  });

  test("sessions idle for more than sessionTtlEntries log entries expire, identically on every replica", () => {
    const kv = fresh(3);
    kv.apply(entry({ op: "put", key: "a", value: "1", clientId: "old", seq: 1 })); // index 1
    kv.apply(entry({ op: "put", key: "b", value: "1", clientId: "busy", seq: 1 })); // index 2
    kv.apply(entry({ op: "put", key: "b", value: "2", clientId: "busy", seq: 2 })); // index 3
    kv.apply(entry({ op: "put", key: "c", value: "1" })); // index 4: old idle 3 entries, kept
    expect(kv.sessionSeq("old")).toBe(1);
    kv.apply(entry({ op: "put", key: "c", value: "2" })); // index 5: old idle 4 > 3, expired
    expect(kv.sessionSeq("old")).toBeNull();
    expect(kv.sessionSeq("busy")).toBe(2);
  });

  test("snapshot/restore round-trips data, revisions, sessions and the applied index", () => {
    const kv = fresh();
    kv.apply(entry({ op: "put", key: "b", value: "2", clientId: "c", seq: 1 }));
    kv.apply(entry({ op: "put", key: "a", value: "1" }));
    const copy = new KvStateMachine();
    copy.restore(kv.snapshot());
    expect(copy.snapshot()).toBe(kv.snapshot());
    expect(copy.appliedIndex).toBe(2);
    expect(copy.apply(entry({ op: "put", key: "b", value: "2", clientId: "c", seq: 1 }))).toEqual({ ok: true, op: "put", revision: 1 });
  });

  test("exactly-once through Raft: a client retry proposed twice (e.g. after a leader change) is applied once on every node", () => {
    const c = new MemoryCluster({ voters: ["a", "b", "c"], rngFor: (id) => mulberry32(id.charCodeAt(0)) });
    const l = c.electLeader();
    const cmd = encodeCommand({ op: "cas", key: "counter", value: "1", expectedRevision: 0, clientId: "cli", seq: 1 });
    const p1 = c.node(l).propose(cmd, c.now);
    const p2 = c.node(l).propose(cmd, c.now);
    c.stabilize();
    for (const id of ["a", "b", "c"]) {
      const results = c.results.get(id)!;
      // The duplicate answers the recorded outcome (without the replaced value, which sessions do not keep).
      expect(results.get(p2.ok ? p2.index : -1)).toEqual({ ...results.get(p1.ok ? p1.index : -1), prev: undefined });
      expect(c.kv.get(id)!.get("counter")).toEqual({ value: "1", revision: p1.ok ? p1.index : -1 });
    }
  });
});
