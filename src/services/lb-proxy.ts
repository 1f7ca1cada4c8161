/**
 * The load balancer's data path: pick an upstream, forward the request, retry another one when a try
 * fails and retrying is safe, report every try's outcome. See src/services/lb-state.ts for how the
 * shared health reaches this isolate.
 */
import { ExponentialBackoff, type IBackoff } from "cockatiel";
import type { PoolConfig } from "../core/balancer/pool-config";
import { deposit, tryWithdraw } from "../core/balancer/retry-budget";
import * as breaker from "../core/health/circuit-breaker";
import type { OutcomeKind } from "../core/health/pool-health";
import { downstreamResponseHeaders, isIdempotentMethod, upstreamRequestHeaders, upstreamUrl, type ResponsePolicy } from "../core/http/proxy-headers";
import { errorBody, HttpError } from "../http/errors";
import { admit, candidates, hold, local, maybeFlush, poolEntry, record, routing, type PoolEntry } from "./lb-state";

/** Request bodies up to this size (with a Content-Length) are buffered so a failed try can be replayed. */
export const RETRY_BUFFER_BYTES = 1024 * 1024;

export interface ProxyDeps {
  env: Cloudflare.Env;
  waitUntil: (p: Promise<unknown>) => void;
  stateTtlMs: number;
}

/** How one try ended. */
type Try =
  | { kind: "response"; upstream: string; res: Response; outcome: OutcomeKind; release: () => void }
  | { kind: "error"; upstream: string; outcome: "timeout" | "connect-error"; message: string }
  | { kind: "client-gone"; res: Response };

/** A request body: buffered (replayable) or a stream sent once. */
interface RequestBody {
  buffered: ArrayBuffer | null;
  stream: ReadableStream | null;
  replayable: boolean;
}

/** Proxies `req` to pool `pool`, the path below /lb/{pool} being `rest` ("" or "/..."). Never throws for upstream trouble. */
export async function proxy(deps: ProxyDeps, pool: string, rest: string, req: Request): Promise<Response> {
  const { env, waitUntil, stateTtlMs } = deps;
  const e = await poolEntry(env, pool, stateTtlMs, waitUntil);
  const config = e.snapshot.config;
  const started = Date.now();
  const deadline = started + config.retry.deadlineMs;
  e.budget = deposit(e.budget, started);

  const url = new URL(req.url);
  try {
    upstreamUrl("http://x", rest, url.search);
  } catch (err) {
    throw new HttpError(400, "invalid_path", err instanceof Error ? err.message : String(err));
  }
  const body = await requestBody(req);
  const headers = upstreamRequestHeaders(req.headers, {
    clientIp: req.headers.get("cf-connecting-ip"),
    proto: url.protocol === "https:" ? "https" : "http",
    host: req.headers.get("host") ?? url.host,
    authorization: config.forward?.authorization ?? false,
    cookie: config.forward?.cookie ?? false,
    // The runtime rewrote Accept-Encoding to "br, gzip"; this is what the client sent ("" for none).
    clientAcceptEncoding: clientAcceptEncoding(req),
  });
  const policy: ResponsePolicy = { setCookie: config.forward?.setCookie ?? false };
  // The path the try is judged by (path-blame): below the pool, without the query.
  const path = rest === "" ? "/" : rest;
  const retriesAllowed = isIdempotentMethod(req.method) || config.retry.nonIdempotent;
  const affinityKey = affinityOf(config, req);

  const tried = new Set<string>();
  let last: Exclude<Try, { kind: "client-gone" }> | null = null;
  let backoff: IBackoff<unknown> | undefined;
  try {
    for (let attempts = 0; ; ) {
      const now = Date.now();
      if (now >= deadline - 1) return last === null ? noUpstream(e, now, `the deadline of ${config.retry.deadlineMs} ms passed`) : finish(last, attempts, e, tried, now, policy);
      const picked = await pickAdmitted(env, pool, e, tried, affinityKey, now, deadline);
      // The snapshot may have changed under this request (another isolate reconfigured the pool):
      // the upstream is looked up in the current one, and one that is gone is simply not tried.
      const cu = picked === null ? undefined : e.snapshot.config.upstreams.find((u) => u.id === picked.id);
      if (picked !== null && cu === undefined) {
        tried.add(picked.id);
        continue;
      }
      if (picked === null || cu === undefined) return last === null ? noUpstream(e, now, "every upstream of the pool is unavailable") : finish(last, attempts, e, tried, now, policy);
      if (last !== null) {
        // A retry: only now that there is somewhere to send it is the budget spent.
        const w = tryWithdraw(e.budget, Date.now());
        e.budget = w.state;
        if (!w.allowed) return finish(last, attempts, e, tried, Date.now(), policy);
        // The failed try's answer is dropped. Back off a little (Envoy: 25 ms base) unless the deadline is near.
        if (last.kind === "response") {
          last.release();
          await last.res.body?.cancel();
        }
        backoff = backoff === undefined ? RETRY_BACKOFF.next() : backoff.next(undefined);
        const wait = Math.min(backoff.duration, deadline - Date.now() - 1);
        if (wait > 0) await sleep(wait);
      }
      attempts++;
      tried.add(picked.id);
      const t = await tryOnce(e, cu.id, upstreamUrl(cu.url, rest, url.search), req.method, headers, body, config.retry.perTryTimeoutMs, deadline, picked.probe, path);
      if (t.kind === "client-gone") return t.res;
      const retryable = t.kind === "error" || config.retry.retryOn.includes(t.res.status);
      if (!retryable) return respond(t, attempts, policy);
      last = t;
      const canRetry = attempts < config.retry.attempts && retriesAllowed && body.replayable;
      if (!canRetry) return finish(t, attempts, e, tried, Date.now(), policy);
    }
  } finally {
    maybeFlush(env, pool, e, stateTtlMs, waitUntil);
  }
}

/** Envoy's default retry back-off (25 ms base, 250 ms cap), with cockatiel's decorrelated jitter. */
const RETRY_BACKOFF = new ExponentialBackoff({ initialDelay: 25, maxDelay: 250 });

/**
 * Picks an upstream not yet tried whose breaker admits the request; a refused half-open one is skipped.
 * In panic the breakers are not asked: traffic goes to every upstream its checks do not rule out.
 */
async function pickAdmitted(env: Cloudflare.Env, pool: string, e: PoolEntry, tried: Set<string>, affinityKey: string | undefined, now: number, deadline: number): Promise<{ id: string; probe: boolean } | null> {
  const skip = new Set(tried);
  for (;;) {
    const r = routing(e, now);
    const id = e.picker.pick(r.upstreams, { rng: Math.random, now, exclude: skip, ...(affinityKey === undefined ? {} : { affinityKey }) });
    if (id === null) return null;
    if (r.panic) return { id, probe: false };
    const a = await admit(env, pool, e, id, now, deadline - Date.now());
    if (a.allowed) return { id, probe: a.probe };
    skip.add(id);
  }
}

/**
 * One try. Two clocks: the per-try timeout covers the wait for response headers and starts once the
 * request body is sent (a slow upload is the client's doing, not the upstream's); the request's
 * deadline covers everything. A try cut short by the deadline, by a failed upload or by a client that
 * went away says nothing about the upstream and is not recorded against it.
 */
async function tryOnce(e: PoolEntry, id: string, target: string, method: string, headers: Headers, body: RequestBody, perTryMs: number, deadline: number, probe: boolean, path: string): Promise<Try> {
  const abort = new AbortController();
  let cause: "per-try" | "deadline" | null = null;
  let perTry: ReturnType<typeof setTimeout> | undefined;
  const startPerTry = () => {
    perTry ??= setTimeout(() => {
      cause ??= "per-try";
      abort.abort();
    }, Math.max(1, perTryMs));
  };
  const atDeadline = setTimeout(() => {
    cause ??= "deadline";
    abort.abort();
  }, Math.max(1, deadline - Date.now()));
  const upload = body.stream === null ? null : watchUpload(body.stream, startPerTry);
  if (upload === null) startPerTry();
  const started = Date.now();
  const release = hold(e, id, started);
  let t: Try | undefined;
  try {
    // encodeResponseBody "manual": the body stays as the upstream encoded it (workerd would otherwise
    // decode it here and encode it again on the way out, whatever the client accepts).
    const res = await fetch(target, { method, headers, body: upload?.stream ?? body.buffered, redirect: "manual", signal: abort.signal, encodeResponseBody: "manual" });
    const status = res.status;
    const outcome: OutcomeKind = status === 502 || status === 503 || status === 504 ? "status-gateway" : status >= 500 ? "status-5xx" : "success";
    t = { kind: "response", upstream: id, res, outcome, release };
  } catch (err) {
    if (upload?.failed()) {
      return { kind: "client-gone", res: Response.json(errorBody("body_incomplete", "the request body could not be read to its end (the client stopped sending it)"), { status: 400 }) };
    }
    const timedOut = abort.signal.aborted;
    const message = !timedOut ? errorText(err) : cause === "deadline" ? "the request's deadline passed" : `no response headers within ${perTryMs} ms`;
    t = { kind: "error", upstream: id, outcome: timedOut ? "timeout" : "connect-error", message };
    // Neither the deadline nor an unfinished upload is the upstream's fault: not recorded.
    if (timedOut && (cause === "deadline" || (upload !== null && !upload.done()))) return t;
  } finally {
    clearTimeout(perTry);
    clearTimeout(atDeadline);
    // A response stays in flight until its body has been passed on (see respond).
    if (t === undefined || t.kind !== "response") release();
  }
  const at = Date.now();
  record(e, { upstream: id, kind: t.outcome, latencyMs: t.kind === "response" ? at - started : null, at, probe, path });
  return t;
}

/** Passes a streamed body through, noting when it has been sent to its end (then `onSent`) or failed. */
function watchUpload(source: ReadableStream, onSent: () => void): { stream: ReadableStream; done: () => boolean; failed: () => boolean } {
  let done = false;
  let failed = false;
  const pass = new TransformStream({
    flush() {
      done = true;
      onSent();
    },
  });
  source.pipeTo(pass.writable).catch(() => {
    failed = true;
  });
  return { stream: pass.readable, done: () => done, failed: () => failed };
}

/**
 * The upstream's answer, passed on. The try counts as in flight until its body has streamed to the
 * client (least-connections and maxInFlight see long downloads and event streams), through a native
 * identity stream so the bytes do not pass through JavaScript. The bytes go out as the upstream
 * encoded them (encodeBody "manual"): no Content-Encoding the client did not ask the upstream for.
 */
function respond(t: Extract<Try, { kind: "response" }>, attempts: number, policy: ResponsePolicy): Response {
  const headers = downstreamResponseHeaders(t.res.headers, t.upstream, attempts, policy);
  if (t.res.body === null) {
    t.release();
    return new Response(null, { status: t.res.status, statusText: t.res.statusText, headers, encodeBody: "manual" });
  }
  const pass = new IdentityTransformStream();
  t.res.body.pipeTo(pass.writable).then(t.release, t.release);
  return new Response(pass.readable, { status: t.res.status, statusText: t.res.statusText, headers, encodeBody: "manual" });
}

/** The answer once no further try will be made: the last upstream answer as is, or a gateway error. */
function finish(last: Exclude<Try, { kind: "client-gone" }>, attempts: number, e: PoolEntry, tried: ReadonlySet<string>, now: number, policy: ResponsePolicy): Response {
  if (last.kind === "response") return respond(last, attempts, policy);
  // Nothing answered. When no upstream is left that was not tried, the pool is down: 503 with Retry-After.
  const others = candidates(e, now).some((u) => u.available && !tried.has(u.id));
  if (!others) return noUpstream(e, now, `the last upstream tried (${last.upstream}) failed: ${last.message}`, attempts);
  const status = last.outcome === "timeout" ? 504 : 502;
  const code = last.outcome === "timeout" ? "upstream_timeout" : "upstream_unreachable";
  return Response.json(errorBody(code, `upstream ${last.upstream}: ${last.message} (after ${attempts} ${attempts === 1 ? "try" : "tries"})`), {
    status,
    headers: { "X-Upstream": last.upstream, "X-LB-Attempts": String(attempts), "X-Content-Type-Options": "nosniff" },
  });
}

/** 503 with Retry-After: the soonest an ejected or open upstream may take traffic again (1..60 s). */
function noUpstream(e: PoolEntry, now: number, why: string, attempts = 0): Response {
  let soonest = Infinity;
  for (const v of e.snapshot.upstreams) {
    if (v.until !== null) soonest = Math.min(soonest, v.until - now);
    const b = local(e, v.id).breaker;
    if (breaker.statusAt(b, now) === "open") soonest = Math.min(soonest, breaker.retryAfterMs(b, now));
  }
  const seconds = Number.isFinite(soonest) ? Math.min(60, Math.max(1, Math.ceil(soonest / 1000))) : 1;
  return Response.json(errorBody("no_upstream", `no upstream available: ${why}`), {
    status: 503,
    headers: { "Retry-After": String(seconds), "X-LB-Attempts": String(attempts), "X-Content-Type-Options": "nosniff" },
  });
}

/** Buffers a small body so it can be sent again; a large or unsized one is streamed once (no retry). */
async function requestBody(req: Request): Promise<RequestBody> {
  if (req.body === null || req.method === "GET" || req.method === "HEAD") return { buffered: null, stream: null, replayable: true };
  const length = Number(req.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(length) && length <= RETRY_BUFFER_BYTES) return { buffered: await req.arrayBuffer(), stream: null, replayable: true };
  return { buffered: null, stream: req.body, replayable: false };
}

/** The consistent-hash key: the configured header, else the configured cookie. */
function affinityOf(config: PoolConfig, req: Request): string | undefined {
  if (config.algorithm !== "consistent-hash") return undefined;
  const { header, cookie } = config.affinity;
  if (header !== null) {
    const v = req.headers.get(header);
    if (v !== null) return v;
  }
  if (cookie !== null) {
    for (const part of (req.headers.get("cookie") ?? "").split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === cookie) return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

/** `request.cf.clientAcceptEncoding`: the client's own Accept-Encoding when the runtime rewrote it; undefined when absent. */
function clientAcceptEncoding(req: Request): string | undefined {
  const cf: unknown = req.cf;
  if (typeof cf !== "object" || cf === null || !("clientAcceptEncoding" in cf)) return undefined;
  return typeof cf.clientAcceptEncoding === "string" ? cf.clientAcceptEncoding : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
}
