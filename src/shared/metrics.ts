// A small Prometheus registry: counters, gauges and histograms with labels, rendered in text format 0.0.4.

/** The content type Prometheus expects for `render()` output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isNaN(n)) return 'NaN';
  return String(n);
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

abstract class Metric<Child> {
  protected readonly children = new Map<string, { values: string[]; child: Child }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL.test(l) || l.startsWith('__')) throw new Error(`invalid label name ${l} on ${name}`);
  }

  protected child(labels: Labels | undefined): Child {
    const values = this.labelNames.map((n) => labels?.[n] ?? '');
    for (const k of Object.keys(labels ?? {})) if (!this.labelNames.includes(k)) throw new Error(`${this.name} has no label ${k}`);
    const key = values.join('\u0000');
    let entry = this.children.get(key);
    if (!entry) {
      entry = { values, child: this.create() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  protected abstract create(): Child;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract lines(values: string[], child: Child): string[];

  /** Drops every labelled series (e.g. a gauge recomputed from scratch). */
  reset(): void {
    this.children.clear();
  }

  render(): string {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { values, child } of this.children.values()) out.push(...this.lines(values, child));
    return out.join('\n');
  }
}

/** A monotonically increasing count. */
export class Counter extends Metric<{ value: number }> {
  readonly type = 'counter';
  protected create() {
    return { value: 0 };
  }
  inc(labels?: Labels, by = 1): void {
    if (by < 0 || !Number.isFinite(by)) throw new Error(`${this.name}: counters only go up`);
    this.child(labels).value += by;
  }
  /** Current value (0 for a series never incremented). */
  get(labels?: Labels): number {
    return this.child(labels).value;
  }
  protected lines(values: string[], c: { value: number }): string[] {
    return [`${this.name}${labelText(this.labelNames, values)} ${formatNumber(c.value)}`];
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric<{ value: number }> {
  readonly type = 'gauge';
  protected create() {
    return { value: 0 };
  }
  set(labels: Labels | undefined, value: number): void {
    this.child(labels).value = value;
  }
  inc(labels?: Labels, by = 1): void {
    this.child(labels).value += by;
  }
  dec(labels?: Labels, by = 1): void {
    this.child(labels).value -= by;
  }
  get(labels?: Labels): number {
    return this.child(labels).value;
  }
  protected lines(values: string[], c: { value: number }): string[] {
    return [`${this.name}${labelText(this.labelNames, values)} ${formatNumber(c.value)}`];
  }
}

interface HistogramChild {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets (`le`), with `_sum` and `_count`. */
export class Histogram extends Metric<HistogramChild> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    if (labelNames.includes('le')) throw new Error(`${name}: "le" is reserved for histogram buckets`);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  protected create(): HistogramChild {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  observe(labels: Labels | undefined, value: number): void {
    const c = this.child(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) c.counts[i]!++;
    c.sum += value;
    c.count++;
  }
  /** Number of observations of a series. */
  count(labels?: Labels): number {
    return this.child(labels).count;
  }
  protected lines(values: string[], c: HistogramChild): string[] {
    const out = this.buckets.map((b, i) => `${this.name}_bucket${labelText(this.labelNames, values, ['le', formatNumber(b)])} ${c.counts[i]}`);
    out.push(`${this.name}_bucket${labelText(this.labelNames, values, ['le', '+Inf'])} ${c.count}`);
    out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatNumber(c.sum)}`);
    out.push(`${this.name}_count${labelText(this.labelNames, values)} ${c.count}`);
    return out;
  }
}

/** A set of metrics rendered together; names are unique within a registry. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Counter | Gauge | Histogram>();

  private add<M extends Counter | Gauge | Histogram>(m: M): M {
    const existing = this.metrics.get(m.name);
    if (existing) {
      if (existing.type !== m.type) throw new Error(`metric ${m.name} already registered as a ${existing.type}`);
      return existing as M;
    }
    this.metrics.set(m.name, m);
    return m;
  }

  /** Registers (or returns the already registered) counter `name`. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Prometheus text exposition (format 0.0.4) of every metric, in registration order. */
  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join('\n') + '\n';
  }
}
