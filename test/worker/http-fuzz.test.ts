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

type Outcome = { status: number; contentType: string; requestId: string | null; text: string } | { error: string };

async function send(c: FuzzCase): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ error: `no answer within ${PER_REQUEST_TIMEOUT_MS} ms` }), PER_REQUEST_TIMEOUT_MS);
  });
  const attempt = (async (): Promise<Outcome> => {
    try {
      const res = await call(c.url, { method: c.method, headers: c.headers, body: c.spec.make() });
      // Values can be binary; decode leniently only to look for stack traces and the error shape.
      const text = new TextDecoder().decode(await res.arrayBuffer());
      return { status: res.status, contentType: res.headers.get("content-type") ?? "", requestId: res.headers.get("x-request-id"), text };
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

/** Everything wrong with one outcome (empty when it keeps the error model). */
function problems(c: FuzzCase, o: Outcome): string[] {
  if ("error" in o) return [o.error];
  const out: string[] = [];
  if (o.status >= 500) out.push(`status ${o.status}: ${o.text.slice(0, 300)}`);
  if (!o.requestId) out.push("no x-request-id header");
  // Only error bodies: a 200 may echo a stored value, which is user data.
  if (o.status >= 400 && (/^\s*at\s/m.test(o.text) || /\bat\s+\S+\s+\(?\S+:\d+:\d+\)?/.test(o.text) || o.text.includes("Error:"))) out.push(`stack trace in body: ${o.text.slice(0, 300)}`);
  if (o.status >= 400 && c.method !== "HEAD") {
    if (!o.contentType.startsWith("application/json")) out.push(`error with content-type ${o.contentType}`);
    else {
      try {
        const parsed = JSON.parse(o.text) as { error?: { code?: unknown; message?: unknown } };
        if (typeof parsed.error?.code !== "string" || typeof parsed.error.message !== "string") out.push(`not the error shape: ${o.text.slice(0, 200)}`);
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
