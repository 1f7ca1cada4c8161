// Rows written by the cache shards: what Cloudflare bills for SQLite storage (each row a statement
// writes, index entries included, and each setAlarm()). Measured from the usage counters of GET
// /metrics around N operations of one kind, background work included (the third replica's write,
// alarms). The bounds are the figures measured when the write path was trimmed, with a little room
// for timing (alarms): a change that makes reads write again, or adds an index, fails here.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { CacheShard } from "../../durable-objects/cache-shard";
import { makeVersion } from "../../src/core/cache/version";
import { ALL_SHARDS, call, scrapeMetrics, shard, sleep } from "./helpers";

const N = 20;
const ROWS = 'dc_usage_rows_written_total{kind="cache"}';

async function rowsWritten(): Promise<number> {
  return (await scrapeMetrics()).samples.get(ROWS) ?? 0;
}

/** The counter once the shards' rows stop moving (the third replica's write, hints and alarms land after the answer). */
async function settled(): Promise<number> {
  let last = await rowsWritten();
  for (;;) {
    await sleep(400);
    const now = await rowsWritten();
    if (now === last) return now;
    last = now;
  }
}

/** Rows written by the cache shards per operation (all replicas together), over N operations. */
async function perOperation(op: (i: number) => Promise<void>): Promise<number> {
  const before = await settled();
  for (let i = 0; i < N; i++) await op(i);
  return ((await settled()) - before) / N;
}

const redis = async (...cmd: string[]) => {
  const res = await call("/redis", { method: "POST", body: JSON.stringify(cmd) });
  expect(res.status).toBe(200);
};

const v = (i: number) => makeVersion(1_700_000_000_000, i, 0xbeef);

describe("rows written by the cache shards per operation (N = 3 replicas)", () => {
  it("PUT writes a new entry's row and its two index entries, an overwrite updates it in place; a GET writes nothing; INCR's 2PC stays lean", async () => {
    // Every shard's tables exist first: creating them is a one-time cost, not the operations'.
    for (const s of ALL_SHARDS) await shard(s).stats();
    const rows = {
      putNew: await perOperation(async (i) => void expect((await call(`/cache/rows-put-${i}`, { method: "PUT", body: "value" })).status).toBe(200)),
      putOverwrite: await perOperation(async (i) => void expect((await call(`/cache/rows-put-${i}`, { method: "PUT", body: "value2" })).status).toBe(200)),
      getHit: await perOperation(async (i) => void expect((await call(`/cache/rows-put-${i}`)).status).toBe(200)),
      // Reads' recency used to be written by the next alarm: run one on every shard.
      alarmAfterGets: await perOperation(async (i) => {
        if (i < ALL_SHARDS.length) await runInDurableObject(shard(ALL_SHARDS[i]!), async (instance: CacheShard) => instance.alarm());
      }),
      redisSet: await perOperation((i) => redis("SET", `rows-set-${i}`, "v")),
      incrNew: await perOperation((i) => redis("INCR", `rows-incr-${i}`)),
      incrExisting: await perOperation((i) => redis("INCR", `rows-incr-${i}`)),
    };
    console.log("cache rows written per operation:", JSON.stringify(rows));
    // Per replica: entry row + key index + LRU index entry, and the accounting row (the first one of a shard writes its key index too).
    expect(rows.putNew).toBeLessThanOrEqual(3 * 4 + 1);
    // Per replica: the row and its LRU index entry, and the accounting row.
    expect(rows.putOverwrite).toBeLessThanOrEqual(3 * 3);
    expect(rows.getHit).toBe(0);
    expect(rows.alarmAfterGets).toBe(0);
    expect(rows.redisSet).toBeLessThanOrEqual(3 * 4 + 1);
    // Per replica: prepared row in and out, the entry (2-3), the finished record (2), the accounting when a size changed, and about one setAlarm.
    expect(rows.incrNew).toBeLessThanOrEqual(32);
    expect(rows.incrExisting).toBeLessThanOrEqual(24);
  });
});

describe("reads' LRU recency lives in memory", () => {
  it("a read writes no row; after a crash the recency it gave is gone (LRU falls back to write order) and the capacity bound holds", async () => {
    const s = shard("rows-lru-crash");
    const big = () => new Uint8Array(800 * 1024); // capacity in tests is 2 MiB: two fit, three do not
    await s.put({ key: "a", version: v(1), value: big(), contentType: "x", expiresAt: null });
    await sleep(5);
    await s.put({ key: "b", version: v(2), value: big(), contentType: "x", expiresAt: null });
    const before = await settled();
    await s.get("a");
    await runInDurableObject(s, async (instance: CacheShard) => instance.alarm());
    expect((await settled()) - before).toBe(0);
    // The crash forgets that "a" was read: the approximation is the LRU order of the last writes.
    await s.crash().catch(() => undefined);
    const after = shard("rows-lru-crash");
    await after.put({ key: "c", version: v(3), value: big(), contentType: "x", expiresAt: null });
    expect({ a: (await after.get("a")).live, b: (await after.get("b")).live, c: (await after.get("c")).live }).toEqual({ a: false, b: true, c: true });
    const stats = await after.stats();
    expect(stats.bytes).toBeLessThanOrEqual(stats.capacityBytes);
    expect(stats.keys).toBe(2);
  });

  it("without a crash, a key read long ago but after the others were written is kept: its recency is written when eviction reaches it", async () => {
    const s = shard("rows-lru-lazy");
    const big = () => new Uint8Array(600 * 1024); // three fit in 2 MiB, four do not
    for (const [i, key] of ["a", "b", "c"].entries()) {
      await s.put({ key, version: v(i + 1), value: big(), contentType: "x", expiresAt: null });
      await sleep(5);
    }
    await s.get("a");
    await sleep(5);
    await s.get("b"); // recency order now: c < a < b
    await s.put({ key: "d", version: v(9), value: big(), contentType: "x", expiresAt: null });
    expect({ a: (await s.get("a")).live, b: (await s.get("b")).live, c: (await s.get("c")).live }).toEqual({ a: true, b: true, c: false });
  });
});

describe("a shard whose participant tables were made by an earlier version", () => {
  it("keeps its prepared transactions, their locks and the finished outcomes, in WITHOUT ROWID tables and no stored lock table", async () => {
    const s = shard("rows-old-schema");
    const inquireLater = Date.now() + 60 * 60 * 1000;
    await runInDurableObject(s, (_: CacheShard, state: DurableObjectState) => {
      const sql = state.storage.sql;
      // The schema as the earlier version created it.
      sql.exec("DROP TABLE txn_prepared");
      sql.exec("DROP TABLE txn_finished");
      sql.exec("CREATE TABLE txn_locks (key TEXT PRIMARY KEY, txn TEXT NOT NULL)");
      sql.exec(`CREATE TABLE txn_prepared (txn TEXT PRIMARY KEY, coordinator TEXT NOT NULL, keys TEXT NOT NULL,
        prepared_at INTEGER NOT NULL, next_inquiry_at INTEGER NOT NULL, inquiries INTEGER NOT NULL)`);
      sql.exec("CREATE TABLE txn_finished (txn TEXT PRIMARY KEY, outcome TEXT NOT NULL, at INTEGER NOT NULL)");
      sql.exec("CREATE INDEX txn_finished_at ON txn_finished (at)");
      sql.exec("INSERT INTO txn_prepared VALUES ('t-open', 'coordinator-x', '[\"k1\",\"k2\"]', ?, ?, 0)", Date.now(), inquireLater);
      sql.exec("INSERT INTO txn_locks VALUES ('k1', 't-open'), ('k2', 't-open')");
      sql.exec("INSERT INTO txn_finished VALUES ('t-done', 'committed', ?)", Date.now());
    });
    await s.crash().catch(() => undefined);
    const after = shard("rows-old-schema");
    expect(await after.txnState()).toEqual({ locks: { k1: "t-open", k2: "t-open" }, prepared: ["t-open"] });
    // A late PREPARE of the finished transaction is still refused.
    const late = await after.txnPrepare("t-done", "rows-old-schema", ["k3"], [], "coordinator-x");
    expect(late.vote).toBe("no");
    await runInDurableObject(after, (_: CacheShard, state: DurableObjectState) => {
      const tables = state.storage.sql.exec<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name LIKE 'txn_%'").toArray();
      expect(tables.map((t) => t.name).sort()).toEqual(["txn_finished", "txn_prepared"]);
      for (const t of tables) expect(t.sql).toMatch(/WITHOUT ROWID$/);
      const indexes = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'txn_finished'").toArray();
      expect(indexes.map((i) => i.name)).toContain("txn_finished_at");
    });
  });
});
