// The summary and current modes of metrics, from buckets built the way the gateway fills them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentOf, currentWindow, summarize } from './metric-summary.ts';
import { addRequest, addSecond, emptyBucket, mergeBuckets } from './series.ts';
import type { BucketData } from './series.ts';

function bucketOf(latencies: number[], status = 200): BucketData {
  const b = emptyBucket();
  for (const e2eS of latencies) addRequest(b, { status, e2eS, ttfbS: e2eS / 2, queueS: 0 });
  return b;
}

const price = (t: string): number | null => ({ '1x2': 0.05, 'L4:4x16': 0.85 })[t] ?? null;

test('a summary counts requests and errors by status class exactly, and the mean latency', () => {
  const b = mergeBuckets(bucketOf([0.1, 0.2, 0.3, 0.4]), bucketOf([1, 2], 500));
  mergeBuckets(b, bucketOf([0.05], 404));
  mergeBuckets(b, bucketOf([0.02], 302));
  b.coldStarts = 2;
  const s = summarize(b, 60, price);
  assert.equal(s.requests_total, 8);
  assert.deepEqual(s.requests, { '2xx': 4, '3xx': 1, '4xx': 1, '5xx': 2 });
  assert.deepEqual(s.errors, { '4xx': 1, '5xx': 2 });
  assert.equal(s.error_rate, 3 / 8);
  assert.equal(s.requests_per_second, 8 / 60);
  assert.ok(Math.abs(s.latency_seconds.mean! - 4.07 / 8) < 1e-9, String(s.latency_seconds.mean));
  assert.equal(s.cold_starts, 2);
});

test('summary percentiles are ordered and within the histogram bucket of the latencies they stand for', () => {
  const latencies = Array.from({ length: 100 }, (_, i) => (i < 90 ? 0.04 : 3));
  const s = summarize(bucketOf(latencies), 100, price);
  const { p50, p90, p99 } = s.latency_seconds;
  assert.ok(p50! > 0.025 && p50! <= 0.05, `p50 ${p50} in (0.025, 0.05]`);
  assert.ok(p90! <= 0.05, `p90 ${p90}: 90 of 100 took 40 ms`);
  assert.ok(p99! > 2.5 && p99! <= 5, `p99 ${p99} in (2.5, 5]`);
  assert.ok(p50! <= p90! && p90! <= p99!);
});

test('a summary adds replica-seconds by instance type and prices them; an unpriced type makes the cost unknown', () => {
  const b = emptyBucket();
  for (let i = 0; i < 3600; i++)
    addSecond(b, { concurrency: i % 2, active: 1, starting: 0, replicaTypes: ['1x2'] });
  for (let i = 0; i < 1800; i++)
    addSecond(b, { concurrency: 4, active: 1, starting: 0, replicaTypes: ['L4:4x16'] });
  const s = summarize(b, 5400, price);
  assert.deepEqual(s.replica_seconds, { '1x2': 3600, 'L4:4x16': 1800 });
  assert.equal(s.replica_seconds_total, 5400);
  assert.equal(s.cost, 0.05 + 0.425);
  assert.equal(s.concurrency_max, 4);
  b.replicaSeconds['mystery'] = 10;
  assert.equal(summarize(b, 5400, price).cost, null);
});

test('an empty range answers zeros and nulls, never a division by zero', () => {
  const s = summarize(emptyBucket(), 0, price);
  assert.equal(s.requests_total, 0);
  assert.equal(s.error_rate, null);
  assert.equal(s.requests_per_second, 0);
  assert.deepEqual(s.latency_seconds, { mean: null, p50: null, p90: null, p99: null });
  assert.equal(s.cost, 0);
});

test('a bucket stored before latency sums existed adds no mean, and the others still give theirs', () => {
  const old = bucketOf([5, 5]) as Partial<BucketData>;
  delete old.latencySumS;
  delete old.latencySumCount;
  const b = mergeBuckets(bucketOf([0.5]), old as BucketData);
  const s = summarize(b, 60, price);
  assert.equal(s.requests_total, 3);
  assert.equal(s.latency_seconds.mean, 0.5);
});

test('the current window starts on a bucket boundary within the last minute', () => {
  assert.deepEqual(currentWindow(1_000_000), { fromMs: 940_000, seconds: 60 });
  assert.deepEqual(currentWindow(1_004_500), { fromMs: 950_000, seconds: 54.5 });
  assert.deepEqual(currentWindow(1_009_999), { fromMs: 950_000, seconds: 59.999 });
});

test('current values are the live counts with the last window rate, latency and error rate', () => {
  const last = mergeBuckets(bucketOf([0.1, 0.1, 0.1]), bucketOf([0.2], 503));
  const c = currentOf({ inFlight: 2, queued: 5, replicasActive: 1, replicasStarting: 1 }, last, 50);
  assert.equal(c.requests_in_flight, 2);
  assert.equal(c.requests_queued, 5);
  assert.equal(c.replicas_active, 1);
  assert.equal(c.replicas_starting, 1);
  assert.equal(c.window_seconds, 50);
  assert.deepEqual(c.requests, { '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 1 });
  assert.equal(c.requests_per_second, 4 / 50);
  assert.equal(c.error_rate, 0.25);
  assert.ok(c.latency_seconds.p50! > 0.05 && c.latency_seconds.p50! <= 0.1);
  assert.ok(c.latency_seconds.p99! > 0.1 && c.latency_seconds.p99! <= 0.25);
  const idle = currentOf(
    { inFlight: 0, queued: 0, replicasActive: 0, replicasStarting: 0 },
    emptyBucket(),
    60,
  );
  assert.equal(idle.error_rate, null);
  assert.deepEqual(idle.latency_seconds, { p50: null, p90: null, p99: null });
});
