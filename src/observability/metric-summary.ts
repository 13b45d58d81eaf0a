// Metrics as one answer instead of a series: `summary`, the totals of a range (requests and
// errors by status class, latency mean and percentiles, replica-seconds, cost, cold starts), and
// `current`, the values now (requests in flight and queued, replicas) with the last minute's
// rate, latency and errors. Pure: the merged bucket and the live counts come in.
import { quantile } from './series.ts';
import type { BucketData, StatusClass } from './series.ts';

export const METRIC_MODES = ['current', 'summary', 'series'] as const;
export type MetricMode = (typeof METRIC_MODES)[number];

/** How far back `current` looks for rates and latencies. */
export const CURRENT_WINDOW_S = 60;

export interface LatencySummary {
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface MetricSummary {
  requests_total: number;
  requests: Record<StatusClass, number>;
  /** The requests answered 4xx and 5xx. */
  errors: { '4xx': number; '5xx': number };
  /** Errors (4xx and 5xx) over all requests; null without requests. */
  error_rate: number | null;
  requests_per_second: number;
  latency_seconds: LatencySummary;
  cold_starts: number;
  concurrency_avg: number;
  concurrency_max: number;
  /** Replica-seconds by instance type (null prices make `cost` null). */
  replica_seconds: Record<string, number>;
  replica_seconds_total: number;
  cost: number | null;
}

export interface CurrentMetrics {
  requests_in_flight: number;
  requests_queued: number;
  replicas_active: number;
  replicas_starting: number;
  /** The seconds the rates and latencies below cover (the last minute, in whole 10 s buckets). */
  window_seconds: number;
  requests: Record<StatusClass, number>;
  requests_per_second: number;
  latency_seconds: Omit<LatencySummary, 'mean'>;
  error_rate: number | null;
}

/** What is live now, as the gateway and the runtime backend count it. */
export interface LiveCounts {
  inFlight: number;
  queued: number;
  replicasActive: number;
  replicasStarting: number;
}

const total = (b: BucketData): number => Object.values(b.requests).reduce((a, n) => a + n, 0);

function errorRate(b: BucketData): number | null {
  const n = total(b);
  return n === 0 ? null : (b.requests['4xx'] + b.requests['5xx']) / n;
}

/** The totals of a range of `rangeS` seconds; `price` gives an instance type's USD per hour. */
export function summarize(
  b: BucketData,
  rangeS: number,
  price: (instanceType: string) => number | null,
): MetricSummary {
  const n = total(b);
  let cost: number | null = 0;
  for (const [t, s] of Object.entries(b.replicaSeconds)) {
    const p = price(t);
    cost = p === null || cost === null ? null : cost + (s * p) / 3600;
  }
  return {
    requests_total: n,
    requests: { ...b.requests },
    errors: { '4xx': b.requests['4xx'], '5xx': b.requests['5xx'] },
    error_rate: errorRate(b),
    requests_per_second: rangeS > 0 ? n / rangeS : 0,
    latency_seconds: {
      mean: b.latencySumCount > 0 ? b.latencySumS / b.latencySumCount : null,
      p50: quantile(b.latency, 0.5),
      p90: quantile(b.latency, 0.9),
      p99: quantile(b.latency, 0.99),
    },
    cold_starts: b.coldStarts,
    concurrency_avg: b.samples ? b.concurrencySum / b.samples : 0,
    concurrency_max: b.concurrencyMax,
    replica_seconds: { ...b.replicaSeconds },
    replica_seconds_total: Object.values(b.replicaSeconds).reduce((a, s) => a + s, 0),
    cost: cost === null ? null : Math.round(cost * 1e6) / 1e6,
  };
}

/**
 * Where the last minute starts, on a bucket boundary of `resolutionS` (so that no bucket is half
 * in it), and how many seconds it covers up to `nowMs`.
 */
export function currentWindow(nowMs: number, resolutionS = 10): { fromMs: number; seconds: number } {
  const bucketMs = resolutionS * 1000;
  const fromMs = Math.ceil((nowMs - CURRENT_WINDOW_S * 1000) / bucketMs) * bucketMs;
  return { fromMs, seconds: (nowMs - fromMs) / 1000 };
}

/** The values now: the live counts, and the rate, latency and errors of the last window. */
export function currentOf(live: LiveCounts, lastWindow: BucketData, windowS: number): CurrentMetrics {
  return {
    requests_in_flight: live.inFlight,
    requests_queued: live.queued,
    replicas_active: live.replicasActive,
    replicas_starting: live.replicasStarting,
    window_seconds: windowS,
    requests: { ...lastWindow.requests },
    requests_per_second: windowS > 0 ? total(lastWindow) / windowS : 0,
    latency_seconds: {
      p50: quantile(lastWindow.latency, 0.5),
      p90: quantile(lastWindow.latency, 0.9),
      p99: quantile(lastWindow.latency, 0.99),
    },
    error_rate: errorRate(lastWindow),
  };
}
