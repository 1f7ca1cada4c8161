// bench:mapreduce — word count of a large text uploaded as a streamed body, through the cluster
// (POST /jobs?kind=wordcount: the worker cuts the body into M splits as it arrives and stores each on
// its executor; M map tasks and R reduce tasks on the executor pool, under Miniflare) next to the same
// tokenizer run over the same streamed body in one isolate sequentially (POST /admin/jobs/reference),
// same corpus, same run. Figure: MB/s of input, and the ratio. Also prints the measured per-task costs
// and a projection of the job's time on Cloudflare, where executors run on separate machines.
import { mulberry32 } from "../test/support/prng";
import { startWorker } from "./lib/worker";

const MB = Number(process.env.BENCH_MB ?? 50);
const M = process.env.BENCH_M; // unset: the worker picks M from the Content-Length (about 768 KiB per split)
const R = Number(process.env.BENCH_R ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ADMIN = { authorization: "Bearer bench-admin" };
const TEXT = { ...ADMIN, "content-type": "text/plain; charset=utf-8" };

/** A deterministic corpus: Zipf-ish words from a 5,000-word vocabulary, punctuation, lines of 5-15 words. */
function corpus(bytes: number): Buffer {
  const rand = mulberry32(2026);
  const vocab = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}${"aeiou"[i % 5]}`);
  const lines: string[] = [];
  let total = 0;
  while (total < bytes) {
    const words = Array.from({ length: 5 + Math.floor(rand() * 10) }, () => vocab[Math.floor(vocab.length * rand() ** 3)]!);
    const line = words.join(" ") + [".", "!", "?", ";", ""][Math.floor(rand() * 5)] + "\n";
    lines.push(line);
    total += line.length;
  }
  return Buffer.from(lines.join(""), "utf8");
}

interface TaskRow { stage: string; state: string; durationMs: number | null; executor: string | null }
interface Status { finished: boolean; phase: string; M: number; R: number; counters: Record<string, number>; tasks: TaskRow[]; stages: { name: string; startedAt: number | null; endedAt: number | null }[]; createdAt: number }

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin" });
try {
  const { url } = worker;
  const body = corpus(MB * 1024 * 1024);
  const bytes = body.length;
  const query = new URLSearchParams({ kind: "wordcount", R: String(R), combiner: "true", ...(M === undefined ? {} : { M }) });

  const reference = async () => {
    const t = performance.now();
    const res = await fetch(`${url}/admin/jobs/reference?kind=wordcount`, { method: "POST", headers: TEXT, body });
    if (res.status !== 200) throw new Error(`reference: ${res.status} ${await res.text()}`);
    const out = (await res.json()) as { outputRecords: number };
    return { ms: performance.now() - t, records: out.outputRecords };
  };
  const cluster = async () => {
    const t = performance.now();
    const res = await fetch(`${url}/jobs?${query}`, { method: "POST", headers: TEXT, body });
    if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
    const uploadMs = performance.now() - t;
    const { id } = (await res.json()) as { id: string };
    for (;;) {
      const st = (await (await fetch(`${url}/jobs/${id}`, { headers: ADMIN })).json()) as Status;
      if (st.finished) {
        if (st.phase !== "done") throw new Error(`job ${id} ended ${st.phase}`);
        const ms = performance.now() - t;
        await fetch(`${url}/jobs/${id}`, { method: "DELETE", headers: ADMIN });
        return { ms, uploadMs, records: st.counters.outputRecords!, status: st };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  await reference();
  await cluster();
  const refs: number[] = [];
  const runs: Awaited<ReturnType<typeof cluster>>[] = [];
  let refRecords = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const a = await reference();
    refs.push(a.ms);
    refRecords = a.records;
    runs.push(await cluster());
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const mib = bytes / 1024 / 1024;
  const mbps = (ms: number) => mib / (ms / 1000);
  const r = median(refs);
  const run = [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]!;
  const st = run.status;
  // Each round runs the baseline then the cluster back to back: the ratio per round shows this machine's noise.
  const perRound = refs.map((ms, i) => ms / runs[i]!.ms);
  console.log(`\nratio per round (baseline ms / cluster ms): ${perRound.map((x) => x.toFixed(2)).join(", ")}; median ${median(perRound).toFixed(2)}`);
  console.log(`\nbench:mapreduce (Miniflare, 2 cores, ${new Set(st.tasks.map((t) => t.executor)).size} executors): word count of ${mib.toFixed(1)} MiB streamed, M=${st.M}, R=${st.R}, combiner on; median of ${ROUNDS}`);
  console.table([
    { scenario: "one isolate, sequential (reference over the streamed body) — baseline", ms: Math.round(r), "MB/s": mbps(r).toFixed(2), "output records": refRecords, ratio: "1.00x" },
    { scenario: "cluster: POST /jobs (streamed) until done", ms: Math.round(run.ms), "MB/s": mbps(run.ms).toFixed(2), "output records": run.records, ratio: `${(mbps(run.ms) / mbps(r)).toFixed(2)}x` },
  ]);

  // Per-task costs of the median run, and the projection for Cloudflare (executors on separate machines).
  const durations = (stage: string) => st.tasks.filter((t) => t.stage === stage && t.durationMs !== null).map((t) => t.durationMs!);
  const stageMs = (name: string) => {
    const s = st.stages.find((x) => x.name === name);
    return s?.startedAt != null && s.endedAt != null ? s.endedAt - s.startedAt : NaN;
  };
  const maps = durations("map");
  const reduces = durations("reduce");
  const splitMiB = mib / st.M;
  const perMapMs = (r * splitMiB) / mib; // the tokenizer alone on one split, from the baseline
  console.log(`upload and cut into ${st.M} splits: ${Math.round(run.uploadMs)} ms (${mbps(run.uploadMs).toFixed(1)} MB/s); map phase ${Math.round(stageMs("map"))} ms; reduce phase ${Math.round(stageMs("reduce"))} ms`);
  console.log(`map task (${splitMiB.toFixed(2)} MiB): median ${median(maps)} ms, attempts run concurrently on each executor share one thread here; the tokenizer alone on one split: ${perMapMs.toFixed(0)} ms`);
  console.log(`reduce task: median ${median(reduces)} ms; bytes shuffled ${st.counters.bytesShuffled}`);
  for (const n of [4, 16, 64]) {
    const waves = Math.ceil(st.M / n);
    const projected = run.uploadMs + waves * perMapMs + median(reduces);
    console.log(`projection, ${n} executors on separate machines: upload ${Math.round(run.uploadMs)} ms + ${waves} wave(s) x ${perMapMs.toFixed(0)} ms map + ${median(reduces)} ms reduce = ${Math.round(projected)} ms (${mbps(projected).toFixed(1)} MB/s, ${(r / projected).toFixed(1)}x the single isolate)`);
  }
} finally {
  await worker.stop();
}
