// bench:regex — issue 16 item 1: grep with a pattern that makes a backtracking engine take exponential
// time. `^(a+)+$` over one 1 MB line of a's followed by b (a streamed body, M=1, R=1), through the
// cluster under Miniflare, while /healthz is polled every ~20 ms. Baselines in the same run: the same
// job with a benign pattern (`b$`) and with a literal (`ab`), and /healthz polled while the worker is
// idle. Targets: the job ends in under 2 s, /healthz answers in under 100 ms meanwhile. For reference,
// JavaScript's backtracking RegExp on 20 to 30 characters of the same input, in this process (bounded).
// Also printed, not a target: RE2's worst cases at the program-size cap (patterns whose DFA overflows
// re2js's cache, so it simulates the NFA and pays for every live instruction at every character).
import { startWorker } from "./lib/worker";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HEALTHZ_EVERY_MS = 20;
const LINE = `${"a".repeat(999_999)}b`; // one line, 1,000,000 bytes: the largest a split holds
/** One line of 1,000,000 pseudo-random a's and b's (deterministic): defeats the DFA of [ab]*a[ab]{n}. */
const RANDOM_LINE = (() => {
  let x = 1;
  return Array.from({ length: 1_000_000 }, () => (((x = (x * 1103515245 + 12345) % 2147483648) >> 30) & 1 ? "a" : "b")).join("");
})();
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

/**
 * Polls /healthz every HEALTHZ_EVERY_MS until `work` settles; returns its value, the latencies seen and
 * how many polls failed (a request queued behind an isolate busy for seconds can have its connection
 * closed under Miniflare: counted, with the time it took to fail as its latency).
 */
async function healthzDuring<T>(url: string, work: Promise<T>): Promise<{ value: T; latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      const t = performance.now();
      try {
        const res = await fetch(`${url}/healthz`);
        await res.arrayBuffer();
        if (res.status !== 200) failed++;
      } catch {
        failed++;
      }
      latencies.push(performance.now() - t);
      await sleep(HEALTHZ_EVERY_MS);
    }
  })();
  try {
    return { value: await work, latencies, failed };
  } finally {
    done = true;
    await poll;
  }
}

/** Submits a streamed grep of LINE and waits for its end; returns the wall-clock time and the match count. */
async function grepJob(url: string, pattern: string, body: string = LINE): Promise<{ ms: number; matches: number }> {
  const t = performance.now();
  const query = new URLSearchParams({ kind: "grep", pattern, M: "1", R: "1" });
  const res = await fetch(`${url}/jobs?${query}`, { method: "POST", headers: { "content-type": "text/plain" }, body });
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
// Each job is read back and deleted; the grep's result for LINE is at most one entry.
try {
  const { url } = worker;
  await grepJob(url, "b$"); // warm-up: bundle loaded, executors created

  const idle = await healthzDuring(url, sleep(2_000));
  const rows: { label: string; pattern: string; jobMs: number[]; healthz: number[]; failed: number; matches: number }[] = [
    { label: "pathological", pattern: "^(a+)+$", jobMs: [], healthz: [], failed: 0, matches: 0 },
    { label: "pathological", pattern: "(a|aa)+$", jobMs: [], healthz: [], failed: 0, matches: 0 },
    { label: "pathological", pattern: "(.*a){20}", jobMs: [], healthz: [], failed: 0, matches: 0 },
    { label: "benign (baseline)", pattern: "b$", jobMs: [], healthz: [], failed: 0, matches: 0 },
    { label: "literal (baseline)", pattern: "ab", jobMs: [], healthz: [], failed: 0, matches: 0 },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of rows) {
      const { value, latencies, failed } = await healthzDuring(url, grepJob(url, row.pattern));
      row.jobMs.push(value.ms);
      row.healthz.push(...latencies);
      row.failed += failed;
      row.matches = value.matches;
    }
  }
  // RE2's worst cases at the program cap (128 instructions), on the input that defeats its DFA.
  const worst: { pattern: string; input: string; ms: number; healthzMax: number; failed: number }[] = [];
  const classes = "[0-9]|[!-/]|[:-@]|\\p{Greek}|\\p{Han}|\\p{Cyrillic}|\\p{Arabic}|[A-Z]|[c-z]|\\p{Hebrew}|\\p{Thai}|\\p{Lu}|\\p{Nd}|\\p{P}|\\p{S}";
  for (const [pattern, input, body] of [
    [`[ab]*a[ab]{122}(?:${classes})`, "1 MB of random a/b", RANDOM_LINE],
    ["[ab]*a[ab]{122}\\d", "1 MB of random a/b", RANDOM_LINE],
    ["\\p{L}{125}\\d", "the a's line", LINE],
  ] as const) {
    const { value, latencies, failed } = await healthzDuring(url, grepJob(url, pattern, body));
    worst.push({ pattern, input, ms: value.ms, healthzMax: Math.max(...latencies), failed });
  }

  const benign = median(rows.find((r) => r.pattern === "b$")!.jobMs);
  console.log(`bench:regex — grep over one line of 999,999 a's then b (1,000,000 bytes, M=1, R=1), ${ROUNDS} rounds, Miniflare`);
  console.log(`/healthz while idle (baseline): p50 ${fmt(median(idle.latencies))}, max ${fmt(Math.max(...idle.latencies))} (${idle.latencies.length} polls)`);
  console.log("");
  console.log("pattern            kind                 job median   vs b$   /healthz p50   /healthz max   matches   target (job < 2 s, /healthz < 100 ms)");
  for (const r of rows) {
    const job = median(r.jobMs);
    const hMax = Math.max(...r.healthz);
    const pass = job < TARGET_JOB_MS && hMax < TARGET_HEALTHZ_MS && r.failed === 0;
    console.log(
      `${r.pattern.padEnd(18)} ${r.label.padEnd(20)} ${fmt(job).padStart(10)}   ${(job / benign).toFixed(2).padStart(5)}x   ${fmt(median(r.healthz)).padStart(12)}   ${fmt(hMax).padStart(12)}   ${String(r.matches).padStart(7)}   ${pass ? "PASS" : "FAIL"}${r.failed > 0 ? ` (${r.failed} /healthz polls failed)` : ""}`,
    );
  }
  console.log("");
  console.log("RE2's worst cases at the program cap of 128 instructions (not targets: linear, with the NFA's factor of up to 128 live instructions per character):");
  for (const w of worst) console.log(`  ${(w.pattern.length > 40 ? `${w.pattern.slice(0, 37)}...` : w.pattern).padEnd(40)} over ${w.input.padEnd(20)} job ${fmt(w.ms).padStart(9)} (${(w.ms / benign).toFixed(1)}x b$), /healthz max ${fmt(w.healthzMax)}${w.failed > 0 ? `, ${w.failed} poll(s) failed` : ""}`);
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
