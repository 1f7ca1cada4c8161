// Issue 6, Proof: the algorithms, observed through real proxied traffic (X-Upstream on each answer,
// counters of each upstream), not through the pure cores (test/core/balancer.test.ts does those).
import { describe, expect, it } from "vitest";
import { failures, setupLb, tally } from "./harness";

const lb = setupLb(["a", "b", "c", "d"] as const);

describe("smooth weighted round-robin (nginx)", () => {
  it("weights 2:1 give exactly a, b, a, a, b, a, … across 300 sequential requests", async () => {
    const pool = lb.pool("swrr");
    await lb.putPool(pool, {
      algorithm: "weighted-round-robin",
      upstreams: [
        { ...lb.upstreams("a")[0], weight: 2 },
        { ...lb.upstreams("b")[0], weight: 1 },
      ],
    });
    const hits = await lb.sequential(pool, 300);
    expect(failures(hits)).toEqual([]);
    // nginx's smooth WRR with {a: 2, b: 1}: current weights (2,1)->a, (1,2)->b, (3,0)->a, then repeats.
    const expected = Array.from({ length: 300 }, (_, i) => (i % 3 === 1 ? "b" : "a"));
    expect(hits.map((h) => h.upstream)).toEqual(expected);
    expect(hits.every((h) => h.attempts === 1)).toBe(true);
    expect(await lb.received("x")).toMatchObject({ a: 200, b: 100, c: 0, d: 0 });
  });

  it("weights 5:1:1 follow nginx's sequence a a b a c a a: the light upstreams are spread out, not bunched", async () => {
    const pool = lb.pool("swrr-smooth");
    await lb.putPool(pool, {
      algorithm: "weighted-round-robin",
      upstreams: [
        { ...lb.upstreams("a")[0], weight: 5 },
        { ...lb.upstreams("b")[0], weight: 1 },
        { ...lb.upstreams("c")[0], weight: 1 },
      ],
    });
    const hits = await lb.sequential(pool, 70);
    expect(failures(hits)).toEqual([]);
    const cycle = ["a", "a", "b", "a", "c", "a", "a"];
    expect(hits.map((h) => h.upstream)).toEqual(Array.from({ length: 70 }, (_, i) => cycle[i % 7]));
  });
});

describe("round-robin", () => {
  it("cycles through the upstreams in order, each getting an equal share", async () => {
    const pool = lb.pool("rr");
    await lb.putPool(pool, { upstreams: lb.upstreams("a", "b", "c") });
    const hits = await lb.sequential(pool, 60);
    expect(failures(hits)).toEqual([]);
    expect(tally(hits)).toEqual({ a: 20, b: 20, c: 20 });
    // Sequential requests see a fixed rotation: the same upstream comes back every third request.
    for (let i = 3; i < hits.length; i++) expect(hits[i]!.upstream).toBe(hits[i - 3]!.upstream);
  });
});

describe("load-aware algorithms avoid a busy upstream", () => {
  // a answers after 3 s; 30 requests arrive 25 ms apart (all within 750 ms). Round-robin would send
  // a 10 of them; a balancer that counts in-flight requests sends it at most the first one or two
  // (while all are idle they tie), because from then on a has a request outstanding and b, c do not.
  for (const algorithm of ["least-connections", "p2c-ewma"] as const) {
    it(`${algorithm}: an upstream with a request outstanding for seconds gets (almost) no more`, async () => {
      const pool = lb.pool(algorithm);
      await lb.putPool(pool, { algorithm, upstreams: lb.upstreams("a", "b", "c"), retry: { perTryTimeoutMs: 10_000, deadlineMs: 20_000 } });
      await lb.up.a.set({ delayMs: 3000 });
      const hits = await lb.staggered(pool, 30, 25);
      expect(failures(hits)).toEqual([]);
      const toA = tally(hits).a ?? 0;
      expect(toA, JSON.stringify(tally(hits))).toBeLessThanOrEqual(3);
      expect((await lb.up.a.stats()).traffic).toBe(toA);
    });
  }

  it("least-connections: a response still streaming its body counts as in flight until it has been passed on", async () => {
    const pool = lb.pool("lc-stream");
    await lb.putPool(pool, { algorithm: "least-connections", upstreams: lb.upstreams("a", "b") });
    // a sends its headers at once and its body 2 s later (a slow download, an event stream).
    await lb.up.a.set({ bodyDelayMs: 2000 });
    await lb.up.b.set({ bodyDelayMs: 0 });
    // Ties are broken either way: ask until a request lands on a (b's answers are read at once).
    let first: Response | undefined;
    for (let i = 0; i < 6 && first === undefined; i++) {
      const res = await lb.proxy(pool, "download");
      if (res.headers.get("x-upstream") === "a") first = res;
      else await res.arrayBuffer();
    }
    if (first === undefined) throw new Error("no request reached a");
    // While a's body is still on its way, every other request goes to b.
    const hits = await lb.sequential(pool, 10);
    expect(tally(hits)).toEqual({ b: 10 });
    expect(((await first.json()) as { upstream: string }).upstream).toBe("a");
  });

  it("least-connections: a hanging upstream keeps its in-flight count, so traffic flows around it", async () => {
    const pool = lb.pool("lc-hang");
    await lb.putPool(pool, { algorithm: "least-connections", upstreams: lb.upstreams("a", "b"), retry: { perTryTimeoutMs: 2000, deadlineMs: 5000 } });
    await lb.up.a.set("hang");
    const hits = await lb.staggered(pool, 20, 20);
    // The request that went to a first is retried on b after its per-try timeout: still a 200.
    expect(failures(hits)).toEqual([]);
    expect((await lb.up.a.stats()).traffic).toBeLessThanOrEqual(2);
  });
});

describe("P2C on peak-EWMA latency (Finagle)", () => {
  it("avoids an upstream 10x slower than the others: its share stays well below 1/4", async () => {
    const pool = lb.pool("p2c-slow");
    await lb.putPool(pool, { algorithm: "p2c-ewma", upstreams: lb.upstreams("a", "b", "c", "d") });
    // 500 ms against 50 ms: a latency every request pays in the worker and the client (tens to hundreds
    // of ms on a loaded machine, and peaks stick in a peak EWMA) must not blur the 10x apart.
    await lb.up.a.set({ delayMs: 500 });
    for (const s of [lb.up.b, lb.up.c, lb.up.d]) await s.set({ delayMs: 50 });
    // 8 clients x 30 sequential requests: round-robin would give a 60 of 240.
    const clients = await Promise.all(Array.from({ length: 8 }, () => lb.sequential(pool, 30)));
    const hits = clients.flat();
    expect(failures(hits)).toEqual([]);
    const share = (tally(hits).a ?? 0) / hits.length;
    expect(share, JSON.stringify(tally(hits))).toBeLessThan(1 / 8);
    const status = await lb.status(pool);
    const ewma = (id: string) => status.upstreams.find((u) => u.id === id)?.ewmaMs ?? NaN;
    expect(ewma("a")).toBeGreaterThan(ewma("b"));
  });
});

describe("maxInFlight", () => {
  it("an upstream at its maxInFlight is skipped: it never sees more concurrent requests than that", async () => {
    const pool = lb.pool("max-inflight");
    await lb.putPool(pool, { upstreams: [{ ...lb.upstreams("a")[0], maxInFlight: 1 }, ...lb.upstreams("b")] });
    await lb.up.a.set({ delayMs: 300 });
    await lb.up.b.set({ delayMs: 300 });
    const hits = await Promise.all(Array.from({ length: 10 }, () => lb.hit(pool)));
    expect(failures(hits)).toEqual([]);
    expect((await lb.up.a.stats()).maxInFlight).toBe(1);
    expect(tally(hits).a).toBeGreaterThanOrEqual(1);
  });
});

describe("consistent hashing for affinity", () => {
  it("requests with the same affinity header go to the same upstream; different keys spread", async () => {
    const pool = lb.pool("affinity");
    await lb.putPool(pool, { algorithm: "consistent-hash", affinity: { header: "x-user" }, upstreams: lb.upstreams("a", "b", "c", "d") });
    const chosen = new Map<string, Set<string>>();
    for (let user = 0; user < 24; user++) {
      for (let i = 0; i < 4; i++) {
        const h = await lb.hit(pool, "x", { headers: { "x-user": `user-${user}` } });
        expect(h.status).toBe(200);
        const set = chosen.get(`user-${user}`) ?? new Set();
        set.add(h.upstream ?? "none");
        chosen.set(`user-${user}`, set);
      }
    }
    for (const [user, set] of chosen) expect([...set], user).toHaveLength(1);
    const used = new Set([...chosen.values()].flatMap((s) => [...s]));
    expect(used.size).toBeGreaterThanOrEqual(3);
  });

  it("the affinity cookie works the same way when no header is configured", async () => {
    const pool = lb.pool("affinity-cookie");
    await lb.putPool(pool, { algorithm: "consistent-hash", affinity: { cookie: "sid" }, upstreams: lb.upstreams("a", "b", "c", "d") });
    for (let user = 0; user < 8; user++) {
      const seen = new Set<string | null>();
      for (let i = 0; i < 4; i++) seen.add((await lb.hit(pool, "x", { headers: { cookie: `theme=dark; sid=s${user}` } })).upstream);
      expect(seen.size).toBe(1);
    }
  });
});
