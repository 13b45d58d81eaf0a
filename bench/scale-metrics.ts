// What the scale benchmark reads of a server's /metrics: control-loop pass times over a window
// (plinth_control_loop_seconds, between two scrapes) and single values; and how much memory a
// metric series bucket takes, measured in this process (needs --expose-gc).
import { SeriesStore, deploymentScope } from '../src/observability/series-store.ts';

export type Scrape = string;

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  return res.text();
}

/** The value of an unlabelled metric, or null when the server has none (an older build). */
export function metricValue(text: Scrape, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

export interface LoopTimes {
  passes: number;
  meanMs: number;
  /** The upper bound of the histogram bucket that holds the 99th percentile. */
  p99AtMostMs: number;
}

interface LoopHistogram {
  count: number;
  sum: number;
  buckets: Map<number, number>;
}

function loopHistograms(text: Scrape): Map<string, LoopHistogram> {
  const out = new Map<string, LoopHistogram>();
  const of = (loop: string): LoopHistogram => {
    let h = out.get(loop);
    if (!h) out.set(loop, (h = { count: 0, sum: 0, buckets: new Map() }));
    return h;
  };
  for (const line of text.split('\n')) {
    const m = /^plinth_control_loop_seconds_(bucket|sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const h = of(labels.loop!);
    const value = Number(m[3]);
    if (m[1] === 'sum') h.sum = value;
    else if (m[1] === 'count') h.count = value;
    else h.buckets.set(labels.le === '+Inf' ? Infinity : Number(labels.le), value);
  }
  return out;
}

/** Pass times per loop between two scrapes. */
export function loopTimes(before: Scrape, after: Scrape): Map<string, LoopTimes> {
  const a = loopHistograms(before);
  const out = new Map<string, LoopTimes>();
  for (const [loop, h] of loopHistograms(after)) {
    const b = a.get(loop) ?? { count: 0, sum: 0, buckets: new Map<number, number>() };
    const passes = h.count - b.count;
    if (passes <= 0) continue;
    const bounds = [...h.buckets.keys()].sort((x, y) => x - y);
    const p99 =
      bounds.find((le) => h.buckets.get(le)! - (b.buckets.get(le) ?? 0) >= 0.99 * passes) ?? Infinity;
    out.set(loop, { passes, meanMs: ((h.sum - b.sum) / passes) * 1000, p99AtMostMs: p99 * 1000 });
  }
  return out;
}

let measured: number | undefined;

/** Series buckets per MiB of heap, as this process holds them (a deployment's usual per-second sample). */
export function bucketsPerMiB(): number {
  if (measured !== undefined) return measured;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return (measured = NaN);
  const store = {
    saveMetricBuckets: async () => {},
    queryMetricBuckets: async () => [],
    pruneMetricBuckets: async () => 0,
  };
  const series = new SeriesStore(store, () => 1_000_000);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 20_000; i++) {
    series.addSecond(deploymentScope(`d${i}`), { concurrency: 0, active: 0, starting: 0, replicaTypes: [] });
  }
  gc();
  const bytes = process.memoryUsage().heapUsed - before;
  measured = series.bucketsInMemory / (bytes / 1024 ** 2);
  return measured;
}
