import { describe, expect, it } from "vitest";
import { DEFAULT_BUCKETS, escapeLabelValue, formatValue, MetricsRegistry } from "../../src/core/metrics/registry";

/** The sample lines of a rendering (no comments). */
const samples = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

describe("metrics registry: Prometheus text format 0.0.4", () => {
  it("renders HELP and TYPE before the samples of each metric, and ends with a line feed", async () => {
    const r = new MetricsRegistry();
    const c = r.counter("dc_test_total", "A test counter");
    c.inc({ route: "/cache/:key", method: "GET" });
    c.inc({ method: "GET", route: "/cache/:key" }, 2);
    const text = await r.render();
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.split("\n");
    const help = lines.indexOf("# HELP dc_test_total A test counter");
    expect(help).toBeGreaterThanOrEqual(0);
    expect(lines[help + 1]).toBe("# TYPE dc_test_total counter");
    // Label order does not make a second series; names are rendered sorted.
    expect(lines[help + 2]).toBe('dc_test_total{method="GET",route="/cache/:key"} 3');
  });

  it("the same name twice is the same metric; a different type under that name is refused", () => {
    const r = new MetricsRegistry();
    const a = r.counter("dc_x_total", "x");
    a.inc();
    expect(r.counter("dc_x_total", "x").value()).toBe(1);
    expect(() => r.gauge("dc_x_total", "x")).toThrow(/already registered as a counter/);
  });

  it("escapes backslash, double quote and line feed in label values, backslash and line feed in HELP", async () => {
    const r = new MetricsRegistry();
    r.gauge("dc_esc", 'help with \\ and\nnewline and "quotes"').set({ v: 'a\\b"c\nd' }, 1);
    const text = await r.render();
    expect(text).toContain('# HELP dc_esc help with \\\\ and\\nnewline and "quotes"\n');
    expect(text).toContain('dc_esc{v="a\\\\b\\"c\\nd"} 1\n');
    expect(escapeLabelValue("plain")).toBe("plain");
  });

  it("spells special values the way the format does", () => {
    expect(formatValue(Infinity)).toBe("+Inf");
    expect(formatValue(-Infinity)).toBe("-Inf");
    expect(formatValue(NaN)).toBe("NaN");
    expect(formatValue(0.25)).toBe("0.25");
  });

  it("gauges go up, down and are set; counters refuse to go down", () => {
    const r = new MetricsRegistry();
    const g = r.gauge("dc_g", "g");
    g.inc({ o: "a" }, 5);
    g.dec({ o: "a" }, 2);
    expect(g.value({ o: "a" })).toBe(3);
    g.set({ o: "a" }, 10);
    expect(g.value({ o: "a" })).toBe(10);
    expect(g.value({ o: "never" })).toBe(0);
    const c = r.counter("dc_c_total", "c");
    expect(() => c.inc({}, -1)).toThrow(/only goes up/);
  });

  it("a histogram renders cumulative buckets with le, +Inf, _sum and _count", async () => {
    const r = new MetricsRegistry();
    const h = r.histogram("dc_latency_seconds", "latency", [0.1, 0.5, 1]);
    for (const v of [0.05, 0.1, 0.3, 0.7, 2]) h.observe({ route: "/kv/:key" }, v);
    const lines = samples(await r.render()).filter((l) => l.startsWith("dc_latency_seconds"));
    expect(lines).toEqual([
      'dc_latency_seconds_bucket{route="/kv/:key",le="0.1"} 2', // 0.1 is in its own bucket (le: less or equal)
      'dc_latency_seconds_bucket{route="/kv/:key",le="0.5"} 3',
      'dc_latency_seconds_bucket{route="/kv/:key",le="1"} 4',
      'dc_latency_seconds_bucket{route="/kv/:key",le="+Inf"} 5',
      'dc_latency_seconds_sum{route="/kv/:key"} 3.15',
      'dc_latency_seconds_count{route="/kv/:key"} 5',
    ]);
  });

  it("a histogram's default buckets are the usual latency buckets in seconds", async () => {
    const r = new MetricsRegistry();
    r.histogram("dc_h", "h").observe({}, 0.003);
    const les = samples(await r.render())
      .filter((l) => l.startsWith("dc_h_bucket"))
      .map((l) => /le="([^"]+)"/.exec(l)![1]);
    expect(les).toEqual([...DEFAULT_BUCKETS.map(String), "+Inf"]);
    expect(DEFAULT_BUCKETS).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });

  it("refuses buckets that are not strictly increasing, and le as a histogram's own label", () => {
    const r = new MetricsRegistry();
    expect(() => r.histogram("dc_bad", "b", [1, 1])).toThrow(/strictly increasing/);
    expect(() => r.histogram("dc_h2", "h").observe({ le: "x" }, 1)).toThrow(/invalid label name/);
    expect(() => r.counter("bad-name", "b")).toThrow(/invalid metric name/);
    expect(() => r.counter("dc_l_total", "l").inc({ "bad-label": "x" })).toThrow(/invalid label name/);
  });

  it("bounds the label sets of a metric: new ones past the limit are dropped and counted, known ones still count", async () => {
    const r = new MetricsRegistry({ maxSeriesPerMetric: 3 });
    const c = r.counter("dc_routes_total", "r");
    for (let i = 0; i < 10; i++) c.inc({ route: `/r${i}` });
    c.inc({ route: "/r0" });
    expect(c.value({ route: "/r0" })).toBe(2);
    expect(c.value({ route: "/r5" })).toBe(0);
    const text = await r.render();
    expect(samples(text).filter((l) => l.startsWith("dc_routes_total{"))).toHaveLength(3);
    expect(text).toContain('dc_metrics_dropped_series_total{metric="dc_routes_total"} 7\n');
  });

  it("the default bound is 2,000 label sets per metric", async () => {
    const r = new MetricsRegistry();
    const h = r.histogram("dc_many_seconds", "m", [1]);
    for (let i = 0; i < 2100; i++) h.observe({ k: String(i) }, 0.5);
    const text = await r.render();
    expect(samples(text).filter((l) => l.startsWith("dc_many_seconds_count{"))).toHaveLength(2000);
    expect(text).toContain('dc_metrics_dropped_series_total{metric="dc_many_seconds"} 100\n');
  });

  it("runs the collectors (async too) before rendering; a failing one is counted, not fatal", async () => {
    const r = new MetricsRegistry();
    const g = r.gauge("dc_live", "live");
    let n = 0;
    r.collect(() => g.set({}, ++n));
    r.collect(async () => {
      await Promise.resolve();
      g.set({ late: "yes" }, 7);
    });
    r.collect(() => {
      throw new Error("boom");
    });
    const first = await r.render();
    expect(first).toContain("dc_live 1\n");
    expect(first).toContain('dc_live{late="yes"} 7\n');
    expect(first).toContain("dc_metrics_collector_failures_total 1\n");
    expect(await r.render()).toContain("dc_live 2\n");
  });

  it("clear forgets a metric's series; reset forgets every value but keeps metrics and collectors", async () => {
    const r = new MetricsRegistry();
    const g = r.gauge("dc_node_up", "up");
    g.set({ node: "n1" }, 1);
    g.clear();
    expect(samples(await r.render()).some((l) => l.startsWith("dc_node_up{"))).toBe(false);
    const c = r.counter("dc_k_total", "k");
    c.inc();
    let ran = 0;
    r.collect(() => void ran++);
    r.reset();
    expect(c.value()).toBe(0);
    c.inc();
    const text = await r.render();
    expect(text).toContain("dc_k_total 1\n");
    expect(ran).toBe(1);
  });

  it("a counter mirrored from elsewhere is set to the source's value", () => {
    const r = new MetricsRegistry();
    const c = r.counter("dc_elections_total", "e");
    c.set({ node: "n1" }, 4);
    c.set({ node: "n1" }, 6);
    expect(c.value({ node: "n1" })).toBe(6);
  });
});
