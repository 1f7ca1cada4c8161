// What the cluster says about itself during a bench: GET /metrics (Prometheus text) when the worker has
// it, and a sampler of /raft/status for leader changes, which works with or without /metrics.
import type { Client } from "./http";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format (comments and blank lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(t);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

export class Metrics {
  constructor(readonly samples: Sample[]) {}

  /** The sum of a series over every label set that passes `where`. */
  sum(name: string, where: (labels: Record<string, string>) => boolean = () => true): number {
    return this.samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);
  }

  /** Each label set of a series with its value. */
  series(name: string): Sample[] {
    return this.samples.filter((s) => s.name === name);
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

/** GET /metrics; null while the worker has no such route (404) or it fails. */
export async function scrapeMetrics(client: Client, headers: Record<string, string>): Promise<Metrics | null> {
  const reply = await client.send("GET", "/metrics", { headers, timeoutMs: 10_000 });
  if (reply.status !== 200) return null;
  return new Metrics(parsePrometheus(reply.body));
}

/** Per object (label `object`): how much a counter grew between two scrapes. */
export function growthByLabel(before: Metrics | null, after: Metrics | null, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!after) return out;
  const start = new Map<string, number>();
  for (const s of before?.series(name) ?? []) start.set(s.labels[label] ?? "", (start.get(s.labels[label] ?? "") ?? 0) + s.value);
  for (const s of after.series(name)) {
    const k = s.labels[label] ?? "";
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  for (const [k, v] of out) {
    // A counter that went down was reset (an isolate restarted): count what it holds now.
    const d = v - (start.get(k) ?? 0);
    out.set(k, d < 0 ? v : d);
  }
  for (const [k, v] of out) if (v === 0) out.delete(k);
  return out;
}

export interface RaftSnapshot {
  at: number;
  leader: string | null;
  term: number;
}

/**
 * Samples GET /raft/status every `intervalMs` (one sample in flight at most) and counts leader changes:
 * a sample whose leader (or the leader's term) differs from the last sample that had a leader.
 * A change can hide between two samples (an election that ends in the same leader is seen by its term).
 */
export class RaftWatcher {
  private readonly samples: RaftSnapshot[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  failedSamples = 0;

  constructor(private readonly client: Client, private readonly headers: Record<string, string>, private readonly intervalMs = 500) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    void this.sample();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const reply = await this.client.send("GET", "/raft/status", { headers: this.headers, timeoutMs: 5_000 });
      if (reply.status !== 200) {
        this.failedSamples++;
        return;
      }
      const body = JSON.parse(reply.body) as { leader: string | null; members: Array<{ node: string; status?: { term?: number; role?: string } }> };
      const term = Math.max(0, ...body.members.map((m) => m.status?.term ?? 0));
      this.samples.push({ at: performance.now(), leader: body.leader, term });
    } catch {
      this.failedSamples++;
    } finally {
      this.busy = false;
    }
  }

  /** Leader changes, samples without a leader, and the highest term seen, over samples taken in [from, to). */
  summary(from = 0, to = Infinity): { changes: number; samples: number; leaderless: number; termFrom: number; termTo: number } {
    const inside = this.samples.filter((s) => s.at >= from && s.at < to);
    // The last leader seen before the window is where its first change is counted from.
    let last = [...this.samples].reverse().find((s) => s.at < from && s.leader !== null) ?? null;
    let changes = 0;
    for (const s of inside) {
      if (s.leader === null) continue;
      if (last && (last.leader !== s.leader || s.term > last.term)) changes++;
      last = s;
    }
    return {
      changes,
      samples: inside.length,
      leaderless: inside.filter((s) => s.leader === null).length,
      termFrom: inside[0]?.term ?? NaN,
      termTo: inside.at(-1)?.term ?? NaN,
    };
  }
}
