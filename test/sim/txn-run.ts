/**
 * CLI for the two-phase-commit simulation: run many seeds, print a summary and every failing seed with
 * its violations and the command that replays it.
 *
 *   npm run sim:txn -- --seeds 10000 [--from 1] [--chaos-ms 1500] [--bug send-before-persist]
 *   npm run sim:txn -- --seed 1234 --trace 300        replay one seed, printing its last 300 events
 */
import { parseArgs } from "node:util";
import { simulateTxn, TXN_SIM_BUGS, type TxnSimBug, type TxnSimOptions, type TxnSimResult } from "./txn-sim";

function main(): number {
  const { values } = parseArgs({
    options: {
      seeds: { type: "string", default: "1000" },
      from: { type: "string", default: "1" },
      seed: { type: "string" },
      "chaos-ms": { type: "string" },
      bug: { type: "string" },
      trace: { type: "string" },
      "max-failures": { type: "string", default: "10" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`usage: txn-run.mjs [--seeds N] [--from S] [--seed S] [--chaos-ms MS] [--bug ${TXN_SIM_BUGS.join("|")}] [--trace N]`);
    return 0;
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
    return n;
  };
  if (values.bug !== undefined && !TXN_SIM_BUGS.includes(values.bug as TxnSimBug)) throw new Error(`--bug must be one of ${TXN_SIM_BUGS.join(", ")}`);
  const options: TxnSimOptions = {};
  const chaosMs = int("chaos-ms", values["chaos-ms"]);
  if (chaosMs !== undefined) options.chaosMs = chaosMs;
  if (values.bug !== undefined) options.bug = values.bug as TxnSimBug;
  const trace = int("trace", values.trace);
  if (trace !== undefined) options.trace = trace;

  const single = int("seed", values.seed);
  const from = single ?? int("from", values.from)!;
  const count = single !== undefined ? 1 : int("seeds", values.seeds)!;
  const maxFailures = int("max-failures", values["max-failures"])!;
  const replayFlags = [chaosMs !== undefined ? `--chaos-ms ${chaosMs}` : "", values.bug !== undefined ? `--bug ${values.bug}` : ""].filter((f) => f !== "").join(" ");

  const failures: TxnSimResult[] = [];
  const totals = { steps: 0, simMs: 0, txns: 0, committed: 0, aborted: 0, told: 0, unknown: 0, crashes: 0, betweenPersistAndSend: 0, inquiries: 0, presumed: 0, fences: 0, resends: 0, revotes: 0, late: 0, pending: 0, dropped: 0, duplicated: 0 };
  const reasons: Record<string, number> = {};
  const t0 = performance.now();
  let ran = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = simulateTxn(seed, options);
    ran++;
    const s = r.stats;
    totals.steps += s.steps;
    totals.simMs += s.simTimeMs;
    totals.txns += s.txns;
    totals.committed += s.committed;
    totals.aborted += s.aborted;
    totals.told += s.clientTold;
    totals.unknown += s.clientUnknown;
    totals.crashes += s.crashes;
    totals.betweenPersistAndSend += s.crashesBetweenPersistAndSend;
    totals.inquiries += s.inquiries;
    totals.presumed += s.presumedAborts;
    totals.fences += s.fences;
    totals.resends += s.resends;
    totals.revotes += s.revotes;
    totals.late += s.latePreparesRefused;
    totals.pending += s.pendingAnswers;
    totals.dropped += s.messagesDropped;
    totals.duplicated += s.messagesDuplicated;
    for (const [code, n] of Object.entries(s.abortReasons)) reasons[code] = (reasons[code] ?? 0) + n;
    if (!r.ok) {
      failures.push(r);
      console.log(`FAIL seed ${seed}:`);
      for (const v of r.violations) console.log(`  ${v.property}${v.time !== undefined ? ` (t=${v.time} ms)` : ""}: ${v.message.split("\n").join("\n    ")}`);
      console.log(`  replay: npm run sim:txn -- --seed ${seed} --trace 300 ${replayFlags}`.trimEnd());
      if (r.trace !== undefined) console.log(r.trace.map((l) => `    ${l}`).join("\n"));
      if (failures.length >= maxFailures) {
        console.log(`stopping after ${failures.length} failures`);
        break;
      }
    } else if (single !== undefined && r.trace !== undefined) {
      console.log(r.trace.join("\n"));
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `txn sim: ${ran} seeds (${from}..${from + ran - 1}), ${ran - failures.length} passed, ${failures.length} failed` +
      ` in ${secs.toFixed(1)} s (${(ran / secs).toFixed(0)} seeds/s)${options.bug !== undefined ? ` [bug: ${options.bug}]` : ""}`,
  );
  console.log(
    `  ${totals.txns} transactions: ${totals.committed} committed, ${totals.aborted} aborted (${Object.entries(reasons)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(", ")}); clients told ${totals.told}, gave up on ${totals.unknown}`,
  );
  console.log(
    `  ${totals.steps} steps, ${(totals.simMs / 1000).toFixed(0)} simulated s, ${totals.crashes} crashes (${totals.betweenPersistAndSend} between persist and send), ` +
      `${totals.dropped} messages dropped, ${totals.duplicated} duplicated, ${totals.resends} decision resends, ${totals.inquiries} inquiries (${totals.pending} answered "pending"), ` +
      `${totals.fences} fences, ${totals.late} late PREPAREs refused, ${totals.revotes} revotes, ${totals.presumed} presumed aborts of unknown transactions`,
  );
  if (failures.length > 0) console.log(`failing seeds: ${failures.map((f) => f.seed).join(" ")}`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = main();
