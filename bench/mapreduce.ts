// bench:mapreduce — word count through the cluster (POST /jobs: M map tasks and R reduce tasks on the
// executor pool, under Miniflare) next to the same tokenizer run start to end in one isolate
// sequentially (POST /admin/jobs/reference: the single-process reference inside the worker), same
// corpus, same run. Figure: MB/s of input. Inline input only (the body limit is 8 MiB): the streamed
// 50 MB upload of the issue is not built yet.
import { mulberry32 } from "../test/support/prng";
import { startWorker } from "./lib/worker";

const MB = Number(process.env.BENCH_MB ?? 6);
const M = Number(process.env.BENCH_M ?? 16);
const R = Number(process.env.BENCH_R ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ADMIN = { authorization: "Bearer bench-admin", "content-type": "application/json" };

/** A deterministic corpus: Zipf-ish words from a 5,000-word vocabulary, punctuation, lines of 5-15 words. */
function corpus(bytes: number): { id: string; text: string }[] {
  const rand = mulberry32(2026);
  const vocab = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}${"aeiou"[i % 5]}`);
  const docs: { id: string; text: string }[] = [];
  let total = 0;
  for (let d = 0; total < bytes; d++) {
    const lines: string[] = [];
    for (let l = 0; l < 200; l++) {
      const words = Array.from({ length: 5 + Math.floor(rand() * 10) }, () => vocab[Math.floor(vocab.length * rand() ** 3)]!);
      lines.push(words.join(" ") + [".", "!", "?", ";", ""][Math.floor(rand() * 5)]);
    }
    const text = lines.join("\n");
    total += text.length;
    docs.push({ id: `doc${d}`, text });
  }
  return docs;
}

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin" });
try {
  const { url } = worker;
  const documents = corpus(MB * 1024 * 1024);
  const bytes = documents.reduce((n, d) => n + d.text.length, 0);
  const body = JSON.stringify({ kind: "wordcount", input: { documents }, M, R, combiner: true });

  const reference = async () => {
    const t = Date.now();
    const res = await fetch(`${url}/admin/jobs/reference`, { method: "POST", headers: ADMIN, body });
    if (res.status !== 200) throw new Error(`reference: ${res.status} ${await res.text()}`);
    const out = (await res.json()) as { outputRecords: number };
    return { ms: Date.now() - t, records: out.outputRecords };
  };
  const cluster = async () => {
    const t = Date.now();
    const res = await fetch(`${url}/jobs`, { method: "POST", headers: ADMIN, body });
    if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    for (;;) {
      const st = (await (await fetch(`${url}/jobs/${id}`, { headers: ADMIN })).json()) as { finished: boolean; phase: string; counters: { outputRecords: number } };
      if (st.finished) {
        if (st.phase !== "done") throw new Error(`job ${id} ended ${st.phase}`);
        return { ms: Date.now() - t, records: st.counters.outputRecords };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  await reference();
  await cluster();
  const refs: number[] = [];
  const clus: number[] = [];
  let records = [0, 0];
  for (let i = 0; i < ROUNDS; i++) {
    const a = await reference();
    const b = await cluster();
    refs.push(a.ms);
    clus.push(b.ms);
    records = [a.records, b.records];
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const mbps = (ms: number) => bytes / 1024 / 1024 / (ms / 1000);
  const r = median(refs);
  const c = median(clus);
  console.log(`\nbench:mapreduce (Miniflare, 2 cores, 4 executors): word count of ${(bytes / 1024 / 1024).toFixed(1)} MiB, M=${M}, R=${R}, combiner on; median of ${ROUNDS}`);
  console.table([
    { scenario: "one isolate, sequential (reference) — baseline", ms: r, "MB/s": mbps(r).toFixed(2), "output records": records[0], ratio: "1.00x" },
    { scenario: "cluster: POST /jobs until done", ms: c, "MB/s": mbps(c).toFixed(2), "output records": records[1], ratio: `${(mbps(c) / mbps(r)).toFixed(2)}x` },
  ]);
} finally {
  await worker.stop();
}
