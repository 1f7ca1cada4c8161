// The upstream farm itself (test/support/upstream-farm.ts): the load-balancer tests trust its modes
// and counters, so each is checked here directly, without the worker.
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { applyChange, DEFAULT_BEHAVIOUR, spawnFarm, startFarm, type Echo, type Farm } from "../support/upstream-farm";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET with an abort after `ms`: resolves to the status, "refused", "timeout" or another error code. */
async function probe(url: string, ms = 1000): Promise<number | string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === "ECONNREFUSED") return "refused";
    if ((err as Error).name === "TimeoutError") return "timeout";
    return cause?.code ?? (err as Error).name;
  }
}

describe("settings changes", () => {
  const base = { ...DEFAULT_BEHAVIOUR, health: null };

  it("a patch changes only the fields it names; health follows traffic until given its own settings", () => {
    const slow = applyChange(base, { delayMs: 50 });
    expect(slow).toEqual({ mode: "ok", delayMs: 50, status: 200, health: null });
    const sickHealth = applyChange(slow, { health: { status: 503 } });
    expect(sickHealth).toEqual({ mode: "ok", delayMs: 50, status: 200, health: { mode: "ok", delayMs: 0, status: 503 } });
    expect(applyChange(sickHealth, { health: null }).health).toBeNull();
    expect(applyChange(sickHealth, "hang")).toMatchObject({ mode: "hang", health: { status: 503 } });
    expect(applyChange(sickHealth, "ok")).toEqual(base);
  });
});

describe("in-process farm", () => {
  let farm: Farm<"a" | "b">;
  beforeAll(async () => {
    farm = await startFarm(["a", "b"] as const);
  });
  afterAll(async () => {
    await farm.close();
  });
  beforeEach(async () => {
    for (const s of Object.values(farm.servers)) {
      await s.up();
      await s.set("ok");
      await s.reset();
    }
    // A request an earlier test abandoned may still be closing on the server side.
    for (let i = 0; i < 50 && (await farm.servers.a.stats()).inFlight + (await farm.servers.b.stats()).inFlight > 0; i++) await sleep(20);
    for (const s of Object.values(farm.servers)) await s.reset();
  });

  it("each server listens on its own port of 127.0.0.1", () => {
    const { a, b } = farm.servers;
    expect(a.url).toBe(`http://127.0.0.1:${a.port}`);
    expect(a.port).not.toBe(b.port);
  });

  it("ok: 200 with a JSON echo of method, path, query, headers and body", async () => {
    const res = await fetch(`${farm.servers.a.url}/some/path?x=1&y=two%20words`, {
      method: "POST",
      headers: { "x-custom": "hello", "content-type": "text/plain" },
      body: "the body",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const echo = (await res.json()) as Echo;
    expect(echo).toMatchObject({ upstream: "a", method: "POST", path: "/some/path", query: "x=1&y=two%20words", body: "the body" });
    expect(echo.headers["x-custom"]).toBe("hello");
  });

  it("status: answers with the configured status (body still the echo)", async () => {
    await farm.servers.a.set({ status: 503 });
    const res = await fetch(`${farm.servers.a.url}/x`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as Echo).upstream).toBe("a");
  });

  it("delayMs: the answer comes no sooner than the delay", async () => {
    await farm.servers.a.set({ delayMs: 150 });
    const t0 = performance.now();
    expect(await probe(`${farm.servers.a.url}/x`)).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("hang: the request is accepted and counted in flight, and never answered", async () => {
    const a = farm.servers.a;
    await a.set("hang");
    const pending = probe(`${a.url}/stuck`, 400);
    await sleep(100);
    expect(await a.stats()).toMatchObject({ requests: 1, inFlight: 1, byPath: { "/stuck": 1 } });
    expect(await pending).toBe("timeout");
    await sleep(50);
    expect((await a.stats()).inFlight).toBe(0); // the client gave up; the server saw it go
  });

  it("down refuses connections; up listens again on the same port", async () => {
    const a = farm.servers.a;
    const port = a.port;
    await a.down();
    expect(await probe(`${a.url}/x`)).toBe("refused");
    expect((await a.stats()).listening).toBe(false);
    await a.up();
    expect(a.port).toBe(port);
    expect(await probe(`${a.url}/x`)).toBe(200);
    expect((await a.stats()).listening).toBe(true);
  });

  it("down drops open connections, hanging requests included", async () => {
    const a = farm.servers.a;
    await a.set("hang");
    const pending = probe(`${a.url}/x`, 3000);
    await sleep(100);
    await a.down();
    const outcome = await pending;
    expect(outcome).not.toBe("timeout");
    expect(outcome).not.toBe(200);
  });

  it("health checks can fail while traffic works, and traffic can fail while health checks pass", async () => {
    const a = farm.servers.a;
    await a.set({ health: { status: 503 } });
    expect(await probe(`${a.url}/health`)).toBe(503);
    expect(await probe(`${a.url}/x`)).toBe(200);
    await a.set({ status: 500, health: { status: 200 } });
    expect(await probe(`${a.url}/health`)).toBe(200);
    expect(await probe(`${a.url}/x`)).toBe(500);
    await a.set({ health: { mode: "hang" } });
    expect(await probe(`${a.url}/health`, 300)).toBe("timeout");
    await a.set({ health: null }); // health follows traffic again
    expect(await probe(`${a.url}/health`)).toBe(500);
  });

  it("counters: total, traffic (health excluded), by path, in flight and the most concurrent seen; reset zeroes them", async () => {
    const a = farm.servers.a;
    await a.set({ delayMs: 200 });
    await Promise.all([probe(`${a.url}/p`), probe(`${a.url}/p`), probe(`${a.url}/q`), probe(`${a.url}/health`)]);
    expect(await a.stats()).toEqual({ listening: true, requests: 4, traffic: 3, byPath: { "/p": 2, "/q": 1, "/health": 1 }, inFlight: 0, maxInFlight: 4 });
    expect((await farm.servers.b.stats()).requests).toBe(0);
    await a.reset();
    expect(await a.stats()).toEqual({ listening: true, requests: 0, traffic: 0, byPath: {}, inFlight: 0, maxInFlight: 0 });
  });

  it("a streamed request body arrives whole", async () => {
    const a = farm.servers.a;
    const body = "0123456789".repeat(50_000);
    const echo = await new Promise<Echo>((resolve, reject) => {
      const req = request(`${a.url}/upload`, { method: "PUT" }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve(JSON.parse(text) as Echo));
      });
      req.on("error", reject);
      for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.slice(i, i + 64 * 1024));
      req.end();
    });
    expect(echo.body.length).toBe(body.length);
    expect(echo.body === body).toBe(true);
  });
});

describe("farm in a child process", () => {
  let farm: Farm<"x" | "y">;
  beforeAll(async () => {
    // Node 22 runs the .ts source directly; bench:lb runs the esbuild bundle of the same file.
    farm = await spawnFarm(["x", "y"] as const, { script: fileURLToPath(new URL("../support/upstream-farm.ts", import.meta.url)) });
  });
  afterAll(async () => {
    await farm.close();
  });

  it("serves, and obeys set/down/up/stats/reset over IPC", async () => {
    const { x, y } = farm.servers;
    expect(await probe(`${x.url}/hello`)).toBe(200);
    expect(await x.stats()).toMatchObject({ requests: 1, byPath: { "/hello": 1 } });
    await x.set({ status: 502 });
    expect(await probe(`${x.url}/hello`)).toBe(502);
    await x.down();
    expect(await probe(`${x.url}/hello`)).toBe("refused");
    expect(await probe(`${y.url}/hello`)).toBe(200);
    await x.up();
    expect(await probe(`${x.url}/hello`)).toBe(502);
    await x.reset();
    expect((await x.stats()).requests).toBe(0);
  });

  it("close ends the child process", async () => {
    const other = await spawnFarm(["z"] as const, { script: fileURLToPath(new URL("../support/upstream-farm.ts", import.meta.url)) });
    const { url } = other.servers.z;
    expect(await probe(`${url}/`)).toBe(200);
    await other.close();
    expect(await probe(`${url}/`)).toBe("refused");
  });
});
