// bench:tasks — the distributed task executor under Miniflare: tasks/s for TASKS small tasks
// (fibonacci n=20) submitted as batches of 1,000 and run by the executor pool under their
// coordinators, next to the baseline measured in the same run: the same task sent to one executor
// directly (POST /admin/tasks/direct: one RPC, run at once, no coordinator, no storage, no retries).
import { load } from "./lib/load";
import { startWorker } from "./lib/worker";

const TASKS = Number(process.env.BENCH_TASKS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const BATCH = 1_000;
const ADMIN = { authorization: "Bearer bench-admin", "content-type": "application/json" };
const TASK = { kind: "fibonacci", args: { n: 20 } };

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin" });
try {
  const { url } = worker;
  const body = JSON.stringify(TASK);
  await load({ name: "warm-up", url, method: "POST", headers: ADMIN, seconds: 2, connections: CONNECTIONS, next: () => ({ path: "/admin/tasks/direct", body }) });
  const direct = await load({ name: "one executor, directly", url, method: "POST", headers: ADMIN, seconds: SECONDS, connections: CONNECTIONS, next: () => ({ path: "/admin/tasks/direct", body }) });

  const started = Date.now();
  const batches = await Promise.all(
    Array.from({ length: Math.ceil(TASKS / BATCH) }, async (_, i) => {
      const n = Math.min(BATCH, TASKS - i * BATCH);
      const res = await fetch(`${url}/tasks`, { method: "POST", headers: ADMIN, body: JSON.stringify({ tasks: Array.from({ length: n }, () => TASK) }) });
      if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { batch: string }).batch;
    }),
  );
  const submittedMs = Date.now() - started;
  let failed = 0;
  for (const batch of batches) {
    for (;;) {
      const res = await fetch(`${url}/tasks?batch=${batch}&status=failed`, { headers: ADMIN });
      const view = (await res.json()) as { finished: boolean; tasks: unknown[] };
      if (view.finished) {
        failed += view.tasks.length;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const elapsedMs = Date.now() - started;
  const clusterRate = (TASKS / elapsedMs) * 1000;

  console.log(`\nbench:tasks (Miniflare, loopback, 4 executors), ${TASKS} x fibonacci(20)`);
  console.table([
    { scenario: "one executor, directly (baseline)", "tasks/s": Math.round(direct.rps), "p50 ms": direct.p50, errors: direct.errors + direct.non2xx, ratio: "1.00x" },
    { scenario: `cluster: ${batches.length} batches of ${BATCH}`, "tasks/s": Math.round(clusterRate), "p50 ms": "", errors: failed, ratio: `${(clusterRate / direct.rps).toFixed(2)}x` },
  ]);
  console.log(`submitting took ${submittedMs} ms; all ${TASKS} finished after ${elapsedMs} ms`);
} finally {
  await worker.stop();
}
