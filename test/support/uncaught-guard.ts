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
export const RUNTIME_EXCEPTION = /uncaught exception; source = Uncaught(?: \(in promise\))?;/;

/** Exceptions the tests inject on purpose: the message, and a frame that must be on top of its stack. */
const INJECTED: ReadonlyArray<{ message: RegExp; frame: RegExp }> = [
  { message: /stack = Error: shard is down \(fault injected\)\s*$/, frame: /^\s*at \S*\bguard \(/ },
];

/**
 * Runtime exception reports in `text` that are not injected faults, one string each (the line and its
 * first stack frame). Empty when the output shows no failure beyond those the test injected.
 */
export function unexpectedExceptions(text: string): string[] {
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!RUNTIME_EXCEPTION.test(line)) continue;
    const frame = lines[i + 1] ?? "";
    if (INJECTED.some((f) => f.message.test(line) && f.frame.test(frame))) continue;
    out.push(`${line.slice(line.indexOf("uncaught exception")).trim()}${/^\s*at /.test(frame) ? ` | ${frame.trim()}` : ""}`);
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
  let tail = "";
  const scan = (chunk: unknown) => {
    const text = tail + (typeof chunk === "string" ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : "");
    const lines = text.split("\n");
    // Keep the last two lines (the last may be partial; a report's stack frame may not have arrived yet).
    const keep = lines.length >= 2 && RUNTIME_EXCEPTION.test(lines[lines.length - 2]!) ? 2 : 1;
    tail = lines.splice(lines.length - keep).join("\n");
    if (tail.length > 64 * 1024) tail = tail.slice(-1024);
    found.push(...unexpectedExceptions(lines.join("\n")));
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
      found.push(...unexpectedExceptions(tail));
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
