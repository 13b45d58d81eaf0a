// The per-request Prometheus families (the requests counter and the latency and size histograms of
// DESIGN.md §5), kept off prom-client's per-observation label hashing: the gateway's hot path adds
// each answered request to one tally per (deployment, environment, status code), found by a plain
// string key, and a scrape renders the tallies in prom-client's metric format. What a scrape shows
// is exactly what prom-client's own Counter and Histograms would show for the same requests.
import type { Registry } from 'prom-client';

export type RequestLabels = Record<
  'model_id' | 'model_name' | 'deployment_id' | 'environment' | 'status_code',
  string
>;

export interface RequestValues {
  e2eS: number;
  ttfbS: number | null;
  queueS: number;
  requestBytes: number;
  responseBytes: number;
}

/** One histogram's observations under one label set: counts per bucket (not cumulative). */
interface Buckets {
  counts: Float64Array;
  sum: number;
  count: number;
}

interface Tally {
  labels: RequestLabels;
  requests: number;
  histograms: Buckets[];
}

interface HistogramFamily {
  name: string;
  help: string;
  bounds: readonly number[];
  /** The value a request adds, or null when it has none (a request that never got a first byte). */
  pick: (v: RequestValues) => number | null;
}

function observe(b: Buckets, bounds: readonly number[], value: number): void {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  b.counts[i]! += 1;
  b.sum += value;
  b.count += 1;
}

export class RequestFamilies {
  private readonly tallies = new Map<string, Tally>();
  private readonly families: readonly HistogramFamily[];

  constructor(
    registry: Registry,
    counter: { name: string; help: string },
    families: readonly HistogramFamily[],
  ) {
    this.families = families;
    const tallies = this.tallies;
    registry.registerMetric({
      name: counter.name,
      help: counter.help,
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: counter.name,
        help: counter.help,
        type: 'counter',
        aggregator: 'sum',
        values: [...tallies.values()].map((t) => ({ labels: t.labels, value: t.requests })),
      }),
    } as never);
    families.forEach((family, index) => {
      const get = async () => ({
        name: family.name,
        help: family.help,
        type: 'histogram',
        aggregator: 'sum',
        values: [...tallies.values()].flatMap((t) => histogramValues(family, t.labels, t.histograms[index]!)),
      });
      registry.registerMetric({
        name: family.name,
        help: family.help,
        type: 'histogram',
        aggregator: 'sum',
        get,
      } as never);
    });
  }

  /** One answered request. `key` identifies its label set (deployment, environment, status). */
  record(key: string, labels: () => RequestLabels, values: RequestValues): void {
    let t = this.tallies.get(key);
    if (!t) {
      t = {
        labels: labels(),
        requests: 0,
        histograms: this.families.map((f) => ({
          counts: new Float64Array(f.bounds.length + 1),
          sum: 0,
          count: 0,
        })),
      };
      this.tallies.set(key, t);
    }
    t.requests += 1;
    for (let i = 0; i < this.families.length; i++) {
      const family = this.families[i]!;
      const value = family.pick(values);
      if (value !== null) observe(t.histograms[i]!, family.bounds, value);
    }
  }
}

/** A histogram's exposition under one label set, as prom-client writes it (cumulative buckets). */
function histogramValues(family: HistogramFamily, labels: RequestLabels, b: Buckets) {
  if (b.count === 0) return [];
  const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
  let cumulative = 0;
  family.bounds.forEach((le, i) => {
    cumulative += b.counts[i]!;
    values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${family.name}_bucket` });
  });
  values.push({ labels: { le: '+Inf', ...labels }, value: b.count, metricName: `${family.name}_bucket` });
  values.push({ labels, value: b.sum, metricName: `${family.name}_sum` });
  values.push({ labels, value: b.count, metricName: `${family.name}_count` });
  return values;
}
