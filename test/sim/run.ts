/**
 * CLI for the Raft simulation: run many seeds, print a summary and every failing seed with its first
 * violation and the command that replays it.
 *
 *   npm run sim -- --seeds 5000 [--from 1] [--steps N] [--chaos-ms 3000] [--lease 0.3] [--bug stale-read]
 *   npm run sim -- --seed 1234 --trace 200        replay one seed, printing its last 200 events
 *   npm run sim -- --seeds 500 --busy 400 --calm --no-faults --expect-stable-leader
 *                                                a slow event loop (ticks and deliveries wait up to
 *                                                400 ms) on a calm network: no election after the first
 */
import { parseArgs } from "node:util";
import { type SimBug, type SimOptions, type SimResult, simulate } from "./raft-sim";

const BUGS: readonly SimBug[] = ["forget-vote", "lose-last-persist", "stale-read"];

function main(): number {
  const { values } = parseArgs({
    options: {
      seeds: { type: "string", default: "1000" },
      from: { type: "string", default: "1" },
      seed: { type: "string" },
      steps: { type: "string" },
      "chaos-ms": { type: "string" },
      lease: { type: "string" },
      bug: { type: "string" },
      busy: { type: "string" },
      quiesce: { type: "string" },
      calm: { type: "boolean", default: false },
      "no-faults": { type: "boolean", default: false },
      "expect-stable-leader": { type: "boolean", default: false },
      trace: { type: "string" },
      "max-failures": { type: "string", default: "10" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log("usage: run.mjs [--seeds N] [--from S] [--seed S] [--steps N] [--chaos-ms MS] [--lease SHARE] [--bug NAME] [--trace N] [--busy MS] [--quiesce TICKS] [--calm] [--no-faults] [--expect-stable-leader]");
    return 0;
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
    return n;
  };
  if (values.bug !== undefined && !BUGS.includes(values.bug as SimBug)) throw new Error(`--bug must be one of ${BUGS.join(", ")}`);
  const options: SimOptions = {};
  const steps = int("steps", values.steps);
  if (steps !== undefined) options.chaosSteps = steps;
  const chaosMs = int("chaos-ms", values["chaos-ms"]);
  if (chaosMs !== undefined) options.chaosMs = chaosMs;
  if (values.lease !== undefined) options.leaseReadShare = Number(values.lease);
  if (values.bug !== undefined) options.bug = values.bug as SimBug;
  const busy = int("busy", values.busy);
  if (busy !== undefined) options.busyLoopMs = busy;
  const quiesce = int("quiesce", values.quiesce);
  if (quiesce !== undefined) options.quiesceTicks = quiesce;
  if (values.calm) options.network = "calm";
  if (values["no-faults"]) options.faults = false;
  const trace = int("trace", values.trace);
  if (trace !== undefined) options.trace = trace;

  const single = int("seed", values.seed);
  const from = single ?? int("from", values.from)!;
  const count = single !== undefined ? 1 : int("seeds", values.seeds)!;
  const maxFailures = int("max-failures", values["max-failures"])!;
  const replayFlags = [
    steps !== undefined ? `--steps ${steps}` : "",
    chaosMs !== undefined ? `--chaos-ms ${chaosMs}` : "",
    values.lease !== undefined ? `--lease ${values.lease}` : "",
    values.bug !== undefined ? `--bug ${values.bug}` : "",
    busy !== undefined ? `--busy ${busy}` : "",
    quiesce !== undefined ? `--quiesce ${quiesce}` : "",
    values.calm ? "--calm" : "",
    values["no-faults"] ? "--no-faults" : "",
    values["expect-stable-leader"] ? "--expect-stable-leader" : "",
  ]
    .filter((f) => f !== "")
    .join(" ");

  const failures: SimResult[] = [];
  const totals = { steps: 0, simMs: 0, ops: 0, completed: 0, unknown: 0, committed: 0, crashes: 0, partitions: 0, snapshots: 0, leaders: 0, elections: 0, unknownLin: 0, quiesced: 0, quietCrashes: 0, evictions: 0 };
  const t0 = performance.now();
  let ran = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = simulate(seed, options);
    ran++;
    // Without faults, one election at the start is all there should be: a slow loop is not a dead peer.
    if (r.ok && values["expect-stable-leader"] && r.stats.leadersElected !== 1) {
      r.ok = false;
      r.violations.push({ property: "convergence", step: r.steps, time: r.stats.simTimeMs, message: `spurious election: ${r.stats.leadersElected} leaders elected, ${r.stats.electionsStarted} campaigns (expected 1 leader)` });
    }
    totals.steps += r.steps;
    totals.simMs += r.stats.simTimeMs;
    totals.ops += r.stats.ops.invoked;
    totals.completed += r.stats.ops.completed;
    totals.unknown += r.stats.ops.unknown;
    totals.committed += r.stats.committed;
    totals.crashes += r.stats.crashes;
    totals.partitions += r.stats.partitions;
    totals.snapshots += r.stats.snapshotsInstalled;
    totals.leaders += r.stats.leadersElected;
    totals.elections += r.stats.electionsStarted;
    totals.quiesced += r.stats.quiesced;
    totals.quietCrashes += r.stats.quietCrashes;
    totals.evictions += r.stats.evictions;
    if (r.linearizability === "unknown") totals.unknownLin++;
    if (!r.ok) {
      failures.push(r);
      const v = r.violations[0]!;
      console.log(`FAIL seed ${seed}: ${v.property} at step ${v.step} (t=${v.time} ms)\n  ${v.message.split("\n").join("\n  ")}`);
      console.log(`  replay: node dist/sim/run.mjs --seed ${seed} --trace 200 ${replayFlags}`.trimEnd());
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
    `raft sim: ${ran} seeds (${from}..${from + ran - 1}), ${ran - failures.length} passed, ${failures.length} failed` +
      ` in ${secs.toFixed(1)} s (${(ran / secs).toFixed(0)} seeds/s)`,
  );
  console.log(
    `  ${totals.steps} steps, ${(totals.simMs / 1000).toFixed(0)} simulated s, ${totals.leaders} leaders elected, ${totals.elections} campaigns (live nodes), ${totals.crashes} crashes, ` +
      `${totals.partitions} partitions, ${totals.snapshots} snapshots installed, ${totals.committed} entries committed, ${totals.quiesced} quiescences, ${totals.quietCrashes} crashes of quiet leaders, ${totals.evictions} evictions of whole quiet groups`,
  );
  console.log(`  ${totals.ops} client operations: ${totals.completed} completed, ${totals.unknown} of unknown outcome; linearizability budget exceeded: ${totals.unknownLin}`);
  if (failures.length > 0) console.log(`failing seeds: ${failures.map((f) => f.seed).join(" ")}`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = main();
