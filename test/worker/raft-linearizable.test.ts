import { expect, it } from "vitest";
import { checkLinearizable, formatCheckResult, HistoryRecorder } from "../../src/core/linearizability";
import { mulberry32 } from "../support/prng";
import { ADMIN, call, json, sleep } from "./helpers";

// Jepsen-style, with the real thing: concurrent clients through the worker against five RaftNode
// Durable Objects while the leader is crashed and the group partitioned; the recorded history must be
// linearizable. Replay: change SEED (the choices replay; their timing against real alarms does not).
const SEED = 0x1ea5e;
const CLIENTS = 4;
const OPS = 12;
const KEYS = ["x", "y", "z"];

const post = (path: string, body: unknown) => call(path, { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify(body) });
const leader = async () => (await json<{ leader: string | null }>(await call("/raft/status"))).leader;

it(`a history of concurrent puts, gets and compare-and-sets under crashes and partitions is linearizable (seed ${SEED})`, async () => {
  console.log(`raft-linearizable seed=${SEED}`);
  for (let i = 0; i < 100 && !(await leader()); i++) await sleep(50);
  const recorder = new HistoryRecorder();
  const now = () => performance.now();
  let running = true;

  const nemesis = (async () => {
    const rand = mulberry32(SEED);
    while (running) {
      await sleep(150 + rand() * 150);
      const l = await leader();
      if (!l || !running) continue;
      if (rand() < 0.5) {
        await post(`/admin/raft/nodes/${l}/crash`, {});
      } else {
        const others = ["n1", "n2", "n3", "n4", "n5"].filter((n) => n !== l);
        await post("/admin/raft/partition", { sides: [[l, others[0]!], others.slice(1)] });
        await sleep(300);
        await post("/admin/raft/heal", {});
      }
    }
  })();

  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    const rand = mulberry32(SEED + 1 + c);
    const client = `c${c}`;
    for (let i = 0; i < OPS; i++) {
      const key = KEYS[Math.floor(rand() * KEYS.length)]!;
      const roll = rand();
      if (roll < 0.4) {
        const value = `${client}-${i}`;
        const id = recorder.invoke(client, { type: "put", key, value }, now());
        const res = await call(`/kv/${key}`, { method: "PUT", body: value });
        if (res.status === 200) recorder.complete(id, { ok: true }, now());
        else recorder.failUnknown(id);
      } else if (roll < 0.75) {
        const id = recorder.invoke(client, { type: "get", key }, now());
        const res = await call(`/kv/${key}`);
        if (res.status === 200) recorder.complete(id, { value: await res.text() }, now());
        else if (res.status === 404) recorder.complete(id, { value: null }, now());
        else recorder.discard(id); // a failed read has no effect
      } else {
        const expected = rand() < 0.3 ? null : `c${Math.floor(rand() * CLIENTS)}-${Math.floor(rand() * i + 1)}`;
        const value = `${client}-${i}-cas`;
        const id = recorder.invoke(client, { type: "cas", key, expected, value }, now());
        const res = await call("/kv/cas", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key, value, expectedValue: expected }) });
        if (res.status === 200) recorder.complete(id, { ok: true }, now());
        else if (res.status === 409) recorder.complete(id, { ok: false }, now());
        else recorder.failUnknown(id);
      }
    }
  });
  await Promise.all(clients);
  running = false;
  await nemesis;
  await post("/admin/raft/heal", {});

  const history = recorder.history();
  const completed = history.filter((o) => o.completedAt !== null).length;
  expect(completed).toBeGreaterThan(history.length / 2);
  const result = checkLinearizable(history);
  expect(result.ok, formatCheckResult(result)).toBe(true);
}, 60_000);
