// A guarded request checks its token once. Hono's "/x/*" also matches "/x": a guard mounted on both
// "/x" and "/x/*" ran twice on "/x" (POST /redis, GET /txn...), a second SHA-256 of the token and a
// second pass through the guard on every call, which showed as POST /redis GET being slower than
// GET /cache/{key} (bench:redis). Counted here: the digests made of the caller's token per request.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import app from "../../src/index";
import { BASE } from "./helpers";

const API = "once-api-token";
const ADMIN = "once-admin-token";
const decoder = new TextDecoder();

afterEach(() => {
  vi.restoreAllMocks();
});

/** Answers `path` with the API token configured, and how many times the caller's token was digested meanwhile. */
async function digestsOfToken(method: string, path: string, body?: unknown): Promise<{ status: number; digests: number }> {
  // The configured token's own digest is computed once per isolate: taken here, before counting.
  await send(method, path, body);
  const real = crypto.subtle.digest.bind(crypto.subtle);
  let digests = 0;
  vi.spyOn(crypto.subtle, "digest").mockImplementation((algorithm, data) => {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (decoder.decode(bytes) === API) digests++;
    return real(algorithm, data);
  });
  const status = await send(method, path, body);
  vi.restoreAllMocks();
  return { status, digests };
}

async function send(method: string, path: string, body?: unknown): Promise<number> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { authorization: `Bearer ${API}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await app.fetch(
    new Request(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
    { ...env, API_TOKEN: API, ADMIN_TOKEN: ADMIN, PUBLIC_DATA_ROUTES: undefined },
    ctx,
  );
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res.status;
}

describe("each guarded request checks its token once", () => {
  it.each([
    ["POST", "/redis", ["PING"]],
    ["POST", "/redis/pipeline", [["PING"]]],
    ["GET", "/redis/ping", undefined],
  ] as const)("%s %s (the Redis endpoint)", async (method, path, body) => {
    const { status, digests } = await digestsOfToken(method, path, body);
    expect(status).toBe(200);
    expect(digests).toBe(1);
  });

  it.each(["/txn", "/tasks", "/jobs", "/lb/pools"])("GET %s (a bare path whose router also has /x/...)", async (path) => {
    const { status, digests } = await digestsOfToken("GET", path);
    expect(status).toBe(200);
    expect(digests).toBe(1);
  });

  it("GET /cache/{key} (the baseline: one guard)", async () => {
    const { status, digests } = await digestsOfToken("GET", "/cache/auth-once-missing");
    expect(status).toBe(404);
    expect(digests).toBe(1);
  });
});
