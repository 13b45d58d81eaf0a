// Metric series in time buckets: what one bucket holds for a deployment or an environment
// (requests by status class; latency, time to first byte and queue time as histograms, and the
// latencies' sum for a mean; per-second samples of concurrency and replicas; cold starts; replica
// CPU and memory; replica-seconds by instance type), how buckets merge into coarser steps, and
// percentiles read from the merged histograms. Pure: no clock, no I/O.

/** Histogram upper bounds in seconds (the last bucket is everything above). */
export const LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

export interface BucketData {
  requests: Record<StatusClass, number>;
  latency: number[];
  /** Sum of the end-to-end latencies (s) and how many requests it holds (older buckets have neither). */
  latencySumS: number;
  latencySumCount: number;
  ttfb: number[];
  queue: number[];
  /** Per-second samples. */
  samples: number;
  concurrencySum: number;
  concurrencyMax: number;
  activeSum: number;
  startingSum: number;
  coldStarts: number;
  /** Replica resource samples (one per sampling of the deployment's replicas). */
  usageSamples: number;
  cpuCoresSum: number;
  rssBytesSum: number;
  /** GPU samples of the replicas' devices (nvidia-smi): utilisation 0–1 averaged, memory summed. */
  gpuSamples: number;
  gpuUtilizationSum: number;
  gpuMemoryBytesSum: number;
  /** Replica-seconds by instance type name. */
  replicaSeconds: Record<string, number>;
}

export function emptyBucket(): BucketData {
  const zeros = (): number[] => new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
  return {
    requests: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    latency: zeros(),
    latencySumS: 0,
    latencySumCount: 0,
    ttfb: zeros(),
    queue: zeros(),
    samples: 0,
    concurrencySum: 0,
    concurrencyMax: 0,
    activeSum: 0,
    startingSum: 0,
    coldStarts: 0,
    usageSamples: 0,
    cpuCoresSum: 0,
    rssBytesSum: 0,
    gpuSamples: 0,
    gpuUtilizationSum: 0,
    gpuMemoryBytesSum: 0,
    replicaSeconds: {},
  };
}

export function statusClass(status: number): StatusClass {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  return '2xx';
}

function observe(histogram: number[], seconds: number): void {
  let i = 0;
  while (i < LATENCY_BOUNDS.length && seconds > LATENCY_BOUNDS[i]!) i++;
  histogram[i]!++;
}

export interface RequestObservation {
  status: number;
  e2eS: number;
  ttfbS: number | null;
  queueS: number;
}

export function addRequest(b: BucketData, r: RequestObservation): void {
  b.requests[statusClass(r.status)]++;
  observe(b.latency, r.e2eS);
  b.latencySumS += r.e2eS;
  b.latencySumCount++;
  if (r.ttfbS !== null) observe(b.ttfb, r.ttfbS);
  observe(b.queue, r.queueS);
}

export interface SecondSample {
  concurrency: number;
  active: number;
  starting: number;
  /** Instance type of each live replica this second. */
  replicaTypes: string[];
}

export function addSecond(b: BucketData, s: SecondSample): void {
  b.samples++;
  b.concurrencySum += s.concurrency;
  b.concurrencyMax = Math.max(b.concurrencyMax, s.concurrency);
  b.activeSum += s.active;
  b.startingSum += s.starting;
  for (const t of s.replicaTypes) b.replicaSeconds[t] = (b.replicaSeconds[t] ?? 0) + 1;
}

export function addUsage(b: BucketData, cpuCores: number, rssBytes: number): void {
  b.usageSamples++;
  b.cpuCoresSum += cpuCores;
  b.rssBytesSum += rssBytes;
}

export function addGpu(b: BucketData, utilization: number, memoryBytes: number): void {
  b.gpuSamples++;
  b.gpuUtilizationSum += utilization;
  b.gpuMemoryBytesSum += memoryBytes;
}

export function mergeBuckets(into: BucketData, from: BucketData): BucketData {
  for (const k of Object.keys(into.requests) as StatusClass[]) into.requests[k] += from.requests[k];
  for (const h of ['latency', 'ttfb', 'queue'] as const) from[h].forEach((n, i) => (into[h][i]! += n));
  // Buckets stored before latency sums existed have none.
  into.latencySumS += from.latencySumS ?? 0;
  into.latencySumCount += from.latencySumCount ?? 0;
  into.samples += from.samples;
  into.concurrencySum += from.concurrencySum;
  into.concurrencyMax = Math.max(into.concurrencyMax, from.concurrencyMax);
  into.activeSum += from.activeSum;
  into.startingSum += from.startingSum;
  into.coldStarts += from.coldStarts;
  into.usageSamples += from.usageSamples;
  into.cpuCoresSum += from.cpuCoresSum;
  into.rssBytesSum += from.rssBytesSum;
  // Buckets stored before GPU sampling existed have no GPU fields.
  into.gpuSamples += from.gpuSamples ?? 0;
  into.gpuUtilizationSum += from.gpuUtilizationSum ?? 0;
  into.gpuMemoryBytesSum += from.gpuMemoryBytesSum ?? 0;
  for (const [t, s] of Object.entries(from.replicaSeconds))
    into.replicaSeconds[t] = (into.replicaSeconds[t] ?? 0) + s;
  return into;
}

/** The q-quantile (0–1) of a histogram, interpolated inside its bucket; null when empty. */
export function quantile(histogram: readonly number[], q: number): number | null {
  const total = histogram.reduce((a, n) => a + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i]!;
    if (seen + n >= rank && n > 0) {
      const lower = i === 0 ? 0 : LATENCY_BOUNDS[i - 1]!;
      const upper = LATENCY_BOUNDS[i] ?? lower * 2;
      return lower + (upper - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return LATENCY_BOUNDS.at(-1)!;
}

export interface SeriesPoint {
  time: string;
  requests: Record<StatusClass, number>;
  requests_per_second: number;
  latency_seconds: Percentiles;
  time_to_first_byte_seconds: Percentiles;
  queue_time_seconds: Percentiles;
  concurrency_avg: number;
  concurrency_max: number;
  replicas_active: number;
  replicas_starting: number;
  cold_starts: number;
  cpu_cores: number | null;
  rss_bytes: number | null;
  gpu_utilization: number | null;
  gpu_memory_bytes: number | null;
  replica_seconds: Record<string, number>;
  cost: number | null;
}

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
}

function percentiles(h: readonly number[]): Percentiles {
  return { p50: quantile(h, 0.5), p90: quantile(h, 0.9), p95: quantile(h, 0.95), p99: quantile(h, 0.99) };
}

/** One step of a series; `price` gives an instance type's price per hour (null when unknown). */
export function toPoint(
  startMs: number,
  stepS: number,
  b: BucketData,
  price: (instanceType: string) => number | null,
): SeriesPoint {
  const total = Object.values(b.requests).reduce((a, n) => a + n, 0);
  const avg = (sum: number, n: number): number => (n === 0 ? 0 : sum / n);
  let cost: number | null = 0;
  for (const [t, s] of Object.entries(b.replicaSeconds)) {
    const p = price(t);
    if (p === null) cost = null;
    else if (cost !== null) cost += (s * p) / 3600;
  }
  return {
    time: new Date(startMs).toISOString(),
    requests: { ...b.requests },
    requests_per_second: total / stepS,
    latency_seconds: percentiles(b.latency),
    time_to_first_byte_seconds: percentiles(b.ttfb),
    queue_time_seconds: percentiles(b.queue),
    concurrency_avg: avg(b.concurrencySum, b.samples),
    concurrency_max: b.concurrencyMax,
    replicas_active: avg(b.activeSum, b.samples),
    replicas_starting: avg(b.startingSum, b.samples),
    cold_starts: b.coldStarts,
    cpu_cores: b.usageSamples ? b.cpuCoresSum / b.usageSamples : null,
    rss_bytes: b.usageSamples ? b.rssBytesSum / b.usageSamples : null,
    gpu_utilization: b.gpuSamples ? b.gpuUtilizationSum / b.gpuSamples : null,
    gpu_memory_bytes: b.gpuSamples ? b.gpuMemoryBytesSum / b.gpuSamples : null,
    replica_seconds: { ...b.replicaSeconds },
    cost: cost === null ? null : Math.round(cost * 1e6) / 1e6,
  };
}
