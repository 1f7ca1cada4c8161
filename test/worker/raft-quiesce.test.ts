import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { raftStub } from "../../durable-objects/raft-node";
import { ADMIN, call, json, sleep } from "./helpers";

// Quiescence (issue 15) in workerd: after the last request an idle Raft group arms no alarm and sends
// nothing; status calls (the dashboard, /metrics) do not wake it; a crash of the quiet leader costs the
// next request one election, and nothing acknowledged is lost.

interface MemberStatus {
  role: string;
  term: number;
  leader: string | null;
  ticks: number;
  quiesced: boolean;
  clockRunning: boolean;
  leaderChanges: number;
}
interface StatusBody {
  leader: string | null;
  members: { node: string; status?: MemberStatus }[];
}

const MEMBERS = ["n1", "n2", "n3", "n4", "n5"];
const status = async () => json<StatusBody>(await call("/raft/status"));
const post = (path: string) => call(path, { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body: "{}" });
const alarms = () => Promise.all(MEMBERS.map((n) => runInDurableObject(raftStub(env, "main", n), (_o, state) => state.storage.getAlarm())));

/** Polls until every member reports a quiet group (no clock running, no alarm armed), up to `ms`. */
async function untilQuiet(ms = 20_000): Promise<StatusBody> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await status();
    const members = s.members.map((m) => m.status);
    if (members.every((m) => m !== undefined && m.quiesced && !m.clockRunning) && (await alarms()).every((a) => a === null)) return s;
    if (Date.now() > until) throw new Error(`the group did not go quiet: ${JSON.stringify(members.map((m) => [m?.role, m?.quiesced, m?.clockRunning]))}`);
    await sleep(100);
  }
}

describe("an idle Raft group goes quiet (issue 15)", () => {
  it("after a burst of writes and reads every member stops its clock: no alarm armed, no tick for as long as it stays idle, status calls included", async () => {
    for (let i = 0; i < 20; i++) expect((await call(`/kv/q-${i}`, { method: "PUT", body: `v${i}` })).status).toBe(200);
    expect((await call("/kv/q-1")).status).toBe(200);
    expect((await call("/kv/q-2?consistency=lease")).status).toBe(200);
    const quiet = await untilQuiet();
    const ticks = quiet.members.map((m) => m.status!.ticks);
    // Idle for a while (20 ticks and more), asking for status all along: nothing ticks, nothing is armed.
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      const s = await status();
      expect(s.members.map((m) => m.status!.ticks)).toEqual(ticks);
    }
    expect(await alarms()).toEqual(MEMBERS.map(() => null));
    // And a request still works at once on the quiet group, from the same leader, in the same term.
    const before = quiet.members.find((m) => m.status!.role === "leader")!;
    expect((await call("/kv/q-1", { method: "PUT", body: "again" })).status).toBe(200);
    expect(await (await call("/kv/q-1")).text()).toBe("again");
    const after = await status();
    expect(after.leader).toBe(before.node);
    expect(after.members.find((m) => m.node === before.node)!.status!.term).toBe(before.status!.term);
  });

  it("a crash of the quiet leader: the next write elects a new leader and commits, and nothing acknowledged is lost", async () => {
    for (let i = 0; i < 5; i++) expect((await call(`/kv/c-${i}`, { method: "PUT", body: `v${i}` })).status).toBe(200);
    const quiet = await untilQuiet();
    const leader = quiet.leader!;
    const term = quiet.members.find((m) => m.node === leader)!.status!.term;
    expect((await post(`/admin/raft/nodes/${leader}/crash`)).status).toBe(200);
    const res = await call("/kv/c-after", { method: "PUT", body: "x" });
    expect(res.status).toBe(200);
    const s = await status();
    expect(s.leader).not.toBeNull();
    expect(s.members.find((m) => m.node === s.leader)!.status!.term).toBeGreaterThan(term);
    for (let i = 0; i < 5; i++) expect(await (await call(`/kv/c-${i}`)).text()).toBe(`v${i}`);
    // And it goes quiet again afterwards.
    await untilQuiet();
  });

  it("every member restarted while the group was quiet (as Cloudflare evicts idle objects): the next write commits, nothing is lost", async () => {
    for (let i = 0; i < 5; i++) expect((await call(`/kv/e-${i}`, { method: "PUT", body: `v${i}` })).status).toBe(200);
    await untilQuiet();
    for (const n of MEMBERS) expect((await post(`/admin/raft/nodes/${n}/crash`)).status).toBe(200);
    expect((await call("/kv/e-after", { method: "PUT", body: "x" })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect(await (await call(`/kv/e-${i}`)).text()).toBe(`v${i}`);
    expect(await (await call("/kv/e-after")).text()).toBe("x");
    await untilQuiet();
  });
});
