import { describe, expect, it } from "vitest";
import { call } from "./helpers";
import { mulberry32 } from "../support/prng";

// HTTP fuzz: a few hundred seeded random requests against every route and method. Bad input must
// never produce a 5xx (DESIGN.md "HTTP conventions"), every request must finish in time, and every
// error must keep the error model. No fault is injected, so a 503 is a failure too.
//
// Replay: change SEED (env vars do not reach workerd). The seed is printed on every run.
const SEED = 0x5eed_2026;
const REQUESTS = 320;
const PER_REQUEST_TIMEOUT_MS = 5_000;
const CONCURRENCY = 4;
const MiB = 1024 * 1024;

class Gen {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
  ascii(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(0x20, 0x7e));
    return s;
  }
}

// ---- request pieces -------------------------------------------------------------------------

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"] as const;

const GARBAGE_NUMBERS = [
  "", "-1", "0", "1", "2", "3", "4", "7", "8", "99", "1.5", "1e3", "1e400", "-0", "NaN", "Infinity", "0x10", " 2", "2 ",
  "abc", "%FF", "%", "9".repeat(400), "31536000001", "null", "[]", "１",
] as const;

function pathSegment(g: Gen): string {
  switch (g.int(0, 9)) {
    case 0: return "";
    case 1: return g.pick(["%FF%FE", "%ED%A0%80", "%C0%AF", "%E2%82", "%", "%G1", "%zz", "%00", "%2F", "%2e%2e", "%F0%9F%98%80"]);
    case 2: { // random bytes, percent-encoded: mostly invalid UTF-8
      let s = "";
      for (const b of g.bytes(g.int(1, 12))) s += `%${b.toString(16).padStart(2, "0")}`;
      return s;
    }
    case 3: return encodeURIComponent("é".repeat(g.int(250, 260)));
    case 4: return "k".repeat(g.pick([1, 511, 512, 513, 4096]));
    case 5: return g.pick(["stats", "ring", "batch", "get", "set", "keys", "shard-0", "shard-7", "shard-99", "..", ".", "~"]);
    case 6: return encodeURIComponent(g.ascii(g.int(1, 30)));
    case 7: return `${g.ascii(g.int(1, 8)).replace(/[?#%\\ ]/g, "_")}`;
    default: return `k${g.int(0, 40)}`;
  }
}

interface Target {
  path: string;
  /** The methods the route serves: picked most of the time so the fuzz gets past the router. */
  allowed: readonly string[];
  /** Whether the real ADMIN_TOKEN may be sent: only to read/write single replica copies, never to
   * the fault or crash routes (an injected fault or crash would make a 503 legitimate). */
  adminTokenSafe: boolean;
}

function target(g: Gen): Target {
  const key = () => Array.from({ length: g.int(1, 3) }, () => pathSegment(g)).join("/");
  const KEY_METHODS = ["GET", "HEAD", "PUT", "DELETE"];
  switch (g.int(0, 16)) {
    case 0: return { path: "/healthz", allowed: ["GET", "HEAD"], adminTokenSafe: true };
    case 1: return { path: g.pick(["/openapi.json", "/docs", "/", "/favicon.ico"]), allowed: ["GET"], adminTokenSafe: true };
    case 2: return { path: "/cache/stats", allowed: ["GET"], adminTokenSafe: true };
    case 3: return { path: "/cache/ring", allowed: ["GET"], adminTokenSafe: true };
    case 4: case 5: return { path: "/cache/batch/get", allowed: ["POST"], adminTokenSafe: true };
    case 6: return { path: "/cache/batch/set", allowed: ["POST"], adminTokenSafe: true };
    case 7: case 8: case 9: return { path: `/cache/${key()}`, allowed: KEY_METHODS, adminTokenSafe: true };
    case 10: return { path: `/admin/cache/shards/${g.pick(["shard-0", "shard-3", "nope", pathSegment(g)])}/${g.pick(["fault", "crash"])}`, allowed: ["POST"], adminTokenSafe: false };
    case 11: return { path: `/admin/cache/shards/${g.pick(["shard-0", "shard-5", pathSegment(g)])}/keys/${key()}`, allowed: ["GET", "PUT"], adminTokenSafe: true };
    case 12: return { path: `/${pathSegment(g)}/${pathSegment(g)}`, allowed: ["GET"], adminTokenSafe: true };
    case 13: return { path: `/admin/lb/pools/${g.pick(["web", "pools", "Bad!", pathSegment(g)])}`, allowed: ["GET", "PUT", "DELETE"], adminTokenSafe: true };
    case 14: return { path: `/lb/pools/${g.pick(["web", pathSegment(g)])}`, allowed: ["GET"], adminTokenSafe: true };
    case 15: return { path: `/lb/${g.pick(["web", "nope", pathSegment(g)])}/${key()}`, allowed: [...METHODS], adminTokenSafe: true };
    default: return { path: "/cache/", allowed: KEY_METHODS, adminTokenSafe: true };
  }
}

function query(g: Gen): string {
  if (g.chance(0.4)) return "";
  const params = Array.from({ length: g.int(1, 4) }, () => {
    const name = g.pick(["r", "w", "ttl", "version", "x", "r", "w", "ttl"]);
    return `${name}=${g.chance(0.8) ? g.pick(GARBAGE_NUMBERS) : g.ascii(g.int(0, 20)).replace(/[#&]/g, "")}`;
  });
  if (g.chance(0.1)) params.push("version=00000000000a.000000.00000000");
  return `?${params.join("&")}`;
}

const CONTENT_TYPES = [
  "application/json", "application/json; charset=utf-8", "application/json; charset=utf-16", "text/plain",
  "application/octet-stream", "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded",
  "application/problem+json", "", "garbage", "application/json".repeat(20), "*/*",
] as const;

function nested(depth: number, open: string, close: string, inner = ""): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

interface BodySpec {
  kind: string;
  /** Built when the request is sent, so a few hundred cases do not hold their MiBs at once. */
  make: () => BodyInit | null;
  size: number;
}

function streamOf(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (offset >= bytes.byteLength) return ctl.close();
      ctl.enqueue(bytes.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
}

function jsonish(g: Gen): string {
  const str = () => g.pick(["", "a", "é".repeat(300), "\\ud800", "k".repeat(600), g.ascii(8).replace(/["\\]/g, "")]);
  const scalar = (): string => g.pick([`"${str()}"`, "null", "true", "-1", "0", "1.5", "1e999", "[]", "{}"]);
  switch (g.int(0, 5)) {
    case 0: return JSON.stringify({ keys: Array.from({ length: g.pick([0, 1, 5, 100, 101]) }, (_, i) => `k${i}`) });
    case 1: return `{"keys":[${Array.from({ length: g.int(1, 5) }, () => scalar()).join(",")}]}`;
    case 2: return `{"entries":[${Array.from({ length: g.int(0, 4) }, () => `{"key":${scalar()},"value":${scalar()},"encoding":${g.pick(['"utf8"', '"base64"', '"hex"', "1"])},"ttl":${g.pick(GARBAGE_NUMBERS.map((n) => JSON.stringify(n))).replace(/^"(-?\d+)"$/, "$1")}}`).join(",")}]}`;
    case 3: return `{"mode":${g.pick(['"on-fire"', "1", "null", '"slow"'])},"delayMs":${g.pick(["-1", "60001", '"x"', "1.5"])}}`;
    case 4: return `{"keys":${nested(g.int(1, 50), "{\"a\":", "}", "1")}}`;
    default: return scalar();
  }
}

const NONE: BodySpec = { kind: "none", make: () => null, size: 0 };
const text = (kind: string, s: string): BodySpec => ({ kind, make: () => s, size: s.length });

function body(g: Gen): BodySpec {
  switch (g.int(0, 19)) {
    case 0: case 1: case 2: return NONE;
    case 3: case 4: { const b = g.bytes(g.int(0, 4096)); return { kind: "random bytes", make: () => b, size: b.byteLength }; }
    case 5: { // huge: a few MiB (some past the 8 MiB ceiling)
      const size = g.pick([2 * MiB, 3 * MiB + 7, 8 * MiB + 1]);
      return { kind: "huge bytes", make: () => new Uint8Array(size), size };
    }
    case 6: { // huge and streamed: no content-length, so the limit must hold while reading
      const size = g.pick([MiB + 1, 3 * MiB, 9 * MiB]);
      return { kind: "huge stream", make: () => streamOf(new Uint8Array(size)), size };
    }
    case 7: return text("nested arrays 10k", nested(10_000, "[", "]"));
    case 8: return text("nested in keys 10k", `{"keys":${nested(10_000, "[", "]")}}`);
    case 9: return text("nested objects 10k", `{"entries":[{"key":"a","value":${nested(10_000, "{\"v\":", "}", "1")}}]}`);
    case 10: return text("nested arrays 100k", nested(100_000, "[", "]"));
    case 11: return text("malformed json", g.pick(['{"keys": [', "{", "[", '"', "nul", '{"keys":["a",]}', "\uFEFF{}", "{}garbage", "\0"]));
    case 12: { const b = g.bytes(g.int(1, 64)); return { kind: "short random bytes", make: () => b, size: b.byteLength }; }
    default: return text("json-ish", jsonish(g));
  }
}

function headers(g: Gen, spec: BodySpec, t: Target): Record<string, string> {
  const h: Record<string, string> = {};
  if (spec !== NONE || g.chance(0.3)) {
    const ct = g.pick(CONTENT_TYPES);
    if (ct !== "" || g.chance(0.5)) h["content-type"] = g.chance(0.05) ? g.ascii(300) : ct;
  }
  const auth = g.int(0, 5);
  if (auth === 0 && t.adminTokenSafe) h.authorization = "Bearer test-admin-token";
  if (auth === 1) h.authorization = "Bearer wrong";
  if (auth === 2) h.authorization = `Bearer ${g.ascii(g.int(0, 40))}`;
  if (auth === 3) h.authorization = g.ascii(g.int(0, 20));
  if (g.chance(0.1)) h["x-cache-ttl-ms"] = g.pick(GARBAGE_NUMBERS.filter((n) => /^[\x20-\x7e]*$/.test(n)));
  if (g.chance(0.1)) h["x-request-id"] = g.chance(0.5) ? g.ascii(g.int(0, 300)) : "fuzz-id";
  return h;
}

interface FuzzCase {
  index: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  spec: BodySpec;
}

function generate(seed: number, count: number): FuzzCase[] {
  const g = new Gen(mulberry32(seed));
  return Array.from({ length: count }, (_, index) => {
    const t = target(g);
    const method = g.chance(0.75) ? g.pick(t.allowed) : g.pick(METHODS);
    // fetch refuses a body on GET and HEAD.
    const spec = method === "GET" || method === "HEAD" ? NONE : body(g);
    return { index, method, url: t.path + query(g), headers: headers(g, spec, t), spec };
  });
}

function describeCase(c: FuzzCase): string {
  const url = c.url.length > 200 ? `${c.url.slice(0, 200)}…(${c.url.length} chars)` : c.url;
  const hs = JSON.stringify(c.headers, (_k, v: unknown) => (typeof v === "string" && v.length > 80 ? `${v.slice(0, 80)}…` : v));
  return `#${c.index} ${c.method} ${url} headers=${hs} body=${c.spec.kind} (${c.spec.size} bytes)`;
}

// ---- running ---------------------------------------------------------------------------------

type Outcome = { status: number; contentType: string; requestId: string | null; retryAfter: string | null; text: string } | { error: string };

async function send(c: FuzzCase, timeoutMs = PER_REQUEST_TIMEOUT_MS): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const attempt = (async (): Promise<Outcome> => {
    try {
      const res = await call(c.url, { method: c.method, headers: c.headers, body: c.spec.make() });
      // Values can be binary; decode leniently only to look for stack traces and the error shape.
      const text = new TextDecoder().decode(await res.arrayBuffer());
      return { status: res.status, contentType: res.headers.get("content-type") ?? "", requestId: res.headers.get("x-request-id"), retryAfter: res.headers.get("retry-after"), text };
    } catch (err) {
      return { error: `fetch threw: ${err instanceof Error ? err.message : String(err)}` };
    }
  })();
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Everything wrong with one outcome (empty when it keeps the error model). `allow503`: a 503 with
 * Retry-After is a documented answer (a quorum or leader unavailable, load shed), not a failure.
 */
function problems(c: FuzzCase, o: Outcome, allow503 = false): string[] {
  if ("error" in o) return [o.error];
  const out: string[] = [];
  if (o.status >= 500 && !(allow503 && o.status === 503 && o.retryAfter !== null)) out.push(`status ${o.status}: ${o.text.slice(0, 300)}`);
  if (!o.requestId) out.push("no x-request-id header");
  // Only error bodies: a 200 may echo a stored value, which is user data.
  if (o.status >= 400 && (/^\s*at\s/m.test(o.text) || /\bat\s+\S+\s+\(?\S+:\d+:\d+\)?/.test(o.text) || o.text.includes("Error:"))) out.push(`stack trace in body: ${o.text.slice(0, 300)}`);
  if (o.status >= 400 && c.method !== "HEAD") {
    if (!o.contentType.startsWith("application/json")) out.push(`error with content-type ${o.contentType}`);
    else {
      try {
        const parsed = JSON.parse(o.text) as { error?: { code?: unknown; message?: unknown } | string };
        // The Redis endpoint answers in Upstash's format, {"error": "ERR ..."} (DESIGN.md "HTTP conventions").
        const upstash = c.url.startsWith("/redis") && typeof parsed.error === "string";
        if (!upstash && (typeof parsed.error !== "object" || typeof parsed.error.code !== "string" || typeof parsed.error.message !== "string")) out.push(`not the error shape: ${o.text.slice(0, 200)}`);
      } catch {
        out.push(`error body is not JSON: ${o.text.slice(0, 200)}`);
      }
    }
  }
  return out;
}

async function runPool<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  }));
  return results;
}

describe("HTTP fuzz", () => {
  it("the generator is deterministic for a seed", () => {
    const a = generate(SEED, 50).map(describeCase);
    const b = generate(SEED, 50).map(describeCase);
    expect(a).toEqual(b);
    expect(generate(SEED + 1, 50).map(describeCase)).not.toEqual(a);
  });

  it(`${REQUESTS} random requests: no 5xx, no hang, every error in the error model (seed ${SEED})`, async () => {
    console.log(`http-fuzz seed=${SEED} (0x${SEED.toString(16)}) requests=${REQUESTS}; to replay, set SEED in test/worker/http-fuzz.test.ts`);
    const cases = generate(SEED, REQUESTS);
    const outcomes = await runPool(cases, CONCURRENCY, send);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    cases.forEach((c, i) => {
      const o = outcomes[i] as Outcome;
      if (!("error" in o)) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
      for (const p of problems(c, o)) failures.push(`${describeCase(c)}\n    -> ${p}`);
    });
    console.log(`http-fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    if (failures.length) console.log(`http-fuzz seed=${SEED}: ${failures.length} failures\n${failures.join("\n")}`);
    expect(failures).toEqual([]);
    // The fuzz must reach past validation sometimes, or it proves little.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
  }, 60_000);
});

// ---- every route of /openapi.json ------------------------------------------------------------
//
// The routes come from the API description itself, so a route added later is fuzzed without editing
// this file. Each operation gets OPENAPI_PER_OPERATION requests: its path parameters filled with
// plausible or garbage values (bad percent-encodings included), garbage query values, garbage or
// truncated bodies under right and wrong content types, and now and then a huge header. Data written
// before the fuzzing must read back the same after it.

const OPENAPI_PER_OPERATION = 10;
const OPENAPI_TIMEOUT_MS = 15_000;

interface Operation {
  method: string;
  path: string;
  pathParams: string[];
  queryParams: string[];
  bodyTypes: string[];
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; requestBody?: { content?: Record<string, unknown> } }>>;
}

async function operations(): Promise<Operation[]> {
  const doc = (await (await call("/openapi.json")).json()) as OpenApiDoc;
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string),
      queryParams: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
      bodyTypes: Object.keys(op.requestBody?.content ?? {}),
    })),
  );
}

/**
 * Operations the admin token is never sent to: they inject faults or crash objects (after which a 503
 * is the right answer), change the Raft membership, or could erase the data the test checks (FLUSHDB).
 * They are still fuzzed without a token or with a wrong one.
 */
function adminTokenSafe(op: Operation): boolean {
  return !/\/(fault|crash|partition|delay|heal|members|transfer-leadership)\b/.test(op.path) && !op.path.startsWith("/redis") && !(op.method === "DELETE" && op.path.startsWith("/admin/"));
}

const PLAUSIBLE: Record<string, readonly string[]> = {
  key: ["k1", "user%3A42", "a/b"],
  shard: ["shard-0", "shard-7"],
  node: ["n1", "n5"],
  pool: ["web", "demo"],
  id: ["b0123456789abcdef0123", "j0123456789abcdef0123", "b0123456789abcdef0123.0", "t1"],
  command: ["ping", "get/k1", "dbsize", "keys/*", "exists/k1/k2"],
  path: ["x", "a/b/c", "..%2f..%2fadmin", "%5c..%5c"],
};

function fillPath(g: Gen, op: Operation): string {
  return op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => (g.chance(0.5) ? g.pick(PLAUSIBLE[name] ?? ["x"]) : pathSegment(g) || "x"));
}

function fuzzQuery(g: Gen, op: Operation): string {
  const names = [...op.queryParams, "x"];
  if (g.chance(0.3)) return "";
  const params = Array.from({ length: g.int(1, 3) }, () => {
    const value = g.pick([g.pick(GARBAGE_NUMBERS), g.ascii(g.int(0, 12)).replace(/[#&]/g, ""), "%", "%FF%FE", "%E2%82", g.pick(["wordcount", "grep", "top-k", "linearizable", "stale", "true"])]);
    return `${g.pick(names)}=${value}`;
  });
  return `?${params.join("&")}`;
}

/** A JSON document cut at a random byte: what a client that builds JSON by hand sends when it stops early. */
function truncatedJson(g: Gen): BodySpec {
  const whole = JSON.stringify(g.pick([
    { keys: ["a", "b", "c"] },
    { entries: [{ key: "a", value: "b", ttl: 1000 }] },
    { key: "k", expected: "a", value: "b" },
    { ops: [{ op: "set", key: "a", value: "1" }] },
    { kind: "fibonacci", args: { n: 10 } },
    { kind: "wordcount", input: { documents: [{ id: "d", text: "a b" }] } },
    ["SET", "k", "v"],
    [["GET", "k"], ["PING"]],
    { upstreams: [{ url: "http://127.0.0.1:1/" }] },
  ]));
  return text("truncated json", whole.slice(0, g.int(0, whole.length - 1)));
}

function openApiCase(g: Gen, op: Operation, index: number): FuzzCase {
  const method = g.chance(0.85) ? op.method : g.pick(METHODS);
  const target: Target = { path: fillPath(g, op), allowed: [op.method], adminTokenSafe: adminTokenSafe(op) };
  let spec = NONE;
  if (method !== "GET" && method !== "HEAD") spec = g.chance(0.3) ? truncatedJson(g) : body(g);
  const h = headers(g, spec, target);
  if (spec !== NONE && op.bodyTypes.length > 0 && g.chance(0.4)) h["content-type"] = g.pick(op.bodyTypes);
  if (g.chance(0.05)) h["x-fuzz-huge"] = "h".repeat(g.pick([8 * 1024, 64 * 1024]));
  if (g.chance(0.03)) h.authorization = `Bearer ${"t".repeat(16 * 1024)}`;
  if (g.chance(0.05)) h["idempotency-key"] = g.pick(["", g.ascii(200), "k".repeat(129), "ok-key-1"]);
  return { index, method, url: target.path + fuzzQuery(g, op), headers: h, spec };
}

/** Data written before the fuzzing, under names the generator never makes. */
const SENTINELS = Array.from({ length: 6 }, (_, i) => ({ key: `fuzz-sentinel-${i}`, value: `value ${i} ${"é".repeat(i * 10)}` }));

async function writeSentinels(): Promise<void> {
  for (const s of SENTINELS) {
    expect((await call(`/cache/${s.key}`, { method: "PUT", body: s.value })).status).toBe(200);
  }
  expect((await call("/kv/fuzz-sentinel", { method: "PUT", body: "raft value" })).status).toBe(200);
}

async function sentinelsIntact(): Promise<string[]> {
  const wrong: string[] = [];
  for (const s of SENTINELS) {
    const res = await call(`/cache/${s.key}`);
    const got = await res.text();
    if (res.status !== 200 || got !== s.value) wrong.push(`/cache/${s.key}: ${res.status} ${got.slice(0, 80)}`);
  }
  const kv = await call("/kv/fuzz-sentinel");
  const kvText = await kv.text();
  if (kv.status !== 200 || !kvText.includes("raft value")) wrong.push(`/kv/fuzz-sentinel: ${kv.status} ${kvText.slice(0, 80)}`);
  return wrong;
}

describe("HTTP fuzz over every route of /openapi.json", () => {
  it(`${OPENAPI_PER_OPERATION} requests per operation: no 5xx but a 503 with Retry-After, the error model kept, data intact (seed ${SEED})`, async () => {
    const ops = await operations();
    // The description covers the API: a sanity floor so a broken document does not make this vacuous.
    expect(ops.length).toBeGreaterThan(40);
    await writeSentinels();
    const g = new Gen(mulberry32(SEED ^ 0x0a91));
    const cases = ops.flatMap((op) => Array.from({ length: OPENAPI_PER_OPERATION }, () => op)).map((op, i) => ({ op, c: openApiCase(g, op, i) }));
    console.log(`http-fuzz (openapi) seed=${SEED} operations=${ops.length} requests=${cases.length}`);
    const outcomes = await runPool(cases, CONCURRENCY, ({ c }) => send(c, OPENAPI_TIMEOUT_MS));
    const failures: string[] = [];
    const reached = new Set<string>();
    const statuses = new Map<number, number>();
    cases.forEach(({ op, c }, i) => {
      const o = outcomes[i] as Outcome;
      if (!("error" in o)) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
      if (!("error" in o) && o.status < 400) reached.add(`${op.method} ${op.path}`);
      for (const p of problems(c, o, true)) failures.push(`${op.method} ${op.path}: ${describeCase(c)}\n    -> ${p}`);
    });
    console.log(`http-fuzz (openapi) statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; past validation on ${reached.size} operations`);
    if (failures.length) console.log(`http-fuzz (openapi) seed=${SEED}: ${failures.length} failures\n${failures.join("\n")}`);
    expect(failures).toEqual([]);
    // Past validation on some routes at least, or the fuzz proves little.
    expect(reached.size).toBeGreaterThan(5);
    expect(await sentinelsIntact()).toEqual([]);
  }, 240_000);
});
