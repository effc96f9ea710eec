// A small Prometheus registry (text exposition format 0.0.4): counters, gauges
// and histograms with labels. Every daemon serves one at /metrics.

type Labels = Record<string, string | number>;

function labelKey(l: Labels | undefined): string {
  if (!l) return '';
  const keys = Object.keys(l).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${String(l[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter' as const;
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  /** The series of these labels, its key worked out once: for counters bumped on hot paths. */
  with(labels: Labels): { inc(by?: number): void } {
    const k = labelKey(labels);
    return { inc: (by = 1) => void this.values.set(k, (this.values.get(k) ?? 0) + by) };
  }
  render(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  private readonly values = new Map<string, number>();
  private readonly fns: (() => number)[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
    fn?: () => number,
  ) {
    if (fn) this.fns.push(fn);
  }
  set(v: number, labels?: Labels): void {
    this.values.set(labelKey(labels), v);
  }
  /** Reads the value from `fn` from now on (the latest registrant of a gauge owns it). */
  setFn(fn: () => number): void {
    this.fns.length = 0;
    this.fns.push(fn);
  }
  render(): string[] {
    if (this.fns.length > 0) return [`${this.name} ${this.fns[0]!()}`];
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number; labels: Labels | undefined }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ) {}
  observe(v: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0, labels };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }
  render(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelKey({ ...s.labels, le: b })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  // Registering a name twice (a component started again, e.g. the scheduler of a
  // re-elected leader) returns the metric already there: one family per name.
  counter(name: string, help: string): Counter {
    return this.existing(name, Counter) ?? this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, fn?: () => number): Gauge {
    const g = this.existing(name, Gauge);
    if (g) {
      if (fn) g.setFn(fn);
      return g;
    }
    return this.add(new Gauge(name, help, fn));
  }
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.existing(name, Histogram) ?? this.add(new Histogram(name, help, buckets));
  }
  private existing<T extends Metric>(name: string, cls: new (...a: never[]) => T): T | undefined {
    const m = this.metrics.find((x) => x.name === name);
    if (m === undefined) return undefined;
    if (!(m instanceof cls)) throw new Error(`metric ${name} is already registered as a ${m.type}`);
    return m;
  }
  private add<T extends Metric>(m: T): T {
    this.metrics.push(m);
    return m;
  }

  /** Process metrics every daemon has. */
  withProcessMetrics(): this {
    this.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage().rss);
    this.gauge('process_heap_bytes', 'V8 heap used in bytes.', () => process.memoryUsage().heapUsed);
    const start = Date.now() / 1000;
    this.gauge('process_start_time_seconds', 'Start time of the process since the epoch in seconds.', () => start);
    return this;
  }

  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return `${lines.join('\n')}\n`;
  }
}
