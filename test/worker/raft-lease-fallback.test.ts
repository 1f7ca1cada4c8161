import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, call, json, sleep } from "./helpers";

// Issue 14 part 3: lease reads fall back to ReadIndex instead of answering 503, and every member reports
// the counters GET /metrics reads (electionsStarted, leaderChanges).

interface Member {
  node: string;
  reachable: boolean;
  status?: { role: string; term: number; leader: string | null; electionsStarted: number; leaderChanges: number; ticks: number; tickMs: number };
}
interface StatusBody {
  leader: string | null;
  members: Member[];
}

const status = async () => json<StatusBody>(await call("/raft/status"));
const post = (path: string, body: unknown) => call(path, { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify(body) });

async function waitForLeader(ms = 5000): Promise<string> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const s = await status();
    if (s.leader) return s.leader;
    await sleep(50);
  }
  throw new Error("no leader elected in time");
}

/** Lease reads of `key` until one is served the way `via` says (every answer must be a 200 with `value`). */
async function leaseReadUntil(key: string, value: string, via: string, ms = 8000): Promise<number> {
  const until = Date.now() + ms;
  let reads = 0;
  while (Date.now() < until) {
    const res = await call(`/kv/${key}?consistency=lease`);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(body).toBe(value);
    reads++;
    if (res.headers.get("x-raft-read") === via) return reads;
    await sleep(20);
  }
  throw new Error(`no lease read was served via ${via} within ${ms} ms`);
}

afterEach(async () => {
  await post("/admin/raft/heal", {});
});

describe("lease reads under slow acknowledgements (issue 14)", () => {
  it("§6.4.1 with fallback: while acknowledgements are slow the lease cannot be used, and lease reads are served by ReadIndex, never 503", async () => {
    await waitForLeader();
    expect((await call("/kv/fallback", { method: "PUT", body: "v1" })).status).toBe(200);
    await leaseReadUntil("fallback", "v1", "lease");
    const leader = (await status()).leader!;
    // Every follower's messages (its acknowledgements) now take 130 ms: longer than the ~90 ms lease, shorter
    // than the leader's CheckQuorum window (at least 4 ticks of 50 ms), so it keeps its office.
    const followers = (await status()).members.map((m) => m.node).filter((n) => n !== leader);
    for (const f of followers) expect((await post(`/admin/raft/nodes/${f}/delay`, { delayMs: 130 })).status).toBe(200);
    await leaseReadUntil("fallback", "v1", "readIndex");
    // The leader kept its office: the followers still hear it on time.
    expect((await status()).leader).toBe(leader);
    await post("/admin/raft/heal", {});
    await leaseReadUntil("fallback", "v1", "lease");
  });

  it("counters: every member's status carries electionsStarted and leaderChanges since it started, and its ticks", async () => {
    const leader = await waitForLeader();
    const s = await status();
    expect(s.members).toHaveLength(5);
    for (const m of s.members) {
      expect(m.reachable).toBe(true);
      expect(typeof m.status!.electionsStarted).toBe("number");
      expect(typeof m.status!.leaderChanges).toBe("number");
      expect(m.status!.tickMs).toBe(50);
    }
    // Every member that knows the leader has counted at least that one.
    for (const m of s.members.filter((x) => x.status!.leader === leader)) expect(m.status!.leaderChanges).toBeGreaterThanOrEqual(1);
    expect(s.members.reduce((n, m) => n + m.status!.electionsStarted, 0)).toBeGreaterThanOrEqual(1);
  });
});
