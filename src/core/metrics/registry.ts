// A small metrics registry that renders the Prometheus text exposition format 0.0.4.
// Written here rather than taken from prom-client: that library leans on Node's process, timers and
// cluster modules, and the format itself is a few lines. Pure: no clock, no I/O; values come in.

export type Labels = Record<string, string>;

export interface Counter {
  /** Adds `by` (default 1, never negative) to the series of `labels`. */
  inc(labels?: Labels, by?: number): void;
  /**
   * Mirrors a count kept elsewhere (e.g. a Raft member's own election count, read at scrape time).
   * A lower value than before reads as a counter reset, which Prometheus's rate() already handles.
   */
  set(labels: Labels, v: number): void;
  value(labels?: Labels): number;
  /** Forgets every series (for values mirrored at scrape time from a source that may vanish). */
  clear(): void;
}

export interface Gauge {
  set(labels: Labels, v: number): void;
  inc(labels?: Labels, by?: number): void;
  dec(labels?: Labels, by?: number): void;
  value(labels?: Labels): number;
  /** Forgets every series (a gauge filled at scrape time starts each scrape empty). */
  clear(): void;
}

export interface Histogram {
  observe(labels: Labels, v: number): void;
}

/** Latency buckets in seconds (the Prometheus client libraries' defaults). */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Past this many label sets a metric takes no new ones (their samples are dropped and counted). */
export const DEFAULT_MAX_SERIES = 2000;

export const DROPPED_SERIES_METRIC = "dc_metrics_dropped_series_total";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type MetricType = "counter" | "gauge" | "histogram";

interface Series<V> {
  labels: Labels;
  value: V;
}

interface HistogramValue {
  /** Observations per bucket (not cumulative); the last slot is above the highest bound. */
  counts: number[];
  sum: number;
  count: number;
}

/** The canonical key of a label set: names sorted, so {a,b} and {b,a} are one series. */
function seriesKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  return JSON.stringify(names.map((n) => [n, labels[n]]));
}

/** Escapes a label value: backslash, double quote and line feed (format 0.0.4). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escapes HELP text: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the format spells it (Go's float syntax for the special values). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function formatLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels)
    .sort()
    .map((n) => `${n}="${escapeLabelValue(labels[n]!)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

abstract class Metric<V> {
  protected readonly series = new Map<string, Series<V>>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly maxSeries: number,
    private readonly onDrop: (metric: string) => void,
    private readonly reservedLabels: readonly string[] = [],
  ) {}

  /** The series of `labels`, created on first use; undefined when the cardinality bound refuses it. */
  protected seriesFor(labels: Labels, create: () => V): Series<V> | undefined {
    const key = seriesKey(labels);
    const found = this.series.get(key);
    if (found) return found;
    for (const n of Object.keys(labels)) {
      if (!LABEL_NAME.test(n) || n.startsWith("__") || this.reservedLabels.includes(n)) throw new Error(`${this.name}: invalid label name ${JSON.stringify(n)}`);
      if (typeof labels[n] !== "string") throw new Error(`${this.name}: label ${n} must be a string`);
    }
    if (this.series.size >= this.maxSeries) {
      this.onDrop(this.name);
      return undefined;
    }
    const s = { labels: { ...labels }, value: create() };
    this.series.set(key, s);
    return s;
  }

  protected peek(labels: Labels): V | undefined {
    return this.series.get(seriesKey(labels))?.value;
  }

  clear(): void {
    this.series.clear();
  }

  seriesCount(): number {
    return this.series.size;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const s of this.series.values()) this.renderSeries(s, lines);
    return lines.join("\n");
  }

  protected abstract renderSeries(s: Series<V>, out: string[]): void;
}

class ScalarMetric extends Metric<number> implements Counter, Gauge {
  inc(labels: Labels = {}, by = 1): void {
    if (this.type === "counter" && !(by >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${by})`);
    const s = this.seriesFor(labels, () => 0);
    if (s) s.value += by;
  }

  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }

  set(labels: Labels, v: number): void {
    const s = this.seriesFor(labels, () => 0);
    if (s) s.value = v;
  }

  value(labels: Labels = {}): number {
    return this.peek(labels) ?? 0;
  }

  protected renderSeries(s: Series<number>, out: string[]): void {
    out.push(`${this.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
}

class HistogramMetric extends Metric<HistogramValue> implements Histogram {
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
    maxSeries: number,
    onDrop: (metric: string) => void,
  ) {
    super(name, help, "histogram", maxSeries, onDrop, ["le"]);
  }

  observe(labels: Labels, v: number): void {
    const s = this.seriesFor(labels, () => ({ counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 }));
    if (!s) return;
    let i = 0;
    while (i < this.buckets.length && v > this.buckets[i]!) i++;
    s.value.counts[i]!++;
    s.value.sum += v;
    s.value.count++;
  }

  /** One series' observations per bucket, cumulative as rendered (tests). */
  snapshot(labels: Labels): { buckets: number[]; sum: number; count: number } | undefined {
    const v = this.peek(labels);
    if (!v) return undefined;
    let acc = 0;
    return { buckets: v.counts.map((c) => (acc += c)), sum: v.sum, count: v.count };
  }

  protected renderSeries(s: Series<HistogramValue>, out: string[]): void {
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += s.value.counts[i]!;
      out.push(`${this.name}_bucket${formatLabels(s.labels, ["le", formatValue(le)])} ${cumulative}`);
    });
    out.push(`${this.name}_bucket${formatLabels(s.labels, ["le", "+Inf"])} ${s.value.count}`);
    out.push(`${this.name}_sum${formatLabels(s.labels)} ${formatValue(s.value.sum)}`);
    out.push(`${this.name}_count${formatLabels(s.labels)} ${s.value.count}`);
  }
}

type AnyMetric = ScalarMetric | HistogramMetric;

export interface RegistryOptions {
  /** Label sets per metric before new ones are dropped (default 2,000). */
  maxSeriesPerMetric?: number;
}

/** Counters, gauges and histograms by name, rendered together for one scrape. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly collectors: (() => void | Promise<void>)[] = [];
  private readonly maxSeries: number;
  private readonly dropped: ScalarMetric;
  private readonly collectorFailures: ScalarMetric;

  constructor(options: RegistryOptions = {}) {
    this.maxSeries = options.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES;
    // Bounded by the number of metrics, so this one never drops (its bound is the metric count + 1).
    this.dropped = new ScalarMetric(DROPPED_SERIES_METRIC, "Samples dropped because their metric already had its maximum number of label sets", "counter", Number.MAX_SAFE_INTEGER, () => undefined);
    this.metrics.set(this.dropped.name, this.dropped);
    this.collectorFailures = this.counter("dc_metrics_collector_failures_total", "Scrape-time collectors that threw (their metrics keep the last values they set)") as ScalarMetric;
    this.collectorFailures.inc({}, 0);
  }

  counter(name: string, help: string): Counter {
    return this.register(name, "counter", () => new ScalarMetric(name, help, "counter", this.maxSeries, this.onDrop)) as ScalarMetric;
  }

  gauge(name: string, help: string): Gauge {
    return this.register(name, "gauge", () => new ScalarMetric(name, help, "gauge", this.maxSeries, this.onDrop)) as ScalarMetric;
  }

  histogram(name: string, help: string, buckets: readonly number[] = DEFAULT_BUCKETS): Histogram & Pick<HistogramMetric, "snapshot"> {
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!)))
      throw new Error(`${name}: buckets must be finite and strictly increasing`);
    return this.register(name, "histogram", () => new HistogramMetric(name, help, [...buckets], this.maxSeries, this.onDrop)) as HistogramMetric;
  }

  /** Registers a callback run before each render (sets gauges from live state). May be async. */
  collect(fn: () => void | Promise<void>): void {
    this.collectors.push(fn);
  }

  /** Prometheus text exposition format 0.0.4; runs the collectors first (a failing one is counted, not fatal). */
  async render(): Promise<string> {
    const results = await Promise.allSettled(this.collectors.map(async (fn) => fn()));
    for (const r of results) if (r.status === "rejected") this.collectorFailures.inc();
    // The registry's own metrics last, after the ones a reader came for.
    const own: AnyMetric[] = [this.dropped, this.collectorFailures];
    const ordered = [...[...this.metrics.values()].filter((m) => !own.includes(m)), ...own];
    return ordered.map((m) => m.render()).join("\n") + "\n";
  }

  /** Forgets every value (tests); the metrics and collectors stay registered. */
  reset(): void {
    for (const m of this.metrics.values()) m.clear();
    this.collectorFailures.inc({}, 0);
  }

  private readonly onDrop = (metric: string): void => this.dropped.inc({ metric });

  private register(name: string, type: MetricType, make: () => AnyMetric): AnyMetric {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    const known = this.metrics.get(name);
    if (known) {
      if (known.type !== type) throw new Error(`${name} is already registered as a ${known.type}`);
      return known;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }
}
