import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { CacheShard } from "../../durable-objects/cache-shard";
import { getConfig } from "../../src/config";
import { coordinatorName, coordinatorStub, runTxn } from "../../src/services/txn";
import { call, eventually, getKey, json, putKey, replicasOf, shard, sleep } from "./helpers";
import { keysOnDistinctShards, locksReleased, postTxn as post, txnView, type TxnBody } from "./txn-support";
import { coordinatorOf } from "./txn-support";

describe("POST /txn", () => {
  it("commits writes to keys on different shards and returns their revisions", async () => {
    const res = await post({ ops: [{ op: "set", key: "a1", value: "x" }, { op: "set", key: "b2", value: "y" }, { op: "incr", key: "c3", by: 5 }] });
    const body = await json<TxnBody>(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.state).toBe("committed");
    expect(body.results!.find((r) => r.key === "c3")?.value).toBe("5");
    // One revision for the whole transaction, and it is what a plain read reports.
    expect(new Set(body.results!.map((r) => r.revision)).size).toBe(1);
    expect(body.participants.length).toBeGreaterThan(3);
    const a1 = await getKey("a1");
    expect(await a1.text()).toBe("x");
    expect(a1.headers.get("x-cache-version")).toBe(body.results![0]!.revision);
    expect(await (await getKey("c3")).text()).toBe("5");
  });

  it("aborts when a condition fails and says which one; nothing is written", async () => {
    await putKey("acct", "10");
    const res = await post({ ops: [{ op: "set", key: "acct", value: "0" }, { op: "set", key: "other", value: "1" }], conditions: [{ key: "acct", exists: true }, { key: "acct", equals: "11" }] });
    const body = await json<TxnBody & { error: { code: string } }>(res);
    expect(res.status).toBe(409);
    expect(body.state).toBe("aborted");
    expect(body.error.code).toBe("condition_failed");
    expect(body.reason).toMatchObject({ code: "condition_failed", condition: 1, key: "acct" });
    expect(await (await getKey("acct")).text()).toBe("10");
    expect((await getKey("other")).status).toBe(404);
  });

  it("checks exists / not exists / revision conditions on the newest copy", async () => {
    const put = await json<{ version: string }>(await putKey("cond-k", "v1"));
    const ok = await post({ ops: [{ op: "set", key: "cond-k", value: "v2" }], conditions: [{ key: "cond-k", revision: put.version }, { key: "cond-missing", exists: false }, { key: "cond-missing", revision: null }] });
    expect(ok.status).toBe(200);
    const stale = await post({ ops: [{ op: "set", key: "cond-k", value: "v3" }], conditions: [{ key: "cond-k", revision: put.version }] });
    expect(stale.status).toBe(409);
    expect(await (await getKey("cond-k")).text()).toBe("v2");
  });

  it("deletes, increments (keeping TTL semantics) and sets with a TTL", async () => {
    await putKey("del-me", "x");
    // A TTL a loaded machine cannot outrun between the commit and the first read (150 ms could), then
    // awaited until it has run out.
    const res = await post({ ops: [{ op: "delete", key: "del-me" }, { op: "set", key: "short", value: "s", ttlMs: 2000 }, { op: "incr", key: "ctr", by: -3 }] });
    expect(res.status).toBe(200);
    expect((await getKey("short")).status).toBe(200);
    expect((await getKey("del-me")).status).toBe(404);
    expect(await (await getKey("ctr")).text()).toBe("-3");
    await eventually(async () => (await getKey("short")).status === 404);
  });

  it("an increment of a value that is not an integer aborts with 422", async () => {
    await putKey("word", "hello");
    const res = await post({ ops: [{ op: "incr", key: "word", by: 1 }] });
    expect(res.status).toBe(422);
    expect((await json<TxnBody>(res)).reason?.code).toBe("not_an_integer");
  });

  it("the same id is idempotent: a retry returns the recorded outcome and applies nothing twice", async () => {
    const body = { id: "idem-1", ops: [{ op: "incr", key: "idem-ctr", by: 1 }] };
    const first = await json<TxnBody>(await post(body));
    const again = await json<TxnBody>(await post(body));
    const viaHeader = await post({ ops: body.ops }, { "idempotency-key": "idem-1" });
    expect(viaHeader.status).toBe(200);
    expect(again.results).toEqual(first.results);
    expect(await (await getKey("idem-ctr")).text()).toBe("1");
    const reused = await post({ id: "idem-1", ops: [{ op: "incr", key: "idem-ctr", by: 2 }] });
    expect(reused.status).toBe(422);
    expect((await json<{ error: { code: string } }>(reused)).error.code).toBe("id_reused");
  });

  it("GET /txn/{id} reports state, participants with votes and acks, and timings", async () => {
    await post({ id: "view-1", ops: [{ op: "set", key: "view-k", value: "1" }] });
    const v = await txnView("view-1");
    expect(v.state).toBe("committed");
    expect(v.participants.length).toBe(3);
    expect(v.participants.every((p) => p.vote === "yes" && p.acked)).toBe(true);
    expect(v.timings.endedAt).not.toBeNull();
    expect((await call("/txn/never-seen")).status).toBe(404);
    expect((await call("/txn/bad%20id")).status).toBe(400);
  });
});

describe("coordinator placement", () => {
  it("transactions spread over the coordinator pool by id; TXN_COORDINATORS=0 gives each its own object", async () => {
    const base = getConfig(env);
    expect(coordinatorName(base, "place-1")).toMatch(/^txn-coordinator-\d+$/);
    const own = { ...base, txn: { ...base.txn, coordinators: 0 } };
    const view = await runTxn(env, own, "place-1", { ops: [{ op: "set", key: "place-k", value: "1" }], conditions: [] });
    expect(view.phase).toBe("committed");
    expect((await coordinatorStub(env, "txn:place-1").status("place-1"))?.phase).toBe("committed");
    expect(await coordinatorStub(env, coordinatorName(base, "place-1")).status("place-1")).toBeNull();
  });
});

describe("POST /txn refuses bad input with 400 and a reason", () => {
  const cases: [string, unknown][] = [
    ["no operations", { ops: [] }],
    ["too many operations", { ops: Array.from({ length: 65 }, (_, i) => ({ op: "set", key: `k${i}`, value: "v" })) }],
    ["conflicting operations on one key", { ops: [{ op: "set", key: "dup", value: "a" }, { op: "delete", key: "dup" }] }],
    ["a key over the limit", { ops: [{ op: "set", key: "k".repeat(513), value: "v" }] }],
    ["an empty key", { ops: [{ op: "delete", key: "" }] }],
    ["values over the transaction limit", { ops: [{ op: "set", key: "a", value: "x".repeat(200_000) }, { op: "set", key: "b", value: "y".repeat(100_000) }] }],
    ["an unknown operation", { ops: [{ op: "append", key: "a", value: "x" }] }],
    ["an increment by a non-integer", { ops: [{ op: "incr", key: "a", by: 1.5 }] }],
    ["an unknown field", { ops: [{ op: "set", key: "a", value: "x", colour: "red" }] }],
    ["a malformed condition", { ops: [{ op: "delete", key: "a" }], conditions: [{ key: "a", greater: 3 }] }],
    ["a bad id", { id: "has space", ops: [{ op: "delete", key: "a" }] }],
    ["a lone surrogate in a value", { ops: [{ op: "set", key: "a", value: "\ud800" }] }],
  ];
  for (const [what, body] of cases) {
    it(what, async () => {
      const res = await post(body);
      const out = await json<{ error: { code: string; message: string } }>(res);
      expect(res.status, JSON.stringify(out)).toBe(400);
      expect(out.error.message.length).toBeGreaterThan(0);
    });
  }

  it("identical repeated operations are merged, not refused", async () => {
    const res = await post({ ops: [{ op: "set", key: "same", value: "a" }, { op: "set", key: "same", value: "a" }] });
    expect(res.status).toBe(200);
  });

  it("a body that is not JSON is a 400; an oversized one a 413", async () => {
    expect((await call("/txn", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" })).status).toBe(400);
    const huge = JSON.stringify({ ops: [{ op: "set", key: "a", value: "x".repeat(3 * 1024 * 1024) }] });
    expect((await call("/txn", { method: "POST", headers: { "content-type": "application/json" }, body: huge })).status).toBe(413);
  });
});

/**
 * The lock tests below hold a lock with a transaction whose coordinator never heard of it, so the
 * participants ask after TXN_INQUIRY_AFTER_MS (200 ms in the tests) and release it as presumed aborted.
 * What they check happens inside that window. A loaded machine can take longer than 200 ms between
 * the prepare and the read: then the lock is gone before the read arrives and the round says nothing.
 * `inLockWindow` runs a round again (fresh key and holder) when, and only when, it finds the lock
 * already released that way; a round that breaks a rule while the lock was held fails at once, and
 * five rounds that all missed the window fail too.
 */
async function inLockWindow(round: (n: number) => Promise<"checked" | "missed">): Promise<void> {
  for (let n = 0; n < 5; n++) if ((await round(n)) === "checked") return;
  throw new Error("five rounds in a row found the lock released before the read arrived: the machine is too slow for the 200 ms window");
}

/** Whether no replica of `key` holds a lock of `holder` any more. */
async function released(key: string, holder: string): Promise<boolean> {
  const states = await Promise.all((await replicasOf(key)).map((s) => shard(s).txnState()));
  return states.every((st) => st.locks[key] !== holder);
}

describe("plain reads and writes of a locked key", () => {
  it("wait briefly, then answer 409 locked with Retry-After; they never see the uncommitted value", async () => {
    await inLockWindow(async (n) => {
      const [key] = keysOnDistinctShards(`locked-plain-${n}`, 1);
      const holder = `lock-holder-${n}`;
      await putKey(key!, "before", "?w=3");
      for (const s of await replicasOf(key!)) expect((await shard(s).txnPrepare(holder, s, [key!], [], coordinatorOf(holder))).vote).toBe("yes");
      // Both together, inside the 200 ms after which the participants start asking the (unknown) coordinator.
      const [read, write] = await Promise.all([getKey(key!), putKey(key!, "plain")]);
      if (read.status !== 409 || write.status !== 409) {
        // Answered without the lock: fine only if the presumed abort had already released it.
        expect(await released(key!, holder), `answered ${read.status}/${write.status} while ${holder} still held the lock`).toBe(true);
        await locksReleased();
        return "missed";
      }
      expect(read.headers.get("retry-after")).toBe("1");
      expect((await json<{ error: { code: string } }>(read)).error.code).toBe("locked");
      // The holder's coordinator never heard of it: the participants' inquiries presume abort.
      await locksReleased();
      expect(await (await getKey(key!)).text()).toBe("before");
      return "checked";
    });
  });

  it("a read waiting on a lock returns the committed value as soon as the commit is applied", async () => {
    await inLockWindow(async (n) => {
      const [key] = keysOnDistinctShards(`locked-wait-${n}`, 1);
      const holder = `wait-holder-${n}`;
      await putKey(key!, "before", "?w=3");
      const replicas = await replicasOf(key!);
      for (const s of replicas) await shard(s).txnPrepare(holder, s, [key!], [], coordinatorOf(holder));
      let answered = false;
      const pending = getKey(key!).finally(() => void (answered = true));
      await sleep(20);
      if (answered || (await released(key!, holder))) {
        // The read ended, or the lock went, before the commit was sent: too slow a round to say anything.
        await pending;
        await locksReleased();
        return "missed";
      }
      const write = { key: key!, version: "0fffffffffff.000000.00000001", value: "after", contentType: "text/plain", expiresAt: null };
      await Promise.all(replicas.map((s) => shard(s).txnDecide(holder, s, "committed", [write])));
      const res = await pending;
      if (res.status === 409) {
        // Its wait ran out before the commit arrived (the wait is TXN_LOCK_WAIT_MS): missed, unless the lock was held all along.
        return "missed";
      }
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("after");
      return "checked";
    });
  });
});

describe("hinted handoff meets a lock", () => {
  it("a hint whose target key is locked by a transaction is kept for a later try, not dropped", async () => {
    const holder = shard("hint-lock-holder");
    const target = shard("hint-lock-target");
    const version = "00000000ffff.000000.00000001";
    await holder.put({ key: "hk", version, value: new TextEncoder().encode("v"), contentType: "text/plain", expiresAt: null });
    await holder.addHints("hk", version, ["hint-lock-target"]);
    await runInDurableObject(holder, (_: CacheShard, state) => {
      state.storage.sql.exec("UPDATE hints SET due_at = 0");
    });
    expect((await target.txnPrepare("hint-lock-txn", "hint-lock-target", ["hk"], [], coordinatorOf("hint-lock-txn"))).vote).toBe("yes");
    await runDurableObjectAlarm(holder);
    expect((await holder.stats()).pendingHints).toBe(1);
    await locksReleased();
  });
});

describe("keys that are names of JavaScript built-ins", () => {
  it("a transaction on __proto__, constructor and toString commits like any other", async () => {
    const res = await post({ ops: [{ op: "incr", key: "__proto__", by: 2 }, { op: "set", key: "constructor", value: "c" }, { op: "incr", key: "toString", by: 1 }] });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await (await getKey("__proto__")).text()).toBe("2");
    expect(await (await getKey("toString")).text()).toBe("1");
  });
});

describe("content types and encoded size", () => {
  it("a content type that cannot be sent back as a header is a 400, in a transaction and in a batch set", async () => {
    const res = await post({ ops: [{ op: "set", key: "ct", value: "v", contentType: "a\nb" }] });
    expect(res.status).toBe(400);
    const euro = await post({ ops: [{ op: "set", key: "ct", value: "v", contentType: "text/€" }] });
    expect(euro.status).toBe(400);
    const batch = await call("/cache/batch/set", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ entries: [{ key: "ct", value: "v", contentType: "x\r\ny" }] }) });
    expect(batch.status).toBe(400);
  });

  it("values whose JSON escapes would overflow the coordinator's log row are a 400", async () => {
    const res = await post({ ops: [{ op: "set", key: "ctrl", value: "\u0001".repeat(200_000) }] });
    expect(res.status).toBe(400);
    expect((await json<{ error: { message: string } }>(res)).error.message).toMatch(/as JSON/);
  });
});
