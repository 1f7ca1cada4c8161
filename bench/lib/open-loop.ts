// Open-loop load: requests go out on a schedule (a fixed offered rate), whether or not earlier ones
// have been answered, so an overloaded server sees the load grow instead of the client slowing down
// with it (a closed-loop client such as autocannon without overallRate cannot offer 2x its peak).
// Latency counts from each request's scheduled send time, so time spent waiting for a free socket in
// the client is charged too (no coordinated omission). autocannon's overallRate paces one request
// shape per run; here eleven routes share one schedule, each answer is classified by its route's own
// contract, and answers are kept per request for bucketing by time: hence this scheduler.
import type { Client, Reply } from "./http";

/** How an answer counts against the route's contract. */
export type Kind = "ok" | "documented4xx" | "shed" | "outside";

export interface RouteSpec {
  name: string;
  weight: number;
  build(): { method: string; path: string; body?: string; headers: Record<string, string> };
  /** Default: 2xx ok; route's documented 4xx; 429/503 with Retry-After shed; anything else outside. */
  classify?(reply: Reply): Kind;
  /** 4xx statuses the route documents as normal answers (a missing key, a failed condition, a lock). */
  documented4xx?: number[];
  onReply?(reply: Reply, built: { method: string; path: string; body?: string }): void;
}

export interface Rec {
  route: number;
  phase: number;
  /** Scheduled send time (performance.now()). */
  at: number;
  /** When the answer (or the client's failure) arrived. */
  end: number;
  status: number;
  kind: Kind;
}

export function classifyDefault(reply: Reply, documented: number[] = []): Kind {
  if (reply.status >= 200 && reply.status < 300) return "ok";
  if ((reply.status === 429 || reply.status === 503) && reply.retryAfter !== null) return "shed";
  if (documented.includes(reply.status)) return "documented4xx";
  return "outside";
}

export interface OpenLoopOptions {
  client: Client;
  routes: RouteSpec[];
  /** Client-side deadline per request, from its scheduled time. */
  timeoutMs: number;
  /** Requests in flight beyond this are not sent and count as client drops (protects the load generator). */
  maxInFlight: number;
  rng: () => number;
  /** Labels of answers outside the contract (and of shed ones), per route, for the report. */
  onLabel?(route: number, kind: Kind, reply: Reply): void;
}

export class OpenLoop {
  readonly records: Rec[] = [];
  inFlight = 0;
  clientDrops = 0;
  private readonly cumulative: number[];
  private readonly total: number;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly o: OpenLoopOptions) {
    let sum = 0;
    this.cumulative = o.routes.map((r) => (sum += r.weight));
    this.total = sum;
  }

  private pick(): number {
    const x = this.o.rng() * this.total;
    const i = this.cumulative.findIndex((c) => x < c);
    return i < 0 ? this.cumulative.length - 1 : i;
  }

  private fire(phase: number, at: number): void {
    const index = this.pick();
    const route = this.o.routes[index]!;
    if (this.inFlight >= this.o.maxInFlight) {
      this.clientDrops++;
      this.records.push({ route: index, phase, at, end: at, status: 0, kind: "outside" });
      return;
    }
    const built = route.build();
    this.inFlight++;
    const p = this.o.client
      .send(built.method, built.path, { headers: built.headers, ...(built.body === undefined ? {} : { body: built.body }), startedAt: at, timeoutMs: this.o.timeoutMs })
      .then((reply) => {
        const kind = route.classify ? route.classify(reply) : classifyDefault(reply, route.documented4xx);
        this.records.push({ route: index, phase, at, end: at + reply.ms, status: reply.status, kind });
        if (kind !== "ok") this.o.onLabel?.(index, kind, reply);
        route.onReply?.(reply, built);
      })
      .catch((err: unknown) => console.error(`open-loop bookkeeping failed for ${route.name}:`, err))
      .finally(() => {
        this.inFlight--;
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  /** Offers `rate` requests/s for `seconds`, evenly spaced; returns when the last one has been sent (not answered). */
  async run(phase: number, rate: number, seconds: number): Promise<{ start: number; end: number; sent: number }> {
    const start = performance.now();
    const total = Math.round(rate * seconds);
    let sent = 0;
    while (sent < total) {
      const elapsed = performance.now() - start;
      // Every request whose scheduled time has come goes out now, with that scheduled time.
      while (sent < total && (sent * 1000) / rate <= elapsed) {
        this.fire(phase, start + (sent * 1000) / rate);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return { start, end: start + seconds * 1000, sent };
  }

  /** Waits until every request sent so far has been answered or has timed out. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
