// Exceptions the runtime logs, and a global setup (vitest.config.ts) that fails the run on any that is
// not an injected fault.
//
// What workerd logs (verified with a scratch worker under Miniflare 4 and wrangler dev, 2026-11):
// `uncaught exception; source = Uncaught (in promise); stack = Error: …` (or `source = Uncaught` for a
// synchronous throw) whenever a Durable Object's RPC or fetch method ends with an exception, even when
// the caller awaits the call and handles the error: the line is the object's, not the caller's. On
// Cloudflare each such call is an invocation that ended in an exception, in the logs and the metrics.
// (A promise the caller forgot to handle inside a fetch handler is not logged at all; inside the
// vitest pool, vitest itself catches those as "Unhandled Rejection" errors and fails the run.)
//
// So a method that throws is a method that failed. The objects give every application answer as a
// return value (DESIGN: errors are answers, throws are sickness); the only throws expected during
// the tests are the fault injections themselves: a shard set "down" refuses every call by throwing
// from its `guard`. Anything else (a TypeError, a storage error, a call to a down shard that an object
// did not handle and passed on as its own exception) fails the run.
//
// `wrangler dev` prints these lines only with WRANGLER_LOG=debug (test/e2e/dev-server.ts sets it);
// Miniflare only when verbose; the vitest pool always. ctx.abort()'s own report (`uncaught exception;
// exception = … broken.outputGateBroken; jsg.Error: crash injected`) is the runtime telling of a reset
// the test asked for, and has another shape.

/** The line workerd prints for an exception that ended an invocation. */
export const RUNTIME_EXCEPTION = /^(?:\S+ info: )?uncaught exception; source = Uncaught(?: \(in promise\))?;/;

/** Exceptions the tests inject on purpose: the message, and a frame that must be on top of its stack. */
const INJECTED: ReadonlyArray<{ message: RegExp; frame: RegExp }> = [
  // A cache shard set "down" refuses every call from its guard.
  { message: /stack = Error: shard is down \(fault injected\)\s*$/, frame: /^\s*at \S*\bguard \(/ },
  // A failure a test plants in an object (a storage method replaced by one that throws, in the test file).
  { message: /stack = Error: /, frame: /^\s*at .*\/test\/(worker|lb|e2e)\/[^/]+\.test\.ts:\d+/ },
];

/**
 * A fetch to a port nothing listens on (the load-balancer tests point pools at dead upstreams on
 * purpose) is caught by the proxy, yet Miniflare's outbound path reports it as well: workerd logs
 * "connect(): Connection refused" (or "Connection refused (os error 111)") and then "Network connection
 * lost." with no frame of ours. Verified with a worker that only does `try { await fetch(dead) } catch {}`.
 */
function isRefusedConnection(lines: readonly string[], i: number): boolean {
  if (!/stack = Error: Network connection lost\.\s*$/.test(lines[i]!) || /^\s*at /.test(lines[i + 1] ?? "")) return false;
  return lines.slice(Math.max(0, i - 3), i).some((l) => /Connection refused/.test(l));
}

/**
 * wrangler dev's own helper workers (Miniflare's observability collector, `#persistBatch`) sometimes
 * fail with "Cannot perform I/O on behalf of a different request" under WRANGLER_LOG=debug: a bug of
 * the dev tooling, seen in the e2e Redis tests, with frames only in
 * node_modules/…/miniflare/dist/src/workers/. No code of ours is on that stack.
 */
function isToolingOwn(lines: readonly string[], i: number): boolean {
  const frames = lines.slice(i + 1, i + 6).filter((l) => /^\s*at /.test(l));
  const ours = (l: string) => !/node_modules/.test(l) && /\/(src|durable-objects)\/|\.wrangler\/tmp\//.test(l);
  return frames.some((l) => /node_modules\/.*\/miniflare\/dist\/src\/workers\//.test(l)) && !frames.some(ours);
}

/**
 * Runtime exception reports in `text` that are not injected faults, one string each (the line and its
 * first stack frame). Empty when the output shows no failure beyond those the test injected.
 */
export function unexpectedExceptions(text: string, options: ExceptionOptions = {}): string[] {
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  return unexpectedIn(lines, 0, lines.length, options);
}

export interface ExceptionOptions {
  /**
   * Also allow workerd's frameless "Network connection lost." reports: a test that crashes objects
   * (ctx.abort) cuts the calls in flight to and from them, and workerd reports those with no frame of
   * ours (so no code of ours could have handled them). Seen twice in one run of the e2e fault test.
   */
  crashesInjected?: boolean;
}

/** The reports among lines[from, to), looking at the lines around them for context. */
function unexpectedIn(lines: readonly string[], from: number, to: number, options: ExceptionOptions = {}): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const line = lines[i]!;
    if (!RUNTIME_EXCEPTION.test(line)) continue;
    const frame = lines[i + 1] ?? "";
    if (INJECTED.some((f) => f.message.test(line) && f.frame.test(frame)) || isRefusedConnection(lines, i) || isToolingOwn(lines, i)) continue;
    if (options.crashesInjected && /stack = Error: Network connection lost\.\s*$/.test(line) && !/^\s*at /.test(frame)) continue;
    // The message cut short (some run to a paragraph), then the frame that threw.
    const report = line.slice(line.indexOf("uncaught exception")).trim();
    out.push(`${report.length > 240 ? `${report.slice(0, 240)}…` : report}${/^\s*at /.test(frame) ? ` | ${frame.trim()}` : ""}`);
  }
  return out;
}

/** Counts of each distinct report, most frequent first, for a failure message. */
export function summarize(reports: readonly string[], max = 8): string {
  const counts = new Map<string, number>();
  for (const r of reports) counts.set(r.slice(0, 400), (counts.get(r.slice(0, 400)) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([r, n]) => `  ${n} x ${r}`)
    .join("\n");
}

interface Watch {
  users: number;
  found: string[];
  restore: () => void;
}

const KEY = Symbol.for("durable-cluster.uncaught-guard");
type Holder = { [KEY]?: Watch };

function startWatching(): Watch {
  const found: string[] = [];
  // The output arrives in chunks that cut lines anywhere: `partial` is the unfinished last line, `held`
  // the last complete one (a report is judged with the line after it, its first stack frame), and
  // `before` the three lines before that (a refused connection is told by the lines before its report).
  let partial = "";
  let held: string | null = null;
  let before: string[] = [];
  const judge = (incoming: string[], final: boolean) => {
    const lines = [...before, ...(held === null ? [] : [held]), ...incoming];
    const end = final ? lines.length : lines.length - 1;
    found.push(...unexpectedIn(lines, before.length, end));
    held = final ? null : (lines[lines.length - 1] ?? null);
    before = lines.slice(Math.max(0, end - 3), end);
  };
  const scan = (chunk: unknown) => {
    const text = partial + (typeof chunk === "string" ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : "");
    const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
    partial = lines.pop() ?? "";
    if (partial.length > 64 * 1024) partial = partial.slice(-1024);
    if (lines.length > 0) judge(lines, false);
  };
  const restores = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      scan(chunk);
      return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    return () => void (stream.write = original);
  });
  return {
    users: 0,
    found,
    restore: () => {
      restores.forEach((r) => r());
      judge(partial === "" ? [] : [partial], true);
    },
  };
}

/** Global setup: watches this process's output (where the pool and Miniflare forward workerd's) for the run. */
export default function setup(): () => void {
  const holder = globalThis as Holder;
  const watch = (holder[KEY] ??= startWatching());
  watch.users++;
  return () => {
    if (--watch.users > 0) return;
    watch.restore();
    delete holder[KEY];
    if (watch.found.length > 0) {
      // Vitest reports an error thrown here but does not fail the run for it: set the exit code too.
      process.exitCode = 1;
      throw new Error(`${watch.found.length} exception(s) ended Durable Object calls during the run, beyond the injected faults:\n${summarize(watch.found)}`);
    }
  };
}
