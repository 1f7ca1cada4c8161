/**
 * Text rendering of operations and of a failing check: a timeline with one row per operation, for
 * test failure messages. Example:
 *
 *   key "x" stops being linearizable when #2 c2 get → "a" returns at t=7: ...
 *               1    3    5    7
 *   #0 c1       |====|              put "a" → ok
 *   #1 c1            |====|         put "b" → ok
 *   #2 c2                 |====|    get → "a"
 */
import type { CheckResult } from "./check";
import type { CasResult, GetResult, Operation } from "./history";

const show = (value: string | null): string => (value === null ? "∅" : JSON.stringify(value));

/** One line: id, client, call and result, e.g. `#4 c2 cas "a"→"b" → ok` or `#5 c1 put "x" (outcome unknown)`. */
export function formatOperation(o: Operation): string {
  const head = `#${o.id} ${o.client}`;
  let call: string;
  switch (o.op.type) {
    case "put":
      call = `put ${show(o.op.value)}`;
      break;
    case "get":
      call = "get";
      break;
    case "delete":
      call = "delete";
      break;
    case "cas":
      call = `cas ${show(o.op.expected)}→${show(o.op.value)}`;
      break;
  }
  if (o.result === null) return `${head} ${call} (outcome unknown)`;
  // validateHistory guarantees the result's shape matches the op type.
  const outcome = o.op.type === "get" ? show((o.result as GetResult).value) : (o.result as CasResult).ok ? "ok" : "failed";
  return `${head} ${call} → ${outcome}`;
}

/**
 * A timeline of the operations (sorted by invocation): one column per distinct timestamp, `|===|`
 * from invocation to completion, `|===?` running off the end for an unknown outcome.
 */
export function formatTimeline(ops: readonly Operation[]): string {
  const sorted = [...ops].sort((a, b) => a.invokedAt - b.invokedAt || a.id - b.id);
  const times = [...new Set(sorted.flatMap((o) => (o.completedAt === null ? [o.invokedAt] : [o.invokedAt, o.completedAt])))].sort((a, b) => a - b);
  const column = new Map<number, number>();
  let x = 0;
  for (const t of times) {
    column.set(t, x);
    x += String(t).length + 2;
  }
  const width = x + 1;
  const labels = sorted.map((o) => `#${o.id} ${o.client}`);
  const labelWidth = Math.max(4, ...labels.map((l) => l.length)) + 2;
  const header = new Array<string>(width).fill(" ");
  for (const t of times) [...String(t)].forEach((ch, i) => (header[(column.get(t) ?? 0) + i] = ch));
  const lines = [" ".repeat(labelWidth) + header.join("").trimEnd()];
  sorted.forEach((o, row) => {
    const bar = new Array<string>(width).fill(" ");
    const from = column.get(o.invokedAt) ?? 0;
    const to = o.completedAt === null ? width - 1 : (column.get(o.completedAt) ?? from);
    for (let i = from; i <= to; i++) bar[i] = "=";
    bar[from] = "|";
    bar[to] = o.completedAt === null ? "?" : "|";
    const what = formatOperation(o).slice(`#${o.id} ${o.client} `.length);
    lines.push(`${(labels[row] ?? "").padEnd(labelWidth)}${bar.join("")}   ${what}`);
  });
  return lines.join("\n");
}

/** A checker result as text: one line when ok/unknown, the reason and the witness timeline when not. */
export function formatCheckResult(result: CheckResult): string {
  if (result.ok === true) return "linearizable";
  if (result.ok === "unknown") return `unknown on key ${JSON.stringify(result.key)}: ${result.reason}`;
  return `NOT linearizable: ${result.reason}\n${formatTimeline(result.witness)}`;
}
