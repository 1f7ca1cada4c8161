// bench:hotkey — 200 concurrent `POST /redis ["INCR", k]` on ONE key next to 200 concurrent INCRs on 200
// distinct keys, same worker, same run, under Miniflare. All 200 requests of a side are in flight at
// once (each on its own open keep-alive connection). Target (issue 14): every INCR on the hot key
// succeeds, the final value is 200, at >= 0.5x the rate of the distinct-key INCRs.
import { scrapeMetrics, growthByLabel } from "./lib/cluster-watch";
import { createClient, describe, group, median, percentile, type Reply } from "./lib/http";
import { startWorker } from "./lib/worker";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const API = { authorization: "Bearer bench-api" };
const JSON_API = { ...API, "content-type": "application/json" };
const RUN = Date.now().toString(36);

interface Side {
  name: string;
  seconds: number;
  ok: number;
  rate: number;
  p50: number;
  p99: number;
  errors: Array<[string, number]>;
  /** Hot: the key's value read back; distinct: how many keys read back as 1. */
  final: number | null;
}

const worker = await startWorker({ ADMIN_TOKEN: "bench-admin", API_TOKEN: "bench-api" });
const client = createClient(worker.url, CONCURRENCY + 16);

const incr = (key: string) => client.send("POST", "/redis", { headers: JSON_API, body: JSON.stringify(["INCR", key]), timeoutMs: 60_000 });
const okIncr = (r: Reply) => r.status === 200 && /^\{"result":\d+\}$/.test(r.body);

async function burst(name: string, keys: string[]): Promise<{ side: Side; replies: Reply[] }> {
  await client.warm(CONCURRENCY);
  const t0 = performance.now();
  const replies = await Promise.all(keys.map((k) => incr(k)));
  const seconds = (performance.now() - t0) / 1000;
  const ok = replies.filter(okIncr).length;
  const ms = replies.map((r) => r.ms);
  return {
    side: { name, seconds, ok, rate: ok / seconds, p50: percentile(ms, 50), p99: percentile(ms, 99), errors: group(replies.filter((r) => !okIncr(r)).map((r) => describe(r))), final: null },
    replies,
  };
}

/** The values read back (MGET in chunks); null when a chunk could not be read in 3 tries a second apart (the error is logged). */
async function readValues(keys: string[]): Promise<Array<string | null> | null> {
  const out: Array<string | null> = [];
  for (let i = 0; i < keys.length; i += 50) {
    const chunk = keys.slice(i, i + 50);
    let last: Reply | null = null;
    for (let attempt = 0; attempt < 3 && (last === null || last.status !== 200); attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 1000));
      last = await client.send("POST", "/redis", { headers: JSON_API, body: JSON.stringify(["MGET", ...chunk]) });
    }
    if (last!.status !== 200) {
      console.log(`  reading the values back failed 3 times: ${describe(last!)}`);
      return null;
    }
    out.push(...(JSON.parse(last!.body) as { result: Array<string | null> }).result);
  }
  return out;
}

const rounds: Array<{ hot: Side; distinct: Side }> = [];
try {
  const metricsBefore = await scrapeMetrics(client, API);
  for (let round = 0; round < ROUNDS; round++) {
    const hotKey = `hot-${RUN}-${round}`;
    const distinctKeys = Array.from({ length: CONCURRENCY }, (_, i) => `distinct-${RUN}-${round}-${i}`);
    const runHot = async () => {
      const { side } = await burst("hot key", Array.from({ length: CONCURRENCY }, () => hotKey));
      const values = await readValues([hotKey]);
      side.final = values === null ? null : Number(values[0] ?? 0);
      return side;
    };
    const runDistinct = async () => {
      const { side } = await burst("distinct keys", distinctKeys);
      side.final = (await readValues(distinctKeys))?.filter((v) => v === "1").length ?? null;
      return side;
    };
    // Alternate which side goes first, so neither always runs on a cluster warmed by the other.
    const first = round % 2 === 0 ? await runDistinct() : await runHot();
    const second = round % 2 === 0 ? await runHot() : await runDistinct();
    const hot = first.name === "hot key" ? first : second;
    const distinct = first.name === "hot key" ? second : first;
    rounds.push({ hot, distinct });
    console.log(
      `round ${round + 1}/${ROUNDS}: hot ${hot.ok}/${CONCURRENCY} ok in ${hot.seconds.toFixed(2)} s (${hot.rate.toFixed(0)}/s, final ${hot.final}); ` +
        `distinct ${distinct.ok}/${CONCURRENCY} ok in ${distinct.seconds.toFixed(2)} s (${distinct.rate.toFixed(0)}/s); ratio ${(hot.rate / distinct.rate).toFixed(2)}x`,
    );
  }
  const metricsAfter = await scrapeMetrics(client, API);

  const ratios = rounds.map((r) => r.hot.rate / r.distinct.rate);
  const medianRatio = median(ratios);
  // The round whose ratio is the median one is the round shown in the table.
  const shown = rounds[ratios.indexOf(medianRatio)]!;
  console.log(`\nbench:hotkey (Miniflare, loopback): ${CONCURRENCY} concurrent INCR, ${ROUNDS} rounds, the median round by ratio; baseline = ${CONCURRENCY} INCR on distinct keys`);
  console.table(
    [shown.distinct, shown.hot].map((s) => ({
      scenario: s.name === "hot key" ? `${CONCURRENCY} x INCR one key` : `${CONCURRENCY} x INCR distinct keys (baseline)`,
      ok: `${s.ok}/${CONCURRENCY}`,
      "seconds": s.seconds.toFixed(2),
      "successful INCR/s": Math.round(s.rate),
      "p50 ms": Math.round(s.p50),
      "p99 ms": Math.round(s.p99),
      final: s.final === null ? "unreadable" : s.name === "hot key" ? `value ${s.final}` : `${s.final} keys = 1`,
      "vs baseline": `${(s.rate / shown.distinct.rate).toFixed(2)}x`,
    })),
  );
  for (const r of rounds) {
    for (const s of [r.hot, r.distinct]) {
      if (s.errors.length > 0) console.log(`  ${s.name}, round ${rounds.indexOf(r) + 1}: ${s.errors.map(([l, n]) => `${n} x ${l}`).join("; ")}`);
    }
  }
  if (metricsAfter) {
    const openings = growthByLabel(metricsBefore, metricsAfter, "dc_do_breaker_openings_total", "object");
    const shed = growthByLabel(metricsBefore, metricsAfter, "dc_admission_shed_total", "object");
    console.log(`/metrics over the run: breaker openings ${[...openings].map(([o, n]) => `${o} ${n}`).join(", ") || "0"}; shed ${[...shed].map(([o, n]) => `${o} ${n}`).join(", ") || "0"}`);
  } else {
    console.log("/metrics: not available on this worker (404): breaker and shed counts not shown");
  }
  const allOk = rounds.every((r) => r.hot.ok === CONCURRENCY && r.hot.final === CONCURRENCY);
  const okRounds = rounds.filter((r) => r.hot.ok === CONCURRENCY && r.hot.final === CONCURRENCY).length;
  console.log(`ratio per round: ${ratios.map((x) => x.toFixed(2)).join(", ")}`);
  console.log(`target: all ${CONCURRENCY} hot-key INCRs succeed and the final value is ${CONCURRENCY} -> ${okRounds}/${ROUNDS} rounds ${allOk ? "PASS" : "MISS"}`);
  console.log(`target: hot-key rate >= 0.5x the distinct-key rate -> median ${medianRatio.toFixed(2)}x ${medianRatio >= 0.5 ? "PASS" : "MISS"}`);
} finally {
  client.close();
  await worker.stop();
}
