// bench:regex — issue 16 item 1: grep with a pattern that makes a backtracking engine take exponential
// time. `^(a+)+$` over one 1 MB line of a's followed by b (a streamed body, M=1, R=1), through the
// cluster under Miniflare, while /healthz is polled every ~20 ms. Baselines in the same run: the same
// job with a benign pattern (`b$`) and with a literal (`ab`), and /healthz polled while the worker is
// idle. Targets: the job ends in under 2 s, /healthz answers in under 100 ms meanwhile. For reference,
// JavaScript's backtracking RegExp on 20 to 30 characters of the same input, in this process (bounded).
// Also printed, not a target: RE2's worst case at the program-size cap (every instruction live at
// every character), the price of the cap's linear factor.
import { startWorker } from "./lib/worker";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HEALTHZ_EVERY_MS = 20;
const LINE = `${"a".repeat(999_999)}b`; // one line, 1,000,000 bytes: the largest a split holds
const TARGET_JOB_MS = 2_000;
const TARGET_HEALTHZ_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const median = (xs: number[]) => quantile(xs, 0.5);
const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;

interface Status { finished: boolean; phase: string; error: { message: string } | null }

/** Polls /healthz every HEALTHZ_EVERY_MS until `work` settles; returns its value and the latencies seen. */
async function healthzDuring<T>(url: string, work: Promise<T>): Promise<{ value: T; latencies: number[] }> {
  const latencies: number[] = [];
  let done = false;
  const poll = (async () => {
    while (!done) {
      const t = performance.now();
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
      latencies.push(performance.now() - t);
      await sleep(HEALTHZ_EVERY_MS);
    }
  })();
  try {
    return { value: await work, latencies };
  } finally {
    done = true;
    await poll;
  }
}

/** Submits a streamed grep of LINE and waits for its end; returns the wall-clock time and the match count. */
async function grepJob(url: string, pattern: string): Promise<{ ms: number; matches: number }> {
  const t = performance.now();
  const query = new URLSearchParams({ kind: "grep", pattern, M: "1", R: "1" });
  const res = await fetch(`${url}/jobs?${query}`, { method: "POST", headers: { "content-type": "text/plain" }, body: LINE });
  if (res.status !== 202) throw new Error(`submit ${pattern}: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  for (;;) {
    const st = (await (await fetch(`${url}/jobs/${id}`)).json()) as Status;
    if (st.finished) {
      const ms = performance.now() - t;
      if (st.phase !== "done") throw new Error(`job ${pattern} ended ${st.phase}: ${st.error?.message}`);
      const page = (await (await fetch(`${url}/jobs/${id}/result`)).json()) as { entries: unknown[] };
      await fetch(`${url}/jobs/${id}`, { method: "DELETE" });
      return { ms, matches: page.entries.length };
    }
    await sleep(10);
  }
}

/** The backtracking engine on n a's then b: bounded by stopping once one run passes `capMs`. */
function backtrackingReference(capMs: number): { n: number; ms: number }[] {
  const out: { n: number; ms: number }[] = [];
  for (let n = 16; n <= 30; n += 2) {
    const line = `${"a".repeat(n)}b`;
    const t = performance.now();
    /^(a+)+$/.test(line);
    const ms = performance.now() - t;
    out.push({ n, ms });
    if (ms > capMs) break;
  }
  return out;
}

const worker = await startWorker({});
try {
  const { url } = worker;
  await grepJob(url, "b$"); // warm-up: bundle loaded, executors created

  const idle = await healthzDuring(url, sleep(2_000));
  const rows: { label: string; pattern: string; jobMs: number[]; healthz: number[]; matches: number }[] = [
    { label: "pathological", pattern: "^(a+)+$", jobMs: [], healthz: [], matches: 0 },
    { label: "pathological", pattern: "(a|aa)+$", jobMs: [], healthz: [], matches: 0 },
    { label: "pathological", pattern: "(.*a){20}", jobMs: [], healthz: [], matches: 0 },
    { label: "benign (baseline)", pattern: "b$", jobMs: [], healthz: [], matches: 0 },
    { label: "literal (baseline)", pattern: "ab", jobMs: [], healthz: [], matches: 0 },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of rows) {
      const { value, latencies } = await healthzDuring(url, grepJob(url, row.pattern));
      row.jobMs.push(value.ms);
      row.healthz.push(...latencies);
      row.matches = value.matches;
    }
  }
  const worst = { pattern: "\\p{L}{999}\\p{L}{999}", jobMs: [] as number[], healthz: [] as number[] };
  {
    const { value, latencies } = await healthzDuring(url, grepJob(url, worst.pattern));
    worst.jobMs.push(value.ms);
    worst.healthz.push(...latencies);
  }

  const benign = median(rows.find((r) => r.pattern === "b$")!.jobMs);
  console.log(`bench:regex — grep over one line of 999,999 a's then b (1,000,000 bytes, M=1, R=1), ${ROUNDS} rounds, Miniflare`);
  console.log(`/healthz while idle (baseline): p50 ${fmt(median(idle.latencies))}, max ${fmt(Math.max(...idle.latencies))} (${idle.latencies.length} polls)`);
  console.log("");
  console.log("pattern            kind                 job median   vs b$   /healthz p50   /healthz max   matches   target (job < 2 s, /healthz < 100 ms)");
  for (const r of rows) {
    const job = median(r.jobMs);
    const hMax = Math.max(...r.healthz);
    const pass = job < TARGET_JOB_MS && hMax < TARGET_HEALTHZ_MS;
    console.log(
      `${r.pattern.padEnd(18)} ${r.label.padEnd(20)} ${fmt(job).padStart(10)}   ${(job / benign).toFixed(2).padStart(5)}x   ${fmt(median(r.healthz)).padStart(12)}   ${fmt(hMax).padStart(12)}   ${String(r.matches).padStart(7)}   ${pass ? "PASS" : "FAIL"}`,
    );
  }
  console.log("");
  console.log(
    `RE2's worst case at the program cap (not a target): ${worst.pattern} (2,000 instructions, every one live at every character): job ${fmt(worst.jobMs[0]!)} (${(worst.jobMs[0]! / benign).toFixed(1)}x b$), /healthz max ${fmt(Math.max(...worst.healthz))}`,
  );
  console.log("");
  console.log("reference: JavaScript's backtracking RegExp, /^(a+)+$/ on n a's then b, in this process (stops after a run over 2 s):");
  const ref = backtrackingReference(2_000);
  for (const { n, ms } of ref) console.log(`  n=${String(n).padStart(2)} (${n + 1} bytes): ${fmt(ms)}`);
  const last = ref[ref.length - 1]!;
  const perChar = ref.length >= 2 ? (last.ms / ref[ref.length - 2]!.ms) ** (1 / 2) : NaN;
  console.log(`  each extra character multiplies it by ~${perChar.toFixed(2)}: the 1,000,000-byte line would take ~10^${(Math.log10(last.ms) + (1_000_000 - last.n) * Math.log10(perChar)).toFixed(0)} ms`);
} finally {
  await worker.stop();
}
