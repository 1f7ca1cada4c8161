// One HTTP request at a time, measured: status, Retry-After, body and latency, over a keep-alive
// node:http agent with as many sockets as the bench wants in flight. Global fetch would do, but its
// pool cannot be sized or kept warm without importing undici (not a dependency of this project), and
// the burst and hot-key benches need every request on its own open connection at the same instant.
import { Agent, request as httpRequest } from "node:http";
import type { Socket } from "node:net";

export interface Reply {
  status: number;
  /** The Retry-After header, when present. */
  retryAfter: string | null;
  body: string;
  /** From `startedAt` (the scheduled send time for open-loop load) to the last byte. */
  ms: number;
  /** Set when no HTTP answer arrived: timeout, reset, refused. status is 0 then. */
  clientError?: string;
}

export interface Client {
  send(method: string, path: string, options?: SendOptions): Promise<Reply>;
  /** Opens `count` connections at once (a request each on a cheap path) so a burst does not also pay for TCP handshakes. */
  warm(count: number, path?: string): Promise<void>;
  close(): void;
}

export interface SendOptions {
  body?: string;
  headers?: Record<string, string>;
  /** Client-side deadline (ms from startedAt); default 15 s. */
  timeoutMs?: number;
  /** performance.now() the latency counts from; default now. Open-loop load passes the scheduled time. */
  startedAt?: number;
}

/** When each socket last finished receiving an answer (see the keep-alive note in `send`). */
const lastAnswerAt = new WeakMap<Socket, number>();

export function createClient(base: string, maxSockets: number): Client {
  const origin = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, keepAliveMsecs: 30_000 });
  const send = (method: string, path: string, options: SendOptions = {}): Promise<Reply> => {
    const startedAt = options.startedAt ?? performance.now();
    const timeoutMs = options.timeoutMs ?? 15_000;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.body !== undefined) headers["content-length"] = String(Buffer.byteLength(options.body));
    return new Promise<Reply>((resolve) => {
      let settled = false;
      let socket: Socket | null = null;
      const finish = (reply: Omit<Reply, "ms">) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...reply, ms: performance.now() - startedAt });
      };
      const req = httpRequest({ agent, host: origin.hostname, port: origin.port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (socket) lastAnswerAt.set(socket, performance.now());
          const ra = res.headers["retry-after"];
          finish({ status: res.statusCode ?? 0, retryAfter: typeof ra === "string" ? ra : null, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", (err) => finish({ status: 0, retryAfter: null, body: "", clientError: err.message }));
      });
      const timer = setTimeout(() => {
        finish({ status: 0, retryAfter: null, body: "", clientError: `client timeout after ${timeoutMs} ms` });
        req.destroy();
      }, Math.max(0, startedAt + timeoutMs - performance.now()));
      // A reset at once on a kept-alive socket is the classic race with the server closing it as idle;
      // one that comes later, or on a fresh socket, is the server dropping the request. The label says which.
      // workerd's HTTP server (kj) closes a kept-alive connection when the next request has not been read
      // 5 s after the previous answer ended (kj's pipelineTimeout; it fires up to ~1.5 s early when the
      // runtime's event loop is saturated, its timer clock being stale). Under overload the loop reads
      // sockets so rarely that requests sit unread in the kernel past that point: the close comes as a
      // reset (request still unread) or a bare FIN ("socket hang up"), and the request never reached the
      // worker. Such failures are labelled apart from other resets.
      let onSocketAt = NaN;
      let localPort: number | undefined;
      req.once("socket", (s: Socket) => {
        onSocketAt = performance.now();
        socket = s;
        localPort = s.localPort;
        if (localPort === undefined) s.once("connect", () => (localPort = s.localPort));
      });
      req.on("error", (err) => {
        const now = performance.now();
        const after = now - onSocketAt;
        const when = Number.isNaN(after) ? "before a socket" : after < 20 ? "at once" : after < 1000 ? "within 1 s" : "after >= 1 s";
        const previous = socket ? lastAnswerAt.get(socket) : undefined;
        const sincePrevious = previous === undefined ? NaN : now - previous;
        // req.reusedSocket is false when the agent hands a socket straight from an answered request to a
        // queued one (the usual case under overload): a socket that has answered before is reused too.
        const reused = req.reusedSocket || previous !== undefined;
        const keepAliveDrop = reused && sincePrevious >= 3500 && after >= 20;
        const code = (err as NodeJS.ErrnoException).code ?? err.message;
        const clientError = keepAliveDrop
          ? `${code} (reused socket, dropped unread by workerd's 5 s keep-alive timeout)`
          : `${code} (${reused ? "reused" : "new"} socket, ${when})`;
        // BENCH_LOG_RESETS=1: one line per failed request, to line up with the runtime's log or a packet capture.
        if (process.env.BENCH_LOG_RESETS === "1") {
          process.stderr.write(`[client ${new Date().toISOString()}] ${method} ${path} ${clientError} (${err.message}): local port ${localPort ?? "?"}, scheduled ${(now - startedAt).toFixed(0)} ms ago, on the socket ${after.toFixed(0)} ms ago, ${Number.isNaN(sincePrevious) ? "first request on the socket" : `${sincePrevious.toFixed(0)} ms after the socket's previous answer`}\n`);
        }
        finish({ status: 0, retryAfter: null, body: "", clientError });
      });
      req.end(options.body);
    });
  };
  return {
    send,
    warm: async (count, path = "/healthz") => {
      await Promise.all(Array.from({ length: count }, () => send("GET", path)));
    },
    close: () => agent.destroy(),
  };
}

/** A short label for an answer, for grouping: "200", "503 quorum_unavailable: 0 of 3 replicas…", "client: ECONNRESET". */
export function describe(reply: Reply, maxChars = 110): string {
  if (reply.status === 0) return `client: ${reply.clientError ?? "no answer"}`;
  let text = reply.body;
  try {
    const parsed = JSON.parse(reply.body) as unknown;
    if (parsed && typeof parsed === "object" && "error" in parsed) {
      const e = (parsed as { error: unknown }).error;
      if (typeof e === "string") text = e;
      else if (e && typeof e === "object" && "code" in e) text = `${String((e as { code: unknown }).code)}: ${String((e as { message?: unknown }).message ?? "")}`;
    }
  } catch {
    // not JSON: the raw text
  }
  text = normalize(text);
  const label = `${reply.status}${reply.retryAfter !== null ? " +Retry-After" : ""} ${text}`;
  return label.length > maxChars ? `${label.slice(0, maxChars - 1)}…` : label;
}

/** Ids and numbers (ms, key suffixes) would split one kind of error into many groups: "<id>" and "N" instead. */
export function normalize(text: string): string {
  return text.replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<id>").replace(/\d+/g, "N");
}

/** Counts of each label, most frequent first. */
export function group(labels: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

/** The Redis batch answers (pipeline, multi-exec) are 200 with an error per failed command: the errors of one. */
export function redisBatchErrors(reply: Reply): string[] {
  if (reply.status !== 200) return [];
  try {
    const parsed = JSON.parse(reply.body) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.flatMap((entry: unknown) => (entry && typeof entry === "object" && "error" in entry ? [String((entry as { error: unknown }).error)] : []));
  } catch {
    return ["unparseable body"];
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}
